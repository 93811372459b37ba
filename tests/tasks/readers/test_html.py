"""HTML reader: the real 平潭 CMS pages exactly, rowspan/colspan grids, encodings, bad input."""
from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from tasks import spec
from tasks.extract import extract_file
from tasks.model import Status
from tasks.readers.grid import ReadError
from tasks.readers.html import MAX_HTML_BYTES, decode_html, read_html
from tests.conftest import REAL

PINGTAN_2023 = REAL / "pingtan-2023.html"
PINGTAN_2025 = REAL / "pingtan-2025.html"


def _truth(proactive: list, requests: dict[str, list[int]], appeals: list[int]) -> dict:
    """Cell values in printed order: 二 as its 10 cells, 三 as row → 7 columns, 四 as 15."""
    out = dict(zip([k for k in spec.KEYS_2021 if k.startswith("proactive.")], proactive))
    for row, vals in requests.items():
        out.update({f"requests.{row}.{c}": v for c, v in zip(spec.REQUEST_COLUMNS, vals)})
    out.update(dict(zip(spec.APPEAL_COLUMNS and
                        [f"appeals.cases.{c}" for c in spec.APPEAL_COLUMNS], appeals)))
    assert set(out) == set(spec.KEYS_2021)
    return out


Z = [0] * 7
# Read off the published pages (tables as printed, row by row).
TRUTH_2023 = _truth(
    [0, 0, 0, 77, 132, 470, 2629, 1330, 54, Decimal("5949.088667")],
    {"new": [80, 1, 0, 0, 0, 0, 81], "carried_over": Z,
     "granted": [22, 0, 0, 0, 0, 0, 22], "partly_granted": [19, 1, 0, 0, 0, 0, 20],
     "denied_state_secret": Z, "denied_prohibited_by_law": Z, "denied_security_stability": Z,
     "denied_third_party": [1, 0, 0, 0, 0, 0, 1], "denied_internal_affairs": Z,
     "denied_process_info": [1, 0, 0, 0, 0, 0, 1], "denied_enforcement_file": [1, 0, 0, 0, 0, 0, 1],
     "denied_query_matter": [2, 0, 0, 0, 0, 0, 2],
     "unable_not_held": [31, 0, 0, 0, 0, 0, 31], "unable_needs_creation": Z, "unable_unclear": Z,
     "rejected_petition": Z, "rejected_duplicate": [1, 0, 0, 0, 0, 0, 1],
     "rejected_publication": Z, "rejected_excessive": Z, "rejected_confirmation": Z,
     "other_no_correction": [1, 0, 0, 0, 0, 0, 1], "other_fee_unpaid": Z,
     "other_other": [1, 0, 0, 0, 0, 0, 1],
     "total": [80, 1, 0, 0, 0, 0, 81], "carried_forward": Z},
    [1, 1, 0, 0, 2, 4, 0, 0, 1, 5, 1, 0, 1, 0, 2])

TRUTH_2025 = _truth(
    [0, 0, 0, 58, 45, 546, 2418, 644, 64, Decimal("4166.241619")],
    {"new": [151, 3, 0, 0, 0, 0, 154], "carried_over": Z,
     "granted": [33, 0, 0, 0, 0, 0, 33], "partly_granted": [38, 0, 0, 0, 0, 0, 38],
     "denied_state_secret": Z, "denied_prohibited_by_law": Z, "denied_security_stability": Z,
     "denied_third_party": Z, "denied_internal_affairs": [3, 0, 0, 0, 0, 0, 3],
     "denied_process_info": [2, 0, 0, 0, 0, 0, 2], "denied_enforcement_file": [3, 0, 0, 0, 0, 0, 3],
     "denied_query_matter": [3, 0, 0, 0, 0, 0, 3],
     "unable_not_held": [49, 1, 0, 0, 0, 0, 50], "unable_needs_creation": [3, 0, 0, 0, 0, 0, 3],
     "unable_unclear": Z,
     "rejected_petition": [2, 0, 0, 0, 0, 0, 2], "rejected_duplicate": Z,
     "rejected_publication": Z, "rejected_excessive": Z, "rejected_confirmation": Z,
     "other_no_correction": [8, 0, 0, 0, 0, 0, 8], "other_fee_unpaid": [2, 0, 0, 0, 0, 0, 2],
     "other_other": [1, 0, 0, 0, 0, 0, 1],
     "total": [147, 1, 0, 0, 0, 0, 148], "carried_forward": [4, 2, 0, 0, 0, 0, 6]},
    [25, 3, 8, 0, 36, 3, 3, 0, 0, 6, 3, 0, 0, 0, 3])


