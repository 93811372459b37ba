"""Many DOC files per LibreOffice run (office.convert_many / office.preconverted): the same
reading as one file per run; a file the run cannot convert, or a run that fails, falls back to
one run per file with its own error."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from tasks import spec
from tasks.readers import office
from tasks.readers.grid import ReadError

pytestmark = pytest.mark.skipif(
    office.soffice_path() is None and os.environ.get("CI") != "true",
    reason="LibreOffice not installed (run scripts/sysdeps.sh)")

DOCS = sorted((Path(__file__).resolve().parents[2] / "fixtures" / "doc").glob("*.doc"))
BROKEN = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600     # LibreOffice cannot load it


def _cells(doc) -> dict:
    from tasks.extract import extract_document

    r = extract_document(doc)
    return {k: (r.value(k), str(r.cells[k].status), r.cells[k].source.row, r.cells[k].source.col)
            for k in spec.KEYS_2021} | {"agency": r.agency, "year": r.year}


def test_one_run_reads_like_one_file_per_run():
    import hashlib

    datas = [p.read_bytes() for p in DOCS]
    shas = [hashlib.sha256(d).hexdigest() for d in datas]
    single = [_cells(office.read_doc(str(p), d, s)) for p, d, s in zip(DOCS, datas, shas)]
    with office.preconverted([(str(p), d) for p, d in zip(DOCS, datas)]) as n:
        assert n == len(DOCS)
        assert set(office._PRECONVERTED) == set(shas)
        shared = [_cells(office.read_doc(str(p), d, s)) for p, d, s in zip(DOCS, datas, shas)]
    assert office._PRECONVERTED == {}
    assert shared == single


def test_a_file_the_run_cannot_convert_comes_back_none():
    out = office.convert_many([(DOCS[0].read_bytes(), ".doc"), (BROKEN, ".doc"),
                               (DOCS[1].read_bytes(), ".wps")], office.DOCX_TARGET)
    assert [x is None for x in out] == [False, True, False]
    assert all(x[:4] == b"PK\x03\x04" for x in (out[0], out[2]))
    with pytest.raises(ReadError) as e:          # alone, it gets its own clear error
        office.read_doc("broken.doc", BROKEN, "x")
    assert e.value.code == "doc.convert_failed" and "LibreOffice" in e.value.message


def test_a_run_that_times_out_converts_nothing_and_leaves_nothing(tmp_path, monkeypatch):
    work = tmp_path / "lo"
    work.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(work))
    monkeypatch.setattr(office, "BATCH_SECONDS_PER_FILE", 0.0)
    out = office.convert_many([(p.read_bytes(), ".doc") for p in DOCS], timeout=0.2)
    assert out == [None] * len(DOCS)             # the caller converts each alone
    left = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if str(work).encode() in cmd:
                left.append(pid)
    assert left == [] and list(work.iterdir()) == []


def test_encrypted_files_are_not_sent_to_the_shared_run():
    enc = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 500 \
        + "EncryptedPackage".encode("utf-16-le") + b"\0" * 500
    with office.preconverted([("a.doc", DOCS[0].read_bytes()), ("locked.doc", enc)]) as n:
        assert n == 0           # one convertible file left: no shared run for it
        with pytest.raises(ReadError) as e:
            office.read_doc("locked.doc", enc, "x")
        assert e.value.code == "doc.encrypted"
