"""Security: read-only SQL, no path traversal, no shell, URL ingest refusals, no header injection.

Every test feeds hostile input through the real code path and checks what an attacker would
want did not happen (a file written or read, a command run, a header added, data changed).
"""
from __future__ import annotations

import ast
import csv
import io
import json
import shutil
import socket
import zipfile
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.test_bad_inputs import mbi
from tests.test_faults import ROOT


# ------------------------------------------------------------------------- nianbao sql
@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    from tasks.extract import extract_file
    from tasks.load import RunInfo, load_batch, open_warehouse

    tmp = tmp_path_factory.mktemp("secwh")
    t, doc = mbi.synth_report(12)
    src = tmp / "report.txt"
    src.write_bytes(mbi.text_bytes(t, doc))
    ex = extract_file(src)
    wh = tmp / "wh.duckdb"
    con = open_warehouse(wh)
    try:
        load_batch(con, RunInfo("sec"), [ex.source], [ex.report], {})
    finally:
        con.close()
    return wh


def _fingerprint(wh: Path) -> tuple:
    import duckdb

    con = duckdb.connect(str(wh), read_only=True)
    try:
        return tuple(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                     for t in ("raw_runs", "raw_source_files", "raw_reports", "raw_cells"))
    finally:
        con.close()


HOSTILE_SQL = [
    "INSERT INTO raw_runs (run_id) VALUES ('evil')",
    "UPDATE raw_cells SET value = 0",
    "DELETE FROM raw_reports",
    "DROP TABLE raw_cells",
    "SELECT 1; DROP TABLE raw_cells",
    "CREATE TABLE evil AS SELECT 1",
    "ATTACH '{tmp}/other.duckdb' AS other",
    "COPY raw_reports TO '{tmp}/leak.csv'",
    "COPY (SELECT 1) TO '{tmp}/leak.parquet' (FORMAT parquet)",
    "EXPORT DATABASE '{tmp}/export'",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT * FROM read_parquet('https://example.org/x.parquet')",
    "SET threads = 1",
    "SET enable_external_access = true",
    "RESET enable_external_access",
    "PRAGMA enable_profiling",
    "INSTALL httpfs",
    "LOAD httpfs",
    "CREATE SECRET evil (TYPE s3, KEY_ID 'a', SECRET 'b')",
]


@pytest.mark.parametrize("statement", HOSTILE_SQL)
def test_sql_cannot_write_attach_read_files_or_reconfigure(warehouse, statement, tmp_path):
    from tasks.query import QueryError, run_query

    before = _fingerprint(warehouse)
    with pytest.raises(QueryError) as e:
        run_query(warehouse, statement.format(tmp=tmp_path))
    assert "查询失败" in str(e.value)
    assert _fingerprint(warehouse) == before
    assert list(tmp_path.iterdir()) == []          # nothing written, nothing attached


def test_sql_command_refuses_and_still_answers_reads(warehouse, tmp_path):
    from flows.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["sql", f"COPY raw_reports TO '{tmp_path}/x.csv'", "-w", str(warehouse)])
    assert r.exit_code == 1 and not (tmp_path / "x.csv").exists()
    r = runner.invoke(app, ["sql", "SELECT count(*) AS n FROM raw_reports", "-w", str(warehouse),
                            "--format", "csv"])
    assert r.exit_code == 0 and r.stdout.splitlines() == ["n", "1"], r.output


# -------------------------------------------------------------------------- no shell
def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
            yield node, owner, name


def test_no_shell_anywhere_in_the_code():
    """No os.system/os.popen, no shell=True, no subprocess call with a command string."""
    offenders = []
    for base in ("tasks", "flows", "scripts", "warehouse", "expectations"):
        for path in sorted((ROOT / base).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node, owner, name in _calls(tree):
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                if owner == "os" and (name in ("system", "popen") or name.startswith("exec")
                                      or name.startswith("spawn")):
                    offenders.append(f"{where} os.{name}")
                if owner == "subprocess" or name in ("Popen", "run", "call", "check_call",
                                                     "check_output", "create_subprocess_shell"):
                    for kw in node.keywords:
                        if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant)
                                                      and kw.value.value is False):
                            offenders.append(f"{where} shell=")
                    if owner == "subprocess" and node.args and isinstance(
                            node.args[0], (ast.Constant, ast.JoinedStr, ast.BinOp)):
                        offenders.append(f"{where} command string")
                if name == "create_subprocess_shell":
                    offenders.append(f"{where} create_subprocess_shell")
    assert offenders == []


def _shell_bait(tmp: Path, suffix: str) -> tuple[Path, list[Path]]:
    """A file whose full path, pasted into a shell, would create three sentinel files:
    `…/x; touch <tmp>/pwned1; echo $(touch <tmp>/pwned2) `touch <tmp>/pwned3`<suffix>`
    (the slashes of the sentinels' paths make folders)."""
    sentinels = [tmp / f"pwned{i}" for i in (1, 2, 3)]
    name = (f"x; touch {sentinels[0]}; echo $(touch {sentinels[1]}) `touch {sentinels[2]}`"
            f" -rf{suffix}")
    path = Path(str(tmp) + "/" + name)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path, sentinels


