"""Telling a cycler file's format, and rejecting files no reader could parse.

Checks here are cheap (extension, magic bytes, header columns) and run before the
readers, so a wrong file fails with the missing column names instead of a
reader's traceback. Every error's field is the file path and its message names
the allowed formats.
"""

from __future__ import annotations

import re
from pathlib import Path

from interphase.schema import InvalidInputError

CYCLER_FORMATS = ("arbin", "maccor", "biologic")
ALLOWED_FORMATS_TEXT = ("allowed formats: arbin (.csv with Arbin columns), "
                        "maccor (.NNN, e.g. .001), biologic (.mpr)")
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
    """Fail early, with the missing column names, on a file the reader would choke on."""
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
    """Read a whole file, refusing a missing or empty one.

    Raises:
        InvalidInputError: Naming the file.

    """
    if not path.is_file():
        raise bad_file(path, "does not exist or is not a file")
    data = path.read_bytes()
    if not data:
        raise bad_file(path, "is empty (0 bytes)")
    return data


def bad_file(path: Path, problem: str) -> InvalidInputError:
    """Build the error for an unusable file: its path as field, the allowed formats named."""
    return InvalidInputError(str(path), f"{problem}; {ALLOWED_FORMATS_TEXT}")
