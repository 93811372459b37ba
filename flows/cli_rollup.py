"""`nianbao rollup`, `nianbao dashboard` and `nianbao roster …`: the roll-up as a product.

Registered on the main app by listing this module in ``flows.cli.COMMAND_MODULES``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.markup import escape

from flows.cli import DEFAULT_WAREHOUSE, WarehouseOpt, app, console, out

YearOpt = Annotated[Optional[int], typer.Option(help="Report year (default: the latest in the warehouse).")]
FailingOpt = Annotated[str, typer.Option(
    "--failing", help="Reports with errors (identities violated, invalid values, duplicates): "
                      "include | exclude.")]


def _open(warehouse: Path, write: bool = False):
    from tasks.load import open_warehouse

    if not warehouse.exists():
        console.print(f"[red]数据仓库不存在：{escape(str(warehouse))}[/]（先运行 nianbao run）")
        raise typer.Exit(2)
    # a writable open applies new schema files and refreshes the views
    return open_warehouse(warehouse, read_only=not write)


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise typer.BadParameter(f"{name} must be one of {', '.join(choices)}")


@app.command()
def rollup(
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    year: YearOpt = None,
    level: Annotated[str, typer.Option(help="Finest sheet level: province | city | county.")] = "county",
    region: Annotated[Optional[str], typer.Option(
        help="Only this region (GB/T 2260 code or name) and the regions inside it.")] = None,
    failing: FailingOpt = "include",
    blanks: Annotated[str, typer.Option(
        help="Totals with blank cells: sum (sum the numbers given, mark the cell) | empty "
             "(leave the total empty).")] = "sum",
    output: Annotated[Path, typer.Option("--out", "-o", help="XLSX file to write.")] = Path("rollup.xlsx"),
):
    """Write the roll-up workbook in the official three-table layout: one sheet per region
    (the province, then each city, then each county), with the reports included, excluded and
    missing stated on each sheet."""
    from tasks.rollup import LEVELS
    from tasks.rollup_workbook import BLANKS, FAILING, write_workbook

    _check_choice("--level", level, LEVELS)
    _check_choice("--failing", failing, FAILING)
    _check_choice("--blanks", blanks, BLANKS)
    con = _open(warehouse, write=True)
    try:
        path, sheets = write_workbook(con, output, year=year, level=level, region=region,
                                      failing=failing, blanks=blanks)
    except ValueError as e:
        console.print(f"[red]{escape(str(e))}[/]")
        raise typer.Exit(1)
    finally:
        con.close()
    first = sheets[0]
    out.print(f"已写入 [bold]{escape(str(path))}[/]：{first.year}年，{len(sheets)} 个工作表"
              f"（{first.short_name} 纳入 {first.included} 份报告）")


@app.command()
def dashboard(
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    year: YearOpt = None,
    failing: FailingOpt = "include",
    output: Annotated[Path, typer.Option("--out", "-o", help="HTML file to write.")] = Path("dashboard.html"),
):
    """Write a static HTML dashboard (one file, charts included, opens offline): coverage by
    city and county, applications by outcome and applicant type, year-on-year change,
    administrative review and litigation rates, top findings."""
    from tasks.dashboard import write_dashboard
    from tasks.rollup_workbook import FAILING

    _check_choice("--failing", failing, FAILING)
    con = _open(warehouse, write=True)
    try:
        path, d = write_dashboard(con, output, year=year, include_errors=failing == "include")
    except ValueError as e:
        console.print(f"[red]{escape(str(e))}[/]")
        raise typer.Exit(1)
    finally:
        con.close()
    out.print(f"已写入 [bold]{escape(str(path))}[/]：{d.province}{d.year}年，报告 {d.reports} 份，"
              f"未报送 {len(d.missing)} 个机关，名单外报告 {len(d.unmatched)} 份")


roster_app = typer.Typer(help="The agency roster: who is expected to report (coverage).",
                         no_args_is_help=True)
app.add_typer(roster_app, name="roster")


@roster_app.command("load")
def roster_load(
    roster_csv: Annotated[Path, typer.Argument(help="Roster CSV: agency,region_code,level,category,email.")],
    aliases: Annotated[Optional[Path], typer.Option(
        help="Alias CSV: alias,agency,region_code (spellings the automatic matching misses).")] = None,
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
):
    """Load (replace) the roster in the warehouse, match every report to it, and re-run the
    cross-report rules (an agency's reports across years are found through the roster)."""
    from tasks.coverage import load_roster
    from tasks.crosscheck import crosscheck

    for p in (roster_csv, aliases):
        if p is not None and not p.exists():
            console.print(f"[red]文件不存在：{escape(str(p))}[/]")
            raise typer.Exit(2)
    con = _open(warehouse, write=True)
    try:
        n = load_roster(con, roster_csv, aliases)
        crosscheck(con, None)
        matched = con.execute("SELECT rule, count(*) FROM report_agency r JOIN raw_reports "
                              "USING (sha256) WHERE is_current GROUP BY rule ORDER BY rule").fetchall()
    except ValueError as e:
        console.print(f"[red]{escape(str(e))}[/]")
        raise typer.Exit(1)
    finally:
        con.close()
    how = "，".join(f"{rule} {k}" for rule, k in matched) or "无报告"
    out.print(f"名单已载入：{n} 个机关；当前报告的匹配方式：{how}")


@roster_app.command("status")
def roster_status(
    warehouse: WarehouseOpt = DEFAULT_WAREHOUSE,
    year: YearOpt = None,
    region: Annotated[Optional[str], typer.Option(help="Only this region (code).")] = None,
):
    """Coverage for a year: roster agencies with no report, reports of no roster agency."""
    from rich.table import Table

    from tasks.coverage import coverage, unmatched
    from tasks.rollup_workbook import latest_year

    con = _open(warehouse)
    try:
        year = year if year is not None else latest_year(con)
        cov = coverage(con, year, region)
        un = unmatched(con, year, region)
    finally:
        con.close()
    if cov.is_empty():
        out.print("[yellow]未加载名单（nianbao roster load 名单.csv）[/]")
    else:
        counts = dict(cov.group_by("status").len().iter_rows())
        out.print(f"{year}年：名单 {cov.height} 个机关，已报送 {counts.get('reported', 0)}，"
                  f"已报送（有错误）{counts.get('reported_with_errors', 0)}，"
                  f"未报送 {counts.get('missing', 0)}")
        miss = cov.filter(cov["status"] == "missing")
        if miss.height:
            t = Table("未报送的机关", "地区", "电子邮箱", title_justify="left")
            for r in miss.iter_rows(named=True):
                t.add_row(escape(r["agency"]), escape(r["region_name"] or ""), escape(r["email"] or ""))
            out.print(t)
    if un.height:
        t = Table("名单外的报告（机关名称）", "文件", title_justify="left")
        for r in un.iter_rows(named=True):
            t.add_row(escape(r["agency"] or "（未识别）"), escape(r["file"]))
        out.print(t)
