"""Text PDFs: the real 淮安市 2024 report, LibreOffice-printed templates, and bad input.

The real document's 200 cells below were read off the rendered pages by eye (pdftoppm), not
from the reader's output; they satisfy every identity of the format.
"""
from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path

import pikepdf
import pytest

from tasks import spec
from tasks.extract import extract_file
from tasks.model import Status
from tasks.readers.grid import ReadError
from tasks.readers.pdf import classify_text, is_page_number, read_pdf, scan_pages
from tests.conftest import REAL

HUAIAN = REAL / "huaian-city-2024.pdf"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "pdf"

# 淮安市人民政府 2024, table 三 rows in printed order × (自然人, 商业企业, 科研机构, 社会公益组织,
# 法律服务机构, 其他, 总计)
HUAIAN_REQUESTS = {
    "new": [3001, 53, 0, 0, 61, 4, 3119],
    "carried_over": [34, 0, 0, 0, 0, 0, 34],
    "granted": [1288, 21, 0, 0, 50, 3, 1362],
    "partly_granted": [447, 7, 0, 0, 0, 0, 454],
    "denied_state_secret": [2, 0, 0, 0, 0, 0, 2],
    "denied_prohibited_by_law": [30, 1, 0, 0, 0, 0, 31],
    "denied_security_stability": [5, 0, 0, 0, 0, 0, 5],
    "denied_third_party": [6, 0, 0, 0, 0, 0, 6],
    "denied_internal_affairs": [7, 1, 0, 0, 0, 0, 8],
    "denied_process_info": [12, 0, 0, 0, 0, 0, 12],
    "denied_enforcement_file": [9, 0, 0, 0, 0, 0, 9],
    "denied_query_matter": [105, 0, 0, 0, 0, 0, 105],
    "unable_not_held": [746, 12, 0, 0, 10, 1, 769],
    "unable_needs_creation": [11, 0, 0, 0, 0, 0, 11],
    "unable_unclear": [1, 0, 0, 0, 0, 0, 1],
    "rejected_petition": [56, 6, 0, 0, 0, 0, 62],
    "rejected_duplicate": [25, 0, 0, 0, 0, 0, 25],
    "rejected_publication": [0, 0, 0, 0, 0, 0, 0],
    "rejected_excessive": [0, 0, 0, 0, 0, 0, 0],
    "rejected_confirmation": [1, 0, 0, 0, 0, 0, 1],
    "other_no_correction": [67, 3, 0, 0, 1, 0, 71],
    "other_fee_unpaid": [6, 0, 0, 0, 0, 0, 6],
    "other_other": [108, 2, 0, 0, 0, 0, 110],
    "total": [2932, 53, 0, 0, 61, 4, 3050],
    "carried_forward": [103, 0, 0, 0, 0, 0, 103],
}
HUAIAN_PROACTIVE = {
    "proactive.regulations.issued": 1, "proactive.regulations.repealed": 0,
    "proactive.regulations.in_force": 11,
    "proactive.normative_documents.issued": 8, "proactive.normative_documents.repealed": 26,
    "proactive.normative_documents.in_force": 66,
    "proactive.licensing.decisions": 447228, "proactive.penalty.decisions": 3985758,
    "proactive.coercion.decisions": 88283, "proactive.fees.amount": Decimal("96171.6"),
}
HUAIAN_APPEALS = [72, 64, 178, 37, 351, 13, 4, 8, 1, 26, 12, 1, 1, 6, 20]


def huaian_truth() -> dict:
    t = dict(HUAIAN_PROACTIVE)
    for row, vals in HUAIAN_REQUESTS.items():
        for col, v in zip(spec.REQUEST_COLUMNS, vals):
            t[spec.key("requests", row, col)] = v
    for col, v in zip(spec.APPEAL_COLUMNS, HUAIAN_APPEALS):
        t[spec.key("appeals", "cases", col)] = v
    return t


