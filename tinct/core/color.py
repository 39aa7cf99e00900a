"""CIELAB colour space: the colour contract every tinct model obeys.

Contract (see SPEC.md): sRGB with the D65 white point; L in [0, 100], a and b in about
[-110, 110]. Models take ``L / 50 - 1`` and regression models return ``ab / 110``.

Two kinds of conversion live here:

* float conversions on torch tensors (``rgb_to_lab``, ``lab_to_rgb``), used on batches at
  the model's working size. They delegate to kornia.
* fast full-resolution paths that never build a float RGB image: ``luminance`` (8/16-bit
  RGB or gray -> L, with look-up tables) and ``lab_to_rgb8`` (L + ab -> 8-bit sRGB, exactly
  rounded, chroma reduced to stay in gamut). They are
  tested against scikit-image.
* the numpy kernel under ``lab_to_rgb8``: :func:`lab_to_rgb8_array` (float32, fused, an exact
  sRGB encoder from a small look-up table, no ``pow``); it releases the GIL in every step, so
  :mod:`tinct.core.fullres` runs it on all cores, strip by strip. Importing this module does not
  import torch (the torch functions import it when called).
* numpy helpers: ``lab_of_rgb`` (CIELAB of colour arrays, strip by strip) and ``gray16_from_l``
  (the 16-bit gray of a given L).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from tinct.core import strips
from tinct.core.scratch import Scratch

if TYPE_CHECKING:
    import torch

# sRGB (D65) <-> XYZ, the matrices scikit-image and kornia use.
XYZ_FROM_RGB = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB)
WHITE_D65 = np.array([0.95047, 1.0, 1.08883])

AB_SCALE = 110.0  #: regression models output ab / AB_SCALE
LAB_EPSILON = 6.0 / 29.0  #: where the CIELAB companding function turns linear (6/29)


def _is_numpy(v) -> bool:
    return isinstance(v, (np.ndarray, np.generic, float, int))


def normalize_l(L: torch.Tensor) -> torch.Tensor:
    """Map L in [0, 100] to the model input range [-1, 1]."""
    return L / 50.0 - 1.0


def srgb_to_linear(v: np.ndarray | torch.Tensor):
    """sRGB-encoded values in [0, 1] -> linear light (IEC 61966-2-1)."""
    if not _is_numpy(v):
        import torch

        return torch.where(v > 0.04045, ((v + 0.055) / 1.055) ** 2.4, v / 12.92)
    return np.where(v > 0.04045, ((v + 0.055) / 1.055) ** 2.4, v / 12.92)


def _f(t):
    """CIELAB companding function f(t)."""
    if not _is_numpy(t):
        import torch

        return torch.where(t > LAB_EPSILON**3, t.clamp_min(1e-12) ** (1.0 / 3.0), t / (3 * LAB_EPSILON**2) + 4.0 / 29.0)
    return np.where(t > LAB_EPSILON**3, np.cbrt(t), t / (3 * LAB_EPSILON**2) + 4.0 / 29.0)


def l_from_y(y):
    """Relative luminance Y (white = 1) -> CIELAB L."""
    return 116.0 * _f(y) - 16.0


@functools.lru_cache(maxsize=4)
def _l_lut(bits: int) -> np.ndarray:
    """L of a neutral gray for every code value of a ``bits``-bit channel (float32)."""
    v = np.arange(2**bits, dtype=np.float64) / (2**bits - 1)
    return l_from_y(srgb_to_linear(v)).astype(np.float32)


@functools.lru_cache(maxsize=4)
def _lin_lut(bits: int) -> np.ndarray:
    v = np.arange(2**bits, dtype=np.float64) / (2**bits - 1)
    return srgb_to_linear(v).astype(np.float32)


def luminance(img: np.ndarray) -> np.ndarray:
    """CIELAB L (float32, H x W, in [0, 100]) of an sRGB image.

    ``img`` is H x W (gray) or H x W x 3 (RGB), dtype uint8, uint16 or float in [0, 1].
    Gray values are treated as neutral sRGB (R = G = B), so a gray image's L is exact.
    """
    if img.ndim == 2:
        if img.dtype == np.uint8:
            return _l_lut(8)[img]
        if img.dtype == np.uint16:
            return _l_lut(16)[img]
        return l_from_y(srgb_to_linear(np.clip(img, 0, 1).astype(np.float32))).astype(np.float32)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected H x W or H x W x 3, got shape {img.shape}")
    w = XYZ_FROM_RGB[1].astype(np.float32)
    if img.dtype in (np.uint8, np.uint16):
        lut = _lin_lut(8 if img.dtype == np.uint8 else 16)
        y = lut[img[..., 0]] * w[0]
        y += lut[img[..., 1]] * w[1]
        y += lut[img[..., 2]] * w[2]
    else:
        lin = srgb_to_linear(np.clip(img, 0, 1).astype(np.float32))
        y = lin @ w
    return l_from_y(y).astype(np.float32)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """Float sRGB (..., 3, H, W) in [0, 1] -> Lab (..., 3, H, W). Uses kornia."""
    import kornia.color

    return kornia.color.rgb_to_lab(rgb)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Lab (..., 3, H, W) -> float sRGB in [0, 1], out-of-gamut values clipped. Uses kornia."""
    import kornia.color

    return kornia.color.lab_to_rgb(lab, clip=True)


