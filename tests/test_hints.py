"""User colour hints: the hint model, simulated training hints, parsing, placement and every surface
(API, CLI, REST, eval), with tiny randomly initialised networks and a fake "echo" hint model."""

from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file
from skimage import color as skc
from typer.testing import CliRunner

from tinct import api, registry
from tinct.api import Guidance, Session
from tinct.cli import app
from tinct.color import AB_SCALE, luminance, normalize_l
from tinct.hints import (
    HINT_PATCH,
    MAX_HINTS,
    Hint,
    HintError,
    check_bounds,
    color_ab,
    hint_channels,
    name_seed,
    parse_color,
    parse_hints,
    parse_hints_json,
    sample_true_hints,
)
from tinct.models.base import Colorizer
from tinct.models.hints import HintUNet
from tinct.models.lite import LiteUNet
from tinct.pipeline import colorize_pixels, resize_l, working_shape
from tinct.registry import ModelSpec
from tinct.train import TrainConfig, hint_generator, init_weights, simulate_hints, train

L_ROUNDING = 0.5  # output L = input L up to 8-bit rounding (as tests/test_pipeline.py)
runner = CliRunner()


def lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB of uint8 RGB by scikit-image (an independent implementation)."""
    return skc.rgb2lab(rgb)


def assert_hint_colour(rgb: np.ndarray, gray: np.ndarray, hint_rgb: tuple[int, int, int]) -> None:
    """``rgb`` (a colorized ``gray``) is the hint's colour at the gray's own lightness: L kept (up
    to 8-bit rounding), the hint's hue everywhere, its chroma where the gray is as light as the hint
    (elsewhere at most that chroma: the gamut may reduce it, never the lightness)."""
    assert np.abs(luminance(rgb) - luminance(gray)).max() < L_ROUNDING
    got = lab(rgb)
    want = lab(np.array([[hint_rgb]], np.uint8))[0, 0]
    chroma = np.hypot(got[..., 1], got[..., 2])
    assert chroma.max() < np.hypot(*want[1:]) + 1.5
    hue = np.arctan2(got[..., 2], got[..., 1])[chroma > 8]
    assert hue.size and np.abs(hue - math.atan2(want[2], want[1])).max() < 0.06
    near = np.abs(got[..., 0] - want[0]) < 2.0
    assert near.any() and np.abs(got[near][:, 1:] - want[1:]).max() < 2.0


class EchoHints(Colorizer):
    """A fake hint model: its ab is the mean of its hint channels over the hinted pixels (0 without
    hints), everywhere, at its input's resolution. Records every input it is given."""

    kind = "regression"
    multiple = 8
    takes_hints = True
    in_channels = 4

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("unit", torch.ones(1))  # a state dict to save and load, like any model
        self.inputs: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.inputs.append(x.detach().clone())
        if x.shape[1] == 1:
            return x.new_zeros((x.shape[0], 2, *x.shape[2:]))
        hints, mask = x[:, 1:3], x[:, 3:4]
        mean = (hints * mask).sum((2, 3), keepdim=True) / mask.sum((2, 3), keepdim=True).clamp_min(1)
        return (mean * self.unit).expand(-1, -1, *x.shape[2:]).contiguous()


def echo_session(working_size: int = 256) -> Session:
    spec = ModelSpec(name="echo-hints", arch="echo", description="test", working_size=working_size)
    return Session(spec, EchoHints().eval(), torch.device("cpu"))


@pytest.fixture
def tiny_registry(monkeypatch, tmp_path) -> Path:
    """Registry models backed by tiny weights in a temporary folder: "tiny-hints" (a random HintUNet
    of width 8), "tiny-lite" (a random LiteUNet of width 8, no hints) and "echo-hints" (EchoHints)."""
    torch.manual_seed(0)
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setitem(registry.ARCHITECTURES, "echo", f"{__name__}:EchoHints")
    monkeypatch.setattr(registry, "HINT_ARCHITECTURES", registry.HINT_ARCHITECTURES | {"echo"})
    monkeypatch.setattr(api, "_SESSIONS", {})
    monkeypatch.setenv("TINCT_CACHE", str(tmp_path / "cache"))
    nets = {"tiny-hints": ("hints", HintUNet(width=8)), "tiny-lite": ("lite", LiteUNet(width=8))}
    nets["echo-hints"] = ("echo", EchoHints())
    for name, (arch, net) in nets.items():
        kwargs = {"width": 8} if arch != "echo" else {}
        monkeypatch.setitem(registry.MODELS, name, ModelSpec(name, arch, "test", working_size=64, kwargs=kwargs))
        save_file({k: v.half() for k, v in net.state_dict().items()}, str(tmp_path / f"{name}.safetensors"))
    return tmp_path


