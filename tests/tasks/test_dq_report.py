"""Data-quality reports: view model, official layout, HTML/PDF/XLSX, province summary.

The batch is the five real seeds plus copies with planted defects, validated once by the real
GX suites (`tasks.validate.validate`) and loaded into a real DuckDB warehouse.
"""
from __future__ import annotations

import copy
import hashlib
import subprocess
from dataclasses import replace
from functools import cache
from pathlib import Path

import pytest

from tasks import spec
from tasks.dq_layout import REQUESTS_NOTE, layouts
from tasks.dq_report import (RosterEntry, generate_from_views, generate_reports,
                             load_roster, read_index, render_html, render_pdf,
                             views_from_reports, write_report_xlsx)
from tasks.dq_view import FIX, PASS, UNCHECKABLE, build_view, load_view, verdict_of
from tasks.model import Finding, Provenance, SourceFile, Status
from tests.conftest import SEEDS

ROOT = Path(__file__).resolve().parents[2]
PLANTED_MSG = "自然人列：本年新收 3 + 上年结转 1 ≠ 总计 3 + 结转下年度 0，相差 1"


# ------------------------------------------------------------------------------ the batch
def _copy(report, tag: str, agency: str | None = None):
    r = copy.deepcopy(report)
    r.sha256 = hashlib.sha256(f"{report.sha256}:{tag}".encode()).hexdigest()
    r.file = f"{Path(report.file).with_suffix('')}-{tag}.txt"
    for c in r.cells.values():
        if c.source is not None:
            c.source = replace(c.source, file=r.file)
    if agency is not None:
        r.agency = agency
    return r


@cache
def build_batch():
    """(files, reports, findings, named reports): seeds + planted defects, validated by GX."""
    from tasks.extract import extract_file
    from tasks.validate import validate

    exs = [extract_file(p) for p in sorted(SEEDS.glob("*.txt"))]
    files = [e.source for e in exs]
    seeds = [e.report for e in exs]
    by_prefix = {Path(r.file).name[:3]: r for r in seeds}

    planted = _copy(by_prefix["003"], "planted")         # 湘潭县数据局 2024: 自然人 本年新收 2 → 3
    assert planted.cells["requests.new.natural_person"].value == 2
    planted.cells["requests.new.natural_person"].value = 3
    planted.cells["requests.new.natural_person"].source = replace(
        planted.cells["requests.new.natural_person"].source, text="3")
    planted.agency = "湘潭县数据局"
    planted.year = 2023

    uncertain = _copy(by_prefix["000"], "uncertain", agency="湘潭县人民政府办公室")
    uncertain.cells["requests.granted.commercial"].status = Status.UNCERTAIN

    no_appeals = _copy(by_prefix["000"], "noappeals", agency="湘潭市人民政府办公室")
    no_appeals.region_code = "430300"
    no_appeals.tables_found = ["proactive", "requests"]
    for k in spec.KEYS_2021:
        if k.startswith("appeals."):
            no_appeals.cells[k].value = None
            no_appeals.cells[k].status = Status.BLANK
            no_appeals.cells[k].source = None

    reports = seeds + [planted, uncertain, no_appeals]
    for r in (planted, uncertain, no_appeals):
        files.append(SourceFile(r.file, r.sha256, 1000, "txt"))
    findings = validate(reports)
    named = {"pass": by_prefix["000"], "blank": by_prefix["001"], "noagency": by_prefix["002"],
             "planted": planted, "uncertain": uncertain, "noappeals": no_appeals}
    return files, reports, findings, named


@cache
def _warehouse_file(tmpdir: str) -> str:
    from tasks.load import RunInfo, load_batch, open_warehouse

    files, reports, findings, _ = build_batch()
    path = str(Path(tmpdir) / "wh.duckdb")
    con = open_warehouse(path)
    load_batch(con, RunInfo("test-dq"), files, reports, findings)
    con.close()
    return path


@pytest.fixture(scope="module")
def batch():
    return build_batch()


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    return _warehouse_file(str(tmp_path_factory.mktemp("dqwh")))


@pytest.fixture(scope="module")
def con(wh):
    from tasks.load import open_warehouse

    c = open_warehouse(wh, read_only=True)
    yield c
    c.close()


def view_of(batch, name: str):
    _, _, findings, named = batch
    r = named[name]
    return build_view(r, findings[r.sha256])


