"""PDF → Document: ruled tables from the text layer (pdfium, pdfplumber where pdfium is not
sure), OCR for pages without one.

Steps, cheapest first:
1. pypdfium2 opens the file (an encrypted file is retried with the empty password; a file that
   still cannot be opened is `pdf.encrypted` / `pdf.corrupt`) and reads every page's text
   (about 25× faster than pdfplumber). That text is the running text (`Document.text`, page
   numbers dropped so the title lines come first) and decides, per page:
   - *text* page holding one of the tables (a table marker or row label in its text), or the
     page right after one when that page starts with table rows → its ruled tables are read
     from pdfium's path objects and characters (`pdf_fast`: pdfplumber's table finder on
     pdfium's edges, the cells pdfplumber would give, ~10× cheaper); a page pdfium's reading
     is not sure of (no ruled grid, rotated text or a diagonal line in a table, text outside
     the cells or on a cell border, a doubled glyph, an odd page box) goes to pdfplumber,
     after `dedupe` so simulated bold does not double digits. `Document.meta["page_engines"]`
     says which engine read which page ({"pdfium": [3, 4], "pdfplumber": [5], "ocr": [...]});
   - *image* page (no usable text: a scan, or glyphs without a Unicode map that read as
     `(cid:NNN)`) → `tasks.readers.ocr` finds the table grid in the rendered image and reads
     each cell; the page's lines are OCR'd for the running text when it is the first page.
   Every other page's tables are never looked for, so a 300-page file with one relevant table
   costs little more than a 6-page one.
2. Table parts are turned into grids (`pdf_grid`): merged label cells copied (merged=True),
   a table split across pages joined into one grid (same columns, repeated header dropped).
"""
from __future__ import annotations

import io
import logging
import re
import unicodedata
from dataclasses import dataclass, field

from tasks import spec
from tasks.labels import normalize, squash
from tasks.readers.grid import Document, Grid, ReadError, TextLine
from tasks.readers.pdf_grid import BoxCell, TablePart, build_grid, can_join, join_parts, part_matrix

log = logging.getLogger(__name__)

# A page whose text has fewer usable characters than this is an image page (needs OCR).
MIN_TEXT_CHARS = 12
# Share of unmappable characters (control codes, Latin-1 noise, U+FFFD) above which a page's
# text is glyph garbage (fonts without a ToUnicode map: pdfminer shows them as (cid:NNN)).
GARBLED_SHARE = 0.2
OCR_DPI = 200
# A picture covering this share of a text page may be a table pasted as an image: OCR'd.
# (A seal or a logo covers a few per cent.)
BIG_IMAGE_SHARE = 0.08
# Pages whose running text is rebuilt from text positions (title block, preamble).
GEOMETRIC_TEXT_PAGES = 2

_PAGE_NUMBER = re.compile(
    r"^[\s\-－—–_·•~]*(?:第\s*)?[0-9一二三四五六七八九十]{1,4}\s*(?:页)?"
    r"(?:\s*(?:[/／]|共)\s*[0-9]{1,4}\s*页?)?[\s\-－—–_·•~]*$")
_SECTION_TITLE = re.compile(r"^\s*[一二三四五六七八九十]{1,3}\s*[、.．]")
_SUBSECTION = re.compile(r"^\s*[（(][一二三四五六七八九十]+[）)]")


@dataclass
class PageInfo:
    index: int                 # 0-based
    text: str
    width: float
    height: float
    usable: int = 0
    garbled: bool = False
    needs_ocr: bool = False
    candidate: bool = False
    marker: bool = False       # a table marker or row label in the text
    ruled: bool = False        # has enough path objects to hold a ruled table
    big_image: bool = False    # a text page with a picture covering BIG_IMAGE_SHARE of it or more
    top_ruled: bool = False    # ruling in the top part of the page, after a page with a table
    lines: list[str] = field(default_factory=list)


def _markers() -> tuple[str, ...]:
    lab = spec.labels()
    out = {squash(m) for ms in lab["tables"].values() for m in ms}
    for key, cores in lab["rows"].items():
        for c in cores:
            if len(normalize(c)) >= 4:
                out.add(normalize(c))
    out |= {"本年制发件数", "本年处理决定数量", "本年收费金额", "信息内容", "申请人情况"}
    return tuple(sorted(out))


