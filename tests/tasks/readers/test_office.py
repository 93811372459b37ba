"""DOC/WPS reader: LibreOffice headless conversion of real Word files, its failure modes."""
from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tasks import spec
from tasks.extract import extract_file
from tasks.model import Status
from tasks.readers.grid import ReadError
from tasks.readers.office import convert, read_doc, soffice_path
from tests.tasks.readers.test_docx import TEMPLATE, fill_template, filled_values

pytestmark = pytest.mark.skipif(
    soffice_path() is None and os.environ.get("CI") != "true",
    reason="LibreOffice not installed (run scripts/sysdeps.sh)")

TITLE = "某某县交通运输局2024年政府信息公开工作年度报告"


@pytest.fixture(scope="module")
def filled_doc() -> bytes:
    """The official template filled with numbers, saved as Word 97 .doc by LibreOffice."""
    data = convert(fill_template(filled_values(), title=TITLE), ".docx", "doc:MS Word 97")
    assert data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"     # an OLE compound file
    return data


@pytest.mark.parametrize("name,fmt", [("report.doc", "doc"), ("report.wps", "wps")])
def test_doc_and_wps_read_exactly(tmp_path: Path, filled_doc: bytes, name: str, fmt: str):
    p = tmp_path / name
    p.write_bytes(filled_doc)
    ex = extract_file(p)
    assert ex.source.status == "ok", ex.source.error_message
    assert ex.source.format == fmt
    r = ex.report
    assert r.format == fmt and r.meta["converted_by"] == "libreoffice"
    assert r.agency == "某某县交通运输局" and r.year == 2024
    values = filled_values()
    assert {k: r.value(k) for k in spec.KEYS_2021} == values
    assert all(r.cells[k].status == (Status.BLANK if v is None else Status.READ)
               for k, v in values.items())
    src = r.cells["requests.total.legal_service"].source
    assert (src.file, src.table, src.row, src.col, src.page) == (str(p), 1, 26, 7, None)


def test_missing_libreoffice_is_a_clear_error_for_those_files_only(tmp_path: Path, monkeypatch,
                                                                    filled_doc: bytes):
    p = tmp_path / "report.doc"
    p.write_bytes(filled_doc)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    with pytest.raises(ReadError) as e:
        read_doc(str(p), filled_doc, "x")
    assert e.value.code == "tool.missing" and "LibreOffice" in e.value.message
    ex = extract_file(p)
    assert ex.report is None and ex.source.error_code == "tool.missing"
    docx = tmp_path / "report.docx"           # DOCX needs no LibreOffice
    docx.write_bytes(fill_template(filled_values(), title=TITLE))
    assert extract_file(docx).source.status == "ok"


def test_timeout_kills_the_whole_process_group(tmp_path: Path, monkeypatch, filled_doc: bytes):
    work = tmp_path / "lo"
    work.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(work))
    with pytest.raises(ReadError) as e:
        convert(filled_doc, ".doc", "docx", timeout=0.2)   # LibreOffice never starts that fast
    assert e.value.code == "doc.timeout"
    left = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if str(work).encode() in cmd:
                left.append(pid)
    assert left == []                  # no soffice process of that conversion survives
    assert list(work.iterdir()) == []  # and its private directory is gone


def test_corrupt_and_encrypted_doc_are_recorded_errors(tmp_path: Path):
    corrupt = tmp_path / "corrupt.doc"
    corrupt.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + os.urandom(3000))
    ex = extract_file(corrupt)
    assert ex.report is None and ex.source.status == "error"
    assert ex.source.error_code in ("doc.convert_failed", "docx.malformed", "not_a_report")
    enc = tmp_path / "locked.doc"   # an encrypted OOXML package lives in an OLE container
    enc.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 500
                    + "EncryptedPackage".encode("utf-16-le") + b"\0" * 500)
    ex = extract_file(enc)
    assert ex.source.error_code == "doc.encrypted"


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "doc"


def test_generated_doc_files_in_parallel():
    """The committed generated .doc samples, converted side by side (private LibreOffice
    profiles), read back exactly against their truth."""
    from tests.tasks.readers.test_html import check_fixture

    paths = sorted(FIXTURES.glob("*.doc"))
    assert len(paths) >= 2
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(check_fixture, paths))
