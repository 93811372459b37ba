"""Validation of a batch of reports with Great Expectations (GX Core 1.x, pandas engine).

The whole batch is validated at once: GX costs about 25 ms CPU per expectation whatever the row
count (161 expectations: ~4 s per batch; 10,000 reports take ~5–6 s CPU in all).
:func:`batch_frame` builds a wide pandas frame with one row per report and one column per check:

==========================  ==================================================================
column                      holds (null = the check does not apply to this report)
==========================  ==================================================================
``diff:<identity id>``      sum(lhs) − sum(rhs) when every cell is read/inferred with a value
``unchecked:<identity id>`` number of blank/uncertain cells of the identity
``invalid:<table>.<row>``   number of invalid values in the printed row
``blank:<table>.<row>``     number of blank cells in the printed row
``floor:proactive.<row>``   现行有效件数 − (本年制发件数 − 本年废止件数)
``agency`` / ``year``       the report's metadata
``found:<table>``           whether the table was found
==========================  ==================================================================

The suites in ``expectations/*.json`` are generated from ``tasks.spec.identities()`` and the
rule list by :func:`build_suites` (``python -m tasks.validate --write-suites``); every
expectation's ``meta`` names its rule, kind, instance and cells. :func:`run_suites` validates a
frame with the suites on disk (``result_format`` COMPLETE) and :func:`findings_from_results`
turns each failing expectation's ``unexpected_index_list`` (rows = reports) into
:class:`tasks.model.Finding` objects whose messages name the labels as printed.

Rules (stable ids): ``requests.balance``, ``requests.result_total``, ``requests.row_total``,
``appeals.group_total`` (identities: ``violated`` error / ``not_checkable`` warning),
``cells.invalid``, ``cells.blank``, ``proactive.in_force_floor``, ``report.agency_unknown``,
``report.year_unknown``, ``report.table_missing``. A table missing from ``tables_found`` yields
only ``report.table_missing``: no other rule looks at its cells. Cells a report does not print
(:func:`not_printed`: the 2021 placeholders of a 2019-format report, the （六） sub-rows of a
report printing the single （六） row) are never blank findings; ``requests.result_total`` uses
the single （六） row where the report prints it (``spec.identity_terms``). Values are checked
by unit (:func:`value_rule`).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import threading
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from tasks import spec
from tasks.model import Finding, Report, Status

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


def _suites_dir() -> Path:
    import expectations

    return expectations.SUITES_DIR


SUITE_NAMES = ("identities", "cells", "plausibility", "report")
# Cross-report suites (rules over several reports: tasks.crosscheck), in expectations/cross/.
CROSS_SUITE_NAMES = ("history", "narrative", "crossreport")
CROSS_DIR = "cross"
SUITE_PREFIX = "nianbao."

# COMPLETE gives every failing row (report) in unexpected_index_list; the values, the partial
# lists and the pandas index "query" are not needed.
RESULT_FORMAT = {"result_format": "COMPLETE", "return_unexpected_index_query": False,
                 "partial_unexpected_count": 0, "exclude_unexpected_values": True}

RULES: dict[str, str] = {
    # rule id → what it checks (Chinese, for people)
    "requests.balance": "本年新收 + 上年结转 = 办理结果总计 + 结转下年度",
    "requests.result_total": "办理结果总计 = 各项办理结果之和",
    "requests.row_total": "总计 = 各类申请人之和",
    "appeals.group_total": "总计 = 结果维持 + 结果纠正 + 其他结果 + 尚未审结",
    "cells.invalid": "件数为非负整数，收费金额不为负数",
    "cells.blank": "单元格不应为空白（空白不计为 0）",
    "proactive.in_force_floor": "现行有效件数 ≥ 本年制发件数 − 本年废止件数",
    "report.agency_unknown": "能识别报告机关",
    "report.year_unknown": "能识别报告年度",
    "report.table_missing": "报告含表二、表三、表四",
}
TABLE_SHORT = {"proactive": "表二", "requests": "表三", "appeals": "表四"}
FLOOR_ROWS = ("regulations", "normative_documents")


class SuiteError(RuntimeError):
    """The suites on disk do not load completely, or do not match the checks of this code."""


# ---------------------------------------------------------------------------------- checks
@dataclass(frozen=True, slots=True)
class Check:
    """One expectation: a frame column, the GX expectation over it and the finding it yields."""
    suite: str
    rule: str
    kind: str                          # kind of the finding: violated | not_checkable | …
    severity: str                      # "error" | "warning"
    instance: str | None               # identity instance, printed row or table
    column: str                        # column of the batch frame
    expectation: str                   # GX expectation type
    kwargs: tuple[tuple[str, Any], ...]
    cells: tuple[str, ...]
    identity: spec.Identity | None = None

    def to_json(self) -> dict[str, Any]:
        # Keep meta small: GX serialises each expectation ~170 times per validation, and
        # listing lhs/rhs besides the cells cost about a second per batch.
        meta = {"rule": self.rule, "kind": self.kind, "instance": self.instance,
                "cells": list(self.cells)}
        return {
            "type": self.expectation,
            "kwargs": {"column": self.column, **dict(self.kwargs)},
            "meta": meta,
            "severity": "critical" if self.severity == "error" else "warning",
        }


_ZERO = (("min_value", 0), ("max_value", 0))


@cache
def spec_rows() -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    """Printed rows (table, row_key, cell keys in spec order) of every cell in the spec."""
    rows: dict[tuple[str, str], list[str]] = {}
    for k, c in spec.cell_index().items():
        rows.setdefault((c.table, c.row_key), []).append(k)
    return tuple((t, r, tuple(keys)) for (t, r), keys in rows.items())


@cache
def checks() -> tuple[Check, ...]:
    """All checks in finding order (the order of the rule list)."""
    out: list[Check] = []
    for ident in spec.identities():
        out.append(Check("identities", ident.rule, "violated", "error", ident.instance,
                         f"diff:{ident.id}", "expect_column_values_to_be_between", _ZERO,
                         ident.cells, ident))
        out.append(Check("identities", ident.rule, "not_checkable", "warning", ident.instance,
                         f"unchecked:{ident.id}", "expect_column_values_to_be_between", _ZERO,
                         ident.cells, ident))
    for table, row, keys in spec_rows():
        out.append(Check("cells", "cells.invalid", "invalid", "error", f"{table}.{row}",
                         f"invalid:{table}.{row}", "expect_column_values_to_be_between", _ZERO,
                         keys))
    for table, row, keys in spec_rows():
        out.append(Check("cells", "cells.blank", "blank", "warning", f"{table}.{row}",
                         f"blank:{table}.{row}", "expect_column_values_to_be_between", _ZERO,
                         keys))
    for row in FLOOR_ROWS:
        keys = _floor_keys(row)
        out.append(Check("plausibility", "proactive.in_force_floor", "violated", "warning", row,
                         f"floor:proactive.{row}", "expect_column_values_to_be_between",
                         (("min_value", 0),), keys))
    out.append(Check("report", "report.agency_unknown", "missing", "error", None, "agency",
                     "expect_column_values_to_not_be_null", (), ()))
    out.append(Check("report", "report.year_unknown", "missing", "error", None, "year",
                     "expect_column_values_to_not_be_null", (), ()))
    for table in spec.TABLES:
        out.append(Check("report", "report.table_missing", "missing", "error", table,
                         f"found:{table}", "expect_column_values_to_be_in_set",
                         (("value_set", [True]),), ()))
    return tuple(out)


def _floor_keys(row: str) -> tuple[str, ...]:
    return tuple(spec.key("proactive", row, c) for c in ("issued", "repealed", "in_force"))


def build_suites(cross: bool = False) -> dict[str, dict[str, Any]]:
    """The GX suites as JSON (name → suite dict), generated from the spec and the rule list.

    ``cross=True``: the cross-report suites instead (:data:`CROSS_SUITE_NAMES`, written to
    ``expectations/cross/``), from ``tasks.crosscheck.cross_checks()`` and its rule list; they
    validate the frame of ``tasks.crosscheck.cross_frame`` (one row per report, with the
    previous year's report and the other reports of the batch as data)."""
    names, all_checks, rules = SUITE_NAMES, checks(), RULES
    if cross:
        from tasks.crosscheck import CROSS_RULES, cross_checks

        names, all_checks, rules = CROSS_SUITE_NAMES, cross_checks(), CROSS_RULES
    suites: dict[str, dict[str, Any]] = {}
    for name in names:
        suites[name] = {
            "name": SUITE_PREFIX + name,
            "expectations": [c.to_json() for c in all_checks if c.suite == name],
            "meta": {"generated_by": "tasks.validate.build_suites",
                     "rules": {r: rules[r] for r in dict.fromkeys(
                         c.rule for c in all_checks if c.suite == name)}},
        }
    return suites


def suite_text(suite: dict[str, Any]) -> str:
    return json.dumps(suite, ensure_ascii=False, indent=2) + "\n"


def write_suites(directory: Path | None = None) -> list[Path]:
    """Write every suite of :func:`build_suites` to ``<directory>/<name>.json`` and the
    cross-report suites to ``<directory>/cross/<name>.json``."""
    directory = directory or _suites_dir()
    paths = []
    for cross in (False, True):
        where = directory / CROSS_DIR if cross else directory
        where.mkdir(exist_ok=True)
        for name, suite in build_suites(cross).items():
            path = where / f"{name}.json"
            path.write_text(suite_text(suite), encoding="utf-8")
            paths.append(path)
    return paths


def load_suites(directory: Path | None = None, cross: bool = False) -> dict[str, Any]:
    """Load the suites from JSON (name → ``gx.ExpectationSuite``); ``cross=True``: the
    cross-report suites (``<directory>/cross/``).

    GX logs and skips an invalid expectation instead of raising, so the count of loaded
    expectations is compared with the file's: any difference raises :class:`SuiteError`.
    """
    import great_expectations as gx

    directory = directory or _suites_dir()
    if cross:
        directory = directory / CROSS_DIR
    out = {}
    for name in (CROSS_SUITE_NAMES if cross else SUITE_NAMES):
        path = directory / f"{name}.json"
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        want = len(data.get("expectations", []))
        suite = gx.ExpectationSuite(**data)
        if len(suite.expectations) != want:
            raise SuiteError(f"{path}: {len(suite.expectations)} of {want} expectations loaded"
                             " (GX skipped invalid entries)")
        out[name] = suite
    return out


# ----------------------------------------------------------------------------- batch frame
_READ, _INFERRED, _BLANK, _UNCERTAIN, _ABSENT = 0, 1, 2, 3, 4
_STATUS_CODE = {Status.READ: _READ, Status.INFERRED: _INFERRED, Status.BLANK: _BLANK,
                Status.UNCERTAIN: _UNCERTAIN}


@dataclass(frozen=True)
class _Layout:
    keys: tuple[str, ...]
    pos: dict[str, int]
    must_be_integer: np.ndarray
    must_be_nonneg: np.ndarray
    only_2021: np.ndarray            # a 2021 key the 2019 format does not have
    is_subrow: np.ndarray            # key of a （六）其他处理 sub-row (1–3)
    single: np.ndarray               # positions of the single （六） row's keys
    row_idx: dict[tuple[str, str], np.ndarray]


@cache
def _layout() -> _Layout:
    index = spec.cell_index()
    keys = tuple(index)
    pos = {k: i for i, k in enumerate(keys)}
    rules = [value_rule(index[k]) for k in keys]
    k2019, k2021 = set(spec.KEYS_2019), set(spec.KEYS_2021)
    return _Layout(
        keys=keys, pos=pos,
        must_be_integer=np.array([i for i, _ in rules], dtype=bool),
        must_be_nonneg=np.array([n for _, n in rules], dtype=bool),
        only_2021=np.array([k in k2021 and k not in k2019 for k in keys], dtype=bool),
        is_subrow=np.array([k in _subrow_keys() for k in keys], dtype=bool),
        single=np.array([pos[k] for k in _single_keys() if k in pos], dtype=np.int64),
        row_idx={(t, r): np.array([pos[k] for k in ks]) for t, r, ks in spec_rows()},
    )


def value_rule(c: spec.CellSpec) -> tuple[bool, bool]:
    """(must be an integer, must not be negative) for a cell's value, by unit.

    件 and 项 are counts: non-negative integers, except a 本年增/减 (2019 ``change``) column,
    which may be negative; 万元 (the fee, the 2019 procurement amount) must not be negative.
    """
    if c.is_decimal:
        return False, True
    return True, c.col_key != "change"


@cache
def _subrow_keys() -> frozenset[str]:
    return frozenset(spec.key("requests", r, c) for r in spec.OTHER_SUBROWS
                     for c in spec.REQUEST_COLUMNS)


@cache
def _single_keys() -> tuple[str, ...]:
    return tuple(spec.key("requests", spec.OTHER_SINGLE_ROW, c) for c in spec.REQUEST_COLUMNS)


def _matrices(reports: list[Report]) -> tuple[np.ndarray, np.ndarray]:
    """Values (float, NaN for None) and status codes, one row per report, one column per key."""
    lay = _layout()
    pos = lay.pos
    n, m = len(reports), len(lay.keys)
    flat_pos: list[int] = []
    flat_val: list[Any] = []
    flat_st: list[Any] = []
    add_pos, add_val, add_st, pos_get = flat_pos.append, flat_val.append, flat_st.append, pos.get
    for i, r in enumerate(reports):
        base = i * m
        for k, c in r.cells.items():
            j = pos_get(k)
            if j is not None:
                add_pos(base + j)
                add_val(c.value)           # None → NaN, Decimal → float in np.array below
                add_st(c.status)
    code = _STATUS_CODE
    st_codes = [code.get(s, _UNCERTAIN) for s in flat_st]
    values = np.full(n * m, np.nan)
    status = np.full(n * m, _ABSENT, dtype=np.int8)
    idx = np.array(flat_pos, dtype=np.int64)
    values[idx] = np.array(flat_val, dtype=float)
    status[idx] = np.array(st_codes, dtype=np.int8)
    return values.reshape(n, m), status.reshape(n, m)


def batch_frame(reports: list[Report]):
    """The wide pandas frame GX validates: one row per report (index = position in `reports`)."""
    import pandas as pd

    lay = _layout()
    pos = lay.pos
    values, status = _matrices(reports)
    found = {t: np.array([t in r.tables_found for r in reports], dtype=bool) for t in spec.TABLES}
    is_2019 = np.array([r.format_version == "2019" for r in reports], dtype=bool)
    present = status != _ABSENT
    blank = status == _BLANK
    # Cells the report does not print (see `not_printed`).
    has_single = present[:, lay.single].any(axis=1)
    unprinted = ~present | (blank & ((is_2019[:, None] & lay.only_2021[None, :])
                                     | (lay.is_subrow[None, :] & has_single[:, None])))
    # A cell counts towards an identity only when read/inferred and holding a value.
    certain = (status <= _INFERRED) & ~np.isnan(values)
    nan = np.nan
    cols: dict[str, Any] = {}
    for ident in spec.identities():
        table = ident.lhs[0].split(".", 1)[0]
        diff, unchecked, applies = _identity_columns(ident, ident.lhs, ident.rhs, pos, values,
                                                     certain, unprinted)
        if ident.rule == "requests.result_total":
            # where the report prints the single （六） row, it replaces the three sub-rows
            lhs2, rhs2 = spec.identity_terms(ident, set(_single_keys()))
            d2, u2, a2 = _identity_columns(ident, lhs2, rhs2, pos, values, certain, unprinted)
            single_col = present[:, pos[spec.key("requests", spec.OTHER_SINGLE_ROW,
                                                 ident.instance)]]
            diff, unchecked = np.where(single_col, d2, diff), np.where(single_col, u2, unchecked)
            applies = np.where(single_col, a2, applies)
        applies &= found[table]
        cols[f"diff:{ident.id}"] = np.where(applies & (unchecked == 0), diff, nan)
        cols[f"unchecked:{ident.id}"] = np.where(applies, unchecked, nan)
    has_value = ~np.isnan(values)
    with np.errstate(invalid="ignore"):
        bad = has_value & ((lay.must_be_nonneg & (values < 0))
                           | (lay.must_be_integer & (values != np.floor(values))))
    printed_blank = blank & ~unprinted
    for (table, row), idx in lay.row_idx.items():
        cols[f"invalid:{table}.{row}"] = np.where(found[table], bad[:, idx].sum(axis=1), nan)
    for (table, row), idx in lay.row_idx.items():
        cols[f"blank:{table}.{row}"] = np.where(found[table], printed_blank[:, idx].sum(axis=1),
                                                nan)
    for row in FLOOR_ROWS:
        iss, rep, inf = (values[:, pos[k]] for k in _floor_keys(row))
        cols[f"floor:proactive.{row}"] = np.where(found["proactive"],
                                                  np.round(inf - (iss - rep), 6), nan)
    cols["agency"] = pd.Series([_agency(r) for r in reports], dtype=object)
    cols["year"] = pd.array([r.year for r in reports], dtype="Int64")
    for t in spec.TABLES:
        cols[f"found:{t}"] = found[t]
    frame = pd.DataFrame(cols, index=pd.RangeIndex(len(reports)))
    frame.insert(0, "sha256", pd.Series([r.sha256 for r in reports], dtype=object))
    return frame


def _identity_columns(ident, lhs, rhs, pos, values, certain, unprinted):
    """(lhs − rhs, number of cells not certain, whether the identity applies) per report.

    It does not apply when none of its cells is printed (e.g. 其他处理 sub-rows of a report
    that prints the single （六） row)."""
    li = [pos[k] for k in lhs]
    ri = [pos[k] for k in rhs]
    ci = li + ri
    unchecked = (~certain[:, ci]).sum(axis=1)
    diff = np.round(values[:, li].sum(axis=1) - values[:, ri].sum(axis=1), 6)
    applies = ~unprinted[:, ci].all(axis=1)
    return diff, unchecked, applies


def _agency(r: Report) -> str | None:
    return (r.agency or "").strip() or None


# ------------------------------------------------------------------------------- GX run
_GX_LOCK = threading.RLock()
_GX_STATE: dict[str, Any] = {}


def _gx_batch_definition():
    """The ephemeral context's whole-dataframe batch definition and the loaded suites (cached)."""
    if not _GX_STATE:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        # GX logs at INFO on its own loggers (e.g. the ephemeral docs site); keep runs quiet
        # unless the root logger asks for debug output.
        if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
            for name in list(logging.root.manager.loggerDict):
                if name.startswith("great_expectations"):
                    logging.getLogger(name).setLevel(logging.ERROR)
        ctx = gx.get_context(mode="ephemeral")
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False,
                                                         metric_calculations=False)
        asset = ctx.data_sources.add_pandas("nianbao").add_dataframe_asset("reports")
        _GX_STATE["batch_definition"] = asset.add_batch_definition_whole_dataframe("batch")
        _GX_STATE["suites"] = load_suites()
        _GX_STATE["context"] = ctx
    return _GX_STATE["batch_definition"], _GX_STATE["suites"]


