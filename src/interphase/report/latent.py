"""A 2-D map of the model's latent space: the campaign's designs, encoded and projected with PCA.

The one place the report runs a model: it loads the campaign's newest model artifact (kind
``"model"``, metadata ``{"campaign": name}``), encodes every design of the campaign with the
ensemble's first member (the mean of ``q(z0 | x)``) and projects the codes on their first two
principal components. torch is imported only here, and only when such an artifact exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from interphase.report.data import ReportData
from interphase.schema import InvalidInputError
from interphase.store import Store

MODEL_KIND = "model"
UNTESTED = "untested"


@dataclass(frozen=True)
class LatentMap:
    """The campaign's designs in the plane of the two leading principal components of their codes.

    Attributes:
        model_sha256: The model artifact used.
        design_ids: ``N`` stored design ids.
        xy: ``N x 2`` coordinates (principal components 1 and 2).
        explained: Share of the codes' variance along each component.
        objective: ``N`` observed objective values (the highest-fidelity run that observed it;
            None for designs without one).
        source: ``N`` names of the highest-fidelity source that ran each design, or ``"untested"``.
        latent_dim: L, the size of the code.
    """

    model_sha256: str
    design_ids: list[str]
    xy: np.ndarray
    explained: tuple[float, float]
    objective: list[float | None]
    source: list[str]
    latent_dim: int


def project_2d(codes: np.ndarray) -> tuple[np.ndarray, tuple[float, float]]:
    """PCA of ``N x L`` codes to ``N x 2`` (zero columns where there are fewer components).

    Returns:
        The coordinates and the share of variance along each of the two components.
    """
    centred = codes - codes.mean(axis=0, keepdims=True)
    xy = np.zeros((codes.shape[0], 2))
    if codes.shape[0] < 2:
        return xy, (0.0, 0.0)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(2, vt.shape[0])
    xy[:, :k] = centred @ vt[:k].T
    total = float((singular ** 2).sum())
    shares = [float(s ** 2) / total if total > 0 else 0.0 for s in singular[:2]] + [0.0, 0.0]
    return xy, (shares[0], shares[1])


def newest_model(store: Store, campaign: str) -> str | None:
    """SHA-256 of the campaign's newest model artifact, or None."""
    models = [a for a in store.list_artifacts(MODEL_KIND) if a.metadata.get("campaign") == campaign]
    return models[-1].sha256 if models else None


def latent_map(store: Store, data: ReportData) -> tuple[LatentMap | None, str]:
    """Encode and project the campaign's designs with its newest model.

    Args:
        store: The store holding the campaign.
        data: The campaign's report data.

    Returns:
        The map (None when it cannot be drawn) and a note for the reader ("" when drawn).
    """
    sha = newest_model(store, data.campaign)
    if sha is None:
        return None, ("No model is stored for this campaign (a trial-and-error campaign fits none), "
                      "so there is no latent map.")
    designs = store.list_designs(data.campaign)
    if not designs:
        return None, "The campaign has no designs yet, so there is no latent map."
    import torch

    from interphase.models.surrogate import Surrogate

    try:
        surrogate = Surrogate.load(store, sha)
    except (RuntimeError, KeyError, ValueError) as exc:  # a checkpoint of an older model layout
        return None, (f"Model {sha[:12]} was stored by an older version of the model and cannot be "
                      f"loaded ({type(exc).__name__}): no latent map.")
    try:
        x, x_mask = surrogate.features.encode([d.design for d in designs])
    except InvalidInputError as exc:
        return None, f"Model {sha[:12]} does not accept this campaign's designs ({exc}): no latent map."
    net = surrogate.ensemble.members[0]
    with torch.no_grad():
        mean, _ = net.encode(x, x_mask)
    codes = mean.detach().cpu().numpy().astype(float)
    xy, explained = project_2d(codes)
    objective, source = _colours(data, [d.id for d in designs])
    return LatentMap(sha, [d.id for d in designs], xy, explained, objective, source, codes.shape[1]), ""


def _colours(data: ReportData, design_ids: list[str]) -> tuple[list[float | None], list[str]]:
    """Per design: the objective seen on the highest-fidelity source that observed it, and that source."""
    best: dict[str, tuple[int, float | None, str]] = {}
    for run in data.runs:
        rank = data.fidelity.get(run.source, 0)
        held = best.get(run.design_id)
        better = held is None or (rank, run.objective is not None) > (held[0], held[1] is not None)
        if better:
            best[run.design_id] = (rank, run.objective, run.source)
    objective = [best[i][1] if i in best else None for i in design_ids]
    source = [best[i][2] if i in best else UNTESTED for i in design_ids]
    return objective, source
