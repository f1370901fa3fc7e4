"""Valid schema objects for tests, with every value deterministic.

Each factory returns a record that passes validation; keyword arguments change one
aspect at a time so that a test states only what it is about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from interphase.schema import (
    CampaignSpec,
    CategoricalVariable,
    ContinuousVariable,
    Design,
    DesignSpace,
    FailureKind,
    IntegerVariable,
    Objective,
    Observation,
    Protocol,
    Provenance,
    Request,
    Result,
    ResultStatus,
    SourceSpec,
    TargetSpec,
    Technique,
    canonical_hash,
)

CAPACITY = "Discharge capacity [A.h]"
PACKAGE_VERSIONS = {"interphase": "0.1.0", "numpy": "2.0.0", "sqlalchemy": "2.1.0"}
DEFAULT_STEPS = ("Charge at 1C until 4.2 V", "Discharge at 1C until 2.5 V")


def design_space() -> DesignSpace:
    """Four variables, one of each kind plus a log-scaled one; values in SI."""
    return DesignSpace(variables=(
        ContinuousVariable(name="temperature_k", lower=283.15, upper=318.15, unit="K"),
        ContinuousVariable(name="vc_mass_fraction", lower=1e-4, upper=0.05, log_scale=True),
        IntegerVariable(name="formation_cycles", lower=1, upper=5),
        CategoricalVariable(name="additive", choices=("none", "VC", "FEC")),
    ))


def protocol(n_cycles: int = 100, ambient_temperature_k: float = 298.15) -> Protocol:
    """A constant-current cycling protocol."""
    return Protocol(steps=DEFAULT_STEPS, n_cycles=n_cycles,
                    ambient_temperature_k=ambient_temperature_k)


def campaign_spec(name: str = "demo", seed: int = 7, **overrides: Any) -> CampaignSpec:
    """A campaign over :func:`design_space` that maximises discharge capacity."""
    fields: dict[str, Any] = {
        "name": name,
        "description": "test campaign",
        "design_space": design_space(),
        "protocol": protocol(),
        "target": TargetSpec(objectives=(Objective(observable=CAPACITY, direction="maximize"),)),
        "sources": ("sim-fast",),
        "seed": seed,
    }
    fields.update(overrides)
    return CampaignSpec(**fields)


def design(index: int = 0, label: str | None = None, **values: Any) -> Design:
    """A design inside :func:`design_space`; ``index`` picks one of many distinct ones."""
    defaults: dict[str, Any] = {
        "temperature_k": 283.15 + (index % 35) + 0.5,
        "vc_mass_fraction": 1e-3 * (1 + index % 40),
        "formation_cycles": 1 + index % 5,
        "additive": ("none", "VC", "FEC")[index % 3],
    }
    defaults.update(values)
    return Design(values=defaults, label=label)


def designs(n: int, start: int = 0) -> list[Design]:
    """``n`` distinct designs."""
    return [design(start + i) for i in range(n)]


def source_spec(name: str = "sim-fast", version: str = "1.0", fidelity: int = 1,
                **overrides: Any) -> SourceSpec:
    """A simulation source that produces discharge capacity."""
    fields: dict[str, Any] = {
        "name": name, "version": version, "technique": Technique.SIMULATION,
        "fidelity": fidelity, "observables": (CAPACITY,), "cost_model": {"cpu_seconds": 2.0},
    }
    fields.update(overrides)
    return SourceSpec(**fields)


def provenance(source: SourceSpec, seed: int | None = 0, params: Any = None,
               package_versions: dict[str, str] | None = None) -> Provenance:
    """Provenance with fixed package versions, so that payload hashes are stable."""
    return Provenance(
        source_name=source.name, source_version=source.version, seed=seed,
        params_hash=canonical_hash(params if params is not None else {"seed": seed}),
        package_versions=dict(package_versions or PACKAGE_VERSIONS), git_sha=None,
    )


def observations(n: int, observable: str = CAPACITY, start_ah: float = 5.0,
                 fade_per_cycle: float = 1e-3) -> tuple[Observation, ...]:
    """A capacity curve over cycles 1..n, fading linearly."""
    return tuple(
        Observation(observable=observable, index=float(cycle), index_unit="cycle",
                    value=start_ah * (1 - fade_per_cycle * cycle), std=1e-3, unit="A*h")
        for cycle in range(1, n + 1)
    )


def result(source: SourceSpec | None = None, design_: Design | None = None,
           n_observations: int = 10, seed: int = 0, **overrides: Any) -> Result:
    """A succeeded result with ``n_observations`` capacity values."""
    source = source or source_spec()
    fields: dict[str, Any] = {
        "source": source.name,
        "design": design_ or design(),
        "protocol": None,
        "status": ResultStatus.SUCCEEDED,
        "observations": observations(n_observations),
        "provenance": provenance(source, seed=seed),
        "cycles_run": n_observations,
        "metadata": {"channel": 3},
    }
    fields.update(overrides)
    return Result(**fields)


def failed_result(source: SourceSpec | None = None, design_: Design | None = None,
                  kind: FailureKind = FailureKind.DETERMINISTIC) -> Result:
    """A failed result without observations."""
    return result(source, design_, n_observations=0, status=ResultStatus.FAILED,
                  failure_kind=kind, message="solver failed at cycle 3", cycles_run=2)


def request(campaign: str, design_id: str, source: str = "sim-fast", key: str = "req-0",
            seed: int = 0, protocol_: Protocol | None = None) -> Request:
    """A request to run a stored design."""
    return Request(campaign=campaign, design_id=design_id, source=source,
                   protocol=protocol_ or protocol(), seed=seed, idempotency_key=key)


@dataclass(frozen=True)
class SeededCampaign:
    """What :func:`seed_campaign` stored: names and the stored design ids."""

    campaign: str
    sources: tuple[SourceSpec, ...]
    design_ids: tuple[str, ...]
    designs: tuple[Design, ...]


def seed_campaign(store: Any, name: str = "demo", n_designs: int = 3,
                  sources: Sequence[SourceSpec] | None = None) -> SeededCampaign:
    """Store a campaign, its sources and ``n_designs`` designs.

    Args:
        store: An initialised :class:`interphase.store.Store`.
        name: Campaign name.
        n_designs: How many designs to add.
        sources: Sources to register; one ``sim-fast`` source by default.
    """
    sources = tuple(sources or (source_spec(),))
    store.create_campaign(campaign_spec(name, sources=tuple(s.name for s in sources)))
    for source in sources:
        store.register_source(source)
    stored = store.add_designs(name, designs(n_designs))
    return SeededCampaign(campaign=name, sources=sources,
                          design_ids=tuple(d.id for d in stored),
                          designs=tuple(d.design for d in stored))