def run_suites(frame, suites: dict[str, Any] | None = None) -> dict[str, Any]:
    """Validate the batch frame with every suite: name → ``ExpectationSuiteValidationResult``."""
    with _GX_LOCK:
        batch_definition, loaded = _gx_batch_definition()
        suites = loaded if suites is None else suites
        batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
        return {name: batch.validate(suite, result_format=RESULT_FORMAT)
                for name, suite in suites.items()}


def failing_rows(results: dict[str, Any]) -> dict[str, list[int]]:
    """Frame column → failing row positions, for every expectation that failed.

    Raises :class:`SuiteError` if GX raised inside an expectation (a failed check must never
    be mistaken for a clean one, nor the reverse).
    """
    out: dict[str, list[int]] = {}
    for name, res in results.items():
        for r in res.results:
            column = r.expectation_config.kwargs["column"]
            if _raised(r.exception_info):
                raise SuiteError(f"GX failed on {name}/{column}: {_exc_message(r.exception_info)}")
            if r.success:
                continue
            rows = (r.result or {}).get("unexpected_index_list")
            if rows is None:
                raise SuiteError(f"GX result for {name}/{column} has no unexpected_index_list")
            out[column] = [int(i) for i in rows]
    return out


def _raised(info: Any) -> bool:
    if not isinstance(info, dict):
        return False
    if info.get("raised_exception"):
        return True
    return any(_raised(v) for v in info.values() if isinstance(v, dict))


