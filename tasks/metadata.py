"""Report metadata: agency, year, region — from the document, the file name or a manifest.

Sources, in order of trust: the manifest (the office's own list) > the title block > the body
("XX局2023年政府信息公开工作年度报告，是根据…") > the file name. What cannot be found stays None
and becomes a finding (report.agency_unknown / report.year_unknown / report.region_unknown);
nothing is guessed from "本机关/我局".
"""
from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from tasks.model import Report
from tasks.readers.grid import Document

_TITLE_TAIL = r"(?:政府信息公开(?:工作)?(?:年度)?(?:报告|年报)|信息公开(?:工作)?年度报告)"
_YEAR = r"(20[0-9]{2}|19[0-9]{2})"
# "<agency> 2025 年政府信息公开工作年度报告" (agency may be absent)
_TITLE_RE = re.compile(r"^(?P<agency>.*?)\s*(?:" + _YEAR + r")\s*年度?\s*" + _TITLE_TAIL)
_TITLE_NOYEAR_RE = re.compile(r"^(?P<agency>[^0-9，,。；;]*?)" + _TITLE_TAIL + r"$")
_PERIOD_RE = re.compile(r"统计期限[^0-9]{0,6}" + _YEAR + r"\s*年\s*1\s*月\s*1\s*日[^0-9]{0,4}" + _YEAR
                        + r"\s*年\s*12\s*月\s*31\s*日")
_BARE_YEAR = re.compile(r"^\s*" + _YEAR + r"\s*年?(?:度)?\s*$")
_AGENCY_SUFFIX = re.compile(
    r"(人民政府|政府|办事处|委员会|管理委员会|管委会|局|委|办公室|办|厅|院|中心|署|所|队|站|馆|社|会|处|部|"
    r"集团|公司|法院|检察院|实验区|开发区|新区|示范区)$")
_SELF_REFERENCE = {"本机关", "我局", "本局", "本单位", "我委", "我办", "本委", "本办", "我单位"}


@dataclass
class Metadata:
    agency: str | None = None
    agency_source: str | None = None   # title | body | filename | manifest
    year: int | None = None
    year_source: str | None = None     # period | title | manifest
    region_code: str | None = None
    region_name: str | None = None
    region_source: str | None = None   # agency | manifest
    notes: list[tuple[str, str]] | None = None


_SPACE = re.compile(r"\s+")
_BODY_TITLE_RE = re.compile(r"([\u4e00-\u9fff（）()]{3,40}?)" + _YEAR + r"年度?" + _TITLE_TAIL)
_BODY_LEAD = re.compile(r"^(?:根据|按照|现将|现公布|特?发布|编制|以下是|这是|本报告(?:是|为)?)")


def _clean(s: str) -> str:
    return _SPACE.sub("", unicodedata.normalize("NFKC", s)).strip("：:，,。.、 ")


def _agency_ok(name: str) -> bool:
    if not name or len(name) < 3 or len(name) > 40 or name in _SELF_REFERENCE:
        return False
    if re.search(r"[0-9《》“”\"，,。；;！!？?]", name):
        return False
    return bool(_AGENCY_SUFFIX.search(name))