_MARKERS: tuple[str, ...] | None = None


def markers() -> tuple[str, ...]:
    global _MARKERS
    if _MARKERS is None:
        _MARKERS = _markers()
    return _MARKERS


def is_page_number(line: str) -> bool:
    s = line.strip()
    return bool(s) and len(s) <= 16 and bool(_PAGE_NUMBER.match(s))


def _is_garbage_char(ch: str) -> bool:
    o = ord(ch)
    return (o < 0x20 and ch not in "\t\r\n") or 0x7f <= o <= 0xff or ch == "\ufffd" \
        or 0xe000 <= o <= 0xf8ff


def classify_text(text: str) -> tuple[int, bool]:
    """(usable characters, garbled?) of one page's extracted text."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 0, False
    bad = sum(1 for c in chars if _is_garbage_char(c))
    cid = len(re.findall(r"\(cid:\d+\)", text))
    usable = len(chars) - bad
    garbled = (bad / len(chars) > GARBLED_SHARE) or (cid > 5 and cid * 7 > len(chars) * 0.5) \
        or _glyph_ids_as_text(chars)
    return usable, garbled


def _glyph_ids_as_text(chars: list[str]) -> bool:
    """pdfium reads the glyph ids of a font without a Unicode map as code points: with a big
    CJK font they land in CJK Extension A, radicals and symbols, so the text looks Chinese but
    is not. Real report text is almost all GB2312 (the 6,763 common hanzi and punctuation)."""
    wide = [c for c in chars if not c.isascii()]
    if len(wide) < 10:
        return False
    # non-ASCII characters never encode to "?": every "?" is one outside GB 2312
    common = len(wide) - "".join(wide).encode("gb2312", errors="replace").count(b"?")
    return common / len(wide) < 0.5


def _has_table_marker(text: str) -> bool:
    s = squash(text)
    return any(m in s for m in markers())


def _starts_with_table_rows(lines: list[str]) -> bool:
    """The first lines of a page look like the rest of a table (numbers in a row)."""
    body = [ln for ln in lines if ln.strip() and not is_page_number(ln)][:4]
    for ln in body:
        nums = re.findall(r"(?<![\d.])\d+(?:\.\d+)?(?![\d.])", unicodedata.normalize("NFKC", ln))
        if len(nums) >= 3 and not re.search(r"年\s*\d+\s*月", ln):
            return True
    return False


def _open_pdfium(data: bytes):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as e:
        if getattr(e, "err_code", None) == 4:     # FPDF_ERR_PASSWORD
            try:
                return pdfium.PdfDocument(data, password="")
            except pdfium.PdfiumError:
                raise ReadError("pdf.encrypted", "PDF文件已加密，需要密码才能打开，无法读取") from e
        if getattr(e, "err_code", None) == 6:     # FPDF_ERR_SECURITY
            raise ReadError("pdf.encrypted", "PDF文件使用了不支持的加密方式，无法读取") from e
        raise ReadError("pdf.corrupt", f"PDF文件已损坏或不完整，无法打开（{e}）") from e


# Pages (with their text pages) kept open by scan_pages for the table reader, at most.
KEEP_OPEN = 16


def scan_pages(pdf, keep: dict[int, tuple] | None = None) -> list[PageInfo]:
    """Every page's text through pdfium, classified. With `keep`, the pages that may hold a
    table are left open there (index → (page, text page)) for `_fast_tables`; the caller
    closes them."""
    import pypdfium2.raw as pdfium_c

    pages: list[PageInfo] = []
    for i in range(len(pdf)):
        try:
            page = pdf[i]
        except Exception as e:   # noqa: BLE001 — a broken page is skipped, not fatal
            log.debug("page %d unreadable: %s", i + 1, e)
            pages.append(PageInfo(i, "", 595.0, 842.0))
            continue
        w, h = page.get_size()
        tp = page.get_textpage()
        text = tp.get_text_range() or ""
        info = PageInfo(i, text.replace("\r\n", "\n").replace("\r", "\n"), w, h)
        info.usable, info.garbled = classify_text(info.text)
        info.lines = [ln.strip() for ln in info.text.split("\n") if ln.strip()]
        if i < GEOMETRIC_TEXT_PAGES and not info.garbled and info.usable:
            # where metadata looks (title, preamble): lines rebuilt from their positions, so
            # a title wrapped over two lines reads as one
            info.lines = geometric_lines(tp) or info.lines
        kept = False
        if info.garbled or info.usable < MIN_TEXT_CHARS:
            has_image = _count_objects(page, pdfium_c.FPDF_PAGEOBJ_IMAGE, 1) > 0
            info.needs_ocr = info.garbled or has_image
        else:
            info.marker = _has_table_marker(info.text)
            if info.marker or (pages and pages[-1].marker):
                if keep is not None and len(keep) < KEEP_OPEN:
                    keep[i] = (page, tp)
                    kept = True
                # ruled tables are drawn with paths; prose that only mentions 行政复议 has none
                info.ruled = _count_objects(page, pdfium_c.FPDF_PAGEOBJ_PATH, 4) >= 4
                if info.ruled and pages and pages[-1].marker:
                    info.top_ruled = _paths_near_top(page, pdfium_c.FPDF_PAGEOBJ_PATH, h)
            # a table pasted as a picture into a text page
            info.big_image = _largest_image_share(page, pdfium_c.FPDF_PAGEOBJ_IMAGE, w * h) >= BIG_IMAGE_SHARE
        if not kept:
            tp.close()
            page.close()
        pages.append(info)
    any_ruled = any(p.marker and p.ruled for p in pages)
    for p in pages:
        if p.marker and (p.ruled or not any_ruled):
            p.candidate = True
    for a, b in zip(pages, pages[1:]):
        # the rest of a table: ruled paths at the top of the next page, or rows of numbers
        # (a page holding only a header's tail and a data row has no marker of its own)
        if a.candidate and not b.candidate and not b.needs_ocr and (
                b.top_ruled or (not any_ruled and _starts_with_table_rows(b.lines))):
            b.candidate = True
    return pages


def _objects(page, kind: int, limit: int = 5000):
    """(left, bottom, right, top) of the page objects of one kind, forms included, through
    pdfium's C API (the Python wrappers cost ~20 µs an object)."""
    import ctypes

    import pypdfium2.raw as pr

    l, b, r, t = (ctypes.c_float() for _ in range(4))
    seen = 0

    def walk(count, get, depth):
        nonlocal seen
        for i in range(count):
            seen += 1
            if seen > limit:
                return
            obj = get(i)
            typ = pr.FPDFPageObj_GetType(obj)
            if typ == kind:
                if pr.FPDFPageObj_GetBounds(obj, ctypes.byref(l), ctypes.byref(b),
                                            ctypes.byref(r), ctypes.byref(t)):
                    yield (l.value, b.value, r.value, t.value)
            elif typ == pr.FPDF_PAGEOBJ_FORM and depth < 3:
                yield from walk(pr.FPDFFormObj_CountObjects(obj),
                                lambda j, o=obj: pr.FPDFFormObj_GetObject(o, j), depth + 1)

    raw = page.raw
    yield from walk(pr.FPDFPage_CountObjects(raw), lambda i: pr.FPDFPage_GetObject(raw, i), 0)


