"""tasks.dashboard: the numbers (= the warehouse roll-up), and the page in a real headless
Chromium (charts drawn as SVG, no script errors, no network)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tasks import spec
from tasks.coverage import load_roster
from tasks.crosscheck import crosscheck
from tasks.dashboard import OUTCOME_NAMES, dashboard_data, figures, render, write_dashboard
from tasks.load import RunInfo, load_batch, open_warehouse
from tasks.model import Finding, SourceFile
from tasks.rollup import rollup, values
from tests.factories import make_report

NEW = "requests.new.total"


def rep(name, agency, region, year, new_np, granted_np, review=0):
    """A balanced report: new_np applications of natural persons, granted_np granted, the rest
    无法提供 (本机关不掌握); `review` administrative reviews, all upheld."""
    k = spec.key
    v = {k("requests", "new", "natural_person"): new_np, k("requests", "new", "total"): new_np,
         k("requests", "granted", "natural_person"): granted_np,
         k("requests", "granted", "total"): granted_np,
         k("requests", "unable_not_held", "natural_person"): new_np - granted_np,
         k("requests", "unable_not_held", "total"): new_np - granted_np,
         k("requests", "total", "natural_person"): new_np, k("requests", "total", "total"): new_np,
         "appeals.cases.review_upheld": review, "appeals.cases.review_total": review}
    r = make_report(v, name=name, agency=agency, year=year)
    r.region_code = region
    return r


REPORTS = [
    rep("a24", "湘潭县教育局", "430321", 2024, 40, 30, review=2),
    rep("b24", "湘乡市教育局", "430381", 2024, 10, 4),
    rep("c24", "长沙县教育局", "430121", 2024, 6, 6, review=1),
    rep("a23", "湘潭县教育局", "430321", 2023, 20, 10),
    rep("b23", "湘乡市教育局", "430381", 2023, 12, 12),
]
ROSTER = """agency,region_code,level,category,email
湘潭县教育局,430321,county,department,a@example.gov.cn
湘乡市教育局,430381,county,department,b@example.gov.cn
湘潭县审计局,430321,county,department,c@example.gov.cn
长沙县教育局,430121,county,department,d@example.gov.cn
"""


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    d = tmp_path_factory.mktemp("dash")
    con = open_warehouse(d / "w.duckdb")
    extra = make_report(name="stray", agency="湘潭县档案馆", year=2024)      # not in the roster
    extra.region_code = "430321"
    reports = [*REPORTS, extra]
    load_batch(con, RunInfo("r1", started=1_700_000_000),
               [SourceFile(r.file, r.sha256, 1, "txt") for r in reports], reports,
               {REPORTS[2].sha256: [Finding("cells.blank", "warning", "blank", [], None, None, "x")]})
    (d / "roster.csv").write_text(ROSTER, encoding="utf-8")
    load_roster(con, d / "roster.csv")
    crosscheck(con, None)
    yield d, con
    con.close()


def test_numbers_come_from_the_rollup(wh):
    d, con = wh
    data = dashboard_data(con)
    assert (data.year, data.province, data.reports) == (2024, "湖南省", 4)
    prov = values(rollup(con, year=2024, level="province"), province_code="430000")
    assert data.outcomes["予以公开"] == float(prov["requests.granted.total"]) == 40
    assert data.outcomes["无法提供"] == 16 and data.outcomes["不予公开"] == 0
    assert list(data.outcomes) == list(OUTCOME_NAMES)
    assert data.applicants["自然人"] == 56 and data.applicants["商业企业"] == 0
    head = {h["key"]: h for h in data.headlines}
    assert (head[NEW]["last"], head[NEW]["this"]) == (32, 56)
    assert head[NEW]["change"] == pytest.approx(75.0)
    cov = {(c["level"], c["name"]): c for c in data.coverage}
    assert cov[("county", "湖南省湘潭市湘潭县")]["missing"] == 1
    assert cov[("city", "湖南省湘潭市")]["roster"] == 3
    assert cov[("city", "湖南省湘潭市")]["rate"] == pytest.approx(200 / 3)
    assert [m["agency"] for m in data.missing] == ["湘潭县审计局"]
    assert [u["agency"] for u in data.unmatched] == ["湘潭县档案馆"]
    xt = next(a for a in data.appeals if a["name"] == "湘潭市")
    assert xt["review_rate"] == pytest.approx(2 / 50 * 100)
    assert xt["corrected_share"] == 0
    # the findings of the year: the one stored (湘潭县教育局 20 → 40 is no 10-fold jump)
    assert [(f["rule"], f["reports"], f["severity"]) for f in data.findings] == [
        ("cells.blank", 1, "warning")]
    assert dashboard_data(con, 2023).headlines[0]["this"] == 32


def test_page_is_self_contained(wh):
    d, con = wh
    page = render(dashboard_data(con))
    assert not re.search(r"<script[^>]+src=", page)               # nothing to fetch
    markup = re.sub(r"<script>.*?</script>", "", page, flags=re.S)   # (plotly.js has URLs in strings)
    assert not re.search(r"""(?:src|href)=["']https?:""", markup)
    assert not re.search(r"<link[^>]+stylesheet", markup)
    assert "plotly.js" in page and page.count("Plotly.newPlot(") == len(figures(dashboard_data(con)))
    assert '<html lang="zh-CN">' in page and "湖南省2024年政府信息公开工作年度报告汇总看板" in page


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000"]


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    if CHROMIUM is None:
        pytest.fail("chromium is not installed (bash scripts/sysdeps.sh)")
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180)


