"""The emulated lab's sources: ``lab-cell`` (a cycler's view of a cell) and ``post-mortem``.

Both are built from a world: its design space, protocol, public source settings
(:mod:`.config`) and hidden ``truth`` (:mod:`.truth`). A ``post-mortem`` of a design,
protocol and seed examines the very cell that the ``lab-cell`` test with the same
inputs cycled: the cell ends there. Its cost is the examination alone (the cycling was
paid by the lab-cell test), so a campaign runs it after that test, on the same seed.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

from interphase.schema import (
    OBSERVABLES,
    Cost,
    Design,
    Observation,
    Protocol,
    Result,
    ResultStatus,
    SourceSpec,
    Technique,
    parse_model,
)
from interphase.sources.base import Source, SourceError
from interphase.sources.lab.cell import LAB_OBSERVABLES, CellTest, EmulatedLab
from interphase.sources.lab.config import LabCellConfig, PostMortemConfig
from interphase.sources.lab.hours import estimate_cycle_hours
from interphase.sources.lab.truth import truth_from_world
from interphase.sources.pybamm_cell.observables import SEI_THICKNESS
from interphase.sources.world import World

_LABS: dict[tuple[str, str], EmulatedLab] = {}


def emulated_lab(world: World) -> EmulatedLab:
    """The emulated lab of a world, one per process and truth, shared by its lab sources."""
    truth = truth_from_world(world.truth, world.name)
    key = (truth.fingerprint(), world.design_space.model_dump_json())
    if key not in _LABS:
        _LABS[key] = EmulatedLab(truth, world.design_space)
    return _LABS[key]


def _settings(world: World, name: str) -> dict[str, Any]:
    if name not in world.sources:
        raise SourceError(f"world {world.name!r} has no settings for source {name!r}; "
                          f"it declares: {', '.join(sorted(world.sources)) or 'none'}")
    return world.sources[name]


class _EmulatedLabSource(Source):
    """What both lab sources share: their world's emulated lab, settings, space and version."""

    def _attach(self, world: World, name: str, config_type: type) -> None:
        self.config = parse_model(config_type, _settings(world, name), context=f"{world.name}.sources.{name}")
        self.lab = emulated_lab(world)
        self.world_name = world.name
        self.design_space = world.design_space
        self.default_protocol = world.protocol

    def _version(self) -> str:
        """The settings' version, PyBaMM's, and a hash of the truth (which reveals nothing)."""
        return f"{self.config.version}+pybamm{version('pybamm')}.truth-{self.lab.truth.fingerprint()}"


class LabCellSource(_EmulatedLabSource):
    """Cells built to a design and cycled: capacity, retention and resistance per cycle.

    What a cycler cannot see (SEI and plating thickness, lithium inventory) is never
    reported. A test may fail (an assembly defect at formation, a short circuit from
    plating) or be stopped by the protocol's stop rule; either way the result keeps the
    cycles run and costs the formation plus the hours those cycles took.

    Args:
        world: The world: design space, protocol, this source's settings and the truth.
        name: The source's name in ``world.sources``.
    """

    def __init__(self, world: World, name: str = "lab-cell") -> None:
        self._attach(world, name, LabCellConfig)
        self.channels = self.config.channels or world.resources.lab_channels
        self.channels_from_world = self.config.channels is None
        self.spec = SourceSpec(
            name=name,
            version=self._version(),
            technique=Technique.EXPERIMENT, fidelity=self.config.fidelity, observables=LAB_OBSERVABLES,
            cost_model={"kind": "lab_hours = formation_hours + cycle hours (1/C-rate per CC step, "
                                "cv_hold_hours per hold, rests as given); a run charges the hours it took",
                        "formation_hours": self.config.formation_hours,
                        "cv_hold_hours": self.config.cv_hold_hours, "channels": self.channels})

    def estimate_cost(self, design: Design, protocol: Protocol) -> Cost:
        """Formation plus the planned cycles at the design's C-rates, in lab hours.

        Args:
            design: The design; its C-rates set the cycle length.
            protocol: The protocol; ``cycles_planned`` cycles are counted.

        Returns:
            Lab hours (no CPU time: the lab's cost is channel time).
        """
        cycle = estimate_cycle_hours(design, protocol, self.config.cv_hold_hours)
        return Cost(lab_hours=self.config.formation_hours + cycle * protocol.cycles_planned)

    def _run(self, design: Design, protocol: Protocol, seed: int) -> Result:
        test = self.lab.test(design, protocol, seed)
        hours = self.config.formation_hours + test.cycle_hours
        return Result(
            source=self.name, design=design, protocol=protocol, status=test.status,
            failure_kind=test.failure_kind, message=test.message, observations=test.observed,
            provenance=self.provenance(design, protocol, seed, {"world": self.world_name}),
            cost=Cost(lab_hours=hours), cycles_run=test.cycles, metadata=_metadata(test))


class PostMortemSource(_EmulatedLabSource):
    """The cell of a lab-cell test, opened after its last cycle: SEI thickness, with about ±20 % error.

    Args:
        world: The world: design space, protocol, this source's settings and the truth.
        name: The source's name in ``world.sources``.
    """

    def __init__(self, world: World, name: str = "post-mortem") -> None:
        self._attach(world, name, PostMortemConfig)
        self.channels = self.config.channels
        self.spec = SourceSpec(
            name=name,
            version=self._version(),
            technique=Technique.CHARACTERISATION, fidelity=self.config.fidelity, observables=(SEI_THICKNESS,),
            cost_model={"kind": "lab_hours per examination; ends the cell; cycling paid by lab-cell",
                        "hours": self.config.hours, "relative_error": self.config.relative_error,
                        "channels": self.channels})

    def estimate_cost(self, design: Design, protocol: Protocol) -> Cost:
        """The examination's hours, whatever the design.

        Args:
            design: The design of the cell examined.
            protocol: The protocol it was cycled with.

        Returns:
            ``hours`` lab hours.
        """
        return Cost(lab_hours=self.config.hours)

    def _run(self, design: Design, protocol: Protocol, seed: int) -> Result:
        test = self.lab.test(design, protocol, seed)
        provenance = self.provenance(design, protocol, seed, {"world": self.world_name})
        metadata = {**_metadata(test), "ends_cell": True}
        if test.sei_thickness_m is None:
            cause = test.failure_cause or "no cycles"
            return Result(
                source=self.name, design=design, protocol=protocol, status=ResultStatus.FAILED,
                failure_kind=test.failure_kind,
                message=f"nothing to examine: the cell failed while cycling ({cause})",
                provenance=provenance, cost=Cost(), cycles_run=test.cycles, metadata=metadata)
        draw = self.lab.streams(design, seed)[3].lognormal(0.0, self.config.relative_error)
        measured = Observation(observable=SEI_THICKNESS, index=float(test.cycles), index_unit="cycle",
                               value=test.sei_thickness_m * float(draw),
                               unit=OBSERVABLES.get(SEI_THICKNESS).unit)
        return Result(
            source=self.name, design=design, protocol=protocol, observations=(measured,),
            provenance=provenance, cost=Cost(lab_hours=self.config.hours), cycles_run=test.cycles,
            metadata=metadata)


def _metadata(test: CellTest) -> dict[str, Any]:
    """What a lab would note about a test; nothing hidden."""
    out: dict[str, Any] = {"cell": test.cell_id, "formed": test.formed,
                           "cycle_hours": round(test.cycle_hours, 6),
                           "emulator_cpu_seconds": round(test.emulator_cpu_seconds, 3)}
    if test.failure_cause is not None:
        out["failure_cause"] = test.failure_cause
    return out
