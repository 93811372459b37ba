"""The lost-cell solver fills only what the identities determine."""
from __future__ import annotations

from tasks import spec
from tasks.extract import extract_document
from tasks.model import Status
from tasks.readers.text import read_text

COLS = spec.REQUEST_COLUMNS


def _labels():
    from tasks.spec import cell_index
    out = {}
    for c in spec.cells_2021():
        if c.table == "requests":
            out[c.row_key] = c.row_label.split("（", 1)[-1] if "（" in c.row_label[:4] else c.row_label
    return out


def _tab_report(rows: dict[str, list[int | None]], drop: dict[str, list[int]]) -> bytes:
    """A tab-separated (layout B) report: values of `rows`, with the columns in `drop` lost."""
    lines = ["湘潭县测试局2024年政府信息公开工作年度报告",
             "本报告所列数据的统计期限为2024年1月1日至2024年12月31日。",
             "三、收到和处理政府信息公开申请情况"]
    for rk in spec.REQUEST_ROWS:
        label = next(c.row_label for c in spec.cells_2021() if c.table == "requests" and c.row_key == rk)
        leaf = label.split("）", 1)[-1] if label.startswith("三、（") else label
        leaf = leaf.replace("三、本年度办理结果", "")
        vals = [v for i, v in enumerate(rows[rk]) if i not in drop.get(rk, [])]
        lines.append("\t".join([leaf, *map(str, vals), ""]))
    return ("\n".join(lines) + "\n").encode("utf-8")


def _consistent():
    rows = {rk: [0] * 7 for rk in spec.REQUEST_ROWS}
    rows["new"] = [5, 1, 0, 0, 0, 0, 6]
    rows["carried_over"] = [1, 0, 0, 0, 0, 0, 1]
    rows["granted"] = [3, 1, 0, 0, 0, 0, 4]
    rows["unable_not_held"] = [2, 0, 0, 0, 0, 0, 2]
    rows["total"] = [5, 1, 0, 0, 0, 0, 6]
    rows["carried_forward"] = [1, 0, 0, 0, 0, 0, 1]
    return rows


def _extract(data: bytes):
    doc = read_text("t.txt", data, "0" * 64)
    return extract_document(doc)


def test_nonzero_row_with_one_lost_cell_is_inferred():
    rows = _consistent()
    r = _extract(_tab_report(rows, {"granted": [1]}))      # the commercial 1 is lost
    for i, col in enumerate(COLS):
        c = r.cells[f"requests.granted.{col}"]
        assert c.value == rows["granted"][i], col
    assert r.cells["requests.granted.commercial"].status == Status.INFERRED
    assert r.cells["requests.granted.natural_person"].status == Status.READ
    assert not [w for w in r.warnings if w.code == "layout.lost_cells"]


def test_two_lost_cells_determined_by_column_identities():
    rows = _consistent()
    r = _extract(_tab_report(rows, {"granted": [0, 6]}))   # 自然人 3 and 总计 4 lost
    assert [r.cells[f"requests.granted.{c}"].value for c in COLS] == rows["granted"]
    assert r.cells["requests.granted.total"].status == Status.INFERRED


def test_undeterminable_cells_stay_blank_with_a_warning():
    rows = _consistent()
    # lose cells in two rows of the same columns: column sums cannot split them
    r = _extract(_tab_report(rows, {"granted": [0, 6], "unable_not_held": [0, 6]}))
    assert r.cells["requests.granted.natural_person"].value is None
    assert r.cells["requests.granted.natural_person"].status == Status.BLANK
    lost = [w for w in r.warnings if w.code == "layout.lost_cells"]
    assert len(lost) == 2 and "予以公开" in lost[0].message
    # nothing was shifted into a wrong column
    for k, c in r.cells.items():
        if c.value is not None and k.startswith("requests."):
            rk, col = k.split(".")[1:]
            assert c.value == rows[rk][COLS.index(col)], k


def test_inconsistent_report_is_not_inferred():
    rows = _consistent()
    rows["total"][0] = 9          # an arithmetic error in the report itself
    rows["total"][6] = 10
    r = _extract(_tab_report(rows, {"granted": [1]}))
    # with the error, no placement is consistent → blank, not a guess
    assert r.cells["requests.granted.commercial"].value is None
