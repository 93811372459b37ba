"""HTML pages (government CMS sites) → Document.

A CMS page wraps the report (title + body with the three tables) in navigation, banners, share
buttons, "related links" and a footer. This reader:

1. decodes the bytes (BOM, then strict UTF-8, then the declared charset, then GB18030, then
   charset-normalizer): GB2312/GBK/UTF-8 pages with or without a charset declaration;
2. parses with an HTML5 parser (selectolax/Lexbor): no DTD, no custom entity expansion, so an
   "entity bomb" is just text; input size, table size and spans are capped;
3. leaves out what a reader never sees (script, style, templates, hidden elements);
4. finds the article: the deepest element holding nearly all the page's *content weight*
   (paragraph text of some length, not link text, plus the text of data tables), so menus and
   footers, made of short lines and links, fall outside it;
5. puts the article's title first in `Document.text` (the nearest title-like heading before the
   article, else the page's ArticleTitle/og:title/<title>), then the article's text lines;
6. expands every data table (a table without nested tables) into a grid: rowspan/colspan copies
   are `merged=True`, `&nbsp;`/empty cells are "", text in nested <p><span> is joined.

Speed (a page has 1,000-2,000 nodes, most of them inside the three data tables; ~3 ms a page):
- one CSS query finds the tables, the cells with spans and the hidden candidates;
- a leaf table is read once, in C where possible (_Reader._scan_fast): one Lexbor traversal
  gives its rows and cells, text() each cell's text; it becomes a single node of the light tree,
  weighed by its text length, and is walked only if the article or title search must look
  inside it (_Reader.open);
- the light Python tree (step 4) covers the page outside the data tables.
The result is the same as walking every node in Python (checked on 4,000 pages: generated,
real, noisy, mutated and hand-made edge cases).

Provenance: `Grid.index` is the table's number (0-based, document order among grids), the layout
records row/column as the expanded grid position. HTML has no pages.
"""
from __future__ import annotations

import codecs
import re
import unicodedata

from tasks.readers.grid import Document, Grid, GridCell, ReadError, TextLine

MAX_HTML_BYTES = 20 * 1024 * 1024      # a report page is ~100 KB; anything this big is not one
MAX_NODES = 500_000                    # elements + text nodes walked
MAX_SPAN = 200                         # clamp rowspan/colspan (HTML allows 1000/65534)
MAX_GRID_ROWS = 2000
MAX_GRID_COLS = 200
MAX_GRID_CELLS = 100_000
# Lexbor's cost grows with the square of the nesting depth of block containers (div, ul …):
# 200,000 nested <div>s take minutes. Real pages nest a few dozen deep.
MAX_BLOCK_DEPTH = 3000
_BLOCK_TAG_RE = re.compile(
    r"<(/?)(?:div|section|article|aside|nav|header|footer|main|blockquote|ul|ol|dl|dd|dt|center|"
    r"address|figure|figcaption|fieldset|details|summary|dir|menu|pre|listing|hgroup|h[1-6])"
    r"(?=[\s>/])", re.I)

_SKIP_TAGS = {"script", "style", "noscript", "template", "iframe", "object", "embed", "svg",
              "math", "select", "option", "button", "textarea", "input", "head", "title",
              "meta", "link", "canvas", "audio", "video", "map", "frameset", "frame"}
_BLOCK_TAGS = {"p", "div", "section", "article", "main", "header", "footer", "nav", "aside",
               "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "dl", "dt", "dd", "table",
               "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "blockquote", "pre",
               "address", "figure", "figcaption", "form", "fieldset", "hr", "center", "body",
               "html", "details", "summary"}
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", re.I)
_WS = re.compile(r"[ \t\r\n\f\u00a0\u3000\u200b\ufeff]+")
_TITLE_LIKE = re.compile(r"(?:19|20)[0-9]{2}\s*年.{0,40}?(?:报告|年报)")
# Labels that only the report's tables carry: a leaf table holding some is a data table.
_TABLE_MARKERS = ("第二十条", "本年新收", "上年结转", "予以公开", "不予公开", "结转下年度",
                  "行政复议", "行政诉讼", "结果维持", "本年制发件数", "本年新制作数量",
                  "申请人情况", "信息内容", "行政许可", "行政处罚")