def _values(report) -> dict:
    return {k: report.value(k) for k in spec.KEYS_2021}


# ------------------------------------------------------------------------------ real pages
@pytest.mark.parametrize("path,truth,year", [(PINGTAN_2023, TRUTH_2023, 2023),
                                             (PINGTAN_2025, TRUTH_2025, 2025)])
def test_real_pingtan_pages_exact(path: Path, truth: dict, year: int):
    ex = extract_file(path)
    assert ex.source.status == "ok" and ex.source.format == "html"
    r = ex.report
    assert _values(r) == truth
    assert all(r.cells[k].status == Status.READ for k in spec.KEYS_2021)
    assert r.format == "html" and r.format_version == "2021"
    assert r.tables_found == ["proactive", "requests", "appeals"]
    assert r.agency == "平潭综合实验区" and r.year == year
    assert r.meta["agency_source"] == "title" and r.meta["year_source"] == "period"
    assert not r.warnings
    assert isinstance(r.value("proactive.fees.amount"), Decimal)


def test_pingtan_article_text_first_and_no_page_chrome():
    data = PINGTAN_2023.read_bytes()
    doc = read_html(str(PINGTAN_2023), data, "x")
    lines = [t.text for t in doc.text]
    # the title (outside the article body on this CMS) comes first, the body follows
    assert lines[0] == "平潭综合实验区2023年度政府信息公开工作年度报告"
    assert lines[1].startswith("本报告根据《中华人民共和国政府信息公开条例》")
    assert "一、总体情况" in lines and lines[-1] == "2023年，无收取信息处理费情况。"
    text = "\n".join(lines)
    for chrome in ("版权所有", "网站标识码", "ICP备", "联系我们", "文件下载", "分享到"):
        assert chrome not in text
    # table text is in the grids, not in the running text
    assert "本列数据的勾稽关系为" not in text
    assert doc.meta["encoding"] == "utf-8"


def test_pingtan_grids_and_provenance():
    ex = extract_file(PINGTAN_2025, keep_document=True)
    g0, g1, g2 = ex.document.grids
    assert [(len(g.rows), len(g.rows[0])) for g in (g0, g1, g2)] == [(14, 4), (28, 10), (4, 15)]
    # colspan=3 value cell: the origin plus two merged copies
    assert [(c.text, c.merged) for c in g0.rows[6]] == [("行政许可", False), ("2418", False),
                                                        ("2418", True), ("2418", True)]
    # rowspan=22 label: copies down the column
    assert [r[0].text for r in g1.rows[5:27]] == ["三、本\n年度办\n理结果"] * 22   # 3 <p>s
    assert g1.rows[2][4].text == "商业\n企业"   # nested <p>s inside one cell
    r = ex.report
    src = r.cells["requests.unable_not_held.commercial"].source
    assert (src.table, src.row, src.col, src.page, src.text) == (1, 15, 4, None, "1")
    assert src.row_label.endswith("1.本机关不掌握相关政府信息")
    src = r.cells["proactive.fees.amount"].source
    assert (src.table, src.row, src.col, src.text) == (0, 13, 1, "4166.241619")
    src = r.cells["appeals.cases.review_other"].source
    assert (src.table, src.row, src.col, src.text) == (2, 3, 2, "8")


# ------------------------------------------------------------------------------- encodings
def _recode(html: str, charset: str | None, encoding: str, bom: bool = False) -> bytes:
    html = html.replace('<meta charset="utf-8" ', "<meta ")
    if charset:
        html = html.replace("<head>", f'<head><meta http-equiv="Content-Type" '
                                      f'content="text/html; charset={charset}">', 1)
    data = html.encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


