"""DOCX reader: the real blank official template (empty and filled), merged cells, bad input."""
from __future__ import annotations

import io
import json
import zipfile
from decimal import Decimal
from pathlib import Path

import docx as python_docx
import pytest

from tasks import spec
from tasks.extract import extract_file
from tasks.model import Status
from tasks.readers.docx import read_docx
from tasks.readers.grid import ReadError
from tests.conftest import REAL

TEMPLATE = REAL / "official-template-blank.docx"

# Positions of the value cells in the official template (table, row, column of python-docx's
# grid), read off the template itself.
_PROACTIVE_POS = {"regulations": 2, "normative_documents": 3, "licensing": 6, "penalty": 9,
                  "coercion": 10, "fees": 13}


def filled_values() -> dict[str, int | Decimal | None]:
    """A deterministic fill: zeros, blanks, multi-digit numbers and a decimal fee."""
    v: dict[str, int | Decimal | None] = {
        "proactive.regulations.issued": 3, "proactive.regulations.repealed": 0,
        "proactive.regulations.in_force": 12, "proactive.normative_documents.issued": 7,
        "proactive.normative_documents.repealed": 2, "proactive.normative_documents.in_force": 45,
        "proactive.licensing.decisions": 1234, "proactive.penalty.decisions": 0,
        "proactive.coercion.decisions": None, "proactive.fees.amount": Decimal("1.2345"),
    }
    for i, row in enumerate(spec.REQUEST_ROWS):
        for j, col in enumerate(spec.REQUEST_COLUMNS):
            n = (i * 7 + j) * 13 % 23
            v[f"requests.{row}.{col}"] = None if n == 5 else n
    for j, col in enumerate(spec.APPEAL_COLUMNS):
        v[f"appeals.cases.{col}"] = None if j == 13 else j * 3 % 7
    assert set(v) == set(spec.KEYS_2021)
    return v


def _fmt(x) -> str:
    return "" if x is None else str(x)


def fill_template(values: dict, title: str | None = None) -> bytes:
    """The official template filled with `values` through python-docx."""
    d = python_docx.Document(str(TEMPLATE))
    if title:
        d.paragraphs[0].text = title
    t0, t1, t2 = d.tables
    for row, r in _PROACTIVE_POS.items():
        for j, col in enumerate(spec.PROACTIVE_ROWS[row]):
            t0.cell(r, 1 + j).text = _fmt(values[f"proactive.{row}.{col}"])
    for i, row in enumerate(spec.REQUEST_ROWS):
        for j, col in enumerate(spec.REQUEST_COLUMNS):
            t1.cell(3 + i, 3 + j).text = _fmt(values[f"requests.{row}.{col}"])
    for j, col in enumerate(spec.APPEAL_COLUMNS):
        t2.cell(3, j).text = _fmt(values[f"appeals.cases.{col}"])
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


# ------------------------------------------------------------------------------ real template
def test_blank_template_gives_blank_cells_not_zeros():
    ex = extract_file(TEMPLATE)
    assert ex.source.status == "ok" and ex.report is not None
    r = ex.report
    assert list(r.to_json()["cells"]) == list(spec.KEYS_2021)
    assert all(r.cells[k].value is None and r.cells[k].status == Status.BLANK
               for k in spec.KEYS_2021)
    assert not r.warnings
    # the empty rows are found (blank, with provenance), so the tables are recognised
    assert r.tables_found == ["proactive", "requests", "appeals"] and r.format_version == "2021"
    src = r.cells["proactive.licensing.decisions"].source
    assert (src.table, src.row, src.col, src.text) == (0, 6, 1, "")
    assert r.cells["appeals.cases.review_total"].source.row == 3


def test_template_grids_expand_merged_cells():
    data = TEMPLATE.read_bytes()
    doc = read_docx(str(TEMPLATE), data, "x")
    assert doc.format == "docx"
    assert [t.text for t in doc.text][:2] == ["政府信息公开工作年度报告格式模板", "一、总体情况"]
    assert [(len(g.rows), len(g.rows[0])) for g in doc.grids] == [(14, 4), (28, 10), (4, 15)]
    assert [g.index for g in doc.grids] == [0, 1, 2]
    g0, g1, g2 = doc.grids
    # gridSpan: 第二十条第（一）项 spans 4 columns; the copies are marked merged
    assert [c.text for c in g0.rows[0]] == ["第二十条第（一）项"] * 4
    assert [c.merged for c in g0.rows[0]] == [False, True, True, True]
    # a spanned value cell (行政许可 × 本年处理决定数量) is one empty origin + merged copies
    assert [(c.text, c.merged) for c in g0.rows[6]] == [("行政许可", False), ("", False),
                                                        ("", True), ("", True)]
    # vMerge: 三、本年度办理结果 runs down 22 rows, （三）不予公开 down 8
    col0 = [r[0] for r in g1.rows[5:27]]
    assert {c.text for c in col0} == {"三、本年度办理结果"}
    assert [c.merged for c in col0] == [False] + [True] * 21
    assert [r[1].text for r in g1.rows[7:15]] == ["（三）不予公开"] * 8
    assert [r[1].merged for r in g1.rows[7:15]] == [False] + [True] * 7
    assert g1.rows[14][2].text == "8.属于行政查询事项"
    # the 3×3 top-left note: vMerge + gridSpan together
    assert all(g1.rows[r][c].text.startswith("（本列数据的勾稽关系为") for r in range(3) for c in range(3))
    assert g1.rows[2][4].text == "商业\n企业"       # line break inside the label kept as \n
    assert g2.rows[1][5].text == "未经复议直接起诉" and g2.rows[2][5].text == "结果\n维持"
    # empty data cells (some hold full-width spaces in the template) are blank, never merged
    assert all(not c.merged for c in g1.rows[3][3:])


