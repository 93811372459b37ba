"""Extraction on the local cores: chunks of files on a process pool (no Prefect here).

`extract_chunk(paths, manifest_path, province_hint)` is the unit of work everywhere (process
pool, Dask worker, or inline): it is a top-level function, so it pickles by reference, and it
loads the manifest once per process. `LocalPool` runs chunks on a `ProcessPoolExecutor`
("spawn" start method: the flow process has threads, forking it is not safe) or inline when
one worker is asked for; `LocalPool.submit_batch(paths)` returns a handle whose `result()` is the
batch's extractions in input order, so the caller can validate and load batch k while the pool
extracts batch k+1.
"""
from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Sequence

from tasks import extract as _extract
from tasks import metadata as _metadata

CHUNK = 25                      # files per pool task: small enough to balance, big enough to
                                # keep pickling and scheduling cost negligible (~1 ms per chunk)
INLINE_BELOW = 20               # a run extracting fewer files: no pool (start-up costs ~1 s)

_MANIFESTS: dict[tuple[str, float], dict] = {}


def manifest_for(path: str | None) -> dict | None:
    """The manifest (tasks.metadata.load_manifest), cached per process and file version."""
    if not path:
        return None
    key = (str(path), os.stat(path).st_mtime)
    if key not in _MANIFESTS:
        _MANIFESTS.clear()
        _MANIFESTS[key] = _metadata.load_manifest(path)
    return _MANIFESTS[key]


def extract_chunk(paths: Sequence[str], manifest_path: str | None,
                  province_hint: str | None) -> list[_extract.Extraction]:
    manifest = manifest_for(manifest_path)
    return [_extract.extract_file(p, manifest=manifest, province_hint=province_hint)
            for p in paths]


def chunks(items: Sequence, n: int) -> list[list]:
    n = max(1, int(n))
    return [list(items[i:i + n]) for i in range(0, len(items), n)]


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:        # not Linux
        return max(1, os.cpu_count() or 1)


class BatchHandle:
    """The extractions of one batch, once its chunks are done (`result()`, input order)."""

    def __init__(self, parts: list):
        self._parts = parts

    def result(self) -> list[_extract.Extraction]:
        out: list[_extract.Extraction] = []
        for p in self._parts:
            out.extend(p.result())
        return out


class LocalPool:
    """Process pool for extraction; `workers <= 1` (or a run of fewer than INLINE_BELOW files,
    `total`) runs everything inline (no processes)."""

    def __init__(self, workers: int | None = None, manifest_path: str | None = None,
                 province_hint: str | None = None, chunk: int = CHUNK,
                 total: int | None = None):
        self.workers = default_workers() if workers is None else max(1, int(workers))
        if total is not None and total < INLINE_BELOW:
            self.workers = 1           # the pool would cost more than it saves
        self.manifest_path = manifest_path
        self.province_hint = province_hint
        self.chunk = chunk
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "LocalPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers,
                                             mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def submit_batch(self, paths: Sequence[str]) -> BatchHandle:
        if self.workers <= 1:
            return BatchHandle([_Lazy(list(paths), self.manifest_path, self.province_hint)])
        ex = self._executor()
        parts: list[Future] = [ex.submit(extract_chunk, c, self.manifest_path, self.province_hint)
                               for c in chunks(paths, self.chunk)]
        return BatchHandle(parts)


class _Lazy:
    """Inline extraction, done when the result is asked for (same shape as a future)."""

    def __init__(self, paths, manifest_path, province_hint):
        self._args = (paths, manifest_path, province_hint)
        self._value = None

    def result(self):
        if self._value is None:
            self._value = extract_chunk(*self._args)
        return self._value
