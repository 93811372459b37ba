"""tasks.incremental: plans, reports read back from the warehouse, withdrawals, versions.

Runs go through `flows.pipeline.run_plain` (the flow's engine without Prefect: same stages,
same warehouse) on real seed reports and a small synthetic province.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.pipeline import run_plain
from tasks import incremental as inc
from tasks.extract import extract_file
from tasks.load import open_warehouse
from tasks.synth import generate
from tasks.validate import validate

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"


@pytest.fixture(scope="module")
def province(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("province")
    generate(d, agencies=12, years=[2023, 2024], seed=11, defect_rate=0.5)
    for p in sorted(SEEDS.glob("*.txt")):
        shutil.copy(p, d / p.name)
    (d / "broken.pdf").write_bytes(b"%PDF-1.4\n" + b"\x00garbage" * 50)
    return d


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def run(folder: Path, wh: Path, **kw):
    return run_plain([str(folder)], str(wh), workers=1, **kw)


def table(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


# ------------------------------------------------------------------------------- plans
def test_plan_sorts_files_by_what_changed():
    k = lambda sha, **kw: inc.Known(**{**dict(  # noqa: E731
        sha256=sha, size=1, format="txt", status="ok", error_code=None, error_message=None,
        has_report=True, extractor_version="1", extract_context="c", rules_version="r"), **kw})
    known = {"a": k("a"), "b": k("b", extractor_version="0"), "c": k("c", rules_version="old"),
             "d": k("d", extract_context="other"), "e": k("e", status="error", has_report=False,
                                                          rules_version=None),
             "f": k("f", extractor_version=None)}
    entries = [inc.FileEntry(f"/x/{s}.txt", s, 1) for s in "abcdefg"]
    entries.append(inc.FileEntry("/x/gone.txt", None, None))
    ctx = {e.path: "c" for e in entries}
    plan = inc.make_plan(entries, known, ctx, "r", extractor_version="1")
    assert [e.sha256 for e in plan.extract] == ["b", "d", "f", "g", None]
    assert dict(plan.reasons) == {"extractor_version": 1, "context": 1, "unrecorded": 1,
                                  "new": 1, "unreadable": 1}
    assert [f.sha256 for f in plan.revalidate] == ["c"]
    assert [f.sha256 for f in plan.unchanged] == ["a", "e"]
    # the stored error row is passed on as it is, at today's path
    e = plan.unchanged[1]
    assert (e.path, e.status, e.format) == ("/x/e.txt", "error", "txt")
    full = inc.make_plan(entries, known, ctx, "r", full=True, extractor_version="1")
    assert len(full.extract) == len(entries) and dict(full.reasons) == {"full": len(entries)}


def test_extract_context_follows_the_manifest_row_and_province(tmp_path):
    from tasks.metadata import load_manifest

    m = tmp_path / "m.csv"
    m.write_text("file,agency,year,region_code\na.txt,甲局,2024,\n", encoding="utf-8")
    man = load_manifest(m)
    a = inc.extract_context("/in/a.txt", man, None)
    assert a != inc.extract_context("/in/b.txt", man, None)
    assert inc.extract_context("/in/b.txt", man, None) == inc.extract_context("/in/b.txt", None,
                                                                               None)
    assert a != inc.extract_context("/in/a.txt", man, "43")
    m.write_text("file,agency,year,region_code\na.txt,乙局,2024,\n", encoding="utf-8")
    assert a != inc.extract_context("/in/a.txt", load_manifest(m), None)


# ------------------------------------------------------------------------- read back
def test_reports_read_back_validate_like_the_extracted_ones(province, tmp_path):
    wh = tmp_path / "w.duckdb"
    s = run(province, wh)
    assert s.status == "complete" and s.extracted == s.files
    paths = sorted(p for p in province.glob("*.txt"))
    extracted = [extract_file(p).report for p in paths]
    extracted = [r for r in extracted if r is not None]
    con = open_warehouse(wh)
    try:
        back = inc.reports_from_warehouse(con, [r.sha256 for r in extracted])
    finally:
        con.close()
    assert [r.sha256 for r in back] == [r.sha256 for r in extracted]
    for a, b in zip(extracted, back):
        assert (a.agency, a.year, a.region_code, a.format_version, a.tables_found) == \
               (b.agency, b.year, b.region_code, b.format_version, b.tables_found)
        assert {k: (c.value, c.status) for k, c in a.cells.items()} == \
               {k: (c.value, c.status) for k, c in b.cells.items()}
        assert [w.as_dict() for w in a.warnings] == [w.as_dict() for w in b.warnings]
    fa, fb = validate(extracted), validate(back)
    assert any(fa.values()), "the province has planted defects"
    assert {k: [f.as_dict() for f in v] for k, v in fa.items()} == \
           {k: [f.as_dict() for f in v] for k, v in fb.items()}


# ------------------------------------------------------------------- incremental runs
def test_rerun_skips_unchanged_and_a_changed_file_supersedes(province, tmp_path):
    src = copy_tree(province, tmp_path / "in")
    wh = tmp_path / "w.duckdb"
    first = run(src, wh)
    assert first.errors == 1 and first.reports == first.files - 1
    again = run(src, wh)
    assert (again.extracted, again.revalidated, again.unchanged) == (0, 0, first.files)
    assert again.load["cells_written"] == 0 and again.load["findings_written"] == 0
    # the summary still counts every report and finding the run saw
    assert (again.reports, again.errors, again.findings_by_rule) == \
           (first.reports, first.errors, first.findings_by_rule)

    # an agency republishes a corrected report: only that file is extracted
    target = sorted(src.glob("0*.txt"))[0]
    old_sha = inc.hash_file(str(target)).sha256
    target.write_text(target.read_text(encoding="utf-8-sig").replace("年度报告", "年度报告（更正）", 1),
                      encoding="utf-8")
    third = run(src, wh)
    assert (third.extracted, third.unchanged) == (1, first.files - 1)
    assert third.reasons == {"new": 1}
    con = open_warehouse(wh, read_only=True)
    try:
        assert table(con, f"SELECT is_current, superseded_by IS NOT NULL FROM raw_reports "
                          f"WHERE sha256 = '{old_sha}'") == [(False, True)]
        assert table(con, "SELECT count(*) FROM raw_reports WHERE is_current")[0][0] == first.reports
        statuses = table(con, "SELECT status FROM raw_runs ORDER BY started")
    finally:
        con.close()
    assert statuses == [("complete",)] * 3


def test_removed_file_is_withdrawn_not_deleted_and_comes_back(province, tmp_path):
    src = copy_tree(province, tmp_path / "in")
    wh = tmp_path / "w.duckdb"
    first = run(src, wh)
    gone = sorted(src.glob("0*.txt"))[1]
    sha = inc.hash_file(str(gone)).sha256
    data = gone.read_bytes()
    gone.unlink()
    second = run(src, wh)
    assert second.withdrawn == [(str(gone), sha)]
    con = open_warehouse(wh, read_only=True)
    try:
        assert table(con, f"SELECT is_current, superseded_by FROM raw_reports WHERE sha256 = '{sha}'") \
            == [(False, None)]
        assert table(con, f"SELECT count(*) FROM raw_cells WHERE sha256 = '{sha}'")[0][0] >= 200
        assert table(con, "SELECT count(*) FROM stg_reports_current")[0][0] == first.reports - 1
        assert table(con, "SELECT path, restored_run FROM raw_withdrawals") == [(str(gone), None)]
    finally:
        con.close()
    # a run over another folder withdraws nothing of this one
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(SEEDS / sorted(p.name for p in SEEDS.glob("*.txt"))[0], other / "x.txt")
    assert run(other, wh).withdrawn == []
    # the file comes back: current again, the withdrawal closed, nothing re-extracted
    gone.write_bytes(data)
    back = run(src, wh)
    assert back.extracted == 0 and back.withdrawn == []
    con = open_warehouse(wh, read_only=True)
    try:
        assert table(con, f"SELECT is_current FROM raw_reports WHERE sha256 = '{sha}'") == [(True,)]
        assert table(con, "SELECT restored_run FROM raw_withdrawals")[0][0] == back.run_id
    finally:
        con.close()


def test_version_changes_reprocess_what_they_affect(province, tmp_path, monkeypatch):
    src = copy_tree(province, tmp_path / "in")
    wh = tmp_path / "w.duckdb"
    first = run(src, wh)
    con = open_warehouse(wh)
    try:
        before = table(con, "SELECT sha256, seq, rule, message FROM raw_findings ORDER BY ALL")
        # the warehouse was validated by other rules: re-validated from the stored cells
        con.execute("UPDATE raw_reports SET rules_version = 'old'")
        con.execute("UPDATE raw_processing SET rules_version = 'old'")
    finally:
        con.close()
    s = run(src, wh)
    assert (s.extracted, s.revalidated, s.unchanged) == (0, first.reports, first.errors)
    assert s.load["reports_replaced"] == 0 and s.load["cells_written"] == 0
    con = open_warehouse(wh, read_only=True)
    try:
        assert table(con, "SELECT sha256, seq, rule, message FROM raw_findings ORDER BY ALL") == before
        assert table(con, "SELECT DISTINCT rules_version FROM raw_reports") == \
               [(inc.rules_version(),)]
    finally:
        con.close()
    # a new extractor version re-extracts everything, the unreadable file included
    import tasks.model

    monkeypatch.setattr(tasks.model, "EXTRACTOR_VERSION", "test-next")
    s = run(src, wh)
    assert s.extracted == first.files and s.reasons == {"extractor_version": first.files}


def test_failed_run_keeps_whole_batches_and_is_marked(province, tmp_path, monkeypatch):
    src = copy_tree(province, tmp_path / "in")
    wh = tmp_path / "w.duckdb"
    import flows.pipeline as P

    calls = {"n": 0}
    real = P.PLAIN_OPS.load

    def failing_load(con, run, files, reports, findings):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk on fire")
        return real(con, run, files, reports, findings)

    monkeypatch.setattr(P.PLAIN_OPS, "load", failing_load)
    with pytest.raises(RuntimeError, match="disk on fire"):
        run(src, wh, batch_size=20)
    con = open_warehouse(wh, read_only=True)
    try:
        assert table(con, "SELECT status, finished IS NOT NULL FROM raw_runs") == [("failed", True)]
        # exactly the first batch, whole (checked against the batch size below)
        first = table(con, "SELECT count(*) FROM raw_source_files")[0][0]
        n_reports = table(con, "SELECT count(*) FROM raw_reports")[0][0]
        assert table(con, "SELECT count(*) FROM raw_cells")[0][0] >= 200 * n_reports
        assert table(con, "SELECT count(*) FROM raw_withdrawals")[0][0] == 0
    finally:
        con.close()
    monkeypatch.setattr(P.PLAIN_OPS, "load", real)
    s = run(src, wh, batch_size=20)
    assert s.files > 20 and first == -(-s.files // -(-s.files // 20))   # batches dealt evenly
    assert s.status == "complete" and s.unchanged == first and s.extracted == s.files - first
