"""Malformed-input cases of campaigns (run, resume, lock), merged into ``test_cli_malformed.py``.

``{dir}`` in a command line is the case's folder, ``{arbin}`` the packaged Arbin example file.
"""

from __future__ import annotations

from support.malformed import Case

RUN_STARTS = "'interphase run CONFIG' starts a campaign"

CASES: dict[str, Case] = {
    # A resume of a campaign the store lacks lists those it has and says what starts one.
    "resume-unknown-campaign": Case(("resume", "nope", "--quiet"),
                                    f"no campaign named 'nope'; known: sei-screen; {RUN_STARTS}"),
    "resume-take-over-unknown-campaign": Case(("resume", "nope", "--take-over", "--quiet"),
                                              f"no campaign named 'nope'; known: sei-screen; {RUN_STARTS}"),
    "resume-extend-unknown-campaign": Case(("resume", "nope", "--add-lab-hours", "5", "--quiet"),
                                           f"no campaign named 'nope'; known: sei-screen; {RUN_STARTS}"),
    "resume-campaign-not-started-by-run": Case(
        ("resume", "sei-screen", "--quiet"), "only campaigns started with 'interphase run' can be resumed"),
}
