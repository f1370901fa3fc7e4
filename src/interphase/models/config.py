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
        hidden: Width of every hidden layer.
        depth: Hidden layers in each MLP.
        source_embedding_dim: Size of the learned embedding of each source (fidelity).
        prior_scale: Size of each member's fixed random function of the design, added to its
            emission pre-activations and failure logit (a randomised prior, so that the members
            disagree where there are no data; 0: none). At 1.0 the calibrated epistemic std of
            held-out retention falls with every share of the training designs; at 0.3 it rose
            again with all of them, and the ensemble was more accurate (docs/model.md).
        source_prior_std: Std of each source's initial emission offset, drawn anew by every
            ensemble member (a randomised prior): how far apart the members put a source they
            have no data of, e.g. a lab before its first test (pre-activation units; 0.5 spans
            a factor of about 1.8 on a fade).
        transition: Cell of the latent dynamics: ``"gru"`` (a GRUCell whose hidden state is
            z(t) itself, so the chain stays Markov in z) or ``"mlp"`` (a residual MLP).
        source_in_dynamics: Whether the source embedding drives the latent dynamics too (else
            the latent path is the cell's own, shared by every source, and sources differ in
            their emission maps only: a cheap source's offset and gain).
        design_context: Whether the dynamics also read the design features (masked, with
            their mask) at every step, beside the code z0 they start from.
        cycle_stride: Cycles per step of the latent dynamics; states between steps are
            interpolated linearly (1: a step per cycle). Five keeps 200-cycle records at 40
            sequential steps, and the cycle-to-cycle change of these observables is smooth.
        kl_weight: Weight of both KL terms (design latent and prefix correction); 1.0 is the
            ELBO.
        design_weight: Weight of the design reconstruction log-likelihood.
        design_kl_weight: Extra factor on the KL of the design latent (beta of a beta-VAE).
            Below 1 the code keeps more of the design: with 1, the VAE of 8 uniform
            features collapses (posterior std 0.9 of the prior's, reconstruction error 0.23
            of the unit cube on sei-life) and the dynamics cannot tell designs apart.
        feasibility_weight: Weight of the failure cross-entropy.
        min_std: Floor of every predicted standard deviation (aleatoric std in the
            observables' scaled units, process noise in latent units).
        design_min_std: Floor of the decoder's std of continuous design features (unit-cube
            units); keeps the reconstruction likelihood from diverging on exact features.
        initial_process_std: Process noise sigma(z, u) of the latent dynamics at
            initialisation (latent units per cycle; sigma is bounded by 1).
        prefix_prior_std: Std of the prior N(0, prefix_prior_std^2 I) of the prefix
            correction added to the latent state.
        no_prefix_probability: During training, the share of records forecast from their design
            alone (no prefix): the forecasts of untested designs.
        max_prefix_fraction: The other records are conditioned on a random prefix of
            ``1 .. max(1, floor(max_prefix_fraction * cycles))`` cycles: the forecasts of
            running tests.
        design_dropout: During training, the share of records conditioned on a prefix whose
            design features are half hidden (each with probability 1/2), so that forecasts
            learn to read the first cycles (see ``InterphaseNet._drop_design``).
        dropout: Dropout probability in the MLPs (draws from torch's global generator).
        typical_cycles: Sets the initial per-cycle increment of ``"nondecreasing"``
            observables to ``y_scale / typical_cycles``; a guess of the records' length.
        physics: Overrides of the bound of observables by name (e.g. ``{"Charge capacity
            [A.h]": "nonnegative"}``); names absent here use ``physics.DEFAULT_KINDS``.

    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    latent_dim: int = Field(default=8, ge=1)
    cycle_stride: int = Field(default=5, ge=1, le=1000)
    design_context: bool = True
    source_in_dynamics: bool = True
    hidden: int = Field(default=64, ge=1)
    depth: int = Field(default=2, ge=1)
    source_embedding_dim: int = Field(default=4, ge=1)
    source_prior_std: float = Field(default=0.5, ge=0.0, le=10.0)
    prior_scale: float = Field(default=1.0, ge=0.0, le=10.0)
    transition: TransitionKind = "gru"
    kl_weight: float = Field(default=1.0, ge=0.0)
    design_weight: float = Field(default=1.0, ge=0.0)
    design_kl_weight: float = Field(default=1.0, ge=0.0)
    feasibility_weight: float = Field(default=1.0, ge=0.0)
    min_std: float = Field(default=1e-4, gt=0.0)
    design_min_std: float = Field(default=1e-2, gt=0.0)
    initial_process_std: float = Field(default=0.05, gt=0.0, lt=1.0)
    prefix_prior_std: float = Field(default=1.0, gt=0.0)
    no_prefix_probability: float = Field(default=0.5, ge=0.0, le=1.0)
    max_prefix_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    design_dropout: float = Field(default=0.0, ge=0.0, le=1.0)
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    typical_cycles: float = Field(default=100.0, gt=0.0)
    physics: dict[str, PhysicsKind] = Field(default_factory=dict)