def _exc_message(info: dict) -> str:
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    return "; ".join(_exc_message(v) for v in info.values() if isinstance(v, dict) and _raised(v))


def findings_from_results(reports: list[Report], results: dict[str, Any]
                          ) -> dict[str, list[Finding]]:
    """Turn the GX results over ``batch_frame(reports)`` into findings, keyed by sha256."""
    failing = failing_rows(results)
    known = {c.column for c in checks()}
    unknown = set(failing) - known
    if unknown:
        raise SuiteError(f"suites on disk have columns this code does not know: {sorted(unknown)}"
                         " (run python -m tasks.validate --write-suites)")
    validated = {r.expectation_config.kwargs["column"]
                 for res in results.values() for r in res.results}
    missing = known - validated
    if missing:
        raise SuiteError(f"suites on disk lack {len(missing)} checks, e.g. {sorted(missing)[:3]}"
                         " (run python -m tasks.validate --write-suites)")
    per_report: list[list[Finding]] = [[] for _ in reports]
    for check in checks():
        for i in failing.get(check.column, ()):
            per_report[i].extend(explain(check, reports[i]))
    out: dict[str, list[Finding]] = {}
    for r, fs in zip(reports, per_report):
        out.setdefault(r.sha256, fs)
    return out


def validate(reports: list[Report]) -> dict[str, list[Finding]]:
    """Validate a batch with the GX suites; sha256 → findings (empty list for a clean report).

    If the same sha256 occurs twice, the first report's findings are kept (same bytes).
    """
    return validate_with_results(reports)[0]