# -------------------------------------------------------------------------------- layout
def test_layout_holds_each_key_once_and_tiles_the_grid():
    keys = [k for t in layouts() for k in t.keys()]
    assert sorted(keys) == sorted(spec.KEYS_2021)
    for t in layouts():
        seen: set[tuple[int, int]] = set()
        for s in t.slots:
            for r in range(s.row, s.row + s.rowspan):
                for c in range(s.col, s.col + s.colspan):
                    assert (r, c) not in seen, (t.table, r, c)
                    seen.add((r, c))
        assert len(seen) == t.n_rows * t.n_cols, t.table


def test_layout_merges_as_in_the_official_format():
    proactive, requests, appeals = layouts()
    by_text = {s.text: s for s in requests.slots if s.key is None}
    note = by_text[REQUESTS_NOTE]
    assert (note.row, note.col, note.rowspan, note.colspan) == (0, 0, 3, 3)
    assert by_text["申请人情况"].colspan == 7
    assert by_text["法人或其他组织"].colspan == 5
    assert by_text["三、本年度办理结果"].rowspan == 22          # 21 outcome rows + （七）总计
    assert by_text["（三）不予公开"].rowspan == 8
    assert by_text["（六）其他处理"].rowspan == 3
    a = {s.text: s for s in appeals.slots if s.key is None and s.row < 2}
    assert a["行政复议"].colspan == 5 and a["行政诉讼"].colspan == 10
    assert a["结果维持"].rowspan == 2                            # 行政复议's heads span two rows
    fee = next(s for s in proactive.slots if s.key == "proactive.fees.amount")
    assert fee.colspan == 3


# ------------------------------------------------------------------------------- verdict
def test_verdicts_on_real_and_planted_reports(batch):
    assert view_of(batch, "pass").verdict == PASS
    v = view_of(batch, "planted")
    assert v.verdict == FIX
    assert any(f.message == PLANTED_MSG for f in v.errors)
    assert view_of(batch, "blank").verdict == UNCHECKABLE          # 上年结转 总计 is blank
    assert view_of(batch, "uncertain").verdict == UNCHECKABLE
    v = view_of(batch, "noappeals")
    assert v.verdict == UNCHECKABLE and "表四" in v.verdict_reason
    assert view_of(batch, "noagency").verdict == FIX               # agency not named


def test_verdict_rules_from_findings_alone():
    tables = list(spec.TABLES)
    err = Finding("requests.balance", "error", "violated", [], 1, 2, "x")
    nc = Finding("requests.balance", "warning", "not_checkable", [], None, None, "y")
    hint = Finding("proactive.in_force_floor", "warning", "violated", [], 1, 0, "z")
    missing = Finding("report.table_missing", "error", "missing", [], None, None, "未找到表格")
    assert verdict_of([], tables, "2021")[0] == PASS
    assert verdict_of([hint], tables, "2021")[0] == PASS
    assert verdict_of([nc, hint], tables, "2021")[0] == UNCHECKABLE
    assert verdict_of([err, nc], tables, "2021")[0] == FIX
    assert verdict_of([missing], tables[:2], "2021")[0] == UNCHECKABLE
    assert verdict_of([], tables, "2019")[0] == UNCHECKABLE


def test_view_marks_cells_and_keeps_blank_blank(batch):
    v = view_of(batch, "planted")
    c = v.cells["requests.new.natural_person"]
    assert c.error and c.value == 3 and c.findings
    assert c.where == "第97行 表格2 第4行 第2列"
    assert v.cells["requests.new.commercial"].error           # in the violated 本年新收 row total
    untouched = v.cells["requests.granted.research"]
    assert not (untouched.error or untouched.warning or untouched.findings)
    blank = view_of(batch, "blank").cells["requests.carried_over.total"]
    assert blank.status == "blank" and blank.value is None and blank.text == ""
    inferred = build_view(*_seed004(batch))
    assert inferred.cells["requests.new.natural_person"].status == "inferred"


def _seed004(batch):
    _, reports, findings, _ = batch
    r = next(r for r in reports if Path(r.file).name.startswith("004"))
    return r, findings[r.sha256]


def test_fix_list_names_what_to_correct(batch):
    v = view_of(batch, "planted")
    assert any(PLANTED_MSG in f for f in v.fixes)
    v = view_of(batch, "blank")
    assert [f for f in v.fixes if "空白" in f] == [
        "填写空白单元格（没有发生的事项填 0；空白不计为 0，含空白的等式无法核对）：表三 上年结转：总计 为空白。"]
    v = view_of(batch, "noagency")
    assert any("机关全称" in f for f in v.fixes)