@pytest.mark.parametrize("charset,encoding,bom", [
    ("gb2312", "gb18030", False),      # GB2312 declared, GBK/GB18030 bytes
    ("GBK", "gbk", False),
    (None, "gbk", False),              # GBK without any declaration
    (None, "utf-8", False),            # UTF-8 without any declaration
    ("gb2312", "utf-8", False),        # mislabelled: declares gb2312, is UTF-8
    (None, "utf-8", True),             # BOM
])
def test_encodings(tmp_path: Path, charset, encoding, bom):
    html = PINGTAN_2025.read_text(encoding="utf-8")
    data = _recode(html, charset, encoding, bom)
    p = tmp_path / "page.htm"
    p.write_bytes(data)
    ex = extract_file(p)
    assert ex.source.status == "ok"
    assert _values(ex.report) == TRUTH_2025
    assert ex.report.agency == "平潭综合实验区" and ex.report.year == 2025


def test_decode_prefers_valid_utf8_then_declared():
    s = "<html><head><meta charset=gbk></head><body>政府信息公开</body></html>"
    assert decode_html(s.encode("gbk")) == (s, "gb18030")
    assert decode_html(s.encode("utf-8"))[1] == "utf-8"
    big5 = "<html><head><meta charset=big5></head><body>政府資訊公開</body></html>"
    assert decode_html(big5.encode("big5")) == (big5, "big5")


# ----------------------------------------------------------------- merged cells, blanks, &nbsp;
def _page(body: str, title: str = "某某市某某局2024年政府信息公开工作年度报告") -> bytes:
    nav = "".join(f'<li><a href="/x{i}">栏目{i}</a></li>' for i in range(30))
    return (f"<!DOCTYPE html><html><head><title>{title}_某某局</title></head><body>"
            f"<div class='nav'><ul>{nav}</ul></div>"
            f"<div class='main'><h1 class='t'>{title}</h1><div class='info'>来源：某某局 时间：2025-01-20</div>"
            f"<div class='content'>{body}</div></div>"
            f"<div class='footer'><p>版权所有：某某局 主办单位：某某局办公室 网站标识码：1234567890 "
            f"地址：某某市某某路1号 联系电话：0000-1234567</p></div></body></html>").encode()


def test_spans_blanks_and_nested_spans(tmp_path: Path):
    """Rowspan/colspan over labels and values, &nbsp; and empty cells, numbers in <p><span>."""
    rows = []
    for row in spec.REQUEST_ROWS:
        label = spec.cell_index()[f"requests.{row}.total"].row_label
        tds = []
        for j, col in enumerate(spec.REQUEST_COLUMNS):
            if row == "new" and col == "research":
                tds.append("<td>&nbsp;</td>")                  # blank, not zero
            elif row == "new" and col == "public_interest":
                tds.append("<td><p><span>&nbsp;</span></p></td>")
            elif row == "carried_over" and col == "legal_service":
                tds.append("<td></td>")
            else:
                tds.append(f"<td><p style='x'><span><span>{j + 1}</span></span></p></td>")
        rows.append(f"<tr><td colspan='3'><p><span>{label}</span></p></td>{''.join(tds)}</tr>")
    table = ("<table border=1><tr><td colspan=3 rowspan=3>（本列数据的勾稽关系为：第一项加第二项之和，"
             "等于第三项加第四项之和）</td><td colspan=7>申请人情况</td></tr><tr><td rowspan=2>自然人</td>"
             "<td colspan=5>法人或其他组织</td><td rowspan=2>总计</td></tr><tr><td>商业企业</td>"
             "<td>科研机构</td><td>社会公益组织</td><td>法律服务机构</td><td>其他</td></tr>"
             + "".join(rows) + "</table>")
    p = tmp_path / "spans.html"
    p.write_bytes(_page("<p>一、总体情况</p><p>" + "今年我局认真贯彻落实政府信息公开条例，" * 5
                        + "</p><p>三、收到和处理政府信息公开申请情况</p>" + table))
    ex = extract_file(p, keep_document=True)
    r = ex.report
    assert r.agency == "某某市某某局" and r.year == 2024
    assert [t.text for t in ex.document.text][0] == "某某市某某局2024年政府信息公开工作年度报告"
    assert "版权所有" not in ex.document.full_text() and "栏目3" not in ex.document.full_text()
    for k in ("requests.new.research", "requests.new.public_interest",
              "requests.carried_over.legal_service"):
        assert r.cells[k].value is None and r.cells[k].status == Status.BLANK
        assert r.cells[k].source is not None   # printed, empty
    assert r.value("requests.new.natural_person") == 1
    assert r.value("requests.carried_forward.total") == 7
    assert r.value("requests.rejected_confirmation.other_org") == 6
    g = ex.document.grids[0]
    assert len(g.rows) == 3 + 25 and all(len(row) == 10 for row in g.rows)
    assert [c.merged for c in g.rows[1][:4]] == [True, True, True, False]


