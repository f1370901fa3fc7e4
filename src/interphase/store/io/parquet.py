"""Parquet export and import: a lossless, portable copy of a store or one campaign.

An export is a directory of five files with explicit Arrow schemas and file-level
metadata (``interphase.format`` = ``interphase-store``, ``interphase.format_version``
= :data:`FORMAT_VERSION`): ``campaigns``, ``designs``, ``sources``, ``results`` (one
row per result, superseded ones included) and ``observations`` (long form).

Identity: rows are keyed by ids that are the same in every store (campaign name,
``name@version``, a portable design key, and the result's idempotency key as
``result_key``), never by store-local uuids; see :mod:`interphase.store.io.portable`.
Export → import into another store → export gives identical tables: floats
bit-exact, a missing ``std`` stays null, JSON columns are canonical JSON. Because
``Store`` stamps ``created_at`` on insert, an imported result carries its original
time (and request key) in its metadata under ``"interphase:import"``; the export
reads them back from there. The store-local ids themselves are not exported.

Import checks every table and builds every record before it writes anything, and
refuses (ConflictError) a campaign, source or result key that the store already
holds with different content. Results already present are skipped, so importing
the same directory twice writes nothing the second time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError

from interphase import __version__
from interphase.schema import (
    CampaignSpec,
    ConflictError,
    Design,
    InvalidInputError,
    NotFoundError,
    Result,
    SourceSpec,
    canonical_json,
)
from interphase.store.io.portable import PortableTables, portable_tables, result_from_row
from interphase.store.sql import Store

_T = TypeVar("_T")
FORMAT_NAME = "interphase-store"
FORMAT_VERSION = "1"
_S, _F, _I = pa.string(), pa.float64(), pa.int64()


def _schema(*fields: tuple[str, pa.DataType, bool]) -> pa.Schema:
    return pa.schema([pa.field(name, kind, nullable=nullable) for name, kind, nullable in fields])


SCHEMAS: dict[str, pa.Schema] = {
    "campaigns": _schema(("name", _S, False), ("spec_json", _S, False)),
    "designs": _schema(("design_key", _S, False), ("campaign", _S, True), ("label", _S, True),
                       ("values_json", _S, False)),
    "sources": _schema(("source_id", _S, False), ("name", _S, False), ("version", _S, False),
                       ("technique", _S, False), ("fidelity", _I, False), ("spec_json", _S, False)),
    "results": _schema(
        ("result_key", _S, False), ("campaign", _S, True), ("design_key", _S, False),
        ("source", _S, False), ("source_version", _S, False), ("status", _S, False),
        ("failure_kind", _S, True), ("message", _S, False), ("protocol_json", _S, True),
        ("cycles_run", _I, True), ("cost_lab_hours", _F, False), ("cost_cpu_seconds", _F, False),
        ("provenance_json", _S, False), ("metadata_json", _S, False), ("n_observations", _I, False),
        ("request_key", _S, True), ("supersedes_key", _S, True), ("superseded_by_key", _S, True),
        ("created_at", pa.timestamp("us", tz="UTC"), False)),
    "observations": _schema(("result_key", _S, False), ("observable", _S, False),
                            ("index", _F, False), ("index_unit", _S, False), ("value", _F, False),
                            ("std", _F, True), ("unit", _S, False)),
}
TABLE_NAMES = tuple(SCHEMAS)


@dataclass(frozen=True)
class ParquetBundle:
    """A read and fully validated export directory, ready to write into a store.

    Attributes:
        path: The directory.
        tables: Its rows.
        campaigns: Campaign specs by name.
        sources: Source specs in file order.
        designs: ``(campaign, design)`` by design key.
        results: ``(row, result)`` per result, each after the result it supersedes.

    """

    path: Path
    tables: PortableTables
    campaigns: dict[str, CampaignSpec]
    sources: list[SourceSpec]
    designs: dict[str, tuple[str | None, Design]]
    results: list[tuple[dict[str, Any], Result]]


@dataclass(frozen=True)
class ParquetImportOutcome:
    """What happened to one result of a bundle."""

    result_key: str
    result_id: str
    cycles_run: int | None
    n_observations: int
    already_present: bool


def export_parquet(store: Store, out_dir: str | Path, campaign: str | None = None) -> list[Path]:
    """Write a store, or one campaign, as five Parquet files.

    Args:
        store: The store to read.
        out_dir: Directory to write into; created if missing, files in it replaced.
        campaign: Only this campaign; None exports everything.

    Returns:
        Paths of the files written, in :data:`TABLE_NAMES` order.

    Raises:
        NotFoundError: If ``campaign`` does not exist.

    """
    tables = portable_tables(store, campaign)
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in SCHEMAS.items():
        rows = getattr(tables, name)
        columns = {column: [row[column] for row in rows] for column in schema.names}
        meta = {"interphase.format": FORMAT_NAME, "interphase.format_version": FORMAT_VERSION,
                "interphase.table": name, "interphase.version": __version__}
        table = pa.Table.from_pydict(columns, schema=schema.with_metadata(meta))
        path = directory / f"{name}.parquet"
        pq.write_table(table, path)
        written.append(path)
    return written


def import_parquet(store: Store, in_dir: str | Path) -> int:
    """Load an export directory into a store, empty or not.

    Args:
        store: The store to write into.
        in_dir: A directory written by :func:`export_parquet`.

    Returns:
        How many results were newly stored (0 when all were already present).

    Raises:
        InvalidInputError: If a file is missing, has other columns or another format
            version, or a row breaks the schema; nothing is written.
        ConflictError: If the store holds a campaign, source or result key with
            different content; nothing is written.

    """
    outcomes = write_parquet_bundle(store, read_parquet_bundle(in_dir))
    return sum(not outcome.already_present for outcome in outcomes)


def read_parquet_bundle(in_dir: str | Path) -> ParquetBundle:
    """Read and validate an export directory without touching any store.

    Raises:
        InvalidInputError: Naming the file (and row) at fault.

    """
    directory = Path(in_dir)
    tables = PortableTables(**{name: _read_table(directory, name) for name in TABLE_NAMES})
    observations: dict[str, list[dict[str, Any]]] = {}
    for row in tables.observations:
        observations.setdefault(row["result_key"], []).append(row)
    campaigns = {row["name"]: _build(directory / "campaigns.parquet", row["name"],
                                     lambda r=row: CampaignSpec.model_validate_json(r["spec_json"]))
                 for row in tables.campaigns}
    sources = [_build(directory / "sources.parquet", row["source_id"],
                      lambda r=row: SourceSpec.model_validate_json(r["spec_json"]))
               for row in tables.sources]
    designs = {row["design_key"]: (row["campaign"], _build(
        directory / "designs.parquet", row["design_key"],
        lambda r=row: Design(values=json.loads(r["values_json"]), label=r["label"])))
        for row in tables.designs}
    results = []
    for row in _dependency_order(tables.results, directory / "results.parquet"):
        key = row["result_key"]
        where = f"{directory / 'results.parquet'}: result {key!r}"
        if row["design_key"] not in designs:
            raise InvalidInputError(where, f"design {row['design_key']} is not in designs.parquet")
        rows = observations.pop(key, [])
        if len(rows) != row["n_observations"]:
            raise InvalidInputError(
                where, f"has {len(rows)} observations, expected {row['n_observations']}")
        design = designs[row["design_key"]][1]
        results.append((row, _build(directory / "results.parquet", key,
                                    lambda r=row, d=design, o=rows: result_from_row(r, d, o))))
    if observations:
        raise InvalidInputError(str(directory / "observations.parquet"),
                                f"observations of unknown results {sorted(observations)[:3]}")
    return ParquetBundle(path=directory, tables=tables, campaigns=campaigns, sources=sources,
                         designs=designs, results=results)


def _build(path: Path, row_id: str, build: Callable[[], _T]) -> _T:
    """Run one record's validation, naming file and row when it fails."""
    try:
        return build()
    except (ValidationError, ValueError, TypeError) as exc:
        raise InvalidInputError(f"{path}: {row_id}", f"invalid record: {exc}") from None


