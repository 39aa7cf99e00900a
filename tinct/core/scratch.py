"""Reusable work buffers for the strip kernels of the full-resolution half.

A strip kernel that allocates its temporaries anew for every strip spends its time in the
allocator with the GIL held: two threads then run one after the other (measured: 64K-pixel float32
operations with fresh outputs ran 2.0x slower each on two threads, in-place ones 1.1x). The kernels
of :mod:`tinct.core.color` and :mod:`tinct.core.fullres` write into the buffers of a
:class:`Scratch` instead; :func:`thread_scratch` gives each thread its own.
"""

from __future__ import annotations

import math
import threading

import numpy as np

_LOCAL = threading.local()


class Scratch:
    """Named work arrays that grow to the largest size asked for and are reused after that.

    :meth:`get` returns a view of the named buffer (its contents are whatever was left there);
    one name is one array at a time, so a kernel uses distinct names for arrays alive together.
    Not thread-safe: one Scratch per thread (:func:`thread_scratch`).
    """

    def __init__(self) -> None:
        self._buffers: dict[tuple[str, np.dtype], np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: type | np.dtype = np.float32) -> np.ndarray:
        """An uninitialised C-contiguous array of ``shape`` and ``dtype``, reusing buffer ``name``."""
        key = (name, np.dtype(dtype))
        size = math.prod(shape)
        buf = self._buffers.get(key)
        if buf is None or buf.size < size:
            buf = self._buffers[key] = np.empty(size, key[1])
        return buf[:size].reshape(shape)


def thread_scratch() -> Scratch:
    """This thread's :class:`Scratch` (made on first use; freed with the thread)."""
    scratch = getattr(_LOCAL, "scratch", None)
    if scratch is None:
        scratch = _LOCAL.scratch = Scratch()
    return scratch
