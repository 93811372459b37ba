"""Ruled tables of a text page read through pdfium (≈20× faster than pdfminer/pdfplumber).

The ruling comes from the page's path objects, the text from pdfium's text page; the grid is
found by pdfplumber's own table-finder steps (snap and join the edges, intersections, smallest
cells, connected cells → tables, with pdfplumber's default settings) run on those edges, so a
page gives the cells pdfplumber would give, without pdfminer parsing the content stream:

- edges: every straight piece of every path, as pdfminer/pdfplumber see it — each subpath's
  points (a Bézier only by its end point, a closed subpath back to its start), consecutive
  points on one x a vertical edge, on one y a horizontal one (a thin filled rectangle is two
  long edges that snap into one line; a stroked rectangle four edges);
- chars: pdfium's non-generated characters with their loose boxes (the advance width and the
  font's height, like pdfminer's); pdfium already drops the second copy of a glyph drawn twice
  for simulated bold; a cell's text is built like pdfplumber's `extract_text` (lines by top
  within 3 pt, words split at gaps over 3 pt, lines joined without a space by the caller).

:func:`page_tables` raises :class:`NotSure` whenever the page is not one this path reads with
certainty, and the caller hands the page to pdfplumber instead: a rotated or cropped page, no
ruled grid, a diagonal line or a curve across a table, rotated text in a table, text in a table
outside every cell, a character whose centre lies on a cell border (pdfminer's character
heights differ from pdfium's, so such a character could land in another cell), overlapping
cells, characters pdfium cannot map to Unicode, a glyph drawn twice that pdfium did not fold
into one (pdfplumber's path removes those with `pdf.dedupe`).
"""
from __future__ import annotations

import ctypes
from bisect import bisect_right
from dataclasses import dataclass

from tasks.readers.pdf_grid import BoxCell, TablePart, cluster

# pdfplumber's default table settings
SNAP = 3.0
JOIN = 3.0
EDGE_MIN_LENGTH = 3.0
EDGE_MIN_LENGTH_PREFILTER = 1.0
INTERSECTION = 3.0
X_TOLERANCE = 3.0      # extract_text: a gap wider than this starts a new word
Y_TOLERANCE = 3.0      # extract_text: tops closer than this are one line
# A character centre closer than this to a cell border (x, y) is on the border: not sure.
# pdfium's loose boxes have pdfminer's x extent exactly, but a different height (the font's
# ascent/descent instead of pdfminer's em box), which moves the vertical centre by ≤ ~1.5 pt.
BORDER_X = 0.5
BORDER_Y = 2.5
MAX_OBJECTS = 20000
_TWO_PI = 6.283185307179586


# pdfplumber's extract_text expands ligatures
_LIGATURES = {"ﬀ": "ff", "ﬃ": "ffi", "ﬄ": "ffl", "ﬁ": "fi", "ﬂ": "fl", "ﬆ": "st", "ﬅ": "st"}


class NotSure(Exception):
    """The page must be read by pdfplumber; the message says why (for the log)."""


