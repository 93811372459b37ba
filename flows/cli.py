"""The `nianbao` command line. Every command has --help; logs are quiet by default.

Other command groups live in their own modules (listed in COMMAND_MODULES) and register on `app`.
"""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

from flows import settings  # noqa: F401  (must precede prefect/GX imports)

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(
    name="nianbao",
    help="nianbao（年报）：政府信息公开工作年度报告的采集、核对与汇总。\n\n"
         "Collect, check and roll up the annual government-information-disclosure reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console(stderr=True)
out = Console(highlight=False, soft_wrap=True)

WarehouseOpt = Annotated[Path, typer.Option("--warehouse", "-w", help="DuckDB warehouse file.",
                                            envvar="NIANBAO_WAREHOUSE")]
DEFAULT_WAREHOUSE = Path("nianbao.duckdb")


def _setup_logging(verbose: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("great_expectations", "prefect", "httpx", "pdfminer", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.ERROR)


@app.callback()
def _main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug logs.")] = False):
    _setup_logging(verbose)


# ------------------------------------------------------------------------------------- run
@app.command()
def run(
    inputs: Annotated[list[Path], typer.Argument(help="Report files or folders (walked recursively).")],
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    manifest: Annotated[Optional[Path], typer.Option(
        help="CSV file,agency,year,region_code that overrides what documents say.")] = None,
    province: Annotated[Optional[str], typer.Option(
        help="Two-digit province code prefix used to disambiguate region names, e.g. 43.",
        envvar="NIANBAO_PROVINCE")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON.")] = False,
    wait: Annotated[float, typer.Option(
        "--wait", min=0, envvar="NIANBAO_LOCK_WAIT",
        help="Seconds to wait for another run on the same warehouse to finish (default: refuse at once).")] = 0.0,
    workers: Annotated[Optional[int], typer.Option(
        "--workers", min=1, envvar="NIANBAO_WORKERS",
        help="Extraction processes (default: one per core; 1: no process pool).")] = None,
    dask_address: Annotated[Optional[str], typer.Option(
        "--dask-address", envvar="NIANBAO_DASK_ADDRESS",
        help="Extract on this Dask scheduler (e.g. tcp://10.0.0.5:8786) instead of local processes.")] = None,
    full: Annotated[bool, typer.Option(
        "--full", help="Re-extract and re-validate every file, not only new or changed ones "
                       "(implies --rehash).")] = False,
    rehash: Annotated[bool, typer.Option(
        "--rehash", help="Read and hash every file again instead of trusting the stat cache "
                         "(<warehouse>.hashes: size, mtime, ctime and inode unchanged means "
                         "content unchanged).")] = False,
):
    """Run the whole pipeline (a Prefect flow): ingest, extract, validate, load, roll up.

    One run at a time per warehouse (a lock file beside it): a second run waits --wait seconds,
    then stops with a message."""
    # Prefect's temporary API server starts in the background first (flows/settings.py): it
    # comes up while this process imports Prefect and hashes the inputs
    server = settings.early_temporary_server()
    try:
        _run(inputs, warehouse, manifest, province, json_out, wait, workers, dask_address, full,
             rehash, server)
    finally:
        if server is not None:
            server.stop()


def _run(inputs, warehouse, manifest, province, json_out, wait, workers, dask_address, full,
         rehash, server) -> None:
    import contextlib

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from flows.pipeline import run_pipeline

    api = contextlib.nullcontext()
    if server is not None:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        api = temporary_settings({PREFECT_API_URL: server.api_url()})
    with api, Progress(TextColumn("[bold]提取"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True, disable=json_out) as bar:
        tid = bar.add_task("extract", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(tid, completed=done, total=total)

        summary = run_pipeline([str(i) for i in inputs], str(warehouse),
                               str(manifest) if manifest else None, province, progress=progress,
                               lock_timeout=wait, workers=workers, dask_address=dask_address,
                               full=full, rehash=rehash)
    if json_out:
        out.print_json(json.dumps(summary.__dict__, ensure_ascii=False, default=str))
        return
    _print_summary(summary)


def _print_summary(s) -> None:
    from rich.table import Table

    out.print(f"[bold]文件[/] {s.files}  [bold]报告[/] {s.reports}  [bold]无法读取[/] {s.errors}"
              f"  [bold]有错误的报告[/] {s.reports_with_errors}"
              + (f"  [dim]跳过非报告文件 {s.skipped}[/]" if s.skipped else ""))
    if hasattr(s, "extracted"):     # incremental run (flows/pipeline.py)
        out.print(f"[dim]本次提取 {s.extracted}  重新核对 {s.revalidated}  未变化 {s.unchanged}"
                  f"  撤回 {len(s.withdrawn)}[/]")
    if s.findings_by_rule:
        t = Table(title="发现的问题（按规则）", title_justify="left")
        t.add_column("规则")
        t.add_column("数量", justify="right")
        for rule, n in sorted(s.findings_by_rule.items(), key=lambda kv: (-kv[1], kv[0])):
            t.add_row(rule, str(n))
        out.print(t)
    if s.error_files:
        t = Table(title="无法读取的文件", title_justify="left")
        t.add_column("文件", overflow="fold")
        t.add_column("原因", overflow="fold")
        for path, code, msg in s.error_files[:20]:
            t.add_row(escape(path), f"{escape(msg)} [dim]({escape(code)})[/]")
        if len(s.error_files) > 20:
            t.add_row("…", f"另有 {len(s.error_files) - 20} 个")
        out.print(t)
    timings = "  ".join(f"{k} {v:.1f}s" for k, v in s.timings.items())
    out.print(f"[dim]耗时：{timings}[/]")
    wh = escape(str(s.warehouse))
    out.print(f"数据仓库：[bold]{wh}[/]  （查询：nianbao sql \"SELECT * FROM mart_rollup_province\" -w {wh}）")


# --------------------------------------------------------------------------------- extract
@app.command()
def extract(
    files: Annotated[list[Path], typer.Argument(help="Report files or folders.")],
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON object per file per line.")] = False,
    detail: Annotated[bool, typer.Option(help="Include each cell's status and provenance.")] = False,
    manifest: Annotated[Optional[Path], typer.Option(help="Manifest CSV overriding metadata.")] = None,
    province: Annotated[Optional[str], typer.Option(envvar="NIANBAO_PROVINCE",
                                                    help="Province code prefix, e.g. 43.")] = None,
):
    """Extract the 200 cells and the metadata of each file (no validation, no warehouse)."""
    from tasks.extract import extract_file
    from tasks.ingest import discover
    from tasks.metadata import load_manifest

    man = load_manifest(manifest) if manifest else None
    found = discover(files)
    for m in found.missing:
        console.print(f"[red]找不到：{escape(str(m))}[/]")
    for p in found.files:
        ex = extract_file(p, manifest=man, province_hint=province)
        obj = _extraction_json(ex, detail)
        if json_lines:
            sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
        else:
            _print_extraction(obj)
    if found.missing:
        raise typer.Exit(2)


def _extraction_json(ex, detail: bool = False) -> dict:
    if ex.report is None:
        s = ex.source
        return {"file": s.path, "sha256": s.sha256, "format": s.format, "error": {
            "code": s.error_code, "message": s.error_message}}
    return ex.report.detail_json() if detail else ex.report.to_json()


def _print_extraction(obj: dict) -> None:
    if "error" in obj:
        out.print(f"[red]✗[/] {escape(obj['file'])}: {escape(obj['error']['message'] or '')}"
                  f" [dim]({escape(obj['error']['code'] or '')})[/]")
        return
    cells = obj["cells"]
    blank = sum(1 for v in cells.values() if v is None)
    out.print(f"[green]✓[/] {escape(obj['file'])}: {escape(obj['agency'] or '（机关未知）')} {obj['year'] or '（年度未知）'}"
              f" 区划 {obj['region_code'] or '未知'}  {obj['format']}/{obj['format_version']}"
              f"  空白 {blank}  提示 {len(obj['warnings'])}")
    for w in obj["warnings"]:
        out.print(f"    [yellow]![/] {escape(w['message'])} [dim]({escape(w['code'])})[/]")


# ----------------------------------------------------------------------------------- check
@app.command()
def check(
    files: Annotated[list[Path], typer.Argument(help="Report files or folders.")],
    json_lines: Annotated[bool, typer.Option("--json", help="One JSON object per file per line.")] = False,
    manifest: Annotated[Optional[Path], typer.Option(help="Manifest CSV overriding metadata.")] = None,
    province: Annotated[Optional[str], typer.Option(envvar="NIANBAO_PROVINCE",
                                                    help="Province code prefix, e.g. 43.")] = None,
):
    """Extract and validate (GX suites over the whole batch); print the findings of each file."""
    from tasks.extract import extract_file
    from tasks.ingest import discover
    from tasks.metadata import load_manifest
    from tasks.validate import validate

    man = load_manifest(manifest) if manifest else None
    found = discover(files)
    exs = [extract_file(p, manifest=man, province_hint=province) for p in found.files]
    findings = validate([e.report for e in exs if e.report is not None])
    n_err = 0
    for ex in exs:
        if ex.report is None:
            obj = _extraction_json(ex)
        else:
            r = ex.report
            obj = {k: r.to_json()[k] for k in ("file", "sha256", "format", "format_version",
                                                "agency", "year", "region_code")}
            obj["findings"] = [f.as_dict() for f in findings.get(r.sha256, [])]
            obj["warnings"] = [w.as_dict() for w in r.warnings]
            n_err += any(f["severity"] == "error" for f in obj["findings"])
        if json_lines:
            sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
        else:
            _print_check(obj)
    for m in found.missing:
        console.print(f"[red]找不到：{escape(str(m))}[/]")


def _print_check(obj: dict) -> None:
    if "error" in obj:
        _print_extraction(obj)
        return
    errs = [f for f in obj["findings"] if f["severity"] == "error"]
    mark = "[red]✗[/]" if errs else "[green]✓[/]"
    out.print(f"{mark} {escape(obj['file'])}: {escape(obj['agency'] or '（机关未知）')} {obj['year'] or ''}"
              f"  错误 {len(errs)}  警告 {len(obj['findings']) - len(errs)}")
    for f in obj["findings"]:
        color = "red" if f["severity"] == "error" else "yellow"
        out.print(f"    [{color}]{f['rule']}[/] {escape(f['message'])}")


# ------------------------------------------------------------------------------------- sql
@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="A read-only SQL query.")],
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table | csv | json")] = "table",
    limit: Annotated[int, typer.Option(help="Rows shown in table format.")] = 200,
):
    """Query the warehouse read-only (it cannot write or attach other files)."""
    from tasks.query import QueryError, run_query

    if fmt not in ("table", "csv", "json"):
        raise typer.BadParameter("--format must be table, csv or json")
    if not warehouse.exists():
        console.print(f"[red]数据仓库不存在：{escape(str(warehouse))}[/]")
        raise typer.Exit(2)
    try:
        cols, rows = run_query(warehouse, query)
    except QueryError as e:
        console.print(f"[red]{escape(str(e))}[/]")
        raise typer.Exit(1)
    if fmt == "json":
        for r in rows:
            sys.stdout.write(json.dumps(dict(zip(cols, r)), ensure_ascii=False, default=str) + "\n")
    elif fmt == "csv":
        import csv

        w = csv.writer(sys.stdout)
        w.writerow(cols)
        w.writerows(rows)
    else:
        from rich.table import Table

        t = Table(*(escape(str(c)) for c in cols))
        for r in rows[:limit]:
            t.add_row(*("" if v is None else escape(str(v)) for v in r))
        out.print(t)
        if len(rows) > limit:
            out.print(f"[dim]（共 {len(rows)} 行，仅显示前 {limit} 行；用 --format csv 导出全部）[/]")


# ----------------------------------------------------------------------------------- synth
@app.command()
def synth(
    outdir: Annotated[Path, typer.Argument(help="Folder to write the sample reports into.")],
    agencies: Annotated[int, typer.Option(help="Number of agencies.")] = 50,
    years: Annotated[str, typer.Option(help="Comma-separated report years.")] = "2023,2024",
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 0,
    formats: Annotated[str, typer.Option(help="Comma-separated formats to write.")] = "txt",
    defect_rate: Annotated[float, typer.Option(help="Share of reports with planted defects.")] = 0.3,
):
    """Write a realistic province of sample reports with truth files and planted defects."""
    from tasks.synth import generate

    ys = [int(y) for y in years.split(",") if y.strip()]
    fs = [f.strip() for f in formats.split(",") if f.strip()]
    paths = generate(outdir, agencies=agencies, years=ys, seed=seed, defect_rate=defect_rate,
                     formats=fs)
    out.print(f"已生成 {len(paths)} 份报告及其真值文件：{outdir}")


# Command groups owned by other modules register themselves on `app` when imported.
COMMAND_MODULES: tuple[str, ...] = ("flows.cli_report", "flows.cli_rollup", "flows.cli_ops")


def _register() -> None:
    import importlib

    for m in COMMAND_MODULES:
        importlib.import_module(m)


def main() -> None:
    from tasks.atomic import OutputError
    from tasks.runlock import RunLockError

    _register()
    try:
        app()
    except RunLockError as e:       # another run holds the warehouse (tasks/runlock.py)
        console.print(f"[red]{escape(str(e))}[/]")
        sys.exit(3)
    except OutputError as e:        # disk full, folder not writable … (tasks/atomic.py)
        console.print(f"[red]{escape(str(e))}[/]")
        sys.exit(1)
    except OSError as e:            # any other file-system failure: a sentence, no traceback
        from tasks.atomic import describe_os_error

        console.print(f"[red]{escape(describe_os_error(e, verb='访问'))}[/]")
        sys.exit(1)


if __name__ == "__main__":
    main()
