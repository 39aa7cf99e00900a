"""Atomic file writes: every file tinct writes (images, uncertainty maps, medical files, caches and
memos) goes through :func:`atomic_write_bytes`, so an interrupted run never leaves a truncated file."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from tinct.io.errors import WriteError


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename (the
    temporary file is this process's and thread's own, so concurrent writers never share one).

    Raises :class:`~tinct.io.errors.WriteError` (an :class:`~tinct.io.errors.ImageError` and an
    :class:`OSError`, with a one-line message) when the folder or the file cannot be written; the
    temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tinct-tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        raise WriteError(f"cannot write {path}: {e.strerror or e}") from None
    except BaseException:
        _remove(tmp)
        raise


def _remove(tmp: Path) -> None:
    """Remove a temporary file if there is one (its folder may not exist)."""
    with contextlib.suppress(OSError):
        tmp.unlink(missing_ok=True)
