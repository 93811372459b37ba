"""Sample reports as Word documents (.docx), and as legacy .doc through LibreOffice.

The tables follow the official template's merged layout (国办公开办函〔2021〕30号; see
shared/real/official-template-blank.docx): merges are real Word merges (`w:gridSpan`,
`w:vMerge`) made with python-docx. Label columns are narrow, so long labels wrap inside their
cells — which matters when the DOCX is printed to PDF (`render_pdf`): labels come out over
several lines and table 三 runs across a page break, as in real reports. Blank cells are empty
or hold a full-width space, as in the template.

`DocxRenderer.build(t, doc)` returns the python-docx Document, `render()` its bytes; other
renderers (PDF, scans) reuse it.
"""
from __future__ import annotations

import io
import random
from typing import Any

from docx import Document as new_document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from docx.table import _Cell

from tasks.synth.document import Document, Table
from tasks.synth.truth import ReportTruth
from tasks.synth.render_text import DerivedRenderer

FONTS = ("宋体", "仿宋_GB2312", "仿宋")
# Column widths (cm) per table: label columns narrow enough that long labels wrap.
WIDTHS = {
    "proactive": (3.2, 3.6, 3.6, 3.6),
    "requests": (1.3, 1.6, 3.4, 1.25, 1.25, 1.25, 1.3, 1.3, 1.1, 1.15),
    "appeals": (1.0,) * 15,
}


class DocxRenderer:
    format = "docx"
    ext = ".docx"

    def choose_printing(self, rng: random.Random) -> dict[str, Any]:
        return {
            "layout": None,
            "font": rng.choice(FONTS),
            "table_font_pt": rng.choice((9, 10, 10.5)),
            "blank": rng.choice(("", "", "\u3000")),
            "title_form": rng.choice((2, 2, 1, 0)),
            "fee_zero": rng.choice(("0", "0", "0", "0.00")),
            "text_seed": rng.randrange(2**31),
            "noise_seed": rng.randrange(2**31),
        }

    def can_plant(self, kind: str, printing: dict[str, Any]) -> bool:
        return kind != "cells.lost"          # a Word table never loses a cell

    def can_drift(self, drift: str, printing: dict[str, Any]) -> bool:
        return drift != "label.row_cut"

    def render(self, t: ReportTruth, doc: Document) -> bytes:
        buf = io.BytesIO()
        self.build(t, doc).save(buf)
        t.encoding = None
        return buf.getvalue()

    def build(self, t: ReportTruth, doc: Document):
        p = t.printing
        d = new_document()
        sec = d.sections[0]
        sec.page_height, sec.page_width = Cm(29.7), Cm(21.0)
        sec.left_margin = sec.right_margin = Cm(2.2)
        sec.top_margin = sec.bottom_margin = Cm(2.5)
        normal = d.styles["Normal"]
        normal.font.name = p["font"]
        normal.font.size = Pt(12)
        normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), p["font"])
        for b in doc.blocks:
            if b.kind == "title":
                for line in b.lines:
                    if not line.strip():
                        continue
                    para = d.add_paragraph()
                    para.alignment = WD_ALIGN_PARAGRAPH.CENTER
                    run = para.add_run(line)
                    run.bold = True
                    run.font.size = Pt(18)
            elif b.kind == "heading":
                para = d.add_paragraph()
                para.paragraph_format.first_line_indent = Pt(24)
                para.add_run(b.text).bold = True
            elif b.kind == "table":
                assert b.table is not None
                _table(d, t, b.table)
                d.add_paragraph()
            else:
                para = d.add_paragraph(b.text)
                para.paragraph_format.first_line_indent = Pt(24)
        return d


def _table(d, t: ReportTruth, table: Table) -> None:
    """The table with real Word merges, written on the XML directly (python-docx's
    `cell()`/`merge()` recompute the whole grid on every call)."""
    p = t.printing
    expanded = table.expand()
    nrows, ncols = len(expanded), table.ncols
    tb = d.add_table(rows=nrows, cols=ncols)
    tb.style = "Table Grid"
    tb.alignment = WD_TABLE_ALIGNMENT.CENTER
    tb.autofit = False
    widths = WIDTHS.get(table.table) or (16.0 / ncols,) * ncols
    tbl = tb._tbl
    for gc, w in zip(tbl.tblGrid.gridCol_lst, widths):
        gc.w = Cm(w)
    for r, (tr, line) in enumerate(zip(tbl.tr_lst, expanded)):
        tcs = list(tr.tc_lst)
        for kind, c, col in line:
            tc = tcs[col]
            if kind == "colspan":
                tr.remove(tc)             # covered by the cell to its left (or above-left)
                continue
            if c.colspan > 1:
                tc.grid_span = c.colspan
            if c.rowspan > 1:
                tc.vMerge = "restart" if kind == "cell" else "continue"
            tc.width = Cm(sum(widths[col:col + c.colspan]))
            if kind != "cell":
                continue                  # a vMerge continuation stays empty
            text = c.text
            if c.role == "value" and text == "":
                text = p["blank"]
            cell = _Cell(tc, tb)
            para = cell.paragraphs[0]
            para.alignment = (WD_ALIGN_PARAGRAPH.LEFT if c.role == "label" and c.rowspan == 1
                              else WD_ALIGN_PARAGRAPH.CENTER)
            run = para.add_run(text)
            run.font.size = Pt(p["table_font_pt"])


class DocRenderer(DerivedRenderer):
    """Legacy Word 97 `.doc`: the DOCX renderer's document saved as .doc by LibreOffice."""
    format = "doc"
    ext = ".doc"

    def __init__(self, docx_renderer: DocxRenderer | None = None):
        self.docx = self.base = docx_renderer or DocxRenderer()

    def render(self, t: ReportTruth, doc: Document) -> bytes:
        from tasks.readers.office import convert

        return convert(self.docx.render(t, doc), ".docx", "doc:MS Word 97")