# ---- the network -------------------------------------------------------------------------------


def test_hint_model_starts_from_lite_and_without_hints_is_lite(tmp_path):
    torch.manual_seed(0)
    lite = LiteUNet(width=8).eval()
    for m in lite.modules():  # non-trivial batch-norm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / "lite.safetensors"
    save_file(lite.state_dict(), str(path))
    model = HintUNet(width=8)
    assert list(model.state_dict()) == list(lite.state_dict())  # same names: enc0.0.0.weight included
    assert model.state_dict()["enc0.0.0.weight"].shape == (8, 4, 3, 3)
    assert init_weights(model, path) == ["enc0.0.0.weight"]
    model.eval()
    x = torch.rand(2, 1, 32, 40) * 2 - 1
    with torch.no_grad():
        ref = lite.predict_ab(x)
        assert torch.equal(model.predict_ab(x), ref)  # L alone: no hints
        zero = torch.cat([x, torch.zeros(2, 3, 32, 40)], 1)
        assert torch.equal(model.predict_ab(zero), ref)  # all-zero hint channels: the same
        hinted = zero.clone()
        hinted[:, 1:, 10:13, 10:13] = torch.tensor([0.5, -0.3, 1.0]).view(1, 3, 1, 1)
        assert torch.equal(model.predict_ab(hinted), ref)  # zero-widened: hints do nothing yet
        model.enc0[0][0].weight[:, 1:] = 0.5
        assert not torch.equal(model.predict_ab(hinted), ref)  # ... until trained
    with pytest.raises(ValueError, match="1 or 4 input channels, got 2"):
        model(torch.zeros(1, 2, 16, 16))


# ---- simulated hints (training) ------------------------------------------------------------------


def test_simulate_hints_shapes_values_and_masks():
    g = torch.Generator().manual_seed(0)
    ab = torch.rand(6, 2, 24, 20, generator=g) * 160 - 80
    out = simulate_hints(ab, hint_generator(0, 0), points=1, patch_sizes=(3,))
    assert out.shape == (6, 3, 24, 20) and out.dtype == torch.float32
    for i in range(6):
        mask = out[i, 2]
        assert set(mask.unique().tolist()) == {0.0, 1.0}
        rows, cols = mask.nonzero(as_tuple=True)
        r0, r1, c0, c1 = int(rows.min()), int(rows.max()), int(cols.min()), int(cols.max())
        assert len(rows) == (r1 - r0 + 1) * (c1 - c0 + 1)  # one square ...
        assert r1 - r0 + 1 <= 3 and c1 - c0 + 1 <= 3  # ... of side 3 (less where clipped at an edge)
        assert (r1 - r0 + 1 == 3 or r0 == 0 or r1 == 23) and (c1 - c0 + 1 == 3 or c0 == 0 or c1 == 19)
        want = ab[i, :, r0 : r1 + 1, c0 : c1 + 1].mean(dim=(1, 2)) / AB_SCALE  # the truth's mean on the square
        assert torch.allclose(
            out[i, :2, r0 : r1 + 1, c0 : c1 + 1], want.view(2, 1, 1).expand(2, r1 - r0 + 1, c1 - c0 + 1)
        )
        assert not out[i, :2][:, mask == 0].any()  # no colour where there is no hint


def test_simulate_hints_counts():
    ab = torch.full((400, 2, 16, 16), 20.0)
    out = simulate_hints(ab, hint_generator(3, 7), patch_sizes=(1,))
    counts = out[:, 2].sum(dim=(1, 2))  # one pixel per hint (fewer where two land on the same pixel)
    none = float((counts == 0).float().mean())
    assert 0.07 < none < 0.19  # about 1 in 8 images get no hint at all
    assert counts.max() <= 24 and counts.float().mean() > 4  # geometric, mean about 8, at most 24
    assert torch.allclose(out[:, :2][out[:, 2:].expand(-1, 2, -1, -1) == 1], torch.tensor(20.0 / AB_SCALE))
    capped = simulate_hints(ab[:50], hint_generator(3, 7), p_stop=1e-3, max_points=5, patch_sizes=(1,))
    c = capped[:, 2].sum(dim=(1, 2))
    assert c.max() == 5 and c[c > 0].min() >= 3  # capped at 5 points
    exact = simulate_hints(ab[:20], hint_generator(3, 7), points=10, patch_sizes=(1,))
    assert (exact[:, 2].sum(dim=(1, 2)) >= 8).all() and exact[:, 2].sum(dim=(1, 2)).max() == 10


def test_simulate_hints_are_a_function_of_seed_step_and_rank():
    ab = torch.rand(8, 2, 32, 32) * 100 - 50
    a = simulate_hints(ab, hint_generator(0, 5))
    assert torch.equal(a, simulate_hints(ab, hint_generator(0, 5)))
    for other in (hint_generator(0, 6), hint_generator(1, 5), hint_generator(0, 5, rank=1)):
        assert not torch.equal(a, simulate_hints(ab, other))


