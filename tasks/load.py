"""Idempotent, transactional writes of a batch of files, reports and findings to DuckDB.

The warehouse is described in ``warehouse/README.md``. In short:

- ``open_warehouse(path)`` creates/migrates the schema (``warehouse/schema/NNN_*.sql``, recorded
  in ``schema_version``), refreshes the dimension tables (``regions``, ``spec_cells``) and
  (re)creates the views (``warehouse/models``). ``read_only=True`` only opens.
- ``load_batch(con, run, files, reports, findings)`` writes one batch in ONE transaction.
  Loading the same content again changes nothing in the core tables (``raw_source_files``,
  ``raw_reports``, ``raw_cells``, ``raw_findings``); a run's sightings go to
  ``raw_file_sightings`` and the run itself to ``raw_runs``.
- A file is identified by its content (sha256); its "slot" is the path where that content was
  first seen. New content at a path supersedes the current content there: the old report stays
  (``is_current = false``, ``superseded_by`` = new sha256), the new one is current.
- Same content, different extraction (a new ``EXTRACTOR_VERSION``, or any change in cells or
  metadata): the report row, its cells and its findings are replaced in place.
  Findings are replaced whenever the set given for a report differs from the stored one (e.g.
  a new rules version); a report in the batch with no entry in ``findings`` has none.

Bulk path: the cell frame (one row per report and cell, the columns of
:func:`tasks.model.cells_frame` plus bbox and labels) is handed to DuckDB as Arrow through the
PyCapsule stream interface, then moved with set-based SQL. No row-by-row inserts.
"""
from __future__ import annotations

import gc
import json
import math
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

import warehouse
from tasks import spec
from tasks.model import EXTRACTOR_VERSION, Finding, Report, SourceFile
from tasks.runlock import pause_point


@dataclass
class RunInfo:
    run_id: str                                   # Prefect flow run id or a uuid
    started: datetime | float | None = None       # datetime, or epoch seconds (time.time())
    finished: datetime | float | None = None
    inputs: list[str] = field(default_factory=list)           # files/folders given to the run
    counts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)   # seconds per stage
    extractor_version: str = EXTRACTOR_VERSION
    rules_version: str | None = None              # None: reports were not validated
    versions: dict[str, Any] = field(default_factory=dict)    # anything else worth keeping


@dataclass
class LoadStats:
    run_id: str
    files: int = 0                # distinct paths in the batch
    files_new: int = 0            # contents never seen before
    reports: int = 0              # reports in the batch
    reports_new: int = 0
    reports_replaced: int = 0     # same content, different extraction: replaced in place
    reports_unchanged: int = 0
    reports_superseded: int = 0   # earlier reports that stopped being current
    cells_written: int = 0
    findings_written: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)   # seconds per step


def _sql(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None) -> list[tuple]:
    """Execute and fetch everything (DuckDB 2 refuses other work while a result is pending)."""
    return con.execute(query, params or []).fetchall()


