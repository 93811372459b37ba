"""URL ingest: download report pages and their attachments politely, archive the raw bytes.

`fetch_urls(urls, settings, previous)` fetches each URL (and, for an HTML page, the PDF / DOC /
DOCX / WPS attachments linked from it) and returns one :class:`FetchResult` per request:

- **Only http(s)**; the host is resolved first and refused when any of its addresses is
  private, loopback, link-local, reserved or multicast, unless it lies in
  ``settings.allowed_networks`` (tests allow 127.0.0.0/8). Redirects are followed by hand, each
  hop checked the same way. The connection goes to the address that was checked (the URL's
  host is replaced by it; the Host header and, for https, the TLS server name and certificate
  check keep the host name), so a DNS answer that changes between the check and the connect
  (DNS rebinding) cannot lead the fetcher to an internal address.
- **Polite**: at most one request per ``settings.rate`` seconds per host; retries with
  exponential backoff on connection errors, timeouts, 429 and 5xx (Retry-After honoured up to
  60 s); a timeout per request; a size limit checked on Content-Length and while streaming.
- **Conditional GET**: the ETag / Last-Modified of the URL's last fetch (from the fetch log)
  are sent; a 304 keeps the archived file.
- **Content-type sniffing** from the bytes (tasks.sniff), not from the header or the name.
- **Archive** (``settings.archive``): ``objects/<sha[:2]>/<sha><ext>`` holds every content ever
  fetched (immutable); ``files/<host>/<url key>/<name>`` is the URL's current content, the path
  the pipeline ingests (a corrected report republished at the same URL supersedes the old one
  there). Paths are built from a hash of the URL and a sanitised name, never from raw URL
  parts, and checked to stay inside the archive.

`write_log(con, batch_id, results)` appends the results to ``raw_fetch_log``;
`previous_fetches(con)` reads the validators back. Messages for people are Chinese.
No Prefect here.
"""
from __future__ import annotations

import hashlib
import ipaddress
import os
import re
import socket
import tempfile
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Sequence
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from tasks.sniff import sniff

REPORT_FORMATS = {"html", "pdf", "doc", "docx", "wps", "txt"}
ATTACHMENT_SUFFIXES = (".pdf", ".doc", ".docx", ".wps")
EXT = {"html": ".html", "pdf": ".pdf", "doc": ".doc", "docx": ".docx", "wps": ".wps",
       "txt": ".txt"}
RETRY_STATUS = {429, 500, 502, 503, 504}
USER_AGENT = "nianbao/0.1 (government information disclosure annual report collector)"


@dataclass
class FetchSettings:
    archive: Path
    rate: float = 1.0                   # seconds between two requests to the same host
    timeout: float = 30.0               # seconds per request (connect, read)
    retries: int = 3                    # extra attempts after the first
    backoff: float = 1.0                # first retry after this many seconds, then doubled
    max_bytes: int = 50 * 1024 * 1024   # larger bodies are refused
    allowed_networks: tuple[str, ...] = ()   # e.g. ("127.0.0.0/8",): private ranges let in
    max_redirects: int = 5
    max_attachments: int = 20           # per page
    follow_attachments: bool = True
    user_agent: str = USER_AGENT


@dataclass
class Previous:
    """What the log knows of a URL's last successful fetch."""
    etag: str | None
    last_modified: str | None
    sha256: str | None
    format: str | None
    archive_path: str | None
    file_path: str | None


@dataclass
class FetchResult:
    url: str
    outcome: str                        # fetched | not_modified | refused | failed | too_large | skipped
    final_url: str | None = None
    parent_url: str | None = None
    http_status: int | None = None
    content_type: str | None = None
    format: str | None = None
    size: int | None = None
    sha256: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    archive_path: str | None = None
    file_path: str | None = None
    attempts: int = 0
    seconds: float = 0.0
    error: str | None = None
    fetched_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc)
                                 .replace(tzinfo=None))
    fetch_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def ok(self) -> bool:
        return self.outcome in ("fetched", "not_modified")


class Refused(Exception):
    """A URL that must not be fetched; the message is Chinese."""


class TooLarge(Exception):
    pass


# ---------------------------------------------------------------------------- URL checks
def read_url_list(path: str | Path) -> list[str]:
    """One URL per line; blank lines and lines starting with # are ignored; duplicates once."""
    out: list[str] = []
    for line in Path(path).read_text(encoding="utf-8-sig").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and line not in out:
            out.append(line)
    return out


