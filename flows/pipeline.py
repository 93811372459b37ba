"""The main Prefect flow: ingest → plan → convert → extract → validate → load → finish.

- **ingest**: discover the files (tasks.ingest) and hash them (tasks.incremental.hash_files).
- **plan**: one query of the known hashes; each file is new/changed (extract), up to date but
  validated by other rules (re-validate from the stored cells) or unchanged (sighting only).
  ``full=True`` extracts everything.
- **convert**: on the local pool, the DOC/WPS files to extract are converted by LibreOffice
  first (tasks.parallel.LocalPool.preconvert), so that it never runs beside OCR and the loads.
- **extract** in batches of ``batch_size`` files, on the local cores (a process pool inside one
  Prefect task per batch, tasks.parallel) or on a Dask cluster (``dask_address``: one Prefect
  task per chunk of files through prefect-dask's DaskTaskRunner). Batch k+1 is extracted while
  batch k is validated and loaded; the pool hands extractions back packed (pickled and
  compressed, tasks.parallel.pack) and a batch is unpacked only when the flow takes it, so one
  batch of reports is live in memory (the next one waits packed, ~5 MB).
- **validate** (GX over the batch) and **load** (one transaction per batch, tasks.load) run in
  the flow process: the warehouse has exactly one writer.
- **withdraw**: contents no longer found under the input folders are marked withdrawn
  (tasks.incremental.apply_withdrawals); then the cross-report checks (tasks.crosscheck, skipped
  when nothing changed and the previous run completed) and the run is marked complete.

A failure mid-run leaves the batches committed so far (each whole: a batch is one transaction)
and the run marked 'failed' (or 'running' with no finish time if the process died); nothing is
withdrawn before the last batch is committed. The next run re-processes only what is missing
(and redoes the cross-report checks, since the run before it did not complete).

Tasks are thin wrappers around `tasks/`; a task is a meaningful unit (a batch of files, a
batch's validation, one load transaction), never a cell or a page. The same engine runs without
Prefect (`run_plain`) so the benchmark can tell Prefect's own overhead.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from flows import settings  # noqa: F401  (quiet environment before prefect is imported)
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context
from prefect.utilities.annotations import quote

from tasks import incremental as _inc
from tasks import ingest as _ingest
from tasks import parallel as _par
from tasks import runlock as _runlock

BATCH_SIZE = 1000          # files per extraction/validation/load batch (settings.batch_size())
SIGHTING_BATCH = 20000     # unchanged files per sightings-only load
DASK_CHUNK = 50            # files per Prefect task on a Dask cluster


@dataclass
class RunSummary:
    run_id: str
    warehouse: str
    files: int = 0                        # report files found in the inputs
    reports: int = 0                      # readable reports among them (processed or not)
    errors: int = 0                       # unreadable files among them
    skipped: int = 0                      # not documents (csv, json, …)
    findings_by_rule: dict[str, int] = field(default_factory=dict)
    reports_with_errors: int = 0
    error_files: list[tuple[str, str, str]] = field(default_factory=list)   # path, code, message
    timings: dict[str, float] = field(default_factory=dict)
    load: dict = field(default_factory=dict)        # LoadStats counters summed over batches
    extracted: int = 0                    # files extracted by this run
    revalidated: int = 0                  # reports re-validated from the warehouse
    unchanged: int = 0                    # files skipped (content already up to date)
    withdrawn: list[tuple[str, str]] = field(default_factory=list)   # path, sha256
    batches: int = 0
    reasons: dict[str, int] = field(default_factory=dict)     # why files were extracted
    missing: list[str] = field(default_factory=list)          # inputs that do not exist
    status: str = "running"
    executor: str = ""                    # inline | processes(N) | dask(address)
    hashed: int = 0                       # files read and hashed (the others: stat cache)
    preconverted: int = 0                 # DOC/WPS contents converted before extraction


@dataclass
class Options:
    inputs: list[str]
    warehouse: str
    manifest: str | None = None
    province_hint: str | None = None
    workers: int | None = None
    dask_address: str | None = None
    full: bool = False
    batch_size: int = BATCH_SIZE
    rehash: bool = False          # ignore the stat cache (tasks.incremental.hash_files)


# ------------------------------------------------------------------------------ the engine
@dataclass
class Ops:
    """The stages as plain callables; the flow swaps in Prefect tasks."""
    ingest: Callable
    plan: Callable
    validate: Callable
    load: Callable
    withdraw: Callable


def ingest_fn(inputs: list[str], hash_cache: str | None = None, rehash: bool = False):
    found = _ingest.discover(inputs)
    stats = _inc.HashStats()
    entries = _inc.hash_files(found.files, cache=hash_cache, rehash=rehash, stats=stats)
    return found, entries, stats


def plan_fn(con, entries, contexts, rules, full):
    known = _inc.known_files(con, [e.sha256 for e in entries if e.sha256])
    return _inc.make_plan(entries, known, contexts, rules, full=full)


def validate_fn(reports):
    from tasks.validate import validate

    return validate(reports) if reports else {}


def load_fn(con, run, files, reports, findings):
    from tasks.load import load_batch

    return load_batch(con, run, files, reports, findings)


def withdraw_fn(con, run_id, roots):
    return _inc.apply_withdrawals(con, run_id, roots)


PLAIN_OPS = Ops(ingest_fn, plan_fn, validate_fn, load_fn, withdraw_fn)


def _add_stats(total: dict, stats) -> None:
    for k, v in (stats.__dict__ if hasattr(stats, "__dict__") else dict(stats or {})).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            total[k] = total.get(k, 0) + v


def _execute(opts: Options, ops: Ops, extractor_factory: Callable, run_id: str,
             progress: Callable[[int, int], None] | None = None) -> RunSummary:
    from tasks.load import RunInfo, open_warehouse
    from tasks.model import EXTRACTOR_VERSION

    summary = RunSummary(run_id=run_id, warehouse=str(opts.warehouse))
    timings = summary.timings

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = timings.get(name, 0.0) + (now - since)
        return now

    started = time.time()
    t = time.perf_counter()
    found, entries, hstats = ops.ingest(list(opts.inputs), _hash_cache(opts.warehouse),
                                        opts.full or opts.rehash)
    summary.files, summary.skipped, summary.missing = len(entries), len(found.skipped), found.missing
    summary.hashed = hstats.hashed
    t = lap("ingest", t)

    con = open_warehouse(opts.warehouse)
    try:
        rules = _inc.rules_version()
        manifest = _par.manifest_for(opts.manifest)
        run = RunInfo(run_id=run_id, started=started, inputs=[str(i) for i in opts.inputs],
                      rules_version=rules,
                      versions={"batch_size": opts.batch_size, "full": opts.full})
        _inc.start_run(con, run)
        contexts = {e.path: _inc.extract_context(e.path, manifest, opts.province_hint)
                    for e in entries}
        plan = ops.plan(con, entries, contexts, rules, opts.full)
        summary.unchanged, summary.revalidated = len(plan.unchanged), len(plan.revalidate)
        summary.extracted, summary.reasons = len(plan.extract), dict(plan.reasons)
        total, done = plan.total, 0
        t = lap("plan", t)

        def report_progress(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress(done, total)

        # 1. unchanged contents: their sightings only
        for part in _par.chunks(plan.unchanged, SIGHTING_BATCH):
            _add_stats(summary.load, ops.load(con, run, part, [], {}))
            summary.batches += 1
            report_progress(len(part))
        t = lap("load", t)

        def process(files, reports, new_contexts) -> None:
            nonlocal t
            t = time.perf_counter()
            findings = ops.validate(reports)
            t = lap("validate", t)
            _add_stats(summary.load, ops.load(con, run, files, reports, findings))
            summary.batches += 1
            t = lap("load", t)
            with_report = {r.sha256 for r in reports}
            _inc.record_processing(con, run_id, [
                (f.sha256, EXTRACTOR_VERSION, new_contexts[i],
                 rules if f.sha256 in with_report else None) for i, f in enumerate(files)])
            t = lap("bookkeeping", t)
            report_progress(len(files))

        # 2. new or changed contents: extract (batch k+1 runs while batch k is loaded)
        # slow files (scans, DOC, PDFs) dealt out evenly over the batches: OCR starts at once
        batches = _par.spread(plan.extract, opts.batch_size, path=lambda e: e.path)
        if batches:
            with extractor_factory(len(plan.extract)) as extractor:
                summary.executor = extractor.describe()
                t = time.perf_counter()
                summary.preconverted = extractor.prepare([e.path for e in plan.extract])
                t = lap("convert", t)
                pending = [extractor.submit_batch([e.path for e in batches[0]])]
                for i, batch in enumerate(batches):
                    if i + 1 < len(batches):
                        pending.append(extractor.submit_batch([e.path for e in batches[i + 1]]))
                    t = time.perf_counter()
                    exs = _taken(pending.pop(0).result())
                    t = lap("extract", t)
                    if i == 0:
                        _runlock.pause_point("extract")  # test-only hook (tasks/runlock.py)
                    files = [e.source for e in exs]
                    reports = [e.report for e in exs if e.report is not None]
                    ctx = [contexts.get(e.path, "") for e in batch]
                    del exs
                    process(files, reports, ctx)
                    del files, reports
                    _give_back_memory()

        # 3. up to date but validated by other rules: re-validate the stored reports
        for part in _par.chunks(plan.revalidate, opts.batch_size):
            t = time.perf_counter()
            reports = _inc.reports_from_warehouse(con, [f.sha256 for f in part])
            t = lap("read_back", t)
            stored = {f.sha256: f for f in part}
            process([stored[r.sha256] for r in reports], reports,
                    [contexts.get(stored[r.sha256].path, "") for r in reports])

        # contents gone from the input folders: withdrawn (their own transaction)
        t = time.perf_counter()
        roots = _inc.input_roots(opts.inputs, found.missing)
        withdrawn, restored = ops.withdraw(con, run_id, roots)
        summary.withdrawn = [tuple(w) for w in withdrawn]
        t = lap("withdraw", t)

        # cross-report checks over the warehouse, after the last load (tasks/crosscheck.py)
        from tasks.crosscheck import crosscheck

        if (opts.full or _changed(summary.load) or withdrawn or restored
                or not _inc.previous_run_complete(con, run_id)):
            crosscheck(con, run_id)
        t = lap("crosscheck", t)

        _totals(con, run_id, summary)
        counts = {"files": summary.files, "reports": summary.reports, "errors": summary.errors,
                  "extracted": summary.extracted, "revalidated": summary.revalidated,
                  "unchanged": summary.unchanged, "withdrawn": len(withdrawn),
                  "batches": summary.batches}
        lap("finish", t)
        _inc.finish_run(con, run_id, "complete", counts, dict(timings))
        summary.status = "complete"
    except BaseException:
        summary.status = "failed"
        try:
            _inc.finish_run(con, run_id, "failed", timings=dict(timings))
        except Exception:   # noqa: BLE001 - keep the original error
            pass
        raise
    finally:
        con.close()
    return summary


def _give_back_memory() -> None:
    """After a batch: its reports, frames and GX results are garbage; collect them and hand
    the freed heap pages back to the system (glibc malloc_trim), so the next batch's load does
    not start from this one's high-water mark."""
    import gc

    from tasks.readers.ocr import trim_heap

    gc.collect()
    trim_heap()


