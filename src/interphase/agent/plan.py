"""A run configuration resolved against its world: sources built, resources counted, target checked.

:func:`resolve` is where a configuration that parses but cannot run is refused, each time
with the field and what is allowed: a target on an observable no source measures, a bound
past the horizon, a budget below the cost of one verification test, an unknown strategy.
Nothing is written to the store before it succeeds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from interphase.agent.target import TargetCheck
from interphase.agent.view import CPU
from interphase.schema import CampaignSpec, InvalidInputError, TargetSpec
from interphase.schema.run_config import RunConfig
from interphase.sources import Source, world_sources
from interphase.sources.world import Resources, World, load_world


@dataclass
class RunPlan:
    """Everything a campaign run needs, validated.

    Attributes:
        config: The configuration as given.
        world: The world (its hidden truth reaches the emulated sources only).
        world_ref: How workers find the world again (a built-in name or a path), or None
            for an inline world.
        spec: The campaign as the store records it.
        target: The target in force.
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
    """The configuration's world (built in, from a file, or inline) with its resources applied."""
    if config.world is not None:
        ref = config.world
        path = Path(ref)
        if base_dir is not None and not path.is_absolute() and (base_dir / path).exists():
            ref = str((base_dir / path).resolve())
        world, world_ref = load_world(ref), ref
    else:
        name = re.sub(r"[^a-z0-9_.\-]", "-", config.name.lower()).strip("-") or "inline"
        assert config.design_space is not None and config.protocol is not None and config.sources is not None
        world = World(name=name, description=config.description, design_space=config.design_space,
                      protocol=config.protocol, sources=config.sources, target=config.target)
        world_ref = None
    override = config.resources
    if override.lab_channels is not None or override.cpu_workers is not None:
        resources = Resources(lab_channels=override.lab_channels or world.resources.lab_channels,
                              cpu_workers=override.cpu_workers or world.resources.cpu_workers)
        world = world.model_copy(update={"resources": resources})
    return world, world_ref


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
    from interphase.agent.strategy import strategy_names

    if config.strategy not in strategy_names():
        raise InvalidInputError("strategy", f"unknown strategy {config.strategy!r}; "
                                f"known: {', '.join(strategy_names())}")
    world, world_ref = load_world_for(config, base_dir)
    target = config.target or world.target
    if target is None:
        raise InvalidInputError("target", f"world {world.name!r} has no target; give one in the configuration")
    try:
        spec = CampaignSpec(name=config.name, description=config.description or world.description,
                            design_space=world.design_space, protocol=world.protocol, target=target,
                            sources=tuple(world.sources), seed=config.seed)
    except InvalidInputError as exc:
        raise InvalidInputError(exc.field if exc.field.startswith("target") else f"target.{exc.field}",
                                exc.problem) from None
    sources = world_sources(world)
    if not sources:
        raise InvalidInputError("sources", f"world {world.name!r} declares no source")
    measured = _check_observables(target, sources, world.protocol.n_cycles)
    highest = max(measured, key=lambda name: (sources[name].spec.fidelity, name))
    resource_of = {name: (name if source.channels else CPU) for name, source in sources.items()}
    capacity = {name: int(source.channels) for name, source in sources.items() if source.channels}
    if CPU in resource_of.values():
        capacity[CPU] = world.resources.cpu_workers
    _check_budget(config, sources[highest], world, resource_of[highest])
    check = TargetCheck(target, world.protocol.n_cycles, replicates=config.stop.replicates)
    return RunPlan(config=config, world=world, world_ref=world_ref, spec=spec, target=target, check=check,
                   sources=sources, resource_of=resource_of, capacity=capacity, highest_fidelity=highest)


def _check_observables(target: TargetSpec, sources: dict[str, Source], horizon: int) -> list[str]:
    """The sources that measure every observable the target names; raises when none does."""
    named = [(f"target.bounds.{i}", b.observable, b.at_index) for i, b in enumerate(target.bounds)]
    named += [(f"target.objectives.{i}", o.observable, o.at_index) for i, o in enumerate(target.objectives)]
    covering = set(sources)
    for field, observable, at_index in named:
        measuring = {name for name, source in sources.items() if observable in source.spec.observables}
        if not measuring:
            every = sorted({o for source in sources.values() for o in source.spec.observables})
            raise InvalidInputError(f"{field}.observable", f"no source measures {observable!r}; the "
                                    f"sources measure {', '.join(every)}")
        if at_index is not None and observable != "Conductivity [S.m-1]" and horizon > 1 \
                and not 1 <= at_index <= horizon:
            raise InvalidInputError(f"{field}.at_index", f"cycle {at_index:g} is outside the horizon "
                                    f"(1 to {horizon})")
        covering &= measuring
    if not covering:
        raise InvalidInputError("target", "no single source measures every observable of the target")
    return sorted(covering)


def _check_budget(config: RunConfig, highest: Source, world: World, resource: str) -> None:
    """Refuse a budget that cannot pay for one full-length test of the highest-fidelity source."""
    design = world.design_space.sample_sobol(1, seed=0)[0]
    cost = highest.estimate_cost(design, world.protocol)
    if resource != CPU and config.budget.lab_hours is not None and config.budget.lab_hours < cost.lab_hours:
        raise InvalidInputError("budget.lab_hours", f"{config.budget.lab_hours:g} h cannot pay for one "
                                f"{highest.name} test ({cost.lab_hours:.0f} h); give more, or none")
    cpu_hours = cost.cpu_seconds / 3600.0
    if resource == CPU and config.budget.cpu_hours is not None and config.budget.cpu_hours < cpu_hours:
        raise InvalidInputError("budget.cpu_hours", f"{config.budget.cpu_hours:g} h cannot pay for one "
                                f"{highest.name} run ({cpu_hours:.3f} h); give more, or none")
