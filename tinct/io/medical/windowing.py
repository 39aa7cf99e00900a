"""Windowing: from stored or physical values to display gray (DICOM PS3.3 C.11.2.1.2 VOI windows).

A window maps a value range to [0, 1]; :func:`resolve_window` chooses it from the user's spec
("auto", "full" or CENTER,WIDTH) and the reader's own (the file's window, or a percentile range:
:func:`percentile_window`); :func:`tinct.core.pixels.unit_to_uint16` makes the uint16 display frames of
:class:`~tinct.io.medical.image.MedicalImage`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Union

import numpy as np

#: "auto", "full" or an explicit (center, width)
WindowSpec = Union[str, tuple[float, float]]

PERCENTILES = (0.5, 99.5)  #: the "auto" window of NIfTI volumes without cal_min/cal_max, and of FITS


@dataclass(frozen=True)
class Window:
    """A VOI window (DICOM PS3.3 C.11.2.1.2): ``function`` is LINEAR, LINEAR_EXACT or SIGMOID."""

    center: float
    width: float
    function: str = "LINEAR"

    @classmethod
    def from_range(cls, lo: float, hi: float) -> Window:
        """The window that maps ``lo`` to black and ``hi`` to white exactly (LINEAR_EXACT)."""
        return cls((lo + hi) / 2.0, max(hi - lo, 1e-12), "LINEAR_EXACT")

    def describe(self) -> str:
        return f"C{self.center:g} W{self.width:g} {self.function}"


def apply_window(values: np.ndarray, window: Window) -> np.ndarray:
    """Window ``values`` to [0, 1] (float32) with the DICOM PS3.3 C.11.2.1.2/C.11.2.1.3 formulas.

    LINEAR (C.11.2.1.2.1, width >= 1): ``x <= c - 0.5 - (w-1)/2`` -> 0; ``x > c - 0.5 + (w-1)/2``
    -> 1; else ``(x - (c - 0.5)) / (w - 1) + 0.5``. LINEAR_EXACT (C.11.2.1.3.2, width > 0):
    ``(x - c) / w + 0.5`` clipped to [0, 1]. SIGMOID: ``1 / (1 + exp(-4 (x - c) / w))``.
    Multiply by 65535 and round for the uint16 display values of :class:`MedicalImage`.
    """
    x = np.asarray(values, dtype=np.float64)
    c, w, fn = float(window.center), float(window.width), window.function.upper()
    if fn == "LINEAR":
        if w < 1:
            raise ValueError(f"a LINEAR window needs a width of at least 1, got {w:g}")
        if w == 1:  # the formula's limit: a step at c - 0.5
            return (x > c - 0.5).astype(np.float32)
        y = (x - (c - 0.5)) / (w - 1) + 0.5
        y[x <= c - 0.5 - (w - 1) / 2] = 0.0
        y[x > c - 0.5 + (w - 1) / 2] = 1.0
    elif fn == "LINEAR_EXACT":
        if w <= 0:
            raise ValueError(f"a LINEAR_EXACT window needs a positive width, got {w:g}")
        y = (x - c) / w + 0.5
    elif fn == "SIGMOID":
        if w <= 0:
            raise ValueError(f"a SIGMOID window needs a positive width, got {w:g}")
        y = 1.0 / (1.0 + np.exp(np.clip(-4.0 * (x - c) / w, -700, 700)))
    else:
        raise ValueError(f"unknown VOI LUT function {window.function!r}")
    return np.clip(y, 0.0, 1.0).astype(np.float32)


def parse_window(text: str | Sequence[float]) -> WindowSpec:
    """Parse a ``--window`` value: "auto", "full", or "CENTER,WIDTH" (e.g. "40,400").

    Raises:
        ValueError: anything else, or a width that is not positive.
    """
    if isinstance(text, str):
        t = text.strip().lower()
        if t in ("auto", "full"):
            return t
        parts = t.replace(";", ",").split(",")
    else:
        parts = list(text)
    try:
        center, width = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise ValueError(f"window must be 'auto', 'full' or 'CENTER,WIDTH' (e.g. 40,400), got {text!r}") from None
    if not (np.isfinite(center) and np.isfinite(width)) or width < 1:
        raise ValueError(f"window width must be at least 1 (and both numbers finite), got {text!r}")
    return (center, width)


def resolve_window(window: WindowSpec, lo: float, hi: float, auto: Window | None = None) -> tuple[Window, str]:
    """The :class:`Window` for a ``window`` spec, and how it was chosen (for the description).

    "auto": ``auto`` (the file's own window, or a percentile range, chosen by the reader) if
    given, else ``lo..hi``; "full": ``lo..hi`` (the data's min..max); (center, width): that
    window with the DICOM LINEAR function.
    """
    spec = parse_window(window)
    if spec == "auto" and auto is not None:
        return auto, f"{auto.describe()} (auto)"
    if spec in ("auto", "full"):
        return Window.from_range(lo, hi), f"min..max {lo:g}..{hi:g} ({spec})"
    c, w = spec  # type: ignore[misc]
    return Window(c, w, "LINEAR"), f"C{c:g} W{w:g} LINEAR (given)"


def finite_range(arrays: Sequence[np.ndarray], masks: Sequence[np.ndarray | None] | None = None) -> tuple[float, float]:
    """min and max over the finite, unmasked values of ``arrays`` ((0, 0) when there are none)."""
    lo, hi = np.inf, -np.inf
    for i, a in enumerate(arrays):
        m = masks[i] if masks is not None else None
        v = a[~m] if m is not None else a
        v = v[np.isfinite(v)] if v.dtype.kind == "f" else v
        if v.size:
            lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
    return (lo, hi) if lo <= hi else (0.0, 0.0)


def fill_nonfinite(volume: np.ndarray, notes: list[str]) -> np.ndarray:
    """Set NaN and +-inf values to the finite minimum (0 if none is finite), with a note."""
    bad = ~np.isfinite(volume)
    n = int(bad.sum())
    if n:
        finite = volume[~bad]
        fill = float(finite.min()) if finite.size else 0.0
        volume = np.where(bad, fill, volume).astype(np.float32)
        notes.append(f"{n} NaN/inf value(s) set to the minimum {fill:g}")
    return volume


def percentile_window(values: np.ndarray, window: WindowSpec) -> Window | None:
    """The "auto" window of uncalibrated data: the :data:`PERCENTILES` range of ``values`` (None when
    ``window`` is not "auto", the data is empty or that range is empty)."""
    if parse_window(window) != "auto" or not values.size:
        return None
    lo, hi = np.percentile(values, PERCENTILES)
    return Window.from_range(float(lo), float(hi)) if hi > lo else None
