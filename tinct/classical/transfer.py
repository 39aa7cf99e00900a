"""Colour from a reference image: global statistics transfer (Reinhard, Ashikhmin, Gooch & Shirley,
IEEE CG&A 2001) and luminance-neighbourhood matching (Welsh, Ashikhmin & Mueller, SIGGRAPH 2002).
Same contract as every colour source: full-resolution L in, ab (2 x H x W) out; the caller keeps L.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from tinct.core.color import encode_srgb8, lab_of_rgb, srgb_to_linear
from tinct.core.filters import block_edges, block_mean, check_l, local_std, reduced_shape
from tinct.core.strips import row_strips

REFERENCE_PIXELS = 1 << 20  #: references larger than this are box-reduced before their statistics are taken


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


def _reference_lab(reference_rgb_u8: np.ndarray, max_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """L (h, w) and ab (2, h, w) of a reference image, box-reduced to at most ``max_pixels``."""
    ref = _rgb8(reference_rgb_u8, "reference")
    small = reduced_shape(*ref.shape[:2], max_pixels)
    if small != ref.shape[:2]:
        ref = block_mean(ref, small) / 255.0
    return lab_of_rgb(ref)


def _moments(x: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of all of ``x`` (H x W), accumulated in float64 strip by strip."""
    s = s2 = 0.0
    for sl in row_strips(*x.shape):
        v = x[sl].astype(np.float64)
        s += float(v.sum())
        s2 += float(np.dot(v.ravel(), v.ravel()))
    m = s / x.size
    return m, math.sqrt(max(s2 / x.size - m * m, 0.0))


def _affine(x: np.ndarray, shift: float, scale: float, offset: float, out: np.ndarray) -> np.ndarray:
    """``out = (x - shift) * scale + offset`` for H x W arrays, strip by strip (``out`` may be ``x``)."""
    for sl in row_strips(*x.shape):
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
    L = check_l(L)
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
    small = reduced_shape(*ref.shape[:2], max_reference_pixels)
    if small != ref.shape[:2]:
        ref = np.round(block_mean(ref, small)).astype(np.uint8)
    if space == "lab":
        _, out = lab_of_rgb(src)
        _, ab_ref = lab_of_rgb(ref)
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
    for sl in row_strips(*src.shape[:2]):
        out[:, sl] = lab_of_rgb(_rgb8_from_lalphabeta(lab_src[sl]))[1]
    return out


def _jittered_samples(h: int, w: int, samples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One uniformly random pixel in each cell of a near-square grid of about ``samples`` cells."""
    nx = int(np.clip(round(math.sqrt(samples * w / h)), 1, w))
    ny = int(np.clip(round(samples / nx), 1, h))
    ey, ex = block_edges(h, ny), block_edges(w, nx)
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
    L = check_l(L)
    H, W = L.shape
    L_ref, ab_ref = _reference_lab(reference_rgb_u8, max_reference_pixels)
    mu_t, sd_t = _moments(L)
    sd_r = float(L_ref.std(dtype=np.float64))
    L_ref = (L_ref - L_ref.mean(dtype=np.float64)) * (sd_t / sd_r if sd_r > 0 else 1.0) + mu_t
    ys, xs = _jittered_samples(*L_ref.shape, samples, np.random.default_rng(seed))
    feat = np.stack([L_ref[ys, xs], local_std(L_ref, window)[ys, xs]], 1) * math.sqrt(0.5)
    from scipy.spatial import cKDTree  # here, not at import: slow to import, and only Welsh needs it

    tree = cKDTree(feat)
    colours = ab_ref[:, ys, xs]  # (2, n_samples)
    out = np.empty((2, H, W), np.float32)
    pad = window // 2
    for sl in row_strips(H, W):
        lo, hi = max(0, sl.start - pad), min(H, sl.stop + pad)
        std = local_std(L[lo:hi], window)[sl.start - lo : sl.stop - lo]
        q = np.stack([L[sl].ravel(), std.ravel()], 1) * math.sqrt(0.5)
        _, nearest = tree.query(q)
        out[:, sl] = colours[:, nearest].reshape(2, sl.stop - sl.start, W)
    return out
