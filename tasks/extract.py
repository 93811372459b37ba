"""File → canonical Report: sniff → reader → layout → lost-cell solver → metadata.

`extract_file` never raises for bad input: an unreadable file comes back as a SourceFile with
status "error", a stable error code and a Chinese reason, and the batch goes on.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from tasks import infer, layout, metadata, narrative
from tasks.model import Report, SourceFile
from tasks.readers import reader_for
from tasks.readers.grid import Document, ReadError
from tasks.sniff import sniff

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 200 * 1024 * 1024


@dataclass
class Extraction:
    source: SourceFile
    report: Report | None
    document: Document | None = None


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def extract_file(path: str | Path, data: bytes | None = None,
                 manifest: dict[str, metadata.ManifestRow] | None = None,
                 province_hint: str | None = None, keep_document: bool = False) -> Extraction:
    fs_path = path
    path = text_path(path)      # what is stored and shown (valid UTF-8 even for odd names)
    if data is None:
        try:
            size = Path(fs_path).stat().st_size
            if size > MAX_FILE_BYTES:
                return _error(path, b"", None, "too_large",
                              f"文件过大（{size // 1024 // 1024} MB，上限 {MAX_FILE_BYTES // 1024 // 1024} MB）",
                              size=size)
            data = Path(fs_path).read_bytes()
        except OSError as e:
            return _error(path, b"", None, "unreadable", f"无法读取文件：{e.strerror or e}")
    sha = sha256_bytes(data)
    if not data.strip():
        return _error(path, data, None, "empty", "文件为空")
    fmt = sniff(data, path)
    if fmt == "zip" and path.lower().endswith(".docx"):
        fmt = "docx"            # a damaged DOCX: its reader says what is wrong with the zip
    try:
        if fmt is None or fmt == "zip":
            _check_claimed_format(path, fmt)
        reader = reader_for(fmt)
        doc = reader(path, data, sha)
        return _from_document(doc, data, manifest, province_hint, keep_document)
    except ReadError as e:
        return _error(path, data, fmt, e.code, e.message)
    except RecursionError:
        return _error(path, data, fmt, "malformed", "文件结构嵌套过深，无法解析")
    except MemoryError:
        return _error(path, data, fmt, "too_large", "文件解析所需内存过大")
    except Exception as e:   # noqa: BLE001 — a bad file must never stop the batch
        log.debug("extract failed for %s", path, exc_info=True)
        return _error(path, data, fmt, "internal", f"解析时发生内部错误：{type(e).__name__}: {e}")


_CLAIMED = {".pdf": "PDF", ".doc": "Word", ".docx": "Word", ".wps": "WPS", ".txt": "文本",
            ".htm": "网页", ".html": "网页", ".shtml": "网页", ".rtf": "RTF"}


def _check_claimed_format(path: str, fmt: str | None) -> None:
    """Unrecognised bytes under a document's extension: say so (a broken download, a file
    saved under the wrong name), rather than only "unknown format"."""
    ext = Path(path).suffix.lower()
    if ext in _CLAIMED:
        what = "压缩包" if fmt == "zip" else "无法识别的二进制数据"
        raise ReadError("format.mismatch",
                        f"文件扩展名为{ext}，但内容不是{_CLAIMED[ext]}文件（是{what}），"
                        f"可能已损坏、下载不完整或扩展名有误")


def text_path(path: str | Path) -> str:
    """A path as text that can be stored and printed: bytes of a file name that are not UTF-8
    (Python keeps them as lone surrogates, which DuckDB/Arrow/JSON refuse) become \\xNN."""
    s = str(path)
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def extract_document(doc: Document, manifest_row: metadata.ManifestRow | None = None,
                     province_hint: str | None = None) -> Report:
    lay = layout.extract_layout(doc)
    report = layout.to_report(doc, lay)
    for code, msg, cells in infer.solve(report.cells, lay.lost):
        report.warn(code, msg, cells)
    md = metadata.find_metadata(doc, max_year=_dt.date.today().year)
    metadata.override(md, manifest_row)
    metadata.resolve_region(md, province_hint=province_hint)
    metadata.apply(report, md)
    report.meta["narrative"] = narrative.extract_numbers(doc, report.year)   # tasks.narrative
    for k, v in doc.meta.items():
        report.meta.setdefault(k, v)
    return report


def _from_document(doc: Document, data: bytes, manifest, province_hint, keep: bool) -> Extraction:
    row = None
    if manifest:
        row = manifest.get(doc.path) or manifest.get(Path(doc.path).name)
    report = extract_document(doc, row, province_hint)
    src = SourceFile(path=doc.path, sha256=doc.sha256, size=len(data), format=doc.format)
    if not report.tables_found and not _mentions_report(doc):
        src.status, src.error_code = "error", "not_a_report"
        src.error_message = "文件中既没有政府信息公开年度报告的标题，也没有找到任何一张标准统计表，不是年度报告"
        return Extraction(src, None, doc if keep else None)
    return Extraction(src, report, doc if keep else None)


def _mentions_report(doc: Document) -> bool:
    from tasks.labels import squash

    text = squash("".join(t.text for t in doc.text[:60]))
    return "政府信息公开" in text and ("年度报告" in text or "年报" in text)


def _error(path: str, data: bytes, fmt: str | None, code: str, message: str,
           size: int | None = None) -> Extraction:
    return Extraction(SourceFile(path=path, sha256=sha256_bytes(data), size=size or len(data),
                                 format=fmt, status="error", error_code=code,
                                 error_message=message), None)
