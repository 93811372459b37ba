"""The pdfium table path (tasks.readers.pdf_fast) against the pdfplumber path it replaces.

Both paths read the same candidate pages; every table part must have the same cells (box to
0.05 pt, text exactly), on the real 淮安 WPS report, the LibreOffice fixtures and freshly
generated reports. Pages the fast path cannot be sure of must go to pdfplumber.
"""
from __future__ import annotations

import io
from pathlib import Path

import pikepdf
import pypdfium2
import pytest

from tasks.extract import extract_file
from tasks.readers import pdf as pdf_reader
from tasks.readers import pdf_fast
from tasks.readers.pdf import read_pdf, scan_pages
from tests.tasks.readers.test_pdf import FIXTURES, HUAIAN, assert_cells, huaian_truth, load_truth

FIXTURE_NAMES = ["template-a", "template-b-bold", "template-c-rowcut", "synth-title-wrap",
                 "synth-appeals-cut"]


def both_paths(data: bytes) -> tuple[list, list, dict, dict, list[int]]:
    """(pdfium parts, pdfplumber parts, pdfium between, pdfplumber between, candidate pages)."""
    pdf = pypdfium2.PdfDocument(data)
    try:
        cand = [p.index for p in scan_pages(pdf) if p.candidate]
        fast_between: dict = {}
        fast, unsure = pdf_reader._fast_tables(pdf, cand, fast_between)
        assert unsure == [], f"pdfium path not sure of pages {[i + 1 for i in unsure]}"
    finally:
        pdf.close()
    plumber_between: dict = {}
    plumber = pdf_reader._text_tables(data, cand, plumber_between)
    return fast, plumber, fast_between, plumber_between, cand


def assert_same_parts(fast: list, plumber: list) -> int:
    assert [(p.page, len(p.cells)) for p in fast] == [(p.page, len(p.cells)) for p in plumber]
    n = 0
    for a, b in zip(fast, plumber):
        assert a.bbox == pytest.approx(b.bbox, abs=0.05)
        assert a.xs == pytest.approx(b.xs, abs=0.05) and a.ys == pytest.approx(b.ys, abs=0.05)
        for ca, cb in zip(a.cells, b.cells):
            assert ca.bbox == pytest.approx(cb.bbox, abs=0.05), (ca, cb)
            assert ca.text == cb.text, (ca, cb)
            n += 1
    return n


def assert_same_gaps(fast_between: dict, plumber_between: dict) -> None:
    """The text above / below the tables may wrap differently (pdfium's character heights are
    not pdfminer's), but the cross-page join must decide the same."""
    assert fast_between.keys() == plumber_between.keys()
    for page, gap in fast_between.items():
        verdict = [pdf_reader._only_margin_text(t) for t in gap]
        assert verdict == [pdf_reader._only_margin_text(t) for t in plumber_between[page]], page
        assert [t.replace("\n", "").replace(" ", "") for t in gap] == \
            [t.replace("\n", "").replace(" ", "") for t in plumber_between[page]], page


def assert_same_grids(fast, fast_between, plumber, plumber_between) -> None:
    """The grids built from either path's parts: same rows, texts, merged copies, pages."""
    def key(grids):
        return [[[(c.text, c.merged, c.page) for c in row] for row in g.rows] for g in grids]

    a = pdf_reader.assemble(fast, fast_between)
    b = pdf_reader.assemble(plumber, plumber_between)
    assert a and key(a) == key(b)


def test_huaian_same_cells_as_pdfplumber():
    fast, plumber, fb, pb, cand = both_paths(HUAIAN.read_bytes())
    assert cand == [2, 3, 4]
    assert assert_same_parts(fast, plumber) > 250
    assert_same_gaps(fb, pb)
    assert_same_grids(fast, fb, plumber, pb)


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_fixtures_same_cells_as_pdfplumber(name):
    fast, plumber, fb, pb, _ = both_paths((FIXTURES / f"{name}.pdf").read_bytes())
    assert assert_same_parts(fast, plumber) > 100
    assert_same_gaps(fb, pb)
    assert_same_grids(fast, fb, plumber, pb)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> list[Path]:
    from tasks.synth import generate

    out = tmp_path_factory.mktemp("pdf-fast")
    return generate(out, agencies=3, years=(2024,), seed=606, formats=["pdf"], defect_rate=0.3)


