"""What is wrong with a SQLite database path, said in words a user can act on.

SQLite reports most problems with a path as ``unable to open database file`` or
``file is not a database``. Neither says whether the folder is missing, the file
system is read-only, permission is lacking, or the file is an image. These checks
look at the path itself, so the store can refuse it up front, or explain a failure,
with the one cause that applies. None of these causes goes away on a retry.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

SQLITE_MAGIC = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file."""
_KNOWN_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an .xlsx/.docx file)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"PAR1", "a Parquet file"),
    (b"BIO-LOGIC", "a BioLogic .mpr file"),
)


def describe_content(head: bytes) -> str:
    """Name what a file that is not a database looks like, from its first bytes.

    Args:
        head: The first bytes of the file (16 or more).

    Returns:
        A phrase such as ``"a PNG image"`` or ``"text"``.
    """
    for magic, name in _KNOWN_MAGIC:
        if head.startswith(magic):
            return name
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "binary data of another kind"
    return "text"


def sqlite_path_problem(path: Path, *, create: bool) -> str | None:
    """Check a SQLite database path before it is opened.

    Args:
        path: The database file (absolute).
        create: Whether the command may create a missing file (``db init``, ``run``).

    Returns:
        What is wrong, naming the path or its folder; None when the path can be opened.
        A missing file that may not be created is reported by the caller, which knows
        which command creates it.
    """
    if path.is_dir():
        return f"{path} is a folder; give the path of a database file"
    folder = path.parent
    if not folder.exists():
        return f"folder {folder} does not exist; create it first or choose another path"
    if not folder.is_dir():
        return f"{folder} is not a folder"
    if path.exists():
        if not path.is_file():
            return f"{path} is not a regular file"
        try:
            with path.open("rb") as handle:
                head = handle.read(len(SQLITE_MAGIC))
        except PermissionError:
            return f"permission denied reading {path}"
        except OSError as exc:
            return f"cannot read {path} ({os.strerror(exc.errno or errno.EIO)})"
        if head and head != SQLITE_MAGIC:
            return f"{path} is not a SQLite database; it holds {describe_content(head)}"
        return None
    if create:
        return write_problem(folder)
    return None


def write_problem(folder: Path) -> str | None:
    """Say why files cannot be written in ``folder`` (read-only file system, permission), if so.

    SQLite also writes its ``-wal`` and ``-shm`` files beside the database, so a
    database in a folder that cannot be written cannot be used even for reading.

    Args:
        folder: The database file's folder.

    Returns:
        The cause, or None when the folder can be written.
    """
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return f"folder {folder} is on a read-only file system"
    except OSError:
        return None
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"permission denied writing in folder {folder}"
    return None
