"""The 2019/2020 试行 format (国办公开办函〔2019〕60号) and the single （六）其他处理 row.

Samples are written here by hand, in the shapes real 2019 reports have: a CMS page with
rowspan/colspan tables, and a text copy with one table cell per line (like the seeds).
"""
from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

from tasks import spec
from tasks.extract import extract_file
from tasks.model import Status

C = spec.REQUEST_COLUMNS
Z = [0] * 7

# ----------------------------------------------------------------------------------- truth
PROACTIVE_2019 = {   # row → values in printed column order (本年增/减 may be negative)
    "regulations": [0, 0, 3], "normative_documents": [5, 5, 40],
    "licensing": [120, -3, 856], "other_services": [30, 2, 410],
    "penalty": [88, 0, 1503], "coercion": [12, 1, 27],
    "fees": [6, -1], "procurement": [15, Decimal("1234.56")],
}
REQUESTS_2019 = {    # consistent with every identity of the table
    "new": [10, 2, 0, 1, 0, 0, 13], "carried_over": [1, 0, 0, 0, 0, 0, 1],
    "granted": [4, 1, 0, 0, 0, 0, 5], "partly_granted": [1, 0, 0, 0, 0, 0, 1],
    "denied_state_secret": Z, "denied_prohibited_by_law": Z, "denied_security_stability": Z,
    "denied_third_party": [1, 0, 0, 0, 0, 0, 1], "denied_internal_affairs": Z,
    "denied_process_info": Z, "denied_enforcement_file": Z, "denied_query_matter": Z,
    "unable_not_held": [2, 1, 0, 0, 0, 0, 3], "unable_needs_creation": Z, "unable_unclear": Z,
    "rejected_petition": Z, "rejected_duplicate": [1, 0, 0, 0, 0, 0, 1],
    "rejected_publication": Z, "rejected_excessive": Z, "rejected_confirmation": Z,
    "other": [1, 0, 0, 1, 0, 0, 2],
    "total": [10, 2, 0, 1, 0, 0, 13], "carried_forward": [1, 0, 0, 0, 0, 0, 1],
}
APPEALS = [1, 0, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0]


def truth_2019() -> dict:
    out = {}
    for row, vals in PROACTIVE_2019.items():
        out.update({f"proactive.{row}.{c}": v
                    for c, v in zip(spec.PROACTIVE_ROWS_2019[row], vals)})
    for row, vals in REQUESTS_2019.items():
        out.update({f"requests.{row}.{c}": v for c, v in zip(C, vals)})
    out.update({f"appeals.cases.{c}": v for c, v in zip(spec.APPEAL_COLUMNS, APPEALS)})
    assert list(out) == list(spec.KEYS_2019)
    return out


_ROW_LABELS = {
    "new": "一、本年新收政府信息公开申请数量", "carried_over": "二、上年结转政府信息公开申请数量",
    "total": "（七）总计", "carried_forward": "四、结转下年度继续办理",
}
_OUTCOMES_2019 = [
    ("（一）予以公开", [("granted", None)]),
    ("（二）部分公开（区分处理的，只计这一情形，不计其他情形）", [("partly_granted", None)]),
    ("（三）不予公开", [("denied_state_secret", "1.属于国家秘密"),
                     ("denied_prohibited_by_law", "2.其他法律行政法规禁止公开"),
                     ("denied_security_stability", "3.危及“三安全一稳定”"),
                     ("denied_third_party", "4.保护第三方合法权益"),
                     ("denied_internal_affairs", "5.属于三类内部事务信息"),
                     ("denied_process_info", "6.属于四类过程性信息"),
                     ("denied_enforcement_file", "7.属于行政执法案卷"),
                     ("denied_query_matter", "8.属于行政查询事项")]),
    ("（四）无法提供", [("unable_not_held", "1.本机关不掌握相关政府信息"),
                     ("unable_needs_creation", "2.没有现成信息需要另行制作"),
                     ("unable_unclear", "3.补正后申请内容仍不明确")]),
    ("（五）不予处理", [("rejected_petition", "1.信访举报投诉类申请"),
                     ("rejected_duplicate", "2.重复申请"),
                     ("rejected_publication", "3.要求提供公开出版物"),
                     ("rejected_excessive", "4.无正当理由大量反复申请"),
                     ("rejected_confirmation", "5.要求行政机关确认或重新出具已获取信息")]),
    ("（六）其他处理", [("other", None)]),
]
_PROACTIVE_BLOCKS_2019 = [
    ("第二十条第（一）项", ["本年新制作数量", "本年新公开数量", "对外公开总数量"],
     [("规章", "regulations"), ("规范性文件", "normative_documents")]),
    ("第二十条第（五）项", ["上一年项目数量", "本年增/减", "处理决定数量"],
     [("行政许可", "licensing"), ("其他对外管理服务事项", "other_services")]),
    ("第二十条第（六）项", ["上一年项目数量", "本年增/减", "处理决定数量"],
     [("行政处罚", "penalty"), ("行政强制", "coercion")]),
    ("第二十条第（八）项", ["上一年项目数量", "本年增/减"], [("行政事业性收费", "fees")]),
    ("第二十条第（九）项", ["采购项目数量", "采购总金额"], [("政府集中采购", "procurement")]),
]


