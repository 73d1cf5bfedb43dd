"""Writing files so that a crash, a kill or a full disk never leaves a half-written one: every file the package
writes goes through :func:`atomic_path` (a temporary file beside the target, moved into place when complete)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from pathlib import Path


class WriteError(OSError):
    """A file could not be written (disk full, no permission, ...); the message names the file. The file's
    previous version, if any, is left as it was."""

    def __str__(self) -> str:
        return str(self.strerror)  # the message alone, without OSError's "[Errno N]" prefix


class _WatchedFile:
    """A file object that remembers the OSError of a failed write: ``torch.save`` reports one as a
    RuntimeError of its own, which would hide the reason (e.g. a full disk)."""

    def __init__(self, f):
        self._f, self.error = f, None

    def write(self, data):
        try:
            return self._f.write(data)
        except OSError as err:
            self.error = err
            raise

    def __getattr__(self, name):
        return getattr(self._f, name)


def temp_path(path: str | os.PathLike) -> Path:
    """The temporary file beside ``path`` that is written first: hidden, same extension (writers pick the
    format by it), one per process."""
    path = Path(path)
    return path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """A temporary path beside ``path`` (same extension, hidden name) for a writer that wants a file name; it
    is moved into place (os.replace) when the block ends without an error and removed otherwise, so readers
    never see a half-written file. An OSError on the way becomes a :class:`WriteError` naming ``path``."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        os.replace(tmp, path)
    except OSError as err:
        if isinstance(err, WriteError):
            raise
        raise WriteError(err.errno, f"cannot write '{path}': {err.strerror or err}") from err
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_files(folder: str | os.PathLike):
    """A temporary folder inside ``folder`` for a writer that makes several files (an ONNX model and its
    ``.data``); each is moved into ``folder`` (os.replace; ``.data`` files first, so a model never points at
    missing data) when the block ends without an error, and the temporary folder is removed in any case."""
    folder = Path(folder)
    tmp = folder / f".tmp-{os.getpid()}"
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        yield tmp
        for made in sorted(tmp.iterdir(), key=lambda p: not p.name.endswith(".data")):
            os.replace(made, folder / made.name)
    except OSError as err:
        if isinstance(err, WriteError):
            raise
        raise WriteError(err.errno, f"cannot write into '{folder}': {err.strerror or err}") from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(file_object)`` on a temporary file beside ``path`` and move it into place (os.replace),
    so readers never see a half-written file; the data reaches the disk (fsync) before the move."""
    with atomic_path(path) as tmp, open(tmp, "wb") as raw:
        f = _WatchedFile(raw)
        try:
            write(f)
            raw.flush()
            os.fsync(raw.fileno())
        except Exception:
            if f.error is not None:
                raise f.error from None
            raise


def write_json(path: str | os.PathLike, data, indent: int = 2) -> None:
    """``data`` as JSON, written atomically."""
    atomic_write(path, lambda f: f.write(json.dumps(data, indent=indent).encode()))


def save_figure(fig, path: str | os.PathLike, dpi: int = 90) -> str:
    """Write a matplotlib figure as PNG atomically and close it; returns the absolute path."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))
    return os.path.abspath(path)


def copy_file(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Copy ``source`` to ``target`` atomically."""
    with open(source, "rb") as src:
        atomic_write(target, lambda f: shutil.copyfileobj(src, f))
