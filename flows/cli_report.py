"""`nianbao report` and `nianbao notify`: data-quality reports to the agencies, and their delivery.

Registered on the main app by listing this module in ``flows.cli.COMMAND_MODULES``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from flows.cli import DEFAULT_WAREHOUSE, WarehouseOpt, app, console, out

DEFAULT_REPORTS = Path("dq_reports")
DEFAULT_OUTBOX = Path("outbox")
OFFICE_DEFAULT = "省政务公开办公室"

RosterOpt = Annotated[Optional[Path], typer.Option(
    "--roster", "-r", envvar="NIANBAO_ROSTER",
    help="Roster CSV: agency,region_code,level,category,email (see examples/roster.csv). "
         "Default: the roster loaded into the warehouse, if any.")]
OfficeOpt = Annotated[str, typer.Option(
    "--office", envvar="NIANBAO_OFFICE", help="Name of the sending office, printed in reports and e-mails.")]


@app.command()
def report(
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    outdir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the reports, summary and index.json.")] = DEFAULT_REPORTS,
    year: Annotated[Optional[int], typer.Option(help="Only reports on this year (default: all years).")] = None,
    roster: RosterOpt = None,
    pdf: Annotated[bool, typer.Option("--pdf/--no-pdf", help="Render the PDF of each report (WeasyPrint).")] = True,
    office: OfficeOpt = OFFICE_DEFAULT,
    workers: Annotated[Optional[int], typer.Option(min=1, help="Processes that render reports (default: the CPU cores).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the run summary as JSON.")] = False,
):
    """Write a data-quality report for every current report in the warehouse (a Prefect flow).

    Per agency and year: an HTML page, a PDF made from it and an XLSX of the findings, in OUT/<year>/. Also the province summary (province_summary.html, sortable; .xlsx with autofilters) and OUT/index.json, which `nianbao notify` delivers.

    With --roster, the roster's agencies that sent no report are listed. Reports whose content did not change since the last run are not rendered again.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from flows.report_flow import report_flow

    if not warehouse.exists():
        console.print(f"[red]数据仓库不存在：{warehouse}[/]（先运行 nianbao run）")
        raise typer.Exit(2)
    if roster is not None and not roster.exists():
        console.print(f"[red]名册不存在：{roster}[/]")
        raise typer.Exit(2)
    with Progress(TextColumn("[bold]生成核查意见"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True, disable=json_out) as bar:
        tid = bar.add_task("report", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(tid, completed=done, total=total)

        s = report_flow(str(warehouse), str(outdir), year, str(roster) if roster else None, pdf,
                        office, progress=progress, workers=workers or _cores())
    if json_out:
        d = dict(s.__dict__)
        d.pop("rows")
        out.print_json(json.dumps(d, ensure_ascii=False, default=str))
        return
    v = s.verdicts
    out.print(f"[bold]报告[/] {s.reports}（本次生成 {s.rendered}，未变化 {s.reused}）  "
              f"[green]通过 {v.get('通过', 0)}[/]  [red]需更正 {v.get('需更正', 0)}[/]  "
              f"[yellow]无法核对 {v.get('无法核对', 0)}[/]"
              + (f"  未报送 {s.missing}" if roster else ""))
    out.print(f"全省汇总：[bold]{s.summary_html}[/]  {s.summary_xlsx}")
    out.print(f"发送清单：{s.index}  （发送：nianbao notify --reports {s.outdir} --roster 名册.csv）")


@app.command()
def notify(
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    reports: Annotated[Path, typer.Option("--reports", help="Folder written by `nianbao report` (holds index.json).")] = DEFAULT_REPORTS,
    roster: RosterOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Write .eml files to --outbox instead of sending; the delivery log is not changed.")] = False,
    outbox: Annotated[Path, typer.Option(help="Folder for the .eml files of --dry-run.")] = DEFAULT_OUTBOX,
    resend: Annotated[bool, typer.Option("--resend", help="Send again even what the delivery log shows as sent.")] = False,
    agency: Annotated[Optional[list[str]], typer.Option("--agency", help="Only this agency (repeatable).")] = None,
    skip_passed: Annotated[bool, typer.Option("--skip-passed", help="Do not send reports whose verdict is 通过.")] = False,
    max_attempts: Annotated[int, typer.Option(min=1, max=10, help="Attempts per message for temporary failures (4xx, dropped connection).")] = 3,
    backoff: Annotated[float, typer.Option(min=0, help="Seconds before the first retry; doubled for each further retry.")] = 2.0,
    office: OfficeOpt = OFFICE_DEFAULT,
    json_out: Annotated[bool, typer.Option("--json", help="Print the outcomes as JSON.")] = False,
):
    """E-mail each agency its data-quality report (HTML body, PDF and XLSX attached) over SMTP.

    Each report version is sent once: the delivery log (warehouse table `deliveries`) records agency, report hash, time, status, Message-ID, attempts and error; a re-run sends only new or changed reports and retries failed ones. Recipients come from the roster's email column. Exit code 1 when a delivery failed.

    SMTP settings come from the environment only, never from the command line: NIANBAO_SMTP_HOST, NIANBAO_SMTP_PORT, NIANBAO_SMTP_USER, NIANBAO_SMTP_PASSWORD, NIANBAO_SMTP_TLS (starttls | ssl | none; default starttls), NIANBAO_SMTP_FROM (e.g. "省政务公开办 <gk@example.gov.cn>"), optional NIANBAO_SMTP_CAFILE (CA bundle for a private server certificate) and NIANBAO_SMTP_TIMEOUT (seconds).
    """
    from flows.report_flow import notify_flow
    from tasks.notify import SettingsError, SmtpSettings

    if roster is None and not _warehouse_has_roster(warehouse):
        console.print("[red]需要名册：--roster 名册.csv（或环境变量 NIANBAO_ROSTER，或先把名册载入数据仓库）[/]")
        raise typer.Exit(2)
    for p, what in ((roster, "名册"), (reports / "index.json", "发送清单（先运行 nianbao report）")):
        if p is not None and not p.exists():
            console.print(f"[red]{what}不存在：{p}[/]")
            raise typer.Exit(2)
    try:
        SmtpSettings.from_env().check(sending=not dry_run)
    except SettingsError as e:
        console.print(f"[red]邮件设置有误：{e}[/]")
        raise typer.Exit(2)
    if not warehouse.exists() and not dry_run:
        console.print(f"[red]数据仓库不存在：{warehouse}[/]")
        raise typer.Exit(2)
    wh = str(warehouse) if warehouse.exists() else None
    s = notify_flow(wh, str(reports), str(roster) if roster else None,
                    outbox=str(outbox) if dry_run else None,
                    resend=resend, only=agency, skip_passed=skip_passed, office=office,
                    max_attempts=max_attempts, backoff=backoff)
    if json_out:
        out.print_json(json.dumps(s.__dict__, ensure_ascii=False, default=str))
    else:
        from flows.report_flow import STATUS_TEXT

        out.print("  ".join(f"{STATUS_TEXT.get(k, k)} {n}" for k, n in sorted(s.counts.items()))
                  or "没有需要发送的报告")
        for o in s.outcomes:
            if o["状态"] in ("failed", "no_recipient"):
                out.print(f"  [red]✗[/] {escape(str(o['机关']))} {escape(str(o['收件人']))}: "
                          f"{escape(str(o['错误']))}")
        if s.outbox:
            out.print(f"发件箱：{s.outbox}")
    if any(o["状态"] == "failed" for o in s.outcomes):
        raise typer.Exit(1)


def _warehouse_has_roster(warehouse: Path) -> bool:
    if not warehouse.exists():
        return False
    from tasks.dq_report import warehouse_roster
    from tasks.load import open_warehouse

    con = open_warehouse(warehouse, read_only=True)
    try:
        return bool(warehouse_roster(con))
    finally:
        con.close()


def _cores() -> int:
    import os

    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:       # not Linux
        return max(1, os.cpu_count() or 1)
