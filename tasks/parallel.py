"""Extraction on the local cores: chunks of files on a process pool (no Prefect here).

`extract_chunk(paths, manifest_path, province_hint)` is the unit of work everywhere (process
pool, Dask worker, or inline): it is a top-level function, so it pickles by reference, and it
loads the manifest once per process. It converts the chunk's DOC/WPS files in one LibreOffice
run (tasks.readers.office.preconverted) and, afterwards, drops the OCR engine if it loaded it
(the models grow to ~300–500 MB while reading a scan).

`LocalPool` runs chunks on two `ProcessPoolExecutor`s ("spawn" start method: the flow process
has threads, forking it is not safe) or inline when one worker is asked for;
`LocalPool.submit_batch(paths)` returns a handle whose `result()` is the batch's extractions in
input order, so the caller can validate and load batch k while the pool extracts batch k+1.

Workers: `workers - 1` general workers and one lead worker, the pool handing out chunks from
its own queue. A general worker does not read a PDF that needs OCR (known once the PDF reader
has classified its pages): `tasks.readers.ocr.engine` refuses there (`_NeedsOCR`), the file
comes back "deferred" and waits for the lead. The lead reads deferred files before anything
else, takes the next chunk when there are none (reading any scan in it itself), and gives
its OCR engine back (`release_ocr`) when it turns to a chunk or has nothing to do. So the OCR
models live in one process only, only while there are scans, without a process of their own
beside the general workers (~80 MB less than an extra OCR process), and a general worker
stays at ~80 MB. LibreOffice (~150–200 MB a run) does not run beside them either:
`LocalPool.preconvert` converts a run's DOC/WPS files before extraction starts, and the
workers read the DOCX it wrote. Extractions come back packed (`pack`: pickled and
compressed), so a batch waiting for the flow takes ~5 MB.

Priority: the general workers run at a lower CPU priority (nice +GENERAL_NICE). A run with
scans is as long as the lead's OCR queue, so the lead (and the flow process, which validates
and loads) get a core first; the general workers use what is left, and all of it once they
are alone.

Order: within a batch the slowest files go first (big PDFs — likely scans —, DOC/WPS, other
PDFs), so the batch does not end with one worker busy on a long tail; DOC files end up in the
same chunks (fewer LibreOffice starts). Results still come back in input order.
"""
from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import pickle
import shutil
import sys
import tempfile
import threading
import time
import zlib
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Sequence

from tasks import extract as _extract
from tasks import metadata as _metadata

CHUNK = 25                      # files per pool task: small enough to balance, big enough to
                                # keep pickling and scheduling cost negligible (~1 ms per chunk)
INLINE_BELOW = 20               # a run extracting fewer files: no pool (start-up costs ~1 s)
BIG_PDF_BYTES = 768 * 1024      # a PDF this big is probably scanned pages (OCR: seconds a page)
GENERAL_NICE = 5                # general workers' niceness above the flow's (see the docstring)
PRECONVERT_RUN = 25             # DOC files per LibreOffice run before extraction (preconvert)
IDLE_RETIRE_SECONDS = 2.0       # a worker process with no work for this long ends (LocalPool)

_MANIFESTS: dict[tuple[str, float], dict] = {}
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def manifest_for(path: str | None) -> dict | None:
    """The manifest (tasks.metadata.load_manifest), cached per process and file version."""
    if not path:
        return None
    key = (str(path), os.stat(path).st_mtime)
    if key not in _MANIFESTS:
        _MANIFESTS.clear()
        _MANIFESTS[key] = _metadata.load_manifest(path)
    return _MANIFESTS[key]


# ------------------------------------------------------------------------------ one chunk
def extract_chunk(paths: Sequence[str], manifest_path: str | None,
                  province_hint: str | None) -> list[_extract.Extraction]:
    """Every file of the chunk extracted here (OCR included), in order."""
    return _run_chunk(paths, manifest_path, province_hint, defer_ocr=False, release=True)


