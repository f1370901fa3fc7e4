"""A cell model ready to solve: settings, the roles of design variables and a cache of built simulations.

Both the PyBaMM cell sources and the emulated lab's truth model solve through a
:class:`CellSimulator`; they differ in which parameters are inputs and what they report.
"""

from __future__ import annotations

from interphase.schema import canonical_json
from interphase.sources.pybamm_cell.config import CellModelConfig, DesignRoles
from interphase.sources.pybamm_cell.model_cache import CachedSimulation, SimulationCache
from interphase.sources.pybamm_cell.simulate import CycleRun


class CellSimulator:
    """Solves cycles of a PyBaMM cell model, reusing built simulations.

    Args:
        config: Model, options, parameter set, fixed parameters, chunking and tolerances.
        roles: Which inputs the built model takes (temperature, controls, parameters).
        cache: Where built simulations are kept.
        extra_variables: Further PyBaMM variables to read at the end of every cycle (rows
            hold them under their own names).
    """

    def __init__(self, config: CellModelConfig, roles: DesignRoles, cache: SimulationCache,
                 extra_variables: tuple[str, ...] = ()) -> None:
        self.config = config
        self.extra_variables = tuple(extra_variables)
        self.roles = roles
        self.cache = cache
        self._roles_key = {"temperature": roles.temperature, "controls": list(roles.controls),
                           "parameters": list(roles.parameters), "rate_floors": list(roles.rate_floors)}

    def solve(self, steps: tuple[str, ...], inputs: dict[str, float], n_cycles: int) -> CycleRun:
        """Solve ``n_cycles`` cycles of ``steps`` with these input values.

        Args:
            steps: One cycle as PyBaMM step strings.
            inputs: Input name → value (SI), as :func:`.experiment.run_inputs` makes them.
            n_cycles: Cycles to solve.

        Returns:
            Per-cycle values (see :func:`.readout.cycle_values`) and why the run stopped
            early, if it did.

        Raises:
            Exception: Whatever PyBaMM raises while *building* the simulation (an unknown
                option, a parameter the set lacks); solver failures are in the result.
        """
        from interphase.sources.pybamm_cell.experiment import cycle_plan
        from interphase.sources.pybamm_cell.simulate import solve_cycles

        plan = cycle_plan(steps, self.roles)
        return solve_cycles(lambda n: self._simulation(steps, n), inputs, n_cycles,
                            self.config.chunk_cycles, plan, self.config.has_plating, self.extra_variables)

    def _simulation(self, steps: tuple[str, ...], n_cycles: int) -> CachedSimulation:
        """The cached simulation of ``n_cycles`` cycles of ``steps``, built on a miss."""
        from interphase.sources.pybamm_cell.experiment import build_simulation, cycle_plan
        from interphase.sources.pybamm_cell.observables import solver_output_variables

        key = canonical_json({"config": self.config.fingerprint(), "roles": self._roles_key,
                              "steps": list(steps), "n_cycles": n_cycles,
                              "extra": list(self.extra_variables)})
        return self.cache.get(key, lambda: build_simulation(
            self.config, self.roles, cycle_plan(steps, self.roles), n_cycles,
            [*solver_output_variables(self.config.has_plating), *self.extra_variables]))
