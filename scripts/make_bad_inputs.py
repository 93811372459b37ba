"""Write the bad-input corpus to tests/fixtures/bad/ (committed; run again to regenerate).

    .venv/bin/python scripts/make_bad_inputs.py [OUTDIR]

Everything a provincial crawl can bring in, one small file per kind (see BAD_KINDS and the
README.md written beside them). Deterministic: the same script writes the same bytes (PDFs
carry no creation date), except encrypted.pdf (the encryption's salts are random). Reports come from ``tasks.synth`` (truth known, written beside as
``<name>.truth.json``); PDFs are rendered with WeasyPrint and post-processed with pikepdf.

Two kinds are not committed but made at test time by :func:`write_odd_names` (their names are
the point, and a non-UTF-8 file name does not belong in a git tree): a file name with bytes
that are not UTF-8, and names with shell metacharacters / Rich markup.

Functions used by the tests: :func:`synth_report` (a clean or modified synthetic report with
its truth), :func:`report_html`, :func:`write_odd_names`.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import random
import sys
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tasks import spec  # noqa: E402
from tasks.synth import document as _document  # noqa: E402
from tasks.synth.agencies import Agency, build_roster  # noqa: E402
from tasks.synth.generate import build_truth  # noqa: E402
from tasks.synth.render_text import TextRenderer  # noqa: E402
from tasks.synth.truth import ReportTruth  # noqa: E402
from tasks.synth.values import agency_series  # noqa: E402

OUT = ROOT / "tests" / "fixtures" / "bad"
SEED = 7
ROSTER_SIZE = 24
YEAR = 2024

# file name → what it is (the README of the folder; the expected outcome is asserted in
# tests/test_bad_inputs.py, file by file)
BAD_KINDS: dict[str, str] = {
    "empty.pdf": "0 bytes (a failed download)",
    "garbage.pdf": "4 KB of random bytes named .pdf",
    "truncated.pdf": "a report PDF cut after 40 % of its bytes",
    "encrypted.pdf": "a report PDF with an open password",
    "cid.pdf": "a report's first page (no table) whose fonts have no Unicode map: (cid:NNN) → OCR",
    "huge.pdf": "300 pages: 297 copies of a prose page, then the 3 pages of a report",
    "not_zip.docx": "starts like a zip (PK\\3\\4) but is not one",
    "zip_bomb.docx": "a DOCX whose document.xml inflates 40 MB from 40 KB",
    "entity_bomb.docx": "a DOCX whose document.xml declares a billion-laughs DTD",
    "entity_bomb.html": "an XHTML page with a billion-laughs DTD and &lol9; in the body",
    "scripts_only.html": "a CMS page shell: scripts, navigation, footer, no report",
    "wrong_charset.html": "a report page declaring charset=utf-8 whose bytes are GBK",
    "bom_gbk.txt": "a report text in GBK that starts with a UTF-8 byte-order mark",
    "notice.txt": "a document that is not an annual report (a meeting notice with a table)",
    "table_missing.txt": "a report whose 表四 (行政复议、行政诉讼) is left out",
    "numbers_as_text.txt": "a report printing numbers as 一百二十, 1,234 and full-width ５",
    "duplicate_a.txt": "a report …",
    "duplicate_b.txt": "… and another, different one for the same agency and year",
    "with spaces 'and' \"quotes\".txt": "a good report; spaces and quotes in the name",
    "年报..2024..txt": "a good report; '..' in the name",
    "-rf 年报.txt": "a good report; the name starts with a dash",
}

# made at test time (write_odd_names): name (bytes) → index of the synthetic agency
ODD_NAMES: dict[bytes, int] = {
    b"gbk-\xc4\xea.txt": 17,                              # 年 in GBK: not UTF-8
    b"; touch pwned; $(touch pwned2); `touch pwned3`.txt": 18,
    b"[red]markup[bold].txt": 19,                        # Rich markup in a name
}


# ------------------------------------------------------------------------------ synthetic
def _roster() -> list[Agency]:
    return build_roster(ROSTER_SIZE, SEED)


def synth_report(index: int, year: int = YEAR, *, table_missing: str | None = None,
                 values: dict[str, Any] | None = None, seed: int = SEED,
                 layout: str = "A") -> tuple[ReportTruth, Any]:
    """A clean synthetic report of roster agency `index` (no defects, no label drift, layout
    A or B, UTF-8), optionally without one table or with some values replaced. Returns the
    truth and the format-neutral synth Document."""
    roster = build_roster(ROSTER_SIZE, seed)
    agency = roster[index % len(roster)]
    clean = agency_series(agency, [year], seed)[year]
    if values:
        clean = dict(clean)
        clean.update(values)
    t = build_truth(agency, year, clean, seed=seed, renderer=TextRenderer(), defective=False,
                    counts=Counter(), file=f"{index}.txt")
    t.drifts = []
    t.agency, t.agency_form = agency.name, "full"
    p = t.printing
    p.update(layout=layout, encoding="utf-8", newline="\n", spaced_years=False)
    if layout == "A":
        p.update(title_form=1, blank_token="\t", para_gap=True, gap_after_heading=True)
    else:
        p.update(title_form=2, pad_colspan=True, pad_label=0, wide_rowspan=False,
                 trailing_tab=False, page_break=False, separator=False)
    p.pop("row_cut", None)
    t.layout, t.encoding = layout, "utf-8"
    if table_missing:
        t.missing_tables[table_missing] = "table"
        for k in spec.KEYS_2021:
            if k.startswith(table_missing + "."):
                t.cells[k] = None
                t.status[k] = "blank"
    doc = _document.build(t, agency.region_name, agency.topic, agency.self_ref)
    return t, doc


def text_bytes(t: ReportTruth, doc: Any, encoding: str = "utf-8") -> bytes:
    t.printing["encoding"] = encoding
    data = TextRenderer().render(t, doc)
    t.encoding = encoding
    return data


def truth_json(t: ReportTruth, file: str) -> str:
    d = t.to_json()
    d["file"] = file
    return json.dumps(d, ensure_ascii=False, indent=0)


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def report_html(doc: Any, charset: str | None = "utf-8", *, for_pdf: bool = False,
                noise: Callable[[str], str] | None = None) -> str:
    """The synth Document as a plain HTML article (title, paragraphs, the three tables with
    the template's rowspan/colspan). `noise(where)` may return HTML inserted before/after
    blocks ("before" / "after"), for fuzzing."""
    head = f'<meta charset="{charset}">' if charset else ""
    css = ("<style>@page{size:A4;margin:15mm}body{font-family:'Noto Sans CJK SC';"
           "font-size:9pt}h1,h2{font-weight:normal}"
           "table{border-collapse:collapse;width:100%;page-break-inside:auto}"
           "td{border:0.8pt solid #000;padding:2pt;font-size:8pt}</style>") if for_pdf else ""
    parts = [f"<!DOCTYPE html><html><head>{head}<title>年度报告</title>{css}</head><body>"]
    for b in doc.blocks:
        if noise:
            parts.append(noise("before"))
        if b.kind == "title":
            parts.append("".join(f"<h1>{_esc(x)}</h1>" for x in b.lines if x))
        elif b.kind == "table":
            rows = []
            for row in b.table.rows:
                cells = []
                for c in row:
                    span = (f' rowspan="{c.rowspan}"' if c.rowspan > 1 else "") + \
                           (f' colspan="{c.colspan}"' if c.colspan > 1 else "")
                    cells.append(f"<td{span}>{_esc(c.text) if c.text else '&nbsp;'}</td>")
                rows.append("<tr>" + "".join(cells) + "</tr>")
            parts.append("<table>" + "".join(rows) + "</table>")
        elif b.kind == "heading":
            parts.append(f"<h2>{_esc(b.text)}</h2>")
        else:
            parts.append(f"<p>{_esc(b.text)}</p>")
        if noise:
            parts.append(noise("after"))
    parts.append("</body></html>")
    return "".join(parts)


# ------------------------------------------------------------------------------------ PDF
def _pdf_from_html(html: str) -> bytes:
    from weasyprint import HTML

    return _normalise_pdf(HTML(string=html).write_pdf())


def _normalise_pdf(data: bytes, **save: Any) -> bytes:
    """Drop dates and random IDs so the same input gives the same bytes."""
    import pikepdf

    with pikepdf.open(io.BytesIO(data)) as pdf:
        for k in ("/CreationDate", "/ModDate", "/Producer", "/Creator"):
            if k in pdf.docinfo:
                del pdf.docinfo[k]
        buf = io.BytesIO()
        pdf.save(buf, deterministic_id=not save.get("encryption"), static_id=bool(save.get("encryption")),
                 compress_streams=True, object_stream_mode=pikepdf.ObjectStreamMode.generate, **save)
        return buf.getvalue()


def _prose_html(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{_esc(p)}</p>" for p in paragraphs)
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><style>@page{size:A4;margin:20mm}"
            "body{font-family:'Noto Sans CJK SC';font-size:12pt}h2{font-weight:normal}</style></head>"
            f"<body><h2>{_esc(title)}</h2>{body}</body></html>")


def first_page(doc: Any) -> Any:
    """The report's opening: title and preamble (no section, no table)."""
    blocks = []
    for b in doc.blocks:
        if b.kind in ("table", "heading"):
            break
        blocks.append(b)
    return _document.Document(blocks, doc.agency_in_body)


def report_pdf(doc: Any) -> bytes:
    return _pdf_from_html(report_html(doc, for_pdf=True))


def encrypt_pdf(data: bytes, user: str = "nianbao") -> bytes:
    import pikepdf

    return _normalise_pdf(data, encryption=pikepdf.Encryption(user=user, owner="owner-" + user, R=6))


def strip_tounicode(data: bytes) -> bytes:
    """Remove every font's ToUnicode map: text extraction then yields (cid:NNN) / garbage."""
    import pikepdf

    with pikepdf.open(io.BytesIO(data)) as pdf:
        for page in pdf.pages:
            fonts = page.Resources.get("/Font", {})
            for _, font in fonts.items():
                if "/ToUnicode" in font:
                    del font["/ToUnicode"]
                for d in font.get("/DescendantFonts", []):
                    if "/ToUnicode" in d:
                        del d["/ToUnicode"]
        buf = io.BytesIO()
        pdf.save(buf, deterministic_id=True)
        return _normalise_pdf(buf.getvalue())


def huge_pdf(report: bytes, prose: bytes, pages: int = 300) -> bytes:
    """`pages` pages: copies of the prose page (one shared content stream), then the report."""
    import pikepdf

    with pikepdf.open(io.BytesIO(report)) as rep, pikepdf.open(io.BytesIO(prose)) as pr:
        out = pikepdf.new()
        n_rep = len(rep.pages)
        for _ in range(pages - n_rep):
            out.pages.append(pr.pages[0])
        for p in rep.pages:
            out.pages.append(p)
        buf = io.BytesIO()
        out.save(buf, deterministic_id=True)
    return _normalise_pdf(buf.getvalue())


# ----------------------------------------------------------------------------------- DOCX
_CT = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
       '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
       '<Default Extension="xml" ContentType="application/xml"/>'
       '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
       'officedocument.wordprocessingml.document.main+xml"/></Types>')
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def zip_bomb_docx(inflated: int = 40 * 1024 * 1024) -> bytes:
    body = (f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{_W}"><w:body><w:p><w:r>'
            f'<w:t>').encode() + b" " * inflated + b"</w:t></w:r></w:p></w:body></w:document>"
    return _zip({"[Content_Types].xml": _CT.encode(), "word/document.xml": body})


