"""The whole pipeline over the bad-input corpus (tests/fixtures/bad, scripts/make_bad_inputs.py)
plus good reports, on a warehouse that already holds an earlier run.

Every file's outcome is checked in the warehouse: unreadable files are recorded with their
stable error code and a Chinese reason, readable ones load with every cell equal to the truth,
findings say what is wrong with the rest (table missing, duplicate, agency unknown), the batch
goes on, and nothing loaded before is lost.
"""
from __future__ import annotations

import copy
import importlib.util
import io
import json
import os
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from tests.test_faults import ROOT, prefect_api  # noqa: F401  (fixture: one Prefect server)

BAD = ROOT / "tests" / "fixtures" / "bad"


def _script():
    spec = importlib.util.spec_from_file_location("make_bad_inputs",
                                                  ROOT / "scripts" / "make_bad_inputs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


mbi = _script()

# file → (error code, words its Chinese message must contain)
ERRORS: dict[str, tuple[str, str]] = {
    "empty.pdf": ("empty", "文件为空"),
    "garbage.pdf": ("format.mismatch", "内容不是PDF"),
    "truncated.pdf": ("pdf.corrupt", "损坏或不完整"),
    "encrypted.pdf": ("pdf.encrypted", "加密"),
    "not_zip.docx": ("docx.not_zip", "不是有效的压缩包"),
    "zip_bomb.docx": ("docx.zip_bomb", "压缩炸弹"),
    "entity_bomb.docx": ("docx.dtd", "DTD"),
    "entity_bomb.html": ("not_a_report", "不是年度报告"),
    "scripts_only.html": ("not_a_report", "不是年度报告"),
    "bom_gbk.txt": ("encoding", "无法解码"),
    "notice.txt": ("not_a_report", "不是年度报告"),
}
# readable files → the error findings they must carry (rule → count); any other error finding
# is a failure. Cells are compared with the truth file beside the fixture where there is one.
REPORTS: dict[str, dict[str, int]] = {
    "cid.pdf": {"report.table_missing": 3},          # OCR read the title page: no table there
    "huge.pdf": {"report.agency_unknown": 1},         # the title is on page 298, not at the top
    "wrong_charset.html": {},
    "table_missing.txt": {"report.table_missing": 1},
    "numbers_as_text.txt": {},
    "duplicate_a.txt": {},                            # one of the two gets report.duplicate
    "duplicate_b.txt": {},
    "with spaces 'and' \"quotes\".txt": {},
    "年报..2024..txt": {},
    "-rf 年报.txt": {},
}


def test_corpus_is_complete_and_committed():
    assert set(mbi.BAD_KINDS) == set(ERRORS) | set(REPORTS)
    for name in mbi.BAD_KINDS:
        assert (BAD / name).is_file(), f"{name} missing: run scripts/make_bad_inputs.py"
    assert sum((BAD / n).stat().st_size for n in mbi.BAD_KINDS) < 2 * 1024 * 1024


def test_generator_is_deterministic(tmp_path):
    """The committed bytes are what the script writes (cheap kinds; PDFs are checked by the
    outcome test)."""
    corpus = mbi.build_corpus(pdfs=False)
    assert len(corpus) >= len(mbi.BAD_KINDS) - 4
    for name, (data, _) in corpus.items():
        assert (BAD / name).read_bytes() == data, f"{name} differs: run scripts/make_bad_inputs.py"


def _truth(name: str) -> dict | None:
    p = BAD / (name.rsplit(".", 1)[0] + ".truth.json")
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else None


@pytest.fixture(scope="module")
def run(prefect_api, tmp_path_factory):  # noqa: F811
    from flows.pipeline import run_pipeline
    from tasks.extract import extract_file
    from tasks.load import RunInfo, load_batch, open_warehouse
    from tasks.synth import generate

    tmp = tmp_path_factory.mktemp("badrun")
    earlier = tmp / "earlier"
    generate(earlier, agencies=3, years=(2024,), seed=501, defect_rate=0.0)
    good = tmp / "good"
    generate(good, agencies=2, years=(2024,), seed=502, defect_rate=0.0)
    bad = tmp / "bad"
    shutil.copytree(BAD, bad)
    odd = mbi.write_odd_names(bad)
    wh = str(tmp / "wh.duckdb")

    # an earlier batch, already in the warehouse
    exs = [extract_file(p) for p in sorted(earlier.glob("*.txt"))]
    con = open_warehouse(wh)
    try:
        load_batch(con, RunInfo("earlier"), [e.source for e in exs], [e.report for e in exs], {})
    finally:
        con.close()
    before = _cells(wh, str(earlier))
    assert len(before) == 3
    os.environ["NIANBAO_WORKERS"] = "1"      # no process pool: the test stays light
    try:
        summary = run_pipeline([str(bad), str(good)], wh)
    finally:
        del os.environ["NIANBAO_WORKERS"]
    return {"wh": wh, "bad": bad, "good": good, "earlier": earlier, "before": before,
            "summary": summary, "odd": odd}


def _con(wh: str):
    from tasks.query import connect_read_only

    return connect_read_only(wh)


def _cells(wh: str, under: str) -> dict[str, dict[str, tuple]]:
    con = _con(wh)
    try:
        rows = con.execute("""SELECT f.path, c.key, c.value, c.status FROM raw_cells c
            JOIN raw_reports r USING (sha256) JOIN raw_source_files f USING (sha256)
            WHERE r.is_current AND starts_with(f.path, ?)""", [under]).fetchall()
    finally:
        con.close()
    out: dict[str, dict[str, tuple]] = {}
    for path, key, value, status in rows:
        out.setdefault(path, {})[key] = (value, status)
    return out


def _outcomes(wh: str, run_id: str) -> dict[str, dict]:
    """path → source-file row, report row (or None) and findings, for one run's sightings."""
    con = _con(wh)
    try:
        files = con.execute("""SELECT s.path, f.sha256, f.status, f.error_code, f.error_message,
                f.format FROM raw_file_sightings s JOIN raw_source_files f USING (sha256)
            WHERE s.run_id = ?""", [run_id]).fetchall()
        reports = dict(con.execute(
            "SELECT sha256, agency FROM raw_reports WHERE is_current").fetchall())
        findings: dict[str, list[tuple]] = {}
        for sha, rule, sev in con.execute("SELECT sha256, rule, severity FROM raw_findings").fetchall():
            findings.setdefault(sha, []).append((rule, sev))
        ncells = dict(con.execute("SELECT sha256, count(*) FROM raw_cells GROUP BY sha256").fetchall())
    finally:
        con.close()
    out = {}
    for path, sha, status, code, msg, fmt in files:
        out[path] = {"sha": sha, "status": status, "code": code, "message": msg, "format": fmt,
                     "report": sha in reports, "agency": reports.get(sha),
                     "findings": findings.get(sha, []), "cells": ncells.get(sha, 0)}
    return out


def test_every_bad_file_has_a_clear_outcome(run):
    out = _outcomes(run["wh"], run["summary"].run_id)
    bad = run["bad"]
    for name, (code, words) in ERRORS.items():
        o = out[str(bad / name)]
        assert (o["status"], o["code"], o["report"], o["cells"]) == ("error", code, False, 0), (name, o)
        assert words in o["message"], (name, o["message"])
    for name, rules in REPORTS.items():
        o = out[str(bad / name)]
        assert o["status"] == "ok" and o["report"] and o["cells"] >= 200, (name, o)
        errors = {}
        for rule, sev in o["findings"]:
            if sev == "error" and rule != "report.duplicate":
                errors[rule] = errors.get(rule, 0) + 1
        assert errors == rules, (name, o["findings"])


def test_cells_of_readable_bad_files_equal_the_truth(run):
    """Never a wrong number: every cell is the truth's value, or blank where the truth is."""
    got = _cells(run["wh"], str(run["bad"]))
    checked = 0
    for name in REPORTS:
        truth = _truth(name)
        if truth is None:
            continue
        cells = got[str(run["bad"] / name)]
        for key, want in truth["cells"].items():
            value, status = cells[key]
            if want is None:
                assert value is None and status == "blank", (name, key, value)
            else:
                assert value is not None and Decimal(str(value)) == Decimal(str(want)), \
                    (name, key, value, want)
        checked += 1
    assert checked == 9


def test_numbers_printed_as_words_and_full_width(run):
    cells = _cells(run["wh"], str(run["bad"]))[str(run["bad"] / "numbers_as_text.txt")]
    for key, (value, printed) in mbi.NUMBER_FORMS.items():
        assert cells[key] == (Decimal(value), "read"), (key, printed, cells[key])


def test_duplicate_reports_one_is_flagged(run):
    out = _outcomes(run["wh"], run["summary"].run_id)
    a, b = (out[str(run["bad"] / n)] for n in ("duplicate_a.txt", "duplicate_b.txt"))
    assert a["agency"] == b["agency"] and a["sha"] != b["sha"]
    flagged = [("report.duplicate", "error") in o["findings"] for o in (a, b)]
    assert sorted(flagged) == [False, True], (a["findings"], b["findings"])


def test_odd_file_names_load_and_print(run):
    from rich.console import Console

    import flows.cli as cli

    from tasks.extract import text_path

    out = _outcomes(run["wh"], run["summary"].run_id)
    for name in run["odd"]:
        stored = text_path(os.path.join(str(run["bad"]), name))
        assert out[stored]["status"] == "ok" and out[stored]["report"], (name, stored)
    # bytes that are not UTF-8 are kept as \\xNN escapes (the raw name cannot be stored)
    assert str(run["bad"] / "gbk-\\xc4\\xea.txt") in out
    # the summary names files with markup-like names verbatim instead of failing
    buf = io.StringIO()
    old = cli.out
    cli.out = Console(file=buf, width=300, highlight=False, soft_wrap=True)
    try:
        s = copy.copy(run["summary"])
        s.error_files = s.error_files + [(str(run["bad"] / "[red]markup[bold].txt"), "x.y",
                                          "原因[/]含[/bold]标记")]
        cli._print_summary(s)
    finally:
        cli.out = old
    text = buf.getvalue()
    assert "[red]markup[bold].txt" in text and "原因[/]含[/bold]标记" in text, text


def test_the_batch_went_on_and_nothing_was_lost(run):
    s = run["summary"]
    n_bad = len(mbi.BAD_KINDS) + len(mbi.ODD_NAMES)
    assert s.files == n_bad + 2
    assert s.errors == len(ERRORS) and len(s.error_files) == len(ERRORS)
    assert s.reports == len(REPORTS) + len(mbi.ODD_NAMES) + 2
    # the good reports of this run: loaded, every cell as in the truth
    good = _cells(run["wh"], str(run["good"]))
    assert len(good) == 2
    for path, cells in good.items():
        truth = json.loads(Path(path).with_suffix(".truth.json").read_text(encoding="utf-8"))
        for key, want in truth["cells"].items():
            value = cells[key][0]
            assert (value is None) == (want is None) and (
                want is None or Decimal(str(value)) == Decimal(str(want))), (path, key)
    # the earlier run's reports: still current, cells unchanged
    assert _cells(run["wh"], str(run["earlier"])) == run["before"]
    con = _con(run["wh"])
    try:
        orphans = con.execute("""SELECT count(*) FROM raw_cells c
            ANTI JOIN raw_reports r USING (sha256)""").fetchone()[0]
        short = con.execute("""SELECT count(*) FROM raw_reports r
            LEFT JOIN (SELECT sha256, count(*) n FROM raw_cells GROUP BY sha256) c USING (sha256)
            WHERE coalesce(c.n, 0) < 200""").fetchone()[0]
        reports = con.execute("SELECT count(*) FROM raw_reports WHERE is_current").fetchone()[0]
    finally:
        con.close()
    assert (orphans, short) == (0, 0)
    assert reports == 3 + s.reports


def test_glyph_ids_read_as_cjk_are_garbled():
    """cid.pdf's text layer, as pdfium reads it: glyph ids that land in CJK Extension A and
    symbols. Before the check it was taken for text (and the report for "not a report")."""
    from tasks.readers.pdf import classify_text

    gibberish = "㣋䈠䄸☪奐䶿䈮⪥◞⢠㝷䶿Ⱶ⟖䕮䥅鴯䄑✅殲鵲淧"
    assert classify_text(gibberish)[1] is True
    assert classify_text("娄底市人民政府2024年政府信息公开工作年度报告")[1] is False
    assert classify_text("本机关不掌握相关政府信息 12 3 0 申请人情况（商业企业）")[1] is False
