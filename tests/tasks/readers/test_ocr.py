"""Scanned PDFs: grid from ruling lines, cell OCR with confidences, the cid → OCR route.

The OCR tests run RapidOCR for real (its wheel ships the models; nothing is downloaded) on a
few pages: the committed scan fixture (printed by LibreOffice, rendered at 150 dpi, skewed,
blurred, noisy, JPEG) and a text PDF whose fonts lost their Unicode maps.
"""
from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pikepdf
import pytest

from tasks import spec
from tasks.extract import extract_file
from tasks.layout import UNCERTAIN_BELOW
from tasks.model import Status
from tasks.readers import ocr
from tasks.readers.pdf import read_pdf
from tests.conftest import SHARED

FIX = Path(__file__).resolve().parents[2] / "fixtures"
SCAN = FIX / "scan" / "scan-a.pdf"


def _truth(path: Path) -> dict:
    d = json.loads(path.read_text(encoding="utf-8"))
    d["cells"] = {k: (None if v is None else Decimal(str(v))) for k, v in d["cells"].items()}
    return d


def _score(report, cells: dict, keys) -> dict:
    out = {"correct": 0, "wrong": [], "unsure": 0}
    for k in keys:
        c, t = report.cells[k], cells[k]
        v = None if c.value is None else Decimal(str(c.value))
        if c.status == Status.UNCERTAIN:
            out["unsure"] += 1
            assert c.confidence is not None and c.confidence < UNCERTAIN_BELOW
        elif v == t:
            out["correct"] += 1
        elif v is None:
            out["unsure"] += 1          # blank instead of a printed value: not read, not wrong
        else:
            out["wrong"].append((k, t, v, c.confidence))
    return out


# --- geometry, no OCR ------------------------------------------------------------------------

def _ruled_image() -> np.ndarray:
    """A 3-row table drawn like a scan: the top row is one cell over four columns, the second
    row has a cell spanning columns 2–3, and a rule with a 3-pixel gap."""
    import cv2

    img = np.full((400, 1000), 255, np.uint8)
    xs, ys = [100, 300, 500, 700, 900], [100, 160, 220, 280]
    for y in ys:
        cv2.line(img, (xs[0], y), (xs[-1], y), 0, 2)
    cv2.line(img, (xs[0], ys[0]), (xs[0], ys[-1]), 0, 2)
    cv2.line(img, (xs[-1], ys[0]), (xs[-1], ys[-1]), 0, 2)
    for x in xs[1:-1]:
        cv2.line(img, (x, ys[1]), (x, ys[-1]), 0, 2)
    cv2.line(img, (xs[2], ys[1]), (xs[2], ys[2]), 255, 2)       # merge row 2, cols 2-3
    img[ys[3] - 2:ys[3] + 2, 640:643] = 255                       # a gap in the bottom rule
    return img


def test_find_tables_recovers_merged_cells():
    from tasks.readers.pdf_grid import TablePart, BoxCell, part_matrix

    tables = ocr.find_tables(_ruled_image())
    assert len(tables) == 1
    box, cells, _ = tables[0]
    assert len(cells) == 1 + 3 + 4
    k = 72 / 200
    part = TablePart(page=1, bbox=box, cells=[
        BoxCell((c.x0 * k, c.y0 * k, c.x1 * k, c.y1 * k), "x", 1) for c in cells])
    m = part_matrix(part)
    assert (part.n_rows, part.n_cols) == (3, 4)
    assert m[0][0] is m[0][3]                  # one cell across the top
    assert m[1][1] is m[1][2] and m[1][0] is not m[1][1]
    assert len({id(c) for c in m[2]}) == 4


def test_skew_is_measured_and_undone():
    import cv2

    img = _ruled_image()
    h, w = img.shape
    rot = cv2.warpAffine(img, cv2.getRotationMatrix2D((w / 2, h / 2), 0.8, 1.0), (w, h),
                         borderValue=255)
    angle = ocr.skew_angle(ocr.binarize(rot))
    assert abs(angle + 0.8) <= 0.1
    straight, a = ocr.deskew(rot)
    assert len(ocr.find_tables(straight)[0][1]) == 8


def test_clean_ink_drops_specks_keeps_decimal_point():
    import cv2

    ink = np.zeros((40, 400), np.uint8)
    cv2.putText(ink, "3.06", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 255, 2, cv2.LINE_8)
    clean = ink.copy()
    ink[20:22, 300:302] = 255        # specks far to the right, and above the text
    ink[1:3, 40:42] = 255
    out = ocr.clean_ink(ink)
    assert out is not None and out.glyphs == 3         # 3, 0, 6 (the point is no glyph)
    assert out.mask[:, 150:].sum() == 0 and out.mask[:4].sum() == 0   # specks gone
    assert ((out.mask > 0) == (clean > 0)).all()       # the point of 3.06 stays
    speck_only = np.zeros((40, 400), np.uint8)
    speck_only[10:12, 50:52] = 255
    assert ocr.clean_ink(speck_only) is None


