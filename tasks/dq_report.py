"""Data-quality reports to the agencies: one HTML + PDF + XLSX per report, and a province summary.

Entry points:

- :func:`write_agency_report` — one :class:`tasks.dq_view.ReportView` → HTML, PDF (WeasyPrint)
  and XLSX in a folder; returns a :class:`ReportFiles` (paths, verdict, report hash).
- :func:`build_summary` / :func:`write_summary` — the province-level quality summary (HTML with
  a sortable table, XLSX with autofilters): every agency with its verdict and finding counts,
  findings by rule and by city/county, roster agencies with no report.
- :func:`generate_reports` — all current reports of a warehouse → the files above plus
  ``index.json`` (what ``nianbao notify`` delivers). Unchanged reports (same report hash, files
  present) are not rendered again.

The view model lives in :mod:`tasks.dq_view`, the official table layout in :mod:`tasks.dq_layout`,
the templates in ``tasks/templates/``.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
import re
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:
    from markupsafe import Markup

from tasks.atomic import atomic_path
from tasks.atomic import write_text as atomic_text
from tasks.coverage import Alias, Matcher, RosterAgency, read_roster, roster_from_warehouse
from tasks.dq_layout import TableLayout, layouts, xlsx_number, xlsx_slot, xlsx_styles
from tasks.dq_view import (FIX, PASS, UNCHECKABLE, VERDICT_CSS, VERDICTS, ReportView, build_view,
                           current_reports, format_number, load_view, rule_explanation,
                           rule_title,
                           source_rows)

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
DEFAULT_OFFICE = "省政务公开办公室"
INDEX_FILE = "index.json"
INDEX_VERSION = 1
MAX_FINDING_CELLS = 12          # cells listed under one finding (the rest are in the appendix)


# ------------------------------------------------------------------------------- roster
# The roster and the agency-name matching rule are tasks.coverage's (one rule everywhere).
RosterEntry = RosterAgency


def load_roster(path: str | Path) -> list[RosterAgency]:
    """Read a roster CSV (agency,region_code,level,category,email; see tasks.coverage)."""
    return read_roster(path)


class RosterLookup:
    """A report's agency → its roster entry, by tasks.coverage's matching rule (exact name,
    region prefix and abbreviations, aliases)."""

    def __init__(self, roster: Iterable[RosterAgency] | None, aliases: Iterable[Alias] = ()):
        self.roster = list(roster or ())
        self._matcher = Matcher(self.roster, aliases)

    def find(self, agency: str | None, region_code: str | None) -> RosterAgency | None:
        m = self._matcher.match(agency, region_code)
        return self._matcher.by_id.get(m.agency_id) if m.agency_id else None


def warehouse_roster(con) -> list[RosterAgency] | None:
    """The roster loaded into the warehouse (tasks.coverage.load_roster), None when empty."""
    have = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'roster'"
                       ).fetchone()[0]
    if not have:
        return None
    roster, _ = roster_from_warehouse(con)
    return roster or None


# ------------------------------------------------------------------------------ rendering
@cache
def _env():
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                             autoescape=jinja2.select_autoescape(["html", "j2"]),
                             trim_blocks=False, lstrip_blocks=False,
                             undefined=jinja2.StrictUndefined)
    env.globals["fmt"] = _fmt_any
    env.filters["css_string"] = css_string
    env.globals["rule_title"] = rule_title
    env.globals["rule_explanation"] = rule_explanation
    return env


def css_string(text: str) -> Markup:
    """A quoted CSS string that cannot end the string or the <style> element."""
    from markupsafe import Markup

    out = []
    for ch in str(text):
        if ch in '"\\<>&' or ord(ch) < 0x20 or ord(ch) == 0x7f:
            out.append(f"\\{ord(ch):x} ")
        else:
            out.append(ch)
    return Markup('"' + "".join(out) + '"')


def _fmt_any(v: Any) -> str:
    if isinstance(v, (int, float, Decimal)):
        return format_number(v)
    return "" if v is None else str(v)


@cache
def _css() -> str:
    return (TEMPLATES / "dq_base.css").read_text(encoding="utf-8")


def _today(generated: _dt.date | None) -> str:
    d = generated or _dt.date.today()
    return f"{d.year}年{d.month}月{d.day}日"


def render_html(view: ReportView, *, office: str = DEFAULT_OFFICE,
                generated: _dt.date | None = None) -> str:
    """The agency's report as a self-contained HTML page (CSS inline, no scripts)."""
    return _env().get_template("dq_report.html.j2").render(
        v=view, css=_css(), office=office, generated=_today(generated),
        report_hash=view.content_hash(), counts=view.status_counts, tables=layouts(),
        max_cells=MAX_FINDING_CELLS, sources=source_rows(view))


