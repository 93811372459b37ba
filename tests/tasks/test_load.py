"""The warehouse load: idempotence, history, transactions, read-only access.

Benchmark (not a test): ``.venv/bin/python -m tests.tasks.test_load 10000`` loads 10,000
reports × 200 cells into a fresh warehouse twice and prints the times.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal

import duckdb
import polars as pl
import pytest

import tasks.load as load
import warehouse
from tasks import spec
from tasks.load import RunInfo, load_batch, load_cells_frame, open_warehouse
from tasks.model import Cell, Finding, Provenance, Report, SourceFile, Status, cells_frame
from tests.factories import make_report

CORE = ("raw_source_files", "raw_reports", "raw_cells", "raw_findings")
ALL = CORE + ("raw_runs", "raw_file_sightings", "regions", "spec_cells", "schema_version")


def snapshot(con: duckdb.DuckDBPyConnection, tables=ALL) -> dict[str, list[tuple]]:
    """Full contents of the tables, in a stable order."""
    return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}


def source(r: Report, size: int = 1000) -> SourceFile:
    return SourceFile(r.file, r.sha256, size, r.format)


def with_sha(r: Report, tag: str) -> Report:
    """The same path with other content (a new version of the file)."""
    return replace(r, sha256=hashlib.sha256(f"{r.file}:{tag}".encode()).hexdigest())


def run(run_id: str = "run-1", **kw) -> RunInfo:
    kw.setdefault("started", datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc))
    kw.setdefault("rules_version", "r1")
    return RunInfo(run_id, **kw)


@pytest.fixture
def con(tmp_path):
    c = open_warehouse(tmp_path / "wh.duckdb")
    yield c
    c.close()


@pytest.fixture
def batch():
    a = make_report({"requests.new.natural_person": 3, "proactive.fees.amount": Decimal("1.2345"),
                     "requests.new.total": None}, name="a", agency="湘潭县数据局")
    a.region_code = "430321"
    a.meta["agency_source"] = "title"
    a.warn("layout.cells_lost", "第3行缺少数字", ["requests.new.total"])
    b = make_report(name="b", base=None)               # every cell blank
    bad = SourceFile("c.pdf", hashlib.sha256(b"c").hexdigest(), 10, "pdf", "error",
                     "pdf.encrypted", "文件已加密，无法读取")
    files = [source(a), source(b), bad]
    findings = {a.sha256: [Finding("requests.balance", "error", "violated",
                                   ["requests.new.total"], Decimal("3"), None, "本年新收不平衡"),
                           Finding("report.blank", "warning", "blank", ["requests.new.total"])]}
    return files, [a, b], findings


def test_open_creates_schema_and_views(con, tmp_path):
    versions = [m.version for m in warehouse.migrations()]
    assert [r[0] for r in con.execute(
        "SELECT version FROM schema_version ORDER BY version").fetchall()] == versions
    views = {r[0] for r in con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert {"stg_reports_current", "stg_cells_current", "stg_files_current", "mart_proactive_wide",
            "mart_requests_wide", "mart_appeals_wide", "mart_findings_by_rule",
            "mart_rollup_county", "mart_rollup_city", "mart_rollup_province"} <= views
    assert con.execute("SELECT count(*) FROM spec_cells").fetchone()[0] == 200
    assert con.execute("SELECT count(*) FROM regions").fetchone()[0] > 3000
    con.close()
    again = open_warehouse(tmp_path / "wh.duckdb")          # re-open: nothing re-applied
    assert again.execute("SELECT count(*) FROM schema_version").fetchone()[0] == len(versions)
    again.close()


def test_edited_migration_is_refused(con, tmp_path):
    con.execute("UPDATE schema_version SET checksum = 'x' WHERE version = 1")
    con.close()
    with pytest.raises(RuntimeError, match="changed after it was applied"):
        open_warehouse(tmp_path / "wh.duckdb")


def test_models_are_ordered_by_dependency():
    order = [m.name for m in warehouse.models()]
    for m in warehouse.models():
        for d in m.depends_on:
            assert order.index(d) < order.index(m.name), (m.name, d)
    assert "stg_reports_current" in dict((m.name, m) for m in warehouse.models())[
        "stg_cells_current"].depends_on


def test_load_writes_values_blanks_and_provenance(con, batch):
    files, reports, findings = batch
    stats = load_batch(con, run(), files, reports, findings)
    assert (stats.files, stats.files_new, stats.reports_new, stats.cells_written,
            stats.findings_written) == (3, 3, 2, 400, 2)
    a, b = reports
    row = con.execute("SELECT value, status FROM raw_cells WHERE sha256 = ? AND key = ?",
                      [a.sha256, "proactive.fees.amount"]).fetchone()
    assert row == (Decimal("1.2345"), "read")
    # blank stays NULL with status blank, never 0
    assert con.execute("SELECT value, status FROM raw_cells WHERE sha256 = ? AND key = ?",
                       [a.sha256, "requests.new.total"]).fetchone() == (None, "blank")
    assert con.execute("SELECT count(*), count(value) FROM raw_cells WHERE sha256 = ?",
                       [b.sha256]).fetchone() == (200, 0)
    # report metadata
    rep = con.execute("""SELECT file, format, format_version, agency, agency_source, year,
        region_code, extractor_version, rules_version, is_current, superseded_by, loaded_run,
        warnings->>'$[0].code' FROM raw_reports WHERE sha256 = ?""", [a.sha256]).fetchone()
    assert rep == ("a.txt", "txt", "2021", "湘潭县数据局", "title", 2024, "430321",
                   load.EXTRACTOR_VERSION, "r1", True, None, "run-1", "layout.cells_lost")
    # the unreadable file is there with its error, and has no report
    assert con.execute("SELECT status, error_code, is_current FROM raw_source_files "
                       "WHERE path = 'c.pdf'").fetchone() == ("error", "pdf.encrypted", True)
    f = con.execute("SELECT rule, severity, kind, cells, expected, actual, message, "
                    "rules_version FROM raw_findings WHERE sha256 = ? AND seq = 0",
                    [a.sha256]).fetchone()
    assert f == ("requests.balance", "error", "violated", '["requests.new.total"]', "3", None,
                 "本年新收不平衡", "r1")
    runs = con.execute("SELECT run_id, started, extractor_version, rules_version "
                       "FROM raw_runs").fetchall()
    assert runs == [("run-1", datetime(2026, 3, 1, 8, 0), load.EXTRACTOR_VERSION, "r1")]


def test_provenance_columns(con):
    r = make_report(name="p")
    r.cells["requests.new.total"] = Cell(
        7, Status.UNCERTAIN,
        Provenance("p.pdf", page=3, line=None, table=1, row=4, col=7, text="7",
                   bbox=(10.5, 20.0, 30.25, 40.0), row_label="本年新收", col_label="总计"),
        confidence=0.61)
    load_batch(con, run(), [source(r)], [r], {})
    row = con.execute("""SELECT "table", row_key, col_key, value, status, page, line, grid_table,
        grid_row, grid_col, bbox, raw_text, row_label, col_label, confidence FROM raw_cells
        WHERE sha256 = ? AND key = 'requests.new.total'""", [r.sha256]).fetchone()
    assert row == ("requests", "new", "total", Decimal("7"), "uncertain", 3, None, 1, 4, 7,
                   [10.5, 20.0, 30.25, 40.0], "7", "本年新收", "总计", 0.61)


def test_load_twice_is_identical(con, batch):
    files, reports, findings = batch
    load_batch(con, run(), files, reports, findings)
    before = snapshot(con)
    stats = load_batch(con, run(), files, reports, findings)
    assert snapshot(con) == before
    assert (stats.reports_new, stats.reports_replaced, stats.reports_unchanged,
            stats.cells_written, stats.findings_written) == (0, 0, 2, 0, 0)


def test_load_in_a_later_run_changes_only_sightings(con, batch):
    files, reports, findings = batch
    load_batch(con, run("run-1"), files, reports, findings)
    before = snapshot(con)
    load_batch(con, run("run-2"), files, reports, findings)
    after = snapshot(con)
    for t in CORE + ("regions", "spec_cells", "schema_version"):
        assert after[t] == before[t], t
    assert con.execute("SELECT run_id, count(*) FROM raw_file_sightings GROUP BY run_id "
                       "ORDER BY run_id").fetchall() == [("run-1", 3), ("run-2", 3)]
    assert con.execute("SELECT count(*) FROM raw_runs").fetchone()[0] == 2


def test_run_row_keeps_columns_added_by_others(con, batch):
    files, reports, findings = batch
    con.execute("ALTER TABLE raw_runs ADD COLUMN note_by_other VARCHAR DEFAULT 'default'")
    load_batch(con, run("run-1"), files, reports, findings)
    con.execute("UPDATE raw_runs SET note_by_other = 'set'")
    load_batch(con, run("run-1", finished=datetime(2026, 3, 1, 9, 0)), files, reports, findings)
    assert con.execute("SELECT note_by_other, finished FROM raw_runs").fetchall() == [
        ("set", datetime(2026, 3, 1, 9, 0))]


def test_changed_file_keeps_history(con):
    old = make_report({"requests.new.natural_person": 1}, name="x")
    load_batch(con, run("run-1"), [source(old)], [old], {})
    new = with_sha(make_report({"requests.new.natural_person": 2}, name="x"), "v2")
    stats = load_batch(con, run("run-2"), [source(new)], [new], {})
    assert stats.reports_superseded == 1
    rows = con.execute("SELECT sha256, is_current, superseded_by FROM raw_reports "
                       "ORDER BY is_current").fetchall()
    assert rows == [(old.sha256, False, new.sha256), (new.sha256, True, None)]
    assert con.execute("SELECT sha256, is_current, superseded_by FROM raw_source_files "
                       "ORDER BY is_current").fetchall() == rows
    # history keeps the old cells; the current views only show the new report
    assert con.execute("SELECT count(DISTINCT sha256) FROM raw_cells").fetchone()[0] == 2
    assert con.execute("SELECT sha256 FROM stg_reports_current").fetchall() == [(new.sha256,)]
    assert con.execute("SELECT value FROM stg_cells_current WHERE key = "
                       "'requests.new.natural_person'").fetchall() == [(Decimal(2),)]
    # the old content comes back: it is current again, the other one superseded by it
    load_batch(con, run("run-3"), [source(old)], [old], {})
    assert con.execute("SELECT sha256, is_current, superseded_by FROM raw_reports "
                       "ORDER BY is_current").fetchall() == [
        (new.sha256, False, old.sha256), (old.sha256, True, None)]


def test_supersession_follows_the_source_file_path(con):
    # the report spells its file differently from the SourceFile: the path of the file decides
    old = make_report(name="y")
    load_batch(con, run("run-1"), [SourceFile("in/y.txt", old.sha256, 1, "txt")], [old], {})
    new = with_sha(make_report(name="y"), "v2")
    new.file = "./in/y.txt"
    load_batch(con, run("run-2"), [SourceFile("in/y.txt", new.sha256, 1, "txt")], [new], {})
    assert con.execute("SELECT sha256 FROM stg_reports_current").fetchall() == [(new.sha256,)]


def test_same_content_at_another_path_is_the_same_report(con):
    r = make_report(name="dup")
    load_batch(con, run("run-1"), [source(r)], [r], {})
    before = snapshot(con, CORE)
    copy = replace(r, file="copies/dup.txt")
    stats = load_batch(con, run("run-2"), [SourceFile("copies/dup.txt", r.sha256, 1000, "txt")],
                       [copy], {})
    assert (stats.reports_new, stats.reports_replaced, stats.cells_written) == (0, 0, 0)
    assert snapshot(con, CORE) == before
    assert con.execute("SELECT path FROM raw_file_sightings WHERE run_id = 'run-2'"
                       ).fetchall() == [("copies/dup.txt",)]


def test_unreadable_then_readable(con):
    r = make_report(name="scan")
    broken = SourceFile(r.file, hashlib.sha256(b"broken").hexdigest(), 5, None, "error",
                        "empty", "文件为空")
    load_batch(con, run("run-1"), [broken], [], {})
    assert con.execute("SELECT count(*) FROM stg_files_current WHERE status = 'error'"
                       ).fetchone()[0] == 1
    load_batch(con, run("run-2"), [source(r)], [r], {})
    assert con.execute("SELECT sha256, status, is_current, superseded_by FROM raw_source_files "
                       "ORDER BY is_current").fetchall() == [
        (broken.sha256, "error", False, r.sha256), (r.sha256, "ok", True, None)]
    assert con.execute("SELECT sha256 FROM stg_reports_current").fetchall() == [(r.sha256,)]


def test_same_content_unreadable_then_readable(con):
    # a newer extractor reads what an older one could not: same sha256
    r = make_report(name="ocr")
    first = SourceFile(r.file, r.sha256, 100, "scan", "error", "scan.no_ocr", "需要文字识别")
    load_batch(con, run("run-1", extractor_version="1"), [first], [], {})
    load_batch(con, run("run-2", extractor_version="2"), [source(r)], [r], {})
    assert con.execute("SELECT status, error_code, format, first_seen_run, is_current "
                       "FROM raw_source_files").fetchall() == [("ok", None, "txt", "run-1", True)]
    assert con.execute("SELECT count(*) FROM stg_reports_current").fetchone()[0] == 1


def test_new_extractor_version_replaces_in_place(con):
    r = make_report({"requests.new.natural_person": 1}, name="v")
    f1 = {r.sha256: [Finding("requests.balance", "error", "violated", ["requests.new.total"])]}
    load_batch(con, run("run-1", extractor_version="1", rules_version="r1"), [source(r)], [r], f1)
    same_cells = snapshot(con, ("raw_cells",))

    # the same bytes, another extractor version with the same output: only the version changes
    stats = load_batch(con, run("run-2", extractor_version="2", rules_version="r1"),
                       [source(r)], [r], f1)
    assert stats.reports_replaced == 1
    assert snapshot(con, ("raw_cells",)) == same_cells
    assert con.execute("SELECT extractor_version, loaded_run FROM raw_reports").fetchone() == \
        ("2", "run-2")

    # another extractor reads one value differently, new rules find nothing
    r3 = make_report({"requests.new.natural_person": 5}, name="v")
    assert r3.sha256 == r.sha256
    stats = load_batch(con, run("run-3", extractor_version="3", rules_version="r2"),
                       [source(r3)], [r3], {})
    assert (stats.reports_new, stats.reports_replaced, stats.cells_written) == (0, 1, 200)
    assert con.execute("SELECT count(*) FROM raw_reports").fetchone()[0] == 1
    assert con.execute("SELECT count(*), count(DISTINCT key) FROM raw_cells").fetchone() == \
        (200, 200)
    assert con.execute("SELECT value FROM raw_cells WHERE key = 'requests.new.natural_person'"
                       ).fetchone() == (Decimal(5),)
    assert con.execute("SELECT extractor_version, rules_version, loaded_run, is_current "
                       "FROM raw_reports").fetchone() == ("3", "r2", "run-3", True)
    assert con.execute("SELECT count(*) FROM raw_findings").fetchone()[0] == 0


def test_findings_follow_the_latest_validation(con):
    r = make_report(name="f")
    load_batch(con, run(rules_version="r1"), [source(r)], [r], {})
    assert con.execute("SELECT count(*) FROM raw_findings").fetchone()[0] == 0
    fs = {r.sha256: [Finding("requests.carry", "warning", "violated", ["requests.carried_over.total"],
                             message="上年结转与上年报告不一致")]}
    stats = load_batch(con, run(rules_version="r1"), [source(r)], [r], fs)
    assert stats.findings_written == 1 and stats.reports_replaced == 0
    assert con.execute("SELECT rule FROM raw_findings").fetchall() == [("requests.carry",)]


def test_cross_report_findings_are_left_to_crosscheck(con):
    # tasks.crosscheck appends its findings after the load's (seq after the core ones)
    r = make_report(name="dupe")
    core = [Finding("requests.balance", "error", "violated", ["requests.new.total"])]
    load_batch(con, run(), [source(r)], [r], {r.sha256: core})
    con.execute("""INSERT INTO raw_findings (sha256, seq, rule, severity, kind, message,
        rules_version) VALUES (?, 1, 'report.duplicate', 'error', 'violated', '另一份报告', 'r1')""",
                [r.sha256])
    before = snapshot(con)
    load_batch(con, run(), [source(r)], [r], {r.sha256: core})
    assert snapshot(con) == before                      # kept, nothing rewritten
    # new core findings: the cross one is kept and follows them
    more = core + [Finding("cells.blank", "warning", "blank", ["requests.new.research"]),
                   Finding("appeals.group_total", "error", "violated", [])]
    load_batch(con, run(), [source(r)], [r], {r.sha256: more})
    assert con.execute("SELECT seq, rule FROM raw_findings ORDER BY seq").fetchall() == [
        (0, "requests.balance"), (1, "cells.blank"), (2, "appeals.group_total"),
        (3, "report.duplicate")]
    load_batch(con, run(), [source(r)], [r], {})
    assert con.execute("SELECT seq, rule FROM raw_findings").fetchall() == [
        (0, "report.duplicate")]
    with pytest.raises(ValueError, match="crosscheck"):
        load_batch(con, run(), [source(r)], [r],
                   {r.sha256: [Finding("report.duplicate", "error", "violated", [])]})


@pytest.mark.parametrize("how", ["invalid_key", "helper_raises", "duplicate_cells"])
def test_failure_in_the_middle_leaves_the_warehouse_as_before(con, batch, monkeypatch, how):
    files, reports, findings = batch
    load_batch(con, run("run-1"), files, reports, findings)
    before = snapshot(con)

    changed = with_sha(make_report({"requests.new.natural_person": 9}, name="a"), "v2")
    extra = make_report(name="d")
    batch2 = [changed, extra]
    expected: type[BaseException] = duckdb.ConstraintException
    if how == "invalid_key":
        # files and reports are written before the cells; the cell insert fails its CHECK
        extra.cells["bogus.new.total"] = Cell(1, Status.READ, None)
    elif how == "helper_raises":
        def boom(*a, **k):
            raise RuntimeError("injected")
        monkeypatch.setattr(load, "_update_current", boom)     # last step before COMMIT
        expected = RuntimeError
    else:
        real = load.load_cells_frame
        monkeypatch.setattr(load, "load_cells_frame", lambda rs: pl.concat([real(rs)] * 2))
    with pytest.raises(expected):
        load_batch(con, run("run-2"), [source(changed), source(extra)], batch2,
                   {changed.sha256: [Finding("x", "error", "violated", [])]})
    assert snapshot(con) == before
    # the connection is usable afterwards
    monkeypatch.undo()
    extra.cells.pop("bogus.new.total", None)
    stats = load_batch(con, run("run-2"), [source(changed), source(extra)], batch2, {})
    assert stats.reports_new == 2 and stats.reports_superseded == 1


def test_contract_errors_write_nothing(con, batch):
    files, reports, findings = batch
    before = snapshot(con)
    with pytest.raises(ValueError, match="without a SourceFile"):
        load_batch(con, run(), files[1:], reports, findings)
    with pytest.raises(ValueError, match="not in the batch"):
        load_batch(con, run(), files, reports[1:], findings)
    assert snapshot(con) == before


def test_read_only_connection_cannot_write(con, batch, tmp_path):
    files, reports, findings = batch
    load_batch(con, run(), files, reports, findings)
    con.close()
    ro = open_warehouse(tmp_path / "wh.duckdb", read_only=True)
    try:
        assert ro.execute("SELECT count(*) FROM stg_reports_current").fetchone()[0] == 2
        before = snapshot(ro)
        with pytest.raises(duckdb.Error, match="read-only"):
            ro.execute("DELETE FROM raw_cells")
        with pytest.raises(duckdb.Error, match="read-only"):
            load_batch(ro, run("run-2"), files, reports, findings)
        assert snapshot(ro) == before
    finally:
        ro.close()
    with pytest.raises(FileNotFoundError):
        open_warehouse(tmp_path / "missing.duckdb", read_only=True)


def test_load_frame_matches_cells_frame(batch):
    _, reports, _ = batch
    r = make_report(name="q")
    r.cells["requests.other.total"] = Cell(Decimal("2"), Status.INFERRED,
                                           Provenance("q.txt", line=12, text="2"))
    reports = reports + [r]
    ours = load_cells_frame(reports)
    theirs = cells_frame(reports)
    assert ours.height == theirs.height == 601
    assert ours.select(theirs.columns).equals(theirs)


def test_wide_views(con, batch):
    files, reports, findings = batch
    load_batch(con, run(), files, reports, findings)
    a = reports[0]
    row = con.execute("""SELECT natural_person, commercial, total FROM mart_requests_wide
        WHERE sha256 = ? AND row_key = 'new'""", [a.sha256]).fetchone()
    assert row == (Decimal(3), Decimal(0), None)            # total was blank: NULL, not 0
    assert con.execute("SELECT count(*) FROM mart_requests_wide WHERE sha256 = ?",
                       [a.sha256]).fetchone()[0] == len(spec.REQUEST_ROWS)
    assert con.execute("SELECT amount FROM mart_proactive_wide WHERE sha256 = ? AND "
                       "row_key = 'fees'", [a.sha256]).fetchone() == (Decimal("1.2345"),)
    assert con.execute("SELECT count(*) FROM mart_appeals_wide").fetchone()[0] == 2
    assert con.execute("SELECT rule, severity, findings, reports, current_reports "
                       "FROM mart_findings_by_rule ORDER BY rule").fetchall() == [
        ("report.blank", "warning", 1, 1, 2), ("requests.balance", "error", 1, 1, 2)]
    assert con.execute("SELECT has_errors, error_count, warning_count, region_level, "
                       "province_code, city_code, county_code FROM stg_reports_current "
                       "WHERE sha256 = ?", [a.sha256]).fetchone() == \
        (True, 1, 1, "county", "430000", "430300", "430321")


def _bench(n: int) -> None:   # pragma: no cover - run by hand
    import tempfile
    import time
    from pathlib import Path

    prov = Provenance("f.pdf", page=2, table=1, row=3, col=4, text="5",
                      bbox=(1.0, 2.0, 3.0, 4.0), row_label="本年新收", col_label="自然人")
    reports = []
    for i in range(n):
        cells = {k: Cell(i % 7, Status.READ, prov) for k in spec.KEYS_2021}
        cells["proactive.fees.amount"] = Cell(Decimal("1.5"), Status.READ, prov)
        reports.append(Report(file=f"f{i}.pdf", sha256=hashlib.sha256(str(i).encode()).hexdigest(),
                              format="pdf", format_version="2021", agency="某局", year=2024,
                              region_code="430321", cells=cells))
    files = [source(r) for r in reports]
    findings = {r.sha256: [Finding("requests.balance", "error", "violated", [])]
                for r in reports[::10]}
    with tempfile.TemporaryDirectory() as d:
        con = open_warehouse(Path(d) / "bench.duckdb")
        for label in ("first load", "same files again (new run)"):
            t, cpu = time.perf_counter(), time.process_time()
            s = load_batch(con, RunInfo(f"bench-{label}"), files, reports, findings)
            print(f"{label}: {time.perf_counter() - t:.1f} s wall, "
                  f"{time.process_time() - cpu:.1f} s CPU ({s.cells_written} cells written)",
                  {k: round(v, 2) for k, v in s.timings.items()})
        t = time.perf_counter()
        con.execute("SELECT count(*) FROM mart_rollup_province").fetchall()
        print(f"province roll-up: {time.perf_counter() - t:.1f} s")
        con.close()


if __name__ == "__main__":   # pragma: no cover
    import sys

    _bench(int(sys.argv[1]) if len(sys.argv) > 1 else 10000)


def test_batch_is_written_under_the_lower_load_limit_and_the_limit_restored(con, batch,
                                                                            monkeypatch):
    before = load.memory_limit(con)
    seen = []
    real = load._write_cells

    def spy(c, *a):
        seen.append(load.memory_limit(c))
        return real(c, *a)

    monkeypatch.setattr(load, "_write_cells", spy)
    load_batch(con, run(), *batch)
    assert load._mib(seen[0]) <= 64 < load._mib(before)
    assert load.memory_limit(con) == before
    assert con.execute("SELECT count(*) FROM raw_reports").fetchall()[0][0] == 2


def test_out_of_memory_under_the_load_limit_rolls_back_and_retries_with_the_own_limit(
        con, batch, monkeypatch):
    before = load.memory_limit(con)
    real = load._write_cells
    limits = []

    def starved(c, *a):
        limits.append(load.memory_limit(c))
        if load._mib(limits[-1]) <= 64:
            raise duckdb.OutOfMemoryException("could not allocate block (injected)")
        return real(c, *a)

    monkeypatch.setattr(load, "_write_cells", starved)
    stats = load_batch(con, run(), *batch)
    assert len(limits) == 2 and limits[1] == before
    assert stats.reports_new == 2
    assert con.execute("SELECT count(*) FROM raw_reports").fetchall()[0][0] == 2
    assert con.execute("SELECT count(*) FROM raw_source_files").fetchall()[0][0] == 3


def test_in_memory_warehouse_keeps_its_limit(batch, monkeypatch):
    c = open_warehouse(":memory:")
    try:
        before = load.memory_limit(c)
        seen = []
        real = load._write_cells
        monkeypatch.setattr(load, "_write_cells",
                            lambda con, *a: (seen.append(load.memory_limit(con)), real(con, *a))[1])
        load_batch(c, run(), *batch)
        assert seen == [before] and load.memory_limit(c) == before
    finally:
        c.close()


def test_read_only_connections_get_the_warehouse_memory_limit(con, tmp_path, monkeypatch):
    con.close()
    monkeypatch.setenv("NIANBAO_DUCKDB_MEMORY", "100MB")
    ro = open_warehouse(tmp_path / "wh.duckdb", read_only=True)
    try:
        assert 90 < load._mib(load.memory_limit(ro)) <= 100
        assert ro.execute("SELECT count(*) FROM mart_rollup_province").fetchall()[0][0] == 0
    finally:
        ro.close()