#: look-up bins of :func:`encode_srgb8_array` over linear [0, 1]: narrower than the closest two code
#: boundaries (1 / (12.92 * 255) apart, near black), so a bin holds at most one boundary
ENCODE_BINS = 4096


@functools.lru_cache(maxsize=1)
def encode_table() -> np.ndarray:
    """Per bin ``i`` of linear [0, 1] (one more for v = 1): ``c + 1 - p`` (float32), where ``c`` is the
    code at the bin's start and ``p`` the position (0..1, in bins) of the bin's only code boundary,
    or ``c`` where the bin holds none; so that the code of ``v`` (in bins) is ``floor(E[i] + v - i)``."""
    s = (np.arange(1, 256, dtype=np.float64) - 0.5) / 255.0  # sRGB value half-way to the next code
    bounds = np.where(s <= 0.04045, s / 12.92, ((s + 0.055) / 1.055) ** 2.4) * ENCODE_BINS
    bins = np.arange(ENCODE_BINS + 1)
    start = np.searchsorted(bounds, bins, side="right")  # code at each bin's start
    inside = np.append(bounds, np.inf)[start] - bins  # where the next boundary lies, in this bin's units
    return np.where(inside < 1.0, start + 1.0 - inside, start).astype(np.float32)


def encode_srgb8_array(lin: np.ndarray) -> np.ndarray:
    """Linear-light float values (any shape) -> uint8 sRGB codes, ``round(255 * sRGB(clip(v, 0, 1)))``.

    Exact to the code boundaries computed in float64 (up to float32 rounding of ``v``), from one
    small table and no ``pow``: ``v`` in units of 1/4096 falls in a bin that holds at most one code
    boundary, and ``floor(E[bin] + fraction)`` is the bin's first code, plus one past the boundary
    (:func:`encode_table`). NaN gives 0.
    """
    return _encode_bins(np.multiply(lin, np.float32(ENCODE_BINS), dtype=np.float32), None, Scratch())


def _encode_bins(v: np.ndarray, out: np.ndarray | None, s: Scratch) -> np.ndarray:
    """:func:`encode_srgb8_array` of linear values already in units of 1/4096 (``v``, float32,
    overwritten), into ``out`` (uint8, may be strided) or a buffer of ``s``; the work arrays are ``s``'s."""
    table = encode_table()
    shape = v.shape
    np.clip(v, np.float32(0.0), np.float32(ENCODE_BINS), out=v)
    whole = np.floor(v, out=s.get("enc_f", shape))
    index = s.get("enc_i", shape, np.intp)
    np.copyto(index, whole, casting="unsafe")
    v -= whole  # the fraction, exactly
    v += np.take(table, index, out=whole, mode="clip")
    code = out if out is not None else s.get("enc_c", shape, np.uint8)
    np.copyto(code, v, casting="unsafe")  # truncation: floor, as v >= 0
    return code