# ---- parsing -------------------------------------------------------------------------------------


def test_colours_become_their_cielab_ab():
    assert parse_color("#3366cc") == (0x33, 0x66, 0xCC) == parse_color("#3366CC") == parse_color([51, 102, 204])
    for rgb in [(0x33, 0x66, 0xCC), (200, 40, 40), (0, 0, 0), (255, 255, 255), (10, 200, 30)]:
        want = lab(np.array([[rgb]], np.uint8))[0, 0, 1:]
        assert np.allclose(color_ab(rgb), want, atol=0.05), rgb


def test_parse_hints_accepts_every_documented_form(tmp_path):
    hints = parse_hints_json(
        '[{"x": 3, "y": 4, "color": "#3366cc"}, [5.7, 6, [200, 40, 40]], {"x": 0, "y": 0, "colour": "#FFFFFF"}]'
    )
    assert [(h.x, h.y) for h in hints] == [(3.0, 4.0), (5.7, 6.0), (0.0, 0.0)]
    assert np.allclose(hints[0].ab, color_ab((0x33, 0x66, 0xCC))) and np.allclose(hints[1].ab, color_ab((200, 40, 40)))
    assert abs(hints[2].ab[0]) < 0.01 and abs(hints[2].ab[1]) < 0.01  # white: no chroma
    f = tmp_path / "h.json"
    f.write_text(json.dumps([[1, 2, "#3366cc"]]))
    assert parse_hints(f) == parse_hints(str(f)) == parse_hints([[1, 2, "#3366cc"]]) == [Hint(1.0, 2.0, hints[0].ab)]
    assert parse_hints(None) == [] and parse_hints_json("[]") == []
    assert parse_hints([Hint(1, 2, (3.0, 4.0))]) == [Hint(1, 2, (3.0, 4.0))]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2", "not valid JSON"),
        ("", "not valid JSON"),
        ('{"x": 1, "y": 2, "color": "#ffffff"}', "expected a JSON list of points, got dict"),
        ("[42]", "hint 1: expected"),
        ('[[1, 2, "#ffffff"], [1, 2]]', "hint 2: expected"),
        ('[[1, 2, "#ffffff", 4]]', "hint 1: expected"),
        ('[{"x": 1, "y": 2}]', "hint 1: expected keys x, y and color, got x, y"),
        ('[{"x": 1, "y": 2, "color": "#ffffff", "size": 3}]', "expected keys x, y and color"),
        ('[{"x": 1, "y": 2, "color": "#ffffff", "colour": "#000000"}]', "expected keys x, y and color"),
        ('[["1", 2, "#ffffff"]]', 'hint 1: x must be a number (pixels), got "1"'),
        ('[[1, true, "#ffffff"]]', "hint 1: y must be a number (pixels), got true"),
        ('[[1, NaN, "#ffffff"]]', "y must be a number"),
        ('[[1, null, "#ffffff"]]', "y must be a number (pixels), got null"),
        ('[[1, 2, "blue"]]', 'hint 1: colour must be "#rrggbb" or [r, g, b] with integers 0-255, got "blue"'),
        ('[[1, 2, "#12345"]]', "colour must be"),
        ('[[1, 2, "#gg0000"]]', "colour must be"),
        ('[[1, 2, "ff0000"]]', "colour must be"),
        ("[[1, 2, [256, 0, 0]]]", "got [256, 0, 0]"),
        ("[[1, 2, [-1, 0, 0]]]", "colour must be"),
        ("[[1, 2, [1.5, 0, 0]]]", "colour must be"),
        ("[[1, 2, [0, 0]]]", "colour must be"),
        ("[[1, 2, [true, 0, 0]]]", "colour must be"),
        ("[[1, 2, 16777215]]", "colour must be"),
    ],
)
def test_bad_hints_are_one_line_errors(text, message):
    with pytest.raises(HintError) as info:
        parse_hints_json(text, "h.json")
    msg = str(info.value)
    assert message in msg and msg.startswith("h.json: ") and "\n" not in msg


