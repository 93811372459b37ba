"""tasks.narrative: numbers stated in the running text, high-confidence statements only."""
from __future__ import annotations

import pytest

from tasks.extract import extract_file
from tasks.narrative import ITEMS, extract_numbers, statements
from tests.conftest import REAL, seed


def lines(*texts: str):
    return [(t, None, i + 1) for i, t in enumerate(texts)]


def found(*texts: str, year: int | None = 2024, paged: bool = False) -> dict[str, int]:
    out: dict[str, set] = {}
    for s in statements(lines(*texts), year, paged):
        out.setdefault(s["item"], set()).add(s["value"])
    return {k: v.pop() if len(v) == 1 else v for k, v in out.items()}


def table_sum(report, item: str):
    vals = [report.value(k) for k in ITEMS[item]]
    return None if any(v is None for v in vals) else sum(vals)


# ---------------------------------------------------------------------------- real documents
@pytest.mark.parametrize("name, expected", [
    # 淮安市 2024 (PDF): "全市共受理政府信息公开申请 3119 件 … 含上年度结转申请 34 件 …
    # 政府信息公开行政复议 351件 … 行政诉讼 46 件"
    ("huaian-city-2024.pdf", {"new": 3119, "carried_over": 34, "review": 351, "suits": 46}),
    # 平潭 2023 (CMS page): "…各类政府信息公开申请共计81件…行政复议案件2件、行政诉讼案件7件"
    ("pingtan-2023.html", {"new": 81, "review": 2, "suits": 7}),
    # 平潭 2025: "共收到政府信息公开申请154件，共办结148件，结转至2026年6件 … 行政复议36起，行政诉讼9起"
    ("pingtan-2025.html", {"new": 154, "carried_forward": 6, "review": 36, "suits": 9}),
])
def test_real_reports_numbers_agree_with_their_tables(name, expected):
    ex = extract_file(REAL / name)
    got = {k: v["value"] for k, v in ex.report.meta["narrative"].items()}
    assert got == expected
    for item, value in got.items():
        assert table_sum(ex.report, item) == value, item
    assert all(v["text"] for v in ex.report.meta["narrative"].values())


def test_seed_003_statement_and_its_line():
    ex = extract_file(seed("003"))
    n = ex.report.meta["narrative"]
    # "2024年，湘潭县数据局本单位受理本年新收政府信息公开申请数量2件，上年结转…1件，全年无行政复议案件和行政诉讼案件"
    assert {k: v["value"] for k, v in n.items()} == {"new": 2, "carried_over": 1, "review": 0,
                                                      "suits": 0}
    assert n["new"]["line"] == 16 and "受理本年新收政府信息公开申请数量2件" in n["new"]["text"]


def test_seed_004_spaced_year_and_number():
    n = extract_file(seed("004")).report.meta["narrative"]       # "2025 年，我局收到依申请公开 0 件"
    assert n["new"]["value"] == 0


# -------------------------------------------------------------------------------- phrasing
def test_receive_phrasings():
    assert found("2024年，我局共收到政府信息公开申请12件。") == {"new": 12}
    assert found("本年度新收政府信息公开申请3件，其中自然人申请2件，法人或其他组织申请1件。") == {"new": 3}
    assert found("全年接收通过邮寄、网络提交的各类政府信息公开申请共计81件。") == {"new": 81}
    assert found("2024年，我局未收到政府信息公开申请。") == {"new": 0}
    assert found("全年受理依申请公开５件。") == {"new": 5}                 # full-width digit


def test_carry_phrasings():
    assert found("上年结转政府信息公开申请数量4件，结转下年度继续办理2件。") == {
        "carried_over": 4, "carried_forward": 2}
    assert found("共办结148件，结转至2025年6件。", year=2024) == {"carried_forward": 6}
    # 结转至 a year that is not the next one: not about this report's carry-forward
    assert found("结转至2027年6件。", year=2024) == {}


def test_appeals_phrasings():
    assert found("因政府信息公开引起的行政复议案件2件、行政诉讼案件7件。") == {"review": 2, "suits": 7}
    assert found("全年办理行政复议36起，行政诉讼9起。") == {"review": 36, "suits": 9}
    assert found("无因政府信息公开工作被申请行政复议、行政诉讼事项。") == {"review": 0, "suits": 0}
    # "未发生…被纠错" says nothing about how many reviews there were
    assert found("未发生行政复议被纠错情况。") == {}


def test_low_confidence_clauses_are_skipped():
    # a comparison, another year, or a verb that is not "received"
    assert found("较2023年收到申请120件增长10%。") == {}
    assert found("2023年收到政府信息公开申请15件。", year=2024) == {}
    assert found("办结依申请公开81件，其中予以公开42件。") == {}
    assert found("受理上年结转申请5件。") == {"carried_over": 5}
    # numbers of a table row (no 件 after the number)
    assert found("一、本年新收政府信息公开申请数量 3001 53 0 0 61 4 3119") == {}


def test_conflicting_statements_are_dropped(tmp_path):
    from tasks.readers.grid import Document, TextLine

    doc = Document(path="x.txt", sha256="0", format="txt",
                   text=[TextLine("2024年，我局收到政府信息公开申请5件。", None, 1),
                         TextLine("全年共收到政府信息公开申请7件，行政复议1件。", None, 2),
                         TextLine("行政复议1件。", None, 3)])
    out = extract_numbers(doc, 2024)
    assert "new" not in out                              # 5 and 7: ambiguous
    assert out["review"]["value"] == 1 and out["review"]["line"] == 2


def test_clauses_cross_lines_only_in_paged_documents():
    text = ("2024年，我局共收到政府信息公开", "申请12件。")
    assert found(*text, paged=True) == {"new": 12}      # a PDF line break inside a sentence
    assert found(*text, paged=False) == {}              # a text/HTML line is a paragraph


def test_unknown_year_allows_one_year_only():
    assert found("2024年，我局共收到政府信息公开申请12件。", year=None) == {"new": 12}
    assert found("2024年收到政府信息公开申请12件，结转至2025年1件。", year=None) == {}