def test_generated_same_cells_as_pdfplumber(generated):
    assert len(generated) == 3
    for p in generated:
        fast, plumber, fb, pb, _ = both_paths(p.read_bytes())
        assert assert_same_parts(fast, plumber) > 100, p.name
        assert_same_gaps(fb, pb)
        assert_same_grids(fast, fb, plumber, pb), p.name


def test_huaian_read_by_pdfium_with_all_cells():
    ex = extract_file(HUAIAN)
    assert ex.report.meta["page_engines"] == {"pdfium": [3, 4, 5]}
    assert_cells(ex.report, huaian_truth())


def test_intersections_to_cells_is_pdfplumbers():
    """Our linear intersections_to_cells gives pdfplumber's cells in pdfplumber's order."""
    from pdfplumber import utils
    from pdfplumber.table import edges_to_intersections, intersections_to_cells, merge_edges

    checked = 0
    for path in [HUAIAN, *[FIXTURES / f"{n}.pdf" for n in FIXTURE_NAMES]]:
        pdf = pypdfium2.PdfDocument(path.read_bytes())
        for page in pdf:
            edges = pdf_fast.path_geometry(page, page.get_size()[1])[0]
            v = utils.filter_edges(edges, "v", min_length=1)
            h = utils.filter_edges(edges, "h", min_length=1)
            merged = utils.filter_edges(merge_edges(v + h, 3, 3, 3, 3), min_length=3)
            inter = edges_to_intersections(merged, 3, 3)
            ours = pdf_fast.intersections_to_cells(inter)
            assert ours == intersections_to_cells(inter)
            checked += len(ours)
    assert checked > 500


def test_edges_are_pdfplumbers():
    """The path edges pdfium gives are the ones pdfplumber finds (positions to 0.01 pt)."""
    import pdfplumber

    with pdfplumber.open(HUAIAN) as pl:
        ref = pl.pages[3].edges
        ref = [(e["orientation"], e["x0"], e["top"], e["x1"], e["bottom"]) for e in ref]
    pdf = pypdfium2.PdfDocument(HUAIAN.read_bytes())
    ours = pdf_fast.path_geometry(pdf[3], 842.0)[0]
    ours = sorted((e["orientation"], e["x0"], e["top"], e["x1"], e["bottom"]) for e in ours)
    assert len(ours) > 30 and len(ours) == len(ref)
    for e in ours:       # pdfium keeps coordinates as 32-bit floats: equal to 0.01 pt
        assert any(e[0] == r[0] and max(abs(a - b) for a, b in zip(e[1:], r[1:])) < 0.01
                   for r in ref), e


# --- pages the fast path is not sure of go to pdfplumber --------------------------------------

def _add_to_page(data: bytes, page_index: int, content: bytes) -> bytes:
    src = pikepdf.open(io.BytesIO(data))
    page = src.pages[page_index]
    page.Resources.Font["/FxH"] = src.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, BaseFont=pikepdf.Name.Helvetica))
    page.contents_add(src.make_stream(content), prepend=False)
    buf = io.BytesIO()
    src.save(buf)
    return buf.getvalue()


def _table_box(data: bytes, page_index: int) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) in PDF coordinates of the tallest table on the page."""
    pdf = pypdfium2.PdfDocument(data)
    page = pdf[page_index]
    tp = page.get_textpage()
    parts, _ = pdf_fast.page_tables(page, tp, page_index + 1)
    h = page.get_size()[1]
    x0, top, x1, bottom = max((p.bbox for p in parts), key=lambda b: b[3] - b[1])
    assert bottom - top > 100
    return x0, h - bottom, x1, h - top


def test_diagonal_line_in_a_table_falls_back_to_pdfplumber(tmp_path):
    """A short diagonal stroke inside table 三 (pdfplumber ignores it, too short for an
    edge): pdfium's path is not sure of the page, pdfplumber reads it, nothing is lost."""
    data = (FIXTURES / "template-a.pdf").read_bytes()
    x0, y0, x1, y1 = _table_box(data, 2)
    cx, cy = (x0 + x1) / 2 + 3, (y0 + y1) / 2 + 3
    changed = _add_to_page(data, 2, f"q 0.5 w {cx:.2f} {cy:.2f} m {cx + 2:.2f} {cy + 2:.2f} l S Q"
                           .encode())
    pdf = pypdfium2.PdfDocument(changed)
    with pytest.raises(pdf_fast.NotSure, match="diagonal"):
        pdf_fast.page_tables(pdf[2], pdf[2].get_textpage(), 3)
    doc = read_pdf("x.pdf", changed, "x")
    assert doc.meta["page_engines"] == {"pdfium": [2, 4], "pdfplumber": [3]}
    p = tmp_path / "diagonal.pdf"
    p.write_bytes(changed)
    assert_cells(extract_file(p).report, load_truth(FIXTURES / "template-a.truth.json")["cells"])


