"""The main Prefect flow: ingest → extract → validate → load (→ roll-up views).

Tasks are thin wrappers around `tasks/`; a task is a meaningful unit (a batch of files, the whole
batch's validation, one load transaction), never a cell or a page.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from flows import settings  # noqa: F401  (quiet environment before prefect is imported)
from prefect import flow, get_run_logger, task
from prefect.context import get_run_context

from tasks import extract as _extract
from tasks import ingest as _ingest
from tasks import metadata as _metadata

BATCH_SIZE = 50


@dataclass
class RunSummary:
    run_id: str
    warehouse: str
    files: int = 0
    reports: int = 0
    errors: int = 0                       # unreadable files
    skipped: int = 0
    findings_by_rule: dict[str, int] = field(default_factory=dict)
    reports_with_errors: int = 0
    error_files: list[tuple[str, str, str]] = field(default_factory=list)   # path, code, message
    timings: dict[str, float] = field(default_factory=dict)
    load: dict = field(default_factory=dict)


def extract_batch_fn(paths: list[str], manifest_path: str | None,
                     province_hint: str | None) -> list[_extract.Extraction]:
    manifest = _metadata.load_manifest(manifest_path) if manifest_path else None
    return [_extract.extract_file(p, manifest=manifest, province_hint=province_hint)
            for p in paths]


@task(name="extract-batch", retries=0)
def extract_batch(paths: list[str], manifest_path: str | None,
                  province_hint: str | None) -> list[_extract.Extraction]:
    return extract_batch_fn(paths, manifest_path, province_hint)


@task(name="validate")
def validate_task(reports):
    from tasks.validate import validate

    return validate(reports)


@task(name="load")
def load_task(warehouse: str, run, files, reports, findings):
    from tasks.load import load_batch, open_warehouse

    con = open_warehouse(warehouse)
    try:
        return load_batch(con, run, files, reports, findings)
    finally:
        con.close()


def _chunks(items: list, n: int) -> list[list]:
    return [items[i:i + n] for i in range(0, len(items), n)]


@flow(name="nianbao-run", log_prints=False)
def run_pipeline(inputs: list[str], warehouse: str, manifest: str | None = None,
                 province_hint: str | None = None, progress=None) -> RunSummary:
    """The whole pipeline over files and folders. `progress(done, total)` is called as batches
    finish (the CLI draws a progress bar with it)."""
    try:
        run_id = str(get_run_context().flow_run.id)
    except Exception:   # noqa: BLE001 - called outside a flow run (tests via .fn)
        run_id = str(uuid.uuid4())
    summary = RunSummary(run_id=run_id, warehouse=str(warehouse))
    started = time.time()

    t = time.perf_counter()
    found = _ingest.discover(inputs)
    paths = [str(p) for p in found.files]
    summary.files, summary.skipped = len(paths), len(found.skipped)
    summary.timings["ingest"] = time.perf_counter() - t

    t = time.perf_counter()
    extractions: list[_extract.Extraction] = []
    futures = [extract_batch.submit(b, manifest, province_hint) for b in _chunks(paths, BATCH_SIZE)]
    done = 0
    for fut in futures:
        batch = fut.result()
        extractions.extend(batch)
        done += len(batch)
        if progress:
            progress(done, len(paths))
    summary.timings["extract"] = time.perf_counter() - t

    files = [e.source for e in extractions]
    reports = [e.report for e in extractions if e.report is not None]
    summary.reports = len(reports)
    summary.errors = sum(1 for f in files if f.status != "ok")
    summary.error_files = [(f.path, f.error_code or "", f.error_message or "")
                           for f in files if f.status != "ok"]

    t = time.perf_counter()
    findings = validate_task(reports) if reports else {}
    summary.timings["validate"] = time.perf_counter() - t
    for fs in findings.values():
        if any(f.severity == "error" for f in fs):
            summary.reports_with_errors += 1
        for f in fs:
            summary.findings_by_rule[f.rule] = summary.findings_by_rule.get(f.rule, 0) + 1

    from tasks.load import RunInfo

    t = time.perf_counter()
    run = RunInfo(run_id=run_id, started=started, inputs=[str(i) for i in inputs],
                  timings=dict(summary.timings))
    stats = load_task(str(warehouse), run, files, reports, findings)
    summary.timings["load"] = time.perf_counter() - t
    summary.load = stats.__dict__ if hasattr(stats, "__dict__") else dict(stats or {})

    # --- cross-report rules (tasks/crosscheck.py): need the warehouse, so they run after load
    from tasks.crosscheck import crosscheck_warehouse

    t = time.perf_counter()
    for fs in crosscheck_warehouse(str(warehouse), run_id).values():
        for f in fs:
            summary.findings_by_rule[f.rule] = summary.findings_by_rule.get(f.rule, 0) + 1
    summary.timings["crosscheck"] = time.perf_counter() - t
    # --- end cross-report rules
    return summary
