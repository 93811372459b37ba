"""Planting defects into a clean `ReportTruth`.

Each planter changes what the report says (values, status, agency, year, missing tables) and
records a `Defect`; it returns False (changing nothing) when the defect cannot be planted in this
report without clashing with defects already there. Which findings a defect causes is not
recorded here: the rule oracle (`truth.expected_findings`) computes them from the values.
"""
from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from decimal import Decimal

from tasks import spec
from tasks.synth.truth import BLANK, INFERRED, READ, Defect, ReportTruth

KINDS = (
    "requests.balance",          # 一 + 二 ≠ （七） + 四 in a column
    "requests.result_total",     # （七）总计 ≠ sum of the outcome rows in a column
    "requests.row_total",        # 总计 ≠ sum of the applicant columns in a row
    "appeals.group_total",       # 总计 ≠ 维持 + 纠正 + 其他 + 尚未审结 in a group
    "cells.invalid",             # a negative count, 1.5 in a count cell, a negative fee
    "cells.blank",               # a few cells printed empty (layout A only)
    "cells.total_only",          # only the 总计 column of 三 filled (layout A only)
    "proactive.in_force_floor",  # 现行有效件数 < 本年制发件数 − 本年废止件数
    "report.agency_unknown",     # no agency name in the text
    "report.year_unknown",       # no year in the text
    "report.table_missing",      # a table (or its whole section) left out
    "cells.lost",                # cells lost from one row (layout B only), inferred
)

# Findings each kind must cause (rule, kind): used by tests and the README.
EXPECTED_RULE = {
    "requests.balance": ("requests.balance", "violated"),
    "requests.result_total": ("requests.result_total", "violated"),
    "requests.row_total": ("requests.row_total", "violated"),
    "appeals.group_total": ("appeals.group_total", "violated"),
    "cells.invalid": ("cells.invalid", "invalid"),
    "cells.blank": ("cells.blank", "blank"),
    "cells.total_only": ("cells.blank", "blank"),
    "proactive.in_force_floor": ("proactive.in_force_floor", "violated"),
    "report.agency_unknown": ("report.agency_unknown", "missing"),
    "report.year_unknown": ("report.year_unknown", "missing"),
    "report.table_missing": ("report.table_missing", "missing"),
    "cells.lost": None,
}

R = lambda row, col: spec.key("requests", row, col)  # noqa: E731


def _touched(t: ReportTruth, table: str) -> bool:
    return any(c.startswith(table + ".") for d in t.defects for c in d.cells) or \
        any(d.kind == "cells.total_only" for d in t.defects if table == "requests")


def _kinds(t: ReportTruth) -> set[str]:
    return {d.kind for d in t.defects}


def _delta(rng: random.Random) -> int:
    return rng.choice((1, 1, 1, 2, 2, 3, 5, 10))


def _usable(t: ReportTruth, table: str) -> bool:
    """The table is printed and its cells are not already blanked wholesale (总计-only)."""
    if not t.table_present(table):
        return False
    return not (table == "requests" and "cells.total_only" in _kinds(t))


def _all_read(t: ReportTruth, keys: list[str]) -> bool:
    return all(t.status[k] == READ for k in keys)


def _shift(t: ReportTruth, keys: list[str], d: int, rule: str, note: str) -> bool:
    """Add `d` to every cell of `keys` and record the defect the change plants."""
    for k in keys:
        t.cells[k] += d
    t.defects.append(Defect(rule, keys, note))
    return True


def plant_balance(t: ReportTruth, rng: random.Random) -> bool:
    if not _usable(t, "requests"):
        return False
    col = rng.choice(spec.APPLICANT_COLUMNS)
    keys = [R("new", col), R("new", "total")]
    if not _all_read(t, keys):
        return False
    d = _delta(rng)
    return _shift(t, keys, d, "requests.balance", f"本年新收 {col} and its row total +{d}")


def plant_result_total(t: ReportTruth, rng: random.Random) -> bool:
    if not _usable(t, "requests"):
        return False
    row = rng.choice(("granted", "granted", "partly_granted", "unable_not_held", "other_other",
                      "denied_process_info", "rejected_petition"))
    col = rng.choice(spec.APPLICANT_COLUMNS)
    keys = [R(row, col), R(row, "total")]
    if not _all_read(t, keys):
        return False
    d = _delta(rng)
    if t.cells[keys[0]] >= d and rng.random() < 0.4:
        d = -d
    return _shift(t, keys, d, "requests.result_total", f"{row} {col} and its row total {d:+d}")


def plant_row_total(t: ReportTruth, rng: random.Random) -> bool:
    """An applicant column filled consistently, the 总计 column not updated."""
    if not _usable(t, "requests"):
        return False
    col = rng.choice(spec.APPLICANT_COLUMNS)
    row = rng.choice(spec.OUTCOME_ROWS)
    keys = [R("new", col), R(row, col), R("total", col)]
    if not _all_read(t, keys):
        return False
    d = _delta(rng)
    return _shift(t, keys, d, "requests.row_total", f"new/{row}/total {col} +{d}, 总计 column not")


