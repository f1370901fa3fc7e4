"""A deep ensemble seen through BoTorch's ``Model`` API, so MC acquisition functions run on it.

The ensemble enters through one callable, the contract with the model code:

``sample_endpoints(X) -> Y`` maps ``batch x q x d`` unit-cube designs to
``batch x s x q x m`` endpoint samples (e.g. retention at cycle N at the lab-cell fidelity,
and a feasibility logit). It must be differentiable in ``X`` and deterministic: the ``s``
samples are ensemble members x latent samples (``s = K * L``: each of the ``K`` members draws
``L`` latent trajectories from *fixed* base noise), so the same ``X`` always gives the same
``Y``. That makes the posterior a finite, equally weighted mixture of ``s`` sample paths,
which is exactly BoTorch's :class:`~botorch.posteriors.ensemble.EnsemblePosterior`, and makes
acquisition optimisation a deterministic sample-average approximation.

This module imports BoTorch at import time; import it only where acquisition is needed.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from interphase.schema import InvalidInputError

with warnings.catch_warnings():
    # linear_operator (under gpytorch) decorates functions with torch.jit.script, deprecated
    # since torch 2.13: harmless, but fatal wherever warnings are errors (our test suite).
    warnings.filterwarnings(
        "ignore", message=r"`torch\.jit\.script` is deprecated", category=DeprecationWarning
    )
    from botorch.acquisition.objective import PosteriorTransform
    from botorch.models.ensemble import EnsembleModel
    from botorch.posteriors.ensemble import EnsemblePosterior
    from botorch.sampling.index_sampler import IndexSampler

EndpointSampler = Callable[[Tensor], Tensor]


class EndpointEnsembleModel(EnsembleModel):
    """A BoTorch model whose posterior is the ensemble's samples of chosen endpoints.

    Use it as any BoTorch model: ``qLogExpectedImprovement(model, best_f)`` then
    ``optimize_acqf(..., bounds=unit cube)``. For a multi-output model pick the objective
    with an ``MCAcquisitionObjective`` (e.g. ``LinearMCObjective``), ``output_indices`` or a
    ``ScalarizedPosteriorTransform``, and fold feasibility in with the acquisition's
    ``constraints`` (callables on ``sample_shape x batch x q x m`` samples, feasible where
    negative, e.g. ``lambda Z: Z[..., 1]`` for a feasibility logit output where > 0 means
    failure).

    Args:
        sample_endpoints: The ensemble's sampler, ``batch x q x d -> batch x s x q x m``
            (see the module docstring). An ``nn.Module`` is registered as a submodule.
        num_outputs: ``m``, the number of endpoints per sample.
        dim: ``d``, the width of a design vector.
    """

    # Sample paths of a network have no GP Cholesky factor for qNEI to cache.
    _supports_cache_root = False

    def __init__(self, sample_endpoints: EndpointSampler, num_outputs: int, dim: int) -> None:
        if not callable(sample_endpoints):
            raise InvalidInputError("sample_endpoints", "must map batch x q x d to batch x s x q x m")
        if num_outputs < 1:
            raise InvalidInputError("num_outputs", f"must be >= 1, got {num_outputs}")
        if dim < 1:
            raise InvalidInputError("dim", f"must be >= 1, got {dim}")
        super().__init__()
        self.sample_endpoints = sample_endpoints
        self._num_outputs = num_outputs
        self.dim = dim

    def forward(self, X: Tensor) -> Tensor:
        """Ensemble samples at ``X``.

        Args:
            X: ``batch_shape x q x d`` designs; any number of batch dims, including none.

        Returns:
            ``batch_shape x s x q x m`` samples.

        Raises:
            InvalidInputError: If ``X`` is not ``... x q x d`` or the sampler returns a
                tensor of the wrong shape.
        """
        if X.ndim < 2 or X.shape[-1] != self.dim:
            raise InvalidInputError("X", f"must be batch_shape x q x {self.dim}, got {tuple(X.shape)}")
        batch_shape, q = X.shape[:-2], X.shape[-2]
        flat = X.reshape(-1, q, self.dim)
        values = self.sample_endpoints(flat)
        if values.ndim != 4 or values.shape[0] != flat.shape[0] or values.shape[2:] != (q, self.num_outputs):
            raise InvalidInputError(
                "sample_endpoints",
                f"must return batch x s x q x m = {flat.shape[0]} x s x {q} x {self.num_outputs}, "
                f"got {tuple(values.shape)}",
            )
        return values.reshape(*batch_shape, *values.shape[1:])

    def posterior(
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool | Tensor = False,
        posterior_transform: PosteriorTransform | None = None,
        **kwargs: Any,
    ) -> EnsemblePosterior:
        """The equally weighted mixture of the ``s`` ensemble samples at ``X``.

        Args:
            X: ``batch_shape x q x d`` designs.
            output_indices: Outputs to keep (default all ``m``).
            observation_noise: Must be a bool and is then ignored: the samples carry whatever
                noise ``sample_endpoints`` puts in them (latent, noise-free endpoints suit
                improvement-based acquisition). A tensor of noise levels is refused.
            posterior_transform: Applied sample by sample through its ``evaluate``, which is
                exact for ``ScalarizedPosteriorTransform`` and any transform that acts on
                outcomes pointwise (BoTorch's own ``forward`` of it needs a Gaussian).
            **kwargs: Ignored, as by BoTorch's other models.

        Returns:
            An ``EnsemblePosterior`` with ``values`` of shape ``batch_shape x s x q x m'``
            (``m'`` = number of kept outputs, or 1 after a scalarising transform); its
            ``mean`` and ``variance`` are ``batch_shape x q x m'``.

        Raises:
            InvalidInputError: On a tensor ``observation_noise``, bad ``output_indices`` or
                ``X``.
        """
        if isinstance(observation_noise, Tensor):
            raise InvalidInputError(
                "observation_noise", "must be a bool: the ensemble's samples already set the noise"
            )
        self.eval()
        X = self.transform_inputs(X)
        values = self.forward(X)
        if output_indices is not None:
            if not output_indices or not all(0 <= i < self.num_outputs for i in output_indices):
                raise InvalidInputError(
                    "output_indices", f"must be a non-empty subset of 0..{self.num_outputs - 1}"
                )
            values = values[..., output_indices]
        if posterior_transform is not None:
            values = posterior_transform.evaluate(values, X=X.unsqueeze(-3)).unsqueeze(-1)
        return EnsemblePosterior(values=values)


class EnsembleEnumerationSampler(IndexSampler):
    """Uses every ensemble sample exactly once, instead of resampling them at random.

    BoTorch's default :class:`~botorch.sampling.index_sampler.IndexSampler` draws sample
    indices with replacement, adding Monte Carlo noise on top of the ensemble's own. With
    this sampler an MC acquisition value is the exact average over the ``s`` samples.

    Args:
        ensemble_size: ``s``, the number of samples the model's posterior holds.
    """

    def __init__(self, ensemble_size: int) -> None:
        if ensemble_size < 1:
            raise InvalidInputError("ensemble_size", f"must be >= 1, got {ensemble_size}")
        super().__init__(sample_shape=torch.Size([ensemble_size]), seed=0)

    def _construct_base_samples(self, posterior: EnsemblePosterior) -> None:
        if posterior.ensemble_size != self.sample_shape[0]:
            raise InvalidInputError(
                "ensemble_size",
                f"sampler built for {self.sample_shape[0]}, posterior holds {posterior.ensemble_size}",
            )
        shape = self.sample_shape + posterior.batch_shape
        if self.base_samples is None or self.base_samples.shape != shape:
            indices = torch.arange(self.sample_shape[0], device=posterior.device)
            indices = indices.reshape(-1, *([1] * len(posterior.batch_shape))).expand(shape)
            self.register_buffer("base_samples", indices)
        if self.base_samples.device != posterior.device:
            self.to(device=posterior.device)
