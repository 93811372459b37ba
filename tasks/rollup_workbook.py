"""The roll-up as a workbook in the official layout (`nianbao rollup`).

One sheet per region: the province, then each city, then each county (down to the level
asked), each with the three tables of the official format (国办公开办函〔2021〕30号; merged
headers from :mod:`tasks.dq_layout`, the same layout the data-quality reports draw), the numbers
summed over that region's current reports by the warehouse's roll-up (``mart_rollup``, i.e.
:func:`tasks.rollup.rollup`: the workbook shows exactly the numbers SQL sees), and above the
tables what went in: reports included, excluded (with errors), roster agencies with no report,
reports matching no roster agency, duplicates, and the options used:

- ``failing``: ``include`` (default) sums every current report, also those with findings of
  severity error (identities violated, invalid values); ``exclude`` leaves them out
  (``include_errors=False``). A duplicate (the copy of an agency's report that is not used,
  ``report.duplicate``) is never summed, whatever the option (``mart_rollup``).
- ``blanks``: ``sum`` (default) sums the numbers given and leaves blank cells out (a blank is
  not a 0): a total that some reports left blank is shaded and its comment says how many;
  ``empty`` prints no total where any report left the cell blank (the comment still says how
  many did and what the others add up to).

:func:`sheets` computes the content (also used by tests and the dashboard), :func:`write_workbook`
draws it with openpyxl.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tasks import dq_layout, spec
from tasks.atomic import atomic_path

FAILING = ("include", "exclude")
BLANKS = ("sum", "empty")
LEVEL_NAMES = {"province": "省", "city": "市", "county": "县（区）"}
FAILING_TEXT = {
    "include": "有错误的报告（表内勾稽关系不成立、数值无效等）已计入合计",
    "exclude": "有错误的报告（表内勾稽关系不成立、数值无效等）未计入合计",
}
BLANKS_TEXT = {
    "sum": "空白单元格不计为 0：合计只加填有数字的报告，含空白的合计格以灰色标出，批注注明空白报告数",
    "empty": "空白单元格不计为 0：只要有报告空白，该合计格即不显示数字（批注注明空白报告数及其余报告之和）",
}


@dataclass
class Sheet:
    region_code: str
    region_name: str               # full name (湖南省湘潭市湘潭县)
    short_name: str                # 湘潭县
    level: str                     # province | city | county
    year: int
    values: dict[str, Decimal | None] = field(default_factory=dict)     # key → sum
    blanks: dict[str, int] = field(default_factory=dict)                # key → blank reports
    missing_keys: dict[str, int] = field(default_factory=dict)          # key → reports without it
    included: int = 0              # reports summed
    with_errors: int = 0           # of the region's current reports (duplicates aside): with errors
    excluded: int = 0              # reports left out (failing = exclude), duplicates aside
    duplicates: int = 0            # unused duplicates (report.duplicate): never summed
    roster_size: int | None = None  # roster agencies of the region (None: no roster loaded)
    missing: list[dict[str, Any]] = field(default_factory=list)     # roster agencies w/o report
    unmatched: list[dict[str, Any]] = field(default_factory=list)   # reports of no roster agency
    excluded_reports: list[dict[str, Any]] = field(default_factory=list)
    no_region: int = 0             # province sheet: reports of the year whose region is unknown
    no_region_matched: int = 0     # of those, reports matched to a roster agency

    def shown(self, key: str, blanks: str) -> Decimal | None:
        if blanks == "empty" and self.blanks.get(key, 0):
            return None
        return self.values.get(key)


def _scope(con, region: str | None) -> tuple[str | None, str | None]:
    from tasks.rollup import _region_code
    from tasks.regions import region as _region

    code = _region_code(region)
    r = _region(code) if code else None
    return code, (r.level if r else None)


def latest_year(con) -> int | None:
    row = con.execute("SELECT max(year) FROM stg_reports_current").fetchone()
    return row[0] if row else None


def _roster_loaded(con) -> bool:
    return con.execute("SELECT count(*) FROM roster").fetchone()[0] > 0


def sheets(con, year: int | None = None, level: str = "county", region: str | None = None,
           failing: str = "include") -> list[Sheet]:
    """The sheets' content: province(s), then cities, then counties (to `level`), inside
    `region` (code or name) when given. `year` defaults to the latest year."""
    from tasks.regions import region as _region
    from tasks.rollup import LEVELS, rollup

    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    if failing not in FAILING:
        raise ValueError(f"failing must be one of {FAILING}, not {failing!r}")
    year = year if year is not None else latest_year(con)
    if year is None:
        return []
    code, scope_level = _scope(con, region)
    levels = LEVELS[: LEVELS.index(level) + 1]
    if scope_level is not None:
        levels = tuple(lv for lv in levels if LEVELS.index(lv) >= LEVELS.index(scope_level))
    roster = _roster_loaded(con)
    out: list[Sheet] = []
    for lv in levels:
        frame = rollup(con, year=year, level=lv, region=code, include_errors=failing == "include")
        by_region: dict[str, Sheet] = {}
        col = {"province": "province_code", "city": "city_code", "county": "county_code"}[lv]
        for row in frame.iter_rows(named=True):
            rc = row[col]
            if rc is None or row["region_code"] != rc:
                continue        # reports coarser than this level, or of no known region
            sh = by_region.get(rc)
            if sh is None:
                sh = by_region[rc] = _new_sheet(rc, lv, year, _region)
                sh.included = row["reports"]
            sh.values[row["key"]] = row["value"]
            sh.blanks[row["key"]] = row["blank_count"]
            sh.missing_keys[row["key"]] = row["missing_count"]
        for rc in _report_regions(con, year, lv, col, code) | (
                _roster_regions(con, year, col, code) if roster else set()):
            if rc not in by_region and (code is None or rc == code or _inside(rc, code)):
                by_region[rc] = _new_sheet(rc, lv, year, _region)
        for rc, sh in by_region.items():
            _counts(con, sh, col, failing, roster)
        out += [by_region[k] for k in sorted(by_region)]
    return out


def _inside(code: str, scope: str) -> bool:
    from tasks.regions import ancestors

    return scope in ancestors(code)


def _new_sheet(code: str, level: str, year: int, region_of) -> Sheet:
    r = region_of(code)
    return Sheet(region_code=code, region_name=r.full_name if r else code,
                 short_name=r.name if r else code, level=level, year=year)


def _report_regions(con, year: int, level: str, col: str, scope: str | None) -> set[str]:
    rows = con.execute(f"""SELECT DISTINCT {col} FROM stg_reports_current
        WHERE year = ? AND {col} IS NOT NULL
          AND (? IS NULL OR ? IN (region_code, province_code, city_code, county_code))""",
                       [year, scope, scope]).fetchall()
    return {r[0] for r in rows}


def _roster_regions(con, year: int, col: str, scope: str | None) -> set[str]:
    rows = con.execute(f"""SELECT DISTINCT {col} FROM mart_coverage
        WHERE year = ? AND {col} IS NOT NULL
          AND (? IS NULL OR ? IN (region_code, province_code, city_code, county_code))""",
                       [year, scope, scope]).fetchall()
    return {r[0] for r in rows}


def _counts(con, sh: Sheet, col: str, failing: str, roster: bool) -> None:
    rc, year = sh.region_code, sh.year
    n, errs, dups = con.execute(f"""
        SELECT count(*), count(*) FILTER (WHERE has_errors AND NOT is_duplicate),
               count(*) FILTER (WHERE is_duplicate)
        FROM stg_reports_current WHERE year = ? AND {col} = ?""", [year, rc]).fetchone()
    sh.with_errors, sh.duplicates = errs, dups
    if failing == "exclude":
        sh.excluded = errs
        sh.excluded_reports = [
            {"agency": a, "file": f, "errors": e} for a, f, e in con.execute(f"""
                SELECT agency, file, error_count FROM stg_reports_current
                WHERE year = ? AND {col} = ? AND has_errors AND NOT is_duplicate
                ORDER BY agency, file""",
                [year, rc]).fetchall()]
    if not sh.included:
        sh.included = n - dups - sh.excluded
    if sh.level == "province":
        sh.no_region, sh.no_region_matched = con.execute("""
            SELECT count(*), count(a.agency_id) FROM stg_reports_current r
            LEFT JOIN report_agency a USING (sha256)
            WHERE r.year = ? AND r.province_code IS NULL""", [year]).fetchone()
    if roster:
        sh.roster_size = con.execute(f"SELECT count(*) FROM mart_coverage WHERE year = ? AND "
                                     f"{col} = ?", [year, rc]).fetchone()[0]
        sh.missing = [{"agency": a, "region": g, "email": e} for a, g, e in con.execute(f"""
            SELECT agency, region_name, email FROM mart_coverage
            WHERE year = ? AND {col} = ? AND status = 'missing' ORDER BY region_code, agency""",
            [year, rc]).fetchall()]
        sh.unmatched = [{"agency": a, "file": f} for a, f in con.execute(f"""
            SELECT agency, file FROM mart_coverage_unmatched
            WHERE year = ? AND {col} = ? ORDER BY agency, file""", [year, rc]).fetchall()]


# ------------------------------------------------------------------------------ drawing
_FILL = {"head": "EEF1F5", "label": "FAFAFA", "blank": "E0E0E0", "info": "F5F8FC"}


def _styles():
    return dq_layout.xlsx_styles(_FILL, title={"bold": True, "size": 14},
                                 h2={"bold": True, "size": 12}, warn={"color": "8E0000"})


_number = dq_layout.xlsx_number


def _sheet_title(sh: Sheet, used: set[str]) -> str:
    name = sh.short_name[:24]
    if name in used:
        name = f"{name[:24]}{sh.region_code}"
    used.add(name)
    return name


def summary_lines(sh: Sheet, failing: str, blanks: str) -> list[tuple[str, bool]]:
    """The lines above the tables (text, is_warning), Chinese."""
    lines = [(f"纳入汇总的报告：{sh.included} 份", False)]
    if failing == "exclude":
        lines.append((f"剔除的报告（有错误）：{sh.excluded} 份", sh.excluded > 0))
    else:
        lines.append((f"其中有错误的报告：{sh.with_errors} 份（已计入）", sh.with_errors > 0))
    if sh.roster_size is None:
        lines.append(("未报送：未加载机关名单，无法统计（nianbao roster load 名单.csv）", True))
    else:
        lines.append((f"未报送（名单中本年度无报告的机关）：{len(sh.missing)} 个，名单共 "
                      f"{sh.roster_size} 个机关", bool(sh.missing)))
        lines.append((f"名单外的报告（未匹配到名单中的机关）：{len(sh.unmatched)} 份",
                      bool(sh.unmatched)))
    if sh.no_region:
        lines.append((f"区划未识别的报告：{sh.no_region} 份，未计入任何地区（其中 {sh.no_region_matched} "
                      "份已匹配到名单中的机关；可在清单 manifest 中填写 region_code）", True))
    if sh.duplicates:
        lines.append((f"重复报告（同一机关同一年度的另一份，未采用）：{sh.duplicates} 份，不计入合计", True))
    lines.append((f"有错误的报告：{FAILING_TEXT[failing]}", False))
    lines.append((BLANKS_TEXT[blanks], False))
    return lines


def write_workbook(con, path: str | Path, year: int | None = None, level: str = "county",
                   region: str | None = None, failing: str = "include",
                   blanks: str = "sum") -> tuple[Path, list[Sheet]]:
    """Write the roll-up workbook; returns (path, sheets). Raises ValueError when there is
    nothing to roll up."""
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.utils import get_column_letter

    from tasks.dq_layout import layouts

    if blanks not in BLANKS:
        raise ValueError(f"blanks must be one of {BLANKS}, not {blanks!r}")
    content = sheets(con, year, level, region, failing)
    if not content:
        raise ValueError("没有可汇总的报告（数据仓库中没有该年度、该地区的当前报告）")
    st = _styles()
    wb = Workbook()
    wb.remove(wb.active)
    used: set[str] = set()
    generated = _dt.date.today().isoformat()
    for sh in content:
        ws = wb.create_sheet(_sheet_title(sh, used))
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        width = 15
        ws.cell(1, 1, f"{sh.region_name}{sh.year}年政府信息公开工作年度报告汇总").font = st["title"]
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
        ws.cell(2, 1, f"汇总层级：{LEVEL_NAMES[sh.level]}　行政区划代码：{sh.region_code}　"
                      f"生成日期：{generated}（nianbao rollup）")
        ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=width)
        row = 3
        for text, warn in summary_lines(sh, failing, blanks):
            c = ws.cell(row, 1, text)
            c.fill = st["fill"]["info"]
            if warn:
                c.font = st["warn"]
            ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)
            row += 1
        row += 1
        for lay in layouts():
            row = _draw_table(ws, st, sh, lay, row, blanks, Comment)
        row = _draw_list(ws, st, row, "未报送的机关（名单中本年度无报告）", ("机关", "地区", "电子邮箱"),
                         [(m["agency"], m["region"], m["email"]) for m in sh.missing])
        row = _draw_list(ws, st, row, "名单外的报告", ("报告中的机关名称", "文件"),
                         [(m["agency"] or "（未识别）", m["file"]) for m in sh.unmatched])
        if failing == "exclude":
            _draw_list(ws, st, row, "剔除的报告（有错误）", ("机关", "文件", "错误数"),
                       [(m["agency"] or "（未识别）", m["file"], m["errors"])
                        for m in sh.excluded_reports])
        for j in range(1, width + 1):
            ws.column_dimensions[get_column_letter(j)].width = 11
        ws.column_dimensions["C"].width = 30
    path = Path(path)
    with atomic_path(path) as tmp:       # tasks/atomic.py: no half-written workbook
        wb.save(tmp)
    return path, content


def _draw_table(ws, st, sh: Sheet, lay, top: int, blanks: str, Comment) -> int:
    from tasks.dq_layout import xlsx_slot

    ws.cell(top, 1, lay.title).font = st["h2"]
    base = top + 1
    for s in lay.slots:
        cell = xlsx_slot(ws, s, base, st)
        if cell is None:
            continue
        cell.value = _number(sh.shown(s.key, blanks))
        cell.alignment = st["center"]
        if spec.cell_index()[s.key].is_decimal:
            cell.number_format = "0.0000"
        n_blank = sh.blanks.get(s.key, 0)
        if n_blank:
            cell.fill = st["fill"]["blank"]
            rest = sh.values.get(s.key)
            note = (f"{n_blank} 份报告此格空白（不计为 0）；其余报告合计 "
                    f"{'无' if rest is None else _number(rest)}")
            cell.comment = Comment(note, "nianbao", width=260, height=70)
    for r in range(base, base + lay.n_rows):
        ws.row_dimensions[r].height = 30 if lay.table == "requests" else 20
    return base + lay.n_rows + 1


def _draw_list(ws, st, top: int, title: str, header: tuple[str, ...],
               rows: list[tuple]) -> int:
    if not rows:
        return top
    ws.cell(top, 1, f"{title}（{len(rows)}）").font = st["h2"]
    for j, h in enumerate(header):
        c = ws.cell(top + 1, 1 + j * 3, h)
        c.font, c.fill = st["bold"], st["fill"]["head"]
    for i, row in enumerate(rows, start=top + 2):
        for j, v in enumerate(row):
            ws.cell(i, 1 + j * 3, v)
    return top + len(rows) + 3