BILLION_LAUGHS = ('<!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
                            for i in range(1, 10))
                  + "]>")


def entity_bomb_docx() -> bytes:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>{BILLION_LAUGHS}<w:document xmlns:w="{_W}">'
            f"<w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p></w:body></w:document>")
    return _zip({"[Content_Types].xml": _CT.encode(), "word/document.xml": body.encode()})


def entity_bomb_html() -> bytes:
    return (f'<?xml version="1.0" encoding="UTF-8"?>{BILLION_LAUGHS}'
            '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>&lol9;</title></head>'
            "<body><p>&lol9;</p><p>政府信息公开</p></body></html>").encode()


def scripts_only_html() -> bytes:
    scripts = "".join(f"<script>var s{i}=document.createElement('script');s{i}.src='/js/{i}.js';"
                      f"document.head.appendChild(s{i});/* 政府信息公开年度报告 */</script>"
                      for i in range(12))
    nav = "".join(f"<li><a href='/col/{i}'>栏目{i}</a></li>" for i in range(30))
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>湘潭县人民政府门户网站</title>"
            f"{scripts}</head><body><div class='nav'><ul>{nav}</ul></div>"
            "<div id='app'></div><noscript>请启用JavaScript</noscript>"
            "<div class='footer'>版权所有：湘潭县人民政府 主办单位：湘潭县人民政府办公室 网站标识码4303210001</div>"
            f"{scripts}</body></html>").encode("utf-8")