def render_pdf(html: str, path: str | Path) -> Path:
    """HTML → PDF with WeasyPrint (needs Debian's pango and a CJK font, see scripts/sysdeps.sh)."""
    from weasyprint import HTML

    path = Path(path)
    with atomic_path(path) as tmp:       # never a half-written PDF under the real name
        HTML(string=html, base_url=str(TEMPLATES)).write_pdf(str(tmp))
    return path


# ---------------------------------------------------------------------------------- XLSX
_FILLS = {
    "err": "FFCDD2", "warn": "FFF6C4", "blank": "E0E0E0", "inferred": "DCE7FA",
    "uncertain": "FFE0B2", "head": "EEF1F5", "label": "FAFAFA",
    PASS: "C8E6C9", FIX: "FFCDD2", UNCHECKABLE: "FFE0B2",
}


def _xl_styles():
    return xlsx_styles(_FILLS, title={"bold": True, "size": 13},
                                 err_font={"bold": True, "color": "8E0000"},
                                 italic={"italic": True, "color": "1F4E9C"})


_xl_number = xlsx_number


def _xl_table(ws, st, rows: list[list[Any]], header: list[str], widths: list[float],
              start_row: int = 1) -> None:
    """A plain list table with a bold header, frozen header row and an autofilter."""
    from openpyxl.utils import get_column_letter

    for j, h in enumerate(header, start=1):
        c = ws.cell(start_row, j, h)
        c.font, c.fill, c.border, c.alignment = st["bold"], st["fill"]["head"], st["border"], st["center"]
    for i, row in enumerate(rows, start=start_row + 1):
        for j, v in enumerate(row, start=1):
            c = ws.cell(i, j, v)
            c.border, c.alignment = st["border"], st["top"]
    for j, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(j)].width = w
    last = get_column_letter(len(header))
    ws.auto_filter.ref = f"A{start_row}:{last}{start_row + max(len(rows), 1)}"
    ws.freeze_panes = ws.cell(start_row + 1, 1)


def _xl_official(ws, st, view: ReportView, layout: TableLayout, top: int) -> int:
    """Draw one official table at row `top` (1-based); returns the next free row."""
    from openpyxl.comments import Comment

    ws.cell(top, 1, layout.title).font = st["title"]
    base = top + 1
    for s in layout.slots:
        cell = xlsx_slot(ws, s, base, st)
        if cell is None:
            continue
        cv = view.cells[s.key]
        cell.value = _xl_number(cv.value)
        cell.alignment = st["center"]
        fill = ("err" if cv.error else "warn" if cv.warning else
                cv.status if cv.status in ("blank", "inferred", "uncertain") else None)
        if fill:
            cell.fill = st["fill"][fill]
        if cv.error:
            cell.font = st["err_font"]
        elif cv.status == "inferred":
            cell.font = st["italic"]
        if cv.error or cv.warning or cv.status != "read":
            cell.comment = Comment(cv.tooltip, "nianbao", width=320, height=110)
    for r in range(base, base + layout.n_rows):
        ws.row_dimensions[r].height = 30 if layout.table == "requests" else 22
    return base + layout.n_rows + 1


