"""The lost-cell solver.

Text copied out of PDFs loses empty or merged cells, so a row can show fewer numbers than it has
columns, and which columns lost theirs is unknown. This module fills such a row only where the
tables' identities (`tasks.spec.identities()`) and non-negativity determine every lost value
uniquely; otherwise the row's cells stay blank and a warning names the row.

Method (sound by construction): for each lost row, every placement of the printed numbers into
the row's columns (keeping their order) is tried; each placement's lost cells get the domain
[0, ∞) and interval propagation over all identities either refutes it or narrows the domains.
Propagation is a relaxation, so every truly consistent placement survives; a cell is filled
only when every surviving placement gives it the same single value. Solved rows become known,
which may settle other rows; this repeats until nothing changes.
"""
from __future__ import annotations

from decimal import Decimal
from itertools import combinations

from tasks import spec
from tasks.layout import LostRow
from tasks.model import Cell, Provenance, Status

INF = 10**15
_MAX_PLACEMENTS = 5000   # beyond this a row is left blank rather than searched


def solve(cells: dict[str, Cell], lost: list[LostRow]) -> list[tuple[str, str, list[str]]]:
    """Fill what the identities determine. Mutates `cells`; returns warnings (code, msg, cells)."""
    warnings: list[tuple[str, str, list[str]]] = []
    by_table: dict[str, list[LostRow]] = {}
    for r in lost:
        by_table.setdefault(r.keys[0].split(".", 1)[0], []).append(r)
    for table, rows in by_table.items():
        pending = _solve_table(cells, table, rows)
        for row in pending:
            warnings.append(("layout.lost_cells",
                             f"“{row.label}”行只显示{len(row.shown)}个数字（应有{len(row.keys)}列），"
                             "缺失的单元格无法由表内勾稽关系唯一确定，已按空白处理", list(row.keys)))
    return warnings


def _solve_table(cells: dict[str, Cell], table: str, lost: list[LostRow]) -> list[LostRow]:
    """Solve the lost rows of one table; returns the rows left unsolved."""
    eqs = _equations(table, set(cells))
    var_names = sorted({k for lhs, rhs in eqs for k in (*lhs, *rhs)}
                       | {k for r in lost for k in r.keys})
    idx = {k: i for i, k in enumerate(var_names)}
    eq_idx = [([idx[k] for k in lhs], [idx[k] for k in rhs]) for lhs, rhs in eqs]
    pending = list(lost)
    progress = True
    while pending and progress:
        progress = False
        lost_keys = {k for r in pending for k in r.keys}
        base_lo, base_hi = _base_domains(cells, var_names, lost_keys)
        if base_lo is None:
            break    # invalid numbers in this table (negative / fractional counts): no inference
        for row in list(pending):
            result = _solve_row(row, idx, eq_idx, base_lo, base_hi)
            if result is None:
                continue
            values, read_from = result
            for pos, k in enumerate(row.keys):
                tok = read_from.get(pos)
                anchor = tok or row.shown[0][1] if row.shown else tok
                cs = spec.cell_index().get(k)
                src = Provenance(file=row.file, page=anchor.page if anchor else None,
                                 line=anchor.line if anchor else None, table=row.table,
                                 row=row.row, col=None, bbox=tok.bbox if tok else None,
                                 text=tok.text if tok else None, row_label=row.label,
                                 col_label=cs.col_label if cs else None)
                status = Status.READ if tok is not None else Status.INFERRED
                cells[k] = Cell(values[pos], status, src)
            pending.remove(row)
            progress = True
            # newly known cells sharpen the base domains for the next rows
            lost_keys = {k for r in pending for k in r.keys}
            base_lo, base_hi = _base_domains(cells, var_names, lost_keys)
            if base_lo is None:
                break
    return pending