def validate_with_results(reports: list[Report]) -> tuple[dict[str, list[Finding]], dict[str, Any]]:
    """:func:`validate`, also returning the GX results (suite name → validation result)."""
    reports = list(reports)
    if not reports:
        return {}, {}
    results = run_suites(batch_frame(reports))
    return findings_from_results(reports, results), results


# ---------------------------------------------------------------------- findings (exact)
def explain(check: Check, report: Report) -> list[Finding]:
    """The findings of one failing check on one report, computed exactly from its cells."""
    if check.identity is not None:
        if check.kind == "violated":
            return _identity_violated(check, report)
        return _identity_not_checkable(check, report)
    if check.rule == "cells.invalid":
        return _invalid(check, report)
    if check.rule == "cells.blank":
        return _blank(check, report)
    if check.rule == "proactive.in_force_floor":
        return _floor(check, report)
    if check.rule == "report.agency_unknown":
        return [Finding(check.rule, "error", "missing", [], None, None, "未能识别报告机关名称")]
    if check.rule == "report.year_unknown":
        return [Finding(check.rule, "error", "missing", [], None, None, "未能识别报告年度")]
    if check.rule == "report.table_missing":
        title = spec.TABLE_TITLES[check.instance]
        return [Finding(check.rule, "error", "missing", [], None, None, f"未找到表格“{title}”")]
    raise SuiteError(f"no explanation for rule {check.rule}")


