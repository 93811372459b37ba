"""The scheduled deployments, in one place (Prefect's examples style).

    python -m flows.deployments --settings nianbao-serve.toml   # create/update them, then serve
    nianbao serve  --settings nianbao-serve.toml                  # the same (starts a server if
                                                                  # PREFECT_API_URL is not set)
    nianbao deploy --settings nianbao-serve.toml                  # create/update only

Reports are due by 31 January and the county/city aggregates by 31 March, and agencies
republish corrected reports along the way. So, from the settings file (TOML, see
``examples/nianbao-serve.toml``):

| deployment | flow | schedule (default) |
|---|---|---|
| ``nianbao-check/daily-check`` | fetch the URL list (if any), run the pipeline over the inputs and the fetch archive, then the data-quality reports and notify the agencies (if a roster is set) | ``0 6 * 1-3 *`` every day January–March, 06:00 Asia/Shanghai |
| ``nianbao-rollup/weekly-rollup`` | the province/city/county roll-up as CSV files | ``0 7 * * 1`` Mondays 07:00 |
| ``nianbao-run/on-demand`` | the pipeline alone (corrected reports republished) | none: run it from the UI or `prefect deployment run` |
| ``nianbao-report/on-demand``, ``nianbao-notify/on-demand`` | the report and notify flows, when flows/report_flow.py is present | none |

Every flow takes the settings file's path as its parameter, so edits to the file apply to the
next run without redeploying.
"""
from __future__ import annotations

import argparse
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flows import settings as _settings  # noqa: F401  (quiet environment first)
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

DEFAULT_TZ = "Asia/Shanghai"
DEFAULT_CHECK_CRON = "0 6 * 1-3 *"      # daily in January to March
DEFAULT_ROLLUP_CRON = "0 7 * * 1"       # weekly, Mondays


@dataclass
class ServeSettings:
    """The settings file, resolved (relative paths are relative to the file's folder)."""
    path: Path
    inputs: list[str] = field(default_factory=list)
    warehouse: str = "nianbao.duckdb"
    manifest: str | None = None
    province: str | None = None
    workers: int | None = None
    dask_address: str | None = None
    urls: str | None = None               # URL list for `fetch` before each check
    archive: str = "archive"
    rate: float = 1.0
    allowed_networks: list[str] = field(default_factory=list)
    reports_dir: str | None = None        # data-quality reports after each check
    roster: str | None = None
    notify: bool = False                  # e-mail after each check (SMTP from the environment)
    outbox: str | None = None             # dry run: write .eml files here instead of sending
    rollup_dir: str = "rollup"
    timezone: str = DEFAULT_TZ
    check_cron: str | None = DEFAULT_CHECK_CRON
    rollup_cron: str | None = DEFAULT_ROLLUP_CRON
    server_host: str = "127.0.0.1"
    server_port: int = 4200

    @classmethod
    def load(cls, path: str | Path) -> "ServeSettings":
        path = Path(path).resolve()
        with open(path, "rb") as f:
            raw = tomllib.load(f)
        base = path.parent

        def p(v: str | None) -> str | None:
            return None if not v else str((base / v).resolve()) if not os.path.isabs(v) else v

        pl, fe, rp = raw.get("pipeline", {}), raw.get("fetch", {}), raw.get("reports", {})
        sc, sv = raw.get("schedules", {}), raw.get("server", {})
        return cls(
            path=path, inputs=[p(i) for i in pl.get("inputs", [])],
            warehouse=p(pl.get("warehouse", "nianbao.duckdb")), manifest=p(pl.get("manifest")),
            province=pl.get("province") or None, workers=pl.get("workers") or None,
            dask_address=pl.get("dask_address") or None,
            urls=p(fe.get("urls")), archive=p(fe.get("archive", "archive")),
            rate=float(fe.get("rate", 1.0)),
            allowed_networks=list(fe.get("allowed_networks", [])),
            reports_dir=p(rp.get("outdir")), roster=p(rp.get("roster")),
            notify=bool(rp.get("notify", False)), outbox=p(rp.get("outbox")),
            rollup_dir=p(rp.get("rollup_dir", "rollup")),
            timezone=sc.get("timezone", DEFAULT_TZ),
            check_cron=sc.get("check", DEFAULT_CHECK_CRON) or None,
            rollup_cron=sc.get("rollup", DEFAULT_ROLLUP_CRON) or None,
            server_host=sv.get("host", "127.0.0.1"), server_port=int(sv.get("port", 4200)))


# ----------------------------------------------------------------------------------- flows
@task(name="fetch", cache_policy=NO_CACHE)
def fetch_task(urls_file: str, archive: str, warehouse: str, rate: float,
               allowed_networks: list[str]) -> dict[str, int]:
    from flows.pipeline import fetch_fn

    return fetch_fn(urls_file, archive, warehouse, rate=rate, allowed_networks=allowed_networks)