def _paths_near_top(page, kind: int, height: float, share: float = 0.3) -> bool:
    """Some ruling drawn in the top `share` of the page body (a table continuing there)."""
    for left, bottom, right, top in _objects(page, kind):
        if top >= height * (1 - share) and (right - left > 15 or top - bottom > 15):
            return True
    return False


def _largest_image_share(page, kind: int, area: float) -> float:
    best = 0.0
    for left, bottom, right, top in _objects(page, kind):
        best = max(best, abs(right - left) * abs(top - bottom) / max(area, 1.0))
    return best


def _count_objects(page, kind: int, enough: int) -> int:
    n = 0
    for _ in _objects(page, kind):
        n += 1
        if n >= enough:
            break
    return n


def geometric_lines(tp) -> list[str]:
    """A page's text as lines rebuilt from pdfium's text rectangles, and lines of one paragraph
    joined: a line that runs to the right edge of the text block continues in the next line
    of the same size (a long title wrapped before 告, a preamble sentence)."""
    import ctypes

    import pypdfium2.raw as pr

    segs = []
    size = 2 * max(pr.FPDFText_CountChars(tp.raw), 0) + 64
    buf = (ctypes.c_ushort * size)()
    for k in range(tp.count_rects()):
        left, bottom, right, top = tp.get_rect(k)
        # the C call with one buffer for all rectangles (tp.get_text_bounded costs twice as much)
        n = pr.FPDFText_GetBoundedText(tp.raw, left, top, right, bottom, buf, size)
        raw = bytes(memoryview(buf).cast("B")[:2 * max(n, 0)]).decode("utf-16-le", errors="ignore")
        t = raw.rstrip("\x00").replace("\r", "").replace("\n", "")
        if t.strip():
            segs.append((left, bottom, right, top, t))
    if not segs:
        return []
    rows: list[list[tuple]] = []
    spans: list[list[float]] = []          # [bottom, top] of each row so far
    for seg in sorted(segs, key=lambda x: -x[3]):
        for k in range(len(rows) - 1, max(len(rows) - 4, -1), -1):   # the rows just above
            rb, rt = spans[k]
            overlap = min(rt, seg[3]) - max(rb, seg[1])
            if overlap >= 0.5 * min(rt - rb, seg[3] - seg[1]):
                rows[k].append(seg)
                spans[k] = [min(rb, seg[1]), max(rt, seg[3])]
                break
        else:
            rows.append([seg])
            spans.append([seg[1], seg[3]])
    lines = []
    for row in rows:
        row.sort(key=lambda x: x[0])
        text = "".join(x[4] for x in row).strip()
        lines.append((min(x[0] for x in row), max(x[2] for x in row),
                      max(x[3] for x in row) - min(x[1] for x in row), text))
    return join_wrapped(lines)