def test_doubtful_numbers_are_capped():
    assert ocr._check("20", 0.99) == ("20", 0.99)
    t, c = ocr._check("2 0", 0.99)        # one number or two? never a certain 20
    assert c < UNCERTAIN_BELOW
    t, c = ocr._check("1O5", 0.97)
    assert c < UNCERTAIN_BELOW
    assert ocr._check("05", 0.99)[1] < UNCERTAIN_BELOW       # a leading zero: a digit too many
    assert ocr._check("862", 0.99, glyphs=2)[1] < UNCERTAIN_BELOW   # 3 digits from 2 glyphs
    assert ocr._check("86", 0.99, glyphs=2) == ("86", 0.99)
    assert ocr._check("LAITENEER", 0.21) == ("", 0.21)      # noise in an empty cell
    assert ocr._check("予以公开", 0.4)[0] == "予以公开"         # a label is kept


# --- OCR for real ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scan_a():
    ex = extract_file(SCAN, keep_document=True)
    assert ex.source.status == "ok", ex.source.error_message
    return ex


def test_scan_is_read_without_a_wrong_cell(scan_a):
    truth = _truth(SCAN.with_suffix(".truth.json"))
    r = scan_a.report
    assert r.format == "scan"
    assert (r.agency, r.year) == (truth["agency"], truth["year"])
    assert r.tables_found == ["proactive", "requests", "appeals"]
    s = _score(r, truth["cells"], spec.KEYS_2021)
    assert s["wrong"] == []
    assert s["correct"] >= 0.98 * 200


def test_scan_cells_carry_confidence_page_and_bbox(scan_a):
    r = scan_a.report
    for k in ("requests.new.natural_person", "requests.carried_forward.total",
              "appeals.cases.review_total", "proactive.fees.amount"):
        c = r.cells[k]
        assert c.confidence is not None and 0 <= c.confidence <= 1
        x0, top, x1, bottom = c.source.bbox
        assert 0 <= x0 < x1 <= 596 and 0 <= top < bottom <= 843
        assert c.source.page in (1, 2, 3)
    three = [g for g in scan_a.document.grids
             if any("申请人情况" in c.text for row in g.rows for c in row)]
    assert len(three) == 1
    assert {c.page for row in three[0].rows for c in row if c.page} == {2, 3}


def test_cid_fonts_go_to_ocr():
    """The text layer is glyph ids only ((cid:NNN) in pdfminer): the page is read by OCR."""
    src = pikepdf.open(FIX / "pdf" / "template-a.pdf")
    for page in src.pages:
        for _, font in page.Resources.Font.items():
            if "/ToUnicode" in font:
                del font["/ToUnicode"]
    out = pikepdf.new()
    out.pages.append(src.pages[3])     # the continuation of table 三 and table 四
    buf = io.BytesIO()
    out.save(buf)
    doc = read_pdf("cid.pdf", buf.getvalue(), "x")
    assert doc.format == "scan" and doc.meta["ocr_pages"] == [1]
    truth = _truth(FIX / "pdf" / "template-a.truth.json")["cells"]
    from tasks.extract import extract_document

    r = extract_document(doc)
    keys = [k for k in spec.KEYS_2021 if k.startswith("appeals.")]
    keys += [spec.key("requests", row, col) for row in
             ("unable_unclear", "rejected_petition", "other_other", "total", "carried_forward")
             for col in spec.REQUEST_COLUMNS]
    s = _score(r, truth, keys)
    assert s["wrong"] == []
    assert s["correct"] >= len(keys) - 2


def test_table_pasted_as_a_picture_into_a_text_page(tmp_path):
    from tests.tasks.readers.test_pdf import table_picture_pdf

    doc = read_pdf("pic.pdf", table_picture_pdf(tmp_path), "x")
    assert doc.format == "scan" and doc.meta["ocr_pages"] == [1]
    assert doc.text[0].text == "苏州市吴中区教育局 2024 年政府信息公开工作年度报告"   # text layer kept
    from tasks.extract import extract_document

    r = extract_document(doc)
    truth = _truth(SCAN.with_suffix(".truth.json"))["cells"]
    keys = [k for k in spec.KEYS_2021 if k.startswith("appeals.")]
    s = _score(r, truth, keys)
    assert s["wrong"] == [] and s["correct"] >= 14


