"""tasks.parallel: the process pool on real fixture files — input order, OCR kept out of the
general workers (the lead worker reads scans and gives its engine back), DOC files converted
in one LibreOffice run per chunk or before the run, with a clear error for the one that fails,
slowest files first."""
from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest

from tasks import parallel, spec
from tasks.model import Status
from tasks.readers import office

FIX = Path(__file__).resolve().parents[1] / "fixtures"
SCAN = FIX / "scan" / "scan-a.pdf"
DOCS = [FIX / "doc" / "sample-1.doc", FIX / "doc" / "sample-2.doc"]
PDF = FIX / "pdf" / "template-a.pdf"
HTML = [FIX / "html" / "sample-1.html", FIX / "html" / "sample-2.html"]
OCR_LIBS = ("rapidocr", "onnxruntime", "cv2")

needs_lo = pytest.mark.skipif(office.soffice_path() is None and os.environ.get("CI") != "true",
                              reason="LibreOffice not installed (run scripts/sysdeps.sh)")


def _truth(path: Path) -> dict:
    import json

    return json.loads(path.with_name(path.stem + ".truth.json").read_text(encoding="utf-8"))


def assert_read_as_truth(ex, path: Path, exact: bool = True) -> None:
    """Every cell as in the truth file beside `path`; `exact=False` (OCR): a cell may be left
    uncertain/blank, never wrong, and at least 98 % are read right."""
    assert ex.source.status == "ok", ex.source.error_message
    truth = _truth(path)
    r = ex.report
    assert (r.agency, r.year) == (truth["agency"], truth["year"])
    wrong, right = [], 0
    for k in spec.KEYS_2021:
        c, t = r.cells[k], truth["cells"][k]
        v = None if c.value is None else Decimal(str(c.value))
        t = None if t is None else Decimal(str(t))
        if v == t:
            right += 1
        elif exact or (c.status != Status.UNCERTAIN and v is not None):
            wrong.append((k, t, v))
    assert wrong == []
    assert right >= (200 if exact else 0.98 * 200)


def _probe_modules(pause: float) -> tuple[int, list[str]]:
    """Run in a worker: its pid and the OCR libraries it has imported."""
    time.sleep(pause)
    return os.getpid(), [m for m in OCR_LIBS if m in sys.modules]


def _probe_engine() -> bool:
    """Run in a worker: does it hold an OCR engine?"""
    ocr = sys.modules.get("tasks.readers.ocr")
    return ocr is not None and ocr._ENGINE is not None


@needs_lo
def test_pool_keeps_input_order_and_ocr_out_of_the_general_workers():
    paths = [str(p) for p in (HTML[0], DOCS[0], SCAN, PDF, HTML[1], DOCS[1])]
    with parallel.LocalPool(2, chunk=4, idle_retire=None) as pool:
        handle = pool.submit_batch(paths)
        # the batch comes back packed (a few KB a report) and unpacks to the extractions
        packed = handle.packed()
        assert all(isinstance(x, bytes) and len(x) < 64 * 1024 for x in packed)
        got = handle.result()
        assert [parallel.unpack(x) for x in packed] == got
        assert [e.source.path for e in got] == paths
        # both chunks went to the general worker (one running, one queued ahead); it found the
        # scan, deferred it, and the lead read it ...
        assert pool.deferred == 1
        assert got[2].source.format == "scan" and got[2].report.format == "scan"
        general, lead = pool._executors()
        assert len(multiprocessing.active_children()) == 2        # one general, one lead
        assert lead.submit(_probe_modules, 0).result()[1] != []
        # ... and gave its engine back once it had no OCR work left
        assert lead.submit(_probe_engine).result() is False
        assert general.submit(_probe_modules, 0).result()[1] == []
    assert multiprocessing.active_children() == []
    for p, e in zip(paths, got):
        assert_read_as_truth(e, Path(p), exact=not p.endswith("scan-a.pdf"))
    assert got[1].report.meta["converted_by"] == "libreoffice"


