"""Totals over the region hierarchy: the 200 cells (and extra keys) summed by region and year.

The numbers come from the warehouse's table macro ``mart_rollup`` (warehouse/models/
mart_rollup.sql), the same one behind the views ``mart_rollup_county``, ``mart_rollup_city`` and
``mart_rollup_province``: :func:`rollup` only adds filters. Long form, one row per (year,
region, key):

==================== ===============================================================
level                the roll-up level asked for (province | city | county)
year                 the report year (NULL: reports whose year is unknown)
region_code          the region of the row; coarser than `level` for a region's own
                     agencies (淮安市人民政府 in a county roll-up: city_code set, county_code
                     NULL); NULL for reports without a region
region_name          full name (湖南省湘潭市湘潭县), region_level its GB/T 2260 level
province_code, city_code, county_code
key, table, row_key, col_key
reports              current reports in the row
reports_with_errors  of those, reports with at least one finding of severity "error"
value                sum over the reports' non-blank values; NULL when all are blank
blank_count          reports that left the cell blank (never counted as 0)
missing_count        reports without that key at all (another format version)
uncertain_count      reports whose value is uncertain (included in `value`)
inferred_count       reports whose value was inferred (included in `value`)
==================== ===============================================================

Reports flagged ``report.duplicate`` (another copy of the same agency's report for the same
year, see tasks.crosscheck) are never summed.

Extra keys roll up like the others. ``requests.other.<col>`` (（六）其他处理 as one row) is
present for every report: the single row where a report prints it (2019 format), otherwise the
sum of its three sub-rows other_no_correction + other_fee_unpaid + other_other (blank when all
three are blank). So ``requests.other.<col>`` of a roll-up = the three sub-rows of the 2021
reports + the single row of the others, and the outcome identity can be checked on roll-ups
that mix both formats with ``OTHER_SINGLE_ROW`` in place of the three sub-rows.
"""
from __future__ import annotations

import re
from decimal import Decimal

import duckdb
import polars as pl

from tasks import spec

LEVELS = ("province", "city", "county")
REGION_COLUMNS = ("level", "year", "region_code", "region_name", "region_level",
                  "province_code", "city_code", "county_code")


def _region_code(region: str | None) -> str | None:
    if region is None:
        return None
    region = region.strip()
    if re.fullmatch(r"[0-9]{6}", region):
        return region
    from tasks.regions import resolve_region

    m = resolve_region(region)
    if m.code is None:
        what = "ambiguous" if m.reason == "ambiguous" else "unknown"
        raise ValueError(f"region {region!r} is {what}"
                         + (f": candidates {m.candidates}" if m.candidates else ""))
    return m.code


def rollup(con: duckdb.DuckDBPyConnection, year: int | None = None, level: str = "province",
           region: str | None = None, include_errors: bool = True) -> pl.DataFrame:
    """Sum every cell over current reports by region (at `level`) and year (long form).

    `region` (a GB/T 2260 code, or a name resolved with tasks.regions.resolve_region) keeps
    the reports inside that region; `year` keeps one year; `include_errors=False` leaves out
    reports with findings of severity "error".
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    return query_frame(con, "SELECT * FROM mart_rollup(?, ?, ?, ?)",
                       [level, year, _region_code(region), bool(include_errors)])


_TYPES = {"BOOLEAN": pl.Boolean, "TINYINT": pl.Int8, "SMALLINT": pl.Int16, "INTEGER": pl.Int32,
          "BIGINT": pl.Int64, "HUGEINT": pl.Int128, "FLOAT": pl.Float32, "DOUBLE": pl.Float64,
          "VARCHAR": pl.Utf8, "JSON": pl.Utf8, "DATE": pl.Date, "TIMESTAMP": pl.Datetime("us")}


def _polars_type(t: str) -> pl.DataType | None:
    m = re.fullmatch(r"DECIMAL\((\d+),\s*(\d+)\)", t)
    if m:
        return pl.Decimal(int(m.group(1)), int(m.group(2)))
    return _TYPES.get(t)


def query_frame(con: duckdb.DuckDBPyConnection, query: str,
                params: list | None = None) -> pl.DataFrame:
    """A query's result as a polars frame, DECIMAL kept exact.

    Built from Python rows: DuckDB's own polars/Arrow export needs pyarrow (not installed) and
    its Arrow PyCapsule export leaks objects in duckdb 2.0 (nanobind prints "leaked instance"
    lines at exit, after pytest's summary).
    """
    cur = con.execute(query, params or [])
    desc = [(d[0], str(d[1])) for d in cur.description]
    rows = cur.fetchall()
    return pl.DataFrame([pl.Series(name, [r[i] for r in rows], dtype=_polars_type(t),
                                   strict=False)
                         for i, (name, t) in enumerate(desc)])


def wide(frame: pl.DataFrame) -> pl.DataFrame:
    """One row per (year, region): `<key>` (the sum) and `<key>__blank` (blank count) columns,
    keys in printed order, plus reports / reports_with_errors."""
    if frame.is_empty():
        return frame
    keys = list(dict.fromkeys(frame["key"].to_list()))
    idx = [c for c in REGION_COLUMNS if c in frame.columns] + ["reports", "reports_with_errors"]
    vals = frame.pivot(on="key", index=idx, values="value")
    blanks = frame.pivot(on="key", index=idx, values="blank_count")
    blanks = blanks.rename({k: f"{k}__blank" for k in keys})
    out = vals.join(blanks, on=idx, how="left", nulls_equal=True)
    ordered = [c for k in keys for c in (k, f"{k}__blank")]
    return out.select(idx + ordered)


def values(frame: pl.DataFrame, **where: object) -> dict[str, Decimal | None]:
    """key → summed value for the one roll-up row selected by `where` (e.g. region_code=…)."""
    f = frame
    for col, v in where.items():
        f = f.filter(pl.col(col).is_null() if v is None else pl.col(col) == v)
    groups = f.select(list(where) or ["level"]).unique().height if f.height else 0
    if groups > 1:
        raise ValueError(f"{where} selects more than one roll-up row")
    return dict(zip(f["key"].to_list(), f["value"].to_list()))


def check_identities(vals: dict[str, Decimal | int | None],
                     other_single_row: bool = False) -> list[tuple[str, Decimal, Decimal]]:
    """The identities of tasks.spec that do not hold on `vals`: (identity id, lhs, rhs).

    An identity with a missing/blank cell is reported with None sides. With
    `other_single_row`, requests.result_total uses requests.other.<col> in place of the three
    （六） sub-rows (roll-ups mixing 2019- and 2021-format reports).
    """
    bad = []
    for ident in spec.identities():
        rhs_keys = ident.rhs
        if other_single_row and ident.rule == "requests.result_total":
            col = ident.instance
            subs = {spec.key("requests", r, col) for r in spec.OTHER_SUBROWS}
            rhs_keys = tuple(k for k in rhs_keys if k not in subs) + (
                spec.key("requests", spec.OTHER_SINGLE_ROW, col),)
        sides = []
        for keys in (ident.lhs, rhs_keys):
            vs = [vals.get(k) for k in keys]
            sides.append(None if any(v is None for v in vs) else sum(Decimal(v) for v in vs))
        if sides[0] is None or sides[1] is None or sides[0] != sides[1]:
            bad.append((ident.id, sides[0], sides[1]))
    return bad
