"""flows.settings: the process environment it sets before the heavy libraries are imported."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
{first}
import polars as pl, psutil
p = psutil.Process()
f = pl.DataFrame({{"x": list(range(2_000_000)), "s": ["abc%d" % i for i in range(2_000_000)]}})
held = p.memory_info().rss
del f
print(json.dumps({{"held": held >> 20, "after": p.memory_info().rss >> 20}}))
"""


def _probe(first: str) -> dict:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", PROBE.format(first=first)], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_polars_gives_freed_frames_back_once_settings_are_imported():
    """The flow process builds a ~60 MB load frame per batch; with flows.settings imported
    first, its memory goes back to the system when the frame is dropped (without: kept)."""
    ours = _probe("import flows.settings")
    plain = _probe("pass")
    assert plain["held"] - plain["after"] < 20          # jemalloc's default: kept for a while
    assert ours["held"] - ours["after"] > 40            # given back at once