@needs_lo
def test_lead_worker_reads_a_scan_in_its_own_chunk_and_releases_the_engine():
    """With no OCR work queued the lead takes the next chunk like a general worker; a scan
    in it is read there (not deferred), and the engine is given back afterwards."""
    paths = [str(HTML[0]), str(SCAN), str(HTML[1])]
    with parallel.LocalPool(2, chunk=1, idle_retire=None) as pool:
        general, lead = pool._executors()
        busy = pool.submit_batch([str(DOCS[0]), str(DOCS[1])])   # the general worker's 2 slots
        got = pool.submit_batch([paths[1]]).result()     # ... so the lead takes the scan
        assert [e.source.format for e in busy.result()] == ["doc", "doc"]
        assert pool.deferred == 0
        assert got[0].source.format == "scan" and got[0].report is not None
        assert lead.submit(_probe_engine).result() is False
        assert [e.source.path for e in pool.submit_batch(paths).result()] == paths


@needs_lo
def test_chunk_converts_its_doc_files_in_one_run_and_a_bad_one_fails_alone(tmp_path, monkeypatch):
    bad = tmp_path / "broken.doc"
    bad.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    wps = tmp_path / "copy.wps"
    shutil.copy(DOCS[1], wps)
    paths = [str(DOCS[0]), str(bad), str(HTML[0]), str(wps)]
    alone = []                                   # files LibreOffice was started for one by one
    real = office.convert

    def counting(data, suffix, target="docx", timeout=None):
        alone.append(suffix)
        return real(data, suffix, target, timeout)

    monkeypatch.setattr(office, "convert", counting)
    got = parallel.extract_chunk(paths, None, None)
    assert [e.source.path for e in got] == paths
    assert alone == [".doc"]                     # only the broken file, after the shared run
    assert got[1].report is None and got[1].source.error_code == "doc.convert_failed"
    assert "LibreOffice" in got[1].source.error_message
    assert_read_as_truth(got[0], DOCS[0])
    assert_read_as_truth(got[2], HTML[0])
    assert got[3].source.format == "wps" and got[3].report.format == "wps"
    assert_read_as_truth(got[3], DOCS[1])
    assert office._PRECONVERTED == {}            # nothing kept after the chunk


def test_slowest_first_order(tmp_path):
    small_pdf = tmp_path / "a.pdf"
    small_pdf.write_bytes(PDF.read_bytes())
    paths = [str(HTML[0]), str(small_pdf), str(DOCS[0]), str(tmp_path / "missing.txt"),
             str(SCAN), str(HTML[1])]
    order = parallel.slowest_first(paths)
    assert [paths[i] for i in order] == [str(SCAN), str(DOCS[0]), str(small_pdf), str(HTML[0]),
                                         str(HTML[1]), str(tmp_path / "missing.txt")]
    # a handle puts the extractions back in input order
    class Done:
        def __init__(self, v):
            self.v = v

        def result(self):
            return self.v

    ordered = [paths[i] for i in order]
    h = parallel.BatchHandle([Done(ordered[:4]), Done(ordered[4:])], order)
    assert h.result() == paths


def test_release_ocr_drops_the_engine():
    from tasks.readers import ocr

    try:
        ocr.engine()
    except Exception as e:   # noqa: BLE001
        pytest.skip(f"no OCR engine here: {e}")
    assert ocr._ENGINE is not None
    assert parallel.release_ocr() is True
    assert ocr._ENGINE is None and parallel.release_ocr() is False


def test_spread_deals_slow_files_out_evenly_over_batches(tmp_path):
    """Scans (big PDFs), DOC and PDF files are spread over every batch, each file once."""
    paths = []
    for i in range(6):
        p = tmp_path / f"scan{i}.pdf"
        p.write_bytes(b"%PDF-1.4\n" + b"0" * (800 * 1024))
        paths.append(str(p))
    for i in range(6):
        p = tmp_path / f"doc{i}.doc"
        p.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"0" * 100)
        paths.append(str(p))
    for i in range(18):
        p = tmp_path / f"page{i}.html"
        p.write_text("<html></html>")
        paths.append(str(p))
    batches = parallel.spread(paths, 10)
    assert [len(b) for b in batches] == [10, 10, 10]
    assert sorted(x for b in batches for x in b) == sorted(paths)
    assert [sum("scan" in x for x in b) for b in batches] == [2, 2, 2]
    assert [sum(x.endswith(".doc") for x in b) for b in batches] == [2, 2, 2]
    assert parallel.spread(paths[:5], 10) == [paths[:5]] and parallel.spread([], 10) == []


