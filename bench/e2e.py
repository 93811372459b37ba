"""End-to-end performance: a province of reports through the whole pipeline.

    .venv/bin/python -m bench.e2e [--size 10000] [--scaling 1000,3000] [--quick]

Measures, on this machine:
- **throughput per format**: extraction alone, one process, reports/s; for TXT/HTML/DOCX also
  on every core through the pipeline's process pool (the figure the ≥ 200 reports/s target is
  read against); text PDFs also against bare pdfplumber (open + extract_tables on every page)
  on the same files;
- **end to end**: `nianbao run` on a fresh warehouse (the Prefect flow, default workers), its
  wall time, the cost of each stage (ingest, plan, extract, validate, load, cross-checks,
  withdrawals) plus the roll-up queries, and the peak memory of the pipeline's processes
  (flow process + extraction workers; Prefect's temporary server reported apart);
- **re-run** on unchanged input (incremental: nothing is extracted), as a flow call and as the
  whole `nianbao run` command a user types;
- **Prefect's own overhead**: the same engine without Prefect (`flows.pipeline.run_plain`) on
  the same input;
- **scaling**: wall time at 1k/3k/10k reports.

The corpus: `tasks.synth.generate` renders ~1,600 unique txt/html/docx reports (≈0.25 s
each here) and 12 PDFs, 4 scans, 4 DOCs (LibreOffice, seconds each); each format's share is
filled with copies that differ by a trailing comment, text line or zip comment (distinct
content and sha256, the same extraction work); DOC copies are byte-identical. So a 10k
province has ~1,650 distinct reports repeated: the extraction, validation and load work is
that of 10k reports, but cross-report checks see duplicates. Cached in bench/.cache/. Results: bench/results/e2e.json (through `python -m bench`).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache"
PY = sys.executable

# Shares (%) of a province's reports by format: CMS pages and PDFs dominate, Word next, plain
# text copies of pages, a few scans and legacy .doc files.
MIX = {"html": 42, "pdf": 22, "docx": 15, "txt": 19, "scan": 1, "doc": 1}
FAST = ("txt", "html", "docx")         # rendered natively, at scale
POOL = {"pdf": 12, "scan": 4, "doc": 4}  # unique files rendered through LibreOffice
FAST_POOL = 1600                        # unique txt/html/docx files
SEED = 17


# ------------------------------------------------------------------------------- corpus
def _counts(n: int, mix: dict[str, int]) -> dict[str, int]:
    total = sum(mix.values())
    counts = {f: int(n * s / total) for f, s in mix.items()}
    counts[max(mix, key=mix.get)] += n - sum(counts.values())
    return {f: c for f, c in counts.items() if c > 0}


def _pool(fmt: str, want: int, seed: int) -> list[Path]:
    """Unique generated files of a format (cached, shared by every corpus size)."""
    from tasks.synth import generate

    exts = {"txt": ".txt", "html": ".html", "docx": ".docx", "pdf": ".pdf", "scan": ".pdf",
            "doc": ".doc"}
    if fmt in FAST:
        pool = CACHE / "pool-fast"
        have = sorted(p for p in pool.glob(f"*{exts[fmt]}")) if pool.is_dir() else []
        if len(have) < min(want, 50):
            generate(pool, agencies=max(25, min(want, FAST_POOL) // 2), years=[2023, 2024],
                     seed=seed, defect_rate=0.3, formats=list(FAST))
            have = sorted(pool.glob(f"*{exts[fmt]}"))
        return have[:want]
    pool = CACHE / f"pool-{fmt}"
    have = sorted(pool.glob(f"*{exts[fmt]}")) if pool.is_dir() else []
    if len(have) < min(want, POOL.get(fmt, 10)):
        generate(pool, agencies=math.ceil(min(want, POOL.get(fmt, 10)) / 2), years=[2023, 2024],
                 seed=seed + 1, defect_rate=0.3, formats=[fmt])
        have = sorted(pool.glob(f"*{exts[fmt]}"))
    return have[:want]


def _copy_bytes(src: Path, i: int) -> bytes:
    """The i-th copy of a pool file: distinct bytes, the same extraction (a trailing comment /
    text line / zip comment); DOC copies are identical."""
    import io
    import zipfile

    data = src.read_bytes()
    tag = f"nianbao-bench copy {i}"
    if src.suffix == ".pdf":
        return data + f"\n%{tag}\n".encode()
    if src.suffix == ".html":
        return data + f"\n<!-- {tag} -->\n".encode()
    if src.suffix == ".txt":
        return data + f"\r\n\r\n{tag}\r\n".encode() if b"\r\n" in data[:4096] \
            else data + f"\n\n{tag}\n".encode()
    if src.suffix == ".docx":
        buf = io.BytesIO(data)
        with zipfile.ZipFile(buf, "a") as z:
            z.comment = tag.encode()
        return buf.getvalue()
    return data


def build_corpus(n: int, mix: dict[str, int] = MIX, seed: int = SEED) -> tuple[Path, dict]:
    """A folder of `n` reports in the mix (cached); returns it and the count per format.
    Each format's files are unique generated ones, then copies of them (distinct bytes)."""
    import hashlib

    counts = _counts(n, mix)
    key = "-".join(f"{f}{c}" for f, c in sorted(counts.items()))
    root = CACHE / f"corpus-{n}-{seed}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    marker = root / ".complete.json"
    if marker.exists():
        return root / "reports", json.loads(marker.read_text())
    shutil.rmtree(root, ignore_errors=True)
    out = root / "reports"
    for fmt, c in counts.items():
        files = _pool(fmt, c, seed)
        if not files:
            continue
        dst = out / fmt
        dst.mkdir(parents=True)
        for i in range(c):
            src = files[i % len(files)]
            data = src.read_bytes() if i < len(files) else _copy_bytes(src, i)
            (dst / f"{fmt}-{i:05d}{src.suffix}").write_bytes(data)
    actual = {d.name: sum(1 for _ in d.iterdir()) for d in sorted(out.iterdir())}
    marker.write_text(json.dumps(actual))
    return out, actual


