"""Cells as the label matcher makes them (compact provenance) behave like plain Cell objects:
same `source`, equality, pickling (worker → flow), cells_frame."""
from __future__ import annotations

import copy
import pickle
from dataclasses import asdict

from tasks.extract import extract_file
from tasks.model import Cell, Provenance, Status, cells_frame
from tests.conftest import seed


def _report():
    ex = extract_file(seed("003"))
    assert ex.source.status == "ok", ex.source.error_message
    return ex.report


def test_located_cell_source_is_its_provenance():
    r = _report()
    c = r.cells["requests.new.total"]
    s = c.source
    assert isinstance(s, Provenance)
    assert s.file.endswith(seed("003").name) and s.text == "2" and s.col_label == "总计"
    assert "本年新收政府信息公开申请数量" in s.row_label
    lines = seed("003").read_text(encoding="utf-8").splitlines()
    assert lines[s.line - 1].strip() == "2"
    # the same cell built the plain way is equal to it
    assert Cell(c.value, c.status, Provenance(**asdict(s)), c.confidence) == c
    assert Cell(c.value, c.status, None, c.confidence) != c
    # a Provenance given to the constructor is kept as it is
    p = Provenance("x.pdf", page=2, col=3, text="5")
    assert Cell(5, Status.READ, p).source is p


def test_row_shares_one_location_and_pickles_compact():
    r = _report()
    row = [r.cells[k] for k in r.cells if k.startswith("requests.new.")]
    assert len({id(c._src) for c in row}) == 1      # one (file, table, row, label) per row
    back = pickle.loads(pickle.dumps(r))
    assert back.cells == r.cells
    row2 = [back.cells[k] for k in back.cells if k.startswith("requests.new.")]
    assert len({id(c._src) for c in row2}) == 1
    assert copy.deepcopy(r.cells["requests.new.total"]) == r.cells["requests.new.total"]
    plain = Cell(1, Status.INFERRED, Provenance("q.txt", line=4, text="1"))
    assert pickle.loads(pickle.dumps(plain)) == plain


def test_cells_frame_location_columns_match_source():
    r = _report()
    r.cells["requests.other.total"] = Cell(3, Status.INFERRED, Provenance("q.txt", line=9))
    df = cells_frame([r])
    rows = {d["key"]: d for d in df.iter_rows(named=True)}
    for k, c in r.cells.items():
        s = c.source
        got = rows[k]
        if s is None:
            assert got["line"] is None and got["raw"] is None, k
            continue
        assert (got["page"], got["line"], got["grid_table"], got["grid_row"], got["grid_col"],
                got["raw"]) == (s.page, s.line, s.table, s.row, s.col, s.text), k
    assert rows["requests.other.total"]["line"] == 9