def test_a_file_named_like_a_shell_command_is_only_a_name(tmp_path, monkeypatch):
    """Through LibreOffice (the one external tool a document reaches) and the CLI."""
    if shutil.which("soffice") is None and shutil.which("libreoffice") is None:
        pytest.skip("LibreOffice is not installed (scripts/sysdeps.sh)")
    from flows.cli import app

    monkeypatch.chdir(tmp_path)
    doc, sentinels = _shell_bait(tmp_path, ".doc")
    doc.write_bytes(rb"{\rtf1\ansi 2024 notice: not an annual report\par}")
    txt, _ = _shell_bait(tmp_path, ".txt")
    t, d = mbi.synth_report(13)
    txt.write_bytes(mbi.text_bytes(t, d))

    # the folder holds both; the RTF in a .doc goes through LibreOffice
    r = CliRunner().invoke(app, ["extract", "--json", str(txt.parent)])
    assert r.exit_code == 0, r.output
    objs = {Path(o["file"]).suffix: o for o in map(json.loads, r.stdout.splitlines())}
    assert objs[".doc"]["format"] == "doc" and objs[".doc"]["error"]["code"] == "not_a_report"
    assert objs[".txt"]["agency"] == t.agency and objs[".txt"]["file"] == str(txt)
    for s in sentinels:
        assert not s.exists(), f"{s} was created: a shell ran"
    assert not any(p.name.startswith("pwned") for p in tmp_path.iterdir())


# ------------------------------------------------------------------- path traversal
def test_manifest_paths_never_reach_the_file_system(tmp_path):
    """Manifest `file` values are only names to match: ../../etc/passwd is never read, and a
    row applies only to the input file of that name."""
    from flows.cli import app

    folder = tmp_path / "in"
    folder.mkdir()
    t, doc = mbi.synth_report(14)
    (folder / "report.txt").write_bytes(mbi.text_bytes(t, doc))
    outside = tmp_path / "secret.txt"
    outside.write_bytes(mbi.text_bytes(*mbi.synth_report(15)))
    man = tmp_path / "manifest.csv"
    with open(man, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "agency", "year", "region_code"])
        w.writerow(["../../../../etc/passwd", "越权读取局", "2024", ""])
        w.writerow(["../secret.txt", "越权读取局", "2024", ""])
        w.writerow([str(outside), "越权读取局", "2024", ""])
        w.writerow(["report.txt", "清单中的名称局", "2024", ""])
    r = CliRunner().invoke(app, ["extract", "--json", "--manifest", str(man), str(folder)])
    assert r.exit_code == 0, r.output
    objs = [json.loads(ln) for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert [Path(o["file"]).name for o in objs] == ["report.txt"]
    assert objs[0]["agency"] == "清单中的名称局"
    assert "root:" not in r.stdout


def _docx_with_members(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(zipfile.ZipInfo(name), data)
    return buf.getvalue()


def test_docx_members_with_traversal_names_are_never_written(tmp_path, monkeypatch):
    from tasks.extract import extract_file

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    body = ('<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.'
            'openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>通知</w:t>'
            '</w:r></w:p></w:body></w:document>').encode()
    evil = tmp_path / "evil.txt"
    data = _docx_with_members({
        "[Content_Types].xml": b"<Types/>", "word/document.xml": body,
        "../evil.txt": b"x", "../../../../../../tmp/evil2.txt": b"x", str(evil): b"x",
        "word/../../evil3.txt": b"x"})
    p = work / "evil.docx"
    p.write_bytes(data)
    ex = extract_file(p)
    assert ex.source.error_code == "not_a_report", ex.source
    assert sorted(x.name for x in work.iterdir()) == ["evil.docx"]
    assert not evil.exists() and not (tmp_path / "evil3.txt").exists()


# ------------------------------------------------------------------------- URL ingest
def _fetch():
    return pytest.importorskip("tasks.fetch")


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "ftp://example.org/report.pdf", "gopher://example.org/",
    "data:text/html,<h1>x</h1>", "javascript:alert(1)", "//example.org/report.pdf",
    "example.org/report.pdf", "smb://10.0.0.1/share", "jar:http://example.org/x.jar!/",
])
def test_only_http_and_https_are_fetched(url):
    fetch = _fetch()
    with pytest.raises(fetch.Refused):
        fetch.check_url(url)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/", "http://localhost:8080/x", "http://[::1]/", "http://0.0.0.0/",
    "http://10.1.2.3/", "http://172.16.0.1/", "http://192.168.1.1/", "http://169.254.169.254/latest/",
    "http://[fe80::1]/", "http://[::ffff:127.0.0.1]/", "http://2130706433/", "http://0x7f.0.0.1/",
    "http://127.1/", "http://100.64.0.1/", "http://[64:ff9b::7f00:1]/", "http://224.0.0.1/",
    "http://[fc00::1]/",
])
def test_private_and_loopback_hosts_are_refused(url):
    fetch = _fetch()
    with pytest.raises(fetch.Refused):
        fetch.check_url(url)