def plant_group_total(t: ReportTruth, rng: random.Random) -> bool:
    if not t.table_present("appeals"):
        return False
    g = rng.choice(spec.APPEAL_GROUPS)
    part = rng.choice((*spec.APPEAL_PARTS, "total"))
    k = spec.key("appeals", "cases", f"{g}_{part}")
    if not _all_read(t, [k]):
        return False
    d = _delta(rng)
    if t.cells[k] >= d and rng.random() < 0.3:
        d = -d
    t.cells[k] += d
    t.defects.append(Defect("appeals.group_total", [k], f"{g}_{part} {d:+d}"))
    return True


def plant_invalid(t: ReportTruth, rng: random.Random) -> bool:
    cands: list[str] = []
    if t.table_present("proactive"):
        cands += [spec.key("proactive", r, "decisions") for r in ("licensing", "penalty", "coercion")]
        cands += [spec.key("proactive", "fees", "amount")] * 2
    if _usable(t, "requests"):
        cands += [R(r, c) for r in spec.OUTCOME_ROWS for c in spec.APPLICANT_COLUMNS][:: 7]
    if t.table_present("appeals"):
        cands += [spec.key("appeals", "cases", f"{g}_{p}") for g in spec.APPEAL_GROUPS
                  for p in spec.APPEAL_PARTS]
    cands = [k for k in cands if t.status[k] == READ]
    if not cands:
        return False
    k = rng.choice(cands)
    old = t.cells[k]
    if spec.cell_index()[k].is_decimal:
        new: int | float | Decimal = -(Decimal(rng.randint(1, 500)).scaleb(-2))
    elif rng.random() < 0.5:
        new = -rng.choice((1, 1, 2, 3)) if old == 0 else -old
    else:
        new = old + 0.5 if old else 1.5
    t.cells[k] = new
    t.defects.append(Defect("cells.invalid", [k], f"{old} printed as {new}"))
    return True


def plant_floor(t: ReportTruth, rng: random.Random) -> bool:
    if not t.table_present("proactive"):
        return False
    row = "regulations" if t.cells[spec.key("proactive", "regulations", "in_force")] and \
        rng.random() < 0.3 else "normative_documents"
    ki, kr, kf = (spec.key("proactive", row, c) for c in ("issued", "repealed", "in_force"))
    if not _all_read(t, [ki, kr, kf]):
        return False
    issued, repealed, in_force = t.cells[ki], t.cells[kr], t.cells[kf]
    if issued - repealed >= 1 and rng.random() < 0.6:
        t.cells[kf] = rng.randint(0, issued - repealed - 1)
        cells = [kf]
    else:
        t.cells[ki] = in_force + repealed + _delta(rng)
        cells = [ki]
    t.defects.append(Defect("proactive.in_force_floor", cells,
                            f"{row}: issued {t.cells[ki]}, repealed {repealed}, in force {t.cells[kf]}"))
    return True


def plant_blank(t: ReportTruth, rng: random.Random) -> bool:
    touched = {c for d in t.defects for c in d.cells}
    cands = [k for k in spec.KEYS_2021 if t.table_present(k.split(".")[0])
             and t.status[k] == READ and k not in touched]
    if not cands:
        return False
    # Real reports leave a cell empty here and there, often a total (seed 001).
    favoured = [k for k in cands if k.endswith(".total") or k.startswith("requests.carried")]
    n = rng.choice((1, 1, 1, 2, 3))
    keys = rng.sample(favoured, min(n, len(favoured))) if favoured and rng.random() < 0.5 \
        else rng.sample(cands, min(n, len(cands)))
    keys = [k for k in spec.KEYS_2021 if k in keys]
    for k in keys:
        t.cells[k] = None
        t.status[k] = BLANK
    t.defects.append(Defect("cells.blank", keys, f"{len(keys)} cell(s) printed empty"))
    return True


def plant_total_only(t: ReportTruth, rng: random.Random) -> bool:
    if not t.table_present("requests") or _touched(t, "requests"):
        return False
    keys = [R(r, c) for r in spec.REQUEST_ROWS for c in spec.APPLICANT_COLUMNS]
    if not _all_read(t, keys):
        return False
    keys = [k for k in spec.KEYS_2021 if k in set(keys)]
    for k in keys:
        t.cells[k] = None
        t.status[k] = BLANK
    t.defects.append(Defect("cells.total_only", keys, "only the 总计 column of 三 filled"))
    return True


def plant_agency_unknown(t: ReportTruth, rng: random.Random) -> bool:
    if t.agency is None:
        return False
    t.agency = None
    t.agency_form = "none"
    t.defects.append(Defect("report.agency_unknown", [], "title and body say 本机关/我局 only"))
    return True


def plant_year_unknown(t: ReportTruth, rng: random.Random) -> bool:
    if t.year is None:
        return False
    t.year = None
    t.defects.append(Defect("report.year_unknown", [], "no year anywhere in the text"))
    return True


