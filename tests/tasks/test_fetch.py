"""tasks.fetch against a real HTTP server on loopback (http.server in a thread); no other network.
Loopback is allowed explicitly (allowed_networks), as the settings would for a test."""
from __future__ import annotations

import hashlib
import http.server
import io
import threading
import time
import zipfile
from pathlib import Path

import pytest

from tasks import fetch as F
from tasks.load import open_warehouse

ROOT = Path(__file__).resolve().parents[2]
PDF = (ROOT / "tests" / "fixtures" / "pdf" / "template-a.pdf").read_bytes()
LOOPBACK = ("127.0.0.0/8",)


class Site:
    def __init__(self):
        self.hits: list[tuple[float, str, dict]] = []
        self.pdf_version = PDF
        self.flaky_left = 2
        self.page = """<html><head><meta charset="utf-8"><title>某某局2024年政府信息公开工作年度报告</title>
            </head><body><p>附件：<a href="/files/report-2024.pdf">年度报告（PDF）</a>
            <a href="../../../../etc/%2e%2e/evil.DOCX?x=1#frag">附件2</a>
            <a href="/files/report-2024.pdf">同一附件</a>
            <a href="file:///etc/passwd">本地文件</a>
            <a href="/news.html">新闻</a></p></body></html>""".encode("utf-8")


def handler(site: Site):
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def send(self, code, body=b"", ctype="application/octet-stream", **headers):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            if "Content_Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k.replace("_", "-"), v)
            self.end_headers()
            if body:
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        def do_GET(self):
            site.hits.append((time.monotonic(), self.path, dict(self.headers)))
            p = self.path.split("?", 1)[0]
            if p == "/page.html":
                self.send(200, site.page, "text/html; charset=utf-8")
            elif p == "/files/report-2024.pdf":
                etag = '"' + hashlib.sha256(site.pdf_version).hexdigest()[:8] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send(304, ETag=etag)
                else:   # served as text/html on purpose: the bytes decide
                    self.send(200, site.pdf_version, "text/html", ETag=etag,
                              Last_Modified="Mon, 06 Jan 2025 08:00:00 GMT")
            elif p.lower().endswith("evil.docx"):
                buf = io.BytesIO()
                with zipfile.ZipFile(buf, "w") as z:
                    z.writestr("word/document.xml", "<w:document/>")
                self.send(200, buf.getvalue())
            elif p == "/flaky.pdf":
                if site.flaky_left > 0:
                    site.flaky_left -= 1
                    self.send(503, b"busy", Retry_After="0")
                else:
                    self.send(200, PDF)
            elif p == "/big.pdf":
                self.send(200, b"", Content_Length=str(10 ** 9))
            elif p == "/stream.pdf":     # no Content-Length, body over the limit
                self.send_response(200)
                self.end_headers()
                try:
                    self.wfile.write(b"%PDF-1.4\n" + b"0" * 300_000)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True
            elif p == "/data.zip":
                buf = io.BytesIO()
                with zipfile.ZipFile(buf, "w") as z:
                    z.writestr("a.csv", "x")
                self.send(200, buf.getvalue(), "application/pdf")
            elif p == "/hop":
                self.send(302, Location="/page.html")
            elif p == "/hop-out":
                self.send(302, Location="file:///etc/passwd")
            else:
                self.send(404, b"not found", "text/plain")
    return H


@pytest.fixture()
def site():
    s = Site()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler(s))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    s.base = f"http://127.0.0.1:{srv.server_address[1]}"
    yield s
    srv.shutdown()
    srv.server_close()


def settings(tmp_path, **kw) -> F.FetchSettings:
    base = dict(archive=tmp_path / "archive", rate=0.0, timeout=5.0, retries=3, backoff=0.01,
                allowed_networks=LOOPBACK)
    base.update(kw)
    return F.FetchSettings(**base)


def by_url(results):
    return {r.url: r for r in results}


