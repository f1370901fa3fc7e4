"""A run configuration resolved against its world: sources built, resources counted, target checked.

:func:`resolve` is where a configuration that parses but cannot run is refused, each time
with the field and what is allowed: a world that does not exist, a source that cannot be built
(its table read, its units checked) or that would refuse or fail to price a design of the
world's space, a target on a variable the space lacks or on an observable no source measures,
a bound past the horizon or bounds that contradict each other, a budget below the cost of one
full-length test, an unknown strategy. Nothing is written to the store before it succeeds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from interphase.agent.target import TargetCheck
from interphase.agent.view import CPU
from interphase.schema import (
    CampaignSpec,
    CategoricalVariable,
    Cost,
    Design,
    DesignSpace,
    InvalidInputError,
    ObservableBound,
    TargetSpec,
    parse_model,
)
from interphase.schema.run_config import RunConfig
from interphase.sources import Source, world_source
from interphase.sources.world import Resources, World, builtin_world_names, load_world

TIME_INDEXED = frozenset({"Conductivity [S.m-1]"})
"""Observables indexed by something other than the cycle number (no horizon applies)."""
COST_SAMPLES = 16
"""Designs of the target's region whose cheapest full-length test the budget must pay for."""


@dataclass
class RunPlan:
    """Everything a campaign run needs, validated.

    Attributes:
        config: The configuration as given.
        world: The world (its hidden truth reaches the emulated sources only).
        world_ref: How workers find the world again (a built-in name or a path), or None
            for an inline world.
        spec: The campaign as the store records it.
        target: The target in force, its fixed values in SI.
        check: Its evaluator.
        sources: Source name -> source.
        resource_of: Source name -> the resource it occupies.
        capacity: Resource -> parallel slots.
        highest_fidelity: The source the target is verified on.
    """

    config: RunConfig
    world: World
    world_ref: str | None
    spec: CampaignSpec
    target: TargetSpec
    check: TargetCheck
    sources: dict[str, Source]
    resource_of: dict[str, str]
    capacity: dict[str, int]
    highest_fidelity: str

    @property
    def horizon(self) -> int:
        """Cycles of the world's protocol."""
        return self.world.protocol.n_cycles


def load_world_for(config: RunConfig, base_dir: Path | None = None) -> tuple[World, str | None]:
    """The configuration's world (built in, from a file, or inline) with its resources applied.

    Args:
        config: The parsed configuration.
        base_dir: Folder a relative world path is looked up in first (the configuration's).

    Returns:
        The world, and how to find it again (None for an inline world).

    Raises:
        InvalidInputError: If the world is unknown, its file is missing or malformed, or the
            inline world is not a valid world.
    """
    if config.world is not None:
        world_ref = _world_ref(config.world, base_dir)
        world = load_world(world_ref)
    else:
        name = re.sub(r"[^a-z0-9_.\-]", "-", config.name.lower()).strip("-") or "inline"
        entries = {key: getattr(config, key) for key in ("design_space", "protocol", "sources", "truth")}
        world = parse_model(World, {"name": name, "description": config.description, "target": config.target,
                                    **{key: value for key, value in entries.items() if value is not None}})
        world = world.located(base_dir)  # relative table paths start at the configuration's folder
        world_ref = None
    override = config.resources
    if override.lab_channels is not None or override.cpu_workers is not None:
        resources = Resources(lab_channels=override.lab_channels or world.resources.lab_channels,
                              cpu_workers=override.cpu_workers or world.resources.cpu_workers)
        world = world.model_copy(update={"resources": resources})
    return world, world_ref


def _world_ref(ref: str, base_dir: Path | None) -> str:
    """A built-in world name, or the world file's path (relative paths: base_dir first)."""
    if ref in builtin_world_names():
        return ref
    path = Path(ref)
    if base_dir is not None and not path.is_absolute() and (base_dir / path).exists():
        return str((base_dir / path).resolve())
    looks_like_path = path.suffix.lower() in (".yaml", ".yml", ".json") or len(path.parts) > 1
    if looks_like_path and not path.exists():
        where = f" (looked in {base_dir} and the current folder)" if base_dir is not None else ""
        raise InvalidInputError("world", f"world file {ref!r} not found{where}; give a world YAML file "
                                f"or a built-in world: {', '.join(builtin_world_names())}")
    return ref


