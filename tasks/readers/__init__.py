"""One reader per format, each turning bytes into a `Document` (see grid.py).

`READERS` maps a sniffed format to "module:function"; readers are imported lazily so a missing
optional dependency only affects files of that format.
"""
from __future__ import annotations

import importlib
from typing import Callable

from tasks.readers.grid import Document, ReadError

READERS: dict[str, str] = {
    "txt": "tasks.readers.text:read_text",
    "html": "tasks.readers.html:read_html",
    "pdf": "tasks.readers.pdf:read_pdf",
    "docx": "tasks.readers.docx:read_docx",
    "doc": "tasks.readers.office:read_doc",
    "wps": "tasks.readers.office:read_doc",
}


def reader_for(fmt: str | None) -> Callable[[str, bytes, str], Document]:
    target = READERS.get(fmt or "")
    if target is None:
        raise ReadError("format.unsupported", f"无法识别的文件格式（{fmt or '未知二进制'}）")
    mod, fn = target.split(":")
    try:
        return getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as e:
        raise ReadError("format.unsupported", f"暂不支持读取{fmt}格式：{e}") from e