def test_page_and_attachments_are_archived_with_sniffed_formats(site, tmp_path):
    s = settings(tmp_path, rate=0.05)
    with F.Fetcher(s) as fetcher:
        res = fetcher.fetch([f"{site.base}/page.html"])
    got = by_url(res)
    page, pdf = got[f"{site.base}/page.html"], got[f"{site.base}/files/report-2024.pdf"]
    assert (page.outcome, page.format) == ("fetched", "html")
    assert (pdf.outcome, pdf.format, pdf.content_type) == ("fetched", "pdf", "text/html")
    assert pdf.parent_url == page.url and pdf.sha256 == hashlib.sha256(PDF).hexdigest()
    assert (s.archive / pdf.file_path).read_bytes() == PDF
    assert (s.archive / pdf.archive_path).read_bytes() == PDF
    assert pdf.file_path.endswith("/report-2024.pdf") and pdf.archive_path.startswith("objects/")
    # the traversal link: fetched (it is http on the same host) but archived inside
    evil = [r for r in res if "evil.docx" in r.url.lower()]
    assert len(evil) == 1 and evil[0].format == "docx"
    root = s.archive.resolve()
    for r in res:
        for rel in (r.file_path, r.archive_path):
            if rel:
                assert (s.archive / rel).resolve().is_relative_to(root)
                assert ".." not in Path(rel).parts
    # file: links and the news page are not attachments; the same attachment once
    assert len(res) == 3
    # one request per 0.05 s per host at most
    times = [t for t, _ in fetcher.requests]
    assert len(times) == len(site.hits) == 3
    assert all(b - a >= 0.05 for a, b in zip(times, times[1:]))


def test_conditional_get_and_a_republished_file(site, tmp_path):
    s = settings(tmp_path)
    con = open_warehouse(tmp_path / "w.duckdb")
    try:
        first = F.fetch_urls([f"{site.base}/page.html"], s, F.previous_fetches(con))
        F.write_log(con, "b1", first)
        prev = F.previous_fetches(con)
        second = F.fetch_urls([f"{site.base}/files/report-2024.pdf"], s, prev)
        assert second[0].outcome == "not_modified" and second[0].http_status == 304
        assert site.hits[-1][2].get("If-None-Match") == prev[second[0].url].etag
        assert second[0].file_path == by_url(first)[second[0].url].file_path
        F.write_log(con, "b2", second)
        # corrected report at the same URL: new content, same current file path
        site.pdf_version = PDF + b"\n%corrected\n"
        third = F.fetch_urls([f"{site.base}/files/report-2024.pdf"], s, F.previous_fetches(con))
        F.write_log(con, "b3", third)
        assert third[0].outcome == "fetched" and third[0].file_path == second[0].file_path
        assert (s.archive / third[0].file_path).read_bytes() == site.pdf_version
        assert (s.archive / by_url(first)[third[0].url].archive_path).read_bytes() == PDF
        log = con.execute("SELECT batch_id, outcome FROM raw_fetch_log WHERE url = ? "
                          "ORDER BY fetched_at", [third[0].url]).fetchall()
        assert log == [("b1", "fetched"), ("b2", "not_modified"), ("b3", "fetched")]
    finally:
        con.close()


def test_retries_limits_and_refusals(site, tmp_path):
    s = settings(tmp_path, max_bytes=200_000)
    urls = [f"{site.base}/flaky.pdf", f"{site.base}/big.pdf", f"{site.base}/stream.pdf",
            f"{site.base}/data.zip", f"{site.base}/missing.pdf", f"{site.base}/hop",
            f"{site.base}/hop-out", "file:///etc/passwd", "ftp://example.org/a.pdf"]
    got = by_url(F.fetch_urls(urls, s))
    flaky = got[urls[0]]
    assert (flaky.outcome, flaky.attempts, flaky.format) == ("fetched", 3, "pdf")
    assert got[urls[1]].outcome == "too_large" and got[urls[2]].outcome == "too_large"
    assert got[urls[3]].outcome == "skipped" and got[urls[3]].format == "zip"
    assert got[urls[4]].outcome == "failed" and got[urls[4]].http_status == 404
    assert got[urls[5]].final_url == f"{site.base}/page.html"
    assert got[urls[6]].outcome == "refused"
    assert got[urls[7]].outcome == "refused" and "http" in got[urls[7]].error
    assert got[urls[8]].outcome == "refused"
    # nothing of the refused / too large / skipped ones is archived
    archived = {p.name for p in (s.archive).rglob("*") if p.is_file()}
    assert not any(n.startswith(("big", "stream", "data")) for n in archived)


