"""The full-resolution half on every core, in numpy: ab upsampled along L (fast guided filter) and
joined with L into 8-bit sRGB, strip by strip, the strips spread over a thread pool.

Every step is a numpy kernel that releases the GIL (:func:`tinct.core.color.lab_to_rgb8_array`
and the bilinear taps here), so threads over strips use all cores; strips are small (about
:data:`TASK_PIXELS` pixels) so each one's temporaries stay in cache, and memory is the output
plus a few strips per thread. Results do not depend on the strip size or the number of threads.

Agreement with the torch implementation it replaced (tinct 0.x ``pipeline.join_full_resolution``):
within 1 code on the golden tests (measured maximum difference: 1 code, at fewer than 1 pixel in
10^4), and exactly the same bilinear taps and guided-filter coefficients up to float32 rounding.
Importing this module does not import torch.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from tinct.core.color import GamutDeferral, fit_gamut_codes, lab_to_rgb8_array
from tinct.core.scratch import Scratch, thread_scratch

#: pixels per task of the full-resolution half (small enough for a core's cache, large enough
#: that Python's per-call overhead stays a few per cent)
TASK_PIXELS = 1 << 18

_POOL: ThreadPoolExecutor | None = None
_POOL_KEY = (0, 0)  # (threads, pid): a forked child makes its own pool (the parent's threads are not in it)
_POOL_LOCK = threading.Lock()


def default_threads() -> int:
    """Threads for the full-resolution half: ``TINCT_THREADS``, else the cores this process may use."""
    env = os.environ.get("TINCT_THREADS")
    if env:
        return max(1, int(env))
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run_strips(height: int, width: int, work: Callable[[slice], None], threads: int | None = None) -> None:
    """Call ``work(rows)`` for consecutive row slices covering ``height`` rows, on ``threads`` threads.

    Each slice holds about :data:`TASK_PIXELS` pixels (at least one row); ``work`` writes its own
    rows of the output, so the order does not matter. Exceptions propagate.
    """
    global _POOL, _POOL_KEY
    threads = threads or default_threads()
    rows = max(1, TASK_PIXELS // max(1, width))
    slices = [slice(y, min(height, y + rows)) for y in range(0, height, rows)]
    if threads <= 1 or len(slices) <= 1:
        for sl in slices:
            work(sl)
        return
    with _POOL_LOCK:
        if _POOL is None or _POOL_KEY != (threads, os.getpid()):
            _POOL = ThreadPoolExecutor(threads, thread_name_prefix="tinct-strips")
            _POOL_KEY = (threads, os.getpid())
        pool = _POOL
    for f in [pool.submit(work, sl) for sl in slices]:
        f.result()


class OutOfGamut:
    """The out-of-gamut pixels of an image's strips, collected (:meth:`collector`) and then fitted
    in one vectorised pass (:meth:`fit_into`): the bisection's few dozen numpy calls run once per
    image instead of once per strip. Only strips with few of them hand them on (fewer than
    :data:`~tinct.core.color.DEFER_GAMUT_MAX` each); a strip with many fits its own, so what is
    collected stays a small part of the image. Thread-safe."""

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def collector(self, row0: int) -> GamutDeferral:
        """The ``defer_gamut`` of :func:`~tinct.core.color.lab_to_rgb8_array` for a strip starting at row ``row0``."""

        def collect(where: tuple[np.ndarray, ...], L: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
            rows, cols = where
            self._parts.append((rows + row0, cols, L, a, b))  # list.append is atomic

        return collect

    def fit_into(self, out: np.ndarray) -> None:
        """Write the fitted colours of every collected pixel into ``out`` (H, W, 3)."""
        if not self._parts:
            return
        rows, cols, L, a, b = (np.concatenate(v) for v in zip(*self._parts, strict=True))
        out[rows, cols] = fit_gamut_codes(L, a, b)


def box(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over (2r+1)^2 windows (edges replicated) of x (..., h, w), float32."""
    k = 2 * r + 1
    pad = [(0, 0)] * (x.ndim - 2) + [(r, r), (r, r)]
    p = np.pad(np.asarray(x, np.float32), pad, mode="edge")
    h, w = x.shape[-2:]
    rows = sum(p[..., i : i + h, :] for i in range(k))
    return sum(rows[..., j : j + w] for j in range(k)) * np.float32(1.0 / (k * k))