def write_report_xlsx(view: ReportView, path: str | Path) -> Path:
    """The agency's findings as a workbook: conclusion, findings, the three tables, sources."""
    from openpyxl import Workbook

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    st = _xl_styles()
    wb = Workbook()
    ws = wb.active
    ws.title = "核查结论"
    info = [("报告机关", view.agency_display), ("报告年度", view.year_display),
            ("所在地区", f"{view.region_name or '未识别'} {view.region_code or ''}".strip()),
            ("来源文件", view.file), ("文件 SHA-256", view.sha256),
            ("核查结论", view.verdict), ("说明", view.verdict_reason),
            ("错误", len(view.errors)), ("提示", len(view.hints)),
            ("核查编号", view.content_hash())]
    ws.cell(1, 1, "政府信息公开工作年度报告数据核查意见").font = st["title"]
    for i, (k, v) in enumerate(info, start=3):
        a, b = ws.cell(i, 1, k), ws.cell(i, 2, v)
        a.font, a.fill = st["bold"], st["fill"]["head"]
        a.border = b.border = st["border"]
        b.alignment = st["left"]
        if k == "核查结论":
            b.fill, b.font = st["fill"][view.verdict], st["bold"]
    r = len(info) + 4
    ws.cell(r, 1, "需要更正的事项").font = st["bold"]
    for i, fx in enumerate(view.fixes or ["无。"], start=1):
        ws.cell(r + i, 1, i if view.fixes else None)
        ws.cell(r + i, 2, fx).alignment = st["left"]
    ws.column_dimensions["A"].width = 16
    ws.column_dimensions["B"].width = 110

    ws = wb.create_sheet("问题清单")
    rows = []
    for f in view.findings:
        rows.append([f.number, f.severity_text, f.rule, f.title, f.kind_text, f.message,
                     f.explanation, _xl_json(f.expected), _xl_json(f.actual),
                     _xl_json(f.difference) if f.difference else None,
                     "；".join(view.cells[k].label if k in view.cells else k for k in f.cells),
                     f.fix])
    _xl_table(ws, st, rows, ["序号", "严重程度", "规则", "规则名称", "类型", "说明", "规则说明",
                             "左边合计（应为）", "右边合计（实为）", "相差", "涉及单元格", "整改要求"],
              [6, 9, 22, 16, 10, 60, 50, 12, 12, 8, 50, 60])

    ws = wb.create_sheet("表格核对")
    top = 1
    for layout in layouts():
        top = _xl_official(ws, st, view, layout, top) + 1
    for j in range(1, 16):
        from openpyxl.utils import get_column_letter
        ws.column_dimensions[get_column_letter(j)].width = 11 if j > 3 else (18 if j != 3 else 30)
    legend = top
    ws.cell(legend, 1, "图例").font = st["bold"]
    for i, (k, text) in enumerate((("err", "涉及错误"), ("warn", "涉及提示"), ("blank", "空白（不计为 0）"),
                                   ("inferred", "原文缺失、由勾稽关系推算"), ("uncertain", "识别不确定")),
                                  start=1):
        ws.cell(legend + i, 1).fill = st["fill"][k]
        ws.cell(legend + i, 2, text)

    ws = wb.create_sheet("数据来源")
    rows = []
    for c in view.cells.values():
        s = c.source
        rows.append([c.key, c.label, _xl_number(c.value), c.status_text,
                     s.page if s else None, s.line if s else None,
                     None if s is None or s.table is None else s.table + 1,
                     None if s is None or s.row is None else s.row + 1,
                     None if s is None or s.col is None else s.col + 1,
                     s.text if s else None, s.row_label if s else None, s.col_label if s else None,
                     "、".join(f"#{n}" for n in c.findings) or None])
    _xl_table(ws, st, rows, ["键", "单元格", "数值", "状态", "页", "行号", "表格", "表格行", "表格列",
                             "原文", "原文行标签", "原文列标签", "涉及问题"],
              [36, 60, 10, 8, 6, 7, 6, 7, 7, 10, 30, 20, 10])
    with atomic_path(path) as tmp:
        wb.save(str(tmp))
    return path


