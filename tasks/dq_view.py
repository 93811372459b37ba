"""The data-quality report of one agency's annual report, as a view model.

A :class:`ReportView` holds everything the HTML/PDF/XLSX renderers and the e-mail need: the
agency, year, source file and hash, the verdict, the findings explained in plain words, the 200
cells (value, status, where they were read) and the list of what to fix. It is built either from
in-memory objects (:func:`build_view` from a :class:`tasks.model.Report` and its findings) or
from the warehouse (:func:`load_view` reads raw_reports / raw_cells / raw_findings).

Verdict (``VERDICTS``):

- 需更正: at least one error finding (an identity violated, an invalid number, the agency or year
  not stated), except a missing table, which makes the report uncheckable rather than wrong;
- 无法核对: no such error, but an identity could not be checked (blank or uncertain cells), a
  table is missing, or the report is not in the 2021 format;
- 通过: neither. Warnings that do not block a check (a blank 表二 cell, 现行有效件数 below
  本年制发 − 本年废止) are listed as 提示 and do not change the verdict.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tasks import spec
from tasks.model import Cell, Finding, Provenance, Report, Status

PASS, FIX, UNCHECKABLE = "通过", "需更正", "无法核对"
VERDICTS = (FIX, UNCHECKABLE, PASS)     # worst first
VERDICT_CSS = {PASS: "pass", FIX: "fix", UNCHECKABLE: "unchecked"}

# A missing table is an error in the findings but makes the report uncheckable, not wrong.
UNCHECKABLE_RULES = frozenset({"report.table_missing"})

# Bumped whenever the rendered content (what an agency receives) changes meaning: part of the
# report hash, so a new layout or wording is a new report version.
REPORT_FORMAT_VERSION = "1"

# Each rule in plain words: (short title, what must hold and why). Unknown rules fall back to
# tasks.validate.RULES and then to the rule id.
RULE_TEXT: dict[str, tuple[str, str]] = {
    "requests.balance": (
        "表三收支平衡",
        "表三每一列：一、本年新收 + 二、上年结转 应等于 （七）总计 + 四、结转下年度继续办理。"
        "每一件申请要么在本年办结（计入办理结果），要么结转到下一年度。"),
    "requests.result_total": (
        "表三办理结果总计",
        "表三每一列：（七）总计 应等于 （一）至（六）各项办理结果之和。部分公开的申请只计入"
        "“部分公开”一项，不重复计入其他情形。"),
    "requests.row_total": (
        "表三行合计",
        "表三每一行：“总计”列应等于 自然人 与五类法人或其他组织（商业企业、科研机构、"
        "社会公益组织、法律服务机构、其他）之和。"),
    "appeals.group_total": (
        "表四分组合计",
        "表四行政复议、未经复议直接起诉、复议后起诉三组中，每组的“总计”应等于 结果维持 + "
        "结果纠正 + 其他结果 + 尚未审结。"),
    "cells.invalid": (
        "数值不合规",
        "件数应为非负整数；行政事业性收费金额以万元为单位，不应为负数。"),
    "cells.blank": (
        "单元格空白",
        "表格中的每个单元格都应填写数字，没有发生的事项填 0。空白不按 0 计算，含空白的"
        "等式无法核对。"),
    "proactive.in_force_floor": (
        "现行有效件数偏少",
        "表二中 现行有效件数 一般不应少于 本年制发件数 − 本年废止件数（本年新制发且未废止的"
        "文件应仍然有效）。这是合理性提示，请核实。"),
    "report.agency_unknown": (
        "未写明机关名称",
        "报告标题或正文应写明发布报告的机关全称。"),
    "report.year_unknown": (
        "未写明报告年度",
        "报告标题或正文应写明报告所属年度（统计期限）。"),
    "history.carry_over": (
        "与上年度结转不一致",
        "本年度表三“二、上年结转”每一列应等于上一年度报告中“四、结转下年度继续办理”的同一列。"),
    "history.in_force": (
        "现行有效件数与上年度不衔接",
        "表二 现行有效件数 应约等于 上年度现行有效件数 + 本年制发件数 − 本年废止件数。"),
    "narrative.requests": (
        "正文与表格不一致",
        "报告正文中所述的申请、行政复议、行政诉讼件数应与表格中的数字一致。"),
    "plausibility.fee_unit": (
        "收费金额单位可疑",
        "表二 行政事业性收费 的单位是万元；金额看起来像是按元填写的，请核实。"),
    "plausibility.jump": (
        "数字与上年度相差悬殊",
        "主要数字与上年度相比变化超过 10 倍，请核实是否填写有误。"),
    "report.duplicate": (
        "重复报告",
        "同一机关同一年度只应有一份年度报告；发现另一份不同的报告。"),
    "hierarchy.sum": (
        "汇总数与下级报告不一致",
        "汇总报告（本级及所辖机关）的数字应等于所辖机关报告之和。"),
    "report.table_missing": (
        "缺少表格",
        "年度报告应按国办公开办函〔2021〕30号格式包含表二（主动公开）、表三（依申请公开）、"
        "表四（行政复议、行政诉讼）三张表格。"),
}
KIND_TEXT = {"violated": "不相等", "not_checkable": "无法核对", "blank": "空白",
             "invalid": "数值不合规", "missing": "缺失"}
SEVERITY_TEXT = {"error": "错误", "warning": "提示"}
STATUS_TEXT = {Status.READ: "读取", Status.INFERRED: "推算", Status.BLANK: "空白",
               Status.UNCERTAIN: "不确定"}
TABLE_SHORT = {"proactive": "表二", "requests": "表三", "appeals": "表四"}


def rule_title(rule: str) -> str:
    if rule in RULE_TEXT:
        return RULE_TEXT[rule][0]
    return _validate_rules().get(rule, rule)


def rule_explanation(rule: str) -> str:
    if rule in RULE_TEXT:
        return RULE_TEXT[rule][1]
    return _validate_rules().get(rule, rule)


def _validate_rules() -> dict[str, str]:
    """Rule id → formula text of tasks.validate and tasks.crosscheck (whichever import)."""
    out: dict[str, str] = {}
    try:
        from tasks.crosscheck import CROSS_RULES
        out.update(CROSS_RULES)
    except Exception:   # noqa: BLE001 - the explanation must not depend on GX importing
        pass
    try:
        from tasks.validate import RULES
        out.update(RULES)
    except Exception:   # noqa: BLE001
        pass
    return out


# ------------------------------------------------------------------------------- the model
@dataclass(slots=True)
class CellView:
    key: str
    table: str
    row_label: str              # the spec's label (official wording)
    col_label: str
    unit: str
    value: int | Decimal | None
    status: str                 # read | inferred | blank | uncertain
    source: Provenance | None
    confidence: float | None = None
    error: bool = False         # involved in an error finding
    warning: bool = False       # involved in a warning finding only
    findings: list[int] = field(default_factory=list)   # numbers (1-based) of its findings

    @property
    def text(self) -> str:
        """The value as it should be shown: blank stays empty, never 0."""
        return format_number(self.value)

    @property
    def status_text(self) -> str:
        return STATUS_TEXT.get(Status(self.status), self.status)

    @property
    def where(self) -> str:
        """Where it was read, in Chinese ("第3页 表格2 第5行 第4列"); empty when unknown."""
        if self.source is None:
            return ""
        return self.source.describe()

    @property
    def label(self) -> str:
        return cell_name(self.key)

    @property
    def css(self) -> str:
        classes = [f"st-{self.status}"]
        if self.error:
            classes.append("err")
        elif self.warning:
            classes.append("warn")
        return " ".join(classes)

    @property
    def tooltip(self) -> str:
        parts = [self.label, f"状态：{self.status_text}"]
        if self.where:
            parts.append(f"位置：{self.where}")
        if self.source is not None and self.source.text not in (None, ""):
            parts.append(f"原文：{self.source.text}")
        if self.findings:
            parts.append("问题：" + "、".join(f"#{n}" for n in self.findings))
        return "；".join(parts)


@dataclass(slots=True)
class FindingView:
    number: int                 # 1-based, in report order
    rule: str
    severity: str               # error | warning
    kind: str
    message: str
    cells: list[str]
    expected: Any
    actual: Any
    fix: str                    # what to do, in Chinese

    @property
    def title(self) -> str:
        return rule_title(self.rule)

    @property
    def explanation(self) -> str:
        return rule_explanation(self.rule)

    @property
    def severity_text(self) -> str:
        return SEVERITY_TEXT.get(self.severity, self.severity)

    @property
    def kind_text(self) -> str:
        return KIND_TEXT.get(self.kind, self.kind)

    @property
    def difference(self) -> str:
        if self.expected is None or self.actual is None:
            return ""
        try:
            return format_number(abs(Decimal(str(self.expected)) - Decimal(str(self.actual))))
        except Exception:   # noqa: BLE001 - expected/actual are free JSON in the warehouse
            return ""


@dataclass(slots=True)
class ReportView:
    agency: str | None
    year: int | None
    file: str
    sha256: str
    format: str
    format_version: str | None
    region_code: str | None
    region_name: str | None
    city_code: str | None
    city_name: str | None
    tables_found: list[str]
    cells: dict[str, CellView]
    findings: list[FindingView]
    verdict: str
    verdict_reason: str
    fixes: list[str]
    warnings: list[dict[str, Any]] = field(default_factory=list)   # extraction notes
    email: str | None = None            # from the roster, when known

    @property
    def agency_display(self) -> str:
        return self.agency or "（机关名称未识别）"

    @property
    def year_display(self) -> str:
        return f"{self.year}年度" if self.year else "（年度未识别）"

    @property
    def verdict_css(self) -> str:
        return VERDICT_CSS[self.verdict]

    @property
    def errors(self) -> list[FindingView]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def hints(self) -> list[FindingView]:
        return [f for f in self.findings if f.severity != "error"]

    @property
    def status_counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Status}
        for c in self.cells.values():
            out[c.status] = out.get(c.status, 0) + 1
        return out

    def cell(self, key: str) -> CellView:
        return self.cells[key]

    def content_hash(self) -> str:
        """Hash of what the agency receives (not of the rendered bytes, which carry dates)."""
        doc = {
            "format": REPORT_FORMAT_VERSION, "sha256": self.sha256, "agency": self.agency,
            "year": self.year, "verdict": self.verdict, "region_code": self.region_code,
            "tables_found": sorted(self.tables_found),
            "findings": [[f.rule, f.severity, f.kind, f.message, f.cells,
                          _jsonable(f.expected), _jsonable(f.actual)] for f in self.findings],
            "cells": {k: [format_number(c.value), c.status,
                          (c.source.describe() if c.source else "") or None]
                      for k, c in sorted(self.cells.items())},
        }
        raw = json.dumps(doc, ensure_ascii=False, sort_keys=True, default=str)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------ building
def format_number(v: int | Decimal | float | None) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        v = Decimal(str(v))
    if isinstance(v, Decimal):
        if v == v.to_integral_value():
            return str(int(v))
        return format(v.normalize(), "f")
    return str(v)


def cell_name(key: str) -> str:
    """"表三 一、本年新收… / 自然人" — the official labels of a cell."""
    c = spec.cell_index().get(key)
    if c is None:
        t, row, col = key.split(".", 2)
        return f"{TABLE_SHORT.get(t, t)} {row} / {col}"
    return f"{TABLE_SHORT[c.table]} {c.row_label} / {c.col_label}"


def verdict_of(findings: list[Finding] | list[FindingView],
               tables_found: list[str], format_version: str | None) -> tuple[str, str]:
    """(verdict, reason in Chinese)."""
    errors = [f for f in findings if f.severity == "error" and f.rule not in UNCHECKABLE_RULES]
    if errors:
        n = sum(1 for f in findings if f.severity == "error")
        return FIX, f"发现 {n} 处错误，需要更正后重新发布。"
    missing = [t for t in spec.TABLES if t not in tables_found]
    not_checkable = [f for f in findings if f.kind == "not_checkable"]
    reasons = []
    if missing or any(f.rule in UNCHECKABLE_RULES for f in findings):
        names = "、".join(TABLE_SHORT[t] for t in missing) or "表格"
        reasons.append(f"未找到{names}")
    if format_version is not None and format_version != "2021":
        reasons.append(f"报告使用 {format_version} 年试行格式，未按 2021 年格式核对")
    if format_version is None:
        reasons.append("未能识别表格格式")
    if not_checkable:
        reasons.append(f"{len(not_checkable)} 个等式因空白或识别不确定的单元格无法核对")
    if reasons:
        return UNCHECKABLE, "；".join(reasons) + "。"
    hints = [f for f in findings if f.severity != "error"]
    if hints:
        return PASS, f"表格勾稽关系全部成立；另有 {len(hints)} 条提示供参考。"
    return PASS, "表格勾稽关系全部成立，未发现问题。"


def _fix_text(f: Finding, cells: dict[str, CellView]) -> str:
    if f.rule == "report.agency_unknown":
        return "在报告标题或正文中写明本机关全称。"
    if f.rule == "report.year_unknown":
        return "在报告标题或正文中写明报告年度及统计期限。"
    if f.rule == "report.table_missing":
        return f"按规定格式补充表格（{f.message}）。"
    if f.kind == "violated" and f.severity == "error":
        return f"核对并更正相关数字，使“{rule_explanation_short(f.rule)}”成立：{f.message}。"
    if f.kind == "violated":
        return f"请核实：{f.message}。"
    if f.kind == "invalid":
        return f"更正数值：{f.message}。"
    if f.kind == "blank":
        return f"填写空白单元格（没有发生的事项填 0）：{f.message}"
    if f.kind == "not_checkable":
        unc = [k for k in f.cells if k in cells and cells[k].status == Status.UNCERTAIN]
        if unc:
            return f"确认识别不清的数字，必要时重新发布清晰的版本：{f.message}。"
        return f"补填空白单元格后方可核对：{f.message}。"
    return f.message


def _fix_list(views: list[FindingView], cells: dict[str, CellView]) -> list[str]:
    """What to fix, condensed: every error; all blank cells in one item; all uncertain cells in
    one item; identities that are uncheckable only because of those blanks are not repeated."""
    out = [v.fix for v in views if v.severity == "error"]
    blanks = [v for v in views if v.kind == "blank"]
    blank_cells = {k for v in blanks for k in v.cells}
    if blanks:
        out.append("填写空白单元格（没有发生的事项填 0；空白不计为 0，含空白的等式无法核对）："
                   + "；".join(_blank_groups([cells[k] for k in sorted(blank_cells, key=_order)
                                              if k in cells])) + "。")
    uncertain = [c for c in cells.values() if c.status == Status.UNCERTAIN and c.findings]
    if uncertain:
        out.append("确认下列识别不清的数字，必要时重新发布清晰的版本："
                   + "；".join(f"{c.label} {c.text}" + (f"（{c.where}）" if c.where else "")
                              for c in uncertain) + "。")
    for v in views:
        if v.severity == "error" or v.kind == "blank":
            continue
        if v.kind == "not_checkable":
            unexplained = [k for k in v.cells if k not in blank_cells
                           and not (k in cells and cells[k].status == Status.UNCERTAIN)]
            if not unexplained:
                continue
        out.append(v.fix)
    return _dedupe(out)


def _order(key: str) -> int:
    idx = spec.cell_index()
    return list(idx).index(key) if key in idx else len(idx)


def _short_row(label: str) -> str:
    try:
        from tasks.validate import short_row_label
        return short_row_label(label)
    except Exception:   # noqa: BLE001 - a label is still a label
        return label


def _blank_groups(blank: list[CellView]) -> list[str]:
    """Blank cells per table, rows with the same blank columns together:
    "表三 本年新收、上年结转等 25 行：自然人、商业企业、…、其他 为空白"."""
    by_table: dict[str, dict[str, list[CellView]]] = {}
    for c in blank:
        by_table.setdefault(c.table, {}).setdefault(c.key.rsplit(".", 1)[0], []).append(c)
    out = []
    for table, rows in by_table.items():
        if table == "appeals":
            names = [c.col_label.replace(" ", "") for cs in rows.values() for c in cs]
            out.append(f"{TABLE_SHORT[table]}：{'、'.join(names)} 为空白")
            continue
        groups: dict[tuple[str, ...], list[str]] = {}
        for cs in rows.values():
            cols = tuple(c.col_label.split()[-1] for c in cs)
            groups.setdefault(cols, []).append(_short_row(cs[0].row_label))
        for cols, row_names in groups.items():
            if len(row_names) > 6:
                rows_text = f"{'、'.join(row_names[:3])}等 {len(row_names)} 行"
            else:
                rows_text = "、".join(row_names)
            out.append(f"{TABLE_SHORT[table]} {rows_text}：{'、'.join(cols)} 为空白")
    return out


def rule_explanation_short(rule: str) -> str:
    """The identity as a formula (validate's wording), else the title."""
    rules = _validate_rules()
    return rules.get(rule) or rule_title(rule)


def _where_parts(src: Provenance | None) -> list[tuple[str, Any]]:
    if src is None:
        return []
    parts = [("页", src.page), ("行号", src.line), ("表格", src.table), ("表格行", src.row),
             ("表格列", src.col)]
    return [(k, v) for k, v in parts if v is not None]


_WHERE_FMT = {"页": "第{}页", "行号": "第{}行", "表格": "表格{}", "表格行": "第{}行", "表格列": "第{}列"}


def _where_text(parts: list[tuple[str, Any]]) -> str:
    return " ".join(_WHERE_FMT[k].format(v + 1 if k in ("表格", "表格行", "表格列") else v)
                    for k, v in parts)


def source_rows(view: "ReportView") -> list[tuple[str, str, str]]:
    """Where every number was read, one line per printed row of the official tables:
    (table, row label, "第3页 表格2 第4行：自然人 21（第4列）、…"). Blank cells say 空白,
    inferred ones 推算 (they have no printed position of their own)."""
    from tasks.dq_layout import layouts

    out: list[tuple[str, str, str]] = []
    for layout in layouts():
        rows: dict[str, list[CellView]] = {}
        for key in layout.keys():
            rows.setdefault(key.rsplit(".", 1)[0], []).append(view.cells[key])
        for cells in rows.values():
            located = [_where_parts(c.source) for c in cells if c.status != Status.BLANK]
            common = [p for p in located[0] if all(p in other for other in located)] if located else []
            items = []
            for c in cells:
                col = c.col_label.split()[-1] if c.table != "proactive" else c.col_label
                if c.status == Status.BLANK:
                    items.append(f"{col} 空白")
                    continue
                rest = [p for p in _where_parts(c.source) if p not in common]
                note = {Status.INFERRED: "推算", Status.UNCERTAIN: "不确定"}.get(Status(c.status))
                extra = "，".join(x for x in (note, _where_text(rest)) if x)
                items.append(f"{col} {c.text}" + (f"（{extra}）" if extra else ""))
            head = _where_text(common)
            label = cells[0].row_label
            if cells[0].table == "appeals":
                label = "行政复议、行政诉讼"
            out.append((TABLE_SHORT[cells[0].table], label,
                        (f"{head}：" if head else "") + "、".join(items)))
    return out


def build_view(report: Report, findings: list[Finding], email: str | None = None) -> ReportView:
    """The view model of one report from in-memory objects."""
    index = spec.cell_index()
    cells: dict[str, CellView] = {}
    for key in report.all_keys():
        c = report.cells.get(key) or Cell(None, Status.BLANK, None)
        cs = index.get(key)
        table, row_key, col_key = key.split(".", 2)
        status = str(c.status)
        if c.value is None and status in (Status.READ, Status.INFERRED):
            status = str(Status.BLANK)      # never show a value-less cell as read
        cells[key] = CellView(
            key=key, table=table,
            row_label=cs.row_label if cs else row_key, col_label=cs.col_label if cs else col_key,
            unit=cs.unit if cs else "", value=c.value, status=status, source=c.source,
            confidence=c.confidence)
    views: list[FindingView] = []
    ordered = sorted(findings, key=lambda f: (f.severity != "error", 0))   # stable: errors first
    for n, f in enumerate(ordered, start=1):
        views.append(FindingView(number=n, rule=f.rule, severity=f.severity, kind=f.kind,
                                 message=f.message, cells=list(f.cells), expected=f.expected,
                                 actual=f.actual, fix=_fix_text(f, cells)))
        for k in f.cells:
            cv = cells.get(k)
            if cv is None:
                continue
            cv.findings.append(n)
            if f.severity == "error":
                cv.error = True
            else:
                cv.warning = True
    verdict, reason = verdict_of(findings, report.tables_found, report.format_version)
    fixes = _fix_list(views, cells)
    region_name = report.meta.get("region_name") if report.meta else None
    city_code = city_name = None
    if report.region_code:
        from tasks.regions import region
        r = region(report.region_code)
        if r is not None:
            region_name = region_name or r.name
            city_code = r.city_code
            cr = region(r.city_code) if r.city_code else None
            city_name = cr.name if cr else None
    return ReportView(
        agency=report.agency, year=report.year, file=report.file, sha256=report.sha256,
        format=report.format, format_version=report.format_version,
        region_code=report.region_code, region_name=region_name,
        city_code=city_code, city_name=city_name, tables_found=list(report.tables_found),
        cells=cells, findings=views, verdict=verdict, verdict_reason=reason, fixes=fixes,
        warnings=[w.as_dict() for w in report.warnings], email=email)


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _jsonable(v: Any) -> Any:
    if isinstance(v, Decimal):
        return format_number(v)
    return v


# ----------------------------------------------------------------------------- warehouse
def _num(v: Any, key: str) -> int | Decimal | None:
    if v is None:
        return None
    d = v if isinstance(v, Decimal) else Decimal(str(v))
    cs = spec.cell_index().get(key)
    if (cs is None or not cs.is_decimal) and d == d.to_integral_value():
        return int(d)
    return d


def _loads(v: Any) -> Any:
    if v is None or not isinstance(v, str):
        return v
    try:
        return json.loads(v)
    except ValueError:
        return v


def report_from_warehouse(con, sha256: str) -> tuple[Report, list[Finding]]:
    """One report's metadata, cells (with status and provenance) and findings from DuckDB."""
    row = con.execute(
        "SELECT file, format, format_version, agency, year, region_code, warnings, "
        "tables_found, meta FROM raw_reports WHERE sha256 = ?", [sha256]).fetchone()
    if row is None:
        raise KeyError(f"no report {sha256} in the warehouse")
    file, fmt, fver, agency, year, region_code, warnings, tables, meta = row
    report = Report(file=file, sha256=sha256, format=fmt, format_version=fver, agency=agency,
                    year=year, region_code=region_code,
                    tables_found=list(_loads(tables) or []), meta=dict(_loads(meta) or {}))
    for w in _loads(warnings) or []:
        report.warn(w.get("code", ""), w.get("message", ""), w.get("cells") or [])
    for (key, value, status, page, line, gt, gr, gc, bbox, raw, rl, cl, conf) in con.execute(
            'SELECT key, value, status, page, line, grid_table, grid_row, grid_col, bbox, '
            'raw_text, row_label, col_label, confidence FROM raw_cells WHERE sha256 = ?',
            [sha256]).fetchall():
        fields = (page, line, gt, gr, gc, bbox, raw, rl, cl)
        src = None if all(f is None for f in fields) else Provenance(
            file=file, page=page, line=line, table=gt, row=gr, col=gc,
            bbox=tuple(bbox) if bbox else None, text=raw, row_label=rl, col_label=cl)
        report.cells[key] = Cell(_num(value, key), Status(status), src, conf)
    findings = [
        Finding(rule=r, severity=s, kind=k, cells=list(_loads(c) or []), expected=_loads(e),
                actual=_loads(a), message=m or "")
        for r, s, k, c, e, a, m in con.execute(
            "SELECT rule, severity, kind, cells, expected, actual, message FROM raw_findings "
            "WHERE sha256 = ? ORDER BY seq", [sha256]).fetchall()]
    return report, findings


def load_view(con, sha256: str, email: str | None = None) -> ReportView:
    report, findings = report_from_warehouse(con, sha256)
    return build_view(report, findings, email=email)


def current_reports(con, year: int | None = None,
                    include_duplicates: bool = False) -> list[tuple[str, str | None, int | None]]:
    """(sha256, agency, year) of every current report, ordered by year, agency, file.

    A copy flagged ``report.duplicate`` (tasks.crosscheck: the agency's report for that year
    is another file) is left out unless `include_duplicates`: the agency hears about the copy
    in use, once."""
    sql = "SELECT sha256, agency, year FROM raw_reports r WHERE is_current"
    if not include_duplicates:
        sql += (" AND NOT EXISTS (SELECT 1 FROM raw_findings f WHERE f.sha256 = r.sha256"
                " AND f.rule = 'report.duplicate')")
    params: list[Any] = []
    if year is not None:
        sql += " AND year = ?"
        params.append(year)
    sql += " ORDER BY year NULLS LAST, agency NULLS LAST, file"
    return [tuple(r) for r in con.execute(sql, params).fetchall()]
