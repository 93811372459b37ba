"""The main flow through the real CLI (`nianbao run` in a subprocess, Prefect server on loopback):
a second run over the same input leaves the warehouse identical and extracts nothing."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tasks.synth import generate

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT.parent / "shared" / "seeds"
NIANBAO = Path(sys.executable).parent / "nianbao"

RUN_TABLES = {"raw_runs", "raw_file_sightings"}        # what a later run may add to
RUN_COLUMNS = {"first_seen_run", "loaded_run", "processed_run", "run_id", "restored_run",
               "withdrawn_at", "applied_at"}


def snapshot(path: Path, drop_run_columns: bool = False,
             skip: set[str] = RUN_TABLES) -> dict[str, list[tuple]]:
    """Every table's rows (sorted), except `skip`; optionally without run-id columns (to compare
    warehouses written by different runs)."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT internal ORDER BY 1").fetchall()]
        out = {}
        for t in tables:
            if t in skip:
                continue
            cols = [r[0] for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index",
                [t]).fetchall()]
            if drop_run_columns:
                cols = [c for c in cols if c not in RUN_COLUMNS]
            sel = ", ".join(f'"{c}"' for c in cols)
            out[t] = con.execute(f'SELECT {sel} FROM "{t}" ORDER BY ALL').fetchall()
        return out
    finally:
        con.close()


def province(d: Path, agencies: int = 20) -> Path:
    generate(d, agencies=agencies, years=[2023, 2024], seed=5, defect_rate=0.4)
    for p in sorted(SEEDS.glob("*.txt")):
        shutil.copy(p, d / p.name)
    (d / "unreadable.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    return d


def nianbao(args: list[str], env: dict, cwd: Path) -> dict:
    p = subprocess.run([str(NIANBAO), *args], env=env, cwd=cwd, capture_output=True, text=True,
                       timeout=600, stdin=subprocess.DEVNULL)
    assert p.returncode == 0, p.stderr[-3000:]
    return json.loads(p.stdout)


@pytest.mark.slow
def test_cli_run_twice_leaves_the_warehouse_identical(prefect_server, tmp_path):
    src = province(tmp_path / "in", agencies=8)
    wh = tmp_path / "out" / "nianbao.duckdb"
    env = prefect_server.env(NIANBAO_BATCH_SIZE="10")
    args = ["run", str(src), "-w", str(wh), "--manifest", str(src / "manifest.csv"),
            "--workers", "2", "--json"]
    first = nianbao(args, env, tmp_path)
    assert first["status"] == "complete" and first["executor"] == "processes(2)"
    assert first["extracted"] == first["files"] == 22 and first["errors"] == 1
    assert first["batches"] == 3 and first["load"]["cells_written"] >= 200 * first["reports"]
    before = snapshot(wh)
    assert len(before["raw_reports"]) == first["reports"] and before["raw_findings"]
    assert len(before["raw_processing"]) == first["files"]

    second = nianbao(args, env, tmp_path)
    assert second["run_id"] != first["run_id"]
    assert (second["extracted"], second["revalidated"], second["unchanged"]) == (0, 0, 22)
    assert second["findings_by_rule"] == first["findings_by_rule"]
    assert snapshot(wh) == before
    con = duckdb.connect(str(wh), read_only=True)
    try:
        runs = con.execute("SELECT run_id, status FROM raw_runs ORDER BY started").fetchall()
        seen = con.execute("SELECT run_id, count(*) FROM raw_file_sightings GROUP BY 1").fetchall()
    finally:
        con.close()
    assert runs == [(first["run_id"], "complete"), (second["run_id"], "complete")]
    assert dict(seen) == {first["run_id"]: 22, second["run_id"]: 22}
