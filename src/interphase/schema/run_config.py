"""A closed-loop campaign run, as a user writes it in YAML (``interphase run CONFIG``).

Example::

    name: sei-demo
    world: sei-life              # a built-in world or a world YAML path; or the explicit
                                 # design_space / protocol / sources / resources below
    strategy: interphase         # interphase | trial-and-error | gp-qlogei | mf-gp
    target:                      # optional: the world's target otherwise (partial is fine)
      bounds: [{observable: Capacity retention, lower: 0.96}]
      design_bounds: {Charge C-rate: [1.5, 2.0]}
    budget: {lab_hours: 20000, cpu_hours: 2, wall_hours: 1}
    resources: {lab_channels: 4, cpu_workers: 2}
    seed: 0
    stop: {replicates: 2}
    agent: {review_every_cycles: 20}

Budgets are in hours: lab hours are channel hours (all channels together), CPU hours are
simulation time (all workers together), wall hours are real time. A campaign stops when a
design is verified (``stop.replicates`` full-length runs on the highest-fidelity source, all
meeting the target), when a budget is spent, or after ``stop.max_runs`` runs.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from interphase.schema.design_space import DesignSpace
from interphase.schema.errors import InvalidInputError
from interphase.schema.protocol import Protocol
from interphase.schema.target import TargetSpec

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"


class Budget(BaseModel):
    """What a campaign may spend; None is no limit.

    Attributes:
        lab_hours: Channel hours of every lab source together.
        cpu_hours: Simulation hours of every CPU worker together.
        wall_hours: Real (wall-clock) hours of the run.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    lab_hours: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    cpu_hours: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    wall_hours: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)


class ResourceOverride(BaseModel):
    """Channels and workers, when they differ from the world's.

    Attributes:
        lab_channels: Parallel cells of the lab sources that take the world's channel count.
        cpu_workers: Parallel simulations.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    lab_channels: int | None = Field(default=None, ge=1, le=10_000)
    cpu_workers: int | None = Field(default=None, ge=1, le=10_000)


class StopRules(BaseModel):
    """When a campaign ends besides its budgets.

    Attributes:
        replicates: Full-length runs of one design on the highest-fidelity source that must
            all meet the target to verify it (the first hit counts as one).
        max_runs: Runs to launch at most (None: no limit).
        until_verified: Stop as soon as a design is verified (False: spend the budget).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    replicates: int = Field(default=2, ge=1, le=20)
    max_runs: int | None = Field(default=None, ge=1, le=1_000_000)
    until_verified: bool = True


class RunConfig(BaseModel):
    """A closed-loop campaign: what to explore, with what, towards what, within which budget.

    Attributes:
        name: Campaign name in the store (letters, digits, ``-``, ``_``, ``.``).
        description: One paragraph for people.
        world: A built-in world name or a world YAML path. Give it, or ``design_space``,
            ``protocol`` and ``sources`` (world-style entries) for a world written inline.
        design_space: The space, for an inline world.
        protocol: The default protocol, for an inline world.
        sources: Source name -> settings (each with a ``kind``), for an inline world.
        strategy: How the campaign decides: a registered strategy name.
        agent: The strategy's settings.
        target: The target (the world's when None); it may be partial.
        budget: Spending limits.
        resources: Channel and worker counts replacing the world's.
        seed: Root seed; a campaign is reproducible from it.
        stop: Stopping rules.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=100, pattern=NAME_PATTERN)
    description: str = ""
    world: str | None = Field(default=None, min_length=1, max_length=1000)
    design_space: DesignSpace | None = None
    protocol: Protocol | None = None
    sources: dict[str, dict[str, Any]] | None = None
    strategy: str = Field(default="interphase", min_length=1, max_length=100)
    agent: dict[str, Any] = Field(default_factory=dict)
    target: TargetSpec | None = None
    budget: Budget = Budget()
    resources: ResourceOverride = ResourceOverride()
    seed: int = Field(default=0, ge=0, lt=2**32)
    stop: StopRules = StopRules()

    @model_validator(mode="after")
    def _one_world(self) -> RunConfig:
        inline = {"design_space": self.design_space, "protocol": self.protocol, "sources": self.sources}
        given = [key for key, value in inline.items() if value is not None]
        if self.world is not None and given:
            raise InvalidInputError(given[0], "give either world or an inline world "
                                    "(design_space, protocol, sources), not both")
        if self.world is None:
            missing = [key for key, value in inline.items() if value is None]
            if missing:
                raise InvalidInputError(missing[0] if given else "world",
                                        "name a world, or give design_space, protocol and sources")
            if not self.sources:
                raise InvalidInputError("sources", "an inline world needs at least one source")
        return self