def plant_table_missing(t: ReportTruth, rng: random.Random) -> bool:
    cands = [tb for tb in spec.TABLES if t.table_present(tb) and not _touched(t, tb)]
    if not cands or t.missing_tables:
        return False
    table = rng.choice(cands)
    mode = rng.choice(("table", "section"))
    t.missing_tables[table] = mode
    for k in spec.KEYS_2021:
        if k.startswith(table + "."):
            t.cells[k] = None
            t.status[k] = BLANK
    t.defects.append(Defect("report.table_missing", [],
                            f"{table}: {'section present, table omitted' if mode == 'table' else 'section omitted'}"))
    return True


# --- lost cells ------------------------------------------------------------------------------
def _identities_of(table: str) -> list[spec.Identity]:
    return [i for i in spec.identities() if i.lhs[0].startswith(table + ".")]


def _holds(vals: dict[str, int], idents: list[spec.Identity]) -> bool:
    return all(sum(vals[k] for k in i.lhs) == sum(vals[k] for k in i.rhs) for i in idents)


def _solve(vals: dict[str, int | None], idents: list[spec.Identity]) -> dict[str, int] | None:
    """Fill unknowns (None) one identity at a time; None when they are not all determined."""
    vals = dict(vals)
    progress = True
    while progress and any(v is None for v in vals.values()):
        progress = False
        for i in idents:
            unknown = [k for k in i.cells if vals[k] is None]
            if len(unknown) != 1:
                continue
            u = unknown[0]
            lhs = sum(vals[k] for k in i.lhs if k != u)
            rhs = sum(vals[k] for k in i.rhs if k != u)
            vals[u] = (rhs - lhs) if u in i.lhs else (lhs - rhs)
            progress = True
    if any(v is None for v in vals.values()):
        return None
    return vals  # type: ignore[return-value]


def lost_cells_determined(t: ReportTruth, row_keys: list[str], lost: list[str]) -> bool:
    """True when the row, printed without `lost`, has exactly one completion that satisfies the
    table's identities (over every placement of the missing numbers) — the true one."""
    table = row_keys[0].split(".")[0]
    idents = _identities_of(table)
    base = {k: t.cells[k] for k in spec.KEYS_2021 if k.startswith(table + ".")}
    printed = [t.cells[k] for k in row_keys if k not in lost]
    truth_row = [t.cells[k] for k in row_keys]
    completions = set()
    for pos in itertools.combinations(range(len(row_keys)), len(lost)):
        vals = dict(base)
        it = iter(printed)
        for i, k in enumerate(row_keys):
            vals[k] = None if i in pos else next(it)
        solved = _solve(vals, idents)
        if solved is None:
            return False
        if any(solved[k] < 0 for k in row_keys) or not _holds(solved, idents):
            continue
        completions.add(tuple(solved[k] for k in row_keys))
    return completions == {tuple(truth_row)}


def plant_lost(t: ReportTruth, rng: random.Random) -> bool:
    """Cells lost from ONE row (a PDF copy), in a table whose identities all hold."""
    options: list[tuple[str, list[str]]] = []
    for table in ("requests", "appeals"):
        if not t.table_present(table):
            continue
        keys = [k for k in spec.KEYS_2021 if k.startswith(table + ".")]
        if not all(t.status[k] == READ and isinstance(t.cells[k], int) and t.cells[k] >= 0
                   for k in keys):
            continue
        if not _holds({k: t.cells[k] for k in keys}, _identities_of(table)):
            continue
        if table == "requests":
            options += [(table, [R(r, c) for c in spec.REQUEST_COLUMNS]) for r in spec.REQUEST_ROWS]
        else:
            options += [(table, keys)] * 6
    rng.shuffle(options)
    for table, row in options[:12]:
        n = rng.choice((1, 1, 2)) if table == "requests" else 1
        lost = sorted(rng.sample(row, n), key=row.index)
        if lost_cells_determined(t, row, lost):
            # Printed with fewer numbers than columns, no number of the row sits in a certain
            # column: the whole row is inferred (the values are determined, the positions too).
            for k in row:
                t.status[k] = INFERRED
            t.printing["lost"] = list(lost)
            t.defects.append(Defect("cells.lost", lost,
                                    f"{len(lost)} number(s) missing from one row; the row is inferred"))
            return True
    return False


PLANTERS: dict[str, Callable[[ReportTruth, random.Random], bool]] = {
    "requests.balance": plant_balance,
    "requests.result_total": plant_result_total,
    "requests.row_total": plant_row_total,
    "appeals.group_total": plant_group_total,
    "cells.invalid": plant_invalid,
    "cells.blank": plant_blank,
    "cells.total_only": plant_total_only,
    "proactive.in_force_floor": plant_floor,
    "report.agency_unknown": plant_agency_unknown,
    "report.year_unknown": plant_year_unknown,
    "report.table_missing": plant_table_missing,
    "cells.lost": plant_lost,
}
assert set(PLANTERS) == set(KINDS) == set(EXPECTED_RULE)
