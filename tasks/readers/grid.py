"""The one intermediate form every reader produces: table grids plus the running text.

Nothing format-specific survives past this point: the label matcher (`tasks.layout`) only
sees :class:`Document`.
"""
from __future__ import annotations

from dataclasses import dataclass, field


class ReadError(Exception):
    """A document that cannot be read. `code` is stable (stored in the warehouse), the message
    is Chinese-friendly plain text for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class GridCell:
    text: str
    page: int | None = None
    line: int | None = None
    bbox: tuple[float, float, float, float] | None = None
    merged: bool = False          # a copy of a spanning (rowspan/colspan/vMerge) cell's text
    confidence: float | None = None   # OCR confidence in [0, 1], None for born-digital text


@dataclass(slots=True)
class Grid:
    rows: list[list[GridCell]]
    index: int = 0                # 0-based table number in the document
    page: int | None = None       # first page the table is on
    # True when an empty cell really is an empty cell at that column (HTML, DOCX, ruled PDF
    # tables, one-cell-per-line text). False when empty cells and column positions cannot be
    # trusted (tab-separated text copied out of a PDF): then only the numbers' order counts.
    aligned: bool = True


@dataclass(slots=True)
class TextLine:
    text: str
    page: int | None = None
    line: int | None = None


@dataclass
class Document:
    path: str
    sha256: str
    format: str                   # txt | html | pdf | scan | docx | doc | wps
    text: list[TextLine] = field(default_factory=list)   # running text, in reading order
    grids: list[Grid] = field(default_factory=list)
    meta: dict = field(default_factory=dict)             # e.g. {"encoding": "gb18030", "pages": 6}

    def full_text(self) -> str:
        return "\n".join(t.text for t in self.text)