def _ocr_chunk(paths: Sequence[str], manifest_path: str | None,
               province_hint: str | None) -> list[bytes]:
    """The lead worker's OCR task (files a general worker deferred): like extract_chunk, the
    engine kept for the next scan (the pool has the lead release it when it has no OCR work
    left); extractions packed (`pack`)."""
    return [pack(x) for x in _run_chunk(paths, manifest_path, province_hint, defer_ocr=False,
                                        release=False)]


def _lead_chunk(paths: Sequence[str], manifest_path: str | None,
                province_hint: str | None, docx_dir: str | None = None) -> list[bytes]:
    """The lead worker's general task (it had no OCR work): the OCR engine given back first,
    a scan in the chunk read here; extractions packed (`pack`)."""
    release_ocr()
    return [pack(x) for x in _run_chunk(paths, manifest_path, province_hint, defer_ocr=False,
                                        release=True, docx_dir=docx_dir)]


def _general_chunk(paths: Sequence[str], manifest_path: str | None,
                   province_hint: str | None, docx_dir: str | None = None) -> list[bytes | None]:
    """A general worker's task: packed extractions (`pack`), None in place of a file that
    needs OCR (deferred). DOC files converted before the run are taken from `docx_dir`."""
    return [None if x is None else pack(x)
            for x in _run_chunk(paths, manifest_path, province_hint, defer_ocr=True,
                                release=True, docx_dir=docx_dir)]


def pack(ex: _extract.Extraction) -> bytes:
    """An extraction as the pool hands it back: pickled and zlib-compressed (level 1).
    The batch the flow is not working on yet waits in this form: a batch of 1,000 reports
    holds ~5 MB packed instead of ~40–70 MB of live cell objects (packing ~0.1 s a batch in
    the workers, unpacking ~0.1 s more than unpickling in the flow; measured)."""
    return zlib.compress(pickle.dumps(ex, protocol=pickle.HIGHEST_PROTOCOL), 1)


def unpack(item):
    """`pack`'s inverse; anything else (an extraction from extract_chunk) as it is."""
    return pickle.loads(zlib.decompress(item)) if isinstance(item, bytes) else item


class _NeedsOCR(BaseException):
    """Raised by the OCR engine in a process that defers OCR. A BaseException, so that the
    readers' and extract_file's `except Exception` let it through to `_run_chunk`."""


_DEFER_OCR = False


def _install_ocr_guard() -> None:
    """Make `tasks.readers.ocr.engine()` raise _NeedsOCR in this process while _DEFER_OCR is
    set (the PDF reader asks for the engine before loading any OCR library)."""
    from tasks.readers import ocr

    if getattr(ocr.engine, "_nianbao_guard", False):
        return
    real = ocr.engine

    def engine():
        if _DEFER_OCR:
            raise _NeedsOCR()
        return real()

    engine._nianbao_guard = True
    ocr.engine = engine


def release_ocr() -> bool:
    """Drop this process's OCR engine, if loaded, and give its memory back to the system
    (ocr.trim_heap: glibc keeps freed arenas otherwise). True if there was one."""
    ocr = sys.modules.get("tasks.readers.ocr")
    if ocr is None or getattr(ocr, "_ENGINE", None) is None:
        return False
    ocr._ENGINE = None
    gc.collect()
    ocr.trim_heap()
    return True


def _look(path: str) -> tuple[bool, bytes | None]:
    """(is a PDF, the file's bytes if it is DOC/WPS/RTF — what office.read_doc reads)."""
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
            if b"%PDF-" in head:
                return True, None
            if not (head.startswith(_OLE_MAGIC) or head.startswith(b"{\\rtf")):
                return False, None
            if os.fstat(f.fileno()).st_size > _extract.MAX_FILE_BYTES:
                return False, None
            f.seek(0)
            return False, f.read()
    except OSError:
        return False, None


