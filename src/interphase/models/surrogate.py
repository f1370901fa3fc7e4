"""The model as the rest of interphase uses it: fit on the store's records, predict, sample, save.

``Surrogate.predict(designs, source=..., protocol=..., horizon=...)`` returns trajectories
with aleatoric and epistemic uncertainty (:class:`~interphase.models.ensemble.Prediction`);
``feasibility`` gives the probability that a run fails; ``sample_designs`` draws new designs
from the VAE's prior. Checkpoints are content-hashed artifacts of the store (kind
``"model"``) that name the training data's snapshot hash.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor

from interphase.models.batch import TrajectoryBatch
from interphase.models.dataset import CONDITION, TrajectoryDataset
from interphase.models.ensemble import DeepEnsemble, EnsembleConfig, Prediction, from_bytes, to_bytes
from interphase.models.features import DesignFeatures
from interphase.models.training import ProgressCallback
from interphase.schema import Design, DesignSpace, InvalidInputError, Observation, Protocol
from interphase.sources.base import ConditionRange
from interphase.store import Store

ARTIFACT_KIND = "model"
RETENTION = "Capacity retention"
NO_SOURCE = "<none>"


class Surrogate:
    """A fitted deep ensemble and the data layout it was fitted on.

    Args:
        space: The design space.
        observables: ``O`` per-cycle observables it predicts.
        cond_observables: ``Oc`` condition-indexed observables.
        conditions: ``C`` condition values (K).
        source_names: Source vocabulary (``"<none>"`` last).
        source_fidelity: Source → fidelity.
        normalisation: ``y_loc``, ``y_scale`` (O,), ``cond_loc``, ``cond_scale`` (Oc,).
        horizon: Cycles of the longest training record.
        config: Ensemble settings.
        snapshot_hash: Hash of the training data.
    """

    def __init__(self, space: DesignSpace, observables: list[str], cond_observables: list[str],
                 conditions: list[float], source_names: list[str], source_fidelity: dict[str, int],
                 normalisation: dict[str, Tensor], horizon: int, config: EnsembleConfig,
                 snapshot_hash: str) -> None:
        self.space = space
        self.features = DesignFeatures(space)
        self.observables = list(observables)
        self.cond_observables = list(cond_observables)
        self.conditions = list(conditions)
        self.source_names = list(source_names)
        self.source_fidelity = dict(source_fidelity)
        self.normalisation = {k: v.detach().clone().float() for k, v in normalisation.items()}
        self.horizon = int(horizon)
        self.config = config
        self.snapshot_hash = snapshot_hash
        self.ensemble = DeepEnsemble(self._build_net, config)

    def _build_net(self) -> torch.nn.Module:
        from interphase.models.generative import InterphaseNet

        n = self.normalisation
        return InterphaseNet(
            self.config.net, n_features=self.features.n_features,
            categorical_slices=self.features.categorical_slices, n_sources=len(self.source_names),
            n_controls=self.features.controls.n_controls, observables=self.observables,
            cond_observables=self.cond_observables, y_loc=n["y_loc"], y_scale=n["y_scale"],
            cond_loc=n["cond_loc"], cond_scale=n["cond_scale"],
            conditions=torch.tensor(self.conditions, dtype=torch.float32) if self.conditions else None)

    # ----------------------------------------------------------------- fitting

    @classmethod
    def fit(cls, dataset: TrajectoryDataset, config: EnsembleConfig, *, rows: Tensor | None = None,
            progress: ProgressCallback | None = None) -> Surrogate:
        """Fit a new ensemble on ``rows`` of ``dataset`` (all records by default).

        Each member trains on a bootstrap sample of the designs (``config.bootstrap``).
        """
        rows = torch.arange(len(dataset)) if rows is None else rows
        y_loc, y_scale = dataset.observable_scale(rows)
        cond_loc, cond_scale = dataset.cond_scale(rows)
        surrogate = cls(dataset.features.space, dataset.observables, dataset.cond_observables,
                        dataset.conditions, dataset.source_names, dataset.source_fidelity,
                        {"y_loc": y_loc, "y_scale": y_scale, "cond_loc": cond_loc, "cond_scale": cond_scale},
                        dataset.horizon, config, dataset.snapshot_hash())
        surrogate.ensemble.fit(dataset.batch, surrogate._rows_for(dataset, rows), progress=progress)
        return surrogate

    def planned_steps(self, dataset: TrajectoryDataset, *, rows: Tensor | None = None,
                      warm: bool = False) -> int:
        """Optimiser steps of :meth:`fit` (``warm=False``, on this surrogate's config) or :meth:`refit`."""
        rows = torch.arange(len(dataset)) if rows is None else rows
        return self.ensemble.planned_steps(len(dataset), self._rows_for(dataset, rows), warm=warm)

    @classmethod
    def fit_steps(cls, dataset: TrajectoryDataset, config: EnsembleConfig, *,
                  rows: Tensor | None = None) -> int:
        """Optimiser steps that ``Surrogate.fit(dataset, config, rows=rows)`` will take."""
        rows = torch.arange(len(dataset)) if rows is None else rows
        ensemble = DeepEnsemble(lambda: torch.nn.Identity(), config)
        return ensemble.planned_steps(len(dataset), _member_rows(dataset, rows, config))

    def refit(self, dataset: TrajectoryDataset, *, rows: Tensor | None = None,
              progress: ProgressCallback | None = None) -> None:
        """Warm-start every member on new data (same layout), for ``train.warm_epochs`` epochs.

        Raises:
            InvalidInputError: If the dataset's observables or sources differ from the model's.
        """
        if dataset.observables != self.observables or dataset.source_names != self.source_names:
            raise InvalidInputError("dataset", "observables or sources changed since the model was fitted; "
                                    "fit a new model")
        rows = torch.arange(len(dataset)) if rows is None else rows
        self.ensemble.fit(dataset.batch, self._rows_for(dataset, rows), warm=True, progress=progress)
        self.snapshot_hash = dataset.snapshot_hash()
        self.horizon = max(self.horizon, dataset.horizon)

    def _rows_for(self, dataset: TrajectoryDataset, rows: Tensor) -> Callable[[int], Tensor]:
        return _member_rows(dataset, rows, self.config)

    def calibrate(self, dataset: TrajectoryDataset, rows: Tensor, *, n_samples: int = 16,
                  seed: int = 0) -> float:
        """Fit the variance factors per source and observable on records ``rows`` (held out from training).

        Returns:
            The factor pooled over sources and observables; the current one when ``rows``
            observe nothing.
        """
        if dataset.source_names != self.source_names:
            raise InvalidInputError("dataset", "its sources differ from the model's; calibrate on the "
                                    "dataset the model was fitted on")
        batch = dataset.batch.index(rows)
        if not len(rows) or not (bool((batch.y_mask > 0).any()) or bool((batch.cond_mask > 0).any())):
            return self.ensemble.variance_factor
        conditions = torch.tensor(self.conditions, dtype=torch.float32) if self.conditions else None
        return self.ensemble.calibrate(batch, dataset.horizon, n_sources=len(self.source_names),
                                       conditions=conditions, n_samples=n_samples, seed=seed)

    # ----------------------------------------------------------------- prediction

    def batch_for(self, designs: Sequence[Design], source: str, protocol: Protocol | None,
                  horizon: int | None = None) -> TrajectoryBatch:
        """A batch of new designs under one source and protocol, with nothing observed.

        Raises:
            InvalidInputError: If the source is not one the model knows.
        """
        index = self.source_index(source)
        horizon = horizon or (protocol.n_cycles if protocol is not None else self.horizon)
        x, x_mask = self.features.encode(designs)
        n = len(designs)
        u = self.features.controls.build(list(designs), [protocol] * n, horizon)
        n_obs, n_cond = len(self.observables), len(self.cond_observables)
        return TrajectoryBatch(
            x=x, x_mask=x_mask, source=torch.full((n,), index, dtype=torch.long), u=u,
            y=torch.zeros(n, horizon, n_obs), y_mask=torch.zeros(n, horizon, n_obs),
            cycles=torch.zeros(n, dtype=torch.long), has_result=torch.ones(n), failed=torch.zeros(n),
            cond_y=torch.zeros(n, len(self.conditions), n_cond),
            cond_mask=torch.zeros(n, len(self.conditions), n_cond))

    def observable_index(self, name: str) -> int:
        """The observable's position among the model's per-cycle observables.

        Raises:
            InvalidInputError: If the model does not predict it.
        """
        if name not in self.observables:
            raise InvalidInputError("observable", f"the model predicts no {name!r}; it predicts "
                                    f"{', '.join(self.observables) or 'no per-cycle observable'}")
        return self.observables.index(name)

    def batch_with_prefix(self, designs: Sequence[Design], source: str, protocol: Protocol,
                          observations: Sequence[Sequence[Observation]], horizon: int | None = None
                          ) -> tuple[TrajectoryBatch, Tensor]:
        """Records of running tests: their designs and the per-cycle observations they showed so far.

        Retention before cycle 2 (its reference cycle) is left out, as the dataset does.

        Args:
            designs: ``B`` designs.
            source: Their source.
            protocol: Their protocol (controls, and the horizon unless ``horizon`` is given).
            observations: For each design, the observations of its completed cycles.
            horizon: Cycles of the batch (default ``protocol.n_cycles``).

        Returns:
            The batch (``y``, ``y_mask`` filled, ``cycles`` set) and ``B`` (long) cycles seen.
        """
        batch = self.batch_for(designs, source, protocol, horizon)
        steps = batch.y.shape[1]
        seen = torch.zeros(len(designs), dtype=torch.long)
        for row, shown in enumerate(observations):
            for observation in shown:
                if observation.index_unit != "cycle" or observation.observable not in self.observables:
                    continue
                cycle = int(round(observation.index))
                if not 1 <= cycle <= steps or (observation.observable == RETENTION and cycle < 2):
                    continue
                column = self.observables.index(observation.observable)
                batch.y[row, cycle - 1, column] = float(observation.value)
                batch.y_mask[row, cycle - 1, column] = 1.0
                seen[row] = max(int(seen[row]), cycle)
        batch.cycles[:] = seen
        return batch, seen

    @property
    def condition_range(self) -> ConditionRange | None:
        """The conditions (K) the model was fitted on; None without condition-indexed observables."""
        if not self.cond_observables or not self.conditions:
            return None
        return ConditionRange(unit=CONDITION, values=tuple(sorted(self.conditions)))

    def _require_cycle_observables(self) -> None:
        if not self.observables:
            held = ", ".join(self.cond_observables) or "nothing"
            raise InvalidInputError("observables", f"the model predicts no per-cycle observable, only "
                                    f"condition-indexed ones ({held}); predict those by condition")

    def source_index(self, source: str) -> int:
        """The source's position in the vocabulary."""
        known = [s for s in self.source_names if s != NO_SOURCE]
        if source not in known:
            raise InvalidInputError("source", f"the model knows no source {source!r}; it was fitted on "
                                    f"{', '.join(known) or 'no source'}")
        return self.source_names.index(source)

    def predict(self, designs: Sequence[Design], *, source: str, protocol: Protocol | None = None,
                horizon: int | None = None, n_samples: int = 32, seed: int = 0) -> Prediction:
        """Trajectories of new designs under ``source``: mean, aleatoric and epistemic std, quantiles.

        Returns:
            Shapes ``B x T x O`` (``T = horizon``), quantiles ``L x B x T x O``.

        Raises:
            InvalidInputError: For an unknown source, or a model without per-cycle observables.
        """
        self._require_cycle_observables()
        batch = self.batch_for(designs, source, protocol, horizon)
        return self.ensemble.predict(batch, batch.u.shape[1], n_samples=n_samples, seed=seed)

    def predict_cycles(self, designs: Sequence[Design], cycles: Sequence[int], *, source: str,
                       protocol: Protocol | None = None, observables: Sequence[str] | None = None,
                       n_samples: int = 8, seed: int = 0, chunk: int = 2048) -> Prediction:
        """Predictions of new designs at a few cycles only (e.g. the endpoint), for many designs.

        The network evaluates its emission heads only at the knots these cycles need, and the
        designs go through in chunks of ``chunk``, so 10,000 candidates cost seconds.

        Args:
            designs: ``B`` designs.
            cycles: ``n`` cycle numbers (>= 1), e.g. ``[200]``.
            source: A source the model knows.
            protocol: Gives the controls the design does not set, and the horizon (its
                ``n_cycles``; else the largest cycle asked for).
            observables: The ``O'`` observables to predict, in this order (None: all the
                model's). Leaving out a non-decreasing one (SEI thickness) spares most of the work.
            n_samples: Latent paths per member.
            seed: Seeds the paths.
            chunk: Designs per pass.

        Returns:
            Arrays ``B x n x O'`` (quantiles ``L x B x n x O'``), cycles in the order given.

        Raises:
            InvalidInputError: On an empty or non-positive cycle list, an unknown source or
                observable, or a model without per-cycle observables.
        """
        self._require_cycle_observables()
        columns = None if observables is None else [self.observable_index(name) for name in observables]
        wanted = [int(c) for c in cycles]
        if not wanted or min(wanted) < 1:
            raise InvalidInputError("cycles", f"give cycle numbers >= 1, got {list(cycles)!r}")
        horizon = max(max(wanted), protocol.n_cycles if protocol is not None else 0)
        index = torch.tensor(wanted, dtype=torch.long)
        parts = []
        for start in range(0, len(designs), chunk):
            batch = self.batch_for(designs[start:start + chunk], source, protocol, horizon)
            parts.append(self.ensemble.predict(batch, horizon, n_samples=n_samples, seed=seed, cycles=index,
                                               columns=columns))
        if not parts:
            raise InvalidInputError("designs", "give at least one design")
        return Prediction(mean=torch.cat([p.mean for p in parts]),
                          aleatoric_std=torch.cat([p.aleatoric_std for p in parts]),
                          epistemic_std=torch.cat([p.epistemic_std for p in parts]),
                          quantiles=torch.cat([p.quantiles for p in parts], dim=1), levels=parts[0].levels)

    def predict_conditions(self, designs: Sequence[Design], *, source: str,
                           conditions: Sequence[float] | None = None, n_samples: int = 32,
                           seed: int = 0) -> Prediction:
        """Condition-indexed observables of new designs under ``source`` (e.g. conductivity by temperature).

        The model only interpolates: a condition outside the range it was fitted on
        (:attr:`condition_range`) is refused, not extrapolated.

        Args:
            designs: ``B`` designs.
            source: A source the model knows.
            conditions: ``C`` condition values in K (the training grid by default).
            n_samples: Draws per member.
            seed: Seeds the draws.

        Returns:
            Arrays ``B x C x Oc`` (quantiles ``L x B x C x Oc``), columns :attr:`cond_observables`.

        Raises:
            InvalidInputError: For a model without condition-indexed observables, no
                conditions, a condition outside the fitted range, or an unknown source.
        """
        fitted = self.condition_range
        if fitted is None:
            raise InvalidInputError("conditions", "the model predicts no condition-indexed observable; "
                                    f"it predicts {', '.join(self.observables) or 'nothing'} per cycle")
        wanted = [float(c) for c in (fitted.values if conditions is None else conditions)]
        if not wanted:
            raise InvalidInputError("conditions", f"give at least one condition in {fitted.describe()}")
        outside = [c for c in wanted if not fitted.contains(c)]
        if outside:
            raise InvalidInputError("conditions", f"{outside[0]:g} {fitted.unit} is outside the conditions "
                                    f"the model was fitted on, {fitted.describe()}; it does not extrapolate")
        grid = torch.tensor(wanted, dtype=torch.float32)
        batch = self.batch_for(designs, source, None, horizon=1)
        return self.ensemble.predict_conditions(batch, grid, n_samples=n_samples, seed=seed)

    def predict_records(self, batch: TrajectoryBatch, *, horizon: int, prefix_cycles: Tensor | None = None,
                        n_samples: int = 32, seed: int = 0) -> Prediction:
        """Trajectories of records (e.g. held-out tests), optionally conditioned on their first cycles.

        Controls beyond a record's last cycle repeat its last cycle's.
        """
        return self.ensemble.predict(batch, horizon, n_samples=n_samples, prefix_cycles=prefix_cycles,
                                     seed=seed)

    def feasibility(self, designs: Sequence[Design], *, source: str,
                    protocol: Protocol | None = None) -> tuple[Tensor, Tensor]:
        """Probability that a run fails (``B``) and its spread between members (``B``)."""
        return self.ensemble.feasibility(self.batch_for(designs, source, protocol))

    @torch.no_grad()
    def sample_designs(self, n: int, *, seed: int = 0) -> list[Design]:
        """``n`` new designs from the latent prior, decoded and validated in the space."""
        generator = torch.Generator().manual_seed(seed)
        member = self.ensemble.members[seed % len(self.ensemble.members)]
        return self.features.decode(member.sample_designs(n, generator=generator))

    # ----------------------------------------------------------------- persistence

    def payload(self) -> dict[str, Any]:
        """A checkpoint: layout, normalisation, settings and every member's weights."""
        return {
            "format": 1, "space": self.space.model_dump(mode="json"), "observables": self.observables,
            "cond_observables": self.cond_observables, "conditions": self.conditions,
            "source_names": self.source_names, "source_fidelity": self.source_fidelity,
            "normalisation": self.normalisation, "horizon": self.horizon,
            "snapshot_hash": self.snapshot_hash, "ensemble": self.ensemble.state(),
        }

    def save(self, store: Store, metadata: dict[str, Any] | None = None) -> str:
        """Store the checkpoint as a content-hashed artifact; returns its SHA-256."""
        meta = {"snapshot_hash": self.snapshot_hash, "observables": self.observables,
                "sources": [s for s in self.source_names if s != NO_SOURCE],
                "members": len(self.ensemble.members), **(metadata or {})}
        return store.put_artifact(to_bytes(self.payload()), ARTIFACT_KIND, media_type="application/x-torch",
                                  metadata=meta)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Surrogate:
        """Rebuild a surrogate from :meth:`payload`."""
        config = EnsembleConfig.model_validate(payload["ensemble"]["config"])
        surrogate = cls(DesignSpace.model_validate(payload["space"]), payload["observables"],
                        payload["cond_observables"], payload["conditions"], payload["source_names"],
                        payload["source_fidelity"], payload["normalisation"], payload["horizon"], config,
                        payload["snapshot_hash"])
        surrogate.ensemble.load_state(payload["ensemble"])
        return surrogate

    @classmethod
    def load(cls, store: Store, sha256: str | None = None) -> Surrogate:
        """The checkpoint ``sha256``, or the newest model in the store.

        Raises:
            InvalidInputError: If the store holds no model.
        """
        if sha256 is None:
            models = store.list_artifacts(ARTIFACT_KIND)
            if not models:
                raise InvalidInputError("model", "the store holds no model yet; run 'interphase model fit'")
            sha256 = models[-1].sha256
        return cls.from_payload(from_bytes(store.get_artifact(sha256)))


def _member_rows(dataset: TrajectoryDataset, rows: Tensor, config: EnsembleConfig) -> Callable[[int], Tensor]:
    """Member ``k`` → its training rows: a bootstrap sample of the designs of ``rows``, or ``rows``."""
    def member_rows(k: int) -> Tensor:
        return dataset.bootstrap(config.seed + k, rows) if config.bootstrap else rows
    return member_rows