def _hash_cache(warehouse: str) -> str | None:
    p = _inc.stat_cache_path(warehouse)
    return None if p is None else str(p)


def _changed(load: dict) -> bool:
    """Did the run's loads change any report or finding? (If not, and the previous run was
    complete, the cross-report findings are up to date: skip them.)"""
    return any(load.get(k, 0) for k in ("files_new", "reports_new", "reports_replaced",
                                         "reports_superseded", "findings_written"))


def _totals(con, run_id: str, summary: RunSummary) -> None:
    """Reports, errors and findings of every file this run saw (processed or unchanged)."""
    seen = "SELECT DISTINCT sha256 FROM raw_file_sightings WHERE run_id = ?"
    summary.reports = con.execute(
        f"SELECT count(*) FROM raw_reports WHERE sha256 IN ({seen})", [run_id]).fetchall()[0][0]
    rows = con.execute("""SELECT s.path, f.error_code, f.error_message
        FROM raw_file_sightings AS s JOIN raw_source_files AS f USING (sha256)
        WHERE s.run_id = ? AND f.status <> 'ok' ORDER BY s.path""", [run_id]).fetchall()
    summary.errors = len(rows)
    summary.error_files = [(p, c or "", m or "") for p, c, m in rows]
    summary.findings_by_rule = dict(con.execute(f"""SELECT rule, count(*) FROM raw_findings
        WHERE sha256 IN ({seen}) GROUP BY rule ORDER BY rule""", [run_id]).fetchall())
    summary.reports_with_errors = con.execute(f"""SELECT count(DISTINCT sha256) FROM raw_findings
        WHERE severity = 'error' AND sha256 IN ({seen})""", [run_id]).fetchall()[0][0]


