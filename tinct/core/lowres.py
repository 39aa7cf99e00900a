"""The model half of the pipeline in numpy, for a network that runs without torch (onnxruntime).

The same steps as :func:`tinct.core.pipeline.predict_lowres_batch` for one frame of a model without
hints: full-resolution L -> L at the working size (anti-aliased bilinear, the weights torch's
``F.interpolate(..., antialias=True)`` uses) -> normalised, edge-padded to the network's multiple ->
``predict`` -> ab cropped back, and L at ab's resolution (area average, as ``mode="area"``) to guide
the upsampling. Agreement with the torch path: L at the working size within 1e-3 L units; final
8-bit RGB within 1 code (tests/test_lowres.py). Importing this module does not import torch.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np
from PIL import Image

#: a function from normalised L (B, 1, h, w) float32 to ab in Lab units (B, 2, h', w') float32
NumpyPredictor = Callable[[np.ndarray], np.ndarray]


def working_shape(h: int, w: int, working_size: int) -> tuple[int, int]:
    """Size the model sees: short side = ``working_size`` (never upscaled), aspect kept."""
    s = min(working_size, min(h, w)) / min(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def resize_l(L: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """L (H, W) float32 -> (h, w) with an anti-aliased bilinear filter (a downscale, or the same size).

    Pillow's BILINEAR reduce of a float image: a triangle as wide as the scale, the weights torch's
    ``F.interpolate(..., antialias=True)`` uses, in one call that releases the GIL (so a batch's
    other threads keep running).
    """
    h, w = shape
    if (h, w) == L.shape:
        return L.astype(np.float32, copy=True)
    image = Image.fromarray(np.ascontiguousarray(L, np.float32), "F")
    return np.asarray(image.resize((w, h), Image.Resampling.BILINEAR), np.float32)


@functools.lru_cache(maxsize=64)
def _area_matrix(n: int, m: int) -> np.ndarray:
    """(m, n) averaging weights of torch's ``mode="area"``: cell i spans floor(i n / m) to ceil((i + 1) n / m)."""
    a = np.zeros((m, n), np.float32)
    for i in range(m):
        lo, hi = (i * n) // m, math.ceil((i + 1) * n / m)
        a[i, lo:hi] = 1.0 / (hi - lo)
    a.flags.writeable = False
    return a


def area_resize(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(h, w) -> ``shape`` by adaptive averaging (torch's ``mode="area"``)."""
    return _area_matrix(x.shape[0], shape[0]) @ x @ _area_matrix(x.shape[1], shape[1]).T


def predict_lowres(
    L: np.ndarray, predict: NumpyPredictor, multiple: int, working_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The model half for one frame without hints: full-resolution L (H, W) -> (ab (2, h, w), L_guide (h, w)).

    ``ab`` is ``predict``'s output for L seen at ``working_size``, cropped to the unpadded input;
    ``L_guide`` is L at ab's resolution (for :func:`tinct.core.fullres.join_full_resolution`).
    """
    shape = working_shape(*L.shape, working_size)
    small = resize_l(np.asarray(L, np.float32), shape)
    h, w = shape
    ph, pw = (-h) % multiple, (-w) % multiple
    x = small * np.float32(1.0 / 50.0) - np.float32(1.0)
    if ph or pw:
        x = np.pad(x, ((0, ph), (0, pw)), mode="edge")
    ab = np.asarray(predict(np.ascontiguousarray(x[None, None], np.float32)), np.float32)[0]
    sy, sx = ab.shape[-2] / x.shape[0], ab.shape[-1] / x.shape[1]
    ab = ab[:, : max(1, round(h * sy)), : max(1, round(w * sx))]
    return ab, area_resize(small, ab.shape[-2:])
