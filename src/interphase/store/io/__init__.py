"""Getting data in and out of the store: cycler files, Parquet, CSV and JSON-LD."""

from __future__ import annotations

from interphase.store.io.cyclers import CyclerImport, read_cycler_file
from interphase.store.io.detect import CYCLER_FORMATS, detect_format
from interphase.store.io.importer import IMPORT_FORMATS, ImportReport, import_files
from interphase.store.io.jsonld import export_jsonld
from interphase.store.io.parquet import export_parquet, import_parquet
from interphase.store.io.tabular import export_csv

EXPORT_FORMATS = ("parquet", "jsonld", "csv")

__all__ = [
    "CYCLER_FORMATS", "EXPORT_FORMATS", "IMPORT_FORMATS", "CyclerImport", "ImportReport",
    "detect_format", "export_csv", "export_jsonld", "export_parquet", "import_files",
    "import_parquet", "read_cycler_file",
]
