"""The CLI end to end on real SQLite files and the packaged cycler files."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest
import yaml
from typer.testing import Result

from interphase.store import Store
from interphase.store.migrate import head_revision
from support.cli import cli, counts

pytestmark = pytest.mark.timeout(180)

CYCLERS = Path(str(files("interphase").joinpath("data/cyclers")))
ARBIN = CYCLERS / "arbin_example.csv"
MACCOR = CYCLERS / "maccor_example.001"
CAMPAIGN = {
    "name": "sei-screen",
    "design_space": {"variables": [
        {"name": "ambient_temperature", "kind": "continuous", "lower": 10, "upper": 45,
         "unit": "degC"},
        {"name": "additive", "kind": "categorical", "choices": ["none", "VC", "FEC"]},
    ]},
    "protocol": {"steps": ["Charge at 1C until 4.2 V", "Discharge at 1C until 2.5 V"],
                 "n_cycles": 50, "ambient_temperature_k": 298.15},
}
DESIGNS = [
    {"ambient_temperature": "25 degC", "additive": "VC", "label": "cell-01"},
    {"ambient_temperature": 310.0, "additive": "none"},
]



def ok(db: Path | None, *args: str) -> Result:
    result = cli(db, *args)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result



@pytest.fixture(scope="module")
def filled_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with both example files imported, a campaign and two designs."""
    folder = tmp_path_factory.mktemp("filled")
    db = folder / "store.db"
    (folder / "campaign.yaml").write_text(yaml.safe_dump(CAMPAIGN))
    (folder / "designs.yaml").write_text(yaml.safe_dump(DESIGNS))
    ok(db, "db", "init")
    ok(db, "import", str(ARBIN), str(MACCOR))
    ok(db, "campaign", "create", str(folder / "campaign.yaml"))
    ok(db, "design", "add", "sei-screen", str(folder / "designs.yaml"))
    return db


