"""The full-resolution half in numpy on every core (tinct.core.fullres, color.lab_to_rgb8_array)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tinct.core import color, filters, fullres
from tinct.core.color import encode_srgb8_array


def _srgb_codes64(v: np.ndarray) -> np.ndarray:
    v = np.clip(v.astype(np.float64), 0, 1)
    s = np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)
    return np.round(255 * s).astype(int)


def test_encoder_matches_float64_rounding():
    v = np.concatenate([np.linspace(-0.1, 1.1, 1_000_003), np.geomspace(1e-7, 1e-2, 100_000)]).astype(np.float32)
    diff = encode_srgb8_array(v).astype(int) - _srgb_codes64(v)
    assert np.abs(diff).max() <= 1
    assert np.count_nonzero(diff) <= 3  # only values within float32 rounding of a code boundary
    assert encode_srgb8_array(np.array([-1.0, 0.0, 1.0, 2.0], np.float32)).tolist() == [0, 0, 255, 255]


def _case(h: int = 301, w: int = 203):
    rng = np.random.default_rng(3)
    L = np.clip(rng.normal(55, 25, (h, w)), 0, 100).astype(np.float32)
    ab = (rng.standard_normal((2, 12, 9)) * 25).astype(np.float32)
    Lg = np.clip(rng.normal(55, 20, (12, 9)), 0, 100).astype(np.float32)
    return L, ab, Lg


def test_result_does_not_depend_on_threads_or_strip_size(monkeypatch):
    L, ab, Lg = _case()
    one = fullres.join_full_resolution(L, ab, Lg, threads=1)
    two = fullres.join_full_resolution(L, ab, Lg, threads=2)
    monkeypatch.setattr(fullres, "TASK_PIXELS", 999)
    small = fullres.join_full_resolution(L, ab, Lg, threads=3)
    assert np.array_equal(one, two) and np.array_equal(one, small)
    assert one.shape == (301, 203, 3) and one.dtype == np.uint8


def test_upsampler_is_bilinear_align_corners_false():
    coef = np.random.default_rng(0).standard_normal((3, 7, 11)).astype(np.float32)
    up = fullres.Upsampler(coef, 40, 53)
    ours = np.concatenate([up.rows(slice(0, 17)), up.rows(slice(17, 40))], axis=1)
    ref = F.interpolate(torch.from_numpy(coef)[None], size=(40, 53), mode="bilinear", align_corners=False)[0]
    assert np.abs(ours - ref.numpy()).max() < 1e-5


def test_guided_coefficients_match_the_torch_filter():
    _, ab, Lg = _case()
    A, B = fullres.guided_coefficients(Lg, ab, 2, 16.0)
    At, Bt = filters.guided_coefficients(torch.from_numpy(Lg), torch.from_numpy(ab), 2, 16.0)
    assert np.abs(A - At.numpy()).max() < 1e-4 and np.abs(B - Bt.numpy()).max() < 1e-2


def test_errors_in_a_strip_propagate():
    L, ab, Lg = _case()
    out = np.empty((10, 10, 3), np.uint8)  # the wrong size: every strip's write fails
    with pytest.raises(ValueError, match="broadcast"):
        fullres.join_full_resolution(L, ab, Lg, out=out, threads=2)


def test_a_forked_child_gets_its_own_pool():
    import multiprocessing as mp

    L, ab, Lg = _case()
    parent = fullres.join_full_resolution(L, ab, Lg, threads=2)  # the parent's pool exists now
    with mp.get_context("fork").Pool(1) as pool:
        child = pool.apply_async(fullres.join_full_resolution, (L, ab, Lg), {"threads": 2}).get(timeout=60)
    assert np.array_equal(parent, child)


def _noisy_lab(shape: tuple[int, int], seed: int = 5):
    """A noisy scan's colours: L anywhere in 0..100 with strong chroma, many outside sRGB."""
    rng = np.random.default_rng(seed)
    L = rng.uniform(0, 100, shape).astype(np.float32)
    return L, *(rng.normal(0, 60, (2, *shape)).astype(np.float32))


def test_many_out_of_gamut_colours_are_fitted_in_their_strip_not_held_for_the_image():
    """Deferring every out-of-gamut colour of a noisy 12 MP scan to one pass at the end held about a
    gigabyte; a strip with many fits its own at once (the same codes), only a few are handed on."""
    L, a, b = _noisy_lab((64, 300))
    handed: list[int] = []
    out = color.lab_to_rgb8_array(L, a, b, defer_gamut=lambda where, *lab: handed.append(where[0].size))
    outside = np.count_nonzero(color.lab_to_rgb8_array(L, a, b, preserve_l=False) != out) // 3
    assert outside > color.DEFER_GAMUT_MAX and not handed  # fitted here
    assert np.array_equal(out, color.lab_to_rgb8_array(L, a, b))
    corner = (slice(0, 2), slice(0, 40))
    few = color.lab_to_rgb8_array(L[corner], a[corner], b[corner], defer_gamut=lambda w, *_: handed.append(w[0].size))
    assert 0 < handed[0] < color.DEFER_GAMUT_MAX and few.shape == (2, 40, 3)  # handed on, codes left clipped


def test_fitting_in_strips_or_at_the_end_gives_the_same_image(monkeypatch):
    """join_ab on a noisy image: strips of 96 pixels (every strip defers its few) against strips of
    2^18 (every strip fits its many at once), one and two threads: equal to the bit."""
    L, a, b = _noisy_lab((90, 211), seed=6)
    ab = np.stack([a, b])
    whole = fullres.join_ab(L, ab, threads=2)
    monkeypatch.setattr(fullres, "TASK_PIXELS", 96)
    assert np.array_equal(whole, fullres.join_ab(L, ab, threads=1))
    assert np.array_equal(whole, fullres.join_ab(L, ab, threads=2))
    assert np.abs(color.luminance(whole) - L).max() < 0.5  # chroma reduced, L kept
