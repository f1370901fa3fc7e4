"""Design features and per-cycle controls: what the model sees of a design and its protocol.

:class:`DesignFeatures` lays a design space out as ``D`` columns in [0, 1]: one column per
continuous or integer variable (the variable's own ``to_unit``, so log-scaled variables are
mapped in log10), and a one-hot block per categorical variable. Missing values get a 0 with
mask 0, so that a partly specified design can be encoded and inpainted.

:class:`ControlLayout` builds the ``U = 4`` controls of every cycle (charge C-rate,
discharge C-rate, ambient temperature, charge cut-off voltage) from the design where it
sets them, else from the protocol, scaled with fixed ranges (:data:`CONTROL_SCALING`).
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from interphase.schema import CategoricalVariable, Design, DesignSpace, InvalidInputError, Protocol

# The design variable names the PyBaMM cell sources give these roles; they mirror
# ``interphase.sources.pybamm_cell.config`` (a test checks), whose import pulls in PyBaMM.
AMBIENT_TEMPERATURE = "Ambient temperature [K]"
CHARGE_C_RATE = "Charge C-rate"
DISCHARGE_C_RATE = "Discharge C-rate"
CHARGE_CUTOFF_VOLTAGE = "Charge cut-off voltage [V]"

CONTROL_NAMES = (CHARGE_C_RATE, DISCHARGE_C_RATE, AMBIENT_TEMPERATURE, CHARGE_CUTOFF_VOLTAGE)
# Used when neither the design nor the protocol gives a control (a protocol step in amps
# has no C-rate without the cell's capacity): 1C both ways, 25 degC, a 4.2 V cut-off.
CONTROL_DEFAULTS = {CHARGE_C_RATE: 1.0, DISCHARGE_C_RATE: 1.0, AMBIENT_TEMPERATURE: 298.15,
                    CHARGE_CUTOFF_VOLTAGE: 4.2}
# (offset, span) per control: scaled = (SI value - offset) / span, about [0, 1] for
# 0-2C, 253.15-333.15 K (-20 to 60 degC) and 3.0-4.5 V.
CONTROL_SCALING = {CHARGE_C_RATE: (0.0, 2.0), DISCHARGE_C_RATE: (0.0, 2.0),
                   AMBIENT_TEMPERATURE: (253.15, 80.0), CHARGE_CUTOFF_VOLTAGE: (3.0, 1.5)}


@functools.lru_cache(maxsize=256)
def protocol_controls(steps: tuple[str, ...]) -> dict[str, float]:
    """The C-rates and charge cut-off that a cycle's PyBaMM step strings set.

    The first charge step at a C-rate gives the charge C-rate and, through its voltage
    termination, the cut-off; a constant-voltage hold gives the cut-off when no charge
    step has one. The first discharge step at a C-rate gives the discharge C-rate.

    Args:
        steps: One cycle's steps, e.g. ``("Charge at 1C until 4.2 V", ...)``.

    Returns:
        Control name → SI value, for the controls the steps set.
    """
    os.environ.setdefault("PYBAMM_DISABLE_TELEMETRY", "true")
    import pybamm  # heavy; a stored Protocol has imported it already

    found: dict[str, float] = {}
    for text in steps:
        step = pybamm.step.string(text)
        kind = type(step).__name__
        value = step.value if isinstance(step.value, int | float) else None
        if kind == "CRate" and value is not None and value < 0 and CHARGE_C_RATE not in found:
            found[CHARGE_C_RATE] = -float(value)
            for termination in step.termination:
                if type(termination).__name__ == "VoltageTermination":
                    found.setdefault(CHARGE_CUTOFF_VOLTAGE, float(termination.value))
        elif kind == "CRate" and value is not None and value > 0:
            found.setdefault(DISCHARGE_C_RATE, float(value))
        elif kind == "Voltage" and value is not None:
            found.setdefault(CHARGE_CUTOFF_VOLTAGE, float(value))
    return found


class ControlLayout:
    """Per-cycle controls ``u``: charge C-rate, discharge C-rate, ambient temperature, cut-off.

    A control comes from the design when the design space has the variable (names as the
    PyBaMM cell sources use them), else from the protocol (``ambient_temperature_k``, and
    the C-rates and cut-off parsed from its steps by :func:`protocol_controls`), else from
    :data:`CONTROL_DEFAULTS`. Each is scaled by :data:`CONTROL_SCALING`. Controls are
    constant over cycles today; they are returned per cycle so that varying protocols fit.
    """

    names: tuple[str, ...] = CONTROL_NAMES

    @property
    def n_controls(self) -> int:
        """U, the number of controls."""
        return len(self.names)

    def values_si(self, design: Mapping[str, Any] | Design, protocol: Protocol | None) -> np.ndarray:
        """The controls of one (design, protocol) in SI (C-rate, K, V).

        Returns:
            ``U`` values, in :attr:`names` order.
        """
        values = design.values if isinstance(design, Design) else design
        from_protocol: dict[str, float] = {}
        if protocol is not None:
            from_protocol = {**protocol_controls(tuple(protocol.steps)),
                             AMBIENT_TEMPERATURE: float(protocol.ambient_temperature_k)}
        out = np.empty(len(self.names))
        for column, name in enumerate(self.names):
            given = values.get(name)
            if isinstance(given, int | float) and not isinstance(given, bool) and math.isfinite(given):
                out[column] = float(given)
            else:
                out[column] = from_protocol.get(name, CONTROL_DEFAULTS[name])
        return out

    def scale(self, values_si: np.ndarray) -> np.ndarray:
        """Scale ``... x U`` SI controls to about [0, 1] with :data:`CONTROL_SCALING`."""
        offsets = np.array([CONTROL_SCALING[n][0] for n in self.names])
        spans = np.array([CONTROL_SCALING[n][1] for n in self.names])
        return (np.asarray(values_si, dtype=float) - offsets) / spans

    def build(self, designs: Sequence[Mapping[str, Any] | Design], protocols: Sequence[Protocol | None],
              horizon: int) -> Tensor:
        """Scaled controls of every cycle of every (design, protocol) pair.

        Args:
            designs: ``N`` designs (values in SI).
            protocols: ``N`` protocols (None: design values and defaults only).
            horizon: T, cycles to cover.

        Returns:
            ``N x T x U`` float32 controls.

        Raises:
            InvalidInputError: If the two sequences differ in length or ``horizon < 0``.
        """
        if len(designs) != len(protocols):
            raise InvalidInputError("protocols", f"expected {len(designs)} protocols, got {len(protocols)}")
        if horizon < 0:
            raise InvalidInputError("horizon", f"must be >= 0, got {horizon}")
        rows = np.array([self.values_si(d, p) for d, p in zip(designs, protocols, strict=True)],
                        dtype=float).reshape(len(designs), self.n_controls)
        scaled = torch.as_tensor(self.scale(rows), dtype=torch.float32)
        return scaled[:, None, :].expand(len(designs), horizon, self.n_controls).contiguous()


class DesignFeatures:
    """The feature layout of a design space: ``D`` columns in [0, 1].

    Args:
        space: The design space.

    Attributes:
        space: The design space.
        columns: Variable name → its ``(start, stop)`` columns.
        feature_names: ``D`` names: the variable's, or ``"name=level"`` in a one-hot block.
        categorical_slices: ``(start, stop)`` of each one-hot block, in space order.
        continuous_columns: Columns of continuous and integer variables (one each).
        controls: The per-cycle control layout.
    """

    def __init__(self, space: DesignSpace) -> None:
        self.space = space
        self.columns: dict[str, tuple[int, int]] = {}
        self.feature_names: list[str] = []
        self.categorical_slices: list[tuple[int, int]] = []
        self.continuous_columns: list[int] = []
        for variable in space.variables:
            start = len(self.feature_names)
            if isinstance(variable, CategoricalVariable):
                self.feature_names.extend(f"{variable.name}={level}" for level in variable.choices)
                self.categorical_slices.append((start, len(self.feature_names)))
            else:
                self.feature_names.append(variable.name)
                self.continuous_columns.append(start)
            self.columns[variable.name] = (start, len(self.feature_names))
        self.controls = ControlLayout()

    @property
    def n_features(self) -> int:
        """D, the number of feature columns."""
        return len(self.feature_names)

    def encode(self, designs: Sequence[Mapping[str, Any] | Design]) -> tuple[Tensor, Tensor]:
        """Designs to features, with a mask of what is known.

        Args:
            designs: ``N`` designs or mappings of variable → value (SI numbers, quantity
                strings such as ``"25 degC"``, level names). Absent or None values are missing.

        Returns:
            ``x`` and ``x_mask``, each ``N x D`` float32; missing variables have 0 in both.

        Raises:
            InvalidInputError: On an unknown variable or a value outside the space; the
                field is ``designs.<position>.<variable>``.
        """
        x = np.zeros((len(designs), self.n_features), dtype=np.float32)
        mask = np.zeros_like(x)
        for row, design in enumerate(designs):
            values = design.values if isinstance(design, Design) else design
            if not isinstance(values, Mapping):
                raise InvalidInputError(f"designs.{row}", f"expected a mapping, got {type(values).__name__}")
            for name, value in values.items():
                if name not in self.columns:
                    raise InvalidInputError(f"designs.{row}.{name}",
                                            f"unknown variable; expected one of {', '.join(self.columns)}")
                if value is None:
                    continue
                variable = self.space.variable(name)
                try:
                    coerced = variable.coerce(value)
                except InvalidInputError as exc:
                    raise InvalidInputError(f"designs.{row}.{name}", exc.problem) from None
                start, stop = self.columns[name]
                if isinstance(variable, CategoricalVariable):
                    x[row, start + variable.choices.index(coerced)] = 1.0
                else:
                    x[row, start] = variable.to_unit(coerced)  # type: ignore[arg-type]
                mask[row, start:stop] = 1.0
        return torch.from_numpy(x), torch.from_numpy(mask)

    def decode(self, x: Tensor) -> list[Design]:
        """Features back to designs that validate in the space.

        Args:
            x: ``N x D`` (or ``D``) features; clamped to [0, 1], each one-hot block read
                by its argmax.

        Returns:
            ``N`` validated designs, values in SI.

        Raises:
            InvalidInputError: If ``x`` does not have ``D`` columns.
        """
        array = np.atleast_2d(x.detach().cpu().double().numpy())
        if array.ndim != 2 or array.shape[1] != self.n_features:
            raise InvalidInputError("x", f"expected N x {self.n_features} features, got {tuple(x.shape)}")
        array = np.clip(array, 0.0, 1.0)
        designs = []
        for row in array:
            values: dict[str, Any] = {}
            for variable in self.space.variables:
                start, stop = self.columns[variable.name]
                if isinstance(variable, CategoricalVariable):
                    values[variable.name] = variable.choices[int(np.argmax(row[start:stop]))]
                else:
                    values[variable.name] = variable.from_unit(float(row[start]))
            designs.append(self.space.validate_design(values))
        return designs