NOTICE = """关于召开全县政务公开工作推进会的通知

各乡镇人民政府，县直各单位：
为部署今年政务公开重点工作，经研究，定于3月15日上午9时在县政府三楼会议室召开全县政务公开工作推进会。现将有关事项通知如下：
一、参会人员
各乡镇分管负责同志、县直各单位政务公开工作负责人。
二、会议议程
\t序号\t议程\t发言单位
\t1\t通报去年政务公开考核情况\t县政府办
\t2\t部署今年重点工作\t县政务服务中心
\t3\t交流发言\t各单位
三、有关要求
请各单位于3月12日前将参会人员名单报县政府办，联系电话：0731-57821234。

湘潭县人民政府办公室
2024年3月8日
"""


# -------------------------------------------------------------------------------- corpus
NUMBER_FORMS = {
    # key → (value, printed text): numbers as words, with separators, full-width
    "proactive.normative_documents.in_force": (120, "一百二十"),
    "proactive.regulations.in_force": (1234, "1,234"),
    "proactive.licensing.decisions": (56, "５６"),
    "proactive.penalty.decisions": (3005, "三千零五"),
}


def _numbers_as_text() -> tuple[ReportTruth, bytes]:
    values = {k: v for k, (v, _) in NUMBER_FORMS.items()}
    t, doc = synth_report(3, values=values)
    for b in doc.blocks:
        if b.kind == "table":
            for row in b.table.rows:
                for c in row:
                    if c.key in NUMBER_FORMS:
                        c.text = NUMBER_FORMS[c.key][1]
    return t, text_bytes(t, doc)


