"""Hyperparameters of the generative model (``InterphaseNet``); importable without torch."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PhysicsKind = Literal["free", "nonnegative", "at_most_one", "nondecreasing"]
"""How an observable's mean is bounded; see ``interphase.models.physics``."""

TransitionKind = Literal["gru", "mlp"]


class NetConfig(BaseModel):
    """The architecture and loss weights of ``InterphaseNet``.

    Attributes:
        latent_dim: Size of the design latent z0 and of the latent state z(t).
        hidden: Width of every hidden layer (MLPs, the prefix filter's GRU).
        depth: Hidden layers in each MLP.
        source_embedding_dim: Size of the learned embedding of each source (fidelity).
        transition: Cell of the latent dynamics: ``"gru"`` (a GRUCell whose hidden state is
            z(t) itself, so the chain stays Markov in z) or ``"mlp"`` (a residual MLP).
        kl_weight: Weight of both KL terms (design latent and prefix correction); 1.0 is the
            ELBO.
        design_weight: Weight of the design reconstruction log-likelihood.
        feasibility_weight: Weight of the failure cross-entropy.
        min_std: Floor of every predicted standard deviation (aleatoric std in the
            observables' scaled units, process noise in latent units).
        design_min_std: Floor of the decoder's std of continuous design features (unit-cube
            units); keeps the reconstruction likelihood from diverging on exact features.
        initial_process_std: Process noise sigma(z, u) of the latent dynamics at
            initialisation (latent units per cycle; sigma is bounded by 1).
        prefix_prior_std: Std of the prior N(0, prefix_prior_std^2 I) of the prefix
            correction added to the latent state.
        max_prefix_fraction: During training each record is conditioned on a random prefix of
            ``0 .. floor(max_prefix_fraction * cycles)`` cycles (0: no conditioning).
        dropout: Dropout probability in the MLPs (draws from torch's global generator).
        typical_cycles: Sets the initial per-cycle increment of ``"nondecreasing"``
            observables to ``y_scale / typical_cycles``; a guess of the records' length.
        physics: Overrides of the bound of observables by name (e.g. ``{"Charge capacity
            [A.h]": "nonnegative"}``); names absent here use ``physics.DEFAULT_KINDS``.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    latent_dim: int = Field(default=8, ge=1)
    hidden: int = Field(default=64, ge=1)
    depth: int = Field(default=2, ge=1)
    source_embedding_dim: int = Field(default=4, ge=1)
    transition: TransitionKind = "gru"
    kl_weight: float = Field(default=1.0, ge=0.0)
    design_weight: float = Field(default=1.0, ge=0.0)
    feasibility_weight: float = Field(default=1.0, ge=0.0)
    min_std: float = Field(default=1e-4, gt=0.0)
    design_min_std: float = Field(default=1e-2, gt=0.0)
    initial_process_std: float = Field(default=0.05, gt=0.0, lt=1.0)
    prefix_prior_std: float = Field(default=1.0, gt=0.0)
    max_prefix_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    typical_cycles: float = Field(default=100.0, gt=0.0)
    physics: dict[str, PhysicsKind] = Field(default_factory=dict)
