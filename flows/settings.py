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


def default_warehouse() -> Path:
    return Path(os.environ.get("NIANBAO_WAREHOUSE", "nianbao.duckdb"))


def province_hint() -> str | None:
    """Two-digit province code prefix of the office (e.g. "43"); narrows region matching."""
    return os.environ.get("NIANBAO_PROVINCE") or None


quiet_environment()
