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
    memory grows with it (two batches of reports are held at most)."""
    return int(os.environ.get("NIANBAO_BATCH_SIZE", "") or 2000)


def province_hint() -> str | None:
    """Two-digit province code prefix of the office (e.g. "43"); narrows region matching."""
    return os.environ.get("NIANBAO_PROVINCE") or None


quiet_environment()
