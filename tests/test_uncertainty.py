"""Uncertainty maps (tinct.uncertainty, ``--uncertainty``): the normalised entropy of the colour distribution.

Tiny classification models with known logits give known maps: uniform logits -> 1 everywhere,
one-hot logits -> 0, half and half -> 1 on one side and 0 on the other (the map is upsampled to
the input's size in the right place). Regression models have no distribution and are refused.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from typer.testing import CliRunner

import tinct.api
from tinct.api import Guidance, Session
from tinct.batch import is_output_name
from tinct.cli import app
from tinct.models.base import ClassificationColorizer, NoColourDistributionError
from tinct.registry import ModelSpec, build_architecture
from tinct.uncertainty import encode_uncertainty

from .conftest import gradient_rgb


class FixedLogits(ClassificationColorizer):
    """Logits at half resolution that do not depend on the input: uniform, one-hot, or one-hot on
    the right half only (``split``)."""

    multiple = 4

    def __init__(self, hot: int | None = None, split: bool = False):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))  # a real module with weights, as loaded models have
        self.hot = hot
        self.split = split

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        z = torch.zeros(b, self.num_bins, h // 2, w // 2) * self.scale
        if self.hot is not None:
            cols = slice(w // 4, None) if self.split else slice(None)
            z[:, self.hot, :, cols] = 1e4
        return z


def session_of(model: nn.Module, working_size: int = 64) -> Session:
    return Session(ModelSpec("tiny", "lite", "a tiny test model"), model.eval(), torch.device("cpu"), working_size)


def gray(h: int = 37, w: int = 53) -> np.ndarray:
    return (np.random.default_rng(0).random((h, w)) * 255).astype(np.uint8)


def test_uniform_logits_give_one_everywhere():
    s = session_of(FixedLogits())
    rgb, u = s.colorize_pixels_uncertainty(gray())
    assert u.shape == (37, 53) and u.dtype == np.float32 and rgb.shape == (37, 53, 3)
    np.testing.assert_allclose(u, 1.0, atol=1e-6)


def test_one_hot_logits_give_zero_everywhere():
    rgb, u = session_of(FixedLogits(hot=7)).colorize_pixels_uncertainty(gray(20, 31))
    assert u.shape == (20, 31)
    np.testing.assert_allclose(u, 0.0, atol=1e-6)


def test_map_is_upsampled_in_place():
    # the input (64 x 96) is below the working size, so the network sees it as is and answers at half
    # resolution, 32 x 48: logit columns 0..23 uniform (1), 24..47 one-hot (0). On a flat image the
    # guided filter (two box means of radius 2 at the network's resolution) is a ramp centred on column 48.
    flat = np.full((64, 96), 128, np.uint8)
    rgb, u = session_of(FixedLogits(hot=3, split=True)).colorize_pixels_uncertainty(flat)
    assert u.shape == (64, 96)
    np.testing.assert_allclose(u[:, :36], 1.0, atol=1e-5)
    np.testing.assert_allclose(u[:, 60:], 0.0, atol=1e-5)
    row = u[0]
    assert np.all(np.diff(row) <= 1e-6) and np.allclose(u, row)  # falls left to right, the same on every row
    np.testing.assert_allclose(row[47] + row[48], 1.0, atol=1e-5)  # symmetric about the split
    assert 0.5 < row[47] < 0.9


def test_map_edges_follow_the_image_edges():
    """Upsampled like ab, guided by L: where the image has an edge at the map's edge, the map is
    sharper there than bilinear upsampling (0.75 / 0.25 in the two columns beside it)."""
    edge = np.full((64, 96), 40, np.uint8)
    edge[:, 48:] = 220
    _, u = session_of(FixedLogits(hot=3, split=True)).colorize_pixels_uncertainty(edge)
    assert u[:, 47].mean() > 0.85 and u[:, 48].mean() < 0.15
    np.testing.assert_allclose(u[:, :40], 1.0, atol=0.02)
    np.testing.assert_allclose(u[:, 56:], 0.0, atol=0.02)


def test_colour_is_the_ordinary_colour():
    """One code path: the colour that comes with the map is exactly what colorize_pixels gives."""
    torch.manual_seed(0)
    s = session_of(build_architecture("lite", width=4))
    px = gradient_rgb(40, 56)
    rgb, u = s.colorize_pixels_uncertainty(px)
    np.testing.assert_array_equal(rgb, s.colorize_pixels(px))
    assert u.min() >= 0 and u.max() <= 1 and u.std() > 0  # a random net is unsure in varying degrees
    # the entropy by hand at the network's resolution, for the mean over the image
    with torch.no_grad():
        from tinct.color import luminance, normalize_l
        from tinct.pipeline import resize_l

        L = torch.from_numpy(luminance(px))
        logits = s.model(normalize_l(resize_l(L, (40, 56))))
        p = torch.softmax(logits.float(), 1)
        h = -(p * torch.log(p)).sum(1) / math.log(s.model.num_bins)
    assert abs(float(h.mean()) - float(u.mean())) < 0.01


def test_regression_model_has_no_map():
    s = Session(ModelSpec("u", "unet", "regression"), build_architecture("unet").eval(), torch.device("cpu"), 64)
    assert not s.has_uncertainty
    with pytest.raises(NoColourDistributionError, match="no colour distribution"):
        s.colorize_pixels_uncertainty(gray())
    with pytest.raises(NoColourDistributionError):
        s.model.predict_ab_uncertainty(torch.zeros(1, 1, 16, 16))
    with pytest.raises(NoColourDistributionError):
        s.colorize(gray(), uncertainty=True)


def test_guidance_has_no_map():
    with pytest.raises(ValueError, match="uncertainty map is the model's"):
        session_of(FixedLogits()).colorize(gray(), lut="viridis", uncertainty=True)


def test_onnx_backend_still_uses_the_torch_network():
    def predictor(_x):
        raise AssertionError("the ONNX predictor computes ab only")

    s = Session(ModelSpec("tiny", "lite", ""), FixedLogits().eval(), torch.device("cpu"), 64, predictor)
    assert s.colorize_pixels_uncertainty(gray())[1].min() == pytest.approx(1.0)


def test_session_colorize_returns_the_map_with_each_kind(tmp_path):
    s = session_of(FixedLogits())
    rgb, u = s.colorize(gray(), uncertainty=True)
    assert rgb.shape == (37, 53, 3) and u.shape == (37, 53)
    pil, u2 = s.colorize(Image.fromarray(gray()), uncertainty=True)
    assert pil.size == (53, 37) and u2.shape == (37, 53)
    src = tmp_path / "scan.png"
    Image.fromarray(gray()).save(src)
    dst, upath = s.colorize(src, uncertainty=True)
    assert dst.name == "scan_color.png" and upath == tmp_path / "scan_uncertainty.png"
    im = Image.open(upath)
    assert im.mode in ("I;16", "I") and im.size == (53, 37)
    assert np.asarray(im).min() == 65535 and "entropy" in im.text["Description"]
    assert "tiny" in im.text["Software"]
    # other folder: the map goes beside the colour output, named after the input
    dst2 = s.colorize_file(src, tmp_path / "out" / "x.png", uncertainty=True)
    assert (dst2.parent / "scan_uncertainty.png").is_file()


def test_encode_uncertainty_values():
    u = np.array([[0.0, 0.5, 1.0], [np.nan, -0.1, 1.2]], np.float32)
    from io import BytesIO

    back = np.asarray(Image.open(BytesIO(encode_uncertainty(u))))
    assert back.tolist() == [[0, 32768, 65535], [65535, 0, 65535]]
    with pytest.raises(ValueError):
        encode_uncertainty(np.zeros((2, 2, 3)))


def test_rescan_ignores_maps_and_frames(tmp_path):
    for name, out in [
        ("a_uncertainty.png", True),
        ("a_uncertainty_0002.png", True),
        ("a_color_0001.png", True),
        ("a_color.nii.gz", True),
        ("a.png", False),
        ("holiday_0001.jpg", False),
    ]:
        (tmp_path / name).write_bytes(b"x")
        assert is_output_name(tmp_path / name) is out, name


# --------------------------------------------------------------------------------------------
# the command line


@pytest.fixture
def tiny_cli(monkeypatch):
    """`tinct colorize` with load_model answering a tiny session (uniform, or a regression net)."""
    made = {}

    def fake_load_model(name, device="auto", working_size=None, backend="auto", **options):
        model = build_architecture("unet") if name == "regression" else FixedLogits()
        made[name] = session_of(model)
        return made[name]

    monkeypatch.setattr(tinct.api, "load_model", fake_load_model)
    return made


def test_cli_writes_the_map(tiny_cli, tmp_path):
    src = tmp_path / "in" / "photo.png"
    src.parent.mkdir()
    Image.fromarray(gray(30, 40)).save(src)
    r = CliRunner().invoke(app, ["colorize", str(src.parent), "-o", str(tmp_path / "out"), "--uncertainty", "-q"])
    assert r.exit_code == 0, r.output
    u = np.asarray(Image.open(tmp_path / "out" / "photo_uncertainty.png"))
    assert u.shape == (30, 40) and (u == 65535).all()
    assert (tmp_path / "out" / "photo_color.png").is_file()
    # a second run over the output folder takes neither the colour output nor the map as input
    r = CliRunner().invoke(app, ["colorize", str(tmp_path / "out"), "--uncertainty", "-q"])
    assert r.exit_code == 1 and r.output.startswith("error: nothing to colorize in ")


def test_cli_refuses_a_regression_model(tiny_cli, tmp_path):
    src = tmp_path / "photo.png"
    Image.fromarray(gray(30, 40)).save(src)
    r = CliRunner().invoke(app, ["colorize", str(src), "-m", "regression", "--uncertainty"])
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "no colour distribution" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_cli_refuses_guidance_with_uncertainty(tiny_cli, tmp_path):
    src = tmp_path / "photo.png"
    Image.fromarray(gray(30, 40)).save(src)
    r = CliRunner().invoke(app, ["colorize", str(src), "--lut", "magma", "--uncertainty"])
    assert r.exit_code == 2 and "uncertainty map is the model's" in r.output


def test_guidance_object_is_accepted_when_inactive():
    s = session_of(FixedLogits())
    s.check_uncertainty(Guidance())
    assert s.has_uncertainty


def test_hint_model_map_with_hints():
    """A hint model is a classification model: its map comes with the hints applied, in the same pass."""
    torch.manual_seed(1)
    s = session_of(build_architecture("hints", width=4))
    guidance = Guidance(hints=[{"x": 10, "y": 12, "color": "#3366cc"}])
    px = gradient_rgb(40, 56)
    rgb, u = s.colorize_pixels_uncertainty(px, guidance)
    np.testing.assert_array_equal(rgb, s.colorize_pixels(px, guidance))
    _, u0 = s.colorize_pixels_uncertainty(px)
    assert u.shape == u0.shape == (40, 56) and not np.array_equal(u, u0)  # the hint channels reach the network