def resolve(config: RunConfig, base_dir: Path | None = None) -> RunPlan:
    """Check a configuration against its world and build what the campaign runs on.

    Args:
        config: The parsed configuration.
        base_dir: Folder relative world paths are read from (the configuration's).

    Returns:
        The plan.

    Raises:
        InvalidInputError: Naming the field, for anything that cannot run.
    """
    strategy = _check_strategy(config.strategy, config.agent)
    world, world_ref = load_world_for(config, base_dir)
    horizon = world.protocol.n_cycles
    target = _target_in_force(config, world)
    _check_bounds_agree(target, horizon)
    spec = parse_model(CampaignSpec, {
        "name": config.name, "description": config.description or world.description,
        "design_space": world.design_space, "protocol": world.protocol, "target": target,
        "sources": tuple(world.sources), "seed": config.seed})
    sources = _build_sources(world, inline=config.world is None)
    _check_sources_run_every_design(world, sources, inline=config.world is None)
    strategy.check_sources(list(sources))
    _check_local_workers(config, sources)
    measured = _check_observables(target, sources, horizon)
    highest = max(measured, key=lambda name: (sources[name].spec.fidelity, name))
    resource_of, capacity = source_pools(world, sources)
    _check_budget(config, sources[highest], world, target, resource_of[highest])
    check = TargetCheck(target, horizon, replicates=config.stop.replicates)
    return RunPlan(config=config, world=world, world_ref=world_ref, spec=spec, target=target, check=check,
                   sources=sources, resource_of=resource_of, capacity=capacity, highest_fidelity=highest)


def _check_local_workers(config: RunConfig, sources: dict[str, Source]) -> None:
    """``clock.local_workers`` may list only the world's sources."""
    listed = config.clock.local_workers
    if isinstance(listed, list):
        unknown = [name for name in listed if name not in sources]
        if unknown:
            raise InvalidInputError("clock.local_workers", f"{unknown[0]!r} is not a source of this world; "
                                    f"its sources: {', '.join(sorted(sources))}")


def source_pools(world: World, sources: dict[str, Source]) -> tuple[dict[str, str], dict[str, int]]:
    """Which pool each source runs on, and how many runs each pool holds at once.

    A source with ``channels`` runs on a pool of its own with that many slots (a lab
    source that leaves ``channels`` out takes the world's ``resources.lab_channels``; a
    post-mortem has its own default). Every source without channels (simulations, a
    tabulated source without ``channels``) shares the CPU pool of
    ``resources.cpu_workers`` slots.

    Args:
        world: The world (its resources).
        sources: Source name -> the built source.

    Returns:
        Source name -> its pool (its own name, or ``"cpu"``); pool -> slots.
    """
    resource_of = {name: (name if source.channels else CPU) for name, source in sources.items()}
    capacity = {name: int(source.channels) for name, source in sources.items() if source.channels}
    if CPU in resource_of.values():
        capacity[CPU] = world.resources.cpu_workers
    return resource_of, capacity


def _check_strategy(name: str, settings: dict[str, Any] | None = None) -> Any:
    """Refuse an unknown strategy, or settings it does not take; returns it, built once to check them."""
    from interphase.agent.strategy import make_strategy, strategy_names

    known = strategy_names()
    if name not in known:
        raise InvalidInputError("strategy", f"unknown strategy {name!r}; known: "
                                f"{', '.join(known) or 'none is registered'}")
    return make_strategy(name, settings)


def _target_in_force(config: RunConfig, world: World) -> TargetSpec:
    """The configuration's target (else the world's), checked against the space, fixed values in SI."""
    target = config.target or world.target
    if target is None:
        raise InvalidInputError("target", f"world {world.name!r} has no target; give one in the "
                                "configuration (bounds and/or objectives)")
    space = world.design_space

    def variable(name: str, field: str) -> Any:
        if name not in space.names:
            raise InvalidInputError(field, f"the design space has no variable {name!r}; "
                                    f"it has: {', '.join(space.names)}")
        return space.variable(name)

    fixed: dict[str, Any] = {}
    for name, value in target.fixed.items():
        field = f"target.fixed.{name}"
        try:
            fixed[name] = variable(name, field).coerce(value)
        except InvalidInputError as exc:
            raise InvalidInputError(field, exc.problem) from None
    for name, (low, high) in target.design_bounds.items():
        field = f"target.design_bounds.{name}"
        numeric = variable(name, field)
        if isinstance(numeric, CategoricalVariable):
            raise InvalidInputError(field, f"{name!r} is categorical ({numeric.allowed()}); hold it at one "
                                    "level with target.fixed instead")
        for value in (low, high):
            try:
                numeric.coerce(value)
            except InvalidInputError:
                raise InvalidInputError(field, f"[{low:g}, {high:g}] leaves the variable's range: bounds "
                                        f"must lie in {numeric.allowed()}") from None
        if name in fixed and not low <= fixed[name] <= high:
            raise InvalidInputError(f"target.fixed.{name}", f"{fixed[name]:g} is outside "
                                    f"target.design_bounds [{low:g}, {high:g}]; no design could meet both")
    return target.model_copy(update={"fixed": fixed})


