"""E-mail delivery against a real SMTP server (aiosmtpd on loopback, started by the tests)."""
from __future__ import annotations

import datetime as dt
import re
import ipaddress
import socket
import ssl
from dataclasses import replace
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tasks.dq_report import RosterEntry, generate_from_views, read_index, views_from_reports
from tasks.load import open_warehouse
from tasks.notify import (InvalidAddress, SettingsError, SmtpSettings, build_message,
                          check_address, clean_text, deliver)
from tests.tasks.test_dq_report import PLANTED_MSG, build_batch

SENDER = "省政务公开办公室 <gk@example.gov.cn>"


# ---------------------------------------------------------------------------- the server
class Recorder:
    """Accepts mail; refuses RCPT for `refused@…`; answers 451 to `flaky@…` the first times."""

    def __init__(self):
        self.messages: list[tuple[list[str], bytes]] = []
        self.flaky_left = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refused@"):
            return "550 5.1.1 <refused@example.org>: mailbox unavailable"
        if address.startswith("flaky@") and self.flaky_left > 0:
            self.flaky_left -= 1
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 Message accepted"

    def parsed(self):
        return [(rcpts, message_from_bytes(raw, policy=policy.default)) for rcpts, raw in self.messages]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    handler = Recorder()
    port = _free_port()
    ctl = Controller(handler, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        yield handler, SmtpSettings(host="127.0.0.1", port=port, tls="none", sender=SENDER,
                                    timeout=10)
    finally:
        ctl.stop()


# ------------------------------------------------------------------------------ the data
@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Three generated reports: 通过 (seed 000), 需更正 (planted, with its PDF), 无法核对 (seed 001).

    Only the planted one gets a PDF (rendering costs seconds); the others are reused from a
    first run and the rest written without PDF, as `generate_from_views` does on a re-run."""
    _, all_reports, findings, named = build_batch()
    chosen = [named["pass"], named["planted"], named["blank"]]
    out = tmp_path_factory.mktemp("dq")
    generate_from_views(views_from_reports(chosen[1:2], findings), out, pdf=True)
    res = generate_from_views(views_from_reports(chosen, findings), out, pdf=False)
    assert (res.rendered, res.reused) == (2, 1)
    return read_index(out)


ROSTER = [
    RosterEntry("湘潭县科技和工业信息化局", "430321", "county", "department", "kgxj@example.org"),
    RosterEntry("湘潭县数据局", "430321", "county", "department", "sjj@example.org"),
    RosterEntry("湘乡市科技和工业信息化局", "430381", "county", "department", "xxkg@example.org"),
]


def roster_with(**emails: str) -> list[RosterEntry]:
    names = {"pass": ROSTER[0].agency, "planted": ROSTER[1].agency, "blank": ROSTER[2].agency}
    return [replace(e, email=emails.get(k, e.email)) for k, e in zip(names, ROSTER)]


@pytest.fixture
def con():
    c = open_warehouse(":memory:")
    yield c
    c.close()


def no_sleep(waits: list[float] | None = None):
    def sleep(s: float) -> None:
        if waits is not None:
            waits.append(s)
    return sleep


# --------------------------------------------------------------------------------- tests
def test_each_agency_gets_its_report(smtp, reports, con):
    server, settings = smtp
    res = deliver(con, reports, ROSTER, settings, sleep=no_sleep())
    assert res.counts == {"sent": 3}
    got = {tuple(rcpts): m for rcpts, m in server.parsed()}
    assert set(got) == {("kgxj@example.org",), ("sjj@example.org",), ("xxkg@example.org",)}
    m = got[("sjj@example.org",)]
    assert m["Subject"] == "【政务公开年报数据核查】湘潭县数据局2023年度政府信息公开工作年度报告：需更正"
    assert m["To"].addresses[0].display_name == "湘潭县数据局"
    assert m["From"].addresses[0].display_name == "省政务公开办公室"
    atts = {p.get_filename(): p for p in m.iter_attachments()}
    assert set(atts) == {"湘潭县数据局2023年度年报数据核查意见.pdf", "湘潭县数据局2023年度年报数据核查意见.xlsx"}
    assert atts["湘潭县数据局2023年度年报数据核查意见.pdf"].get_content()[:5] == b"%PDF-"
    assert atts["湘潭县数据局2023年度年报数据核查意见.xlsx"].get_content()[:2] == b"PK"
    html = m.get_body(("html",)).get_content()
    text = m.get_body(("plain",)).get_content()
    assert "核查结论：需更正" in html and PLANTED_MSG in html and PLANTED_MSG in text
    # Headers on the wire are ASCII: RFC 2047 subject/names, RFC 2231 file names.
    raw = next(raw for rcpts, raw in server.messages if rcpts == ["sjj@example.org"])
    head = raw.split(b"\r\n\r\n", 1)[0]
    head.decode("ascii")
    assert b"=?utf-8?" in head
    assert re.search(rb"filename\*(0\*)?=utf-8''%E6%B9%98", raw)     # RFC 2231, maybe continued
    rows = con.execute("SELECT agency, status, attempts, message_id, error, recipient "
                       "FROM deliveries ORDER BY agency").fetchall()
    assert [(r[0], r[1], r[2]) for r in rows] == sorted((e.agency, "sent", 1) for e in ROSTER)
    assert m["Message-ID"] in {r[3] for r in rows}
    assert all(r[4] is None for r in rows)


def test_a_rerun_sends_nothing_twice_and_a_new_version_once(smtp, reports, con):
    server, settings = smtp
    deliver(con, reports, ROSTER, settings, sleep=no_sleep())
    assert len(server.messages) == 3
    again = deliver(con, reports, ROSTER, settings, sleep=no_sleep())
    assert again.counts == {"already_sent": 3}
    assert len(server.messages) == 3
    changed = [replace(r, report_hash="0" * 64) if r.agency == "湘潭县数据局" else r for r in reports]
    third = deliver(con, changed, ROSTER, settings, sleep=no_sleep())
    assert third.counts == {"already_sent": 2, "sent": 1}
    assert [rcpts for rcpts, _ in server.messages[3:]] == [["sjj@example.org"]]
    assert con.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 4


def test_a_refused_recipient_is_recorded_and_the_others_go_through(smtp, reports, con):
    server, settings = smtp
    roster = roster_with(planted="refused@example.org")
    res = deliver(con, reports, roster, settings, sleep=no_sleep())
    assert res.counts == {"sent": 2, "failed": 1}
    assert sorted(r[0] for r, _ in server.parsed()) == ["kgxj@example.org", "xxkg@example.org"]
    status, attempts, error = con.execute(
        "SELECT status, attempts, error FROM deliveries WHERE agency = '湘潭县数据局'").fetchone()
    assert (status, attempts) == ("failed", 1)           # 550 is permanent: not retried
    assert "550" in error and "refused@example.org" in error
    # The next run retries only the failure; once the roster is fixed it goes out.
    res = deliver(con, reports, roster, settings, sleep=no_sleep())
    assert res.counts == {"already_sent": 2, "failed": 1}
    assert len(server.messages) == 2
    res = deliver(con, reports, ROSTER, settings, sleep=no_sleep())
    assert res.counts == {"already_sent": 2, "sent": 1}
    assert server.messages[-1][0] == ["sjj@example.org"]
    assert con.execute("SELECT status, attempts, error FROM deliveries WHERE agency = '湘潭县数据局'"
                       ).fetchone() == ("sent", 3, None)


def test_temporary_failures_are_retried_with_backoff(smtp, reports, con):
    server, settings = smtp
    server.flaky_left = 2
    waits: list[float] = []
    roster = roster_with(planted="flaky@example.org")
    res = deliver(con, reports, roster, settings, backoff=1.5, max_attempts=3, sleep=no_sleep(waits))
    o = next(o for o in res.outcomes if o.agency == "湘潭县数据局")
    assert (o.status, o.attempts) == ("sent", 3)
    assert waits == [1.5, 3.0]
    assert ["flaky@example.org"] in [r for r, _ in server.messages]
    server.flaky_left = 5
    res = deliver(con, [replace(r, report_hash="1" * 64) for r in reports], roster, settings,
                  max_attempts=2, sleep=no_sleep())
    o = next(o for o in res.outcomes if o.agency == "湘潭县数据局")
    assert (o.status, o.attempts) == ("failed", 2) and "451" in o.error


def test_header_injection_is_refused_or_sanitised(smtp, reports, con):
    server, settings = smtp
    evil_addr = "sjj@example.org\r\nBcc: victim@example.org"
    res = deliver(con, reports, roster_with(planted=evil_addr), settings, sleep=no_sleep())
    o = next(o for o in res.outcomes if o.agency == "湘潭县数据局")
    assert o.status == "failed" and "控制字符" in o.error
    assert "\n" not in (o.recipient or "") and "\r" not in (o.recipient or "")
    # An agency name with CR/LF (from a report or roster) becomes one line in the headers.
    evil_name = "湘潭县数据局\r\nBcc: victim@example.org"
    named = [replace(r, agency=evil_name) if r.agency == "湘潭县数据局" else r for r in reports]
    roster = ROSTER + [RosterEntry(evil_name, None, None, None, "sjj2@example.org")]
    deliver(con, named, roster, settings, sleep=no_sleep())
    for rcpts, raw in server.messages:
        assert "victim@example.org" not in rcpts
        head = raw.split(b"\r\n\r\n", 1)[0]
        assert b"\r\nBcc:" not in head and b"\nBcc:" not in head
    m = next(m for r, m in server.parsed() if r == ["sjj2@example.org"])
    assert m["To"].addresses[0].display_name == "湘潭县数据局 Bcc: victim@example.org"
    assert "\n" not in m["Subject"]
    assert len(m.get_all("Bcc") or []) == 0


def test_a_missing_attachment_fails_that_message_only(smtp, reports, con, tmp_path):
    server, settings = smtp
    gone = tmp_path / "gone.xlsx"
    broken = [replace(r, xlsx=str(gone)) if r.agency == "湘潭县数据局" else r for r in reports]
    res = deliver(con, broken, ROSTER, settings, sleep=no_sleep())
    assert res.counts == {"sent": 2, "failed": 1}
    assert "无法读取附件" in res.by_status("failed")[0].error
    assert len(server.messages) == 2


def test_a_server_that_is_down_fails_every_message_after_retries(reports, con):
    settings = SmtpSettings(host="127.0.0.1", port=_free_port(), tls="none", sender=SENDER,
                            timeout=5)
    waits: list[float] = []
    res = deliver(con, reports, ROSTER, settings, backoff=0.5, sleep=no_sleep(waits))
    assert res.counts == {"failed": 3}
    assert all(o.attempts == 3 and "Connection" in o.error for o in res.outcomes)
    assert waits == [0.5, 1.0] * 3
    assert con.execute("SELECT count(*) FROM deliveries WHERE status = 'failed' AND attempts = 3"
                       ).fetchone()[0] == 3


def test_dry_run_writes_eml_and_leaves_the_log(reports, con, tmp_path):
    settings = SmtpSettings(sender=SENDER)                  # no host needed for a dry run
    res = deliver(con, reports, ROSTER, settings, outbox=tmp_path)
    assert res.counts == {"dry_run": 3}
    emls = sorted(tmp_path.glob("*.eml"))
    assert len(emls) == 3
    m = message_from_bytes(emls[0].read_bytes(), policy=policy.default)
    assert m["Subject"].startswith("【政务公开年报数据核查】")
    assert len(list(m.iter_attachments())) >= 1
    assert con.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 0


def test_agencies_without_an_address_are_not_attempted(smtp, reports, con):
    server, settings = smtp
    res = deliver(con, reports, ROSTER[:1], settings, sleep=no_sleep())
    assert res.counts == {"sent": 1, "no_recipient": 2}
    assert {o.error for o in res.by_status("no_recipient")} == {"名册中没有该机关"}
    assert con.execute("SELECT count(*) FROM deliveries").fetchone()[0] == 1


def test_only_and_skip_passed(smtp, reports, con):
    server, settings = smtp
    res = deliver(con, reports, ROSTER, settings, skip_passed=True, only=["湘潭县数据局", "湘潭县科技和工业信息化局"],
                  sleep=no_sleep())
    assert res.counts == {"sent": 1}
    assert server.messages[0][0] == ["sjj@example.org"]


# ------------------------------------------------------------------------- STARTTLS + AUTH
def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_starttls_and_login_with_credentials_from_the_environment(reports, con, tmp_path):
    cert, key = _self_signed(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        ok = (auth_data.login, auth_data.password) == (b"gk", b"s3cret")
        return AuthResult(success=ok, handled=False)     # handled=False: the server answers 535

    handler = Recorder()
    port = _free_port()
    ctl = Controller(handler, hostname="127.0.0.1", port=port,
                     server_kwargs={"tls_context": ctx, "require_starttls": True,
                                    "authenticator": authenticator, "auth_require_tls": True})
    ctl.start()
    try:
        env = {"NIANBAO_SMTP_HOST": "127.0.0.1", "NIANBAO_SMTP_PORT": str(port),
               "NIANBAO_SMTP_TLS": "starttls", "NIANBAO_SMTP_USER": "gk",
               "NIANBAO_SMTP_PASSWORD": "s3cret", "NIANBAO_SMTP_FROM": SENDER,
               "NIANBAO_SMTP_CAFILE": str(cert)}
        settings = SmtpSettings.from_env(env)
        assert "s3cret" not in repr(settings)
        res = deliver(con, reports[:1], ROSTER, settings, sleep=no_sleep())
        assert res.counts == {"sent": 1}
        assert logins == [(b"gk", b"s3cret")] and len(handler.messages) == 1
        wrong = SmtpSettings.from_env({**env, "NIANBAO_SMTP_PASSWORD": "nope"})
        res = deliver(con, [replace(reports[0], report_hash="2" * 64)], ROSTER, wrong,
                      sleep=no_sleep())
        o = res.outcomes[0]
        assert o.status == "failed" and o.attempts == 1 and "535" in o.error
        untrusted = replace(settings, cafile=None)           # the self-signed cert is refused
        res = deliver(con, [replace(reports[0], report_hash="3" * 64)], ROSTER, untrusted,
                      sleep=no_sleep())
        assert res.outcomes[0].status == "failed" and "CERTIFICATE_VERIFY_FAILED" in res.outcomes[0].error
        assert len(handler.messages) == 1
    finally:
        ctl.stop()


# ------------------------------------------------------------------------ small functions
def test_addresses_and_names():
    assert check_address(" a.b@example.gov.cn ") == "a.b@example.gov.cn"
    for bad in ("a@b.cn\r\nBcc: c@d.cn", "a@b.cn\nX: y", "a@b.cn, c@d.cn", "名字 <a@b.cn>",
                "no-at-sign", "", None, "a@b", "a@@b.cn"):
        with pytest.raises(InvalidAddress):
            check_address(bad)
    assert clean_text("某局\r\n\tBcc: x\u2028y") == "某局 Bcc: x y"


def test_settings_from_environment():
    s = SmtpSettings.from_env({"NIANBAO_SMTP_HOST": "mail.example.org", "NIANBAO_SMTP_TLS": "ssl",
                               "NIANBAO_SMTP_FROM": "gk@example.org"})
    assert (s.effective_port, s.tls, s.user) == (465, "ssl", None)
    assert SmtpSettings.from_env({"NIANBAO_SMTP_TLS": "false"}).tls == "none"
    with pytest.raises(SettingsError):
        SmtpSettings.from_env({"NIANBAO_SMTP_TLS": "maybe"})
    with pytest.raises(SettingsError, match="NIANBAO_SMTP_FROM"):
        SmtpSettings.from_env({"NIANBAO_SMTP_HOST": "h"}).check(sending=True)
    with pytest.raises(SettingsError, match="NIANBAO_SMTP_HOST"):
        SmtpSettings.from_env({"NIANBAO_SMTP_FROM": "a@b.cn"}).check(sending=True)
    SmtpSettings.from_env({"NIANBAO_SMTP_FROM": "a@b.cn"}).check(sending=False)
    with pytest.raises(SettingsError):
        SmtpSettings(sender="x <a@b.cn>\r\nBcc: c@d.cn").check(sending=False)


def test_build_message_refuses_a_bad_recipient(reports):
    with pytest.raises(InvalidAddress):
        build_message(reports[0], "a@b.cn\r\nBcc: c@d.cn", SmtpSettings(sender=SENDER))