def _xl_json(v: Any) -> Any:
    if v is None or isinstance(v, (int, float, str)):
        return v
    if isinstance(v, Decimal):
        return _xl_number(v)
    return json.dumps(v, ensure_ascii=False, default=str)


# ------------------------------------------------------------------------- one report
@dataclass
class ReportFiles:
    """What was written for one report (paths relative to the output folder in index.json)."""
    sha256: str
    agency: str | None
    year: int | None
    region_code: str | None
    verdict: str
    report_hash: str
    html: str
    xlsx: str
    pdf: str | None
    errors: int = 0
    hints: int = 0
    rules: dict[str, int] = field(default_factory=dict)     # rule → findings
    fixes: list[str] = field(default_factory=list)
    verdict_reason: str = ""
    file: str = ""                                         # the source file
    region_name: str | None = None
    city_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _safe_name(name: str) -> str:
    s = re.sub(r"[\\/:*?\"<>|\x00-\x1f\x7f\s]+", "_", name).strip("._")
    return s[:60] or "report"


def report_basename(view: ReportView) -> str:
    return f"{_safe_name(view.agency or '机关未知')}_{view.year or '年度未知'}_{view.sha256[:8]}"


def write_agency_report(view: ReportView, outdir: str | Path, *, pdf: bool = True,
                        office: str = DEFAULT_OFFICE,
                        generated: _dt.date | None = None) -> ReportFiles:
    """HTML, PDF and XLSX of one report in `outdir/<year>/`; paths in the result are absolute."""
    outdir = Path(outdir)
    folder = outdir / str(view.year or "unknown")
    folder.mkdir(parents=True, exist_ok=True)
    base = report_basename(view)
    html = render_html(view, office=office, generated=generated)
    html_path = folder / f"{base}.html"
    atomic_text(html_path, html)
    pdf_path = render_pdf(html, folder / f"{base}.pdf") if pdf else None
    xlsx_path = write_report_xlsx(view, folder / f"{base}.xlsx")
    return ReportFiles(
        sha256=view.sha256, agency=view.agency, year=view.year, region_code=view.region_code,
        verdict=view.verdict, report_hash=view.content_hash(), html=str(html_path),
        xlsx=str(xlsx_path), pdf=str(pdf_path) if pdf_path else None,
        errors=len(view.errors), hints=len(view.hints),
        rules=dict(Counter(f.rule for f in view.findings)), fixes=list(view.fixes),
        verdict_reason=view.verdict_reason, file=view.file, region_name=view.region_name,
        city_name=view.city_name)


# ------------------------------------------------------------------------------- summary
@dataclass
class SummaryRow:
    agency: str
    year: int | None
    city: str
    county: str
    region_code: str | None
    verdict: str
    errors: int
    hints: int
    rules: dict[str, int]
    in_roster: bool
    email: str | None
    html: str | None = None        # relative link to the agency's report
    pdf: str | None = None
    xlsx: str | None = None
    file: str = ""
    sha256: str = ""


@dataclass
class MissingRow:
    agency: str
    year: int
    city: str
    county: str
    region_code: str | None
    level: str | None
    email: str | None


@dataclass
class ProvinceSummary:
    years: list[int]
    rows: list[SummaryRow]
    missing: list[MissingRow]
    by_rule: list[tuple[str, str, int, int]]            # rule, title, findings, reports
    by_region: list[dict[str, Any]]                     # city, county, reports, per verdict, …
    verdicts: dict[str, int]
    roster_size: int | None
    generated: str = ""


def _region_names(code: str | None) -> tuple[str, str]:
    """(city, county) names for a region code; county "市本级" for a city-level code."""
    if not code:
        return "未知地区", "未知地区"
    from tasks.regions import region

    r = region(code)
    if r is None:
        return "未知地区", code
    if r.level == "province":
        return r.name, "省本级"
    city = region(r.city_code) if r.city_code else None
    city_name = city.name if city else r.name
    if r.level == "city" or r.code == r.city_code and r.note != "province_direct":
        return city_name, "市本级"
    return city_name, r.name


