"""The decoding options of classification models (``temperature``, ``chroma_restore``): a value no
decoding can use (0 or below, NaN, infinity, a chroma share outside 0-1) is refused in one line on the
network, by ``load_model`` before anything loads (a cached ONNX export included) and by the CLI,
which writes nothing; before, ``--temperature nan`` wrote a black photo and exited 0."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tinct.api import load_model
from tinct.backends.ort import export_path
from tinct.cli import app
from tinct.models.prism import PrismNet

from .conftest import DEMO

BAD_TEMPERATURES = [0, -1.0, math.nan, math.inf, True, "0.5"]


@pytest.mark.parametrize("bad", BAD_TEMPERATURES)
def test_the_network_refuses_a_temperature_no_decoding_can_use(bad):
    net = PrismNet(width=8)
    with pytest.raises(ValueError, match=r"^temperature must be a number above 0 \(e\.g\. 0\.38\), got "):
        net.temperature = bad
    assert net.temperature == 0.38  # unchanged
    with pytest.raises(ValueError, match="^temperature must be"):
        PrismNet(width=8, temperature=bad)


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan, False])
def test_the_network_refuses_a_chroma_restore_outside_0_to_1(bad):
    net = PrismNet(width=8)
    with pytest.raises(ValueError, match=r"^chroma_restore must be a number from 0 to 1, got "):
        net.chroma_restore = bad
    assert net.chroma_restore == 0.0


def test_good_values_are_kept_as_floats():
    net = PrismNet(width=8, temperature=2, chroma_restore=1)
    assert (net.temperature, net.chroma_restore) == (2.0, 1.0)
    assert type(net.temperature) is float and type(net.chroma_restore) is float


def test_load_model_refuses_before_a_cached_export_of_the_same_options_is_reached():
    path, _ = export_path("prism", temperature=math.nan)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not an onnx file: the refusal must come first")
    try:
        for backend in ("auto", "torch"):
            with pytest.raises(ValueError, match=r"^temperature must be a number above 0 \(e\.g\. 0\.38\), got nan$"):
                load_model("prism", device="cpu", backend=backend, temperature=math.nan)
        with pytest.raises(ValueError, match=r"^chroma_restore must be a number from 0 to 1, got 2$"):
            load_model("prism", device="cpu", chroma_restore=2)
    finally:
        path.unlink()


@pytest.mark.parametrize("bad", ["0", "-1", "nan", "inf"])
def test_cli_refuses_a_bad_temperature_in_one_line_and_writes_nothing(bad, tmp_path):
    src = tmp_path / "photo.png"
    with Image.open(DEMO / "1909Chicago.jpg") as im:
        im.convert("L").resize((96, 64)).save(src)
    out = tmp_path / "out.png"
    r = CliRunner().invoke(app, ["colorize", str(src), "-o", str(out), "-q", "--temperature", bad])
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert r.output.startswith(f"error: temperature must be a number above 0 (e.g. 0.38), got {float(bad)}")
    assert not out.exists()
    r = CliRunner().invoke(app, ["colorize", str(src), "-o", str(out), "-q", "--temperature", "0.5"])
    assert r.exit_code == 0 and np.asarray(Image.open(out)).std() > 0, r.output