def _status(report: Report, key: str) -> str:
    """A cell's status for the identities: absent, or read/inferred without a value, is blank."""
    c = report.cells.get(key)
    if c is None or (c.value is None and c.status in (Status.READ, Status.INFERRED)):
        return Status.BLANK
    return c.status


def not_printed(report: Report, key: str) -> bool:
    """A cell the report does not print: absent, or a blank placeholder (the layout gives a
    2019-format report the 200 keys of the 2021 contract too), or a blank （六） sub-row cell of
    a report that prints the single （六）其他处理 row instead."""
    c = report.cells.get(key)
    if c is None:
        return True
    if c.status != Status.BLANK:
        return False
    if report.format_version == "2019" and key in _only_2021():
        return True
    return key in _subrow_keys() and any(k in report.cells for k in _single_keys())


@cache
def _only_2021() -> frozenset[str]:
    return frozenset(spec.KEYS_2021) - frozenset(spec.KEYS_2019)


def terms(ident: spec.Identity, report: Report) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The (lhs, rhs) cell keys of an identity as this report prints it."""
    return spec.identity_terms(ident, set(report.cells))


def _dec(v: int | Decimal | float) -> Decimal | int:
    if isinstance(v, (int, Decimal)):
        return v
    return Decimal(str(v))


def _num(v: int | Decimal | float | None) -> int | float | None:
    if v is None:
        return None
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _fmt(v: int | Decimal | float | None) -> str:
    if v is None:
        return "空白"
    d = _dec(v)
    if isinstance(d, int):
        return str(d)
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def _identity_violated(check: Check, report: Report) -> list[Finding]:
    ident = check.identity
    assert ident is not None
    lhs, rhs = terms(ident, report)
    lv = [_dec(report.cells[k].value) for k in lhs]
    rv = [_dec(report.cells[k].value) for k in rhs]
    expected, actual = sum(lv), sum(rv)
    if expected == actual:       # float rounding in the frame; the exact sums agree
        return []
    ctx, name_of, rhs_name = _identity_context(ident, report)
    lhs_text = _side([(name_of(k), v) for k, v in zip(lhs, lv)], None)
    rhs_text = _side([(name_of(k), v) for k, v in zip(rhs, rv)], rhs_name)
    msg = f"{ctx}：{lhs_text} ≠ {rhs_text}，相差 {_fmt(abs(expected - actual))}"
    return [Finding(ident.rule, "error", "violated", list(lhs + rhs), _num(expected),
                    _num(actual), msg)]


def _identity_not_checkable(check: Check, report: Report) -> list[Finding]:
    ident = check.identity
    assert ident is not None
    lhs, rhs = terms(ident, report)
    blank = [k for k in lhs + rhs if _status(report, k) == Status.BLANK]
    uncertain = [k for k in lhs + rhs if _status(report, k) == Status.UNCERTAIN]
    cells = [k for k in lhs + rhs if k in set(blank) | set(uncertain)]
    if not cells:
        return []
    ctx, name_of, _ = _identity_context(ident, report)
    parts = []
    if blank:
        parts.append(f"{_names([name_of(k) for k in blank])} 为空白")
    if uncertain:
        parts.append(f"{_names([name_of(k) for k in uncertain])} 识别不确定")
    msg = f"{ctx}：{'，'.join(parts)}，无法核对“{RULES[ident.rule]}”"
    return [Finding(ident.rule, "warning", "not_checkable", cells, None, None, msg)]


def _side(terms: list[tuple[str, Any]], group_name: str | None) -> str:
    if len(terms) <= 6:
        return " + ".join(f"{n} {_fmt(v)}" for n, v in terms)
    total = sum(v for _, v in terms)
    nonzero = [f"{n} {_fmt(v)}" for n, v in terms if v != 0]
    rest = len(terms) - len(nonzero)
    inner = "、".join(nonzero)
    if rest:
        inner = f"{inner}，其余 {rest} 项为 0" if inner else f"{rest} 项均为 0"
    return f"{group_name or '各项'}合计 {_fmt(total)}（{inner}）"


def _names(names: list[str], limit: int = 6) -> str:
    if len(names) <= limit:
        return "、".join(names)
    return "、".join(names[:limit]) + f" 等 {len(names)} 个单元格"


def _identity_context(ident: spec.Identity, report: Report):
    """(context label, cell → term name, name of a long right-hand side) for an identity."""
    if ident.rule in ("requests.balance", "requests.result_total"):
        ctx = f"{col_label(report, ident.lhs[0])}列"
        return ctx, (lambda k: row_label(report, k)), (
            "各项办理结果" if ident.rule == "requests.result_total" else None)
    if ident.rule == "requests.row_total":
        return f"{row_label(report, ident.lhs[0])}行", (lambda k: col_label(report, k)), None
    if ident.rule == "appeals.group_total":
        return appeal_group_label(ident.lhs[0]), (lambda k: col_label(report, k)), None
    return ident.id, (lambda k: cell_label(report, k)), None


# ------------------------------------------------------------------------------ labels
_CN = "一二三四五六七八九十"
_WS = re.compile(r"\s+")
_ARTICLE = re.compile(rf"^第[{_CN}]+条第[（(][{_CN}]+[）)]项")
_ENUM = re.compile(rf"[{_CN}]+、|[（(][{_CN}]+[）)]|(?<!\d)\d+[.．、]")
_NOTE = re.compile(r"[（(][^（）()]*[）)]$")
_ROW_SUFFIXES = ("政府信息公开申请数量", "继续办理")
_COL_PREFIXES = ("申请人情况", "法人或其他组织", "行政复议", "行政诉讼", "未经复议直接起诉",
                 "复议后起诉")


def _printed(report: Report, key: str, attr: str) -> str:
    c = report.cells.get(key)
    text = getattr(c.source, attr, None) if c is not None and c.source is not None else None
    if text and text.strip():
        return text
    return getattr(spec.cell_index()[key], attr)


def short_row_label(label: str) -> str:
    """A row label without its numbering and boilerplate: "一、本年新收政府信息公开申请数量" → "本年新收"."""
    s = _WS.sub("", label)
    s = _ARTICLE.sub("", s) or s
    parts = [p for p in _ENUM.split(s) if p]
    s = parts[-1] if parts else s
    s = _NOTE.sub("", s) or s
    for suffix in _ROW_SUFFIXES:
        if s.endswith(suffix) and len(s) > len(suffix):
            s = s[: -len(suffix)]
    return s


def short_col_label(label: str) -> str:
    """A column label's last level: "法人或其他组织 商业企业" → "商业企业"."""
    s = _WS.sub("", label)
    s = _NOTE.sub("", s) or s
    changed = True
    while changed:
        changed = False
        for p in _COL_PREFIXES:
            if s.startswith(p) and len(s) > len(p):
                s, changed = s[len(p):], True
    return s