def encode_srgb8(lin: torch.Tensor) -> torch.Tensor:
    """Linear-light values -> uint8 sRGB codes (a tensor of the same shape; :func:`encode_srgb8_array`)."""
    import torch

    return torch.from_numpy(encode_srgb8_array(lin.detach().cpu().float().numpy()))


#: the float32 constants of the numpy kernels below (and of the compiled one, tinct.core.fused)
RGB_FROM_XYZ32 = RGB_FROM_XYZ.astype(np.float32)
WHITE_X, WHITE_Z = np.float32(WHITE_D65[0]), np.float32(WHITE_D65[2])


def _finv(t: np.ndarray, out: np.ndarray | None = None, scratch: Scratch | None = None) -> np.ndarray:
    """Inverse of the CIELAB companding function (float32), into ``out`` (not ``t``) when given."""
    cube = np.multiply(t, t, out=out)
    cube *= t
    if t.size and t.min() <= LAB_EPSILON:  # one pass; the linear part is rare (very dark or very saturated colours)
        low = np.less_equal(t, LAB_EPSILON, out=None if scratch is None else scratch.get("finv_low", t.shape, bool))
        # one masked pass rather than indexing: as fast at 0.2 % of values on the linear part, and
        # faster from 2 % on (noisy scans, the gamut bisection)
        line = None if scratch is None else scratch.get("finv_line", t.shape)
        line = np.subtract(t, np.float32(4.0 / 29.0), out=line)
        line *= np.float32(3 * LAB_EPSILON**2)
        np.copyto(cube, line, where=low)
    return cube


def _lab_to_linear(
    L: np.ndarray, a: np.ndarray, b: np.ndarray, scratch: Scratch | None = None, scale: int = 1
) -> np.ndarray:
    """L, a, b (float32, one shape S) -> linear-light sRGB (3,) + S, unclipped (float32), times
    ``scale`` (a power of two: the same values, exactly scaled, at no cost).

    With ``scratch`` every array, the result included, is one of its buffers (no allocation).
    """
    s = scratch if scratch is not None else Scratch()
    shape = np.shape(L)
    fy = np.add(L, np.float32(16.0), out=s.get("lab_fy", shape), dtype=np.float32)
    fy *= np.float32(1.0 / 116.0)
    t = np.multiply(a, np.float32(1.0 / 500.0), out=s.get("lab_t", shape), dtype=np.float32)
    t += fy
    x = _finv(t, s.get("lab_x", shape), scratch)
    x *= WHITE_X
    y = _finv(fy, s.get("lab_y", shape), scratch)
    np.multiply(b, np.float32(1.0 / 200.0), out=t, dtype=np.float32)
    fz = np.subtract(fy, t, out=t)
    z = _finv(np.maximum(fz, np.float32(0.0), out=fz), s.get("lab_z", shape), scratch)  # f(z) >= 0, as scikit-image
    z *= WHITE_Z
    rgb = s.get("lab_rgb", (3, *shape))
    term = fy  # fy is not needed any more: the buffer holds each product in turn
    for c, row in zip(rgb, RGB_FROM_XYZ32 * np.float32(scale), strict=True):
        np.multiply(x, row[0], out=c)
        c += np.multiply(y, row[1], out=term)
        c += np.multiply(z, row[2], out=term)
    return rgb


# float32 slack: values this close to the gamut edge round to the edge code anyway (tight near
# black, where L is steep in Y)
GAMUT_TOL = 2e-3
GAMUT_TOL_LOW = 1e-5


def _out_of_gamut(rgb: np.ndarray, scratch: Scratch | None = None, scale: int = 1) -> np.ndarray:
    """Pixels of ``rgb`` (3,) + S (linear values times ``scale``, a power of two) outside the gamut
    (beyond the float32 slack): bool S."""
    low, high = np.float32(-GAMUT_TOL_LOW * scale), np.float32((1 + GAMUT_TOL) * scale)
    if scratch is None:
        lo, hi = rgb.min(0), rgb.max(0)
        return (lo < low) | (hi > high)
    shape = rgb.shape[1:]
    lo = np.minimum(rgb[0], rgb[1], out=scratch.get("gam_lo", shape))
    np.minimum(lo, rgb[2], out=lo)
    hi = np.maximum(rgb[0], rgb[1], out=scratch.get("gam_hi", shape))
    np.maximum(hi, rgb[2], out=hi)
    bad = np.less(lo, low, out=scratch.get("gam_bad", shape, bool))
    return np.logical_or(bad, np.greater(hi, high, out=scratch.get("gam_high", shape, bool)), out=bad)


