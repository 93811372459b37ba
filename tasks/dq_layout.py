"""The three tables in the official layout (国办公开办函〔2021〕30号), as positioned cells.

One layout feeds both renderers: the HTML template draws rows with rowspan/colspan, the XLSX
writer merges the same ranges. A :class:`Slot` is either header/label text or a data cell (its
cell key); positions are 0-based (row, col) of the top-left corner.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from tasks import spec

REQUESTS_NOTE = "（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）"
APPLICANT_HEADS = ("商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他")
APPEAL_PART_HEADS = ("结果维持", "结果纠正", "其他结果", "尚未审结", "总计")
TITLES = {
    "proactive": "二、主动公开政府信息情况",
    "requests": "三、收到和处理政府信息公开申请情况",
    "appeals": "四、政府信息公开行政复议、行政诉讼情况",
}


@dataclass(frozen=True, slots=True)
class Slot:
    row: int
    col: int
    rowspan: int = 1
    colspan: int = 1
    text: str = ""
    key: str | None = None       # data cell key; None for header/label text
    head: bool = False           # a header (column heads, captions) rather than a row label

    @property
    def is_data(self) -> bool:
        return self.key is not None


@dataclass(frozen=True, slots=True)
class TableLayout:
    table: str
    title: str
    n_rows: int
    n_cols: int
    slots: tuple[Slot, ...]
    col_widths: tuple[float, ...]     # relative widths (XLSX character units)
    head_rows: int = 0                # leading header rows (repeated when a table breaks pages)

    def rows(self) -> list[list[Slot]]:
        """Slots by the row they start in, in column order (what an HTML <tr> holds)."""
        out: list[list[Slot]] = [[] for _ in range(self.n_rows)]
        for s in self.slots:
            out[s.row].append(s)
        for r in out:
            r.sort(key=lambda s: s.col)
        return out

    def keys(self) -> list[str]:
        return [s.key for s in self.slots if s.key is not None]


def _proactive() -> TableLayout:
    k = lambda row, col: spec.key("proactive", row, col)  # noqa: E731
    s: list[Slot] = []
    r = 0

    def caption(text: str) -> None:
        nonlocal r
        s.append(Slot(r, 0, 1, 4, text, head=True))
        r += 1

    caption("第二十条第（一）项")
    s += [Slot(r, 0, text="信息内容", head=True), Slot(r, 1, text="本年制发件数", head=True),
          Slot(r, 2, text="本年废止件数", head=True), Slot(r, 3, text="现行有效件数", head=True)]
    r += 1
    for row, label in (("regulations", "规章"), ("normative_documents", "行政规范性文件")):
        s.append(Slot(r, 0, text=label))
        for i, col in enumerate(spec.PROACTIVE_ROWS[row]):
            s.append(Slot(r, 1 + i, key=k(row, col)))
        r += 1
    blocks = (("第二十条第（五）项", "本年处理决定数量", (("licensing", "行政许可"),)),
              ("第二十条第（六）项", "本年处理决定数量", (("penalty", "行政处罚"), ("coercion", "行政强制"))),
              ("第二十条第（八）项", "本年收费金额（单位：万元）", (("fees", "行政事业性收费"),)))
    for cap, head, rows in blocks:
        caption(cap)
        s += [Slot(r, 0, text="信息内容", head=True), Slot(r, 1, 1, 3, head, head=True)]
        r += 1
        for row, label in rows:
            s += [Slot(r, 0, text=label), Slot(r, 1, 1, 3, key=k(row, spec.PROACTIVE_ROWS[row][0]))]
            r += 1
    return TableLayout("proactive", TITLES["proactive"], r, 4, tuple(s), (22, 16, 16, 16))


def _requests() -> TableLayout:
    k = lambda row, col: spec.key("requests", row, col)  # noqa: E731
    s: list[Slot] = [
        Slot(0, 0, 3, 3, REQUESTS_NOTE, head=True),
        Slot(0, 3, 1, 7, "申请人情况", head=True),
        Slot(1, 3, 2, 1, "自然人", head=True),
        Slot(1, 4, 1, 5, "法人或其他组织", head=True),
        Slot(1, 9, 2, 1, "总计", head=True),
    ]
    s += [Slot(2, 4 + i, text=t, head=True) for i, t in enumerate(APPLICANT_HEADS)]
    labels = {c.row_key: c.row_label for c in spec.cells_2021() if c.table == "requests"}

    def data(r: int, row: str) -> None:
        s.extend(Slot(r, 3 + i, key=k(row, col)) for i, col in enumerate(spec.REQUEST_COLUMNS))

    r = 3
    for row in ("new", "carried_over"):
        s.append(Slot(r, 0, 1, 3, labels[row]))
        data(r, row)
        r += 1
    n_outcome = len(spec.OUTCOME_ROWS) + 1          # 21 outcome rows + （七）总计
    s.append(Slot(r, 0, n_outcome, 1, "三、本年度办理结果"))
    for group, rows in spec.OUTCOME_GROUPS:
        if len(rows) == 1:
            s.append(Slot(r, 1, 1, 2, group))
            data(r, rows[0])
            r += 1
            continue
        s.append(Slot(r, 1, len(rows), 1, group))
        for row in rows:
            s.append(Slot(r, 2, text=labels[row].split(" ", 1)[-1]))
            data(r, row)
            r += 1
    s.append(Slot(r, 1, 1, 2, "（七）总计"))
    data(r, "total")
    r += 1
    s.append(Slot(r, 0, 1, 3, labels["carried_forward"]))
    data(r, "carried_forward")
    r += 1
    return TableLayout("requests", TITLES["requests"], r, 10, tuple(s),
                       (10, 12, 34, 8, 8, 8, 8, 8, 8, 8), head_rows=3)


def _appeals() -> TableLayout:
    s: list[Slot] = [Slot(0, 0, 1, 5, "行政复议", head=True), Slot(0, 5, 1, 10, "行政诉讼", head=True)]
    s += [Slot(1, i, 2, 1, t, head=True) for i, t in enumerate(APPEAL_PART_HEADS)]
    s += [Slot(1, 5, 1, 5, "未经复议直接起诉", head=True), Slot(1, 10, 1, 5, "复议后起诉", head=True)]
    s += [Slot(2, 5 + i, text=t, head=True) for i, t in enumerate(APPEAL_PART_HEADS * 2)]
    s += [Slot(3, i, key=spec.key("appeals", "cases", col)) for i, col in enumerate(spec.APPEAL_COLUMNS)]
    return TableLayout("appeals", TITLES["appeals"], 4, 15, tuple(s), (7,) * 15, head_rows=3)


@cache
def layouts() -> tuple[TableLayout, ...]:
    """表二, 表三, 表四 in printed order; together they hold each of the 200 keys exactly once."""
    return (_proactive(), _requests(), _appeals())


def xlsx_styles(fills: dict[str, str], **fonts: dict) -> dict:
    """openpyxl styles shared by the workbooks that draw the official layout: thin borders,
    centred/left/top alignment, bold, the named solid `fills` (name → RGB) under "fill", and
    extra fonts given as Font keyword arguments (e.g. ``title={"bold": True, "size": 13}``)."""
    from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

    thin = Side(style="thin", color="444444")
    st = {
        "border": Border(left=thin, right=thin, top=thin, bottom=thin),
        "center": Alignment(horizontal="center", vertical="center", wrap_text=True),
        "left": Alignment(horizontal="left", vertical="center", wrap_text=True),
        "top": Alignment(horizontal="left", vertical="top", wrap_text=True),
        "bold": Font(bold=True),
        "fill": {k: PatternFill("solid", fgColor=v) for k, v in fills.items()},
    }
    st.update({name: Font(**kw) for name, kw in fonts.items()})
    return st


def xlsx_number(v):
    """A cell value for a workbook: whole Decimals as int, others as float, None stays empty."""
    from decimal import Decimal

    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v


def xlsx_slot(ws, s: "Slot", base: int, st: dict):
    """Draw one layout slot on an openpyxl sheet at row `base`: merge its range, border every
    cell of it, and for a label/header slot write and style its text. Returns the sheet cell of
    a data slot (for the caller to fill) or None for a label/header slot."""
    r, c = base + s.row, 1 + s.col
    if s.rowspan > 1 or s.colspan > 1:
        ws.merge_cells(start_row=r, start_column=c, end_row=r + s.rowspan - 1,
                       end_column=c + s.colspan - 1)
    for rr in range(r, r + s.rowspan):           # borders on every cell of a merged range
        for cc in range(c, c + s.colspan):
            ws.cell(rr, cc).border = st["border"]
    cell = ws.cell(r, c)
    if s.key is None:
        cell.value = s.text
        cell.alignment = st["center"] if s.head else st["left"]
        cell.fill = st["fill"]["head" if s.head else "label"]
        if s.head:
            cell.font = st["bold"]
        return None
    return cell