def test_more_bad_hints(tmp_path):
    with pytest.raises(HintError, match="cannot read hints file .*missing.json"):
        parse_hints(tmp_path / "missing.json")
    with pytest.raises(HintError, match=f"{MAX_HINTS + 1} hints given; at most {MAX_HINTS}"):
        parse_hints([[0, 0, "#ffffff"]] * (MAX_HINTS + 1))
    with pytest.raises(HintError, match="hints must be a list of points"):
        parse_hints({"x": 1})
    with pytest.raises(HintError, match="not valid JSON"):
        parse_hints_json(b"\xff\xfe[")
    check_bounds([Hint(0, 0, (0, 0)), Hint(63.9, 47.9, (0, 0))], 64, 48)
    for x, y in [(64, 0), (0, 48), (-0.1, 3), (3, -1)]:
        with pytest.raises(HintError, match=rf"hint 2 at x={x:g}, y={y:g} is outside the 64x48 image"):
            check_bounds([Hint(1, 1, (0, 0)), Hint(x, y, (0, 0))], 64, 48)
    with pytest.raises(ValueError, match="cannot be combined with reference"):
        Guidance(reference=np.zeros((4, 4, 3), np.uint8), hints=[[1, 1, "#ff0000"]])


# ---- placement: hints reach the network at the right working-size positions -------------------------


def test_hint_channels_geometry():
    a, b = color_ab((200, 40, 40))
    ch = hint_channels([Hint(101, 13, (a, b)), Hint(199.9, 99.5, (10.0, -20.0))], (100, 200), (50, 100))
    assert ch.shape == (1, 3, 50, 100)
    mask = ch[0, 2]
    assert mask.sum() == 9 + 4
    assert (mask[5:8, 49:52] == 1).all() and (mask[48:50, 98:100] == 1).all()  # the corner's square is clipped
    assert torch.allclose(ch[0, :2, 5:8, 49:52], torch.tensor([a, b]).view(2, 1, 1) / AB_SCALE)
    assert torch.allclose(ch[0, :2, 49, 99], torch.tensor([10.0, -20.0]) / AB_SCALE)
    with pytest.raises(HintError, match="hint 1 at x=200, y=3 is outside the 200x100 image"):
        hint_channels([Hint(200, 3, (0, 0))], (100, 200), (50, 100))


def test_hints_reach_the_network_at_their_working_size_positions():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (100, 200), dtype=np.uint8)  # W 200, H 100
    session = echo_session(working_size=50)  # working shape (50, 100), padded to (56, 104)
    points = [{"x": 101, "y": 13, "color": "#c83232"}, [199, 99, "#3366cc"]]
    session.colorize(gray, hints=points)
    (x,) = session.model.inputs
    assert x.shape == (1, 4, 56, 104)
    L_small = resize_l(torch.from_numpy(luminance(gray)), working_shape(100, 200, 50))
    assert torch.equal(x[0, 0, :50, :100], normalize_l(L_small)[0, 0])  # L exactly as without hints
    assert torch.equal(x[0, 0, 50:, :100], x[0, 0, 49:50, :100].expand(6, -1))  # L padding: edge replicated
    mask = x[0, 3]
    assert mask.sum() == 9 + 4 and (mask[5:8, 49:52] == 1).all() and (mask[48:50, 98:100] == 1).all()
    assert not x[0, 1:, 50:].any() and not x[0, 1:, :, 100:].any()  # no hints in the padding
    red, blue = color_ab((0xC8, 0x32, 0x32)), color_ab((0x33, 0x66, 0xCC))
    assert torch.allclose(x[0, 1:3, 6, 50], torch.tensor(red) / AB_SCALE)
    assert torch.allclose(x[0, 1:3, 49, 99], torch.tensor(blue) / AB_SCALE)
    # without hints a hint model gets all-zero hint channels
    session.colorize(gray)
    assert session.model.inputs[1].shape == (1, 4, 56, 104) and not session.model.inputs[1][0, 1:].any()


def test_a_hinted_colour_comes_out_with_the_images_own_lightness():
    session = echo_session()
    # the whole image has the hint's own colour: the output is that colour
    blue = np.tile(np.array([0x33, 0x66, 0xCC], np.uint8), (48, 64, 1))
    out = session.colorize(blue, hints=[[20, 30, "#3366cc"]])
    assert np.abs(out.astype(int) - blue).max() <= 1
    # a gray image: every pixel takes the hint's hue, at its own L
    gray = np.tile(np.linspace(60, 200, 64).astype(np.uint8), (48, 1))
    assert_hint_colour(session.colorize(gray, hints=[{"x": 5, "y": 5, "color": "#c83232"}]), gray, (0xC8, 0x32, 0x32))
    # no hints: no colour (the echo model is then an automatic model predicting gray)
    assert np.array_equal(session.colorize(gray), np.dstack([gray] * 3))