# --------------------------------------------------------------------------- extractors
class _LocalExtractor:
    """Process pool on this machine; each batch is one Prefect task (or a plain call)."""

    def __init__(self, opts: Options, use_prefect: bool, total: int | None = None):
        self.pool = _par.LocalPool(opts.workers, opts.manifest, opts.province_hint, total=total)
        self.use_prefect = use_prefect

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.pool.close()

    def describe(self) -> str:
        return "inline" if self.pool.workers <= 1 else f"processes({self.pool.workers})"

    def prepare(self, paths: list[str]) -> int:
        """DOC/WPS files converted before extraction (tasks.parallel.LocalPool.preconvert)."""
        if self.use_prefect:
            return convert_office_task(quote(self.pool), quote(paths))
        return self.pool.preconvert(paths)

    def submit_batch(self, paths: list[str]):
        if self.use_prefect:
            return extract_batch.submit(quote(self.pool), quote(paths))
        return self.pool.submit_batch(paths)


class _DaskExtractor:
    """A Dask cluster through prefect-dask: one Prefect task per chunk of files."""

    def __init__(self, opts: Options):
        from prefect_dask import DaskTaskRunner

        self.opts = opts
        self.runner = DaskTaskRunner(address=opts.dask_address)

    def __enter__(self):
        self.runner.__enter__()
        return self

    def __exit__(self, *exc):
        self.runner.__exit__(*exc)

    def describe(self) -> str:
        return f"dask({self.opts.dask_address})"

    def prepare(self, paths: list[str]) -> int:
        return 0        # each Dask task converts its chunk's DOC files itself

    def submit_batch(self, paths: list[str]):
        parts = [self.runner.submit(extract_chunk_task,
                                    {"paths": c, "manifest_path": self.opts.manifest,
                                     "province_hint": self.opts.province_hint})
                 for c in _par.chunks(paths, DASK_CHUNK)]
        return _par.BatchHandle(parts)


