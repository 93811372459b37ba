"""Legacy Word (.doc), WPS (.wps) and RTF → DOCX with LibreOffice headless → the DOCX reader.

Every conversion runs `soffice` with an argument list (never a shell string), in a private
temporary directory with its own LibreOffice profile (`-env:UserInstallation=file:///…`) so that
parallel conversions do not collide, in a process group of its own that is killed whole on
timeout, with a cap on the size of files it may write and on the output read back.

LibreOffice's start-up (~2 s of CPU) is most of a DOC's cost, so a batch converts its DOC/WPS
files in one run (`preconverted` / `convert_many`, used by tasks.parallel.extract_chunk), or a
run's files are converted before extraction starts (`convert_into`, tasks.parallel.LocalPool);
a file that run does not convert is converted alone and gets its own error.

A machine without LibreOffice gets `ReadError("tool.missing")` for these files only.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from tasks.readers.docx import read_docx
from tasks.readers.grid import Document, ReadError

MAX_INPUT_BYTES = 64 * 1024 * 1024
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT = 120.0            # seconds; a fresh profile's first start takes ~5–15 s
BATCH_SECONDS_PER_FILE = 30.0      # a many-file run's time limit: DEFAULT_TIMEOUT + this per file
DOCX_TARGET = "docx:MS Word 2007 XML"
_ENCRYPTED_MARKERS = ("EncryptedPackage".encode("utf-16-le"),
                      "EncryptionInfo".encode("utf-16-le"))


def soffice_path() -> str | None:
    for name in ("soffice", "libreoffice"):
        p = shutil.which(name)
        if p:
            return p
    return None


def _tool() -> str:
    exe = soffice_path()
    if exe is None:
        raise ReadError("tool.missing", "未安装LibreOffice（soffice），无法读取DOC/WPS文件；"
                                        "请运行 scripts/sysdeps.sh 安装 libreoffice-writer")
    return exe


def _default_timeout() -> float:
    return float(os.environ.get("NIANBAO_SOFFICE_TIMEOUT", DEFAULT_TIMEOUT))


def _run_soffice(exe: str, work: Path, inputs: list[Path], target: str, out_dir: Path,
                 timeout: float) -> tuple[int, bytes, bytes]:
    """One `soffice --convert-to` run over `inputs` in `work` (private profile, HOME, TMPDIR;
    own process group, killed whole on timeout → ReadError doc.timeout)."""
    profile = work / "profile"
    cmd = [exe, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--invisible",
           "--nologo", "--nodefault", "--norestore", "--nolockcheck",
           "--convert-to", target, "--outdir", str(out_dir), *map(str, inputs)]
    prlimit = shutil.which("prlimit")
    if prlimit:
        # no file it writes may exceed the output cap (a runaway conversion dies of SIGXFSZ)
        cmd = [prlimit, f"--fsize={MAX_OUTPUT_BYTES * 2}", "--", *cmd]
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "SAL_USE_VCLPLUGIN")}
    env["HOME"] = str(work)
    env.setdefault("LANG", "C.UTF-8")
    env["TMPDIR"] = str(work)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=work, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise ReadError("doc.timeout", f"LibreOffice转换超时（{timeout:.0f}秒），已终止") from None
    finally:
        if proc.poll() is None:
            _kill_group(proc)
    return proc.returncode, out or b"", err or b""


def convert(data: bytes, suffix: str, target: str = "docx", timeout: float | None = None) -> bytes:
    """Convert document bytes with LibreOffice headless; returns the converted file's bytes.

    `suffix` names the input's type for LibreOffice (".doc", ".wps", ".rtf", ".docx");
    `target` is a --convert-to filter spec ("docx", "pdf", "doc" …). Raises ReadError."""
    exe = _tool()
    if len(data) > MAX_INPUT_BYTES:
        raise ReadError("doc.too_large", f"文件过大（{len(data) // 1024 // 1024} MB），不转换")
    if timeout is None:
        timeout = _default_timeout()
    work = Path(tempfile.mkdtemp(prefix="nianbao-lo-"))
    try:
        src = work / f"input{suffix}"
        src.write_bytes(data)
        out_dir = work / "out"
        out_dir.mkdir()
        _, out, err = _run_soffice(exe, work, [src], target, out_dir, timeout)
        ext = target.split(":", 1)[0]
        result = out_dir / f"input.{ext}"
        if not result.is_file():
            tail = (err or out or b"").decode("utf-8", "replace").strip().splitlines()[-3:]
            raise ReadError("doc.convert_failed",
                            "LibreOffice无法转换该文件（可能已损坏、加密或不是Word/WPS文档）"
                            + (f"：{' '.join(tail)}" if tail else ""))
        size = result.stat().st_size
        if size > MAX_OUTPUT_BYTES:
            raise ReadError("doc.too_large", f"转换结果过大（{size // 1024 // 1024} MB）")
        return result.read_bytes()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def convert_many(items: list[tuple[bytes, str]], target: str = "docx",
                 timeout: float | None = None) -> list[bytes | None]:
    """Convert many documents in ONE LibreOffice run (its start-up, ~2 s of CPU, is most of a
    DOC's cost). `items` are (bytes, suffix) as for `convert`; returns, in order, each
    converted file's bytes, or None where this run produced no output for it (a file
    LibreOffice could not convert, or the whole run failed: crashed, timed out) — the caller
    converts those one by one (`convert`), so each gets its own error and none breaks the
    others. The run's time limit is `timeout` plus BATCH_SECONDS_PER_FILE per file.
    Raises ReadError("tool.missing") only."""
    exe = _tool()
    if timeout is None:
        timeout = _default_timeout()
    out: list[bytes | None] = [None] * len(items)
    todo = [i for i, (data, _) in enumerate(items) if len(data) <= MAX_INPUT_BYTES]
    if not todo:
        return out
    work = Path(tempfile.mkdtemp(prefix="nianbao-lo-"))
    try:
        out_dir = work / "out"
        out_dir.mkdir()
        inputs = []
        for i in todo:
            data, suffix = items[i]
            src = work / f"input{i}{suffix}"
            src.write_bytes(data)
            inputs.append(src)
        try:
            rc, _, _ = _run_soffice(exe, work, inputs, target, out_dir,
                                    timeout + BATCH_SECONDS_PER_FILE * len(inputs))
        except ReadError:           # timed out: nothing of this run is trusted
            return out
        if rc != 0:                 # crashed (a signal) or failed: outputs may be partial
            return out
        ext = target.split(":", 1)[0]
        for i in todo:
            result = out_dir / f"input{i}.{ext}"
            if result.is_file() and 0 < result.stat().st_size <= MAX_OUTPUT_BYTES:
                out[i] = result.read_bytes()
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:   # pragma: no cover
        pass


def _suffix(data: bytes, path: str) -> str:
    if data[:5] == b"{\\rtf":
        return ".rtf"
    ext = Path(path).suffix.lower()
    if ext in (".wps", ".wpt"):
        return ".wps"
    return ".doc"


# sha256 of an input → its DOCX from a many-file run (`preconverted`), used by read_doc
_PRECONVERTED: dict[str, bytes] = {}


def _encrypted(data: bytes) -> bool:
    return any(m in data[:1024 * 1024] for m in _ENCRYPTED_MARKERS)


def _convertible(files: Iterable[tuple[str, bytes]]) -> tuple[list[tuple[bytes, str]],
                                                               list[str], dict[str, int]]:
    """(bytes, suffix) and sha256 of each distinct convertible content of `files`, and how
    many files have each (encrypted and oversized ones are left out: read_doc reports them)."""
    items, keys, files_of = [], [], {}
    for path, data in files:
        if _encrypted(data) or len(data) > MAX_INPUT_BYTES:
            continue
        key = hashlib.sha256(data).hexdigest()
        files_of[key] = files_of.get(key, 0) + 1
        if files_of[key] > 1:     # the same bytes under another name: converted once
            continue
        items.append((data, _suffix(data, path)))
        keys.append(key)
    return items, keys, files_of


def convert_into(files: Iterable[tuple[str, bytes]], out_dir: str | Path) -> int:
    """Convert `files` ((path, bytes) of DOC/WPS/RTF files) in one LibreOffice run and write
    each DOCX as `<out_dir>/<sha256 of the input>.docx`, for `preconverted(..., cache_dir)`
    to pick up later (tasks.parallel converts a run's DOC files this way before extraction
    starts). Files the run does not convert get no DOCX (read_doc converts them later, with
    their own errors). Returns how many DOCX were written."""
    items, keys, _ = _convertible(files)
    if not items or soffice_path() is None:
        return 0
    n = 0
    for key, docx in zip(keys, convert_many(items, DOCX_TARGET)):
        if docx is not None:
            tmp = Path(out_dir) / f".{key}.part"
            tmp.write_bytes(docx)
            tmp.replace(Path(out_dir) / f"{key}.docx")      # whole or not at all
            n += 1
    return n


@contextmanager
def preconverted(files: Iterable[tuple[str, bytes]],
                 cache_dir: str | Path | None = None) -> Iterator[int]:
    """Within the block, `read_doc` of any of `files` ((path, bytes) of DOC/WPS/RTF files)
    uses the DOCX found in `cache_dir` (`convert_into`) or else that of one shared
    LibreOffice run instead of starting LibreOffice for it. Files neither has converted (and
    encrypted or oversized ones) are read as before, one LibreOffice start each, with their
    own errors. Yields how many were converted. A machine without LibreOffice: nothing is
    converted (read_doc reports tool.missing per file)."""
    items, keys, files_of = _convertible(files)
    done: list[str] = []
    try:
        if cache_dir is not None:
            rest = []
            for item, key in zip(items, keys):
                cached = Path(cache_dir) / f"{key}.docx"
                if cached.is_file():
                    _PRECONVERTED[key] = cached.read_bytes()
                    done.append(key)
                else:
                    rest.append((item, key))
            items, keys = [i for i, _ in rest], [k for _, k in rest]
        # a shared run for two files or more (one file: read_doc converts it alone)
        if sum(files_of[k] for k in keys) >= 2 and soffice_path() is not None:
            for key, docx in zip(keys, convert_many(items, DOCX_TARGET)):
                if docx is not None:
                    _PRECONVERTED[key] = docx
                    done.append(key)
        yield len(done)
    finally:
        for key in done:
            _PRECONVERTED.pop(key, None)


def read_doc(path: str, data: bytes, sha256: str) -> Document:
    """DOC / WPS / RTF → DOCX (LibreOffice; the result of a shared run when the file is
    `preconverted`) → Document. Provenance is that of the converted DOCX (table/row/column),
    the format stays the original one."""
    if _encrypted(data):
        raise ReadError("doc.encrypted", "文档已加密（有打开密码），无法读取")
    suffix = _suffix(data, path)
    docx_bytes = _PRECONVERTED.get(sha256)
    if docx_bytes is None:
        docx_bytes = convert(data, suffix, DOCX_TARGET)
    try:
        doc = read_docx(path, docx_bytes, sha256)
    except ReadError as e:
        raise ReadError(e.code, f"LibreOffice转换后的文档无法读取：{e.message}") from e
    doc.format = "wps" if suffix == ".wps" else "doc"
    doc.meta["converted_by"] = "libreoffice"
    return doc