# ----------------------------------------------------------------------------- warehouse
def test_view_from_warehouse_matches_in_memory(batch, con):
    _, reports, findings, _ = batch
    for r in reports:
        mem = build_view(r, findings[r.sha256])
        db = load_view(con, r.sha256)
        assert db.verdict == mem.verdict, r.file
        assert [f.message for f in db.findings] == [f.message for f in mem.findings]
        for k in spec.KEYS_2021:
            a, b = mem.cells[k], db.cells[k]
            assert (a.text, a.status, a.where) == (b.text, b.status, b.where), (r.file, k)
        assert db.content_hash() == mem.content_hash(), r.file


# ---------------------------------------------------------------------------------- HTML
def _doc(html: str):
    import lxml.html

    return lxml.html.fromstring(html)


def test_html_report_content(batch):
    v = view_of(batch, "planted")
    html = render_html(v)
    for text in ("湘潭县数据局：", "2023年度", v.sha256, v.file, "核查结论：需更正", PLANTED_MSG,
                 "表三收支平衡", "本年新收 + 上年结转", "需要更正的事项", REQUESTS_NOTE,
                 "第97行 表格2 第4行 第2列"):
        assert text in html, text
    doc = _doc(html)
    td = doc.xpath('//td[@data-key="requests.new.natural_person"]')[0]
    assert "err" in td.get("class") and td.text_content() == "3"
    assert "第97行" in td.get("title")
    ok = doc.xpath('//td[@data-key="requests.granted.research"]')[0]
    assert "err" not in ok.get("class")
    note = doc.xpath('//th[contains(., "本列数据的勾稽关系")]')[0]
    assert (note.get("rowspan"), note.get("colspan")) == ("3", "3")
    group = doc.xpath('//td[text()="三、本年度办理结果"]')[0]
    assert group.get("rowspan") == "22"
    assert not doc.xpath("//script")                          # agency pages carry no script


def test_html_marks_blank_inferred_uncertain(batch):
    doc = _doc(render_html(view_of(batch, "blank")))
    td = doc.xpath('//td[@data-key="requests.carried_over.total"]')[0]
    assert "st-blank" in td.get("class") and td.text_content() == ""     # blank is not 0
    doc = _doc(render_html(build_view(*_seed004(batch))))
    assert "st-inferred" in doc.xpath('//td[@data-key="requests.new.natural_person"]')[0].get("class")
    doc = _doc(render_html(view_of(batch, "uncertain")))
    td = doc.xpath('//td[@data-key="requests.granted.commercial"]')[0]
    assert "st-uncertain" in td.get("class") and "warn" in td.get("class")


# ----------------------------------------------------------------------------------- PDF
def test_pdf_renders_the_chinese_text(batch, tmp_path):
    v = view_of(batch, "planted")
    pdf = render_pdf(render_html(v), tmp_path / "r.pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-"
    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
    assert "NotoSansCJK" in fonts.replace("-", "") or "Noto-Sans-CJK" in fonts
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    squashed = "".join(text.split())
    for t in ("政府信息公开工作年度报告数据核查意见", "核查结论：需更正", "".join(PLANTED_MSG.split()),
              "三、收到和处理政府信息公开申请情况", "结转下年度继续办理", "附录"):
        assert t in squashed, t
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "page")], check=True)
    png = next(tmp_path.glob("page*.png"))
    assert png.stat().st_size > 5000