def build_summary(reports: list[ReportFiles], roster: list[RosterAgency] | None = None,
                  outdir: str | Path | None = None,
                  generated: _dt.date | None = None) -> ProvinceSummary:
    """The province summary of generated reports; links are made relative to `outdir`."""
    lookup = RosterLookup(roster)
    rows: list[SummaryRow] = []
    matched: set[tuple[str, int | None]] = set()        # (roster agency_id, year)

    def rel(p: str | None) -> str | None:
        if p is None or outdir is None:
            return p
        try:
            return str(Path(p).resolve().relative_to(Path(outdir).resolve()))
        except ValueError:
            return p

    for rf in reports:
        entry = lookup.find(rf.agency, rf.region_code)
        if entry is not None:
            matched.add((entry.agency_id, rf.year))
        code = rf.region_code or (entry.region_code if entry else None)
        city, county = _region_names(code)
        rows.append(SummaryRow(
            agency=rf.agency or f"（机关未知：{Path(rf.file).name}）", year=rf.year, city=city,
            county=county, region_code=code, verdict=rf.verdict, errors=rf.errors, hints=rf.hints,
            rules=dict(rf.rules), in_roster=entry is not None, email=entry.email if entry else None,
            html=rel(rf.html), pdf=rel(rf.pdf), xlsx=rel(rf.xlsx), file=rf.file, sha256=rf.sha256))
    order = {v: i for i, v in enumerate(VERDICTS)}
    rows.sort(key=lambda r: (order[r.verdict], -r.errors, r.city, r.county, r.agency, r.year or 0))
    years = sorted({r.year for r in rows if r.year is not None})
    missing: list[MissingRow] = []
    if roster:
        for y in years:
            for e in roster:
                if (e.agency_id, y) not in matched:
                    city, county = _region_names(e.region_code)
                    missing.append(MissingRow(e.agency, y, city, county, e.region_code, e.level,
                                              e.email))
        missing.sort(key=lambda m: (m.year, m.city, m.county, m.agency))
    rule_findings: Counter = Counter()
    rule_reports: Counter = Counter()
    for rf in reports:
        for rule, n in rf.rules.items():
            rule_findings[rule] += n
            rule_reports[rule] += 1
    by_rule = [(rule, rule_title(rule), n, rule_reports[rule])
               for rule, n in sorted(rule_findings.items(), key=lambda kv: (-kv[1], kv[0]))]
    regions: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"reports": 0, PASS: 0, FIX: 0, UNCHECKABLE: 0, "errors": 0, "hints": 0,
                 "missing": 0})
    for r in rows:
        g = regions[(r.city, r.county)]
        g["reports"] += 1
        g[r.verdict] += 1
        g["errors"] += r.errors
        g["hints"] += r.hints
    for m in missing:
        regions[(m.city, m.county)]["missing"] += 1
    by_region = [{"city": c, "county": k, **v} for (c, k), v in sorted(regions.items())]
    return ProvinceSummary(
        years=years, rows=rows, missing=missing, by_rule=by_rule,
        by_region=by_region, verdicts={v: sum(1 for r in rows if r.verdict == v) for v in VERDICTS},
        roster_size=len(roster) if roster is not None else None, generated=_today(generated))


def render_summary_html(summary: ProvinceSummary, *, office: str = DEFAULT_OFFICE) -> str:
    return _env().get_template("dq_summary.html.j2").render(
        s=summary, css=_css(), office=office, verdict_css=VERDICT_CSS, verdicts=VERDICTS)


