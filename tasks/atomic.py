"""Write output files so that a reader never sees a half-written one.

``atomic_write(path)`` writes to a hidden temporary file in the same folder
(``.<name>.<random>.tmp``), flushes it to disk and renames it over ``path`` only when the block
ends without an exception. On any failure (disk full, no permission, a crash inside the block)
the temporary file is removed and ``path`` keeps its previous content, or stays absent. A
process killed mid-write leaves at most a hidden ``.*.tmp`` file, never a truncated file under
the real name (``tasks.ingest`` skips hidden files, and a report generator that reuses
"existing" outputs never takes a partial one for a finished one).

    with atomic_write(path) as f:            # binary file object
        f.write(data)
    with atomic_write(path, "w") as f:       # text, UTF-8
        f.write(text)
    with atomic_path(path) as tmp:           # for libraries that want a file name
        workbook.save(tmp)

Errors are ``OSError`` subclasses (:class:`OutputError`) whose message is Chinese and says what
went wrong (:func:`describe_os_error`).
"""
from __future__ import annotations

import errno
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

_REASONS = {
    errno.ENOSPC: "磁盘空间不足",
    errno.EDQUOT: "磁盘配额已用完",
    errno.EFBIG: "文件超过系统允许的大小",
    errno.EACCES: "没有写入权限",
    errno.EPERM: "没有写入权限",
    errno.EROFS: "所在文件系统为只读",
    errno.ENOENT: "文件夹不存在",
    errno.ENOTDIR: "路径中有一段不是文件夹",
    errno.EISDIR: "目标是一个文件夹",
    errno.ENAMETOOLONG: "文件名过长",
    errno.EIO: "磁盘读写错误",
}


class OutputError(OSError):
    """An output file could not be written. ``str(e)`` is a Chinese sentence for people;
    ``errno``/``filename`` are those of the underlying error."""

    def __str__(self) -> str:   # OSError's default adds "[Errno n]": keep the sentence clean
        return self.strerror or super().__str__()


def describe_os_error(e: OSError, path: str | Path | None = None, verb: str = "写入") -> str:
    """'无法写入 <path>：磁盘空间不足' — a Chinese sentence for an OSError (`verb`: 写入,
    访问 …)."""
    target = path if path is not None else (e.filename or "")
    reason = _REASONS.get(e.errno or -1) or (e.strerror or type(e).__name__)
    if e.errno == errno.ENOENT and verb != "写入":
        reason = "文件或文件夹不存在"
    return f"无法{verb}{(' ' + str(target)) if target else ''}：{reason}"


def _temp_in(folder: Path, name: str) -> tuple[int, Path]:
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    return fd, Path(tmp)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _commit(tmp: Path, path: Path, mode: int | None) -> None:
    if mode is not None:
        os.chmod(tmp, mode)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _read_umask() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


_UMASK = _read_umask()     # read once: os.umask() can only be read by setting it (not thread-safe)


def _final_mode(path: Path) -> int:
    """Keep an existing file's permissions; new files get the usual 0o666 & ~umask
    (mkstemp creates 0o600)."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_UMASK


def _raise(e: OSError, path: Path) -> None:
    if isinstance(e, OutputError):
        raise e
    raise OutputError(e.errno, describe_os_error(e, path), str(path)) from e


@contextmanager
def atomic_path(path: str | Path, *, mkdir: bool = True) -> Iterator[Path]:
    """Yield a temporary file name beside `path`; rename it over `path` when the block succeeds.

    The block must write the whole file at the yielded name (e.g. ``wb.save(tmp)``)."""
    path = Path(path)
    try:
        if mkdir:
            path.parent.mkdir(parents=True, exist_ok=True)
        mode = _final_mode(path)
        fd, tmp = _temp_in(path.parent, path.name)
        os.close(fd)
    except OSError as e:
        _raise(e, path)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        _commit(tmp, path, mode)
    except BaseException as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(e, OSError):
            _raise(e, path)
        raise


@contextmanager
def atomic_write(path: str | Path, mode: str = "wb", *, encoding: str = "utf-8",
                 mkdir: bool = True) -> Iterator[IO]:
    """Open a temporary file beside `path` for writing ("wb" or "w"); on success it replaces
    `path` atomically, on failure it is removed and `path` is untouched."""
    if mode not in ("wb", "w"):
        raise ValueError("atomic_write mode must be 'wb' or 'w'")
    with atomic_path(path, mkdir=mkdir) as tmp:
        f = open(tmp, mode, **({"encoding": encoding} if mode == "w" else {}))
        try:
            yield f
            f.flush()
        finally:
            f.close()


def write_bytes(path: str | Path, data: bytes) -> Path:
    """`Path.write_bytes`, atomically."""
    with atomic_write(path) as f:
        f.write(data)
    return Path(path)


def write_text(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """`Path.write_text`, atomically."""
    with atomic_write(path, "w", encoding=encoding) as f:
        f.write(text)
    return Path(path)