def _networks(allowed: Iterable[str]) -> list:
    return [ipaddress.ip_network(n, strict=False) for n in allowed]


def check_url(url: str, allowed_networks: Sequence[str] = (),
              resolve: Callable = socket.getaddrinfo) -> str:
    """Raise :class:`Refused` unless `url` is http(s) and its host resolves only to public
    addresses (or addresses in `allowed_networks`); return the first checked address (the one
    to connect to, see :func:`pinned_request`)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise Refused(f"只允许 http/https 地址，拒绝 {parts.scheme or '无协议'} 地址")
    host = parts.hostname
    if not host:
        raise Refused("地址中没有主机名")
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise Refused("地址中的端口无效") from None
    try:
        infos = resolve(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as e:
        raise Refused(f"无法解析主机名 {host}：{e}") from None
    allowed = _networks(allowed_networks)
    if not infos:
        raise Refused(f"无法解析主机名 {host}：没有地址")
    first: str | None = None
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        first = first or str(ip)
        if any(ip in n for n in allowed):
            continue
        if (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
                or ip.is_multicast or ip.is_unspecified or not ip.is_global   # 100.64/10 too
                or getattr(ip, "ipv4_mapped", None) is not None):
            raise Refused(f"主机 {host} 指向内网或本机地址 {ip}，按设置不予访问")
    return first


def pinned_request(url: str, ip: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """(URL with the host replaced by the checked address `ip`, extra headers, httpx
    extensions): the request goes to `ip` while the server still sees its host name (Host
    header) and, for https, the TLS handshake sends and verifies the host name (SNI)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = parts.netloc.rsplit("@", 1)[-1]          # no user info in Host
    addr = f"[{ip}]" if ":" in ip else ip
    target = addr + (f":{parts.port}" if parts.port else "")
    pinned = parts._replace(netloc=target).geturl()
    ext = {"sni_hostname": host} if parts.scheme.lower() == "https" else {}
    return pinned, {"Host": netloc}, ext


# ------------------------------------------------------------------------------ archive
_SAFE = re.compile(r"[^\w\-.()（）]+", re.UNICODE)


def safe_name(name: str, limit: int = 100) -> str:
    """A file name from a URL's last segment: no separators, no leading dots, no control
    characters, at most `limit` characters."""
    name = unicodedata.normalize("NFC", unquote(name))
    name = name.replace("/", "_").replace("\\", "_")
    name = _SAFE.sub("_", name).strip("._ ")
    if len(name) > limit:
        stem, dot, ext = name.rpartition(".")
        name = (stem[:limit - len(ext) - 1] + "." + ext) if dot and len(ext) <= 8 else name[:limit]
    return name or "file"


def host_dir(url: str) -> str:
    parts = urlsplit(url)
    host = re.sub(r"[^a-z0-9.\-]", "_", (parts.hostname or "host").lower()).strip(".") or "host"
    return f"{host}_{parts.port}" if parts.port else host


def archive_paths(url: str, sha: str, fmt: str | None) -> tuple[str, str]:
    """(objects/… , files/…) relative to the archive root for this URL's content."""
    ext = EXT.get(fmt or "", ".bin")
    last = urlsplit(url).path.rsplit("/", 1)[-1]
    name = safe_name(last) if last else "index"
    if not name.lower().endswith(ext):
        name = f"{name}{ext}"
    key = hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return f"objects/{sha[:2]}/{sha}{ext}", f"files/{host_dir(url)}/{key}/{name}"


def _inside(root: Path, rel: str) -> Path:
    root = root.resolve()
    p = (root / rel).resolve()
    if not p.is_relative_to(root):
        raise Refused(f"存档路径越出存档目录：{rel}")
    return p


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def store(root: Path, url: str, data: bytes, sha: str, fmt: str | None) -> tuple[str, str]:
    """Archive the bytes: the content object (once) and the URL's current file (replacing the
    URL's previous file, whatever its name)."""
    obj, cur = archive_paths(url, sha, fmt)
    obj_path, cur_path = _inside(root, obj), _inside(root, cur)
    if not obj_path.exists():
        _write_atomic(obj_path, data)
    if cur_path.parent.is_dir():
        for old in cur_path.parent.iterdir():
            if old.is_file() and old.name != cur_path.name and not old.name.startswith("."):
                old.unlink()
    if not (cur_path.exists() and cur_path.stat().st_size == len(data)
            and hashlib.sha256(cur_path.read_bytes()).hexdigest() == sha):
        _write_atomic(cur_path, data)
    return obj, cur