@flow(name="nianbao-check", log_prints=False)
def check_flow(settings: str) -> dict[str, Any]:
    """Ingest and check: fetch (if a URL list is set), run the pipeline, then report and notify
    (if a roster / reports folder is set)."""
    from flows.pipeline import run_pipeline

    s = ServeSettings.load(settings)
    out: dict[str, Any] = {}
    inputs = list(s.inputs)
    if s.urls:
        out["fetch"] = fetch_task(s.urls, s.archive, s.warehouse, s.rate, s.allowed_networks)
        files = Path(s.archive) / "files"
        if files.is_dir():
            inputs.append(str(files))
    run = run_pipeline(inputs, s.warehouse, s.manifest, s.province, workers=s.workers,
                       dask_address=s.dask_address)
    out["run"] = {k: getattr(run, k) for k in ("run_id", "status", "files", "reports", "errors",
                                               "reports_with_errors", "extracted", "unchanged")}
    out["run"]["withdrawn"] = len(run.withdrawn)
    if s.reports_dir:
        try:
            from flows.report_flow import notify_flow, report_flow
        except ImportError:          # report flows not installed
            get_run_logger().warning("flows.report_flow missing: no reports, no notification")
            return out
        rep = report_flow(s.warehouse, s.reports_dir, roster=s.roster)
        out["report"] = {"reports": rep.reports, "rendered": rep.rendered}
        if s.notify and s.roster:
            note = notify_flow(s.warehouse, s.reports_dir, s.roster, outbox=s.outbox)
            out["notify"] = dict(note.counts)
    return out


@task(name="rollup-csv", cache_policy=NO_CACHE)
def rollup_csv(warehouse: str, outdir: str) -> dict[str, int]:
    from tasks.load import open_warehouse
    from tasks.rollup import query_frame

    Path(outdir).mkdir(parents=True, exist_ok=True)
    con = open_warehouse(warehouse, read_only=True)
    counts = {}
    try:
        for level in ("province", "city", "county"):
            frame = query_frame(con, f"SELECT * FROM mart_rollup_{level} "
                                     "ORDER BY year, region_code, key")
            tmp = Path(outdir) / f".rollup_{level}.csv.tmp"
            frame.write_csv(tmp)
            os.replace(tmp, Path(outdir) / f"rollup_{level}.csv")
            counts[level] = frame.height
    finally:
        con.close()
    return counts


@flow(name="nianbao-rollup", log_prints=False)
def rollup_flow(settings: str) -> dict[str, int]:
    """The roll-up by province, city and county as CSV files in the settings' rollup_dir."""
    s = ServeSettings.load(settings)
    counts = rollup_csv(s.warehouse, s.rollup_dir)
    create_markdown_artifact(
        key="nianbao-rollup",
        markdown="# 汇总\n\n" + "\n".join(f"- {lvl}：{n} 行（rollup_{lvl}.csv）"
                                          for lvl, n in counts.items())
                 + f"\n\n文件夹：{s.rollup_dir}",
        description="全省、市、县汇总表")
    return counts


# ----------------------------------------------------------------------------- deployments
def build_deployments(settings_path: str | Path) -> list:
    """The RunnerDeployments for a settings file (not yet applied or served)."""
    from flows.pipeline import run_pipeline

    s = ServeSettings.load(settings_path)
    params = {"settings": str(s.path)}

    def schedule(cron: str | None) -> dict:
        from prefect.schedules import Cron

        return {"schedule": Cron(cron, timezone=s.timezone)} if cron else {}

    deps = [
        check_flow.to_deployment(name="daily-check", parameters=params,
                                 description="每日采集与核对（1–3 月）", tags=["nianbao"],
                                 **schedule(s.check_cron)),
        rollup_flow.to_deployment(name="weekly-rollup", parameters=params,
                                  description="每周汇总", tags=["nianbao"],
                                  **schedule(s.rollup_cron)),
        run_pipeline.to_deployment(
            name="on-demand", tags=["nianbao"], description="按需运行（更正后重新发布的报告）",
            parameters={"inputs": s.inputs or [str(Path(s.archive) / "files")],
                        "warehouse": s.warehouse, "manifest": s.manifest,
                        "province_hint": s.province}),
    ]
    try:
        from flows.report_flow import notify_flow, report_flow
    except ImportError:
        return deps
    if s.reports_dir:
        deps.append(report_flow.to_deployment(
            name="on-demand", tags=["nianbao"], description="生成核查意见",
            parameters={"warehouse": s.warehouse, "outdir": s.reports_dir, "roster": s.roster}))
        if s.roster:
            deps.append(notify_flow.to_deployment(
                name="on-demand", tags=["nianbao"], description="发送核查意见",
                parameters={"warehouse": s.warehouse, "reports_dir": s.reports_dir,
                            "roster": s.roster, "outbox": s.outbox}))
    return deps


def deploy(settings_path: str | Path) -> list[str]:
    """Create or update the deployments on the server (PREFECT_API_URL); their full names."""
    names = []
    for d in build_deployments(settings_path):
        d.apply()
        names.append(f"{d.flow_name}/{d.name}")
    return names


def serve_all(settings_path: str | Path, limit: int | None = None) -> None:
    """Create/update the deployments and serve them (blocks; Ctrl-C stops)."""
    from prefect import serve

    serve(*build_deployments(settings_path), limit=limit, print_starting_message=False)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Create and serve the nianbao deployments.")
    ap.add_argument("--settings", required=True, help="settings TOML file")
    ap.add_argument("--deploy-only", action="store_true", help="create/update, do not serve")
    args = ap.parse_args(argv)
    if args.deploy_only:
        for n in deploy(args.settings):
            print(n)
    else:
        serve_all(args.settings)


if __name__ == "__main__":
    main()
