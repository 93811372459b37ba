"""Parsing the numbers printed in table cells.

A cell holds a number (possibly full-width, with thousands separators, a unit, or in Chinese
numerals), a blank marker (empty, -, —, /, 无), or something else (garbage: reported, never
guessed).
"""
from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from enum import Enum
from functools import lru_cache


class Kind(Enum):
    NUMBER = "number"
    BLANK = "blank"
    GARBAGE = "garbage"


_BLANK_MARKERS = {"", "-", "—", "——", "–", "/", "\\", "无", "空", "／", "…", "...", "nbsp"}
_UNIT = re.compile(r"(件|个|万元|元|项|次|条)$")
_NUM = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6,
              "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000, "万": 10000}


@lru_cache(maxsize=65536)
def parse_cell(text: str) -> tuple[Kind, Decimal | None]:
    t = unicodedata.normalize("NFKC", text or "").strip()
    t = t.replace("\u00a0", "").replace(" ", "")
    if t in _BLANK_MARKERS:
        return Kind.BLANK, None
    t = _UNIT.sub("", t)
    if _NUM.match(t):
        try:
            return Kind.NUMBER, Decimal(t.replace(",", ""))
        except InvalidOperation:
            return Kind.GARBAGE, None
    cn = parse_chinese_numeral(t)
    if cn is not None:
        return Kind.NUMBER, Decimal(cn)
    return Kind.GARBAGE, None


def is_number(text: str) -> bool:
    return parse_cell(text)[0] is Kind.NUMBER


def is_blank(text: str) -> bool:
    return parse_cell(text)[0] is Kind.BLANK


def parse_chinese_numeral(t: str) -> int | None:
    """一百二十 → 120, 十五 → 15, 三千零五 → 3005. Only whole tokens made of numeral characters."""
    if not t or any(c not in _CN_DIGITS and c not in _CN_UNITS for c in t):
        return None
    total, section, digit = 0, 0, None
    for c in t:
        if c in _CN_DIGITS:
            digit = _CN_DIGITS[c]
        else:
            unit = _CN_UNITS[c]
            if unit == 10000:
                section = (section + (digit or 0)) * unit
                total += section
                section, digit = 0, None
                continue
            section += (1 if digit is None else digit) * unit
            digit = None
    return total + section + (digit or 0)


def as_value(d: Decimal, decimal_cell: bool) -> int | Decimal:
    """Counts are ints when integral; a non-integral count stays Decimal (cells.invalid flags it)."""
    if not decimal_cell and d == d.to_integral_value():
        return int(d)
    return d
