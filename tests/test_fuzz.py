"""Property-based tests (hypothesis) of the text and HTML readers and the label matcher.

1. Any input gives a Document or a clear ReadError, and through `extract_file` a report or an
   error SourceFile: never an exception escaping.
2. A valid report (tasks.synth, truth known) with noise added around its tables (prose with
   numbers, page numbers, separators, navigation, link tables, scripts, hidden blocks) reads
   with every cell equal to the truth or blank: never a different number.
3. The label matcher maps a drifted official label to its row or to nothing, never to another
   row, and any text to nothing or a row of the table asked for.
Example counts are modest to keep the suite fast.
"""
from __future__ import annotations

import random
from decimal import Decimal
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks import spec
from tasks.extract import extract_document, extract_file
from tasks.labels import match_row
from tasks.readers.grid import Document, ReadError
from tasks.readers.html import read_html
from tasks.readers.text import read_text
from tasks.synth import document as sdoc
from tests.test_bad_inputs import mbi

FAST = settings(max_examples=30, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SLOW = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ------------------------------------------------------------------- 1. anything goes in
_PIECES = ["\t", "\t\t", "\n", "\r\n", "\n\n", " ", "\u3000", "0", "12", "1,234", "一百二十", "５",
           "-", "—", "/", "无", "（一）予以公开", "本年新收政府信息公开申请数量", "总计", "商业企业",
           "申请人情况", "行政复议", "结果维持", "2024年政府信息公开工作年度报告", "湘潭县数据局",
           "统计期限为2024年1月1日至2024年12月31日", "（cid:123）", "\x00", "\ufeff", "\x1b[31m",
           "<table>", "<tr>", "<td rowspan=99999>", "<td colspan=0>", "</td>", "</tr>", "</table>",
           "<p>", "<div>", "</div>", "<script>", "</script>", "<!--", "-->", "&nbsp;", "&#0;",
           "<!DOCTYPE x [<!ENTITY a 'aaaa'>]>", "&a;", "<meta charset=gb2312>", "<br>"]
_text = st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=8)), max_size=60).map("".join)
_encodings = st.sampled_from(["utf-8", "gb18030", "utf-16", "utf-8-sig", "big5", "latin-1"])


def _encode(text: str, enc: str) -> bytes:
    return text.encode(enc, errors="replace")


def _read_or_clear_error(reader, data: bytes) -> Document | None:
    try:
        doc = reader("fuzz", data, "0" * 64)
    except ReadError as e:
        assert e.code and e.message, e
        return None
    assert isinstance(doc, Document)
    return doc


@FAST
@given(text=_text, enc=_encodings)
def test_text_reader_never_raises_anything_else(text, enc):
    doc = _read_or_clear_error(read_text, _encode(text, enc))
    if doc is not None:
        extract_document(doc)          # the layout and metadata take whatever it read


@FAST
@given(text=_text, enc=_encodings)
def test_html_reader_never_raises_anything_else(text, enc):
    doc = _read_or_clear_error(read_html, _encode("<html><body>" + text, enc))
    if doc is not None:
        extract_document(doc)


@FAST
@given(data=st.binary(max_size=3000), name=st.sampled_from(["a.txt", "a.html", "a.pdf", "a.docx",
                                                            "a", "a.doc"]))
def test_extract_file_turns_any_bytes_into_a_report_or_an_error(data, name):
    ex = extract_file(name, data=data)
    s = ex.source
    if ex.report is None:
        assert s.status == "error" and s.error_code and s.error_message, s
    else:
        assert s.status == "ok" and len(ex.report.cells) >= 200


# --------------------------------------------------------- 2. a valid report plus noise
@cache
def _truth(index: int, layout: str):
    return mbi.synth_report(index, layout=layout)


_NOISE_TEXT = [
    "- {n} -", "第 {n} 页", "{n}/{m}", "----------------", "＊＊＊",
    "附件：{y}年政府信息公开工作年度报告（PDF版）",
    "本机关全年共召开新闻发布会{n}场，发布政策解读{m}篇，回应关切{n}次。",
    "2024年，我单位共收到群众来信{n}件，办理人大代表建议{m}件。",
    "联系电话：0731-{m}{n}，传真：0731-{n}{m}",
    "发布时间：{y}-0{d}-1{d} 来源：本网 浏览次数：{m}",
    "（本页无正文）", "Government Information Disclosure Annual Report {y}",
    "扫一扫在手机打开当前页", "【字体：大 中 小】 打印 关闭",
]


def _noise_line(rng: random.Random) -> str:
    n, m, d = rng.randint(0, 999), rng.randint(0, 99999), rng.randint(1, 9)
    return rng.choice(_NOISE_TEXT).format(n=n, m=m, d=d, y=rng.choice((2023, 2024, 2025)))


def _with_noise(doc, seed: int, density: float):
    """The synth document with noise paragraphs inserted between blocks (never inside a table)."""
    rng = random.Random(seed)
    blocks = []
    for b in doc.blocks:
        while rng.random() < density:
            blocks.append(sdoc.Block("para", _noise_line(rng)))
        blocks.append(b)
    blocks.append(sdoc.Block("para", _noise_line(rng)))
    return sdoc.Document(blocks, doc.agency_in_body)


