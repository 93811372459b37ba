"""`make bench`: run every benchmark module in bench/ and print a table.

A module is a file ``bench/<name>.py`` with a ``main(argv)`` (or ``main()``) function. Each runs
in its own process (so one's imports, caches and memory do not bias another), in name order;
its return value (a dict, or anything JSON can hold) goes to ``bench/results/<name>.json``
together with its wall time and exit status. A failing module is reported and the others still
run; the exit status is non-zero if any failed.

    .venv/bin/python -m bench                 # all
    .venv/bin/python -m bench e2e pdf_speed   # some
    .venv/bin/python -m bench --list
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def modules() -> list[str]:
    """Benchmark modules: bench/*.py with a top-level main (found without importing them)."""
    out = []
    for p in sorted(HERE.glob("*.py")):
        if p.name.startswith("_"):
            continue
        text = p.read_text(encoding="utf-8")
        if "\ndef main(" in text:
            out.append(p.stem)
    return out


def run_one(name: str) -> int:
    """In a child process: import bench.<name>, call main, write the result file."""
    mod = importlib.import_module(f"bench.{name}")
    params = inspect.signature(mod.main).parameters
    t0 = time.perf_counter()
    status, result = "ok", None
    try:
        result = mod.main([]) if params else mod.main()
    except SystemExit as e:            # argparse / sys.exit inside main
        status = "ok" if not e.code else f"exit {e.code}"
    except Exception as e:  # noqa: BLE001 - reported, the other modules go on
        status = f"error: {type(e).__name__}: {e}"
        import traceback

        traceback.print_exc()
    seconds = time.perf_counter() - t0
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {"module": name, "status": status, "seconds": round(seconds, 2),
           "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
           "result": result if isinstance(result, (dict, list, int, float, str, type(None)))
           else repr(result)}
    (RESULTS / f"{name}.json").write_text(json.dumps(doc, ensure_ascii=False, indent=2,
                                                     default=str) + "\n", encoding="utf-8")
    return 0 if status == "ok" else 1


def _headline(result) -> str:
    if isinstance(result, dict):
        h = result.get("headline")
        if h:
            return str(h)
        return ", ".join(f"{k}={v}" for k, v in list(result.items())[:3]
                         if isinstance(v, (int, float, str)))[:70]
    return "" if result is None else str(result)[:70]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Run the benchmark modules in bench/.")
    ap.add_argument("names", nargs="*", help="modules to run (default: all)")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return run_one(args.child)
    names = args.names or modules()
    if args.list:
        print("\n".join(modules()))
        return 0
    unknown = sorted(set(names) - set(modules()))
    if unknown:
        ap.error(f"unknown benchmark module(s): {', '.join(unknown)}")
    rows = []
    for name in names:
        print(f"== bench/{name}.py", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, "-m", "bench", "--child", name])
        wall = time.perf_counter() - t0
        path = RESULTS / f"{name}.json"
        doc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        status = doc.get("status", f"crashed (exit {rc})") if rc == 0 or doc else f"crashed (exit {rc})"
        rows.append((name, status if rc == 0 else f"{status} (exit {rc})", wall,
                     _headline(doc.get("result"))))
    print()
    print(f"{'benchmark':14s} {'status':22s} {'seconds':>8s}  headline")
    for name, status, wall, head in rows:
        print(f"{name:14s} {status[:22]:22s} {wall:8.1f}  {head}")
    print(f"(results in {RESULTS.relative_to(HERE.parent)}/)")
    return 0 if all(r[1] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
