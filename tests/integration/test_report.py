"""The campaign report on a real SQLite store: a finished campaign (real SPM and lab-cell runs, a model),
one still running, one without results; every figure's numbers against what the store holds, and the CLI.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from plotly.offline import get_plotlyjs

from interphase.report import ReportFiles, build_report
from interphase.report.content import ReportContent, report_content
from interphase.report.figures import cost_figure, discovery_figure, predicted_figure, timeline_figure
from interphase.report.latent import project_2d
from interphase.store import Store, StoredResult
from support.campaign_records import (
    HORIZON,
    LAB,
    RETENTION,
    SPM,
    STOP_AFTER_CYCLE,
    WrittenCampaign,
    campaign_spec,
    write_campaign,
    write_empty_campaign,
)
from support.cli import cli

pytestmark = pytest.mark.timeout(300)

FINISHED, RUNNING, EMPTY = "sei-report", "sei-running", "sei-empty"
SECTION_TITLES = ("Discovery curve", "Cost by source", "Decision timeline", "Predicted against observed",
                  "Calibration", "Latent map", "Final candidates", "Decisions")
PNG_STEMS = ("discovery", "cost", "timeline", "predicted", "calibration", "latent")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Fixture:
    db: Path
    store: Store
    written: WrittenCampaign
    reports: dict[str, ReportFiles]


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Fixture:
    folder = tmp_path_factory.mktemp("report")
    db = folder / "interphase.db"
    store = Store(str(db))
    store.init()
    written = write_campaign(store, FINISHED, with_model=True)
    write_campaign(store, RUNNING, finished=False)
    write_empty_campaign(store, EMPTY)
    reports = {name: build_report(store, name, folder / "reports" / name)
               for name in (FINISHED, RUNNING, EMPTY)}
    try:
        yield Fixture(db, store, written, reports)
    finally:
        store.close()


@pytest.fixture(scope="module")
def content(fx: Fixture) -> ReportContent:
    return report_content(fx.store, FINISHED)


def html_of(fx: Fixture, name: str) -> str:
    return fx.reports[name].html.read_text(encoding="utf-8")


def retention(stored: StoredResult) -> float | None:
    values = [o.value for o in stored.result.observations
              if o.observable == RETENTION and math.isclose(o.index, HORIZON)]
    return values[-1] if values else None


def clock(stored: StoredResult, key: str) -> float:
    return float(stored.result.metadata["campaign_clock"][key])


# ------------------------------------------------------------------ the page


@pytest.mark.parametrize("name", [FINISHED, RUNNING, EMPTY])
def test_html_is_self_contained_with_the_bundle_once(fx: Fixture, name: str) -> None:
    html = html_of(fx, name)
    bundle = get_plotlyjs()
    assert html.count(bundle[:2000]) == 1 and bundle[-2000:] in html
    assert '<script src="http' not in html and "<script src=" not in html and 'src="http' not in html
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")


@pytest.mark.parametrize("name", [FINISHED, RUNNING, EMPTY])
def test_every_section_title_is_present(fx: Fixture, name: str) -> None:
    html = html_of(fx, name)
    for title in SECTION_TITLES:
        assert f"<h2>{title}</h2>" in html, title
    assert f"<h1>Campaign {name}</h1>" in html


def test_header_names_world_strategy_and_status(fx: Fixture) -> None:
    html = html_of(fx, FINISHED)
    verified_h = fx.written.verified_h
    assert verified_h is not None and fx.written.verified_design_id is not None
    assert "<dd>sei-life</dd>" in html and "<dd>interphase</dd>" in html and "<dd>verified</dd>" in html
    assert f"Verified design {fx.written.verified_design_id[:8]}" in html
    assert f"after {verified_h:.4g} simulated hours" in html
    assert f"<dd>{verified_h:.4g} h simulated</dd>" in html
    assert " of 2000 h</dd>" in html  # lab hours against the run configuration's budget
    running = html_of(fx, RUNNING)
    assert "<dd>not finished</dd>" in running


def test_figures_are_embedded_for_a_finished_campaign(fx: Fixture) -> None:
    html = html_of(fx, FINISHED)
    for stem in PNG_STEMS:
        assert f'id="figure-{stem}"' in html, stem
    assert 'class="empty"' not in html


# ------------------------------------------------------------------ figures against the store


def test_discovery_curve_is_the_best_verified_objective_so_far(fx: Fixture, content: ReportContent) -> None:
    results = fx.store.list_results(campaign=FINISHED)
    met = sorted((clock(s, "finished_h"), retention(s)) for s in results
                 if s.result.metadata.get("meets_target") is True)
    assert len(met) == 3  # the first hit, the late design and the replicate
    hours = [h for h, _ in met]
    best = list(np.maximum.accumulate([v for _, v in met]))
    assert content.discovery.met.hours == pytest.approx(hours)
    assert content.discovery.met.best == pytest.approx(best)
    full = [s for s in results if s.result.source == LAB and s.result.cycles_run == HORIZON
            and s.result.status.value == "succeeded"]
    assert len(content.discovery.all_runs.hours) == len(full) == 4
    assert min(content.discovery.all_runs.values) < campaign_spec("x").target.bounds[0].lower  # a miss
    verified = [d for d in fx.store.list_decisions(FINISHED) if d.chosen["kind"] == "verified"]
    assert content.discovery.verified_h == pytest.approx(verified[0].chosen["clock_h"])
    figure = discovery_figure(content)
    assert figure is not None
    traced = {t.name: t for t in figure.data}
    assert list(traced["best run that met the target"].y) == pytest.approx(best)
    assert list(traced["best run that met the target"].x) == pytest.approx(hours)
    assert [s.x0 for s in figure.layout.shapes] == pytest.approx([verified[0].chosen["clock_h"]])


def test_cost_by_source_sums_the_stored_costs(fx: Fixture, content: ReportContent) -> None:
    expected: dict[str, tuple[float, float]] = {}
    for stored in fx.store.list_results(campaign=FINISHED):
        lab, cpu = expected.get(stored.result.source, (0.0, 0.0))
        expected[stored.result.source] = (lab + stored.result.cost.lab_hours,
                                          cpu + stored.result.cost.cpu_seconds / 3600.0)
    got = {c.source: (c.lab_hours, c.cpu_hours) for c in content.costs}
    assert set(got) == set(expected) == {SPM, LAB}
    for source, (lab, cpu) in expected.items():
        assert got[source] == pytest.approx((lab, cpu))
    assert expected[LAB][0] > 100 and expected[SPM][1] > 0
    figure = cost_figure(content)
    assert figure is not None
    assert list(figure.data[0].y) == pytest.approx([got[c.source][0] for c in content.costs])
    assert list(figure.data[1].y) == pytest.approx([got[c.source][1] for c in content.costs])


def test_timeline_puts_each_run_on_a_free_lane_and_marks_the_stop(fx: Fixture,
                                                                   content: ReportContent) -> None:
    results = fx.store.list_results(campaign=FINISHED)
    assert len(content.bars) == len(results) == 11
    by_request = {s.request_id: s for s in results}
    for bar in content.bars:
        stored = by_request[bar.request_id]
        assert (bar.started_h, bar.finished_h) == (clock(stored, "started_h"), clock(stored, "finished_h"))
    for source, most in ((LAB, 4), (SPM, 2)):  # four channels, two CPU workers
        lanes = {b.lane for b in content.bars if b.source == source}
        assert lanes == set(range(len(lanes))) and len(lanes) <= most
        for lane in lanes:
            spans = sorted((b.started_h, b.finished_h) for b in content.bars
                           if (b.source, b.lane) == (source, lane))
            assert all(end <= start + 1e-9 for (_, end), (start, _) in zip(spans, spans[1:], strict=False))
    (stop,) = content.stops
    assert stop.request_id == fx.written.stopped_request_id and stop.after_cycle == STOP_AFTER_CYCLE
    stopped = by_request[stop.request_id]
    assert stopped.result.status.value == "stopped" and stopped.result.cycles_run == STOP_AFTER_CYCLE
    figure = timeline_figure(content)
    assert figure is not None and "stopped early" in {t.name for t in figure.data}


def test_predicted_against_observed_pairs_forecasts_with_results(fx: Fixture, content: ReportContent) -> None:
    results = {s.request_id: s for s in fx.store.list_results(campaign=FINISHED)}
    expected = []
    for decision in fx.store.list_decisions(FINISHED):
        if decision.chosen["kind"] not in ("launch", "replicate"):
            continue
        for run in decision.chosen["runs"]:
            forecast = run["predicted"].get(RETENTION)
            observed = retention(results[run["request_id"]]) if run["request_id"] in results else None
            if forecast and observed is not None:
                expected.append((run["request_id"], forecast["mean"], forecast["q05"], forecast["q95"],
                                 observed))
    assert len(expected) == 4  # lab tests with a forecast that reached the last cycle (not failed, stopped)
    got = [(p.request_id, p.mean, p.quantiles[0.05], p.quantiles[0.95], p.observed) for p in content.pairs]
    assert got == expected
    figure = predicted_figure(content)
    assert figure is not None
    (lab,) = [t for t in figure.data if t.name == LAB]
    assert list(lab.x) == [e[4] for e in expected] and list(lab.y) == [e[1] for e in expected]
    assert list(lab.error_y.array) == pytest.approx([e[3] - e[1] for e in expected])
    assert list(lab.error_y.arrayminus) == pytest.approx([e[1] - e[2] for e in expected])


def test_calibration_is_the_share_inside_the_90_percent_interval(content: ReportContent) -> None:
    inside = [p.quantiles[0.05] <= p.observed <= p.quantiles[0.95] for p in content.pairs]
    (point,) = content.coverage
    assert point.level == pytest.approx(0.9) and point.n == len(inside) == 4
    assert point.observed == pytest.approx(sum(inside) / len(inside))


def test_final_candidates_come_from_the_finished_decision(fx: Fixture, content: ReportContent) -> None:
    (finished,) = [d for d in fx.store.list_decisions(FINISHED) if d.chosen["kind"] == "finished"]
    stored = finished.chosen["candidates"]
    assert [c.design_id for c in content.candidates] == [c["design_id"] for c in stored]
    assert [c.observed for c in content.candidates] == [c["observed"][RETENTION] for c in stored]
    assert [c.verified for c in content.candidates] == [c["design_id"] == fx.written.verified_design_id
                                                        for c in stored]
    html = html_of(fx, FINISHED)
    assert "<th>Ambient temperature [°C]</th>" in html and "<th>Initial SEI thickness [nm]</th>" in html
    first = content.candidates[0]
    celsius = first.design["Ambient temperature [K]"] - 273.15
    assert f"<td>{celsius:.3g}</td>" in html
    assert f"<td>{first.design['Initial SEI thickness [m]'] * 1e9:.3g}</td>" in html


def test_candidates_before_the_end_are_the_best_full_length_designs(fx: Fixture) -> None:
    running = report_content(fx.store, RUNNING)
    worst: dict[str, float] = {}
    for stored in fx.store.list_results(campaign=RUNNING):
        value = retention(stored)
        if stored.result.source == LAB and stored.result.status.value == "succeeded" and value is not None:
            worst[stored.design_id] = min(value, worst.get(stored.design_id, math.inf))
    ranked = sorted(worst.items(), key=lambda item: -item[1])[:5]
    assert [(c.design_id, c.observed) for c in running.candidates] == ranked
    verified = [d for d in fx.store.list_decisions(RUNNING) if d.chosen["kind"] == "verified"]
    assert [c.design_id for c in running.candidates if c.verified] == [verified[0].chosen["design_id"]]


def test_decision_table_lists_every_decision(fx: Fixture, content: ReportContent) -> None:
    decisions = fx.store.list_decisions(FINISHED)
    assert [r.kind for r in content.decisions] == [d.chosen["kind"] for d in decisions]
    assert [r.kind for r in content.decisions] == ["launch", "launch", "launch", "stop", "replicate",
                                                   "verified", "finished"]
    html = html_of(fx, FINISHED)
    for decision in decisions:
        assert decision.reason in html
    stop = next(r for r in content.decisions if r.kind == "stop")
    assert stop.sources == LAB and f"stopped after cycle {STOP_AFTER_CYCLE}" in stop.designs[0]


def test_latent_map_encodes_the_designs_with_the_newest_model(fx: Fixture, content: ReportContent) -> None:
    import torch

    from interphase.models.surrogate import Surrogate

    latent = content.latent
    assert latent is not None and latent.model_sha256 == fx.written.model_sha256
    designs = fx.store.list_designs(FINISHED)
    assert latent.design_ids == [d.id for d in designs] and latent.xy.shape == (len(designs), 2)
    surrogate = Surrogate.load(fx.store, fx.written.model_sha256)
    with torch.no_grad():
        x, x_mask = surrogate.features.encode([d.design for d in designs])
        codes, _ = surrogate.ensemble.members[0].encode(x, x_mask)
    centred = codes.numpy().astype(float) - codes.numpy().astype(float).mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    expected = centred @ vt[:2].T
    for column in range(2):  # a principal axis has no sign
        sign = np.sign(expected[:, column] @ latent.xy[:, column])
        np.testing.assert_allclose(latent.xy[:, column], sign * expected[:, column], atol=1e-6)
    assert set(latent.source) == {LAB}  # every design reached the lab, the highest fidelity
    running = report_content(fx.store, RUNNING)
    assert running.latent is None and "no latent map" in running.latent_note


def test_project_2d_gives_uncorrelated_axes_by_variance(rng: np.random.Generator) -> None:
    codes = rng.normal(size=(40, 5)) * np.array([3.0, 1.0, 0.5, 0.2, 0.1])
    xy, (first, second) = project_2d(codes)
    assert xy.shape == (40, 2) and abs(float(xy[:, 0] @ xy[:, 1])) < 1e-8
    assert xy[:, 0].var() >= xy[:, 1].var() and 1.0 >= first >= second > 0
    assert project_2d(np.ones((1, 3)))[0].tolist() == [[0.0, 0.0]]
    one_d, shares = project_2d(np.arange(6.0).reshape(6, 1))
    assert one_d[:, 1].tolist() == [0.0] * 6 and shares == pytest.approx((1.0, 0.0))


# ------------------------------------------------------------------ PNG copies


def test_png_copies_exist_and_are_valid(fx: Fixture) -> None:
    from matplotlib.image import imread

    files = fx.reports[FINISHED]
    assert [p.stem for p in files.pngs] == list(PNG_STEMS)
    for path in files.pngs:
        assert path.parent == files.html.parent and path.read_bytes()[:8] == PNG_SIGNATURE
        pixels = imread(path)
        assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 200
        assert float(pixels[..., :3].std()) > 0.01  # something was drawn
        assert f'href="{path.name}"' in html_of(fx, FINISHED)
    assert [p.stem for p in fx.reports[RUNNING].pngs] == [s for s in PNG_STEMS if s != "latent"]


# ------------------------------------------------------------------ campaigns without results


def test_a_campaign_without_results_says_so(fx: Fixture) -> None:
    files = fx.reports[EMPTY]
    assert files.pngs == () and not list(files.html.parent.glob("*.png"))
    html = html_of(fx, EMPTY)
    assert "No results yet" in html and "Traceback" not in html
    assert html.count('class="empty"') == len(SECTION_TITLES)
    assert "No model is stored for this campaign" in html
    assert "<dd>trial-and-error</dd>" in html


def test_rebuilding_removes_png_copies_the_page_no_longer_shows(fx: Fixture, tmp_path: Path) -> None:
    out = tmp_path / "again"
    out.mkdir()
    (out / "discovery.png").write_bytes(PNG_SIGNATURE)
    files = build_report(fx.store, EMPTY, out)
    assert files.pngs == () and not (out / "discovery.png").exists() and files.html == out / "report.html"


def test_text_from_the_store_is_escaped_and_a_missing_configuration_is_noted(fx: Fixture,
                                                                              tmp_path: Path) -> None:
    fx.store.create_campaign(campaign_spec("sei-bare"))
    fx.store.log_decision("sei-bare", {"kind": "launch", "clock_h": 0.0, "resource": "cpu", "runs": []}, [],
                          "<script>alert(1)</script> & more")
    html = build_report(fx.store, "sei-bare", tmp_path / "bare").html.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert "no run configuration stored" in html and "<dd>unknown</dd>" in html


# ------------------------------------------------------------------ the command


def test_cli_writes_the_report_and_prints_its_path(fx: Fixture, tmp_path: Path) -> None:
    out = tmp_path / "cli-report"
    result = cli(fx.db, "report", FINISHED, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out / "report.html")
    assert (out / "report.html").is_file() and {p.stem for p in out.glob("*.png")} == set(PNG_STEMS)


def test_cli_default_folder_is_reports_campaign(fx: Fixture, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli(fx.db, "report", EMPTY)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(Path("reports") / EMPTY / "report.html")
    assert (tmp_path / "reports" / EMPTY / "report.html").is_file()


def test_cli_unknown_campaign_exits_2_with_one_line(fx: Fixture, tmp_path: Path) -> None:
    out = tmp_path / "never"
    result = cli(fx.db, "report", "no-such-campaign", "--out", str(out))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no campaign named 'no-such-campaign'" in lines[0] and FINISHED in lines[0]
    assert "Traceback" not in result.output and not out.exists()


def test_importing_the_report_package_loads_no_plotting_or_model_stack() -> None:
    code = ("import json, sys\nimport interphase.report\n"
            "print(json.dumps(sorted(m for m in ('plotly', 'matplotlib', 'torch') if m in sys.modules)))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=100,
                               check=True)
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == []
