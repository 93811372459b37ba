"""Roll-up over the region hierarchy: sums, blank counts, identities, the （六）其他处理 row."""
from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from decimal import Decimal

import polars as pl
import pytest

from tasks import spec
from tasks.load import RunInfo, load_batch, open_warehouse
from tasks.model import Cell, Finding, Report, SourceFile, Status
from tasks.rollup import check_identities, query_frame, rollup, values, wide
from tests.factories import make_report


def balanced_values(seed: int) -> dict[str, int | Decimal]:
    """All 200 cells of a report that passes every identity of tasks.spec."""
    rnd = random.Random(seed)
    v: dict[str, int | Decimal] = {}
    k = spec.key
    for col in spec.APPLICANT_COLUMNS:
        for row in spec.OUTCOME_ROWS:
            v[k("requests", row, col)] = rnd.randint(0, 4)
        total = sum(v[k("requests", row, col)] for row in spec.OUTCOME_ROWS)
        forward = rnd.randint(0, 3)
        over = rnd.randint(0, min(3, total + forward))
        v[k("requests", "total", col)] = total
        v[k("requests", "carried_forward", col)] = forward
        v[k("requests", "carried_over", col)] = over
        v[k("requests", "new", col)] = total + forward - over
    for row in spec.REQUEST_ROWS:
        v[k("requests", row, "total")] = sum(v[k("requests", row, c)]
                                             for c in spec.APPLICANT_COLUMNS)
    for g in spec.APPEAL_GROUPS:
        parts = [rnd.randint(0, 2) for _ in spec.APPEAL_PARTS]
        for p, x in zip(spec.APPEAL_PARTS, parts):
            v[k("appeals", "cases", f"{g}_{p}")] = x
        v[k("appeals", "cases", f"{g}_total")] = sum(parts)
    for row, cols in spec.PROACTIVE_ROWS.items():
        for c in cols:
            v[k("proactive", row, c)] = (Decimal(rnd.randint(0, 99999)) / 10000
                                         if c == "amount" else rnd.randint(0, 20))
    assert set(v) == set(spec.KEYS_2021)
    return v


def report(name: str, region: str | None, year: int = 2024, seed: int = 0, **values_) -> Report:
    vals = balanced_values(seed)
    vals.update(values_.pop("values", {}))
    r = make_report(vals, name=name, year=year, **values_)
    r.region_code = region
    return r


def as_2019(r: Report) -> Report:
    """（六）其他处理 printed as one row: requests.other.<col> instead of the three sub-rows."""
    for col in spec.REQUEST_COLUMNS:
        subs = [r.cells.pop(spec.key("requests", row, col)) for row in spec.OTHER_SUBROWS]
        r.cells[spec.key("requests", "other", col)] = Cell(sum(c.value for c in subs),
                                                            Status.READ, None)
    r.format_version = "2019"
    return r


REPORTS = [
    # 湘潭市: two departments of 湘潭县, one of 湘乡市, the city's own government
    report("xt-county-1", "430321", seed=1),
    report("xt-county-2", "430321", seed=2),
    report("xiangxiang-1", "430381", seed=3),
    report("xt-city", "430300", seed=4),
    # 长沙县, and 湖南 itself
    report("cs-county", "430121", seed=5),
    report("hunan", "430000", seed=6),
    # 北京: districts roll up to the municipality as their city
    report("bj-chaoyang", "110105", seed=7),
    report("bj-haidian", "110108", seed=8),
    # no region known
    report("nowhere", None, seed=9),
    # another year in 湘潭县
    report("xt-county-2023", "430321", year=2023, seed=10),
]


def _source(r: Report) -> SourceFile:
    return SourceFile(r.file, r.sha256, 100, r.format)


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    con = open_warehouse(tmp_path_factory.mktemp("rollup") / "wh.duckdb")
    load_batch(con, RunInfo("run-1", rules_version="r1"), [_source(r) for r in REPORTS],
               REPORTS, {})
    yield con
    con.close()


