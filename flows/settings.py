"""Runtime settings and the quiet-by-default environment for Prefect and GX.

Imported first by the CLI and the flows, before Prefect is imported, so the environment it sets
takes effect. Values come from the environment (NIANBAO_*), with embedded defaults that make
`make demo` work on a fresh machine: a local DuckDB file and Prefect's local mode.
"""
from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _setdefault(name: str, value: str) -> None:
    if not os.environ.get(name):
        os.environ[name] = value


def quiet_environment() -> None:
    _setdefault("PREFECT_HOME", str(PROJECT_ROOT / ".prefect"))
    _setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    _setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    _setdefault("PREFECT_SERVER_LOGGING_LEVEL", "CRITICAL")
    _setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    _setdefault("PREFECT_RESULTS_PERSIST_BY_DEFAULT", "false")
    _setdefault("GX_ANALYTICS_ENABLED", "false")
    _setdefault("TQDM_DISABLE", "1")
    # a loaded 2-core machine can take longer than Prefect's default 20 s to start its
    # temporary server
    _setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    # polars' allocator (jemalloc, read when polars is first imported) returns freed pages at
    # once instead of after ~10 s: the flow process's load frames (~60 MB a batch of 1,000)
    # no longer linger into the next batch — ~120 MB less RSS after a batch load, the peak
    # ~50 MB lower, the same speed (measured)
    _setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:0,muzzy_decay_ms:0")


class TemporaryServer:
    """Prefect's temporary API server (what a flow starts itself when PREFECT_API_URL is unset:
    uvicorn on prefect.server.api.server:create_app, ephemeral services, no UI, SQLite in
    PREFECT_HOME), started by the CLI *before* it imports Prefect, so the server's start-up
    (~6 s CPU: importing the server, migrations check, block registration) runs on the other
    core while this process imports Prefect, hashes and plans. `api_url()` waits until it
    answers; the flow is then run with PREFECT_API_URL pointing at it. Stopped at exit."""

    def __init__(self) -> None:
        import atexit

        self.proc = None
        self.port = 0
        self._launch()
        atexit.register(self.stop)

    def _launch(self) -> None:
        import importlib.util
        import socket
        import subprocess
        import sys

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        spec = importlib.util.find_spec("prefect")
        app_dir = Path(list(spec.submodule_search_locations)[0]).parent
        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
               "PREFECT__SERVER_FINAL": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir), "--factory",
             "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port",
             str(self.port), "--log-level", "error", "--lifespan", "on"],
            env=env, stdin=subprocess.DEVNULL)

    def api_url(self, timeout: float | None = None) -> str:
        """The server's API URL once /health answers (RuntimeError if it does not start)."""
        import time
        import urllib.request

        timeout = timeout or float(os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"])
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.port}/api"
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code == 3:           # uvicorn could not bind: the port was taken meanwhile
                self._launch()
                url = f"http://127.0.0.1:{self.port}/api"
                continue
            if code is not None:
                raise RuntimeError(f"Prefect 临时服务器启动失败（退出码 {code}）")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        return url
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Prefect 临时服务器在 {timeout:.0f} 秒内未能启动")

    def stop(self) -> None:
        import subprocess

        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def early_temporary_server() -> TemporaryServer | None:
    """Start the temporary server now when a flow would start one anyway (no PREFECT_API_URL,
    ephemeral mode allowed, NIANBAO_EARLY_SERVER not 0); None otherwise (an already running
    server given by PREFECT_API_URL is simply used by the flow)."""
    if os.environ.get("PREFECT_API_URL") or os.environ.get("NIANBAO_EARLY_SERVER") == "0":
        return None
    if os.environ.get("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true").lower() in ("0", "false"):
        return None
    if _profile_sets_api_url():
        return None
    return TemporaryServer()


def _profile_sets_api_url() -> bool:
    """Whether the active Prefect profile ($PREFECT_HOME/profiles.toml) names an API URL."""
    import tomllib

    try:
        with open(Path(os.environ["PREFECT_HOME"]) / "profiles.toml", "rb") as f:
            data = tomllib.load(f)
    except (OSError, ValueError, KeyError):
        return False
    active = os.environ.get("PREFECT_PROFILE") or data.get("active") or "ephemeral"
    profile = (data.get("profiles") or {}).get(active) or {}
    return bool(profile.get("PREFECT_API_URL"))


def default_warehouse() -> Path:
    return Path(os.environ.get("NIANBAO_WAREHOUSE", "nianbao.duckdb"))


def workers() -> int | None:
    """Extraction processes (NIANBAO_WORKERS); None: one per core, 1: no process pool."""
    v = os.environ.get("NIANBAO_WORKERS", "").strip()
    return int(v) if v else None


def dask_address() -> str | None:
    """Dask scheduler to extract on (NIANBAO_DASK_ADDRESS, e.g. tcp://10.0.0.5:8786)."""
    return os.environ.get("NIANBAO_DASK_ADDRESS", "").strip() or None


def batch_size() -> int:
    """Files per extraction/validation/load batch (NIANBAO_BATCH_SIZE): one transaction each;
    memory grows with it (one batch of reports is live at a time, the next one waits
    packed)."""
    return int(os.environ.get("NIANBAO_BATCH_SIZE", "") or 1000)


def province_hint() -> str | None:
    """Two-digit province code prefix of the office (e.g. "43"); narrows region matching."""
    return os.environ.get("NIANBAO_PROVINCE") or None


quiet_environment()
