"""Deliver the data-quality reports to the agencies by e-mail (SMTP), once per report version.

- :class:`SmtpSettings` comes from the environment only (``NIANBAO_SMTP_HOST``, ``_PORT``,
  ``_USER``, ``_PASSWORD``, ``_TLS`` = starttls | ssl | none, ``_FROM``, optional ``_CAFILE``
  and ``_TIMEOUT``): credentials never pass through the command line.
- :func:`build_message` makes one MIME message (``email.message.EmailMessage``, policy SMTP):
  Chinese subject and names RFC 2047-encoded, attachment file names RFC 2231-encoded, a plain
  text and an HTML body, the PDF and XLSX attached. Names are stripped of control characters;
  an address with CR/LF or anything but one plain ``local@domain`` is refused
  (:class:`InvalidAddress`), so no header can be injected through the roster or a report.
- :func:`deliver` sends what the delivery log (warehouse table ``deliveries``, see
  ``warehouse/schema/050_deliveries.sql``) does not show as sent: new reports and new versions.
  Transient failures (4xx replies, dropped connections) are retried with exponential backoff;
  permanent ones (5xx, a refused recipient) are recorded as failed at once. Every outcome is
  written to the log as it happens. ``outbox=`` writes ``.eml`` files instead of sending and
  leaves the log untouched.
"""
from __future__ import annotations

import datetime as _dt
import logging
import os
import re
import smtplib
import socket
import ssl
import time
from dataclasses import dataclass, field
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any, Callable, Iterable

from tasks.coverage import RosterAgency, normalize
from tasks.dq_report import DEFAULT_OFFICE, ReportFiles, RosterLookup, report_basename
from tasks.dq_view import PASS, UNCHECKABLE

log = logging.getLogger(__name__)

TLS_MODES = ("starttls", "ssl", "none")
XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")
SUBJECT_PREFIX = "【政务公开年报数据核查】"


# ------------------------------------------------------------------------------- settings
class SettingsError(ValueError):
    """SMTP settings missing or invalid (message names the environment variable)."""


@dataclass(frozen=True)
class SmtpSettings:
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: str = "starttls"
    sender: str | None = None            # From: "省政务公开办 <gk@example.gov.cn>" or an address
    cafile: str | None = None            # CA bundle for a private server certificate
    timeout: float = 30.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "SmtpSettings":
        env = os.environ if env is None else env
        g = lambda k: (env.get(f"NIANBAO_SMTP_{k}") or "").strip() or None  # noqa: E731
        tls = (g("TLS") or "starttls").lower()
        if tls in ("true", "yes", "1"):
            tls = "starttls"
        elif tls in ("false", "no", "0", "off"):
            tls = "none"
        if tls not in TLS_MODES:
            raise SettingsError(f"NIANBAO_SMTP_TLS must be one of {', '.join(TLS_MODES)}, not {tls!r}")
        port = g("PORT")
        try:
            port_n = int(port) if port else None
        except ValueError:
            raise SettingsError(f"NIANBAO_SMTP_PORT is not a number: {port!r}") from None
        timeout = g("TIMEOUT")
        return cls(host=g("HOST"), port=port_n, user=g("USER"),
                   password=env.get("NIANBAO_SMTP_PASSWORD") or None, tls=tls,
                   sender=g("FROM"), cafile=g("CAFILE"),
                   timeout=float(timeout) if timeout else 30.0)

    @property
    def effective_port(self) -> int:
        return self.port or {"ssl": 465, "starttls": 587, "none": 25}[self.tls]

    def check(self, sending: bool) -> None:
        if not self.sender:
            raise SettingsError("NIANBAO_SMTP_FROM is not set (the sender address)")
        sender_address(self.sender)
        if sending and not self.host:
            raise SettingsError("NIANBAO_SMTP_HOST is not set")
        if self.user and not self.password:
            raise SettingsError("NIANBAO_SMTP_USER is set but NIANBAO_SMTP_PASSWORD is not")


# ------------------------------------------------------------------------------ headers
class InvalidAddress(ValueError):
    """An e-mail address that must not be used (control characters, not one plain address)."""


_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
_ADDR = re.compile(rf"^{_LOCAL}@{_DOMAIN}$")


def clean_text(s: str | None) -> str:
    """A header-safe display text: control characters (CR, LF, TAB, …) become one space."""
    return re.sub(r" {2,}", " ", _CONTROL.sub(" ", s or "")).strip()