# One query for the tables, the cells with spans and the candidates for hidden elements (a style
# holding both words of a _HIDDEN_STYLE match; confirmed by the regex).
_UNSEEN_SELECTOR = ('table, [hidden], [style*="display" i][style*="none" i], '
                    '[style*="visibility" i][style*="hidden" i], [rowspan], [colspan]')
_SECTIONS = frozenset(("thead", "tbody", "tfoot"))
_SPAN_RE = re.compile(r"\s*0*([0-9]+)")
# A text block shorter than this (characters) is navigation/decoration, not article text.
_MIN_BLOCK_CHARS = 20
# The article is the deepest element holding at least this share of the page's content weight.
_ARTICLE_SHARE = 0.85


# ---------------------------------------------------------------------------------- decoding
_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "gb_2312-80": "gb18030", "x-gbk": "gb18030",
            "cp936": "gb18030", "ms936": "gb18030", "euc-cn": "gb18030", "hz-gb-2312": "gb18030",
            "unicode": "utf-8", "utf8": "utf-8", "x-user-defined": "windows-1252"}


def decode_html(data: bytes) -> tuple[str, str]:
    """Bytes → (text, encoding). Order: BOM; strict UTF-8 (GBK text is practically never valid
    UTF-8, while a UTF-8 page is often mislabelled gb2312); the declared charset; GB18030;
    charset-normalizer. Raises ReadError("encoding") when nothing fits."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    declared = None
    m = _META_CHARSET.search(data[:8192])
    if m:
        name = m.group(1).decode("ascii", "ignore").strip().lower()
        name = _ALIASES.get(name, name)
        try:
            declared = codecs.lookup(name).name
        except LookupError:
            declared = None
    for enc in (declared, "gb18030"):
        if not enc or enc in ("utf-8",):
            continue
        try:
            return data.decode(enc), ("gb18030" if enc == "gb18030" else enc)
        except UnicodeDecodeError:
            continue
    try:
        from charset_normalizer import from_bytes
        best = from_bytes(data[:1_000_000]).best()
    except Exception:   # noqa: BLE001 - detector trouble is an encoding problem of the file
        best = None
    if best is None or not best.encoding:
        raise ReadError("encoding", "无法识别网页的字符编码")
    return data.decode(best.encoding, errors="replace"), best.encoding


# ------------------------------------------------------------------------------ light tree
class _Node:
    """An element of the light tree: the page outside the data tables (those are read straight
    from Lexbor, see _Table) with the skipped and hidden elements left out."""
    __slots__ = ("tag", "parent", "children", "weight", "has_table", "data_table", "in_link",
                 "src", "table", "fixed", "inl")

    def __init__(self, tag: str, parent: "_Node | None", in_link: bool, src) -> None:
        self.tag = tag
        self.parent = parent
        self.children: list = []          # _Node | str
        self.weight = 0.0
        self.has_table = False            # a <table> somewhere below (leaf-table detection)
        self.data_table = False           # a leaf table carrying the report's labels
        self.in_link = in_link
        self.src = src                    # the Lexbor node (None for the synthetic top)
        self.table: _Table | None = None  # a leaf table's rows and text
        self.fixed = False                # a data table not walked yet: weight set, no children
        self.inl = 0                      # non-space characters of its inline text (_weigh)


def _walk(node: _Node):
    """Pre-order over element nodes (iterative)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(c for c in reversed(n.children) if type(c) is _Node)


class _Nested(Exception):
    """A table holding a (visible) table: not a leaf table."""


class _Table:
    """A leaf table read in one pass: its rows as (cell mem_id, rendered text) and the whole
    table's rendered text (cells, caption), enough to tell a data table and weigh it."""
    __slots__ = ("rows", "text", "data", "weight")

    def __init__(self, rows: list, text: str) -> None:
        self.rows = rows
        self.text = text
        self.data = sum(1 for m in _TABLE_MARKERS if m in text) >= 2
        # non-space characters once rendered (_WS runs collapsed, lines stripped)
        self.weight = len("".join(text.split())) - text.count("\u200b") - text.count("\ufeff")


