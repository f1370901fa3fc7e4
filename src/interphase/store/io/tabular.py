"""Flat CSV export: one row per observation, joined with the columns of its result."""

from __future__ import annotations

import csv
from pathlib import Path

from interphase.store.sql import Store

CSV_COLUMNS = ("result_id", "idempotency_key", "campaign", "design_id", "design_label", "source",
               "source_version", "status", "observable", "index", "index_unit", "value", "std",
               "unit")


def export_csv(store: Store, out_path: str | Path, campaign: str | None = None, *,
               include_superseded: bool = False) -> Path:
    """Write observations in long form with their record columns, for spreadsheets and pandas.

    Numbers are written with Python's shortest round-trip repr, so reading the file
    back gives the stored floats exactly; a missing ``std`` is an empty cell. Results
    without observations (failed runs) contribute no rows.

    Args:
        store: The store to read.
        out_path: The CSV file to write (parent directories are created).
        campaign: Only this campaign's results; None exports all.
        include_superseded: Also export results that a correction replaced.

    Returns:
        The path written.

    Raises:
        NotFoundError: If ``campaign`` does not exist.

    """
    if campaign is not None:
        store.get_campaign(campaign)
    path = Path(out_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    results = store.list_results(campaign=campaign, include_superseded=include_superseded)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for stored in results:
            result = stored.result
            record = (stored.id, stored.idempotency_key, stored.campaign or "", stored.design_id,
                      result.design.label or "", result.source, result.provenance.source_version,
                      result.status.value)
            for obs in result.observations:
                writer.writerow((*record, obs.observable, repr(obs.index), obs.index_unit,
                                 repr(obs.value), "" if obs.std is None else repr(obs.std),
                                 obs.unit))
    return path
