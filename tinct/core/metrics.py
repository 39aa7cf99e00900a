"""Image-quality metrics for colorization: one definition, used everywhere (see SPEC.md, "Metrics").

Every function is pure and takes numpy arrays; images are 8-bit sRGB, H x W x 3 ``uint8``, at the
input's full resolution (``pred`` and ``truth`` of the same shape).

* :func:`psnr` and :func:`ssim` on 8-bit RGB (``data_range=255``, channels averaged), as
  ``skimage.metrics.peak_signal_noise_ratio`` / ``structural_similarity(channel_axis=-1)``.
  Identical images score :data:`PSNR_MAX_DB` rather than infinity, so means stay finite.
* :func:`mse` on RGB scaled to [0, 1].
* :func:`ciede2000`: mean CIEDE2000 colour difference (``skimage.color.deltaE_ciede2000`` on
  ``skimage.color.rgb2lab``, D65, kL = kC = kH = 1).
* :func:`colourfulness`: Hasler & Suesstrunk (2003), on 0-255 RGB:
  ``rg = R - G``, ``yb = (R + G) / 2 - B``,
  ``M = sqrt(std(rg)^2 + std(yb)^2) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2)`` (population std).
* Colourfulness ratio. Per image, :func:`colourfulness_ratio` = M(output) / M(truth) (NaN when the
  truth is flat gray). For a *set* of images the ratio is the **ratio of means**,
  ``mean(M(outputs)) / mean(M(truths))`` (:func:`ratio_of_means`), not the mean of per-image
  ratios: near-gray truths would otherwise blow the mean up. 1.0 = as vivid as reality.
* :func:`luminance_error`: (max, mean) absolute difference of CIELAB L between an output and the
  image whose luminance it must keep ("luminance fidelity").
* :func:`gray_baseline`: the gray baseline's image, the truth's own CIELAB L shown as gray (a = b = 0).
* :func:`bootstrap_ci`, :func:`bootstrap_ratio_ci`, :func:`paired_bootstrap_diff_ci`: 95%
  percentile-bootstrap confidence intervals over images.

Memory stays bounded for big images: everything that needs floating-point copies works on blocks
of rows (:func:`tinct.core.strips.row_strips`); SSIM blocks overlap by the window radius, so the
result equals scikit-image's whole-image value.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from skimage.color import deltaE_ciede2000, lab2rgb, rgb2lab
from skimage.metrics import structural_similarity

from tinct.core.strips import row_strips

PSNR_MAX_DB = 100.0  #: PSNR reported for identical images (instead of infinity)
SSIM_WIN = 7  #: scikit-image's default SSIM window (uniform 7 x 7)
CI_LEVEL = 0.95


# ----------------------------------------------------------------------------- helpers


def _check_rgb_pair(pred: np.ndarray, truth: np.ndarray) -> None:
    """Raise ValueError unless both are H x W x 3 uint8 of the same shape."""
    for name, a in (("pred", pred), ("truth", truth)):
        if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"{name} must be an H x W x 3 uint8 array, got {a.dtype} {a.shape}")
    if pred.shape != truth.shape:
        raise ValueError(f"shape mismatch: pred {pred.shape} vs truth {truth.shape}")


def _as_rgb(a: np.ndarray) -> np.ndarray:
    """An H x W gray uint8 array as a (read-only, zero-copy) H x W x 3 view; RGB unchanged."""
    if a.ndim == 2:
        return np.broadcast_to(a[..., None], (*a.shape, 3))
    return a


def lightness(rgb_u8: np.ndarray) -> np.ndarray:
    """CIELAB L (float64, H x W) of an 8-bit sRGB image (H x W x 3, or H x W gray), via skimage rgb2lab."""
    rgb = _as_rgb(rgb_u8)
    out = np.empty(rgb.shape[:2], np.float64)
    for rows in row_strips(*rgb.shape[:2]):
        out[rows] = rgb2lab(rgb[rows])[..., 0]
    return out


# ----------------------------------------------------------------------------- fidelity metrics


def _sum_squared_error(pred: np.ndarray, truth: np.ndarray) -> int:
    """Exact sum of squared differences in 0-255 units (int64, row blocks)."""
    total = 0
    for rows in row_strips(*pred.shape[:2]):
        d = pred[rows].astype(np.int32) - truth[rows]
        total += int(np.square(d).sum(dtype=np.int64))
    return total


def mse(pred_u8: np.ndarray, truth_u8: np.ndarray) -> float:
    """Mean squared error of two 8-bit RGB images, with RGB scaled to [0, 1] (so in [0, 1])."""
    _check_rgb_pair(pred_u8, truth_u8)
    return _sum_squared_error(pred_u8, truth_u8) / (255.0**2 * pred_u8.size)


def psnr(pred_u8: np.ndarray, truth_u8: np.ndarray) -> float:
    """PSNR in dB of two 8-bit RGB images: ``10 log10(255^2 / MSE_255)`` over all pixels and channels.

    Equals ``skimage.metrics.peak_signal_noise_ratio(truth, pred, data_range=255)``, except that it is
    capped at :data:`PSNR_MAX_DB` (identical images) and computed in row blocks.
    """
    _check_rgb_pair(pred_u8, truth_u8)
    sse = _sum_squared_error(pred_u8, truth_u8)
    if sse == 0:
        return PSNR_MAX_DB
    return min(PSNR_MAX_DB, 10.0 * math.log10(255.0**2 * pred_u8.size / sse))


def ssim(pred_u8: np.ndarray, truth_u8: np.ndarray) -> float:
    """Mean SSIM of two 8-bit RGB images (both sides >= 7 px): ``structural_similarity(channel_axis=-1,
    data_range=255)`` with scikit-image's defaults (7 x 7 uniform window, border of 3 px left out).

    Computed on row blocks that overlap by the window radius, so the value equals the whole-image one.
    """
    _check_rgb_pair(pred_u8, truth_u8)
    h, w = pred_u8.shape[:2]
    if min(h, w) < SSIM_WIN:
        raise ValueError(f"SSIM needs images of at least {SSIM_WIN}x{SSIM_WIN} pixels, got {w}x{h}")
    pad = (SSIM_WIN - 1) // 2
    total, count = 0.0, 0
    for rows in row_strips(h - 2 * pad, w):
        r0, r1 = rows.start + pad, rows.stop + pad  # rows of the cropped SSIM map, in image coordinates
        _, smap = structural_similarity(
            pred_u8[r0 - pad : r1 + pad],
            truth_u8[r0 - pad : r1 + pad],
            channel_axis=-1,
            data_range=255,
            full=True,
        )
        kept = smap[pad : pad + (r1 - r0), pad : w - pad]
        total += float(kept.sum(dtype=np.float64))
        count += kept.size
    return total / count


def ciede2000_lab(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference of CIELAB arrays (..., 3), element-wise (kL = kC = kH = 1)."""
    return deltaE_ciede2000(np.asarray(lab1, np.float64), np.asarray(lab2, np.float64), channel_axis=-1)


