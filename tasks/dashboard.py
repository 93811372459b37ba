"""A static HTML dashboard of one year's roll-up (`nianbao dashboard`).

One self-contained file: plotly.js is inlined (no CDN: the machine and the users may be
offline), so it opens from the file system with no server. Sections:

1. 报送情况 — coverage by city and county against the roster (reported / with errors / missing),
   a stacked bar chart and a table; roster agencies with no report; reports of no roster agency.
2. 依申请公开 — applications by outcome group and by applicant type (province roll-up).
3. 同比变化 — headline totals this year vs last year (same roll-up, previous year).
4. 行政复议、行政诉讼 — cases per 100 new applications, by city, and the share corrected.
5. 主要问题 — the most frequent findings of the year's reports (rule, reports, findings).

Numbers come from the warehouse views (``mart_rollup`` via :func:`tasks.rollup.rollup`,
``mart_coverage``, ``mart_coverage_unmatched``, ``raw_findings``), so SQL sees the same.
:func:`dashboard_data` collects them (testable without a browser); :func:`render` draws.
"""
from __future__ import annotations

import datetime as _dt
import html
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tasks import spec

FONT = '"Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif'
APPLICANT_NAMES = {"natural_person": "自然人", "commercial": "商业企业", "research": "科研机构",
                   "public_interest": "社会公益组织", "legal_service": "法律服务机构",
                   "other_org": "其他组织"}
OUTCOME_NAMES = ("予以公开", "部分公开", "不予公开", "无法提供", "不予处理", "其他处理")
HEADLINES = (
    ("requests.new.total", "本年新收申请"),
    ("requests.carried_over.total", "上年结转申请"),
    ("requests.total.total", "办理结果总计"),
    ("requests.carried_forward.total", "结转下年度"),
    ("appeals.cases.review_total", "行政复议"),
    ("appeals.cases.suit_direct_total", "行政诉讼（未经复议直接起诉）"),
    ("appeals.cases.suit_after_review_total", "行政诉讼（复议后起诉）"),
    ("proactive.normative_documents.issued", "制发行政规范性文件"),
    ("proactive.licensing.decisions", "行政许可决定"),
    ("proactive.penalty.decisions", "行政处罚决定"),
    ("proactive.fees.amount", "行政事业性收费（万元）"),
)


@dataclass
class DashboardData:
    year: int
    province: str
    include_errors: bool
    reports: int = 0
    reports_with_errors: int = 0
    roster_size: int | None = None
    coverage: list[dict[str, Any]] = field(default_factory=list)   # per city / county
    missing: list[dict[str, Any]] = field(default_factory=list)
    unmatched: list[dict[str, Any]] = field(default_factory=list)
    outcomes: dict[str, float | None] = field(default_factory=dict)
    applicants: dict[str, float | None] = field(default_factory=dict)
    headlines: list[dict[str, Any]] = field(default_factory=list)  # key, label, this, last, change
    appeals: list[dict[str, Any]] = field(default_factory=list)    # per city: rates
    findings: list[dict[str, Any]] = field(default_factory=list)   # top rules


def _f(v) -> float | None:
    return None if v is None else float(v)


def _vals(frame, **where) -> dict[str, Decimal | None]:
    from tasks.rollup import values

    if frame.is_empty():
        return {}
    return values(frame, **where)