def _assert_never_a_wrong_number(report, truth) -> int:
    wrong = []
    read = 0
    for key, want in truth.cells.items():
        cell = report.cells.get(key)
        if cell is None or cell.value is None:
            continue                     # blank is allowed: uncertain stays uncertain
        read += 1
        if want is None or Decimal(str(cell.value)) != Decimal(str(want)):
            wrong.append((key, cell.value, want, cell.source.text if cell.source else None))
    assert wrong == [], wrong[:10]
    return read


@SLOW
@given(index=st.integers(0, 23), layout=st.sampled_from(["A", "B"]), seed=st.integers(0, 10**6),
       density=st.sampled_from([0.3, 0.6, 0.9]))
def test_text_report_with_noise_never_gives_a_wrong_number(index, layout, seed, density):
    t, doc = _truth(index, layout)
    data = mbi.text_bytes(t, _with_noise(doc, seed, density))
    ex = extract_file(f"{index}.txt", data=data)
    assert ex.report is not None, ex.source
    read = _assert_never_a_wrong_number(ex.report, t)
    assert read >= 150          # the noise around the tables does not hide them


_NOISE_HTML = [
    "<div class='nav'><ul>{links}</ul></div>",
    "<p>发布时间：{y}-0{d}-1{d}　来源：本网　浏览次数：{m}</p>",
    "<table class='related'><tr><td>序号</td><td>标题</td><td>日期</td></tr>"
    "<tr><td>{n}</td><td><a href='/a/{m}'>关于{y}年度政府信息公开工作的通知</a></td><td>{y}-01-0{d}</td></tr></table>",
    "<script>var total={m};document.write('{n}');</script>",
    "<div style='display:none'>本年新收政府信息公开申请数量 {n}</div>",
    "<table><tr><td>联系电话</td><td>0731-{m}</td></tr><tr><td>邮编</td><td>4{m}</td></tr></table>",
    "<p>&nbsp;</p>", "<hr>", "<p style='text-align:center'>- {n} -</p>",
    "<div class='share'>分享到：<a href='#'>微信</a><a href='#'>微博</a></div>",
    "<p>本机关全年共召开新闻发布会{n}场，发布政策解读{m}篇。</p>",
]


def _html_noise(seed: int, density: float):
    rng = random.Random(seed)

    def noise(where: str) -> str:
        out = []
        while rng.random() < density:
            n, m, d = rng.randint(0, 999), rng.randint(0, 99999), rng.randint(1, 9)
            links = "".join(f"<li><a href='/c/{i}'>栏目{i}</a></li>" for i in range(rng.randint(1, 8)))
            out.append(rng.choice(_NOISE_HTML).format(n=n, m=m, d=d, links=links,
                                                      y=rng.choice((2023, 2024))))
        return "".join(out)
    return noise


@SLOW
@given(index=st.integers(0, 23), seed=st.integers(0, 10**6), density=st.sampled_from([0.3, 0.6]),
       enc=st.sampled_from(["utf-8", "gb18030"]))
def test_html_report_with_noise_never_gives_a_wrong_number(index, seed, density, enc):
    t, doc = _truth(index, "A")
    page = ("<div class='header'>政府门户网站</div>"
            + mbi.report_html(doc, charset=None if enc == "utf-8" else "gb2312",
                              noise=_html_noise(seed, density))
            + "<div class='footer'>版权所有 网站标识码4300000001</div>")
    ex = extract_file(f"{index}.html", data=page.encode(enc))
    assert ex.report is not None, ex.source
    read = _assert_never_a_wrong_number(ex.report, t)
    assert read >= 150


# ---------------------------------------------------------------------- 3. the labels
def _official_labels() -> list[tuple[str, str]]:
    out = [(f"requests.{k}", v) for k, v in sdoc.ROW_LABELS.items()]
    out += [(f"requests.{k}", v) for k, v in sdoc.GROUP_LABELS.items() if f"requests.{k}" in
            spec.labels()["rows"]]
    return out


LABELS = _official_labels()


@st.composite
def drifted(draw):
    key, label = draw(st.sampled_from(LABELS))
    s = label
    if draw(st.booleans()):
        s = s.translate(str.maketrans({"（": "(", "）": ")", "，": ",", "“": '"', "”": '"'}))
    if draw(st.booleans()):   # spaces / line breaks inside the label
        chars = list(s)
        for _ in range(draw(st.integers(1, 3))):
            chars.insert(draw(st.integers(0, len(chars))), draw(st.sampled_from([" ", "\n", "\u3000"])))
        s = "".join(chars)
    if draw(st.booleans()):   # cut short (a row split across a page break)
        s = s[:max(2, int(len(s) * draw(st.floats(0.5, 1.0))))]
    return key, s


@FAST
@given(drifted())
def test_a_drifted_label_maps_to_its_row_or_to_nothing(case):
    key, label = case
    m = match_row(label, "requests")
    assert m.key in (key, None), (label, m)


@FAST
@given(st.text(max_size=40), st.sampled_from(["proactive", "requests", "appeals", None]))
def test_any_text_maps_to_nothing_or_a_row_of_that_table(text, table):
    m = match_row(text, table)
    assert m.key is None or m.key in spec.labels()["rows"]
    if table is not None and m.key is not None:
        assert m.key.startswith(table + "."), (text, m)
