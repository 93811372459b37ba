"""Sample reports as text PDFs: DOCX → PDF with LibreOffice headless.

The DOCX carries the official merged layout with narrow label columns, so in the PDF labels wrap
over several lines inside their cells and table 三 (28 rows) runs across a page break, as in
real reports. LibreOffice runs as a plain argument list (no shell), with a private profile
directory (`-env:UserInstallation`), so several conversions can run side by side, and a
timeout, so a hung conversion cannot stall a batch.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

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


class PdfRenderer:
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

    def choose_printing(self, rng: random.Random) -> dict[str, Any]:
        return self.docx.choose_printing(rng)

    def can_plant(self, kind: str, printing: dict[str, Any]) -> bool:
        return self.docx.can_plant(kind, printing)

    def can_drift(self, drift: str, printing: dict[str, Any]) -> bool:
        return self.docx.can_drift(drift, printing)

    def render(self, t: Any, doc: Any) -> bytes:
        return docx_to_pdf(self.docx.render(t, doc))