# ---------------------------------------------------------------------------- Prefect tasks
@task(name="ingest", cache_policy=NO_CACHE)
def ingest_task(inputs: list[str], hash_cache: str | None = None, rehash: bool = False):
    return ingest_fn(inputs, hash_cache, rehash)


@task(name="plan", cache_policy=NO_CACHE)
def plan_task(con, entries, contexts, rules, full):
    return plan_fn(con, entries, contexts, rules, full)


@task(name="convert-office", cache_policy=NO_CACHE)
def convert_office_task(pool, paths: list[str]) -> int:
    return pool.preconvert(paths)


@task(name="extract-batch", cache_policy=NO_CACHE, retries=0)
def extract_batch(pool, paths: list[str]):
    # packed: the flow may still be loading the previous batch when this one is done
    return Handoff(pool.submit_batch(paths).packed())


class Handoff:
    """A batch's extractions passed out of a Prefect task. Prefect's task engine keeps the
    return value of a worker thread's last task alive until that thread runs another task
    (measured: after the flow dropped a batch, it stayed in memory), so the flow takes the
    list out of this box (`_taken`) and only the empty box stays behind."""
    __slots__ = ("items",)

    def __init__(self, items):
        self.items = items

    def take(self):
        items, self.items = self.items, None
        return items


