"""Find the three standard tables in a Document and map printed numbers to cell keys.

Works on rows, whatever the format: a row is split into its label part (the printed labels,
merged-cell copies included) and its value slots (what follows the last label). The most
specific label (the last one) is matched to a row key by `tasks.labels`; the slots are mapped
to the row's columns by position when the grid is aligned and the count fits, else by the order
of the numbers, and a row showing fewer numbers than columns is handed to the lost-cell solver
(`tasks.infer`) instead of being shifted into the wrong columns.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, lru_cache

from tasks import spec
from tasks.labels import match_row, normalize, normalize_and_squash, squash
from tasks.model import Cell, Report, Status
from tasks.numbers import Kind, as_value, parse_cell
from tasks.readers.grid import Document, Grid, GridCell

# An OCR'd number read with less confidence than this is `uncertain`.
UNCERTAIN_BELOW = 0.90
# Minimum matched rows for a table to count as found.
_MIN_ROWS = {"proactive": 2, "requests": 5, "appeals": 1}


_APPEAL_MARKERS = tuple(spec.labels()["tables"]["appeals"][2:])


@dataclass
class LostRow:
    """A row that shows fewer numbers than it has columns: which ones were lost is unknown."""
    keys: list[str]                        # the row's cell keys in printed column order
    shown: list[tuple[Decimal, GridCell]]  # the numbers as printed, in order
    label: str
    file: str = ""
    table: int | None = None               # grid index
    row: int | None = None                 # row index in that grid


@dataclass
class Layout:
    cells: dict[str, Cell] = field(default_factory=dict)
    lost: list[LostRow] = field(default_factory=list)
    tables_found: list[str] = field(default_factory=list)
    format_version: str | None = None
    warnings: list[tuple[str, str, list[str]]] = field(default_factory=list)


def row_columns(table: str, row_key: str, version: str | None = None) -> list[str]:
    """The printed columns of a row. Table 二 differs by format version (2019 试行: 22 cells);
    rows that only the 2019 format has always get its columns."""
    if table == "requests":
        return list(spec.REQUEST_COLUMNS)
    if table == "appeals":
        return list(spec.APPEAL_COLUMNS)
    if version == "2019" or row_key not in spec.PROACTIVE_ROWS:
        return list(spec.PROACTIVE_ROWS_2019[row_key])
    return list(spec.PROACTIVE_ROWS[row_key])


# Column headers of table 二 that tell the format of the rows below them.
_PROACTIVE_HEADERS = {
    "2019": ("本年新制作数量", "本年新公开数量", "对外公开总数量", "上一年项目数量", "本年增减",
             "采购项目数量", "采购总金额"),
    "2021": ("本年制发件数", "本年废止件数", "现行有效件数", "本年处理决定数量", "本年收费金额"),
}


def _proactive_header(text: str) -> str | None:
    n = normalize(text)
    for version, markers in _PROACTIVE_HEADERS.items():
        if any(m in n for m in markers):
            return version
    return None


@lru_cache(maxsize=16384)
def _cell_info(text: str) -> tuple[Kind, Decimal | None, bool]:
    """(kind, number, looks like a label) of one printed cell text: cells repeat across reports."""
    kind, d = parse_cell(text)
    return kind, d, kind is Kind.GARBAGE and _looks_like_label(text)


def split_row(row: list[GridCell]) -> tuple[list[GridCell], list[GridCell]]:
    """(label cells, value slots). The label part ends at the last cell that is text."""
    last_label = -1
    for i, c in enumerate(row):
        if _cell_info(c.text)[2]:
            last_label = i
    if last_label < 0:
        return [], row[:]
    # merged-cell copies repeat the same label: keep one
    dedup: list[GridCell] = []
    prev = None
    for c in row[: last_label + 1]:
        if not c.text.strip():
            continue
        n = normalize(c.text)
        if prev is None or prev != n:
            dedup.append(c)
            prev = n
    return dedup, row[last_label + 1:]


def _looks_like_label(text: str) -> bool:
    n = normalize(text)
    return any("\u4e00" <= ch <= "\u9fff" for ch in n) or (len(n) >= 2 and n.isalpha())


_VOTES_2019 = ("本年新制作数量", "上一年项目数量", "第二十条第九项", "政府集中采购")
_VOTES_2021 = ("本年制发件数", "本年收费金额")


@lru_cache(maxsize=16384)
def _row_markers(joined: str) -> tuple[int, int, str | None, bool]:
    """What a row's joined text says about the layout: (2019 votes, 2021 votes, table 二's
    column-header version, appeals header). One normalisation for all four."""
    n, s = normalize_and_squash(joined)
    v2019 = sum(1 for m in _VOTES_2019 if m in n)
    v2021 = sum(1 for m in _VOTES_2021 if m in n)
    header = None
    for version, markers in _PROACTIVE_HEADERS.items():
        if any(m in n for m in markers):
            header = version
            break
    appeals = any(c in s for c in _APPEAL_MARKERS_SQ) or (
        _REVIEW_SQ in s and _SUIT_SQ in s)
    return v2019, v2021, header, appeals


# The markers hold no digits: each run of ASCII digits can stand as "0" (the numbering
# pattern and the punctuation around it see the same shape), so rows differing only in their
# numbers share one cache entry.
_DIGIT_RUN = re.compile(r"[0-9]+")
_APPEAL_MARKERS_SQ = tuple(squash(c) for c in _APPEAL_MARKERS)
_REVIEW_SQ = squash("行政复议")
_SUIT_SQ = squash("行政诉讼")


def extract_layout(doc: Document) -> Layout:
    out = Layout()
    seen_rows: dict[str, tuple[int, int]] = {}
    appeals_header_seen = False
    version_votes = {"2021": 0, "2019": 0}
    pending_label: list[GridCell] | None = None   # a label-only row that may continue below
    pro_version: str | None = None   # format of table 二's rows, from its last column header
    # rows printed with every value cell empty (aligned grids only): mapped as blank at the end
    # unless the same row turns up with values (a row cut across pages, a repeated table)
    blank_rows: list[tuple[str, Grid, int, list[GridCell], list[GridCell], str | None]] = []

    for grid in doc.grids:
        for r_idx, row in enumerate(grid.rows):
            labels, slots = split_row(row)
            v2019, v2021, header, appeals = _row_markers(
                _DIGIT_RUN.sub("0", "".join([c.text for c in row])))
            version_votes["2019"] += v2019
            version_votes["2021"] += v2021
            pro_version = header or pro_version
            if appeals:
                appeals_header_seen = True
            kinds = [_cell_info(c.text)[0] for c in slots]
            has_values = Kind.NUMBER in kinds
            if not has_values:
                if grid.aligned and slots and all(k is Kind.BLANK for k in kinds):
                    key = (match_row(labels[-1].text).key if labels
                           else "appeals.cases" if appeals_header_seen else None)
                    if key is not None:
                        table, row_key = key.split(".", 1)
                        n = len(row_columns(table, row_key, pro_version)) \
                            if row_key != spec.OTHER_SINGLE_ROW else len(spec.REQUEST_COLUMNS)
                        if _aligned_slots(slots, n) is not None:
                            blank_rows.append((key, grid, r_idx, labels, slots, pro_version))
                pending_label = labels if labels else None
                continue
            if not labels:
                if appeals_header_seen and "appeals.cases" not in seen_rows:
                    _map_row(out, grid, r_idx, "appeals.cases", [], slots, doc)
                    seen_rows["appeals.cases"] = (grid.index, r_idx)
                pending_label = None
                continue
            leaf = labels[-1]
            m = match_row(leaf.text)
            if m.key is None and pending_label:
                m2 = match_row(pending_label[-1].text + leaf.text)
                if m2.key is not None:
                    m = m2
            if m.key is None and len(labels) > 1:
                # a label split over two cells (narrow PDF columns): try the last two together
                m2 = match_row(labels[-2].text + leaf.text)
                if m2.key is not None:
                    m = m2
            pending_label = None
            if (m.key is None and appeals_header_seen and "appeals.cases" not in seen_rows
                    and kinds.count(Kind.NUMBER) >= 10):
                # the data row of table 四 sometimes carries a label of its own (案件数量)
                _map_row(out, grid, r_idx, "appeals.cases", labels, slots, doc)
                seen_rows["appeals.cases"] = (grid.index, r_idx)
                continue
            if m.key is None:
                if m.ambiguous:
                    out.warnings.append(("label.ambiguous",
                                         f"行标签“{leaf.text}”无法唯一对应到标准行，已忽略该行数字", []))
                continue
            if m.key in seen_rows:
                out.warnings.append(("layout.duplicate_row",
                                     f"“{leaf.text}”行重复出现，仅采用第一次出现的数字", []))
                continue
            seen_rows[m.key] = (grid.index, r_idx)
            version = pro_version or ("2019" if version_votes["2019"] > version_votes["2021"]
                                      else None)
            _map_row(out, grid, r_idx, m.key, labels, slots, doc, version)

    for key, grid, r_idx, labels, slots, version in blank_rows:
        if key not in seen_rows:
            seen_rows[key] = (grid.index, r_idx)
            _map_row(out, grid, r_idx, key, labels, slots, doc, version)

    for table in spec.TABLES:
        n = sum(1 for k in seen_rows if k.startswith(table + "."))
        if n >= _MIN_ROWS[table]:
            out.tables_found.append(table)
    if version_votes["2019"] > version_votes["2021"]:
        out.format_version = "2019"
    elif (version_votes["2021"] == 0 and "requests.other" in seen_rows
          and not any(f"requests.{r}" in seen_rows for r in spec.OTHER_SUBROWS)):
        out.format_version = "2019"   # no table 二 to tell: the single （六） row does
    elif out.tables_found:
        out.format_version = "2021"
    return out


@cache
def _row_spec(row_id: str, version: str | None) -> tuple[tuple[str, ...], tuple, tuple]:
    """(cell keys in printed column order, their column labels, whether each is a decimal)."""
    table, row_key = row_id.split(".", 1)
    if row_key == spec.OTHER_SINGLE_ROW:
        cols = list(spec.REQUEST_COLUMNS)
    else:
        cols = row_columns(table, row_key, version)
    keys = tuple(f"{row_id}.{c}" for c in cols)
    return keys, tuple(_col_label(k) for k in keys), tuple(_is_decimal(k) for k in keys)


def _map_row(out: Layout, grid: Grid, r_idx: int, row_id: str, labels: list[GridCell],
             slots: list[GridCell], doc: Document, version: str | None = None) -> None:
    keys_t, col_labels, decimals = _row_spec(row_id, version)
    keys = list(keys_t)
    n = len(keys)
    label_text = " ".join([c.text for c in labels]) or None
    row = grid.rows[r_idx]
    col_of = {id(c): i for i, c in enumerate(row)}
    cells = out.cells
    path, g_index = doc.path, grid.index

    where = (path, g_index, r_idx, label_text)     # shared by the row's cells
    located = Cell.located

    def put(k: str, cell: GridCell | None, status: Status, value, pos: int) -> None:
        if cell is None:
            cells[k] = Cell(value, status, None, None)
            return
        cells[k] = located(value, status, where, cell.page, cell.line, col_of.get(id(cell)),
                           cell.bbox, cell.text, col_labels[pos], cell.confidence)

    def put_slot(pos: int, cell: GridCell) -> None:
        k = keys[pos]
        kind, d, _ = _cell_info(cell.text)
        if kind is Kind.NUMBER:
            v = as_value(d, decimals[pos])
            status = Status.READ
            if cell.confidence is not None and cell.confidence < UNCERTAIN_BELOW:
                status = Status.UNCERTAIN
            put(k, cell, status, v, pos)
        else:
            put(k, cell, Status.BLANK, None, pos)
            if kind is Kind.GARBAGE:
                out.warnings.append(("cell.unparseable",
                                     f"“{label_text}”行第{pos + 1}个数据格的内容“{cell.text}”不是数字，按空白处理",
                                     [k]))

    if grid.aligned:
        trimmed = _aligned_slots(slots, n)
        if trimmed is not None:
            for pos, c in enumerate(trimmed):
                put_slot(pos, c)
            return
    # Positions cannot be trusted: only the printed, non-empty values and their order count.
    shown = [c for c in slots if c.text.strip() != ""]
    if len(shown) == n:
        for pos, c in enumerate(shown):
            put_slot(pos, c)
        return
    if len(shown) > n:
        for pos, k in enumerate(keys):
            put(k, None, Status.BLANK, None, pos)
        out.warnings.append(("layout.too_many_values",
                             f"“{label_text}”行有{len(shown)}个数字，多于{n}列，无法对应，已全部按空白处理", keys))
        return
    parsed = [(parse_cell(c.text), c) for c in shown]
    if any(kind is not Kind.NUMBER for (kind, _), _ in parsed):
        for pos, k in enumerate(keys):
            put(k, None, Status.BLANK, None, pos)
        out.warnings.append(("layout.lost_cells",
                             f"“{label_text}”行只显示{len(shown)}个值（应有{n}列），且含非数字内容，无法确定各数字所在列，已全部按空白处理", keys))
        return
    for pos, k in enumerate(keys):
        put(k, None, Status.BLANK, None, pos)
    out.lost.append(LostRow(keys=keys, shown=[(d, c) for (_, d), c in parsed],
                            label=label_text or row_id, file=doc.path, table=grid.index,
                            row=r_idx))


def _aligned_slots(slots: list[GridCell], n: int) -> list[GridCell] | None:
    """The n value cells of a row of an aligned grid, or None when the slots do not fit."""
    if len(slots) > n:
        # one value cell spanning several columns (colspan/gridSpan) comes as copies marked
        # merged: they are one printed value, not several
        slots = [c for i, c in enumerate(slots)
                 if not (c.merged and i > 0 and slots[i - 1].text == c.text)]
    trimmed = list(slots)
    while len(trimmed) > n and trimmed[-1].text.strip() == "":
        trimmed.pop()
    while len(trimmed) > n and trimmed[0].text.strip() == "":
        trimmed.pop(0)
    return trimmed if len(trimmed) == n else None


def _is_decimal(k: str) -> bool:
    c = spec.cell_index().get(k)
    return bool(c and c.is_decimal)


def _col_label(k: str) -> str | None:
    c = spec.cell_index().get(k)
    return c.col_label if c else None


@cache
def _expected_rows(version: str | None) -> dict[str, tuple[tuple[str, tuple[str, ...]], ...]]:
    """table → its rows (row id, the row's keys) in the format's order."""
    expected = spec.format_keys(version)
    out = {}
    for table in spec.TABLES:
        rows = dict.fromkeys(k.rsplit(".", 1)[0] for k in expected if k.startswith(table + "."))
        out[table] = tuple((r, tuple(k for k in expected if k.startswith(r + "."))) for r in rows)
    return out


def to_report(doc: Document, lay: Layout) -> Report:
    rep = Report(file=doc.path, sha256=doc.sha256, format=doc.format,
                 format_version=lay.format_version, tables_found=list(lay.tables_found))
    # the 2021 contract always; a 2019-format report also gets its own keys (blank if unread)
    expected = spec.format_keys(lay.format_version)
    got = lay.cells
    cells = rep.cells
    for k in spec.KEYS_2021:
        c = got.get(k)
        cells[k] = c if c is not None else Cell(None, Status.BLANK, None)
    for k in expected:
        if k not in cells:
            c = got.get(k)
            cells[k] = c if c is not None else Cell(None, Status.BLANK, None)
    for k, c in got.items():
        if k not in cells:
            cells[k] = c
    for code, msg, wcells in lay.warnings:
        rep.warn(code, msg, wcells)
    read_single = any(k.startswith("requests.other.") for k in got)
    read_subrows = any(k.startswith("requests.other_") for k in got)
    index = spec.cell_index()
    rows_of = _expected_rows(lay.format_version)
    for table in spec.TABLES:
        if table in lay.tables_found:
            for r, row_keys in rows_of[table]:
                if all(k in got for k in row_keys):
                    continue
                if r.startswith("requests.other_") and read_single:
                    continue   # the single （六）其他处理 row stands for the three sub-rows
                if r == "requests.other" and read_subrows:
                    continue   # … and the three sub-rows for the single row
                label = index[row_keys[0]].row_label
                rep.warn("layout.row_missing", f"表格中未找到“{label}”行，该行按空白处理",
                         list(row_keys))
    return rep
