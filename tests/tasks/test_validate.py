"""tasks.validate: the GX suites over one batch frame, and the findings traced back from them.

One batch holds every case (GX costs per expectation, not per row): each case is a report made
to break one rule, or a clean one. The tests assert on the GX validation result objects (the
expectation named by its meta fails, its unexpected_index_list points at the case's row) and
on the findings.
"""
from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from tasks import spec
from tasks import validate as V
from tasks.model import Cell, Report, Status
from tests.factories import SEED_003_VALUES, make_report

S3 = SEED_003_VALUES
ROOT = Path(__file__).resolve().parents[2]


def r(row: str, col: str) -> str:
    return spec.key("requests", row, col)


def ident(rule: str, instance: str) -> spec.Identity:
    (i,) = [i for i in spec.identities() if i.rule == rule and i.instance == instance]
    return i


APPEALS = tuple(k for k in spec.KEYS_2021 if k.startswith("appeals."))
REQUESTS = tuple(k for k in spec.KEYS_2021 if k.startswith("requests."))
REG = tuple(spec.key("proactive", "regulations", c) for c in ("issued", "repealed", "in_force"))
SINGLE = {r(spec.OTHER_SINGLE_ROW, c): 0 for c in spec.REQUEST_COLUMNS}    # （六） as one row
SUBROWS_BLANK = {r(row, c): None for row in spec.OTHER_SUBROWS for c in spec.REQUEST_COLUMNS}

CASES: dict[str, Report] = {
    # clean
    "zeros": make_report(name="zeros"),
    "seed003": make_report(S3, name="seed003"),
    "clean_decimals": make_report({"proactive.fees.amount": Decimal("12.3456"),
                                   "proactive.licensing.decisions": Decimal("3"),
                                   "proactive.penalty.decisions": 2.0,
                                   **dict(zip(REG, (5, 1, 4)))}, name="clean_decimals"),
    # identities violated
    "balance": make_report({**S3, r("carried_forward", "natural_person"): 1,
                            r("carried_forward", "total"): 1}, name="balance"),
    "result_total": make_report({**S3, r("granted", "natural_person"): 1,
                                 r("granted", "total"): 1}, name="result_total"),
    "row_total": make_report({**S3, r("granted", "total"): 1, r("unable_not_held", "total"): 2},
                             name="row_total"),
    "group_total": make_report({"appeals.cases.suit_direct_total": 2,
                                "appeals.cases.suit_direct_upheld": 1}, name="group_total"),
    # not checkable
    "blank_identity": make_report({**S3, r("new", "natural_person"): None}, name="blank_identity"),
    "uncertain": make_report(S3, status={r("new", "total"): "uncertain"}, name="uncertain"),
    # cells
    "invalid": make_report({"proactive.licensing.decisions": -1,
                            "proactive.penalty.decisions": Decimal("1.5"),
                            "proactive.fees.amount": Decimal("-0.5")}, name="invalid"),
    "blank_row": make_report({r("carried_forward", "research"): None,
                              r("carried_forward", "commercial"): None}, name="blank_row"),
    "blank_proactive": make_report({"proactive.coercion.decisions": None}, name="blank_proactive"),
    "floor": make_report({**dict(zip(REG, (5, 1, 3))),
                          "proactive.normative_documents.issued": 2,
                          "proactive.normative_documents.in_force": 2}, name="floor"),
    # report
    "no_agency": make_report(name="no_agency", agency=None),
    "no_year": make_report(name="no_year", year=None),
    "missing_tables": make_report({k: None for k in REQUESTS + APPEALS}, tables=("proactive",),
                                  name="missing_tables"),
    "printed_labels": make_report(
        {**S3, r("carried_forward", "natural_person"): 1, r("carried_forward", "total"): 1},
        labels={r("new", "natural_person"): ("一、本年新收申请数量", "个人"),
                r("total", "natural_person"): ("（七） 总  计", "个人")},
        name="printed_labels"),
    # 2019 format (the layout adds the 2021 keys as blank placeholders)
    "v2019": make_report({**S3, "proactive.licensing.change": -2, "proactive.fees.prior_items": 3,
                          "proactive.procurement.amount": Decimal("10.5")},
                         version="2019", name="v2019"),
    "v2019_other": make_report({**S3, r("other", "natural_person"): 1, r("other", "total"): 1},
                               version="2019", name="v2019_other"),
    "v2019_invalid": make_report({"proactive.procurement.amount": Decimal("-1.5"),
                                  "proactive.licensing.prior_items": Decimal("1.5"),
                                  "proactive.penalty.change": -3},
                                 version="2019", name="v2019_invalid"),
    # a 2021 report printing （六）其他处理 as one row: the blank sub-rows are not printed
    "single_row": make_report({**S3, **SINGLE, **SUBROWS_BLANK}, name="single_row"),
    "single_row_blank": make_report({**S3, **SINGLE, **SUBROWS_BLANK,
                                     r("other", "commercial"): None}, name="single_row_blank"),
    "extra_key": make_report(S3, name="extra_key"),
    "many": make_report({**S3, r("new", "natural_person"): 3, r("new", "total"): 3,
                         "proactive.fees.amount": -2, "proactive.licensing.decisions": None,
                         **dict(zip(REG, (1, 0, 0))), **{k: None for k in APPEALS}},
                        agency=None, year=None, tables=("proactive", "requests"), name="many"),
}
CLEAN = ("zeros", "seed003", "clean_decimals", "v2019", "single_row", "extra_key")
CASES["extra_key"].cells["requests.no_such_row.total"] = Cell(-1, Status.READ)