def ciede2000(pred_u8: np.ndarray, truth_u8: np.ndarray) -> float:
    """Mean CIEDE2000 difference between two 8-bit sRGB images (skimage rgb2lab, D65), in row blocks."""
    _check_rgb_pair(pred_u8, truth_u8)
    total = 0.0
    for rows in row_strips(*pred_u8.shape[:2]):
        total += float(ciede2000_lab(rgb2lab(pred_u8[rows]), rgb2lab(truth_u8[rows])).sum())
    return total / (pred_u8.shape[0] * pred_u8.shape[1])


def luminance_error(pred_u8: np.ndarray, reference_u8: np.ndarray) -> tuple[float, float]:
    """(max, mean) absolute difference of CIELAB L (0-100 scale) between ``pred_u8`` (H x W x 3) and
    ``reference_u8`` (H x W x 3, or H x W gray): how well an output keeps the luminance it was given."""
    ref = _as_rgb(reference_u8)
    if pred_u8.shape != ref.shape or pred_u8.dtype != np.uint8 or ref.dtype != np.uint8:
        raise ValueError(f"expected uint8 images of one size, got {pred_u8.shape} and {reference_u8.shape}")
    worst, total = 0.0, 0.0
    for rows in row_strips(*pred_u8.shape[:2]):
        d = np.abs(lightness(pred_u8[rows]) - lightness(ref[rows]))
        worst, total = max(worst, float(d.max(initial=0.0))), total + float(d.sum())
    return worst, total / (pred_u8.shape[0] * pred_u8.shape[1])


def gray_baseline(rgb_u8: np.ndarray) -> np.ndarray:
    """The truth's own CIELAB L shown as gray: ``round(255 * clip(lab2rgb([L, 0, 0])))``, H x W uint8.

    This is both the grayscale input a model is given in evaluation and the gray baseline's output.
    (lab2rgb of a neutral colour gives R = G = B up to rounding; their mean is taken.)
    """
    rgb = _as_rgb(rgb_u8)
    out = np.empty(rgb.shape[:2], np.uint8)
    for rows in row_strips(*rgb.shape[:2]):
        L = rgb2lab(rgb[rows])[..., 0]
        lab = np.stack([L, np.zeros_like(L), np.zeros_like(L)], axis=-1)
        out[rows] = np.rint(255.0 * np.clip(lab2rgb(lab).mean(axis=-1), 0.0, 1.0)).astype(np.uint8)
    return out


# ----------------------------------------------------------------------------- colourfulness