def dashboard_data(con, year: int | None = None, include_errors: bool = True,
                   top_findings: int = 12) -> DashboardData:
    """Everything the dashboard shows, from the warehouse (year: the latest by default)."""
    from tasks.coverage import roster_from_warehouse
    from tasks.crosscheck import CROSS_RULES
    from tasks.rollup import rollup
    from tasks.rollup_workbook import latest_year
    from tasks.validate import RULES

    year = year if year is not None else latest_year(con)
    if year is None:
        raise ValueError("数据仓库中没有报告")
    prov = rollup(con, year=year, level="province", include_errors=include_errors)
    prov = prov.filter(prov["province_code"].is_not_null())
    codes = sorted(set(prov["province_code"].to_list()))
    pcode = codes[0] if codes else None
    from tasks.regions import region

    d = DashboardData(year=year, province=(region(pcode).name if pcode and region(pcode) else
                                           "（未知）"), include_errors=include_errors)
    this = _vals(prov, province_code=pcode) if pcode else {}
    last_frame = rollup(con, year=year - 1, level="province", include_errors=include_errors)
    last = _vals(last_frame, province_code=pcode) if pcode and not last_frame.filter(
        last_frame["province_code"] == pcode).is_empty() else {}
    d.reports, d.reports_with_errors = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE has_errors) FROM stg_reports_current "
        "WHERE year = ?", [year]).fetchone()
    # applications
    for (label, rows), name in zip(spec.OUTCOME_GROUPS, OUTCOME_NAMES):
        if rows == spec.OTHER_SUBROWS:
            d.outcomes[name] = _f(this.get(spec.key("requests", spec.OTHER_SINGLE_ROW, "total")))
        else:
            vs = [this.get(spec.key("requests", r, "total")) for r in rows]
            d.outcomes[name] = None if all(v is None for v in vs) else float(
                sum(v for v in vs if v is not None))
    for col, name in APPLICANT_NAMES.items():
        d.applicants[name] = _f(this.get(spec.key("requests", "new", col)))
    for key, label in HEADLINES:
        a, b = this.get(key), last.get(key)
        change = (float(a - b) / float(b) * 100) if a is not None and b not in (None, 0) else None
        d.headlines.append({"key": key, "label": label, "this": _f(a), "last": _f(b),
                            "change": change})
    # coverage and appeals by city / county
    roster, _ = roster_from_warehouse(con)
    d.roster_size = len(roster) if roster else None
    if roster:
        for lv, col in (("city", "city_code"), ("county", "county_code")):
            for code, name, n, ok, err, miss in con.execute(f"""
                    SELECT c.{col}, any_value(g.full_name), count(*),
                           count(*) FILTER (WHERE status = 'reported'),
                           count(*) FILTER (WHERE status = 'reported_with_errors'),
                           count(*) FILTER (WHERE status = 'missing')
                    FROM mart_coverage c LEFT JOIN regions g ON g.code = c.{col}
                    WHERE year = ? AND c.{col} IS NOT NULL
                    GROUP BY c.{col} ORDER BY c.{col}""", [year]).fetchall():
                d.coverage.append({"level": lv, "code": code, "name": name or code,
                                   "roster": n, "reported": ok, "with_errors": err,
                                   "missing": miss,
                                   "rate": (ok + err) / n * 100 if n else None})
        d.missing = [{"agency": a, "region": g, "email": e} for a, g, e in con.execute(
            "SELECT agency, region_name, email FROM mart_coverage WHERE year = ? AND "
            "status = 'missing' ORDER BY region_code, agency", [year]).fetchall()]
    d.unmatched = [{"agency": a, "file": f, "region": g} for a, f, g in con.execute(
        "SELECT agency, file, region_name FROM mart_coverage_unmatched WHERE year = ? "
        "ORDER BY region_code, agency", [year]).fetchall()]
    city = rollup(con, year=year, level="city", include_errors=include_errors)
    for code in sorted({c for c in city["city_code"].to_list() if c is not None}):
        v = _vals(city, city_code=code)
        new = v.get("requests.new.total")
        review = v.get("appeals.cases.review_total")
        suits = [v.get(f"appeals.cases.{g}_total") for g in ("suit_direct", "suit_after_review")]
        suit = None if any(s is None for s in suits) else sum(suits)
        decided = [v.get(f"appeals.cases.review_{p}") for p in ("upheld", "corrected", "other")]
        corrected = v.get("appeals.cases.review_corrected")
        r = region(code)
        d.appeals.append({
            "code": code, "name": r.name if r else code, "new": _f(new),
            "review": _f(review), "suits": _f(suit),
            "review_rate": float(review) / float(new) * 100 if new and review is not None else None,
            "suit_rate": float(suit) / float(new) * 100 if new and suit is not None else None,
            "corrected_share": (float(corrected) / float(sum(decided)) * 100
                                if None not in decided and sum(decided) else None)})
    rules = {**RULES, **CROSS_RULES}
    for rule, sev, n_reports, n in con.execute("""
            SELECT f.rule, min(f.severity), count(DISTINCT f.sha256), count(*)
            FROM raw_findings f JOIN stg_reports_current r USING (sha256)
            WHERE r.year = ? GROUP BY f.rule ORDER BY count(DISTINCT f.sha256) DESC, f.rule
            LIMIT ?""", [year, top_findings]).fetchall():
        d.findings.append({"rule": rule, "title": rules.get(rule, rule), "severity": sev,
                           "reports": n_reports, "findings": n})
    return d


