"""Text copies of reports → Document.

Two layouts occur (see the seeds):
- one cell per line: every table line is tab-indented, a blank line ends a table row, an empty
  cell is a line holding only the tab (and maybe a space). Empty cells are real: `aligned=True`.
- tab-separated rows copied out of a PDF: one table row per line, cells split by tabs. Empty
  fields are layout noise as often as real blanks, so `aligned=False`.
A run of table rows (either layout) between running-text lines is one grid.
"""
from __future__ import annotations

import codecs
import re

from charset_normalizer import from_bytes

from tasks.readers.grid import Document, Grid, GridCell, ReadError, TextLine

_CANDIDATE_ENCODINGS = ("utf-8", "gb18030")


def decode(data: bytes) -> tuple[str, str]:
    """Bytes → (text, encoding). UTF-8 (with or without BOM) and GB18030/GBK are tried strictly
    first; anything else goes to charset-normalizer. Raises ReadError when nothing decodes
    to plausible Chinese text."""
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as e:
            raise ReadError("encoding", f"文件声明为UTF-8（带BOM）但内容无法解码：{e}") from e
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
    for enc in _CANDIDATE_ENCODINGS:
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        if enc == "gb18030" and _cjk_ratio(text) < 0.2:
            break   # decodes, but as gibberish: let the detector decide
        return text, enc
    best = from_bytes(data).best()
    if best is None:
        raise ReadError("encoding", "无法识别文件的字符编码")
    return str(best), best.encoding


_NON_ASCII_LETTER = re.compile(r"[^\x00-\x7f\s]")   # \s: the characters str.isspace() accepts
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _cjk_ratio(text: str) -> float:
    letters = _NON_ASCII_LETTER.subn("", text)[1]
    if not letters:
        return 0.0
    return _CJK.subn("", text)[1] / letters


def read_text(path: str, data: bytes, sha256: str) -> Document:
    text, encoding = decode(data)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    doc = Document(path=path, sha256=sha256, format="txt", meta={"encoding": encoding})
    grids: list[Grid] = []
    rows: list[list[GridCell]] = []     # rows of the grid being built
    cur: list[GridCell] = []            # the one-cell-per-line row being built
    aligned = True
    # Every row of `rows` is one cell per line (no tab-separated row among them). A row built
    # line by line always has one line per cell and a tab-separated row always has two or more
    # cells on one line, so this flag is `_is_cell_per_line_grid(rows)`, kept as rows are added.
    per_line = True
    text_lines = doc.text

    def end_grid() -> None:
        nonlocal rows, aligned, cur, per_line
        if cur:
            rows.append(cur)
            cur = []
        if rows:
            grids.append(Grid(rows=rows, index=len(grids), aligned=aligned))
        rows = []
        aligned = True
        per_line = True

    n = 0
    for line in lines:
        n += 1
        if line.startswith("\t"):
            if "\t" not in line[1:]:
                # one cell per line
                if rows and not cur and not per_line:
                    end_grid()
                cur.append(GridCell(line[1:].strip(), None, n))
                continue
        elif "\t" not in line:
            stripped = line.strip()
            if not stripped:
                if cur:     # a blank line ends a one-cell-per-line row, not the grid
                    rows.append(cur)
                    cur = []
                continue
            if _is_separator(stripped):
                continue
            if cur or rows:
                end_grid()
            text_lines.append(TextLine(stripped, None, n))
            continue
        # a tab-separated row (possibly beginning with an empty cell)
        if cur:
            rows.append(cur)
            cur = []
        if rows and aligned and per_line:
            end_grid()
        aligned = False
        per_line = False
        rows.append([GridCell(f.strip(), None, n) for f in line.split("\t")])
    end_grid()
    doc.grids = grids
    # Running text also keeps the table lines' text, so metadata can see everything.
    return doc


def _is_cell_per_line_grid(rows: list[list[GridCell]]) -> bool:
    return all(len({c.line for c in r}) == len(r) for r in rows)


_SEPARATOR_CHARS = frozenset("-—_=*·. ")


def _is_separator(s: str) -> bool:
    return _SEPARATOR_CHARS.issuperset(s)
