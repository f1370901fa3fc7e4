"""Sources built from any world: each entry of a world's ``sources`` names its ``kind``.

The registry (:mod:`.registry`) holds the built-in worlds' sources under fixed names.
A world a user writes (a different design space, truth or cost) needs no code: its
sources are built here from the world file itself::

    sources:
      my-spm:   {kind: pybamm-cell, model: SPM, fidelity: 10, cost: {seconds_per_cycle: 0.02}}
      lab-cell: {kind: lab-cell, fidelity: 100}

Kinds: ``pybamm-cell``, ``lab-cell``, ``post-mortem``, ``tabulated``,
``empirical-conductivity``; :func:`register_kind` adds more.
"""

from __future__ import annotations

from collections.abc import Callable

from interphase.schema import InvalidInputError
from interphase.sources.base import Source, SourceError
from interphase.sources.world import World

SourceBuilder = Callable[[World, str], Source]


def _pybamm_cell(world: World, name: str) -> Source:
    from interphase.sources.pybamm_cell import PyBaMMCellSource

    return PyBaMMCellSource(world, name)


def _lab_cell(world: World, name: str) -> Source:
    from interphase.sources.lab import LabCellSource

    return LabCellSource(world, name)


def _post_mortem(world: World, name: str) -> Source:
    from interphase.sources.lab import PostMortemSource

    return PostMortemSource(world, name)


def _tabulated(world: World, name: str) -> Source:
    from interphase.sources.tabulated import TabulatedSource

    return TabulatedSource.from_world(world, name)


def _empirical_conductivity(world: World, name: str) -> Source:
    from interphase.sources.electrolyte import EmpiricalConductivitySource

    return EmpiricalConductivitySource.from_world(world, name)


_KINDS: dict[str, SourceBuilder] = {
    "pybamm-cell": _pybamm_cell,
    "lab-cell": _lab_cell,
    "post-mortem": _post_mortem,
    "tabulated": _tabulated,
    "empirical-conductivity": _empirical_conductivity,
}


def register_kind(kind: str, builder: SourceBuilder) -> None:
    """Let worlds declare sources of a new kind.

    Raises:
        SourceError: If ``kind`` is taken.
    """
    if kind in _KINDS:
        raise SourceError(f"source kind {kind!r} is already registered")
    _KINDS[kind] = builder


def source_kinds() -> list[str]:
    """The kinds a world's source entry may declare."""
    return sorted(_KINDS)


def world_source(world: World, name: str) -> Source:
    """Build the source ``world.sources[name]`` declares.

    Args:
        world: The world.
        name: A key of ``world.sources``.

    Returns:
        The source, over the world's design space and protocol.

    Raises:
        InvalidInputError: If the world has no such source, its ``kind`` is missing or
            unknown, or its settings are malformed (the message names the field).
    """
    if name not in world.sources:
        raise InvalidInputError("source", f"world {world.name!r} has no source {name!r}; "
                                f"it has: {', '.join(sorted(world.sources)) or 'none'}")
    kind = world.sources[name].get("kind")
    if not isinstance(kind, str) or kind not in _KINDS:
        problem = "missing" if kind is None else f"unknown kind {kind!r}"
        raise InvalidInputError(f"{world.name}.sources.{name}.kind",
                                f"{problem}; expected one of {', '.join(source_kinds())}")
    return _KINDS[kind](world, name)


def world_sources(world: World) -> dict[str, Source]:
    """Every source a world declares, by name, in the world's order."""
    return {name: world_source(world, name) for name in world.sources}


_BUILT: dict[tuple[str, str], Source] = {}


def resolve_source(name: str, world: str | None = None) -> Source:
    """A registered source, or the source ``name`` of a world; built once per process.

    Args:
        name: The source's name: a registry name, or a key of the world's ``sources``.
        world: None for the registry; else a built-in world name or a world YAML path.

    Returns:
        The source.

    Raises:
        InvalidInputError: If there is no such world or source.
    """
    if world is None:
        from interphase.sources.registry import get_source

        return get_source(name)
    from interphase.sources.world import load_world

    key = (world, name)
    if key not in _BUILT:
        _BUILT[key] = world_source(load_world(world), name)
    return _BUILT[key]
