"""`nianbao synth`: write sample reports with truth files, a manifest and a roster.

For every agency of the roster and every year: clean values (`values`), a `ReportTruth`
(agency form, label drifts, planted defects), a format-neutral `Document`, and a renderer's
bytes. Deterministic for a seed.
"""
from __future__ import annotations

import csv
import hashlib
import json
import random
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tasks import spec
from tasks.synth import defects as dft
from tasks.synth import document
from tasks.synth.agencies import Agency, build_roster
from tasks.synth.render_docx import DocRenderer, DocxRenderer
from tasks.synth.render_html import HtmlRenderer
from tasks.synth.render_pdf import PdfRenderer
from tasks.synth.render_scan import ScanRenderer
from tasks.synth.render_text import TextRenderer
from tasks.synth.truth import READ, ReportTruth
from tasks.synth.values import Number, agency_series

RENDERERS: dict[str, Any] = {"txt": TextRenderer()}
# CMS web pages, Word files, legacy .doc (DOCX saved by LibreOffice)
RENDERERS.update({"html": HtmlRenderer(), "docx": DocxRenderer(), "doc": DocRenderer()})
# text PDFs (the DOCX printed by LibreOffice) and scans of them (image-only PDFs)
RENDERERS.update({"pdf": PdfRenderer(RENDERERS["docx"])})
RENDERERS.update({"scan": ScanRenderer(RENDERERS["pdf"])})

DRIFT_RATE = 0.35          # reports with at least one label drift (layout B adds spaced labels)
SECOND_DEFECT_RATE = 0.25  # defective reports with a second defect kind


def _facts(agency: Agency, clean: dict[str, Number], rng: random.Random) -> dict[str, Any]:
    k = lambda row, col: spec.key("requests", row, col)  # noqa: E731
    info = {"government": (150, 2500), "department": (15, 300), "township": (5, 90)}[agency.category]
    return {
        "info_count": rng.randint(*info),
        "new": clean[k("new", "total")],
        "natural_person": clean[k("new", "natural_person")],
        "carried_over": clean[k("carried_over", "total")],
        "carried_forward": clean[k("carried_forward", "total")],
        "appeals": sum(clean[spec.key("appeals", "cases", f"{g}_total")] for g in spec.APPEAL_GROUPS),
    }


def _agency_form(agency: Agency, rng: random.Random) -> tuple[str, str]:
    if agency.short and rng.random() < 0.1:
        return "short", agency.short
    if agency.local and rng.random() < 0.3:
        return "local", agency.local
    return "full", agency.name


def _choose_drifts(renderer: Any, printing: dict[str, Any], rng: random.Random) -> list[str]:
    allowed = [d for d in document.DRIFTS if renderer.can_drift(d, printing)]
    chosen: set[str] = set()
    if rng.random() < DRIFT_RATE:
        chosen.update(rng.sample(allowed, rng.choice((1, 1, 2, 3))))
    if printing.get("layout") == "B" and rng.random() < 0.7:
        chosen.add("label.spaced")     # PDF copies space out header labels (seeds 002, 004)
    if "label.row_cut" in chosen:
        printing["row_cut"] = {"table": "requests",
                               "row": rng.choice(("other_fee_unpaid", "other_no_correction", "partly_granted")),
                               "frac": round(rng.uniform(0.6, 0.9), 2)}
    return [d for d in document.DRIFTS if d in chosen]


def _plant(t: ReportTruth, renderer: Any, rng: random.Random, counts: Counter) -> None:
    """At least one defect: the least-planted kind this report can show first (balances the
    kinds over a batch), sometimes a second one; lost cells always last."""
    applicable = [k for k in dft.KINDS if renderer.can_plant(k, t.printing)]
    order = sorted(applicable, key=lambda k: (counts[k], rng.random()))
    wanted = [order[0]]
    if rng.random() < SECOND_DEFECT_RATE:
        wanted.append(rng.choice(order[1:]))
    wanted.sort(key=lambda k: k == "cells.lost")
    for kind in wanted:
        if dft.PLANTERS[kind](t, rng):
            counts[kind] += 1
    for kind in order:      # the wanted kinds could not be planted here: any other will do
        if t.defects:
            break
        if dft.PLANTERS[kind](t, rng):
            counts[kind] += 1


def _name(i: int, width: int, seed: int, agency: str, year: int) -> str:
    h = hashlib.sha256(f"{seed}/{agency}/{year}".encode()).hexdigest()[:16]
    return f"{i:0{width}d}_{h}"


