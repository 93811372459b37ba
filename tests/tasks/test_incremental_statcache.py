"""tasks.incremental's stat cache: a file is hashed again whenever its stat changed; a re-run
over unchanged files reads none of them; --rehash/--full ignore the cache.

Files are real files in a temporary folder. `racy_ns` is lowered (20 ms instead of 2 s) and the
test waits 50 ms after writing so that entries are not "racily clean" (see the rule in
tasks/incremental.py); a test of the default rule checks that a just-written file is never
trusted.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path

from flows.pipeline import run_plain
from tasks import incremental as inc

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
RACY = 20_000_000


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def files(tmp_path: Path, n: int = 3) -> list[Path]:
    out = []
    for i in range(n):
        p = tmp_path / f"r{i}.txt"
        p.write_bytes(f"report {i} 收到申请数 {i * 7}\n".encode())
        out.append(p)
    time.sleep(0.05)
    return out


def scan(paths, cache, **kw):
    st = inc.HashStats()
    entries = inc.hash_files(paths, cache=cache, stats=st, racy_ns=kw.pop("racy_ns", RACY), **kw)
    return {Path(e.path).name: e.sha256 for e in entries}, st


def test_unchanged_files_are_not_read_again(tmp_path):
    ps = files(tmp_path)
    cache = tmp_path / "w.duckdb.hashes"
    first, st1 = scan(ps, cache)
    assert st1.hashed == 3 and st1.cached == 0 and cache.exists()
    assert first == {p.name: sha(p) for p in ps}
    second, st2 = scan(ps, cache)
    assert st2.hashed == 0 and st2.cached == 3
    assert second == first


def test_edit_with_same_size_and_reset_mtime_is_caught(tmp_path):
    ps = files(tmp_path)
    cache = tmp_path / "w.hashes"
    before, _ = scan(ps, cache)
    p = ps[1]
    st = p.stat()
    data = bytearray(p.read_bytes())
    data[-2] = ord("9") if data[-2] != ord("9") else ord("8")       # same size, other digit
    p.write_bytes(bytes(data))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))                 # mtime put back
    assert p.stat().st_size == st.st_size and p.stat().st_mtime_ns == st.st_mtime_ns
    got, stats = scan(ps, cache)
    assert got[p.name] == sha(p) != before[p.name]
    assert stats.hashed == 1 and stats.cached == 2


def test_replaced_file_is_caught(tmp_path):
    ps = files(tmp_path)
    cache = tmp_path / "w.hashes"
    before, _ = scan(ps, cache)
    # same size and mtime, written elsewhere and renamed over it (another inode)
    st = ps[0].stat()
    tmp = tmp_path / "new.tmp"
    tmp.write_bytes(ps[0].read_bytes().replace(b"report 0", b"report X"))
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, ps[0])
    got, stats = scan(ps, cache)
    assert got[ps[0].name] == sha(ps[0]) != before[ps[0].name]
    assert stats.hashed == 1


def test_just_written_files_are_not_trusted_with_the_default_rule(tmp_path):
    p = tmp_path / "fresh.txt"
    p.write_bytes(b"one")
    cache = tmp_path / "w.hashes"
    inc.hash_files([p], cache=cache)                      # racy: mtime within 2 s of the scan
    st = inc.HashStats()
    inc.hash_files([p], cache=cache, stats=st)
    assert st.hashed == 1 and st.cached == 0


def test_rehash_ignores_the_cache(tmp_path):
    ps = files(tmp_path)
    cache = tmp_path / "w.hashes"
    scan(ps, cache)
    _, st = scan(ps, cache, rehash=True)
    assert st.hashed == 3 and st.cached == 0


def test_damaged_cache_means_hashing_again(tmp_path):
    ps = files(tmp_path)
    cache = tmp_path / "w.hashes"
    cache.write_bytes(b"{not json")
    got, st = scan(ps, cache)
    assert st.hashed == 3 and got == {p.name: sha(p) for p in ps}
    assert inc.load_stat_cache(cache)        # rewritten


def test_other_inputs_kept_and_deleted_files_dropped(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    pa, pb = files(a, 2), files(b, 2)
    cache = tmp_path / "w.hashes"
    scan(pa + pb, cache)
    pb[0].unlink()
    scan(pa, cache)                          # a run over folder a only
    kept = inc.load_stat_cache(cache)
    assert str(pb[1]) in kept and str(pa[0]) in kept
    assert str(pb[0]) not in kept            # gone from disk


def test_pipeline_uses_the_cache_and_catches_an_edit(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for p in sorted(SEEDS.glob("*.txt"))[:3]:
        shutil.copy(p, src / p.name)
    time.sleep(2.1)                           # past the default racy window
    wh = tmp_path / "w.duckdb"
    first = run_plain([str(src)], str(wh), workers=1)
    assert first.hashed == 3 and first.extracted == 3
    assert inc.stat_cache_path(wh).exists()
    second = run_plain([str(src)], str(wh), workers=1)
    assert second.hashed == 0 and second.unchanged == 3 and second.extracted == 0
    # an edit: the content changes, so does the plan
    victim = sorted(src.iterdir())[0]
    st = victim.stat()
    text = victim.read_bytes()
    victim.write_bytes(text.replace("。".encode(), "．".encode(), 1)
                       if "。".encode() in text else text + b" ")
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    third = run_plain([str(src)], str(wh), workers=1)
    assert third.hashed == 1 and third.extracted == 1 and third.unchanged == 2
    full = run_plain([str(src)], str(wh), workers=1, rehash=True)
    assert full.hashed == 3 and full.extracted == 0 and full.unchanged == 3
