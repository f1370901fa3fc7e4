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
    resources: {lab_channels: 4, cpu_workers: 2, executor: local}   # executor: local | ray
    clock: simulated             # simulated | real; or {mode: real, time_scale: 3600}
    seed: 0
    stop: {replicates: 2}
    agent: {review_every_cycles: 20}

Budgets are in hours: lab hours are channel hours (all channels together), CPU hours are
simulation time (all workers together), wall hours are real time. A campaign stops when a
design is verified (``stop.replicates`` full-length runs on the highest-fidelity source, all
meeting the target), when a budget is spent, or after ``stop.max_runs`` runs.

What can be checked without the world is checked here; what needs the world (observables
its sources measure, the horizon, the cost of a test) is checked by ``agent.plan.resolve``.
"""

from __future__ import annotations

import difflib
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from interphase.schema.campaign import CampaignSpec
from interphase.schema.design_space import DesignSpace
from interphase.schema.errors import InvalidInputError
from interphase.schema.limits import MAX_BUDGET_HOURS, MAX_WALL_HOURS, Description
from interphase.schema.protocol import Protocol
from interphase.schema.records import SourceSpec
from interphase.schema.target import TargetSpec


def _pattern_of(model: type[BaseModel], field: str) -> str:
    """The ``pattern`` constraint a model declares on a field, so that it is declared once."""
    for constraint in model.model_fields[field].metadata:
        pattern = getattr(constraint, "pattern", None)
        if pattern:
            return str(pattern)
    raise LookupError(f"{model.__name__}.{field} declares no pattern")


NAME_PATTERN = _pattern_of(CampaignSpec, "name")
"""Campaign names: what the store accepts."""
SOURCE_NAME_PATTERN = _pattern_of(SourceSpec, "name")
"""Source names of an inline world: what the store accepts."""


class _ConfigBlock(BaseModel):
    """A block of the configuration: frozen, and an unknown key is refused with the key meant."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = list(cls.model_fields)
            for key in data:
                if key not in allowed:
                    close = difflib.get_close_matches(str(key), allowed, n=1)
                    hint = f"did you mean {close[0]!r}? " if close else ""
                    raise InvalidInputError(str(key), f"unknown field; {hint}allowed: {', '.join(allowed)}")
        return data


class Budget(_ConfigBlock):
    """What a campaign may spend; None is no limit.

    Attributes:
        lab_hours: Channel hours of every lab source together.
        cpu_hours: Simulation hours of every CPU worker together.
        wall_hours: Real (wall-clock) hours of the run.
    """

    lab_hours: float | None = Field(default=None, gt=0.0, le=MAX_BUDGET_HOURS, allow_inf_nan=False)
    cpu_hours: float | None = Field(default=None, gt=0.0, le=MAX_BUDGET_HOURS, allow_inf_nan=False)
    wall_hours: float | None = Field(default=None, gt=0.0, le=MAX_WALL_HOURS, allow_inf_nan=False)

    @field_validator("lab_hours", "cpu_hours", "wall_hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> Any:
        if isinstance(value, bool):  # YAML's yes/no would read as 1 h / 0 h
            raise InvalidInputError("", f"expected a positive number of hours, or no key for no limit; "
                                    f"got {value!r}")
        return value


class ResourceOverride(_ConfigBlock):
    """Channels and workers, when they differ from the world's.

    Attributes:
        lab_channels: Parallel cells of the lab sources that take the world's channel count.
        cpu_workers: Parallel simulations.
        executor: Where simulations run: ``local`` (a pool of ``cpu_workers`` processes on
            this machine) or ``ray`` (tasks on the Ray cluster at ``RAY_ADDRESS``, or on a
            local one when it is unset).
        processes: Simulations the executor runs at once; by default ``cpu_workers``, capped
            at this machine's CPUs for the local executor. On the simulated clock it changes
            only the wall time, never a decision: ``cpu_workers`` is what the clock counts.
    """

    lab_channels: int | None = Field(default=None, ge=1, le=10_000, strict=True)
    cpu_workers: int | None = Field(default=None, ge=1, le=10_000, strict=True)
    executor: Literal["local", "ray"] = "local"
    processes: int | None = Field(default=None, ge=1, le=10_000, strict=True)


class StopRules(_ConfigBlock):
    """When a campaign ends besides its budgets.

    Attributes:
        replicates: Full-length runs of one design on the highest-fidelity source that must
            all meet the target to verify it (the first hit counts as one).
        max_runs: Runs to launch at most (None: no limit).
        until_verified: Stop as soon as a design is verified (False: spend the budget).
    """

    replicates: int = Field(default=2, ge=1, le=20, strict=True)
    max_runs: int | None = Field(default=None, ge=1, le=1_000_000, strict=True)
    until_verified: bool = Field(default=True, strict=True)

    @model_validator(mode="after")
    def _can_verify(self) -> StopRules:
        if self.max_runs is not None and self.max_runs < self.replicates:
            raise InvalidInputError("max_runs", f"{self.max_runs} is fewer than the {self.replicates} runs "
                                    "that verify a design (stop.replicates); give at least "
                                    f"{self.replicates}, or no limit")
        return self


MAX_TIME_SCALE = 1e7
"""Fastest pace of the emulated lab on the real clock: simulated seconds per wall second."""


class ClockConfig(_ConfigBlock):
    """Which clock a campaign runs on.

    Attributes:
        mode: ``simulated``: every source is emulated and runs at once; a result becomes
            visible to the agent at the simulated hour its run would end (benchmarks,
            emulated worlds). ``real``: requests wait in the store until a worker claims
            them, and results and streamed cycles are visible when workers post them.
        time_scale: On the real clock, how fast the campaign's own workers pace emulated
            lab tests and how campaign hours relate to wall time: simulated seconds per wall
            second (3600: one lab hour per second; 1: real time).
        poll_seconds: On the real clock, how often the engine looks for arrivals (seconds).
        local_workers: On the real clock, which sources the campaign process serves with its
            own workers (``resources`` says how many): all (true), none (false: every request
            waits for ``interphase worker`` processes), or the listed source names.
    """

    mode: Literal["simulated", "real"] = "simulated"
    time_scale: float = Field(default=1.0, gt=0.0, le=MAX_TIME_SCALE, allow_inf_nan=False)
    poll_seconds: float = Field(default=1.0, gt=0.0, le=3600.0, allow_inf_nan=False)
    local_workers: bool | list[str] = Field(default=True)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"mode": value} if isinstance(value, str) else value


