"""The format as data: cell keys, row/column labels and the tables' identities.

`cells_2021.csv` is the 200-cell key contract (same keys as ``shared/spec/cells.csv``).
`labels.json` lists, for every row and column key, the label "cores" that name it in real
documents (normalised text, see :func:`tasks.labels.normalize`), per format version.

Everything that knows the shape of the tables reads it from here: the label matcher
(`tasks.layout`), the lost-cell solver (`tasks.infer`), the GX suite builder
(`tasks.validate`) and the roll-up.
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SPEC_DIR = Path(__file__).parent

TABLES = ("proactive", "requests", "appeals")
TABLE_TITLES = {
    "proactive": "二、主动公开政府信息情况",
    "requests": "三、收到和处理政府信息公开申请情况",
    "appeals": "四、政府信息公开行政复议、行政诉讼情况",
}

# Columns of table 三, in printed order.
REQUEST_COLUMNS = ("natural_person", "commercial", "research", "public_interest",
                   "legal_service", "other_org", "total")
APPLICANT_COLUMNS = REQUEST_COLUMNS[:-1]

# Rows of table 三 in printed order (2021 format).
REQUEST_ROWS = (
    "new", "carried_over",
    "granted", "partly_granted",
    "denied_state_secret", "denied_prohibited_by_law", "denied_security_stability",
    "denied_third_party", "denied_internal_affairs", "denied_process_info",
    "denied_enforcement_file", "denied_query_matter",
    "unable_not_held", "unable_needs_creation", "unable_unclear",
    "rejected_petition", "rejected_duplicate", "rejected_publication", "rejected_excessive",
    "rejected_confirmation",
    "other_no_correction", "other_fee_unpaid", "other_other",
    "total", "carried_forward",
)
OUTCOME_ROWS = REQUEST_ROWS[2:23]          # the 21 outcome rows （一）…（六）3
OTHER_SUBROWS = ("other_no_correction", "other_fee_unpaid", "other_other")
# The single （六）其他处理 row of the 2019 format (and of some 2021-era reports).
OTHER_SINGLE_ROW = "other"

# Groups of outcome rows as printed (group label → rows); used by reports and roll-up layout.
OUTCOME_GROUPS = (
    ("（一）予以公开", ("granted",)),
    ("（二）部分公开（区分处理的，只计这一情形，不计其他情形）", ("partly_granted",)),
    ("（三）不予公开", REQUEST_ROWS[4:12]),
    ("（四）无法提供", REQUEST_ROWS[12:15]),
    ("（五）不予处理", REQUEST_ROWS[15:20]),
    ("（六）其他处理", OTHER_SUBROWS),
)

APPEAL_GROUPS = ("review", "suit_direct", "suit_after_review")
APPEAL_PARTS = ("upheld", "corrected", "other", "pending")
APPEAL_COLUMNS = tuple(f"{g}_{p}" for g in APPEAL_GROUPS for p in (*APPEAL_PARTS, "total"))

PROACTIVE_ROWS = {
    # row_key → printed column keys, in order
    "regulations": ("issued", "repealed", "in_force"),
    "normative_documents": ("issued", "repealed", "in_force"),
    "licensing": ("decisions",),
    "penalty": ("decisions",),
    "coercion": ("decisions",),
    "fees": ("amount",),
}

# Table 二 of the 2019/2020 试行 format (国办公开办函〔2019〕60号): 22 cells with keys of their
# own (cells_2019.csv); same row keys where the row is the same thing.
PROACTIVE_ROWS_2019 = {
    "regulations": ("made", "published", "public_total"),
    "normative_documents": ("made", "published", "public_total"),
    "licensing": ("prior_items", "change", "handled"),
    "other_services": ("prior_items", "change", "handled"),
    "penalty": ("prior_items", "change", "handled"),
    "coercion": ("prior_items", "change", "handled"),
    "fees": ("prior_items", "change"),
    "procurement": ("items", "amount"),
}
# Rows of table 三 in the 2019 format: （六）其他处理 is one row.
REQUEST_ROWS_2019 = REQUEST_ROWS[:20] + (OTHER_SINGLE_ROW,) + REQUEST_ROWS[23:]
OUTCOME_ROWS_2019 = REQUEST_ROWS_2019[2:21]


@dataclass(frozen=True, slots=True)
class CellSpec:
    key: str
    table: str
    row_key: str
    col_key: str
    row_label: str
    col_label: str
    unit: str

    @property
    def is_decimal(self) -> bool:
        return self.unit == "万元"


@cache
def cells_2021() -> tuple[CellSpec, ...]:
    with open(SPEC_DIR / "cells_2021.csv", encoding="utf-8", newline="") as f:
        return tuple(CellSpec(**row) for row in csv.DictReader(f))


@cache
def cells_2019() -> tuple[CellSpec, ...]:
    """The 2019/2020 试行 format's 198 cells: its own 22 in 二, 23 rows × 7 in 三 (the single
    （六）其他处理 row is `requests.other.<col>`), 四 as in 2021."""
    with open(SPEC_DIR / "cells_2019.csv", encoding="utf-8", newline="") as f:
        return tuple(CellSpec(**row) for row in csv.DictReader(f))


@cache
def cell_index() -> dict[str, CellSpec]:
    """Every known cell key: the 2021 contract first, then the 2019-only keys (二 of 2019 and
    the single （六）其他处理 row `requests.other.*`, which some 2021-era reports keep too)."""
    out = {c.key: c for c in cells_2021()}
    for c in cells_2019():
        out.setdefault(c.key, c)
    return out


KEYS_2021: tuple[str, ...] = tuple(c.key for c in cells_2021())
KEYS_2019: tuple[str, ...] = tuple(c.key for c in cells_2019())


def format_keys(version: str | None) -> tuple[str, ...]:
    """The cell keys of a format version ("2019" → KEYS_2019, anything else → KEYS_2021)."""
    return KEYS_2019 if version == "2019" else KEYS_2021


def key(table: str, row_key: str, col_key: str) -> str:
    return f"{table}.{row_key}.{col_key}"


@cache
def labels() -> dict:
    """Label cores per row/column key (see labels.json)."""
    with open(SPEC_DIR / "labels.json", encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------------------------------------
# Identities. Each is `sum(lhs) == sum(rhs)` over cell keys; rule ids are those of the GX suites.
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Identity:
    rule: str            # stable rule id, e.g. "requests.balance"
    instance: str        # which column/row/group, e.g. "natural_person"
    lhs: tuple[str, ...]
    rhs: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.rule}.{self.instance}"

    @property
    def cells(self) -> tuple[str, ...]:
        return self.lhs + self.rhs


@cache
def identities() -> tuple[Identity, ...]:
    out: list[Identity] = []
    r = lambda row, col: key("requests", row, col)  # noqa: E731
    for col in REQUEST_COLUMNS:
        out.append(Identity("requests.balance", col,
                            (r("new", col), r("carried_over", col)),
                            (r("total", col), r("carried_forward", col))))
    for col in REQUEST_COLUMNS:
        out.append(Identity("requests.result_total", col,
                            (r("total", col),), tuple(r(row, col) for row in OUTCOME_ROWS)))
    for row in REQUEST_ROWS:
        out.append(Identity("requests.row_total", row,
                            (r(row, "total"),), tuple(r(row, c) for c in APPLICANT_COLUMNS)))
    for g in APPEAL_GROUPS:
        a = lambda p: key("appeals", "cases", f"{g}_{p}")  # noqa: E731
        out.append(Identity("appeals.group_total", g,
                            (a("total"),), tuple(a(p) for p in APPEAL_PARTS)))
    return tuple(out)


def identity_terms(identity: Identity, present_keys: set[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(lhs, rhs) of an identity for a report whose cells are `present_keys`.

    A report that prints the single （六）其他处理 row (2019 format, and some 2021-era reports)
    has `requests.other.<col>` (pass the keys of `report.cells`: the layout only creates them
    when that row is printed): in `requests.result_total` the three sub-row keys are replaced
    by `requests.other.<col>` (the sub-rows, if printed as well, add up to it anyway).
    Otherwise (lhs, rhs) as is."""
    if identity.rule != "requests.result_total":
        return identity.lhs, identity.rhs
    col = identity.instance
    single = key("requests", OTHER_SINGLE_ROW, col)
    subs = tuple(key("requests", r, col) for r in OTHER_SUBROWS)
    if single not in present_keys:
        return identity.lhs, identity.rhs
    rhs: list[str] = []
    for k in identity.rhs:
        if k in subs:
            if single not in rhs:
                rhs.append(single)
        else:
            rhs.append(k)
    return identity.lhs, tuple(rhs)