def guided_coefficients(guide: np.ndarray, src: np.ndarray, radius: int = 2, eps: float = 16.0):
    """Guided-filter coefficients (He et al.) at low resolution: src ~ A * guide + B locally.

    guide (h, w), src (C, h, w) -> A, B (C, h, w) float32, already box-averaged (the same maths as
    :func:`tinct.core.filters.guided_coefficients`, on numpy arrays).
    """
    g = np.asarray(guide, np.float32)[None]
    s = np.asarray(src, np.float32)
    mean_g = box(g, radius)
    mean_s = box(s, radius)
    cov = box(g * s, radius) - mean_g * mean_s
    var = box(g * g, radius) - mean_g * mean_g
    a = cov / (var + np.float32(eps))
    b = mean_s - a * mean_g
    return box(a, radius), box(b, radius)


def linear_taps(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Source indices and weights of bilinear resampling (align_corners=False) along one axis."""
    pos = (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) * np.float32(n_in / n_out) - np.float32(0.5)
    pos = np.clip(pos, 0, n_in - 1)
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return i0, i1, (pos - i0).astype(np.float32)


class Upsampler:
    """Bilinear upsampling (align_corners=False) of ``coef`` (C, h, w) to (C, height, width), by rows.

    The horizontal pass is done once (C, h, width); :meth:`rows` finishes any slice of output rows.
    """

    def __init__(self, coef: np.ndarray, height: int, width: int):
        coef = np.asarray(coef, np.float32)
        x0, x1, wx = linear_taps(width, coef.shape[-1])
        self.cols = np.ascontiguousarray(coef[..., x0] * (1 - wx) + coef[..., x1] * wx)  # C order: rows gather fast
        self.y0, self.y1, self.wy = linear_taps(height, coef.shape[-2])
        self.wy0 = (1 - self.wy)[:, None]
        self.wy1 = self.wy[:, None]

    def rows(self, sl: slice, scratch: Scratch | None = None) -> np.ndarray:
        """Output rows ``sl``: (C, rows, width) float32; a buffer of ``scratch`` when given (valid
        until its next use), else a new array.

        Rows between the same two source rows are one broadcast ``top * (1 - w) + bottom * w``
        (no gathered copies of the source rows).
        """
        s = scratch if scratch is not None else Scratch()
        y0, y1, wy0, wy1 = self.y0[sl], self.y1[sl], self.wy0[sl], self.wy1[sl]
        n = len(y0)
        c, width = self.cols.shape[0], self.cols.shape[-1]
        out = s.get("up_out", (c, n, width))
        term = s.get("up_term", (c, n, width))
        starts = [0, *(np.flatnonzero(np.diff(y0)) + 1).tolist(), n]
        for lo, hi in zip(starts[:-1], starts[1:], strict=False):
            i, j = y0[lo], y1[lo]
            np.multiply(self.cols[:, i : i + 1], wy0[lo:hi], out=out[:, lo:hi])
            np.multiply(self.cols[:, j : j + 1], wy1[lo:hi], out=term[:, lo:hi])
            out[:, lo:hi] += term[:, lo:hi]
        return out


def coefficient_upsampler(
    L: np.ndarray, ab_small: np.ndarray, L_guide: np.ndarray | None, radius: int = 2, eps: float = 16.0
) -> Upsampler:
    """The :class:`Upsampler` of what the full-resolution half interpolates for L (H, W): the
    guided filter's A and B (4, h, w) with ``L_guide``, else ab itself (2, h, w)."""
    H, W = L.shape
    if L_guide is None:
        return Upsampler(ab_small, H, W)
    A, B = guided_coefficients(L_guide, ab_small, radius, eps)
    return Upsampler(np.concatenate([A, B]), H, W)


@functools.cache
def fused_available() -> bool:
    """Whether the compiled kernel of :mod:`tinct.core.fused` can run (numba is installed); looked up once."""
    import importlib.util

    return importlib.util.find_spec("numba") is not None


_FUSED: dict = {"state": "idle", "module": None}  # idle -> loading -> ready (or failed)
_FUSED_LOCK = threading.Lock()


def fused_kernel(wait: float = 0.0):
    """:mod:`tinct.core.fused` once it is ready to run, else None.

    The first call starts loading it in a background thread (numba's import, then the kernel
    compiled or read from numba's cache: 0.5-1.5 s); until then callers use the numpy kernels,
    whose output is the same, so nobody waits for it and a batch switches over when it is ready.
    ``wait``: seconds to wait for it (tests). None where numba is missing or fails to load.
    """
    if _FUSED["state"] == "ready":
        return _FUSED["module"]
    with _FUSED_LOCK:
        if _FUSED["state"] == "idle":
            _FUSED["state"] = "loading"
            _FUSED["thread"] = threading.Thread(target=_load_fused, name="tinct-fused", daemon=True)
            _FUSED["thread"].start()
    if wait and _FUSED["state"] == "loading":
        _FUSED["thread"].join(wait)
    return _FUSED["module"] if _FUSED["state"] == "ready" else None


def _load_fused() -> None:
    try:
        from tinct.core import fused

        fused.warm_up()
        _FUSED["module"], _FUSED["state"] = fused, "ready"
    except Exception:  # noqa: BLE001 - numba missing or broken: the numpy kernels stay
        _FUSED["state"] = "failed"


def upsample_ab_rows(
    L: np.ndarray, ab_small: np.ndarray, L_guide: np.ndarray | None, radius: int = 2, eps: float = 16.0
) -> Callable[[slice, Scratch | None], np.ndarray]:
    """A function ``rows(sl, scratch=None)`` from a slice of rows to full-resolution ab (C, rows, W)
    for L (H, W) (a buffer of ``scratch`` when given, as :meth:`Upsampler.rows`).

    With ``L_guide`` (L at ab_small's resolution) the fast guided filter, ab = A * L + B with the
    coefficients upsampled bilinearly; with None, plain bilinear upsampling of ``ab_small``.
    """
    c = ab_small.shape[0]
    up = coefficient_upsampler(L, ab_small, L_guide, radius, eps)
    if L_guide is None:
        return up.rows

    def rows(sl: slice, scratch: Scratch | None = None) -> np.ndarray:
        coef = up.rows(sl, scratch)
        ab = coef[:c]
        ab *= L[sl]
        ab += coef[c:]
        return ab

    return rows


def join_full_resolution(
    L: np.ndarray,
    ab_small: np.ndarray,
    L_guide: np.ndarray | None,
    radius: int = 2,
    eps: float = 16.0,
    out: np.ndarray | None = None,
    threads: int | None = None,
    fused: bool = False,
) -> np.ndarray:
    """Upsample ab (2, h, w) to L's (H, W), guided by L, and join it with L -> uint8 RGB (H, W, 3).

    numpy arrays in (float32); ``L_guide`` None: plain bilinear. Never holds full-resolution ab;
    strips run on ``threads`` threads (default :func:`default_threads`), each in its own
    :func:`~tinct.core.scratch.thread_scratch` buffers. ``fused``: the compiled kernel of
    :mod:`tinct.core.fused` (numba; the same output to the bit) instead of the numpy kernels, once
    it has loaded (:func:`fused_kernel`).
    """
    L = np.ascontiguousarray(L, np.float32)
    H, W = L.shape
    out = np.empty((H, W, 3), np.uint8) if out is None else out
    kernel = fused_kernel() if fused else None
    if kernel is not None:
        up = coefficient_upsampler(L, np.asarray(ab_small, np.float32), L_guide, radius, eps)
        run_strips(H, W, lambda sl: kernel.join(L, up, L_guide is not None, out, sl), threads)
        return out
    ab_rows = upsample_ab_rows(L, np.asarray(ab_small, np.float32), L_guide, radius, eps)

    gamut = OutOfGamut()

    def work(sl: slice) -> None:
        scratch = thread_scratch()
        ab = ab_rows(sl, scratch)
        lab_to_rgb8_array(L[sl], ab[0], ab[1], out=out[sl], scratch=scratch, defer_gamut=gamut.collector(sl.start))

    run_strips(H, W, work, threads)
    gamut.fit_into(out)
    return out


def upsample_ab(
    L: np.ndarray, ab_small: np.ndarray, L_guide: np.ndarray | None, radius: int = 2, eps: float = 16.0
) -> np.ndarray:
    """Full-resolution ab (C, H, W) float32 from ab_small (C, h, w), guided by L (:func:`upsample_ab_rows`)."""
    L = np.ascontiguousarray(L, np.float32)
    out = np.empty((ab_small.shape[0], *L.shape), np.float32)
    ab_rows = upsample_ab_rows(L, np.asarray(ab_small, np.float32), L_guide, radius, eps)

    def work(sl: slice) -> None:
        out[:, sl] = ab_rows(sl, thread_scratch())

    run_strips(L.shape[0], L.shape[1], work)
    return out


def join_ab(L: np.ndarray, ab: np.ndarray, out: np.ndarray | None = None, threads: int | None = None) -> np.ndarray:
    """Join full-resolution L (H, W) and ab (2, H, W) -> uint8 RGB (H, W, 3), strips on all cores."""
    L = np.asarray(L, np.float32)
    ab = np.asarray(ab, np.float32)
    H, W = L.shape
    out = np.empty((H, W, 3), np.uint8) if out is None else out

    gamut = OutOfGamut()

    def work(sl: slice) -> None:
        collect = gamut.collector(sl.start)
        lab_to_rgb8_array(L[sl], ab[0, sl], ab[1, sl], out=out[sl], scratch=thread_scratch(), defer_gamut=collect)

    run_strips(H, W, work, threads)
    gamut.fit_into(out)
    return out