# -------------------------------------------------------------------------- attachments
def find_attachments(html: bytes, base_url: str, limit: int = 20) -> list[str]:
    """Absolute http(s) URLs of the PDF/DOC/DOCX/WPS files linked from a page, in page order."""
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    out: list[str] = []
    for a in tree.css("a[href]"):
        href = (a.attributes.get("href") or "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:")):
            continue
        url = urljoin(base_url, href)
        path = urlsplit(url).path.lower()
        if urlsplit(url).scheme in ("http", "https") and path.endswith(ATTACHMENT_SUFFIXES):
            url = url.split("#", 1)[0]
            if url not in out:
                out.append(url)
        if len(out) >= limit:
            break
    return out


# ------------------------------------------------------------------------------ fetching
class Fetcher:
    """One fetching session: an httpx client, the per-host clock, the archive."""

    def __init__(self, settings: FetchSettings, previous: dict[str, Previous] | None = None,
                 resolve: Callable = socket.getaddrinfo, sleep: Callable = time.sleep):
        self.s = settings
        self.previous = previous or {}
        self.resolve = resolve
        self.sleep = sleep
        self._last: dict[str, float] = {}
        self.requests: list[tuple[float, str]] = []     # (monotonic time, host) of each request
        self.client = httpx.Client(follow_redirects=False, timeout=settings.timeout,
                                   headers={"User-Agent": settings.user_agent}, trust_env=False)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "Fetcher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # politeness
    def _wait_turn(self, url: str) -> None:
        host = urlsplit(url).netloc.lower()
        last = self._last.get(host)
        if last is not None:
            wait = self.s.rate - (time.monotonic() - last)
            if wait > 0:
                self.sleep(wait)
        self._last[host] = time.monotonic()
        self.requests.append((self._last[host], host))

    def _get(self, url: str, headers: dict[str, str], res: FetchResult) -> tuple[httpx.Response, bytes | None]:
        """GET with redirects checked hop by hop, retries and the size limit. Returns the final
        response and its body (None for 304)."""
        attempt = 0
        while True:
            attempt += 1
            res.attempts += 1
            try:
                current, hops = url, 0
                while True:
                    ip = check_url(current, self.s.allowed_networks, self.resolve)
                    self._wait_turn(current)
                    target, host_header, ext = pinned_request(current, ip)
                    with self.client.stream("GET", target, headers={**headers, **host_header},
                                            extensions=ext) as r:
                        if r.status_code in (301, 302, 303, 307, 308) and "location" in r.headers:
                            hops += 1
                            if hops > self.s.max_redirects:
                                raise Refused(f"重定向次数超过 {self.s.max_redirects} 次")
                            current = urljoin(current, r.headers["location"])
                            continue
                        res.final_url = current
                        if r.status_code in RETRY_STATUS and attempt <= self.s.retries:
                            delay = self._retry_after(r) or self.s.backoff * 2 ** (attempt - 1)
                            raise _Retry(delay, f"服务器返回 {r.status_code}")
                        if r.status_code == 304 or r.status_code >= 400:
                            return r, None
                        length = r.headers.get("content-length")
                        if length and length.isdigit() and int(length) > self.s.max_bytes:
                            raise TooLarge(int(length))
                        body = bytearray()
                        for chunk in r.iter_bytes():
                            body += chunk
                            if len(body) > self.s.max_bytes:
                                raise TooLarge(len(body))
                        return r, bytes(body)
            except _Retry as e:
                res.error = e.reason
                self.sleep(min(e.delay, 60.0))
            except (httpx.TransportError, httpx.DecodingError) as e:
                res.error = f"网络错误：{type(e).__name__}"
                if attempt > self.s.retries:
                    raise
                self.sleep(min(self.s.backoff * 2 ** (attempt - 1), 60.0))

    @staticmethod
    def _retry_after(r: httpx.Response) -> float | None:
        v = r.headers.get("retry-after", "").strip()
        return float(v) if v.isdigit() else None

    def fetch_one(self, url: str, parent: str | None = None) -> tuple[FetchResult, bytes | None]:
        res = FetchResult(url=url, outcome="failed", parent_url=parent)
        t0 = time.perf_counter()
        body: bytes | None = None
        prev = self.previous.get(url)
        headers: dict[str, str] = {}
        have_file = bool(prev and prev.file_path and (self.s.archive / prev.file_path).is_file())
        if prev and have_file:
            if prev.etag:
                headers["If-None-Match"] = prev.etag
            if prev.last_modified:
                headers["If-Modified-Since"] = prev.last_modified
        try:
            r, body = self._get(url, headers, res)
            res.http_status = r.status_code
            res.content_type = r.headers.get("content-type")
            res.etag = r.headers.get("etag")
            res.last_modified = r.headers.get("last-modified")
            if r.status_code == 304 and prev is not None and have_file:
                res.outcome, res.error = "not_modified", None
                res.etag = res.etag or prev.etag
                res.last_modified = res.last_modified or prev.last_modified
                res.sha256, res.format = prev.sha256, prev.format
                res.archive_path, res.file_path = prev.archive_path, prev.file_path
                body = _inside(self.s.archive, prev.file_path).read_bytes()
                res.size = len(body)
            elif body is None:
                res.outcome, res.error = "failed", f"服务器返回 {r.status_code}"
            else:
                res.size, res.sha256 = len(body), hashlib.sha256(body).hexdigest()
                res.format = sniff(body, urlsplit(res.final_url or url).path)
                if res.format not in REPORT_FORMATS:
                    res.outcome = "skipped"
                    res.error = f"内容不是报告文件格式（识别为 {res.format or '未知二进制'}）"
                else:
                    res.archive_path, res.file_path = store(self.s.archive, url, body,
                                                            res.sha256, res.format)
                    res.outcome, res.error = "fetched", None
        except Refused as e:
            res.outcome, res.error = "refused", str(e)
            body = None
        except TooLarge as e:
            res.outcome = "too_large"
            res.error = f"文件超过大小上限（{e.args[0]} 字节，上限 {self.s.max_bytes} 字节）"
            body = None
        except (httpx.HTTPError, OSError) as e:
            res.outcome = "failed"
            res.error = res.error or f"下载失败：{type(e).__name__}: {e}"
            body = None
        res.seconds = time.perf_counter() - t0
        res.fetched_at = datetime.now(timezone.utc).replace(tzinfo=None)
        return res, body

    def fetch(self, urls: Iterable[str]) -> list[FetchResult]:
        results: list[FetchResult] = []
        done: set[str] = set()
        for url in urls:
            if url in done:
                continue
            done.add(url)
            res, body = self.fetch_one(url)
            results.append(res)
            if (self.s.follow_attachments and res.ok and res.format == "html"
                    and body is not None):
                for att in find_attachments(body, res.final_url or url, self.s.max_attachments):
                    if att in done:
                        continue
                    done.add(att)
                    results.append(self.fetch_one(att, parent=url)[0])
        return results


