"""tasks.rollup_workbook: the official-layout roll-up workbook equals the warehouse roll-up."""
from __future__ import annotations

import random
from decimal import Decimal

import openpyxl
import pytest

from tasks import spec
from tasks.coverage import load_roster
from tasks.dq_layout import layouts
from tasks.load import RunInfo, load_batch, open_warehouse
from tasks.model import Finding, SourceFile
from tasks.rollup import rollup, values
from tasks.rollup_workbook import sheets, write_workbook
from tests.factories import make_report


def balanced(seed: int) -> dict:
    """200 cells that pass every identity."""
    rnd = random.Random(seed)
    v: dict = {}
    k = spec.key
    for col in spec.APPLICANT_COLUMNS:
        for row in spec.OUTCOME_ROWS:
            v[k("requests", row, col)] = rnd.randint(0, 3)
        total = sum(v[k("requests", row, col)] for row in spec.OUTCOME_ROWS)
        fwd, over = rnd.randint(0, 2), rnd.randint(0, 2)
        v[k("requests", "total", col)] = total
        v[k("requests", "carried_forward", col)] = fwd
        v[k("requests", "carried_over", col)] = min(over, total + fwd)
        v[k("requests", "new", col)] = total + fwd - v[k("requests", "carried_over", col)]
    for row in spec.REQUEST_ROWS:
        v[k("requests", row, "total")] = sum(v[k("requests", row, c)] for c in spec.APPLICANT_COLUMNS)
    for g in spec.APPEAL_GROUPS:
        parts = [rnd.randint(0, 2) for _ in spec.APPEAL_PARTS]
        for p, x in zip(spec.APPEAL_PARTS, parts):
            v[k("appeals", "cases", f"{g}_{p}")] = x
        v[k("appeals", "cases", f"{g}_total")] = sum(parts)
    for row, cols in spec.PROACTIVE_ROWS.items():
        for c in cols:
            v[k("proactive", row, c)] = Decimal(rnd.randint(0, 9999)) / 100 if c == "amount" \
                else rnd.randint(0, 20)
    return v


def rep(name, agency, region, seed, year=2024, **over):
    vals = balanced(seed)
    vals.update(over)
    r = make_report(vals, name=name, agency=agency, year=year)
    r.region_code = region
    return r


NEW = "requests.new.total"
REPORTS = [
    rep("a", "湘潭县教育局", "430321", 1),
    rep("b", "湘潭县财政局", "430321", 2, **{"requests.new.commercial": None}),   # a blank
    rep("c", "湘乡市教育局", "430381", 3),
    rep("d", "湘潭市人民政府", "430300", 4),
    rep("e", "长沙县教育局", "430121", 5),
    rep("old", "湘潭县教育局", "430321", 6, year=2023),
]
ERROR = Finding("requests.balance", "error", "violated", [NEW], 1, 2, "x")
ROSTER = """agency,region_code,level,category,email
湘潭县教育局,430321,county,department,a@example.gov.cn
湘潭县财政局,430321,county,department,b@example.gov.cn
湘潭县审计局,430321,county,department,c@example.gov.cn
湘乡市教育局,430381,county,department,d@example.gov.cn
湘潭市人民政府,430300,city,government,e@example.gov.cn
长沙县教育局,430121,county,department,f@example.gov.cn
"""


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    d = tmp_path_factory.mktemp("wb")
    con = open_warehouse(d / "w.duckdb")
    files = [SourceFile(r.file, r.sha256, 1, "txt") for r in REPORTS]
    load_batch(con, RunInfo("r1"), files, REPORTS, {REPORTS[2].sha256: [ERROR]})   # c: error
    (d / "roster.csv").write_text(ROSTER, encoding="utf-8")
    load_roster(con, d / "roster.csv")
    yield d, con
    con.close()


def table_cells(ws) -> dict[str, object]:
    """key → value of every data cell drawn on a sheet (positions from tasks.dq_layout)."""
    titles = {ws.cell(r, 1).value: r for r in range(1, ws.max_row + 1)}
    out = {}
    for lay in layouts():
        base = titles[lay.title] + 1
        for s in lay.slots:
            if s.key:
                out[s.key] = ws.cell(base + s.row, 1 + s.col)
    return out


def text_of(ws) -> str:
    return "\n".join(str(c.value) for row in ws.iter_rows() for c in row if c.value is not None)


def test_sheets_in_order_and_numbers_equal_the_sql_rollup(wh):
    d, con = wh
    path, content = write_workbook(con, d / "all.xlsx", year=2024, level="county")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["湖南省", "长沙市", "湘潭市", "长沙县", "湘潭县", "湘乡市"]
    for sh, ws in zip(content, wb.worksheets):
        frame = rollup(con, year=2024, level=sh.level, region=sh.region_code)
        col = {"province": "province_code", "city": "city_code", "county": "county_code"}[sh.level]
        want = values(frame.filter(frame["region_code"] == sh.region_code), **{col: sh.region_code})
        cells = table_cells(ws)
        assert set(cells) == set(spec.KEYS_2021)
        for key, cell in cells.items():
            v = want[key]
            assert cell.value == (None if v is None else
                                  (int(v) if v == int(v) else float(v))), (ws.title, key)
    # province: all five 2024 reports; 湘潭市 sheet: its own government + both counties
    nums = table_cells(wb["湖南省"])
    assert nums[NEW].value == sum(r.value(NEW) for r in REPORTS if r.year == 2024)
    assert table_cells(wb["湘潭市"])[NEW].value == sum(
        r.value(NEW) for r in REPORTS[:4])


