"""Classical and user-guided colorization (SPEC row C1): scribbles, reference images, look-up tables.

Every method here has the same contract as the models: it takes the input's full-resolution
CIELAB L (float32, H x W, in [0, 100]) plus its guidance and returns ab (float32, 2 x H x W,
Lab units). The caller joins that ab with the ORIGINAL L (``tinct.color.lab_to_rgb8``), so the
output keeps the input's luminance by construction; these methods only choose hue and chroma.

* ``scribbles_ab``: colorization by optimisation (Levin, Lischinski & Weiss, SIGGRAPH 2004),
  solved coarse-to-fine so that a 12-megapixel photo takes seconds.
* ``reinhard_ab`` / ``reinhard_transfer``: global colour statistics transfer (Reinhard,
  Ashikhmin, Gooch & Shirley, IEEE CG&A 2001).
* ``welsh_ab``: luminance and neighbourhood-statistics matching with jittered sampling (Welsh,
  Ashikhmin & Mueller, SIGGRAPH 2002).
* ``lut_ab`` / ``load_lut``: luminance keying, a gray level -> colour look-up table (Gonzalez &
  Wintz, as cited by seed 004): pseudo-colour, see ``PSEUDO_COLOUR_NOTE``.
* ``guided_upsample_ab``: the fast guided filter (He & Sun 2015) that upsamples low-resolution
  ab to full resolution along the full-resolution L edges, in strips of bounded memory.

All of it is numpy/scipy; colour conversion is delegated to ``tinct.color``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from scipy import ndimage
from scipy.spatial import cKDTree

from tinct.color import encode_srgb8, luminance, rgb_to_lab, srgb_to_linear

__all__ = [
    "BUILTIN_LUTS",
    "PSEUDO_COLOUR_NOTE",
    "Lut",
    "guided_upsample_ab",
    "load_lut",
    "lut_ab",
    "reinhard_ab",
    "reinhard_transfer",
    "scribble_mask_from_image",
    "scribbles_ab",
    "welsh_ab",
]

STRIP_PIXELS = 1 << 20  #: pixels per strip of full-resolution work (bounds peak memory)
SOLVE_PIXELS = 1 << 18  #: default largest size (pixels) at which the Levin system is solved directly
REFERENCE_PIXELS = 1 << 20  #: references larger than this are box-reduced before their statistics are taken

#: text for the metadata of any image coloured by ``lut_ab``
PSEUDO_COLOUR_NOTE = (
    "Pseudo-colour: hues assigned by luminance keying (a gray level -> colour look-up table). "
    "Lightness is the original image's; the colours do not represent the scene's true colours."
)


# --------------------------------------------------------------------------------------------
# shared helpers


def _strips(height: int, width: int) -> Iterator[slice]:
    """Row slices covering ``height`` rows, each of about ``STRIP_PIXELS`` pixels (at least one row)."""
    rows = max(1, STRIP_PIXELS // max(1, width))
    for y in range(0, height, rows):
        yield slice(y, min(height, y + rows))


def _lab(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CIELAB of sRGB colours ``rgb`` (..., 3): uint8 codes or floats in [0, 1].

    Returns L (...) and ab (2, ...), float32. Uses ``tinct.color.rgb_to_lab`` (kornia) in chunks
    of ``STRIP_PIXELS`` so memory stays bounded on large images.
    """
    rgb = np.asarray(rgb)
    if rgb.shape[-1] != 3:
        raise ValueError(f"expected (..., 3) RGB, got shape {rgb.shape}")
    flat = rgb.reshape(-1, 3)
    scale = 255.0 if rgb.dtype == np.uint8 else 1.0
    out = np.empty((3, flat.shape[0]), np.float32)
    for i in range(0, flat.shape[0], STRIP_PIXELS):
        t = torch.from_numpy(np.ascontiguousarray(flat[i : i + STRIP_PIXELS].T)).float()
        with torch.inference_mode():
            out[:, i : i + STRIP_PIXELS] = rgb_to_lab((t / scale).clamp_(0.0, 1.0)[:, :, None])[:, :, 0].numpy()
    shape = rgb.shape[:-1]
    return out[0].reshape(shape), out[1:].reshape(2, *shape)