class _Reader:
    """One page: the hidden elements, the node budget and the walks over the Lexbor tree."""

    def __init__(self, body_src) -> None:
        self.count = 0
        self.nodes: list[_Node] = []          # every light node (see release)
        top = body_src.mem_id
        self.hidden: set[int] = set()
        self.spans: dict[int, dict] = {}      # mem_id → attributes of cells with a span
        tables = []
        for n in body_src.css(_UNSEEN_SELECTOR):
            if n.tag == "table":
                tables.append(n)
            mid = n.mem_id
            attrs = n.attributes
            if "rowspan" in attrs or "colspan" in attrs:
                self.spans[mid] = attrs
            if mid == top:
                continue                      # the body itself is always read
            if "hidden" in attrs or _HIDDEN_STYLE.search(attrs.get("style") or ""):
                self.hidden.add(mid)
        self.nested = self._nested_tables(tables) if len(tables) > 1 else set()

    def _nested_tables(self, tables: list) -> set[int]:
        """mem_ids of the tables holding a visible table (the others are leaf tables)."""
        out: set[int] = set()
        hidden = self.hidden
        for t in tables:
            if t.mem_id in hidden:
                continue
            outer = []
            a = t.parent
            while a is not None:
                tag = a.tag
                if tag in _SKIP_TAGS or (hidden and a.mem_id in hidden):
                    break                     # t is never seen: it makes no table a non-leaf
                if tag == "table":
                    outer.append(a.mem_id)
                elif tag == "body" or tag == "html":
                    out.update(outer)
                    break
                a = a.parent
        return out

    def release(self) -> None:
        """Break the light tree's parent links: its nodes hold Lexbor nodes, which hold the
        whole parsed page; without cycles it is freed as soon as the read is over (not at the
        next cyclic garbage collection)."""
        for n in self.nodes:
            n.parent = None
            n.src = None
        self.nodes = []

    def _tick(self) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            raise ReadError("html.too_large", "网页结构过于庞大（节点过多），无法解析")

    # ---------------------------------------------------------------------- light tree
    def build(self, src, top: _Node) -> None:
        """Lexbor subtree → light tree (iterative). A leaf data table becomes one fixed node."""
        hidden = self.hidden
        nested = self.nested
        skip = _SKIP_TAGS
        node_cls = _Node
        nodes = self.nodes
        count = self.count
        stack = [(src, top)]
        while stack:
            s, parent = stack.pop()
            kids = parent.children
            in_link = parent.in_link
            c = s.child
            while c is not None:
                count += 1
                tag = c.tag
                if tag == "-text":
                    t = c.text_content
                    if t:
                        kids.append(t)
                elif tag not in skip and tag[:1] not in "-_" and not (hidden and c.mem_id in hidden):
                    node = node_cls(tag, parent, in_link or tag == "a", c)
                    kids.append(node)
                    nodes.append(node)
                    if tag == "table" and c.mem_id not in nested:
                        self.count = count
                        try:
                            node.table = self.scan(c)
                        except _Nested:
                            node.table = None
                        count = self.count
                        if node.table is not None and node.table.data:
                            node.fixed = node.data_table = True
                            node.weight = float(node.table.weight)
                            c = c.next
                            continue
                    stack.append((c, node))
                c = c.next
            if count > MAX_NODES:
                raise ReadError("html.too_large", "网页结构过于庞大（节点过多），无法解析")
        self.count = count

    def open(self, n: _Node) -> None:
        """Walk a fixed data table: build and weigh its cells (its own weight stays)."""
        if n.fixed:
            table = n.table
            self.build(n.src, n)
            n.table = table
            _weigh(n)
            n.fixed = False

    # -------------------------------------------------------------------------- tables
    def scan(self, table) -> _Table:
        """A leaf table's rows (table > [thead|tbody|tfoot >] tr > td|th) and rendered text.
        Raises _Nested when a visible table is inside."""
        t = self._scan_fast(table)
        if t is not None:
            return t
        hidden = self.hidden
        rows: list = []
        parts: list[str] = []
        c = table.child
        while c is not None:
            self._tick()
            tag = c.tag
            if tag == "-text":
                parts.append(c.text_content or "")
            elif (tag[:1] not in "-_" and tag not in _SKIP_TAGS
                  and not (hidden and c.mem_id in hidden)):
                if tag == "tr":
                    rows.append(self._row(c, parts))
                elif tag in _SECTIONS:
                    r = c.child
                    while r is not None:
                        self._tick()
                        rtag = r.tag
                        if rtag == "-text":
                            parts.append(r.text_content or "")
                        elif (rtag[:1] not in "-_" and rtag not in _SKIP_TAGS
                              and not (hidden and r.mem_id in hidden)):
                            if rtag == "tr":
                                rows.append(self._row(r, parts))
                            else:
                                parts.append(self.render(r))
                        r = r.next
                else:
                    parts.append(self.render(c))
            c = c.next
        return _Table(rows, "\n".join(parts))

    def _scan_fast(self, table) -> _Table | None:
        """scan() for the usual table: nothing inside is skipped, hidden, a caption or a table.
        Then every tr is a row (the HTML parser puts a tr only under table/thead/tbody/tfoot
        and a td/th only under a tr) and the table's text is its cells' text. A cell holding
        one text node (besides whitespace-only ones) is that text: blocks or <br> around it
        only add what the clean-up strips. None when the table is not that simple."""
        hidden = self.hidden
        rows: list[list] = []
        row: list | None = None
        it = table.traverse()
        next(it)                          # the table itself
        for e in it:
            if hidden and e.mem_id in hidden:
                return None
            tag = e.tag
            if tag == "td" or tag == "th":
                if row is None:
                    return None
                row.append(e)
            elif tag == "tr":
                row = []
                rows.append(row)
            elif tag in _SKIP_TAGS or tag == "table" or tag == "caption":
                return None
        out: list[list] = []
        texts: list[str] = []
        for row in rows:
            cells = []
            for c in row:
                s = c.text(separator="\x00", skip_empty=True)
                if "\x00" in s:
                    s = self.render(c)
                cells.append((c.mem_id, s))
                texts.append(s)
            out.append(cells)
        self.count += len(texts)
        if self.count > MAX_NODES:
            raise ReadError("html.too_large", "网页结构过于庞大（节点过多），无法解析")
        return _Table(out, "\n".join(texts))

    def _row(self, tr, parts: list[str]) -> list:
        hidden = self.hidden
        row = []
        c = tr.child
        while c is not None:
            self._tick()
            tag = c.tag
            if tag == "-text":
                parts.append(c.text_content or "")
            elif (tag[:1] not in "-_" and tag not in _SKIP_TAGS
                  and not (hidden and c.mem_id in hidden)):
                s = self.render(c)
                parts.append(s)
                if tag == "td" or tag == "th":
                    row.append((c.mem_id, s))
            c = c.next
        return row

    def render(self, node) -> str:
        """An element's text as shown, before line clean-up: block boundaries and <br> are
        newlines. Raises _Nested at a visible table."""
        out: list[str] = []
        try:
            _render(node, out, self.hidden, 0)
        except RecursionError:
            out = []
            self._render_flat(node, out)
        return "".join(out)

    def _render_flat(self, node, out: list) -> None:
        """_render without recursion (deeply nested markup)."""
        hidden = self.hidden
        stack: list = []              # where to resume (a sibling or None), block-end "\n"s
        c = node.child
        while True:
            if c is None:
                if not stack:
                    return
                item = stack.pop()
                if type(item) is str:
                    out.append(item)
                else:
                    c = item
                continue
            self._tick()
            tag = c.tag
            nxt = c.next
            if tag == "-text":
                out.append(c.text_content or "")
            elif (tag[:1] not in "-_" and tag not in _SKIP_TAGS
                  and not (hidden and c.mem_id in hidden)):
                if tag == "br":
                    out.append("\n")
                elif tag == "table":
                    raise _Nested
                else:
                    stack.append(nxt)
                    if tag in _BLOCK_TAGS:
                        out.append("\n")
                        stack.append("\n")
                    c = c.child
                    continue
            c = nxt