def write_summary_xlsx(summary: ProvinceSummary, path: str | Path) -> Path:
    from openpyxl import Workbook

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    st = _xl_styles()
    wb = Workbook()
    ws = wb.active
    ws.title = "机关核查结果"
    rules = [r[0] for r in summary.by_rule]
    rows = []
    for r in summary.rows:
        rows.append([r.city, r.county, r.agency, r.year, r.verdict, r.errors, r.hints,
                     *[r.rules.get(x, 0) for x in rules], "是" if r.in_roster else "否",
                     r.email, r.file, r.sha256, r.pdf])
    _xl_table(ws, st, rows, ["市", "县（区）", "机关", "年度", "结论", "错误", "提示",
                             *[f"{rule_title(x)}\n{x}" for x in rules], "在名册中", "邮箱",
                             "来源文件", "SHA-256", "核查意见 PDF"],
              [10, 12, 30, 7, 9, 7, 7, *[12] * len(rules), 8, 28, 40, 20, 40])
    for i, r in enumerate(summary.rows, start=2):
        ws.cell(i, 5).fill = st["fill"][r.verdict]
    ws.row_dimensions[1].height = 45

    ws = wb.create_sheet("按规则")
    _xl_table(ws, st, [list(x) for x in summary.by_rule],
              ["规则", "规则名称", "问题数", "涉及报告数"], [28, 20, 10, 12])
    ws = wb.create_sheet("按市县")
    _xl_table(ws, st, [[g["city"], g["county"], g["reports"], g[PASS], g[FIX], g[UNCHECKABLE],
                        g["errors"], g["hints"], g["missing"]] for g in summary.by_region],
              ["市", "县（区）", "报告数", PASS, FIX, UNCHECKABLE, "错误", "提示", "未报送"],
              [12, 14, 8, 8, 8, 9, 8, 8, 8])
    ws = wb.create_sheet("未报送机关")
    _xl_table(ws, st, [[m.year, m.city, m.county, m.agency, m.level, m.email]
                       for m in summary.missing],
              ["年度", "市", "县（区）", "机关", "层级", "邮箱"], [7, 12, 14, 34, 8, 30])
    with atomic_path(path) as tmp:
        wb.save(str(tmp))
    return path


def write_summary(summary: ProvinceSummary, outdir: str | Path, *,
                  office: str = DEFAULT_OFFICE) -> tuple[Path, Path]:
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    html = outdir / "province_summary.html"
    atomic_text(html, render_summary_html(summary, office=office))
    return html, write_summary_xlsx(summary, outdir / "province_summary.xlsx")


# ---------------------------------------------------------------------------- the batch
@dataclass
class GenerationResult:
    outdir: str
    reports: list[ReportFiles]
    rendered: int                   # reports rendered in this run
    reused: int                     # unchanged reports whose files were kept
    summary_html: str
    summary_xlsx: str
    index: str
    summary: ProvinceSummary

    @property
    def verdicts(self) -> dict[str, int]:
        return dict(self.summary.verdicts)


def read_index(outdir: str | Path) -> list[ReportFiles]:
    """The reports listed in `outdir/index.json` (paths made absolute)."""
    outdir = Path(outdir)
    data = json.loads((outdir / INDEX_FILE).read_text(encoding="utf-8"))
    out = []
    for d in data.get("reports", []):
        for k in ("html", "pdf", "xlsx"):
            if d.get(k):
                d[k] = str(outdir / d[k])
        out.append(ReportFiles(**d))
    return out


def _write_index(outdir: Path, reports: list[ReportFiles], summary: tuple[Path, Path]) -> Path:
    def rel(p: str | None) -> str | None:
        return None if p is None else str(Path(p).resolve().relative_to(outdir.resolve()))

    items = []
    for rf in reports:
        d = rf.to_json()
        for k in ("html", "pdf", "xlsx"):
            d[k] = rel(d[k])
        items.append(d)
    doc = {"version": INDEX_VERSION, "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(),
           "summary": {"html": rel(str(summary[0])), "xlsx": rel(str(summary[1]))},
           "reports": items}
    path = outdir / INDEX_FILE
    atomic_text(path, json.dumps(doc, ensure_ascii=False, indent=1))
    return path


POOL_MIN = 4          # fewer reports to render than this: no process pool (its start costs ~2 s)


