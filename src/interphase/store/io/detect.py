"""Telling a cycler file's format, and rejecting files no reader could parse.

Checks here are cheap (extension, magic bytes, header columns) and run before the
readers, so a wrong file fails with the missing column names instead of a
reader's traceback. Every error's field is the file path and its message names
the allowed formats. A generic CSV (``csv``) is never guessed: it needs a column
map, so it is read only when asked for.
"""

from __future__ import annotations

import re
from pathlib import Path

from interphase.schema import InvalidInputError
from interphase.store.io.limits import check_file_size

CYCLER_FORMATS = ("arbin", "maccor", "biologic")
ALLOWED_FORMATS_TEXT = ("allowed formats: arbin (.csv with Arbin columns), "
                        "maccor (.NNN, e.g. .001), biologic (.mpr), "
                        "csv (any CSV, with --format csv and a column map)")
HEADER_LINES = {"arbin": 1, "csv": 1, "maccor": 2}
"""Lines before the first data row, per text format."""
_NON_BLANK = re.compile(rb"\S")
ARBIN_COLUMNS = ("Cycle_Index", "DateTime", "Current", "Voltage", "Temperature",
                 "Internal_Resistance")
MACCOR_COLUMNS = ("Cyc#", "Test (Min)", "Amps", "Volts", "State")
_MPR_MAGIC = b"BIO-LOGIC MODULAR FILE"


def detect_format(path: str | Path, data: bytes | None = None) -> str:
    """Tell the cycler format from a file's content and extension.

    BioLogic's magic bytes or ``.mpr`` mean biologic; a three-digit extension
    (``.001``) means maccor; a first line holding Arbin's columns means arbin.

    Args:
        path: The file.
        data: Its bytes, when already read.

    Returns:
        One of :data:`CYCLER_FORMATS`.

    Raises:
        InvalidInputError: If the format cannot be told; the message names the allowed ones.

    """
    file_path = Path(path)
    data = read_bytes(file_path) if data is None else data
    suffix = file_path.suffix.lower()
    if data.startswith(_MPR_MAGIC) or suffix == ".mpr":
        return "biologic"
    if re.fullmatch(r"\.\d{3}", suffix):
        return "maccor"
    header = _text_line(data, 0, "utf-8-sig")
    if header is not None and not _missing(ARBIN_COLUMNS, header.split(",")):
        return "arbin"
    if suffix == ".csv":
        check_header(file_path, data, "arbin")
    raise bad_file(file_path, f"is not a recognised cycler file (extension {suffix or 'none'!r}); "
                              "pass fmt to name the format")


def check_header(path: Path, data: bytes, fmt: str) -> None:
    """Fail early, with the missing column names, on a file the reader would choke on.

    Also refuses a text file with a header but no data rows.

    Raises:
        InvalidInputError: Naming the file; the message says what is missing.

    """
    if fmt == "csv" and _text_line(data, 0, "utf-8-sig") is None and _text_line(
            data, 0, "latin-1") is None:
        raise bad_file(path, "is not a text CSV file")
    if fmt == "arbin":
        header = _text_line(data, 0, "utf-8-sig")
        if header is None:
            raise bad_file(path, "is not a text CSV file, so it cannot be an Arbin export")
        missing = _missing(ARBIN_COLUMNS, header.split(","))
        if missing:
            raise bad_file(path, f"CSV header lacks the Arbin columns {', '.join(missing)}")
    elif fmt == "maccor":
        header = _text_line(data, 1, "iso-8859-1")
        missing = _missing(MACCOR_COLUMNS, (header or "").split("\t"))
        if missing:
            raise bad_file(path, f"second line lacks the Maccor columns {', '.join(missing)}")
    header_lines = HEADER_LINES.get(fmt)
    if header_lines is not None and not has_data_rows(data, header_lines):
        raise bad_file(path, "has a header but no data rows")


def has_data_rows(data: bytes, header_lines: int) -> bool:
    """Whether anything but blanks follows the first ``header_lines`` lines."""
    start = 0
    for _ in range(header_lines):
        end = data.find(b"\n", start)
        if end < 0:
            return False
        start = end + 1
    return _NON_BLANK.search(data, start) is not None


def count_rows(data: bytes, fmt: str) -> int:
    """Data rows of a text file, blank lines included, counted without parsing."""
    return data.count(b"\n") + (not data.endswith(b"\n")) - HEADER_LINES.get(fmt, 0)


def _text_line(data: bytes, number: int, encoding: str) -> str | None:
    lines = data[:65536].splitlines()
    if len(lines) <= number or b"\x00" in lines[number]:
        return None
    try:
        return lines[number].decode(encoding).strip()
    except UnicodeDecodeError:
        return None


def _missing(required: tuple[str, ...], columns: list[str]) -> list[str]:
    present = {c.strip().strip('"') for c in columns}
    return [c for c in required if c not in present]


def read_bytes(path: Path) -> bytes:
    """Read a whole file, refusing a missing, empty or oversized one.

    Raises:
        InvalidInputError: Naming the file.

    """
    if not path.is_file():
        raise bad_file(path, "does not exist or is not a file")
    check_file_size(path, path.stat().st_size)
    data = path.read_bytes()
    if not data:
        raise bad_file(path, "is empty (0 bytes)")
    return data


def bad_file(path: Path, problem: str) -> InvalidInputError:
    """Build the error for an unusable file: its path as field, the allowed formats named."""
    return InvalidInputError(str(path), f"{problem}; {ALLOWED_FORMATS_TEXT}")
