"""Source registry: built-in sources and plugins from the ``interphase.sources`` entry points.

Entry points are loaded lazily, so listing names never imports PyBaMM. A name may be
registered once; a second registration raises, as BoTorch's registries do.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from interphase.schema import InvalidInputError
from interphase.sources.base import Source, SourceError

ENTRY_POINT_GROUP = "interphase.sources"

SourceFactory = Callable[[], Source]

_factories: dict[str, SourceFactory] = {}
_instances: dict[str, Source] = {}


def register_source(name: str, factory: SourceFactory) -> None:
    """Register a factory that builds the source called ``name``.

    Raises:
        SourceError: If ``name`` is already registered.
    """
    _load_entry_points()
    if name in _factories:
        raise SourceError(f"source {name!r} is already registered")
    _factories[name] = factory


def source_names() -> list[str]:
    """Every registered source name, sorted."""
    _load_entry_points()
    return sorted(_factories)


def get_source(name: str) -> Source:
    """Build (once per process) and return the source called ``name``.

    Raises:
        InvalidInputError: If no source has that name; the message lists the known ones.
    """
    _load_entry_points()
    if name not in _factories:
        raise InvalidInputError("source", f"unknown source {name!r}; known: {', '.join(sorted(_factories))}")
    if name not in _instances:
        source = _factories[name]()
        if source.spec.name != name:
            raise SourceError(f"factory for {name!r} built a source named {source.spec.name!r}")
        _instances[name] = source
    return _instances[name]


_loaded = False


def _load_entry_points() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name in _factories:
            raise SourceError(f"source {entry.name!r} is registered twice (entry point {entry.value})")
        _factories[entry.name] = _lazy(entry.load)


def _lazy(load: Callable[[], object]) -> SourceFactory:
    """Turn an entry point's target (a Source subclass or a factory) into a factory."""
    def build() -> Source:
        target = load()
        source = target() if callable(target) else target
        if not isinstance(source, Source):
            raise SourceError(f"entry point built {type(source).__name__}, not a Source")
        return source
    return build