@dataclass
class Batch:
    names: list[str]
    reports: list[Report]
    frame: object
    results: dict
    findings: dict

    def row(self, name: str) -> int:
        return self.names.index(name)

    def of(self, name: str) -> list:
        return self.findings[CASES[name].sha256]

    def expectation(self, rule: str, kind: str, instance: str | None):
        """The GX result of the one expectation whose meta names (rule, kind, instance)."""
        hits = [res for suite in self.results.values() for res in suite.results
                if res.expectation_config.meta.get("rule") == rule
                and res.expectation_config.meta.get("kind") == kind
                and res.expectation_config.meta.get("instance") == instance]
        assert len(hits) == 1, (rule, kind, instance, len(hits))
        return hits[0]

    def assert_fails(self, name: str, rule: str, kind: str, instance: str | None) -> None:
        res = self.expectation(rule, kind, instance)
        assert res.success is False
        assert self.row(name) in res.result["unexpected_index_list"]


@pytest.fixture(scope="module")
def batch() -> Batch:
    names = list(CASES)
    reports = [CASES[n] for n in names]
    findings, results = V.validate_with_results(reports)
    return Batch(names, reports, V.batch_frame(reports), results, findings)


def summary(findings) -> list[tuple]:
    return [(f.rule, f.severity, f.kind, f.cells, f.expected, f.actual) for f in findings]


# ---------------------------------------------------------------------------------- clean
@pytest.mark.parametrize("name", CLEAN)
def test_clean_report_has_no_findings_and_passes_every_expectation(batch, name):
    assert batch.of(name) == []
    row = batch.row(name)
    n = 0
    for suite in batch.results.values():
        for res in suite.results:
            assert row not in res.result.get("unexpected_index_list", []), \
                res.expectation_config.meta
            n += 1
    assert n == sum(SUITE_SIZES.values())


def test_every_expectation_ran_without_exception(batch):
    for suite in batch.results.values():
        for res in suite.results:
            assert not res.exception_info.get("raised_exception"), res.exception_info


# ----------------------------------------------------------------------------- identities
def test_balance_violated(batch):
    batch.assert_fails("balance", "requests.balance", "violated", "natural_person")
    batch.assert_fails("balance", "requests.balance", "violated", "total")
    a, b = ident("requests.balance", "natural_person"), ident("requests.balance", "total")
    assert summary(batch.of("balance")) == [
        ("requests.balance", "error", "violated", list(a.cells), 3, 4),
        ("requests.balance", "error", "violated", list(b.cells), 3, 4),
    ]
    assert batch.of("balance")[0].message == \
        "自然人列：本年新收 2 + 上年结转 1 ≠ 总计 3 + 结转下年度 1，相差 1"


def test_result_total_violated(batch):
    batch.assert_fails("result_total", "requests.result_total", "violated", "natural_person")
    a = ident("requests.result_total", "natural_person")
    b = ident("requests.result_total", "total")
    assert summary(batch.of("result_total")) == [
        ("requests.result_total", "error", "violated", list(a.cells), 3, 4),
        ("requests.result_total", "error", "violated", list(b.cells), 3, 4),
    ]
    msg = batch.of("result_total")[0].message
    assert msg.startswith("自然人列：总计 3 ≠ 各项办理结果合计 4（予以公开 1、本机关不掌握相关政府信息 3")
    assert msg.endswith("相差 1")