def load_truth(path: Path) -> dict:
    d = json.loads(path.read_text(encoding="utf-8"))
    d["cells"] = {k: (None if v is None else Decimal(str(v)) if isinstance(v, str) else v)
                  for k, v in d["cells"].items()}
    return d


def assert_cells(report, truth: dict) -> None:
    assert set(truth) == set(spec.KEYS_2021)
    wrong = {}
    for k, v in truth.items():
        c = report.cells[k]
        if v is None:
            ok = c.value is None and c.status == Status.BLANK
        else:
            ok = c.status == Status.READ and Decimal(str(c.value)) == Decimal(str(v))
        if not ok:
            wrong[k] = (v, c.value, c.status)
    assert not wrong, wrong


@pytest.fixture(scope="module")
def huaian():
    ex = extract_file(HUAIAN, keep_document=True)
    assert ex.source.status == "ok", ex.source.error_message
    return ex


def test_huaian_truth_is_consistent():
    t = huaian_truth()
    assert len(t) == 200
    for col in spec.REQUEST_COLUMNS:
        c = lambda row: t[spec.key("requests", row, col)]  # noqa: E731
        assert c("new") + c("carried_over") == c("total") + c("carried_forward")
        assert sum(c(r) for r in spec.OUTCOME_ROWS) == c("total")


def test_huaian_all_200_cells_exact(huaian):
    r = huaian.report
    assert r.format == "pdf"
    assert (r.agency, r.year) == ("淮安市人民政府", 2024)
    assert r.tables_found == ["proactive", "requests", "appeals"]
    assert_cells(r, huaian_truth())
    assert not [w for w in r.warnings if w.code.startswith("layout.")]


def test_huaian_table_three_is_one_grid_across_pages_4_and_5(huaian):
    doc = huaian.document
    assert [g.page for g in doc.grids] == [3, 4, 5]
    three = doc.grids[1]
    assert len(three.rows) == 28 and three.aligned
    pages = {c.page for row in three.rows for c in row if c.page}
    assert pages == {4, 5}
    # the merged 三、本年度办理结果 column continues on page 5 as a merged copy
    cont = [row for row in three.rows if any("没有现成信息" in c.text for c in row)][0]
    assert cont[0].merged and cont[0].text == "三、本年度办理结果" and cont[0].page == 5
    # table 二 is also split (pages 3 and 4) and joined into one grid
    assert {c.page for row in doc.grids[0].rows for c in row if c.page} == {3, 4}


def test_huaian_provenance_page_and_bbox(huaian):
    r = huaian.report
    a = r.cells["requests.unable_not_held.natural_person"]
    b = r.cells["requests.unable_needs_creation.natural_person"]
    assert (a.source.page, a.source.text) == (4, "746")
    assert (b.source.page, b.source.text) == (5, "11")
    for c in (a, b):
        x0, top, x1, bottom = c.source.bbox
        assert 0 < x0 < x1 < 595 and 0 < top < bottom < 842
    # the cell box really holds the printed number
    import pdfplumber

    with pdfplumber.open(HUAIAN) as pdf:
        page = pdf.pages[3]
        assert page.crop(a.source.bbox).extract_text().strip() == "746"
    assert "本机关不掌握相关政府信息" in a.source.row_label


def test_huaian_running_text_starts_with_the_title(huaian):
    lines = [t.text for t in huaian.document.text]
    assert lines[0] == "淮安市人民政府"
    assert lines[1].startswith("2024")
    assert not any(is_page_number(ln) for ln in lines)


def test_huaian_only_table_pages_are_extracted():
    pdf = __import__("pypdfium2").PdfDocument(HUAIAN.read_bytes())
    pages = scan_pages(pdf)
    # page 2 mentions 行政复议/结果维持 in prose but has no ruled table
    assert [p.index + 1 for p in pages if p.candidate] == [3, 4, 5]
    assert not any(p.needs_ocr for p in pages)


