import csv

from tasks import spec
from tests.conftest import SHARED


def test_keys_match_the_shared_contract():
    with open(SHARED / "spec" / "cells.csv", encoding="utf-8") as f:
        shared = [r["key"] for r in csv.DictReader(f)]
    assert list(spec.KEYS_2021) == shared
    assert len(shared) == 200


def test_identities_cover_the_tables():
    ids = spec.identities()
    by_rule = {}
    for i in ids:
        by_rule[i.rule] = by_rule.get(i.rule, 0) + 1
    assert by_rule == {"requests.balance": 7, "requests.result_total": 7,
                       "requests.row_total": 25, "appeals.group_total": 3}
    assert all(k in spec.cell_index() for i in ids for k in i.cells)


def test_every_row_has_label_cores():
    rows = spec.labels()["rows"]
    for c in spec.cells_2021():
        assert f"{c.table}.{c.row_key}" in rows or c.table == "appeals"
