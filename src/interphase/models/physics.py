"""Physics bounds of the emission means, enforced by parameterisation rather than clipping.

Each observable has a kind. Its emission pre-activations ``h`` (unitless, O(1)) map to a
mean in canonical units through the dataset's per-observable ``loc`` and ``scale`` (the
typical value and spread), and the bound holds in those raw units for every ``h``:

- ``"free"``: ``loc + scale * h``.
- ``"nonnegative"``: ``scale * softplus(h + c)`` with ``c = softplus^-1(loc / scale)``, so
  ``h = 0`` gives ``loc`` and, far from zero, the map is ``loc + scale * h`` as for a free one.
- ``"at_most_one"``: ``1 - f * exp(clamp(r * h))`` with the typical shortfall ``f = 1 - loc``
  and ``r = scale / f``, so ``h = 0`` gives ``loc`` with slope ``-scale`` (retention-like
  quantities; the lower end is left free). The shortfall (the fade) is log-linear in ``h``:
  fades that differ tenfold between designs are a few units of ``h`` apart, not hundreds.
- ``"nondecreasing"``: two pre-activations per step, a level and an increment:
  ``value(t) = scale * softplus(level(0) + c) + sum_{1 <= s <= t} (scale / typical_cycles) *
  exp(clamp(increment(s)))``; non-negative and non-decreasing along the steps (e.g. SEI
  thickness, whose growth spans decades between designs). Without a cycle axis
  (condition-indexed observables) it is ``"nonnegative"``.

``clamp`` caps the exponent smoothly near 6 (and is the identity near 0), so no weights overflow it.

The bounds hold for the means; a sample with aleatoric noise may cross them ("up to noise").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from interphase.models.config import PhysicsKind
from interphase.schema.errors import InvalidInputError

DEFAULT_KINDS: dict[str, PhysicsKind] = {
    "Discharge capacity [A.h]": "nonnegative",
    "Charge capacity [A.h]": "nonnegative",
    "Discharge energy [W.h]": "nonnegative",
    "Charge energy [W.h]": "nonnegative",
    "Capacity retention": "at_most_one",
    "SEI thickness [m]": "nondecreasing",
    "Lithium plating thickness [m]": "nonnegative",
    "Resistance [Ohm]": "nonnegative",
    "Internal resistance [Ohm]": "nonnegative",
    "Loss of lithium inventory [%]": "free",
}
"""Kinds of the built-in observables; any name starting with ``"Conductivity"`` is non-negative."""

_MIN_RATIO = 1e-2  # keeps softplus^-1 finite when loc sits on (or past) the bound
_EXPONENT_CAP = 6.0  # exp() of a log-linear map stays finite for any weights


def kind_of(name: str, overrides: Mapping[str, PhysicsKind] | None = None) -> PhysicsKind:
    """The bound of observable ``name``: the override, the default map, or ``"free"``."""
    if overrides and name in overrides:
        return overrides[name]
    if name in DEFAULT_KINDS:
        return DEFAULT_KINDS[name]
    if name.startswith("Conductivity"):
        return "nonnegative"
    return "free"


def _cap(exponent: Tensor) -> Tensor:
    """A smooth upper cap of ``exponent`` near :data:`_EXPONENT_CAP`, exactly the identity at 0."""
    return exponent - F.softplus(exponent - _EXPONENT_CAP) + F.softplus(torch.tensor(-_EXPONENT_CAP))


def softplus_inverse(value: Tensor) -> Tensor:
    """``x`` with ``softplus(x) == value`` for ``value > 0`` (same shape)."""
    return value + torch.log(-torch.expm1(-value))


class PhysicsConstraints(nn.Module):
    """Maps emission pre-activations to bounded means in canonical units.

    Args:
        kinds: Kind of each of the ``O`` observables.
        loc: ``O`` typical value of each observable (canonical units).
        scale: ``O`` typical spread of each observable (canonical units, > 0).
        sequential: Whether inputs carry a cycle axis (``... x T x P``); without one,
            ``"nondecreasing"`` falls back to ``"nonnegative"``.
        typical_cycles: Cycles over which a nondecreasing observable grows by about
            ``scale`` at initialisation.

    Raises:
        InvalidInputError: On mismatched lengths or a non-positive or non-finite scale.

    """

    def __init__(self, kinds: Sequence[PhysicsKind], loc: Tensor, scale: Tensor, *,
                 sequential: bool = True, typical_cycles: float = 100.0) -> None:
        super().__init__()
        loc = torch.as_tensor(loc, dtype=torch.float32).reshape(-1)
        scale = torch.as_tensor(scale, dtype=torch.float32).reshape(-1)
        if not len(kinds) == loc.numel() == scale.numel():
            raise InvalidInputError("loc", f"needs one entry per observable ({len(kinds)}), "
                                           f"got loc {loc.numel()} and scale {scale.numel()}")
        if not (torch.isfinite(loc).all() and torch.isfinite(scale).all() and (scale > 0).all()):
            raise InvalidInputError("scale", "must be finite and positive, with a finite loc")
        self.kinds: list[PhysicsKind] = [
            "nonnegative" if kind == "nondecreasing" and not sequential else kind for kind in kinds]
        self.sequential = sequential
        self.typical_cycles = float(typical_cycles)
        offsets = torch.zeros_like(loc)
        self._first_channel: list[int] = []
        for i, kind in enumerate(self.kinds):
            self._first_channel.append(sum(2 if k == "nondecreasing" else 1 for k in self.kinds[:i]))
            if kind in ("nonnegative", "nondecreasing"):
                offsets[i] = softplus_inverse(torch.clamp(loc[i] / scale[i], min=_MIN_RATIO))
            elif kind == "at_most_one":  # the typical shortfall below 1, kept positive
                offsets[i] = torch.clamp(1.0 - loc[i], min=_MIN_RATIO * float(scale[i]))
        self.register_buffer("loc", loc)
        self.register_buffer("scale", scale)
        self.register_buffer("offset", offsets)

    @property
    def n_observables(self) -> int:
        """``O``, the observables this maps to."""
        return len(self.kinds)

    @property
    def n_channels(self) -> int:
        """``P``, the pre-activations it reads: one per observable, two per nondecreasing one."""
        return len(self.kinds) + sum(1 for kind in self.kinds if kind == "nondecreasing")

    def forward(self, h: Tensor) -> Tensor:
        """Bounded means.

        Args:
            h: ``... x T x P`` pre-activations (``... x P`` when not sequential).

        Returns:
            ``... x T x O`` means in canonical units (``... x O`` when not sequential).

        """
        columns = []
        for i, kind in enumerate(self.kinds):
            first = self._first_channel[i]
            pre, loc, scale, offset = h[..., first], self.loc[i], self.scale[i], self.offset[i]
            if kind == "free":
                columns.append(loc + scale * pre)
            elif kind == "nonnegative":
                columns.append(scale * F.softplus(pre + offset))
            elif kind == "at_most_one":
                columns.append(1.0 - offset * torch.exp(_cap(pre * (scale / offset))))
            else:
                level = scale * F.softplus(pre[..., :1] + offset)
                increments = (scale / self.typical_cycles) * torch.exp(_cap(h[..., 1:, first + 1]))
                columns.append(torch.cat([level, level + torch.cumsum(increments, dim=-1)], dim=-1))
        if not columns:  # no observables of this kind
            return h.new_zeros((*h.shape[:-1], 0))
        return torch.stack(columns, dim=-1)

    def extra_repr(self) -> str:
        """The kinds, shown by ``print(module)``."""
        return f"kinds={self.kinds}, sequential={self.sequential}"