@pytest.mark.parametrize("name", ["template-a", "template-b-bold", "template-c-rowcut"])
def test_libreoffice_fixtures_all_cells(name):
    truth = load_truth(FIXTURES / f"{name}.truth.json")
    ex = extract_file(FIXTURES / f"{name}.pdf", keep_document=True)
    assert ex.source.status == "ok", ex.source.error_message
    r = ex.report
    assert (r.agency, r.year) == (truth["agency"], truth["year"])
    assert_cells(r, truth["cells"])
    three = [g for g in ex.document.grids if any("申请人情况" in c.text for row in g.rows for c in row)]
    assert len(three) == 1 and len({c.page for row in three[0].rows for c in row if c.page}) == 2
    if name == "template-c-rowcut":
        # the cut row's label tail is a row of its own on the next page, numbers stay put
        tail = [row for row in three[0].rows if row[2].text.startswith("纳费用")]
        assert len(tail) == 1 and all(c.text == "" for c in tail[0][3:])
        c = r.cells["requests.other_fee_unpaid.legal_service"]
        assert c.source.page == 3 and c.status == Status.READ


def test_blank_cells_stay_blank():
    truth = load_truth(FIXTURES / "template-a.truth.json")["cells"]
    blanks = [k for k, v in truth.items() if v is None]
    assert blanks
    r = extract_file(FIXTURES / "template-a.pdf").report
    for k in blanks:
        assert r.cells[k].value is None and r.cells[k].status == Status.BLANK
        assert r.cells[k].source is not None and r.cells[k].source.bbox is not None


def test_simulated_bold_is_deduplicated():
    """Every glyph of template-b-bold is drawn twice: without dedupe_chars '20' reads '2200'."""
    import pdfplumber

    data = (FIXTURES / "template-b-bold.pdf").read_bytes()
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        raw = pdf.pages[2].extract_text()
    assert "申申请请人人" in raw          # the fixture really is doubled
    doc = read_pdf("b.pdf", data, "x")
    texts = [c.text for g in doc.grids for row in g.rows for c in row]
    assert "申请人情况" in texts and not any("申申" in t for t in texts)
    assert doc.text[0].text.startswith("南京市江宁区人民政府")


# --- bad input ---------------------------------------------------------------------------

def _encrypt(data: bytes, user: str, owner: str = "owner-secret") -> bytes:
    src = pikepdf.open(io.BytesIO(data))
    buf = io.BytesIO()
    src.save(buf, encryption=pikepdf.Encryption(user=user, owner=owner, R=6))
    return buf.getvalue()


def test_encrypted_with_password_is_a_clear_error(tmp_path):
    p = tmp_path / "locked.pdf"
    p.write_bytes(_encrypt((FIXTURES / "template-a.pdf").read_bytes(), user="secret"))
    ex = extract_file(p)
    assert ex.report is None
    assert ex.source.error_code == "pdf.encrypted"
    assert "加密" in ex.source.error_message


def test_encrypted_with_empty_user_password_is_read(tmp_path):
    p = tmp_path / "owner-only.pdf"
    p.write_bytes(_encrypt((FIXTURES / "template-a.pdf").read_bytes(), user=""))
    ex = extract_file(p)
    assert ex.source.status == "ok"
    assert_cells(ex.report, load_truth(FIXTURES / "template-a.truth.json")["cells"])


def test_corrupt_pdf_is_a_clear_error(tmp_path):
    p = tmp_path / "corrupt.pdf"
    p.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    ex = extract_file(p)
    assert (ex.report, ex.source.error_code) == (None, "pdf.corrupt")
    with pytest.raises(ReadError) as e:
        read_pdf(str(p), p.read_bytes(), "x")
    assert e.value.code == "pdf.corrupt"


def test_truncated_pdf_never_stops_the_batch(tmp_path):
    data = (FIXTURES / "template-a.pdf").read_bytes()
    outcomes = set()
    for frac in (0.1, 0.5, 0.9):
        p = tmp_path / f"cut{frac}.pdf"
        p.write_bytes(data[: int(len(data) * frac)])
        ex = extract_file(p)
        if ex.report is None:
            assert ex.source.error_code.startswith("pdf.") or ex.source.error_code == "not_a_report", \
                ex.source.error_code
        else:
            # whatever survives is read, never invented: no cell outside the truth
            truth = load_truth(FIXTURES / "template-a.truth.json")["cells"]
            for k, c in ex.report.cells.items():
                if c.value is not None:
                    assert Decimal(str(c.value)) == Decimal(str(truth[k])), k
        outcomes.add(ex.source.status)
    assert "error" in outcomes


