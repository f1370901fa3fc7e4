"""A fitted surrogate as differentiable endpoint samples of unit-cube designs, for BoTorch.

This is the ``sample_endpoints`` contract of :mod:`.botorch_adapter`, met by a
:class:`~interphase.models.surrogate.Surrogate`.

:func:`endpoint_sampler` maps ``b x q x d`` points of the design space's unit cube (one column
per variable, in space order) to ``b x s x q x m`` samples of chosen endpoints, e.g. retention
at cycle 200 under the lab-cell source. Everything from ``X`` to the samples is torch, so
acquisition gradients reach ``X``:

* design features: for a continuous variable the unit-cube coordinate *is* the feature
  (log-scaled ones included, as ``DesignFeatures`` maps them in log10); an integer variable
  is relaxed to its coordinate (the feature of an integer is its bin centre, so round the
  candidates through ``DesignSpace.from_unit_cube`` before running them);
* per-cycle controls: a control that is a design variable gets its SI value from the
  coordinate (:func:`unit_to_si`), then ``CONTROL_SCALING``; the others are the protocol's
  or the defaults, as in ``ControlLayout``.

Member ``k`` draws its ``n_samples`` latent paths from a generator seeded with ``seed + k`` on
every call, so the same ``X`` (same shape) always gives the same samples: common random
numbers, which make acquisition optimisation a deterministic sample-average problem. A
sample is the emission *mean* of one latent path (a noise-free endpoint): ``s = K * n_samples``.

Failures enter in one of two ways:

* as an output: the target ``(FAILURE_LOGIT, 0)`` is each member's failure logit (the same
  for all of its paths); pass ``constraints=[failure_constraint(j, 0.2)]`` to a BoTorch MC
  acquisition function, which then weighs each sample by the smoothed indicator of
  ``p_fail <= 0.2``;
* as a discount: :func:`failure_probability` gives ``p_fail(X)`` (``b x q``, differentiable);
  with a log-acquisition such as ``qLogExpectedImprovement`` add the log of the probability
  that every point of the batch runs, ``acqf(X) + torch.log1p(-p_fail(X)).sum(-1)``
  (``log(EI * prod(1 - p))``, treating failures as independent); with a plain acquisition
  multiply by ``(1 - p_fail(X)).prod(-1)``.

Importing this module does not import BoTorch; :func:`botorch_model` does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from interphase.models.batch import TrajectoryBatch
from interphase.models.features import CONTROL_NAMES, CONTROL_SCALING, ControlLayout
from interphase.schema import (
    CategoricalVariable,
    ContinuousVariable,
    IntegerVariable,
    InvalidInputError,
    Protocol,
)

if TYPE_CHECKING:
    from interphase.models.botorch_adapter import EndpointEnsembleModel
    from interphase.models.surrogate import Surrogate

FAILURE_LOGIT = "Failure logit"
"""Pseudo-observable of a target: ``logit p(fail)`` of each member (the target's cycle is ignored)."""


def unit_to_si(variable: ContinuousVariable | IntegerVariable, u: Tensor) -> Tensor:
    """SI values of a variable at unit-cube coordinates, differentiably (``from_unit`` in torch).

    Linear: ``lower + u * (upper - lower)``; log-scaled: ``10 ** (log10(lower) + u * (log10(upper)
    - log10(lower)))``; integer: the continuous relaxation ``lower - 1/2 + u * (upper - lower + 1)``
    (``from_unit`` floors it to the integer whose bin holds ``u``). ``u`` is clamped to [0, 1].

    Args:
        variable: A continuous or integer variable.
        u: Coordinates, any shape.

    Returns:
        SI values, the shape and dtype of ``u``.

    Raises:
        InvalidInputError: For a categorical variable.
    """
    u = u.clamp(0.0, 1.0)
    if isinstance(variable, IntegerVariable):
        return variable.lower - 0.5 + u * (variable.upper - variable.lower + 1)
    if isinstance(variable, ContinuousVariable):
        if variable.log_scale:
            low, high = math.log10(variable.lower), math.log10(variable.upper)
            return torch.exp(math.log(10.0) * (low + u * (high - low)))
        return variable.lower + u * (variable.upper - variable.lower)
    raise InvalidInputError(variable.name, "a categorical variable has no differentiable unit-cube map")


class UnitCubeBatches:
    """Model batches of unit-cube designs under one source and protocol, built in torch.

    ``batch(X)`` equals ``surrogate.batch_for(space.from_unit_cube(X), source, protocol)`` (up to
    float rounding, and the relaxation of integers) but is differentiable in ``X``.

    Args:
        surrogate: The surrogate (its space, layout and source vocabulary).
        source: Source of the records.
        protocol: Gives the controls the design does not set (None: ``CONTROL_DEFAULTS``).

    Raises:
        InvalidInputError: On a categorical variable in the space, or an unknown source.
    """

    def __init__(self, surrogate: Surrogate, source: str, protocol: Protocol | None) -> None:
        space = surrogate.space
        categorical = [v.name for v in space.variables if isinstance(v, CategoricalVariable)]
        if categorical:
            raise InvalidInputError("design_space", "only continuous and integer variables have a "
                                    f"differentiable unit cube; categorical: {', '.join(categorical)}")
        self.surrogate = surrogate
        self.dim = space.dim
        self.source_index = surrogate.source_index(source)
        # Per control: the design column and variable that set it, or None for the protocol's value.
        self.control_sources: list[tuple[int, ContinuousVariable | IntegerVariable] | None] = []
        for name in CONTROL_NAMES:
            variable = space.variable(name) if name in space.names else None
            if isinstance(variable, ContinuousVariable | IntegerVariable):
                self.control_sources.append((space.names.index(name), variable))
            else:
                self.control_sources.append(None)
        self.fixed_controls_si = ControlLayout().values_si({}, protocol).tolist()

    def batch(self, X: Tensor, horizon: int) -> TrajectoryBatch:
        """``N`` designs with nothing observed.

        Args:
            X: ``N x d`` unit-cube designs.
            horizon: T, cycles of controls.

        Returns:
            A batch whose ``x`` and ``u`` are differentiable functions of ``X`` (float32).
        """
        n = X.shape[0]
        columns = []
        for name, given, fixed in zip(CONTROL_NAMES, self.control_sources, self.fixed_controls_si,
                                      strict=True):
            si = X.new_full((n,), fixed) if given is None else unit_to_si(given[1], X[:, given[0]])
            offset, span = CONTROL_SCALING[name]
            columns.append((si - offset) / span)
        u = torch.stack(columns, dim=-1).to(torch.float32).unsqueeze(1).expand(n, horizon, len(columns))
        s = self.surrogate
        n_obs, n_cond, n_conditions = len(s.observables), len(s.cond_observables), len(s.conditions)
        return TrajectoryBatch(
            x=X.clamp(0.0, 1.0).to(torch.float32), x_mask=torch.ones(n, self.dim),
            source=torch.full((n,), self.source_index, dtype=torch.long), u=u,
            y=torch.zeros(n, horizon, n_obs), y_mask=torch.zeros(n, horizon, n_obs),
            cycles=torch.zeros(n, dtype=torch.long), has_result=torch.ones(n), failed=torch.zeros(n),
            cond_y=torch.zeros(n, n_conditions, n_cond), cond_mask=torch.zeros(n, n_conditions, n_cond))

    def flatten(self, X: Tensor) -> Tensor:
        """``b x q x d`` → ``(b * q) x d``, checking the shape."""
        if X.ndim != 3 or X.shape[-1] != self.dim:
            raise InvalidInputError("X", f"must be batch x q x {self.dim} unit-cube designs, "
                                    f"got {tuple(X.shape)}")
        return X.reshape(-1, self.dim)


@contextmanager
def _constant(net: torch.nn.Module) -> Iterator[None]:
    """Treat the weights as constants while a graph is built: gradients go to ``X`` only."""
    flags = [p.requires_grad for p in net.parameters()]
    try:
        for p in net.parameters():
            p.requires_grad_(False)
        yield
    finally:
        for p, flag in zip(net.parameters(), flags, strict=True):
            p.requires_grad_(flag)


def _require_members(surrogate: Surrogate) -> None:
    if not surrogate.ensemble.members:
        raise InvalidInputError("surrogate", "has no fitted members; fit or load it first")


def _member_failure_probability(net: torch.nn.Module, batch: TrajectoryBatch) -> Tensor:
    with _constant(net):
        return net.feasibility(batch)  # type: ignore[operator]


class EndpointSampler:
    """Endpoint samples of unit-cube designs; build it with :func:`endpoint_sampler`.

    Args:
        surrogate: A fitted surrogate (its members are read at every call, so a refit shows).
        source: Source whose fidelity the endpoints are at.
        protocol: Gives the controls the design does not set (None: defaults).
        targets: ``m`` ``(observable, cycle)`` pairs; cycle ``t`` is the ``t``-th cycle (>= 1).
        n_samples: Latent paths per member.
        seed: Member ``k``'s paths are drawn from ``seed + k`` on every call.

    Raises:
        InvalidInputError: On a categorical design space, an unknown source or observable, a
            cycle below 1, no targets, ``n_samples < 1`` or a surrogate without members.
    """

    def __init__(self, surrogate: Surrogate, *, source: str, protocol: Protocol | None,
                 targets: Sequence[tuple[str, int]], n_samples: int = 8, seed: int = 0) -> None:
        if not targets:
            raise InvalidInputError("targets", "needs at least one (observable, cycle) pair")
        if n_samples < 1:
            raise InvalidInputError("n_samples", f"must be >= 1, got {n_samples}")
        for name, cycle in targets:
            known = (name == FAILURE_LOGIT or name in surrogate.observables
                     or name in surrogate.cond_observables)
            if not known:
                raise InvalidInputError("targets", f"the model predicts no {name!r}; it predicts "
                                        f"{', '.join(surrogate.observables + surrogate.cond_observables)} "
                                        f"(or {FAILURE_LOGIT!r})")
            if name in surrogate.observables and (isinstance(cycle, bool) or not isinstance(cycle, int)
                                                  or cycle < 1):
                raise InvalidInputError("targets", f"the cycle of {name!r} must be an integer >= 1, "
                                        f"got {cycle!r}")
        self.surrogate = surrogate
        self.designs = UnitCubeBatches(surrogate, source, protocol)
        _require_members(surrogate)
        self.targets = [(name, int(cycle) if name in surrogate.observables else float(cycle))
                        for name, cycle in targets]
        self.n_samples = n_samples
        self.seed = seed
        # Condition-indexed targets (e.g. conductivity at 253.15 K): the index is the condition.
        self._condition_outputs = [(i, surrogate.cond_observables.index(name), float(index))
                                   for i, (name, index) in enumerate(self.targets)
                                   if name in surrogate.cond_observables]
        trajectory = [(i, name, cycle) for i, (name, cycle) in enumerate(self.targets)
                      if name in surrogate.observables]
        self._trajectory_outputs = [i for i, _, _ in trajectory]
        observables = sorted({surrogate.observables.index(n) for _, n, _ in trajectory})
        self._columns = observables  # the only observables the network evaluates
        self._column_index = torch.tensor([observables.index(surrogate.observables.index(n))
                                           for _, n, _ in trajectory], dtype=torch.long)
        cycles = sorted({c for _, _, c in trajectory})
        self._cycles = torch.tensor(cycles, dtype=torch.long)  # the only cycles the network evaluates
        self._cycle_index = torch.tensor([cycles.index(c) for _, _, c in trajectory], dtype=torch.long)
        self._failure_outputs = [i for i, (name, _) in enumerate(self.targets) if name == FAILURE_LOGIT]
        self.horizon = max([c for _, _, c in trajectory], default=1)

    @property
    def num_outputs(self) -> int:
        """``m``, endpoints per sample."""
        return len(self.targets)

    @property
    def ensemble_size(self) -> int:
        """``s = K * n_samples``, samples per design."""
        return len(self.surrogate.ensemble.members) * self.n_samples

    def __call__(self, X: Tensor) -> Tensor:
        """Endpoint samples.

        Args:
            X: ``b x q x d`` unit-cube designs (any float dtype).

        Returns:
            ``b x s x q x m`` samples in ``X``'s dtype; sample ``k * n_samples + j`` is path ``j``
            of member ``k``. Canonical units (retention as a fraction, capacity in A.h), or a
            logit for :data:`FAILURE_LOGIT`.

        Raises:
            InvalidInputError: If ``X`` is not ``b x q x d``.
        """
        batch = self.designs.batch(self.designs.flatten(X), self.horizon)
        members = []
        for k, net in enumerate(self.surrogate.ensemble.members):
            columns: dict[int, Tensor] = {}
            if self._trajectory_outputs:
                generator = torch.Generator().manual_seed(self.seed + k)
                with _constant(net):
                    mean, _ = net.sample_trajectories(  # type: ignore[operator]
                        batch, horizon=self.horizon, n_samples=self.n_samples, cycles=self._cycles,
                        columns=self._columns, generator=generator)
                endpoints = mean[:, :, self._cycle_index, self._column_index]  # S x N x m'
                columns.update({i: endpoints[..., j] for j, i in enumerate(self._trajectory_outputs)})
            if self._condition_outputs:
                generator = torch.Generator().manual_seed(self.seed + k + 7919)
                conditions = torch.tensor([c for _, _, c in self._condition_outputs])
                with _constant(net):
                    mean, _ = net.sample_conditions(batch, conditions, self.n_samples,  # type: ignore[operator]
                                                    generator=generator)
                for j, (i, column, _) in enumerate(self._condition_outputs):
                    columns[i] = mean[:, :, j, column]  # S x N
            if self._failure_outputs:
                logit = torch.logit(_member_failure_probability(net, batch), eps=1e-6)
                columns.update({i: logit.expand(self.n_samples, -1) for i in self._failure_outputs})
            members.append(torch.stack([columns[i] for i in range(self.num_outputs)], dim=-1))
        stacked = torch.cat(members, dim=0)  # s x (b * q) x m
        b, q = X.shape[0], X.shape[1]
        return stacked.reshape(-1, b, q, self.num_outputs).permute(1, 0, 2, 3).to(X.dtype)


def endpoint_sampler(surrogate: Surrogate, *, source: str, protocol: Protocol | None,
                     targets: Sequence[tuple[str, int]], n_samples: int = 8,
                     seed: int = 0) -> Callable[[Tensor], Tensor]:
    """The surrogate's ``sample_endpoints``: ``b x q x d`` unit cube → ``b x (K * n_samples) x q x m``.

    Args:
        surrogate: A fitted surrogate over a space of continuous and integer variables.
        source: Source (fidelity) of the endpoints, e.g. ``"lab-cell"``.
        protocol: Gives the controls the design does not set (None: ``CONTROL_DEFAULTS``).
        targets: ``m`` ``(observable, cycle)`` pairs, e.g. ``[("Capacity retention", 200)]``, or
            ``(FAILURE_LOGIT, 0)``.
        n_samples: Latent paths per member.
        seed: Member ``k`` draws from ``seed + k`` on every call (common random numbers).

    Returns:
        An :class:`EndpointSampler`: deterministic and differentiable in ``X``.

    Raises:
        InvalidInputError: See :class:`EndpointSampler`.
    """
    return EndpointSampler(surrogate, source=source, protocol=protocol, targets=targets, n_samples=n_samples,
                           seed=seed)


def failure_probability(surrogate: Surrogate, source: str,
                        protocol: Protocol | None) -> Callable[[Tensor], Tensor]:
    """``p(fail | X)``, the members' mean, differentiable in ``X``.

    Discount an acquisition by it as the module docstring shows (``acqf(X) + log1p(-p).sum(-1)``
    for a log-acquisition).

    Args:
        surrogate: A fitted surrogate over a space of continuous and integer variables.
        source: Source whose runs may fail.
        protocol: Gives the controls the design does not set.

    Returns:
        A callable mapping ``b x q x d`` unit-cube designs to ``b x q`` probabilities in
        ``X``'s dtype.

    Raises:
        InvalidInputError: On a categorical design space, an unknown source or a surrogate
            without members.
    """
    designs = UnitCubeBatches(surrogate, source, protocol)
    _require_members(surrogate)

    def probability(X: Tensor) -> Tensor:
        batch = designs.batch(designs.flatten(X), 1)
        members = [_member_failure_probability(net, batch) for net in surrogate.ensemble.members]
        return torch.stack(members).mean(dim=0).reshape(X.shape[:2]).to(X.dtype)

    return probability


def failure_constraint(output: int, max_failure_probability: float = 0.2) -> Callable[[Tensor], Tensor]:
    """A BoTorch ``constraints`` entry: feasible (negative) where ``p_fail <= max_failure_probability``.

    Args:
        output: Index of the :data:`FAILURE_LOGIT` target among the sampler's outputs.
        max_failure_probability: The largest acceptable failure probability, in (0, 1).

    Returns:
        ``Z -> Z[..., output] - logit(max_failure_probability)`` on ``sample x b x q x m`` samples.

    Raises:
        InvalidInputError: If the probability is not in (0, 1).
    """
    if not 0.0 < max_failure_probability < 1.0:
        raise InvalidInputError("max_failure_probability",
                                f"must be in (0, 1), got {max_failure_probability!r}")
    threshold = math.log(max_failure_probability / (1.0 - max_failure_probability))

    def constraint(Z: Tensor) -> Tensor:
        return Z[..., output] - threshold

    return constraint


def botorch_model(surrogate: Surrogate, *, source: str, protocol: Protocol | None,
                  targets: Sequence[tuple[str, int]], n_samples: int = 8,
                  seed: int = 0) -> EndpointEnsembleModel:
    """The surrogate as a BoTorch model over the unit cube (imports BoTorch).

    Args:
        surrogate: A fitted surrogate.
        source: Source (fidelity) of the endpoints.
        protocol: Gives the controls the design does not set.
        targets: ``m`` ``(observable, cycle)`` pairs (see :func:`endpoint_sampler`).
        n_samples: Latent paths per member.
        seed: Seeds the members' paths.

    Returns:
        An ``EndpointEnsembleModel`` with ``num_outputs = m`` and ``dim = d``; its posterior at
        ``batch x q x d`` holds ``K * n_samples`` equally weighted samples.

    Raises:
        InvalidInputError: See :class:`EndpointSampler`.
    """
    from interphase.models.botorch_adapter import EndpointEnsembleModel

    sampler = EndpointSampler(surrogate, source=source, protocol=protocol, targets=targets,
                              n_samples=n_samples, seed=seed)
    return EndpointEnsembleModel(sampler, num_outputs=sampler.num_outputs, dim=sampler.designs.dim)
