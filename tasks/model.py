"""The canonical report: 200 cells with status and provenance, plus metadata and warnings.

Every reader produces a :class:`tasks.readers.grid.Document`; the label matcher turns it into a
:class:`Report`. Validation, load, roll-up and reports all read :func:`cells_frame` (long form).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from tasks import spec

EXTRACTOR_VERSION = "1"


class Status(StrEnum):
    READ = "read"            # printed in the document and parsed with certainty
    INFERRED = "inferred"    # lost in the document, determined uniquely by the identities
    BLANK = "blank"          # empty in the document (or lost and not determinable): not a zero
    UNCERTAIN = "uncertain"  # read, but not with certainty (e.g. low OCR confidence)


@dataclass(slots=True)
class Provenance:
    """Where a cell's value was read: enough for a human to find it in the source."""
    file: str
    page: int | None = None          # 1-based page (PDF) or None
    line: int | None = None          # 1-based line in the text (text copies) or None
    table: int | None = None         # 0-based index of the table grid in the document
    row: int | None = None           # 0-based row in that grid, as printed
    col: int | None = None           # 0-based column in that grid, as printed
    bbox: tuple[float, float, float, float] | None = None   # PDF points (x0, top, x1, bottom)
    text: str | None = None          # the raw text as printed
    row_label: str | None = None     # the row's label as printed in this document
    col_label: str | None = None     # the column's label as printed (or the spec's)

    def describe(self) -> str:
        parts = []
        if self.page is not None:
            parts.append(f"第{self.page}页")
        if self.line is not None:
            parts.append(f"第{self.line}行")
        if self.table is not None:
            parts.append(f"表格{self.table + 1}")
        if self.row is not None:
            parts.append(f"第{self.row + 1}行")
        if self.col is not None:
            parts.append(f"第{self.col + 1}列")
        return " ".join(parts)


class Cell:
    """One cell's value, status, provenance (`source`, a :class:`Provenance` or None) and the
    reader's confidence where it has one (OCR).

    Memory: a report holds ~200 cells and a batch 2,000 reports, so the cells the label matcher
    makes do not carry a Provenance object each. They keep the per-cell fields (page, line,
    column, bbox, text, column label) in their own slots and share one tuple per table row
    (file, grid table, grid row, row label); `source` builds the Provenance when asked. A cell
    made with a Provenance (`Cell(v, status, prov)`) keeps that object. Both kinds pickle in
    their compact form (worker processes send them to the flow).
    """
    __slots__ = ("value", "status", "confidence", "_src", "_page", "_line", "_col", "_bbox",
                 "_text", "_col_label")
    __hash__ = None   # mutable, compared by value (as the dataclass it replaces)

    def __init__(self, value: int | Decimal | None, status: Status,
                 source: Provenance | None = None, confidence: float | None = None):
        self.value = value
        self.status = status
        self.confidence = confidence
        self._src = source
        self._page = self._line = self._col = self._bbox = self._text = self._col_label = None

    @classmethod
    def located(cls, value, status: Status, row: tuple[str, int | None, int | None, str | None],
                page: int | None, line: int | None, col: int | None, bbox, text: str | None,
                col_label: str | None, confidence: float | None = None) -> "Cell":
        """A cell read at a place in a table grid; `row` = (file, grid table, grid row, row
        label as printed), one tuple shared by the row's cells."""
        c = _new_cell(cls)
        c.value, c.status, c.confidence, c._src = value, status, confidence, row
        c._page, c._line, c._col, c._bbox, c._text, c._col_label = (page, line, col, bbox, text,
                                                                    col_label)
        return c

    @property
    def source(self) -> Provenance | None:
        src = self._src
        if src is None or src.__class__ is Provenance:
            return src
        if isinstance(src, tuple):
            return Provenance(src[0], self._page, self._line, src[1], src[2], self._col,
                              self._bbox, self._text, src[3], self._col_label)
        return src

    @source.setter
    def source(self, value: Provenance | None) -> None:
        self._src = value
        self._page = self._line = self._col = self._bbox = self._text = self._col_label = None

    def where(self) -> tuple | None:
        """(page, line, grid table, grid row, grid column, raw text) without building a
        Provenance; None when the cell has no source (for cells_frame)."""
        src = self._src
        if src is None:
            return None
        if isinstance(src, tuple):
            return self._page, self._line, src[1], src[2], self._col, self._text
        return src.page, src.line, src.table, src.row, src.col, src.text

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return ((self.value, self.status, self.source, self.confidence)
                == (other.value, other.status, other.source, other.confidence))

    def __repr__(self) -> str:
        return (f"Cell(value={self.value!r}, status={self.status!r}, source={self.source!r}, "
                f"confidence={self.confidence!r})")

    def __reduce__(self):
        if isinstance(self._src, tuple):
            return (_located_cell, (self.value, self.status, self._src, self._page, self._line,
                                    self._col, self._bbox, self._text, self._col_label,
                                    self.confidence))
        return (Cell, (self.value, self.status, self._src, self.confidence))


_new_cell = object.__new__


def _located_cell(*args) -> Cell:
    return Cell.located(*args)