# ---------------------------------------------------------------------------------- XLSX
def test_xlsx_findings_tables_and_sources(batch, tmp_path):
    from openpyxl import load_workbook

    v = view_of(batch, "planted")
    wb = load_workbook(write_report_xlsx(v, tmp_path / "r.xlsx"))
    assert wb.sheetnames == ["核查结论", "问题清单", "表格核对", "数据来源"]
    ws = wb["问题清单"]
    assert ws.max_row == 1 + len(v.findings)
    assert ws.auto_filter.ref.startswith("A1:")
    assert PLANTED_MSG in [ws.cell(r, 6).value for r in range(2, ws.max_row + 1)]
    ws = wb["表格核对"]
    merged = {str(m) for m in ws.merged_cells.ranges}
    # 表二: title on row 1, rows 2-15; 表三: title on row 18, rows 19-46.
    assert "A19:C21" in merged                       # the 3×3 identity note
    assert "A24:A45" in merged                       # 三、本年度办理结果 over 22 rows
    assert ws["D22"].value == 3 and ws["D22"].fill.fgColor.rgb.endswith("FFCDD2")
    assert ws["E24"].value == 0 and ws["E24"].fill.fgColor.rgb in (None, "00000000")
    ws = wb["数据来源"]
    rows = {ws.cell(r, 1).value: r for r in range(2, ws.max_row + 1)}
    r = rows["requests.new.natural_person"]
    assert (ws.cell(r, 3).value, ws.cell(r, 6).value, ws.cell(r, 10).value) == (3, 97, "3")
    wb = load_workbook(write_report_xlsx(view_of(batch, "blank"), tmp_path / "b.xlsx"))
    ws = wb["数据来源"]
    r = next(i for i in range(2, ws.max_row + 1) if ws.cell(i, 1).value == "requests.carried_over.total")
    assert ws.cell(r, 3).value is None and ws.cell(r, 4).value == "空白"


# ------------------------------------------------------------------------------- summary
def test_province_summary(batch, tmp_path):
    _, reports, findings, named = batch
    roster = load_roster(ROOT / "examples" / "roster.csv")
    views = views_from_reports(reports, findings, roster)
    res = generate_from_views(views, tmp_path, roster=roster, pdf=False)
    s = res.summary
    assert len(s.rows) == len(reports)
    assert s.verdicts[FIX] == 2 and s.verdicts[UNCHECKABLE] == 3 and s.verdicts[PASS] == 3
    assert s.rows[0].verdict == FIX                               # worst first
    zh = next(r for r in s.rows if r.agency == "湛河区工信局")     # abbreviated in the report
    assert zh.in_roster and zh.email == "gxj410411@example.gov.cn"  # roster: 湛河区工业和信息化局
    missing = {(m.agency, m.year) for m in s.missing}
    assert ("湘潭县教育局", 2024) in missing
    assert ("湘潭县数据局", 2024) not in missing and ("湘潭县数据局", 2025) in missing
    assert ("湛河区工业和信息化局", 2025) not in missing
    rules = {r[0]: r for r in s.by_rule}
    assert rules["requests.balance"][3] >= 1
    xt = next(g for g in s.by_region if g["county"] == "湘潭县")
    assert xt["city"] == "湘潭市" and xt["reports"] >= 3 and xt["missing"] >= 1
    assert any(g["county"] == "市本级" and g["city"] == "湘潭市" for g in s.by_region)
    html = Path(res.summary_html).read_text(encoding="utf-8")
    doc = _doc(html)
    assert doc.xpath('//table[@id="agencies" and contains(@class, "sortable")]')
    assert "addEventListener" in html and "localeCompare" in html
    links = doc.xpath('//table[@id="agencies"]//a/@href')
    assert links and all((tmp_path / href).exists() for href in links)
    from openpyxl import load_workbook

    wb = load_workbook(res.summary_xlsx)
    assert wb.sheetnames == ["机关核查结果", "按规则", "按市县", "未报送机关"]
    for ws in wb.worksheets:
        assert ws.auto_filter.ref, ws.title
    assert wb["未报送机关"].max_row == 1 + len(s.missing)


def test_generate_from_warehouse_and_skip_unchanged(wh, con, tmp_path):
    roster = load_roster(ROOT / "examples" / "roster.csv")
    res = generate_reports(con, tmp_path, roster=roster, pdf=False)
    assert res.rendered == len(res.reports) == 8 and res.reused == 0
    index = read_index(tmp_path)
    assert {r.sha256 for r in index} == {r.sha256 for r in res.reports}
    assert all(Path(r.html).exists() and Path(r.xlsx).exists() for r in index)
    again = generate_reports(con, tmp_path, roster=roster, pdf=False)
    assert again.rendered == 0 and again.reused == 8
    assert [r.report_hash for r in again.reports] == [r.report_hash for r in res.reports]
    only = generate_reports(con, tmp_path / "y2024", year=2024, pdf=False)
    assert {r.year for r in only.reports} == {2024}


def test_report_hash_changes_with_the_findings(batch):
    _, _, findings, named = batch
    r = named["planted"]
    a = build_view(r, findings[r.sha256]).content_hash()
    b = build_view(r, findings[r.sha256][:1]).content_hash()
    assert a != b
    assert build_view(r, list(findings[r.sha256])).content_hash() == a


