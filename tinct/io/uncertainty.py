"""Uncertainty maps: where the model is unsure of the colour (``tinct colorize --uncertainty``).

For a model with a colour distribution (``kind == "classification"``: a softmax over the Q ab
bins of :class:`tinct.quantize.ABQuantizer`), the uncertainty of a pixel is the entropy of its
predicted distribution divided by log(Q): 0 = all the mass on one bin (certain), 1 = uniform over
the bins (no idea). It is computed at the network's output resolution in the same forward pass
that gives the colour (:meth:`tinct.models.base.Colorizer.predict_ab_uncertainty`), and upsampled
to the input's size as the colour is, guided by L (:func:`tinct.core.pipeline.full_resolution`).
Regression models predict one colour per pixel, with no distribution, and have no map
(:class:`tinct.models.base.NoColourDistributionError`).

Files: ``{stem}_uncertainty.png`` beside the colour output (``{stem}_uncertainty_0001.png``... per
frame or slice of a medical input), a **16-bit grayscale PNG**: value = round(u x 65535), black =
certain, white = uniform; the PNG text chunk ``Software`` says what it is and ``Description`` how
to read the values. Written atomically, like every tinct output.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tinct.io.files import atomic_write_bytes
from tinct.version import __version__

SUFFIX = "_uncertainty"  #: appended to the input's stem
DESCRIPTION = (
    "tinct uncertainty map: normalised entropy of the model's colour distribution per pixel; "
    "value / 65535 in [0, 1]: 0 = certain (one ab bin), 1 = uniform over the bins"
)

__all__ = ["DESCRIPTION", "SUFFIX", "encode_uncertainty", "uncertainty_note", "uncertainty_path", "write_uncertainty"]


def uncertainty_note(model: str) -> str:
    """The provenance note of an uncertainty map made by registry model ``model``."""
    return f"tinct {__version__} uncertainty map (model {model}); not an image: the model's colour entropy"


def encode_uncertainty(u: np.ndarray, note: str | None = None) -> bytes:
    """An uncertainty map (H, W) in [0, 1] -> 16-bit grayscale PNG bytes (round(u x 65535)).

    Values outside [0, 1] are clipped and NaN is written as 1 (unknown). ``note`` goes into the
    ``Software`` text chunk; ``Description`` (:data:`DESCRIPTION`) says how to read the values.
    """
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    a = np.asarray(u, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"an uncertainty map is H x W, got shape {a.shape}")
    px = np.rint(np.clip(np.nan_to_num(a, nan=1.0), 0.0, 1.0) * 65535).astype(np.uint16)
    meta = PngInfo()
    if note:
        meta.add_text("Software", note)
    meta.add_text("Description", DESCRIPTION)
    buf = io.BytesIO()
    Image.fromarray(px).save(buf, format="PNG", pnginfo=meta, compress_level=3)  # uint16: mode I;16
    return buf.getvalue()


def uncertainty_path(stem: str, folder: str | Path, index: int | None = None) -> Path:
    """``{folder}/{stem}_uncertainty.png``, or ``..._uncertainty_{index:04d}.png`` for frame ``index`` (1-based)."""
    suffix = "" if index is None else f"_{index:04d}"
    return Path(folder) / f"{stem}{SUFFIX}{suffix}.png"


def write_uncertainty(maps: Sequence[np.ndarray], stem: str, folder: str | Path, note: str | None = None) -> list[Path]:
    """Write one map as ``{stem}_uncertainty.png``, several as ``{stem}_uncertainty_0001.png``... (atomically)."""
    paths = []
    for i, u in enumerate(maps):
        path = uncertainty_path(stem, folder, None if len(maps) == 1 else i + 1)
        atomic_write_bytes(path, encode_uncertainty(u, note))
        paths.append(path)
    return paths