@dataclass(slots=True)
class Warning_:
    code: str
    message: str
    cells: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "cells": list(self.cells)}


@dataclass(slots=True)
class Finding:
    """One data-quality finding on one report (produced by tasks.validate from GX results)."""
    rule: str                      # stable rule id, e.g. "requests.balance"
    severity: str                  # "error" | "warning"
    kind: str                      # "violated" | "not_checkable" | "blank" | "invalid" | "missing"
    cells: list[str]
    expected: Any = None
    actual: Any = None
    message: str = ""              # Chinese, names the labels as printed in the report

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "severity": self.severity, "kind": self.kind,
                "cells": list(self.cells), "expected": self.expected, "actual": self.actual,
                "message": self.message}


@dataclass(slots=True)
class SourceFile:
    """One input file as ingested: identified by content hash."""
    path: str
    sha256: str
    size: int
    format: str | None             # sniffed real format, None when unknown
    status: str = "ok"             # "ok" | "error"
    error_code: str | None = None  # stable code, e.g. "pdf.encrypted", "empty", "not_a_report"
    error_message: str | None = None   # Chinese text for people


@dataclass
class Report:
    file: str
    sha256: str
    format: str                          # txt | html | pdf | scan | docx | doc | wps
    format_version: str | None = None    # "2021" | "2019" | None (not recognised)
    agency: str | None = None
    year: int | None = None
    region_code: str | None = None
    cells: dict[str, Cell] = field(default_factory=dict)
    warnings: list[Warning_] = field(default_factory=list)
    tables_found: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)   # agency_source, region_name, …

    def warn(self, code: str, message: str, cells: list[str] | None = None) -> None:
        self.warnings.append(Warning_(code, message, list(cells or [])))

    def value(self, key: str) -> int | Decimal | None:
        c = self.cells.get(key)
        return None if c is None else c.value

    def all_keys(self) -> list[str]:
        k2021 = set(spec.KEYS_2021)
        extra = [k for k in self.cells if k not in k2021]   # 2019-format / （六） single-row keys
        order = {k: i for i, k in enumerate(spec.cell_index())}
        return list(spec.KEYS_2021) + sorted(extra, key=lambda k: (order.get(k, len(order)), k))

    def to_json(self) -> dict[str, Any]:
        """The `nianbao extract --json` contract."""
        cells = {k: _json_number(self.value(k)) for k in self.all_keys()}
        return {
            "file": self.file,
            "sha256": self.sha256,
            "format": self.format,
            "format_version": self.format_version,
            "agency": self.agency,
            "year": self.year,
            "region_code": self.region_code,
            "cells": cells,
            "warnings": [w.as_dict() for w in self.warnings],
        }

    def detail_json(self) -> dict[str, Any]:
        """Contract plus per-cell status and provenance (for --detail and the warehouse)."""
        out = self.to_json()
        out["cell_detail"] = {
            k: {"status": str(c.status), "source": asdict(c.source) if c.source else None,
                "confidence": c.confidence}
            for k, c in self.cells.items()
        }
        out["tables_found"] = self.tables_found
        out["meta"] = self.meta
        return out


def _json_number(v: int | Decimal | None) -> int | float | None:
    if v is None:
        return None
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v


def blank_cells(file: str) -> dict[str, Cell]:
    return {k: Cell(None, Status.BLANK, None) for k in spec.KEYS_2021}


CELL_FRAME_SCHEMA = {
    "sha256": "str", "key": "str", "table": "str", "row_key": "str", "col_key": "str",
    "value": "f64", "status": "str", "page": "i32", "line": "i32", "grid_table": "i32",
    "grid_row": "i32", "grid_col": "i32", "raw": "str", "confidence": "f64",
}


def cells_frame(reports: list[Report]):
    """Long form: one row per (report, cell). The shape validate, load and roll-up share.

    `value` is Float64 (counts are exact up to 2**53; the fee has at most 4 decimals);
    a blank cell has value null and status "blank".
    """
    import polars as pl

    cols: dict[str, list] = {k: [] for k in CELL_FRAME_SCHEMA}
    none6 = (None,) * 6
    for r in reports:
        for k, c in r.cells.items():
            table, row_key, col_key = k.split(".", 2)
            page, line, g_table, g_row, g_col, raw = c.where() or none6
            cols["sha256"].append(r.sha256)
            cols["key"].append(k)
            cols["table"].append(table)
            cols["row_key"].append(row_key)
            cols["col_key"].append(col_key)
            cols["value"].append(None if c.value is None else float(c.value))
            cols["status"].append(str(c.status))
            cols["page"].append(page)
            cols["line"].append(line)
            cols["grid_table"].append(g_table)
            cols["grid_row"].append(g_row)
            cols["grid_col"].append(g_col)
            cols["raw"].append(raw)
            cols["confidence"].append(c.confidence)
    dtypes = {"str": pl.Utf8, "f64": pl.Float64, "i32": pl.Int32}
    return pl.DataFrame({k: pl.Series(k, v, dtype=dtypes[CELL_FRAME_SCHEMA[k]])
                         for k, v in cols.items()})