def test_row_total_violated(batch):
    batch.assert_fails("row_total", "requests.row_total", "violated", "granted")
    batch.assert_fails("row_total", "requests.row_total", "violated", "unable_not_held")
    assert summary(batch.of("row_total")) == [
        ("requests.row_total", "error", "violated",
         list(ident("requests.row_total", "granted").cells), 1, 0),
        ("requests.row_total", "error", "violated",
         list(ident("requests.row_total", "unable_not_held").cells), 2, 3),
    ]


def test_group_total_violated(batch):
    batch.assert_fails("group_total", "appeals.group_total", "violated", "suit_direct")
    assert summary(batch.of("group_total")) == [
        ("appeals.group_total", "error", "violated",
         list(ident("appeals.group_total", "suit_direct").cells), 2, 1)]
    assert batch.of("group_total")[0].message.startswith(
        "行政诉讼（未经复议直接起诉）：总计 2 ≠ 结果维持 1 + 结果纠正 0")


def test_identity_with_blank_cell_is_not_checkable_not_violated(batch):
    row = batch.row("blank_identity")
    assert math.isnan(batch.frame.loc[row, "diff:requests.balance.natural_person"])
    violated = batch.expectation("requests.balance", "violated", "natural_person")
    assert row not in violated.result["unexpected_index_list"]
    batch.assert_fails("blank_identity", "requests.balance", "not_checkable", "natural_person")
    batch.assert_fails("blank_identity", "requests.row_total", "not_checkable", "new")
    blank = [r("new", "natural_person")]
    assert summary(batch.of("blank_identity")) == [
        ("requests.balance", "warning", "not_checkable", blank, None, None),
        ("requests.row_total", "warning", "not_checkable", blank, None, None),
        ("cells.blank", "warning", "blank", blank, None, None),
    ]
    assert batch.of("blank_identity")[0].message.startswith("自然人列：本年新收 为空白，无法核对")


def test_uncertain_cell_makes_identity_not_checkable(batch):
    batch.assert_fails("uncertain", "requests.balance", "not_checkable", "total")
    cell = [r("new", "total")]
    assert summary(batch.of("uncertain")) == [
        ("requests.balance", "warning", "not_checkable", cell, None, None),
        ("requests.row_total", "warning", "not_checkable", cell, None, None),
    ]
    assert "识别不确定" in batch.of("uncertain")[0].message


def test_message_names_labels_as_printed(batch):
    (first, second) = batch.of("printed_labels")
    assert first.message == "个人列：本年新收申请数量 2 + 上年结转 1 ≠ 总计 3 + 结转下年度 1，相差 1"
    assert second.message.startswith("总计列：本年新收 2")     # spec labels where none printed


# ---------------------------------------------------------------------------------- cells
def test_invalid_values(batch):
    batch.assert_fails("invalid", "cells.invalid", "invalid", "proactive.licensing")
    batch.assert_fails("invalid", "cells.invalid", "invalid", "proactive.penalty")
    batch.assert_fails("invalid", "cells.invalid", "invalid", "proactive.fees")
    assert summary(batch.of("invalid")) == [
        ("cells.invalid", "error", "invalid", ["proactive.licensing.decisions"], None, -1),
        ("cells.invalid", "error", "invalid", ["proactive.penalty.decisions"], None, 1.5),
        ("cells.invalid", "error", "invalid", ["proactive.fees.amount"], None, -0.5),
    ]
    assert [f.message for f in batch.of("invalid")] == [
        "表二 行政许可 本年处理决定数量：-1 为负数，件数应为非负整数",
        "表二 行政处罚 本年处理决定数量：1.5 不是整数，件数应为非负整数",
        "表二 行政事业性收费 本年收费金额：-0.5 万元为负数",
    ]