def test_hints_through_the_pipeline_function_and_the_padded_predictor():
    torch.manual_seed(0)
    model = HintUNet(width=8).eval()
    with torch.no_grad():
        model.enc0[0][0].weight[:, 1:] = torch.randn(8, 3, 3, 3)  # a model whose output depends on hints
    gray = np.random.default_rng(1).integers(0, 256, (37, 53), dtype=np.uint8)
    base = colorize_pixels(gray, model.predict_ab, model.multiple, 64)
    assert np.array_equal(base, colorize_pixels(gray, model.predict_ab, model.multiple, 64, hints=[]))
    hinted = colorize_pixels(gray, model.predict_ab, model.multiple, 64, hints=[Hint(10, 10, (60.0, 40.0))])
    assert not np.array_equal(base, hinted)
    assert np.abs(luminance(hinted) - luminance(gray)).max() < L_ROUNDING


def test_the_one_call_api_takes_hints(tiny_registry):
    import tinct

    gray = np.tile(np.linspace(60, 200, 64).astype(np.uint8), (48, 1))
    points = [{"x": 5, "y": 5, "color": "#c83232"}]
    out = tinct.colorize(Image.fromarray(gray), model="echo-hints", device="cpu", hints=points)  # auto backend
    assert isinstance(out, Image.Image) and out.size == (64, 48)
    assert_hint_colour(np.asarray(out), gray, (0xC8, 0x32, 0x32))
    path = tiny_registry / "points.json"
    path.write_text(json.dumps(points))
    assert np.array_equal(tinct.colorize(gray, model="echo-hints", device="cpu", hints=path), np.asarray(out))


def test_hints_for_a_model_without_hints_are_refused():
    spec = ModelSpec(name="plain", arch="lite", description="test")
    session = Session(spec, LiteUNet(width=8).eval(), torch.device("cpu"))
    gray = np.full((32, 32), 100, np.uint8)
    with pytest.raises(HintError, match="model 'plain' does not take colour hints"):
        session.colorize(gray, hints=[[1, 1, "#ff0000"]])
    assert session.colorize(gray, hints=[]).shape == (32, 32, 3)  # no hints: fine
    with pytest.raises(HintError, match="hint 1 at x=40, y=1 is outside the 32x32 image"):
        echo_session().colorize(gray, hints=[[40, 1, "#ff0000"]])


def test_sample_true_hints_takes_the_truths_colour():
    truth = np.zeros((40, 60, 3), np.uint8)
    truth[:, :30] = (200, 40, 40)
    truth[:, 30:] = (40, 80, 200)
    hints = sample_true_hints(truth, 12, seed=name_seed("a/b.jpg"), radius=1)
    assert len(hints) == 12 and hints == sample_true_hints(truth, 12, name_seed("a/b.jpg"), radius=1)
    assert hints != sample_true_hints(truth, 12, name_seed("a/c.jpg"), radius=1)
    for h in hints:
        assert 0 <= h.x < 60 and 0 <= h.y < 40 and h.x == int(h.x)
        if h.x <= 28:
            assert np.allclose(h.ab, color_ab((200, 40, 40)), atol=0.01)
        elif h.x >= 31:
            assert np.allclose(h.ab, color_ab((40, 80, 200)), atol=0.01)
        else:  # the 3 x 3 window straddles the edge: the mean of both
            a, b = np.array(color_ab((200, 40, 40))), np.array(color_ab((40, 80, 200)))
            assert np.allclose(h.ab, (a + 2 * b) / 3 if h.x == 30 else (2 * a + b) / 3, atol=0.01)


# ---- the CLI -----------------------------------------------------------------------------------------


@pytest.fixture
def gray_png(tmp_path) -> Path:
    path = tmp_path / "in" / "photo.png"
    path.parent.mkdir()
    Image.fromarray(np.tile(np.linspace(60, 200, 64).astype(np.uint8), (48, 1))).save(path)
    return path


def write_hints(tmp_path: Path, value, name: str = "hints.json") -> Path:
    path = tmp_path / name
    path.write_text(value if isinstance(value, str) else json.dumps(value))
    return path


def test_cli_hints_end_to_end(tiny_registry, gray_png, tmp_path):
    hints = write_hints(tmp_path, [{"x": 10, "y": 40, "color": "#c83232"}])
    out = tmp_path / "out"
    r = runner.invoke(
        app,
        ["colorize", str(gray_png), "-m", "echo-hints", "--hints", str(hints), "-o", str(out), "--backend", "torch"],
    )
    assert r.exit_code == 0, r.output
    with Image.open(out / "photo_color.png") as im:
        rgb = np.asarray(im.convert("RGB"))
        assert "with 1 user colour hint" in im.info["Software"]
    assert_hint_colour(rgb, np.asarray(Image.open(gray_png)), (0xC8, 0x32, 0x32))


