"""Text copies of a report, in the two layouts of the seeds.

Layout A (seeds 000, 001, 003; a web page's table copied as text): one cell per line, every
table line tab-indented, a blank line after each table row, a cell covered by a rowspan from
above printed as a tab-only line, an empty cell as a tab-only line (or tab + space).

Layout B (seeds 002, 004; a PDF's table copied as text): one table row per line, fields split
by tabs, with leading/trailing empty fields as layout noise, spaced header labels (结果 维持),
and — planted — rows printed with fewer numbers than columns (lost cells) and a row label cut
across a line. In layout B an empty field cannot be told from noise, so no blank cells.

`TextRenderer` is the renderer protocol later formats follow: choose the printing options,
say which defects and drifts the format can show, render a `Document` to bytes.
"""
from __future__ import annotations

import random
from typing import Any

from tasks.synth.document import Block, Document, Table, TCell
from tasks.synth.truth import ReportTruth

ENCODINGS = (("utf-8", 0.6), ("utf-8-sig", 0.15), ("gb18030", 0.15), ("gbk", 0.1))


class TextRenderer:
    format = "txt"
    ext = ".txt"
    layouts = ("A", "B")

    def choose_printing(self, rng: random.Random) -> dict[str, Any]:
        layout = "A" if rng.random() < 0.6 else "B"
        enc = rng.choices([e for e, _ in ENCODINGS], weights=[w for _, w in ENCODINGS])[0]
        p: dict[str, Any] = {
            "layout": layout,
            "encoding": enc,
            "newline": "\r\n" if enc in ("gb18030", "gbk") and rng.random() < 0.5 else "\n",
            "text_seed": rng.randrange(2**31),
            "noise_seed": rng.randrange(2**31),
            "fee_zero": rng.choice(("0", "0", "0", "0.00")),
        }
        if layout == "A":
            p.update(title_form=rng.choice((0, 0, 1, 2)), spaced_years=False,
                     blank_token=rng.choice(("\t", "\t", "\t ")),
                     para_gap=rng.random() < 0.6, gap_after_heading=rng.random() < 0.6)
        else:
            p.update(title_form=rng.choice((2, 2, 3)), spaced_years=rng.random() < 0.4,
                     pad_colspan=rng.random() < 0.8, pad_label=rng.choice((0, 0, 1)),
                     wide_rowspan=rng.random() < 0.3, trailing_tab=rng.random() < 0.5,
                     page_break=rng.random() < 0.3, separator=rng.random() < 0.1)
        return p

    def can_plant(self, kind: str, printing: dict[str, Any]) -> bool:
        if kind in ("cells.blank", "cells.total_only"):
            return printing["layout"] == "A"      # an empty field in B is not visibly a blank
        if kind == "cells.lost":
            return printing["layout"] == "B"
        return True

    def can_drift(self, drift: str, printing: dict[str, Any]) -> bool:
        return drift != "label.row_cut" or printing["layout"] == "B"

    def render(self, t: ReportTruth, doc: Document) -> bytes:
        text = render_a(t, doc) if t.printing["layout"] == "A" else render_b(t, doc)
        if t.printing["newline"] != "\n":
            text = text.replace("\n", t.printing["newline"])
        if not encodable(text, t.printing["encoding"]):
            t.printing["encoding"] = "gb18030"        # GBK cannot hold every character
        t.encoding = t.printing["encoding"]
        return text.encode(t.printing["encoding"])


class DerivedRenderer:
    """A renderer that prints another renderer's output in a different form (DOCX → PDF → scan,
    DOCX → DOC): the printing choices, plantable defects and label drifts are the base's.
    Subclasses provide `base` (the underlying renderer) and `render`."""
    base: Any

    def choose_printing(self, rng: random.Random) -> dict[str, Any]:
        return self.base.choose_printing(rng)

    def can_plant(self, kind: str, printing: dict[str, Any]) -> bool:
        return self.base.can_plant(kind, printing)

    def can_drift(self, drift: str, printing: dict[str, Any]) -> bool:
        return self.base.can_drift(drift, printing)


def encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
        return True
    except UnicodeEncodeError:
        return False