class _Retry(Exception):
    def __init__(self, delay: float, reason: str):
        super().__init__(reason)
        self.delay, self.reason = delay, reason


def fetch_urls(urls: Iterable[str], settings: FetchSettings,
               previous: dict[str, Previous] | None = None, **kw) -> list[FetchResult]:
    with Fetcher(settings, previous, **kw) as f:
        return f.fetch(urls)


# ------------------------------------------------------------------------------ fetch log
_LOG_COLS = ("fetch_id", "batch_id", "url", "final_url", "parent_url", "fetched_at", "outcome",
             "http_status", "content_type", "format", "size", "sha256", "etag", "last_modified",
             "archive_path", "file_path", "attempts", "seconds", "error")


def write_log(con, batch_id: str, results: Sequence[FetchResult]) -> int:
    """Append the results to raw_fetch_log in one transaction."""
    rows = [tuple(batch_id if c == "batch_id" else getattr(r, c) for c in _LOG_COLS)
            for r in results]
    if not rows:
        return 0
    con.begin()
    try:
        con.executemany(f"INSERT INTO raw_fetch_log ({', '.join(_LOG_COLS)}) VALUES "
                        f"({', '.join('?' for _ in _LOG_COLS)})", rows)
        con.commit()
    except BaseException:
        con.rollback()
        raise
    return len(rows)


def previous_fetches(con) -> dict[str, Previous]:
    """The last successful fetch of every URL in the log (validators for conditional GETs)."""
    rows = con.execute("""
        SELECT url, etag, last_modified, sha256, format, archive_path, file_path
        FROM raw_fetch_log WHERE outcome IN ('fetched', 'not_modified')
        QUALIFY row_number() OVER (PARTITION BY url ORDER BY fetched_at DESC, fetch_id) = 1
        """).fetchall()
    return {r[0]: Previous(*r[1:]) for r in rows}