def test_provenance_of_a_pdf_cell_is_described():
    p = Provenance("x.pdf", page=4, table=1, row=6, col=2, text="12")
    assert p.describe() == "第4页 表格2 第7行 第3列"


def test_roster_csv(tmp_path):
    bad = tmp_path / "r.csv"
    bad.write_text("name,mail\nx,y\n", encoding="utf-8")
    with pytest.raises(ValueError, match="agency"):
        load_roster(bad)
    ok = tmp_path / "ok.csv"
    ok.write_text("\ufeffagency,region_code,level,category,email\n 某局 ,430321,county,department,a@b.cn\n",
                  encoding="utf-8")
    assert load_roster(ok) == [RosterEntry("某局", "430321", "county", "department", "a@b.cn")]




def test_the_warehouse_roster_is_used_when_none_is_given(batch, tmp_path):
    from tasks.coverage import load_roster as load_roster_into
    from tasks.load import RunInfo, load_batch, open_warehouse

    files, reports, findings, _ = batch
    con = open_warehouse(str(tmp_path / "wh.duckdb"))
    try:
        load_batch(con, RunInfo("test-roster"), files, reports, findings)
        res = generate_reports(con, tmp_path / "out", pdf=False)
        assert res.summary.roster_size is None and not res.summary.missing
        load_roster_into(con, ROOT / "examples" / "roster.csv")
        dup = batch[3]["uncertain"].sha256          # as tasks.crosscheck flags a second copy
        con.execute("INSERT INTO raw_findings (sha256, seq, rule, severity, kind, cells, message)"
                    " VALUES (?, 999, 'report.duplicate', 'error', 'violated', '[]', '重复')", [dup])
        res = generate_reports(con, tmp_path / "out", pdf=False)
    finally:
        con.close()
    assert dup not in {r.sha256 for r in res.reports} and len(res.reports) == len(reports) - 1
    assert res.summary.roster_size == 7
    assert ("湘潭县教育局", 2024) in {(m.agency, m.year) for m in res.summary.missing}
    by_agency = {r.agency: r for r in res.summary.rows}
    assert by_agency["湛河区工信局"].email == "gxj410411@example.gov.cn"


def test_agency_names_cannot_break_out_of_the_page(batch):
    v = view_of(batch, "planted")
    v.agency = '某局"}</style><script>alert(1)</script><b>'
    doc = _doc(render_html(v))
    assert not doc.xpath("//script")
    assert '<b>' not in doc.xpath("//style")[0].text
    assert v.agency in doc.text_content()                      # shown as text, escaped


def test_rendering_on_a_process_pool_gives_the_same_files(batch, tmp_path):
    _, reports, findings, _ = batch
    views = views_from_reports(reports, findings)[:4]              # POOL_MIN: the pool is used
    seq = generate_from_views(views, tmp_path / "seq", pdf=False)
    par = generate_from_views(views, tmp_path / "par", pdf=False, workers=2)
    assert par.rendered == len(views)
    assert [r.report_hash for r in par.reports] == [r.report_hash for r in seq.reports]
    assert [Path(r.html).name for r in par.reports] == [Path(r.html).name for r in seq.reports]
    for a, b in zip(seq.reports, par.reports):
        assert Path(a.html).read_text(encoding="utf-8") == Path(b.html).read_text(encoding="utf-8")


def test_blank_cells_are_grouped_in_the_fix_list(batch):
    r = copy.deepcopy(batch[3]["pass"])              # an agency that filled only 总计
    findings = []
    for row in spec.REQUEST_ROWS:
        keys = [spec.key("requests", row, c) for c in spec.APPLICANT_COLUMNS]
        for k in keys:
            r.cells[k].value, r.cells[k].status = None, Status.BLANK
        findings.append(Finding("cells.blank", "warning", "blank", keys, None, None, f"{row} 空白"))
    r.cells["appeals.cases.review_total"].value = None
    r.cells["appeals.cases.review_total"].status = Status.BLANK
    findings.append(Finding("cells.blank", "warning", "blank", ["appeals.cases.review_total"],
                            None, None, "表四 空白"))
    v = build_view(r, findings)
    assert v.fixes == ["填写空白单元格（没有发生的事项填 0；空白不计为 0，含空白的等式无法核对）："
                       "表三 本年新收、上年结转、予以公开等 25 行：自然人、商业企业、科研机构、社会公益组织、"
                       "法律服务机构、其他 为空白；表四：行政复议总计 为空白。"]