def _run_chunk(paths, manifest_path, province_hint, defer_ocr: bool, release: bool,
               docx_dir: str | None = None) -> list:
    global _DEFER_OCR
    manifest = manifest_for(manifest_path)
    looks = [_look(p) for p in paths]
    office_files = [(str(p), d) for p, (_, d) in zip(paths, looks) if d is not None]
    if defer_ocr and any(pdf for pdf, _ in looks):
        _install_ocr_guard()      # (imports the OCR module, not its libraries: numpy, ~9 MB)
    out: list = []
    try:
        _DEFER_OCR = defer_ocr
        with _preconverted(office_files, docx_dir):
            for p in paths:
                try:
                    out.append(_extract.extract_file(p, manifest=manifest,
                                                     province_hint=province_hint))
                except _NeedsOCR:
                    out.append(None)
    finally:
        _DEFER_OCR = False
        if release:
            release_ocr()
    return out


def _preconverted(files, docx_dir: str | None = None):
    if not files or (len(files) < 2 and docx_dir is None):
        from contextlib import nullcontext

        return nullcontext(0)
    from tasks.readers import office

    return office.preconverted(files, docx_dir)


# ------------------------------------------------------------------------------- helpers
def _lower_priority(increment: int) -> None:
    """A general worker's initializer: lower its CPU priority (never fails a worker)."""
    try:
        os.nice(increment)
    except (AttributeError, OSError):   # not POSIX / not allowed
        pass


def chunks(items: Sequence, n: int) -> list[list]:
    n = max(1, int(n))
    return [list(items[i:i + n]) for i in range(0, len(items), n)]


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:        # not Linux
        return max(1, os.cpu_count() or 1)


def cost_rank(path: str) -> tuple[int, int]:
    """Sort key, slowest first: big PDFs (likely scans: OCR), DOC/WPS/RTF (LibreOffice),
    other PDFs (bigger first), then everything else; from the first bytes and the size."""
    try:
        with open(path, "rb") as f:
            head = f.read(1024)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return (9, 0)
    if b"%PDF-" in head:
        return (0 if size >= BIG_PDF_BYTES else 2, -size)
    if head.startswith(_OLE_MAGIC) or head.startswith(b"{\\rtf"):
        return (1, -size)
    return (3, 0)


def slowest_first(paths: Sequence[str]) -> list[int]:
    """Indexes of `paths` in the order to extract them (stable within a class)."""
    keys = [cost_rank(p) for p in paths]
    return sorted(range(len(paths)), key=keys.__getitem__)


def spread(items: Sequence, size: int, path=lambda x: x) -> list[list]:
    """`items` cut into batches of at most `size` with the slow files dealt out evenly (the
    slowest to batch 0, the next to batch 1, ...), so every batch has its share of scans, DOC
    files and PDFs: the lead worker then has OCR work from the first batch on instead of all of
    it in whichever batch the scans happened to fall. One batch: `items` as they are."""
    size = max(1, int(size))
    n = (len(items) + size - 1) // size
    if n <= 1:
        return [list(items)] if items else []
    order = slowest_first([str(path(x)) for x in items])
    return [[items[i] for i in order[b::n]] for b in range(n)]


# ---------------------------------------------------------------------------------- pool
class BatchHandle:
    """The extractions of one batch, once its chunks are done (`result()`, input order,
    unpacked). `order[k]` is the input position of the k-th extraction the parts yield (None:
    as is)."""

    def __init__(self, parts: list, order: list[int] | None = None):
        self._parts = parts
        self._order = order

    def result(self) -> list[_extract.Extraction]:
        return [unpack(x) for x in self.packed()]

    def packed(self) -> list:
        """`result()` with the extractions still packed (`pack`): for whoever waits for a
        batch before it needs its contents (unpack them with `unpack`)."""
        out: list = []
        for p in self._parts:
            out.extend(p.result())
        if self._order is None:
            return out
        back: list = [None] * len(out)
        for k, i in enumerate(self._order):
            back[i] = out[k]
        return back


