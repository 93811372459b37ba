"""tasks.crosscheck: the cross-report rules (GX suites in expectations/cross/), pure and in the
warehouse after a load; a clean synthetic province raises none of them."""
from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from tasks import spec
from tasks import validate as V
from tasks.crosscheck import (CROSS_RULES, FEE_KEY, Facts, cross_checks, cross_findings,
                              crosscheck, facts_from_report)
from tasks.coverage import load_roster
from tasks.load import RunInfo, load_batch, open_warehouse
from tasks.model import Finding, SourceFile
from tests.factories import make_report

ROOT = Path(__file__).resolve().parents[2]
CO = {c: spec.key("requests", "carried_over", c) for c in spec.REQUEST_COLUMNS}
CF = {c: spec.key("requests", "carried_forward", c) for c in spec.REQUEST_COLUMNS}
NORM = tuple(spec.key("proactive", "normative_documents", c) for c in ("issued", "repealed",
                                                                        "in_force"))


def facts(name: str, year: int = 2024, key: str | None = "430321:教育局", region="430321",
          **kw) -> Facts:
    values = {k: Decimal(v) for k, v in kw.pop("values", {}).items()}
    return Facts(sha256=name, file=f"{name}.txt", agency=kw.pop("agency", "湘潭县教育局"),
                 year=year, region_code=region, agency_key=key, values=values, **kw)


def rules(findings: dict, sha: str) -> list[tuple[str, str | None]]:
    return [(f.rule, f.severity) for f in findings[sha]]


# ------------------------------------------------------------------------------- suites
def test_cross_suites_on_disk_equal_the_generated_ones():
    built = V.build_suites(cross=True)
    assert set(built) == set(V.CROSS_SUITE_NAMES)
    on_disk = {p.stem for p in (ROOT / "expectations" / "cross").glob("*.json")}
    assert on_disk == set(built)
    for name, suite in built.items():
        text = (ROOT / "expectations" / "cross" / f"{name}.json").read_text(encoding="utf-8")
        assert json.loads(text) == suite, "run python -m tasks.validate --write-suites"
    metas = [e["meta"]["rule"] for s in built.values() for e in s["expectations"]]
    assert set(metas) == set(CROSS_RULES)
    loaded = V.load_suites(cross=True)
    assert sum(len(s.expectations) for s in loaded.values()) == len(cross_checks())
    # the core suites are untouched by the cross ones
    assert set(V.build_suites()) == set(V.SUITE_NAMES)


# ------------------------------------------------------------------ one batch, many cases
# GX costs per expectation, not per row: every case below is validated in ONE run. Each case
# has agency keys of its own (and the hierarchy case a region of its own), so cases do not
# see each other.
LIC = "proactive.licensing.decisions"
NEW = "requests.new.total"
SUITS = ("appeals.cases.suit_direct_total", "appeals.cases.suit_after_review_total")
STATED = {"new": {"value": 5, "text": "2024年，我局共收到政府信息公开申请5件"},
          "suits": {"value": 3, "text": "行政诉讼3件"}}