def test_db_init_info_migrate(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    assert head_revision() in ok(db, "db", "init").stdout
    info = ok(db, "db", "info").stdout
    assert "sqlite" in info and "up to date" in info and "observations" in info
    assert "already at schema revision" in ok(db, "db", "migrate").stdout
    assert set(counts(db).values()) == {0}


def test_db_info_reports_an_uninitialised_database(tmp_path: Path) -> None:
    db = tmp_path / "fresh.db"
    sqlite3.connect(db).close()  # an empty database file, as another tool leaves it
    assert "not initialised" in ok(db, "db", "info").stdout


def test_db_migrate_creates_the_schema_in_an_empty_database(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    sqlite3.connect(db).close()
    assert "migrated" in ok(db, "db", "migrate").stdout
    assert Store(str(db)).revision() == head_revision()


def test_commands_refuse_a_missing_database_without_creating_it(tmp_path: Path) -> None:
    db = tmp_path / "absent.db"
    result = cli(db, "ls", "records")
    assert result.exit_code == 2
    assert "does not exist; check the path, or create it with 'interphase db init'" in result.stderr
    assert not db.exists()


def test_import_both_example_files_then_again(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    ok(db, "db", "init")
    first = ok(db, "import", str(ARBIN), str(MACCOR)).stdout
    assert "arbin_example.csv" in first and "maccor_example.001" in first
    assert "2 new, 0 already present" in first
    after_first = counts(db)
    assert after_first["results"] == 2 and after_first["observations"] > 0
    again = ok(db, "import", str(MACCOR), "--format", "maccor").stdout
    assert "0 new, 1 already present" in again
    assert counts(db) == after_first


def test_db_import_and_ls_on_every_backend(database_url: str) -> None:
    """``database_url`` (tests/conftest.py) is a fresh SQLite file or PostgreSQL database."""
    result = cli(None, "--db", database_url, "db", "init")
    assert result.exit_code == 0, result.output
    info = ok(None, "--db", database_url, "db", "info").stdout
    assert "up to date" in info
    assert ok(None, "--db", database_url, "import", str(ARBIN)).stdout.count("1 new") == 1
    assert "cycler-arbin" in ok(None, "--db", database_url, "ls", "records").stdout
    assert "0 new, 1 already present" in ok(None, "--db", database_url, "import", str(ARBIN)).stdout


@pytest.mark.parametrize(("noun", "expected"), [
    ("designs", "cell-01"), ("records", "Records"), ("sources", "Sources"),
    ("campaigns", "sei-screen"),
])
def test_ls_each_noun(filled_db: Path, noun: str, expected: str) -> None:
    assert expected in ok(filled_db, "ls", noun).stdout


def test_ls_records_shows_capacity_and_cycles(filled_db: Path) -> None:
    output = ok(filled_db, "ls", "records").stdout
    assert "last discharge capacity [A.h]" in output
    assert output.count("succeeded") + output.count("stopped") >= 2


def test_ls_filters_by_campaign(filled_db: Path) -> None:
    assert "cell-01" in ok(filled_db, "ls", "designs", "--campaign", "sei-screen").stdout
    assert "no records in campaign 'sei-screen'" in ok(
        filled_db, "ls", "records", "--campaign", "sei-screen").stdout


@pytest.mark.parametrize("fmt", ["parquet", "jsonld", "csv"])
def test_export_each_format(filled_db: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"export-{fmt}"
    ok(filled_db, "export", "--format", fmt, "--out", str(out))
    written = [p for p in out.rglob("*") if p.is_file()] if out.is_dir() else [out]
    assert written and all(p.stat().st_size > 0 for p in written)


def test_parquet_export_imports_into_a_fresh_store(filled_db: Path, tmp_path: Path) -> None:
    ok(filled_db, "export", "--format", "parquet", "--out", str(tmp_path / "bundle"))
    fresh = tmp_path / "fresh.db"
    ok(fresh, "db", "init")
    assert "2 new, 0 already present" in ok(
        fresh, "import", "--format", "parquet", str(tmp_path / "bundle")).stdout
    assert counts(fresh)["observations"] == counts(filled_db)["observations"]


def test_campaign_create_and_design_add_are_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    (tmp_path / "campaign.yaml").write_text(yaml.safe_dump(CAMPAIGN))
    (tmp_path / "designs.json").write_text(json.dumps(DESIGNS))
    ok(db, "db", "init")
    assert "created" in ok(db, "campaign", "create", str(tmp_path / "campaign.yaml")).stdout
    assert "already present" in ok(db, "campaign", "create", str(tmp_path / "campaign.yaml")).stdout
    assert "2 new, 0 already present" in ok(
        db, "design", "add", "sei-screen", str(tmp_path / "designs.json")).stdout
    assert "0 new, 2 already present" in ok(
        db, "design", "add", "sei-screen", str(tmp_path / "designs.json")).stdout
    assert counts(db)["designs"] == 2
    assert "298.15" in ok(db, "ls", "designs").stdout  # "25 degC" stored in SI


def test_demo_prints_a_summary_and_is_idempotent(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("INTERPHASE_DB", raising=False)
    first = ok(None, "demo").stdout
    assert "Example cycler records" in first and "arbin_example.csv" in first
    assert "demo finished in" in first
    db = tmp_path / "interphase.db"  # the default store
    after_first = counts(db)
    assert after_first["results"] == 2
    second = ok(None, "demo").stdout
    assert "0 new, 2 already present" in second
    assert counts(db) == after_first


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    quiet = cli(tmp_path / "absent.db", "ls", "designs")
    loud = cli(None, "--db", str(tmp_path / "absent.db"), "--debug", "ls", "designs")
    assert quiet.exit_code == loud.exit_code == 2
    assert "Traceback" not in quiet.output
    assert "Traceback" in loud.stderr and "NotFoundError" in loud.stderr
    assert loud.stderr.strip().splitlines()[-1].startswith("error: database")


def test_unexpected_errors_exit_1_with_one_line(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> str:
        raise RuntimeError("the migrations folder went missing")

    monkeypatch.setattr("interphase.cli.db.head_revision", broken)
    sqlite3.connect(tmp_path / "store.db").close()
    quiet = cli(tmp_path / "store.db", "db", "info")
    assert quiet.exit_code == 1
    assert quiet.stderr.strip() == ("error: unexpected RuntimeError: the migrations folder went "
                                    "missing; rerun with --debug for the traceback")
    loud = cli(None, "--db", str(tmp_path / "store.db"), "--debug", "db", "info")
    assert loud.exit_code == 1 and "Traceback" in loud.stderr


def _run(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "INTERPHASE_DB": str(tmp_path / "env.db")}
    return subprocess.run(list(args), capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120, check=False)


def test_module_entry_point_exit_codes(tmp_path: Path) -> None:
    init = _run(sys.executable, "-m", "interphase.cli.main", "db", "init", tmp_path=tmp_path)
    assert init.returncode == 0, init.stderr
    assert (tmp_path / "env.db").exists()  # INTERPHASE_DB picked the database
    bad = _run(sys.executable, "-m", "interphase.cli.main", "import", str(tmp_path / "nope.csv"),
               tmp_path=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == f"error: {tmp_path / 'nope.csv'}: file not found"
    assert "Traceback" not in bad.stderr + bad.stdout


def test_installed_script_reports_usage_errors(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("interphase")
    if not script.exists():
        pytest.skip("the interphase console script is not installed next to this Python")
    bad = _run(str(script), "export", "--format", "xlsx", tmp_path=tmp_path)
    assert bad.returncode == 2
    assert "'xlsx' is not one of 'parquet', 'jsonld', 'csv'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
    assert "Usage" in _run(str(script), "--help", tmp_path=tmp_path).stdout