def check_address(addr: str | None) -> str:
    """One plain ``local@domain`` address, or :class:`InvalidAddress`. Never rewritten: an
    address carrying CR/LF is refused, not repaired."""
    if addr is None or not addr.strip():
        raise InvalidAddress("没有邮箱地址")
    if _CONTROL.search(addr):
        raise InvalidAddress(f"邮箱地址含控制字符（换行等），已拒绝：{addr!r}")
    a = addr.strip()
    if not _ADDR.match(a):
        raise InvalidAddress(f"邮箱地址格式无效：{a!r}")
    return a


def sender_address(sender: str) -> Address:
    """The From header as an Address: "名称 <addr>" or a bare address."""
    if _CONTROL.search(sender):
        raise SettingsError("NIANBAO_SMTP_FROM contains control characters")
    m = re.match(r"^\s*(.*?)\s*<([^<>]+)>\s*$", sender)
    name, addr = (m.group(1).strip('" '), m.group(2)) if m else ("", sender)
    try:
        a = check_address(addr)
    except InvalidAddress as e:
        raise SettingsError(f"NIANBAO_SMTP_FROM: {e}") from None
    local, domain = a.rsplit("@", 1)
    return Address(display_name=clean_text(name), username=local, domain=domain)


# ------------------------------------------------------------------------------ message
def _env():
    from tasks.dq_report import _env as env
    return env()


def subject_for(r: ReportFiles) -> str:
    agency = clean_text(r.agency) or "贵单位"
    year = f"{r.year}年度" if r.year else ""
    return clean_text(f"{SUBJECT_PREFIX}{agency}{year}政府信息公开工作年度报告：{r.verdict}")


def attachment_name(r: ReportFiles, ext: str) -> str:
    agency = re.sub(r"[\\/:*?\"<>|]", "_", clean_text(r.agency) or "机关")
    year = f"{r.year}年度" if r.year else ""
    return f"{agency}{year}年报数据核查意见.{ext}"


def build_message(r: ReportFiles, recipient: str, settings: SmtpSettings, *,
                  office: str = DEFAULT_OFFICE, date: _dt.date | None = None) -> EmailMessage:
    """The e-mail for one report. Raises InvalidAddress for a bad recipient."""
    to = check_address(recipient)
    sender = sender_address(settings.sender or "")
    msg = EmailMessage(policy=policy.SMTP)
    msg["Subject"] = subject_for(r)
    msg["From"] = sender
    local, domain = to.rsplit("@", 1)
    msg["To"] = Address(display_name=clean_text(r.agency), username=local, domain=domain)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(idstring="nianbao", domain=sender.domain)
    msg["X-Nianbao-Report"] = r.report_hash
    msg["X-Nianbao-Source-Sha256"] = r.sha256
    d = date or _dt.date.today()
    ctx = dict(r=r, agency=clean_text(r.agency) or "贵单位",
               year_text=f"{r.year}年度" if r.year else "",
               source_name=Path(r.file).name, office=clean_text(office),
               date=f"{d.year}年{d.month}月{d.day}日", subject=msg["Subject"],
               color={PASS: "#2e7d32", UNCHECKABLE: "#ef6c00"}.get(r.verdict, "#c62828"))
    msg.set_content(_env().get_template("dq_email.txt.j2").render(**ctx))
    msg.add_alternative(_env().get_template("dq_email.html.j2").render(**ctx), subtype="html")
    if r.pdf:
        msg.add_attachment(Path(r.pdf).read_bytes(), maintype="application", subtype="pdf",
                           filename=attachment_name(r, "pdf"))
    msg.add_attachment(Path(r.xlsx).read_bytes(), maintype=XLSX_TYPE[0], subtype=XLSX_TYPE[1],
                       filename=attachment_name(r, "xlsx"))
    return msg


# -------------------------------------------------------------------------- delivery log
def ensure_log(con) -> None:
    """Make sure the ``deliveries`` table exists (applies the warehouse migrations if needed)."""
    have = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'deliveries'"
                       ).fetchone()[0]
    if not have:
        from tasks.load import migrate
        migrate(con)


def delivery_log(con) -> dict[tuple[str, str], dict[str, Any]]:
    """(agency, report_hash) → the log row as a dict."""
    ensure_log(con)
    cur = con.execute("SELECT * FROM deliveries")
    cols = [d[0] for d in cur.description]
    return {(row[0], row[1]): dict(zip(cols, row)) for row in cur.fetchall()}