def sample_files(corpus: Path, fmt: str, k: int) -> list[Path]:
    d = corpus / fmt
    return sorted(d.iterdir())[:k] if d.is_dir() else []


# ---------------------------------------------------------------------------- per format
def throughput(corpus: Path, per_format: dict[str, int]) -> dict[str, dict]:
    """Extraction alone, one process: reports/s per format (files of that format only)."""
    from tasks.extract import extract_file

    out = {}
    for fmt, k in per_format.items():
        files = sample_files(corpus, fmt, k)
        if not files:
            continue
        extract_file(files[0])                       # warm caches and imports
        t0 = time.perf_counter()
        ok = sum(extract_file(f).report is not None for f in files)
        dt = time.perf_counter() - t0
        out[fmt] = {"files": len(files), "ok": ok, "seconds": round(dt, 3),
                    "reports_per_s": round(len(files) / dt, 2),
                    "ms_per_report": round(1000 * dt / len(files), 1)}
    return out


def pool_throughput(corpus: Path, per_format: dict[str, int]) -> dict[str, dict]:
    """Extraction on every core, as the pipeline runs it (tasks.parallel.LocalPool, results
    pickled back to this process): reports/s per format, after the pool has started."""
    from tasks.parallel import LocalPool

    out = {}
    with LocalPool() as pool:
        pool.submit_batch([str(f) for f in sample_files(corpus, "txt", 4 * pool.workers)]).result()
        for fmt, k in per_format.items():
            files = [str(f) for f in sample_files(corpus, fmt, k)]
            if not files:
                continue
            t0 = time.perf_counter()
            ok = sum(e.report is not None for e in pool.submit_batch(files).result())
            dt = time.perf_counter() - t0
            out[fmt] = {"files": len(files), "ok": ok, "workers": pool.workers,
                        "seconds": round(dt, 3), "reports_per_s": round(len(files) / dt, 1)}
    return out


def pdf_vs_pdfplumber(corpus: Path, k: int = 20, rounds: int = 2) -> dict:
    """Our PDF extraction against bare pdfplumber (open + extract_tables on every page), same
    files, interleaved, best of `rounds`."""
    import io

    import pdfplumber

    from tasks.extract import extract_file

    files = [(f, f.read_bytes()) for f in sample_files(corpus, "pdf", k)]
    if not files:
        return {}
    best_b = best_o = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _, d in files:
            with pdfplumber.open(io.BytesIO(d)) as pdf:
                for page in pdf.pages:
                    page.extract_tables()
        best_b = min(best_b, time.perf_counter() - t0)
        t0 = time.perf_counter()
        for f, d in files:
            extract_file(f, data=d)
        best_o = min(best_o, time.perf_counter() - t0)
    return {"files": len(files), "pdfplumber_s": round(best_b, 3), "nianbao_s": round(best_o, 3),
            "throughput_ratio": round(best_b / best_o, 3)}