def test_loopback_and_private_hosts_are_refused_unless_allowed(site, tmp_path):
    hits = len(site.hits)
    res = F.fetch_urls([f"{site.base}/page.html", f"http://localhost:{site.base.rsplit(':', 1)[1]}/x"],
                       settings(tmp_path, allowed_networks=()))
    assert [r.outcome for r in res] == ["refused", "refused"]
    assert len(site.hits) == hits, "refused before any request"
    with pytest.raises(F.Refused):
        F.check_url("http://10.1.2.3/a.pdf")     # checked, never connected to
    with pytest.raises(F.Refused):
        F.check_url("http://[::ffff:127.0.0.1]/a.pdf")
    F.check_url("http://127.0.0.1:9/a.pdf", allowed_networks=LOOPBACK)


def test_safe_names_and_paths():
    assert F.safe_name("..%2F..%2Fetc%2Fpasswd") == "etc_passwd"
    assert F.safe_name("年度报告（2024）.pdf") == "年度报告（2024）.pdf"
    assert F.safe_name("") == "file" and F.safe_name("...") == "file"
    obj, cur = F.archive_paths("http://a.gov.cn:8080/x/../%2e%2e/报告.PDF?q=1", "ab" * 32, "pdf")
    assert obj == f"objects/ab/{'ab' * 32}.pdf"
    assert cur.startswith("files/a.gov.cn_8080/") and cur.endswith("/报告.PDF")
    assert len(cur.split("/")) == 4


def test_fetched_reports_go_through_the_pipeline(site, tmp_path):
    from flows.pipeline import run_plain

    s = settings(tmp_path)
    res = F.fetch_urls([f"{site.base}/page.html"], s)
    summary = run_plain([str(s.archive / "files")], str(tmp_path / "w.duckdb"), workers=1)
    assert summary.status == "complete"
    con = open_warehouse(tmp_path / "w.duckdb", read_only=True)
    try:
        pdf = by_url(res)[f"{site.base}/files/report-2024.pdf"]
        assert con.execute("SELECT format FROM raw_reports WHERE sha256 = ?",
                           [pdf.sha256]).fetchall() == [("pdf",)]
    finally:
        con.close()


def test_connection_goes_to_the_checked_address_not_a_second_dns_answer(site, tmp_path):
    """DNS rebinding: the first answer (checked) is loopback, allowed here; any later lookup
    would answer a forbidden address. The fetcher resolves once per hop and connects to the
    checked address, sending the host name in the Host header."""
    port = int(site.base.rsplit(":", 1)[1])
    answers = []

    def rebinding(host, p, **kw):
        ip = "127.0.0.1" if not answers else "10.9.9.9"
        answers.append(ip)
        return [(2, 1, 6, "", (ip, p))]

    url = f"http://reports.example.gov.cn:{port}/files/report-2024.pdf"
    with F.Fetcher(settings(tmp_path), resolve=rebinding) as f:
        res, body = f.fetch_one(url)
    assert res.outcome == "fetched" and body == PDF
    assert answers == ["127.0.0.1"], "one lookup, and its answer is what was connected to"
    assert site.hits[-1][2]["Host"] == f"reports.example.gov.cn:{port}"
    assert res.final_url == url
    # a later fetch resolves again and is refused before connecting
    hits = len(site.hits)
    with F.Fetcher(settings(tmp_path), resolve=rebinding) as f:
        res2, _ = f.fetch_one(url)
    assert res2.outcome == "refused" and len(site.hits) == hits


def test_pinned_request_keeps_the_host_name_for_http_and_tls():
    url, headers, ext = F.pinned_request("https://user@www.example.gov.cn:8443/a/b.pdf?x=1",
                                         "203.0.113.7")
    assert url == "https://203.0.113.7:8443/a/b.pdf?x=1"
    assert headers == {"Host": "www.example.gov.cn:8443"}
    assert ext == {"sni_hostname": "www.example.gov.cn"}
    url, headers, ext = F.pinned_request("http://www.example.gov.cn/a.pdf", "2001:db8::1")
    assert url == "http://[2001:db8::1]/a.pdf" and headers == {"Host": "www.example.gov.cn"}
    assert ext == {}
