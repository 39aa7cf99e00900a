"""Colorization by optimisation (Levin, Lischinski & Weiss, SIGGRAPH 2004): colour strokes over a gray
image, propagated along similar intensities, solved coarse-to-fine so that a 12-megapixel photo takes
seconds. Same contract as every colour source: full-resolution L in, ab (2 x H x W) out.
"""

from __future__ import annotations

import numpy as np

from tinct.core.color import lab_of_rgb
from tinct.core.filters import block_edges, block_median, check_l, guided_upsample_ab, reduced_shape
from tinct.core.propagation import levin_solve

SOLVE_PIXELS = 1 << 18  #: default largest size (pixels) at which the Levin system is solved directly


def scribble_mask_from_image(scribble_rgb: np.ndarray, gray_u8: np.ndarray | None = None, tol: int = 3) -> np.ndarray:
    """Where a scribble image marks colour (bool H x W).

    * RGBA: the opaque pixels (alpha > 0); ``gray_u8`` is not needed.
    * RGB with ``gray_u8`` (the 8-bit gray input, H x W): pixels whose sum over channels of
      |scribble - gray| exceeds ``tol`` codes (Levin et al.'s released code uses 0.01 on [0, 1],
      about 3 codes, which tolerates a lossy re-save of the marked image).
    * RGB without ``gray_u8``: the non-neutral pixels (max - min over channels > ``tol``); a
      scribble in a neutral colour then needs an alpha channel, the gray input or an explicit mask.
    """
    s = np.asarray(scribble_rgb)
    if s.dtype != np.uint8 or s.ndim != 3 or s.shape[2] not in (3, 4):
        raise ValueError(f"scribbles: expected uint8 H x W x 3 or x 4, got {s.dtype} {s.shape}")
    if s.shape[2] == 4:
        return s[..., 3] > 0
    if gray_u8 is not None:
        g = np.asarray(gray_u8)
        if g.shape != s.shape[:2] or g.dtype != np.uint8:
            raise ValueError(f"gray input must be uint8 {s.shape[:2]}, got {g.dtype} {g.shape}")
        d = np.zeros(g.shape, np.int32)
        for c in range(3):
            d += np.abs(s[..., c].astype(np.int16) - g)
        return d > tol
    return (s.max(axis=2).astype(np.int16) - s.min(axis=2)) > tol


def scribbles_ab(
    L: np.ndarray,
    scribble_rgb: np.ndarray,
    scribble_mask: np.ndarray | None = None,
    max_solve_pixels: int = SOLVE_PIXELS,
    radius: int = 2,
    eps: float = 16.0,
) -> np.ndarray:
    """Propagate colour scribbles over a gray image (Levin, Lischinski & Weiss 2004).

    Neighbouring pixels with similar intensity should have similar colour: each unmarked pixel's
    chroma is the affinity-weighted mean of its 3 x 3 neighbours' (:func:`tinct.core.propagation.levin_weights`), marked
    pixels are hard constraints, and the sparse linear system is solved for a and b (in CIELAB:
    the input's own L plays the paper's Y, the scribble's a, b its U, V).

    Coarse to fine: above ``max_solve_pixels`` the system is solved on a grid of at most that
    size whose intensity is the block median of L (:func:`tinct.core.filters.block_median`: an area average would put
    intermediate values on every edge and let colour leak through them; the median keeps edges
    as tight as at full resolution). A block holding scribbled pixels is constrained to their
    mean ab and takes their mean L, so a stroke near an edge stays on its side. The solution is
    upsampled with ``guided_upsample_ab`` (``radius``, ``eps``) along the full-resolution L, so
    the solve costs the same at any size and the rest is linear in the pixel count. Structures
    thinner than about half a block (H / h pixels) only get colour that way. Scribbled pixels
    keep their colour exactly.

    Args:
        L: CIELAB L of the gray input, float H x W in [0, 100].
        scribble_rgb: uint8 H x W x 3 (or x 4) image carrying the marks; only its hue and chroma
            (CIELAB a, b) are used, never its lightness.
        scribble_mask: bool H x W, where the marks are; default ``scribble_mask_from_image``
            without the gray input (alpha if RGBA, else the non-neutral pixels).

    Returns:
        float32 ab, 2 x H x W.

    Raises:
        ValueError: shapes disagree or nothing is marked.
    """
    L = check_l(L)
    H, W = L.shape
    s = np.asarray(scribble_rgb)
    if s.shape[:2] != (H, W):
        raise ValueError(f"scribbles are {s.shape[:2]}, the image is {(H, W)}")
    mask = scribble_mask_from_image(s) if scribble_mask is None else np.asarray(scribble_mask, bool)
    if mask.shape != (H, W):
        raise ValueError(f"scribble mask is {mask.shape}, the image is {(H, W)}")
    ys, xs = np.nonzero(mask)
    if ys.size == 0:
        raise ValueError("no scribbled pixels: mark some colours (or pass scribble_mask)")
    _, ab_s = lab_of_rgb(s[ys, xs, :3])  # (2, n) only the marked pixels are converted

    h, w = reduced_shape(H, W, max_solve_pixels)
    if (h, w) == (H, W):
        return levin_solve(L.astype(np.float64) / 100.0, mask, ab_s).astype(np.float32)

    # which small cell each scribbled pixel falls into; constrain cells to their marks' mean
    row_of = np.repeat(np.arange(h), np.diff(block_edges(H, h)))
    col_of = np.repeat(np.arange(w), np.diff(block_edges(W, w)))
    cell = row_of[ys] * w + col_of[xs]
    count = np.bincount(cell, minlength=h * w)
    fixed = count > 0
    n = count[fixed]
    ab_fixed = np.stack([np.bincount(cell, weights=c, minlength=h * w)[fixed] / n for c in ab_s])
    Y = block_median(L, (h, w))
    Y.flat[np.flatnonzero(fixed)] = np.bincount(cell, weights=L[ys, xs], minlength=h * w)[fixed] / n
    ab_small = levin_solve(Y / 100.0, fixed.reshape(h, w), ab_fixed)
    out = guided_upsample_ab(L, Y, ab_small, radius=radius, eps=eps)
    out[:, ys, xs] = ab_s
    return out
