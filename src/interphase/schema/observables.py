"""The observable registry: every quantity the store can hold, its unit and its IRI.

Names follow PyBaMM where PyBaMM has the variable (``"Discharge capacity [A.h]"``),
so simulated and measured records line up without a translation table. Values
are stored in the observable's canonical unit: SI, except capacity and energy,
which keep the battery convention PyBaMM uses (A.h = 3600 C, W.h = 3600 J exactly).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from interphase.schema.errors import InvalidInputError
from interphase.schema.ontology import project_term, property_iri, unit_iri


class Observable(BaseModel):
    """A measurable quantity.

    Attributes:
        name: Canonical name with the unit in brackets, e.g. ``"SEI thickness [m]"``.
        unit: Canonical unit, pint syntax (``"A*h"``, ``"ohm"``, ``""`` for a ratio).
        unit_symbol: The symbol used to look the unit IRI up (``"Ah"``), if any.
        battinfo_key: Key into the BattINFO property map, or None if it has no class.
        description: One line for people.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    unit: str
    unit_symbol: str | None = None
    battinfo_key: str | None = None
    description: str = ""

    @property
    def iri(self) -> str | None:
        """The EMMO/BattINFO class IRI, or None when the ontology has none."""
        return property_iri(self.battinfo_key)

    @property
    def term_iri(self) -> str:
        """The IRI to export under: the EMMO class, or a project-namespace term."""
        return self.iri or project_term(self.name)

    @property
    def unit_iri(self) -> str | None:
        """The EMMO unit IRI, or None when the curated unit map has none."""
        return unit_iri(self.unit_symbol)


# Index quantities: what an observation's index counts.
CYCLE_INDEX_UNIT = "cycle"
TIME_INDEX_UNIT = "s"
TEMPERATURE_INDEX_UNIT = "K"
INDEX_UNITS = (CYCLE_INDEX_UNIT, TIME_INDEX_UNIT, TEMPERATURE_INDEX_UNIT)

_BUILTIN = (
    Observable(name="Discharge capacity [A.h]", unit="A*h", unit_symbol="Ah",
               description="Charge delivered during the discharge of one cycle"),
    Observable(name="Charge capacity [A.h]", unit="A*h", unit_symbol="Ah",
               description="Charge accepted during the charge of one cycle"),
    Observable(name="Coulombic efficiency", unit="", unit_symbol="count",
               description="Discharge capacity over charge capacity of the same cycle"),
    Observable(name="Discharge energy [W.h]", unit="W*h", unit_symbol="Wh",
               description="Energy delivered during the discharge of one cycle"),
    Observable(name="Charge energy [W.h]", unit="W*h", unit_symbol="Wh",
               description="Energy accepted during the charge of one cycle"),
    Observable(name="Mean discharge voltage [V]", unit="V", unit_symbol="V",
               description="Discharge energy over discharge capacity of one cycle"),
    Observable(name="Mean temperature [K]", unit="K", unit_symbol="K",
               description="Mean cell temperature over one cycle"),
    Observable(name="Internal resistance [Ohm]", unit="ohm", unit_symbol="Ω",
               battinfo_key="internal_resistance",
               description="Cycler-reported internal resistance, mean over one cycle"),
    Observable(name="Resistance [Ohm]", unit="ohm", unit_symbol="Ω",
               battinfo_key="internal_resistance",
               description="Cell resistance at mid-discharge (PyBaMM's variable)"),
    Observable(name="Capacity retention", unit="", unit_symbol="count",
               battinfo_key="state_of_health",
               description="Discharge capacity relative to the reference cycle"),
    Observable(name="Loss of lithium inventory [%]", unit="percent",
               description="Cyclable lithium lost, in percent of the initial inventory (PyBaMM)"),
    Observable(name="Loss of active material in negative electrode [%]", unit="percent",
               description="Negative electrode active material lost (PyBaMM)"),
    Observable(name="Loss of active material in positive electrode [%]", unit="percent",
               description="Positive electrode active material lost (PyBaMM)"),
    Observable(name="SEI thickness [m]", unit="m", unit_symbol="m",
               description="Mean SEI thickness on the negative electrode"),
    Observable(name="Lithium plating thickness [m]", unit="m", unit_symbol="m",
               description="Mean plated lithium thickness on the negative electrode"),
    Observable(name="Conductivity [S.m-1]", unit="S/m",
               description="Electrolyte ionic conductivity"),
    Observable(name="Cycle duration [s]", unit="s", unit_symbol="s",
               description="Duration of one cycle"),
)


class ObservableRegistry:
    """Lookup of observables by name; raises on duplicates, like BoTorch's registries."""

    def __init__(self, observables: tuple[Observable, ...] = _BUILTIN) -> None:
        self._by_name: dict[str, Observable] = {}
        for observable in observables:
            self.register(observable)

    def register(self, observable: Observable) -> None:
        """Add an observable.

        Raises:
            InvalidInputError: If the name is already registered.

        """
        if observable.name in self._by_name:
            raise InvalidInputError("observable", f"{observable.name!r} is already registered")
        self._by_name[observable.name] = observable

    def get(self, name: str) -> Observable:
        """Return the observable called ``name``.

        Raises:
            InvalidInputError: If no observable has that name; the message lists them.

        """
        try:
            return self._by_name[name]
        except KeyError:
            raise InvalidInputError(
                "observable", f"unknown observable {name!r}; known: {', '.join(self.names)}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    @property
    def names(self) -> list[str]:
        """All registered names, in registration order."""
        return list(self._by_name)

    def without_iri(self) -> list[str]:
        """Names of observables that the curated BattINFO map has no class for."""
        return [o.name for o in self._by_name.values() if o.iri is None]


OBSERVABLES = ObservableRegistry()
