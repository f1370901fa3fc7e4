"""Import files into a store: cycler files, or Parquet exports, all-or-nothing on bad input.

Every file is parsed and checked before anything is written, so one bad file in a
batch leaves the store untouched. A cycler file is stored as a result under the
idempotency key ``import:<format>:<sha256>``, with its raw bytes as an artifact.
The key is the file's identity: importing the same bytes again, under any name or
campaign, returns the stored record and writes nothing. A mapped CSV's key adds a
hash of its column map (``import:csv:<sha256>:<map>``): the same bytes read with
another map are other data. The nominal capacity only changes flags, so it is not
part of the key: the flags stored are those of the first import.

A failure of the database itself part-way (not of the input) can leave the files
before it imported; each result with its observations is still one transaction,
and re-running the import completes the batch without duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from interphase.schema import InvalidInputError
from interphase.store.io.column_map import ColumnMap
from interphase.store.io.cyclers import CyclerImport, check_read_options, read_cycler_file
from interphase.store.io.flags import CycleFlag
from interphase.store.io.parquet import (
    check_parquet_bundle,
    read_parquet_bundle,
    write_parquet_bundle,
)
from interphase.store.sql import Store

IMPORT_FORMATS = ("auto", "arbin", "maccor", "biologic", "csv", "parquet")
RAW_FILE_ARTIFACT_KIND = "raw-cycler-file"


@dataclass(frozen=True)
class ImportReport:
    """The outcome of importing one result.

    Attributes:
        path: The file (or, for Parquet, the export directory) it came from.
        format: The format it was read as (``"arbin"``, ..., ``"parquet"``).
        result_id: Id of the stored result.
        n_cycles: Cycles it holds (0 when unknown).
        n_observations: Observations it holds.
        already_present: True when nothing new was stored for it: the store held it
            already, or the same file was listed earlier in the batch.
        warnings: The reader's warnings for this file (as stored in the record).
        flags: Cycles flagged as implausible in this reading of the file.

    """

    path: Path
    format: str
    result_id: str
    n_cycles: int
    n_observations: int
    already_present: bool
    warnings: tuple[str, ...] = ()
    flags: tuple[CycleFlag, ...] = ()


def import_key(parsed: CyclerImport) -> str:
    """Return the idempotency key of a cycler file: format, content hash (and map hash)."""
    key = f"import:{parsed.fmt}:{parsed.sha256}"
    return key if parsed.map_digest is None else f"{key}:{parsed.map_digest}"


def import_files(store: Store, paths: Sequence[str | Path], fmt: str = "auto",
                 campaign: str | None = None, *, column_map: ColumnMap | None = None,
                 nominal_capacity_ah: float | None = None) -> list[ImportReport]:
    """Import cycler files, or Parquet export directories, into a store.

    Args:
        store: An initialised store.
        paths: Files (or, with ``fmt="parquet"``, directories) to import.
        fmt: One of :data:`IMPORT_FORMATS`; ``"auto"`` detects each file's format.
        campaign: Campaign to file cycler results under; None keeps them campaign-free.
            Not allowed with Parquet, whose rows name their own campaigns.
        column_map: Which column holds what; required with ``fmt="csv"``, refused otherwise.
        nominal_capacity_ah: The cells' nominal capacity [A.h]; cycles above it are
            flagged. None flags only jumps between neighbouring cycles.

    Returns:
        One report per cycler file, or per result of each Parquet export, in input order.

    Raises:
        InvalidInputError: For an unknown ``fmt``, an empty ``paths``, options that do not
            go together, or any file that cannot be read (the field is its path); nothing
            is written.
        NotFoundError: If ``campaign`` does not exist; nothing is written.
        ConflictError: For a Parquet export that disagrees with the store; nothing is written.

    """
    if fmt not in IMPORT_FORMATS:
        raise InvalidInputError(
            "fmt", f"unknown import format {fmt!r}; allowed: {', '.join(IMPORT_FORMATS)}")
    if not paths:
        raise InvalidInputError("paths", "no files to import")
    if fmt == "parquet":
        if campaign is not None:
            raise InvalidInputError("campaign",
                                    "a Parquet export carries its own campaigns; omit it")
        if column_map is not None or nominal_capacity_ah is not None:
            raise InvalidInputError("--map" if column_map is not None else "nominal_capacity_ah",
                                    "applies to cycler files, not to Parquet exports")
        return _import_parquet_dirs(store, paths)
    check_read_options(fmt, column_map, nominal_capacity_ah)
    parsed = [read_cycler_file(path, fmt, column_map=column_map,
                               nominal_capacity_ah=nominal_capacity_ah) for path in paths]
    if campaign is not None:
        store.get_campaign(campaign)
    present = store.result_ids_for_keys([import_key(p) for p in parsed])
    for spec in {p.source_spec().model_dump_json(): p.source_spec() for p in parsed}.values():
        store.register_source(spec)
    reports = []
    for item in parsed:
        key = import_key(item)
        already = key in present
        if not already:
            store.put_artifact(item.data, kind=RAW_FILE_ARTIFACT_KIND, media_type=item.media_type,
                               metadata={"filename": item.path.name, "format": item.fmt})
            present[key] = store.submit_result(item.to_result(), idempotency_key=key,
                                               campaign=campaign).id
        reports.append(ImportReport(path=item.path, format=item.fmt, result_id=present[key],
                                    n_cycles=item.n_cycles, n_observations=len(item.observations),
                                    already_present=already, warnings=item.warnings,
                                    flags=item.flags))
    return reports


def _import_parquet_dirs(store: Store, paths: Sequence[str | Path]) -> list[ImportReport]:
    bundles = [read_parquet_bundle(path) for path in paths]
    for bundle in bundles:  # every conflict with the store is found before any write
        check_parquet_bundle(store, bundle)
    reports = []
    for bundle in bundles:
        reports.extend(
            ImportReport(path=bundle.path, format="parquet", result_id=o.result_id,
                         n_cycles=o.cycles_run or 0, n_observations=o.n_observations,
                         already_present=o.already_present)
            for o in write_parquet_bundle(store, bundle)
        )
    return reports