def _render(n, out: list, hidden: set, depth: int,
            _skip=_SKIP_TAGS, _block=_BLOCK_TAGS) -> None:
    """See _Reader.render (recursive: the hot path, cells hold a few levels of <p><span>)."""
    if depth > 100:
        raise RecursionError
    c = n.child
    while c is not None:
        tag = c.tag
        if tag == "-text":
            t = c.text_content
            if t:
                out.append(t)
        elif tag not in _skip and tag[:1] not in "-_" and not (hidden and c.mem_id in hidden):
            if tag == "br":
                out.append("\n")
            elif tag == "table":
                raise _Nested
            elif tag in _block:
                out.append("\n")
                _render(c, out, hidden, depth + 1)
                out.append("\n")
            else:
                _render(c, out, hidden, depth + 1)
        c = c.next


# ------------------------------------------------------------------------------- reading
def read_html(path: str, data: bytes, sha256: str) -> Document:
    if len(data) > MAX_HTML_BYTES:
        raise ReadError("html.too_large", f"网页文件过大（{len(data) // 1024 // 1024} MB），不像年度报告页面")
    text, encoding = decode_html(data)
    if _too_deep(text):
        raise ReadError("html.too_deep", "网页元素嵌套过深，不像正常网页，拒绝解析")
    from selectolax.lexbor import LexborHTMLParser

    try:
        parsed = LexborHTMLParser(text)
    except Exception as e:   # noqa: BLE001
        raise ReadError("html.malformed", f"网页无法解析：{e}") from e
    body_src = parsed.body or parsed.root
    if body_src is None:
        raise ReadError("html.malformed", "网页没有可读的正文")
    reader = _Reader(body_src)
    try:
        return _read(path, sha256, encoding, parsed, body_src, reader)
    finally:
        reader.release()


