"""`nianbao serve` against a real Prefect server on loopback: the deployments are registered with
their schedules, and a triggered run of the daily check completes and fills the warehouse."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT.parent / "shared" / "seeds"
NIANBAO = Path(sys.executable).parent / "nianbao"


def write_settings(tmp: Path) -> Path:
    src = tmp / "reports"
    src.mkdir()
    for p in sorted(SEEDS.glob("*.txt"))[:3]:
        shutil.copy(p, src / p.name)
    settings = tmp / "serve.toml"
    settings.write_text("""
[pipeline]
inputs = ["reports"]
warehouse = "out/nianbao.duckdb"
workers = 1

[reports]
rollup_dir = "out/rollup"

[schedules]
timezone = "Asia/Shanghai"
check = "0 6 * 1-3 *"
rollup = "0 7 * * 1"
""", encoding="utf-8")
    return settings


@pytest.mark.slow
def test_serve_registers_scheduled_deployments_and_runs_one(prefect_server, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound
    from prefect.settings import PREFECT_API_URL, temporary_settings

    settings = write_settings(tmp_path)
    env = prefect_server.env(PREFECT_RUNNER_POLL_FREQUENCY="1")
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([str(NIANBAO), "serve", "--settings", str(settings)], env=env,
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        with temporary_settings({PREFECT_API_URL: prefect_server.api_url}):
            names = ("nianbao-check/daily-check", "nianbao-rollup/weekly-rollup",
                     "nianbao-run/on-demand")
            deps = {}
            with get_client(sync_client=True) as client:
                deadline = time.monotonic() + 180
                while time.monotonic() < deadline and len(deps) < len(names):
                    assert proc.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
                    for n in names:
                        try:
                            deps[n] = client.read_deployment_by_name(n)
                        except ObjectNotFound:
                            time.sleep(0.5)
            assert {"nianbao-check/daily-check", "nianbao-rollup/weekly-rollup",
                    "nianbao-run/on-demand"} <= set(deps)
            check = deps["nianbao-check/daily-check"]
            crons = [(s.schedule.cron, s.schedule.timezone) for s in check.schedules]
            assert crons == [("0 6 * 1-3 *", "Asia/Shanghai")]
            assert [s.schedule.cron for s in deps["nianbao-rollup/weekly-rollup"].schedules] \
                == ["0 7 * * 1"]
            assert deps["nianbao-run/on-demand"].schedules == []
            assert check.parameters == {"settings": str(settings)}

            run = run_deployment("nianbao-check/daily-check", timeout=300, poll_interval=1)
            assert run.state.is_completed(), (run.state, (tmp_path / "serve.log").read_text()[-3000:])
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    con = duckdb.connect(str(tmp_path / "out" / "nianbao.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM raw_reports").fetchall() == [(3,)]
        assert con.execute("SELECT status FROM raw_runs").fetchall() == [("complete",)]
    finally:
        con.close()