def fit_gamut_codes(
    L: np.ndarray, a: np.ndarray, b: np.ndarray, steps: int = 8, scratch: Scratch | None = None
) -> np.ndarray:
    """8-bit sRGB (n, 3) of the colours L, a, b (1-D float32, n) with their chroma reduced (hue and L
    kept) until they fit in sRGB: a bisection on the chroma scale per pixel (``steps`` halvings).

    The bisection's work arrays are ``scratch``'s buffers when given (a fresh array is returned
    either way), so a thread fitting many pixels does not spend its time in the allocator."""
    s = scratch if scratch is not None else Scratch()
    shape = np.shape(L)
    lo = np.zeros_like(L)
    hi = np.ones_like(L)
    mid = s.get("fit_mid", shape)
    a_mid, b_mid = s.get("fit_a", shape), s.get("fit_b", shape)
    ok = s.get("fit_ok", shape, bool)
    for _ in range(steps):
        np.add(lo, hi, out=mid)
        mid *= np.float32(0.5)
        bad = _out_of_gamut(_lab_to_linear(L, np.multiply(a, mid, out=a_mid), np.multiply(b, mid, out=b_mid), s), s)
        np.copyto(hi, mid, where=bad)
        np.copyto(lo, mid, where=np.logical_not(bad, out=ok))
    return np.moveaxis(encode_srgb8_array(_lab_to_linear(L, a * lo, b * lo)), 0, -1)


#: out-of-gamut pixels of one call of :func:`lab_to_rgb8_array` above which they are fitted at once
#: rather than deferred: the bisection's per-call overhead is small beside their work from there on
DEFER_GAMUT_MAX = 1 << 12

#: ``defer_gamut`` of :func:`lab_to_rgb8_array`: called with the positions (``np.nonzero`` of a
#: mask over the input's shape) and the L, a, b values of its out-of-gamut pixels
GamutDeferral = Callable[[tuple[np.ndarray, ...], np.ndarray, np.ndarray, np.ndarray], None]


def lab_to_rgb8_array(
    L: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    preserve_l: bool = True,
    out: np.ndarray | None = None,
    scratch: Scratch | None = None,
    defer_gamut: GamutDeferral | None = None,
) -> np.ndarray:
    """L, a and b (float32 arrays of one shape S) -> uint8 sRGB (S + (3,)): the kernel of :func:`lab_to_rgb8`.

    numpy only, float32; ``out``: a uint8 (S + (3,)) array to write into. With ``preserve_l``
    (default) out-of-gamut colours lose chroma until they fit (:func:`fit_gamut_codes`), else
    each channel is clipped. With ``scratch`` (e.g. :func:`tinct.core.scratch.thread_scratch`)
    the work arrays are its reused buffers, so the kernel allocates nothing but for out-of-gamut
    pixels and runs on many threads at once (each step releases the GIL); without, fresh ones.
    ``defer_gamut``: instead of fitting the out-of-gamut pixels here (their codes are left
    clipped), hand them to this function, so that a caller working strip by strip fits all of an
    image's at once; only when they are few (fewer than :data:`DEFER_GAMUT_MAX`): many (a tenth of a noisy
    scan's pixels can lie outside sRGB) are fitted here, in the strip's own thread, so that the
    deferred pixels never hold more than a small part of the image in memory. Agrees with a
    float64 reference within 1 code (tests/test_color.py).
    """
    L, a, b = (np.asarray(v, np.float32) for v in (L, a, b))
    L, a, b = np.broadcast_arrays(L, a, b)
    s = scratch if scratch is not None else Scratch()
    rgb = _lab_to_linear(L, a, b, s, scale=ENCODE_BINS)  # in the encoder's units: no multiply per channel
    bad = _out_of_gamut(rgb, s, scale=ENCODE_BINS) if preserve_l else None
    out = np.empty((*L.shape, 3), np.uint8) if out is None else out
    for c in range(3):
        _encode_bins(rgb[c], out[..., c], s)
    if bad is not None and bad.any():
        where = np.unravel_index(np.flatnonzero(bad), bad.shape)  # faster than np.nonzero on 2-D masks
        if defer_gamut is not None and where[0].size < DEFER_GAMUT_MAX:
            defer_gamut(where, L[where], a[where], b[where])
        else:
            out[where] = fit_gamut_codes(L[where], a[where], b[where], scratch=s)
    return out