def join_wrapped(lines: list[tuple[float, float, float, str]]) -> list[str]:
    """Lines (x0, x1, height, text), top to bottom → text lines with paragraphs joined: a line
    that runs to the right edge of the text block continues in the next line of the same size,
    unless that one starts a section (一、 / （一）)."""
    body = [ln for ln in lines if not is_page_number(ln[3])]
    if not body:
        return []
    right_edge = max(ln[1] for ln in body)
    out: list[str] = []
    prev = None
    for ln in lines:
        if is_page_number(ln[3]):
            out.append(ln[3])
            prev = None
            continue
        if prev is not None and prev[1] >= right_edge - 1.5 * prev[2] \
                and abs(prev[2] - ln[2]) <= 0.25 * max(prev[2], ln[2]) \
                and not _SECTION_TITLE.match(ln[3]) and not _SUBSECTION.match(ln[3]):
            out[-1] = out[-1] + ln[3]
        else:
            out.append(ln[3])
        prev = ln
    return out


def read_pdf(path: str, data: bytes, sha256: str) -> Document:
    pdf = _open_pdfium(data)
    opened: dict[int, tuple] = {}      # pages scan_pages left open for the table reader
    try:
        n = len(pdf)
        if n == 0:
            raise ReadError("pdf.empty", "PDF文件没有任何页面")
        pages = scan_pages(pdf, opened)
        doc = Document(path=path, sha256=sha256, format="pdf",
                       meta={"pages": n})
        parts: list[TablePart] = []
        between: dict[int, tuple[str, str]] = {}   # page index → (text above first table, below last)
        cand = [p.index for p in pages if p.candidate]
        engines: dict[str, list[int]] = {}
        if cand:
            fast, unsure = _fast_tables(pdf, cand, between, opened)
            _close(opened)
            parts += fast
            engines["pdfium"] = [i + 1 for i in cand if i not in unsure]
            if unsure:
                parts += _text_tables(data, unsure, between)
                engines["pdfplumber"] = [i + 1 for i in unsure]
        ocr_pages = [p.index for p in pages if p.needs_ocr or (p.big_image and not p.ruled)]
        ocr_text: dict[int, list[str]] = {}
        if ocr_pages:
            parts += _ocr_tables(pdf, pages, ocr_pages, ocr_text, doc)
        doc.text = _running_text(pages, ocr_text)
        doc.grids = assemble(parts, between)
        doc.meta["table_pages"] = sorted({p.page for p in parts})
        if ocr_pages:
            doc.meta["ocr_pages"] = [i + 1 for i in ocr_pages]
            engines["ocr"] = [i + 1 for i in ocr_pages]
        doc.meta["page_engines"] = {k: v for k, v in engines.items() if v}
        if ocr_pages and (ocr_text or any(p.page - 1 in ocr_pages for p in parts)):
            doc.format = "scan"
        return doc
    finally:
        _close(opened)
        pdf.close()