def test_rowspan_zero_and_oversized_spans_are_clamped():
    html = ("<html><body><table><tr><td rowspan=0>a</td><td colspan=100000>b</td></tr>"
            "<tr><td>c</td></tr><tr><td>d</td></tr></table></body></html>").encode()
    doc = read_html("x.html", html, "x")
    g = doc.grids[0]
    assert [r[0].text for r in g.rows] == ["a", "a", "a"]
    assert [r[1].text for r in g.rows] == ["b", "c", "d"]
    assert len(g.rows[0]) == 200   # colspan clamped


def test_cell_text_lines_comments_and_hidden_parts():
    """A cell's text as a reader sees it: <p>/<div>/<br> start new lines, inline pieces and
    text split by a comment join, whitespace between tags and &nbsp; vanish; hidden, script
    and form parts inside a cell are not read (with a caption, the table is read the slow way)."""
    label = "<td>一、本年新收政府信息公开申请数量</td><td>予以公开</td>"
    plain = ["\n  <p><span>12</span></p>\n", "行政<br>复议", "<p>结果</p><p>纠正</p>",
             "<span>本年</span><span>新收</span>", "a<!--c-->b", "&nbsp;", "<p>&nbsp;</p>",
             "<div><p>其</p>他</div>"]
    parts = ["<span style='display: none'>9</span>5", "<script>x</script>7",
             "<span hidden>8</span><b>6</b>", "<select><option>1</option></select>4"]
    t1 = f"<table><tr>{label}</tr><tr>" + "".join(f"<td>{c}</td>" for c in plain) + "</tr></table>"
    t2 = (f"<table><caption>表</caption><tr>{label}</tr><tr>"
          + "".join(f"<td>{c}</td>" for c in parts) + "</tr></table>")
    doc = read_html("c.html", f"<html><body>{t1}{t2}</body></html>".encode(), "x")
    g1, g2 = doc.grids
    assert [c.text for c in g1.rows[1]] == ["12", "行政\n复议", "结果\n纠正", "本年新收", "ab", "", "",
                                            "其\n他"]
    assert [c.text for c in g1.rows[0]][2:] == [""] * 6       # a short row is padded
    assert [c.text for c in g2.rows[1]] == ["5", "7", "6", "4"]


# ---------------------------------------------------------------------------------- bad input
def test_entity_bomb_is_plain_text(tmp_path: Path):
    ents = "".join(f'<!ENTITY e{i} "{("&e" + str(i - 1) + ";") * 10 if i else "lol"}">'
                   for i in range(10))
    html = f'<?xml version="1.0"?><!DOCTYPE html [{ents}]><html><body><p>&e9;</p></body></html>'
    p = tmp_path / "bomb.html"
    p.write_bytes(html.encode())
    doc = read_html(str(p), p.read_bytes(), "x")
    assert "lol" * 10 not in doc.full_text() and len(doc.full_text()) < 10_000
    ex = extract_file(p)
    assert ex.report is None and ex.source.error_code == "not_a_report"


