"""Crashes mid-run, concurrent runs, a full disk: the warehouse and the outputs stay consistent.

Real processes: `nianbao run` is started as a subprocess on a generated corpus and SIGKILLed
at a known moment (the test-only pause hook of tasks/runlock.py: the run writes a marker file
and sleeps there), while it holds the run lock a second `nianbao run` is refused, and the next
run completes the work. The subprocesses talk to one Prefect test server (``prefect_api``).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parent.parent
NIANBAO = [sys.executable, "-c", "from flows.cli import main; main()"]
MARKER_TIMEOUT = 300.0      # a loaded CI machine may take long to start a run

_HARNESS: dict = {}


@pytest.fixture(scope="session")
def prefect_api() -> str:
    """One Prefect test server for this session's pipeline runs (in-process and subprocesses:
    they get its URL in PREFECT_API_URL). Shared by test modules that import this fixture."""
    if "url" not in _HARNESS:
        from prefect.settings import PREFECT_API_URL
        from prefect.testing.utilities import prefect_test_harness

        cm = prefect_test_harness(server_startup_timeout=240)
        cm.__enter__()
        _HARNESS.update(cm=cm, url=PREFECT_API_URL.value(), users=0)
    _HARNESS["users"] += 1
    yield _HARNESS["url"]
    _HARNESS["users"] -= 1
    if _HARNESS["users"] == 0 and "cm" in _HARNESS:
        _HARNESS.pop("cm").__exit__(None, None, None)
        _HARNESS.clear()


# ------------------------------------------------------------------------------ helpers
def _env(api: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NIANBAO_")}
    env.update(PREFECT_API_URL=api, PYTHONPATH=str(ROOT), COLUMNS="200", NO_COLOR="1",
               NIANBAO_WORKERS="1")
    env.update(extra)
    return env


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    f = open(log, "wb")
    try:
        return subprocess.Popen([*NIANBAO, *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        f.close()


def _wait_marker(proc: subprocess.Popen, marker: Path, log: Path) -> None:
    deadline = time.monotonic() + MARKER_TIMEOUT
    while not marker.exists():
        if proc.poll() is not None:
            pytest.fail(f"the run ended (exit {proc.returncode}) before pausing:\n"
                        + log.read_text(errors="replace")[-3000:])
        if time.monotonic() > deadline:
            _kill(proc)
            pytest.fail("the run never reached its pause point:\n" + log.read_text(errors="replace")[-3000:])
        time.sleep(0.1)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=60)


def _state(wh: Path) -> dict:
    """Everything the warehouse says about reports, after opening it as the next run would."""
    con = duckdb.connect(str(wh))
    try:
        q = lambda sql: con.execute(sql).fetchall()  # noqa: E731
        return {
            "reports": sorted(q("SELECT sha256, file, is_current FROM raw_reports")),
            "files": sorted(q("SELECT sha256, path, status FROM raw_source_files")),
            "cells": q("SELECT count(*), sum(hash(sha256, key, value, status)) FROM raw_cells")[0],
            "runs": dict(q("SELECT run_id, status FROM raw_runs")),
            "orphan_cells": q("SELECT count(*) FROM raw_cells ANTI JOIN raw_reports USING (sha256)")[0][0],
            "orphan_findings": q("SELECT count(*) FROM raw_findings ANTI JOIN raw_reports USING (sha256)")[0][0],
            "reports_without_file": q(
                "SELECT count(*) FROM raw_reports ANTI JOIN raw_source_files USING (sha256)")[0][0],
            "partial_reports": q("""SELECT count(*) FROM raw_reports r LEFT JOIN
                (SELECT sha256, count(*) AS n FROM raw_cells GROUP BY sha256) c USING (sha256)
                WHERE coalesce(c.n, 0) < 200""")[0][0],
        }
    finally:
        con.close()


def _consistent(state: dict) -> None:
    assert (state["orphan_cells"], state["orphan_findings"], state["reports_without_file"],
            state["partial_reports"]) == (0, 0, 0, 0), state


def _data(state: dict) -> dict:
    """The state without the run bookkeeping (a killed run may stay recorded as 'running')."""
    return {k: v for k, v in state.items() if k != "runs"}


def _no_killed_run_complete(before: dict, after: dict) -> None:
    new = {r: s for r, s in after["runs"].items() if r not in before["runs"]}
    assert all(s != "complete" for s in new.values()), new


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A generated batch to run, and a warehouse already holding an earlier batch."""
    from tasks.extract import extract_file
    from tasks.load import RunInfo, load_batch, open_warehouse
    from tasks.synth import generate

    tmp = tmp_path_factory.mktemp("faults")
    batch = tmp / "batch"
    generate(batch, agencies=4, years=(2024,), seed=601, defect_rate=0.0)
    earlier = tmp / "earlier"
    generate(earlier, agencies=2, years=(2024,), seed=602, defect_rate=0.0)
    wh = tmp / "wh.duckdb"
    exs = [extract_file(p) for p in sorted(earlier.glob("*.txt"))]
    con = open_warehouse(wh)
    try:
        load_batch(con, RunInfo("earlier-run"), [e.source for e in exs], [e.report for e in exs], {})
    finally:
        con.close()
    return {"tmp": tmp, "batch": batch, "wh": wh}