def row_label(report: Report, key: str) -> str:
    return short_row_label(_printed(report, key, "row_label"))


def col_label(report: Report, key: str) -> str:
    return short_col_label(_printed(report, key, "col_label"))


def appeal_group_label(key: str) -> str:
    """"行政复议" / "行政诉讼（未经复议直接起诉）" / "行政诉讼（复议后起诉）" for a cell of 表四."""
    tokens = spec.cell_index()[key].col_label.split()[:-1]
    return tokens[0] + "".join(f"（{t}）" for t in tokens[1:])


def cell_label(report: Report, key: str) -> str:
    """A cell's name for people, from the labels as printed."""
    c = spec.cell_index()[key]
    if c.table == "requests":
        return f"“{row_label(report, key)}”行“{col_label(report, key)}”列"
    if c.table == "appeals":
        return f"{appeal_group_label(key)}{col_label(report, key)}"
    return f"{row_label(report, key)} {col_label(report, key)}"


def _row_title(report: Report, table: str, keys: tuple[str, ...]) -> str:
    if table == "appeals":
        return TABLE_SHORT[table]
    return f"{TABLE_SHORT[table]}“{row_label(report, keys[0])}”"


# ------------------------------------------------------------------------- other rules
def _invalid(check: Check, report: Report) -> list[Finding]:
    out = []
    index = spec.cell_index()
    for k in check.cells:
        c = report.cells.get(k)
        if c is None or c.value is None:
            continue
        integer, nonneg = value_rule(index[k])
        v = _dec(c.value)
        negative = nonneg and v < 0
        fraction = integer and v != int(v)
        if not (negative or fraction):
            continue
        what = "为负数" if negative else "不是整数"
        if integer:
            should = "件数应为非负整数" if nonneg else "应为整数"
            msg = f"{_fmt(v)} {what}，{should}"
        else:
            msg = f"{_fmt(v)} {index[k].unit}{what}"
        out.append(Finding("cells.invalid", "error", "invalid", [k], None, _num(c.value),
                           f"{TABLE_SHORT[index[k].table]} {cell_label(report, k)}：{msg}"))
    return out


