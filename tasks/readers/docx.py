"""Word 2007+ documents (.docx) → Document, read from the package's XML with lxml.

Safety first: the file must be a zip whose directory declares sane uncompressed sizes (a zip
bomb is refused before anything is inflated, and reads are capped anyway since a directory can
lie); the XML is parsed without DTDs, entity expansion or network access, and a document that
declares a DTD at all is refused (OOXML never has one).

Layout: body paragraphs (in order, content controls and text boxes included) become the running
text; every table becomes a grid with its merged cells expanded: `w:gridSpan` copies the cell
to the right, `w:vMerge` (restart/continue) copies the cell above downwards, legacy `w:hMerge`
likewise; `w:gridBefore`/`w:gridAfter` leave empty cells. Copies are `merged=True`, empty cells
are "". Tables nested in a cell become grids of their own, after their outer table.
"""
from __future__ import annotations

import io
import re
import zipfile

from lxml import etree

from tasks.readers.grid import Document, Grid, GridCell, ReadError, TextLine

MAX_ENTRY_BYTES = 64 * 1024 * 1024        # word/document.xml, uncompressed
MAX_TOTAL_BYTES = 256 * 1024 * 1024       # all entries, uncompressed, as declared
MAX_RATIO = 200                           # uncompressed / compressed, for entries over 1 MB
MAX_ENTRIES = 5000
MAX_SPAN = 64                             # Word tables have at most 63 columns
MAX_GRID_ROWS = 2000
MAX_GRID_CELLS = 100_000

W_NAMESPACES = ("http://schemas.openxmlformats.org/wordprocessingml/2006/main",
                "http://purl.oclc.org/ooxml/wordprocessingml/main")
MC_NS = "http://schemas.openxmlformats.org/markup-compatibility/2006"
_WS = re.compile(r"[ \t\r\f\u00a0\u3000\u200b\ufeff]+")


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           dtd_validation=False, huge_tree=False, remove_comments=True,
                           remove_pis=True)


