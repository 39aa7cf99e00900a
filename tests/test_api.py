"""Python API: input kinds in = kinds out, sessions, weights loading, CLI/API agreement."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import tinct
from tinct.api import ModelWeightsError, load_weights
from tinct.cli import app
from tinct.color import luminance
from tinct.registry import DEFAULT_MODEL, MODELS, UnknownModelError, build_architecture

from .conftest import DEMO, gradient_rgb


def test_numpy_in_numpy_out(session):
    g = gradient_rgb()[..., 1]
    out = session.colorize(g)
    assert isinstance(out, np.ndarray) and out.shape == (48, 64, 3) and out.dtype == np.uint8
    rgba = np.dstack([gradient_rgb(), np.full((48, 64), 200, np.uint8)])
    out = session.colorize(rgba)
    assert out.shape == (48, 64, 4) and np.all(out[..., 3] == 200)
    f = session.colorize(g.astype(np.float32) / 255.0)
    assert np.abs(luminance(f) - luminance(g)).max() < 0.5


def test_pil_in_pil_out(session):
    im = Image.fromarray(gradient_rgb()).convert("LA")
    out = session.colorize(im)
    assert isinstance(out, Image.Image) and out.mode == "RGBA" and out.size == (64, 48)
    out = session.colorize(Image.fromarray(gradient_rgb()[..., 0]))
    assert out.mode == "RGB"


def test_path_in_path_out(session, tmp_path):
    src = tmp_path / "cat.jpg"
    shutil.copy(DEMO / "CatWash1931.jpg", src)
    dst = session.colorize(src)
    assert dst == tmp_path / "cat_color.jpg" and dst.exists()
    with pytest.raises(ValueError, match="refusing to overwrite"):
        session.colorize(src, dst=src)


def test_bad_types(session):
    with pytest.raises(TypeError, match="path, a PIL image or a numpy array"):
        session.colorize(42)
    with pytest.raises(ValueError, match="shape"):
        session.colorize(np.zeros((4, 4, 5), np.uint8))


def test_one_call_api_matches_session(session):
    g = gradient_rgb()[..., 2]
    assert np.array_equal(tinct.colorize(g, model=DEFAULT_MODEL, device="cpu"), session.colorize(g))


def test_api_and_cli_give_identical_pixels(session, tmp_path):
    src = tmp_path / "in.png"
    shutil.copy(DEMO / "1938Reading.jpg", tmp_path / "r.jpg")
    Image.open(tmp_path / "r.jpg").save(src)
    r = CliRunner().invoke(app, ["colorize", str(src), "-o", str(tmp_path / "cli"), "--device", "cpu"])
    assert r.exit_code == 0
    cli_pixels = np.asarray(Image.open(tmp_path / "cli" / "in_color.png"))
    api_pixels = session.colorize(np.asarray(Image.open(src)))
    assert np.array_equal(cli_pixels, api_pixels)


def test_unknown_model():
    with pytest.raises(UnknownModelError, match="known models: lite"):
        tinct.load_model("nope")


def test_missing_and_corrupt_weights_name_the_file(tmp_path):
    model = build_architecture("lite")
    with pytest.raises(ModelWeightsError, match=r"weights file missing: .*gone\.safetensors"):
        load_weights(model, tmp_path / "gone.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(MODELS["lite"].weights_path.read_bytes()[:1000])
    with pytest.raises(ModelWeightsError, match=r"bad\.safetensors is corrupt"):
        load_weights(model, bad)
    other = tmp_path / "other.safetensors"
    import torch
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(other))
    with pytest.raises(ModelWeightsError, match="does not match the architecture"):
        load_weights(model, other)


def test_every_registry_model_ships_fp16_weights_and_a_card():
    from safetensors import safe_open

    for spec in MODELS.values():
        assert spec.weights_path.stat().st_size < 25e6, spec.name
        assert spec.card_path.is_file(), f"{spec.name} has no model card"
        with safe_open(str(spec.weights_path), framework="pt") as f:
            dtypes = {str(f.get_tensor(k).dtype) for k in f.keys()}
        assert "torch.float32" not in dtypes and "torch.float16" in dtypes, spec.name


def test_temperature_option_changes_the_decoding():
    g = np.asarray(Image.open(DEMO / "CatWash1931.jpg").convert("L"))
    low = tinct.load_model("lite", device="cpu", temperature=0.05).colorize(g)
    high = tinct.load_model("lite", device="cpu", temperature=1.0).colorize(g)
    assert np.abs(low.astype(int) - high).mean() > 1.0  # mode-like vs mean-like colours differ
    for out in (low, high):
        assert np.abs(luminance(out) - luminance(g)).max() < 0.5
    assert tinct.load_model("lite", device="cpu").model.temperature == MODELS["lite"].kwargs["temperature"]
    with pytest.raises(ValueError, match="no option"):
        tinct.load_model("lite", device="cpu", bogus=1)


def test_package_data_paths_exist():
    assert Path(tinct.__file__).parent.joinpath("weights", "lite.safetensors").exists()


@pytest.mark.parametrize("kind", ["scribbles", "reference", "reference-welsh", "lut"])
def test_guided_colorization_keeps_luminance(session, kind):
    g = gradient_rgb()[..., 0]
    if kind == "scribbles":
        s = np.zeros((48, 64, 4), np.uint8)
        s[5:10, 5:10] = (220, 30, 30, 255)
        s[40:45, 50:60] = (30, 30, 220, 255)
        out = session.colorize(g, scribbles=s)
        assert out[7, 7, 0] > out[7, 7, 2] and out[42, 55, 2] > out[42, 55, 0]
    elif kind.startswith("reference"):
        ref = np.zeros((30, 30, 3), np.uint8)
        ref[..., 1] = np.linspace(40, 220, 30).astype(np.uint8)[None]  # greens
        out = session.colorize(g, reference=ref, method="welsh" if kind.endswith("welsh") else "reinhard")
        assert (out[..., 1].astype(int) - out[..., 0]).mean() > 5  # it is green
    else:
        out = session.colorize(g, lut="magma")
    assert np.abs(luminance(out) - luminance(g)).max() < 0.5


def test_guidance_errors(session):
    g = gradient_rgb()[..., 0]
    with pytest.raises(ValueError, match="not reference and lut"):
        session.colorize(g, reference=gradient_rgb(), lut="magma")
    with pytest.raises(ValueError, match="scribble image is 10x10 but the input is 64x48"):
        session.colorize(g, scribbles=np.zeros((10, 10, 4), np.uint8))
    with pytest.raises(ValueError, match="unknown method"):
        session.colorize(g, reference=gradient_rgb(), method="magic")


def test_cli_guidance(tmp_path):
    src = tmp_path / "cat.jpg"
    shutil.copy(DEMO / "CatWash1931.jpg", src)
    r = CliRunner().invoke(app, ["colorize", str(src), "--lut", "magma", "-o", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "pseudo-colour" in Image.open(tmp_path / "o" / "cat_color.jpg").getexif()[0x0131]
    r = CliRunner().invoke(app, ["colorize", str(src), "--lut", "nonexistent-map"])
    assert r.exit_code == 2 and "nonexistent-map" in r.output


@pytest.fixture(scope="module")
def trained_weights(tmp_path_factory, smoke_dir) -> Path:
    """The model.safetensors of a tiny 2-step `tinct train` run (a user's own model)."""
    from tinct.train import TrainConfig, train

    out = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(
        model="lite", data=str(smoke_dir), steps=2, batch=4, size=32, warmup=1, out=str(out), prior_images=8,
        model_kwargs={"width": 8, "temperature": 0.5},
    )  # fmt: skip
    train(cfg, progress=False)
    return out / "model.safetensors"


def test_a_trained_weights_file_is_a_model_everywhere(trained_weights, tmp_path):
    """`--model runs/x/model.safetensors`: the API, `tinct colorize` and `tinct eval` use a run's weights."""
    from tinct.registry import resolve_spec

    spec = resolve_spec(str(trained_weights))
    assert (spec.arch, spec.kwargs["width"], spec.weights_path) == ("lite", 8, trained_weights)
    session = tinct.load_model(str(trained_weights), device="cpu", backend="torch")
    assert session.model.temperature == 0.5 and session.model.enc0[0][0].out_channels == 8
    gray = gradient_rgb(40, 56)[..., 0]
    out = session.colorize(gray)
    assert out.shape == (40, 56, 3) and out.dtype == np.uint8
    assert np.abs(luminance(out) - luminance(np.repeat(gray[..., None], 3, 2))).max() < 1.0

    src = tmp_path / "g.png"
    Image.fromarray(gray).save(src)
    r = CliRunner().invoke(app, ["colorize", str(src), "--model", str(trained_weights), "-o", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert np.array_equal(np.asarray(Image.open(tmp_path / "o" / "g_color.png").convert("RGB")), out)

    truth = tmp_path / "truth"
    truth.mkdir()
    Image.fromarray(gradient_rgb(40, 56)).save(truth / "t.png")
    r = CliRunner().invoke(
        app, ["eval", str(truth), "--models", f"lite,{trained_weights}", "--out", str(tmp_path / "rep"), "-q"]
    )
    assert r.exit_code == 0, r.output
    import json

    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    assert str(trained_weights) in json.dumps(summary) and "lite" in json.dumps(summary)


def test_weights_files_that_are_not_models_are_refused(tmp_path):
    from safetensors.numpy import save_file

    from tinct.registry import resolve_spec

    with pytest.raises(UnknownModelError, match="not found"):
        resolve_spec(str(tmp_path / "nope.safetensors"))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file at all")
    with pytest.raises(UnknownModelError, match="not a readable safetensors file"):
        resolve_spec(str(junk))
    bare = tmp_path / "bare.safetensors"
    save_file({"w": np.zeros(2, np.float32)}, str(bare))
    with pytest.raises(UnknownModelError, match="no tinct metadata"):
        resolve_spec(str(bare))
    alien = tmp_path / "alien.safetensors"
    save_file({"w": np.zeros(2, np.float32)}, str(alien), metadata={"arch": '"resnet"', "kwargs": "{}"})
    with pytest.raises(UnknownModelError, match="unknown architecture 'resnet'"):
        resolve_spec(str(alien))
    r = CliRunner().invoke(app, ["colorize", str(DEMO), "--model", str(bare), "-o", str(tmp_path / "o")])
    assert r.exit_code != 0 and "no tinct metadata" in r.output