# --- layout A --------------------------------------------------------------------------------
def _table_a(t: ReportTruth, table: Table) -> list[str]:
    blank = t.printing["blank_token"]
    lines: list[str] = []
    for row in table.expand():
        for kind, c, _col in row:
            if kind == "rowspan":
                lines.append("\t")
            elif kind == "cell":
                if c.role == "value" and c.text == "":
                    lines.append(blank)
                else:
                    lines.append("\t" + c.text)
        lines.append("")
    lines.append("")
    return lines


def render_a(t: ReportTruth, doc: Document) -> str:
    p = t.printing
    lines: list[str] = []
    for b in doc.blocks:
        if b.kind == "title":
            lines.extend(b.lines)
            lines.append("")
        elif b.kind == "table":
            assert b.table is not None
            lines.extend(_table_a(t, b.table))
        elif b.kind == "heading":
            if lines and lines[-1] != "" and p["para_gap"]:
                lines.append("")
            lines.append(b.text)
            if p["gap_after_heading"]:
                lines.append("")
        else:
            lines.append(b.text)
            if p["para_gap"]:
                lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


# --- layout B --------------------------------------------------------------------------------
def _fields_b(t: ReportTruth, row: list[tuple[str, TCell, int]], rng: random.Random,
              cut: dict[str, Any] | None) -> tuple[list[str], list[str] | None]:
    """Fields of one printed row, and the continuation line's fields of a cut label."""
    p = t.printing
    fields: list[str] = []
    cont: list[str] | None = None
    lost = set(p.get("lost", ()))
    data_row = any(c.role == "value" for _, c, _ in row)
    for kind, c, _col in row:
        if kind == "rowspan":
            fields.append("")
        elif kind == "colspan":
            if c.role == "value":
                fields.append("")                     # 行政许可\t0\t\t
            elif c.role in ("caption", "header"):
                if p["pad_colspan"] or (c.rowspan > 1 and p["wide_rowspan"]):
                    fields.append("")
            elif data_row:
                pass                                  # label pads are added once below
        elif c.role == "value":
            if c.key is not None and c.key in lost:
                if rng.random() < 0.5:
                    fields.append("")                 # lost: an empty field or nothing
                continue
            fields.append(c.text)
        else:
            text = c.text
            if cut is not None and c.row_key == cut["row"]:
                at = max(2, int(len(text) * cut["frac"]))
                text, rest = text[:at], text[at:]
                cont = [""] * len(fields) + [rest]
            fields.append(text)
            if data_row and c.colspan > 1:
                fields.extend([""] * p["pad_label"])
                if rng.random() < 0.05:
                    fields.append("")
    return fields, cont


def _table_b(t: ReportTruth, table: Table, rng: random.Random) -> list[str]:
    p = t.printing
    cut = t.printing.get("row_cut")
    cut = cut if cut and cut.get("table") == table.table else None
    rows = table.expand()
    brk = rng.randrange(3, len(rows)) if p["page_break"] and len(rows) > 4 else None
    lines: list[str] = []
    for i, row in enumerate(rows):
        if i == brk:
            lines.append("")
        fields, cont = _fields_b(t, row, rng, cut)
        line = "\t".join(fields)
        if p["trailing_tab"] and any(c.role == "value" for _, c, _ in row):
            line += "\t"
        if "\t" not in line[1:]:
            line += "\t"                              # a table row always has a separator
        lines.append(line)
        if cont is not None:
            lines.append("")
            lines.append("\t".join(cont) + "\t" * rng.randint(2, 8))
    return lines


def render_b(t: ReportTruth, doc: Document) -> str:
    p = t.printing
    rng = random.Random(p["noise_seed"])
    lines: list[str] = []
    for b in doc.blocks:
        if b.kind == "title":
            lines.extend(["", ""] + [x for x in b.lines])
            lines.append("")
        elif b.kind == "table":
            assert b.table is not None
            lines.extend(_table_b(t, b.table, rng))
            if b.table.table == "proactive" and p["separator"]:
                lines.append("---------\t---")
            lines.append("")
        elif b.kind == "heading":
            lines.append(b.text)
            lines.append("")
        else:
            lines.append(b.text)
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def block_kinds(doc: Document) -> list[str]:
    return [b.kind for b in doc.blocks]


__all__ = ["TextRenderer", "render_a", "render_b", "encodable", "Block"]
