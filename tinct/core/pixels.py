"""Pixel values without torch: [0, 1] floats -> 16 bits, 16 -> 8 bits, and the one parser of user colours.

Importing this module imports numpy and Pillow only, so the image readers (:mod:`tinct.io.images`)
stay light.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from PIL import ImageColor


def unit_to_uint16(unit: np.ndarray) -> np.ndarray:
    """Floats in [0, 1] (clipped; NaN as 0) -> uint16 codes, ``rint(v * 65535)``."""
    return np.rint(np.clip(np.nan_to_num(unit), 0.0, 1.0) * 65535.0).astype(np.uint16)


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """uint8 pixels as they are; uint16 ones scaled to 8 bits and rounded, ``round(v * 255 / 65535)``."""
    if pixels.dtype == np.uint8:
        return pixels
    if pixels.dtype != np.uint16:
        raise ValueError(f"expected uint8 or uint16 pixels, got {pixels.dtype}")
    return ((pixels.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


_HEX_RGB = re.compile(r"#?([0-9a-fA-F]{6})")


def parse_rgb8(value: object, *, lenient: bool = False) -> tuple[int, int, int]:
    """An 8-bit sRGB colour from ``"#rrggbb"`` (any case) or three integers 0-255; ValueError otherwise.

    The hex form is read by Pillow's :func:`PIL.ImageColor.getrgb`. ``lenient`` (look-up table
    files) also takes ``"rrggbb"`` without the ``#``, three numbers in one string (``"12 34 56"``,
    ``"12,34,56"``) and numbers that are not integers (rounded); the values must still be 0-255.
    """
    if isinstance(value, str):
        text = value.strip()
        parts = text.replace(",", " ").split()
        if lenient and len(parts) == 3:
            return _rgb_numbers(parts, value, lenient)
        m = _HEX_RGB.fullmatch(text)
        if m and (lenient or text.startswith("#")):
            r, g, b = ImageColor.getrgb("#" + m.group(1))[:3]
            return r, g, b
    elif isinstance(value, Sequence) and len(value) == 3:
        return _rgb_numbers(value, value, lenient)
    raise ValueError(f"colour {value!r} is neither '#rrggbb' nor three 8-bit values [r, g, b]")


def _rgb_numbers(values: Sequence, given: object, lenient: bool) -> tuple[int, int, int]:
    """Three channel values 0-255 (integers; rounded numbers when ``lenient``) -> (r, g, b)."""
    if lenient:
        try:
            rgb = [int(round(float(v))) for v in values]
        except (TypeError, ValueError):
            rgb = []
    else:
        rgb = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
        raise ValueError(f"colour {given!r} is neither '#rrggbb' nor three 8-bit values [r, g, b]")
    return rgb[0], rgb[1], rgb[2]
