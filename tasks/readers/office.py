"""Legacy Word (.doc), WPS (.wps) and RTF → DOCX with LibreOffice headless → the DOCX reader.

Every conversion runs `soffice` with an argument list (never a shell string), in a private
temporary directory with its own LibreOffice profile (`-env:UserInstallation=file:///…`) so that
parallel conversions do not collide, in a process group of its own that is killed whole on
timeout, with a cap on the size of files it may write and on the output read back.

A machine without LibreOffice gets `ReadError("tool.missing")` for these files only.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from tasks.readers.docx import read_docx
from tasks.readers.grid import Document, ReadError

MAX_INPUT_BYTES = 64 * 1024 * 1024
MAX_OUTPUT_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT = 120.0            # seconds; a fresh profile's first start takes ~5–15 s
_ENCRYPTED_MARKERS = ("EncryptedPackage".encode("utf-16-le"),
                      "EncryptionInfo".encode("utf-16-le"))


def soffice_path() -> str | None:
    for name in ("soffice", "libreoffice"):
        p = shutil.which(name)
        if p:
            return p
    return None


def convert(data: bytes, suffix: str, target: str = "docx", timeout: float | None = None) -> bytes:
    """Convert document bytes with LibreOffice headless; returns the converted file's bytes.

    `suffix` names the input's type for LibreOffice (".doc", ".wps", ".rtf", ".docx");
    `target` is a --convert-to filter spec ("docx", "pdf", "doc" …). Raises ReadError."""
    exe = soffice_path()
    if exe is None:
        raise ReadError("tool.missing", "未安装LibreOffice（soffice），无法读取DOC/WPS文件；"
                                        "请运行 scripts/sysdeps.sh 安装 libreoffice-writer")
    if len(data) > MAX_INPUT_BYTES:
        raise ReadError("doc.too_large", f"文件过大（{len(data) // 1024 // 1024} MB），不转换")
    if timeout is None:
        timeout = float(os.environ.get("NIANBAO_SOFFICE_TIMEOUT", DEFAULT_TIMEOUT))
    work = Path(tempfile.mkdtemp(prefix="nianbao-lo-"))
    try:
        src = work / f"input{suffix}"
        src.write_bytes(data)
        out_dir = work / "out"
        out_dir.mkdir()
        profile = work / "profile"
        cmd = [exe, f"-env:UserInstallation={profile.as_uri()}", "--headless", "--invisible",
               "--nologo", "--nodefault", "--norestore", "--nolockcheck",
               "--convert-to", target, "--outdir", str(out_dir), str(src)]
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


def read_doc(path: str, data: bytes, sha256: str) -> Document:
    """DOC / WPS / RTF → DOCX (LibreOffice) → Document. Provenance is that of the converted
    DOCX (table/row/column), the format stays the original one."""
    if any(m in data[:1024 * 1024] for m in _ENCRYPTED_MARKERS):
        raise ReadError("doc.encrypted", "文档已加密（有打开密码），无法读取")
    suffix = _suffix(data, path)
    docx_bytes = convert(data, suffix, "docx:MS Word 2007 XML")
    try:
        doc = read_docx(path, docx_bytes, sha256)
    except ReadError as e:
        raise ReadError(e.code, f"LibreOffice转换后的文档无法读取：{e.message}") from e
    doc.format = "wps" if suffix == ".wps" else "doc"
    doc.meta["converted_by"] = "libreoffice"
    return doc
