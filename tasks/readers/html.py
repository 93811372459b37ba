"""HTML pages (government CMS sites) → Document.

A CMS page wraps the report (title + body with the three tables) in navigation, banners, share
buttons, "related links" and a footer. This reader:

1. decodes the bytes (BOM, then strict UTF-8, then the declared charset, then GB18030, then
   charset-normalizer): GB2312/GBK/UTF-8 pages with or without a charset declaration;
2. parses with an HTML5 parser (selectolax/Lexbor): no DTD, no custom entity expansion, so an
   "entity bomb" is just text; input size, table size and spans are capped;
3. drops what a reader never sees (script, style, templates, hidden elements);
4. finds the article: the deepest element holding nearly all the page's *content weight*
   (paragraph text of some length, not link text, plus the text of data tables), so menus and
   footers, made of short lines and links, fall outside it;
5. puts the article's title first in `Document.text` (the nearest title-like heading before the
   article, else the page's ArticleTitle/og:title/<title>), then the article's text lines;
6. expands every data table (a table without nested tables) into a grid: rowspan/colspan copies
   are `merged=True`, `&nbsp;`/empty cells are "", text in nested <p><span> is joined.

Provenance: `Grid.index` is the table's number (0-based, document order among grids), the layout
records row/column as the expanded grid position. HTML has no pages.
"""
from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass, field

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
@dataclass(eq=False)
class _Node:
    tag: str
    attrs: dict
    parent: "_Node | None" = None
    children: list = field(default_factory=list)    # _Node | str
    weight: float = 0.0
    has_table: bool = False     # a <table> somewhere below (for leaf-table detection)
    data_table: bool = False    # a leaf table carrying the report's labels
    in_link: bool = False

    def text(self) -> str:
        """Rendered text: block boundaries and <br> become newlines, runs of spaces collapse."""
        out: list[str] = []
        _render(self, out)
        lines = (_WS.sub(" ", ln).strip() for ln in "".join(out).split("\n"))
        return "\n".join(ln for ln in lines if ln)


def _render(node: _Node, out: list[str]) -> None:
    stack: list = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, str):
            out.append(n)
            continue
        if n.tag == "br":
            out.append("\n")
            continue
        block = n.tag in _BLOCK_TAGS
        if block:
            out.append("\n")
            stack.append("\n")
        if n.tag in ("td", "th"):
            stack.append(" ")
        stack.extend(reversed(n.children))


def _build_tree(root) -> _Node:
    """selectolax tree → a light Python tree without skipped/hidden elements (iterative)."""
    top = _Node("body", {})
    count = 0
    stack = [(root, top)]
    while stack:
        src, parent = stack.pop()
        for child in _children(src):
            count += 1
            if count > MAX_NODES:
                raise ReadError("html.too_large", "网页结构过于庞大（节点过多），无法解析")
            tag = child.tag
            if tag == "-text":
                t = child.text_content or ""
                if t:
                    parent.children.append(t)
                continue
            if not tag or tag.startswith("-") or tag.startswith("_") or tag in _SKIP_TAGS:
                continue
            attrs = child.attributes or {}
            if "hidden" in attrs or _HIDDEN_STYLE.search(attrs.get("style") or ""):
                continue
            node = _Node(tag, {k: (v or "") for k, v in attrs.items()
                               if k in ("rowspan", "colspan", "class", "id", "name", "content")},
                         parent=parent, in_link=parent.in_link or tag == "a")
            parent.children.append(node)
            stack.append((child, node))
    return top


def _children(node):
    c = node.child
    while c is not None:
        yield c
        c = c.next


def _walk(node: _Node):
    """Pre-order over element nodes (iterative)."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(c for c in reversed(n.children) if isinstance(c, _Node))


def _postorder(node: _Node) -> list[_Node]:
    out = list(_walk(node))
    out.reverse()
    return out


# ------------------------------------------------------------------------------- reading
def read_html(path: str, data: bytes, sha256: str) -> Document:
    if len(data) > MAX_HTML_BYTES:
        raise ReadError("html.too_large", f"网页文件过大（{len(data) // 1024 // 1024} MB），不像年度报告页面")
    text, encoding = decode_html(data)
    if _block_depth(text) > MAX_BLOCK_DEPTH:
        raise ReadError("html.too_deep", "网页元素嵌套过深，不像正常网页，拒绝解析")
    from selectolax.lexbor import LexborHTMLParser

    try:
        parsed = LexborHTMLParser(text)
    except Exception as e:   # noqa: BLE001
        raise ReadError("html.malformed", f"网页无法解析：{e}") from e
    page_titles = _page_titles(parsed)
    body_src = parsed.body or parsed.root
    if body_src is None:
        raise ReadError("html.malformed", "网页没有可读的正文")
    body = _build_tree(body_src)
    _weigh(body)
    article = _find_article(body)

    doc = Document(path=path, sha256=sha256, format="html", meta={"encoding": encoding})
    # grids: the data tables of the article, plus report tables elsewhere on the page
    in_article = {id(n) for n in _walk(article)}
    tables = [n for n in _walk(body) if n.tag == "table" and not n.has_table
              and (n.data_table or id(n) in in_article)]
    for t in tables:
        g = _grid(t, len(doc.grids))
        if g.rows:
            doc.grids.append(g)

    lines = _text_lines(article)
    title = _find_title(body, article, page_titles)
    if title and not any(_is_title(ln) for ln in lines[:3]):
        lines.insert(0, title)
    doc.text = [TextLine(text=ln) for ln in lines]
    doc.meta["article"] = article.tag + ("." + article.attrs["class"].split()[0]
                                         if article.attrs.get("class") else "")
    return doc


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


def _chars(s: str) -> int:
    return sum(1 for ch in s if not ch.isspace())


def _weigh(root: _Node) -> None:
    """Content weight per element. A block element weighs its own inline text when that is a
    real text block (at least _MIN_BLOCK_CHARS characters, not link text); every element adds
    its children's weights; a leaf data table weighs its whole text instead."""
    for n in _postorder(root):
        n.has_table = any(isinstance(c, _Node) and (c.tag == "table" or c.has_table)
                          for c in n.children)
        w = sum(c.weight for c in n.children if isinstance(c, _Node))
        if n.tag in _BLOCK_TAGS and not n.in_link:
            block_len = _chars(_inline_text(n))
            if block_len >= _MIN_BLOCK_CHARS:
                w += block_len
        if n.tag == "table" and not n.has_table:
            txt = n.text()
            n.data_table = _is_data_table(n, txt)
            if n.data_table:
                w = float(_chars(txt))
        n.weight = w


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
        if isinstance(c, str):
            out.append(c)
        elif c.tag not in _BLOCK_TAGS and c.tag != "br" and c.tag != "a":
            stack.extend(reversed(c.children))
    return "".join(out)


