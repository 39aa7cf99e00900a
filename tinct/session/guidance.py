"""User guidance: colour that replaces the model's (scribbles, a reference image, a look-up table) or
steers a hint model (colour points). :class:`Guidance` is part of every colorize request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from tinct.core.color import luminance
from tinct.core.fullres import join_ab
from tinct.core.hints import parse_hints
from tinct.core.pixels import to_uint8
from tinct.io.errors import ImageError
from tinct.io.images import read_image

METHODS = ("reinhard", "welsh")  #: how a reference image's colours are transferred


def guidance_image(image: Any, what: str, max_pixels: int | None = None) -> np.ndarray:
    """A guidance image (path, encoded bytes, PIL or numpy) as uint8 RGB (or RGBA: scribbles may carry alpha).

    Files are read with :func:`tinct.io.read_image` (``max_pixels`` its limit; 16-bit images scaled
    to 8 bits); its ImageError names ``what`` and the file. An array must already be H x W x 3 (or
    x 4) uint8: ValueError naming ``what`` otherwise.
    """
    if isinstance(image, (str, Path, bytes)):
        try:
            img = read_image(image, max_pixels=max_pixels)
        except ImageError as e:  # name the guidance file: "file not found" alone does not say which
            if isinstance(image, bytes):
                raise
            raise type(e)(f"{what} {image}: {e}") from None
        px = to_uint8(img.pixels)
        px = np.dstack([px] * 3) if px.ndim == 2 else px
        return np.dstack([px, img.alpha]) if img.alpha is not None else px
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGBA" if "A" in image.mode else "RGB"))
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"{what} must be an H x W x 3 (or x 4) uint8 image, got {a.dtype} {a.shape}")
    return a


@dataclass
class Guidance:
    """User guidance: at most one kind at a time.

    Replacing the automatic model (:mod:`tinct.classical`): ``scribbles``: an image the size of the
    input with colour strokes (unmarked pixels transparent or equal to the gray input), propagated
    by Levin et al.; ``reference``: a colour image whose colours are transferred (``method``
    "reinhard" or "welsh"); ``lut``: a look-up table name or CSV/JSON file (luminance keying:
    pseudo-colour).

    Steering a hint model (:mod:`tinct.core.hints`): ``hints``: colour points (x, y, colour) in
    input pixels -- a list of ``{"x", "y", "color"}`` dicts, ``[x, y, color]`` lists or
    :class:`tinct.core.hints.Hint`, or the path of a JSON file of them. After construction ``hints``
    is a list of :class:`~tinct.core.hints.Hint` (empty when none were given); bad hints raise
    :class:`~tinct.core.hints.HintError` here, points off the image when an image is colorized.
    """

    scribbles: Any = None
    reference: Any = None
    method: str = "reinhard"
    lut: str | Path | None = None
    hints: Any = None

    def __post_init__(self) -> None:
        given = [k for k in ("scribbles", "reference", "lut") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of scribbles, reference or lut, not {' and '.join(given)}")
        self.hints = parse_hints(self.hints)
        if self.hints and given:
            raise ValueError(f"colour hints steer a hint model; they cannot be combined with {given[0]}")
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; use one of {', '.join(METHODS)}")
        if self.scribbles is not None:
            self.scribbles = guidance_image(self.scribbles, "scribbles")
        if self.reference is not None:
            self.reference = guidance_image(self.reference, "reference")[..., :3]
        if self.lut is not None:
            from tinct.classical import lut as luts  # the classical methods load when used (they import torch)

            self.lut = luts.load_lut(self.lut)

    @property
    def active(self) -> bool:
        """True when the colour comes from this guidance instead of the model."""
        return any(v is not None for v in (self.scribbles, self.reference, self.lut))

    def describe(self) -> str:
        if self.scribbles is not None:
            return "scribbles (Levin et al. 2004)"
        if self.reference is not None:
            return f"reference image ({self.method})"
        return f"pseudo-colour look-up table {getattr(self.lut, 'name', self.lut)}"

    def ab(self, L: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """ab (2, H, W) for full-resolution L (H, W) of ``pixels`` (active guidance only)."""
        from tinct.classical import lut as luts
        from tinct.classical import scribbles as scribbling
        from tinct.classical import transfer

        if self.scribbles is not None:
            if self.scribbles.shape[:2] != L.shape:
                h, w = self.scribbles.shape[:2]
                raise ValueError(f"the scribble image is {w}x{h} but the input is {L.shape[1]}x{L.shape[0]}")
            gray = pixels if pixels.ndim == 2 and pixels.dtype == np.uint8 else None
            mask = scribbling.scribble_mask_from_image(self.scribbles, gray)
            return scribbling.scribbles_ab(L, self.scribbles[..., :3], mask)
        if self.reference is not None:
            fn = transfer.reinhard_ab if self.method == "reinhard" else transfer.welsh_ab
            return fn(L, self.reference)
        return luts.lut_ab(L, self.lut)

    def colorize(self, pixels: np.ndarray) -> np.ndarray:
        """Colour ``pixels`` (gray or RGB, uint8/uint16) with this guidance: its ab joined with the image's
        own L -> uint8 RGB (H, W, 3). No model is involved (active guidance only)."""
        L = luminance(pixels)
        return join_ab(L, self.ab(L, pixels))

    def note(self) -> str:
        """What the output's metadata adds about this guidance ("" for none; the pseudo-colour warning for a LUT)."""
        if self.lut is None:
            return ""
        from tinct.classical import lut as luts

        return luts.PSEUDO_COLOUR_NOTE
