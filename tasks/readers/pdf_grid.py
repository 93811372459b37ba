"""Positioned cells → `Grid`, shared by the text-PDF reader and the OCR reader.

A table part is a list of :class:`BoxCell` (one per printed cell, merged cells once, with the
cell's box in PDF points, (x0, top, x1, bottom), top measured from the top of its page). The
rows × columns structure is recovered from the cells' edges: every distinct x edge starts a
column, every distinct y edge a row, so a merged cell simply spans several of them.

Spanned positions are filled the way layout expects (`GridCell.merged=True`):
- a label (text that is not a number) is copied, so every row carries its full label path;
- a number or an empty cell is *not* copied: the copy is an empty cell, so a value that spans
  three columns (行政许可 | 447228 spanning three value columns) stays one value.

Parts of one table split across pages are joined into one grid (:func:`can_join`,
:func:`join_parts`): the same columns (or a subset of them), the repeated header dropped, and a
label column whose merged cell continues at the top of the next page filled in.
"""
from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from tasks.labels import squash
from tasks.numbers import Kind, parse_cell
from tasks.readers.grid import Grid, GridCell

# Two edges closer than this (PDF points) are the same edge.
EDGE_TOL = 4.0


@dataclass(slots=True)
class BoxCell:
    bbox: tuple[float, float, float, float]   # x0, top, x1, bottom (PDF points, page coords)
    text: str
    page: int                                  # 1-based
    confidence: float | None = None
    merged_from: str | None = None             # text carried over from the previous page


@dataclass
class TablePart:
    """One ruled table (or the part of one) on one page."""
    page: int
    bbox: tuple[float, float, float, float]
    cells: list[BoxCell]
    page_height: float = 842.0
    xs: list[float] = field(default_factory=list)   # column edges
    ys: list[float] = field(default_factory=list)   # row edges

    def __post_init__(self) -> None:
        if not self.xs:
            self.xs = cluster([c.bbox[0] for c in self.cells] + [c.bbox[2] for c in self.cells])
        if not self.ys:
            self.ys = cluster([c.bbox[1] for c in self.cells] + [c.bbox[3] for c in self.cells])

    @property
    def n_cols(self) -> int:
        return max(len(self.xs) - 1, 0)

    @property
    def n_rows(self) -> int:
        return max(len(self.ys) - 1, 0)


def cluster(values: list[float], tol: float = EDGE_TOL) -> list[float]:
    """Sorted distinct values, those closer than `tol` merged (their mean)."""
    out: list[list[float]] = []
    for v in sorted(values):
        if out and v - out[-1][-1] <= tol:
            out[-1].append(v)
        else:
            out.append([v])
    return [sum(g) / len(g) for g in out]


def _nearest(edges: list[float], v: float) -> int:
    """Index of the edge nearest to v (the first of equally near ones); edges sorted."""
    i = bisect_left(edges, v)
    if i <= 0:
        return 0
    if i >= len(edges):
        return bisect_left(edges, edges[-1])
    j = i - 1 if v - edges[i - 1] <= edges[i] - v else i
    return bisect_left(edges, edges[j])      # the first of equal edges


def is_label(text: str) -> bool:
    t = (text or "").strip()
    return bool(t) and parse_cell(t)[0] is Kind.GARBAGE


def _span(part: TablePart, c: BoxCell, xs: list[float]) -> tuple[int, int, int, int]:
    r0, r1 = _nearest(part.ys, c.bbox[1]), _nearest(part.ys, c.bbox[3])
    c0, c1 = _nearest(xs, c.bbox[0]), _nearest(xs, c.bbox[2])
    return r0, max(r1, r0 + 1), c0, max(c1, c0 + 1)


def part_matrix(part: TablePart, xs: list[float] | None = None) -> list[list[BoxCell | None]]:
    """The part as rows × columns of its origin cells: a merged cell appears at every position it
    covers (the same object), an uncovered position is None."""
    xs = xs or part.xs
    n_rows, n_cols = part.n_rows, len(xs) - 1
    m: list[list[BoxCell | None]] = [[None] * n_cols for _ in range(n_rows)]
    for c in part.cells:
        r0, r1, c0, c1 = _span(part, c, xs)
        for r in range(r0, min(r1, n_rows)):
            for k in range(c0, min(c1, n_cols)):
                if m[r][k] is None:
                    m[r][k] = c
    return m