def _record(con, o: "Outcome", first: _dt.datetime, now: _dt.datetime) -> None:
    con.execute(
        """INSERT INTO deliveries (agency, report_hash, sha256, year, recipient, status,
               message_id, attempts, error, first_attempt_at, last_attempt_at, sent_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (agency, report_hash) DO UPDATE SET
               sha256 = excluded.sha256, year = excluded.year, recipient = excluded.recipient,
               status = excluded.status, message_id = excluded.message_id,
               attempts = deliveries.attempts + excluded.attempts, error = excluded.error,
               last_attempt_at = excluded.last_attempt_at, sent_at = excluded.sent_at""",
        [o.agency, o.report_hash, o.sha256, o.year, o.recipient, o.status, o.message_id,
         o.attempts, o.error, first, now, now if o.status == "sent" else None])


# ----------------------------------------------------------------------------- sending
@dataclass
class Outcome:
    agency: str
    year: int | None
    sha256: str
    report_hash: str
    recipient: str | None
    status: str              # sent | failed | already_sent | no_recipient | dry_run
    message_id: str | None = None
    attempts: int = 0        # attempts in this run
    error: str | None = None
    eml: str | None = None   # dry run: the .eml written


@dataclass
class DeliveryResult:
    outcomes: list[Outcome]

    def by_status(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for o in self.outcomes:
            out[o.status] = out.get(o.status, 0) + 1
        return out


def _is_transient(e: BaseException) -> bool:
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in e.recipients.values())
    if isinstance(e, smtplib.SMTPResponseException):
        return 400 <= e.smtp_code < 500
    if isinstance(e, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError,
                      ConnectionError, socket.timeout, TimeoutError)):
        return True
    if isinstance(e, smtplib.SMTPAuthenticationError):
        return False
    return isinstance(e, OSError) and not isinstance(e, ssl.SSLCertVerificationError)


def _describe(e: BaseException) -> str:
    if isinstance(e, smtplib.SMTPRecipientsRefused):
        parts = [f"{addr}: {code} {msg.decode('utf-8', 'replace') if isinstance(msg, bytes) else msg}"
                 for addr, (code, msg) in e.recipients.items()]
        return "收件人被拒绝：" + "; ".join(parts)
    if isinstance(e, smtplib.SMTPResponseException):
        m = e.smtp_error.decode("utf-8", "replace") if isinstance(e.smtp_error, bytes) else e.smtp_error
        return f"SMTP {e.smtp_code}: {m}"
    return f"{type(e).__name__}: {e}"


