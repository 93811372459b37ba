"""Run control: one pipeline run at a time per warehouse, and the test-only pause hook.

``run_lock(warehouse, timeout)`` holds an exclusive ``fcntl.flock`` on ``<warehouse>.lock``
(a file beside the warehouse) for the whole run. A second run on the same warehouse waits up
to ``timeout`` seconds for it, then gives up with :class:`RunLockError`, whose message
(Chinese) names the process holding the lock and since when. The kernel drops the lock when
its holder exits in any way, SIGKILL included, so a crashed run never leaves a stale lock: the
file stays (removing it would race with a waiting run), its content is only informative.

``pause_point(name)`` lets a test stop a real run at a known moment (to SIGKILL it there):
it does nothing unless BOTH ``NIANBAO_TEST_PAUSE_AT=<name>`` and
``NIANBAO_TEST_PAUSE_MARKER=<file>`` are set; then it creates the marker file and sleeps
while the marker exists (at most ``MAX_PAUSE`` seconds). Deleting the marker lets the run go on.
Points: ``extract`` (the pipeline, after the first extraction batch), ``load`` (inside the
load transaction, every row written, just before COMMIT).
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator

PAUSE_ENV = "NIANBAO_TEST_PAUSE_AT"
PAUSE_MARKER_ENV = "NIANBAO_TEST_PAUSE_MARKER"
MAX_PAUSE = 600.0
POLL = 0.1
_paused: set[str] = set()     # each point pauses once per process


class RunLockError(RuntimeError):
    """Another run holds the warehouse. ``str(e)`` is a Chinese sentence for people."""

    def __init__(self, message: str, holder: dict | None = None):
        super().__init__(message)
        self.holder = holder or {}


def lock_path(warehouse: str | Path) -> Path:
    return Path(str(warehouse) + ".lock")


def read_holder(lock: str | Path) -> dict:
    """What the current (or last) holder wrote into the lock file: pid, host, started, argv."""
    try:
        return json.loads(Path(lock).read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return {}


def _busy_message(warehouse: str | Path, holder: dict, waited: float) -> str:
    who = []
    if holder.get("pid"):
        who.append(f"进程 {holder['pid']}")
    if holder.get("host") and holder.get("host") != socket.gethostname():
        who.append(f"主机 {holder['host']}")
    if holder.get("started"):
        who.append(f"开始于 {holder['started']}")
    whom = f"（{'，'.join(who)}）" if who else ""
    wait = f"已等待 {waited:.0f} 秒仍未结束；" if waited >= 1 else ""
    return (f"数据仓库 {warehouse} 正在被另一个运行使用{whom}。{wait}"
            f"同一数据仓库同一时间只能有一个运行：请等它结束后再试，或用 --wait 秒数 等待它结束。")


@contextmanager
def run_lock(warehouse: str | Path, timeout: float = 0.0) -> Iterator[Path | None]:
    """Hold the warehouse's run lock for the block. `timeout` seconds to wait for another run
    (0: refuse at once). Raises RunLockError. An in-memory warehouse needs no lock."""
    if str(warehouse) == ":memory:":
        yield None
        return
    lock = lock_path(warehouse)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    start = time.monotonic()
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - start
                if waited >= timeout:
                    raise RunLockError(_busy_message(warehouse, read_holder(lock), waited),
                                       read_holder(lock)) from None
                time.sleep(min(0.2, max(0.01, timeout - waited)))
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": datetime.now().astimezone().isoformat(timespec="seconds"),
                "argv": sys.argv[:8]}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info, ensure_ascii=False).encode("utf-8"), 0)
    except BaseException:
        os.close(fd)
        raise
    try:
        yield lock
    finally:
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        os.close(fd)       # closing the descriptor releases the flock


def pause_point(name: str) -> None:
    """Test-only hook (see the module docstring); a no-op unless both variables are set."""
    if os.environ.get(PAUSE_ENV) != name:
        return
    marker = os.environ.get(PAUSE_MARKER_ENV)
    if not marker or name in _paused:
        return
    _paused.add(name)
    m = Path(marker)
    m.write_text(f"{os.getpid()} {name}\n", encoding="utf-8")
    deadline = time.monotonic() + MAX_PAUSE
    while m.exists() and time.monotonic() < deadline:
        time.sleep(POLL)
