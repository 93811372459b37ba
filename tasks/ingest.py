"""Find the report files of a batch: folders are walked, files taken as given.

Only document-like files are candidates (by extension; the real format is sniffed from the bytes
later). Side files of a sample set (truth JSON, manifest/roster CSV) are not reports.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DOCUMENT_SUFFIXES = {".txt", ".text", ".htm", ".html", ".shtml", ".xhtml", ".pdf", ".doc",
                     ".docx", ".wps", ".rtf", ""}


@dataclass
class Discovery:
    files: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)     # not documents (csv, json, images…)
    missing: list[str] = field(default_factory=list)      # inputs that do not exist


def discover(inputs: list[str | Path]) -> Discovery:
    out = Discovery()
    seen: set[str] = set()

    def add(p: Path) -> None:
        key = os.path.realpath(p)
        if key in seen:
            return
        seen.add(key)
        if p.suffix.lower() in DOCUMENT_SUFFIXES and not p.name.startswith("."):
            out.files.append(p)
        else:
            out.skipped.append(p)

    for raw in inputs:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for n in sorted(names):
                    add(Path(root) / n)
        elif p.is_file():
            add(p)
        else:
            out.missing.append(str(raw))
    return out
