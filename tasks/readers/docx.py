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


class _DocxWalker:
    def __init__(self, root: etree._Element, doc: Document):
        ns = etree.QName(root).namespace
        if ns not in W_NAMESPACES:
            raise ReadError("docx.malformed", "DOCX的document.xml不是WordprocessingML文档")
        self.ns = ns
        self.root = root
        self.doc = doc
        self.cells_total = 0

    def w(self, local: str) -> str:
        return f"{{{self.ns}}}{local}"

    def run(self) -> None:
        body = self.root.find(self.w("body"))
        if body is None:
            raise ReadError("docx.malformed", "DOCX的document.xml没有正文（w:body）")
        for el in self._blocks(body):
            if el.tag == self.w("p"):
                for ln in self._para_lines(el):
                    self.doc.text.append(TextLine(text=ln))
            elif el.tag == self.w("tbl"):
                self._table(el)

    def _blocks(self, parent: etree._Element):
        """Block-level children (w:p, w:tbl), looking through content controls/custom XML."""
        stack = list(reversed(list(parent)))
        while stack:
            el = stack.pop()
            if not isinstance(el.tag, str):
                continue
            if el.tag in (self.w("p"), self.w("tbl")):
                yield el
            elif el.tag in (self.w("sdt"), self.w("customXml"), self.w("sdtContent"),
                            self.w("smartTag"), f"{{{MC_NS}}}AlternateContent",
                            f"{{{MC_NS}}}Choice"):
                inner = el.find(self.w("sdtContent")) if el.tag == self.w("sdt") else el
                if inner is not None:
                    stack.extend(reversed(list(inner)))

    # ---------------------------------------------------------------------- paragraph text
    def _para_text(self, p: etree._Element) -> str:
        out: list[str] = []
        stack = [p]
        boxes: list[etree._Element] = []
        while stack:
            el = stack.pop()
            tag = el.tag
            if not isinstance(tag, str):
                continue
            if tag == f"{{{MC_NS}}}Fallback" or tag in (self.w("del"), self.w("instrText"),
                                                          self.w("delText"), self.w("moveFrom")):
                continue          # not shown: fallbacks, deletions, field codes, moved away
            if tag == self.w("r") and self._hidden(el):
                continue
            if tag == self.w("txbxContent"):
                boxes.append(el)
                continue
            if tag == self.w("t"):
                out.append(el.text or "")
            elif tag == self.w("tab"):
                out.append(" ")
            elif tag in (self.w("br"), self.w("cr")):
                out.append("\n")
            elif tag == self.w("noBreakHyphen"):
                out.append("-")
            stack.extend(reversed(list(el)))
        text = "".join(out)
        for box in boxes:
            for bp in box.iter(self.w("p")):
                t = self._para_text(bp)
                if t.strip():
                    text += "\n" + t
        return text

    def _hidden(self, run: etree._Element) -> bool:
        """A run formatted as hidden text (w:vanish) is not shown."""
        rpr = run.find(self.w("rPr"))
        if rpr is None:
            return False
        v = rpr.find(self.w("vanish"))
        return v is not None and self._val(v, "true") not in ("false", "0", "off")

    def _para_lines(self, p: etree._Element) -> list[str]:
        lines = (_WS.sub(" ", ln).strip() for ln in self._para_text(p).split("\n"))
        return [ln for ln in lines if ln]

    # --------------------------------------------------------------------------- tables
    def _children(self, parent: etree._Element, local: str):
        want = self.w(local)
        stack = list(reversed(list(parent)))
        while stack:
            el = stack.pop()
            if el.tag == want:
                yield el
            elif el.tag in (self.w("sdt"), self.w("customXml")):
                inner = el.find(self.w("sdtContent")) if el.tag == self.w("sdt") else el
                if inner is not None:
                    stack.extend(reversed(list(inner)))

    def _val(self, el: etree._Element | None, default: str | None = None) -> str | None:
        if el is None:
            return default
        return el.get(self.w("val"), default)

    def _int_val(self, el: etree._Element | None, default: int) -> int:
        v = self._val(el)
        try:
            return max(0, min(int(v), MAX_SPAN)) if v is not None else default
        except ValueError:
            return default

    def _table(self, tbl: etree._Element) -> None:
        index = len(self.doc.grids)
        grid = Grid(rows=[], index=index, page=None, aligned=True)
        self.doc.grids.append(grid)
        nested: list[etree._Element] = []
        rows: list[list[GridCell]] = []
        for tr in self._children(tbl, "tr"):
            if len(rows) >= MAX_GRID_ROWS:
                raise ReadError("docx.too_large", "DOCX表格行数过多，无法解析")
            trpr = tr.find(self.w("trPr"))
            before = self._int_val(trpr.find(self.w("gridBefore")) if trpr is not None else None, 0)
            after = self._int_val(trpr.find(self.w("gridAfter")) if trpr is not None else None, 0)
            prev = rows[-1] if rows else []
            row: list[GridCell] = [GridCell(text="") for _ in range(before)]
            for tc in self._children(tr, "tc"):
                tcpr = tc.find(self.w("tcPr"))
                span = 1
                vmerge = hmerge = None
                if tcpr is not None:
                    span = max(1, self._int_val(tcpr.find(self.w("gridSpan")), 1))
                    vm = tcpr.find(self.w("vMerge"))
                    if vm is not None:
                        vmerge = self._val(vm, "continue")
                    hm = tcpr.find(self.w("hMerge"))
                    if hm is not None:
                        hmerge = self._val(hm, "continue")
                text = self._cell_text(tc, nested)
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

    def _cell_text(self, tc: etree._Element, nested: list[etree._Element]) -> str:
        lines: list[str] = []
        for el in self._blocks(tc):
            if el.tag == self.w("p"):
                lines.extend(self._para_lines(el))
            elif el.tag == self.w("tbl"):
                nested.append(el)
        return "\n".join(lines)