def _check_bounds_agree(target: TargetSpec, horizon: int) -> None:
    """Refuse two bounds on one observable at one index that no value can meet together."""
    def where(bound: ObservableBound) -> tuple[str, float]:
        return bound.observable, float(horizon if bound.at_index is None else bound.at_index)

    for j, later in enumerate(target.bounds):
        for i, earlier in enumerate(target.bounds[:j]):
            if where(earlier) != where(later):
                continue
            pair = (earlier, later)
            lower = max((b.lower for b in pair if b.lower is not None), default=-math.inf)
            upper = min((b.upper for b in pair if b.upper is not None), default=math.inf)
            if lower > upper:
                raise InvalidInputError(f"target.bounds.{j}", f"contradicts target.bounds.{i}: "
                                        f"{later.observable!r} cannot be at least {lower:g} and at most "
                                        f"{upper:g} at once")


def _build_sources(world: World, *, inline: bool) -> dict[str, Source]:
    """Every source the world declares; errors name the source's field (in the config if inline)."""
    if not world.sources:
        raise InvalidInputError("sources", f"world {world.name!r} declares no source")
    prefix = "" if inline else f"{world.name}."
    sources: dict[str, Source] = {}
    for name in world.sources:
        try:
            sources[name] = world_source(world, name)
        except InvalidInputError as exc:
            field = exc.field.removeprefix(f"{world.name}.") if inline else exc.field
            raise InvalidInputError(field, exc.problem) from None
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            location = ".".join(str(part) for part in first["loc"])
            field = f"{prefix}sources.{name}" + (f".{location}" if location else "")
            raise InvalidInputError(field, first["msg"].removeprefix("Value error, ")) from None
    return sources


def _check_sources_run_every_design(world: World, sources: dict[str, Source], *, inline: bool) -> None:
    """Refuse a source that would refuse the campaign's designs, or fail to price them, only at launch.

    The engine hands every source designs of the world's design space and asks their cost
    before it runs them. A source whose own space differs (a variable missing or extra,
    another unit, a narrower range, fewer levels), one that raises on a design it cannot
    answer, or one whose cost estimate fails would stop the campaign after it is written,
    and every resume the same way; here it is refused before anything is written.
    """
    from interphase.sources.tabulated import TabulatedSource

    prefix = "" if inline else f"{world.name}."
    space = world.design_space
    designs = _probe_designs(space)
    for name, source in sources.items():
        field = f"{prefix}sources.{name}"
        if isinstance(source, TabulatedSource) and source.config.outside_hull == "raise":
            raise InvalidInputError(f"{field}.outside_hull", "'raise' would stop the campaign at the first "
                                    "design outside the measured hull; a campaign needs 'fail' (a failed "
                                    "result that costs nothing and that the agent learns from)")
        own = source.design_space
        if set(own.names) != set(space.names):
            extra = sorted(set(own.names) - set(space.names))
            missing = sorted(set(space.names) - set(own.names))
            what = (f"takes variable(s) the world lacks: {', '.join(extra)}" if extra
                    else f"does not take the world's variable(s) {', '.join(missing)}")
            raise InvalidInputError(field, f"source {name!r} {what}; a source must take exactly the "
                                    f"world's variables ({', '.join(space.names)})")
        for design in designs:
            try:
                own.validate_design(design.values)
                source.estimate_cost(design, world.protocol)
            except InvalidInputError as exc:
                raise InvalidInputError(field, f"source {name!r} refuses a design of the world's "
                                        f"space ({exc}); make its settings match the world's design "
                                        "space") from None
            except Exception as exc:  # noqa: BLE001 - a source's own fault, reported before any write
                raise InvalidInputError(field, f"source {name!r} cannot estimate the cost of a run "
                                        f"({type(exc).__name__}: {exc})") from None


