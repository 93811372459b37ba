from decimal import Decimal

import pytest

from tasks.numbers import Kind, parse_cell


@pytest.mark.parametrize("text,kind,value", [
    ("0", Kind.NUMBER, 0), ("12", Kind.NUMBER, 12), ("１２", Kind.NUMBER, 12),
    ("1,234", Kind.NUMBER, 1234), ("0.35", Kind.NUMBER, Decimal("0.35")), ("-3", Kind.NUMBER, -3),
    ("一百二十", Kind.NUMBER, 120), ("十五", Kind.NUMBER, 15), ("3件", Kind.NUMBER, 3),
    ("", Kind.BLANK, None), ("\u00a0", Kind.BLANK, None), ("—", Kind.BLANK, None),
    ("/", Kind.BLANK, None), ("无", Kind.BLANK, None),
    ("abc", Kind.GARBAGE, None), ("1.2.3", Kind.GARBAGE, None),
])
def test_parse_cell(text, kind, value):
    k, v = parse_cell(text)
    assert k is kind
    assert (v if v is None else Decimal(v)) == (value if value is None else Decimal(value))