def _close(opened: dict[int, tuple]) -> None:
    for page, tp in opened.values():
        tp.close()
        page.close()
    opened.clear()


def _running_text(pages: list[PageInfo], ocr_text: dict[int, list[str]]) -> list[TextLine]:
    out: list[TextLine] = []
    for p in pages:
        lines = ocr_text.get(p.index) if p.needs_ocr else p.lines
        for ln in lines or []:
            if is_page_number(ln):
                continue
            out.append(TextLine(text=ln, page=p.index + 1))
    return out


# --- text layer: pdfium first, pdfplumber where pdfium is not sure ---------------------------

def _fast_tables(pdf, page_indexes: list[int], between: dict[int, tuple[str, str]],
                 opened: dict[int, tuple] | None = None) -> tuple[list[TablePart], list[int]]:
    """Tables of the candidate pages read through pdfium (`pdf_fast`): (parts, indexes of the
    pages it is not sure of, for pdfplumber). `opened`: pages already open (the caller closes
    them)."""
    from tasks.readers.pdf_fast import NotSure, page_tables

    opened = opened or {}
    parts: list[TablePart] = []
    unsure: list[int] = []
    for i in page_indexes:
        page = tp = None
        try:
            if i in opened:
                page_parts, gap = page_tables(*opened[i], i + 1)
            else:
                page = pdf[i]
                tp = page.get_textpage()
                page_parts, gap = page_tables(page, tp, i + 1)
        except NotSure as e:
            log.debug("page %d: pdfplumber reads it (%s)", i + 1, e)
            unsure.append(i)
            continue
        except Exception as e:   # noqa: BLE001 — whatever pdfium cannot do, pdfplumber tries
            log.debug("page %d: pdfium table reading failed: %s", i + 1, e)
            unsure.append(i)
            continue
        finally:
            if tp is not None:
                tp.close()
            if page is not None:
                page.close()
        if gap is not None:
            between[i + 1] = gap
        parts += page_parts
    return parts, unsure



def _text_tables(data: bytes, page_indexes: list[int],
                 between: dict[int, tuple[str, str]]) -> list[TablePart]:
    import pdfplumber
    from pdfminer.pdfdocument import PDFPasswordIncorrect

    parts: list[TablePart] = []
    try:
        pl = pdfplumber.open(io.BytesIO(data), password="")
    except PDFPasswordIncorrect as e:
        raise ReadError("pdf.encrypted", "PDF文件已加密，需要密码才能打开，无法读取") from e
    except Exception as e:   # noqa: BLE001
        raise ReadError("pdf.corrupt", f"PDF文件结构损坏，无法解析表格（{type(e).__name__}）") from e
    with pl:
        for i in page_indexes:
            try:
                page = dedupe(pl.pages[i])     # simulated bold draws every glyph twice
                found = page.find_tables()
                page_parts = [_plumber_part(page, t, i + 1) for t in found]
            except Exception as e:   # noqa: BLE001 — one broken page must not stop the file
                log.debug("page %d: table extraction failed: %s", i + 1, e)
                continue
            page_parts = [p for p in page_parts if p is not None]
            page_parts.sort(key=lambda p: p.bbox[1])
            if page_parts:
                top, bottom = page_parts[0].bbox[1], page_parts[-1].bbox[3]
                above = page.crop((0, 0, page.width, max(top - 1, 0.1))).extract_text() or ""
                below = page.crop((0, min(bottom + 1, page.height - 0.1), page.width,
                                   page.height)).extract_text() or ""
                between[i + 1] = (above, below)
            parts += page_parts
    return parts