def test_blank_cells_one_finding_per_printed_row(batch):
    batch.assert_fails("blank_row", "cells.blank", "blank", "requests.carried_forward")
    commercial, research = r("carried_forward", "commercial"), r("carried_forward", "research")
    assert summary(batch.of("blank_row")) == [
        ("requests.balance", "warning", "not_checkable", [commercial], None, None),
        ("requests.balance", "warning", "not_checkable", [research], None, None),
        ("requests.row_total", "warning", "not_checkable", [commercial, research], None, None),
        ("cells.blank", "warning", "blank", [commercial, research], None, None),
    ]
    batch.assert_fails("blank_proactive", "cells.blank", "blank", "proactive.coercion")
    assert summary(batch.of("blank_proactive")) == [
        ("cells.blank", "warning", "blank", ["proactive.coercion.decisions"], None, None)]


def test_in_force_floor(batch):
    batch.assert_fails("floor", "proactive.in_force_floor", "violated", "regulations")
    nd = batch.expectation("proactive.in_force_floor", "violated", "normative_documents")
    assert batch.row("floor") not in nd.result["unexpected_index_list"]
    assert summary(batch.of("floor")) == [
        ("proactive.in_force_floor", "warning", "violated", list(REG), 4, 3)]
    assert batch.of("floor")[0].message == \
        "表二“规章”：现行有效件数 3 小于 本年制发件数 5 − 本年废止件数 1 = 4"


# --------------------------------------------------------------------------------- report
def test_agency_and_year_unknown(batch):
    batch.assert_fails("no_agency", "report.agency_unknown", "missing", None)
    batch.assert_fails("no_year", "report.year_unknown", "missing", None)
    assert summary(batch.of("no_agency")) == [
        ("report.agency_unknown", "error", "missing", [], None, None)]
    assert summary(batch.of("no_year")) == [
        ("report.year_unknown", "error", "missing", [], None, None)]


def test_missing_tables_yield_only_table_missing(batch):
    batch.assert_fails("missing_tables", "report.table_missing", "missing", "requests")
    batch.assert_fails("missing_tables", "report.table_missing", "missing", "appeals")
    assert summary(batch.of("missing_tables")) == [
        ("report.table_missing", "error", "missing", [], None, None),
        ("report.table_missing", "error", "missing", [], None, None),
    ]
    assert [f.message for f in batch.of("missing_tables")] == [
        f"未找到表格“{spec.TABLE_TITLES['requests']}”",
        f"未找到表格“{spec.TABLE_TITLES['appeals']}”",
    ]


def test_findings_follow_the_rule_order(batch):
    assert [(f.rule, f.kind) for f in batch.of("many")] == [
        ("requests.balance", "violated"),          # natural_person: 3 + 1 ≠ 3 + 0
        ("requests.balance", "violated"),          # total
        ("cells.invalid", "invalid"),              # fee −2
        ("cells.blank", "blank"),                  # licensing (appeals is missing: no blanks)
        ("proactive.in_force_floor", "violated"),
        ("report.agency_unknown", "missing"),
        ("report.year_unknown", "missing"),
        ("report.table_missing", "missing"),
    ]
    assert batch.of("many")[3].cells == ["proactive.licensing.decisions"]


def test_findings_are_keyed_by_sha256_and_empty_batches_are_fine(batch):
    assert list(batch.findings) == [CASES[n].sha256 for n in batch.names]
    assert V.validate([]) == {}


def test_keys_outside_the_spec_are_skipped(batch):
    assert "requests.no_such_row.total" in CASES["extra_key"].cells
    assert batch.of("extra_key") == []


# ---------------------------------------------------------- 2019 format, single （六） row
def test_2019_result_total_uses_the_single_other_row(batch):
    batch.assert_fails("v2019_other", "requests.result_total", "violated", "natural_person")
    expected = []
    for col in ("natural_person", "total"):
        lhs, rhs = spec.identity_terms(ident("requests.result_total", col),
                                       {r("other", col)})
        assert r("other", col) in rhs and r("other_other", col) not in rhs
        expected.append(("requests.result_total", "error", "violated", list(lhs + rhs), 3, 4))
    assert summary(batch.of("v2019_other")) == expected
    assert "其他处理 1" in batch.of("v2019_other")[0].message


def test_2019_invalid_values_by_unit(batch):
    batch.assert_fails("v2019_invalid", "cells.invalid", "invalid", "proactive.licensing")
    batch.assert_fails("v2019_invalid", "cells.invalid", "invalid", "proactive.procurement")
    assert summary(batch.of("v2019_invalid")) == [     # 本年增/减 −3 is a valid change
        ("cells.invalid", "error", "invalid", ["proactive.licensing.prior_items"], None, 1.5),
        ("cells.invalid", "error", "invalid", ["proactive.procurement.amount"], None, -1.5),
    ]