def _rgb8(img: np.ndarray, what: str) -> np.ndarray:
    """Validate an 8-bit RGB (or RGBA, alpha dropped) image; gray H x W is promoted to RGB."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise ValueError(f"{what}: expected uint8 pixels, got {img.dtype}")
    if img.ndim == 2:
        return np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] not in (3, 4):
        raise ValueError(f"{what}: expected H x W x 3 (or x 4), got shape {img.shape}")
    return img[..., :3]


def _check_l(L: np.ndarray) -> np.ndarray:
    L = np.asarray(L)
    if L.ndim != 2:
        raise ValueError(f"L must be H x W, got shape {L.shape}")
    return L.astype(np.float32, copy=False)


def _block_edges(n: int, m: int) -> np.ndarray:
    """Boundaries (m + 1 ints) of ``m`` near-equal blocks covering ``n`` samples (m <= n)."""
    return np.round(np.arange(m + 1) * (n / m)).astype(np.int64)


def _block_mean(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Area-average ``x`` (H x W [x C]) down to ``shape`` = (h, w) with h <= H, w <= W (float64).

    Block ``i`` covers rows ``round(i H / h)`` to ``round((i + 1) H / h)``, so the small grid has
    the same geometry as bilinear resampling with ``align_corners=False``.
    """
    ey, ex = _block_edges(x.shape[0], shape[0]), _block_edges(x.shape[1], shape[1])
    s = np.add.reduceat(x, ey[:-1], axis=0, dtype=np.float64)
    s = np.add.reduceat(s, ex[:-1], axis=1)
    area = np.diff(ey)[:, None] * np.diff(ex)[None, :]
    return s / (area if x.ndim == 2 else area[..., None])


def _block_median(x: np.ndarray, shape: tuple[int, int], taps: int = 3) -> np.ndarray:
    """Robust downscale of ``x`` (H x W) to ``shape``: per block, the median of taps x taps samples.

    Blocks as ``_block_mean``. Unlike the area mean it makes no intermediate values on an edge
    (a block takes its majority side's level), so edges stay as impermeable to propagation on
    the small grid as they are at full resolution; it also rejects noise.
    """

    def taps_along(n: int, m: int) -> np.ndarray:
        e = _block_edges(n, m)
        return e[:-1, None] + np.floor((np.arange(taps) + 0.5) / taps * np.diff(e)[:, None]).astype(np.int64)

    ty, tx = taps_along(x.shape[0], shape[0]), taps_along(x.shape[1], shape[1])  # (h, taps), (w, taps)
    samples = np.stack([x[ty[:, i]][:, tx[:, j]] for i in range(taps) for j in range(taps)])
    return np.median(samples, axis=0).astype(np.float64)


def _reduced_shape(h: int, w: int, max_pixels: int) -> tuple[int, int]:
    """(h, w) scaled down (aspect kept) to at most ``max_pixels``; unchanged if already small."""
    if h * w <= max_pixels:
        return h, w
    s = math.sqrt(max_pixels / (h * w))
    return max(1, int(h * s)), max(1, int(w * s))


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    """Mean over (2r+1)^2 windows of the last two axes, edges replicated."""
    k = 2 * radius + 1
    return ndimage.uniform_filter(x, size=(1,) * (x.ndim - 2) + (k, k), mode="nearest")


def _local_std(L: np.ndarray, window: int) -> np.ndarray:
    """Standard deviation of ``L`` over ``window`` x ``window`` neighbourhoods (edges replicated)."""
    x = L.astype(np.float64)
    m = ndimage.uniform_filter(x, window, mode="nearest")
    v = ndimage.uniform_filter(x * x, window, mode="nearest") - m * m
    return np.sqrt(np.maximum(v, 0.0))