def _drawn_table(lost_rule: bool) -> np.ndarray:
    """Labels and numbers drawn with a CJK font into a ruled 3×3 table at 200 dpi; with
    `lost_rule` the rule between the two data rows is missing in the number column."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 30)
    img = Image.new("L", (1000, 420), 255)
    d = ImageDraw.Draw(img)
    xs, ys = [60, 560, 760, 940], [60, 160, 260, 360]
    for y in ys:
        d.line([(xs[0], y), (xs[-1], y)], fill=0, width=3)
    for x in xs:
        d.line([(x, ys[0]), (x, ys[-1])], fill=0, width=3)
    if lost_rule:
        d.line([(xs[1] + 3, ys[2]), (xs[2] - 2, ys[2])], fill=255, width=5)
    for (x, y, t) in [(80, 90, "信息内容"), (580, 90, "件数"), (780, 90, "总计"),
                      (80, 190, "行政处罚"), (580, 190, "3"), (780, 190, "20"),
                      (80, 290, "行政强制"), (580, 290, "5"), (780, 290, "7")]:
        d.text((x, y), t, fill=0, font=font)
    return np.array(img)


def test_drawn_table_cells_and_a_lost_rule():
    parts = ocr.read_tables(_drawn_table(lost_rule=False), 200, 1)
    assert len(parts) == 1
    texts = {c.text: c for c in parts[0].cells}
    assert {"信息内容", "件数", "总计", "行政处罚", "3", "20", "行政强制", "5", "7"} <= set(texts)
    assert all(texts[t].confidence >= UNCERTAIN_BELOW for t in ("3", "20", "5", "7"))
    # the rule between 3 and 5 lost in the scan: one cell shows two lines, never a certain 35
    parts = ocr.read_tables(_drawn_table(lost_rule=True), 200, 1)
    merged = [c for c in parts[0].cells if c.text.replace(" ", "") in ("35", "3", "5")]
    assert len(merged) == 1 and merged[0].confidence < UNCERTAIN_BELOW


def test_engine_runs_one_thread_and_reads_a_lone_digit_surely():
    """One onnxruntime thread per process (extraction already runs one process per core), and a
    single printed digit — the commonest table cell — is read at full confidence, not
    squeezed to its own width (where the model doubts it)."""
    from PIL import Image, ImageDraw, ImageFont

    eng = ocr.engine()
    assert eng.rec.get_session_options().intra_op_num_threads == 1
    font = ImageFont.truetype("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 30)
    img = Image.new("L", (40, 50), 255)
    ImageDraw.Draw(img).text((10, 2), "0", fill=0, font=font)
    (text, confs), = eng.recognize([np.array(img)])
    assert text == "0" and min(confs) >= 0.98      # 0.94 at its own width


def test_noise_read_as_a_stroke_beside_a_digit_keeps_a_number_cell_uncertain():
    t, c = ocr._check("0二", 0.95)        # a harsh scan's speck beside a 0
    assert t == "0" and c < UNCERTAIN_BELOW
    assert ocr._check("一", 0.95) == ("一", 0.95)      # a dash alone is not touched


# --- text detection in strips ------------------------------------------------------------------

@pytest.mark.parametrize("pdf", [SCAN, SHARED / "real" / "huaian-city-2024.pdf"],
                         ids=["scan-a", "huaian"])
def test_strip_detection_finds_each_line_of_the_whole_page_once(pdf):
    """detect_boxes over strips (what read_lines runs) finds the same text boxes as one pass
    over the whole page: none lost at a strip's edge, none found twice in an overlap."""
    import cv2
    import pypdfium2 as pdfium

    gray = ocr.render_page(pdfium.PdfDocument(str(pdf))[0], 200)
    h, w = gray.shape
    small = cv2.resize(gray, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    det = ocr.engine().detector()
    strips, fit = ocr.detect_boxes(det, small)
    whole, _ = ocr.detect_boxes(det, small, strip=10 ** 6)
    assert small.shape[0] > 2 * ocr.DET_STRIP and fit == 1.0   # several strips were run

    def centres(boxes):
        return sorted(((b[:, 1].min() + b[:, 1].max()) / 2, (b[:, 0].min() + b[:, 0].max()) / 2)
                      for b in boxes)

    a, b = centres(whole), centres(strips)
    assert len(a) >= 15 and len(b) == len(a)
    for (ya, xa), (yb, xb) in zip(a, b):
        assert abs(ya - yb) < 4 and abs(xa - xb) < 8
