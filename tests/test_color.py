"""Colour conversions against scikit-image, and the ab quantiser."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import color as skc

from tinct.color import ab_bins, lab_to_rgb, lab_to_rgb8, luminance, normalize_l, rgb_to_lab
from tinct.quantize import ABQuantizer, soft_ce

# Stated tolerances: L from 8/16-bit data within 1e-3 of scikit-image (float32 LUTs);
# 8-bit sRGB from Lab equal to round(255 * clip(skimage.lab2rgb)) but for float32 ties (<= 1 code).
L_TOL = 1e-3


def _t(lab: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(lab[..., 0]).float(), torch.from_numpy(lab[..., 1:]).permute(2, 0, 1).float()


def test_luminance_rgb8_matches_skimage(rng):
    rgb = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    assert np.abs(luminance(rgb) - skc.rgb2lab(rgb)[..., 0]).max() < L_TOL


def test_luminance_gray_8_and_16_bit_matches_skimage(rng):
    g8 = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    ref8 = skc.rgb2lab(np.dstack([g8] * 3))[..., 0]
    assert np.abs(luminance(g8) - ref8).max() < L_TOL
    g16 = rng.integers(0, 65536, (40, 50), dtype=np.uint16)
    ref16 = skc.rgb2lab(np.dstack([g16 / 65535.0] * 3))[..., 0]
    assert np.abs(luminance(g16) - ref16).max() < L_TOL
    assert luminance(np.array([[0, 255]], np.uint8))[0].tolist() == pytest.approx([0.0, 100.0], abs=1e-3)


def test_luminance_float_input(rng):
    f = rng.random((10, 12, 3))
    assert np.abs(luminance(f) - skc.rgb2lab(f)[..., 0]).max() < L_TOL


def test_luminance_rejects_bad_shape():
    with pytest.raises(ValueError, match="expected"):
        luminance(np.zeros((4, 4, 2), np.uint8))


@pytest.mark.parametrize("top_l", [100, 10])  # 10: dark, most values on CIELAB's linear segment
def test_lab_to_rgb8_clipping_mode_equals_skimage(rng, top_l):
    lab = rng.random((64, 64, 3)) * [top_l, 220, 220] - [0, 110, 110]
    with pytest.warns(UserWarning):  # scikit-image warns about its own clipping
        ref = np.round(np.clip(skc.lab2rgb(lab), 0, 1) * 255)
    out = lab_to_rgb8(*_t(lab), preserve_l=False).numpy()
    # float32 vs float64: values within float32 precision of a rounding boundary may differ by 1
    assert np.abs(out - ref).max() <= 1 and (out != ref).mean() < 1e-3


def test_lab_to_rgb8_in_gamut_round_trip_is_exact(rng):
    rgb = rng.integers(0, 256, (50, 60, 3), dtype=np.uint8)
    out = lab_to_rgb8(*_t(skc.rgb2lab(rgb))).numpy()
    assert np.array_equal(out, rgb)


def test_lab_to_rgb8_preserves_l_out_of_gamut(rng):
    lab = rng.random((64, 64, 3)) * [100, 220, 220] - [0, 110, 110]
    out = lab_to_rgb8(*_t(lab)).numpy()
    # Only 8-bit rounding remains: at most ~0.45 L units anywhere.
    assert np.abs(luminance(out) - lab[..., 0]).max() < 0.5
    clipped = lab_to_rgb8(*_t(lab), preserve_l=False).numpy()
    assert np.abs(luminance(clipped) - lab[..., 0]).max() > 5  # what clipping would have done


def test_kornia_batch_conversions_match_skimage(rng):
    rgb = rng.random((2, 3, 16, 16))
    lab = rgb_to_lab(torch.from_numpy(rgb)).numpy()
    ref = skc.rgb2lab(rgb.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    assert np.abs(lab - ref).max() < 1e-6
    back = lab_to_rgb(torch.from_numpy(lab)).numpy()
    assert np.abs(back - rgb).max() < 1e-6
    assert normalize_l(torch.tensor([0.0, 50.0, 100.0])).tolist() == [-1.0, 0.0, 1.0]


def test_ab_bins_cover_the_srgb_gamut():
    bins = ab_bins()
    assert bins.shape == (261, 2)
    assert np.all(bins % 10 == 0)
    assert [0, 0] in bins.tolist()
    # every colour of a random sRGB sample falls within half a grid cell of some bin
    rgb = np.random.default_rng(1).random((2000, 1, 3))
    ab = skc.rgb2lab(rgb)[:, 0, 1:]
    d = np.abs(ab[:, None, :] - bins[None]).max(-1).min(1)
    assert d.max() <= 5.0 + 1e-6


def test_soft_encoding_and_annealed_mean():
    q = ABQuantizer()
    ab = torch.tensor([[[[20.0]], [[-30.0]]]])  # one pixel, exactly a bin centre
    soft = q.encode_soft(ab)
    assert soft.shape == (1, q.q, 1, 1)
    assert float(soft.sum()) == pytest.approx(1.0, abs=1e-6)
    assert (soft > 0).sum() == 5
    idx = int(q.nearest(ab))
    assert q.centers[idx].tolist() == [20.0, -30.0]
    assert int(soft[0, :, 0, 0].argmax()) == idx
    logits = torch.full((1, q.q, 1, 1), -10.0)
    logits[0, idx] = 10.0
    assert q.annealed_mean(logits, 0.38)[0, :, 0, 0].tolist() == pytest.approx([20.0, -30.0], abs=1e-3)
    # the loss of a perfect prediction is the entropy of the target, lower than of a wrong one
    assert soft_ce(torch.log(soft + 1e-12), soft) < soft_ce(torch.zeros_like(soft), soft)


@pytest.mark.parametrize("alpha, chroma", [(0.0, 20.0), (0.5, (20.0 * 1300**0.5) ** 0.5), (1.0, 1300**0.5)])
def test_chroma_restore_keeps_the_mean_hue_and_moves_its_chroma_to_the_expected(alpha, chroma):
    """Half the mass on (20, -30), half on (20, 30): the mean (20, 0) has chroma 20, the expected
    chroma is |(20, 30)| = 36.06; alpha moves the mean's chroma geometrically between them."""
    q = ABQuantizer()
    idx = [int(q.nearest(torch.tensor([[[[20.0]], [[b]]]]))) for b in (-30.0, 30.0)]
    logits = torch.full((1, q.q, 1, 1), -30.0)
    logits[0, idx] = 10.0
    ab = q.annealed_mean(logits, 1.0, chroma_restore=alpha)[0, :, 0, 0]
    assert float(ab[1]) == pytest.approx(0.0, abs=1e-3)  # the hue of the mean: along +a
    assert float(ab[0]) == pytest.approx(chroma, rel=1e-4)
    sure = torch.full((1, q.q, 1, 1), -30.0)
    sure[0, idx[0]] = 10.0  # one bin: nothing to restore
    restored = q.annealed_mean(sure, 1.0, chroma_restore=alpha)[0, :, 0, 0]
    assert restored.tolist() == pytest.approx([20.0, -30.0], abs=1e-3)


def test_rebalancing_weights_favour_rare_colours():
    prior = torch.tensor([0.7, 0.2, 0.1])
    w = ABQuantizer.rebalance_weights(prior, lam=0.5)
    assert float((prior * w).sum()) == pytest.approx(1.0)
    assert w[2] > w[1] > w[0]
