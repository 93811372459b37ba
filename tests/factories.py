"""Build `tasks.model.Report` objects directly, for tests that do not need extraction."""
from __future__ import annotations

import hashlib
from decimal import Decimal

from tasks import spec
from tasks.model import Cell, Provenance, Report, Status

# Seed 003 (湘潭县数据局 2024): the non-zero cells of its tables; every other cell is 0.
SEED_003_VALUES: dict[str, int] = {
    f"requests.{row}.{col}": v
    for col in ("natural_person", "total")
    for row, v in (("new", 2), ("carried_over", 1), ("unable_not_held", 3), ("total", 3))
}


def make_report(values: dict[str, int | Decimal | float | None] | None = None, *,
                name: str = "r", base: int | None = 0,
                status: dict[str, Status | str] | None = None,
                labels: dict[str, tuple[str | None, str | None]] | None = None,
                agency: str | None = "测试县数据局", year: int | None = 2024,
                tables: tuple[str, ...] = spec.TABLES, version: str = "2021") -> Report:
    """A report as the layout builds it: every cell of the format `version` is `base`
    (None → blank), overridden by `values`; the other 2021 keys are blank placeholders
    (a 2019 report still carries the 200 keys); keys in `values` outside both are added.

    A None value is a blank cell (status blank) unless `status` says otherwise; `status`
    overrides the status of single cells, `labels` gives printed (row_label, col_label).
    """
    status = dict(status or {})
    labels = labels or {}
    cells: dict[str, Cell] = {}
    own = spec.format_keys(version)
    keys = dict.fromkeys((*spec.KEYS_2021, *own, *(values or {})))
    for k in keys:
        default = base if k in own else None
        v = values[k] if values and k in values else default
        st = Status(status.get(k, Status.BLANK if v is None else Status.READ))
        row_label, col_label = labels.get(k, (None, None))
        src = Provenance(file=f"{name}.txt", text=None if v is None else str(v),
                         row_label=row_label, col_label=col_label)
        cells[k] = Cell(v, st, src)
    return Report(file=f"{name}.txt", sha256=hashlib.sha256(name.encode()).hexdigest(),
                  format="txt", format_version=version, agency=agency, year=year, cells=cells,
                  tables_found=list(tables))