def _td(text, rs=1, cs=1) -> str:
    a = (f" rowspan='{rs}'" if rs > 1 else "") + (f" colspan='{cs}'" if cs > 1 else "")
    return f"<td{a}><p><span>{text if text != '' else '&nbsp;'}</span></p></td>"


def _requests_rows_html(rows: dict[str, list], single_other: bool = True) -> str:
    out = []
    for key in ("new", "carried_over"):
        out.append(_td(_ROW_LABELS[key], cs=3) + "".join(_td(v) for v in rows[key]))
    outcomes = _OUTCOMES_2019 if single_other else _OUTCOMES_2019[:-1] + [
        ("（六）其他处理", [("other_no_correction", "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请"),
                      ("other_fee_unpaid", "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请"),
                      ("other_other", "3.其他")])]
    n_result_rows = sum(len(r) for _, r in outcomes) + 1
    first = True
    for group, subrows in outcomes:
        for i, (key, label) in enumerate(subrows):
            cells = _td("三、本年度办理结果", rs=n_result_rows) if first else ""
            first = False
            if label is None:
                cells += _td(group, cs=2)
            else:
                cells += (_td(group, rs=len(subrows)) if i == 0 else "") + _td(label)
            out.append(cells + "".join(_td(v) for v in rows[key]))
    out.append(_td("（七）总计", cs=2) + "".join(_td(v) for v in rows["total"]))
    out.append(_td(_ROW_LABELS["carried_forward"], cs=3)
               + "".join(_td(v) for v in rows["carried_forward"]))
    head = ("<tr>" + _td("（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）", rs=3, cs=3)
            + _td("申请人情况", cs=7) + "</tr><tr>" + _td("自然人", rs=2) + _td("法人或其他组织", cs=5)
            + _td("总计", rs=2) + "</tr><tr>"
            + "".join(_td(x) for x in ("商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他"))
            + "</tr>")
    return "<table border='1'>" + head + "".join(f"<tr>{r}</tr>" for r in out) + "</table>"


def _appeals_html(vals) -> str:
    return ("<table border='1'><tr>" + _td("行政复议", cs=5) + _td("行政诉讼", cs=10) + "</tr><tr>"
            + "".join(_td(x, rs=2) for x in ("结果维持", "结果纠正", "其他结果", "尚未审结", "总计"))
            + _td("未经复议直接起诉", cs=5) + _td("复议后起诉", cs=5) + "</tr><tr>"
            + "".join(_td(x) for x in ("结果维持", "结果纠正", "其他结果", "尚未审结", "总计") * 2)
            + "</tr><tr>" + "".join(_td(v) for v in vals) + "</tr></table>")


