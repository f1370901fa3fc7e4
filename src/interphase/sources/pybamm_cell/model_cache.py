"""Built PyBaMM simulations, kept per process so that repeated runs never rebuild.

Building a simulation (setting parameters, meshing, discretising every step model and
compiling it for IDAKLU) costs about as much as solving tens of SPM cycles. The design's
values are ``"[input]"`` parameters, so one built simulation serves every design of a
space; the key holds only what shapes the built model (model settings, the protocol's
steps, the space's variables, the chunk length).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CachedSimulation:
    """A built simulation and the lock that serialises solves on it.

    Attributes:
        simulation: The ``pybamm.Simulation``; it is built on its first solve.
        lock: Held while solving; a simulation keeps solver state between solves.
    """

    simulation: Any
    lock: threading.Lock = field(default_factory=threading.Lock)


class SimulationCache:
    """A least-recently-used cache of simulations, with counters.

    Args:
        max_entries: Simulations kept before the least recently used is dropped.

    Attributes:
        builds: Simulations constructed (cache misses) since the last :meth:`clear`.
        hits: Lookups served from the cache since the last :meth:`clear`.
    """

    def __init__(self, max_entries: int = 12) -> None:
        self.max_entries = max_entries
        self.builds = 0
        self.hits = 0
        self._entries: OrderedDict[str, CachedSimulation] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str, build: Callable[[], Any]) -> CachedSimulation:
        """The simulation under ``key``, built with ``build()`` on a miss.

        Args:
            key: A string that changes whenever the built model would.
            build: Makes a new ``pybamm.Simulation``.

        Returns:
            The cached entry.
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry
        simulation = build()  # outside the lock: building DFN takes seconds
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = CachedSimulation(simulation)
                self._entries[key] = entry
                self.builds += 1
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
            else:
                self.hits += 1
            return entry

    def simulations(self) -> list[Any]:
        """The cached simulations, least recently used first."""
        with self._lock:
            return [entry.simulation for entry in self._entries.values()]

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Drop every simulation and reset the counters."""
        with self._lock:
            self._entries.clear()
            self.builds = 0
            self.hits = 0


SIMULATIONS = SimulationCache()
"""The process-wide cache every :class:`~interphase.sources.pybamm_cell.PyBaMMCellSource` uses."""