def _taken(result):
    """A batch's extractions, unpacked (tasks.parallel.pack) now that the flow needs them."""
    if isinstance(result, Handoff):
        return [_par.unpack(x) for x in result.take()]
    return result


@task(name="extract-chunk", cache_policy=NO_CACHE, retries=1)
def extract_chunk_task(paths: list[str], manifest_path: str | None, province_hint: str | None):
    return _par.extract_chunk(paths, manifest_path, province_hint)


@task(name="validate", cache_policy=NO_CACHE)
def validate_task(reports):
    return validate_fn(reports)


@task(name="load", cache_policy=NO_CACHE)
def load_task(con, run, files, reports, findings):
    return load_fn(con, run, files, reports, findings)


@task(name="withdraw", cache_policy=NO_CACHE)
def withdraw_task(con, run_id, roots):
    return withdraw_fn(con, run_id, roots)


def _quoted(t):
    """Call a task with every argument wrapped in `quote`: Prefect would otherwise walk every
    object inside the arguments (millions for a batch of reports) looking for futures."""
    def call(*args):
        return t(*(quote(a) for a in args))
    return call


PREFECT_OPS = Ops(*(_quoted(t) for t in (ingest_task, plan_task, validate_task, load_task,
                                         withdraw_task)))


def _options(inputs, warehouse, manifest, province_hint, workers, dask_address, full,
             batch_size, rehash: bool = False) -> Options:
    return Options(inputs=[str(i) for i in inputs], warehouse=str(warehouse),
                   manifest=str(manifest) if manifest else None, province_hint=province_hint,
                   workers=settings.workers() if workers is None else workers,
                   dask_address=dask_address if dask_address is not None
                   else settings.dask_address(),
                   full=full, batch_size=batch_size or settings.batch_size(), rehash=rehash)


# --- run lock (tasks/runlock.py): one run at a time per warehouse, held for the whole run
@flow(name="nianbao-run", log_prints=False)
def run_pipeline(inputs: list[str], warehouse: str, manifest: str | None = None,
                 province_hint: str | None = None, progress=None,
                 lock_timeout: float = 0.0, workers: int | None = None,
                 dask_address: str | None = None, full: bool = False,
                 batch_size: int | None = None, rehash: bool = False) -> RunSummary:
    """The whole pipeline over files and folders (incremental unless `full`). `progress(done,
    total)` is called as batches finish (the CLI draws a progress bar with it). Another run on
    the same warehouse is waited for up to `lock_timeout` seconds, then refused
    (tasks.runlock.RunLockError). `workers`: extraction processes (default: the cores);
    `dask_address`: extract on that Dask scheduler instead."""
    opts = _options(inputs, warehouse, manifest, province_hint, workers, dask_address, full,
                    batch_size, rehash)
    try:
        run_id = str(get_run_context().flow_run.id)
    except Exception:   # noqa: BLE001 - called outside a flow run (tests via .fn)
        run_id = str(uuid.uuid4())
    if opts.dask_address:
        factory = lambda total: _DaskExtractor(opts)  # noqa: E731
    else:
        factory = lambda total: _LocalExtractor(opts, use_prefect=True, total=total)  # noqa: E731
    with _runlock.run_lock(opts.warehouse, timeout=lock_timeout):
        return _execute(opts, PREFECT_OPS, factory, run_id, progress)
