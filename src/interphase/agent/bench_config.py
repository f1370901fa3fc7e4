"""The discovery benchmark's options, checked before any campaign runs or anything is written.

``interphase bench`` and ``benchmarks/discovery.py`` take strategy settings as JSON
(``--agent``) and run every strategy over seeds into one folder. A setting a strategy does not
take, a budget that cannot pay for one verification test, or settings that differ from those
the rows already in the folder ran with would otherwise surface as every campaign failing, or
as rows of two configurations mixed under one name; each is refused here, naming the option.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interphase.schema import InvalidInputError

if TYPE_CHECKING:
    from interphase.agent.bench import BenchJob

AGENT_EXAMPLE = '\'{"interphase": {"replicate_misses": "first-launch"}, "mf-gp": {"n_init": 4}}\''
# The run configuration's fields, as the options of the benchmark that set them.
OPTION_OF = {"budget.lab_hours": "--budget-lab-hours", "budget.wall_hours": "--wall-hours",
             "agent": "--agent"}


def parse_agent_settings(text: str, strategies: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Strategy settings from ``--agent`` JSON: an object by strategy name, or the interphase agent's own.

    ``{"interphase": {...}, "mf-gp": {...}}`` gives each named strategy its settings; an object
    none of whose keys is a strategy (``{"replicate_misses": "first-launch"}``) is the interphase
    agent's, as ``benchmarks/discovery.py`` has always read it. Either adds to the defaults
    (:func:`~interphase.agent.bench.strategy_settings`).

    Args:
        text: The option's value.
        strategies: The strategies the benchmark runs.

    Returns:
        Strategy name -> settings (only the strategies given).

    Raises:
        InvalidInputError: On ``--agent``: not JSON, not an object of objects, keys that mix
            strategy names and settings, or settings of a strategy that is not run.
    """
    from interphase.agent.strategy import strategy_names

    try:
        given = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError("--agent", f"not JSON ({exc.msg} at character {exc.pos + 1}); expected an "
                                f"object of settings by strategy, e.g. {AGENT_EXAMPLE}") from None
    if not isinstance(given, dict):
        raise InvalidInputError("--agent", f"expected a JSON object of settings by strategy, got "
                                f"{type(given).__name__}; e.g. {AGENT_EXAMPLE}")
    known = set(strategy_names())
    named = [key for key in given if key in known]
    if named and len(named) != len(given):
        others = sorted(set(given) - set(named))
        raise InvalidInputError("--agent", f"mixes strategy names ({', '.join(named)}) with settings "
                                f"({', '.join(others)}); give settings under their strategy, "
                                f"e.g. {AGENT_EXAMPLE}")
    by_strategy = given if named else ({"interphase": given} if given else {})
    for name, settings in by_strategy.items():
        if not isinstance(settings, dict):
            raise InvalidInputError("--agent", f"the settings of {name!r} must be a JSON object, got "
                                    f"{json.dumps(settings)}")
        if name not in strategies:
            raise InvalidInputError("--agent", f"settings for {name!r}, which is not among the strategies "
                                    f"run ({', '.join(strategies)})")
    return by_strategy


def check_jobs(jobs: Sequence[BenchJob]) -> None:
    """Resolve each strategy's configuration once against its world, as a campaign would.

    Raises:
        InvalidInputError: Naming the benchmark's option (``--agent``, ``--budget-lab-hours``,
            ``--wall-hours``) where one sets the field that cannot run, else the field.
    """
    from interphase.agent.plan import resolve

    checked: set[str] = set()
    for job in jobs:
        if job.strategy in checked:
            continue
        checked.add(job.strategy)
        try:
            resolve(job.config())
        except InvalidInputError as exc:
            option = next((flag for field, flag in OPTION_OF.items()
                           if exc.field == field or exc.field.startswith(f"{field}.")), None)
            if option is None:
                raise
            problem = f"{job.strategy}: {exc}" if option == "--agent" else exc.problem
            raise InvalidInputError(option, problem) from None


def check_settings_match(jobs: Sequence[BenchJob], rows: Mapping[tuple[str, int], Mapping[str, Any]],
                         json_path: Path) -> None:
    """Refuse to add to rows that ran with other settings (their campaigns would be read back as they ran).

    Rows that recorded no settings (older ledger rows) are taken as they are.

    Raises:
        InvalidInputError: On ``--agent``, naming the strategy, both settings and the file.
    """
    for job in jobs:
        row = rows.get((job.strategy, job.seed))
        recorded = None if row is None else row.get("settings")
        if recorded is not None and recorded != job.agent:
            raise InvalidInputError("--agent", f"{json_path} holds {job.campaign} run with settings "
                                    f"{json.dumps(recorded, sort_keys=True)}, not "
                                    f"{json.dumps(job.agent, sort_keys=True)}; write a variant to another "
                                    "folder (--out), or remove its rows and store to run them again")