# ---------------------------------------------------------------------------------------------
# Opening and migrating
# ---------------------------------------------------------------------------------------------
def open_warehouse(path: str | Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the warehouse; unless read-only, create/migrate tables and (re)create the views."""
    path = str(path)
    if read_only:
        if path != ":memory:" and not Path(path).exists():
            raise FileNotFoundError(f"no warehouse at {path}")
        # the same limit: the roll-up marts over 10,000 reports peaked at ~640 MB with DuckDB's
        # default, ~320 MB with 256 MB (0.15 → 0.33 s a level)
        return duckdb.connect(path, read_only=True, config=duckdb_config(path))
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(path, config=duckdb_config(path))
    try:
        migrate(con)
        con.begin()
        try:
            _load_dimensions(con)
            create_models(con)
            con.commit()
        except BaseException:
            con.rollback()
            raise
    except BaseException:
        con.close()
        raise
    return con


def duckdb_config(path: str) -> dict[str, str]:
    """Settings of the warehouse's connections (the writer's and read-only ones: the roll-ups,
    reports, dashboards). DuckDB's default memory_limit is 80 % of the RAM and
    its buffer pool keeps what it used: a batch load of 2,000 reports grew the process by
    ~550 MB with it, ~440 MB with 256 MB (measured; joins, aggregates and sorts spill to
    `<warehouse>.tmp` beyond the limit). NIANBAO_DUCKDB_MEMORY overrides it ("" or "0": DuckDB's
    default); an in-memory warehouse has no spill folder and keeps the default."""
    limit = os.environ.get("NIANBAO_DUCKDB_MEMORY", DUCKDB_MEMORY_LIMIT).strip()
    if path == ":memory:" or limit in ("", "0"):
        return {}
    return {"memory_limit": limit}


DUCKDB_MEMORY_LIMIT = "256MB"


def migrate(con: duckdb.DuckDBPyConnection) -> list[int]:
    """Apply the schema files not applied yet, each in its own transaction. Returns versions."""
    _sql(con, """CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, checksum VARCHAR NOT NULL,
        applied_at TIMESTAMP NOT NULL)""")
    applied = {v: (n, c) for v, n, c in
               _sql(con, "SELECT version, name, checksum FROM schema_version")}
    done: list[int] = []
    for m in warehouse.migrations():
        if m.version in applied:
            if applied[m.version][1] != m.checksum:
                raise RuntimeError(
                    f"schema file {m.version:03d}_{m.name}.sql changed after it was applied to "
                    f"this warehouse; add a new NNN_*.sql migration instead of editing it")
            continue
        con.begin()
        try:
            _sql(con, m.sql)
            _sql(con, "INSERT INTO schema_version VALUES (?, ?, ?, ?)",
                        [m.version, m.name, m.checksum, _utc_naive(datetime.now(timezone.utc))])
            con.commit()
        except BaseException:
            con.rollback()
            raise
        done.append(m.version)
    return done


def create_models(con: duckdb.DuckDBPyConnection) -> list[str]:
    """(Re)create every view/macro of warehouse/models in dependency order; drop stale views."""
    models = warehouse.models()
    names = {m.name for m in models}
    stale = [r[0] for r in _sql(con,
        "SELECT view_name FROM duckdb_views() WHERE NOT internal AND "
        "(view_name LIKE 'stg\\_%' ESCAPE '\\' OR view_name LIKE 'mart\\_%' ESCAPE '\\')"
    ) if r[0] not in names]
    for v in stale:
        _sql(con, f"DROP VIEW IF EXISTS {v}")
    for m in models:
        _sql(con, m.create_sql())
    return [m.name for m in models]


def _load_dimensions(con: duckdb.DuckDBPyConnection) -> None:
    from tasks.regions import load_regions

    load_regions(con)
    rows = [(c.key, i, c.table, c.row_key, c.col_key, c.row_label, c.col_label, c.unit)
            for i, c in enumerate(spec.cells_2021())]
    have = _sql(con, "SELECT key, ordinal, \"table\", row_key, col_key, row_label, col_label, "
                       "unit FROM spec_cells ORDER BY ordinal")
    if have != rows:
        _sql(con, "DELETE FROM spec_cells")
        con.executemany("INSERT INTO spec_cells VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)


# ---------------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------------
class arrow_source:  # noqa: N801 - used like a function
    """Wrap a polars frame so DuckDB reads it through the Arrow PyCapsule stream interface.

    DuckDB's own polars/Arrow path needs pyarrow, which the project does not install.
    """

    def __init__(self, frame: pl.DataFrame):
        self.frame = frame

    def __arrow_c_stream__(self, requested_schema=None):
        return self.frame.__arrow_c_stream__(requested_schema)


LOAD_CELL_SCHEMA: dict[str, pl.DataType] = {
    "sha256": pl.Utf8, "key": pl.Utf8, "value": pl.Float64, "status": pl.Utf8,
    "page": pl.Int32, "line": pl.Int32, "grid_table": pl.Int32, "grid_row": pl.Int32,
    "grid_col": pl.Int32, "raw": pl.Utf8, "confidence": pl.Float64,
    "row_label": pl.Utf8, "col_label": pl.Utf8,
    "bbox_x0": pl.Float64, "bbox_top": pl.Float64, "bbox_x1": pl.Float64,
    "bbox_bottom": pl.Float64,
}


def load_cells_frame(reports: list[Report]) -> pl.DataFrame:
    """The long cell frame the load writes: :func:`tasks.model.cells_frame`'s columns (same
    names, types and values; tests/tasks/test_load.py checks it) plus row/col labels and bbox.

    Built from flat lists with the cyclic garbage collector paused (it would otherwise walk
    every cell of every report several times while the lists grow): 10,000 reports × 200
    cells take about 3.5 s of CPU here (cells_frame: 4.4 s, without labels and bbox). A
    list-typed bbox column alone would cost 20 s, so bbox comes as four float columns and
    becomes DOUBLE[] in SQL.

    The frame is built CELLS_CHUNK reports at a time: the flat Python lists (a float/str object
    per cell and column, several times the frame's own size) then never exist for a whole
    batch at once.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        parts = [_load_cells_frame(reports[i:i + CELLS_CHUNK])
                 for i in range(0, len(reports), CELLS_CHUNK)]
    finally:
        if was_enabled:
            gc.enable()
    if not parts:
        return _load_cells_frame([])
    return parts[0] if len(parts) == 1 else pl.concat(parts, rechunk=False)


CELLS_CHUNK = 250     # reports per piece of the cells frame (load_cells_frame)


def _load_cells_frame(reports: list[Report]) -> pl.DataFrame:
    sha: list[str] = []
    keys: list[str] = []
    values: list[float | None] = []
    status: list[str] = []
    conf: list[float | None] = []
    srcs: list = []
    for r in reports:
        s = r.sha256
        for k, c in r.cells.items():
            sha.append(s)
            keys.append(k)
            v = c.value
            values.append(None if v is None else float(v))
            status.append(str(c.status))
            conf.append(c.confidence)
            srcs.append(c.source)

    def attr(name: str) -> list:
        return [None if p is None else getattr(p, name) for p in srcs]

    def bbox(i: int) -> list:
        return [None if p is None or p.bbox is None else p.bbox[i] for p in srcs]

    cols = {
        "sha256": sha, "key": keys, "value": values, "status": status,
        "page": attr("page"), "line": attr("line"), "grid_table": attr("table"),
        "grid_row": attr("row"), "grid_col": attr("col"), "raw": attr("text"),
        "confidence": conf, "row_label": attr("row_label"), "col_label": attr("col_label"),
        "bbox_x0": bbox(0), "bbox_top": bbox(1), "bbox_x1": bbox(2), "bbox_bottom": bbox(3),
    }
    frame = pl.DataFrame(cols, schema=LOAD_CELL_SCHEMA)
    parts = pl.col("key").str.split_exact(".", 2)
    return frame.with_columns(
        parts.struct.field("field_0").alias("table"),
        parts.struct.field("field_1").alias("row_key"),
        parts.struct.field("field_2").alias("col_key"),
    )


def _utc_naive(d: datetime | float | None) -> datetime | None:
    if isinstance(d, (int, float)):
        d = datetime.fromtimestamp(d, tz=timezone.utc)
    if d is None or d.tzinfo is None:
        return d
    return d.astimezone(timezone.utc).replace(tzinfo=None)


def _json_default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return int(o) if o == o.to_integral_value() else float(o)
    if isinstance(o, (set, frozenset, tuple)):
        return sorted(o) if isinstance(o, (set, frozenset)) else list(o)
    if isinstance(o, datetime):
        return o.isoformat()
    if hasattr(o, "as_dict"):
        return o.as_dict()
    return str(o)


def _json(o: Any) -> str | None:
    if o is None:
        return None
    return json.dumps(o, ensure_ascii=False, sort_keys=True, default=_json_default)


def _files_frame(files: list[SourceFile]) -> pl.DataFrame:
    return pl.DataFrame(
        {"path": [f.path for f in files], "sha256": [f.sha256 for f in files],
         "size": [f.size for f in files], "format": [f.format for f in files],
         "status": [f.status for f in files], "error_code": [f.error_code for f in files],
         "error_message": [f.error_message for f in files]},
        schema={"path": pl.Utf8, "sha256": pl.Utf8, "size": pl.Int64, "format": pl.Utf8,
                "status": pl.Utf8, "error_code": pl.Utf8, "error_message": pl.Utf8})


def _reports_frame(reports: list[Report], run: RunInfo) -> pl.DataFrame:
    rows = {
        "sha256": [r.sha256 for r in reports],
        "file": [r.file for r in reports],
        "format": [r.format for r in reports],
        "format_version": [r.format_version for r in reports],
        "agency": [r.agency for r in reports],
        "agency_source": [(r.meta or {}).get("agency_source") for r in reports],
        "year": [r.year for r in reports],
        "region_code": [r.region_code for r in reports],
        "warnings": [_json([w.as_dict() for w in r.warnings]) for r in reports],
        "tables_found": [_json(list(r.tables_found)) for r in reports],
        "meta": [_json(r.meta or {}) for r in reports],
    }
    schema = {k: pl.Utf8 for k in rows}
    schema["year"] = pl.Int32
    frame = pl.DataFrame(rows, schema=schema)
    return frame.with_columns(pl.lit(run.extractor_version, pl.Utf8).alias("extractor_version"),
                              pl.lit(run.rules_version, pl.Utf8).alias("rules_version"))


def _findings_frame(reports: list[Report], findings: dict[str, list[Finding]],
                    run: RunInfo) -> pl.DataFrame:
    cols: dict[str, list] = {k: [] for k in ("sha256", "seq", "rule", "severity", "kind",
                                             "cells", "expected", "actual", "message")}
    for r in reports:
        for i, f in enumerate(findings.get(r.sha256, [])):
            cols["sha256"].append(r.sha256)
            cols["seq"].append(i)
            cols["rule"].append(f.rule)
            cols["severity"].append(f.severity)
            cols["kind"].append(f.kind)
            cols["cells"].append(_json(list(f.cells)))
            cols["expected"].append(_json(f.expected))
            cols["actual"].append(_json(f.actual))
            cols["message"].append(f.message)
    schema = {k: pl.Utf8 for k in cols}
    schema["seq"] = pl.Int32
    frame = pl.DataFrame(cols, schema=schema)
    return frame.with_columns(pl.lit(run.rules_version, pl.Utf8).alias("rules_version"))


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------
_REPORT_COLS = ("file", "format", "format_version", "agency", "agency_source", "year",
                "region_code", "extractor_version", "rules_version", "warnings",
                "tables_found", "meta")
_CELL_COLS = ("sha256", "key", '"table"', "row_key", "col_key", "value", "status", "page",
              "line", "grid_table", "grid_row", "grid_col", "bbox", "raw_text", "row_label",
              "col_label", "confidence")
_FINDING_COLS = ("sha256", "seq", "rule", "severity", "kind", "cells", "expected", "actual",
                 "message", "rules_version")


def _prepare(files: list[SourceFile], reports: list[Report],
             findings: dict[str, list[Finding]]) -> tuple[list[SourceFile], list[Report]]:
    """Check the batch's contract and drop duplicates (the last entry per path / sha256 wins)."""
    by_path: dict[str, SourceFile] = {}
    for f in files:
        by_path.pop(f.path, None)
        by_path[f.path] = f
    files = list(by_path.values())
    by_sha: dict[str, Report] = {}
    for r in reports:
        by_sha.pop(r.sha256, None)
        by_sha[r.sha256] = r
    reports = list(by_sha.values())
    shas = {f.sha256 for f in files}
    missing = [r.sha256 for r in reports if r.sha256 not in shas]
    if missing:
        raise ValueError(f"reports without a SourceFile in the batch: {missing[:5]}")
    stray = [s for s in findings if s not in by_sha and findings[s]]
    if stray:
        raise ValueError(f"findings for reports not in the batch: {stray[:5]}")
    ext = set(external_rules())
    foreign = sorted({f.rule for fs in findings.values() for f in fs if f.rule in ext})
    if foreign:
        raise ValueError(f"findings of rules written by tasks.crosscheck, not by the load: "
                         f"{foreign}")
    return files, reports


LOAD_MEMORY_LIMIT = "64MB"     # DuckDB's memory_limit while a batch is written (load_batch)


def load_batch(con: duckdb.DuckDBPyConnection, run: RunInfo, files: list[SourceFile],
               reports: list[Report], findings: dict[str, list[Finding]]) -> LoadStats:
    """Write one batch in one transaction (ROLLBACK on any exception: no half state).

    A file-backed warehouse writes the batch with DuckDB's memory_limit lowered to
    LOAD_MEMORY_LIMIT (its buffer pool keeps what it used, and the flow process's peak is
    that of a batch load: ~100 MB less than with 256 MB for 1,000 reports, at the same speed;
    the rest spills to `<warehouse>.tmp`). Should DuckDB still run out of memory (a huge
    batch of replaced reports), the transaction is rolled back and the batch written again
    with the connection's own limit."""
    lowered = _lower_memory_limit(con, LOAD_MEMORY_LIMIT)
    if lowered is None:
        return _load_batch(con, run, files, reports, findings)
    try:
        return _load_batch(con, run, files, reports, findings)
    except duckdb.OutOfMemoryException:
        _set_memory_limit(con, lowered)
        lowered = None
        return _load_batch(con, run, files, reports, findings)
    finally:
        if lowered is not None:
            _set_memory_limit(con, lowered)


def _lower_memory_limit(con: duckdb.DuckDBPyConnection, limit: str) -> str | None:
    """Lower memory_limit to `limit` on a file-backed database whose limit is higher; returns
    the limit to restore (None: nothing changed)."""
    path = con.execute("SELECT path FROM duckdb_databases() "
                       "WHERE database_name = current_database()").fetchall()
    if not path or not path[0][0]:
        return None                  # in memory: nowhere to spill
    before = memory_limit(con)
    try:
        _set_memory_limit(con, limit)
    except duckdb.OutOfMemoryException:   # more than that in use right now: leave it
        return None
    now = memory_limit(con)
    # DuckDB shows the limit rounded down to 0.1 of its unit: restore a hair above that
    restore = f"{math.ceil(_mib(before) * 2**20) + 1024} bytes"
    if _mib(now) >= _mib(before):    # already as low (NIANBAO_DUCKDB_MEMORY): keep it
        _set_memory_limit(con, restore)
        return None
    return restore


def memory_limit(con: duckdb.DuckDBPyConnection) -> str:
    """The connection's memory_limit as DuckDB shows it ('244.1 MiB')."""
    return con.execute("SELECT value FROM duckdb_settings() "
                       "WHERE name = 'memory_limit'").fetchall()[0][0]


def _set_memory_limit(con: duckdb.DuckDBPyConnection, limit: str) -> None:
    con.execute(f"SET memory_limit = '{limit}'")


def _mib(setting: str) -> float:
    """DuckDB's display of a size ('244.1 MiB', '1.5 GiB') in MiB."""
    num, _, unit = setting.strip().partition(" ")
    scale = {"bytes": 2**-20, "KiB": 2**-10, "MiB": 1, "GiB": 2**10, "TiB": 2**20}
    try:
        return float(num) * scale.get(unit.strip(), 1)
    except ValueError:
        return float("inf")


def _load_batch(con: duckdb.DuckDBPyConnection, run: RunInfo, files: list[SourceFile],
                reports: list[Report], findings: dict[str, list[Finding]]) -> LoadStats:
    t0 = time.perf_counter()
    files, reports = _prepare(files, reports, findings or {})
    stats = LoadStats(run.run_id, files=len(files), reports=len(reports))
    frames = {
        "_in_files": _files_frame(files),
        "_in_reports": _reports_frame(reports, run),
        "_in_findings": _findings_frame(reports, findings or {}, run),
    }
    clock = time.perf_counter()
    stats.timings["frames"] = clock - t0

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stats.timings[step] = now - clock
        clock = now

    con.begin()
    try:
        for name, frame in frames.items():
            con.register(name, arrow_source(frame))
        _write_run(con, run)
        _write_files(con, run, stats)
        lap("files")
        _write_reports(con, run, stats)
        lap("reports")
        _write_cells(con, run, stats, reports)
        lap("cells")
        _write_findings(con, stats)
        lap("findings")
        _update_current(con, stats)
        _drop_staging(con)
        lap("current")
        pause_point("load")        # test-only hook (tasks/runlock.py): a no-op in real runs
        con.commit()
        lap("commit")
    except BaseException:
        try:
            con.rollback()
        except duckdb.Error:      # already aborted / closed: keep the original error
            pass
        raise
    finally:
        for name in [*frames, "_in_cells"]:
            try:
                con.unregister(name)
            except duckdb.Error:
                pass
    stats.seconds = time.perf_counter() - t0
    return stats


def _write_run(con: duckdb.DuckDBPyConnection, run: RunInfo) -> None:
    # an upsert of these columns only: columns other modules add to raw_runs (status) keep
    # their values, which INSERT OR REPLACE would reset to their defaults
    cols = ("started", "finished", "inputs", "counts", "timings", "extractor_version",
            "rules_version", "versions")
    _sql(con,
        f"INSERT INTO raw_runs (run_id, {', '.join(cols)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
        f"ON CONFLICT (run_id) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in cols),
        [run.run_id, _utc_naive(run.started), _utc_naive(run.finished),
         _json(list(run.inputs)), _json(run.counts),
         _json(run.timings), run.extractor_version, run.rules_version, _json(run.versions)])


def _write_files(con: duckdb.DuckDBPyConnection, run: RunInfo, stats: LoadStats) -> None:
    # first path wins for a content seen at several paths in one batch
    _sql(con, """CREATE TEMP TABLE _stage_files AS
        SELECT * FROM _in_files QUALIFY row_number() OVER (PARTITION BY sha256 ORDER BY path) = 1""")
    stats.files_new = _sql(con,
        "SELECT count(*) FROM _stage_files WHERE sha256 NOT IN (SELECT sha256 FROM "
        "raw_source_files)")[0][0]
    _sql(con, """INSERT INTO raw_source_files
        (sha256, path, size, format, status, error_code, error_message, first_seen_run,
         is_current, superseded_by)
        SELECT sha256, path, size, format, status, error_code, error_message, ?, true, NULL
        FROM _stage_files WHERE sha256 NOT IN (SELECT sha256 FROM raw_source_files)""",
                [run.run_id])
    # same content read differently now (e.g. unreadable before, readable with a new extractor)
    _sql(con, """UPDATE raw_source_files AS f SET
            size = s.size, format = s.format, status = s.status, error_code = s.error_code,
            error_message = s.error_message
        FROM _stage_files AS s
        WHERE f.sha256 = s.sha256 AND (
            f.size IS DISTINCT FROM s.size OR f.format IS DISTINCT FROM s.format
            OR f.status IS DISTINCT FROM s.status OR f.error_code IS DISTINCT FROM s.error_code
            OR f.error_message IS DISTINCT FROM s.error_message)""")
    _sql(con, """INSERT INTO raw_file_sightings (run_id, path, sha256)
        SELECT ?, path, sha256 FROM _in_files
        ON CONFLICT (run_id, path) DO UPDATE SET sha256 = excluded.sha256""", [run.run_id])


def _write_reports(con: duckdb.DuckDBPyConnection, run: RunInfo, stats: LoadStats) -> None:
    cols = ", ".join(_REPORT_COLS)
    _sql(con, f"""CREATE TEMP TABLE _stage_reports AS
        SELECT sha256, {cols} FROM _in_reports""")
    _sql(con, """CREATE TEMP TABLE _stage_new AS
        SELECT sha256 FROM _stage_reports WHERE sha256 NOT IN (SELECT sha256 FROM raw_reports)""")
    # `file` stays the first path (the same content seen elsewhere is the same report);
    # rules_version is the findings' business (_write_findings)
    differs = " OR ".join(f"r.{c} IS DISTINCT FROM s.{c}" for c in _REPORT_COLS
                          if c not in ("file", "rules_version"))
    # existing reports whose metadata changed: marked for replacement in place
    _sql(con, f"""CREATE TEMP TABLE _stage_replace AS
        SELECT s.sha256 FROM _stage_reports AS s JOIN raw_reports AS r USING (sha256)
        WHERE {differs}""")
    _sql(con, f"""INSERT INTO raw_reports (sha256, {cols}, is_current, superseded_by,
                                             loaded_run)
        SELECT sha256, {cols}, true, NULL, ? FROM _stage_reports
        WHERE sha256 IN (SELECT sha256 FROM _stage_new)""", [run.run_id])
    stats.reports_new = _sql(con, "SELECT count(*) FROM _stage_new")[0][0]


def _cell_select(src: str) -> str:
    """The staged cells typed like raw_cells."""
    return f"""SELECT sha256, key, "table", row_key, col_key,
            CAST(value AS DECIMAL(18, 4)) AS value, status, page, line, grid_table, grid_row,
            grid_col,
            CASE WHEN bbox_x0 IS NULL THEN NULL
                 ELSE [bbox_x0, bbox_top, bbox_x1, bbox_bottom]::DOUBLE[] END AS bbox,
            raw AS raw_text, row_label, col_label, confidence
        FROM {src}"""


def _fingerprint(src: str, keep: str) -> str:
    """Per report in table `keep`: number of cells and an order-independent hash of all their
    columns. (Semi joins, not `IN (subquery)`: the latter is several times slower here.)"""
    cols = ", ".join(f"c.{c}" for c in _CELL_COLS[1:])
    return f"""SELECT c.sha256, count(*) AS n, bit_xor(hash({cols})) AS h
        FROM ({src}) AS c SEMI JOIN {keep} AS k ON c.sha256 = k.sha256
        GROUP BY c.sha256"""


def _cell_parts(con: duckdb.DuckDBPyConnection, reports: list[Report]):
    """The cells of `reports`, CELLS_CHUNK reports at a time, each piece registered as the
    view `_in_cells` while the caller uses it: the load never holds a whole batch's cell
    frame (1,000 reports: ~56 MB, ~100 MB of RSS while it is built; measured)."""
    for i in range(0, len(reports), CELLS_CHUNK):
        frame = load_cells_frame(reports[i:i + CELLS_CHUNK])
        con.register("_in_cells", arrow_source(frame))
        try:
            yield
        finally:
            try:
                con.unregister("_in_cells")
            except duckdb.Error:      # an aborted transaction: unregistered after the rollback
                pass
            del frame


def _write_cells(con: duckdb.DuckDBPyConnection, run: RunInfo, stats: LoadStats,
                 reports: list[Report]) -> None:
    cols = ", ".join(_CELL_COLS)
    qcols = ", ".join(f"c.{c}" for c in _CELL_COLS)
    staged = _cell_select("_in_cells")
    # existing reports whose cells differ in any way are replaced in place (with their metadata):
    # their new cells' fingerprints, piece by piece (a report is never split between pieces)
    _sql(con, """CREATE TEMP TABLE _stage_old AS
        SELECT sha256 FROM _stage_reports WHERE sha256 NOT IN (SELECT sha256 FROM _stage_new)""")
    old = {r[0] for r in _sql(con, "SELECT sha256 FROM _stage_old")}
    _sql(con, "CREATE TEMP TABLE _stage_fp (sha256 VARCHAR, n BIGINT, h UBIGINT)")
    for _ in _cell_parts(con, [r for r in reports if r.sha256 in old]):
        _sql(con, f"INSERT INTO _stage_fp {_fingerprint(staged, '_stage_old')}")
    _sql(con, f"""INSERT INTO _stage_replace
        SELECT o.sha256
        FROM _stage_old AS o
        LEFT JOIN _stage_fp AS a USING (sha256)
        LEFT JOIN ({_fingerprint("SELECT * FROM raw_cells", "_stage_old")}) AS b USING (sha256)
        WHERE (a.n IS DISTINCT FROM b.n OR a.h IS DISTINCT FROM b.h)
          AND o.sha256 NOT IN (SELECT sha256 FROM _stage_replace)""")
    _sql(con, """DELETE FROM raw_cells USING _stage_replace AS r
        WHERE raw_cells.sha256 = r.sha256""")
    sets = ", ".join(f"{c} = s.{c}" for c in _REPORT_COLS if c != "file")
    _sql(con, f"""UPDATE raw_reports AS r SET {sets}, loaded_run = ?
        FROM _stage_reports AS s
        WHERE r.sha256 = s.sha256 AND s.sha256 IN (SELECT sha256 FROM _stage_replace)""",
         [run.run_id])
    _sql(con, """CREATE TEMP TABLE _stage_write AS
        SELECT sha256 FROM _stage_new UNION ALL SELECT sha256 FROM _stage_replace""")
    write = {r[0] for r in _sql(con, "SELECT sha256 FROM _stage_write")}
    stats.cells_written = 0
    for _ in _cell_parts(con, [r for r in reports if r.sha256 in write]):
        stats.cells_written += _sql(con, f"""INSERT INTO raw_cells ({cols})
            SELECT {qcols} FROM ({staged}) AS c""")[0][0]
    # the key (sha256, key) is unique: checked here, not by an index (see 005_raw_cells.sql)
    dup = _sql(con, """SELECT c.sha256, c.key FROM raw_cells AS c
        SEMI JOIN _stage_write AS w ON c.sha256 = w.sha256
        GROUP BY c.sha256, c.key HAVING count(*) > 1 LIMIT 1""")
    if dup:
        raise duckdb.ConstraintException(f"duplicate cell {dup[0][1]} in report {dup[0][0]}")
    stats.reports_replaced = _sql(con, "SELECT count(*) FROM _stage_replace")[0][0]
    stats.reports_unchanged = stats.reports - stats.reports_new - stats.reports_replaced


@cache
def external_rules() -> tuple[str, ...]:
    """Rules whose findings another module writes after the load (tasks.crosscheck's
    cross-report rules): the load never passes, deletes or compares them."""
    try:
        from tasks.crosscheck import CROSS_RULES
    except ImportError:      # pragma: no cover - module absent
        return ()
    return tuple(sorted(CROSS_RULES))


def _write_findings(con: duckdb.DuckDBPyConnection, stats: LoadStats) -> None:
    cols = ", ".join(_FINDING_COLS)
    ext = external_rules()
    _sql(con, "CREATE TEMP TABLE _stage_ext AS SELECT unnest(?::VARCHAR[]) AS rule", [list(ext)])
    _sql(con, """CREATE TEMP TABLE _stage_findings AS
        SELECT sha256, seq, rule, severity, kind, CAST(cells AS JSON) AS cells,
               CAST(expected AS JSON) AS expected, CAST(actual AS JSON) AS actual, message,
               rules_version
        FROM _in_findings""")
    # the batch's reports' own findings as stored (external ones left out)
    _sql(con, f"""CREATE TEMP TABLE _stage_stored AS
        SELECT {cols} FROM raw_findings AS f
        WHERE sha256 IN (SELECT sha256 FROM _stage_reports)
          AND rule NOT IN (SELECT rule FROM _stage_ext)""")
    # reports of the batch whose set of findings differs from the stored one
    _sql(con, f"""CREATE TEMP TABLE _stage_refind AS
        SELECT DISTINCT sha256 FROM (
            (SELECT {cols} FROM _stage_findings EXCEPT SELECT {cols} FROM _stage_stored)
            UNION ALL
            (SELECT {cols} FROM _stage_stored EXCEPT SELECT {cols} FROM _stage_findings))""")
    # external findings of those reports are kept, renumbered after the new own findings
    _sql(con, """CREATE TEMP TABLE _stage_keep AS
        SELECT f.* FROM raw_findings AS f
        WHERE f.sha256 IN (SELECT sha256 FROM _stage_refind)
          AND f.rule IN (SELECT rule FROM _stage_ext)""")
    _sql(con, "DELETE FROM raw_findings WHERE sha256 IN (SELECT sha256 FROM _stage_refind)")
    _sql(con, f"""INSERT INTO raw_findings ({cols})
        SELECT {cols} FROM _stage_findings WHERE sha256 IN (SELECT sha256 FROM _stage_refind)""")
    _sql(con, f"""INSERT INTO raw_findings ({cols})
        SELECT k.sha256,
               coalesce(n.n, 0) + row_number() OVER (PARTITION BY k.sha256 ORDER BY k.seq) - 1,
               k.rule, k.severity, k.kind, k.cells, k.expected, k.actual, k.message,
               k.rules_version
        FROM _stage_keep AS k
        LEFT JOIN (SELECT sha256, count(*) AS n FROM _stage_findings GROUP BY sha256) AS n
               USING (sha256)""")
    stats.findings_written = _sql(con,
        "SELECT count(*) FROM _stage_findings WHERE sha256 IN (SELECT sha256 FROM "
        "_stage_refind)")[0][0]
    # the rules version of a report's findings follows its latest validation
    _sql(con, """UPDATE raw_reports AS r SET rules_version = s.rules_version
        FROM _stage_reports AS s
        WHERE r.sha256 = s.sha256 AND r.rules_version IS DISTINCT FROM s.rules_version""")


def _update_current(con: duckdb.DuckDBPyConnection, stats: LoadStats) -> None:
    # new content at a path supersedes whatever was current at that path
    _sql(con, """UPDATE raw_source_files AS f SET is_current = false, superseded_by = i.sha256
        FROM _in_files AS i
        WHERE f.path = i.path AND f.sha256 <> i.sha256 AND f.is_current""")
    _sql(con, """UPDATE raw_source_files SET is_current = true, superseded_by = NULL
        WHERE sha256 IN (SELECT sha256 FROM _in_files)
          AND (NOT is_current OR superseded_by IS NOT NULL)""")
    # a report is current exactly when its file content is (supersession follows the file's
    # path, so a report's own `file` spelling does not matter)
    stats.reports_superseded = _sql(con, """SELECT count(*) FROM raw_reports AS r
        JOIN raw_source_files AS f USING (sha256)
        WHERE r.is_current AND NOT f.is_current""")[0][0]
    _sql(con, """UPDATE raw_reports AS r
        SET is_current = f.is_current, superseded_by = f.superseded_by
        FROM raw_source_files AS f
        WHERE f.sha256 = r.sha256 AND (r.is_current IS DISTINCT FROM f.is_current
                                       OR r.superseded_by IS DISTINCT FROM f.superseded_by)""")


def _drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    for t in ("_stage_files", "_stage_reports", "_stage_new", "_stage_replace", "_stage_old",
              "_stage_fp",
              "_stage_write", "_stage_findings", "_stage_refind", "_stage_ext", "_stage_stored",
              "_stage_keep"):
        _sql(con, f"DROP TABLE IF EXISTS {t}")