def _is_data_table(n: _Node, txt: str | None = None) -> bool:
    txt = txt if txt is not None else n.text()
    return sum(1 for m in _TABLE_MARKERS if m in txt) >= 2


def _find_article(body: _Node) -> _Node:
    total = body.weight
    if total <= 0:
        return body
    cur = body
    while True:
        nxt = None
        for c in cur.children:
            if isinstance(c, _Node) and c.weight >= _ARTICLE_SHARE * total:
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
        if isinstance(n, str):
            out.append(n)
            continue
        if n.tag == "br":
            out.append("\n")
            continue
        if n.tag == "table" and n.data_table:
            out.append("\n")
            continue
        if n.tag in _BLOCK_TAGS:
            out.append("\n")
            stack.append("\n")
        if n.tag in ("td", "th"):
            stack.append(" ")
        stack.extend(reversed(n.children))
    lines = (_WS.sub(" ", ln).strip() for ln in "".join(out).split("\n"))
    return [ln for ln in lines if ln]


def _is_title(s: str) -> bool:
    """A report title: "…信息公开…报告" (a year is optional: some titles lack it), or a dated
    "…20xx年…年报"; not a sentence. A bare column name (政府信息公开年报) is not a title."""
    s = s.strip()
    if not (6 <= len(s) <= 80) or "信息公开" not in s or s.endswith(("。", "；", ";", "，")):
        return False
    return s.endswith("报告") or bool(_TITLE_LIKE.search(s))


def _find_title(body: _Node, article: _Node, page_titles: list[str]) -> str | None:
    """The nearest title-like block before the article (not a link), else the page's title."""
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
        own = _WS.sub(" ", _inline_text(n, budget=400)).strip()
        if _is_title(own):
            best = own
    if best:
        return best
    for t in page_titles:
        if _is_title(t):
            return t
    return None


# ---------------------------------------------------------------------------------- tables
def _span(v: str | None) -> int:
    m = re.match(r"\s*([0-9]+)", v or "")
    if not m:
        return 1
    return max(1, min(int(m.group(1)), MAX_SPAN))


def _rows(table: _Node) -> list[_Node]:
    rows: list[_Node] = []
    for c in table.children:
        if not isinstance(c, _Node):
            continue
        if c.tag == "tr":
            rows.append(c)
        elif c.tag in ("thead", "tbody", "tfoot"):
            rows.extend(r for r in c.children if isinstance(r, _Node) and r.tag == "tr")
    return rows


def _grid(table: _Node, index: int) -> Grid:
    trs = _rows(table)[:MAX_GRID_ROWS]
    n_rows = len(trs)
    cells: dict[tuple[int, int], GridCell] = {}
    width = 0
    for r, tr in enumerate(trs):
        c = 0
        for td in tr.children:
            if not isinstance(td, _Node) or td.tag not in ("td", "th"):
                continue
            while (r, c) in cells:
                c += 1
            rs = td.attrs.get("rowspan")
            rowspan = n_rows - r if (rs or "").strip() == "0" else _span(rs)
            rowspan = min(rowspan, n_rows - r)
            colspan = _span(td.attrs.get("colspan"))
            text = _cell_text(td)
            for dr in range(rowspan):
                for dc in range(colspan):
                    if c + dc >= MAX_GRID_COLS:
                        continue
                    if len(cells) >= MAX_GRID_CELLS:
                        raise ReadError("html.too_large", "网页表格过大，无法解析")
                    cells.setdefault((r + dr, c + dc),
                                     GridCell(text=text, merged=(dr, dc) != (0, 0)))
            width = max(width, min(c + colspan, MAX_GRID_COLS))
            c += colspan
    rows = []
    for r in range(n_rows):
        row = [cells.get((r, c)) or GridCell(text="") for c in range(width)]
        if any(x.text for x in row) or row:
            rows.append(row)
    return Grid(rows=rows, index=index, page=None, aligned=True)


def _cell_text(td: _Node) -> str:
    t = td.text()
    t = unicodedata.normalize("NFC", t)
    return t.strip()