def _read(path: str, sha256: str, encoding: str, parsed, body_src, reader: _Reader) -> Document:
    body = _Node("body", None, False, None)
    reader.build(body_src, body)
    _weigh(body)
    article = _find_article(body, reader)

    doc = Document(path=path, sha256=sha256, format="html", meta={"encoding": encoding})
    # grids: the data tables of the article, plus report tables elsewhere on the page
    for t in _leaf_tables(body):
        if t.data_table or _inside(t, article):
            if t.table is None:
                try:
                    t.table = reader.scan(t.src)
                except _Nested:
                    continue
            g = _grid(t, len(doc.grids), reader.spans)
            if g.rows:
                doc.grids.append(g)

    lines = _text_lines(article)
    title = _find_title(body, article, reader)
    if title is None:
        title = next((t for t in _page_titles(parsed) if _is_title(t)), None)
    if title and not any(_is_title(ln) for ln in lines[:3]):
        lines.insert(0, title)
    doc.text = [TextLine(text=ln) for ln in lines]
    cls = ((article.src.attributes.get("class") or "").split() if article.src is not None
           else None)
    doc.meta["article"] = article.tag + ("." + cls[0] if cls else "")
    return doc


def _leaf_tables(body: _Node) -> list[_Node]:
    """The leaf tables of the light tree in document order (only nodes holding a table are
    walked)."""
    out = []
    stack = [body]
    while stack:
        n = stack.pop()
        if n.tag == "table" and not n.has_table:
            out.append(n)
            continue
        stack.extend(c for c in reversed(n.children)
                     if type(c) is _Node and (c.has_table or c.tag == "table"))
    return out


def _inside(n: _Node, ancestor: _Node) -> bool:
    while n is not None:
        if n is ancestor:
            return True
        n = n.parent
    return False


def _too_deep(text: str) -> bool:
    """Nesting of block containers beyond MAX_BLOCK_DEPTH. The depth never exceeds the number
    of start tags, so ordinary pages skip the scan."""
    if text.count("<") - text.count("</") <= MAX_BLOCK_DEPTH:
        return False
    return _block_depth(text) > MAX_BLOCK_DEPTH


def _block_depth(text: str) -> int:
    """Approximate maximum nesting depth of block containers (open tags minus close tags)."""
    depth = best = 0
    for m in _BLOCK_TAG_RE.finditer(text):
        if m.group(1):
            depth = max(0, depth - 1)
        else:
            depth += 1
            if depth > best:
                best = depth
    return best


