"""Incremental runs: what a run must (re-)process, and the run's bookkeeping in the warehouse.

A file is identified by its content (sha256). For every input file a run decides (`make_plan`):

- **extract**: content never seen, or seen but extracted by another ``EXTRACTOR_VERSION`` or in
  another extraction context (the manifest row that applies to it, the province hint), or
  ``full=True``. It goes through extract → validate → load.
- **revalidate**: content extracted by this extractor in this context, but its findings come
  from another rules version (:func:`rules_version`). Its report is read back from the
  warehouse (:func:`reports_from_warehouse`, no re-extraction), validated and loaded.
- **unchanged**: everything up to date. Only its sighting is recorded (load_batch with its
  SourceFile as stored and no report): no extraction, no validation.

How each content was processed is kept in ``raw_processing`` (:func:`record_processing`, after
its batch is committed: a failure in between only makes the next run redo that batch).
A complete run over folders marks the contents it no longer finds there as withdrawn
(:func:`finish_run`): they stop being current, nothing is deleted.

Pure logic and DuckDB only (no Prefect).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import duckdb

from tasks.model import Cell, Provenance, Report, SourceFile, Status, Warning_

HASH_CHUNK = 1 << 20


def _sql(con: duckdb.DuckDBPyConnection, query: str, params: list | None = None) -> list[tuple]:
    """Execute and fetch everything (DuckDB 2 refuses other work while a result is pending)."""
    return con.execute(query, params or []).fetchall()


# ---------------------------------------------------------------------------- versions
@cache
def rules_version() -> str:
    """The version of the validation rules: ``tasks.validate.RULES_VERSION`` when it defines one,
    plus a digest of the GX suites on disk (expectations/, cross-report suites included) and of
    tasks/validate.py and tasks/crosscheck.py (which turn failing rows into findings and
    messages). Any change there re-validates every report once."""
    import expectations
    from tasks import validate

    h = hashlib.sha256()
    h.update(str(getattr(validate, "RULES_VERSION", "")).encode())
    root = Path(expectations.SUITES_DIR)
    for p in sorted(root.rglob("*.json")):
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    h.update(Path(validate.__file__).read_bytes())
    cross = Path(validate.__file__).with_name("crosscheck.py")
    if cross.exists():
        h.update(cross.read_bytes())
    base = str(getattr(validate, "RULES_VERSION", "") or "gx")
    return f"{base}+{h.hexdigest()[:12]}"


def extract_context(path: str, manifest: dict | None, province_hint: str | None) -> str:
    """Digest of what besides the bytes and the extractor shapes a file's report: the manifest
    row that applies to it (looked up like tasks.extract does) and the province hint."""
    row = None
    if manifest:
        row = manifest.get(path) or manifest.get(Path(path).name)
    key = json.dumps([None if row is None else [row.agency, row.year, row.region_code],
                      province_hint or None], ensure_ascii=False)
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


# ------------------------------------------------------------------------------ hashing
@dataclass(slots=True)
class FileEntry:
    path: str
    sha256: str | None      # None: could not be read now (extraction records the error)
    size: int | None


def hash_file(path: str) -> FileEntry:
    h = hashlib.sha256()
    n = 0
    try:
        with open(path, "rb", buffering=0) as f:
            while True:
                b = f.read(HASH_CHUNK)
                if not b:
                    break
                h.update(b)
                n += len(b)
    except OSError:
        return FileEntry(path, None, None)
    return FileEntry(path, h.hexdigest(), n)


# ---------------------------------------------------------------------- the stat cache
# Like git's index: the sha256 of a file is re-used while its stat is the one it had when it was
# hashed. The rule (the same bargain git makes):
#
# - A cached digest is trusted only if the file's size, mtime_ns, ctime_ns and inode all equal
#   the recorded ones. Any edit through the file system changes mtime and ctime; putting mtime
#   back (touch -d, os.utime, cp -p, rsync -t) still changes ctime, which no user call can set;
#   a file replaced by a rename has another inode. So on Linux/POSIX local file systems an edit
#   is caught even with the same size and a reset mtime.
# - "Racily clean" entries are not trusted: a file whose mtime or ctime lies within RACY_NS of
#   the moment its scan started may have been changed again within the same timestamp tick
#   after it was read (coarse clocks, 2 s on FAT). Such entries are hashed again next time.
# - Not caught: changes that leave all four equal — a system clock set back while editing,
#   file systems with fake or coarse ctime/inodes (some network or FUSE mounts), raw writes to
#   the block device. `nianbao run --rehash` (and `--full`) ignores the cache and hashes every
#   file; the cache is then rewritten from what was read.
#
# The cache lives beside the warehouse (`<warehouse>.hashes`, JSON); it maps files to content
# digests only, so it is valid for any warehouse and is never needed for correctness of the
# warehouse itself (deleting it only costs one full hashing).
STAT_CACHE_VERSION = 1
RACY_NS = 2_000_000_000


def stat_cache_path(warehouse: str | os.PathLike) -> Path | None:
    """Where the stat cache of `warehouse` lives (None for an in-memory warehouse)."""
    w = str(warehouse)
    return None if w == ":memory:" else Path(w + ".hashes")


def _stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def load_stat_cache(path: str | os.PathLike | None) -> dict[str, tuple]:
    """path → (size, mtime_ns, ctime_ns, inode, sha256); {} when missing or unreadable (a
    damaged cache only means hashing again)."""
    if path is None:
        return {}
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
        if data.get("version") != STAT_CACHE_VERSION:
            return {}
        return {e[0]: tuple(e[1:6]) for e in data["entries"]
                if isinstance(e, list) and len(e) == 6}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def save_stat_cache(path: str | os.PathLike, entries: dict[str, tuple]) -> None:
    """Write the cache atomically (a temporary name renamed over the old one)."""
    from tasks.atomic import write_bytes

    data = {"version": STAT_CACHE_VERSION,
            "entries": [[p, *v] for p, v in sorted(entries.items())]}
    write_bytes(path, json.dumps(data, separators=(",", ":")).encode("utf-8"))


@dataclass
class HashStats:
    files: int = 0
    hashed: int = 0          # read and hashed this time
    cached: int = 0          # digest taken from the stat cache


def hash_files(paths: Iterable[str | os.PathLike], cache: str | os.PathLike | None = None,
               rehash: bool = False, stats: HashStats | None = None,
               racy_ns: int = RACY_NS) -> list[FileEntry]:
    """sha256 of every file. With `cache` (see the stat-cache rule above) a file whose stat is
    unchanged since it was hashed is not read again, and the cache is updated afterwards:
    entries of files hashed now, plus older entries of files outside this scan that still exist.
    `rehash=True` ignores the cached digests (and rewrites the cache)."""
    stats = stats if stats is not None else HashStats()
    if cache is None:
        out = [hash_file(str(p)) for p in paths]
        stats.files = stats.hashed = len(out)
        return out
    scan_start = time.time_ns()
    old = {} if rehash else load_stat_cache(cache)
    fresh: dict[str, tuple] = {}
    out: list[FileEntry] = []
    limit = scan_start - racy_ns
    for p in paths:
        p = str(p)
        try:
            st = os.stat(p)
        except OSError:
            out.append(FileEntry(p, None, None))
            continue
        key = _stat_key(st)
        hit = old.get(p)
        if hit is not None and tuple(hit[:4]) == key:
            out.append(FileEntry(p, hit[4], st.st_size))
            fresh[p] = hit
            stats.cached += 1
            continue
        e = hash_file(p)
        out.append(e)
        stats.hashed += 1
        if e.sha256 is not None and max(st.st_mtime_ns, st.st_ctime_ns) < limit:
            try:
                after = _stat_key(os.stat(p))
            except OSError:
                continue
            if after == key and e.size == st.st_size:     # not changed while it was read
                fresh[p] = (*key, e.sha256)
    stats.files = len(out)
    scanned = {e.path for e in out}
    for p, v in old.items():         # files of other inputs: kept while they exist
        if p not in scanned and os.path.lexists(p):
            fresh[p] = v
    if fresh != old:
        try:
            save_stat_cache(cache, fresh)
        except OSError:
            pass        # the cache is an optimisation: a read-only folder only costs hashing
    return out


# ------------------------------------------------------------------------- known content
@dataclass(slots=True)
class Known:
    """A content as the warehouse has it."""
    sha256: str
    size: int | None
    format: str | None
    status: str
    error_code: str | None
    error_message: str | None
    has_report: bool
    extractor_version: str | None     # from raw_processing; None: not recorded
    extract_context: str | None
    rules_version: str | None         # of the stored findings (raw_reports.rules_version)


def known_files(con: duckdb.DuckDBPyConnection, shas: Sequence[str]) -> dict[str, Known]:
    """What the warehouse knows about these contents: one query."""
    shas = sorted({s for s in shas if s})
    if not shas:
        return {}
    rows = con.execute("""
        SELECT f.sha256, f.size, f.format, f.status, f.error_code, f.error_message,
               r.sha256 IS NOT NULL, p.extractor_version, p.extract_context, r.rules_version
        FROM raw_source_files AS f
        LEFT JOIN raw_reports AS r USING (sha256)
        LEFT JOIN raw_processing AS p USING (sha256)
        WHERE f.sha256 IN (SELECT unnest(?::VARCHAR[]))""", [shas]).fetchall()
    return {r[0]: Known(*r) for r in rows}


# --------------------------------------------------------------------------------- plan
@dataclass
class Plan:
    extract: list[FileEntry] = field(default_factory=list)
    revalidate: list[SourceFile] = field(default_factory=list)   # as stored, at today's path
    unchanged: list[SourceFile] = field(default_factory=list)    # as stored, at today's path
    reasons: Counter = field(default_factory=Counter)             # why files are extracted

    @property
    def total(self) -> int:
        return len(self.extract) + len(self.revalidate) + len(self.unchanged)


def _stored_source(path: str, k: Known) -> SourceFile:
    return SourceFile(path=path, sha256=k.sha256, size=k.size, format=k.format, status=k.status,
                      error_code=k.error_code, error_message=k.error_message)


def make_plan(entries: Sequence[FileEntry], known: dict[str, Known], contexts: dict[str, str],
              rules: str, full: bool = False, extractor_version: str | None = None) -> Plan:
    """Sort the files of a run into extract / revalidate / unchanged (see the module doc).
    `extractor_version` defaults to tasks.model.EXTRACTOR_VERSION."""
    from tasks import model

    extractor_version = extractor_version or model.EXTRACTOR_VERSION
    plan = Plan()
    for e in entries:
        k = known.get(e.sha256) if e.sha256 else None
        reason = None
        if full:
            reason = "full"
        elif e.sha256 is None:
            reason = "unreadable"
        elif k is None:
            reason = "new"
        elif k.extractor_version is None:
            reason = "unrecorded"
        elif k.extractor_version != extractor_version:
            reason = "extractor_version"
        elif k.extract_context != contexts.get(e.path):
            reason = "context"
        elif k.status == "ok" and not k.has_report:
            reason = "no_report"
        if reason is not None:
            plan.extract.append(e)
            plan.reasons[reason] += 1
        elif k.has_report and k.rules_version != rules:
            plan.revalidate.append(_stored_source(e.path, k))
        else:
            plan.unchanged.append(_stored_source(e.path, k))
    return plan


# ------------------------------------------------------------------- reports read back
def _value(v: Decimal | None) -> int | Decimal | None:
    if v is None:
        return None
    if v == v.to_integral_value():
        return int(v)
    return v.normalize()


def _loads(s: str | None, default: Any) -> Any:
    return default if s is None else json.loads(s)


def reports_from_warehouse(con: duckdb.DuckDBPyConnection, shas: Sequence[str]) -> list[Report]:
    """The stored reports with their cells, status and provenance as extracted (what validation
    needs, labels as printed included), in the order of `shas` (unknown ones are left out)."""
    shas = list(dict.fromkeys(shas))
    if not shas:
        return []
    param = [shas]
    meta = con.execute("""
        SELECT sha256, file, format, format_version, agency, year, region_code, warnings,
               tables_found, meta
        FROM raw_reports WHERE sha256 IN (SELECT unnest(?::VARCHAR[]))""", param).fetchall()
    reports: dict[str, Report] = {}
    for sha, file, fmt, fv, agency, year, region, warnings, tables, m in meta:
        r = Report(file=file, sha256=sha, format=fmt, format_version=fv, agency=agency,
                   year=year, region_code=region,
                   tables_found=list(_loads(tables, [])), meta=dict(_loads(m, {})))
        r.warnings = [Warning_(w["code"], w["message"], list(w.get("cells") or []))
                      for w in _loads(warnings, [])]
        reports[sha] = r
    cells = con.execute("""
        SELECT sha256, key, value, status, page, line, grid_table, grid_row, grid_col, bbox,
               raw_text, row_label, col_label, confidence
        FROM raw_cells WHERE sha256 IN (SELECT unnest(?::VARCHAR[]))
        ORDER BY sha256, rowid""", param).fetchall()
    statuses = {s.value: s for s in Status}
    for (sha, key, value, status, page, line, gt, gr, gc, bbox, raw, rl, cl, conf) in cells:
        r = reports.get(sha)
        if r is None:
            continue
        if (page is None and line is None and gt is None and gr is None and gc is None
                and bbox is None and raw is None and rl is None and cl is None):
            src = None
        else:
            src = Provenance(file=r.file, page=page, line=line, table=gt, row=gr, col=gc,
                             bbox=None if bbox is None else tuple(bbox), text=raw,
                             row_label=rl, col_label=cl)
        r.cells[key] = Cell(_value(value), statuses[status], src, conf)
    return [reports[s] for s in shas if s in reports]


# ------------------------------------------------------------------------- bookkeeping
def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def record_processing(con: duckdb.DuckDBPyConnection, run_id: str,
                      rows: Sequence[tuple[str, str, str, str | None]]) -> int:
    """Upsert (sha256, extractor_version, extract_context, rules_version) of processed contents;
    rows equal to the stored ones are left alone (an identical re-run changes nothing)."""
    rows = list({r[0]: r for r in rows}.values())
    if not rows:
        return 0
    con.begin()
    try:
        import polars as pl

        from tasks.load import arrow_source

        cols = ("sha256", "extractor_version", "extract_context", "rules_version")
        frame = pl.DataFrame({c: [r[i] for r in rows] for i, c in enumerate(cols)},
                             schema={c: pl.Utf8 for c in cols})
        con.register("_proc_in", arrow_source(frame))
        _sql(con, "CREATE TEMP TABLE _proc AS SELECT * FROM _proc_in")
        con.unregister("_proc_in")
        changed = con.execute("""
            SELECT count(*) FROM _proc AS n LEFT JOIN raw_processing AS p USING (sha256)
            WHERE p.sha256 IS NULL OR p.extractor_version IS DISTINCT FROM n.extractor_version
               OR p.extract_context IS DISTINCT FROM n.extract_context
               OR p.rules_version IS DISTINCT FROM n.rules_version""").fetchall()[0][0]
        _sql(con, """
            INSERT OR REPLACE INTO raw_processing
            SELECT n.sha256, n.extractor_version, n.extract_context, n.rules_version, ?
            FROM _proc AS n LEFT JOIN raw_processing AS p USING (sha256)
            WHERE p.sha256 IS NULL OR p.extractor_version IS DISTINCT FROM n.extractor_version
               OR p.extract_context IS DISTINCT FROM n.extract_context
               OR p.rules_version IS DISTINCT FROM n.rules_version""", [run_id])
        _sql(con, "DROP TABLE _proc")
        con.commit()
    except BaseException:
        try:
            con.rollback()
        except duckdb.Error:
            pass
        raise
    return changed


def start_run(con: duckdb.DuckDBPyConnection, run) -> None:
    """The run's raw_runs row with status 'running' (tasks.load.RunInfo); batches update it."""
    from tasks.load import _json, _utc_naive

    _sql(con, """INSERT OR REPLACE INTO raw_runs (run_id, started, finished, inputs, counts,
                       timings, extractor_version, rules_version, versions, status)
                   VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, 'running')""",
                [run.run_id, _utc_naive(run.started), _json(list(run.inputs)), _json(run.counts),
                 _json(run.timings), run.extractor_version, run.rules_version,
                 _json(run.versions)])