def doubled_chars(chars: list[dict], tol: float = 1.0) -> set[int]:
    """ids of glyphs drawn a second time at (nearly) the same place with the same font and
    size — simulated bold, or a shadow — keeping the first of each. Linear: chars are
    bucketed by text and line."""
    from collections import defaultdict

    buckets: dict[tuple[str, int], list[dict]] = defaultdict(list)
    drop: set[int] = set()
    for c in chars:
        t = c.get("text", "")
        if not t.strip():
            continue
        b = int(c["top"] // 1)
        dup = False
        for bb in (b - 1, b, b + 1):
            for d in buckets.get((t, bb), ()):
                if abs(d["x0"] - c["x0"]) <= tol and abs(d["top"] - c["top"]) <= tol \
                        and d.get("fontname") == c.get("fontname") \
                        and abs(d.get("size", 0) - c.get("size", 0)) <= 0.1:
                    dup = True
                    break
            if dup:
                break
        if dup:
            drop.add(id(c))
        else:
            buckets[(t, b)].append(c)
    return drop


def dedupe(page):
    """The page without doubled glyphs (pdfplumber's page.dedupe_chars() does the same in
    about ten times the time); the page itself when nothing is doubled."""
    drop = doubled_chars(page.chars)
    if not drop:
        return page
    return page.filter(lambda obj: obj.get("object_type") != "char" or id(obj) not in drop)


def cell_text(raw: str | None) -> str:
    """A cell's lines joined: Chinese labels wrap without a space; digits a naive reader would
    split ("2 0" from spaced glyphs) are joined again by parse_cell, which ignores spaces."""
    if not raw:
        return ""
    lines = [ln.strip() for ln in raw.split("\n") if ln.strip()]
    return "".join(lines)


def _plumber_part(page, table, page_no: int) -> TablePart | None:
    cells: list[BoxCell] = []
    texts = table.extract()
    for row, trow in zip(table.rows, texts):
        for bbox, t in zip(row.cells, trow):
            if bbox is None:
                continue
            cells.append(BoxCell(bbox=tuple(round(v, 2) for v in bbox), text=cell_text(t),
                                 page=page_no))
    if not cells:
        return None
    part = TablePart(page=page_no, bbox=tuple(table.bbox), cells=cells,
                     page_height=float(page.height))
    if part.n_cols < 2:
        return None      # a framed paragraph, not a table
    return part


# --- image pages: OCR ------------------------------------------------------------------------

def _ocr_tables(pdf, pages: list[PageInfo], ocr_pages: list[int], ocr_text: dict[int, list[str]],
                doc: Document) -> list[TablePart]:
    from tasks.readers import ocr

    parts: list[TablePart] = []
    engine = ocr.engine()     # raises ReadError("ocr.unavailable") when it cannot run here
    need_title = True
    for i in ocr_pages:
        page = pdf[i]
        img = ocr.render_page(page, OCR_DPI)
        page.close()
        img, _ = ocr.deskew(img)
        found = ocr.read_tables(img, OCR_DPI, i + 1, engine=engine, do_deskew=False)
        parts += found
        if need_title and pages[i].needs_ocr and \
                not any(not p.needs_ocr and p.usable for p in pages[:i]):
            # the title block of the first page, for metadata
            ocr_text[i] = ocr.read_lines(img, OCR_DPI, engine=engine, do_deskew=False,
                                         exclude=[p.bbox for p in found])
            need_title = False
    return parts


# --- grids -------------------------------------------------------------------------------------

def _only_margin_text(text: str) -> bool:
    for ln in text.split("\n"):
        s = ln.strip()
        if not s or is_page_number(s):
            continue
        if _SECTION_TITLE.match(s) or len(normalize(s)) > 20:
            return False
    return True


def assemble(parts: list[TablePart], between: dict[int, tuple[str, str]] | None = None) -> list[Grid]:
    """Table parts in reading order → grids, joining the parts of a table split across pages."""
    between = between or {}
    parts = sorted(parts, key=lambda p: (p.page, p.bbox[1]))
    groups: list[list[TablePart]] = []
    for p in parts:
        if groups:
            prev = groups[-1][-1]
            last_on_page = prev is max((q for q in parts if q.page == prev.page),
                                       key=lambda q: q.bbox[1])
            first_on_page = p is min((q for q in parts if q.page == p.page),
                                     key=lambda q: q.bbox[1])
            gap_ok = (_only_margin_text(between.get(prev.page, ("", ""))[1])
                      and _only_margin_text(between.get(p.page, ("", ""))[0]))
            if last_on_page and first_on_page and gap_ok and can_join(prev, p):
                groups[-1].append(p)
                continue
        groups.append([p])
    grids: list[Grid] = []
    for g in groups:
        if len(g) == 1:
            matrix = part_matrix(g[0])
        else:
            matrix, _ = join_parts(g)
        grid = build_grid(matrix, index=len(grids))
        if grid.rows:
            grids.append(grid)
    return grids
