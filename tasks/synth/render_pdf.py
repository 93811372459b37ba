"""Sample reports as text PDFs: DOCX → PDF with LibreOffice headless.

The DOCX carries the official merged layout with narrow label columns, so in the PDF labels wrap
over several lines inside their cells and table 三 (28 rows) runs across a page break, as in
real reports. LibreOffice runs as a plain argument list (no shell), with a private profile
directory (`-env:UserInstallation`), so several conversions can run side by side, and a
timeout, so a hung conversion cannot stall a batch.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tasks.synth.render_text import DerivedRenderer

CONVERT_TIMEOUT = 180.0


class ConversionError(RuntimeError):
    pass


def soffice() -> str:
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if not exe:
        raise ConversionError("LibreOffice (soffice) is not installed: run scripts/sysdeps.sh")
    return exe


def docx_to_pdf(docx: bytes, timeout: float = CONVERT_TIMEOUT) -> bytes:
    """DOCX bytes → PDF bytes (LibreOffice writer_pdf_Export)."""
    with tempfile.TemporaryDirectory(prefix="nianbao-lo-") as tmp:
        tmpd = Path(tmp)
        src = tmpd / "report.docx"
        src.write_bytes(docx)
        profile = tmpd / "profile"
        out = tmpd / "out"
        out.mkdir()
        args = [soffice(), "--headless", "--norestore", "--nologo", "--nodefault",
                "--nolockcheck", f"-env:UserInstallation={profile.as_uri()}",
                "--convert-to", "pdf:writer_pdf_Export", "--outdir", str(out), str(src)]
        env = dict(os.environ, HOME=str(tmpd))
        try:
            proc = subprocess.run(args, capture_output=True, timeout=timeout, env=env,
                                  stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired as e:
            raise ConversionError(f"LibreOffice did not finish within {timeout:.0f} s") from e
        pdf = out / "report.pdf"
        if proc.returncode != 0 or not pdf.is_file():
            raise ConversionError(
                f"LibreOffice failed (exit {proc.returncode}): "
                f"{proc.stderr.decode('utf-8', 'replace')[-500:]}")
        return pdf.read_bytes()


class PdfRenderer(DerivedRenderer):
    """Renderer protocol (see render_text.TextRenderer): the DOCX renderer's document, printed
    to PDF. Defects and drifts are whatever the DOCX renderer can show."""
    format = "pdf"
    ext = ".pdf"

    def __init__(self, docx_renderer: Any | None = None):
        self._docx = docx_renderer

    @property
    def docx(self) -> Any:
        if self._docx is None:
            from tasks.synth.render_docx import DocxRenderer   # written by another module
            self._docx = DocxRenderer()
        return self._docx

    base = docx

    def render(self, t: Any, doc: Any) -> bytes:
        data = self.docx.render(t, doc)
        pdf = docx_to_pdf(keep_header_rows(data))
        if "requests" in (getattr(t, "missing_tables", None) or {}):
            return pdf
        if missing_request_rows(pdf):
            # LibreOffice 7.4 can drop rows when table 三 starts at the foot of a page with its
            # 3-row header cut; a repeated header lays it out correctly
            pdf = docx_to_pdf(keep_header_rows(data, repeat=True))
            lost = missing_request_rows(pdf)
            if lost:
                raise ConversionError(f"LibreOffice lost rows of table 三: {lost}")
        return pdf


def keep_header_rows(docx: bytes, repeat: bool = False) -> bytes:
    """The 3 header rows of table 三 kept with the first data row ("keep with next", as Word
    users do), or repeated on every page (`repeat`)."""
    import io

    import docx as python_docx
    from docx.oxml import OxmlElement

    d = python_docx.Document(io.BytesIO(docx))
    tables = [t for t in d.tables if "申请人情况" in "".join(c.text for c in t.rows[0].cells)]
    for t in tables:
        for row in t.rows[:3]:
            if repeat:
                row._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))
            for cell in row.cells:
                for p in cell.paragraphs:
                    p.paragraph_format.keep_with_next = True
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def missing_request_rows(pdf: bytes) -> list[str]:
    """Row keys of table 三 whose label is nowhere in the PDF's text (checked on the first six
    characters of each label, which sit on the label's first printed line)."""
    import pypdfium2 as pdfium

    from tasks import spec
    from tasks.labels import normalize

    doc = pdfium.PdfDocument(pdf)
    try:
        text = ""
        for i in range(len(doc)):
            tp = doc[i].get_textpage()
            # lines joined and digits dropped: a label wrapped over lines, or with a row's
            # numbers printed between its lines, reads as one
            text += re.sub(r"\d", "", "".join(normalize(ln) for ln in tp.get_text_range().splitlines()))
            tp.close()
    finally:
        doc.close()
    missing = []
    for key, cores in spec.labels()["rows"].items():
        if not key.startswith("requests.") or key == "requests.other":
            continue
        heads = [normalize(c)[:6] for c in cores if len(normalize(c)) >= 4]
        if heads and not any(h in text for h in heads):
            missing.append(key)
    return missing
