"""The example of ``docs/tabulated-source.md`` runs as written: its table and world, from the page itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from interphase.schema import Design, ResultStatus
from interphase.sources import world_source
from interphase.sources.world import load_world
from support.cli import cli, counts

pytestmark = pytest.mark.timeout(120)

PAGE = Path(__file__).resolve().parents[2] / "docs" / "tabulated-source.md"
BLOCK = re.compile(r"^```(\w+) (\S+)\n(.*?)^```", re.MULTILINE | re.DOTALL)
RESISTANCE = "Resistance [Ohm]"


def files_of_the_page(folder: Path) -> dict[str, Path]:
    """Write every fenced block that names a file (```yaml name.yaml) into ``folder``."""
    written = {}
    for _, name, body in BLOCK.findall(PAGE.read_text(encoding="utf-8")):
        path = folder / name
        path.write_text(body, encoding="utf-8")
        written[name] = path
    return written


def test_the_documented_world_builds_and_answers_the_documented_values(tmp_path: Path) -> None:
    written = files_of_the_page(tmp_path)
    assert sorted(written) == ["separator-world.yaml", "separators.csv"]
    world = load_world(written["separator-world.yaml"])
    source = world_source(world, "separator-lab")
    assert source.channels == 2
    assert source.design_space.bounds_si() == {"thickness [m]": pytest.approx((10e-6, 30e-6)),
                                               "porosity": pytest.approx((0.2, 0.6))}
    measured = Design(values={"thickness [m]": 10e-6, "porosity": 0.2})
    expected = {round(o.index, 6): o for o in source.expected(measured)}
    assert sorted(expected) == [298.15, 318.15]
    assert expected[298.15].value == pytest.approx(0.100, rel=1e-12)  # (101 + 99) / 2 mOhm
    assert expected[318.15].value == pytest.approx(0.081, rel=1e-12)
    assert expected[298.15].std == pytest.approx(0.002)
    result = source.run(measured, world.protocol, seed=1)
    assert result.status is ResultStatus.SUCCEEDED
    assert result.cost.lab_hours == 3.0
    for observation in result.observations:
        assert observation.observable == RESISTANCE and observation.unit == "ohm"
        assert abs(observation.value - expected[round(observation.index, 6)].value) < 5 * 0.002


def test_the_documented_commands_work_from_another_folder(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    files_of_the_page(docs)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the table path is relative to the world file, not to here
    db = tmp_path / "docs.db"
    assert cli(db, "db", "init").exit_code == 0
    shown = cli(None, "world", "show", "../docs/separator-world.yaml")
    assert shown.exit_code == 0, shown.output
    assert "its own channels" in shown.output and "2 (the source's channels)" in shown.output
    ran = cli(db, "source", "run", "separator-lab", "--world", "../docs/separator-world.yaml",
              "--design", "thickness [m]=10 um", "--design", "porosity=0.2", "--seed", "1")
    assert ran.exit_code == 0, ran.output
    assert RESISTANCE in ran.output and "succeeded" in ran.output
    assert counts(db)["results"] == 1