# ------------------------------------------------------------------------------ drawing
def _layout(title: str, height: int = 360) -> dict:
    return {"title": {"text": title, "font": {"size": 15}}, "height": height,
            "font": {"family": FONT, "size": 12}, "margin": {"l": 60, "r": 20, "t": 50, "b": 90},
            "paper_bgcolor": "white", "plot_bgcolor": "#fafbfc"}


def figures(d: DashboardData) -> list[tuple[str, dict]]:
    """(div id, plotly figure as a dict) for every chart."""
    figs: list[tuple[str, dict]] = []
    cities = [c for c in d.coverage if c["level"] == "city"]
    if cities:
        x = [c["name"].split("省")[-1] for c in cities]
        figs.append(("chart-coverage", {"data": [
            {"type": "bar", "name": "已报送", "x": x, "y": [c["reported"] for c in cities],
             "marker": {"color": "#4c9f70"}},
            {"type": "bar", "name": "已报送（有错误）", "x": x,
             "y": [c["with_errors"] for c in cities], "marker": {"color": "#e0a030"}},
            {"type": "bar", "name": "未报送", "x": x, "y": [c["missing"] for c in cities],
             "marker": {"color": "#c8553d"}}],
            "layout": {**_layout(f"{d.year}年各市报送情况（名单中的机关数）"), "barmode": "stack"}}))
    figs.append(("chart-outcomes", {"data": [{
        "type": "bar", "x": list(d.outcomes), "y": list(d.outcomes.values()),
        "marker": {"color": "#3b6ea5"},
        "text": [("" if v is None else f"{v:.0f}") for v in d.outcomes.values()],
        "textposition": "auto"}],
        "layout": _layout(f"{d.year}年依申请公开办理结果（件）")}))
    figs.append(("chart-applicants", {"data": [{
        "type": "pie", "labels": list(d.applicants),
        "values": [v or 0 for v in d.applicants.values()], "hole": 0.4,
        "textinfo": "percent", "sort": False}],
        "layout": _layout(f"{d.year}年新收申请的申请人类型")}))
    hl = [h for h in d.headlines if h["this"] is not None or h["last"] is not None][:7]
    figs.append(("chart-yoy", {"data": [
        {"type": "bar", "name": f"{d.year - 1}年", "x": [h["label"] for h in hl],
         "y": [h["last"] for h in hl], "marker": {"color": "#9db4cf"}},
        {"type": "bar", "name": f"{d.year}年", "x": [h["label"] for h in hl],
         "y": [h["this"] for h in hl], "marker": {"color": "#3b6ea5"}}],
        "layout": {**_layout("同比变化（全省合计，件）"), "barmode": "group"}}))
    if d.appeals:
        figs.append(("chart-appeals", {"data": [
            {"type": "bar", "name": "行政复议（每百件申请）", "x": [a["name"] for a in d.appeals],
             "y": [a["review_rate"] for a in d.appeals], "marker": {"color": "#7a5195"}},
            {"type": "bar", "name": "行政诉讼（每百件申请）", "x": [a["name"] for a in d.appeals],
             "y": [a["suit_rate"] for a in d.appeals], "marker": {"color": "#ef5675"}}],
            "layout": {**_layout(f"{d.year}年行政复议、行政诉讼率（按市）"), "barmode": "group"}}))
    if d.findings:
        top = list(reversed(d.findings))
        figs.append(("chart-findings", {"data": [{
            "type": "bar", "orientation": "h", "y": [f["rule"] for f in top],
            "x": [f["reports"] for f in top],
            "marker": {"color": ["#c8553d" if f["severity"] == "error" else "#e0a030"
                                 for f in top]},
            "hovertext": [f["title"] for f in top]}],
            "layout": {**_layout(f"{d.year}年主要问题（涉及报告数）", 420),
                       "margin": {"l": 190, "r": 20, "t": 50, "b": 40}}}))
    return figs