def _page(title: str, tables: list[str]) -> bytes:
    nav = "".join(f"<li><a href='/c{i}'>栏目{i}</a></li>" for i in range(20))
    return (f"<html><head><meta charset='gbk'><title>{title}</title></head><body>"
            f"<div class='nav'><ul>{nav}</ul></div><div class='article'>"
            f"<div class='title'>{title}</div><div class='text'>"
            f"<p>本报告根据《中华人民共和国政府信息公开条例》要求编制。本报告中所列数据的统计期限自2019年1月1日起至2019年12月31日止。</p>"
            f"<p>一、总体情况</p><p>{'我局认真贯彻落实政府信息公开条例，持续深化政务公开。' * 4}</p>"
            f"<p>二、主动公开政府信息情况</p>{tables[0]}"
            f"<p>三、收到和处理政府信息公开申请情况</p>{tables[1]}"
            f"<p>四、政府信息公开行政复议、行政诉讼情况</p>{tables[2]}"
            f"<p>五、存在的主要问题及改进情况</p><p>{'信息公开的及时性和规范性仍需提高。' * 3}</p>"
            f"</div></div><div class='footer'>版权所有 某某县人民政府 网站标识码 1234567890</div>"
            f"</body></html>").encode("gbk")


def html_2019() -> bytes:
    rows = []
    for caption, heads, block in _PROACTIVE_BLOCKS_2019:
        rows.append(_td(caption, cs=4))
        rows.append(_td("信息内容") + "".join(_td(h, cs=4 - len(heads) if i == len(heads) - 1 else 1)
                                           for i, h in enumerate(heads)))
        for label, key in block:
            vals = PROACTIVE_2019[key]
            rows.append(_td(label) + "".join(_td(v, cs=4 - len(vals) if i == len(vals) - 1 else 1)
                                             for i, v in enumerate(vals)))
    proactive = "<table border='1'>" + "".join(f"<tr>{r}</tr>" for r in rows) + "</table>"
    return _page("连江县卫生健康局2019年政府信息公开工作年度报告",
                 [proactive, _requests_rows_html(REQUESTS_2019), _appeals_html(APPEALS)])


def text_2019() -> str:
    """The same report as a text copy with one table cell per line (the seeds' layout)."""
    lines = ["连江县卫生健康局2019年政府信息公开工作年度报告", "",
             "本报告中所列数据的统计期限自2019年1月1日起至2019年12月31日止。", "",
             "二、主动公开政府信息情况", ""]

    def row(*cells):
        lines.extend("\t" + str(c) for c in cells)
        lines.append("")
    for caption, heads, block in _PROACTIVE_BLOCKS_2019:
        row(caption)
        row("信息内容", *heads)
        for label, key in block:
            row(label, *PROACTIVE_2019[key])
    lines += ["", "三、收到和处理政府信息公开申请情况"]
    row("（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）", "申请人情况")
    row("", "自然人", "法人或其他组织", "总计")
    row("", "", "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他", "")
    row(_ROW_LABELS["new"], *REQUESTS_2019["new"])
    row(_ROW_LABELS["carried_over"], *REQUESTS_2019["carried_over"])
    first = True
    for group, subrows in _OUTCOMES_2019:
        for i, (key, label) in enumerate(subrows):
            lead = ["三、本年度办理结果" if first else ""]
            first = False
            labels = [group] if label is None else ([group if i == 0 else "", label])
            row(*lead, *labels, *REQUESTS_2019[key])
    row("", "（七）总计", *REQUESTS_2019["total"])
    row(_ROW_LABELS["carried_forward"], *REQUESTS_2019["carried_forward"])
    lines += ["", "四、政府信息公开行政复议、行政诉讼情况"]
    row("行政复议", "行政诉讼")
    row("结果维持", "结果纠正", "其他结果", "尚未审结", "总计", "未经复议直接起诉", "复议后起诉")
    row(*(["结果维持", "结果纠正", "其他结果", "尚未审结", "总计"] * 2))
    row(*APPEALS)
    lines += ["", "五、存在的主要问题及改进情况", "", "无。"]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------ spec