@dataclass(slots=True)
class Char:
    text: str
    x0: float
    top: float
    x1: float
    bottom: float
    index: int = -1          # in the text page

    @property
    def hmid(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def vmid(self) -> float:
        return (self.top + self.bottom) / 2


# --- geometry from pdfium ----------------------------------------------------------------------

def check_page(page) -> tuple[float, float]:
    """(width, height) of a page whose coordinates map to pdfplumber's simply: no rotation,
    media box at the origin, crop box equal to it."""
    if page.get_rotation() % 360:
        raise NotSure("rotated page")
    mb = tuple(round(v, 3) for v in page.get_mediabox())
    cb = tuple(round(v, 3) for v in page.get_cropbox())
    if mb[0] != 0 or mb[1] != 0 or mb != cb:
        raise NotSure(f"media box {mb}, crop box {cb}")
    return mb[2], mb[3]


def _mul(m1, m2):
    """m1 then m2 (PDF row-vector convention: p' = p × m1 × m2)."""
    a1, b1, c1, d1, e1, f1 = m1
    a2, b2, c2, d2, e2, f2 = m2
    return (a1 * a2 + b1 * c2, a1 * b2 + b1 * d2,
            c1 * a2 + d1 * c2, c1 * b2 + d1 * d2,
            e1 * a2 + f1 * c2 + e2, e1 * b2 + f1 * d2 + f2)


def path_geometry(page, height: float) -> tuple[list[dict], list[tuple], list[tuple], list[tuple]]:
    """(edges, diagonal lines, curved pieces, rotated text) of the page's objects, forms
    included, in pdfplumber's coordinates (top measured from the top of the page). Edges are
    pdfplumber edge dicts; the others bboxes (x0, top, x1, bottom); rotated (or mirrored) text
    inside a form is given the whole page."""
    import pypdfium2.raw as pr

    edges: list[dict] = []
    diagonal: list[tuple] = []
    curved: list[tuple] = []
    rotated: list[tuple] = []
    fl, fb, fr, ft = (ctypes.c_float() for _ in range(4))
    fm = pr.FS_MATRIX()
    x, y = ctypes.c_float(), ctypes.c_float()
    seen = 0

    def add(p0, p1, kind):
        (xa, ya), (xb, yb) = p0, p1
        x0, x1 = min(xa, xb), max(xa, xb)
        top, bottom = height - max(ya, yb), height - min(ya, yb)
        if kind == "line":                       # pdfplumber.utils.line_to_edge
            if ya == yb:
                orient = "h"
            elif xa == xb:
                orient = "v"
            else:                                # pdfplumber calls it "v": not ours to guess
                diagonal.append((x0, top, x1, bottom))
                return
        else:                                    # rect / curve edges
            orient = "v" if xa == xb else ("h" if ya == yb else None)
            if orient is None:
                return                           # pdfplumber drops these too
        w, h = x1 - x0, bottom - top
        if (h if orient == "v" else w) < EDGE_MIN_LENGTH_PREFILTER:
            return
        edges.append({"x0": x0, "x1": x1, "top": top, "bottom": bottom, "doctop": top,
                      "width": w, "height": h, "orientation": orient,
                      "object_type": "edge"})

    def subpath(pts, bezier):
        if len(pts) < 2:
            return
        if bezier:
            xs = [p[0] for p in pts]
            ys = [p[1] for p in pts]
            curved.append((min(xs), height - max(ys), max(xs), height - min(ys)))
        # pdfminer: "ml" / "mlh" is a line, "mlllh" / "mllll" a rectangle (4 edges), else a curve
        kind = "line" if len(pts) == 2 else "curve"
        if len(pts) == 3 and pts[2] == pts[0]:
            kind = "line"
            pts = pts[:2]
        for a, b in zip(pts, pts[1:]):
            add(a, b, kind)

    def do_path(obj, m):
        a, b, c, d, e, f = m
        pts: list[tuple[float, float]] = []
        bezier = False
        start = None
        run = 0                                  # position in a run of Bézier segments
        for j in range(pr.FPDFPath_CountSegments(obj)):
            seg = pr.FPDFPath_GetPathSegment(obj, j)
            typ = pr.FPDFPathSegment_GetType(seg)
            if typ == pr.FPDF_SEGMENT_BEZIERTO:
                # a Bézier is three segments: two control points, then its end point
                run += 1
                bezier = True
                if run % 3:
                    continue
            elif typ in (pr.FPDF_SEGMENT_LINETO, pr.FPDF_SEGMENT_MOVETO):
                run = 0
            else:
                raise NotSure("unknown path segment")
            pr.FPDFPathSegment_GetPoint(seg, x, y)
            px, py = x.value, y.value
            pt = (a * px + c * py + e, b * px + d * py + f)
            if typ == pr.FPDF_SEGMENT_MOVETO or not pts:
                subpath(pts, bezier)
                pts, bezier, start = [pt], typ == pr.FPDF_SEGMENT_BEZIERTO, pt
                if typ == pr.FPDF_SEGMENT_MOVETO:
                    continue
            else:
                pts.append(pt)
            if pr.FPDFPathSegment_GetClose(seg) and start is not None:
                pts.append(start)
                subpath(pts, bezier)
                pts, bezier, start = [], False, None
        subpath(pts, bezier)

    def walk(count, get, parent, depth):
        nonlocal seen
        for i in range(count):
            seen += 1
            if seen > MAX_OBJECTS:
                raise NotSure("too many page objects")
            obj = get(i)
            typ = pr.FPDFPageObj_GetType(obj)
            if typ not in (pr.FPDF_PAGEOBJ_PATH, pr.FPDF_PAGEOBJ_FORM, pr.FPDF_PAGEOBJ_TEXT):
                continue
            if not pr.FPDFPageObj_GetMatrix(obj, fm):
                raise NotSure("object without a matrix")
            m = (fm.a, fm.b, fm.c, fm.d, fm.e, fm.f)
            if parent is not None:
                m = _mul(m, parent)
            if typ == pr.FPDF_PAGEOBJ_TEXT:
                # the object's matrix holds the text matrix and the CTM: upright text has
                # b = c = 0 and a, d > 0 (pdfplumber's "upright")
                if m[1] != 0 or m[2] != 0 or m[0] <= 0 or m[3] <= 0:
                    if parent is None and pr.FPDFPageObj_GetBounds(obj, fl, fb, fr, ft):
                        rotated.append((fl.value, height - ft.value, fr.value, height - fb.value))
                    else:
                        rotated.append((-1e9, -1e9, 1e9, 1e9))
            elif typ == pr.FPDF_PAGEOBJ_PATH:
                do_path(obj, m)
            elif depth < 8:
                walk(pr.FPDFFormObj_CountObjects(obj),
                     lambda j, o=obj: pr.FPDFFormObj_GetObject(o, j), m, depth + 1)
            else:
                raise NotSure("forms nested too deep")

    raw = page.raw
    walk(pr.FPDFPage_CountObjects(raw), lambda i: pr.FPDFPage_GetObject(raw, i), None, 0)
    return edges, diagonal, curved, rotated


def page_chars(textpage, height: float) -> list[Char]:
    """The characters of a text page with their loose boxes, pdfium's generated spaces and line
    breaks left out. (Unicode-map errors are checked later, for the characters that land in a
    table: `mapped`.)"""
    import pypdfium2.raw as pr

    raw = textpage.raw
    n = pr.FPDFText_CountChars(raw)
    if n < 0:
        raise NotSure("no text page")
    if n == 0:
        return []
    buf = (ctypes.c_ushort * (n + 1))()
    if pr.FPDFText_GetText(raw, 0, n, buf) != n + 1:
        raise NotSure("text length differs from the character count")
    units = list(buf[:n])
    r = pr.FS_RECTF()
    chars: list[Char] = []
    is_gen, box = pr.FPDFText_IsGenerated, pr.FPDFText_GetLooseCharBox
    for i, u in enumerate(units):
        if 0xD800 <= u <= 0xDFFF:
            raise NotSure("character outside the BMP")
        t = chr(u)
        if t.isspace() or u == 0xFFFE or u == 0:
            g = is_gen(raw, i)
            if g == 1:
                continue
            if g < 0:
                raise NotSure("unreadable character")
        if not box(raw, i, r):
            raise NotSure("character without a box")
        chars.append(Char(_LIGATURES.get(t, t), r.left, height - r.top, r.right, height - r.bottom, i))
    return chars


def mapped(textpage, chars: list[Char]) -> None:
    """Raises NotSure when one of the characters has no Unicode mapping (pdfium then shows the
    glyph code, pdfminer `(cid:N)`: neither is the printed character)."""
    import pypdfium2.raw as pr

    raw = textpage.raw
    err = pr.FPDFText_HasUnicodeMapError
    for c in chars:
        if err(raw, c.index) != 0:
            raise NotSure("character without a Unicode value")


def doubled(chars: list[Char], tol: float = 1.0) -> bool:
    """Some glyph drawn a second time at (nearly) the same place and size (simulated bold
    pdfium did not fold into one: pdf.dedupe's case, left to the pdfplumber path)."""
    seen: dict[tuple[str, int], list[Char]] = {}
    for c in chars:
        if c.text.isspace():
            continue
        b = int(c.top // 1)
        for bb in (b - 1, b, b + 1):
            for d in seen.get((c.text, bb), ()):
                if abs(d.x0 - c.x0) <= tol and abs(d.top - c.top) <= tol \
                        and abs((d.x1 - d.x0) - (c.x1 - c.x0)) <= 0.1 \
                        and abs((d.bottom - d.top) - (c.bottom - c.top)) <= 0.1:
                    return True
        seen.setdefault((c.text, b), []).append(c)
    return False


# --- the grid: pdfplumber's table finder on our edges ----------------------------------------

def find_table_cells(edges: list[dict]) -> list[list[tuple[float, float, float, float]]]:
    """Cell bboxes of every table (pdfplumber's TableFinder with the default settings)."""
    from pdfplumber import utils
    from pdfplumber.table import cells_to_tables, edges_to_intersections, merge_edges

    v = utils.filter_edges(edges, "v", min_length=EDGE_MIN_LENGTH_PREFILTER)
    h = utils.filter_edges(edges, "h", min_length=EDGE_MIN_LENGTH_PREFILTER)
    merged = merge_edges(v + h, SNAP, SNAP, JOIN, JOIN)
    merged = utils.filter_edges(merged, min_length=EDGE_MIN_LENGTH)
    inter = edges_to_intersections(merged, INTERSECTION, INTERSECTION)
    return cells_to_tables(intersections_to_cells(inter))


def intersections_to_cells(intersections: dict) -> list[tuple[float, float, float, float]]:
    """pdfplumber.table.intersections_to_cells, the same cells in the same order, without its
    quadratic scans: for each intersection (sorted), the first point below it joined by a
    vertical edge and the first point right of it joined by a horizontal edge whose corner
    closes the rectangle (edges compared by bbox, as pdfplumber does)."""
    def bbox(e):
        return (e["x0"], e["top"], e["x1"], e["bottom"])

    vset = {p: frozenset(map(bbox, d["v"])) for p, d in intersections.items()}
    hset = {p: frozenset(map(bbox, d["h"])) for p, d in intersections.items()}
    points = sorted(intersections)
    column: dict[float, list] = {}
    row: dict[float, list] = {}
    for p in points:
        column.setdefault(p[0], []).append(p)
        row.setdefault(p[1], []).append(p)
    # position of each point in its column / row (points are sorted by x, then y)
    col_pos = {p: k for pts in column.values() for k, p in enumerate(pts)}
    row_pos: dict = {}
    for pts in row.values():
        pts.sort()
        for k, p in enumerate(pts):
            row_pos[p] = k
    cells = []
    for pt in points:
        below = column[pt[0]][col_pos[pt] + 1:]
        right = row[pt[1]][row_pos[pt] + 1:]
        if not below or not right:
            continue
        pv, ph = vset[pt], hset[pt]
        found = None
        for b in below:
            if pv.isdisjoint(vset[b]):
                continue
            for r in right:
                if ph.isdisjoint(hset[r]):
                    continue
                br = (r[0], b[1])
                if br in vset and not vset[br].isdisjoint(vset[r]) \
                        and not hset[br].isdisjoint(hset[b]):
                    found = (pt[0], pt[1], br[0], br[1])
                    break
            if found:
                break
        if found:
            cells.append(found)
    return cells


def _rows(cells: list[tuple]) -> list[tuple]:
    """Cells in pdfplumber's Table.rows order (by top, then x0)."""
    return sorted(cells, key=lambda c: (c[1], c[0]))


def _overlaps(a: tuple, b: tuple, pad: float = 0.0) -> bool:
    return a[0] < b[2] + pad and b[0] < a[2] + pad and a[1] < b[3] + pad and b[1] < a[3] + pad


# --- text -------------------------------------------------------------------------------------

def _cluster(items: list, key, tol: float) -> list[list]:
    """pdfplumber's cluster_objects: distinct key values chained within `tol`, items grouped
    by cluster (in cluster order, stable within one)."""
    values = sorted({key(o) for o in items})
    index: dict[float, int] = {}
    k, last = -1, None
    for v in values:
        if last is None or v > last + tol:
            k += 1
        index[v] = k
        last = v
    groups: dict[int, list] = {}
    for o in items:
        groups.setdefault(index[key(o)], []).append(o)
    return [groups[i] for i in sorted(groups)]


def extract_text(chars: list[Char]) -> str:
    """pdfplumber.utils.extract_text(chars) for upright text with the default tolerances."""
    if not chars:
        return ""
    top_min = min(c.top for c in chars)
    if max(c.top for c in chars) - top_min <= Y_TOLERANCE:
        # one line (every cell of a number): its words joined by a space
        return " ".join(w for w in _words(sorted(chars, key=_x0)))
    words: list[tuple[float, str]] = []      # (top, text)
    for line in _cluster(chars, lambda c: c.top, Y_TOLERANCE):
        line = sorted(line, key=lambda c: c.x0)
        cur: list[Char] = []
        for c in line:
            if c.text.isspace():
                if cur:
                    words.append((min(x.top for x in cur), "".join(x.text for x in cur)))
                cur = []
            elif cur and (c.x0 < cur[-1].x0 or c.x0 > cur[-1].x1 + X_TOLERANCE
                          or abs(c.top - cur[-1].top) > Y_TOLERANCE):
                words.append((min(x.top for x in cur), "".join(x.text for x in cur)))
                cur = [c]
            else:
                cur.append(c)
        if cur:
            words.append((min(x.top for x in cur), "".join(x.text for x in cur)))
    lines = _cluster(words, lambda w: w[0], Y_TOLERANCE)
    return "\n".join(" ".join(w[1] for w in ln) for ln in lines)


def _x0(c: Char) -> float:
    return c.x0


def _words(line: list[Char]):
    """Texts of the words of one line of chars sorted by x0 (pdfplumber's WordExtractor)."""
    cur: list[Char] = []
    for c in line:
        if c.text.isspace():
            if cur:
                yield "".join(x.text for x in cur)
            cur = []
        elif cur and (c.x0 < cur[-1].x0 or c.x0 > cur[-1].x1 + X_TOLERANCE
                      or abs(c.top - cur[-1].top) > Y_TOLERANCE):
            yield "".join(x.text for x in cur)
            cur = [c]
        else:
            cur.append(c)
    if cur:
        yield "".join(x.text for x in cur)


def cell_text(raw: str | None) -> str:
    """A cell's lines joined without a space (Chinese labels wrap without one)."""
    if not raw:
        return ""
    return "".join(ln.strip() for ln in raw.split("\n") if ln.strip())


# --- one page -----------------------------------------------------------------------------------

def page_tables(page, textpage, page_no: int) -> tuple[list[TablePart], tuple[str, str] | None]:
    """The ruled tables of one page as table parts (the cells pdfplumber would give, in the
    same order), and (text above the first table, text below the last) for joining a table
    split across pages; None when no part was kept. Raises NotSure."""
    width, height = check_page(page)
    edges, diagonal, curved, rotated = path_geometry(page, height)
    if not edges:
        raise NotSure("no ruling")
    tables = find_table_cells(edges)
    if not tables:
        raise NotSure("no ruled grid")
    chars = page_chars(textpage, height)
    used: set[int] = set()
    parts: list[TablePart] = []
    boxes: list[tuple] = []
    for cells in tables:
        if len(cluster([v for c in cells for v in (c[0], c[2])])) < 3:
            continue      # one column: a framed paragraph, not a table (dropped like pdfplumber's)
        bbox = (min(c[0] for c in cells), min(c[1] for c in cells),
                max(c[2] for c in cells), max(c[3] for c in cells))
        boxes.append(bbox)
        for what, found in (("diagonal line", diagonal), ("curve", curved), ("rotated text", rotated)):
            if any(_overlaps(b, bbox) for b in found):
                raise NotSure(f"{what} in a table")
        texts = _assign(cells, chars, used)
        in_cells = [c for cs in texts.values() for c in cs]
        mapped(textpage, in_cells)
        if doubled(in_cells):
            raise NotSure("a glyph drawn twice in a table")
        out = []
        for c in _rows(cells):
            out.append(BoxCell(bbox=tuple(round(v, 2) for v in c),
                               text=cell_text(extract_text(texts.get(c, []))), page=page_no))
        parts.append(TablePart(page=page_no, bbox=bbox, cells=out, page_height=float(height)))
    for i, c in enumerate(chars):
        if i in used or c.text.isspace():
            continue
        hm, vm = c.hmid, c.vmid
        for b in boxes:
            if b[0] - BORDER_X <= hm <= b[2] + BORDER_X and b[1] - BORDER_Y <= vm <= b[3] + BORDER_Y:
                raise NotSure("text in a table outside its cells")
    parts.sort(key=lambda p: p.bbox[1])
    if not parts:
        return [], None
    top, bottom = parts[0].bbox[1], parts[-1].bbox[3]
    # pdfplumber's crop keeps every char touching the strip: the same here
    above = extract_text([c for c in chars if c.top < top - 1])
    below = extract_text([c for c in chars if c.bottom > bottom + 1])
    return parts, (above, below)


def _assign(cells: list[tuple], chars: list[Char], used: set[int]) -> dict[tuple, list[Char]]:
    """Each char (by its centre, as pdfplumber's Table.extract) in its cell; raises NotSure
    for a centre on a border or cells that overlap."""
    xs = sorted({v for c in cells for v in (c[0], c[2])})
    ys = sorted({v for c in cells for v in (c[1], c[3])})
    at: dict[tuple[int, int], tuple] = {}
    for c in cells:
        i0, i1 = xs.index(c[0]), xs.index(c[2])
        j0, j1 = ys.index(c[1]), ys.index(c[3])
        for i in range(i0, i1):
            for j in range(j0, j1):
                if (i, j) in at:
                    raise NotSure("overlapping cells")
                at[(i, j)] = c
    out: dict[tuple, list[Char]] = {}
    x_lo, x_hi, y_lo, y_hi = xs[0], xs[-1], ys[0], ys[-1]
    for k, ch in enumerate(chars):
        hm, vm = ch.hmid, ch.vmid
        if not (x_lo - BORDER_X <= hm <= x_hi + BORDER_X and y_lo - BORDER_Y <= vm <= y_hi + BORDER_Y):
            continue
        i = bisect_right(xs, hm) - 1
        j = bisect_right(ys, vm) - 1
        cell = at.get((i, j))
        if cell is None:
            continue          # left for the caller's outside-every-cell check
        if ch.text.isspace():
            out.setdefault(cell, []).append(ch)
            used.add(k)
            continue
        if hm - cell[0] < BORDER_X or cell[2] - hm <= BORDER_X \
                or vm - cell[1] < BORDER_Y or cell[3] - vm <= BORDER_Y:
            raise NotSure(f"character {ch.text!r} on a cell border")
        out.setdefault(cell, []).append(ch)
        used.add(k)
    return out
