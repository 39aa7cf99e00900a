"""tinct.metrics against hand-computed values and published reference data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage import color as skc
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from tinct import metrics
from tinct.core import strips

# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data, and mathematical observations", Table 1: L1 a1 b1 L2 a2 b2 dE00 (all 34 pairs).
SHARMA_2005 = """
50.0000 2.6772 -79.7751 50.0000 0.0000 -82.7485 2.0425
50.0000 3.1571 -77.2803 50.0000 0.0000 -82.7485 2.8615
50.0000 2.8361 -74.0200 50.0000 0.0000 -82.7485 3.4412
50.0000 -1.3802 -84.2814 50.0000 0.0000 -82.7485 1.0000
50.0000 -1.1848 -84.8006 50.0000 0.0000 -82.7485 1.0000
50.0000 -0.9009 -85.5211 50.0000 0.0000 -82.7485 1.0000
50.0000 0.0000 0.0000 50.0000 -1.0000 2.0000 2.3669
50.0000 -1.0000 2.0000 50.0000 0.0000 0.0000 2.3669
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0009 7.1792
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0010 7.1792
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0011 7.2195
50.0000 2.4900 -0.0010 50.0000 -2.4900 0.0012 7.2195
50.0000 -0.0010 2.4900 50.0000 0.0009 -2.4900 4.8045
50.0000 -0.0010 2.4900 50.0000 0.0010 -2.4900 4.8045
50.0000 -0.0010 2.4900 50.0000 0.0011 -2.4900 4.7461
50.0000 2.5000 0.0000 50.0000 0.0000 -2.5000 4.3065
50.0000 2.5000 0.0000 73.0000 25.0000 -18.0000 27.1492
50.0000 2.5000 0.0000 61.0000 -5.0000 29.0000 22.8977
50.0000 2.5000 0.0000 56.0000 -27.0000 -3.0000 31.9030
50.0000 2.5000 0.0000 58.0000 24.0000 15.0000 19.4535
50.0000 2.5000 0.0000 50.0000 3.1736 0.5854 1.0000
50.0000 2.5000 0.0000 50.0000 3.2972 0.0000 1.0000
50.0000 2.5000 0.0000 50.0000 1.8634 0.5757 1.0000
50.0000 2.5000 0.0000 50.0000 3.2592 0.3350 1.0000
60.2574 -34.0099 36.2677 60.4626 -34.1751 39.4387 1.2644
63.0109 -31.0961 -5.8663 62.8187 -29.7946 -4.0864 1.2630
61.2901 3.7196 -5.3901 61.4292 2.2480 -4.9620 1.8731
35.0831 -44.1164 3.7933 35.0232 -40.0716 1.5901 1.8645
22.7233 20.0904 -46.6940 23.0331 14.9730 -42.5619 2.0373
36.4612 47.8580 18.3852 36.2715 50.5065 21.2231 1.4146
90.8027 -2.0831 1.4410 91.1528 -1.6435 0.0447 1.4441
90.9257 -0.5406 -0.9208 88.6381 -0.8985 -0.7239 1.5381
6.7747 -0.2908 -2.4247 5.8714 -0.0985 -2.2286 0.6377
2.0776 0.0795 -1.1350 0.9033 -0.0636 -0.5514 0.9082
"""


def _pair(rng: np.random.Generator, shape=(40, 56, 3), spread: int = 30) -> tuple[np.ndarray, np.ndarray]:
    truth = rng.integers(0, 256, shape, dtype=np.uint8)
    noise = rng.integers(-spread, spread + 1, shape)
    return np.clip(truth.astype(int) + noise, 0, 255).astype(np.uint8), truth


# ----------------------------------------------------------------------------- PSNR / SSIM / MSE


def test_psnr_of_a_constant_offset():
    truth = np.random.default_rng(1).integers(0, 250, (17, 23, 3), dtype=np.uint8)
    assert metrics.psnr(truth + np.uint8(5), truth) == pytest.approx(20 * math.log10(255 / 5), abs=1e-12)
    assert metrics.psnr(truth + np.uint8(5), truth) == pytest.approx(34.1514, abs=1e-4)


def test_psnr_matches_skimage_and_caps_identical_images(rng):
    pred, truth = _pair(rng)
    assert metrics.psnr(pred, truth) == pytest.approx(peak_signal_noise_ratio(truth, pred, data_range=255), abs=1e-10)
    assert metrics.psnr(truth, truth) == metrics.PSNR_MAX_DB == 100.0


def test_mse_by_hand():
    truth = np.zeros((2, 2, 3), np.uint8)
    pred = truth.copy()
    pred[0, 0, 0] = 255  # one of 12 values off by 1.0 on the [0, 1] scale
    assert metrics.mse(pred, truth) == pytest.approx(1 / 12, abs=1e-15)
    assert metrics.mse(truth + np.uint8(51), truth) == pytest.approx(0.04, abs=1e-15)  # (51 / 255)^2
    assert metrics.mse(truth, truth) == 0.0


def test_ssim_of_identical_images_is_one(rng):
    img = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    assert metrics.ssim(img, img) == pytest.approx(1.0, abs=1e-12)


def test_ssim_matches_skimage_and_drops_with_noise(rng):
    pred, truth = _pair(rng)
    ref = structural_similarity(pred, truth, channel_axis=-1, data_range=255)
    assert metrics.ssim(pred, truth) == pytest.approx(ref, abs=1e-12)
    assert 0.5 < ref < 0.99


def test_ssim_rejects_images_below_the_window():
    img = np.zeros((6, 40, 3), np.uint8)
    with pytest.raises(ValueError, match="at least 7x7"):
        metrics.ssim(img, img)


def test_shape_and_dtype_are_checked():
    a = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="shape mismatch"):
        metrics.psnr(a, np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        metrics.mse(a.astype(np.float32), a)


# ----------------------------------------------------------------------------- CIEDE2000


def test_ciede2000_sharma_wu_dalal_pairs():
    rows = np.array([line.split() for line in SHARMA_2005.strip().splitlines()], dtype=np.float64)
    assert rows.shape == (34, 7)
    lab1, lab2, expected = rows[:, :3], rows[:, 3:6], rows[:, 6]
    np.testing.assert_allclose(metrics.ciede2000_lab(lab1, lab2), expected, atol=5e-5, rtol=0)
    np.testing.assert_allclose(metrics.ciede2000_lab(lab2, lab1), expected, atol=5e-5, rtol=0)  # symmetric


def test_ciede2000_of_images(rng):
    pred, truth = _pair(rng)
    assert metrics.ciede2000(truth, truth) == 0.0
    ref = skc.deltaE_ciede2000(skc.rgb2lab(pred), skc.rgb2lab(truth), channel_axis=-1).mean()
    assert metrics.ciede2000(pred, truth) == pytest.approx(ref, rel=1e-12)
    # pure red vs pure blue: a large, known difference (53.2/80.1/67.2 vs 32.3/79.2/-107.9)
    red, blue = np.zeros((1, 1, 3), np.uint8), np.zeros((1, 1, 3), np.uint8)
    red[..., 0], blue[..., 2] = 255, 255
    assert metrics.ciede2000(red, blue) == pytest.approx(52.88, abs=0.01)


# ----------------------------------------------------------------------------- colourfulness


def test_colourfulness_of_gray_images_is_zero(rng):
    assert metrics.colourfulness(np.full((9, 11, 3), 128, np.uint8)) == 0.0
    gray = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    assert metrics.colourfulness(np.dstack([gray] * 3)) == 0.0
    assert metrics.colourfulness(gray) == 0.0  # H x W is read as gray


def test_colourfulness_by_hand():
    # flat colour: no spread, so only the mean term: rg = 200 - 30 = 170, yb = 115 - 40 = 75
    flat = np.full((4, 4, 3), (200, 30, 40), np.uint8)
    assert metrics.colourfulness(flat) == pytest.approx(0.3 * math.hypot(170, 75), abs=1e-9)
    # half pure red, half pure blue. red: rg = 255, yb = 127.5; blue: rg = 0, yb = -255.
    # mean_rg = 127.5, std_rg = 127.5; mean_yb = -63.75, std_yb = 191.25
    img = np.zeros((2, 4, 3), np.uint8)
    img[0, :, 0] = 255
    img[1, :, 2] = 255
    expected = math.sqrt(127.5**2 + 191.25**2) + 0.3 * math.sqrt(127.5**2 + 63.75**2)
    assert metrics.colourfulness(img) == pytest.approx(expected, abs=1e-9)
    assert metrics.colourfulness(img) == pytest.approx(272.6187, abs=1e-4)


def test_colourfulness_ratio_per_image_and_per_set():
    flat = np.full((4, 4, 3), (200, 30, 40), np.uint8)
    half = np.full((4, 4, 3), (115, 30, 35), np.uint8)  # rg = 85, yb = 37.5: exactly half of flat
    assert metrics.colourfulness_ratio(half, flat) == pytest.approx(0.5, abs=1e-12)
    assert math.isnan(metrics.colourfulness_ratio(flat, np.full((4, 4, 3), 90, np.uint8)))
    # ratio of means, not mean of ratios: a near-gray truth does not dominate
    outputs, truths = np.array([10.0, 2.0]), np.array([20.0, 0.5])
    assert metrics.ratio_of_means(outputs, truths) == pytest.approx(12 / 20.5)
    assert np.mean(outputs / truths) == pytest.approx(2.25)
    assert math.isnan(metrics.ratio_of_means(outputs, np.zeros(2)))


# ----------------------------------------------------------------------------- luminance


def test_luminance_error_by_hand():
    white = np.full((2, 2, 3), 255, np.uint8)
    pred = white.copy()
    pred[0] = 0  # half the pixels black: L differs by 100 there
    assert metrics.luminance_error(white, white) == (0.0, 0.0)
    assert metrics.luminance_error(pred, white) == pytest.approx((100.0, 50.0), abs=1e-6)
    assert metrics.luminance_error(pred, white[..., 0]) == pytest.approx((100.0, 50.0), abs=1e-6)  # gray reference


def test_gray_baseline_keeps_the_truths_lightness(rng):
    truth = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    gray = metrics.gray_baseline(truth)
    assert gray.shape == (20, 30) and gray.dtype == np.uint8
    # the gray input's L is the truth's L up to 8-bit rounding (at most half a code: < 0.5 L units)
    dl = np.abs(skc.rgb2lab(np.dstack([gray] * 3))[..., 0] - skc.rgb2lab(truth)[..., 0])
    assert dl.max() < 0.5
    # a neutral gray truth is its own gray baseline; black and white map to 0 and 255
    g = np.arange(256, dtype=np.uint8).reshape(16, 16)
    np.testing.assert_array_equal(metrics.gray_baseline(np.dstack([g] * 3)), g)


def test_block_wise_results_equal_whole_image_ones(rng, monkeypatch):
    pred, truth = _pair(rng, (45, 37, 3))
    whole = {
        "psnr": metrics.psnr(pred, truth),
        "ssim": metrics.ssim(pred, truth),
        "ciede2000": metrics.ciede2000(pred, truth),
        "colourfulness": metrics.colourfulness(pred),
        "luminance_error": metrics.luminance_error(pred, truth),
        "gray_baseline": metrics.gray_baseline(truth),
    }
    monkeypatch.setattr(strips, "STRIP_PIXELS", 100)  # 2 rows per block
    assert len(list(strips.row_strips(45, 37))) == 23
    assert metrics.psnr(pred, truth) == whole["psnr"]
    assert metrics.ssim(pred, truth) == pytest.approx(whole["ssim"], abs=1e-12)
    assert metrics.ciede2000(pred, truth) == pytest.approx(whole["ciede2000"], rel=1e-12)
    assert metrics.colourfulness(pred) == pytest.approx(whole["colourfulness"], rel=1e-12)
    assert metrics.luminance_error(pred, truth) == pytest.approx(whole["luminance_error"], rel=1e-12)
    np.testing.assert_array_equal(metrics.gray_baseline(truth), whole["gray_baseline"])


# ----------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_contains_the_mean_and_narrows_with_n():
    rng = np.random.default_rng(3)
    small, large = rng.normal(10, 2, 20), rng.normal(10, 2, 2000)
    m, lo, hi = metrics.bootstrap_ci(small)
    assert m == pytest.approx(small.mean()) and lo < m < hi
    m2, lo2, hi2 = metrics.bootstrap_ci(large)
    assert lo2 < m2 < hi2 and abs(m2 - 10) < 0.2
    assert (hi2 - lo2) < (hi - lo) / 5  # width ~ 1/sqrt(n): 10x narrower for 100x the data
    # 95% CI of a mean of n draws with sd 2 is about +-1.96 * 2 / sqrt(n)
    assert hi2 - lo2 == pytest.approx(2 * 1.96 * 2 / math.sqrt(2000), rel=0.15)


def test_bootstrap_ci_edge_cases():
    assert metrics.bootstrap_ci(np.full(10, 3.5)) == (3.5, 3.5, 3.5)
    assert metrics.bootstrap_ci(np.array([1.0, np.nan, 3.0]))[0] == 2.0  # NaN left out
    assert all(math.isnan(v) for v in metrics.bootstrap_ci(np.array([])))
    values = np.random.default_rng(0).random(50)
    assert metrics.bootstrap_ci(values, seed=7) == metrics.bootstrap_ci(values, seed=7)
    assert metrics.bootstrap_ci(values, seed=7) != metrics.bootstrap_ci(values, seed=8)


def test_bootstrap_ratio_ci():
    rng = np.random.default_rng(4)
    den = rng.uniform(10, 20, 200)
    num = 0.5 * den + rng.normal(0, 1, 200)
    r, lo, hi = metrics.bootstrap_ratio_ci(num, den)
    assert r == pytest.approx(num.mean() / den.mean())
    assert lo < r < hi and lo < 0.5 < hi


def test_paired_bootstrap_diff_ci():
    rng = np.random.default_rng(5)
    a = rng.normal(20, 5, 100)  # large spread between images ...
    b = a + 0.3 + rng.normal(0, 0.1, 100)  # ... but b is better on every image
    diff, lo, hi = metrics.paired_bootstrap_diff_ci(a, b)
    assert diff == pytest.approx((b - a).mean()) and 0.2 < lo < diff < hi < 0.4
    # unpaired, the two CIs overlap: pairing is what detects the difference
    _, _, a_hi = metrics.bootstrap_ci(a)
    _, b_lo, _ = metrics.bootstrap_ci(b)
    assert b_lo < a_hi
    # no difference: the CI contains 0
    c = a + rng.normal(0, 0.1, 100)
    _, lo, hi = metrics.paired_bootstrap_diff_ci(a, c)
    assert lo < 0 < hi
    # ratio of means on paired data
    den = np.full(100, 10.0)
    diff, lo, hi = metrics.paired_bootstrap_diff_ci(np.full(100, 5.0), np.full(100, 8.0), den, den)
    assert (diff, lo, hi) == pytest.approx((0.3, 0.3, 0.3))
    with pytest.raises(ValueError):
        metrics.paired_bootstrap_diff_ci(a, b, den, None)