INLINE_WORLD_KEYS = ("design_space", "protocol", "sources", "truth")
"""The keys of a world written inline; ``truth`` only where a lab source needs one."""


class RunConfig(_ConfigBlock):
    """A closed-loop campaign: what to explore, with what, towards what, within which budget.

    Attributes:
        name: Campaign name in the store (letters, digits, ``-``, ``_``, ``.``).
        description: One paragraph for people.
        world: A built-in world name or a world YAML path. Give it, or ``design_space``,
            ``protocol`` and ``sources`` (world-style entries) for a world written inline.
        design_space: The space, for an inline world.
        protocol: The default protocol, for an inline world.
        sources: Source name -> settings (each with a ``kind``), for an inline world.
        truth: The hidden truth of an inline world's emulated lab (lab sources need it).
        strategy: How the campaign decides: a registered strategy name.
        agent: The strategy's settings.
        target: The target (the world's when None); it may be partial.
        budget: Spending limits.
        resources: Channel and worker counts replacing the world's, and the executor.
        clock: The simulated clock (default) or the real one.
        seed: Root seed; a campaign is reproducible from it.
        stop: Stopping rules.
    """

    name: str = Field(min_length=1, max_length=100, pattern=NAME_PATTERN)
    description: Description = ""
    world: str | None = Field(default=None, min_length=1, max_length=1000)
    design_space: DesignSpace | None = None
    protocol: Protocol | None = None
    sources: dict[str, dict[str, Any]] | None = None
    truth: dict[str, Any] | None = None
    strategy: str = Field(default="interphase", min_length=1, max_length=100)
    agent: dict[str, Any] = Field(default_factory=dict)
    target: TargetSpec | None = None
    budget: Budget = Budget()
    resources: ResourceOverride = ResourceOverride()
    clock: ClockConfig = ClockConfig()
    seed: int = Field(default=0, ge=0, lt=2**32, strict=True)
    stop: StopRules = StopRules()

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, value: Any) -> Any:
        if isinstance(value, str) and value and not re.fullmatch(NAME_PATTERN, value):
            raise InvalidInputError("", f"{value!r} is not a campaign name: use letters, digits, '-', '_' "
                                    "and '.', starting with a letter or digit (no spaces or '/')")
        return value

    @field_validator("sources")
    @classmethod
    def _source_names(cls, sources: dict[str, dict[str, Any]] | None) -> dict[str, dict[str, Any]] | None:
        for name in sources or {}:
            if not re.fullmatch(SOURCE_NAME_PATTERN, name):
                raise InvalidInputError(name, f"{name!r} is not a source name: use lower-case letters, "
                                        "digits, '-', '_', ':' and '.', starting with a letter or digit")
        return sources

    @model_validator(mode="after")
    def _one_world(self) -> RunConfig:
        given = [key for key in INLINE_WORLD_KEYS if getattr(self, key) is not None]
        if self.world is not None and given:
            raise InvalidInputError(given[0], f"give either world ({self.world!r}) or an inline world "
                                    "(design_space, protocol, sources), not both")
        if self.world is None:
            missing = [key for key in INLINE_WORLD_KEYS[:3] if getattr(self, key) is None]
            if missing:
                raise InvalidInputError(missing[0] if given else "world",
                                        "name a world, or give design_space, protocol and sources")
            if not self.sources:
                raise InvalidInputError("sources", "an inline world needs at least one source "
                                        "(name: {kind: ..., ...})")
        return self