def find_metadata(doc: Document, max_year: int | None = None) -> Metadata:
    md = Metadata(notes=[])
    lines = [t.text for t in doc.text]
    head = lines[:8]
    candidates: list[tuple[str, str]] = []   # (name, source)
    title_years: list[int] = []

    for i, line in enumerate(head):
        m = _TITLE_RE.search(_clean(line))
        if m:
            title_years.append(int(m.group(2)))
            name = _clean(m.group("agency"))
            if _agency_ok(name):
                candidates.append((name, "title"))
            elif not name and i > 0 and _agency_ok(_clean(head[i - 1])):
                candidates.append((_clean(head[i - 1]), "title"))
        elif _BARE_YEAR.match(line):
            title_years.append(int(_BARE_YEAR.match(line).group(1)))
        else:
            # a title without a year: "<agency>政府信息公开工作年度报告" or the agency on the line before
            m = _TITLE_NOYEAR_RE.search(_clean(line))
            if m:
                name = _clean(m.group("agency"))
                if _agency_ok(name):
                    candidates.append((name, "title"))
                elif not name and i > 0 and _agency_ok(_clean(head[i - 1])):
                    candidates.append((_clean(head[i - 1]), "title"))
    # the body often restates the full name: "湘乡市XX局2023年政府信息公开工作年度报告，是根据…"
    for line in lines[:40]:
        if "开" not in line:
            continue    # no 信息公开 (no character normalises to 开): no title restated here
        for m in _BODY_TITLE_RE.finditer(_clean(line)):
            name = _clean(m.group(1))
            name = _BODY_LEAD.sub("", name)
            if _agency_ok(name):
                candidates.append((name, "body"))
    stem = Path(doc.path).stem
    fm = re.match(r"^(?P<agency>[\u4e00-\u9fff（）()]{3,40}?)(?:" + _YEAR + r")?年?度?(?:政府)?信息公开", stem)
    if fm and _agency_ok(_clean(fm.group("agency"))):
        candidates.append((_clean(fm.group("agency")), "filename"))

    if candidates:
        # Prefer the most complete name: one that ends with another candidate and adds a
        # region prefix beats the shorter one; otherwise the first (title) wins.
        best_name, best_src = candidates[0]
        for name, src in candidates[1:]:
            if name != best_name and name.endswith(best_name):
                best_name, best_src = name, src
        md.agency, md.agency_source = best_name, best_src

    period = None
    for line in lines:
        if "限" not in line:
            continue    # no 统计期限 (no character normalises to 限)
        m = _PERIOD_RE.search(_clean(line))
        if m:
            period = int(m.group(1))
            if m.group(1) != m.group(2):
                md.notes.append(("metadata.period_spans_years",
                                 f"统计期限跨年度（{m.group(1)}—{m.group(2)}），以起始年度为报告年度"))
            break
    if period is not None:
        md.year, md.year_source = period, "period"
        if title_years and title_years[0] != period:
            md.notes.append(("metadata.year_conflict",
                             f"标题年度（{title_years[0]}）与统计期限年度（{period}）不一致，采用统计期限"))
    elif title_years:
        md.year, md.year_source = title_years[0], "title"
    if md.year is not None and max_year is not None and md.year > max_year:
        md.notes.append(("metadata.year_implausible", f"报告年度{md.year}晚于当前年度，视为未知"))
        md.year, md.year_source = None, None
    return md


def resolve_region(md: Metadata, province_hint: str | None = None) -> None:
    if not md.agency or md.region_code:
        return
    try:
        from tasks.regions import resolve_region as _resolve   # the division-code dataset
    except ImportError:   # pragma: no cover - only while bootstrapping
        md.notes.append(("metadata.region_unresolved", "行政区划数据不可用"))
        return

    m = _resolve(md.agency, province_hint=province_hint)
    if m.code:
        md.region_code, md.region_name, md.region_source = m.code, m.name, "agency"
    else:
        what = "存在多个同名行政区划" if getattr(m, "reason", "") == "ambiguous" else "未能识别所属行政区划"
        md.notes.append(("metadata.region_unresolved", f"根据机关名称“{md.agency}”{what}"))


def apply(report: Report, md: Metadata) -> None:
    report.agency, report.year, report.region_code = md.agency, md.year, md.region_code
    report.meta.update({"agency_source": md.agency_source, "year_source": md.year_source,
                        "region_name": md.region_name, "region_source": md.region_source})
    for code, msg in md.notes or []:
        report.warn(code, msg)


# ----------------------------------------------------------------------------------- manifest
@dataclass(frozen=True)
class ManifestRow:
    file: str
    agency: str | None
    year: int | None
    region_code: str | None


def load_manifest(path: str | Path) -> dict[str, ManifestRow]:
    """CSV with header file,agency,year,region_code. Keys: the file's name as given and its
    basename, so a manifest can name files relative to the input folder or by name only."""
    out: dict[str, ManifestRow] = {}
    with open(path, encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            file = (row.get("file") or "").strip()
            if not file:
                continue
            year = (row.get("year") or "").strip()
            r = ManifestRow(file=file, agency=(row.get("agency") or "").strip() or None,
                            year=int(year) if year.isdigit() else None,
                            region_code=(row.get("region_code") or "").strip() or None)
            out[file] = r
            out.setdefault(Path(file).name, r)
    return out


def override(md: Metadata, row: ManifestRow | None) -> None:
    if row is None:
        return
    if row.agency:
        md.agency, md.agency_source = row.agency, "manifest"
        md.region_code = None   # re-resolve from the manifest's name unless given
    if row.year:
        md.year, md.year_source = row.year, "manifest"
    if row.region_code:
        md.region_code, md.region_source = row.region_code, "manifest"