def _page_titles(parsed) -> list[str]:
    out = []
    for sel in ('meta[name="ArticleTitle"]', 'meta[property="og:title"]', 'meta[name="title"]'):
        n = parsed.css_first(sel)
        if n is not None and (n.attributes.get("content") or "").strip():
            out.append(n.attributes["content"].strip())
    t = parsed.css_first("title")
    if t is not None and t.text(strip=True):
        # "<article title>_<column>_<site>"
        parts = [p.strip() for p in re.split(r"\s*(?:_|\||-{1,2}|—|–)\s*", t.text(strip=True))]
        out.extend(p for p in parts if p)
    return out


def _weigh(root: _Node) -> None:
    """Content weight per element. A block element weighs its own inline text when that is a
    real text block (at least _MIN_BLOCK_CHARS characters, not link text); every element adds
    its children's weights; a leaf data table weighs its whole text instead (set when read).
    The inline text's characters are counted bottom-up (`inl`): a node's strings plus the
    `inl` of its children that are not blocks, <br> or links (what _inline_text joins)."""
    order = [root]                  # breadth first: children after parents
    i = 0
    while i < len(order):
        order.extend(c for c in order[i].children if type(c) is _Node)
        i += 1
    block_tags = _BLOCK_TAGS
    for n in reversed(order):
        if n.data_table:
            continue
        w = 0.0
        inl = 0
        has_table = False
        for c in n.children:
            if type(c) is str:
                inl += len("".join(c.split()))
                continue
            w += c.weight
            tag = c.tag
            if tag == "table" or c.has_table:
                has_table = True
            if tag not in block_tags and tag != "br" and tag != "a":
                inl += c.inl
        n.has_table = has_table
        n.inl = inl
        if inl >= _MIN_BLOCK_CHARS and not n.in_link and n.tag in block_tags:
            w += inl
        n.weight = w


def _chars(s: str) -> int:
    """Non-space characters (str.split() splits on exactly the str.isspace() characters)."""
    return len("".join(s.split()))


def _inline_text(n: _Node, budget: int | None = None) -> str:
    """The text directly in a block: its strings and those of inline descendants, not passing
    through nested blocks, links or <br> (iterative). `budget` caps the nodes visited."""
    out: list[str] = []
    stack: list = list(reversed(n.children))
    while stack:
        if budget is not None:
            budget -= 1
            if budget < 0:
                break
        c = stack.pop()
        if type(c) is str:
            out.append(c)
        elif c.tag not in _BLOCK_TAGS and c.tag != "br" and c.tag != "a":
            stack.extend(reversed(c.children))
    return "".join(out)


def _find_article(body: _Node, reader: _Reader) -> _Node:
    total = body.weight
    if total <= 0:
        return body
    cur = body
    while True:
        reader.open(cur)
        nxt = None
        for c in cur.children:
            if type(c) is _Node and c.weight >= _ARTICLE_SHARE * total:
                nxt = c
                break
        if nxt is None:
            return cur
        cur = nxt


def _text_lines(article: _Node) -> list[str]:
    """The article's running text, one line per block, data tables left out (they are grids)."""
    out: list[str] = []
    stack: list = [article]
    while stack:
        n = stack.pop()
        if type(n) is str:
            out.append(n)
            continue
        tag = n.tag
        if tag == "br":
            out.append("\n")
            continue
        if tag == "table" and n.data_table:
            out.append("\n")
            continue
        if tag in _BLOCK_TAGS:
            out.append("\n")
            stack.append("\n")
        if tag == "td" or tag == "th":
            stack.append(" ")
        stack.extend(reversed(n.children))
    return _lines("".join(out))


def _lines(s: str) -> list[str]:
    lines = (_WS.sub(" ", ln).strip() for ln in s.split("\n"))
    return [ln for ln in lines if ln]


def _is_title(s: str) -> bool:
    """A report title: "…信息公开…报告" (a year is optional: some titles lack it), or a dated
    "…20xx年…年报"; not a sentence. A bare column name (政府信息公开年报) is not a title."""
    s = s.strip()
    if not (6 <= len(s) <= 80) or "信息公开" not in s or s.endswith(("。", "；", ";", "，")):
        return False
    return s.endswith("报告") or bool(_TITLE_LIKE.search(s))