TARGETS = [
    # history.carry_over
    facts("co_ok", key="co1", values={CO["natural_person"]: 2, CO["total"]: 3, CO["commercial"]: 1}),
    facts("co_bad", key="co2", values={CO["natural_person"]: 5, CO["total"]: 6, CO["commercial"]: 1}),
    facts("co_other_agency", key="co3", values={CO["total"]: 9}),
    facts("co_two_years", key="co4", values={CO["total"]: 9}),
    facts("co_blank", key="co5", values={}),
    facts("co_no_table", key="co6", values={CO["total"]: 9}),
    # history.in_force: 40 + 3 − 1 = 42, tolerance max(2, 10 % of 40) = 4
    facts("if_ok", key="if1", values=dict(zip(NORM, (3, 1, 46)))),
    facts("if_bad", key="if2", values=dict(zip(NORM, (3, 1, 47)))),
    # plausibility.jump / fee_unit
    facts("jump", key="j1", values={LIC: 400, FEE_KEY: Decimal("1.5")}),
    facts("small", key="j2", values={LIC: 45}),                          # 45 < 50: no jump
    facts("yuan", key="j3", values={FEE_KEY: 12500}),
    facts("huge", key="j4", values={FEE_KEY: 250000}),
    # narrative.requests
    facts("nar_ok", key="n1", narrative=STATED, values={NEW: 5, SUITS[0]: 1, SUITS[1]: 2}),
    facts("nar_bad", key="n2", narrative=STATED, values={NEW: 4, SUITS[0]: 1, SUITS[1]: 2}),
    facts("nar_blank", key="n3", narrative=STATED, values={SUITS[0]: 1}),
    # report.duplicate: newest sighting; the manifest's choice; the file path; no agency
    facts("d_old", key="d1", seen="2025-01-01T00:00:00"),
    facts("d_new", key="d1", seen="2025-03-01T00:00:00"),
    facts("m_old", key="d2", seen="2025-01-01T00:00:00"),
    facts("m_new", key="d2", seen="2025-03-01T00:00:00"),
    facts("m_man", key="d2", seen="2024-01-01T00:00:00", from_manifest=True),
    facts("p_b", key="d3"), facts("p_a", key="d3"),
    facts("anon1", key=None), facts("anon2", key=None),
    facts("z_checked", key="d4"),
    # hierarchy.sum (region 430381 only)
    facts("agg", key="430381:", agency="湘乡市", region="430381", aggregate=True,
          values={NEW: 10}),
    facts("agg_ok", key="430382:", agency="韶山市", region="430382", aggregate=True,
          values={NEW: 4}),
]
HISTORY = [
    facts("co_last", 2023, key="co1", values={CF["natural_person"]: 2, CF["total"]: 3,
                                             CF["commercial"]: 1}),
    facts("co_last2", 2023, key="co2", values={CF["natural_person"]: 2, CF["total"]: 3,
                                              CF["commercial"]: 1}),
    facts("co_last3", 2023, key="co-x", values={CF["total"]: 3}),
    facts("co_last4", 2022, key="co4", values={CF["total"]: 3}),
    facts("co_last5", 2023, key="co5", values={CF["total"]: 3}),
    facts("co_last6", 2023, key="co6", values={CF["total"]: 3}, tables=frozenset({"proactive"})),
    facts("if_last1", 2023, key="if1", values={NORM[2]: 40}),
    facts("if_last2", 2023, key="if2", values={NORM[2]: 40}),
    facts("j_last1", 2023, key="j1", values={LIC: 30, FEE_KEY: Decimal("1.25")}),
    facts("j_last2", 2023, key="j2", values={LIC: 1}),
    facts("j_last3", 2023, key="j3", values={FEE_KEY: Decimal("1.3")}),
    facts("a_checked", key="d4"),                          # history only: used, gets nothing
    facts("m1", key="430381:教育局", region="430381", values={NEW: 4}),
    facts("m2", key="430381:财政局", region="430381", values={NEW: 3}),
    facts("m_far", key="430382:教育局", region="430382", values={NEW: 4}),
]


@pytest.fixture(scope="module")
def out():
    return cross_findings(TARGETS, HISTORY)


def test_only_the_targets_get_findings(out):
    assert set(out) == {f.sha256 for f in TARGETS}


def test_carry_over_per_column(out):
    assert out["co_ok"] == []
    assert [(f.rule, f.severity, f.cells, f.expected, f.actual) for f in out["co_bad"]] == [
        ("history.carry_over", "warning", [CO["natural_person"]], 2, 5),
        ("history.carry_over", "warning", [CO["total"]], 3, 6)]
    assert out["co_bad"][0].message == ("表三“上年结转”自然人列为 5，与上年度（2023年）报告“co_last2.txt”"
                                        "的“结转下年度继续办理”2 不一致，相差 3")


def test_carry_over_needs_the_same_agency_last_year_and_certain_values(out):
    for name in ("co_other_agency", "co_two_years", "co_blank", "co_no_table"):
        assert out[name] == [], name


def test_in_force_within_tolerance(out):
    assert out["if_ok"] == []
    (f,) = out["if_bad"]
    assert (f.rule, f.expected, f.actual, f.cells) == ("history.in_force", 42, 47, list(NORM))
    assert "应约为 42" in f.message and "允许误差 4" in f.message


def test_jump_and_fee_unit(out):
    assert rules(out, "jump") == [("plausibility.jump", "warning")]
    assert out["jump"][0].cells == [LIC] and "变化超过 10 倍" in out["jump"][0].message
    assert out["small"] == []
    assert rules(out, "yuan") == [("plausibility.fee_unit", "warning")]
    assert "一万倍" in out["yuan"][0].message
    assert rules(out, "huge") == [("plausibility.fee_unit", "warning")]
    assert "25 亿元" in out["huge"][0].message