def test_filled_template_reads_back_exactly(tmp_path: Path):
    values = filled_values()
    p = tmp_path / "filled.docx"
    p.write_bytes(fill_template(values, title="某某县人民政府办公室2023年政府信息公开工作年度报告"))
    ex = extract_file(p)
    assert ex.source.status == "ok", ex.source.error_message
    r = ex.report
    assert r.format == "docx" and r.format_version == "2021"
    assert r.year == 2023 and r.agency == "某某县人民政府办公室"
    assert r.tables_found == ["proactive", "requests", "appeals"]
    got = {k: r.value(k) for k in spec.KEYS_2021}
    assert got == values
    for k, v in values.items():
        assert r.cells[k].status == (Status.BLANK if v is None else Status.READ), k
    assert isinstance(r.value("proactive.fees.amount"), Decimal)
    # provenance: table / expanded grid row / column, no page
    src = r.cells["requests.denied_query_matter.research"].source
    assert (src.table, src.row, src.col, src.page) == (1, 14, 5, None)
    assert src.text == str(values["requests.denied_query_matter.research"])
    src = r.cells["proactive.licensing.decisions"].source
    assert (src.table, src.row, src.col) == (0, 6, 1) and src.text == "1234"
    src = r.cells["appeals.cases.suit_after_review_total"].source
    assert (src.table, src.row, src.col) == (2, 3, 14)
    assert not [w for w in r.warnings if w.code.startswith(("layout.", "cell."))]


# ---------------------------------------------------------------------------------- bad input
def _zip(entries: dict[str, bytes], level: int = 9) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_docx_that_is_not_a_zip(tmp_path: Path):
    with pytest.raises(ReadError) as e:
        read_docx("x.docx", b"this is not a zip file at all", "x")
    assert e.value.code == "docx.not_zip"
    # a truncated package: the zip header is there, the rest is not
    data = TEMPLATE.read_bytes()[:4000]
    with pytest.raises(ReadError) as e:
        read_docx("x.docx", data, "x")
    assert e.value.code == "docx.not_zip"
    p = tmp_path / "broken.docx"
    p.write_bytes(data)
    ex = extract_file(p)   # never raises
    assert ex.report is None and ex.source.status == "error" and ex.source.error_code


def test_zip_bomb_is_refused_from_the_directory(tmp_path: Path):
    body = b"<w:document xmlns:w='http://schemas.openxmlformats.org/wordprocessingml/2006/main'><w:body>"
    bomb = _zip({"[Content_Types].xml": b"<Types/>",
                 "word/document.xml": body + b" " * (80 * 1024 * 1024) + b"</w:body></w:document>"})
    assert len(bomb) < 1024 * 1024
    with pytest.raises(ReadError) as e:
        read_docx("bomb.docx", bomb, "x")
    assert e.value.code == "docx.zip_bomb"
    p = tmp_path / "bomb.docx"
    p.write_bytes(bomb)
    ex = extract_file(p)
    assert ex.source.status == "error" and ex.source.error_code == "docx.zip_bomb"
    assert "压缩" in ex.source.error_message


def test_xml_entity_bomb_in_docx_is_refused(tmp_path: Path):
    lol = ("<?xml version='1.0'?><!DOCTYPE w:document [<!ENTITY a 'aaaaaaaaaa'>"
           + "".join(f"<!ENTITY {chr(98 + i)} '{('&' + chr(97 + i) + ';') * 10}'>" for i in range(9))
           + "]><w:document xmlns:w='http://schemas.openxmlformats.org/wordprocessingml/2006/main'>"
           "<w:body><w:p><w:r><w:t>&j;</w:t></w:r></w:p></w:body></w:document>")
    data = _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": lol.encode()})
    with pytest.raises(ReadError) as e:
        read_docx("lol.docx", data, "x")
    assert e.value.code == "docx.dtd"
    p = tmp_path / "lol.docx"
    p.write_bytes(data)
    ex = extract_file(p)
    assert ex.source.status == "error" and ex.source.error_code == "docx.dtd"