def test_charts_render_in_headless_chromium(wh, tmp_path):
    d, con = wh
    path, data = write_dashboard(con, tmp_path / "dashboard.html")
    n_charts = len(figures(data))
    assert n_charts == 6
    proc = chromium(["--window-size=1300,3200", "--dump-dom", path.as_uri()], tmp_path / "p1")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    # every chart div holds plotly's SVG, drawn by the inlined library
    for fid in ("chart-coverage", "chart-outcomes", "chart-applicants", "chart-yoy",
                "chart-appeals", "chart-findings"):
        m = re.search(rf'<div id="{fid}"[^>]*class="[^"]*js-plotly-plot[^"]*"', dom)
        assert m, f"{fid} not drawn"
    assert dom.count('class="main-svg"') >= n_charts
    assert f'data-charts="{n_charts}"' in dom
    # Chinese labels are in the SVG as text
    assert re.search(r"<text[^>]*>予以公开</text>", dom)
    assert re.search(r"<text[^>]*>湘潭市</text>", dom)
    # no script error reached the page, none on the console
    assert re.search(r'<div id="js-errors"></div>', dom)
    assert "Uncaught" not in proc.stderr
    assert not re.search(r"CONSOLE.*(?:Error|error)", proc.stderr)
    # and a screenshot a person can look at
    shot = tmp_path / "dashboard.png"
    proc = chromium(["--window-size=1300,3200", f"--screenshot={shot}", path.as_uri()],
                    tmp_path / "p2")
    assert proc.returncode == 0 and shot.stat().st_size > 50_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_roster_is_stated(tmp_path):
    con = open_warehouse(tmp_path / "w.duckdb")
    r = REPORTS[0]
    load_batch(con, RunInfo("r"), [SourceFile(r.file, r.sha256, 1, "txt")], [r], {})
    data = dashboard_data(con)
    assert data.roster_size is None and data.coverage == []
    page = render(data)
    assert "未加载机关名单" in page and "chart-coverage" not in page
    con.close()
    with pytest.raises(ValueError):
        dashboard_data(open_warehouse(tmp_path / "empty.duckdb"))


def test_cli_roster_rollup_dashboard(tmp_path):
    """The commands end to end on a warehouse file (flows/cli_rollup.py)."""
    from typer.testing import CliRunner

    from flows.cli import _register, app

    _register()
    w = tmp_path / "w.duckdb"
    con = open_warehouse(w)
    load_batch(con, RunInfo("r1", started=1_700_000_000),
               [SourceFile(r.file, r.sha256, 1, "txt") for r in REPORTS], REPORTS, {})
    con.close()
    (tmp_path / "roster.csv").write_text(ROSTER, encoding="utf-8")
    run = CliRunner().invoke
    res = run(app, ["roster", "load", str(tmp_path / "roster.csv"), "-w", str(w)])
    assert res.exit_code == 0, res.output
    assert "名单已载入：4 个机关" in res.output and "exact 5" in res.output
    res = run(app, ["roster", "status", "-w", str(w), "--year", "2024"])
    assert res.exit_code == 0 and "未报送 1" in res.output and "湘潭县审计局" in res.output
    res = run(app, ["rollup", "-w", str(w), "--level", "city", "--failing", "exclude",
                    "-o", str(tmp_path / "r.xlsx")])
    assert res.exit_code == 0, res.output
    assert "2024年，3 个工作表" in res.output and (tmp_path / "r.xlsx").exists()
    res = run(app, ["rollup", "-w", str(w), "--blanks", "zero"])
    assert res.exit_code != 0                                   # not an option: blank is not 0
    res = run(app, ["dashboard", "-w", str(w), "-o", str(tmp_path / "d.html")])
    assert res.exit_code == 0 and "未报送 1 个机关" in res.output
    res = run(app, ["rollup", "-w", str(tmp_path / "none.duckdb")])
    assert res.exit_code == 2
