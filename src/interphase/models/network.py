"""Building blocks shared by the model's modules: MLPs and Gaussian densities.

The modules themselves live in ``vae.py`` (design VAE), ``dynamics.py`` (latent dynamics and
prefix filter) and ``heads.py`` (source embedding, emissions, feasibility); ``generative.py``
wires them into ``InterphaseNet``.
"""

from __future__ import annotations

import math
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LOG_TWO_PI = math.log(2.0 * math.pi)


def mlp(in_dim: int, hidden: int, out_dim: int, depth: int, dropout: float = 0.0) -> nn.Sequential:
    """A SiLU MLP ``in_dim -> hidden (x depth) -> out_dim``, acting on the last axis."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.SiLU()]
        if dropout > 0.0:
            layers.append(nn.Dropout(dropout))
        width = hidden
    with warnings.catch_warnings():  # a head with nothing to emit (no per-cycle observable) is empty
        warnings.filterwarnings("ignore", "Initializing zero-element tensors is a no-op", UserWarning)
        layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


class GatedCell(nn.Module):
    """A GRU cell written out in linear layers, so that ``torch.func.vmap`` batches it.

    ``h' = (1 - g) * n + g * h`` with reset ``r = sigmoid(W_r x + U_r h)``, update
    ``g = sigmoid(W_g x + U_g h)`` and candidate ``n = tanh(W_n x + r * (U_n h))``, as in
    ``torch.nn.GRUCell`` (which has no vmap batching rule).

    Args:
        input_size: Width of ``x``.
        hidden_size: Width of ``h``.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_map = nn.Linear(input_size, 3 * hidden_size)
        self.hidden_map = nn.Linear(hidden_size, 3 * hidden_size)

    def forward(self, x: Tensor | None, h: Tensor, *, mapped_input: Tensor | None = None) -> Tensor:
        """``... x hidden_size`` next state from ``... x input_size`` inputs and ``h``.

        ``mapped_input`` (``... x 3 hidden_size``) is ``input_map(x)`` computed beforehand,
        e.g. for every step of a sequence at once; ``x`` is then ignored.
        """
        if mapped_input is None:
            if x is None:
                raise ValueError("GatedCell needs x or mapped_input")
            mapped_input = self.input_map(x)
        gates_x = mapped_input
        reset_x, update_x, new_x = gates_x.chunk(3, dim=-1)
        reset_h, update_h, new_h = self.hidden_map(h).chunk(3, dim=-1)
        reset = torch.sigmoid(reset_x + reset_h)
        update = torch.sigmoid(update_x + update_h)
        candidate = torch.tanh(new_x + reset * new_h)
        return (1.0 - update) * candidate + update * h


class RandomPrior(nn.Module):
    """A fixed, random function of the design, added to a member's outputs (a randomised prior).

    Each ensemble member draws its own weights at construction and never trains them (they
    are buffers): where the data are, the trainable network learns to cancel the prior; where
    they are not, the members keep their different priors and disagree. So the ensemble's
    spread (epistemic uncertainty) shrinks where data accumulate, as a posterior's does, instead
    of every member settling on the same smooth guess (Osband et al., 2018).

    Args:
        in_dim: Width of the design input.
        out_dim: Outputs (emission pre-activation channels and logits).
        scale: Typical size of an output (0: none).
        hidden: Width of the hidden layer.
    """

    def __init__(self, in_dim: int, out_dim: int, scale: float, hidden: int = 32) -> None:
        super().__init__()
        self.scale = float(scale)
        self.register_buffer("w1", torch.randn(in_dim, hidden) * (3.0 / math.sqrt(max(in_dim, 1))))
        self.register_buffer("b1", torch.randn(hidden))
        self.register_buffer("w2", torch.randn(hidden, out_dim) / math.sqrt(hidden))

    def forward(self, design: Tensor) -> Tensor:
        """``B x out_dim`` prior outputs of ``B x in_dim`` design inputs."""
        return self.scale * (torch.tanh(design @ self.w1 + self.b1) @ self.w2)


def shrink_last_layer(net: nn.Sequential, factor: float = 0.1) -> None:
    """Scale the last linear layer's weights down and zero its bias (a near-constant start)."""
    last = net[-1]
    assert isinstance(last, nn.Linear)
    with torch.no_grad():
        last.weight.mul_(factor)
        last.bias.zero_()


def zero_where_missing(values: Tensor, mask: Tensor) -> Tensor:
    """``values`` with 0.0 wherever ``mask == 0`` (so NaN or junk there cannot leak); same shape."""
    return torch.where(mask > 0, values, torch.zeros_like(values))


def soft_clamp(values: Tensor, low: float, high: float) -> Tensor:
    """A smooth clamp of ``values`` into ``(low, high)`` (identity well inside); same shape."""
    upper = high - F.softplus(high - values)
    return low + F.softplus(upper - low)


def gaussian_nll(residual: Tensor, std: Tensor) -> Tensor:
    """Elementwise negative log-density of ``residual`` under ``N(0, std^2)``; same shape."""
    return 0.5 * (residual / std) ** 2 + torch.log(std) + 0.5 * LOG_TWO_PI


def kl_to_centred_normal(mean: Tensor, logvar: Tensor, prior_std: float = 1.0) -> Tensor:
    """``KL(N(mean, exp(logvar)) || N(0, prior_std^2))``, summed over the last axis.

    Args:
        mean: ``... x L``.
        logvar: ``... x L``.
        prior_std: Std of the isotropic prior.

    Returns:
        ``...`` the KL in nats.

    """
    prior_var = prior_std ** 2
    terms = (logvar.exp() + mean ** 2) / prior_var - 1.0 - logvar + math.log(prior_var)
    return 0.5 * terms.sum(dim=-1)


def standard_normal(shape: tuple[int, ...] | torch.Size, like: Tensor,
                    generator: torch.Generator | None) -> Tensor:
    """Standard normal draws of ``shape`` with ``like``'s dtype and device."""
    return torch.randn(tuple(shape), generator=generator, dtype=like.dtype, device=like.device)