def test_docx_with_no_report_is_not_a_report(tmp_path: Path):
    d = python_docx.Document()
    d.add_paragraph("会议通知")
    d.add_paragraph("定于下周一召开全体会议，请准时参加。")
    t = d.add_table(rows=2, cols=2)
    t.cell(0, 0).text, t.cell(0, 1).text = "姓名", "电话"
    t.cell(1, 0).text, t.cell(1, 1).text = "张三", "12345"
    p = tmp_path / "notice.docx"
    d.save(str(p))
    ex = extract_file(p)
    assert ex.report is None and ex.source.error_code == "not_a_report"


def test_nested_table_becomes_its_own_grid_and_gridbefore_pads():
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"

    def tc(text, extra=""):
        return f"<w:tc><w:tcPr>{extra}</w:tcPr><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:tc>"

    inner = f"<w:tbl><w:tr>{tc('内1')}{tc('内2')}</w:tr></w:tbl>"
    restart, cont = "<w:hMerge w:val='restart'/>", "<w:hMerge/>"
    xml = (f"<w:document xmlns:w='{w}'><w:body><w:p><w:r><w:t>标题</w:t></w:r></w:p><w:tbl>"
           f"<w:tr><w:trPr><w:gridBefore w:val='1'/></w:trPr>{tc('a')}{tc('b')}</w:tr>"
           f"<w:tr>{tc('c', restart)}{tc('', cont)}"
           f"<w:tc><w:p><w:r><w:t>外</w:t></w:r></w:p>{inner}</w:tc></w:tr>"
           f"</w:tbl></w:body></w:document>")
    doc = read_docx("n.docx", _zip({"word/document.xml": xml.encode()}), "x")
    assert [t.text for t in doc.text] == ["标题"]
    outer, nested = doc.grids
    assert [(c.text, c.merged) for c in outer.rows[0]] == [("", False), ("a", False), ("b", False)]
    assert [(c.text, c.merged) for c in outer.rows[1]] == [("c", False), ("c", True), ("外", False)]
    assert nested.index == 1 and [c.text for c in nested.rows[0]] == ["内1", "内2"]


# ------------------------------------------------------------------- generated fixtures
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "docx"


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.docx")), ids=lambda p: p.name)
def test_generated_word_files(path: Path):
    from tests.tasks.readers.test_html import check_fixture

    check_fixture(path)


def test_fixture_set_is_there():
    assert len(list(FIXTURES.glob("*.docx"))) >= 3


def test_renderer_output_reads_back_exactly(tmp_path: Path):
    from tasks.synth import generate
    from tests.tasks.readers.test_html import check_fixture

    paths = generate(tmp_path, agencies=3, years=(2024,), seed=8, defect_rate=0.6,
                     formats=("docx",))
    for p in paths:
        check_fixture(p)
    # real Word merges, as in the official template: python-docx sees one cell behind the spans
    full = [p for p in paths if not json.loads(p.with_name(p.stem + ".truth.json")
                                               .read_text(encoding="utf-8"))["missing_tables"]]
    d = python_docx.Document(str(full[0]))
    t0, t1, t2 = d.tables
    assert [(len(t.rows), len(t.columns)) for t in d.tables] == [(14, 4), (28, 10), (4, 15)]
    assert t1.cell(5, 0)._tc is t1.cell(26, 0)._tc and t1.cell(5, 0).text == "三、本年度办理结果"
    assert t1.cell(0, 0)._tc is t1.cell(2, 2)._tc
    assert t0.cell(6, 1)._tc is t0.cell(6, 3)._tc
    assert t2.cell(1, 0)._tc is t2.cell(2, 0)._tc


def test_deleted_moved_and_hidden_text_is_not_read():
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    xml = (f"<w:document xmlns:w='{w}'><w:body><w:p>"
           "<w:r><w:t>2023年</w:t></w:r>"
           "<w:del><w:r><w:delText>删除</w:delText></w:r></w:del>"
           "<w:moveFrom><w:r><w:t>移走</w:t></w:r></w:moveFrom>"
           "<w:r><w:rPr><w:vanish/></w:rPr><w:t>隐藏</w:t></w:r>"
           "<w:ins><w:r><w:t>政府信息公开</w:t></w:r></w:ins>"
           "<w:r><w:fldChar w:fldCharType='begin'/></w:r><w:r><w:instrText>PAGE</w:instrText></w:r>"
           "<w:r><w:fldChar w:fldCharType='end'/></w:r>"
           "<w:r><w:rPr><w:vanish w:val='false'/></w:rPr><w:t>年度报告</w:t></w:r>"
           "</w:p></w:body></w:document>")
    doc = read_docx("t.docx", _zip({"word/document.xml": xml.encode()}), "x")
    assert [t.text for t in doc.text] == ["2023年政府信息公开年度报告"]