def _num(v, digits: int = 0) -> str:
    if v is None:
        return "—"
    if digits:
        return f"{v:.{digits}f}"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.4f}".rstrip("0").rstrip(".")


def _table(head: list[str], rows: list[list[Any]], cls: str = "") -> str:
    e = html.escape
    out = [f'<table class="{cls}"><thead><tr>' + "".join(f"<th>{e(h)}</th>" for h in head)
           + "</tr></thead><tbody>"]
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


_CSS = f"""
body {{ font-family: {FONT}; margin: 0; background: #f3f5f8; color: #1d2733; }}
header {{ background: #1f3b5c; color: white; padding: 18px 28px; }}
header h1 {{ margin: 0 0 6px 0; font-size: 22px; }}
main {{ padding: 16px 28px 40px; max-width: 1280px; }}
section {{ background: white; border-radius: 6px; padding: 14px 18px; margin: 14px 0;
          box-shadow: 0 1px 3px rgba(0,0,0,.08); }}
h2 {{ font-size: 17px; margin: 4px 0 10px; border-left: 4px solid #3b6ea5; padding-left: 8px; }}
.kpis {{ display: flex; gap: 14px; flex-wrap: wrap; }}
.kpi {{ background: #f5f8fc; border-radius: 6px; padding: 10px 16px; min-width: 150px; }}
.kpi b {{ display: block; font-size: 22px; }}
.grid {{ display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }}
table {{ border-collapse: collapse; font-size: 13px; width: 100%; margin: 8px 0; }}
th, td {{ border: 1px solid #d5dbe3; padding: 4px 8px; text-align: left; }}
th {{ background: #eef1f5; }}
td.num, th.num {{ text-align: right; }}
.note {{ color: #5a6878; font-size: 12px; }}
.bad {{ color: #a3261b; }}
#js-errors:empty {{ display: none; }}
#js-errors {{ color: white; background: #a3261b; padding: 6px; }}
"""