def _find_title(body: _Node, article: _Node, reader: _Reader) -> str | None:
    """The nearest title-like block before the article (not a link); None when there is none
    (then the caller tries the page's own titles)."""
    best = None
    ancestors = set()
    a = article
    while a is not None:
        ancestors.add(id(a))
        a = a.parent
    for n in _walk(body):
        if n is article:
            break
        if n.in_link or n.tag == "a" or id(n) in ancestors:
            continue
        if n.fixed:
            # a data table before the article: walk its cells only if they may hold a title
            if all(ch in n.table.text for ch in "信息公开"):
                reader.open(n)
            continue
        if n.inl < 6:       # a title has at least 6 non-space characters (信息公开 + 报告/年…)
            continue
        own = _inline_text(n, budget=400)
        if "信息公开" not in own:
            continue
        own = _WS.sub(" ", own).strip()
        if _is_title(own):
            best = own
    return best


# ---------------------------------------------------------------------------------- grids
def _span(v: str | None) -> int:
    m = _SPAN_RE.match(v or "")
    if not m:
        return 1
    digits = m.group(1)
    return MAX_SPAN if len(digits) > 6 else max(1, min(int(digits), MAX_SPAN))


_CLEAN_CACHE: dict[str, str] = {}     # cell texts repeat (labels, "0") within and across pages


def _clean(s: str) -> str:
    """Rendered text → lines with spaces collapsed, NFC (a cell's text)."""
    t = _CLEAN_CACHE.get(s)
    if t is not None:
        return t
    t = s.strip()
    if "\n" in t:
        t = "\n".join(_lines(t))
    else:
        t = _WS.sub(" ", t).strip()
    if not t.isascii():
        t = unicodedata.normalize("NFC", t).strip()
    if len(s) <= 200:
        if len(_CLEAN_CACHE) >= 5_000:
            _CLEAN_CACHE.clear()
        _CLEAN_CACHE[s] = t
    return t


def _grid(node: _Node, index: int, spans: dict[int, dict]) -> Grid:
    """A leaf table → its expanded grid: rowspan/colspan copies are merged=True."""
    trs = node.table.rows[:MAX_GRID_ROWS]
    n_rows = len(trs)
    grid: list[list] = [[] for _ in range(n_rows)]     # None: a free position
    count = 0
    width = 0
    for r, tr in enumerate(trs):
        c = 0
        line = grid[r]
        for mid, raw in tr:
            if c >= MAX_GRID_COLS:            # nothing of this cell or the next is kept
                width = MAX_GRID_COLS
                break
            n = len(line)
            while c < n and line[c] is not None:
                c += 1
            text = _CLEAN_CACHE.get(raw)
            if text is None:
                text = _clean(raw)
            attrs = spans.get(mid) if spans else None
            if attrs is None:
                if c < MAX_GRID_COLS:
                    if count >= MAX_GRID_CELLS:
                        raise ReadError("html.too_large", "网页表格过大，无法解析")
                    count += 1
                    if c == n:
                        line.append(GridCell(text))
                    elif c < n:
                        line[c] = GridCell(text)
                    else:
                        line.extend([None] * (c - n))
                        line.append(GridCell(text))
                if c + 1 > width:
                    width = min(c + 1, MAX_GRID_COLS)
                c += 1
                continue
            rs = attrs.get("rowspan")
            rowspan = n_rows - r if (rs or "").strip() == "0" else _span(rs)
            rowspan = min(rowspan, n_rows - r)
            colspan = _span(attrs.get("colspan"))
            for dr in range(rowspan):
                target = grid[r + dr]
                for dc in range(colspan):
                    col = c + dc
                    if col >= MAX_GRID_COLS:
                        continue
                    if count >= MAX_GRID_CELLS:
                        raise ReadError("html.too_large", "网页表格过大，无法解析")
                    k = len(target)
                    if col >= k:
                        target.extend([None] * (col - k + 1))
                    if target[col] is None:
                        target[col] = GridCell(text, merged=(dr, dc) != (0, 0))
                        count += 1
            width = max(width, min(c + colspan, MAX_GRID_COLS))
            c += colspan
    if not width:
        return Grid(rows=[], index=index, page=None, aligned=True)
    for line in grid:
        for i, x in enumerate(line):
            if x is None:
                line[i] = GridCell("")
        if len(line) < width:
            line.extend(GridCell("") for _ in range(width - len(line)))
    return Grid(rows=grid, index=index, page=None, aligned=True)