def test_cli_hints_with_a_real_hint_network_and_the_default_backend(tiny_registry, gray_png, tmp_path):
    hints = write_hints(tmp_path, [[10, 40, "#c83232"], [60, 2, [20, 90, 200]]])
    r = runner.invoke(
        app, ["colorize", str(gray_png), "-m", "tiny-hints", "--hints", str(hints), "-o", str(tmp_path / "o")]
    )
    assert r.exit_code == 0, r.output
    rgb = np.asarray(Image.open(tmp_path / "o" / "photo_color.png").convert("RGB"))
    assert rgb.shape == (48, 64, 3)
    assert np.abs(luminance(rgb) - luminance(np.asarray(Image.open(gray_png)))).max() < L_ROUNDING


@pytest.mark.parametrize(
    ("model", "content", "code", "message"),
    [
        ("echo-hints", "[[1, 2", 2, "not valid JSON"),
        ("echo-hints", '[[1, 2, "blue"]]', 2, 'hint 1: colour must be "#rrggbb"'),
        ("echo-hints", '[{"x": 1}]', 2, "hint 1: expected keys x, y and color"),
        ("tiny-lite", '[[1, 2, "#ff0000"]]', 2, "model 'tiny-lite' does not take colour hints"),
        (
            "echo-hints",
            '[[1, 2, "#ff0000"], [64, 10, "#ff0000"]]',
            1,
            "hint 2 at x=64, y=10 is outside the 64x48 image",
        ),
    ],
)
def test_cli_bad_hints(tiny_registry, gray_png, tmp_path, model, content, code, message):
    hints = write_hints(tmp_path, content)
    out = tmp_path / "out"
    r = runner.invoke(
        app, ["colorize", str(gray_png), "-m", model, "--hints", str(hints), "-o", str(out), "--backend", "torch"]
    )
    assert r.exit_code == code, r.output
    lines = [ln for ln in r.output.splitlines() if message in ln]
    assert len(lines) == 1 and lines[0].startswith("error:" if code == 2 else "failed:"), r.output
    assert "Traceback" not in r.output and not (out / "photo_color.png").exists()
    r = runner.invoke(
        app,
        ["colorize", str(gray_png), "--hints", str(tmp_path / "nope.json"), "-m", "echo-hints", "--backend", "torch"],
    )
    assert r.exit_code == 2 and "cannot read hints file" in r.output


def test_onnx_backend_takes_the_hint_channels(tiny_registry):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from tinct.onnx import OnnxPredictor, export_onnx, read_metadata

    path = export_onnx("tiny-hints", tiny_registry / "h.onnx")
    assert read_metadata(path)["tinct_in_channels"] == 4
    torch_session = api.load_model("tiny-hints", device="cpu", backend="torch")
    x = torch.cat([torch.rand(1, 1, 32, 48) * 2 - 1, hint_channels([Hint(5, 5, (40.0, -30.0))], (32, 48), (32, 48))], 1)
    got = OnnxPredictor(path, threads=1)(x)
    with torch.no_grad():
        want = torch_session.model.predict_ab(x)
    assert got.shape == want.shape and (got - want).abs().max() < 1e-3
    onnx_session = api.load_model("tiny-hints", device="cpu", backend="onnx")
    gray = np.random.default_rng(2).integers(0, 256, (40, 56), dtype=np.uint8)
    a = onnx_session.colorize(gray, hints=[[3, 4, "#ff0000"]])
    b = torch_session.colorize(gray, hints=[[3, 4, "#ff0000"]])
    assert np.abs(a.astype(int) - b).max() <= 1


# ---- REST ------------------------------------------------------------------------------------------


@pytest.fixture
def rest(tiny_registry):
    pytest.importorskip("fastapi")
    pytest.importorskip("multipart")
    from fastapi.testclient import TestClient

    from tinct.server import create_app

    with TestClient(create_app("echo-hints", device="cpu")) as client:
        yield client


def png_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG")
    return buf.getvalue()


def test_rest_hints_field(rest):
    gray = np.tile(np.linspace(60, 200, 64).astype(np.uint8), (48, 1))
    files = {"file": ("g.png", png_bytes(gray), "image/png")}
    r = rest.post("/api/v1/colorize", files=files, data={"hints": '[{"x": 3, "y": 40, "color": "#3366cc"}]'})
    assert r.status_code == 200, r.text
    assert_hint_colour(np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")), gray, (0x33, 0x66, 0xCC))
    r = rest.post("/api/v1/colorize", files=files, data={"hints": "[]"})
    assert r.status_code == 200 and np.array_equal(
        np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")), np.dstack([gray] * 3)
    )


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"hints": "[[1, 2"}, 422, "hints: not valid JSON"),
        ({"hints": '[[1, 2, "#zzzzzz"]]'}, 422, "hints: hint 1: colour must be"),
        ({"hints": '[[1, 200, "#ff0000"]]'}, 422, "hint 1 at x=1, y=200 is outside the 64x48 image"),
        ({"hints": '[[1, 2, "#ff0000"]]', "model": "tiny-lite"}, 422, "model 'tiny-lite' does not take colour hints"),
        ({"method": "welsh"}, 422, "method applies to a reference image"),
    ],
)
def test_rest_bad_hints(rest, fields, status, message):
    gray = np.full((48, 64), 120, np.uint8)
    r = rest.post("/api/v1/colorize", files={"file": ("g.png", png_bytes(gray), "image/png")}, data=fields)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json" and message in r.json()["error"]