def test_cells_2019_contract():
    cells = spec.cells_2019()
    assert len(cells) == 22 + 23 * 7 + 15 == len({c.key for c in cells})
    with open(Path(spec.SPEC_DIR) / "cells_2019.csv", encoding="utf-8") as f:
        header = next(csv.reader(f))
    with open(Path(spec.SPEC_DIR) / "cells_2021.csv", encoding="utf-8") as f:
        assert header == next(csv.reader(f))
    own = [c.key for c in cells if c.key not in set(spec.KEYS_2021)]
    assert len(own) == 22 + 7
    assert [k for k in own if k.startswith("requests.")] == [f"requests.other.{c}" for c in C]
    assert [k for k in spec.KEYS_2019 if k.startswith("proactive.")] == [
        f"proactive.{r}.{c}" for r, cols in spec.PROACTIVE_ROWS_2019.items() for c in cols]
    assert sum(len(v) for v in spec.PROACTIVE_ROWS_2019.values()) == 22
    # requests and appeals keys of 2019 are the 2021 ones, minus the three （六） sub-rows
    shared = [k for k in spec.KEYS_2019 if not k.startswith(("proactive.", "requests.other."))]
    assert all(k in set(spec.KEYS_2021) for k in shared)
    assert spec.cell_index()["proactive.procurement.amount"].is_decimal
    assert spec.cell_index()["requests.other.total"].row_label.endswith("（六）其他处理")
    assert len(spec.cell_index()) == 200 + 29
    assert spec.REQUEST_ROWS_2019[20] == "other" and len(spec.REQUEST_ROWS_2019) == 23


def test_identity_terms_substitutes_the_single_other_row():
    rt = [i for i in spec.identities() if i.rule == "requests.result_total"]
    present_2021 = set(spec.KEYS_2021)
    for ident in rt:
        assert spec.identity_terms(ident, present_2021) == (ident.lhs, ident.rhs)
        col = ident.instance
        lhs, rhs = spec.identity_terms(ident, set(spec.KEYS_2019))
        assert lhs == ident.lhs and len(rhs) == 19
        assert f"requests.other.{col}" in rhs
        assert not any(k.startswith("requests.other_") for k in rhs)
        # a 2021-era report that printed the single row: its cells hold both kinds of keys
        assert spec.identity_terms(ident, present_2021 | {f"requests.other.{col}"})[1] == rhs
    balance = next(i for i in spec.identities() if i.rule == "requests.balance")
    assert spec.identity_terms(balance, set(spec.KEYS_2019)) == (balance.lhs, balance.rhs)


def _check_identities(report) -> None:
    _check_identities_requests(report)
    for ident in spec.identities():
        if ident.rule.startswith("appeals."):
            assert sum(report.value(k) for k in ident.lhs) == sum(report.value(k) for k in ident.rhs)


# ------------------------------------------------------------------------------- extraction
def test_2019_html_exact(tmp_path: Path):
    p = tmp_path / "wjw-2019.html"
    p.write_bytes(html_2019())
    ex = extract_file(p)
    assert ex.source.status == "ok"
    r = ex.report
    assert r.format_version == "2019"
    assert r.agency == "连江县卫生健康局" and r.year == 2019
    assert r.tables_found == ["proactive", "requests", "appeals"]
    truth = truth_2019()
    assert {k: r.value(k) for k in truth} == truth
    assert all(r.cells[k].status == Status.READ for k in truth)
    assert isinstance(r.value("proactive.procurement.amount"), Decimal)
    # the 2021-only keys stay blank, never zero
    only_2021 = [k for k in spec.KEYS_2021 if k not in truth]
    assert len(only_2021) == 10 + 21
    assert all(r.cells[k].value is None and r.cells[k].status == Status.BLANK for k in only_2021)
    assert not r.warnings, [w.message for w in r.warnings]
    out = r.to_json()["cells"]
    assert list(out)[:200] == list(spec.KEYS_2021) and set(truth) <= set(out)
    assert out["proactive.licensing.change"] == -3
    src = r.cells["proactive.other_services.handled"].source
    assert (src.table, src.row, src.col, src.text) == (0, 7, 3, "410")
    src = r.cells["requests.other.public_interest"].source
    assert (src.table, src.col, src.text) == (1, 6, "1") and "其他处理" in src.row_label
    _check_identities(r)