def input_roots(inputs: Sequence[str], missing: Sequence[str] = ()) -> list[str]:
    """The folders/files whose contents a complete run has seen entirely (inputs that exist,
    spelled like tasks.ingest spells the paths under them)."""
    gone = set(missing)
    return [str(Path(i)) for i in inputs if i not in gone and Path(i).exists()]


def _under(roots: Sequence[str]) -> tuple[str, list]:
    conds, params = [], []
    for r in roots:
        conds.append("(f.path = ? OR starts_with(f.path, ?))")
        params += [r, r.rstrip("/") + "/"]
    return " OR ".join(conds) or "false", params


def find_withdrawn(con: duckdb.DuckDBPyConnection, run_id: str,
                   roots: Sequence[str]) -> list[tuple[str, str]]:
    """(path, sha256) of current contents whose slot is under `roots` and that this run did not
    see at any path."""
    where, params = _under(roots)
    return [tuple(r) for r in con.execute(f"""
        SELECT f.path, f.sha256 FROM raw_source_files AS f
        WHERE f.is_current AND ({where})
          AND f.sha256 NOT IN (SELECT sha256 FROM raw_file_sightings WHERE run_id = ?)
        ORDER BY f.path""", params + [run_id]).fetchall()]


def apply_withdrawals(con: duckdb.DuckDBPyConnection, run_id: str,
                      roots: Sequence[str]) -> tuple[list[tuple[str, str]], int]:
    """After the last batch of a run, in one transaction: mark as withdrawn what the run no
    longer finds under `roots` (not current any more; nothing deleted), and close the
    withdrawals of contents it saw again. Returns (withdrawn (path, sha256), restored count)."""
    con.begin()
    try:
        restored = _sql(con, """SELECT count(*) FROM raw_withdrawals
            WHERE restored_run IS NULL AND sha256 IN (
                SELECT sha256 FROM raw_file_sightings WHERE run_id = ?)""", [run_id])[0][0]
        if restored:
            _sql(con, """UPDATE raw_withdrawals SET restored_run = ?
                WHERE restored_run IS NULL AND sha256 IN (
                    SELECT sha256 FROM raw_file_sightings WHERE run_id = ?)""", [run_id, run_id])
        withdrawn = find_withdrawn(con, run_id, roots) if roots else []
        if withdrawn:
            shas = [s for _, s in withdrawn]
            now = _now()
            con.executemany("INSERT OR REPLACE INTO raw_withdrawals VALUES (?, ?, ?, ?, NULL)",
                            [(run_id, p, s, now) for p, s in withdrawn])
            for table in ("raw_source_files", "raw_reports"):
                _sql(con, f"""UPDATE {table} SET is_current = false, superseded_by = NULL
                    WHERE sha256 IN (SELECT unnest(?::VARCHAR[]))""", [shas])
        con.commit()
    except BaseException:
        try:
            con.rollback()
        except duckdb.Error:
            pass
        raise
    return withdrawn, restored


def finish_run(con: duckdb.DuckDBPyConnection, run_id: str, status: str,
               counts: dict | None = None, timings: dict | None = None) -> None:
    """Set the run's status ('complete' | 'failed') and finish time (and final counts)."""
    from tasks.load import _json

    sets, params = ["status = ?", "finished = ?"], [status, _now()]
    if counts is not None:
        sets.append("counts = ?")
        params.append(_json(counts))
    if timings is not None:
        sets.append("timings = ?")
        params.append(_json(timings))
    _sql(con, f"UPDATE raw_runs SET {', '.join(sets)} WHERE run_id = ?", params + [run_id])


def previous_run_complete(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    """Whether the run before this one (by start time) completed. False when there is none, or
    it failed or died: then work that follows the loads (cross-report checks) must be redone
    even if this run changes nothing."""
    rows = _sql(con, """SELECT status FROM raw_runs WHERE run_id <> ? AND started <= (
                            SELECT started FROM raw_runs WHERE run_id = ?)
                        ORDER BY started DESC LIMIT 1""", [run_id, run_id])
    return bool(rows) and rows[0][0] == "complete"