def to_grid_rows(matrix: list[list[BoxCell | None]]) -> list[list[GridCell]]:
    rows: list[list[GridCell]] = []
    seen: set[int] = set()
    for mrow in matrix:
        row: list[GridCell] = []
        for c in mrow:
            if c is None:
                row.append(GridCell(text=""))
                continue
            first = id(c) not in seen
            seen.add(id(c))
            if first and c.merged_from is None:
                row.append(GridCell(text=c.text, page=c.page, bbox=c.bbox, confidence=c.confidence))
            elif c.merged_from is not None or is_label(c.text):
                text = c.merged_from if c.merged_from is not None else c.text
                row.append(GridCell(text=text, page=c.page, bbox=c.bbox, merged=True,
                                    confidence=c.confidence))
            else:
                row.append(GridCell(text="", page=c.page, bbox=c.bbox, merged=True,
                                    confidence=c.confidence))
        rows.append(row)
    # drop rows that are entirely empty (a ruling artefact)
    return [r for r in rows if any(c.text.strip() for c in r)]


def edges_compatible(a: list[float], b: list[float], tol: float = EDGE_TOL) -> bool:
    """Same table columns: the outer edges agree and one edge set (nearly) contains the other."""
    if len(a) < 3 or len(b) < 3:
        return False
    if abs(a[0] - b[0]) > tol or abs(a[-1] - b[-1]) > tol:
        return False
    small, big = (a, b) if len(a) <= len(b) else (b, a)
    return all(min(abs(x - y) for y in big) <= tol for x in small)


def _row_key(row: list[BoxCell | None]) -> str:
    out, last = [], None
    for c in row:
        if c is not None and c is not last:
            out.append(squash(c.text))
        last = c
    return "|".join(out)


def can_join(a: TablePart, b: TablePart) -> bool:
    return b.page == a.page + 1 and edges_compatible(a.xs, b.xs)


def join_parts(parts: list[TablePart]) -> tuple[list[list[BoxCell | None]], list[float]]:
    """Parts of one table (consecutive pages, compatible columns) → one matrix on the union of
    their column edges."""
    xs = cluster([x for p in parts for x in p.xs])
    matrix = part_matrix(parts[0], xs)
    for p in parts[1:]:
        m = part_matrix(p, xs)
        # a header repeated at the top of the continuation
        k = 0
        while k < min(len(m), len(matrix), 4) and _row_key(m[k]) == _row_key(matrix[k]) \
                and _row_key(m[k]):
            k += 1
        if k and not _has_number(m[k - 1]):
            m = m[k:]
        if m and matrix:
            _continue_spans(matrix[-1], m)
        matrix.extend(m)
    return matrix, xs


def _has_number(row: list[BoxCell | None]) -> bool:
    return any(c is not None and parse_cell(c.text)[0] is Kind.NUMBER for c in row)


def _continue_spans(last: list[BoxCell | None], m: list[list[BoxCell | None]]) -> None:
    """A label cell merged over rows that runs across the page break comes back on the next page
    as an empty cell in the same column: give it the label it continues (as a merged copy)."""
    first = m[0]
    for k, c in enumerate(first):
        if c is None or c.text.strip() or c.merged_from is not None:
            continue
        above = last[k]
        if above is None or not is_label(above.text):
            continue
        # same column span on both sides, and the cell is not a data cell: it must span down
        # over rows that hold numbers to its right (a label column)
        span_a = [i for i, x in enumerate(last) if x is above]
        span_b = [i for i, x in enumerate(first) if x is c]
        if span_a != span_b:
            continue
        c.merged_from = above.merged_from or above.text


def build_grid(matrix: list[list[BoxCell | None]], index: int, aligned: bool = True) -> Grid:
    rows = to_grid_rows(matrix)
    page = next((c.page for r in rows for c in r if c.page is not None), None)
    return Grid(rows=rows, index=index, page=page, aligned=aligned)