def write_parquet_bundle(store: Store, bundle: ParquetBundle) -> list[ParquetImportOutcome]:
    """Write a validated bundle: campaigns, sources, designs, then results in dependency order.

    Raises:
        ConflictError: Found before writing, when stored content differs from the bundle's.
        NotFoundError: If a result's campaign or corrected result is in neither the
            bundle nor the store.

    """
    present = check_parquet_bundle(store, bundle)
    for spec in bundle.campaigns.values():
        store.create_campaign(spec)
    for source in bundle.sources:
        store.register_source(source)
    by_campaign: dict[str | None, list[Design]] = {}
    for campaign, design in bundle.designs.values():
        by_campaign.setdefault(campaign, []).append(design)
    for campaign, designs in by_campaign.items():
        store.add_designs(campaign, designs)
    ids = dict(present)
    outcomes = []
    for row, result in bundle.results:
        key = row["result_key"]
        if key not in present:
            supersedes = row["supersedes_key"]
            if supersedes is not None and supersedes not in ids:
                ids.update(store.result_ids_for_keys([supersedes]))
                if supersedes not in ids:
                    raise NotFoundError(f"result {key!r} corrects {supersedes!r}, which is in "
                                        "neither the bundle nor the store")
            ids[key] = store.submit_result(
                result, idempotency_key=key, campaign=row["campaign"],
                supersedes=ids[supersedes] if supersedes is not None else None).id
        outcomes.append(ParquetImportOutcome(key, ids[key], row["cycles_run"],
                                             row["n_observations"], key in present))
    return outcomes