def test_allowed_networks_let_a_private_host_in_and_public_hosts_pass():
    fetch = _fetch()
    fetch.check_url("http://127.0.0.1:8000/report.pdf", allowed_networks=("127.0.0.0/8",))
    with pytest.raises(fetch.Refused):
        fetch.check_url("http://10.0.0.1/", allowed_networks=("127.0.0.0/8",))

    def public(host, port, **kw):      # no DNS here: answer like a resolver would
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.7", port))]

    def rebinding(host, port, **kw):   # one public, one private answer: refused
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.7", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.8", port))]

    # 203.0.113.0/24 is documentation space (not global): allowed explicitly for this check
    fetch.check_url("https://www.example.gov.cn/a.pdf", allowed_networks=("203.0.113.0/24",),
                    resolve=public)
    with pytest.raises(fetch.Refused):
        fetch.check_url("https://www.example.gov.cn/a.pdf", allowed_networks=("203.0.113.0/24",),
                        resolve=rebinding)


@pytest.mark.parametrize("url", [
    "http://www.example.gov.cn/../../../etc/passwd",
    "http://www.example.gov.cn/a/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "http://www.example.gov.cn/a/..%5c..%5c..%5cwindows%5cwin.ini",
    "http://www.example.gov.cn/%2e%2e",
    "http://www.example.gov.cn/.bashrc",
    "http://www.example.gov.cn/-rf%20%3B%20touch%20pwned.pdf",
    "http://www.example.gov.cn/%00evil.pdf",
    "http://www.example.gov.cn:8080/x/" + "长" * 300 + ".pdf",
])
def test_archive_names_from_urls_stay_inside_the_archive(url, tmp_path):
    fetch = _fetch()
    root = (tmp_path / "archive").resolve()
    sha = "ab" * 32
    for rel in fetch.archive_paths(url, sha, "pdf"):
        p = (root / rel).resolve()
        assert p.is_relative_to(root), (url, rel)
        assert not rel.startswith("/") and ".." not in Path(rel).parts, rel
        name = Path(rel).name
        # a hidden name would be skipped by the ingest (a report silently lost)
        assert not name.startswith(".") and "\x00" not in rel and len(name) <= 120, rel


# -------------------------------------------------------------------- e-mail headers
EVIL_AGENCY = "湘潭县数据局\r\nBcc: victim@example.org\u2028X-Evil: 1<img src=x onerror=alert(1)>"


def test_injection_through_agency_names_report_to_notify(tmp_path):
    """A manifest (or roster) agency name carrying CR/LF, a Unicode line separator and HTML
    goes through extract → warehouse → data-quality report → e-mail: no extra header, no
    extra recipient, nothing unescaped in the HTML report."""
    from aiosmtpd.controller import Controller

    from tasks.dq_report import RosterEntry, generate_reports, read_index
    from tasks.extract import extract_file
    from tasks.load import RunInfo, load_batch, open_warehouse
    from tasks.metadata import load_manifest
    from tasks.notify import SmtpSettings, deliver
    from tests.tasks.test_notify import Recorder, _free_port

    t, doc = mbi.synth_report(16)
    src = tmp_path / "report.txt"
    src.write_bytes(mbi.text_bytes(t, doc))
    man = tmp_path / "manifest.csv"
    with open(man, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "agency", "year", "region_code"])
        w.writerow(["report.txt", EVIL_AGENCY, "2024", "430321"])
    ex = extract_file(src, manifest=load_manifest(man))
    assert ex.report.agency == EVIL_AGENCY
    con = open_warehouse(tmp_path / "wh.duckdb")
    try:
        load_batch(con, RunInfo("mail"), [ex.source], [ex.report], {})
        roster = [RosterEntry(EVIL_AGENCY, "430321", "county", "department", "sjj@example.org")]
        res = generate_reports(con, tmp_path / "dq", roster=roster, pdf=False)
        html = Path(res.reports[0].html).read_text(encoding="utf-8")
        assert "<img" not in html and "&lt;img" in html
        handler = Recorder()
        port = _free_port()
        ctl = Controller(handler, hostname="127.0.0.1", port=port)
        ctl.start()
        try:
            settings = SmtpSettings(host="127.0.0.1", port=port, tls="none",
                                    sender="省政务公开办公室 <gk@example.gov.cn>", timeout=10)
            out = deliver(con, read_index(tmp_path / "dq"), roster, settings, sleep=lambda s: None)
        finally:
            ctl.stop()
    finally:
        con.close()
    assert [o.status for o in out.outcomes] == ["sent"], out.outcomes
    assert len(handler.messages) == 1
    rcpts, raw = handler.messages[0]
    assert rcpts == ["sjj@example.org"]
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert b"\nBcc:" not in head and b"\nX-Evil:" not in head
    m = message_from_bytes(raw, policy=policy.default)
    assert m.get_all("Bcc") is None and m.get_all("X-Evil") is None
    assert "\n" not in str(m["Subject"]) and "\u2028" not in str(m["Subject"])
    assert m["To"].addresses[0].addr_spec == "sjj@example.org"
