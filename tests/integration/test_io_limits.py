"""Files over the import limits are refused before parsing, with the file and the limit named."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest
from typer.testing import CliRunner

from interphase.cli.main import app
from interphase.schema import InvalidInputError
from interphase.store import Store
from interphase.store.io import limits, read_cycler_file

pytestmark = pytest.mark.timeout(60)

ARBIN = Path(str(files("interphase").joinpath("data/cyclers/arbin_example.csv")))


def test_limits_are_a_few_hundred_mib_and_millions_of_rows() -> None:
    assert limits.MAX_FILE_BYTES == 256 * 1024**2
    assert limits.MAX_ROWS == 3_000_000


def test_oversized_file_is_refused_by_the_cli_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "big.csv"
    with big.open("wb") as handle:  # sparse: 300 MiB on paper, nothing on disk
        handle.write(ARBIN.read_bytes()[:4096])
        handle.truncate(300 * 1024**2)
    db = tmp_path / "store.db"
    Store(str(db)).init()
    before = Store(str(db)).counts()
    result = CliRunner().invoke(app, ["--db", str(db), "import", str(ARBIN), str(big)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: {big}: is 300.0 MiB; the import limit is 256 MiB "
                                     "per file (split the export by cycle)")
    assert Store(str(db)).counts() == before


def test_too_many_rows_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_ROWS", 1000)  # the example has 2142 rows
    with pytest.raises(InvalidInputError) as caught:
        read_cycler_file(ARBIN)
    assert caught.value.field == str(ARBIN)
    assert caught.value.problem.startswith("has 2142 rows; the import limit is 1000 rows")
