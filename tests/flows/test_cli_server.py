"""`nianbao run` without PREFECT_API_URL: the CLI starts Prefect's temporary server itself, in
the background before importing Prefect (flows/settings.py, TemporaryServer); the flow runs
against it, the server is gone when the command ends, and a re-run over unchanged files reads
none of them again (the stat cache beside the warehouse)."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT.parent / "shared" / "seeds"
NIANBAO = Path(sys.executable).parent / "nianbao"


def processes_with(marker: str) -> list[int]:
    """Pids of live processes whose environment contains `marker`."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if marker.encode() in (d / "environ").read_bytes():
                out.append(int(d.name))
        except OSError:
            continue
    return out


def test_run_starts_and_stops_its_temporary_server(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for p in sorted(SEEDS.glob("*.txt"))[:2]:
        shutil.copy(p, src / p.name)
    home = tmp_path / "prefect-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "NIANBAO_"))}
    env.update(PREFECT_HOME=str(home), NIANBAO_WORKERS="1", PYTHONPATH=str(ROOT))
    wh = tmp_path / "w.duckdb"
    time.sleep(2.1)            # the copies are older than the stat cache's racy window

    def run(*extra: str) -> dict:
        p = subprocess.run([str(NIANBAO), "run", str(src), "-w", str(wh), "--json", *extra],
                           env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600,
                           stdin=subprocess.DEVNULL)
        assert p.returncode == 0, p.stderr[-3000:]
        return json.loads(p.stdout)

    first = run()
    assert first["status"] == "complete" and first["extracted"] == 2 and first["hashed"] == 2
    assert processes_with(f"PREFECT_HOME={home}\0") == []         # server stopped
    second = run()
    assert second["hashed"] == 0 and second["unchanged"] == 2 and second["extracted"] == 0
    # the flow runs were recorded by the server in this PREFECT_HOME
    db = sqlite3.connect(home / "prefect.db")
    try:
        names = db.execute("""SELECT f.name, r.state_type FROM flow_run AS r
                              JOIN flow AS f ON f.id = r.flow_id""").fetchall()
    finally:
        db.close()
    assert names.count(("nianbao-run", "COMPLETED")) == 2
