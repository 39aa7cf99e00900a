"""Classical and guided colorization (tinct.guided): scribbles, Reinhard, Welsh, LUTs, guided upsampling."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.color import deltaE_ciede2000, rgb2lab

from tinct import guided
from tinct.color import lab_to_rgb8, luminance
from tinct.core import strips
from tinct.guided import (
    PSEUDO_COLOUR_NOTE,
    guided_upsample_ab,
    load_lut,
    lut_ab,
    reinhard_ab,
    reinhard_transfer,
    scribble_mask_from_image,
    scribbles_ab,
    welsh_ab,
)

L_ROUNDING = 0.5  # CIELAB L error of 8-bit rounding (as tests/test_pipeline.py)


def join(L: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """Lead's pipeline step: ab joined with the original L -> uint8 RGB."""
    return lab_to_rgb8(torch.from_numpy(L), torch.from_numpy(ab)).numpy()


def assert_keeps_l(L: np.ndarray, ab: np.ndarray) -> np.ndarray:
    rgb = join(L, ab)
    assert np.abs(luminance(rgb) - L).max() < L_ROUNDING
    return rgb


def two_region_scene(h: int, w: int):
    """A gray disk (code 200) on a darker background (code 70), the true colours and scribbles."""
    yy, xx = np.mgrid[0:h, 0:w]
    disk = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (0.3 * h) ** 2
    gray = np.where(disk, 200, 70).astype(np.uint8)
    L = luminance(gray)
    ab = np.empty((2, h, w), np.float32)
    ab[0] = np.where(disk, -25.0, 35.0)
    ab[1] = np.where(disk, 45.0, -40.0)
    truth = join(L, ab)
    scrib = np.repeat(gray[..., None], 3, axis=2)
    cy, cx = h // 2, w // 2
    marks = np.zeros((h, w), bool)
    marks[cy - 2 : cy + 1, cx - h // 8 : cx + h // 8] = True  # one stroke inside the disk
    marks[h // 10 : h // 10 + 2, w // 12 : w - w // 12] = True  # one across the background
    scrib[marks] = truth[marks]
    return gray, L, disk, truth, scrib


def interiors(disk: np.ndarray, margin: int) -> np.ndarray:
    inside = ndimage.binary_erosion(disk, iterations=margin)
    outside = ndimage.binary_erosion(~disk, iterations=margin, border_value=1)
    return inside | outside


@pytest.mark.parametrize("shape,max_solve", [((64, 96), guided.SOLVE_PIXELS), ((150, 200), 3000)])
def test_scribbles_recover_region_colours(shape, max_solve):
    # direct solve, and coarse-to-fine (solve at 3000 px, guided upsampling to 30000)
    gray, L, disk, truth, scrib = two_region_scene(*shape)
    mask = scribble_mask_from_image(scrib, gray)
    ab = scribbles_ab(L, scrib, mask, max_solve_pixels=max_solve)
    assert ab.shape == (2, *shape) and ab.dtype == np.float32
    rgb = assert_keeps_l(L, ab)
    de = deltaE_ciede2000(rgb2lab(rgb), rgb2lab(truth))
    keep = interiors(disk, 3)
    assert de[keep].max() < 2.0
    # marked pixels keep their colour exactly
    np.testing.assert_allclose(ab[:, mask], guided._lab(scrib[mask])[1], atol=1e-4)


def test_scribble_masks():
    gray, L, disk, truth, scrib = two_region_scene(40, 60)
    by_gray = scribble_mask_from_image(scrib, gray)
    assert by_gray.sum() > 0 and not by_gray[disk & ~by_gray].any()
    np.testing.assert_array_equal(scribble_mask_from_image(scrib), by_gray)  # coloured marks: chroma test agrees
    rgba = np.dstack([scrib, np.where(by_gray, 255, 0).astype(np.uint8)])
    np.testing.assert_array_equal(scribble_mask_from_image(rgba), by_gray)
    # a lossy re-save (+-1 code) is not a mark
    jitter = np.random.default_rng(0).integers(-1, 2, scrib.shape)
    noisy = np.clip(np.repeat(gray[..., None], 3, 2).astype(int) + jitter, 0, 255).astype(np.uint8)
    assert not scribble_mask_from_image(noisy, gray).any()
    # same default with RGBA input to scribbles_ab
    np.testing.assert_allclose(scribbles_ab(L, rgba), scribbles_ab(L, scrib, by_gray), atol=1e-4)


@pytest.mark.parametrize("shape", [(1, 1), (1, 50), (37, 3), (64, 65)])
def test_nested_dissection_is_a_permutation(shape):
    order = guided._nested_dissection(*shape)
    np.testing.assert_array_equal(np.sort(order), np.arange(shape[0] * shape[1]))


def test_scribbles_one_row_interpolates_linearly():
    # on a flat 1-D image Levin's weights are 1/2 each side: colour between two marks is linear
    L = np.full((1, 41), 60.0, np.float32)
    scrib = np.full((1, 41, 3), 128, np.uint8)
    scrib[0, 0], scrib[0, 40] = (200, 40, 40), (40, 40, 200)
    ab = scribbles_ab(L, scrib)
    want = np.linspace(ab[:, 0, 0], ab[:, 0, 40], 41).T
    np.testing.assert_allclose(ab[:, 0], want, atol=0.01)


def test_scribbles_errors():
    L = np.full((10, 12), 50.0, np.float32)
    blank = np.full((10, 12, 3), 119, np.uint8)
    with pytest.raises(ValueError, match="no scribbled"):
        scribbles_ab(L, blank)
    with pytest.raises(ValueError, match="scribbles are"):
        scribbles_ab(L, blank[:5])


def colourful(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    """A smooth, colourful uint8 RGB image whose colour correlates with lightness."""
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random((h, w, 3)), (4, 4, 0))
    x = (x - x.min()) / (x.max() - x.min())
    x[..., 0] = 0.7 * x[..., 0] + 0.3 * np.linspace(0, 1, w)[None]
    return (255 * x).astype(np.uint8)


def test_reinhard_gray_target_matches_reference_statistics():
    ref = colourful()
    lab_ref = rgb2lab(ref)
    L = luminance(colourful(80, 60, seed=1)[..., 1])  # an unrelated gray target
    ab = reinhard_ab(L, ref)
    for c in range(2):
        assert abs(ab[c].mean() - lab_ref[..., c + 1].mean()) < 0.1  # Lab units
        assert ab[c].std() == pytest.approx(lab_ref[..., c + 1].std(), rel=0.01)
    assert_keeps_l(L, ab)
    flat = reinhard_ab(np.full((8, 8), 40.0, np.float32), ref)  # constant input: the mean colour
    np.testing.assert_allclose(flat[:, 0, 0], lab_ref[..., 1:].reshape(-1, 2).mean(0), atol=0.1)


def test_reinhard_transfer_colour_source():
    src, ref = colourful(40, 50, seed=2), colourful(seed=3)
    lab_ref = rgb2lab(ref)[..., 1:].reshape(-1, 2)
    ab = reinhard_transfer(src, ref, space="lab")
    np.testing.assert_allclose(ab.reshape(2, -1).mean(1), lab_ref.mean(0), atol=0.1)
    np.testing.assert_allclose(ab.reshape(2, -1).std(1), lab_ref.std(0), rtol=0.01)
    # l-alpha-beta matches alpha, beta exactly, so a, b only approximately: the mean colour moves
    # most of the way to the reference's
    ab2 = reinhard_transfer(src, ref, space="lalphabeta")
    before = np.linalg.norm(rgb2lab(src)[..., 1:].reshape(-1, 2).mean(0) - lab_ref.mean(0))
    after = np.linalg.norm(ab2.reshape(2, -1).mean(1) - lab_ref.mean(0))
    assert after < 0.35 * before
    with pytest.raises(ValueError, match="space"):
        reinhard_transfer(src, ref, space="hsv")


def test_welsh_two_regions():
    h, w = 60, 80
    L_ref = np.where(np.arange(w)[None] < w // 2, 35.0, 75.0).repeat(h, 0).astype(np.float32)
    ab_ref = np.stack([np.where(L_ref < 50, 40.0, -10.0), np.where(L_ref < 50, 30.0, -40.0)]).astype(np.float32)
    ref = join(L_ref, ab_ref)
    want_dark, want_light = rgb2lab(ref)[h // 2, 5, 1:], rgb2lab(ref)[h // 2, -5, 1:]
    # target: same two-region structure, regions moved (top/bottom) and levels changed
    L = np.where(np.arange(50)[:, None] < 25, 30.0, 80.0).repeat(70, 1).astype(np.float32)
    ab = welsh_ab(L, ref)
    np.testing.assert_allclose(ab[:, 3:22, 3:-3].reshape(2, -1).T, np.broadcast_to(want_dark, (19 * 64, 2)), atol=1.0)
    np.testing.assert_allclose(ab[:, 28:-3, 3:-3].reshape(2, -1).T, np.broadcast_to(want_light, (19 * 64, 2)), atol=1.0)
    assert_keeps_l(L, ab)


def test_welsh_strips_match_whole(monkeypatch):
    ref, L = colourful(seed=4), luminance(colourful(33, 41, seed=5))
    whole = welsh_ab(L, ref, samples=50)
    monkeypatch.setattr(strips, "STRIP_PIXELS", 41 * 3)  # 3-row strips
    np.testing.assert_allclose(welsh_ab(L, ref, samples=50), whole, atol=1e-3)  # same matches


def test_guided_upsample_keeps_edges_sharp(monkeypatch):
    H, W, s = 64, 96, 8
    L = np.full((H, W), 30.0, np.float32)
    L[:, 45:] = 70.0  # sharp edge, not on the low-res grid
    a = np.where(L > 50, 40.0, -40.0).astype(np.float32)
    L_small = L.reshape(H // s, s, W // s, s).mean((1, 3))
    ab_small = np.stack([a, -a]).reshape(2, H // s, s, W // s, s).mean((2, 4))
    up = guided_upsample_ab(L, L_small, ab_small, radius=1, eps=4.0)
    plain = guided_upsample_ab(L, L_small, ab_small, radius=1, eps=1e9)  # eps -> inf: plain bilinear
    err_g, err_p = np.abs(up[0] - a), np.abs(plain[0] - a)
    far = np.abs(np.arange(W) - 44.5)[None].repeat(H, 0) > 2.5  # more than 2 px from the edge
    assert err_g[far].max() < 2.0
    assert err_p[far].max() > 20.0  # bilinear bleeds several pixels
    np.testing.assert_allclose(up[1], -up[0], atol=1e-4)
    # strip-wise processing gives the same result
    monkeypatch.setattr(strips, "STRIP_PIXELS", W * 5)
    np.testing.assert_allclose(guided_upsample_ab(L, L_small, ab_small, radius=1, eps=4.0), up, atol=1e-5)


def test_guided_upsample_flat_is_bilinear_and_identity_size():
    rng = np.random.default_rng(0)
    ab_small = rng.normal(0, 20, (2, 6, 8)).astype(np.float32)
    L = np.full((24, 32), 50.0, np.float32)
    up = guided_upsample_ab(L, np.full((6, 8), 50.0), ab_small, radius=1)
    # flat guide: A = 0 and B = box(box(ab)), so the result is the bilinear upsampling (as
    # F.interpolate, align_corners=False) of the twice 3 x 3 box-smoothed ab
    smooth = ndimage.uniform_filter(
        ndimage.uniform_filter(ab_small, (1, 3, 3), mode="nearest"), (1, 3, 3), mode="nearest"
    )
    want = torch.nn.functional.interpolate(torch.from_numpy(smooth)[None], size=(24, 32), mode="bilinear")[0]
    np.testing.assert_allclose(up, want.numpy(), atol=1e-4)
    same = guided_upsample_ab(L[:6, :8], np.full((6, 8), 50.0), ab_small, radius=0)
    np.testing.assert_allclose(same, ab_small, atol=1e-4)
    with pytest.raises(ValueError):
        guided_upsample_ab(L, np.zeros((5, 8)), ab_small)


VIRIDIS_LEVELS = [round(255 * k / 9) for k in range(10)]
VIRIDIS_HEX = "440154 482878 3e4a89 31688e 26828e 1f9e89 35b779 6dcd59 b4de2c fde725".split()


def hex_ab(hexes: list[str]) -> np.ndarray:
    rgb = np.array([[int(h[i : i + 2], 16) for i in (0, 2, 4)] for h in hexes], np.uint8)
    return rgb2lab(rgb[None])[0, :, 1:]


def test_builtin_lut_maps_gray_levels_to_exact_colours():
    gray = np.array([VIRIDIS_LEVELS], np.uint8)
    ab = lut_ab(luminance(gray), "viridis")
    np.testing.assert_allclose(ab[:, 0].T, hex_ab(VIRIDIS_HEX), atol=0.02)
    for name in guided.BUILTIN_LUTS:
        g = np.arange(256, dtype=np.uint8).reshape(16, 16)
        assert_keeps_l(luminance(g), lut_ab(luminance(g), name))
    assert "pseudo-colour" in PSEUDO_COLOUR_NOTE.lower()
    assert load_lut("CoolWarm").name == "cool-warm"


def test_user_luts_csv_and_json(tmp_path):
    csv_file = tmp_path / "map.csv"
    csv_file.write_text("level,colour\n# comment\n0,#ff0000\n\n255,#00ff00\n128, 0, 0, 255\n")
    gray = np.array([[0, 128, 255, 64]], np.uint8)
    ab = lut_ab(luminance(gray), csv_file)
    np.testing.assert_allclose(ab[:, 0, :3].T, hex_ab(["ff0000", "0000ff", "00ff00"]), atol=0.02)
    mid = rgb2lab(np.array([[[0.5, 0.0, 0.5]]]))  # gray 64: halfway red -> blue, linear in sRGB
    np.testing.assert_allclose(ab[:, 0, 3], mid[0, 0, 1:], atol=0.05)

    js = tmp_path / "map.json"
    js.write_text(json.dumps({"0": "#ff0000", "128": [0, 0, 255], "255": "00ff00"}))
    np.testing.assert_allclose(lut_ab(luminance(gray), js), ab, atol=1e-5)
    js2 = tmp_path / "by_l.json"
    js2.write_text(json.dumps({"key": "L", "points": [[20, "#804020"], [80, [32, 64, 128]]]}))
    lab = lut_ab(np.array([[20.0, 80.0, 10.0]], np.float32), js2)
    want = rgb2lab(np.array([[[128, 64, 32], [32, 64, 128]]], np.uint8))[0, :, 1:]
    np.testing.assert_allclose(lab[:, 0, :2].T, want, atol=0.02)
    np.testing.assert_allclose(lab[:, 0, 2], lab[:, 0, 0], atol=1e-6)  # held below the first point


@pytest.mark.parametrize(
    "name,text,match",
    [
        ("a.csv", "level,colour\nabc,#ff0000\n", "bad LUT file"),
        ("b.csv", "0,#ff0000\n300,#00ff00\n", "levels must lie"),
        ("c.csv", "0,#ff00\n", "rrggbb"),
        ("d.csv", "0,#ff0000\n0,#00ff00\n", "strictly increasing"),
        ("e.csv", "", "at least one"),
        ("f.csv", "0,1,2\n", "level,#rrggbb"),
        ("g.csv", "0,300,0,0\n", "8-bit"),
        ("h.json", "{not json", "bad LUT file"),
        ("i.json", json.dumps({"points": 5}), "expected"),
        ("j.json", json.dumps({"key": "Y", "points": {"0": "#000000"}}), "key must be"),
        ("k.txt", "0,#000000\n", "csv or .json"),
    ],
)
def test_bad_lut_files(tmp_path, name, text, match):
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_lut(p)


def test_unknown_lut_name():
    with pytest.raises(ValueError, match="viridis"):
        load_lut("no-such-map")
