"""Numbers stated in a report's running text about applications and appeals.

Reports restate some table numbers in prose (总体情况): "2025年，全区共收到政府信息公开申请154件",
"上年结转3件", "结转至2026年6件", "行政复议36起，行政诉讼9起", "未收到政府信息公开申请". Extraction
keeps only high-confidence statements; the check (`narrative.requests`, tasks.crosscheck)
compares them with the tables.

:func:`extract_numbers` returns ``{item: {"value", "text", "page", "line"}}`` for the items of
:data:`ITEMS`, stored by extraction in ``Report.meta["narrative"]``. High confidence means:

- the number follows one of the phrasings below directly and is followed by 件/起/宗 (a zero
  statement — 未收到…申请, 无…行政复议 — counts as 0);
- the clause (text between 。；!? and, except in PDFs and scans, line breaks) names no year
  other than the report year (the next year only in a clause about 结转), and has no
  comparison word (较, 同比, 相比, 比上年, 增长, 下降, 增加, 减少, 环比);
- every statement of an item in the document gives the same number (otherwise the item is
  dropped as ambiguous).
"""
from __future__ import annotations

import re
import unicodedata
from typing import Any

# item → the table cells whose sum the text states (the 总计 column / group totals)
ITEMS: dict[str, tuple[str, ...]] = {
    "new": ("requests.new.total",),
    "carried_over": ("requests.carried_over.total",),
    "carried_forward": ("requests.carried_forward.total",),
    "review": ("appeals.cases.review_total",),
    "suits": ("appeals.cases.suit_direct_total", "appeals.cases.suit_after_review_total"),
}
ITEM_LABELS = {
    "new": "本年新收政府信息公开申请",
    "carried_over": "上年结转政府信息公开申请",
    "carried_forward": "结转下年度继续办理的申请",
    "review": "政府信息公开行政复议",
    "suits": "政府信息公开行政诉讼",
}

_N = r"(\d{1,7})"
_UNIT = r"(?:件|起|宗)"
_FILL = r"(?:数量|共计|总计|合计|累计|共|为|的)*"
_GAP = r"[^0-9,:;。!?\n]{0,24}?"
PATTERNS: dict[str, tuple[re.Pattern, ...]] = {
    "new": (
        re.compile(r"(?:收到|受理|接收|接到|新收)" + _GAP + r"申请(?:公开)?" + _FILL + _N + r"件"),
    ),
    "carried_over": (
        re.compile(r"上一?年度?结转(?:的)?(?:政府信息公开)?(?:申请)?" + _FILL + _N + r"件"),
    ),
    "carried_forward": (
        re.compile(r"结转(?:至|到)?下一?年度?(?:继续办理)?(?:的)?(?:申请)?" + _FILL + _N + r"件"),
        re.compile(r"结转(?:至|到)(?P<year>\d{4})年度?(?:继续办理)?(?:的)?(?:申请)?" + _FILL + _N
                   + r"件"),
    ),
    "review": (
        re.compile(r"行政复议(?:案件|申请)?" + _FILL + _N + _UNIT),
    ),
    "suits": (
        re.compile(r"行政诉讼(?:案件)?" + _FILL + _N + _UNIT),
    ),
}
_ZERO_END = r"(?=案件|事项|情况|的情况|、|和|及|或|与|,|$)"
ZERO_PATTERNS: dict[str, tuple[re.Pattern, ...]] = {
    "new": (re.compile(r"(?:未|没有)(?:收到|接收到|接到|受理)(?:过)?(?:任何)?"
                       r"(?:政府信息公开|依申请公开|信息公开)申请(?!人)"),),
    "review": (re.compile(r"(?:无|没有|未发生|未有)[^0-9,。]{0,30}?行政复议" + _ZERO_END),),
    "suits": (re.compile(r"(?:无|没有|未发生|未有)[^0-9,。]{0,30}?行政诉讼" + _ZERO_END),),
}
# words in the gap of a "new" statement that make it about something else
_NEW_GAP_EXCLUDE = ("结转", "办结", "答复", "复议", "诉讼", "办理")
_COMPARISON = re.compile(r"较|同比|相比|比上年|比去年|增长|下降|增加|减少|环比")
_YEAR = re.compile(r"(?<!\d)((?:19|20)\d{2})(?!\d)")
_CLAUSE_END = re.compile(r"[。;!?]")
_PAGED = ("pdf", "scan")
# every pattern above needs one of these words: a clause without any cannot state an item
_NEEDED = ("申请", "结转", "行政复议", "行政诉讼")


_SPACES = re.compile(r"[ \t\u3000\xa0]+")


def _normalize(text: str) -> str:
    return _SPACES.sub("", unicodedata.normalize("NFKC", text))


def _clauses(lines: list[tuple[str, int | None, int | None]], paged: bool):
    """(clause text, page, line) in reading order. Line breaks end a clause except in PDFs."""
    buf, start = "", None
    for text, page, line in lines:
        t = _normalize(text)
        if not t:
            continue
        if start is None:
            start = (page, line)
        pos = 0
        for m in _CLAUSE_END.finditer(t):
            buf += t[pos:m.start()]
            if buf:
                yield buf, start[0], start[1]
            buf, start, pos = "", (page, line), m.end()
        buf += t[pos:]
        if not paged:
            if buf:
                yield buf, start[0], start[1]
            buf, start = "", None
    if buf and start is not None:
        yield buf, start[0], start[1]


def _years_ok(clause: str, year: int | None, allow_next: bool) -> bool:
    years = {int(y) for y in _YEAR.findall(clause)}
    if not years:
        return True
    if year is None:
        return len(years) == 1
    allowed = {year, year + 1} if allow_next else {year}
    return years <= allowed


def statements(text_lines, year: int | None, paged: bool = False) -> list[dict[str, Any]]:
    """Every high-confidence statement (item, value, text, page, line) in reading order."""
    out: list[dict[str, Any]] = []
    for clause, page, line in _clauses(text_lines, paged):
        if not any(w in clause for w in _NEEDED) or _COMPARISON.search(clause):
            continue
        for item, patterns in PATTERNS.items():
            for p in patterns:
                for m in p.finditer(clause):
                    if item == "new" and any(w in m.group(0) for w in _NEW_GAP_EXCLUDE):
                        continue
                    if "year" in (p.groupindex or {}):
                        if year is None or int(m.group("year")) != year + 1:
                            continue
                    if not _years_ok(clause, year, allow_next="结转" in clause):
                        continue
                    out.append({"item": item, "value": int(m.groups()[-1]), "text": clause,
                                "page": page, "line": line})
        for item, patterns in ZERO_PATTERNS.items():
            for p in patterns:
                if p.search(clause) and _years_ok(clause, year, allow_next=False):
                    out.append({"item": item, "value": 0, "text": clause, "page": page,
                                "line": line})
    return out


def extract_numbers(doc, year: int | None) -> dict[str, dict[str, Any]]:
    """item → {"value", "text", "page", "line"} for each item stated unambiguously in
    ``doc.text`` (a :class:`tasks.readers.grid.Document`)."""
    lines = [(t.text, t.page, t.line) for t in doc.text]
    found: dict[str, list[dict[str, Any]]] = {}
    for s in statements(lines, year, paged=doc.format in _PAGED):
        found.setdefault(s.pop("item"), []).append(s)
    out: dict[str, dict[str, Any]] = {}
    for item in ITEMS:
        ss = found.get(item)
        if not ss or len({s["value"] for s in ss}) != 1:
            continue
        first = dict(ss[0])
        first["text"] = first["text"][:200].replace(",", "，").replace(":", "：")
        out[item] = first
    return out