def _pages(data: bytes, keep: list[int], repeat_first: int = 0) -> bytes:
    src = pikepdf.open(io.BytesIO(data))
    out = pikepdf.new()
    for _ in range(repeat_first):
        out.pages.append(src.pages[keep[0]])
    for i in keep:
        out.pages.append(src.pages[i])
    buf = io.BytesIO()
    out.save(buf)
    return buf.getvalue()


def test_pdf_without_tables(tmp_path):
    p = tmp_path / "prose.pdf"
    p.write_bytes(_pages((FIXTURES / "template-a.pdf").read_bytes(), [0]))
    doc = read_pdf(str(p), p.read_bytes(), "x")
    assert doc.grids == [] and doc.meta["table_pages"] == []
    ex = extract_file(p)
    # it says it is a report (title) but holds no table: every cell blank, none zero
    assert ex.report is not None and ex.report.tables_found == []
    assert all(c.value is None and c.status == Status.BLANK for c in ex.report.cells.values())


def test_huge_pdf_only_table_pages_are_parsed(tmp_path):
    """300 prose pages, then the report: the cheap pdfium filter hands pdfplumber 3 pages."""
    data = (FIXTURES / "template-a.pdf").read_bytes()
    p = tmp_path / "huge.pdf"
    p.write_bytes(_pages(data, [0, 1, 2, 3, 4], repeat_first=300))
    doc = read_pdf(str(p), p.read_bytes(), "x")
    assert doc.meta["pages"] == 305
    assert doc.meta["table_pages"] == [302, 303, 304]
    ex = extract_file(p)
    assert_cells(ex.report, load_truth(FIXTURES / "template-a.truth.json")["cells"])


def test_cid_text_is_routed_to_ocr():
    """Fonts without a ToUnicode map: pdfminer reads (cid:NNN), pdfium reads control codes."""
    src = pikepdf.open(FIXTURES / "template-a.pdf")
    for page in src.pages:
        for _, font in page.Resources.Font.items():
            if "/ToUnicode" in font:
                del font["/ToUnicode"]
    buf = io.BytesIO()
    src.save(buf)
    pdf = __import__("pypdfium2").PdfDocument(buf.getvalue())
    pages = scan_pages(pdf)
    assert all(p.needs_ocr and not p.candidate for p in pages)


def test_classify_text():
    assert classify_text("淮安市人民政府 2024 年政府信息公开工作年度报告") == (24, False)
    assert classify_text("72 64 178 37 351 13 4 8 1 26")[1] is False
    assert classify_text("q\x0b\x8b\x8cw\x84\x85 \x0b\x08\x04\n\x04\x0c\x08")[1] is True
    assert classify_text("(cid:113)(cid:11)(cid:139)(cid:140)(cid:119)(cid:132)")[1] is True
    assert is_page_number("- 4 -") and is_page_number("第 3 页") and is_page_number("3/12")
    assert not is_page_number("2024 年政府信息公开工作年度报告")


def test_synth_title_wrapped_before_its_last_character():
    """桑植县樟岭镇人民政府 2024 年政府信息公开工作年度报 / 告: read as one title line."""
    truth = load_truth(FIXTURES / "synth-title-wrap.truth.json")
    ex = extract_file(FIXTURES / "synth-title-wrap.pdf", keep_document=True)
    assert ex.document.text[0].text == "桑植县樟岭镇人民政府 2024 年政府信息公开工作年度报告"
    assert (ex.report.agency, ex.report.year) == (truth["agency"], truth["year"])
    assert_cells(ex.report, truth["cells"])