def _python_sum(reports: list[Report]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for r in reports:
        for k, c in r.cells.items():
            out[k] += Decimal(c.value)
    return dict(out)


def test_clean_rollup_passes_the_identities_at_every_level(clean):
    for level in ("county", "city", "province"):
        frame = rollup(clean, level=level)
        groups = frame.select("year", "province_code", "city_code", "county_code").unique()
        assert groups.height > 1
        for g in groups.iter_rows(named=True):
            vals = values(frame, **g)
            assert len(vals) == 200 + len(spec.REQUEST_COLUMNS)   # + requests.other.*
            assert check_identities(vals) == [], (level, g)


def test_rollup_sums_equal_the_reports(clean):
    frame = rollup(clean, level="city", year=2024)
    xt = [r for r in REPORTS if r.region_code in ("430321", "430381", "430300")
          and r.year == 2024]
    vals = values(frame, city_code="430300")
    expected = _python_sum(xt)
    assert {k: vals[k] for k in expected} == expected
    row = frame.filter(pl.col("city_code") == "430300").row(0, named=True)
    assert (row["reports"], row["reports_with_errors"], row["region_name"], row["region_level"]) \
        == (4, 0, "湖南省湘潭市", "city")
    # province: everything in 湖南 in 2024
    prov = values(rollup(clean, level="province", year=2024), province_code="430000")
    assert prov["requests.total.total"] == sum(
        r.value("requests.total.total") for r in REPORTS
        if r.region_code and r.region_code.startswith("43") and r.year == 2024)


def test_levels_add_up_and_coarser_agencies_keep_their_own_row(clean):
    county = rollup(clean, level="county", year=2024).filter(pl.col("city_code") == "430300")
    city = rollup(clean, level="city", year=2024).filter(pl.col("city_code") == "430300")
    # 湘潭县, 湘乡市 and the city's own agencies (county_code NULL, region = the city)
    own = county.filter(pl.col("county_code").is_null())
    assert own["region_code"].unique().to_list() == ["430300"]
    assert own["region_level"].unique().to_list() == ["city"]
    assert sorted(county["county_code"].unique().to_list(), key=str) == \
        sorted(["430321", "430381", None], key=str)
    summed = county.group_by("key").agg(pl.col("value").sum(), pl.col("reports").sum())
    joined = summed.join(city.select("key", pl.col("value").alias("v"),
                                     pl.col("reports").alias("n")), on="key")
    assert joined.height == city.height
    assert (joined["value"] == joined["v"]).all() and (joined["reports"] == joined["n"]).all()


def test_municipality_districts_roll_up_to_the_municipality(clean):
    city = rollup(clean, level="city", region="110000")
    assert city["city_code"].unique().to_list() == ["110000"]
    assert city["reports"].unique().to_list() == [2]
    assert city["region_name"].unique().to_list() == ["北京市"]
    county = rollup(clean, level="county", region="北京市")
    assert sorted(county["county_code"].unique().to_list()) == ["110105", "110108"]


def test_reports_without_region_or_year_are_not_dropped(clean):
    prov = rollup(clean, level="province", year=2024)
    nowhere = prov.filter(pl.col("province_code").is_null())
    assert nowhere["reports"].unique().to_list() == [1]
    assert nowhere["region_code"].null_count() == nowhere.height
    assert prov.select(pl.col("reports").first().over("province_code")).height == prov.height
    total_reports = prov.unique("province_code")["reports"].sum()
    assert total_reports == sum(1 for r in REPORTS if r.year == 2024)


def test_filters(clean):
    assert set(rollup(clean, level="county", region="湘潭县")["year"].to_list()) == {2023, 2024}
    one = rollup(clean, level="county", region="430321", year=2023)
    assert one["reports"].unique().to_list() == [1]
    assert rollup(clean, year=2031).is_empty()
    with pytest.raises(ValueError, match="ambiguous"):
        rollup(clean, region="鼓楼区")
    with pytest.raises(ValueError, match="level"):
        rollup(clean, level="township")


def test_views_match_rollup(clean):
    for level in ("county", "city", "province"):
        view = query_frame(clean, f"SELECT * FROM mart_rollup_{level}")
        assert view.equals(rollup(clean, level=level)), level


def test_wide(clean):
    w = wide(rollup(clean, level="county", year=2024))
    assert w.height == rollup(clean, level="county", year=2024).select(
        "province_code", "city_code", "county_code").unique().height
    assert w.columns[10:14] == ["proactive.regulations.issued",
                                "proactive.regulations.issued__blank",
                                "proactive.regulations.repealed",
                                "proactive.regulations.repealed__blank"]


@pytest.fixture
def fresh(tmp_path):
    con = open_warehouse(tmp_path / "wh.duckdb")
    yield con
    con.close()


def _load(con, reports, findings=None, run_id="run-1"):
    load_batch(con, RunInfo(run_id, rules_version="r1"), [_source(r) for r in reports],
               reports, findings or {})


def test_blanks_are_counted_never_zero(fresh):
    a = report("a", "430321", seed=1, values={"requests.new.research": None,
                                              "proactive.fees.amount": None})
    b = report("b", "430321", seed=2, values={"requests.new.research": None})
    c = report("c", "430321", seed=3)
    _load(fresh, [a, b, c])
    frame = rollup(fresh, level="county")
    row = {r["key"]: r for r in frame.iter_rows(named=True)}
    research = row["requests.new.research"]
    assert (research["value"], research["blank_count"], research["reports"]) == \
        (Decimal(c.value("requests.new.research")), 2, 3)
    fee = row["proactive.fees.amount"]
    assert fee["value"] == b.value("proactive.fees.amount") + c.value("proactive.fees.amount")
    assert fee["blank_count"] == 1
    assert row["requests.new.natural_person"]["blank_count"] == 0
    # the identities involving the blank column are no longer checkable on the sums
    bad = {i for i, _, _ in check_identities({k: r["value"] for k, r in row.items()})}
    assert "requests.balance.research" in bad and "requests.row_total.new" in bad
    assert "requests.balance.natural_person" not in bad


def test_all_blank_sums_to_null(fresh):
    a = make_report(name="blank-a", base=None)
    b = make_report(name="blank-b", base=None)
    for r in (a, b):
        r.region_code = "430321"
    _load(fresh, [a, b])
    frame = rollup(fresh, level="county")
    assert frame["value"].null_count() == frame.height           # NULL, not 0
    assert frame["blank_count"].unique().to_list() == [2]


def test_errors_counted_and_excludable(fresh):
    a, b = report("a", "430321", seed=1), report("b", "430321", seed=2)
    findings = {a.sha256: [Finding("requests.balance", "error", "violated", [])],
                b.sha256: [Finding("report.blank", "warning", "blank", [])]}
    _load(fresh, [a, b], findings)
    frame = rollup(fresh, level="county")
    assert frame.select("reports", "reports_with_errors").unique().rows() == [(2, 1)]
    clean_only = rollup(fresh, level="county", include_errors=False)
    assert clean_only.select("reports", "reports_with_errors").unique().rows() == [(1, 0)]
    only_b = values(clean_only, county_code="430321")
    assert only_b == {k: Decimal(v) for k, v in b.cells.items() for v in [v.value]} | {
        k: v for k, v in only_b.items() if k.startswith("requests.other.")}


def test_other_row_mixes_2019_and_2021_reports(fresh):
    new = report("fmt2021", "430321", seed=11)
    old = as_2019(report("fmt2019", "430321", seed=12))
    _load(fresh, [new, old])
    frame = rollup(fresh, level="county")
    vals = values(frame, county_code="430321")
    rows = {r["key"]: r for r in frame.iter_rows(named=True)}
    for col in spec.REQUEST_COLUMNS:
        subs = [spec.key("requests", r, col) for r in spec.OTHER_SUBROWS]
        single = spec.key("requests", "other", col)
        assert vals[single] == sum(new.value(k) for k in subs) + old.value(single)
        assert rows[single]["missing_count"] == 0 and rows[single]["blank_count"] == 0
        for k in subs:     # only the 2021 report has the sub-rows
            assert vals[k] == new.value(k)
            assert rows[k]["missing_count"] == 1
    # the sub-rows alone do not balance the mixed roll-up; the single row does
    assert any(i.startswith("requests.result_total") for i, _, _ in check_identities(vals))
    assert check_identities(vals, other_single_row=True) == []


def test_superseded_reports_are_not_counted(fresh):
    a = report("a", "430321", seed=1)
    _load(fresh, [a])
    a2 = report("a", "430321", seed=2)
    a2.sha256 = hashlib.sha256(b"a-v2").hexdigest()
    _load(fresh, [a2], run_id="run-2")
    frame = rollup(fresh, level="county")
    assert frame["reports"].unique().to_list() == [1]
    assert values(frame, county_code="430321")["requests.total.total"] == \
        a2.value("requests.total.total")


def test_region_code_missing_from_the_table_still_rolls_up(fresh):
    # an abolished or mistyped code: placed by code arithmetic, never dropped
    r = report("old-code", "431199", seed=3)
    _load(fresh, [r])
    county = rollup(fresh, level="county")
    assert county.select("province_code", "city_code", "county_code", "region_name").unique() \
        .rows() == [("430000", "431100", "431199", None)]
    city = rollup(fresh, level="city")
    assert city.select("city_code", "region_name").unique().rows() == [("431100", "湖南省永州市")]


def test_duplicates_are_never_summed(fresh):
    # the same agency's report for the same year collected twice (HTML and PDF): crosscheck
    # flags the unused copy with report.duplicate (severity error)
    used, copy = report("used", "430321", seed=1), report("copy", "430321", seed=1)
    copy.sha256 = hashlib.sha256(b"copy-pdf").hexdigest()
    _load(fresh, [used, copy])
    fresh.execute("""INSERT INTO raw_findings (sha256, seq, rule, severity, kind, message)
        VALUES (?, 0, 'report.duplicate', 'error', 'violated', '同一机关同一年度的另一份报告')""",
                  [copy.sha256])
    for include_errors in (True, False):
        frame = rollup(fresh, level="county", include_errors=include_errors)
        assert frame.select("reports", "reports_with_errors").unique().rows() == [(1, 0)]
        assert values(frame, county_code="430321")["requests.total.total"] == \
            used.value("requests.total.total")