def build_corpus(pdfs: bool = True) -> dict[str, tuple[bytes, ReportTruth | None]]:
    """name → (bytes, truth or None). `pdfs=False` leaves out the rendered PDFs (seconds)."""
    out: dict[str, tuple[bytes, ReportTruth | None]] = {}
    rng = random.Random("bad-inputs")
    out["empty.pdf"] = (b"", None)
    out["garbage.pdf"] = (bytes(rng.randrange(256) for _ in range(4096)), None)

    if pdfs:
        t_pdf, doc_pdf = synth_report(1)
        rep = report_pdf(doc_pdf)
        out["truncated.pdf"] = (rep[: int(len(rep) * 0.4)], None)
        out["encrypted.pdf"] = (encrypt_pdf(rep), None)
        prose = _pdf_from_html(_prose_html("工作动态", [
            "本单位持续推进政务公开标准化规范化建设，围绕中心工作做好信息发布、解读回应等工作。"] * 6))
        t_cid, doc_cid = synth_report(2)
        out["cid.pdf"] = (strip_tounicode(_pdf_from_html(report_html(first_page(doc_cid),
                                                                     for_pdf=True))), None)
        out["huge.pdf"] = (huge_pdf(rep, prose), t_pdf)

    out["not_zip.docx"] = (b"PK\x03\x04" + bytes(rng.randrange(256) for _ in range(2048)), None)
    out["zip_bomb.docx"] = (zip_bomb_docx(), None)
    out["entity_bomb.docx"] = (entity_bomb_docx(), None)
    out["entity_bomb.html"] = (entity_bomb_html(), None)
    out["scripts_only.html"] = (scripts_only_html(), None)

    t, doc = synth_report(4)
    out["wrong_charset.html"] = (report_html(doc, charset="utf-8").encode("gb18030"), t)
    t, doc = synth_report(5)
    out["bom_gbk.txt"] = (b"\xef\xbb\xbf" + text_bytes(t, doc, "gb18030"), None)
    out["notice.txt"] = (NOTICE.encode("utf-8"), None)
    t, doc = synth_report(6, table_missing="appeals")
    out["table_missing.txt"] = (text_bytes(t, doc), t)
    t, data = _numbers_as_text()
    out["numbers_as_text.txt"] = (data, t)

    t, doc = synth_report(8)
    out["duplicate_a.txt"] = (text_bytes(t, doc), t)
    other = {k: v for k, v in agency_series(_roster()[8], [YEAR], SEED + 1)[YEAR].items()}
    t2, doc2 = synth_report(8, values=other)
    if t2.cells == t.cells:       # pragma: no cover - the other seed must differ
        raise RuntimeError("duplicate_b must differ from duplicate_a")
    out["duplicate_b.txt"] = (text_bytes(t2, doc2, "gb18030"), t2)

    for i, name in zip((9, 10, 11), ("with spaces 'and' \"quotes\".txt", "年报..2024..txt",
                                     "-rf 年报.txt")):
        t, doc = synth_report(i)
        out[name] = (text_bytes(t, doc), t)
    assert set(out) == {k for k in BAD_KINDS if pdfs or k in out}, set(out) ^ set(BAD_KINDS)
    return out