def render(d: DashboardData, generated: _dt.date | None = None) -> str:
    """The dashboard as one HTML document (plotly.js inlined)."""
    from plotly.offline import get_plotlyjs

    e = html.escape
    figs = figures(d)
    gen = (generated or _dt.date.today()).isoformat()
    cov_total = sum(c["roster"] for c in d.coverage if c["level"] == "city")
    cov_ok = sum(c["reported"] + c["with_errors"] for c in d.coverage if c["level"] == "city")
    kpis = [("报告", f"{d.reports}"), ("有错误的报告", f"{d.reports_with_errors}"),
            ("名单机关", "未加载" if d.roster_size is None else f"{d.roster_size}"),
            ("报送率", f"{cov_ok / cov_total * 100:.1f}%" if cov_total else "—"),
            ("未报送", "—" if d.roster_size is None else f"{len(d.missing)}"),
            ("名单外报告", f"{len(d.unmatched)}")]
    parts = [f"""<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8">
<title>{e(d.province)}{d.year}年政府信息公开工作年度报告汇总看板</title>
<style>{_CSS}</style>
<script>window.__errors = []; window.addEventListener('error', function (ev) {{
  window.__errors.push(String(ev.message));
  var el = document.getElementById('js-errors'); if (el) el.textContent = window.__errors.join('; ');
}});</script>
<script>{get_plotlyjs()}</script></head><body>
<div id="js-errors"></div>
<header><h1>{e(d.province)}{d.year}年政府信息公开工作年度报告汇总看板</h1>
<div>生成日期 {gen} · 数据来自 nianbao 数据仓库 · 合计{'含' if d.include_errors else '不含'}有错误的报告 ·
空白单元格不计为 0</div></header><main>
<section><div class="kpis">""" + "".join(
        f'<div class="kpi">{e(k)}<b>{e(v)}</b></div>' for k, v in kpis) + "</div></section>"]

    def chart(fid: str) -> str:
        return f'<div id="{fid}" class="chart"></div>' if any(f == fid for f, _ in figs) else ""

    # 1 coverage
    parts.append("<section><h2>一、报送情况</h2>")
    if d.roster_size is None:
        parts.append('<p class="bad">未加载机关名单（nianbao roster load 名单.csv），无法统计未报送的机关。</p>')
    else:
        parts.append(chart("chart-coverage"))
        rows = [[c["name"], "市" if c["level"] == "city" else "县（区）", c["roster"], c["reported"],
                 c["with_errors"], c["missing"], _num(c["rate"], 1) + "%"] for c in d.coverage]
        parts.append(_table(["地区", "层级", "名单机关", "已报送", "已报送（有错误）", "未报送", "报送率"],
                            rows, "coverage"))
        if d.missing:
            parts.append(f"<h3>未报送的机关（{len(d.missing)}）</h3>")
            parts.append(_table(["机关", "地区", "电子邮箱"],
                                [[m["agency"], m["region"] or "", m["email"] or ""]
                                 for m in d.missing], "missing"))
    if d.unmatched:
        parts.append(f"<h3>名单外的报告（{len(d.unmatched)}）</h3>")
        parts.append(_table(["报告中的机关名称", "地区", "文件"],
                            [[u["agency"] or "（未识别）", u["region"] or "（未识别）", u["file"]]
                             for u in d.unmatched], "unmatched"))
    parts.append("</section>")
    # 2 applications
    parts.append('<section><h2>二、依申请公开</h2><div class="grid">'
                 + chart("chart-outcomes") + chart("chart-applicants") + "</div></section>")
    # 3 year on year
    parts.append("<section><h2>三、同比变化</h2>" + chart("chart-yoy"))
    parts.append(_table(["项目", f"{d.year - 1}年", f"{d.year}年", "变化"],
                        [[h["label"], _num(h["last"]), _num(h["this"]),
                          "—" if h["change"] is None else f"{h['change']:+.1f}%"]
                         for h in d.headlines], "yoy"))
    parts.append("</section>")
    # 4 appeals
    parts.append("<section><h2>四、行政复议、行政诉讼</h2>" + chart("chart-appeals"))
    parts.append(_table(["市", "新收申请", "行政复议", "每百件申请复议", "行政诉讼", "每百件申请诉讼",
                         "复议纠正占比"],
                        [[a["name"], _num(a["new"]), _num(a["review"]), _num(a["review_rate"], 1),
                          _num(a["suits"]), _num(a["suit_rate"], 1),
                          "—" if a["corrected_share"] is None else f"{a['corrected_share']:.1f}%"]
                         for a in d.appeals], "appeals"))
    parts.append("</section>")
    # 5 findings
    parts.append("<section><h2>五、主要问题</h2>" + chart("chart-findings"))
    parts.append(_table(["规则", "说明", "级别", "涉及报告", "问题数"],
                        [[f["rule"], f["title"], "错误" if f["severity"] == "error" else "警告",
                          f["reports"], f["findings"]] for f in d.findings], "findings"))
    parts.append("</section></main>")
    config = {"displaylogo": False, "responsive": True, "displayModeBar": False}
    plots = "".join(
        f"Plotly.newPlot({json.dumps(fid)}, {json.dumps(fig['data'], ensure_ascii=False)}, "
        f"{json.dumps(fig['layout'], ensure_ascii=False)}, {json.dumps(config)});\n"
        for fid, fig in figs)
    parts.append(f"<script>\n{plots}document.body.dataset.charts = "
                 f"document.querySelectorAll('.chart .main-svg').length ? "
                 f"String(document.querySelectorAll('.chart').length) : '0';\n</script>")
    parts.append("</body></html>")
    return "".join(parts)


def write_dashboard(con, path: str | Path, year: int | None = None,
                    include_errors: bool = True) -> tuple[Path, DashboardData]:
    d = dashboard_data(con, year, include_errors)
    path = Path(path)
    from tasks.atomic import write_text    # no half-written page under the real name

    write_text(path, render(d))
    return path, d