# ------------------------------------------------------------------------- pipeline runs
class TreeMemory:
    """Peak memory of this process's tree, sampled every 0.2 s (psutil): the sum of resident
    set sizes (RSS: a shared library's pages count once per process that maps them) and of
    proportional set sizes (PSS: shared pages split between the processes sharing them — the
    memory the run actually occupies)."""

    def __init__(self, pid: int, exclude_cmd: str = "uvicorn"):
        import psutil

        self.root = psutil.Process(pid)
        self.exclude = exclude_cmd
        self.peak = self.peak_other = self.peak_pss = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self):
        import psutil

        while not self._stop.is_set():
            ours = other = pss = 0
            try:
                procs = [self.root] + self.root.children(recursive=True)
            except psutil.Error:
                procs = []
            for p in procs:
                try:
                    cmd = " ".join(p.cmdline())
                    if self.exclude in cmd or "prefect server" in cmd:
                        other += p.memory_info().rss
                        continue
                    full = p.memory_full_info()
                except psutil.Error:
                    continue
                ours += full.rss
                pss += full.pss
            self.peak = max(self.peak, ours)
            self.peak_pss = max(self.peak_pss, pss)
            self.peak_other = max(self.peak_other, other)
            self._stop.wait(0.2)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


def run_child(mode: str, corpus: Path, warehouse: Path, extra: list[str] | None = None) -> dict:
    """One pipeline run in a fresh process (mode: prefect | plain); wall time, summary, memory."""
    cmd = [PY, "-m", "bench.e2e", "--child", mode, str(corpus), str(warehouse), *(extra or [])]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    with TreeMemory(proc.pid) as mem:
        stdout, _ = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"pipeline run failed ({mode}, exit {proc.returncode})")
    res = json.loads(stdout.strip().splitlines()[-1])
    res["wall_s"] = round(wall, 2)
    res["peak_rss_mib"] = round(mem.peak / 2**20, 1)
    res["peak_pss_mib"] = round(mem.peak_pss / 2**20, 1)
    res["prefect_server_rss_mib"] = round(mem.peak_other / 2**20, 1)
    return res


def run_cli(corpus: Path, warehouse: Path, api_url: str | None = None) -> dict:
    """`nianbao run --json` as a user runs it (its own process: imports, Prefect's temporary
    server started early by the CLI, the flow); wall time, summary, memory."""
    cmd = [PY, "-m", "flows.cli", "run", str(corpus), "--warehouse", str(warehouse), "--json"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if api_url:
        env["PREFECT_API_URL"] = api_url
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    with TreeMemory(proc.pid) as mem:
        stdout, _ = proc.communicate()
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"nianbao run failed (exit {proc.returncode})")
    start = stdout.find("{")
    res = json.loads(stdout[start:]) if start >= 0 else {}
    return {"wall_s": round(wall, 2), "peak_rss_mib": round(mem.peak / 2**20, 1),
            "peak_pss_mib": round(mem.peak_pss / 2**20, 1),
            "prefect_server_rss_mib": round(mem.peak_other / 2**20, 1),
            "summary": {k: res.get(k) for k in ("files", "reports", "errors", "extracted",
                                                "unchanged", "hashed", "batches", "status",
                                                "timings") if k in res}}


def _child(mode: str, corpus: str, warehouse: str) -> None:
    t0 = time.perf_counter()
    from flows.pipeline import run_pipeline, run_plain

    t_import = time.perf_counter() - t0
    fn = run_pipeline if mode == "prefect" else run_plain
    t1 = time.perf_counter()
    s = fn([corpus], warehouse)
    t_run = time.perf_counter() - t1
    from tasks.load import open_warehouse

    con = open_warehouse(warehouse, read_only=True)
    rollup = {}
    try:
        for level in ("province", "city", "county"):
            t = time.perf_counter()
            n = con.execute(f"SELECT count(*) FROM mart_rollup_{level}").fetchall()[0][0]
            rollup[level] = {"rows": n, "seconds": round(time.perf_counter() - t, 3)}
    finally:
        con.close()
    print(json.dumps({"mode": mode, "import_s": round(t_import, 2), "run_s": round(t_run, 2),
                      "files": s.files, "reports": s.reports, "errors": s.errors,
                      "extracted": s.extracted, "unchanged": s.unchanged, "batches": s.batches,
                      "executor": s.executor, "status": s.status,
                      "timings": {k: round(v, 2) for k, v in s.timings.items()},
                      "rollup": rollup}, ensure_ascii=False))


