"""From a `ReportTruth` to a format-neutral document: title, prose and the three tables.

The tables are grids of `TCell`s with rowspan/colspan exactly as in the official Word template
(国办公开办函〔2021〕30号; see shared/real/official-template-blank.docx), so every renderer
(text layouts here, HTML/DOCX/PDF later) prints the same content its own way. Label drifts
(`truth.drifts`) are applied here: they are part of what the report says, not of the format.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from functools import cache
from decimal import Decimal

from tasks import spec
from tasks.synth import narrative
from tasks.synth.truth import BLANK, ReportTruth

# Label drifts (not findings): recorded in truth.drifts.
DRIFTS = (
    "label.prohibited_by_law",   # 其他法律法规规章禁止公开
    "label.halfwidth",           # (一) … (单位:万元)
    "label.straight_quotes",     # 危及"三安全一稳定"
    "label.spaced",              # 结果 维持, 商业 企业, (七) 总计
    "label.row_cut",             # a long row label cut across a line (text layout B)
    "title.paraphrased",         # section titles in other words
)

NOTE = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"
ROW_LABELS = {
    "new": "一、本年新收政府信息公开申请数量",
    "carried_over": "二、上年结转政府信息公开申请数量",
    "granted": "（一）予以公开",
    "partly_granted": "（二）部分公开（区分处理的，只计这一情形，不计其他情形）",
    "denied_state_secret": "1.属于国家秘密",
    "denied_prohibited_by_law": "2.其他法律行政法规禁止公开",
    "denied_security_stability": "3.危及“三安全一稳定”",
    "denied_third_party": "4.保护第三方合法权益",
    "denied_internal_affairs": "5.属于三类内部事务信息",
    "denied_process_info": "6.属于四类过程性信息",
    "denied_enforcement_file": "7.属于行政执法案卷",
    "denied_query_matter": "8.属于行政查询事项",
    "unable_not_held": "1.本机关不掌握相关政府信息",
    "unable_needs_creation": "2.没有现成信息需要另行制作",
    "unable_unclear": "3.补正后申请内容仍不明确",
    "rejected_petition": "1.信访举报投诉类申请",
    "rejected_duplicate": "2.重复申请",
    "rejected_publication": "3.要求提供公开出版物",
    "rejected_excessive": "4.无正当理由大量反复申请",
    "rejected_confirmation": "5.要求行政机关确认或重新出具已获取信息",
    "other_no_correction": "1.申请人无正当理由逾期不补正、行政机关不再处理其政府信息公开申请",
    "other_fee_unpaid": "2.申请人逾期未按收费通知要求缴纳费用、行政机关不再处理其政府信息公开申请",
    "other_other": "3.其他",
    "total": "（七）总计",
    "carried_forward": "四、结转下年度继续办理",
}
GROUP_LABELS = {"denied": "（三）不予公开", "unable": "（四）无法提供",
                "rejected": "（五）不予处理", "other": "（六）其他处理"}
APPLICANT_LABELS = ("商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他")
APPEAL_PART_LABELS = ("结果维持", "结果纠正", "其他结果", "尚未审结", "总计")


@dataclass(slots=True)
class TCell:
    text: str
    role: str = "label"            # caption | header | label | value
    rowspan: int = 1
    colspan: int = 1
    key: str | None = None         # the cell key of a value cell
    row_key: str | None = None     # the row a label cell names (requests rows)


@dataclass(slots=True)
class Table:
    table: str                     # proactive | requests | appeals
    ncols: int
    rows: list[list[TCell]]        # origin cells only, as in HTML/DOCX

    def expand(self) -> list[list[tuple[str, TCell, int]]]:
        """Per row, per grid column: ("cell", c, col) at an origin, ("rowspan", c, col) where a
        cell from a row above covers the position (only at the cell's first column), and
        ("colspan", c, col) for the other columns a cell covers."""
        shape = tuple(tuple((c.rowspan, c.colspan) for c in row) for row in self.rows)
        return [[(kind, self.rows[r][i], col) for kind, r, i, col in line]
                for line in _skeleton(shape, self.ncols)]


@cache
def _skeleton(shape: tuple[tuple[tuple[int, int], ...], ...], ncols: int
              ) -> tuple[tuple[tuple[str, int, int, int], ...], ...]:
    """The expansion of a table shape (spans per origin cell) as (kind, row, index, col)."""
    covered: dict[tuple[int, int], tuple[str, int, int]] = {}
    out: list[tuple[tuple[str, int, int, int], ...]] = []
    for r, row in enumerate(shape):
        line: list[tuple[str, int, int, int]] = []
        i = col = 0
        while col < ncols:
            if (r, col) in covered:
                kind, rr, ii = covered.pop((r, col))
                line.append((kind, rr, ii, col))
                col += 1
                continue
            if i >= len(row):
                break
            rowspan, colspan = row[i]
            line.append(("cell", r, i, col))
            line.extend(("colspan", r, i, col + dc) for dc in range(1, colspan))
            for dr in range(1, rowspan):
                for dc in range(colspan):
                    covered[(r + dr, col + dc)] = ("rowspan" if dc == 0 else "colspan", r, i)
            col += colspan
            i += 1
        out.append(tuple(line))
    return tuple(out)


@dataclass(slots=True)
class Block:
    kind: str                      # title | heading | sub | para | table
    text: str = ""
    lines: list[str] = field(default_factory=list)   # title lines
    table: Table | None = None
    section: int | None = None     # 1…6 for headings


@dataclass(slots=True)
class Document:
    blocks: list[Block]
    agency_in_body: str | None


def value_text(t: ReportTruth, key: str) -> str:
    """The printed text of a cell ('' when blank)."""
    if t.status[key] == BLANK:
        return ""
    v = t.cells[key]
    if v is None:
        return ""
    if isinstance(v, Decimal):
        if v == 0:
            return t.printing.get("fee_zero", "0")
        return f"{v:f}"
    if isinstance(v, float) and v == int(v):
        return str(int(v))
    return str(v)


def _drift(t: ReportTruth, name: str) -> bool:
    return name in t.drifts


def _label(t: ReportTruth, text: str) -> str:
    if _drift(t, "label.halfwidth"):
        text = text.translate(str.maketrans({"（": "(", "）": ")", "：": ":", "，": ","}))
    if _drift(t, "label.straight_quotes"):
        text = text.replace("“", '"').replace("”", '"')
    return text


def _spaced(t: ReportTruth, text: str) -> str:
    if not _drift(t, "label.spaced"):
        return text
    if text in APPEAL_PART_LABELS[:4] or text in ("商业企业", "科研机构"):
        return text[:2] + " " + text[2:]
    for p in ("（七）", "(七)", "（一）", "(一)"):
        if text.startswith(p) and len(text) <= 12:
            return p + " " + text[len(p):]
    return text


def proactive_table(t: ReportTruth) -> Table:
    k = lambda row, col: spec.key("proactive", row, col)  # noqa: E731
    v = lambda key, span=1: TCell(value_text(t, key), "value", colspan=span, key=key)  # noqa: E731
    fee_head = _label(t, "本年收费金额（单位：万元）")
    rows = [
        [TCell("第二十条第（一）项", "caption", colspan=4)],
        [TCell("信息内容", "header"), TCell("本年制发件数", "header"), TCell("本年废止件数", "header"),
         TCell("现行有效件数", "header")],
        [TCell("规章"), *(v(k("regulations", c)) for c in ("issued", "repealed", "in_force"))],
        [TCell("行政规范性文件"), *(v(k("normative_documents", c)) for c in ("issued", "repealed", "in_force"))],
        [TCell("第二十条第（五）项", "caption", colspan=4)],
        [TCell("信息内容", "header"), TCell("本年处理决定数量", "header", colspan=3)],
        [TCell("行政许可"), v(k("licensing", "decisions"), 3)],
        [TCell("第二十条第（六）项", "caption", colspan=4)],
        [TCell("信息内容", "header"), TCell("本年处理决定数量", "header", colspan=3)],
        [TCell("行政处罚"), v(k("penalty", "decisions"), 3)],
        [TCell("行政强制"), v(k("coercion", "decisions"), 3)],
        [TCell("第二十条第（八）项", "caption", colspan=4)],
        [TCell("信息内容", "header"), TCell(fee_head, "header", colspan=3)],
        [TCell("行政事业性收费"), v(k("fees", "amount"), 3)],
    ]
    return Table("proactive", 4, rows)


def requests_table(t: ReportTruth) -> Table:
    def values(row: str) -> list[TCell]:
        return [TCell(value_text(t, spec.key("requests", row, c)), "value",
                      key=spec.key("requests", row, c)) for c in spec.REQUEST_COLUMNS]

    def lab(row: str) -> str:
        text = ROW_LABELS[row]
        if row == "denied_prohibited_by_law" and _drift(t, "label.prohibited_by_law"):
            text = "2.其他法律法规规章禁止公开"
        return _spaced(t, _label(t, text))

    rows: list[list[TCell]] = [
        [TCell(_label(t, NOTE), "header", rowspan=3, colspan=3), TCell("申请人情况", "header", colspan=7)],
        [TCell("自然人", "header", rowspan=2), TCell("法人或其他组织", "header", colspan=5),
         TCell("总计", "header", rowspan=2)],
        [TCell(_spaced(t, s), "header") for s in APPLICANT_LABELS],
        [TCell(lab("new"), colspan=3, row_key="new"), *values("new")],
        [TCell(lab("carried_over"), colspan=3, row_key="carried_over"), *values("carried_over")],
        [TCell("三、本年度办理结果", rowspan=22), TCell(lab("granted"), colspan=2, row_key="granted"),
         *values("granted")],
        [TCell(lab("partly_granted"), colspan=2, row_key="partly_granted"), *values("partly_granted")],
    ]
    groups = (("denied", spec.REQUEST_ROWS[4:12]), ("unable", spec.REQUEST_ROWS[12:15]),
              ("rejected", spec.REQUEST_ROWS[15:20]), ("other", spec.OTHER_SUBROWS))
    for g, members in groups:
        for i, row in enumerate(members):
            head = [TCell(_label(t, GROUP_LABELS[g]), rowspan=len(members))] if i == 0 else []
            rows.append([*head, TCell(lab(row), row_key=row), *values(row)])
    rows.append([TCell(lab("total"), colspan=2, row_key="total"), *values("total")])
    rows.append([TCell(lab("carried_forward"), colspan=3, row_key="carried_forward"),
                 *values("carried_forward")])
    return Table("requests", 10, rows)


def appeals_table(t: ReportTruth) -> Table:
    parts = [_spaced(t, s) for s in APPEAL_PART_LABELS]
    rows = [
        [TCell("行政复议", "header", colspan=5), TCell("行政诉讼", "header", colspan=10)],
        [*(TCell(p, "header", rowspan=2) for p in parts),
         TCell("未经复议直接起诉", "header", colspan=5), TCell("复议后起诉", "header", colspan=5)],
        [*(TCell(p, "header") for p in parts), *(TCell(p, "header") for p in parts)],
        [TCell(value_text(t, k), "value", key=k) for k in spec.KEYS_2021 if k.startswith("appeals.")],
    ]
    return Table("appeals", 15, rows)


TABLE_BUILDERS = {"proactive": proactive_table, "requests": requests_table, "appeals": appeals_table}
SECTION_OF_TABLE = {"proactive": 2, "requests": 3, "appeals": 4}


def _up(region_name: str) -> str:
    s = region_name[-1]
    if s in "市县区州":
        return f"{s}委、{s}政府"
    return "县委、县政府"


def build(t: ReportTruth, agency_region: str, topic: str, self_ref: str) -> Document:
    """The document a `ReportTruth` describes. Deterministic for the truth's `printing["seed"]`."""
    rng = random.Random(t.printing.get("text_seed", 0))
    name = t.agency
    spaced_years = bool(t.printing.get("spaced_years"))
    portal = (f"{agency_region}人民政府门户网站" if name is not None else "政府门户网站")
    v = narrative.Voice(agency=name, self_ref=self_ref, year=t.year, up=_up(agency_region),
                        portal=portal, topic=topic, spaced_years=spaced_years)
    blocks: list[Block] = []
    # Title.
    yr = "" if t.year is None else (f"{t.year} 年" if spaced_years else f"{t.year}年")
    title_form = t.printing.get("title_form", 0)
    doc_title = f"{yr}政府信息公开工作年度报告"
    if name is None:
        lines = ["", str(t.year)] if (title_form == 3 and t.year is not None) else [doc_title]
    elif title_form == 0:
        lines = [name, "", doc_title]
    elif title_form == 1:
        lines = [name, doc_title]
    else:
        lines = [f"{name}{' ' if spaced_years and yr else ''}{doc_title}"]
    blocks.append(Block("title", lines=lines))
    blocks.append(Block("para", narrative.preamble(v, rng)))
    paraphrased = _drift(t, "title.paraphrased")
    for n in range(1, 7):
        table = next((tb for tb, s in SECTION_OF_TABLE.items() if s == n), None)
        if table is not None and t.missing_tables.get(table) == "section":
            continue
        blocks.append(Block("heading", narrative.section_title(n, paraphrased, rng), section=n))
        if n == 1:
            for kind, text in narrative.overview(v, t.facts, rng):
                blocks.append(Block(kind, text))
        elif table is not None:
            if table in t.missing_tables:
                blocks.append(Block("para", narrative.table_omitted(table, v)))
            else:
                blocks.append(Block("table", table=TABLE_BUILDERS[table](t), section=n))
        elif n == 5:
            blocks.extend(Block(kind, text) for kind, text in narrative.problems(v, rng))
        else:
            blocks.extend(Block(kind, text) for kind, text in narrative.other_matters(v, rng))
    return Document(blocks, name)