def test_narrative_requests(out):
    assert out["nar_ok"] == [] and out["nar_blank"] == []
    (f,) = out["nar_bad"]
    assert (f.rule, f.severity, f.cells, f.expected, f.actual) == (
        "narrative.requests", "warning", [NEW], 4, 5)
    assert f.message == ("正文称本年新收政府信息公开申请 5 件（“2024年，我局共收到政府信息公开申请5件”），"
                         "表三相应总计为 4")


def test_duplicates_the_stated_rule(out):
    assert out["d_new"] == [] and rules(out, "d_old") == [("report.duplicate", "error")]
    assert out["d_old"][0].expected == "d_new"
    assert "最新采集的报告“d_new.txt”" in out["d_old"][0].message
    assert out["m_man"] == [] and [f.expected for f in out["m_old"] + out["m_new"]] == [
        "m_man", "m_man"]
    assert "清单（manifest）指定的报告" in out["m_old"][0].message
    assert out["p_a"] == [] and rules(out, "p_b") == [("report.duplicate", "error")]
    assert "文件路径在前" in out["p_b"][0].message
    assert out["anon1"] == out["anon2"] == []
    # a report given as data can make a target a duplicate, and gets no finding itself
    assert rules(out, "z_checked") == [("report.duplicate", "error")]


def test_hierarchy_sum(out):
    assert rules(out, "agg") == [("hierarchy.sum", "warning")]
    f = out["agg"][0]
    assert (f.cells, f.expected, f.actual) == ([NEW], 7, 10)
    assert f.message == "汇总报告表三“本年新收”行“总计”列 为 10，所辖 2 份报告合计 7，相差 3"
    assert out["agg_ok"] == []


def test_narrative_from_an_extracted_report():
    r = make_report({"requests.new.total": 7, "requests.new.natural_person": 7}, name="n")
    r.meta["narrative"] = {"new": {"value": 6, "text": "收到申请6件"}}
    f = facts_from_report(r)
    assert f.narrative["new"]["value"] == 6 and f.values["requests.new.total"] == 7
    assert f.agency_key == ":测试县数据局" and not f.aggregate


def test_gx_result_names_the_failing_row():
    from tasks.crosscheck import cross_frame

    last = facts("last", 2023, values={CF["total"]: 3})
    frame = cross_frame([facts("ok", key="k"), facts("bad", values={CO["total"]: 1})], [last])
    assert frame.loc[1, "carry:total"] == -2 and frame["carry:total"].isna()[0]
    results = V.run_suites(frame, V.load_suites(cross=True))
    (res,) = [r for s in results.values() for r in s.results
              if r.expectation_config.kwargs["column"] == "carry:total"]
    assert res.success is False and res.result["unexpected_index_list"] == [1]


# ------------------------------------------------------------------------------ warehouse
def _report(name, year, agency="湘潭县教育局", **values):
    r = make_report(values or None, name=name, agency=agency, year=year)
    r.region_code = "430321"
    return r


def _load(con, reports, run, started, core=None):
    files = [SourceFile(r.file, r.sha256, 1, "txt") for r in reports]
    load_batch(con, RunInfo(run, started=started), files, reports, core or {})


def _stored(con, sha):
    return con.execute("SELECT seq, rule FROM raw_findings WHERE sha256 = ? ORDER BY seq",
                       [sha]).fetchall()


def test_crosscheck_in_the_warehouse(tmp_path):
    con = open_warehouse(tmp_path / "w.duckdb")
    # 2024 first; its history (2023) arrives in a later run
    r24 = _report("y24", 2024, **{CO["natural_person"]: 2, CO["total"]: 2})
    core = {r24.sha256: [Finding("requests.balance", "error", "violated", [CO["total"]], 0, 2,
                                 "x"),
                         Finding("cells.blank", "warning", "blank", [], None, None, "y")]}
    _load(con, [r24], "run1", 1_700_000_000, core)
    assert crosscheck(con, "run1") == {r24.sha256: []}
    r23 = _report("y23", 2023, **{CF["natural_person"]: 1, CF["total"]: 1})
    _load(con, [r23], "run2", 1_700_000_100)
    out = crosscheck(con, "run2")
    assert set(out) == {r23.sha256, r24.sha256}          # run2's year and the year after
    assert [f.rule for f in out[r24.sha256]] == ["history.carry_over"] * 2
    # core findings kept, cross findings after them
    assert _stored(con, r24.sha256) == [(0, "requests.balance"), (1, "cells.blank"),
                                        (2, "history.carry_over"), (3, "history.carry_over")]
    before = con.execute("SELECT * FROM raw_findings ORDER BY sha256, seq").fetchall()
    crosscheck(con, "run2")
    crosscheck(con, None)
    assert con.execute("SELECT * FROM raw_findings ORDER BY sha256, seq").fetchall() == before
    # a re-load of the report with other core findings keeps the cross ones (tasks.load leaves
    # them alone and numbers them after its own); crosscheck then changes nothing
    _load(con, [r24], "run3", 1_700_000_200, {r24.sha256: core[r24.sha256][:1]})
    assert _stored(con, r24.sha256) == [(0, "requests.balance"), (1, "history.carry_over"),
                                        (2, "history.carry_over")]
    after = con.execute("SELECT * FROM raw_findings ORDER BY sha256, seq").fetchall()
    crosscheck(con, "run3")
    assert con.execute("SELECT * FROM raw_findings ORDER BY sha256, seq").fetchall() == after
    # cross findings are not the load's to write
    with pytest.raises(ValueError, match="crosscheck"):
        _load(con, [r24], "run4", 1_700_000_300, {r24.sha256: out[r24.sha256]})
    con.close()