def test_scripts_and_no_report_is_not_a_report(tmp_path: Path):
    body = ("<script>document.write('政府信息公开工作年度报告 2023年');var t='<table><tr><td>本年新收"
            "</td><td>5</td></tr></table>';</script><style>.a{}</style>"
            "<div class='news'><p>今日新闻：我市召开全市经济工作会议，部署明年重点工作任务安排。</p></div>")
    p = tmp_path / "news.html"
    p.write_bytes(f"<html><head><title>新闻</title></head><body>{body}</body></html>".encode())
    ex = extract_file(p)
    assert ex.report is None and ex.source.status == "error"
    assert ex.source.error_code == "not_a_report"


def test_huge_and_deep_input_never_raise(tmp_path: Path):
    with pytest.raises(ReadError) as e:
        read_html("big.html", b"<html><body>" + b"x" * (MAX_HTML_BYTES + 1), "x")
    assert e.value.code == "html.too_large"
    # nested block containers cost the HTML5 parser the square of their depth: refused early
    deep = b"<html><body>" + b"<div>" * 200_000 + "政府".encode() + b"</div>" * 200_000
    p = tmp_path / "deep.html"
    p.write_bytes(deep)
    ex = extract_file(p)      # recorded, never an exception
    assert ex.report is None and ex.source.error_code == "html.too_deep"
    # deep inline nesting is cheap for the parser and walked without recursion
    p.write_bytes(b"<html><body>" + b"<span>" * 30_000 + "政府".encode() + b"</span>" * 30_000)
    ex = extract_file(p)
    assert ex.report is None and ex.source.error_code == "not_a_report"
    garbage = tmp_path / "garbage.html"
    garbage.write_bytes(b"<html><body><table><tr><td rowspan='x' colspan='-3'>\xff\xfe\x00<td>"
                        + bytes(range(256)) * 10)
    ex = extract_file(garbage)
    assert ex.source.status == "error"


def test_hidden_and_script_text_are_not_read():
    body = ("<div style='display:none'><table><tr><td>一、本年新收政府信息公开申请数量</td>"
            + "<td>9</td>" * 7 + "</tr></table></div>"
            "<table><tr><td>一、本年新收政府信息公开申请数量</td>" + "<td>1</td>" * 7 + "</tr>"
            "<tr><td>二、上年结转政府信息公开申请数量</td>" + "<td>0</td>" * 7 + "</tr></table>")
    doc = read_html("h.html", _page(body), "x")
    assert len(doc.grids) == 1
    assert re.sub(r"\s", "", doc.grids[0].rows[0][1].text) == "1"


# ------------------------------------------------------------------- generated fixtures
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "html"


def check_fixture(path: Path) -> None:
    """A generated sample (tasks.synth) read back exactly: every cell's value and status, the
    agency and the year as printed (the truth file beside it)."""
    import json

    truth = json.loads(path.with_name(path.stem + ".truth.json").read_text(encoding="utf-8"))
    ex = extract_file(path)
    assert ex.source.status == "ok", ex.source.error_message
    r = ex.report
    got = r.to_json()["cells"]
    wrong = {k: (v, got[k]) for k, v in truth["cells"].items()
             if (None if got[k] is None else Decimal(str(got[k])))
             != (None if v is None else Decimal(str(v)))}
    assert wrong == {}
    assert {k: str(r.cells[k].status) for k in spec.KEYS_2021} == truth["status"]
    assert (r.agency, r.year) == (truth["agency"], truth["year"])
    present = [t for t in spec.TABLES if t not in truth["missing_tables"]]
    assert r.tables_found == present


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.html")), ids=lambda p: p.name)
def test_generated_cms_pages(path: Path):
    check_fixture(path)


def test_fixture_set_is_there():
    assert len(list(FIXTURES.glob("*.html"))) >= 5


def test_renderer_output_reads_back_exactly(tmp_path: Path):
    """The generator's HTML renderer today (not only the committed fixtures): every sample of
    a small batch — all CMS shells, encodings and defect kinds that occur — reads back exactly."""
    from tasks.synth import generate

    paths = generate(tmp_path, agencies=6, years=(2023, 2024), seed=5, defect_rate=0.6,
                     formats=("html",))
    assert len(paths) == 12
    for p in paths:
        check_fixture(p)
