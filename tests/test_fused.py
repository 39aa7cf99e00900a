"""The compiled full-resolution kernel (tinct.core.fused, numba; the `fast` extra): the same pixels
as the numpy kernels to the bit, loaded in the background, and used by a batch's lanes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tinct.core import fullres

from .conftest import DEMO

pytest.importorskip("numba", reason="the compiled kernel is an optional extra: pip install 'tinct[fast]'")


@pytest.fixture(scope="module")
def kernel():
    k = fullres.fused_kernel(wait=120)  # numba's import, then the kernel compiled or read from its cache
    assert k is not None, "the compiled kernel did not load"
    return k


def _case(seed: int, h: int = 301, w: int = 203, spread: float = 60.0):
    rng = np.random.default_rng(seed)
    L = np.clip(rng.normal(55, 30, (h, w)), 0, 100).astype(np.float32)
    ab = (rng.standard_normal((2, 12, 9)) * spread).astype(np.float32)  # wide: many colours outside sRGB
    Lg = np.clip(rng.normal(55, 20, (12, 9)), 0, 100).astype(np.float32)
    return L, ab, Lg


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("guided", [True, False])
def test_same_pixels_as_the_numpy_kernels(kernel, seed, guided):
    L, ab, Lg = _case(seed)
    guide = Lg if guided else None
    fused = fullres.join_full_resolution(L, ab, guide, fused=True, threads=2)
    plain = fullres.join_full_resolution(L, ab, guide)
    assert np.array_equal(fused, plain)
    # the case exercises the chroma bisection: many of its colours lie outside sRGB
    assert (np.abs(ab) > 80).mean() > 0.1


def test_same_colorized_photos(kernel):
    from tinct.api import load_model

    session = load_model("lite", device="cpu")
    lane = session.concurrent()
    if lane is None:
        pytest.skip("needs the ONNX backend (onnxruntime)")
    assert lane.fullres_fused
    for path in sorted(DEMO.glob("*.jpg"))[:3]:
        gray = np.asarray(Image.open(path).convert("L"))
        assert np.array_equal(lane.colorize(gray), session.colorize(gray)), path.name


def test_without_the_kernel_the_numpy_kernels_run(monkeypatch):
    monkeypatch.setitem(fullres._FUSED, "state", "failed")
    monkeypatch.setitem(fullres._FUSED, "module", None)
    L, ab, Lg = _case(3, 40, 30)
    assert fullres.fused_kernel() is None
    assert np.array_equal(fullres.join_full_resolution(L, ab, Lg, fused=True), fullres.join_full_resolution(L, ab, Lg))