class SmtpSession:
    """One lazily opened SMTP connection, reopened after a failure."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.cafile)

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        host, port = s.host or "localhost", s.effective_port
        if s.tls == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=s.timeout,
                                                  context=self._context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=s.timeout)
        try:
            smtp.ehlo()
            if s.tls == "starttls":
                smtp.starttls(context=self._context())
                smtp.ehlo()
            if s.user:
                _login(smtp, s.user, s.password or "")
        except BaseException:
            try:
                smtp.close()
            finally:
                raise
        return smtp

    def send(self, msg: EmailMessage) -> None:
        if self._smtp is None:
            self._smtp = self._open()
        try:
            self._smtp.send_message(msg)
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError):
            raise                          # the connection is still good (smtplib sent RSET)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except Exception:   # noqa: BLE001 - closing a broken connection
                try:
                    self._smtp.close()
                except Exception:   # noqa: BLE001
                    pass
            self._smtp = None


def _login(smtp: smtplib.SMTP, user: str, password: str) -> None:
    """AUTH PLAIN when offered (one round trip, one clear answer), else smtplib's choice.

    smtplib.login() falls through to the next mechanism after a refusal, and AUTH LOGIN with
    an initial response can leave some servers waiting: a wrong password must fail with 535."""
    smtp.ehlo_or_helo_if_needed()
    mechanisms = smtp.esmtp_features.get("auth", "").upper().split()
    if "PLAIN" in mechanisms:
        smtp.user, smtp.password = user, password
        smtp.auth("PLAIN", smtp.auth_plain)
    else:
        smtp.login(user, password)


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)


def deliver(con, reports: Iterable[ReportFiles], roster: list[RosterAgency],
            settings: SmtpSettings, *, outbox: str | Path | None = None,
            resend: bool = False, only: Iterable[str] | None = None,
            skip_passed: bool = False, office: str = DEFAULT_OFFICE,
            max_attempts: int = 3, backoff: float = 2.0,
            sleep: Callable[[float], None] = time.sleep,
            session_factory: Callable[[SmtpSettings], SmtpSession] = SmtpSession,
            progress: Callable[[int, int], None] | None = None) -> DeliveryResult:
    """Send each report to its agency's roster address, once per report version.

    `outbox`: write ``<report>.eml`` files there instead of sending (dry run; the log is read
    but not written). `resend`: ignore the log. `only`: agency names to limit the run to.
    `skip_passed`: do not send 通过 reports. Transient errors are retried up to `max_attempts`
    times, waiting `backoff`, 2×`backoff`, … seconds in between.
    """
    settings.check(sending=outbox is None)
    idx = RosterLookup(roster)
    done = {} if con is None else delivery_log(con)
    only_keys = {normalize(a) for a in only} if only else None
    reports = list(reports)
    outcomes: list[Outcome] = []
    session = None if outbox is not None else session_factory(settings)
    if outbox is not None:
        Path(outbox).mkdir(parents=True, exist_ok=True)
    try:
        for i, r in enumerate(reports, start=1):
            o = _deliver_one(con, r, idx, done, settings, session, outbox, resend, only_keys,
                             skip_passed, office, max_attempts, backoff, sleep)
            if o is not None:
                outcomes.append(o)
            if progress:
                progress(i, len(reports))
    finally:
        if session is not None:
            session.close()
    return DeliveryResult(outcomes)


def _deliver_one(con, r: ReportFiles, idx: RosterLookup, done, settings,
                 session, outbox, resend, only_keys, skip_passed, office, max_attempts,
                 backoff, sleep) -> Outcome | None:
    key = normalize(r.agency)
    entry = idx.find(r.agency, r.region_code) if key else None
    if only_keys is not None and key not in only_keys and (
            entry is None or normalize(entry.agency) not in only_keys):
        return None
    if skip_passed and r.verdict == PASS:
        return None
    agency = r.agency or ""
    o = Outcome(agency=agency, year=r.year, sha256=r.sha256, report_hash=r.report_hash,
                recipient=entry.email if entry else None, status="failed")
    if not key or entry is None or not entry.email:
        o.status = "no_recipient"
        o.error = ("报告未识别机关名称" if not key else
                   "名册中没有该机关" if entry is None else "名册中该机关没有邮箱")
        return o
    prev = done.get((agency, r.report_hash))
    if prev is not None and prev["status"] == "sent" and not resend:
        o.status, o.message_id = "already_sent", prev["message_id"]
        o.attempts = 0
        return o
    first = prev["first_attempt_at"] if prev is not None else _utcnow()
    try:
        msg = build_message(r, entry.email, settings, office=office)
    except (InvalidAddress, OSError) as e:      # a bad address; an attachment gone from disk
        o.error, o.attempts = (str(e) if isinstance(e, InvalidAddress)
                               else f"无法读取附件：{e}"), 1
        o.recipient = clean_text(entry.email)
        if outbox is None and con is not None:
            _record(con, o, first, _utcnow())
        return o
    o.message_id = msg["Message-ID"]
    if outbox is not None:
        path = Path(outbox) / f"{_eml_name(r)}.eml"
        path.write_bytes(msg.as_bytes(policy=policy.SMTP))
        o.status, o.eml = "dry_run", str(path)
        return o
    for attempt in range(1, max_attempts + 1):
        o.attempts = attempt
        try:
            session.send(msg)
            o.status, o.error = "sent", None
            break
        except Exception as e:   # noqa: BLE001 - every failure is recorded, none stops the run
            o.status, o.error = "failed", _describe(e)
            log.warning("delivery to %s failed (attempt %d): %s", entry.email, attempt, o.error)
            if not _is_transient(e) or attempt == max_attempts:
                break
            sleep(backoff * 2 ** (attempt - 1))
    if con is not None:
        _record(con, o, first, _utcnow())
    return o


def _eml_name(r: ReportFiles) -> str:
    class _V:     # report_basename needs agency, year and sha256 only
        agency, year, sha256 = r.agency, r.year, r.sha256
    return report_basename(_V)  # type: ignore[arg-type]