def generate_from_views(views: Iterable[ReportView], outdir: str | Path, *,
                        roster: list[RosterAgency] | None = None, pdf: bool = True,
                        office: str = DEFAULT_OFFICE, generated: _dt.date | None = None,
                        progress=None, workers: int = 1) -> GenerationResult:
    """Write every view's report (skipping unchanged ones), the summary and index.json.

    `workers` > 1 renders on a process pool (PDF rendering is CPU-bound Python: threads do
    not help); results keep the order of `views`."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    previous: dict[str, ReportFiles] = {}
    if (outdir / INDEX_FILE).exists():
        try:
            previous = {rf.sha256: rf for rf in read_index(outdir)}
        except (ValueError, TypeError, KeyError, OSError):
            log.warning("ignoring unreadable %s", outdir / INDEX_FILE)
    views = list(views)
    out: list[ReportFiles | None] = [None] * len(views)
    todo: list[int] = []
    for i, view in enumerate(views):
        old = previous.get(view.sha256)
        if (old is not None and old.report_hash == view.content_hash()
                and all(p is None or Path(p).exists() for p in (old.html, old.xlsx))
                and (not pdf or (old.pdf is not None and Path(old.pdf).exists()))):
            out[i] = old
    todo = [i for i, rf in enumerate(out) if rf is None]
    done = len(views) - len(todo)
    if progress:
        progress(done, len(views))
    args = (str(outdir), pdf, office, generated)
    if workers > 1 and len(todo) >= POOL_MIN:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=min(workers, len(todo)),
                                 mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_render_one, views[i], *args): i for i in todo}
            for fut in as_completed(futures):
                out[futures[fut]] = fut.result()
                done += 1
                if progress:
                    progress(done, len(views))
    else:
        for i in todo:
            out[i] = _render_one(views[i], *args)
            done += 1
            if progress:
                progress(done, len(views))
    files = [rf for rf in out if rf is not None]
    summary = build_summary(files, roster, outdir=outdir, generated=generated)
    paths = write_summary(summary, outdir, office=office)
    index = _write_index(outdir, files, paths)
    return GenerationResult(str(outdir), files, len(todo), len(views) - len(todo),
                            str(paths[0]), str(paths[1]), str(index), summary)


def _render_one(view: ReportView, outdir: str, pdf: bool, office: str,
                generated: _dt.date | None) -> ReportFiles:
    """One report's files (a top-level function: it runs in pool workers too)."""
    return write_agency_report(view, outdir, pdf=pdf, office=office, generated=generated)


def views_from_warehouse(con, year: int | None = None,
                         roster: list[RosterAgency] | None = None) -> list[ReportView]:
    """A view for every current report in the warehouse (optionally one year)."""
    out = []
    for sha, _, _ in current_reports(con, year):
        out.append(load_view(con, sha))
    _set_emails(out, roster)
    return out


def _set_emails(views: list[ReportView], roster: list[RosterAgency] | None) -> None:
    lookup = RosterLookup(roster)
    for v in views:
        entry = lookup.find(v.agency, v.region_code)
        v.email = entry.email if entry else None


def generate_reports(con, outdir: str | Path, *, year: int | None = None,
                     roster: list[RosterAgency] | None = None, pdf: bool = True,
                     office: str = DEFAULT_OFFICE, generated: _dt.date | None = None,
                     progress=None, workers: int = 1) -> GenerationResult:
    """Every current report in the warehouse → agency reports, province summary, index.json.
    Without `roster`, the roster loaded into the warehouse is used, if any."""
    if roster is None:
        roster = warehouse_roster(con)
    views = views_from_warehouse(con, year, roster)
    return generate_from_views(views, outdir, roster=roster, pdf=pdf, office=office,
                               generated=generated, progress=progress, workers=workers)


def views_from_reports(reports: list, findings: dict[str, list],
                       roster: list[RosterAgency] | None = None) -> list[ReportView]:
    """Views from in-memory reports and `tasks.validate.validate`'s result."""
    out = [build_view(r, findings.get(r.sha256, [])) for r in reports]
    _set_emails(out, roster)
    return out