def test_synth_appeals_data_row_alone_on_the_last_page():
    """Table 四's header is cut by the page break and its data row is alone on page 3, with
    no table marker in that page's text: the ruling at the top of page 3 brings it in."""
    truth = load_truth(FIXTURES / "synth-appeals-cut.truth.json")
    ex = extract_file(FIXTURES / "synth-appeals-cut.pdf", keep_document=True)
    assert ex.document.meta["table_pages"] == [1, 2, 3]
    assert_cells(ex.report, truth["cells"])
    c = ex.report.cells["appeals.cases.review_total"]
    assert c.source.page == 3


def table_picture_pdf(tmp_path: Path) -> bytes:
    """A text page (title, section heading) with table 四 of the scan fixture pasted as a
    picture, printed by LibreOffice."""
    import docx
    import pypdfium2

    from tasks.synth.render_pdf import docx_to_pdf

    scan = pypdfium2.PdfDocument((FIXTURES.parent / "scan" / "scan-a.pdf").read_bytes())
    png = tmp_path / "table.png"
    scan[2].render(scale=2.0).to_pil().crop((90, 1000, 1100, 1224)).save(png)
    d = docx.Document()
    d.add_paragraph("苏州市吴中区教育局2024年政府信息公开工作年度报告")
    d.add_paragraph("四、政府信息公开行政复议、行政诉讼情况")
    d.add_picture(str(png), width=docx.shared.Cm(16))
    buf = io.BytesIO()
    d.save(buf)
    return docx_to_pdf(buf.getvalue())


def test_picture_of_a_table_in_a_text_page_is_flagged_for_ocr(tmp_path):
    import pypdfium2

    pages = scan_pages(pypdfium2.PdfDocument(table_picture_pdf(tmp_path)))
    assert pages[0].big_image and not pages[0].needs_ocr and pages[0].usable > 20


def test_synth_pdf_renderer_round_trip(tmp_path):
    """generate(formats=["pdf"]): DOCX printed by LibreOffice, read back cell for cell."""
    from tasks.synth import generate
    from tasks.synth.render_pdf import missing_request_rows

    paths = generate(tmp_path, agencies=2, years=(2024,), seed=11, formats=["pdf"],
                     defect_rate=0.0)
    assert len(paths) == 2
    for p in paths:
        data = p.read_bytes()
        assert data.startswith(b"%PDF") and missing_request_rows(data) == []
        t = json.loads(p.with_suffix(".truth.json").read_text(encoding="utf-8"))
        ex = extract_file(p)
        assert ex.report.format == "pdf"
        truth = {k: (v if t["status"][k] == "read" else None) for k, v in t["cells"].items()}
        assert_cells(ex.report, truth)


def test_join_wrapped_lines():
    from tasks.readers.pdf import join_wrapped

    lines = [  # (x0, x1, height, text) as OCR or pdfium give them, top to bottom
        (90, 560, 22, "雨花区城市管理和综合执法局2024年政府信息公开工作"),
        (250, 400, 22, "年度报告"),
        (60, 561, 14, "根据《中华人民共和国政府信息公开条例》规定编制本报告。本报告所列数据"),
        (60, 300, 14, "的统计期限为2024年1月1日至2024年12月31日。"),
        (60, 200, 14, "一、总体情况"),
        (60, 560, 14, "2024年，我局认真贯彻执行《条例》，围绕中心工作，积极践行公开为常态"),
        (60, 200, 14, "（一）主动公开情况"),
        (280, 320, 12, "- 1 -"),
    ]
    assert join_wrapped(lines) == [
        "雨花区城市管理和综合执法局2024年政府信息公开工作年度报告",
        "根据《中华人民共和国政府信息公开条例》规定编制本报告。本报告所列数据"
        "的统计期限为2024年1月1日至2024年12月31日。",
        "一、总体情况",
        "2024年，我局认真贯彻执行《条例》，围绕中心工作，积极践行公开为常态",
        "（一）主动公开情况",
        "- 1 -",
    ]
