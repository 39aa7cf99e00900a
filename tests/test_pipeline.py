"""The full-resolution pipeline: sizes, luminance preservation, edge-aware upsampling, strips."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tinct.color import luminance
from tinct.core import strips
from tinct.io import read_image
from tinct.pipeline import (
    colorize_pixels,
    guided_coefficients,
    join_full_resolution,
    predict_padded,
    upsample_strips,
    working_shape,
)

# 8-bit rounding of an sRGB triple moves CIELAB L by at most about 0.45 (worst case near black).
L_ROUNDING = 0.5


def constant_predictor(a: float, b: float, stride: int = 2):
    """A stand-in model: constant ab at 1/stride resolution."""

    def predict(l_norm: torch.Tensor) -> torch.Tensor:
        h, w = l_norm.shape[-2] // stride, l_norm.shape[-1] // stride
        return torch.tensor([a, b]).view(1, 2, 1, 1).expand(l_norm.shape[0], 2, h, w).clone()

    return predict


def test_working_shape_never_upscales():
    assert working_shape(3000, 4000, 256) == (256, 341)
    assert working_shape(100, 50, 256) == (100, 50)
    assert working_shape(4000, 3000, 256) == (341, 256)


def test_predict_padded_crops_back():
    seen = {}

    def predict(x):
        seen["shape"] = tuple(x.shape)
        return torch.zeros(1, 2, x.shape[-2] // 4, x.shape[-1] // 4)

    out = predict_padded(predict, torch.zeros(1, 1, 37, 50), 8)
    assert seen["shape"] == (1, 1, 40, 56)
    assert tuple(out.shape) == (1, 2, 9, 12)  # round(37/4), round(50/4)


def test_strip_upsampling_equals_whole_image_bilinear():
    coef = torch.randn(4, 7, 9)
    whole = F.interpolate(coef[None], size=(50, 61), mode="bilinear", align_corners=False)[0]
    parts = torch.cat([s for _, s in upsample_strips(coef, 50, 61, rows=13)], dim=1)
    assert torch.allclose(parts, whole, atol=1e-5)


def test_guided_upsampling_keeps_colour_edges_on_luminance_edges():
    # full-res L: sharp vertical edge at x = 45 (not on the low-res grid), ab follows it
    H, W, s = 64, 96, 8
    L = torch.full((H, W), 30.0)
    L[:, 45:] = 70.0
    L_small = F.interpolate(L[None, None], size=(H // s, W // s), mode="area")[0, 0]
    ab_small = torch.zeros(2, H // s, W // s)
    ab_small[0] = torch.where(L_small > 50, 40.0, -40.0)
    ab_small[0][L_small == 50] = 0.0
    guided = join_full_resolution(L, ab_small, L_small, radius=1, eps=4.0)
    plain = join_full_resolution(L, ab_small, None)
    from skimage.color import rgb2lab

    a_g = rgb2lab(guided)[..., 1][H // 2]
    a_p = rgb2lab(plain)[..., 1][H // 2]
    bleed_g = np.abs(a_g[30:45] - a_g[20]).max() + np.abs(a_g[45:60] - a_g[80]).max()
    bleed_p = np.abs(a_p[30:45] - a_p[20]).max() + np.abs(a_p[45:60] - a_p[80]).max()
    assert a_g[20] < -20 and a_g[80] > 20
    assert bleed_g < 0.5 * bleed_p


def test_guided_coefficients_reproduce_linear_relation():
    g = torch.linspace(0, 100, 40).repeat(30, 1)
    A, B = guided_coefficients(g, (0.5 * g - 10)[None], radius=2, eps=1e-3)
    assert torch.allclose(A * g + B, 0.5 * g - 10, atol=0.05)


@pytest.mark.parametrize("shape", [(48, 64), (48, 64, 3), (7, 5), (31, 257)])
def test_output_shape_and_luminance(shape, rng):
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    out = colorize_pixels(img, constant_predictor(25.0, -40.0), 8, 256)
    assert out.shape == (*shape[:2], 3) and out.dtype == np.uint8
    assert np.abs(luminance(out) - luminance(img)).max() < L_ROUNDING
    if min(shape[:2]) > 10:
        assert np.abs(out.astype(int)[..., 0] - out[..., 2]).mean() > 5  # it did add colour


def test_16bit_input_luminance(rng):
    img = rng.integers(0, 65536, (40, 50), dtype=np.uint16)
    out = colorize_pixels(img, constant_predictor(10.0, 20.0), 8, 256)
    assert np.abs(luminance(out) - luminance(img)).max() < L_ROUNDING


def test_large_image_in_strips_matches_small_strips(monkeypatch, rng):
    img = rng.integers(0, 256, (300, 200), dtype=np.uint8)
    pred = constant_predictor(30.0, 10.0)
    ref = colorize_pixels(img, pred, 8, 64)
    monkeypatch.setattr(strips, "STRIP_PIXELS", 200 * 7)  # 7-row strips
    assert np.array_equal(colorize_pixels(img, pred, 8, 64), ref)


def test_model_sees_only_the_working_size(rng):
    seen = []

    def predict(x):
        seen.append(tuple(x.shape))
        return torch.zeros(1, 2, x.shape[-2] // 2, x.shape[-1] // 2)

    colorize_pixels(rng.integers(0, 256, (900, 1200), dtype=np.uint8), predict, 8, 256)
    assert seen == [(1, 1, 256, 344)]  # 256 x 341, padded to a multiple of 8


def test_real_images_keep_their_luminance(session, smoke_images):
    for p in smoke_images[:8]:
        img = read_image(p)
        out = session.colorize_pixels(img.pixels)
        assert out.shape[:2] == img.pixels.shape[:2]
        assert np.abs(luminance(out) - luminance(img.pixels)).max() < L_ROUNDING