def _probe_designs(space: DesignSpace) -> list[Design]:
    """Sobol designs of the space, and each variable at its bounds (each level) with the rest central."""
    cube = []
    for column, variable in enumerate(space.variables):
        if isinstance(variable, CategoricalVariable):
            edges = [(k + 0.5) / len(variable.choices) for k in range(len(variable.choices))]
        else:
            edges = [0.0, 1.0]
        for edge in edges:
            row = [0.5] * space.dim
            row[column] = edge
            cube.append(row)
    return [*space.sample_sobol(COST_SAMPLES, seed=0), *space.from_unit_cube(np.array(cube))]


def _check_observables(target: TargetSpec, sources: dict[str, Source], horizon: int) -> list[str]:
    """The sources that measure every observable the target names; raises when none does."""
    named = [(f"target.bounds.{i}", b.observable, b.at_index) for i, b in enumerate(target.bounds)]
    named += [(f"target.objectives.{i}", o.observable, o.at_index) for i, o in enumerate(target.objectives)]
    covering = set(sources)
    for field, observable, at_index in named:
        measuring = {name for name, source in sources.items() if observable in source.spec.observables}
        if not measuring:
            every = sorted({o for source in sources.values() for o in source.spec.observables})
            raise InvalidInputError(f"{field}.observable", f"no source of this world measures "
                                    f"{observable!r}; its sources measure {', '.join(every)}")
        if at_index is not None and observable not in TIME_INDEXED and horizon > 1:
            if not 1 <= at_index <= horizon:
                raise InvalidInputError(f"{field}.at_index", f"cycle {at_index:g} is outside the horizon: "
                                        f"give a cycle from 1 to {horizon}, or none for the last")
            if at_index != int(at_index):
                raise InvalidInputError(f"{field}.at_index", f"{at_index:g} is not a whole cycle number "
                                        f"(1 to {horizon})")
        covering &= measuring
    if not covering:
        raise InvalidInputError("target", "no single source measures every observable of the target; "
                                "split it, or name observables one source measures together")
    return sorted(covering)


def _check_budget(config: RunConfig, highest: Source, world: World, target: TargetSpec,
                  resource: str) -> None:
    """Refuse a budget that cannot pay for one full-length test of the highest-fidelity source."""
    budget = config.budget
    if resource != CPU and budget.lab_hours is not None:
        lab_hours = _cheapest_test(highest, world, target, lambda cost: cost.lab_hours)
        if budget.lab_hours < lab_hours:
            raise InvalidInputError("budget.lab_hours", f"{budget.lab_hours:g} h cannot pay for one "
                                    f"full-length {highest.name} test (the cheapest in the target's "
                                    f"region takes {lab_hours:.0f} h); give at least "
                                    f"{math.ceil(lab_hours)} h, or no limit")
    if resource == CPU and budget.cpu_hours is not None:
        cpu_hours = _cheapest_test(highest, world, target, lambda cost: cost.cpu_seconds) / 3600.0
        if budget.cpu_hours < cpu_hours:
            raise InvalidInputError("budget.cpu_hours", f"{budget.cpu_hours:g} h cannot pay for one "
                                    f"full-length {highest.name} run (the cheapest in the target's "
                                    f"region takes {cpu_hours:.3g} h); give at least that, or no limit")


def _cheapest_test(source: Source, world: World, target: TargetSpec,
                   amount: Callable[[Cost], float]) -> float:
    """The least ``amount(cost)`` of a full-length test over Sobol designs of the target's region.

    The region is the space narrowed to the target's design bounds, with its fixed values
    held; the cheapest of a few of its designs keeps the check from refusing a budget that
    some design could be tested within.
    """
    space = world.design_space

    def narrowed(variable: Any) -> Any:
        if variable.name not in target.design_bounds:
            return variable
        low, high = target.design_bounds[variable.name]
        return variable.model_copy(update={"lower": low, "upper": high})

    region = space.model_copy(update={"variables": tuple(narrowed(v) for v in space.variables)})
    designs = [space.validate_design({**design.values, **target.fixed})
               for design in region.sample_sobol(COST_SAMPLES, seed=0)]
    return min(float(amount(source.estimate_cost(design, world.protocol))) for design in designs)