def test_rotated_text_only_matters_inside_a_table():
    data = (FIXTURES / "template-a.pdf").read_bytes()
    x0, y0, x1, y1 = _table_box(data, 2)
    inside = _add_to_page(data, 2, f"BT /FxH 6 Tf 0 1 -1 0 {x1 - 30:.2f} {y0 + 20:.2f} Tm (R) Tj ET"
                          .encode())
    outside = _add_to_page(data, 2, b"BT /FxH 6 Tf 0 1 -1 0 20 20 Tm (R) Tj ET")
    pdf = pypdfium2.PdfDocument(inside)
    with pytest.raises(pdf_fast.NotSure, match="rotated text"):
        pdf_fast.page_tables(pdf[2], pdf[2].get_textpage(), 3)
    assert read_pdf("x.pdf", inside, "x").meta["page_engines"]["pdfplumber"] == [3]
    pdf = pypdfium2.PdfDocument(outside)
    parts, _ = pdf_fast.page_tables(pdf[2], pdf[2].get_textpage(), 3)
    assert parts and read_pdf("x.pdf", outside, "x").meta["page_engines"] == {"pdfium": [2, 3, 4]}


def test_glyph_drawn_twice_falls_back_to_pdfplumber():
    """A digit drawn a second time 0.8 pt to the right (simulated bold). pdfium folds copies
    closer than 0.07 em itself (a 7 pt glyph: 0.49 pt) but keeps this one; the pdfplumber path,
    whose dedupe drops copies within 1 pt, reads the page, and the cell holds one 7."""
    data = (FIXTURES / "template-a.pdf").read_bytes()
    x0, y0, x1, y1 = _table_box(data, 2)
    # TJ: advance 556/1000 em, back 440/1000 em → the copy starts 0.81 pt further right
    changed = _add_to_page(data, 2, f"BT /FxH 7 Tf {x1 - 14:.2f} {y0 + 4:.2f} Td [(7) 440 (7)] TJ ET"
                           .encode())
    pdf = pypdfium2.PdfDocument(changed)
    page = pdf[2]
    tp = page.get_textpage()
    assert [c.text for c in pdf_fast.page_chars(tp, 841.89) if c.x0 > x1 - 16 and c.top > 700] \
        == ["7", "7"]
    with pytest.raises(pdf_fast.NotSure, match="twice"):
        pdf_fast.page_tables(page, tp, 3)
    doc = read_pdf("x.pdf", changed, "x")
    assert doc.meta["page_engines"]["pdfplumber"] == [3]
    texts = [c.text for g in doc.grids for row in g.rows for c in row if c.page == 3]
    assert any(t.endswith("7") for t in texts) and not any("77" in t for t in texts)


def test_doubled():
    C = pdf_fast.Char
    assert pdf_fast.doubled([C("7", 10, 100, 14, 110), C("7", 10.8, 100.2, 14.8, 110.2)])
    assert not pdf_fast.doubled([C("7", 10, 100, 14, 110), C("7", 14, 100, 18, 110)])   # "77"
    assert not pdf_fast.doubled([C("7", 10, 100, 14, 110), C("1", 10.5, 100, 14.5, 110)])


def test_page_without_ruling_is_not_read_by_pdfium():
    pdf = pypdfium2.PdfDocument(HUAIAN.read_bytes())
    with pytest.raises(pdf_fast.NotSure, match="no ruling"):
        pdf_fast.page_tables(pdf[1], pdf[1].get_textpage(), 2)


def test_extract_text_like_pdfplumber():
    C = pdf_fast.Char
    # one line, a gap over 3 pt splits words; a wrapped label is two lines
    assert pdf_fast.extract_text([C("2", 10, 100, 15, 110), C("0", 15.2, 100.5, 20, 110),
                                  C("1", 26, 100, 31, 110)]) == "20 1"
    assert pdf_fast.extract_text([C("申", 10, 120, 20, 130), C("请", 20, 120, 30, 130),
                                  C("人", 10, 100, 20, 110)]) == "人\n申请"
    assert pdf_fast.cell_text("人\n申请") == "人申请"
    assert pdf_fast.extract_text([]) == ""
