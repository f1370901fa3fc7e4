"""What a report reads from the store: the campaign, its run configuration, decisions and runs.

Nothing here computes new science. A run's objective is the value the store holds for the
target's first objective at its index; which runs count as full-length highest-fidelity runs
follows the campaign engine's rule (the source with the highest fidelity among those that
measure every observable of the target; a succeeded run over the whole horizon).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from interphase.schema import CampaignSpec, Observation, ResultStatus
from interphase.schema.run_config import RunConfig
from interphase.store import Store, StoredDecision, StoredRequest, StoredResult

RUN_CONFIG_KIND = "run-config"


@dataclass(frozen=True)
class Objective:
    """The target's first objective, at the index it is read at.

    Attributes:
        observable: Observable name, e.g. ``"Capacity retention"``.
        index: Cycle (or other index) the value is read at: the horizon when the target names none.
        maximize: Whether larger is better.
    """

    observable: str
    index: float
    maximize: bool

    @property
    def label(self) -> str:
        """E.g. ``"Capacity retention at cycle 200"``."""
        return f"{self.observable} at cycle {self.index:g}"


@dataclass(frozen=True)
class RunRecord:
    """One campaign result as the report shows it.

    Attributes:
        result_id: Stored result id.
        request_id: Its request (None for a result without one).
        design_id: Stored design id.
        source: Source name.
        design: Design values, SI.
        status: ``succeeded``, ``stopped`` or ``failed``.
        cycles_run: Cycles completed.
        started_h: Simulated hour it started (None without a campaign clock).
        finished_h: Simulated hour its result arrived (None without a campaign clock).
        lab_hours: Lab (channel) hours it cost.
        cpu_hours: CPU hours it cost.
        objective: The objective's observed value, or None when not observed.
        full_length: A succeeded run over the whole horizon on the highest-fidelity source.
        meets_target: The engine's ``meets_target`` flag (None when absent).
    """

    result_id: str
    request_id: str | None
    design_id: str
    source: str
    design: dict[str, float | int | str]
    status: str
    cycles_run: int | None
    started_h: float | None
    finished_h: float | None
    lab_hours: float
    cpu_hours: float
    objective: float | None
    full_length: bool
    meets_target: bool | None


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows, as read from the store.

    Attributes:
        campaign: Campaign name.
        spec: The campaign's specification.
        run_config: The run configuration (None when the campaign was not started by ``run``).
        decisions: The decisions, oldest first.
        runs: The campaign's results (corrections replace what they correct), oldest first.
        requests: Request id -> request.
        fidelity: Source name -> fidelity.
        highest_fidelity: The source the target is verified on, or None.
        objective: The target's first objective, or None without one.
        notes: Things a reader should know (e.g. an unreadable run configuration).
    """

    campaign: str
    spec: CampaignSpec
    run_config: RunConfig | None
    decisions: list[StoredDecision]
    runs: list[RunRecord]
    requests: dict[str, StoredRequest]
    fidelity: dict[str, int]
    highest_fidelity: str | None
    objective: Objective | None
    notes: tuple[str, ...] = ()

    @property
    def horizon(self) -> int:
        """Cycles of the campaign's protocol."""
        return self.spec.protocol.n_cycles

    def decisions_of(self, *kinds: str) -> list[StoredDecision]:
        """The decisions whose ``chosen["kind"]`` is one of ``kinds``, oldest first."""
        return [d for d in self.decisions if d.chosen.get("kind") in kinds]


def value_at(observations: Sequence[Observation], observable: str, index: float) -> float | None:
    """The stored value of ``observable`` at ``index`` (the last one stored there), or None."""
    values = [o.value for o in observations if o.observable == observable and math.isclose(o.index, index)]
    return values[-1] if values else None


def gather(store: Store, campaign: str) -> ReportData:
    """Read a campaign's records for its report.

    Args:
        store: An initialised store.
        campaign: Campaign name.

    Returns:
        The report's data.

    Raises:
        NotFoundError: If there is no such campaign; the message lists the known names.
    """
    spec = store.get_campaign(campaign).spec
    run_config, notes = _run_config(store, campaign)
    fidelity: dict[str, int] = {}
    observables: dict[str, set[str]] = {}
    for stored in store.list_sources():  # oldest first: the newest version wins
        fidelity[stored.spec.name] = stored.spec.fidelity
        observables[stored.spec.name] = set(stored.spec.observables)
    objective = _objective(spec)
    results = store.list_results(campaign=campaign)
    highest = _highest_fidelity(spec, fidelity, observables, results)
    runs = [_run_record(s, spec.protocol.n_cycles, objective, highest) for s in results]
    return ReportData(
        campaign=campaign, spec=spec, run_config=run_config, decisions=store.list_decisions(campaign),
        runs=runs, requests={r.id: r for r in store.list_requests(campaign=campaign)}, fidelity=fidelity,
        highest_fidelity=highest, objective=objective, notes=notes)


def _run_config(store: Store, campaign: str) -> tuple[RunConfig | None, tuple[str, ...]]:
    configs = [a for a in store.list_artifacts(RUN_CONFIG_KIND) if a.metadata.get("campaign") == campaign]
    if not configs:
        return None, ("no run configuration stored: strategy, world and budget are unknown",)
    try:
        return RunConfig.model_validate_json(store.get_artifact(configs[-1].sha256)), ()
    except ValueError as exc:  # pydantic's ValidationError and InvalidInputError are ValueErrors
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, (f"the stored run configuration does not parse ({first})",)


def _objective(spec: CampaignSpec) -> Objective | None:
    """The first objective; without one, the first bound (maximised when it is a lower bound)."""
    horizon = float(spec.protocol.n_cycles)
    target = spec.target
    if target is None:
        return None
    if target.objectives:
        first = target.objectives[0]
        index = horizon if first.at_index is None else first.at_index
        return Objective(first.observable, index, first.direction == "maximize")
    if target.bounds:
        bound = target.bounds[0]
        index = horizon if bound.at_index is None else bound.at_index
        return Objective(bound.observable, index, bound.lower is not None)
    return None


def _highest_fidelity(spec: CampaignSpec, fidelity: dict[str, int], observables: dict[str, set[str]],
                      results: list[StoredResult]) -> str | None:
    names = [n for n in spec.sources if n in fidelity] or sorted({s.result.source for s in results})
    wanted: set[str] = set()
    if spec.target is not None:
        wanted = {b.observable for b in spec.target.bounds} | {o.observable for o in spec.target.objectives}
    covering = [n for n in names if wanted <= observables.get(n, set())] or names
    if not covering:
        return None
    return max(covering, key=lambda name: (fidelity.get(name, 0), name))


def _run_record(stored: StoredResult, horizon: int, objective: Objective | None,
                highest: str | None) -> RunRecord:
    result = stored.result
    clock = result.metadata.get("campaign_clock") or {}
    value = value_at(result.observations, objective.observable, objective.index) if objective else None
    complete = result.cycles_run is None or result.cycles_run >= horizon
    meets = result.metadata.get("meets_target")
    return RunRecord(
        result_id=stored.id, request_id=stored.request_id, design_id=stored.design_id, source=result.source,
        design=dict(result.design.values), status=result.status.value, cycles_run=result.cycles_run,
        started_h=_hours(clock.get("started_h")), finished_h=_hours(clock.get("finished_h")),
        lab_hours=result.cost.lab_hours, cpu_hours=result.cost.cpu_seconds / 3600.0, objective=value,
        full_length=(result.source == highest and result.status is ResultStatus.SUCCEEDED and complete
                     and value is not None),
        meets_target=meets if isinstance(meets, bool) else None)


def _hours(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None
