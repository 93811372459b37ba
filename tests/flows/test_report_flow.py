"""The `report` and `notify` flows (Prefect, with artifacts) and the `nianbao report/notify` commands."""
from __future__ import annotations

import json
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from typer.testing import CliRunner

from tests.tasks.test_dq_report import ROOT, _warehouse_file
from tests.tasks.test_notify import Recorder, _free_port

ROSTER = ROOT / "examples" / "roster.csv"
SENDER = "省政务公开办公室 <gk@example.gov.cn>"


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    return _warehouse_file(str(tmp_path_factory.mktemp("flowwh")))


def _artifacts(key: str) -> list[dict]:
    """Artifacts with this key, newest first, from the API.

    Through the REST endpoint: prefect 3.8's client sends null for offset/flow_runs/task_runs,
    which its server rejects (422); an empty task_runs filter would drop flow-level artifacts."""
    from prefect.client.orchestration import get_client

    body = {"artifacts": {"key": {"any_": [key]}}, "limit": 10, "offset": 0,
            "sort": "CREATED_DESC"}
    with get_client(sync_client=True) as c:
        r = c._client.post("/artifacts/filter", json=body)
        r.raise_for_status()
        return r.json()


def test_report_and_notify_flows_leave_artifacts(harness, wh, tmp_path):
    from flows.report_flow import notify_flow, report_flow

    out = tmp_path / "reports"
    s = report_flow(wh, str(out), roster=str(ROSTER), pdf=False)
    assert s.reports == 8 and s.rendered == 8
    assert s.verdicts == {"需更正": 2, "无法核对": 3, "通过": 3}
    assert s.missing >= 1 and Path(s.summary_html).exists() and Path(s.index).exists()
    table = _artifacts("dq-report-verdicts")
    assert table and table[0]["type"] == "table"
    rows = json.loads(table[0]["data"]) if isinstance(table[0]["data"], str) else table[0]["data"]
    assert {r["结论"] for r in rows} == {"需更正", "无法核对", "通过"}
    assert any(r["机关"] == "湘潭县数据局" and r["结论"] == "需更正" for r in rows)
    md = _artifacts("dq-report-summary")
    assert md and "province_summary.html" in md[0]["data"] and "file://" in md[0]["data"]

    outbox = tmp_path / "outbox"
    import os
    os.environ["NIANBAO_SMTP_FROM"] = SENDER
    try:
        n = notify_flow(wh, str(out), str(ROSTER), outbox=str(outbox))
    finally:
        del os.environ["NIANBAO_SMTP_FROM"]
    assert n.dry_run and n.counts == {"dry_run": 7, "no_recipient": 1}   # seed 002 names no agency
    assert len(list(outbox.glob("*.eml"))) == 7
    assert _artifacts("dq-notify-outcomes") and _artifacts("dq-notify-summary")


def test_commands_report_then_notify(harness, wh, tmp_path):
    import flows.cli_report  # noqa: F401  (registers the commands)
    from flows.cli import app

    runner = CliRunner()
    out = tmp_path / "r"
    res = runner.invoke(app, ["report", "-w", wh, "-o", str(out), "--no-pdf", "--roster",
                              str(ROSTER), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["reports"] == 8 and summary["missing"] >= 1

    res = runner.invoke(app, ["notify", "-w", wh, "--reports", str(out), "--roster", str(ROSTER)],
                        env={"NIANBAO_SMTP_HOST": "127.0.0.1"})
    assert res.exit_code == 2 and "NIANBAO_SMTP_FROM" in res.output     # no sender configured

    handler = Recorder()
    port = _free_port()
    ctl = Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    env = {"NIANBAO_SMTP_HOST": "127.0.0.1", "NIANBAO_SMTP_PORT": str(port),
           "NIANBAO_SMTP_TLS": "none", "NIANBAO_SMTP_FROM": SENDER}
    try:
        args = ["notify", "-w", wh, "--reports", str(out), "--roster", str(ROSTER), "--json"]
        res = runner.invoke(app, args, env=env)
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout)["counts"] == {"sent": 7, "no_recipient": 1}
        assert len(handler.messages) == 7
        m = message_from_bytes(handler.messages[0][1], policy=policy.default)
        assert m["Subject"].startswith("【政务公开年报数据核查】")
        res = runner.invoke(app, args, env=env)              # the same versions: nothing sent
        assert res.exit_code == 0 and json.loads(res.stdout)["counts"] == {
            "already_sent": 7, "no_recipient": 1}
        assert len(handler.messages) == 7
    finally:
        ctl.stop()


def test_help_documents_the_settings():
    import flows.cli_report  # noqa: F401
    from flows.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["notify", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for word in ("NIANBAO_SMTP_HOST", "NIANBAO_SMTP_PASSWORD", "--dry-run", "--outbox", "--resend"):
        assert word in res.output, word
    assert "--password" not in res.output
    res = runner.invoke(app, ["report", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and "--roster" in res.output and "index.json" in res.output