def test_duplicate_in_the_warehouse_is_an_error_of_the_unused_copy(tmp_path):
    con = open_warehouse(tmp_path / "w.duckdb")
    a = _report("copy-a", 2024)
    _load(con, [a], "run1", 1_700_000_000)
    b = _report("copy-b", 2024, agency="湘潭县 教育局")       # same agency, collected later
    _load(con, [b], "run2", 1_700_000_100)
    out = crosscheck(con, "run2")
    assert out[b.sha256] == [] and [f.rule for f in out[a.sha256]] == ["report.duplicate"]
    has = dict(con.execute("SELECT file, has_errors FROM stg_reports_current").fetchall())
    assert has == {"copy-a.txt": True, "copy-b.txt": False}
    con.close()


# --------------------------------------------------------------- a clean synthetic province
@pytest.fixture(scope="module")
def province(tmp_path_factory):
    from tasks.extract import extract_file
    from tasks.synth import generate

    out = tmp_path_factory.mktemp("clean")
    paths = generate(out, agencies=30, years=(2022, 2023, 2024), seed=11, defect_rate=0.0)
    exs = [extract_file(p, province_hint="43") for p in paths]
    reports = [e.report for e in exs]
    con = open_warehouse(out / "w.duckdb")
    load_batch(con, RunInfo("clean", started=1_700_000_000), [e.source for e in exs], reports, {})
    load_roster(con, out / "roster.csv")        # links agencies whose name varies by year
    yield out, con, reports
    con.close()


def test_clean_synthetic_province_raises_no_cross_findings(province):
    out, con, reports = province
    found = crosscheck(con, "clean")
    assert len(found) == len(reports) == 90
    assert Counter(f.rule for fs in found.values() for f in fs) == Counter()
    # the checks did run: history was linked for every agency's later years, the text was read
    from tasks.crosscheck import cross_frame, facts_from_warehouse

    frame = cross_frame(facts_from_warehouse(con))
    assert frame["carry:total"].notna().sum() == 60          # 30 agencies × 2 later years
    assert frame["narrative:new"].notna().sum() >= 80


def test_broken_carry_over_in_the_synthetic_province(province):
    # the agency restates its 2024 report: 上年结转 one more (and 本年新收 one less, so the
    # table still balances); the restated copy is newer, so it is used and the old one is the
    # duplicate
    out, con, reports = province
    r = next(r for r in reports if r.year == 2024 and (r.value(CO["total"]) or 0) > 0)
    col = next(c for c in spec.APPLICANT_COLUMNS if (r.value(CO[c]) or 0) > 0)
    fresh = make_report({k: c.value for k, c in r.cells.items()}, name="restated",
                        agency=r.agency, year=2024)
    fresh.region_code = r.region_code
    for k in (CO[col], CO["total"]):
        fresh.cells[k].value += 1
    for k in (spec.key("requests", "new", col), spec.key("requests", "new", "total")):
        fresh.cells[k].value -= 1
    load_batch(con, RunInfo("restated", started=1_800_000_000),
               [SourceFile(fresh.file, fresh.sha256, 1, "txt")], [fresh], {})
    found = crosscheck(con, "restated")
    assert [(f.rule, f.cells) for f in found[fresh.sha256]] == [
        ("history.carry_over", [CO[col]]), ("history.carry_over", [CO["total"]])]
    assert [f.rule for f in found[r.sha256]] == ["report.duplicate"]
