"""Operations commands: `nianbao fetch`, `nianbao serve`, `nianbao deploy` (registered on the
main app through flows.cli.COMMAND_MODULES)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from flows.cli import DEFAULT_WAREHOUSE, WarehouseOpt, app, console, out

SettingsOpt = Annotated[Path, typer.Option(
    "--settings", "-s", envvar="NIANBAO_SETTINGS", exists=True, dir_okay=False,
    help="Settings TOML: inputs, warehouse, URL list, schedules (see examples/nianbao-serve.toml).")]


# ----------------------------------------------------------------------------------- fetch
@app.command()
def fetch(
    urls: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                         help="Text file, one URL per line (# comments).")],
    archive: Annotated[Path, typer.Option(
        "--archive", "-a", envvar="NIANBAO_ARCHIVE",
        help="Archive folder: objects/ (every content) and files/ (what `run` ingests).")] = Path("archive"),
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    rate: Annotated[float, typer.Option(min=0, help="Seconds between two requests to one host.")] = 1.0,
    allow_network: Annotated[Optional[list[str]], typer.Option(
        "--allow-network", envvar="NIANBAO_FETCH_ALLOW",
        help="Private/loopback network allowed anyway (CIDR, repeatable), e.g. 127.0.0.0/8.")] = None,
    max_mb: Annotated[float, typer.Option(min=0.01, help="Largest file accepted, in MB.")] = 50.0,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per request.")] = 30.0,
    json_out: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
):
    """Download report pages and their PDF/DOC/DOCX attachments politely into the archive (a
    Prefect flow). Then: nianbao run ARCHIVE/files."""
    from flows.pipeline import fetch_flow

    res = fetch_flow(str(urls), str(archive), str(warehouse), rate=rate,
                     allowed_networks=list(allow_network or []), max_mb=max_mb, timeout=timeout)
    if json_out:
        out.print_json(json.dumps(res, ensure_ascii=False, default=str))
        return
    names = {"fetched": "已下载", "not_modified": "未变化", "refused": "已拒绝", "failed": "失败",
             "too_large": "过大", "skipped": "非报告文件"}
    out.print("  ".join(f"[bold]{names.get(k, k)}[/] {n}" for k, n in sorted(res["counts"].items())))
    for r in res["results"]:
        if r["outcome"] not in ("fetched", "not_modified"):
            out.print(f"  [yellow]{names.get(r['outcome'], r['outcome'])}[/] {escape(r['url'])}："
                      f"{escape(r['error'] or '')}")
    out.print(f"存档：[bold]{escape(res['files'])}[/]  （处理：nianbao run {escape(res['files'])}）")


# ------------------------------------------------------------------------- serve / deploy
def _healthy(api_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{api_url}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def start_server(host: str, port: int, timeout: float = 180.0) -> tuple[subprocess.Popen, str]:
    """`prefect server start` as a child process (quiet); returns it and its API URL."""
    api = f"http://{host}:{port}/api"
    env = dict(os.environ)
    env.pop("PREFECT_API_URL", None)
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_SERVER_LOGGING_LEVEL="CRITICAL")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "prefect"), "server", "start",
                             "--host", host, "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"Prefect 服务器启动失败（退出码 {proc.returncode}）")
        if _healthy(api):
            return proc, api
        time.sleep(0.5)
    stop_server(proc)
    raise RuntimeError("Prefect 服务器在规定时间内没有启动")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


@app.command()
def serve(
    settings: SettingsOpt,
    port: Annotated[Optional[int], typer.Option(help="Port of the Prefect server started here "
                                                      "(default: the settings' server.port).")] = None,
):
    """Serve the scheduled deployments (daily check in January–March, weekly roll-up, report and
    notify after each check). Uses the Prefect server at PREFECT_API_URL, or starts one on
    loopback (its UI at http://127.0.0.1:PORT shows the runs)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.deployments import ServeSettings, build_deployments, serve_all

    s = ServeSettings.load(settings)
    build_deployments(settings)        # fail early on a bad settings file
    proc = None
    api = os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()
    if not api:
        proc, api = start_server(s.server_host, port or s.server_port)
        console.print(f"Prefect 服务器：{api.removesuffix('/api')}")
    os.environ["PREFECT_API_URL"] = api     # flow-run processes started by the runner
    try:
        with temporary_settings({PREFECT_API_URL: api}):
            serve_all(settings)
    except KeyboardInterrupt:
        pass
    finally:
        if proc is not None:
            stop_server(proc)


@app.command()
def deploy(settings: SettingsOpt):
    """Create or update the deployments on the Prefect server at PREFECT_API_URL (no serving)."""
    from prefect.settings import PREFECT_API_URL

    from flows.deployments import deploy as _deploy

    if not (os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value()):
        console.print("[red]未设置 PREFECT_API_URL：请先启动 Prefect 服务器（或用 nianbao serve）[/]")
        raise typer.Exit(2)
    for name in _deploy(settings):
        out.print(name)