def colourfulness(rgb_u8: np.ndarray) -> float:
    """Hasler & Suesstrunk (2003) colourfulness M of an 8-bit RGB image (0 for any gray image).

    ``rg = R - G``, ``yb = (R + G) / 2 - B`` on 0-255 values;
    ``M = sqrt(std(rg)^2 + std(yb)^2) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2)`` (population std).
    """
    rgb = _as_rgb(rgb_u8)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] * rgb.shape[1] == 0:
        raise ValueError(f"expected a non-empty H x W x 3 image, got {rgb.shape}")
    sums = np.zeros(4)  # sum rg, sum rg^2, sum yb, sum yb^2
    for rows in row_strips(*rgb.shape[:2]):
        r, g, b = (rgb[rows][..., c].astype(np.float64) for c in range(3))
        rg, yb = r - g, 0.5 * (r + g) - b
        sums += [rg.sum(), (rg * rg).sum(), yb.sum(), (yb * yb).sum()]
    n = rgb.shape[0] * rgb.shape[1]
    mean_rg, mean_yb = sums[0] / n, sums[2] / n
    var_rg = max(0.0, sums[1] / n - mean_rg**2)
    var_yb = max(0.0, sums[3] / n - mean_yb**2)
    return math.sqrt(var_rg + var_yb) + 0.3 * math.sqrt(mean_rg**2 + mean_yb**2)


def colourfulness_ratio(pred_u8: np.ndarray, truth_u8: np.ndarray) -> float:
    """Per-image colourfulness ratio M(pred) / M(truth); NaN when the truth is flat gray (M = 0)."""
    truth_m = colourfulness(truth_u8)
    return colourfulness(pred_u8) / truth_m if truth_m > 0 else math.nan


def ratio_of_means(num: np.ndarray, den: np.ndarray) -> float:
    """``mean(num) / mean(den)`` (NaN when ``mean(den)`` is 0): the colourfulness ratio of a set of images."""
    d = float(np.mean(den))
    return float(np.mean(num)) / d if d != 0 else math.nan


# ----------------------------------------------------------------------------- bootstrap


def bootstrap_samples(
    statistic: Callable[[np.ndarray], np.ndarray], size: int, n: int = 1000, seed: int = 0, block: int = 256
) -> np.ndarray:
    """``n`` bootstrap replicates of a statistic of ``size`` items.

    ``statistic(idx)`` receives a (k, size) integer array of resampled item indices (drawn with
    replacement) and returns the k replicate values; resamples are drawn in blocks of ``block`` to
    bound memory. The same ``seed`` gives the same resamples, so statistics of paired data share them.
    """
    rng = np.random.default_rng(seed)
    out = [statistic(rng.integers(0, size, (min(block, n - i), size))) for i in range(0, n, block)]
    return np.concatenate(out).astype(np.float64) if out else np.empty(0)


def _interval(point: float, samples: np.ndarray) -> tuple[float, float, float]:
    alpha = (1.0 - CI_LEVEL) / 2
    lo, hi = np.percentile(samples, [100 * alpha, 100 * (1 - alpha)])
    return float(point), float(lo), float(hi)


def _finite(*columns: np.ndarray) -> list[np.ndarray]:
    """The columns restricted to the rows where every column is finite."""
    cols = [np.asarray(c, np.float64).ravel() for c in columns]
    keep = np.logical_and.reduce([np.isfinite(c) for c in cols])
    return [c[keep] for c in cols]


_NAN3 = (math.nan, math.nan, math.nan)


def bootstrap_ci(values: np.ndarray, n: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """(mean, lo, hi): the mean of ``values`` and its 95% percentile-bootstrap confidence interval.

    Non-finite values are left out; no values gives (nan, nan, nan). Deterministic for a given seed.
    """
    (v,) = _finite(values)
    if v.size == 0:
        return _NAN3
    return _interval(v.mean(), bootstrap_samples(lambda idx: v[idx].mean(axis=1), v.size, n, seed))


def bootstrap_ratio_ci(num: np.ndarray, den: np.ndarray, n: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """(ratio, lo, hi) for the ratio of means ``mean(num) / mean(den)`` of paired per-image values,
    resampling images (rows where either value is non-finite are left out)."""
    a, b = _finite(num, den)
    if a.size == 0:
        return _NAN3
    samples = bootstrap_samples(lambda idx: a[idx].mean(axis=1) / b[idx].mean(axis=1), a.size, n, seed)
    return _interval(ratio_of_means(a, b), samples)


def paired_bootstrap_diff_ci(
    a: np.ndarray,
    b: np.ndarray,
    a_den: np.ndarray | None = None,
    b_den: np.ndarray | None = None,
    n: int = 1000,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(diff, lo, hi) for ``stat(b) - stat(a)`` on the same images (row i of every array is image i).

    ``stat`` is the mean, or the ratio of means ``mean(x) / mean(x_den)`` when ``a_den`` and ``b_den``
    are given. Images are resampled jointly (a paired bootstrap); the difference is significant at
    the 95% level when the interval excludes 0.
    """
    if (a_den is None) != (b_den is None):
        raise ValueError("give both denominators or neither")
    ones = np.ones(np.shape(a))
    cols = _finite(a, b, ones if a_den is None else a_den, ones if b_den is None else b_den)
    if cols[0].size == 0:
        return _NAN3
    xa, xb, da, db = cols

    def stat(idx: np.ndarray) -> np.ndarray:
        return xb[idx].mean(axis=1) / db[idx].mean(axis=1) - xa[idx].mean(axis=1) / da[idx].mean(axis=1)

    point = ratio_of_means(xb, db) - ratio_of_means(xa, da)
    return _interval(point, bootstrap_samples(stat, xa.size, n, seed))
