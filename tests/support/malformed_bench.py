"""Malformed-input cases of bench, merged into ``test_cli_malformed.py``.

``{dir}`` in a command line is the case's folder, ``{arbin}`` the packaged Arbin example file
(so a brace of JSON is written twice). Each is refused before a campaign runs or ``--out`` exists.
"""

from __future__ import annotations

from support.malformed import Case

WORLD = "electrolyte-conductivity"  # tabulated sources: checking a configuration takes no solve


def bench(*options: str, expected: str) -> Case:
    return Case(("bench", WORLD, "--out", "{dir}/out", "--seeds", "1", *options), expected)


def agent(text: str, *options: str, expected: str) -> Case:
    """``--agent TEXT`` (its braces escaped for the case's formatting)."""
    return bench(*options, "--agent", text.replace("{", "{{").replace("}", "}}"), expected=expected)


CASES: dict[str, Case] = {
    "bench-agent-not-json": agent("{interphase: 1}", expected="--agent: not JSON"),
    "bench-agent-not-an-object": agent("[1, 2]", expected="--agent: expected a JSON object"),
    "bench-agent-settings-not-an-object": agent('{"mf-gp": 3}',
                                                expected="--agent: the settings of 'mf-gp' must be a JSON"),
    "bench-agent-mixes-names-and-settings": agent('{"interphase": {}, "n_init": 2}',
                                                  expected="--agent: mixes strategy names"),
    "bench-agent-strategy-not-run": agent('{"mf-gp": {"n_init": 2}}', "--strategies", "trial-and-error",
                                          expected="--agent: settings for 'mf-gp', which is not among"),
    "bench-agent-unknown-setting": agent('{"interphase": {"no_such_setting": 1}}',
                                         expected="--agent: interphase: agent.no_such_setting: unknown"),
    "bench-agent-bad-value": agent('{"mf-gp": {"n_init": 0}}',
                                   expected="--agent: mf-gp: agent.n_init: expected a positive int"),
    "bench-agent-flat-settings-without-interphase": agent(
        '{"max_simulations": 8}', "--strategies", "gp-qlogei",
        expected="--agent: settings for 'interphase', which is not among"),
    "bench-wall-hours-zero": bench("--wall-hours", "0", expected="--wall-hours"),
    "bench-wall-hours-negative": bench("--wall-hours", "-2", expected="--wall-hours"),
    "bench-wall-hours-infinite": bench("--wall-hours", "inf", expected="--wall-hours"),
    "bench-first-seed-negative": bench("--first-seed", "-1", expected="--first-seed"),
    "bench-first-seed-past-the-largest": bench("--first-seed", "4294967295", "--seeds", "2",
                                               expected="--first-seed: seeds 4294967295 to 4294967296"),
    "bench-unknown-strategy": bench("--strategies", "trial-and-error,annealing",
                                    expected="--strategies: unknown annealing"),
}
