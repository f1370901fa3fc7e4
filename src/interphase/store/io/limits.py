"""Size limits on imported files.

Every reader parses a whole file in memory (pandas, battdat and galvani all do), and
battdat's summarisers copy the table a few times over, so a file's size bounds the
memory an import takes: about ten times the file. The limits keep one import within
a few GB and are refused before parsing, with the file and the limit named.
"""

from __future__ import annotations

from pathlib import Path

from interphase.schema import InvalidInputError

MAX_FILE_BYTES = 256 * 1024**2
"""Largest file an import reads: 256 MiB."""

MAX_ROWS = 3_000_000
"""Most data rows (lines of a text file, records of a ``.mpr``) an import parses."""


def check_file_size(path: Path, size_bytes: int) -> None:
    """Refuse a file over :data:`MAX_FILE_BYTES`.

    Args:
        path: The file, named in the error.
        size_bytes: Its size in bytes.

    Raises:
        InvalidInputError: ``field`` is the path; the message gives both sizes.

    """
    if size_bytes > MAX_FILE_BYTES:
        raise InvalidInputError(
            str(path), f"is {size_bytes / 1024**2:.1f} MiB; the import limit is "
                       f"{MAX_FILE_BYTES / 1024**2:.0f} MiB per file (split the export by cycle)")


def check_row_count(path: Path, n_rows: int) -> None:
    """Refuse a file with more than :data:`MAX_ROWS` data rows.

    Args:
        path: The file, named in the error.
        n_rows: Its number of data rows (an upper bound is enough).

    Raises:
        InvalidInputError: ``field`` is the path; the message gives both counts.

    """
    if n_rows > MAX_ROWS:
        raise InvalidInputError(
            str(path), f"has {n_rows} rows; the import limit is {MAX_ROWS} rows per file "
                       "(split the export by cycle)")
