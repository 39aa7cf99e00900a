"""The torch-free still path: the model half in numpy (tinct.core.lowres) and a session started from a
cached ONNX export without importing torch (tinct.backends.ort.ready_predictor)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tinct.core import lowres, pipeline
from tinct.core.color import luminance

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "tinct" / "demo" / "1909Chicago.jpg"


@pytest.mark.parametrize(("shape", "size"), [((300, 400), 128), ((161, 203), 256), ((999, 777), 256), ((50, 3), 2)])
def test_resize_matches_torch_antialiased_bilinear(shape, size):
    L = np.random.default_rng(1).uniform(0, 100, shape).astype(np.float32)
    small = lowres.working_shape(*shape, size)
    ours = lowres.resize_l(L, small)
    ref = pipeline.resize_l(torch.from_numpy(L), small)[0, 0].numpy()
    assert ours.shape == small and np.abs(ours - ref).max() < 1e-3


def test_area_resize_matches_torch_area():
    x = np.random.default_rng(2).uniform(0, 100, (37, 50)).astype(np.float32)
    ref = torch.nn.functional.interpolate(torch.from_numpy(x)[None, None], size=(9, 13), mode="area")[0, 0]
    assert np.abs(lowres.area_resize(x, (9, 13)) - ref.numpy()).max() < 1e-3


def test_numpy_still_path_is_within_one_code_of_the_torch_path(tmp_path, monkeypatch):
    import tinct

    monkeypatch.setenv("TINCT_CACHE", str(tmp_path / "cache"))
    gray = np.asarray(Image.open(DEMO).convert("L"))[:301, :433]
    torch_out = tinct.load_model("lite", device="cpu", backend="torch").colorize(gray)
    onnx_session = tinct.load_model("lite", device="cpu", backend="onnx")  # exports, then the numpy path
    assert hasattr(onnx_session.predictor, "run")
    diff = np.abs(onnx_session.colorize(gray).astype(int) - torch_out)
    assert diff.max() <= 1 and diff.mean() < 0.01
    L = luminance(gray)
    ab, guide = lowres.predict_lowres(L, onnx_session.predictor.run, onnx_session.multiple, onnx_session.working_size)
    assert ab.shape[0] == 2 and guide.shape == ab.shape[1:]


CHILD = """
import json, sys
import numpy as np
import tinct
from tinct.api import load_model
s = load_model("lite", device="cpu")
rgb = s.colorize(np.tile(np.arange(96, dtype=np.uint8), (64, 1)))
torch_free = "torch" not in sys.modules
s.model  # the torch network, built on demand
print(json.dumps({"backend": s.backend, "torch_free": torch_free, "shape": list(rgb.shape),
                  "torch_later": "torch" in sys.modules, "multiple": s.multiple}))
"""


def test_a_cached_export_colorizes_without_importing_torch(tmp_path, monkeypatch):
    from tinct.backends.onnx import cached_export

    monkeypatch.setenv("TINCT_CACHE", str(tmp_path / "cache"))
    cached_export("lite")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got == {"backend": "onnx", "torch_free": True, "shape": [64, 96, 3], "torch_later": True, "multiple": 8}


def test_deferred_file_writes_what_colorize_image_gives(tmp_path):
    """colorize_file with ``defer`` runs the full-resolution half in the deferred work (pipelining in
    a batch); the file is the same image as the direct path, and hints still refuse a non-hint model."""
    import tinct
    from tinct.core.hints import HintError
    from tinct.io import read_image
    from tinct.session import Guidance

    session = tinct.load_model("lite", device="cpu", backend="onnx")
    src = tmp_path / "in.png"
    Image.open(DEMO).convert("L").crop((0, 0, 240, 180)).save(src)
    later = []
    dst = session.colorize_file(src, tmp_path / "out.png", defer=later.append)
    assert not dst.exists() and len(later) == 1  # nothing written until the deferred work runs
    later[0]()
    direct = session.colorize_image(read_image(src)).rgb
    assert np.array_equal(np.asarray(Image.open(dst)), direct)
    with pytest.raises(HintError, match="does not take colour hints"):
        session.colorize_file(src, tmp_path / "h.png", defer=later.append, guidance=Guidance(hints=[[5, 5, "#ff0000"]]))


def test_torch_bf16_on_the_cpu_is_opt_in_and_close_to_fp32_for_lite(monkeypatch):
    """The torch backend's bf16 autocast (tinct.backends.torch.use_cpu_bf16): off unless TINCT_BF16=1;
    for lite the final RGB stays within 2 codes of fp32."""
    import tinct
    from tinct.backends.torch import use_cpu_bf16

    monkeypatch.delenv("TINCT_BF16", raising=False)
    assert not use_cpu_bf16(torch.device("cpu"))
    monkeypatch.setenv("TINCT_BF16", "1")
    assert use_cpu_bf16(torch.device("cpu")) and not use_cpu_bf16(torch.device("meta"))
    session = tinct.load_model("lite", device="cpu", backend="torch")
    assert session.network.bf16
    gray = np.asarray(Image.open(DEMO).convert("L"))[:240, :320]
    bf16 = session.colorize(gray).astype(int)
    session.network.bf16 = False
    diff = np.abs(bf16 - session.colorize(gray))
    assert diff.max() <= 2 and diff.mean() < 0.1


def test_views_of_a_deferred_session_build_one_network(tmp_path, monkeypatch):
    import tinct
    from tinct.backends.onnx import cached_export

    monkeypatch.setenv("TINCT_CACHE", str(tmp_path / "cache"))
    cached_export("lite")
    base = tinct.load_model("lite", device="cpu")
    view = base.with_working_size(128)
    assert base._model is None and view.multiple == base.multiple == 8  # from the export's metadata
    assert view.model is base.model and view._lock is base._lock