def lab_to_rgb8(L: torch.Tensor, ab: torch.Tensor, preserve_l: bool = True) -> torch.Tensor:
    """L (H x W) and ab (2 x H x W) float tensors -> uint8 sRGB (H x W x 3).

    With ``preserve_l`` (default) out-of-gamut colours lose chroma until they fit, so the output
    keeps L up to 8-bit rounding; otherwise each channel is clipped, like scikit-image's
    ``round(255 * lab2rgb(Lab))``. Runs :func:`lab_to_rgb8_array`.
    """
    import torch

    Ln = L.detach().cpu().float().numpy()
    abn = ab.detach().cpu().float().numpy()
    return torch.from_numpy(lab_to_rgb8_array(Ln, abn[0], abn[1], preserve_l))


@functools.lru_cache(maxsize=1)
def ab_bins() -> np.ndarray:
    """Centres (Q x 2, float32) of the grid-10 ab bins that the sRGB gamut occupies.

    Every colour of a 64^3 sRGB lattice is converted to Lab and its ab rounded to the nearest
    multiple of 10; the occupied cells are the bins. This gives Q = 261 for exact sRGB (Zhang
    et al. report 313 for their looser, data-derived gamut estimate).
    """
    v = np.linspace(0.0, 1.0, 64, dtype=np.float64)
    rgb = np.stack(np.meshgrid(v, v, v, indexing="ij"), -1).reshape(-1, 3)
    y = srgb_to_linear(rgb) @ XYZ_FROM_RGB.T / WHITE_D65
    fx, fy, fz = _f(y[:, 0]), _f(y[:, 1]), _f(y[:, 2])
    ab = np.stack((500.0 * (fx - fy), 200.0 * (fy - fz)), -1)
    q = np.unique(np.round(ab / 10.0).astype(np.int64), axis=0)
    return (q * 10).astype(np.float32)


# --------------------------------------------------------------------------------------------
# numpy helpers


def lab_of_rgb(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CIELAB of sRGB colours ``rgb`` (..., 3): uint8 codes or floats in [0, 1].

    Returns L (...) and ab (2, ...), float32. Uses :func:`rgb_to_lab` (kornia) in chunks of
    :data:`tinct.core.strips.STRIP_PIXELS` pixels, so memory stays bounded on large images.
    """
    rgb = np.asarray(rgb)
    if rgb.shape[-1] != 3:
        raise ValueError(f"expected (..., 3) RGB, got shape {rgb.shape}")
    flat = rgb.reshape(-1, 3)
    scale = 255.0 if rgb.dtype == np.uint8 else 1.0
    import torch

    out = np.empty((3, flat.shape[0]), np.float32)
    chunk = strips.STRIP_PIXELS
    for i in range(0, flat.shape[0], chunk):
        t = torch.from_numpy(np.ascontiguousarray(flat[i : i + chunk].T)).float()
        with torch.inference_mode():
            out[:, i : i + chunk] = rgb_to_lab((t / scale).clamp_(0.0, 1.0)[:, :, None])[:, :, 0].numpy()
    shape = rgb.shape[:-1]
    return out[0].reshape(shape), out[1:].reshape(2, *shape)


def gray16_from_l(L: np.ndarray) -> np.ndarray:
    """The uint16 gray whose CIELAB L (:func:`luminance`) is nearest to ``L``."""
    lut = _l_lut(16)
    i = np.clip(np.searchsorted(lut, L), 1, 65535)
    lower_nearer = (L - lut[i - 1]) < (lut[i] - L)
    return (i - lower_nearer).astype(np.uint16)
