"""A database path that cannot work is named with its cause, and read-only commands create nothing."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import cli

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder holding an initialised store, remounted read-only (needs mount rights)."""
    writable = tmp_path / "writable"
    writable.mkdir()
    assert cli(writable / "cells.db", "db", "init").exit_code == 0
    frozen = tmp_path / "frozen"
    frozen.mkdir()
    mount = shutil.which("mount")
    if mount is None:
        pytest.skip("no mount command to make a read-only file system")
    bound = subprocess.run([mount, "--bind", str(writable), str(frozen)], capture_output=True)
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bound.stderr.decode().strip()}")
    try:
        remount = subprocess.run([mount, "-o", "remount,ro,bind", str(frozen)], capture_output=True)
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only here: {remount.stderr.decode().strip()}")
        yield frozen
    finally:
        subprocess.run(["umount", str(frozen)], check=True)


@pytest.mark.parametrize("argv", [("db", "init"), ("db", "info"), ("ls", "records"),
                                  ("import", "{arbin}")])
def test_a_read_only_file_system_is_named_and_no_retry_is_promised(read_only_folder: Path,
                                                                   argv: tuple[str, ...]) -> None:
    from importlib.resources import files

    arbin = str(files("interphase").joinpath("data/cyclers/arbin_example.csv"))
    result = cli(read_only_folder / "cells.db", *(a.format(arbin=arbin) for a in argv))
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        f"error: --db: folder {read_only_folder} is on a read-only file system"]


def test_a_new_store_on_a_read_only_file_system_is_refused_up_front(read_only_folder: Path) -> None:
    result = cli(read_only_folder / "new.db", "db", "init")
    assert result.exit_code == 2
    assert "read-only file system" in result.stderr and "retry" not in result.stderr


@pytest.mark.parametrize("argv", [("db", "info"), ("db", "migrate"), ("ls", "records"),
                                  ("ls", "campaigns"), ("export", "--format", "csv", "--out", "x.csv")])
def test_read_only_commands_never_create_a_store(tmp_path: Path, argv: tuple[str, ...],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    mistyped = tmp_path / "stroe.db"
    result = cli(mistyped, *argv)
    assert result.exit_code == 2, result.output
    assert "stroe.db does not exist; check the path" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_db_init_still_creates_the_store(tmp_path: Path) -> None:
    result = cli(tmp_path / "new.db", "db", "init")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "new.db").read_bytes().startswith(b"SQLite format 3\x00")
    info = cli(tmp_path / "new.db", "db", "info")
    assert info.exit_code == 0 and "(up to date)" in info.stdout