# --- end run lock


def run_plain(inputs: list[str], warehouse: str, manifest: str | None = None,
              province_hint: str | None = None, progress=None, lock_timeout: float = 0.0,
              workers: int | None = None, full: bool = False,
              batch_size: int | None = None, rehash: bool = False) -> RunSummary:
    """The same pipeline without Prefect (local process pool only): the benchmark's baseline
    for Prefect's own overhead. Same warehouse result as `run_pipeline`."""
    opts = _options(inputs, warehouse, manifest, province_hint, workers, "", full, batch_size,
                    rehash)
    with _runlock.run_lock(opts.warehouse, timeout=lock_timeout):
        return _execute(opts, PLAIN_OPS,
                        lambda total: _LocalExtractor(opts, use_prefect=False, total=total),
                        str(uuid.uuid4()), progress)


def summary_json(s: RunSummary) -> dict[str, Any]:
    return dict(s.__dict__)


# ------------------------------------------------------------------------------ URL ingest
def fetch_fn(urls_file: str, archive: str, warehouse: str, rate: float = 1.0,
             allowed_networks: list[str] | tuple[str, ...] = (), max_mb: float | None = None,
             timeout: float | None = None, lock_timeout: float = 600.0) -> dict[str, Any]:
    """Fetch the URLs of `urls_file` into `archive` (tasks.fetch), then append the results to
    the warehouse's fetch log (under the run lock, briefly). Returns counts per outcome, the
    folder the pipeline should ingest and the results."""
    from pathlib import Path

    from tasks import fetch as F
    from tasks.load import open_warehouse

    s = F.FetchSettings(archive=Path(archive), rate=rate,
                        allowed_networks=tuple(allowed_networks))
    if max_mb:
        s.max_bytes = int(max_mb * 1024 * 1024)
    if timeout:
        s.timeout = timeout
    urls = F.read_url_list(urls_file)
    with _runlock.run_lock(warehouse, timeout=lock_timeout):
        con = open_warehouse(warehouse)
        try:
            previous = F.previous_fetches(con)
        finally:
            con.close()
    results = F.fetch_urls(urls, s, previous)
    batch_id = str(uuid.uuid4())
    with _runlock.run_lock(warehouse, timeout=lock_timeout):
        con = open_warehouse(warehouse)
        try:
            F.write_log(con, batch_id, results)
        finally:
            con.close()
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    return {"batch_id": batch_id, "urls": len(urls), "counts": counts,
            "files": str(Path(archive) / "files"),
            "results": [{k: getattr(r, k) for k in ("url", "outcome", "http_status", "format",
                                                    "file_path", "error", "parent_url")}
                        for r in results]}


@task(name="fetch-urls", cache_policy=NO_CACHE)
def fetch_urls_task(urls_file: str, archive: str, warehouse: str, rate: float,
                    allowed_networks: list[str], max_mb: float | None, timeout: float | None):
    return fetch_fn(urls_file, archive, warehouse, rate, allowed_networks, max_mb, timeout)


@flow(name="nianbao-fetch", log_prints=False)
def fetch_flow(urls_file: str, archive: str, warehouse: str, rate: float = 1.0,
               allowed_networks: list[str] | None = None, max_mb: float | None = None,
               timeout: float | None = None) -> dict[str, Any]:
    """Download report pages and their attachments into the archive (see tasks/fetch.py)."""
    return fetch_urls_task(urls_file, archive, warehouse, rate, list(allowed_networks or []),
                           max_mb, timeout)
