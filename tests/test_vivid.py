"""``vivid``: a classification model decoded with a chosen share of its training's class-rebalancing
tilt (``tinct colorize --vivid``, ``load_model(..., vivid=)``): the shipped share reproduces the
shipped model exactly, more vivid is more colourful, the offset is the rebalancing factor's, the
luminance is kept, ONNX exports each setting apart, and every bad value or model is one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from typer.testing import CliRunner

from tinct.api import load_model
from tinct.backends.torch import vivid_offset
from tinct.cli import app
from tinct.core.metrics import colourfulness
from tinct.models.quantize import ABQuantizer
from tinct.registry import get_spec

from .conftest import DEMO

PHOTO = DEMO / "1909Chicago.jpg"


def prism_metadata() -> dict:
    with safe_open(str(get_spec("prism").weights_path), framework="pt") as f:
        return {k: json.loads(v) for k, v in f.metadata().items()}


@pytest.fixture(scope="module")
def gray() -> Image.Image:
    with Image.open(PHOTO) as im:
        return im.convert("L").resize((320, 240))


def colorized(gray: Image.Image, **options) -> np.ndarray:
    return np.asarray(load_model("prism", device="cpu", backend="torch", **options).colorize(gray))


def test_the_shipped_share_is_the_shipped_model(gray):
    shipped = prism_metadata()["prior_correction"]
    assert shipped == 0.375  # prism's card: 0.375 of the tilt folded out at release
    assert np.array_equal(colorized(gray, vivid=1 - shipped), colorized(gray))


def test_more_vivid_is_more_colourful_and_keeps_the_luminance(gray):
    outs = [colorized(gray, vivid=v) for v in (0.0, 0.625, 1.0)]
    m = [colourfulness(o) for o in outs]
    assert m[0] < m[1] < m[2] and m[2] > 1.15 * m[1]  # measured: about 4.5 / 6.4 / 7.7 on this photo
    for o in outs:
        y = np.asarray(Image.fromarray(o).convert("L"), dtype=float)
        assert np.abs(y - np.asarray(gray, dtype=float)).mean() < 1.0


def test_the_offset_is_the_rebalancing_factor_relative_to_the_file():
    meta = prism_metadata()
    cfg = meta["config"]
    tilt = ABQuantizer.rebalance_log_factor(
        torch.tensor(meta["bin_prior"]), cfg["rebalance_lambda"], cfg["rebalance_power"]
    )
    assert cfg["rebalance_power"] == 0.5 and tilt.abs().max() > 0.5
    assert torch.allclose(vivid_offset(meta, 0.625, "prism"), torch.zeros_like(tilt), atol=1e-7)
    assert torch.allclose(vivid_offset(meta, 1.0, "prism"), 0.375 * tilt)  # the folded share put back
    assert torch.allclose(vivid_offset(meta, 0.0, "prism"), -0.625 * tilt)
    assert torch.allclose(vivid_offset({**meta, "prior_correction": 0.0}, 1.0, "prism"), torch.zeros_like(tilt))
    default = load_model("prism", device="cpu", backend="torch").model.head.bias
    vivid = load_model("prism", device="cpu", backend="torch", vivid=1.0).model.head.bias
    assert torch.allclose(vivid - default, 0.375 * tilt, atol=1e-5)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.5", True])
def test_a_vividness_outside_0_to_1_is_refused(bad):
    with pytest.raises(ValueError, match=r"^vivid must be a number from 0 \(palest\) to 1 \(most colourful\), got "):
        load_model("prism", device="cpu", backend="torch", vivid=bad)


def test_a_model_without_its_bin_prior_is_refused():
    with pytest.raises(ValueError, match=r"^model 'lite' records no bin prior, so its vividness cannot be chosen"):
        load_model("lite", device="cpu", backend="torch", vivid=0.5)


def test_cli_vivid_end_to_end_and_its_mistakes(gray, tmp_path):
    pytest.importorskip("onnxruntime")
    src = tmp_path / "photo.png"
    gray.save(src)
    runner = CliRunner()
    runs = {"vivid": ["--vivid", "1"], "default": [], "torch": ["--vivid", "1", "--backend", "torch"]}
    for name, extra in runs.items():
        r = runner.invoke(app, ["colorize", str(src), "-o", str(tmp_path / f"{name}.png"), "-q", *extra])
        assert r.exit_code == 0, r.output
    out = {n: np.asarray(Image.open(tmp_path / f"{n}.png"), dtype=int) for n in ("vivid", "default", "torch")}
    assert np.abs(out["vivid"] - out["torch"]).max() <= 2  # the ONNX export of that setting, not the default's
    assert colourfulness(out["vivid"].astype(np.uint8)) > 1.15 * colourfulness(out["default"].astype(np.uint8))
    for args, message in (
        (["--vivid", "2"], "error: vivid must be a number from 0 (palest) to 1 (most colourful), got 2.0"),
        (["-m", "lite", "--vivid", "0.5"], "error: model 'lite' records no bin prior, so its vividness cannot be"),
    ):
        never = tmp_path / "never.png"
        r = runner.invoke(app, ["colorize", str(src), "-o", str(never), "-q", *args])
        assert r.exit_code == 2 and r.output.startswith(message) and r.output.count("\n") == 1, r.output
        assert not never.exists()
