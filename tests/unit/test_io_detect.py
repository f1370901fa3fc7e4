"""Telling a cycler file's format from its content and extension."""

from __future__ import annotations

from pathlib import Path

import pytest

from interphase.schema import InvalidInputError
from interphase.store.io import IMPORT_FORMATS, detect_format
from interphase.store.io.detect import ALLOWED_FORMATS_TEXT, ARBIN_COLUMNS

ARBIN_HEADER = (",".join(("Data_Point", "Test_Time", *ARBIN_COLUMNS)).encode()
                + b"\n1,0,1,1,1,1,1,1\n")


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("cell.csv", ARBIN_HEADER, "arbin"),
    ("cell.CSV", b"\xef\xbb\xbf" + ARBIN_HEADER, "arbin"),  # BOM, upper-case extension
    ("export.txt", ARBIN_HEADER, "arbin"),  # content wins over an odd extension
    ("run.001", b"anything", "maccor"),
    ("run.127", b"anything", "maccor"),
    ("cell_C01.mpr", b"garbage", "biologic"),
    ("no_extension", b"BIO-LOGIC MODULAR FILE\x1a rest", "biologic"),
])
def test_detects(tmp_path: Path, name: str, data: bytes, expected: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    assert detect_format(path) == expected


@pytest.mark.parametrize(("name", "data", "fragment"), [
    ("cell.csv", b"a,b,c\n1,2,3\n", "lacks the Arbin columns"),
    ("cell.csv", b"\x00\x01\x02\xff" * 10, "not a text CSV"),
    ("cell.xlsx", b"PK\x03\x04", "not a recognised cycler file"),
    ("run.01", b"1\t2\n", "not a recognised cycler file"),
    ("empty.csv", b"", "empty"),
])
def test_rejects_naming_file_and_formats(tmp_path: Path, name: str, data: bytes,
                                         fragment: str) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InvalidInputError) as caught:
        detect_format(path)
    assert caught.value.field == str(path)
    assert fragment in caught.value.problem
    assert ALLOWED_FORMATS_TEXT in caught.value.problem


def test_import_formats_are_declared() -> None:
    from interphase.store.io import EXPORT_FORMATS

    assert IMPORT_FORMATS == ("auto", "arbin", "maccor", "biologic", "csv", "parquet")
    assert EXPORT_FORMATS == ("parquet", "jsonld", "csv")


@pytest.mark.parametrize(("data", "header_lines", "expected"), [
    (b"a,b\n", 1, False),
    (b"a,b", 1, False),
    (b"a,b\r\n\r\n  \n", 1, False),
    (b"a,b\n1,2", 1, True),
    (b"title\ncols\n", 2, False),
    (b"title\ncols\n1\t2\n", 2, True),
])
def test_has_data_rows(data: bytes, header_lines: int, expected: bool) -> None:
    from interphase.store.io.detect import has_data_rows

    assert has_data_rows(data, header_lines) is expected


def test_count_rows_leaves_out_the_header() -> None:
    from interphase.store.io.detect import count_rows

    assert count_rows(b"h\n1\n2\n", "arbin") == 2
    assert count_rows(b"h\n1\n2", "csv") == 2
    assert count_rows(b"t\nh\n1\n", "maccor") == 1