class _Job:
    """A chunk of files on its way through the pool: `res` holds its packed extractions (None
    where a general worker deferred a file to OCR: `todo`), `done` gets the finished list."""
    __slots__ = ("paths", "done", "res", "todo")

    def __init__(self, paths: list[str]):
        self.paths = paths
        self.done: Future = Future()
        self.res: list | None = None
        self.todo: list[int] = []


class LocalPool:
    """Process pool for extraction; `workers <= 1` (or a run of fewer than INLINE_BELOW files,
    `total`) runs everything inline (no processes). With a pool: `workers - 1` general
    workers (they defer files that need OCR) and one lead worker that reads those files first
    and takes general chunks when it has no OCR work (see the module's docstring)."""

    def __init__(self, workers: int | None = None, manifest_path: str | None = None,
                 province_hint: str | None = None, chunk: int = CHUNK,
                 total: int | None = None, idle_retire: float | None = IDLE_RETIRE_SECONDS):
        self.workers = default_workers() if workers is None else max(1, int(workers))
        if total is not None and total < INLINE_BELOW:
            self.workers = 1           # the pool would cost more than it saves
        self.manifest_path = manifest_path
        self.province_hint = province_hint
        self.chunk = chunk
        self._lock = threading.RLock()  # RLock: a done-callback may run inside submit()
        self._general: ProcessPoolExecutor | None = None     # workers - 1 processes
        self._lead: ProcessPoolExecutor | None = None        # one process
        self._queue: deque[_Job] = deque()                   # chunks waiting for a worker
        self._ocr_queue: deque[_Job] = deque()               # deferred files waiting for OCR
        self._general_busy = 0
        self._lead_busy = False
        self.idle_retire = idle_retire      # seconds without work before a worker ends (None: never)
        self._idle_timer: threading.Timer | None = None
        self._idle_since: dict[str, float | None] = {}    # executor → idle since (monotonic)
        self.retired = 0                # executors ended for want of work so far
        self._lead_engine = False       # the lead may hold the OCR engine (not released yet)
        self._closed = False
        self.deferred = 0               # files handed from a general worker to the lead so far
        self._docx_dir: str | None = None      # DOC files converted before the run (preconvert)

    def __enter__(self) -> "LocalPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._idle_timer is not None:
                self._idle_timer.cancel()
            waiting = list(self._queue) + list(self._ocr_queue)
            self._queue.clear()
            self._ocr_queue.clear()
            pools = [p for p in (self._general, self._lead) if p is not None]
            self._general = self._lead = None
        for job in waiting:
            if not job.done.done():
                job.done.set_exception(RuntimeError("LocalPool is closed"))
        for p in pools:
            p.shutdown(wait=True, cancel_futures=True)
        if self._docx_dir is not None:
            shutil.rmtree(self._docx_dir, ignore_errors=True)
            self._docx_dir = None

    def preconvert(self, paths: Sequence[str]) -> int:
        """Convert the DOC/WPS/RTF files among `paths` before extraction starts (call it
        before the first `submit_batch`): LibreOffice (~150–200 MB a run) then never runs
        beside OCR and a batch being loaded. Distinct contents only, in runs of
        PRECONVERT_RUN files, as many runs at once as there are workers; the workers take the
        DOCX from a private folder removed by `close`. A file these runs do not convert is
        converted by its worker as before. Returns how many were converted (none without a
        pool: an inline run converts its batch's files in one run anyway)."""
        if self.workers <= 1:
            return 0
        from tasks.readers import office

        firsts: dict[str, str] = {}          # sha256 → the first path with those bytes
        for p in paths:
            _, data = _look(p)
            if data is not None:
                firsts.setdefault(hashlib.sha256(data).hexdigest(), str(p))
        if not firsts or office.soffice_path() is None:
            return 0
        with self._lock:
            if self._docx_dir is None:
                self._docx_dir = tempfile.mkdtemp(prefix="nianbao-docx-")
            out = self._docx_dir

        def run(group: list[str]) -> int:
            files = [(p, d) for p in group for _, d in (_look(p),) if d is not None]
            return office.convert_into(files, out)

        groups = chunks(list(firsts.values()), PRECONVERT_RUN)
        with ThreadPoolExecutor(min(self.workers, len(groups)),
                                thread_name_prefix="nianbao-preconvert") as tp:
            return sum(tp.map(run, groups))

    def _executors(self) -> tuple[ProcessPoolExecutor, ProcessPoolExecutor]:
        """Both executors, started if they are not (or no longer) running."""
        with self._lock:
            return self._general_ex(), self._lead_ex()

    # under the lock: the flow submits batch k+1 from another thread while batch k is
    # submitted; two pools (twice the processes and memory) would start otherwise
    def _general_ex(self) -> ProcessPoolExecutor:
        if self._closed:
            raise RuntimeError("LocalPool is closed")
        if self._general is None:
            self._general = ProcessPoolExecutor(max(1, self.workers - 1),
                                                mp_context=multiprocessing.get_context("spawn"),
                                                initializer=_lower_priority,
                                                initargs=(GENERAL_NICE,))
        return self._general

    def _lead_ex(self) -> ProcessPoolExecutor:
        if self._closed:
            raise RuntimeError("LocalPool is closed")
        if self._lead is None:
            self._lead = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        return self._lead

    def submit_batch(self, paths: Sequence[str]) -> BatchHandle:
        if self.workers <= 1:
            return BatchHandle([_Lazy(list(paths), self.manifest_path, self.province_hint)])
        order = slowest_first(paths)
        ordered = [paths[i] for i in order]
        jobs = [_Job(c) for c in chunks(ordered, self.chunk)]
        with self._lock:
            if self._closed:
                raise RuntimeError("LocalPool is closed")
            self._queue.extend(jobs)
            self._dispatch()
        return BatchHandle([j.done for j in jobs], order)

    # ------------------------------------------------------------------- scheduling
    def _dispatch(self) -> None:
        """Hand out work (under the lock): general workers take chunks in order (one queued
        ahead each, so none waits for the next); the lead takes deferred OCR work first, else
        the next chunk, and gives its OCR engine back when it has nothing to do. Executors
        start when there is work for them and end after `idle_retire` seconds without any."""
        if self._closed:
            return
        slots = 2 * max(1, self.workers - 1)
        while self._queue and self._general_busy < slots:
            job = self._queue.popleft()
            self._general_busy += 1
            self._submit(self._general_ex(), self._general_done, job, _general_chunk,
                         job.paths, self.manifest_path, self.province_hint, self._docx_dir)
        if not self._lead_busy:
            if self._ocr_queue:
                job = self._ocr_queue.popleft()
                self._lead_busy = self._lead_engine = True
                self._submit(self._lead_ex(), self._ocr_done, job, _ocr_chunk,
                             [job.paths[i] for i in job.todo], self.manifest_path,
                             self.province_hint)
            elif self._queue:
                job = self._queue.popleft()
                self._lead_busy, self._lead_engine = True, False
                self._submit(self._lead_ex(), self._lead_done, job, _lead_chunk, job.paths,
                             self.manifest_path, self.province_hint, self._docx_dir)
            elif self._lead_engine and self._lead is not None:
                self._lead_busy, self._lead_engine = True, False
                self._submit(self._lead, self._lead_done, None, release_ocr)
        now = time.monotonic()
        self._idle_since["general"] = (self._idle_since.get("general") or now) \
            if self._general_busy == 0 else None
        self._idle_since["lead"] = (self._idle_since.get("lead") or now) \
            if not self._lead_busy else None
        self._watch_idle()

    def _watch_idle(self, delay: float | None = None) -> None:
        if self.idle_retire is None:
            return
        running = [k for k, ex in (("general", self._general), ("lead", self._lead))
                   if ex is not None and self._idle_since.get(k) is not None]
        if delay is None:
            delay = self.idle_retire
        if running and self._idle_timer is None and not self._closed:
            self._idle_timer = threading.Timer(delay, self._retire_idle)
            self._idle_timer.daemon = True
            self._idle_timer.start()

    def _retire_idle(self) -> None:
        """An executor whose worker had no work for `idle_retire` seconds ends (its process and
        ~80–250 MB with it): in a run with scans the general worker is idle most of the time,
        waiting for the next batch while the lead reads scans — and the flow loads a batch
        then. Work arriving later starts it again (~1 s of CPU)."""
        idle: list[ProcessPoolExecutor] = []
        with self._lock:
            self._idle_timer = None
            if self._closed:
                return
            now = time.monotonic()
            limit = self.idle_retire or 0.0
            soonest = limit
            for name in ("general", "lead"):
                ex = getattr(self, f"_{name}")
                since = self._idle_since.get(name)
                if ex is None or since is None:
                    continue
                if now - since >= limit - 0.01:
                    idle.append(ex)
                    setattr(self, f"_{name}", None)
                    self._idle_since[name] = None
                    if name == "lead":
                        self._lead_engine = False     # its process and engine are gone
                else:
                    soonest = min(soonest, limit - (now - since))
            self.retired += len(idle)
            self._watch_idle(soonest)
        for ex in idle:
            ex.shutdown(wait=True)

    def _submit(self, ex: ProcessPoolExecutor, then, job: _Job | None, fn, *args) -> None:
        try:
            fut = ex.submit(fn, *args)
        except BaseException as e:   # noqa: BLE001 — a broken pool: the job fails, not the caller
            fut = Future()
            fut.set_exception(e)
        fut.add_done_callback(lambda f: then(job, f))

    def _general_done(self, job: _Job, f: Future) -> None:
        with self._lock:
            self._general_busy -= 1
            try:
                job.res = f.result()
            except BaseException as e:   # noqa: BLE001 — handed to whoever waits
                self._finish(job, error=e)
                return
            job.todo = [i for i, x in enumerate(job.res) if x is None]
            if job.todo:
                self.deferred += len(job.todo)
                self._ocr_queue.append(job)
                self._dispatch()
            else:
                self._finish(job, job.res)

    def _ocr_done(self, job: _Job, f: Future) -> None:
        with self._lock:
            self._lead_busy = False
            try:
                for i, x in zip(job.todo, f.result()):
                    job.res[i] = x
            except BaseException as e:   # noqa: BLE001
                self._finish(job, error=e)
            else:
                self._finish(job, job.res)

    def _lead_done(self, job: _Job | None, f: Future) -> None:
        with self._lock:
            self._lead_busy = False
            if job is None:           # the engine's release (its failure loses nothing)
                self._dispatch()
                return
            try:
                res = f.result()
            except BaseException as e:   # noqa: BLE001
                self._finish(job, error=e)
            else:
                self._finish(job, res)

    def _finish(self, job: _Job, res: list | None = None,
                error: BaseException | None = None) -> None:
        """Hand out the next work, then complete `job` (in that order: whoever waits for the
        job finds the pool's next step — the lead's release of its engine — already queued)."""
        self._dispatch()
        if error is not None:
            job.done.set_exception(error)
        else:
            job.done.set_result(res)


class _Lazy:
    """Inline extraction, done when the result is asked for (same shape as a future)."""

    def __init__(self, paths, manifest_path, province_hint):
        self._args = (paths, manifest_path, province_hint)
        self._value = None

    def result(self):
        if self._value is None:
            self._value = extract_chunk(*self._args)
        return self._value