def open_package(data: bytes) -> zipfile.ZipFile:
    """The zip, after checking its directory for a bomb. Raises ReadError."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise ReadError("docx.not_zip", f"DOCX文件不是有效的压缩包（可能已损坏或并非Word文档）：{e}") from e
    infos = z.infolist()
    if len(infos) > MAX_ENTRIES:
        raise ReadError("docx.zip_bomb", f"DOCX压缩包内文件数量异常（{len(infos)}个），拒绝解压")
    total = 0
    for i in infos:
        total += i.file_size
        ratio = i.file_size / max(i.compress_size, 1)
        if i.file_size > 1024 * 1024 and ratio > MAX_RATIO:
            raise ReadError("docx.zip_bomb",
                            f"DOCX压缩包中“{i.filename}”的压缩比异常（{ratio:.0f}倍），疑似压缩炸弹，拒绝解压")
    if total > MAX_TOTAL_BYTES:
        raise ReadError("docx.zip_bomb",
                        f"DOCX解压后总大小异常（{total // 1024 // 1024} MB），疑似压缩炸弹，拒绝解压")
    return z


def read_member(z: zipfile.ZipFile, name: str, limit: int = MAX_ENTRY_BYTES) -> bytes:
    try:
        info = z.getinfo(name)
    except KeyError as e:
        raise ReadError("docx.malformed", f"DOCX缺少{name}，不是有效的Word文档") from e
    if info.file_size > limit:
        raise ReadError("docx.zip_bomb", f"DOCX中{name}解压后过大（{info.file_size // 1024 // 1024} MB）")
    try:
        with z.open(info) as f:
            out = f.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as e:
        raise ReadError("docx.malformed", f"DOCX中{name}无法解压：{e}") from e
    except Exception as e:   # noqa: BLE001 - zlib.error and friends
        raise ReadError("docx.malformed", f"DOCX中{name}无法解压：{e}") from e
    if len(out) > limit:
        raise ReadError("docx.zip_bomb", f"DOCX中{name}解压后超过上限，疑似压缩炸弹")
    return out


def parse_xml(xml: bytes, name: str = "word/document.xml") -> etree._Element:
    if _declares_dtd(xml):
        raise ReadError("docx.dtd", f"DOCX中{name}含有DTD/实体声明（Word文档不会有），为安全起见拒绝解析")
    try:
        root = etree.fromstring(xml, parser=_parser())
    except etree.XMLSyntaxError as e:
        raise ReadError("docx.malformed", f"DOCX中{name}不是有效的XML：{e}") from e
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise ReadError("docx.dtd", f"DOCX中{name}含有DTD声明，为安全起见拒绝解析")
    return root


def _declares_dtd(xml: bytes) -> bool:
    """A DOCTYPE anywhere before the root element (the prologue may hold comments/PIs)."""
    head = xml[:1024 * 1024]
    for enc in ("utf-8", "utf-16"):
        try:
            probe = head.decode(enc, errors="ignore")
        except LookupError:   # pragma: no cover
            continue
        if re.search(r"<!\s*(?:DOCTYPE|ENTITY)", probe, re.I):
            return True
    return False


# ----------------------------------------------------------------------------------- reading
def read_docx(path: str, data: bytes, sha256: str) -> Document:
    z = open_package(data)
    xml = read_member(z, "word/document.xml")
    root = parse_xml(xml)
    doc = Document(path=path, sha256=sha256, format="docx")
    _DocxWalker(root, doc).run()
    return doc


class _Tags:
    """Clark names of the WordprocessingML elements the walker looks at, for one namespace."""

    def __init__(self, ns: str):
        def w(local: str) -> str:
            return f"{{{ns}}}{local}"
        self.w = w
        for local in ("body", "p", "tbl", "tr", "tc", "t", "tab", "br", "cr", "noBreakHyphen",
                      "r", "rPr", "vanish", "txbxContent", "del", "instrText", "delText",
                      "moveFrom", "sdt", "sdtContent", "customXml", "smartTag", "trPr", "tcPr",
                      "gridBefore", "gridAfter", "gridSpan", "vMerge", "hMerge", "val"):
            setattr(self, local, w(local))
        self.fallback = f"{{{MC_NS}}}Fallback"
        self.block = frozenset((self.p, self.tbl))
        # containers looked through for block-level content
        self.container = frozenset((self.sdt, self.customXml, self.sdtContent, self.smartTag,
                                    f"{{{MC_NS}}}AlternateContent", f"{{{MC_NS}}}Choice"))
        self.row_container = frozenset((self.sdt, self.customXml))
        self.skip = frozenset((self.fallback, self.del_, self.instrText, self.delText,
                               self.moveFrom))
        # what the shown text of a paragraph is made of (in document order) …
        self.text_parts = (self.t, self.tab, self.br, self.cr, self.noBreakHyphen)
        # … when none of these is in it (hidden runs, deletions, moves, fallbacks, text boxes)
        self.special = (self.fallback, self.del_, self.moveFrom, self.vanish, self.txbxContent)

    @property
    def del_(self) -> str:
        return self.w("del")


_TAGS: dict[str, _Tags] = {}


def _tags(ns: str) -> _Tags:
    t = _TAGS.get(ns)
    if t is None:
        t = _TAGS[ns] = _Tags(ns)
    return t


class _DocxWalker:
    def __init__(self, root: etree._Element, doc: Document):
        ns = etree.QName(root).namespace
        if ns not in W_NAMESPACES:
            raise ReadError("docx.malformed", "DOCX的document.xml不是WordprocessingML文档")
        self.ns = ns
        self.tags = _tags(ns)
        self.root = root
        self.doc = doc
        self.cells_total = 0
        # most documents have no hidden text, deletions, fallbacks or text boxes anywhere: then
        # every paragraph's text is simply its w:t/w:tab/w:br… in document order
        self.simple = next(root.iter(*self.tags.special), None) is None
        self.part_text = {self.tags.t: None, self.tags.tab: " ", self.tags.br: "\n",
                          self.tags.cr: "\n", self.tags.noBreakHyphen: "-"}

    def w(self, local: str) -> str:
        return f"{{{self.ns}}}{local}"

    def run(self) -> None:
        tg = self.tags
        body = self.root.find(tg.body)
        if body is None:
            raise ReadError("docx.malformed", "DOCX的document.xml没有正文（w:body）")
        text = self.doc.text
        for el in self._blocks(body):
            if el.tag == tg.p:
                for ln in self._para_lines(el):
                    text.append(TextLine(text=ln))
            else:
                self._table(el)

    def _blocks(self, parent: etree._Element):
        """Block-level children (w:p, w:tbl), looking through content controls/custom XML."""
        tg = self.tags
        block, container, sdt = tg.block, tg.container, tg.sdt
        stack = list(parent)
        stack.reverse()
        while stack:
            el = stack.pop()
            tag = el.tag
            if tag in block:
                yield el
            elif tag in container:
                inner = el.find(tg.sdtContent) if tag == sdt else el
                if inner is not None:
                    stack.extend(reversed(list(inner)))

    # ---------------------------------------------------------------------- paragraph text
    def _para_text(self, p: etree._Element) -> str:
        tg = self.tags
        if self.simple or next(p.iter(*tg.special), None) is None:
            part = self.part_text
            return "".join([(el.text or "") if (s := part[el.tag]) is None else s
                            for el in p.iter(*tg.text_parts)])
        return self._para_text_full(p)

    def _para_text_full(self, p: etree._Element) -> str:
        tg = self.tags
        out: list[str] = []
        stack = [p]
        boxes: list[etree._Element] = []
        while stack:
            el = stack.pop()
            tag = el.tag
            if not isinstance(tag, str):
                continue
            if tag in tg.skip:
                continue          # not shown: fallbacks, deletions, field codes, moved away
            if tag == tg.r and self._hidden(el):
                continue
            if tag == tg.txbxContent:
                boxes.append(el)
                continue
            if tag == tg.t:
                out.append(el.text or "")
            elif tag == tg.tab:
                out.append(" ")
            elif tag == tg.br or tag == tg.cr:
                out.append("\n")
            elif tag == tg.noBreakHyphen:
                out.append("-")
            stack.extend(reversed(list(el)))
        text = "".join(out)
        for box in boxes:
            for bp in box.iter(tg.p):
                t = self._para_text(bp)
                if t.strip():
                    text += "\n" + t
        return text

    def _hidden(self, run: etree._Element) -> bool:
        """A run formatted as hidden text (w:vanish) is not shown."""
        rpr = run.find(self.tags.rPr)
        if rpr is None:
            return False
        v = rpr.find(self.tags.vanish)
        return v is not None and self._val(v, "true") not in ("false", "0", "off")

    def _para_lines(self, p: etree._Element) -> list[str]:
        text = self._para_text(p)
        if "\n" not in text:
            ln = _WS.sub(" ", text).strip()
            return [ln] if ln else []
        lines = (_WS.sub(" ", ln).strip() for ln in text.split("\n"))
        return [ln for ln in lines if ln]

    # --------------------------------------------------------------------------- tables
    def _children(self, parent: etree._Element, want: str):
        tg = self.tags
        rc, sdt = tg.row_container, tg.sdt
        stack = list(parent)
        stack.reverse()
        while stack:
            el = stack.pop()
            tag = el.tag
            if tag == want:
                yield el
            elif tag in rc:
                inner = el.find(tg.sdtContent) if tag == sdt else el
                if inner is not None:
                    stack.extend(reversed(list(inner)))

    def _val(self, el: etree._Element | None, default: str | None = None) -> str | None:
        if el is None:
            return default
        return el.get(self.tags.val, default)

    def _int_val(self, el: etree._Element | None, default: int) -> int:
        v = self._val(el)
        try:
            return max(0, min(int(v), MAX_SPAN)) if v is not None else default
        except ValueError:
            return default

    def _table(self, tbl: etree._Element) -> None:
        tg = self.tags
        index = len(self.doc.grids)
        grid = Grid(rows=[], index=index, page=None, aligned=True)
        self.doc.grids.append(grid)
        nested: list[etree._Element] = []
        rows: list[list[GridCell]] = []
        tcpr_tag, gs_tag, vm_tag, hm_tag = tg.tcPr, tg.gridSpan, tg.vMerge, tg.hMerge
        for tr in self._children(tbl, tg.tr):
            if len(rows) >= MAX_GRID_ROWS:
                raise ReadError("docx.too_large", "DOCX表格行数过多，无法解析")
            trpr = tr.find(tg.trPr)
            if trpr is not None:
                before = self._int_val(trpr.find(tg.gridBefore), 0)
                after = self._int_val(trpr.find(tg.gridAfter), 0)
            else:
                before = after = 0
            prev = rows[-1] if rows else []
            row: list[GridCell] = [GridCell(text="") for _ in range(before)]
            for tc in self._children(tr, tg.tc):
                kids = list(tc)
                tcpr = None
                for el in kids:     # the first w:tcPr (as tc.find would, without ElementPath)
                    if el.tag == tcpr_tag:
                        tcpr = el
                        break
                span = 1
                vmerge = hmerge = None
                if tcpr is not None:
                    gs = vm = hm = None
                    for el in tcpr:
                        tag = el.tag
                        if tag == gs_tag:
                            if gs is None:
                                gs = el
                        elif tag == vm_tag:
                            if vm is None:
                                vm = el
                        elif tag == hm_tag:
                            if hm is None:
                                hm = el
                    span = max(1, self._int_val(gs, 1))
                    if vm is not None:
                        vmerge = self._val(vm, "continue")
                    if hm is not None:
                        hmerge = self._val(hm, "continue")
                text = self._cell_text(tc, nested, kids)
                for dc in range(span):
                    col = len(row)
                    if vmerge == "continue" and col < len(prev):
                        row.append(GridCell(text=prev[col].text, merged=True))
                    elif hmerge == "continue" and row:
                        row.append(GridCell(text=row[-1].text, merged=True))
                    else:
                        row.append(GridCell(text=text if vmerge != "continue" else "",
                                            merged=dc > 0))
            row.extend(GridCell(text="") for _ in range(after))
            self.cells_total += len(row)
            if self.cells_total > MAX_GRID_CELLS:
                raise ReadError("docx.too_large", "DOCX表格单元格数量过多，无法解析")
            rows.append(row)
        width = max((len(r) for r in rows), default=0)
        for r in rows:
            r.extend(GridCell(text="") for _ in range(width - len(r)))
        grid.rows = rows
        if not rows:
            self.doc.grids.pop()
        for t in nested:
            self._table(t)

    def _cell_text(self, tc: etree._Element, nested: list[etree._Element],
                   kids: list[etree._Element] | None = None) -> str:
        tg = self.tags
        p_tag, tbl_tag, container = tg.p, tg.tbl, tg.container
        if kids is None:
            kids = list(tc)
        lines: list[str] = []
        n0 = len(nested)
        for el in kids:
            tag = el.tag
            if tag == p_tag:
                lines.extend(self._para_lines(el))
            elif tag == tbl_tag:
                nested.append(el)
            elif tag in container:
                # content controls around the cell's paragraphs: start over with the general
                # walk, which looks through them in order
                lines.clear()
                del nested[n0:]
                for b in self._blocks(tc):
                    if b.tag == p_tag:
                        lines.extend(self._para_lines(b))
                    else:
                        nested.append(b)
                break
        return "\n".join(lines)
