"""Filters and resampling: the box filter, the fast guided filter that upsamples colour along the
full-resolution lightness, and block (area, median) downscaling.

* :func:`box` -- mean over (2r+1)^2 windows, edges replicated (the one box filter).
* :func:`guided_coefficients`, :func:`guided_ab_strips`, :func:`upsample_ab`,
  :func:`guided_upsample_ab` -- the fast guided filter (He & Sun 2015): low-resolution colour is
  fitted as ``A * L + B`` locally and the coefficients are upsampled bilinearly and applied to the
  full-resolution L, strip by strip (:mod:`tinct.core.strips`), so colour edges land on the sharp L
  edges. ``upsample_strips`` is the bilinear part (``align_corners=False``).
* :func:`block_edges`, :func:`block_mean`, :func:`block_median`, :func:`reduced_shape` -- area and
  robust downscaling on the same grid as bilinear resampling; :func:`local_std` -- local contrast.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from tinct.core import fullres, strips

if TYPE_CHECKING:
    import torch


def box(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window (edges replicated) of x: (C, h, w) or (h, w), any float dtype."""
    import torch.nn.functional as F

    k = 2 * r + 1
    y = x[None] if x.ndim == 3 else x[None, None]
    y = F.avg_pool2d(F.pad(y, (r, r, r, r), mode="replicate"), k, stride=1)
    return y[0] if x.ndim == 3 else y[0, 0]


def guided_coefficients(guide: torch.Tensor, src: torch.Tensor, radius: int = 2, eps: float = 16.0):
    """Guided-filter coefficients (He et al.) at low resolution: src ~ A * guide + B locally.

    guide: (h, w) L; src: (C, h, w) ab. Returns A, B of shape (C, h, w), already box-averaged,
    so that A * L_full + B (with A, B upsampled) is the fast guided filter of Kaiming He (2015).
    ``eps`` is in L units squared: edges with a local L std well above sqrt(eps) steer colour.
    """
    g = guide[None]
    mean_g = box(g, radius)
    mean_s = box(src, radius)
    cov = box(g * src, radius) - mean_g * mean_s
    var = box(g * g, radius) - mean_g * mean_g
    a = cov / (var + eps)
    b = mean_s - a * mean_g
    return box(a, radius), box(b, radius)