def write_odd_names(dest: str | Path) -> dict[str, ReportTruth]:
    """Good reports under odd names (not UTF-8, shell metacharacters, Rich markup) in `dest`.
    Returns the name as Python sees it (os.fsdecode) → truth."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    out = {}
    for raw, i in ODD_NAMES.items():
        t, doc = synth_report(i)
        path = os.path.join(os.fsencode(dest), raw)
        with open(path, "wb") as f:
            f.write(text_bytes(t, doc))
        out[os.fsdecode(raw)] = t
    return out


def _readme() -> str:
    lines = ["# Bad-input corpus", "",
             "Written by `scripts/make_bad_inputs.py` (do not edit by hand; run it again).",
             "`tests/test_bad_inputs.py` runs the whole pipeline over these files plus good reports",
             "and asserts each file's outcome in the warehouse. `*.truth.json` beside a file: the",
             "synthetic report it holds. Made at test time instead (odd names): a name with bytes",
             "that are not UTF-8, one with shell metacharacters, one with Rich markup.", "",
             "| file | what it is |", "|---|---|"]
    lines += [f"| `{n}` | {d} |" for n, d in BAD_KINDS.items()]
    return "\n".join(lines) + "\n"


def main(outdir: str | Path = OUT) -> list[Path]:
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (data, truth) in build_corpus().items():
        p = outdir / name
        p.write_bytes(data)
        written.append(p)
        stem = name.rsplit(".", 1)[0]
        if truth is not None:
            (outdir / f"{stem}.truth.json").write_text(truth_json(truth, name), encoding="utf-8")
    (outdir / "README.md").write_text(_readme(), encoding="utf-8")
    total = sum(p.stat().st_size for p in written)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sorted(written))).hexdigest()[:12]
    print(f"wrote {len(written)} files ({total // 1024} KB, digest {digest}) to {outdir}")
    return written


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else OUT)
