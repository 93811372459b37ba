"""Extraction on the local cores: chunks of files on a process pool (no Prefect here).

`extract_chunk(paths, manifest_path, province_hint)` is the unit of work everywhere (process
pool, Dask worker, or inline): it is a top-level function, so it pickles by reference, and it
loads the manifest once per process. It converts the chunk's DOC/WPS files in one LibreOffice
run (tasks.readers.office.preconverted) and, afterwards, drops the OCR engine if it loaded it
(the models grow to ~300–500 MB while reading a scan).

`LocalPool` runs chunks on a `ProcessPoolExecutor` ("spawn" start method: the flow process has
threads, forking it is not safe) or inline when one worker is asked for;
`LocalPool.submit_batch(paths)` returns a handle whose `result()` is the batch's extractions in
input order, so the caller can validate and load batch k while the pool extracts batch k+1.

Memory: OCR stays out of the general workers. In them, a PDF that needs OCR (known once the
PDF reader has classified its pages) is not read there: `tasks.readers.ocr.engine` refuses
(`_NeedsOCR`), the file comes back "deferred", and the pool hands it to one dedicated OCR
process that exits as soon as it has no OCR work left. So at most one process holds the OCR
models, only while there are scans, and a general worker stays at ~70 MB. LibreOffice (~150–200
MB a run) does not run beside them either: `LocalPool.preconvert` converts a run's DOC/WPS
files before extraction starts, and the workers read the DOCX it wrote. Extractions come back
packed (`pack`: pickled and compressed), so a batch waiting for the flow takes ~5 MB.

Priority: the general workers run at a lower CPU priority (nice +GENERAL_NICE). A run with
scans is as long as the OCR process's queue, so the OCR process (and the flow process, which
validates and loads) get a core first; the general workers use what is left, and all of it
once they are alone.

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
import zlib
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
    """The OCR process's task: like extract_chunk, the engine kept for the next scan (the
    process itself ends when the pool has no OCR work left); extractions packed (`pack`)."""
    return [pack(x) for x in _run_chunk(paths, manifest_path, province_hint, defer_ocr=False,
                                        release=False)]


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
    files and PDFs: the OCR process then has work from the first batch on instead of all of
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


class LocalPool:
    """Process pool for extraction; `workers <= 1` (or a run of fewer than INLINE_BELOW files,
    `total`) runs everything inline (no processes). With a pool, files that need OCR go to
    `ocr_workers` (default one) extra OCR processes that end when they have no OCR work left
    (see the module's docstring)."""

    def __init__(self, workers: int | None = None, manifest_path: str | None = None,
                 province_hint: str | None = None, chunk: int = CHUNK,
                 total: int | None = None, ocr_workers: int = 1):
        self.workers = default_workers() if workers is None else max(1, int(workers))
        if total is not None and total < INLINE_BELOW:
            self.workers = 1           # the pool would cost more than it saves
        self.manifest_path = manifest_path
        self.province_hint = province_hint
        self.chunk = chunk
        # OCR processes at most (each holds the models, hundreds of MB while reading a scan;
        # one caps the memory, more finish a scan-heavy run sooner)
        self.ocr_workers = max(1, int(ocr_workers))
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._ocr_pool: ProcessPoolExecutor | None = None
        self._ocr_pending = 0
        self._retired: list[threading.Thread] = []
        self._closed = False
        self.ocr_processes = 0         # OCR pools (of ocr_workers processes) started so far
        self.deferred = 0              # files handed to the OCR process so far
        self._docx_dir: str | None = None      # DOC files converted before the run (preconvert)

    def __enter__(self) -> "LocalPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True           # no new OCR process from here on
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        with self._lock:
            ocr, self._ocr_pool = self._ocr_pool, None
            retired, self._retired = self._retired, []
        if ocr is not None:
            ocr.shutdown(wait=True, cancel_futures=True)
        for t in retired:
            t.join()
        if self._docx_dir is not None:
            shutil.rmtree(self._docx_dir, ignore_errors=True)
            self._docx_dir = None

    def preconvert(self, paths: Sequence[str]) -> int:
        """Convert the DOC/WPS/RTF files among `paths` before extraction starts (call it
        before the first `submit_batch`): LibreOffice (~150–200 MB a run) then never runs
        beside the OCR process and a batch being loaded. Distinct contents only, in runs of
        PRECONVERT_RUN files, as many runs at once as there are workers; the general workers
        take the DOCX from a private folder removed by `close`. A file these runs do not
        convert is converted by its worker as before. Returns how many were converted (none
        without a pool: an inline run converts its batch's files in one run anyway)."""
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

    def _executor(self) -> ProcessPoolExecutor:
        # under the lock: the flow submits batch k+1 from another thread while batch k is
        # submitted; two pools (twice the processes and memory) would start otherwise
        with self._lock:
            if self._closed:
                raise RuntimeError("LocalPool is closed")
            if self._pool is None:
                self._pool = ProcessPoolExecutor(self.workers,
                                                 mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_lower_priority,
                                                 initargs=(GENERAL_NICE,))
            return self._pool

    def submit_batch(self, paths: Sequence[str]) -> BatchHandle:
        if self.workers <= 1:
            return BatchHandle([_Lazy(list(paths), self.manifest_path, self.province_hint)])
        ex = self._executor()
        order = slowest_first(paths)
        ordered = [paths[i] for i in order]
        parts = [self._submit_chunk(ex, c) for c in chunks(ordered, self.chunk)]
        return BatchHandle(parts, order)

    # a chunk: the general worker's pass, then (if it deferred files) the OCR process's
    def _submit_chunk(self, ex: ProcessPoolExecutor, paths: list[str]) -> Future:
        done: Future = Future()
        first = ex.submit(_general_chunk, paths, self.manifest_path, self.province_hint,
                          self._docx_dir)

        def after_general(f: Future) -> None:
            try:
                res = f.result()
                todo = [i for i, x in enumerate(res) if x is None]
                if not todo:
                    done.set_result(res)
                    return
                second = self._submit_ocr([paths[i] for i in todo])
            except BaseException as e:   # noqa: BLE001 — handed to whoever waits
                done.set_exception(e)
                return

            def after_ocr(g: Future) -> None:
                try:
                    for i, x in zip(todo, g.result()):
                        res[i] = x
                    done.set_result(res)
                except BaseException as e:   # noqa: BLE001
                    done.set_exception(e)

            second.add_done_callback(after_ocr)

        first.add_done_callback(after_general)
        return done

    def _submit_ocr(self, paths: list[str]) -> Future:
        with self._lock:
            if self._closed:
                raise RuntimeError("LocalPool is closed")
            if self._ocr_pool is None:
                self._ocr_pool = ProcessPoolExecutor(
                    self.ocr_workers, mp_context=multiprocessing.get_context("spawn"))
                self.ocr_processes += 1
            pool = self._ocr_pool
            fut = pool.submit(_ocr_chunk, paths, self.manifest_path, self.province_hint)
            self._ocr_pending += 1
            self.deferred += len(paths)
        fut.add_done_callback(lambda f, pool=pool: self._ocr_done(pool))
        return fut

    def _ocr_done(self, pool: ProcessPoolExecutor) -> None:
        """No OCR work left: the OCR process ends (its memory with it). Shut down from a
        thread of its own (this callback runs on the pool's own management thread)."""
        with self._lock:
            self._ocr_pending -= 1
            if self._ocr_pending or self._ocr_pool is not pool:
                return
            self._ocr_pool = None
            t = threading.Thread(target=pool.shutdown, kwargs={"wait": True},
                                 name="nianbao-ocr-retire", daemon=True)
            self._retired = [x for x in self._retired if x.is_alive()] + [t]
        t.start()


class _Lazy:
    """Inline extraction, done when the result is asked for (same shape as a future)."""

    def __init__(self, paths, manifest_path, province_hint):
        self._args = (paths, manifest_path, province_hint)
        self._value = None

    def result(self):
        if self._value is None:
            self._value = extract_chunk(*self._args)
        return self._value
