"""Prefect flows for the data-quality reports: `report` (after validation and load) and `notify`.

Both are thin wrappers around :mod:`tasks.dq_report` and :mod:`tasks.notify`; each run leaves
Prefect artifacts: a table of agencies and verdicts (or delivery outcomes) and a markdown note
with links to the files.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flows import settings  # noqa: F401  (quiet environment before prefect is imported)
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from tasks import dq_report, notify as _notify

ARTIFACT_ROWS = 500          # rows shown in a table artifact (the XLSX has all of them)


@dataclass
class ReportRunSummary:
    outdir: str
    reports: int
    rendered: int
    reused: int
    verdicts: dict[str, int]
    missing: int
    summary_html: str
    summary_xlsx: str
    index: str
    rows: list[dict] = field(default_factory=list)      # agency, year, verdict, errors, hints, pdf


@dataclass
class NotifyRunSummary:
    counts: dict[str, int]
    dry_run: bool
    outbox: str | None
    outcomes: list[dict] = field(default_factory=list)


def _file_link(path: str | None) -> str:
    return Path(path).resolve().as_uri() if path else ""


# ------------------------------------------------------------------------------ report
def generate_fn(warehouse: str, outdir: str, year: int | None = None, roster: str | None = None,
                pdf: bool = True, office: str = dq_report.DEFAULT_OFFICE,
                progress=None, workers: int = 1) -> ReportRunSummary:
    from tasks.load import open_warehouse

    entries = dq_report.load_roster(roster) if roster else None
    con = open_warehouse(warehouse, read_only=True)
    try:
        res = dq_report.generate_reports(con, outdir, year=year, roster=entries, pdf=pdf,
                                         office=office, progress=progress, workers=workers)
    finally:
        con.close()
    rows = [{"机关": r.agency, "年度": r.year, "结论": r.verdict, "错误": r.errors, "提示": r.hints,
             "地区": f"{r.city} {r.county}", "PDF": _file_link(str(Path(outdir) / r.pdf)) if r.pdf else ""}
            for r in res.summary.rows]
    return ReportRunSummary(outdir=res.outdir, reports=len(res.reports), rendered=res.rendered,
                            reused=res.reused, verdicts=res.verdicts,
                            missing=len(res.summary.missing), summary_html=res.summary_html,
                            summary_xlsx=res.summary_xlsx, index=res.index, rows=rows)


@task(name="dq-reports", cache_policy=NO_CACHE)
def generate_task(warehouse: str, outdir: str, year: int | None, roster: str | None, pdf: bool,
                  office: str, progress=None, workers: int = 1) -> ReportRunSummary:
    return generate_fn(warehouse, outdir, year, roster, pdf, office, progress, workers)


def report_markdown(s: ReportRunSummary) -> str:
    v = s.verdicts
    lines = [
        "# 年报数据核查意见",
        "",
        f"共 {s.reports} 份报告（本次生成 {s.rendered}，未变化沿用 {s.reused}）：",
        f"通过 {v.get('通过', 0)} · 需更正 {v.get('需更正', 0)} · 无法核对 {v.get('无法核对', 0)}"
        f" · 名册中未报送 {s.missing}",
        "",
        f"- 全省汇总（网页）：[{Path(s.summary_html).name}]({_file_link(s.summary_html)})",
        f"- 全省汇总（XLSX）：[{Path(s.summary_xlsx).name}]({_file_link(s.summary_xlsx)})",
        f"- 发送清单：[{Path(s.index).name}]({_file_link(s.index)})",
        f"- 输出目录：`{s.outdir}`",
    ]
    return "\n".join(lines)


@flow(name="nianbao-report", log_prints=False)
def report_flow(warehouse: str, outdir: str, year: int | None = None, roster: str | None = None,
                pdf: bool = True, office: str = dq_report.DEFAULT_OFFICE,
                progress=None, workers: int = 1) -> ReportRunSummary:
    """Agency reports (HTML, PDF, XLSX), the province summary and index.json from the warehouse.
    `workers` > 1 renders on that many processes."""
    s = generate_task(warehouse, outdir, year, roster, pdf, office, progress, workers)
    create_table_artifact(key="dq-report-verdicts", table=s.rows[:ARTIFACT_ROWS],
                          description=f"各机关核查结论（{s.reports} 份报告）")
    create_markdown_artifact(key="dq-report-summary", markdown=report_markdown(s),
                             description="数据核查意见与全省汇总")
    return s


# ------------------------------------------------------------------------------ notify
def notify_fn(warehouse: str | None, reports_dir: str, roster: str | None, outbox: str | None = None,
              resend: bool = False, only: list[str] | None = None, skip_passed: bool = False,
              office: str = dq_report.DEFAULT_OFFICE, max_attempts: int = 3,
              backoff: float = 2.0, smtp: _notify.SmtpSettings | None = None,
              progress=None) -> NotifyRunSummary:
    reports = dq_report.read_index(reports_dir)
    settings_ = smtp or _notify.SmtpSettings.from_env()
    con = None
    if warehouse is not None:
        from tasks.load import open_warehouse
        con = open_warehouse(warehouse)      # writable: the delivery log is written
    try:
        entries = (dq_report.load_roster(roster) if roster
                   else dq_report.warehouse_roster(con) if con is not None else None)
        if not entries:
            raise ValueError("no roster: give a roster CSV or load one into the warehouse")
        res = _notify.deliver(con, reports, entries, settings_, outbox=outbox, resend=resend,
                              only=only, skip_passed=skip_passed, office=office,
                              max_attempts=max_attempts, backoff=backoff, progress=progress)
    finally:
        if con is not None:
            con.close()
    outcomes = [{"机关": o.agency or "（未识别）", "年度": o.year, "收件人": o.recipient or "",
                 "状态": o.status, "尝试次数": o.attempts, "错误": o.error or "",
                 "Message-ID": o.message_id or "", "EML": _file_link(o.eml) if o.eml else ""}
                for o in res.outcomes]
    return NotifyRunSummary(counts=res.counts, dry_run=outbox is not None,
                            outbox=str(outbox) if outbox else None, outcomes=outcomes)


@task(name="deliver", retries=0, cache_policy=NO_CACHE)
def notify_task(*args, **kwargs) -> NotifyRunSummary:
    return notify_fn(*args, **kwargs)


STATUS_TEXT = {"sent": "已发送", "failed": "发送失败", "already_sent": "此前已发送（未重复发送）",
               "no_recipient": "无收件人", "dry_run": "已写入发件箱（未发送）"}


def notify_markdown(s: NotifyRunSummary) -> str:
    lines = ["# 核查意见发送" + ("（演练，未发送）" if s.dry_run else ""), ""]
    for k, n in sorted(s.counts.items()):
        lines.append(f"- {STATUS_TEXT.get(k, k)}：{n}")
    if s.outbox:
        lines += ["", f"发件箱：[{s.outbox}]({_file_link(s.outbox)})"]
    failed = [o for o in s.outcomes if o["状态"] in ("failed", "no_recipient")]
    if failed:
        lines += ["", "## 未送达", ""]
        lines += [f"- {o['机关']}：{o['错误']}" for o in failed[:50]]
    return "\n".join(lines)


@flow(name="nianbao-notify", log_prints=False)
def notify_flow(warehouse: str | None, reports_dir: str, roster: str | None,
                outbox: str | None = None,
                resend: bool = False, only: list[str] | None = None, skip_passed: bool = False,
                office: str = dq_report.DEFAULT_OFFICE, max_attempts: int = 3,
                backoff: float = 2.0, progress=None) -> NotifyRunSummary:
    """E-mail each agency its report once per version (SMTP settings from the environment)."""
    s = notify_task(warehouse, reports_dir, roster, outbox=outbox, resend=resend, only=only,
                    skip_passed=skip_passed, office=office, max_attempts=max_attempts,
                    backoff=backoff, progress=progress)
    create_table_artifact(key="dq-notify-outcomes", table=s.outcomes[:ARTIFACT_ROWS],
                          description="发送结果")
    create_markdown_artifact(key="dq-notify-summary", markdown=notify_markdown(s),
                             description="核查意见发送情况")
    return s