def _equations(table: str, present: set[str]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """The identities of one table: tables are independent, so an error in one never stops
    inference in another. A report printing the single （六） row uses it in place of the
    three sub-rows (`spec.identity_terms`)."""
    return [spec.identity_terms(i, present) for i in spec.identities()
            if i.rule.startswith(table + ".")]


def _base_domains(cells: dict[str, Cell], names: list[str], lost_keys: set[str]):
    lo = [0] * len(names)
    hi = [INF] * len(names)
    for i, k in enumerate(names):
        if k in lost_keys:
            continue
        c = cells.get(k)
        if c is None or c.value is None or c.status not in (Status.READ, Status.INFERRED):
            continue
        v = c.value
        if isinstance(v, Decimal):
            if v != v.to_integral_value():
                return None, None
            v = int(v)
        if v < 0:
            return None, None
        lo[i] = hi[i] = v
    return lo, hi


def _solve_row(row: LostRow, idx, eq_idx, base_lo, base_hi):
    n, k = len(row.keys), len(row.shown)
    shown_vals = []
    for d, _ in row.shown:
        if d != d.to_integral_value() or d < 0:
            return None
        shown_vals.append(int(d))
    placements = list(combinations(range(n), k))
    if len(placements) > _MAX_PLACEMENTS:
        return None
    key_idx = [idx[key] for key in row.keys]
    var_eqs = _var_equations(eq_idx, len(base_lo))
    # Propagate once with the whole row open; each placement then starts from that state.
    lo0, hi0 = list(base_lo), list(base_hi)
    for ki in key_idx:
        lo0[ki], hi0[ki] = 0, INF
    if not _propagate(lo0, hi0, eq_idx, var_eqs, range(len(eq_idx))):
        return None
    touched = sorted({e for ki in key_idx for e in var_eqs[ki]})
    outcomes: list[tuple[list[int], dict[int, int]]] = []
    for pl in placements:
        lo, hi = list(lo0), list(hi0)
        ok = True
        for j, pos in enumerate(pl):
            vi = key_idx[pos]
            v = shown_vals[j]
            if not lo[vi] <= v <= hi[vi]:
                ok = False
                break
            lo[vi] = hi[vi] = v
        if not ok or not _propagate(lo, hi, eq_idx, var_eqs, touched):
            continue
        vals = []
        for ki in key_idx:
            if lo[ki] != hi[ki]:
                return None         # a consistent placement leaves this cell open
            vals.append(lo[ki])
        if outcomes and vals != outcomes[0][0]:
            return None             # two consistent placements disagree
        outcomes.append((vals, {pos: j for j, pos in enumerate(pl)}))
    if not outcomes:
        return None
    # A printed number is tied to a cell only when every surviving placement agrees on it.
    read_from = {}
    for pos in range(n):
        js = {o[1].get(pos) for o in outcomes}
        if len(js) == 1 and None not in js:
            read_from[pos] = row.shown[js.pop()][1]
    return outcomes[0][0], read_from


_VAR_EQS_CACHE: dict[tuple[int, int], list[list[int]]] = {}


def _var_equations(eq_idx, nvars: int) -> list[list[int]]:
    key = (id(eq_idx), nvars)
    got = _VAR_EQS_CACHE.get(key)
    if got is None:
        got = [[] for _ in range(nvars)]
        for e, (lhs, rhs) in enumerate(eq_idx):
            for i in (*lhs, *rhs):
                got[i].append(e)
        _VAR_EQS_CACHE.clear()
        _VAR_EQS_CACHE[key] = got
    return got


def _propagate(lo: list[int], hi: list[int], eqs, var_eqs, start) -> bool:
    """Bounds propagation for sum(lhs) == sum(rhs) over non-negative integers (worklist)."""
    queue = list(start)
    queued = set(queue)
    steps = 0
    while queue:
        steps += 1
        if steps > 20000:
            return True          # give up narrowing; never claims more than it proved
        e = queue.pop()
        queued.discard(e)
        lhs, rhs = eqs[e]
        l_lo = sum(lo[i] for i in lhs)
        l_hi = sum(hi[i] for i in lhs)
        r_lo = sum(lo[i] for i in rhs)
        r_hi = sum(hi[i] for i in rhs)
        if l_lo > r_hi or r_lo > l_hi:
            return False
        for side, o_lo, o_hi, s_lo, s_hi in ((lhs, r_lo, r_hi, l_lo, l_hi),
                                            (rhs, l_lo, l_hi, r_lo, r_hi)):
            for i in side:
                rest_hi = s_hi - hi[i]
                new_lo = lo[i] if rest_hi >= INF else max(lo[i], o_lo - rest_hi)
                new_hi = hi[i] if o_hi >= INF else min(hi[i], o_hi - (s_lo - lo[i]))
                if new_lo > new_hi:
                    return False
                if new_lo != lo[i] or new_hi != hi[i]:
                    lo[i], hi[i] = new_lo, new_hi
                    for e2 in var_eqs[i]:
                        if e2 != e and e2 not in queued:
                            queue.append(e2)
                            queued.add(e2)
    return True