def test_rest_reference_field(rest):
    gray = np.tile(np.linspace(60, 200, 64).astype(np.uint8), (48, 1))
    ref = np.zeros((30, 40, 3), np.uint8)
    ref[:] = (200, 120, 40)
    files = {"file": ("g.png", png_bytes(gray), "image/png"), "reference": ("r.png", png_bytes(ref), "image/png")}
    r = rest.post("/api/v1/colorize", files=files, data={"method": "reinhard"})
    assert r.status_code == 200, r.text
    # a flat reference: Reinhard gives every pixel the reference's colour, at the input's own L
    assert_hint_colour(np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")), gray, (200, 120, 40))
    bad = {"file": files["file"], "reference": ("r.png", b"not an image", "image/png")}
    r = rest.post("/api/v1/colorize", files=bad)
    assert r.status_code == 415 and r.json()["error"].startswith("reference image: ")
    r = rest.post("/api/v1/colorize", files=files, data={"method": "nearest"})
    assert r.status_code == 422 and "unknown method 'nearest'" in r.json()["error"]
    r = rest.post("/api/v1/colorize", files=files, data={"hints": '[[1, 1, "#ff0000"]]'})
    assert r.status_code == 422 and "not both" in r.json()["error"]


# ---- eval --hints ------------------------------------------------------------------------------------


@pytest.fixture
def eval_data(smoke_images, tmp_path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    for p in smoke_images[:4]:
        shutil.copy(p, d / p.name)
    return d


def test_eval_hints(tiny_registry, eval_data, tmp_path):
    runs = {}
    for n in (0, 10):
        out = tmp_path / f"h{n}"
        r = runner.invoke(
            app, ["eval", str(eval_data), "--models", "echo-hints", "--hints", str(n), "--out", str(out), "-q"]
        )
        assert r.exit_code == 0, r.output
        runs[n] = json.loads((out / "summary.json").read_text())
        assert runs[n]["hints"]["per_image"] == n and runs[n]["models"]["echo-hints"]["hints"] == n
    rows0 = {r["image"]: r for r in csv_rows(tmp_path / "h0" / "metrics.csv") if r["model"] == "echo-hints"}
    rows10 = {r["image"]: r for r in csv_rows(tmp_path / "h10" / "metrics.csv") if r["model"] == "echo-hints"}
    assert all(float(r["psnr_gain"]) == 0.0 for r in rows0.values())  # no hints: the echo model is gray
    assert all(float(r["psnr_gain"]) != 0.0 for r in rows10.values())  # 10 hints: it colours every image
    assert "10 true colour points" in (tmp_path / "h10" / "report.html").read_text()
    # a model without hints is refused, in one line
    r = runner.invoke(
        app, ["eval", str(eval_data), "--models", "tiny-lite", "--hints", "10", "--out", str(tmp_path / "x")]
    )
    assert r.exit_code == 2 and "error: --hints 10: model 'tiny-lite' does not take colour hints" in r.output


def csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_eval_gives_each_image_its_own_true_hints(eval_data, tmp_path, monkeypatch):
    from tinct import evaluate

    class Recorder:
        takes_hints = True

        def __init__(self, working_size=None):
            self.spec = registry.MODELS["lite"]
            self.working_size = working_size or 256
            self.calls: list[tuple[tuple[int, ...], list[Hint] | None]] = []

        def colorize(self, image, hints=None):
            self.calls.append((image.shape, hints))
            return np.dstack([image] * 3)

    made: list[Recorder] = []
    monkeypatch.setattr(
        "tinct.api.load_model", lambda name, device, working_size: made.append(Recorder(working_size)) or made[-1]
    )
    evaluate.run_eval(eval_data, "rec", tmp_path / "a", progress=False, hints=10)
    evaluate.run_eval(eval_data, "rec", tmp_path / "b", progress=False, hints=10)
    first, second = made
    scored = [c for c in first.calls if c[1] is not None]
    assert len(scored) >= 4 and [c[1] for c in scored] == [c[1] for c in second.calls if c[1] is not None]
    names = sorted(p.name for p in eval_data.iterdir())
    for name, (shape, hints) in zip(names, scored[:4], strict=True):
        truth = np.asarray(Image.open(eval_data / name).convert("RGB"))
        assert shape == truth.shape[:2] and len(hints) == 10
        assert hints == sample_true_hints(truth, 10, name_seed(name), radius=1)
        for h in hints:
            x, y = int(h.x), int(h.y)
            win = truth[max(0, y - 1) : y + 2, max(0, x - 1) : x + 2]
            assert np.allclose(h.ab, lab(win)[..., 1:].mean(axis=(0, 1)), atol=0.05)
    assert len({tuple(c[1]) for c in scored[:4]}) == 4  # every image its own points
    assert first.calls[0] == ((64, 64), None)  # the warm-up probe: no hints


# ---- training -----------------------------------------------------------------------------------------


def tiny_hint_config(data, out, **kw) -> TrainConfig:
    """tests/test_train.py's tiny run (6 steps of 4 crops of 32 px, width 8), for the hint model."""
    base = dict(model="hints", data=str(data), steps=6, batch=4, size=32, warmup=2, out=str(out), log_every=1)
    base.update(prior_images=16, checkpoint_every_s=0.0, model_kwargs={"width": 8})
    return TrainConfig(**{**base, **kw})


def test_training_with_simulated_hints_from_lite_weights(smoke_dir, tmp_path):
    lite = tmp_path / "lite.safetensors"
    save_file(LiteUNet(width=8).state_dict(), str(lite))
    summary = train(
        tiny_hint_config(smoke_dir, tmp_path / "run", init=str(lite), val=str(smoke_dir), val_every=3, val_images=4),
        progress=False,
    )
    assert summary["steps"] == 6 and "val_psnr_hints10" in summary
    w = load_file(str(tmp_path / "run" / "model.safetensors"))["enc0.0.0.weight"].float()
    assert w.shape == (8, 4, 3, 3) and w[:, 1:].abs().max() > 1e-4  # started at zero, trained by the hints


def test_hint_model_resume_is_exact(smoke_dir, tmp_path, monkeypatch):
    from tinct import train as train_mod

    train(tiny_hint_config(smoke_dir, tmp_path / "a"), progress=False)
    real = train_mod.SupervisedStep.__call__
    calls = {"n": 0}

    def interrupt_at_step_4(self, step, x, ab, index=None):
        assert x.shape[1] == 4  # L + the hint channels
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(self, step, x, ab, index)

    monkeypatch.setattr(train_mod.SupervisedStep, "__call__", interrupt_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_hint_config(smoke_dir, tmp_path / "b"), progress=False)
    monkeypatch.setattr(train_mod.SupervisedStep, "__call__", real)
    train(tiny_hint_config(smoke_dir, tmp_path / "b"), resume=True, progress=False)
    a = load_file(str(tmp_path / "a" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_registry_knows_which_architectures_take_hints(tiny_registry):
    for arch in registry.ARCHITECTURES:
        assert (arch in registry.HINT_ARCHITECTURES) == registry.architecture_class(arch).takes_hints, arch
    rows = {row["name"]: row for row in registry.model_rows()}
    assert rows["tiny-hints"]["takes_hints"] and rows["echo-hints"]["takes_hints"]
    assert not rows["tiny-lite"]["takes_hints"] and not rows["lite"]["takes_hints"]


def test_config_is_valid():
    cfg = TrainConfig.from_file(Path(__file__).resolve().parents[1] / "configs" / "lite-hints.toml")
    assert cfg.model == "hints" and cfg.init == "runs/lite-mid/model.safetensors" and cfg.out == "runs/lite-hints"
    assert registry.architecture_class(cfg.model).takes_hints and HINT_PATCH == 3


def test_hint_residuals_spread_within_regions_and_stop_at_edges():
    from tinct.hints import propagate_hint_residuals

    h, w = 24, 32
    L = torch.full((h, w), 30.0)
    L[:, 16:] = 70.0  # two flat regions with an edge between them
    ab = torch.zeros(2, h, w)
    ab[0] += 5.0  # the network's guess: a faint tint everywhere
    hints = [Hint(4, 12, (40.0, 20.0)), Hint(28, 12, (-30.0, 10.0))]
    channels = hint_channels(hints, (h, w), (h, w), patch=1)
    out = propagate_hint_residuals(ab, L, channels)
    left, right = out[:, :, :16].mean((1, 2)), out[:, :, 16:].mean((1, 2))
    assert torch.allclose(left, torch.tensor([40.0, 20.0]), atol=1.0), left
    assert torch.allclose(right, torch.tensor([-30.0, 10.0]), atol=1.0), right
    # a prediction that already honours the hints is left alone; no hints: unchanged
    honoured = out.clone()
    assert torch.allclose(propagate_hint_residuals(honoured, L, channels), honoured, atol=1e-3)
    assert torch.equal(propagate_hint_residuals(ab, L, hint_channels([], (h, w), (h, w))), ab)