def test_single_other_row_blank_cell(batch):
    cell = r("other", "commercial")
    batch.assert_fails("single_row_blank", "requests.result_total", "not_checkable",
                       "commercial")
    batch.assert_fails("single_row_blank", "cells.blank", "blank", "requests.other")
    assert summary(batch.of("single_row_blank")) == [
        ("requests.result_total", "warning", "not_checkable", [cell], None, None),
        ("cells.blank", "warning", "blank", [cell], None, None),
    ]


# ----------------------------------------------------------------------------- real data
def test_seed_reports_extracted_and_validated():
    from tasks.extract import extract_file
    from tests.conftest import seed

    reports = {p: extract_file(seed(p)).report for p in ("001", "002", "003")}
    out = V.validate(list(reports.values()))
    assert out[reports["003"].sha256] == []
    blank = [r("carried_over", "total")]            # printed as a non-breaking space
    assert summary(out[reports["001"].sha256]) == [
        ("requests.balance", "warning", "not_checkable", blank, None, None),
        ("requests.row_total", "warning", "not_checkable", blank, None, None),
        ("cells.blank", "warning", "blank", blank, None, None),
    ]
    assert out[reports["001"].sha256][1].message.startswith("上年结转行：总计 为空白")
    assert summary(out[reports["002"].sha256]) == [
        ("report.agency_unknown", "error", "missing", [], None, None)]


# --------------------------------------------------------------------------------- suites
N_ROWS = len({(c.table, c.row_key) for c in spec.cell_index().values()})   # printed rows
SUITE_SIZES = {"identities": 2 * len(spec.identities()), "cells": 2 * N_ROWS,
               "plausibility": 2, "report": 5}


def test_suite_sizes_follow_the_spec():
    assert len(spec.identities()) == 42
    assert N_ROWS >= 32                       # 6 + 25 + 1 rows of the 2021 format at least


def test_suites_on_disk_equal_the_generated_ones():
    built = V.build_suites()
    assert {n: len(s["expectations"]) for n, s in built.items()} == SUITE_SIZES
    on_disk = {p.stem for p in (ROOT / "expectations").glob("*.json")}
    assert on_disk == set(built)
    for name, suite in built.items():
        text = (ROOT / "expectations" / f"{name}.json").read_text(encoding="utf-8")
        assert json.loads(text) == suite, f"run python -m tasks.validate --write-suites ({name})"
    assert V.main(["--check-suites"]) == 0


def test_generated_suites_cover_every_identity_and_rule():
    metas = [e["meta"] for s in V.build_suites().values() for e in s["expectations"]]
    for i in spec.identities():
        for kind in ("violated", "not_checkable"):
            (m,) = [m for m in metas if (m["rule"], m["kind"], m["instance"]) ==
                    (i.rule, kind, i.instance)]
            assert m["cells"] == list(i.cells)
    assert {m["rule"] for m in metas} == set(V.RULES)
    columns = [e["kwargs"]["column"] for s in V.build_suites().values() for e in s["expectations"]]
    assert len(columns) == len(set(columns))


def test_loaded_suites_have_every_expectation():
    suites = V.load_suites()
    assert {n: len(s.expectations) for n, s in suites.items()} == SUITE_SIZES
    severities = {str(e.severity.value) for s in suites.values() for e in s.expectations}
    assert severities == {"critical", "warning"}


def test_a_suite_entry_gx_would_skip_is_an_error(tmp_path):
    for p in (ROOT / "expectations").glob("*.json"):
        shutil.copy(p, tmp_path / p.name)
    path = tmp_path / "report.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["expectations"][0]["type"] = "expect_column_values_to_not_be_nul"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(V.SuiteError, match="4 of 5"):
        V.load_suites(tmp_path)


def test_a_good_run_prints_nothing():
    code = ("from tests.factories import make_report, SEED_003_VALUES as S\n"
            "from tasks.validate import validate\n"
            "out = validate([make_report(S, name='a'),\n"
            "                make_report({**S, 'requests.new.total': None}, name='b')])\n"
            "assert sum(map(len, out.values())) == 3, out\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (proc.stdout, proc.stderr) == ("", "")