def test_official_layout_merged_headers(wh):
    d, con = wh
    path, _ = write_workbook(con, d / "layout.xlsx", year=2024, level="province")
    ws = openpyxl.load_workbook(path)["湖南省"]
    titles = {ws.cell(r, 1).value: r for r in range(1, ws.max_row + 1)}
    top = titles["三、收到和处理政府信息公开申请情况"] + 1
    merged = {str(m) for m in ws.merged_cells.ranges}
    # the 3×3 note, 申请人情况 over 7 columns, 法人或其他组织 over 5, 办理结果 over 22 rows
    assert f"A{top}:C{top + 2}" in merged and "勾稽关系" in ws.cell(top, 1).value
    assert f"D{top}:J{top}" in merged and ws.cell(top, 4).value == "申请人情况"
    assert f"E{top + 1}:I{top + 1}" in merged and ws.cell(top + 1, 5).value == "法人或其他组织"
    assert f"A{top + 5}:A{top + 26}" in merged and ws.cell(top + 5, 1).value == "三、本年度办理结果"
    t4 = titles["四、政府信息公开行政复议、行政诉讼情况"] + 1
    assert f"A{t4}:E{t4}" in merged and f"F{t4}:O{t4}" in merged


def test_blanks_are_not_zeros(wh):
    d, con = wh
    key = "requests.new.commercial"
    p1, _ = write_workbook(con, d / "sum.xlsx", year=2024, level="county", blanks="sum")
    p2, _ = write_workbook(con, d / "empty.xlsx", year=2024, level="county", blanks="empty")
    s1 = table_cells(openpyxl.load_workbook(p1)["湘潭县"])[key]
    s2 = table_cells(openpyxl.load_workbook(p2)["湘潭县"])[key]
    others = REPORTS[0].value(key)                       # b left it blank
    assert s1.value == others and "1 份报告此格空白" in s1.comment.text
    assert s1.fill.fgColor.rgb.endswith("E0E0E0")
    assert s2.value is None and f"其余报告合计 {others}" in s2.comment.text
    assert "合计只加填有数字的报告" in text_of(openpyxl.load_workbook(p1)["湘潭县"])
    assert "即不显示数字" in text_of(openpyxl.load_workbook(p2)["湘潭县"])
    # a cell nobody left blank has no comment
    assert table_cells(openpyxl.load_workbook(p1)["湘潭县"])[NEW].comment is None


def test_failing_reports_and_coverage_are_stated(wh):
    d, con = wh
    inc = {s.region_code: s for s in sheets(con, 2024, "county", failing="include")}
    exc = {s.region_code: s for s in sheets(con, 2024, "county", failing="exclude")}
    assert (inc["430000"].included, inc["430000"].with_errors) == (5, 1)
    assert (exc["430000"].included, exc["430000"].excluded) == (4, 1)
    assert exc["430381"].included == 0 and exc["430381"].excluded_reports[0]["agency"] == "湘乡市教育局"
    assert exc["430000"].values[NEW] == inc["430000"].values[NEW] - REPORTS[2].value(NEW)
    assert [m["agency"] for m in inc["430321"].missing] == ["湘潭县审计局"]
    assert inc["430321"].roster_size == 3 and inc["430000"].roster_size == 6
    path, _ = write_workbook(con, d / "exc.xlsx", year=2024, level="county", failing="exclude")
    txt = text_of(openpyxl.load_workbook(path)["湖南省"])
    assert "纳入汇总的报告：4 份" in txt and "剔除的报告（有错误）：1 份" in txt
    assert "未报送（名单中本年度无报告的机关）：1 个，名单共 6 个机关" in txt
    assert "湘潭县审计局" in txt and "未计入合计" in txt


def test_a_duplicate_is_never_summed(tmp_path):
    from tasks.crosscheck import crosscheck

    con = open_warehouse(tmp_path / "w.duckdb")
    a, copy = rep("a", "湘潭县教育局", "430321", 1), rep("a-copy", "湘潭县 教育局", "430321", 1)
    load_batch(con, RunInfo("r1", started=1_700_000_000), [SourceFile("a.txt", a.sha256, 1, "txt")],
               [a], {})
    load_batch(con, RunInfo("r2", started=1_700_000_100),
               [SourceFile("a-copy.txt", copy.sha256, 1, "txt")], [copy], {})
    crosscheck(con, None)
    for failing in ("include", "exclude"):
        (prov, *_) = sheets(con, 2024, "province", failing=failing)
        assert (prov.included, prov.duplicates, prov.excluded, prov.with_errors) == (1, 1, 0, 0)
        assert prov.values[NEW] == a.value(NEW)
    path, _ = write_workbook(con, tmp_path / "dup.xlsx", year=2024, level="province")
    assert "重复报告（同一机关同一年度的另一份，未采用）：1 份，不计入合计" in text_of(
        openpyxl.load_workbook(path)["湖南省"])
    con.close()


def test_region_and_year_options(wh):
    d, con = wh
    content = sheets(con, None, "county", region="湘潭市")        # latest year: 2024
    assert [(s.level, s.short_name) for s in content] == [("city", "湘潭市"), ("county", "湘潭县"),
                                                          ("county", "湘乡市")]
    # a region with roster agencies but no report of that year still gets its sheet
    old = sheets(con, 2023, "city")
    assert [(s.short_name, s.included, len(s.missing)) for s in old] == [
        ("湖南省", 1, 5), ("长沙市", 0, 1), ("湘潭市", 1, 4)]
    with pytest.raises(ValueError):
        write_workbook(con, d / "none.xlsx", year=1999)