# ------------------------------------------------------------------------------ the real runs
def test_kill_concurrent_run_and_resume(prefect_api, corpus, monkeypatch, capsys):
    import flows.cli as cli
    from flows.pipeline import run_pipeline

    tmp, batch, wh = corpus["tmp"], corpus["batch"], corpus["wh"]
    monkeypatch.setenv("NIANBAO_WORKERS", "1")
    before = _state(wh)
    _consistent(before)
    assert len(before["reports"]) == 2

    # 1. a run killed inside the load transaction (every row written, COMMIT not yet sent)
    marker = tmp / "paused-load"
    log = tmp / "run-load.log"
    a = _start(["run", str(batch), "-w", str(wh)],
               _env(prefect_api, NIANBAO_TEST_PAUSE_AT="load", NIANBAO_TEST_PAUSE_MARKER=str(marker)),
               log)
    try:
        _wait_marker(a, marker, log)
        # 2. meanwhile a second `nianbao run` on the same warehouse waits, then refuses
        monkeypatch.setattr(sys, "argv", ["nianbao", "run", str(batch), "-w", str(wh), "--wait", "1"])
        with pytest.raises(SystemExit) as e:
            cli.main()
        err = capsys.readouterr().err
        assert e.value.code == 3, err
        assert "正在被另一个运行使用" in err and f"进程 {a.pid}" in err, err
        assert "已等待" in err and "--wait" in err, err
    finally:
        _kill(a)
    after_load_kill = _state(wh)
    _consistent(after_load_kill)
    assert _data(after_load_kill) == _data(before)     # nothing of the killed run, nothing lost
    _no_killed_run_complete(before, after_load_kill)

    # 3. a run killed during extraction
    marker = tmp / "paused-extract"
    log = tmp / "run-extract.log"
    d = _start(["run", str(batch), "-w", str(wh)],
               _env(prefect_api, NIANBAO_TEST_PAUSE_AT="extract", NIANBAO_TEST_PAUSE_MARKER=str(marker)),
               log)
    try:
        _wait_marker(d, marker, log)
    finally:
        _kill(d)
    after_extract_kill = _state(wh)
    assert _data(after_extract_kill) == _data(before)
    _no_killed_run_complete(before, after_extract_kill)

    # 4. the next run completes the work (the killed runs' locks died with them)
    summary = run_pipeline([str(batch)], str(wh))
    assert (summary.files, summary.reports, summary.errors) == (4, 4, 0)
    done = _state(wh)
    _consistent(done)
    assert len(done["reports"]) == 6 and set(before["reports"]) <= set(done["reports"])
    _assert_cells_match_truth(wh, batch)


def _assert_cells_match_truth(wh: Path, batch: Path) -> None:
    con = duckdb.connect(str(wh), read_only=True)
    try:
        for txt in sorted(batch.glob("*.txt")):
            truth = json.loads(txt.with_suffix(".truth.json").read_text(encoding="utf-8"))
            got = dict(con.execute("""SELECT c.key, c.value FROM raw_cells c JOIN raw_source_files f
                USING (sha256) WHERE f.path = ?""", [str(txt)]).fetchall())
            assert set(got) >= set(truth["cells"]), txt
            for k, want in truth["cells"].items():
                assert (got[k] is None) == (want is None), (txt.name, k)
                if want is not None:
                    assert Decimal(str(got[k])) == Decimal(str(want)), (txt.name, k)
    finally:
        con.close()


# ------------------------------------------------------------------------------ run lock
def test_run_lock_refuses_waits_and_is_released(tmp_path):
    from tasks.runlock import RunLockError, lock_path, read_holder, run_lock

    wh = tmp_path / "w.duckdb"
    with run_lock(wh) as lock:
        assert lock == lock_path(wh) and read_holder(lock)["pid"] == os.getpid()
        with pytest.raises(RunLockError) as e:
            with run_lock(wh, timeout=0.3):
                pass
        assert f"进程 {os.getpid()}" in str(e.value) and "同一时间只能有一个运行" in str(e.value)
        assert e.value.holder["pid"] == os.getpid()
    # released: taken again at once; a waiter gets it when the holder lets go
    with run_lock(wh):
        pass
    got = threading.Event()
    release = threading.Event()

    def holder():
        with run_lock(wh):
            got.set()
            release.wait(30)

    t = threading.Thread(target=holder)
    t.start()
    assert got.wait(30)
    threading.Timer(0.3, release.set).start()
    with run_lock(wh, timeout=60):            # waits for the thread, then holds the lock
        assert read_holder(lock_path(wh))["pid"] == os.getpid()
    t.join(30)
    assert not t.is_alive()


