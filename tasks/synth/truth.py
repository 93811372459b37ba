"""What a synthetic report says (`ReportTruth`) and the independent rule oracle.

`ReportTruth` is format-neutral: agency, year, region, the 200 values with their status, which
tables are missing, label drifts and planted defects. How it is printed (layout, encoding,
noise) lives in `printing`, a plain dict owned by the renderer.

`expected_findings()` is a deliberately small, independent implementation of the validation
rules over the truth values. It must not import `tasks.validate`: the GX suites are checked
against it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from decimal import Decimal
from typing import Any

from tasks import spec

READ, BLANK, INFERRED = "read", "blank", "inferred"


@dataclass(slots=True)
class Defect:
    kind: str                 # see tasks.synth.defects.KINDS
    cells: list[str]
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "cells": list(self.cells), "detail": self.detail}


@dataclass
class ReportTruth:
    file: str                                 # file name as written (<id>.txt)
    agency_full: str                          # the real agency (manifest, roster)
    agency: str | None                        # as printed in the title; None if the text has none
    year: int | None                          # as recoverable from the text; None if planted missing
    report_year: int                          # the real year (manifest)
    region_code: str
    cells: dict[str, int | Decimal | float | None]
    status: dict[str, str]
    format: str = "txt"
    format_version: str = "2021"
    layout: str | None = None                 # "A" | "B" for txt
    encoding: str | None = None
    missing_tables: dict[str, str] = field(default_factory=dict)   # table → "table" | "section"
    drifts: list[str] = field(default_factory=list)
    defects: list[Defect] = field(default_factory=list)
    agency_form: str = "full"                 # full | short | local | none
    printing: dict[str, Any] = field(default_factory=dict)       # renderer options
    facts: dict[str, Any] = field(default_factory=dict)          # narrative facts (clean numbers)

    def is_blank(self, key: str) -> bool:
        return self.status[key] == BLANK

    def table_present(self, table: str) -> bool:
        return table not in self.missing_tables

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "encoding": self.encoding,
            "layout": self.layout,
            "format": self.format,
            "format_version": self.format_version,
            "agency": self.agency,
            "agency_full": self.agency_full,
            "year": self.year,
            "report_year": self.report_year,
            "region_code": self.region_code,
            "cells": {k: json_number(self.cells[k]) for k in spec.KEYS_2021},
            "status": {k: self.status[k] for k in spec.KEYS_2021},
            "missing_tables": dict(self.missing_tables),
            "drifts": list(self.drifts),
            "agency_form": self.agency_form,
            "defects": [d.as_dict() for d in self.defects],
            "expected_findings": expected_findings(self),
        }


def json_number(v: int | Decimal | float | None) -> int | float | None:
    if v is None:
        return None
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v


def _dec(v: int | Decimal | float) -> int | Decimal:
    """Exact arithmetic: ints stay ints (fast), floats (1.5) become Decimal via their text."""
    return v if type(v) is int or isinstance(v, Decimal) else Decimal(str(v))


def _finding(rule: str, severity: str, kind: str, cells: list[str]) -> dict[str, Any]:
    return {"rule": rule, "severity": severity, "kind": kind, "cells": list(cells)}


@cache
def _rows_in_spec_order() -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    rows: dict[tuple[str, str], list[str]] = {}
    for c in spec.cells_2021():
        rows.setdefault((c.table, c.row_key), []).append(c.key)
    return tuple((t, r, tuple(keys)) for (t, r), keys in rows.items())


def expected_findings(t: ReportTruth) -> list[dict[str, Any]]:
    """The findings a correct validator reports for this truth (see tasks/synth/README.md)."""
    out: list[dict[str, Any]] = []
    present = lambda key: t.table_present(key.split(".", 1)[0])  # noqa: E731
    # Identities: violated when all cells are read/inferred, not checkable with any blank.
    for ident in spec.identities():
        if not present(ident.lhs[0]):
            continue
        blanks = [k for k in ident.cells if t.status[k] == BLANK]
        if blanks:
            out.append(_finding(ident.rule, "warning", "not_checkable", blanks))
            continue
        lhs = sum(_dec(t.cells[k]) for k in ident.lhs)
        rhs = sum(_dec(t.cells[k]) for k in ident.rhs)
        if lhs != rhs:
            out.append(_finding(ident.rule, "error", "violated", list(ident.cells)))
    # Invalid values: a count that is negative or not an integer; a negative fee.
    for c in spec.cells_2021():
        v = t.cells[c.key]
        if v is None or not present(c.key) or t.status[c.key] == BLANK:
            continue
        if type(v) is int:
            if v < 0:
                out.append(_finding("cells.invalid", "error", "invalid", [c.key]))
            continue
        d = Decimal(str(v))
        if d < 0 or (not c.is_decimal and d != d.to_integral_value()):
            out.append(_finding("cells.invalid", "error", "invalid", [c.key]))
    # Blank cells: one warning per printed row with blanks.
    for table, _row, keys in _rows_in_spec_order():
        if not t.table_present(table):
            continue
        blanks = [k for k in keys if t.status[k] == BLANK]
        if blanks:
            out.append(_finding("cells.blank", "warning", "blank", blanks))
    # Plausibility: 现行有效件数 ≥ 本年制发件数 − 本年废止件数.
    if t.table_present("proactive"):
        for row in ("regulations", "normative_documents"):
            keys = [spec.key("proactive", row, c) for c in ("issued", "repealed", "in_force")]
            vals = [t.cells[k] for k in keys]
            if any(v is None or t.status[k] == BLANK for k, v in zip(keys, vals)):
                continue
            issued, repealed, in_force = (_dec(v) for v in vals)
            if in_force < issued - repealed:
                out.append(_finding("proactive.in_force_floor", "warning", "violated", keys))
    if t.agency is None:
        out.append(_finding("report.agency_unknown", "error", "missing", []))
    if t.year is None:
        out.append(_finding("report.year_unknown", "error", "missing", []))
    for table in spec.TABLES:
        if table in t.missing_tables:
            out.append(_finding("report.table_missing", "error", "missing", []))
    return out