def _linear_taps(n_out: int, n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source indices and weights of bilinear resampling (align_corners=False) along one axis."""
    import torch

    pos = ((torch.arange(n_out, dtype=torch.float32) + 0.5) * (n_in / n_out) - 0.5).clamp(0, n_in - 1)
    i0 = pos.floor().long()
    i1 = (i0 + 1).clamp(max=n_in - 1)
    return i0, i1, pos - i0


def upsample_strips(coef: torch.Tensor, height: int, width: int, rows: int) -> Iterator[tuple[int, torch.Tensor]]:
    """Bilinearly upsample ``coef`` (C, h, w) to (C, height, width), one strip of rows at a time.

    Yields (y0, strip of shape (C, y1 - y0, width)); identical to F.interpolate(bilinear,
    align_corners=False) on the whole image, but never holds the full-resolution result.
    """
    x0, x1, wx = _linear_taps(width, coef.shape[-1])
    cols = coef[..., x0] * (1 - wx) + coef[..., x1] * wx  # (C, h, width)
    y0i, y1i, wy = _linear_taps(height, coef.shape[-2])
    for y in range(0, height, rows):
        sl = slice(y, min(height, y + rows))
        w = wy[sl][:, None]
        yield y, cols[:, y0i[sl]] * (1 - w) + cols[:, y1i[sl]] * w


def guided_ab_strips(
    L: torch.Tensor, ab_small: torch.Tensor, L_guide: torch.Tensor | None, radius: int = 2, eps: float = 16.0
) -> Iterator[tuple[int, torch.Tensor]]:
    """Full-resolution ab, strip by strip: (y0, ab (C, rows, W)) for L (H, W) and ab_small (C, h, w).

    With ``L_guide`` (L at the ab resolution) this is the fast guided filter: ab = A * L + B with
    the coefficients of :func:`guided_coefficients` upsampled bilinearly; with None, plain bilinear.
    """
    import torch

    H, W = L.shape
    c = ab_small.shape[0]
    if L_guide is not None:
        A, B = guided_coefficients(L_guide, ab_small, radius, eps)
        coef = torch.cat([A, B])
    else:
        coef = ab_small
    for y, strip in upsample_strips(coef, H, W, strips.rows_per_strip(W)):
        yield y, (strip[:c] * L[y : y + strip.shape[1]] + strip[c:]) if L_guide is not None else strip


def upsample_ab(
    L: torch.Tensor, ab_small: torch.Tensor, L_guide: torch.Tensor | None, radius: int = 2, eps: float = 16.0
) -> torch.Tensor:
    """Full-resolution ab (C, H, W) from ab_small, guided by L (:func:`tinct.core.fullres.upsample_ab`)."""
    import torch

    guide = None if L_guide is None else L_guide.detach().cpu().float().numpy()
    small = ab_small.detach().cpu().float().numpy()
    return torch.from_numpy(fullres.upsample_ab(L.detach().cpu().float().numpy(), small, guide, radius, eps))


def check_l(L: np.ndarray) -> np.ndarray:
    """``L`` as a float32 H x W array (ValueError for another shape)."""
    L = np.asarray(L)
    if L.ndim != 2:
        raise ValueError(f"L must be H x W, got shape {L.shape}")
    return L.astype(np.float32, copy=False)


def guided_upsample_ab(
    L_full: np.ndarray,
    L_small: np.ndarray,
    ab_small: np.ndarray,
    radius: int = 2,
    eps: float = 16.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Upsample ``ab_small`` to L_full's size along L_full's edges (fast guided filter), on numpy arrays.

    He, Sun & Tang's guided filter fitted at low resolution (He & Sun, "Fast Guided Filter",
    2015): in every (2 radius + 1)^2 window of the small grid, each channel of ``ab_small`` is
    fitted as ``A * L_small + B`` (ridge ``eps``); the window-averaged A and B are upsampled
    bilinearly and applied to the full-resolution L, ``ab = A(x) * L_full(x) + B(x)``. Where L
    has a sharp edge that the small grid blurs, the colour edge is redrawn on the sharp L edge
    instead of bleeding over a low-resolution pixel or two as plain bilinear does; in flat
    regions the result is the bilinear upsampling of ``ab_small``.

    Args:
        L_full: full-resolution L, H x W (any float dtype, [0, 100]).
        L_small: the L that ``ab_small`` belongs to, h x w with h <= H, w <= W, on the grid of
            bilinear ``align_corners=False`` resampling: an anti-aliased (area-average) downscale
            of L_full, as a model's working-size input, or a robust one (:func:`block_median`).
        ab_small: C x h x w (C = 2 for ab; any C works).
        radius: window radius in small-grid pixels.
        eps: regulariser in L units squared: a window whose L std is well above ``sqrt(eps)``
            steers colour; flatter windows are just interpolated.
        out: optional float32 C x H x W array to write into.

    Returns:
        float32 C x H x W, computed strip by strip (:func:`upsample_ab`).
    """
    import torch

    L_full = check_l(L_full)
    H, W = L_full.shape
    p = np.asarray(ab_small, np.float32)
    if p.ndim != 3 or p.shape[1:] != np.shape(L_small):
        raise ValueError(f"ab_small {p.shape} must be C x h x w with h x w = L_small {np.shape(L_small)}")
    if p.shape[1] > H or p.shape[2] > W:
        raise ValueError(f"small grid {p.shape[1]}x{p.shape[2]} is larger than the full image {H}x{W}")
    ab = upsample_ab(
        torch.from_numpy(np.ascontiguousarray(L_full, np.float32)),
        torch.from_numpy(p),
        torch.from_numpy(np.ascontiguousarray(L_small, np.float32)),
        radius,
        eps,
    ).numpy()
    if out is None:
        return ab
    out[...] = ab
    return out


# --------------------------------------------------------------------------------------------
# block resampling


def block_edges(n: int, m: int) -> np.ndarray:
    """Boundaries (m + 1 ints) of ``m`` near-equal blocks covering ``n`` samples (m <= n)."""
    return np.round(np.arange(m + 1) * (n / m)).astype(np.int64)


def block_mean(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Area-average ``x`` (H x W [x C]) down to ``shape`` = (h, w) with h <= H, w <= W (float64).

    Block ``i`` covers rows ``round(i H / h)`` to ``round((i + 1) H / h)``, so the small grid has
    the same geometry as bilinear resampling with ``align_corners=False``.
    """
    ey, ex = block_edges(x.shape[0], shape[0]), block_edges(x.shape[1], shape[1])
    s = np.add.reduceat(x, ey[:-1], axis=0, dtype=np.float64)
    s = np.add.reduceat(s, ex[:-1], axis=1)
    area = np.diff(ey)[:, None] * np.diff(ex)[None, :]
    return s / (area if x.ndim == 2 else area[..., None])


def block_median(x: np.ndarray, shape: tuple[int, int], taps: int = 3) -> np.ndarray:
    """Robust downscale of ``x`` (H x W) to ``shape``: per block, the median of taps x taps samples.

    Blocks as :func:`block_mean`. Unlike the area mean it makes no intermediate values on an edge
    (a block takes its majority side's level), so edges stay as impermeable to propagation on
    the small grid as they are at full resolution; it also rejects noise.
    """

    def taps_along(n: int, m: int) -> np.ndarray:
        e = block_edges(n, m)
        return e[:-1, None] + np.floor((np.arange(taps) + 0.5) / taps * np.diff(e)[:, None]).astype(np.int64)

    ty, tx = taps_along(x.shape[0], shape[0]), taps_along(x.shape[1], shape[1])  # (h, taps), (w, taps)
    samples = np.stack([x[ty[:, i]][:, tx[:, j]] for i in range(taps) for j in range(taps)])
    return np.median(samples, axis=0).astype(np.float64)


def reduced_shape(h: int, w: int, max_pixels: int) -> tuple[int, int]:
    """(h, w) scaled down (aspect kept) to at most ``max_pixels``; unchanged if already small."""
    if h * w <= max_pixels:
        return h, w
    s = math.sqrt(max_pixels / (h * w))
    return max(1, int(h * s)), max(1, int(w * s))


def local_std(L: np.ndarray, window: int) -> np.ndarray:
    """Standard deviation of ``L`` over ``window`` x ``window`` neighbourhoods (odd; edges replicated), float64."""
    import torch

    x = torch.from_numpy(np.asarray(L, np.float64))
    m = box(x, window // 2)
    v = box(x * x, window // 2) - m * m
    return np.sqrt(np.maximum(v.numpy(), 0.0))