def _reference_lab(reference_rgb_u8: np.ndarray, max_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """L (h, w) and ab (2, h, w) of a reference image, box-reduced to at most ``max_pixels``."""
    ref = _rgb8(reference_rgb_u8, "reference")
    small = _reduced_shape(*ref.shape[:2], max_pixels)
    if small != ref.shape[:2]:
        ref = _block_mean(ref, small) / 255.0
    return _lab(ref)


# --------------------------------------------------------------------------------------------
# guided upsampling


def guided_upsample_ab(
    L_full: np.ndarray,
    L_small: np.ndarray,
    ab_small: np.ndarray,
    radius: int = 2,
    eps: float = 16.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Upsample ``ab_small`` to L_full's size along L_full's edges (fast guided filter).

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
            of L_full, as a model's working-size input, or a robust one (block median, as
            ``scribbles_ab`` uses).
        ab_small: C x h x w (C = 2 for ab; any C works).
        radius: window radius in small-grid pixels.
        eps: regulariser in L units squared: a window whose L std is well above ``sqrt(eps)``
            steers colour; flatter windows are just interpolated.
        out: optional float32 C x H x W array to write into.

    Returns:
        float32 C x H x W. Work is done in strips of ``STRIP_PIXELS``: besides ``out`` and the
        coefficients at (h, W), peak extra memory is a few strip-sized arrays (the 24 MP case
        needs no full-resolution temporaries).
    """
    from tinct.pipeline import upsample_ab

    L_full = _check_l(L_full)
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
# scribbles: Levin, Lischinski & Weiss 2004


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


def _levin_weights(Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Affinities of each pixel to its 8 neighbours (Levin et al. 2004, as in their released code).

    ``Y`` is h x w intensity in [0, 1]. ``w_rs = exp(-(Y_r - Y_s)^2 / c_r)`` normalised to sum 1
    over the neighbours s of r, with ``c_r = 2 sigma_r^2`` taken as 0.6 x the variance of the
    3 x 3 window around r, floored so that the most similar neighbour keeps a weight of at least
    0.01 and at 2e-6. Returns (weights (8, h, w), offsets (8, 2)); out-of-image neighbours weigh 0.
    """
    h, w = Y.shape
    offsets = np.array([(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx])
    padded = np.pad(Y, 1, constant_values=np.nan)
    nb = np.stack([padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w] for dy, dx in offsets])
    valid = ~np.isnan(nb)
    count = valid.sum(0) + 1
    nb0 = np.where(valid, nb, 0.0)
    mean = (nb0.sum(0) + Y) / count
    var = (np.where(valid, (nb0 - mean) ** 2, 0.0).sum(0) + (Y - mean) ** 2) / count
    d2 = np.where(valid, (nb0 - Y) ** 2, np.inf)
    csig = np.maximum(0.6 * var, d2.min(0) / -np.log(0.01))
    csig = np.maximum(csig, 2e-6)
    wts = np.exp(-d2 / csig)  # 0 where invalid
    wts /= wts.sum(0)
    return wts, offsets


def _nested_dissection(h: int, w: int, leaf: int = 8) -> np.ndarray:
    """Geometric nested-dissection order of an h x w grid with a 3 x 3 stencil.

    Recursively splits the longer side of a rectangle by one row or column (which separates a
    3 x 3 stencil), ordering the two halves first and the separator last. For grid systems it
    keeps the LU fill near O(n log n), several times below SuperLU's own COLAMD ordering.
    """
    idx = np.arange(h * w).reshape(h, w)
    parts: list[np.ndarray] = []

    def split(y0: int, y1: int, x0: int, x1: int) -> None:
        if y1 - y0 <= leaf and x1 - x0 <= leaf:
            parts.append(idx[y0:y1, x0:x1].ravel())
        elif y1 - y0 >= x1 - x0:
            m = (y0 + y1) // 2
            split(y0, m, x0, x1)
            split(m + 1, y1, x0, x1)
            parts.append(idx[m, x0:x1])
        else:
            m = (x0 + x1) // 2
            split(y0, y1, x0, m)
            split(y0, y1, m + 1, x1)
            parts.append(idx[y0:y1, m])

    split(0, h, 0, w)
    return np.concatenate(parts)


def _levin_solve(Y: np.ndarray, fixed: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Solve Levin et al.'s propagation on a grid: x_r = sum_s w_rs x_s, x = values where fixed.

    ``Y`` h x w in [0, 1], ``fixed`` bool h x w, ``values`` (C, n_fixed) in ``fixed``'s C order.
    Returns float64 (C, h, w). The system (I - W) x = b is not symmetric (each row is normalised
    on its own), so it is factorised once by sparse LU (SuperLU) and solved for all C channels.
    I - W is a nonsingular M-matrix (every pixel is linked to a constraint through positive
    weights), so LU needs no pivoting: the unknowns are ordered by geometric nested dissection
    and factorised in that order, about 4x faster than SuperLU's default ordering. The factors
    are single precision (half the time and memory; the colours differ from a float64 solve by
    well under 0.1 ab units).
    """
    h, w = Y.shape
    n = h * w
    wts, offsets = _levin_weights(Y)
    order = _nested_dissection(h, w)
    pos = np.empty(n, np.int64)
    pos[order] = np.arange(n)  # grid index -> position in the elimination order
    idx = pos.reshape(h, w)
    free = ~fixed
    rows, cols, data = [idx[fixed], idx[free]], [idx[fixed], idx[free]], [np.ones(n)]
    for k, (dy, dx) in enumerate(offsets):
        sl_dst = (slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx)))
        sl_src = (slice(max(0, dy), h + min(0, dy)), slice(max(0, dx), w + min(0, dx)))
        keep = free[sl_dst]
        rows.append(idx[sl_dst][keep])
        cols.append(idx[sl_src][keep])
        data.append(-wts[k][sl_dst][keep])
    A = sp.csc_matrix(
        (np.concatenate(data).astype(np.float32), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    b = np.zeros((n, values.shape[0]), np.float32)
    b[pos[np.flatnonzero(fixed)]] = values.T
    lu = spla.splu(A, permc_spec="NATURAL", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    return lu.solve(b)[pos].T.reshape(-1, h, w).astype(np.float64)


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
    chroma is the affinity-weighted mean of its 3 x 3 neighbours' (``_levin_weights``), marked
    pixels are hard constraints, and the sparse linear system is solved for a and b (in CIELAB:
    the input's own L plays the paper's Y, the scribble's a, b its U, V).

    Coarse to fine: above ``max_solve_pixels`` the system is solved on a grid of at most that
    size whose intensity is the block median of L (``_block_median``: an area average would put
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
    L = _check_l(L)
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
    _, ab_s = _lab(s[ys, xs, :3])  # (2, n) only the marked pixels are converted

    h, w = _reduced_shape(H, W, max_solve_pixels)
    if (h, w) == (H, W):
        return _levin_solve(L.astype(np.float64) / 100.0, mask, ab_s).astype(np.float32)

    # which small cell each scribbled pixel falls into; constrain cells to their marks' mean
    row_of = np.repeat(np.arange(h), np.diff(_block_edges(H, h)))
    col_of = np.repeat(np.arange(w), np.diff(_block_edges(W, w)))
    cell = row_of[ys] * w + col_of[xs]
    count = np.bincount(cell, minlength=h * w)
    fixed = count > 0
    n = count[fixed]
    ab_fixed = np.stack([np.bincount(cell, weights=c, minlength=h * w)[fixed] / n for c in ab_s])
    Y = _block_median(L, (h, w))
    Y.flat[np.flatnonzero(fixed)] = np.bincount(cell, weights=L[ys, xs], minlength=h * w)[fixed] / n
    ab_small = _levin_solve(Y / 100.0, fixed.reshape(h, w), ab_fixed)
    out = guided_upsample_ab(L, Y, ab_small, radius=radius, eps=eps)
    out[:, ys, xs] = ab_s
    return out


# --------------------------------------------------------------------------------------------
# reference images: Reinhard et al. 2001, Welsh et al. 2002


def _moments(x: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of all of ``x`` (H x W), accumulated in float64 strip by strip."""
    s = s2 = 0.0
    for sl in _strips(*x.shape):
        v = x[sl].astype(np.float64)
        s += float(v.sum())
        s2 += float(np.dot(v.ravel(), v.ravel()))
    m = s / x.size
    return m, math.sqrt(max(s2 / x.size - m * m, 0.0))


def _affine(x: np.ndarray, shift: float, scale: float, offset: float, out: np.ndarray) -> np.ndarray:
    """``out = (x - shift) * scale + offset`` for H x W arrays, strip by strip (``out`` may be ``x``)."""
    for sl in _strips(*x.shape):
        v = x[sl] - np.float32(shift)
        v *= np.float32(scale)
        v += np.float32(offset)
        out[sl] = v
    return out


def _match_moments(x: np.ndarray, mean: float, std: float, out: np.ndarray) -> np.ndarray:
    """Shift and scale ``x`` so that ``out`` has the given mean and std (Reinhard et al. 2001).

    A constant ``x`` maps to ``mean``. A negative ``std`` mirrors the values around the mean.
    """
    m, sd = _moments(x)
    return _affine(x, m, std / sd if sd > 0 else 0.0, mean, out)


def reinhard_ab(
    L: np.ndarray, reference_rgb_u8: np.ndarray, max_reference_pixels: int = REFERENCE_PIXELS
) -> np.ndarray:
    """Colour a gray image with a reference's global a, b statistics (after Reinhard et al. 2001).

    Reinhard et al. match each Lab-like channel's mean and standard deviation of the source to
    the reference's. A gray input has a = b = 0 everywhere, so the plain transfer would paint a
    flat tint. Instead, per channel c in (a, b):

        c_out(x) = mean_ref(c) + s_c * std_ref(c) * z(x),   z = (L - mean(L)) / std(L)

    where ``s_c`` is the sign of the correlation of c with L in the reference. This is the
    per-channel linear regression of c on L in the reference, applied to the target's L after
    Reinhard's own luminance remapping (target L standardised to the reference's L mean and std),
    and rescaled so the term has the reference's standard deviation: the output's a and b then
    have exactly the reference's means and standard deviations (over the image; up to float
    rounding, before gamut fitting in ``lab_to_rgb8``). Colours run along one line in the ab
    plane, dark-to-light as in the reference. A constant input gets the mean colour.

    Returns float32 ab, 2 x H x W.
    """
    L = _check_l(L)
    L_ref, ab_ref = _reference_lab(reference_rgb_u8, max_reference_pixels)
    lr = L_ref.astype(np.float64).ravel()
    out = np.empty((2, *L.shape), np.float32)
    for c in range(2):
        ch = ab_ref[c].astype(np.float64).ravel()
        sign = 1.0 if float(np.dot(lr - lr.mean(), ch - ch.mean())) >= 0 else -1.0
        _match_moments(L, ch.mean(), sign * ch.std(), out=out[c])
    return out


# Reinhard et al.'s l-alpha-beta: linear RGB -> LMS (their combined matrix, via XYZ of ITU-R
# BT.709 D65), log10, then their decorrelating achromatic / yellow-blue / red-green axes.
_LMS_FROM_RGB = np.array([[0.3811, 0.5783, 0.0402], [0.1967, 0.7244, 0.0782], [0.0241, 0.1288, 0.8444]])
_LAB_FROM_LOGLMS = np.diag([1 / math.sqrt(3), 1 / math.sqrt(6), 1 / math.sqrt(2)]) @ np.array(
    [[1.0, 1.0, 1.0], [1.0, 1.0, -2.0], [1.0, -1.0, 0.0]]
)
_LMS_FLOOR = 1e-4  # log10 of black would be -inf; darker LMS values are clamped here


def _lalphabeta(rgb_u8: np.ndarray) -> np.ndarray:
    """8-bit sRGB (..., 3) -> Reinhard's l-alpha-beta (..., 3), float32."""
    lin = srgb_to_linear(rgb_u8.astype(np.float32) / 255.0)
    lms = np.maximum(lin @ _LMS_FROM_RGB.T.astype(np.float32), _LMS_FLOOR)
    return np.log10(lms) @ _LAB_FROM_LOGLMS.T.astype(np.float32)


def _rgb8_from_lalphabeta(lab: np.ndarray) -> np.ndarray:
    """Reinhard's l-alpha-beta (..., 3) -> 8-bit sRGB (..., 3), out-of-gamut values clipped."""
    lms = 10.0 ** (lab @ np.linalg.inv(_LAB_FROM_LOGLMS).T.astype(np.float32))
    lin = lms @ np.linalg.inv(_LMS_FROM_RGB).T.astype(np.float32)
    return encode_srgb8(torch.from_numpy(np.ascontiguousarray(lin, np.float32))).numpy()


def reinhard_transfer(
    src_rgb_u8: np.ndarray,
    ref_rgb_u8: np.ndarray,
    space: str = "lab",
    max_reference_pixels: int = REFERENCE_PIXELS,
) -> np.ndarray:
    """Recolour a colour image with a reference's colour statistics (Reinhard et al. 2001).

    The classic algorithm: in a decorrelated colour space, each chroma channel of the source is
    shifted and scaled so its mean and standard deviation match the reference's. ``space`` is
    ``"lab"`` (CIELAB a, b) or ``"lalphabeta"`` (the paper's l-alpha-beta: alpha, beta). The
    lightness channel is NOT transferred: tinct keeps the source's L, so the function returns
    the CIELAB ab of the recoloured image (float32, 2 x H x W) for the caller to join with the
    source's L. In ``"lab"`` space the returned a, b have the reference's means and standard
    deviations exactly; in ``"lalphabeta"`` alpha and beta do (before 8-bit rounding and gamut
    clipping), and a, b approximately.
    """
    src = _rgb8(src_rgb_u8, "source")
    ref = _rgb8(ref_rgb_u8, "reference")
    small = _reduced_shape(*ref.shape[:2], max_reference_pixels)
    if small != ref.shape[:2]:
        ref = np.round(_block_mean(ref, small)).astype(np.uint8)
    if space == "lab":
        _, out = _lab(src)
        _, ab_ref = _lab(ref)
        for c in range(2):
            r = ab_ref[c].astype(np.float64)
            _match_moments(out[c], r.mean(), r.std(), out=out[c])
        return out
    if space != "lalphabeta":
        raise ValueError(f"space must be 'lab' or 'lalphabeta', got {space!r}")
    lab_ref = _lalphabeta(ref).reshape(-1, 3).astype(np.float64)
    lab_src = _lalphabeta(src)
    for c in (1, 2):
        _match_moments(lab_src[..., c], lab_ref[:, c].mean(), lab_ref[:, c].std(), out=lab_src[..., c])
    out = np.empty((2, *src.shape[:2]), np.float32)
    for sl in _strips(*src.shape[:2]):
        out[:, sl] = _lab(_rgb8_from_lalphabeta(lab_src[sl]))[1]
    return out


def _jittered_samples(h: int, w: int, samples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One uniformly random pixel in each cell of a near-square grid of about ``samples`` cells."""
    nx = int(np.clip(round(math.sqrt(samples * w / h)), 1, w))
    ny = int(np.clip(round(samples / nx), 1, h))
    ey, ex = _block_edges(h, ny), _block_edges(w, nx)
    y = ey[:-1, None] + np.floor(rng.random((ny, nx)) * np.diff(ey)[:, None]).astype(np.int64)
    x = ex[None, :-1] + np.floor(rng.random((ny, nx)) * np.diff(ex)[None, :]).astype(np.int64)
    return y.ravel(), x.ravel()


def welsh_ab(
    L: np.ndarray,
    reference_rgb_u8: np.ndarray,
    samples: int = 200,
    window: int = 5,
    seed: int = 0,
    max_reference_pixels: int = REFERENCE_PIXELS,
) -> np.ndarray:
    """Transfer colour from a reference by luminance-neighbourhood matching (Welsh et al. 2002).

    The global version of the paper: (1) the reference's L is remapped linearly to the target's
    L mean and standard deviation (their luminance remapping); (2) about ``samples`` reference
    pixels are drawn by jittered sampling (one random pixel per cell of a regular grid);
    (3) every pixel, in both images, is described by its L and the standard deviation of L over
    a ``window`` x ``window`` neighbourhood, weighted 50/50; (4) each target pixel takes the a, b
    of the sample nearest in that feature space (exact nearest neighbour, k-d tree). Its own L
    is kept. The target is processed in strips, so memory is bounded on large images.

    Returns float32 ab, 2 x H x W.
    """
    L = _check_l(L)
    H, W = L.shape
    L_ref, ab_ref = _reference_lab(reference_rgb_u8, max_reference_pixels)
    mu_t, sd_t = _moments(L)
    sd_r = float(L_ref.std(dtype=np.float64))
    L_ref = (L_ref - L_ref.mean(dtype=np.float64)) * (sd_t / sd_r if sd_r > 0 else 1.0) + mu_t
    ys, xs = _jittered_samples(*L_ref.shape, samples, np.random.default_rng(seed))
    feat = np.stack([L_ref[ys, xs], _local_std(L_ref, window)[ys, xs]], 1) * math.sqrt(0.5)
    tree = cKDTree(feat)
    colours = ab_ref[:, ys, xs]  # (2, n_samples)
    out = np.empty((2, H, W), np.float32)
    pad = window // 2
    for sl in _strips(H, W):
        lo, hi = max(0, sl.start - pad), min(H, sl.stop + pad)
        std = _local_std(L[lo:hi], window)[sl.start - lo : sl.stop - lo]
        q = np.stack([L[sl].ravel(), std.ravel()], 1) * math.sqrt(0.5)
        _, nearest = tree.query(q)
        out[:, sl] = colours[:, nearest].reshape(2, sl.stop - sl.start, W)
    return out


# --------------------------------------------------------------------------------------------
# luminance keying


def _hex(c: str) -> tuple[int, int, int]:
    c = c.strip().lstrip("#")
    if len(c) != 6:
        raise ValueError(f"colour {c!r} is not #rrggbb")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _stops(points: list[tuple[float, str]]) -> list[tuple[float, tuple[int, int, int]]]:
    """Control points at fractions of the gray range -> at whole gray codes (so they are hit exactly)."""
    return [(float(round(255 * f)), _hex(h)) for f, h in points]


def _even(hexes: str) -> list[tuple[float, tuple[int, int, int]]]:
    """Evenly spaced control points from a space-separated list of colours."""
    cols = hexes.split()
    return _stops([(i / (len(cols) - 1), h) for i, h in enumerate(cols)])


#: built-in colour maps: gray level (0-255) -> 8-bit sRGB control points, linearly interpolated
BUILTIN_LUTS: dict[str, list[tuple[float, tuple[int, int, int]]]] = {
    # perceptually uniform maps of van der Walt & Smith (matplotlib), sampled at 10 even stops (as R's viridisLite)
    "viridis": _even("440154 482878 3e4a89 31688e 26828e 1f9e89 35b779 6dcd59 b4de2c fde725"),
    "magma": _even("000004 180f3e 451077 721f81 9f2f7f cd4071 f1605d fd9567 fec98d fcfdbf"),
    "inferno": _even("000004 1b0c42 4b0c6b 781c6d a52c60 cf4446 ed6925 fb9a06 f7d03c fcffa4"),
    # black -> red -> yellow -> white
    "hot": _stops([(0.0, "0b0000"), (0.365, "ff0000"), (0.746, "ffff00"), (1.0, "ffffff")]),
    # blue-tinted gray, as the classic "bone" map
    "bone": _stops([(0.0, "000000"), (0.375, "515171"), (0.75, "a6c6c6"), (1.0, "ffffff")]),
    # brown photographic toning
    "sepia": _stops([(0.0, "1a0f05"), (0.35, "5e3a1a"), (0.7, "b48c5a"), (1.0, "fff5e1")]),
    # Moreland's diverging cool-warm
    "cool-warm": _stops([(0.0, "3b4cc0"), (0.25, "8db0fe"), (0.5, "dddddd"), (0.75, "f49a7b"), (1.0, "b40426")]),
}

_KEY_RANGE = {"gray": 255.0, "L": 100.0}


@dataclass(frozen=True)
class Lut:
    """A luminance-keying table: control points (key level -> 8-bit sRGB colour).

    ``key`` is ``"gray"`` (levels are 8-bit gray codes, 0-255, of the gray input; for other
    inputs the code of a neutral gray with the same L, fractional for 16-bit) or ``"L"``
    (levels are CIELAB L, 0-100). Between control points colours are interpolated linearly in
    sRGB; outside them the end colours are held.
    """

    name: str
    levels: tuple[float, ...]
    colours: tuple[tuple[int, int, int], ...]
    key: str = "gray"

    def __post_init__(self) -> None:
        if self.key not in _KEY_RANGE:
            raise ValueError(f"LUT {self.name}: key must be 'gray' or 'L', got {self.key!r}")
        lv = np.asarray(self.levels, np.float64)
        if lv.size == 0 or lv.size != len(self.colours):
            raise ValueError(f"LUT {self.name}: needs at least one (level, colour) point")
        if not np.all(np.isfinite(lv)) or lv.min() < 0 or lv.max() > _KEY_RANGE[self.key]:
            raise ValueError(f"LUT {self.name}: levels must lie in [0, {_KEY_RANGE[self.key]:g}] for key {self.key}")
        if np.any(np.diff(lv) <= 0):
            raise ValueError(f"LUT {self.name}: levels must be strictly increasing (no duplicates)")
        for c in self.colours:
            if len(c) != 3 or any(not (0 <= v <= 255) for v in c):
                raise ValueError(f"LUT {self.name}: colour {c} is not three 8-bit values")

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """The table on its key grid: (L of each grid level (n,), ab (2, n)), float64.

        The grid is the 256 gray codes for key "gray" (their L are exactly those of
        ``tinct.color.luminance``) and L in steps of 0.25 for key "L".
        """
        if self.key == "gray":
            levels = np.arange(256, dtype=np.float64)
            grid_l = luminance(np.arange(256, dtype=np.uint8)[None])[0].astype(np.float64)
        else:
            levels = grid_l = np.linspace(0.0, 100.0, 401)
        cols = np.asarray(self.colours, np.float64)
        rgb = np.stack([np.interp(levels, self.levels, cols[:, c]) for c in range(3)], -1) / 255.0
        return grid_l, _lab(rgb)[1].astype(np.float64)


def _parse_colour(v: object) -> tuple[int, int, int]:
    if isinstance(v, str):
        parts = [p for p in v.replace(",", " ").split() if p]
        if len(parts) == 3:
            return tuple(int(float(p)) for p in parts)  # type: ignore[return-value]
        return _hex(v)
    if isinstance(v, (list, tuple)) and len(v) == 3:
        return tuple(int(round(float(p))) for p in v)  # type: ignore[return-value]
    raise ValueError(f"colour {v!r} is neither '#rrggbb' nor [r, g, b]")


def _lut_from_points(name: str, points: list[tuple[object, object]], key: str) -> Lut:
    pts = sorted((float(lv), _parse_colour(c)) for lv, c in points)
    return Lut(name, tuple(p[0] for p in pts), tuple(p[1] for p in pts), key)


def _read_csv_lut(path: Path, text: str) -> Lut:
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(x.strip() for x in r) and not r[0].startswith("#")]
    key = "gray"
    if rows:
        try:
            float(rows[0][0])
        except ValueError:  # a header row; "L" as its first column keys the table on L
            key = "L" if rows[0][0].strip() == "L" else "gray"
            rows = rows[1:]
    points = []
    for r in rows:
        cells = [x.strip() for x in r if x.strip()]
        if len(cells) == 2:
            points.append((cells[0], cells[1]))
        elif len(cells) == 4:
            points.append((cells[0], cells[1:]))
        else:
            raise ValueError(f"row {r} is not 'level,#rrggbb' or 'level,r,g,b'")
    return _lut_from_points(path.stem, points, key)


def _read_json_lut(path: Path, text: str) -> Lut:
    data = json.loads(text)
    key = "gray"
    if isinstance(data, dict) and "points" in data:
        key = data.get("key", "gray")
        data = data["points"]
    if isinstance(data, dict):
        points = list(data.items())
    elif isinstance(data, list) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in data):
        points = [tuple(p) for p in data]
    else:
        raise ValueError("expected {level: colour}, [[level, colour], ...] or {'key': ..., 'points': ...}")
    return _lut_from_points(path.stem, points, key)


def load_lut(name_or_path: str | Path | Lut) -> Lut:
    """A luminance-keying table by built-in name (``BUILTIN_LUTS``) or from a CSV or JSON file.

    CSV: one control point a row, ``level,#rrggbb`` or ``level,r,g,b`` (8-bit values); an
    optional header row (a first column named ``L`` keys the table on CIELAB L, anything else on
    8-bit gray); blank lines and ``#`` comment lines are skipped. JSON: ``{"0": "#000000",
    "255": [255, 255, 255]}``, ``[[0, "#000000"], ...]``, or ``{"key": "gray" | "L", "points":
    <either>}``. Levels are 0-255 (gray) or 0-100 (L), strictly increasing after sorting.

    Raises:
        ValueError: unknown name, unreadable or malformed file (the message says which and why).
    """
    if isinstance(name_or_path, Lut):
        return name_or_path
    name = str(name_or_path)
    canon = name.lower().replace("_", "-").replace("coolwarm", "cool-warm")
    if canon in BUILTIN_LUTS:
        pts = BUILTIN_LUTS[canon]
        return Lut(canon, tuple(p[0] for p in pts), tuple(p[1] for p in pts))
    path = Path(name)
    if not path.is_file():
        raise ValueError(f"unknown LUT {name!r}: not a file, and not one of {', '.join(BUILTIN_LUTS)}")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ValueError(f"LUT file {path}: expected a .csv or .json file")
    try:
        text = path.read_text(encoding="utf-8")
        return (_read_csv_lut if suffix == ".csv" else _read_json_lut)(path, text)
    except (ValueError, TypeError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise ValueError(f"bad LUT file {path}: {e}") from e


def lut_ab(L: np.ndarray, lut: Lut | str | Path) -> np.ndarray:
    """Luminance keying: the ab of the LUT colour at each pixel's gray level (pseudo-colour).

    The output keeps the input's L by construction, so only the hue and chroma of the table's
    colour are used: pixel x gets the CIELAB a, b of ``lut``'s colour at x's level. For an 8-bit
    gray input (key "gray") that is exactly the ab of the table colour at its gray code; other
    L values are interpolated linearly between neighbouring codes. Label the result with
    ``PSEUDO_COLOUR_NOTE``.

    Returns float32 ab, 2 x H x W.
    """
    L = _check_l(L)
    grid_l, grid_ab = load_lut(lut).grid()
    out = np.empty((2, *L.shape), np.float32)
    for sl in _strips(*L.shape):
        for c in range(2):
            out[c, sl] = np.interp(L[sl], grid_l, grid_ab[c])
    return out