def test_batches_submitted_from_two_threads_share_one_pool():
    """The flow submits batch k+1 from another thread while batch k is being submitted: one
    pool of `workers` processes, not one per thread (which doubled processes and memory)."""
    import threading

    paths = [str(HTML[0]), str(HTML[1])] * 20
    with parallel.LocalPool(2, chunk=4) as pool:
        gate = threading.Barrier(4)
        handles: list = []

        def submit():
            gate.wait()
            handles.append(pool.submit_batch(paths))

        threads = [threading.Thread(target=submit) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        results = [h.result() for h in handles]
        assert len(multiprocessing.active_children()) == 2
    assert multiprocessing.active_children() == []
    assert all([e.source.path for e in r] == paths for r in results)


@needs_lo
def test_identical_doc_copies_in_a_chunk_share_one_conversion(tmp_path, monkeypatch):
    """Two files with the same bytes (a report saved under two names) are converted once, in
    the chunk's shared run, not by one LibreOffice start each."""
    a, b = tmp_path / "a.doc", tmp_path / "b.doc"
    shutil.copy(DOCS[0], a)
    shutil.copy(DOCS[0], b)
    alone = []
    real = office.convert

    def counting(data, suffix, target="docx", timeout=None):
        alone.append(suffix)
        return real(data, suffix, target, timeout)

    monkeypatch.setattr(office, "convert", counting)
    got = parallel.extract_chunk([str(a), str(b)], None, None)
    assert alone == []
    for e in got:
        assert_read_as_truth(e, DOCS[0])


def test_general_workers_run_at_a_lower_priority_than_the_flow():
    with parallel.LocalPool(3, idle_retire=None) as pool:
        general, lead = pool._executors()
        nice = {f.result() for f in [general.submit(os.nice, 0) for _ in range(4)]}
        lead_nice = lead.submit(os.nice, 0).result()
    assert nice == {os.nice(0) + parallel.GENERAL_NICE}
    assert lead_nice == os.nice(0)        # the lead reads the scans: a run's critical path


@needs_lo
def test_doc_files_are_converted_before_extraction_and_workers_use_the_docx(tmp_path,
                                                                            monkeypatch):
    """LocalPool.preconvert converts a run's DOC/WPS files (distinct contents once) before any
    batch; the general workers then read the DOCX without LibreOffice (started here on a PATH
    without it), a broken file still fails alone with its own error, and close() removes the
    converted files."""
    copy, bad = tmp_path / "copy.doc", tmp_path / "broken.doc"
    shutil.copy(DOCS[0], copy)
    bad.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    paths = [str(DOCS[0]), str(HTML[0]), str(copy), str(DOCS[1]), str(bad)]
    with parallel.LocalPool(2, chunk=2) as pool:
        assert pool.preconvert(paths) == 2            # sample-1 (and its copy), sample-2
        folder = Path(pool._docx_dir)
        assert len(list(folder.glob("*.docx"))) == 2
        empty = tmp_path / "bin"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))        # the workers spawn without soffice
        got = pool.submit_batch(paths).result()
    assert not folder.exists()
    assert [e.source.path for e in got] == paths
    for i, truth in ((0, DOCS[0]), (2, DOCS[0]), (3, DOCS[1])):
        assert got[i].source.format == "doc"
        assert_read_as_truth(got[i], truth)
    assert_read_as_truth(got[1], HTML[0])
    assert got[4].report is None and got[4].source.error_code == "tool.missing"


def test_no_preconversion_without_a_pool():
    with parallel.LocalPool(1) as pool:
        assert pool.preconvert([str(DOCS[0]), str(DOCS[1])]) == 0
        assert pool._docx_dir is None


def test_idle_workers_end_and_come_back_with_work():
    """A worker process without work for `idle_retire` seconds ends (its memory with it); the
    next batch starts it again and is read as before."""
    paths = [str(HTML[0]), str(HTML[1])] * 3
    with parallel.LocalPool(2, chunk=2, idle_retire=0.5) as pool:
        first = pool.submit_batch(paths).result()
        assert len(multiprocessing.active_children()) >= 2
        deadline = time.monotonic() + 30
        while multiprocessing.active_children() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pool.retired == 2                     # the general worker and the lead
        assert pool._general is None and pool._lead is None
        assert multiprocessing.active_children() == []
        again = pool.submit_batch(paths).result()
    assert [e.source.path for e in again] == [e.source.path for e in first] == paths
    assert [e.report.cells for e in again] == [e.report.cells for e in first]