def _blank(check: Check, report: Report) -> list[Finding]:
    printed = [k for k in check.cells if not not_printed(report, k)]
    blank = [k for k in printed if report.cells[k].status == Status.BLANK]
    if not blank:
        return []
    table = spec.cell_index()[check.cells[0]].table
    title = _row_title(report, table, check.cells)
    if table == "appeals":
        names = [cell_label(report, k) for k in blank]
    else:
        names = [col_label(report, k) for k in blank]
    if len(blank) == len(printed) and len(blank) > 1:
        what = f"全部 {len(blank)} 个单元格为空白"
    else:
        what = f"{_names(names)} 为空白"
    return [Finding("cells.blank", "warning", "blank", blank, None, None,
                    f"{title}：{what}（空白不计为 0，请填写数字）")]


def _floor(check: Check, report: Report) -> list[Finding]:
    keys = check.cells
    vals = [report.value(k) for k in keys]
    if any(v is None for v in vals):
        return []
    issued, repealed, in_force = (_dec(v) for v in vals)
    floor = issued - repealed
    if in_force >= floor:
        return []
    i_k, r_k, f_k = keys
    msg = (f"表二“{row_label(report, f_k)}”：{col_label(report, f_k)} {_fmt(in_force)} 小于 "
           f"{col_label(report, i_k)} {_fmt(issued)} − {col_label(report, r_k)} {_fmt(repealed)}"
           f" = {_fmt(floor)}")
    return [Finding("proactive.in_force_floor", "warning", "violated", list(keys), _num(floor),
                    _num(in_force), msg)]


# ---------------------------------------------------------------------------------- CLI
def main(argv: Iterable[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tasks.validate",
                                description="Generate or check the GX suites in expectations/.")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--write-suites", action="store_true", help="rewrite expectations/*.json")
    g.add_argument("--check-suites", action="store_true",
                   help="exit 1 if expectations/*.json differ from the generated suites")
    args = p.parse_args(list(argv) if argv is not None else None)
    if args.write_suites:
        for path in write_suites():
            print(path)
        return 0
    stale = []
    for cross in (False, True):
        where = _suites_dir() / CROSS_DIR if cross else _suites_dir()
        stale += [where / f"{name}.json" for name, suite in build_suites(cross).items()
                  if not (where / f"{name}.json").exists()
                  or json.loads((where / f"{name}.json").read_text(encoding="utf-8")) != suite]
    for path in stale:
        print(f"out of date: {path.relative_to(_suites_dir().parent)}", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
