"""The model's training data, built from the store as one padded :class:`TrajectoryBatch`.

Records: one per stored result (the latest, not superseded) whose design lies in the
design space, then, optionally, one per stored design without any result. Such a design
has source ``"<none>"``, the last entry of the source vocabulary; it trains only the design
VAE. Its controls come from its campaign's protocol.

Masks: ``y_mask`` is 1 exactly where a value was stored. Retention is relative to a
reference cycle (the source's ``reference_cycle`` metadata, else cycle 2 when the protocol
has at least two cycles, as the PyBaMM and lab sources report it) and is masked before
it, where it is above 1 by construction. A failed result keeps its observed prefix and has
``failed = 1``; stopped and succeeded ones have 0. Time-indexed (``"s"``) values are unused.

Observations are read from the store's tables as columns and placed with NumPy: 400
results of 200 cycles and 8 observables (640,000 values) take about 2 s on one core, where
``Store.list_results`` (one pydantic object per value) takes 15 s.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sqlalchemy import select
from torch import Tensor

from interphase.models.batch import TrajectoryBatch
from interphase.models.features import DesignFeatures
from interphase.schema import (
    OBSERVABLES,
    Design,
    DesignSpace,
    InvalidInputError,
    Protocol,
    canonical_hash,
    canonical_json,
)
from interphase.store import Store
from interphase.store.tables import CampaignRow, DesignRow, ObservationRow, ResultRow, SourceRow

NO_SOURCE = "<none>"
RETENTION = "Capacity retention"
CYCLE, CONDITION = "cycle", "K"


@dataclass(frozen=True)
class RecordInfo:
    """Where a record comes from.

    Attributes:
        result_id: The stored result, or None for a design without one.
        design_key: Canonical hash of the design's values (same design, same key).
        design: The design, validated in the dataset's space (SI).
        source: Source name, or ``"<none>"``.
        status: ``"succeeded"``, ``"stopped"`` or ``"failed"``; None without a result.
        cycles_run: Cycles completed, as stored (None if unknown or without a result).
        failure_cause: What a failed run's source says ended it (its ``failure_cause``
            metadata, e.g. ``"short circuit"`` or ``"assembly defect"``), else None.
    """

    result_id: str | None
    design_key: str
    design: Design
    source: str
    status: str | None
    cycles_run: int | None
    failure_cause: str | None = None


class TrajectoryDataset:
    """Records of the store as tensors, with their provenance; build with :meth:`from_store`.

    Attributes:
        batch: All ``B`` records (shapes in :class:`TrajectoryBatch`).
        features: The design feature (``D``) and control (``U``) layouts.
        observables: The ``O`` per-cycle observables, columns of ``batch.y``.
        cond_observables: The ``Oc`` condition-indexed observables, columns of ``batch.cond_y``.
        conditions: The ``C`` conditions (K), sorted; rows of ``batch.cond_y``.
        source_names: The source vocabulary (``batch.source`` indexes it); ``"<none>"`` last.
        source_fidelity: Source name → fidelity as registered in the store.
        records: ``B`` record descriptions, in batch order.
        skipped: Results left out because their design is not in the space.
        skipped_designs: Designs without results left out for the same reason.
        settings: What the dataset was built with (part of :meth:`snapshot_hash`).
        payload_hashes: Result id → the store's payload hash of that result.
    """

    def __init__(self, batch: TrajectoryBatch, features: DesignFeatures, observables: list[str],
                 cond_observables: list[str], conditions: list[float], source_names: list[str],
                 source_fidelity: dict[str, int], records: list[RecordInfo], *, skipped: int = 0,
                 skipped_designs: int = 0, settings: dict[str, Any] | None = None,
                 payload_hashes: dict[str, str] | None = None) -> None:
        self.batch, self.features = batch, features
        self.observables, self.cond_observables, self.conditions = observables, cond_observables, conditions
        self.source_names, self.source_fidelity, self.records = source_names, source_fidelity, records
        self.skipped, self.skipped_designs = skipped, skipped_designs
        self.settings, self.payload_hashes = settings or {}, payload_hashes or {}
        first = {key: g for g, key in enumerate(dict.fromkeys(r.design_key for r in records))}
        self._groups = np.array([first[r.design_key] for r in records], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.records)

    @property
    def horizon(self) -> int:
        """T, the cycles of ``batch.y``."""
        return int(self.batch.y.shape[1])

    def design_groups(self) -> Tensor:
        """``B`` (long) group ids, in order of first appearance: one design, one id."""
        return torch.from_numpy(self._groups.copy())

    def split(self, holdout_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
        """Split by design, never by row: all records of a design fall on one side.

        Args:
            holdout_fraction: Share of the designs with results to hold out, in [0, 1);
                at least one and at most all but one when positive.
            seed: Seed of the shuffle.

        Returns:
            ``train`` and ``holdout`` record positions (long, sorted); designs without
            results are always in ``train``.

        Raises:
            InvalidInputError: If ``holdout_fraction`` is outside [0, 1).
        """
        if not 0.0 <= holdout_fraction < 1.0:
            raise InvalidInputError("holdout_fraction", f"must be in [0, 1), got {holdout_fraction!r}")
        labelled = np.unique(self._groups[self.batch.has_result.numpy() > 0])
        n_out = int(round(holdout_fraction * len(labelled)))
        if holdout_fraction > 0 and len(labelled) >= 2:
            n_out = min(max(n_out, 1), len(labelled) - 1)
        out = np.isin(self._groups, np.random.default_rng(seed).permutation(labelled)[:n_out])
        return torch.from_numpy(np.flatnonzero(~out)), torch.from_numpy(np.flatnonzero(out))

    def folds(self, k: int, seed: int, *, stratify: Tensor | None = None) -> list[tuple[Tensor, Tensor]]:
        """``k`` cross-validation folds by design: each design with results is held out once.

        Args:
            k: Folds, >= 2 and at most the designs with results.
            seed: Seed of the shuffle.
            stratify: ``B`` labels (e.g. source and failure); designs are dealt to folds in
                turn within each label of their first record, so every fold gets its share
                of rare labels. None: a plain shuffle.

        Returns:
            ``k`` pairs of ``(train, test)`` record positions (long, sorted); designs without
            results are always in ``train``.

        Raises:
            InvalidInputError: On a bad ``k``.
        """
        labelled = np.unique(self._groups[self.batch.has_result.numpy() > 0])
        if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= max(len(labelled), 2) \
                or k > len(labelled):
            raise InvalidInputError("k", f"must be an integer in [2, {len(labelled)}], got {k!r}")
        order = np.random.default_rng(seed).permutation(labelled)
        if stratify is not None:
            first = {int(g): int(stratify[int(np.flatnonzero(self._groups == g)[0])]) for g in order}
            order = np.array(sorted(order, key=lambda g: first[int(g)]), dtype=np.int64)
        fold_of = {int(g): i % k for i, g in enumerate(order)}
        out = []
        for fold in range(k):
            held = np.isin(self._groups, [g for g, f in fold_of.items() if f == fold])
            out.append((torch.from_numpy(np.flatnonzero(~held)), torch.from_numpy(np.flatnonzero(held))))
        return out

    def bootstrap(self, seed: int, rows: Tensor | None = None) -> Tensor:
        """Resample designs with replacement; a drawn design brings all its records.

        Args:
            seed: Seed of the draw.
            rows: Record positions to resample (e.g. a training split); None for all.

        Returns:
            Record positions (long); a design's records repeat as often as it was drawn.
        """
        pool = np.arange(len(self.records)) if rows is None else rows.numpy().astype(np.int64)
        groups = np.unique(self._groups[pool])
        drawn = np.random.default_rng(seed).choice(groups, size=len(groups), replace=True)
        members = {int(g): pool[self._groups[pool] == g] for g in groups}
        return torch.from_numpy(np.concatenate([members[int(g)] for g in drawn] or [np.zeros(0, np.int64)]))

    def with_partial(self, designs: Sequence[Design], sources: Sequence[str], protocols: Sequence[Protocol],
                     observations: Sequence[Sequence[Any]]) -> TrajectoryDataset:
        """The dataset plus records of tests still running: the cycles they have shown so far.

        A running test is a partial sequence, as a stopped one is: its first cycles train the
        model (and its prefix filter) before its result exists. Retention before cycle 2 is
        left out, as for stored records. The records come after the stored ones, with no result
        id; their design keys join the design groups, so splits keep a design together.

        Args:
            designs: ``N`` designs.
            sources: ``N`` source names (each in :attr:`source_names`).
            protocols: ``N`` protocols.
            observations: For each test, the per-cycle observations shown so far.

        Returns:
            A new dataset (this one is unchanged).

        Raises:
            InvalidInputError: On an unknown source or mismatched lengths.
        """
        n = len(designs)
        if not len(sources) == len(protocols) == len(observations) == n:
            raise InvalidInputError("observations",
                                    "give one source, protocol and list of observations per design")
        if n == 0:
            return self
        horizon, width = self.horizon, len(self.observables)
        y, y_mask = torch.zeros(n, horizon, width), torch.zeros(n, horizon, width)
        cycles = torch.zeros(n, dtype=torch.long)
        for row, shown in enumerate(observations):
            for o in shown:
                if getattr(o, "index_unit", None) != CYCLE or o.observable not in self.observables:
                    continue
                cycle = int(round(o.index))
                if not 1 <= cycle <= horizon or (o.observable == RETENTION and cycle < 2):
                    continue
                column = self.observables.index(o.observable)
                y[row, cycle - 1, column], y_mask[row, cycle - 1, column] = float(o.value), 1.0
                cycles[row] = max(int(cycles[row]), cycle)
        for name in sources:
            if name not in self.source_names:
                raise InvalidInputError("sources",
                                        f"unknown source {name!r}; the dataset has {self.source_names}")
        x, x_mask = self.features.encode(list(designs))
        conditions, cond_width = self.batch.cond_y.shape[1], self.batch.cond_y.shape[2]
        extra = TrajectoryBatch(
            x=x, x_mask=x_mask, source=torch.tensor([self.source_names.index(s) for s in sources]),
            u=self.features.controls.build(list(designs), list(protocols), horizon), y=y, y_mask=y_mask,
            cycles=cycles, has_result=torch.ones(n), failed=torch.zeros(n),
            cond_y=torch.zeros(n, conditions, cond_width), cond_mask=torch.zeros(n, conditions, cond_width))
        batch = TrajectoryBatch(**{f.name: torch.cat([getattr(self.batch, f.name), getattr(extra, f.name)])
                                   for f in dataclasses.fields(TrajectoryBatch)})
        records = self.records + [RecordInfo(None, d.content_hash(), d, s, "running", int(c))
                                  for d, s, c in zip(designs, sources, cycles.tolist(), strict=True)]
        settings = {**self.settings, "running": sorted(f"{r.design_key}:{r.source}:{r.cycles_run}"
                                                       for r in records[len(self.records):])}
        return TrajectoryDataset(batch, self.features, self.observables, self.cond_observables,
                                 self.conditions, self.source_names, self.source_fidelity, records,
                                 skipped=self.skipped,
                                 skipped_designs=self.skipped_designs, settings=settings,
                                 payload_hashes=self.payload_hashes)

    def observable_scale(self, rows: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Robust location and scale of each per-cycle observable (see :func:`robust_scale`).

        Args:
            rows: Record positions whose observed values count; None for all.

        Returns:
            ``loc`` and ``scale``, each ``O`` float32, canonical units.
        """
        return _scale(self.batch.y, self.batch.y_mask, rows)

    def cond_scale(self, rows: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Like :meth:`observable_scale`, for the ``Oc`` condition-indexed observables."""
        return _scale(self.batch.cond_y, self.batch.cond_mask, rows)

    def snapshot_hash(self) -> str:
        """SHA-256 of the sorted (result id, payload hash) pairs, unlabelled designs and settings."""
        payload = {"results": sorted(self.payload_hashes.items()), "settings": self.settings,
                   "unlabelled": sorted(r.design_key for r in self.records if r.result_id is None)}
        return hashlib.sha256(canonical_json(payload).encode()).hexdigest()

    @classmethod
    def from_store(cls, store: Store, space: DesignSpace, *, observables: Sequence[str] | None = None,
                   cond_observables: Sequence[str] | None = None, sources: Sequence[str] | None = None,
                   horizon: int | None = None, campaign: str | None = None,
                   include_unlabelled: bool = True) -> TrajectoryDataset:
        """Build the dataset from a store.

        Args:
            store: An initialised store.
            space: The design space; results whose design does not validate are skipped.
            observables: Per-cycle observables; default: all stored with a cycle index,
                in registry order.
            cond_observables: Condition-indexed (K) observables; default: all stored.
            sources: Only these sources, in this vocabulary order; default: every source
                with a result, by fidelity then name.
            horizon: T; default: the last cycle any record reaches (at least 1). Later
                cycles are dropped.
            campaign: Only this campaign's results and designs.
            include_unlabelled: Add a record per stored design without a result.

        Returns:
            The dataset.

        Raises:
            InvalidInputError: An unknown or repeated observable, a bad horizon, no sources.
            NotFoundError: The store is not initialised, or there is no such campaign.
        """
        store.require_initialised()
        if campaign is not None:
            store.get_campaign(campaign)
        if horizon is not None and (isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1):
            raise InvalidInputError("horizon", f"must be an integer >= 1, got {horizon!r}")
        if sources is not None and (isinstance(sources, str) or not sources):
            raise InvalidInputError("sources", f"a non-empty list of source names, or None; got {sources!r}")
        records, protocols, reference, payloads, skipped = _results(store, space, campaign, sources)
        cycles_run = np.array([-1 if r.cycles_run is None else r.cycles_run for r in records], dtype=np.int64)
        placed = _Placed.read(store, {r.result_id: i for i, r in enumerate(records)}, campaign, sources,
                              observables, cond_observables, horizon, reference, cycles_run)
        skipped_designs = 0
        if include_unlabelled:
            skipped_designs = _add_unlabelled(store, space, campaign, records, protocols)
        names = _vocabulary(store, records, sources)
        fidelity = {s.spec.name: s.spec.fidelity for s in store.list_sources() if s.spec.name in names}
        features = DesignFeatures(space)
        x, x_mask = features.encode([r.design for r in records])
        extra = len(records) - len(payloads)  # designs without results, appended after the results
        batch = TrajectoryBatch(
            x=x, x_mask=x_mask,
            source=torch.tensor([names.index(r.source) for r in records], dtype=torch.long),
            u=features.controls.build([r.design for r in records], protocols, placed.horizon),
            y=_pad(placed.y, extra), y_mask=_pad(placed.y_mask, extra),
            cycles=torch.from_numpy(np.concatenate([placed.cycles, np.zeros(extra, dtype=np.int64)])),
            has_result=torch.tensor([float(r.result_id is not None) for r in records]),
            failed=torch.tensor([float(r.status == "failed") for r in records]),
            cond_y=_pad(placed.cond_y, extra), cond_mask=_pad(placed.cond_mask, extra))
        if observables is None:  # by default, leave out what never varies (e.g. LAM in a model without it)
            batch, placed = _drop_constant_observables(batch, placed)
        settings = {"space": canonical_hash(space.model_dump(mode="json")), "observables": placed.observables,
                    "cond_observables": placed.cond_observables, "conditions": placed.conditions,
                    "horizon": placed.horizon, "sources": names, "campaign": campaign,
                    "include_unlabelled": include_unlabelled}
        return cls(batch, features, placed.observables, placed.cond_observables, placed.conditions, names,
                   fidelity, records, skipped=skipped, skipped_designs=skipped_designs, settings=settings,
                   payload_hashes=payloads)


def _drop_constant_observables(batch: TrajectoryBatch, placed: Any) -> tuple[TrajectoryBatch, Any]:
    """Leave out per-cycle observables whose observed values never vary.

    A constant column (e.g. loss of active material from a model without that mechanism,
    exactly 0 or 1e-14) gets a degenerate scale, its likelihood dominates training and the
    network learns to ignore the design. Asking for such an observable explicitly keeps it.
    """
    keep = []
    for column in range(batch.y.shape[-1]):
        values = batch.y[..., column][batch.y_mask[..., column] > 0]
        spread = float(values.max() - values.min()) if values.numel() else 0.0
        if spread > 1e-9 * max(float(values.abs().max()) if values.numel() else 0.0, 1e-30):
            keep.append(column)
    if len(keep) == batch.y.shape[-1]:
        return batch, placed
    index = torch.tensor(keep, dtype=torch.long)
    batch = TrajectoryBatch(**{**batch.__dict__, "y": batch.y[..., index],
                               "y_mask": batch.y_mask[..., index]})
    return batch, dataclasses.replace(placed, observables=[placed.observables[i] for i in keep])


def robust_scale(values: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Median and IQR/1.349 of each column over its observed entries.

    Args:
        values: ``N x K`` values.
        mask: ``N x K``; 1 where observed.

    Returns:
        ``K`` locations and ``K`` scales (float32). A column whose IQR is 0 gets its std,
        then ``|median|``, then 1: a scale is never 0. Unobserved columns get (0, 1).
    """
    loc, scale = np.zeros(values.shape[-1]), np.ones(values.shape[-1])
    data, seen = values.double().numpy(), mask.numpy() > 0
    for column in range(values.shape[-1]):
        observed = data[seen[:, column], column]
        if observed.size:
            q25, loc[column], q75 = np.percentile(observed, [25, 50, 75])
            candidates = [(q75 - q25) / 1.349, observed.std(), abs(loc[column]), 1.0]
            scale[column] = next(c for c in candidates if c > 0 and np.isfinite(c))
    return torch.tensor(loc, dtype=torch.float32), torch.tensor(scale, dtype=torch.float32)


def _scale(y: Tensor, mask: Tensor, rows: Tensor | None) -> tuple[Tensor, Tensor]:
    if rows is not None:
        y, mask = y[rows], mask[rows]
    if y.shape[-1] == 0:  # no observables of this kind
        return torch.zeros(0), torch.ones(0)
    return robust_scale(y.reshape(-1, y.shape[-1]), mask.reshape(-1, mask.shape[-1]))


def _filtered(query: Any, campaign: str | None, sources: Sequence[str] | None) -> Any:
    """A query over ``results`` joined to ``sources``, cut to a campaign and to source names."""
    if campaign is not None:
        query = query.join(CampaignRow, ResultRow.campaign_id == CampaignRow.id).where(
            CampaignRow.name == campaign)
    return query if sources is None else query.where(SourceRow.name.in_(list(sources)))


def _results(store: Store, space: DesignSpace, campaign: str | None, sources: Sequence[str] | None,
             ) -> tuple[list[RecordInfo], list[Protocol | None], np.ndarray, dict[str, str], int]:
    """The latest results in the space, oldest first: records, protocols, reference cycles, payload hashes."""
    query = (select(ResultRow.id, ResultRow.payload_hash, ResultRow.status, ResultRow.protocol,
                    ResultRow.cycles_run, ResultRow.meta, DesignRow.values, SourceRow.name)
             .join(DesignRow, ResultRow.design_id == DesignRow.id)
             .join(SourceRow, ResultRow.source_id == SourceRow.id))
    with store.engine.connect() as connection:
        query = _filtered(query, campaign, sources).order_by(ResultRow.created_at, ResultRow.id)
        rows = connection.execute(query).all()
        superseded = set(connection.execute(
            select(ResultRow.supersedes_id).where(ResultRow.supersedes_id.is_not(None))).scalars())
    records, protocols, reference, payloads, skipped = [], [], [], {}, 0
    parsed: dict[str, Protocol] = {}  # validating a protocol parses every step with PyBaMM: once each
    for result_id, payload_hash, status, protocol, cycles_run, meta, values, source in rows:
        if result_id in superseded:
            continue
        try:
            design = space.validate_design(values)
        except InvalidInputError:
            skipped += 1
            continue
        if protocol is not None:
            key = canonical_json(protocol)
            if key not in parsed:
                parsed[key] = Protocol.model_validate(protocol)
            protocol = parsed[key]
        cause = (meta or {}).get("failure_cause") if status == "failed" else None
        records.append(RecordInfo(result_id, design.content_hash(), design, source, status, cycles_run,
                                  cause if isinstance(cause, str) else None))
        protocols.append(protocol)
        reference.append(_reference_cycle(meta, protocol, cycles_run))
        payloads[result_id] = payload_hash
    return records, protocols, np.array(reference, dtype=np.int64), payloads, skipped


def _reference_cycle(meta: dict[str, Any] | None, protocol: Protocol | None, cycles_run: int | None) -> int:
    """The cycle retention is relative to: as the source recorded it, else 2 when there are 2 cycles."""
    recorded = (meta or {}).get("reference_cycle")
    if isinstance(recorded, int) and not isinstance(recorded, bool) and recorded >= 1:
        return recorded
    cycles = protocol.n_cycles if protocol is not None else (cycles_run or 0)
    return 2 if cycles >= 2 else 1


@dataclass(frozen=True)
class _Placed:
    """Observations of ``R`` results on the grid: ``T`` cycles and ``C`` conditions."""

    observables: list[str]
    cond_observables: list[str]
    conditions: list[float]
    horizon: int
    y: np.ndarray  # R x T x O
    y_mask: np.ndarray
    cycles: np.ndarray  # R (long)
    cond_y: np.ndarray  # R x C x Oc
    cond_mask: np.ndarray

    @classmethod
    def read(cls, store: Store, position: dict[str | None, int], campaign: str | None,
             sources: Sequence[str] | None, observables: Sequence[str] | None,
             cond_observables: Sequence[str] | None, horizon: int | None, reference: np.ndarray,
             cycles_run: np.ndarray) -> _Placed:
        """Read the observations as columns and place those of the kept results.

        ``position`` maps a result id to its row; ``reference`` and ``cycles_run`` (-1 when
        unknown) have one entry per row. The other arguments are those of ``from_store``.
        """
        query = (select(ObservationRow.result_id, ObservationRow.observable, ObservationRow.index_unit,
                        ObservationRow.index, ObservationRow.value)
                 .join(ResultRow, ObservationRow.result_id == ResultRow.id)
                 .join(SourceRow, ResultRow.source_id == SourceRow.id)
                 .where(ObservationRow.index_unit.in_((CYCLE, CONDITION))))
        with store.engine.connect() as connection:
            rows = connection.execute(_filtered(query, campaign, sources)).all()
        ids, names, units, index, value = zip(*rows, strict=True) if rows else ((),) * 5
        record = np.fromiter((position.get(i, -1) for i in ids), dtype=np.int64, count=len(ids))
        codes: dict[tuple[str, str], int] = {}  # (observable, index unit) → code
        code = np.fromiter((codes.setdefault(p, len(codes)) for p in zip(names, units, strict=True)),
                           dtype=np.int64, count=len(ids))
        kept = record >= 0
        pairs = list(codes)
        present = {pairs[c] for c in np.unique(code[kept]).tolist()}
        per_cycle = _choose(observables, present, CYCLE, "observables")
        per_condition = _choose(cond_observables, present, CONDITION, "cond_observables")
        cycle_column = np.array([per_cycle.index(n) if u == CYCLE and n in per_cycle else -1
                                 for n, u in pairs] + [-1], dtype=np.int64)[code]
        cond_column = np.array([per_condition.index(n) if u == CONDITION and n in per_condition else -1
                                for n, u in pairs] + [-1], dtype=np.int64)[code]
        index_arr, value_arr = np.asarray(index, dtype=float), np.asarray(value, dtype=float)
        cycle = np.rint(index_arr).astype(np.int64)
        on_cycle = kept & (cycle_column >= 0) & (np.abs(index_arr - cycle) < 1e-9) & (cycle >= 1)
        n = len(reference)
        horizon = horizon or max(1, int(cycle[on_cycle].max(initial=0)), int(cycles_run.max(initial=0)))
        on_cycle &= cycle <= horizon
        y = np.zeros((n, horizon, len(per_cycle)), dtype=np.float32)
        y_mask = np.zeros_like(y)
        r, t, o = record[on_cycle], cycle[on_cycle] - 1, cycle_column[on_cycle]
        y[r, t, o], y_mask[r, t, o] = value_arr[on_cycle], 1.0
        if RETENTION in per_cycle:  # retention before its reference cycle is > 1 by construction
            before = np.arange(1, horizon + 1)[None, :] < reference[:, None]
            column = per_cycle.index(RETENTION)
            y[:, :, column] = np.where(before, 0.0, y[:, :, column])
            y_mask[:, :, column] = np.where(before, 0.0, y_mask[:, :, column])
        observed_to = np.zeros(n, dtype=np.int64)
        np.maximum.at(observed_to, r, t + 1)
        cycles = np.minimum(np.maximum(cycles_run, observed_to), horizon)
        on_condition = kept & (cond_column >= 0)
        levels = np.round(index_arr[on_condition], 6)
        conditions = np.unique(levels)
        cond_y = np.zeros((n, len(conditions), len(per_condition)), dtype=np.float32)
        cond_mask = np.zeros_like(cond_y)
        r, c, o = record[on_condition], np.searchsorted(conditions, levels), cond_column[on_condition]
        cond_y[r, c, o], cond_mask[r, c, o] = value_arr[on_condition], 1.0
        return cls(per_cycle, per_condition, conditions.tolist(), horizon, y, y_mask, cycles, cond_y,
                   cond_mask)


def _choose(given: Sequence[str] | None, present: set[tuple[str, str]], unit: str, field: str) -> list[str]:
    """The observables to model: as given (checked), else those present, in registry order."""
    if given is None:
        return [name for name in OBSERVABLES.names if (name, unit) in present]
    if isinstance(given, str):
        raise InvalidInputError(field, f"give a list of observable names, got the string {given!r}")
    for position, name in enumerate(given):
        if name not in OBSERVABLES:
            raise InvalidInputError(f"{field}.{position}",
                                    f"unknown observable {name!r}; known: {', '.join(OBSERVABLES.names)}")
    if len(set(given)) != len(given):
        raise InvalidInputError(field, f"name each observable once, got {list(given)}")
    return list(given)


def _add_unlabelled(store: Store, space: DesignSpace, campaign: str | None, records: list[RecordInfo],
                    protocols: list[Protocol | None]) -> int:
    """Append a record per stored design without a result; returns how many were not in the space."""
    campaign_protocols = {c.name: c.spec.protocol for c in store.list_campaigns()}
    seen, skipped = {r.design_key for r in records}, 0
    for stored in store.list_designs(campaign):
        try:
            design = space.validate_design(stored.design.values)
        except InvalidInputError:
            skipped += 1
            continue
        if design.content_hash() not in seen:
            seen.add(design.content_hash())
            records.append(RecordInfo(None, design.content_hash(), design, NO_SOURCE, None, None))
            protocols.append(campaign_protocols.get(stored.campaign) if stored.campaign else None)
    return skipped


def _vocabulary(store: Store, records: list[RecordInfo], sources: Sequence[str] | None) -> list[str]:
    """Source names: as given, else those with results by (fidelity, name); ``"<none>"`` last."""
    if sources is not None:
        return [*dict.fromkeys(sources), NO_SOURCE]
    fidelity = {s.spec.name: s.spec.fidelity for s in store.list_sources()}
    present = {r.source for r in records if r.result_id is not None}
    return [*sorted(present, key=lambda name: (fidelity.get(name, 0), name)), NO_SOURCE]


def _pad(values: np.ndarray, extra: int) -> Tensor:
    """``values`` as float32 with ``extra`` rows of zeros appended (the designs without results)."""
    return torch.from_numpy(np.concatenate([values, np.zeros((extra, *values.shape[1:]), np.float32)]))
