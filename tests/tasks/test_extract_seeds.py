"""The five real seed reports, extracted as they are."""
from __future__ import annotations

from tasks import spec
from tasks.extract import extract_file
from tasks.model import Status
from tests.conftest import seed


def _report(prefix):
    ex = extract_file(seed(prefix))
    assert ex.source.status == "ok", ex.source.error_message
    return ex.report


def test_seed_003_nonzero_cells_exact():
    r = _report("003")
    assert (r.agency, r.year, r.region_code) == ("湘潭县数据局", 2024, "430321")
    expected_nonzero = {
        "requests.new.natural_person": 2, "requests.new.total": 2,
        "requests.carried_over.natural_person": 1, "requests.carried_over.total": 1,
        "requests.unable_not_held.natural_person": 3, "requests.unable_not_held.total": 3,
        "requests.total.natural_person": 3, "requests.total.total": 3,
    }
    for k in spec.KEYS_2021:
        c = r.cells[k]
        assert c.status == Status.READ, k
        assert c.value == expected_nonzero.get(k, 0), k
    assert r.tables_found == ["proactive", "requests", "appeals"]
    assert r.warnings == []


def test_seed_003_provenance_points_at_the_printed_line():
    r = _report("003")
    c = r.cells["requests.unable_not_held.natural_person"]
    lines = seed("003").read_text(encoding="utf-8").splitlines()
    assert lines[c.source.line - 1].strip() == "3"
    assert "本机关不掌握相关政府信息" in c.source.row_label
    assert c.source.file.endswith(seed("003").name)


def test_seed_001_penalty_and_blank_carried_over_total():
    r = _report("001")
    assert r.agency == "湘乡市科技和工业信息化局"
    assert (r.year, r.region_code) == (2023, "430381")
    assert r.cells["proactive.penalty.decisions"].value == 1
    blank = r.cells["requests.carried_over.total"]
    assert blank.value is None and blank.status == Status.BLANK
    assert blank.source is not None and blank.source.line is not None   # where the blank is
    others = [k for k in spec.KEYS_2021 if k != "requests.carried_over.total"]
    assert all(r.cells[k].status == Status.READ for k in others)


def test_seed_002_unknown_agency_and_variant_wording():
    r = _report("002")
    assert r.agency is None            # the text says only 我局/本机关: not guessed
    assert r.year == 2025
    assert r.region_code is None
    # 其他法律法规规章禁止公开 (variant of 其他法律行政法规禁止公开) is matched to its row
    c = r.cells["requests.denied_prohibited_by_law.natural_person"]
    assert c.value == 0 and c.source is not None and "法律法规规章" in c.source.row_label
    # the row cut across the page break (其他处理 2) is still recognised
    assert r.cells["requests.other_fee_unpaid.total"].value == 0
    assert all(r.cells[k].value == 0 for k in spec.KEYS_2021)
    # rows that showed 5 or 6 numbers for 7 columns are inferred, never read
    assert r.cells["requests.denied_state_secret.total"].status == Status.INFERRED
    assert r.cells["requests.new.total"].status == Status.READ


def test_seed_004_rows_with_lost_cells_are_inferred_not_shifted():
    r = _report("004")
    assert r.agency == "湛河区工信局" and r.region_code == "410411" and r.year == 2025
    req = [k for k in spec.KEYS_2021 if k.startswith("requests.")]
    assert all(r.cells[k].status == Status.INFERRED for k in req)
    assert all(r.cells[k].value == 0 for k in req)
    assert all(r.cells[k].status == Status.READ for k in spec.KEYS_2021 if k.startswith("appeals."))
    assert not [w for w in r.warnings if w.code == "layout.lost_cells"]


def test_seed_000_all_read_zero():
    r = _report("000")
    assert (r.agency, r.year, r.region_code) == ("湘潭县科技和工业信息化局", 2025, "430321")
    assert all(r.cells[k].status == Status.READ and r.cells[k].value == 0 for k in spec.KEYS_2021)


def test_contract_json_has_all_200_keys():
    obj = _report("003").to_json()
    assert list(obj["cells"]) == list(spec.KEYS_2021)
    assert set(obj) >= {"file", "sha256", "format", "format_version", "agency", "year",
                        "region_code", "cells", "warnings"}
