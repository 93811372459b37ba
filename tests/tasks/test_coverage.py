"""tasks.coverage: agency-name matching against the roster, and the coverage views."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tasks.coverage import (ABBREVIATIONS, Matcher, RosterAgency, agency_key, canonical_name,
                            coverage, is_aggregate_name, load_roster, read_aliases, read_roster,
                            refresh_matches, strip_region, unmatched)
from tasks.load import RunInfo, load_batch, open_warehouse
from tasks.model import Finding, SourceFile
from tests.factories import make_report

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------ names
def test_region_prefix_chain_is_stripped():
    assert strip_region("淮安市洪泽区人民政府", "320813") == "人民政府"
    assert strip_region("洪泽区人民政府", "320813") == "人民政府"
    assert strip_region("江苏省淮安市洪泽区 人民政府", "320813") == "人民政府"
    assert strip_region("洪泽人民政府", "320813") == "人民政府"           # short form 洪泽
    # only names of the report's own region chain (430321 湘潭县 lies in 430300 湘潭市)
    assert strip_region("湘潭市教育局", "430321") == "教育局"
    assert strip_region("长沙县教育局", "430321") == "长沙县教育局"


def test_canonical_names_agree_across_spellings():
    assert canonical_name("洪泽区人民政府", "320813") == canonical_name("淮安市洪泽区人民政府", "320813")
    assert canonical_name("湛河区工信局", "410411") == canonical_name(
        "平顶山市湛河区工业和信息化局", "410411") == "工业和信息化局"
    assert canonical_name("湘潭县发改局", "430321") == "发展和改革局"
    assert canonical_name("湘潭县人社局", "430321") == "人力资源和社会保障局"
    assert canonical_name("湘潭县住建局", "430321") == "住房和城乡建设局"
    assert canonical_name("湘潭县政府办", "430321") == "人民政府办公室"
    assert canonical_name("湘潭县人民政府办公室", "430321") == "人民政府办公室"
    for short, full in ABBREVIATIONS:                   # expansion is idempotent
        assert canonical_name(f"湘潭县{full}", "430321") == canonical_name(
            canonical_name(f"湘潭县{full}", "430321"), "430321")


def test_agency_key_and_aggregates():
    assert agency_key("洪泽区人民政府", "320813") == agency_key("淮安市洪泽区人民政府", "320813")
    assert agency_key("洪泽区人民政府", "320813") != agency_key("洪泽区人民政府", "320812")
    assert agency_key(None, "320813") is None
    assert agency_key("某某局", None) == ":某某局"
    assert is_aggregate_name("湘潭县", "430321") and is_aggregate_name("湘潭县全县", "430321")
    assert not is_aggregate_name("湘潭县人民政府", "430321")
    assert not is_aggregate_name("湘潭县", None)


# ---------------------------------------------------------------------------- matching
ROSTER = [
    RosterAgency("淮安市洪泽区人民政府", "320813"),
    RosterAgency("平顶山市湛河区工业和信息化局", "410411"),
    RosterAgency("湘潭县科技和工业信息化局", "430321"),
    RosterAgency("湘潭县城市管理和综合执法局", "430321"),
    RosterAgency("湘潭县花石镇人民政府", "430321"),
    RosterAgency("湘潭县教育局", "430321"),
    RosterAgency("湘潭县教育基金会", "430321"),
    RosterAgency("湘乡市教育局", "430381"),
]


@pytest.mark.parametrize("name, code, agency, rule", [
    ("湘潭县教育局", "430321", "湘潭县教育局", "exact"),
    ("湘潭县教育局", None, "湘潭县教育局", "exact"),
    ("洪泽区人民政府", "320813", "淮安市洪泽区人民政府", "canonical"),
    ("湛河区工信局", "410411", "平顶山市湛河区工业和信息化局", "canonical"),
    ("湘潭县工信局", "430321", "湘潭县科技和工业信息化局", "abbreviation"),
    ("湘潭县城管执法局", "430321", "湘潭县城市管理和综合执法局", "abbreviation"),
    ("花石镇人民政府", None, "湘潭县花石镇人民政府", "suffix"),
    # same name, other region: no match; 教育局 of 湘乡市 is not 湘潭县's
    ("湘潭县财政局", "430321", None, "none"),
    ("教育局", "430381", "湘乡市教育局", "canonical"),
    ("教育局", None, None, "none"),                      # suffix needs ≥ 4 characters
    (None, "430321", None, "none"),
])
def test_match_rules(name, code, agency, rule):
    m = Matcher(ROSTER).match(name, code)
    assert m.rule == rule
    assert m.agency_id == (None if agency is None else
                           next(a.agency_id for a in ROSTER if a.agency == agency))


def test_abbreviation_must_be_unique():
    roster = ROSTER + [RosterAgency("湘潭县工业园区信息局", "430321")]
    assert Matcher(roster).match("湘潭县工信局", "430321").rule == "none"   # two candidates


def test_alias_beats_everything(tmp_path):
    path = tmp_path / "aliases.csv"
    path.write_text("alias,agency,region_code\n湘潭县教体局,湘潭县教育局,430321\n"
                    "县城管,湘潭县城市管理和综合执法局,\n", encoding="utf-8")
    aliases = read_aliases(path, ROSTER)
    m = Matcher(ROSTER, aliases)
    assert m.match("湘潭县教体局", "430321").agency_id == "430321:湘潭县教育局"
    assert m.match("湘潭县教体局", "430321").rule == "alias"
    assert m.match("湘潭县教体局", "430381").rule == "none"       # alias bound to 430321
    assert m.match("县城管", None).agency_id == "430321:湘潭县城市管理和综合执法局"


def test_alias_file_errors(tmp_path):
    bad = tmp_path / "a.csv"
    bad.write_text("alias,agency\n某局,不在名单中的局\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not in the roster"):
        read_aliases(bad, ROSTER)
    bad.write_text("spelling,agency\nx,y\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing column"):
        read_aliases(bad, ROSTER)


def test_roster_file_errors(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("name,email\nx,y\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing column"):
        read_roster(p)
    p.write_text("agency,region_code\n某局,4303\n", encoding="utf-8")
    with pytest.raises(ValueError, match="6 digits"):
        read_roster(p)
    p.write_text("agency,region_code\n某局,430321\n某局,430321\n", encoding="utf-8")
    with pytest.raises(ValueError, match="twice"):
        read_roster(p)


def test_example_roster_reads_and_matches_its_own_names():
    roster = read_roster(ROOT / "examples" / "roster.csv")
    assert len(roster) >= 5
    m = Matcher(roster)
    for a in roster:
        assert m.match(a.agency, a.region_code).agency_id == a.agency_id
    # 湛河区工信局 is listed in its short form; the full name finds it
    zh = [a for a in roster if a.region_code == "410411"]
    if zh:
        assert m.match("湛河区工业和信息化局", "410411").agency_id == zh[0].agency_id


# --------------------------------------------------------------------------- warehouse
def _report(name: str, agency: str | None, code: str | None, year: int = 2024, **values):
    r = make_report(values or None, name=name, agency=agency, year=year)
    r.region_code = code
    return r


def _load(con, reports, findings=None, run="r1"):
    files = [SourceFile(r.file, r.sha256, 1, "txt") for r in reports]
    return load_batch(con, RunInfo(run), files, reports, findings or {})


@pytest.fixture
def wh(tmp_path):
    con = open_warehouse(tmp_path / "w.duckdb")
    roster = tmp_path / "roster.csv"
    with open(roster, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["agency", "region_code", "level", "category", "email"])
        w.writerow(["湘潭县教育局", "430321", "county", "department", "jy@example.gov.cn"])
        w.writerow(["湘潭县科技和工业信息化局", "430321", "county", "department", "gx@example.gov.cn"])
        w.writerow(["湘潭县财政局", "430321", "county", "department", "cz@example.gov.cn"])
        w.writerow(["湘乡市教育局", "430381", "county", "department", "xx@example.gov.cn"])
    yield con, roster
    con.close()


def test_coverage_view(wh):
    con, roster = wh
    reports = [_report("a", "湘潭县教育局", "430321"),
               _report("b", "湘潭县工信局", "430321"),                       # abbreviation
               _report("c", "湘乡市教育局", "430381"),
               _report("d", "湘潭县档案馆", "430321"),                       # not in roster
               _report("e", None, None),                                    # agency unknown
               _report("f", "湘潭县教育局", "430321", year=2023)]
    err = Finding("requests.balance", "error", "violated", [], 1, 0, "x")
    _load(con, reports, {reports[2].sha256: [err]})
    assert load_roster(con, roster) == 4
    cov = {(r["agency"], r["year"]): r for r in coverage(con).iter_rows(named=True)}
    assert len(cov) == 8                                       # 4 agencies × years 2023, 2024
    assert cov[("湘潭县教育局", 2024)]["status"] == "reported"
    assert cov[("湘潭县教育局", 2024)]["sha256"] == reports[0].sha256
    assert cov[("湘潭县科技和工业信息化局", 2024)]["status"] == "reported"
    assert cov[("湘乡市教育局", 2024)]["status"] == "reported_with_errors"
    assert cov[("湘潭县财政局", 2024)]["status"] == "missing"
    assert cov[("湘潭县财政局", 2024)]["email"] == "cz@example.gov.cn"
    assert cov[("湘潭县教育局", 2023)]["status"] == "reported"
    assert cov[("湘乡市教育局", 2023)]["status"] == "missing"
    r = cov[("湘潭县教育局", 2024)]
    assert (r["province_code"], r["city_code"], r["county_code"]) == ("430000", "430300", "430321")
    assert {c["agency"] for c in coverage(con, 2024, "430381").iter_rows(named=True)} == {"湘乡市教育局"}
    un = unmatched(con, 2024)
    assert sorted(un["file"].to_list()) == ["d.txt", "e.txt"]
    rules = dict(con.execute("SELECT rule, count(*) FROM report_agency GROUP BY rule").fetchall())
    assert rules == {"exact": 3, "abbreviation": 1, "none": 2}


def test_matches_follow_new_reports_and_a_new_roster(wh, tmp_path):
    con, roster = wh
    load_roster(con, roster)
    _load(con, [_report("a", "湘潭县财政局", "430321")])
    # not matched until refreshed (the pipeline's crosscheck refreshes after every load)
    assert refresh_matches(con) == 1
    assert coverage(con, 2024).filter(coverage(con, 2024)["agency"] == "湘潭县财政局")[
        "status"].to_list() == ["reported"]
    other = tmp_path / "other.csv"
    other.write_text("agency,region_code\n湘潭县审计局,430321\n", encoding="utf-8")
    load_roster(con, other)                                    # replaces the roster
    assert coverage(con, 2024)["agency"].to_list() == ["湘潭县审计局"]
    assert unmatched(con, 2024)["file"].to_list() == ["a.txt"]


def test_a_bad_roster_changes_nothing(wh, tmp_path):
    con, roster = wh
    load_roster(con, roster)
    bad = tmp_path / "bad.csv"
    bad.write_text("agency,region_code\n某局,12\n", encoding="utf-8")
    with pytest.raises(ValueError):
        load_roster(con, bad)
    assert con.execute("SELECT count(*) FROM roster").fetchone()[0] == 4