def test_2019_text_copy_exact(tmp_path: Path):
    p = tmp_path / "wjw-2019.txt"
    p.write_text(text_2019(), encoding="utf-8")
    ex = extract_file(p)
    r = ex.report
    assert r.format == "txt" and r.format_version == "2019"
    truth = truth_2019()
    assert {k: r.value(k) for k in truth} == truth
    assert not r.warnings, [w.message for w in r.warnings]
    _check_identities(r)


def test_2021_report_with_single_other_row(tmp_path: Path):
    """A 2021-format report (2021 table 二) that keeps the single （六）其他处理 row."""
    d = {"proactive": "<table border='1'><tr>" + _td("第二十条第（一）项", cs=4) + "</tr><tr>"
         + "".join(_td(x) for x in ("信息内容", "本年制发件数", "本年废止件数", "现行有效件数"))
         + "</tr><tr>" + "".join(_td(x) for x in ("规章", 0, 0, 2)) + "</tr><tr>"
         + "".join(_td(x) for x in ("行政规范性文件", 3, 1, 20)) + "</tr><tr>"
         + _td("第二十条第（五）项", cs=4) + "</tr><tr>" + _td("信息内容") + _td("本年处理决定数量", cs=3)
         + "</tr><tr>" + _td("行政许可") + _td(77, cs=3) + "</tr></table>"}
    page = _page("连江县卫生健康局2022年政府信息公开工作年度报告",
                 [d["proactive"], _requests_rows_html(REQUESTS_2019), _appeals_html(APPEALS)])
    p = tmp_path / "wjw-2022.html"
    p.write_bytes(page.replace("2019年".encode("gbk"), "2022年".encode("gbk")))
    r = extract_file(p).report
    assert r.format_version == "2021" and r.year == 2022
    assert r.value("proactive.normative_documents.in_force") == 20
    assert r.value("proactive.licensing.decisions") == 77
    assert [r.value(f"requests.other.{c}") for c in C] == REQUESTS_2019["other"]
    for row in spec.OTHER_SUBROWS:
        assert all(r.cells[f"requests.{row}.{c}"].status == Status.BLANK for c in C)
    # no "row missing" for the three sub-rows; only the absent rows of table 二 are reported
    missing = [w for w in r.warnings if w.code == "layout.row_missing"]
    assert {w.cells[0].rsplit(".", 1)[0] for w in missing} == {
        "proactive.penalty", "proactive.coercion", "proactive.fees"}
    _check_identities_requests(r)


def _check_identities_requests(report) -> None:
    """Every identity of table 三 holds; with the single （六） row, result_total is checkable
    through identity_terms, only the sub-rows' own row totals are not (their cells are blank)."""
    present = set(report.cells)
    checked = set()
    for ident in spec.identities():
        if not ident.rule.startswith("requests."):
            continue
        lhs, rhs = spec.identity_terms(ident, present)
        vals = [report.value(k) for k in lhs + rhs]
        if None in vals:
            assert ident.rule == "requests.row_total" and ident.instance in spec.OTHER_SUBROWS
            continue
        checked.add(ident.rule)
        assert sum(report.value(k) for k in lhs) == sum(report.value(k) for k in rhs), ident.id
    assert checked == {"requests.balance", "requests.result_total", "requests.row_total"}


def test_2021_three_subrows_are_still_2021(tmp_path: Path):
    rows = dict(REQUESTS_2019)
    del rows["other"]
    rows.update({"other_no_correction": [1, 0, 0, 0, 0, 0, 1], "other_fee_unpaid": Z,
                 "other_other": [0, 0, 0, 1, 0, 0, 1]})
    page = _page("连江县卫生健康局2022年政府信息公开工作年度报告",
                 ["", _requests_rows_html(rows, single_other=False), _appeals_html(APPEALS)])
    p = tmp_path / "wjw.html"
    p.write_bytes(page)
    r = extract_file(p).report
    assert r.format_version == "2021"
    assert not any(k.startswith("requests.other.") for k in r.cells)
    assert r.value("requests.other_other.public_interest") == 1
    assert not [w for w in r.warnings if w.code == "layout.row_missing"]
    _check_identities_requests(r)