def check_parquet_bundle(store: Store, bundle: ParquetBundle) -> dict[str, str]:
    """Compare a bundle with what the store holds, writing nothing.

    Args:
        store: The store the bundle would go into.
        bundle: A bundle from :func:`read_parquet_bundle`.

    Returns:
        Result keys of the bundle that the store already holds → their ids there.

    Raises:
        ConflictError: If a campaign, source or result key is stored with other content.

    """
    for name, spec in bundle.campaigns.items():
        try:
            stored = store.get_campaign(name)
        except NotFoundError:
            continue
        if canonical_json(stored.spec.model_dump(mode="json")) != \
                canonical_json(spec.model_dump(mode="json")):
            raise ConflictError(f"campaign {name!r} exists with a different specification")
    for spec in bundle.sources:
        try:
            stored_source = store.get_source(spec.name, spec.version)
        except NotFoundError:
            continue
        if stored_source.spec != spec:
            raise ConflictError(f"source {spec.name}@{spec.version} exists with a different spec")
    present = store.result_ids_for_keys([row["result_key"] for row, _ in bundle.results])
    if present:
        stored = portable_tables(store)
        stored_rows = {row["result_key"]: row for row in stored.results}
        stored_obs = _by_key(stored.observations, present)
        incoming_obs = _by_key(bundle.tables.observations, present)
        for row, _ in bundle.results:
            key = row["result_key"]
            if key in present and (not _same(stored_rows[key], row)
                                   or stored_obs.get(key) != incoming_obs.get(key)):
                raise ConflictError(f"result key {key!r} is stored with other content")
    return present


def _same(stored: dict[str, Any], incoming: dict[str, Any]) -> bool:
    # Which correction replaced a result depends on what else was imported so far.
    columns = [c for c in SCHEMAS["results"].names if c != "superseded_by_key"]
    return all(stored[c] == incoming[c] for c in columns)


def _by_key(rows: list[dict[str, Any]], keys: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["result_key"] in keys:
            grouped.setdefault(row["result_key"], []).append(row)
    return grouped


def _dependency_order(rows: Sequence[dict[str, Any]], path: Path) -> list[dict[str, Any]]:
    """Rows reordered so that each comes after the result it supersedes."""
    by_key = {row["result_key"]: row for row in rows}
    ordered: list[dict[str, Any]] = []
    done: set[str] = set()
    for row in rows:
        chain: list[dict[str, Any]] = []
        current: dict[str, Any] | None = row
        while current is not None and current["result_key"] not in done:
            if current in chain:
                raise InvalidInputError(str(path),
                                        f"supersedes links loop at {current['result_key']!r}")
            chain.append(current)
            current = by_key.get(current["supersedes_key"]) if current["supersedes_key"] else None
        for item in reversed(chain):
            done.add(item["result_key"])
            ordered.append(item)
    return ordered


def _read_table(directory: Path, name: str) -> list[dict[str, Any]]:
    path = directory / f"{name}.parquet"
    if not path.is_file():
        raise InvalidInputError(str(path), f"missing; an export holds {', '.join(TABLE_NAMES)}")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInputError(str(path), f"not a Parquet file ({exc})") from None
    meta = {k.decode(): v.decode() for k, v in (table.schema.metadata or {}).items()}
    if meta.get("interphase.format") != FORMAT_NAME or \
            meta.get("interphase.format_version") != FORMAT_VERSION:
        raise InvalidInputError(str(path), f"not an {FORMAT_NAME} v{FORMAT_VERSION} export "
                                           f"(format {meta.get('interphase.format')!r}, "
                                           f"version {meta.get('interphase.format_version')!r})")
    if not table.schema.remove_metadata().equals(SCHEMAS[name]):
        raise InvalidInputError(str(path), f"columns {table.schema.names} do not match the "
                                           f"expected {SCHEMAS[name].names} with their types")
    return table.to_pylist()