def build_truth(agency: Agency, year: int, clean: dict[str, Number], *, seed: int,
                renderer: Any, defective: bool, counts: Counter, file: str) -> ReportTruth:
    rng = random.Random(f"report/{seed}/{agency.name}/{year}")
    printing = renderer.choose_printing(rng)
    form, printed = _agency_form(agency, rng)
    t = ReportTruth(
        file=file, agency_full=agency.name, agency=printed, year=year, report_year=year,
        region_code=agency.region_code, cells=dict(clean), status={k: READ for k in spec.KEYS_2021},
        format=renderer.format, layout=printing.get("layout"), encoding=printing.get("encoding"),
        agency_form=form, printing=printing, facts=_facts(agency, clean, rng))
    t.drifts = _choose_drifts(renderer, printing, rng)
    if defective:
        _plant(t, renderer, rng, counts)
    return t


def generate(outdir: Path, agencies: int = 50, years: Sequence[int] = (2023, 2024), seed: int = 0,
             defect_rate: float = 0.3, formats: Sequence[str] = ("txt",)) -> list[Path]:
    """Write `<id>.txt` + `<id>.truth.json` per report, `manifest.csv` and `roster.csv`.

    Returns the report files in file-name order. Deterministic for `seed`.
    """
    unknown = [f for f in formats if f not in RENDERERS]
    if unknown or not formats:
        raise ValueError(f"unsupported format(s): {unknown or formats}; known: {sorted(RENDERERS)}")
    if not 0.0 <= defect_rate <= 1.0:
        raise ValueError("defect_rate must be within [0, 1]")
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    years = sorted(set(int(y) for y in years))
    roster = build_roster(agencies, seed)
    plans: list[tuple[Agency, int, dict[str, Number]]] = []
    for a in roster:
        series = agency_series(a, years, seed)
        plans.extend((a, y, series[y]) for y in years)
    rng = random.Random(f"plan/{seed}")
    rng.shuffle(plans)                 # a crawl returns files in no particular order
    defective = set(rng.sample(range(len(plans)), round(defect_rate * len(plans))))
    width = max(3, len(str(len(plans) - 1)))
    counts: Counter = Counter()
    written: list[Path] = []
    manifest: list[dict[str, Any]] = []
    for i, (agency, year, clean) in enumerate(plans):
        fmt = formats[0] if len(formats) == 1 else random.Random(f"fmt/{seed}/{agency.name}/{year}").choice(list(formats))
        renderer = RENDERERS[fmt]
        name = _name(i, width, seed, agency.name, year)
        file = name + renderer.ext
        t = build_truth(agency, year, clean, seed=seed, renderer=renderer, defective=i in defective,
                        counts=counts, file=file)
        doc = document.build(t, agency.region_name, agency.topic,
                             agency.self_ref if t.agency is not None else _anonymous_self(agency))
        data = renderer.render(t, doc)
        path = outdir / file
        path.write_bytes(data)
        (outdir / f"{name}.truth.json").write_text(
            json.dumps(t.to_json(), ensure_ascii=False), encoding="utf-8")
        written.append(path)
        manifest.append({"file": file, "agency": agency.name, "year": year,
                         "region_code": agency.region_code})
    with open(outdir / "manifest.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["file", "agency", "year", "region_code"])
        w.writeheader()
        w.writerows(manifest)
    with open(outdir / "roster.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["agency", "region_code", "level", "category", "email"])
        w.writeheader()
        w.writerows({"agency": a.name, "region_code": a.region_code, "level": a.level,
                     "category": a.category, "email": a.email} for a in roster)
    return written


def _anonymous_self(agency: Agency) -> str:
    """How a report that never names its agency refers to itself."""
    if agency.category == "government":
        return "本机关"
    return agency.self_ref


def _parse_list(v: str | Sequence[Any]) -> list[str]:
    if isinstance(v, str):
        return [x.strip() for x in v.split(",") if x.strip()]
    return [str(x) for x in v]


def main(outdir: str | Path, agencies: int = 50, years: str | Sequence[int] = (2023, 2024),
         seed: int = 0, formats: str | Sequence[str] = ("txt",), defect_rate: float = 0.3) -> list[Path]:
    """CLI entry (`nianbao synth OUTDIR [--agencies N] [--years 2023,2024] [--seed S]`):
    accepts comma-separated strings for years/formats, prints a one-line summary."""
    ys = [int(y) for y in _parse_list(years)]
    fs = _parse_list(formats)
    paths = generate(Path(outdir), agencies=agencies, years=ys, seed=seed,
                     defect_rate=defect_rate, formats=fs)
    print(f"已生成 {len(paths)} 份样本报告（{agencies} 个机关 × {len(ys)} 个年度）及真值文件：{outdir}",
          file=sys.stderr)
    return paths
