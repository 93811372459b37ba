"""Sample reports as scans: a text PDF's pages rendered to images (pypdfium2, 150–200 dpi),
turned by a slight skew (±1°), speckled with noise, saved as JPEG and wrapped into an
image-only PDF (img2pdf) — what a printed-and-scanned report looks like. No text layer is
left, so the reader has to OCR it.
"""
from __future__ import annotations

import io
import random
from typing import Any

import numpy as np

from tasks.synth.render_text import DerivedRenderer


def pdf_to_scan(pdf: bytes, dpi: int = 200, seed: int = 0, max_skew: float = 1.0,
                noise: float = 10.0, jpeg_quality: int = 80, pages: list[int] | None = None) -> bytes:
    """Text PDF bytes → image-only PDF bytes. `pages` (0-based) selects pages; deterministic
    for `seed`."""
    import img2pdf
    import pypdfium2 as pdfium
    from PIL import Image, ImageFilter

    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    src = pdfium.PdfDocument(pdf)
    images: list[bytes] = []
    try:
        for i in range(len(src)):
            if pages is not None and i not in pages:
                continue
            page = src[i]
            img = page.render(scale=dpi / 72.0, grayscale=True).to_pil().convert("L")
            page.close()
            angle = rng.uniform(-max_skew, max_skew)
            img = img.rotate(angle, resample=Image.BICUBIC, expand=False, fillcolor=255)
            if rng.random() < 0.5:
                img = img.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.3, 0.7)))
            a = np.asarray(img).astype(np.float32)
            a += nrng.normal(0.0, noise, a.shape)
            # paper grain: a few dark specks
            specks = nrng.random(a.shape) < 0.0004
            a[specks] -= 120
            a = np.clip(a, 0, 255).astype(np.uint8)
            buf = io.BytesIO()
            Image.fromarray(a, "L").save(buf, format="JPEG", quality=jpeg_quality, dpi=(dpi, dpi))
            images.append(buf.getvalue())
    finally:
        src.close()
    if not images:
        raise ValueError("no page to scan")
    return img2pdf.convert(images)


class ScanRenderer(DerivedRenderer):
    """Renderer protocol (see render_text.TextRenderer): the PDF renderer's output, scanned."""
    format = "scan"
    ext = ".pdf"

    def __init__(self, pdf_renderer: Any | None = None):
        self._pdf = pdf_renderer

    @property
    def pdf(self) -> Any:
        if self._pdf is None:
            from tasks.synth.render_pdf import PdfRenderer

            self._pdf = PdfRenderer()
        return self._pdf

    base = pdf

    def choose_printing(self, rng: random.Random) -> dict[str, Any]:
        p = dict(super().choose_printing(rng))
        p.update(scan_dpi=rng.choice((150, 200, 200)), scan_seed=rng.randrange(2**31))
        return p


    def render(self, t: Any, doc: Any) -> bytes:
        dpi = int(t.printing.get("scan_dpi", 200))
        return pdf_to_scan(self.pdf.render(t, doc), dpi=dpi, seed=int(t.printing.get("scan_seed", 0)))
