"""Atomic file writes, in one place: every file this project writes (results, ground truth, weights cache,
pytracking shims and markers, VOT workspace files, plots, videos) goes through here.

The data is written to a temporary name in the destination folder, flushed to disk, given the
permissions a plain ``open(path, "w")`` would give (the mode of the file it replaces, else
``0o666 & ~umask``; a folder: ``0o777 & ~umask``), and renamed over the destination with
``os.replace``.  A crash or kill at any point leaves either the old file or the new one, never a
half-written one; the temporary is removed on error.

* :func:`atomic_write` -- text or bytes in one call.
* :func:`atomic_path` -- a context manager that yields the temporary path, for writers that want a
  path (``torch.save``, ``cv2.VideoWriter``, ``fig.savefig``); :class:`AtomicPath` is the same object
  for writers that open and close at different times.
* :func:`atomic_dir` -- a whole folder built under a temporary name, then renamed into place.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union


def _umask() -> int:
    mask = os.umask(0)   # the only way to read it; restored at once
    os.umask(mask)
    return mask


def plain_file_mode(dest: Path) -> int:
    """What a normal write gives: the existing file's mode, or 0o666 minus the umask."""
    try:
        return os.stat(dest).st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(str(folder), os.O_RDONLY)
    except OSError:   # not possible on every platform; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_file(path: Union[str, Path]) -> None:
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicPath:
    """A temporary file next to ``dest``; :meth:`commit` moves it into place, :meth:`abort` removes it.
    ``suffix`` keeps the extension for writers that pick their format from it (OpenCV, matplotlib)."""

    def __init__(self, dest: Union[str, Path], suffix: str = ".tmp"):
        self.dest = Path(dest)
        self.dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + self.dest.name + ".", suffix=suffix, dir=str(self.dest.parent))
        os.close(fd)
        self.path = Path(tmp)

    def commit(self) -> None:
        fsync_file(self.path)
        os.chmod(self.path, plain_file_mode(self.dest))
        os.replace(self.path, self.dest)
        _fsync_dir(self.dest.parent)

    def abort(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self.commit()
            except BaseException:
                self.abort()
                raise
        else:
            self.abort()


def atomic_path(dest: Union[str, Path], suffix: str = ".tmp") -> AtomicPath:
    """``with atomic_path(dest) as tmp: writer(tmp)`` -- dest appears complete, or not at all."""
    return AtomicPath(dest, suffix)


def atomic_write(dest: Union[str, Path], data: Union[str, bytes]) -> None:
    """Write text (UTF-8) or bytes to dest atomically."""
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)


@contextmanager
def atomic_dir(dest: Union[str, Path]) -> Iterator[Path]:
    """Build a folder under a temporary name next to dest, then put it in dest's place (an existing
    dest is replaced).  On error the temporary folder is removed and dest is left as it was."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="." + dest.name + ".", suffix=".tmp", dir=str(dest.parent)))
    try:
        yield tmp
        for root, _dirs, files in os.walk(tmp):
            for name in files:
                p = os.path.join(root, name)
                if not os.path.islink(p):
                    fsync_file(p)
        os.chmod(tmp, 0o777 & ~_umask())   # mkdtemp makes it 0o700
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        elif dest.exists() or dest.is_symlink():
            dest.unlink()
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