def test_pause_point_is_inert_without_both_variables(tmp_path, monkeypatch):
    from tasks import runlock

    marker = tmp_path / "m"
    monkeypatch.setenv(runlock.PAUSE_ENV, "load")
    monkeypatch.delenv(runlock.PAUSE_MARKER_ENV, raising=False)
    runlock.pause_point("load")                 # no marker variable: nothing happens
    monkeypatch.setenv(runlock.PAUSE_MARKER_ENV, str(marker))
    runlock.pause_point("extract")              # another point: nothing happens
    assert not marker.exists()

    def unpause():
        while not marker.exists():
            time.sleep(0.05)
        marker.unlink()

    t = threading.Thread(target=unpause)
    t.start()
    monkeypatch.setattr(runlock, "_paused", set())
    runlock.pause_point("load")                 # pauses until the marker is removed
    t.join(30)
    assert not marker.exists()


# ------------------------------------------------------------------------------ atomic writes
def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    from tasks.atomic import atomic_write, write_text

    p = tmp_path / "out" / "report.html"
    write_text(p, "v1")
    with pytest.raises(RuntimeError):
        with atomic_write(p, "w") as f:
            f.write("half of v2")
            raise RuntimeError("crash while writing")
    assert p.read_text() == "v1"
    assert sorted(x.name for x in p.parent.iterdir()) == ["report.html"]
    with atomic_write(p) as f:
        f.write(b"v2")
    assert p.read_bytes() == b"v2" and len(list(p.parent.iterdir())) == 1
    # permissions: a new file gets the umask's (not mkstemp's 0600), a rewrite keeps the old
    umask = os.umask(0o022)
    os.umask(umask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~umask
    p.chmod(0o640)
    write_text(p, "v3")
    assert p.stat().st_mode & 0o777 == 0o640 and p.read_text() == "v3"


_FSIZE_CHILD = r"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)          # a write past the limit fails (EFBIG)
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
from tasks.atomic import OutputError
from tasks import atomic
kind, out = sys.argv[1], sys.argv[2]
try:
    atomic.write_bytes(out + "/big.bin", b"x" * 1024 * 1024)
except OutputError as e:
    print("OUTPUT-ERROR", e.errno, e)
    sys.exit(1)
print("no error")
"""


def test_write_past_a_size_limit_fails_cleanly(tmp_path):
    """RLIMIT_FSIZE makes writes fail midway like a full disk: a clear error, no file left."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("old")
    p = subprocess.run([sys.executable, "-c", _FSIZE_CHILD, "bytes", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.returncode == 1, p.stdout + p.stderr
    assert "OUTPUT-ERROR 27" in p.stdout and "无法写入" in p.stdout and "文件超过系统允许的大小" in p.stdout
    assert sorted(x.name for x in out.iterdir()) == ["keep.txt"]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MB tmpfs (a really full disk); skipped where mounting is not allowed."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode(errors='replace').strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_full_disk_gives_a_clear_error_and_no_partial_file(tiny_disk, corpus, monkeypatch,
                                                          capsys):
    """`nianbao dashboard` (a 4 MB page: plotly.js inlined) onto a 1 MB disk: exit 1 with a
    sentence, no file; the workbook, which fits, is written whole."""
    import flows.cli as cli

    (tiny_disk / "keep.txt").write_text("old")
    monkeypatch.setattr(sys, "argv", ["nianbao", "dashboard", "-w", str(corpus["wh"]),
                                      "-o", str(tiny_disk / "dashboard.html")])
    with pytest.raises(SystemExit) as e:
        cli.main()
    err = capsys.readouterr().err.replace("\n", "")      # Rich wraps long lines
    assert e.value.code == 1 and "磁盘空间不足" in err and "dashboard.html" in err, err
    assert sorted(x.name for x in tiny_disk.iterdir()) == ["keep.txt"]

    monkeypatch.setattr(sys, "argv", ["nianbao", "rollup", "-w", str(corpus["wh"]),
                                      "-o", str(tiny_disk / "rollup.xlsx")])
    with pytest.raises(SystemExit) as e:
        cli.main()
    assert e.value.code == 0, capsys.readouterr().err
    from openpyxl import load_workbook

    assert load_workbook(tiny_disk / "rollup.xlsx").sheetnames
    assert sorted(x.name for x in tiny_disk.iterdir()) == ["keep.txt", "rollup.xlsx"]


def test_unwritable_output_path_gives_a_clear_error(tmp_path, corpus, monkeypatch, capsys):
    import flows.cli as cli

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setattr(sys, "argv", ["nianbao", "rollup", "-w", str(corpus["wh"]),
                                      "-o", str(blocker / "rollup.xlsx")])
    with pytest.raises(SystemExit) as e:
        cli.main()
    err = capsys.readouterr().err
    assert e.value.code == 1 and "无法" in err and "Traceback" not in err, err
    assert sorted(x.name for x in tmp_path.iterdir()) == ["not-a-folder"]