# ---------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=10000)
    ap.add_argument("--scaling", default="1000,3000", help="smaller sizes for the growth curve")
    ap.add_argument("--quick", action="store_true", help="1,000 reports, no scaling runs")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(*args.child)
        return {}
    if args.quick:
        args.size, args.scaling = 1000, ""
    work = CACHE / "runs"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    out: dict = {"machine": {"cores": os.cpu_count(), "load_avg_at_start": os.getloadavg()}}

    t = time.perf_counter()
    corpus, counts = build_corpus(args.size)
    out["corpus"] = {"reports": sum(counts.values()), "by_format": counts,
                     "generate_s": round(time.perf_counter() - t, 1)}
    print(f"corpus: {counts}", flush=True)

    out["throughput"] = throughput(corpus, {"txt": 300, "html": 300, "docx": 100, "pdf": 20,
                                            "scan": 3, "doc": 3})
    out["pool_throughput"] = pool_throughput(corpus, {"txt": 1500, "html": 2000, "docx": 1000})
    print(f"pool throughput: {out['pool_throughput']}", flush=True)
    out["pdf_vs_pdfplumber"] = pdf_vs_pdfplumber(corpus)
    print(f"throughput: {out['throughput']}", flush=True)

    first = run_child("prefect", corpus, work / "e2e.duckdb")
    print(f"end to end: {first['wall_s']} s", flush=True)
    again = run_child("prefect", corpus, work / "e2e.duckdb")
    out["end_to_end"], out["rerun_unchanged"] = first, again
    print(f"re-run: {again['wall_s']} s (run {again['run_s']} s)", flush=True)
    # the same re-run as a user types it: the whole `nianbao run` process
    out["rerun_unchanged_cli"] = cli = run_cli(corpus, work / "e2e.duckdb")
    print(f"re-run, nianbao run: {cli['wall_s']} s", flush=True)
    # ... and against a Prefect server that is already running (`nianbao serve`, or
    # PREFECT_API_URL): the scheduled runs' case, no server start-up in the run
    from flows.settings import TemporaryServer

    server = TemporaryServer()
    try:
        out["rerun_unchanged_cli_running_server"] = served = run_cli(
            corpus, work / "e2e.duckdb", api_url=server.api_url())
    finally:
        server.stop()
    print(f"re-run, nianbao run with a running server: {served['wall_s']} s", flush=True)

    # Prefect's overhead: the same engine with and without Prefect, on the fast formats
    small, _ = build_corpus(1000, {"txt": 50, "html": 50})
    pf = run_child("prefect", small, work / "pf.duckdb")
    pl = run_child("plain", small, work / "pl.duckdb")
    out["prefect_overhead"] = {
        "reports": pf["files"], "prefect_run_s": pf["run_s"], "plain_run_s": pl["run_s"],
        "overhead_s": round(pf["run_s"] - pl["run_s"], 2),
        "prefect_import_s": pf["import_s"], "plain_import_s": pl["import_s"]}

    scaling = {}
    for n in [int(x) for x in args.scaling.split(",") if x.strip()]:
        c, _ = build_corpus(n)
        r = run_child("prefect", c, work / f"scale-{n}.duckdb")
        scaling[n] = {"wall_s": r["wall_s"], "run_s": r["run_s"], "peak_rss_mib": r["peak_rss_mib"],
                      "peak_pss_mib": r["peak_pss_mib"]}
    scaling[args.size] = {"wall_s": first["wall_s"], "run_s": first["run_s"],
                          "peak_rss_mib": first["peak_rss_mib"],
                          "peak_pss_mib": first["peak_pss_mib"]}
    out["scaling"] = scaling
    out["load_avg_at_end"] = os.getloadavg()
    ratio = out["pdf_vs_pdfplumber"].get("throughput_ratio")
    tp = out["pool_throughput"]
    out["targets"] = {
        "text_html_ge_200_per_s": all(tp[f]["reports_per_s"] >= 200 for f in ("txt", "html")
                                      if f in tp),
        "pdf_ge_0.9x_pdfplumber": None if ratio is None else ratio >= 0.9,
        "e2e_le_15_min": first["wall_s"] <= 900,
        "peak_le_1_gib": first["peak_rss_mib"] <= 1024,          # RSS sum: the strict reading
        "peak_pss_le_1_gib": first["peak_pss_mib"] <= 1024,
        "rerun_le_10_s": cli["wall_s"] <= 10,
    }
    out["headline"] = (f"{sum(counts.values())} reports {first['wall_s']:.0f}s, "
                       f"peak {first['peak_rss_mib']:.0f} MiB RSS / {first['peak_pss_mib']:.0f} MiB PSS, re-run {again['run_s']:.1f}s")
    print(json.dumps(out, ensure_ascii=False, indent=1, default=str))
    return out


if __name__ == "__main__":
    main()
