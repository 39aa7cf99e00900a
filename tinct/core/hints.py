"""User colour hints for the models that take them (:mod:`tinct.models.hints`): parse, place, sample.

A hint is a colour at a point of the input image, given as JSON (a file for ``--hints``, the
``hints`` form field of the REST API) or as Python objects (``hints=`` of the API)::

    [{"x": 120, "y": 48, "color": "#3366cc"}, [30, 200, "#a0522d"], {"x": 7, "y": 9, "color": [200, 40, 40]}]

``x`` is the column and ``y`` the row, in pixels of the input image as it is read (EXIF
orientation applied), 0-based; fractions are rounded down, and a hint must lie on the image:
``0 <= x < width`` and ``0 <= y < height``. The colour is ``"#rrggbb"`` or ``[r, g, b]`` (integers
0-255, sRGB). Only its chroma is used: the hint is the colour's CIELAB ab (:mod:`tinct.color`).
The output keeps the input's own L as always, so a hinted point takes the hint's hue and chroma at
the image's lightness (with less chroma where that colour does not exist at that lightness).

At the working size the network sees, each hint becomes a square of :data:`HINT_PATCH` pixels
centred on the working pixel that holds the point; its three channels are a / 110, b / 110 and a
mask that is 1 on the square (:func:`hint_channels`; later hints overwrite earlier ones where
squares overlap). Training draws hints the same way from the truth (``tinct.train.simulate_hints``),
and ``tinct eval --hints N`` samples N true colour points per image (:func:`sample_true_hints`).

Every problem raises :class:`HintError`, a ``ValueError`` with a one-line message that names the hint.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinct.core.color import AB_SCALE, rgb_to_lab
from tinct.core.pixels import parse_rgb8
from tinct.core.propagation import levin_solve

if TYPE_CHECKING:
    import torch

HINT_PATCH = 3  #: side, in working-size pixels, of the square each hint covers at inference
MAX_HINTS = 4096  #: more hints than this are refused (a request, not a painting: use --scribbles)
HINT_CHANNELS = 3  #: a / 110, b / 110, mask


class HintError(ValueError):
    """Unusable hints: bad JSON, a bad point or colour, a point off the image, or a model without hints."""


@dataclass(frozen=True)
class Hint:
    """One colour point: ``x`` (column) and ``y`` (row) in input-image pixels, ``ab`` in Lab units."""

    x: float
    y: float
    ab: tuple[float, float]

    @classmethod
    def from_color(cls, x: float, y: float, color: Any, where: str = "hint") -> Hint:
        """A hint from a colour ``"#rrggbb"`` or ``[r, g, b]`` (0-255); :class:`HintError` if invalid."""
        return cls(_coordinate(x, "x", where), _coordinate(y, "y", where), color_ab(parse_color(color, where)))


def parse_color(value: Any, where: str = "hint") -> tuple[int, int, int]:
    """``"#rrggbb"`` (any case) or ``[r, g, b]`` with integers 0-255 -> (r, g, b).

    Read by :func:`tinct.core.pixels.parse_rgb8`; anything else raises :class:`HintError` naming ``where``.
    """
    if isinstance(value, (str, list, tuple)):
        try:
            return parse_rgb8(value)
        except ValueError:
            pass
    raise HintError(f'{where}: colour must be "#rrggbb" or [r, g, b] with integers 0-255, got {_show(value)}')


def color_ab(rgb: tuple[int, int, int]) -> tuple[float, float]:
    """CIELAB (a, b) of an 8-bit sRGB colour."""
    import torch

    t = torch.tensor(rgb, dtype=torch.float32).view(3, 1, 1) / 255.0
    lab = rgb_to_lab(t)
    return float(lab[1, 0, 0]), float(lab[2, 0, 0])


def _coordinate(value: Any, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise HintError(f"{where}: {name} must be a number (pixels), got {_show(value)}")
    return float(value)


def _show(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (str, int, float, list, dict, type(None))) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_hints(value: Any) -> list[Hint]:
    """Hints from what the API accepts: None (none), a path to a JSON file, or a sequence of points.

    A point is a :class:`Hint`, ``{"x": .., "y": .., "color": ..}`` (``"colour"`` also accepted)
    or ``[x, y, color]``. Raises :class:`HintError` naming the first bad point.
    """
    if value is None:
        return []
    if isinstance(value, (str, Path)):
        return load_hints(value)
    if not isinstance(value, (list, tuple)):
        raise HintError(f"hints must be a list of points (x, y, colour), got {type(value).__name__}")
    if len(value) > MAX_HINTS:
        raise HintError(f"{len(value)} hints given; at most {MAX_HINTS} are accepted")
    return [_parse_point(item, f"hint {i}") for i, item in enumerate(value, 1)]


def _parse_point(item: Any, where: str) -> Hint:
    if isinstance(item, Hint):
        return item
    if isinstance(item, dict):
        keys = set(item)
        colour_key = "colour" if "colour" in item and "color" not in item else "color"
        unknown = keys - {"x", "y", "color", "colour"}
        if unknown or not {"x", "y", colour_key} <= keys or {"color", "colour"} <= keys:
            raise HintError(f"{where}: expected keys x, y and color, got {', '.join(sorted(map(str, keys))) or 'none'}")
        return Hint.from_color(item["x"], item["y"], item[colour_key], where)
    if isinstance(item, (list, tuple)) and len(item) == 3:
        return Hint.from_color(item[0], item[1], item[2], where)
    raise HintError(
        f'{where}: expected {{"x": .., "y": .., "color": "#rrggbb"}} or [x, y, "#rrggbb"], got {_show(item)}'
    )


def parse_hints_json(text: str | bytes, source: str = "hints") -> list[Hint]:
    """Hints from JSON text (a list of points); ``source`` names it in error messages."""
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise HintError(f"{source}: not valid JSON ({e})") from None
    if not isinstance(value, list):
        raise HintError(f"{source}: expected a JSON list of points, got {type(value).__name__}")
    try:
        return parse_hints(value)
    except HintError as e:
        raise HintError(f"{source}: {e}") from None


def load_hints(path: str | Path) -> list[Hint]:
    """Hints from a JSON file (see the module docstring)."""
    try:
        text = Path(path).read_bytes()
    except OSError as e:
        raise HintError(f"cannot read hints file {path}: {e.strerror or e}") from None
    return parse_hints_json(text, str(path))


def check_bounds(hints: Sequence[Hint], width: int, height: int) -> None:
    """Raise :class:`HintError` for the first hint that is not on a ``width`` x ``height`` image."""
    for i, h in enumerate(hints, 1):
        if not (0 <= h.x < width and 0 <= h.y < height):
            raise HintError(
                f"hint {i} at x={h.x:g}, y={h.y:g} is outside the {width}x{height} image "
                f"(0 <= x < {width}, 0 <= y < {height})"
            )


def patch_span(centre: int, size: int, n: int) -> slice:
    """Indices of a square's side: ``size`` pixels around ``centre`` (odd sizes centred), clipped to [0, n)."""
    start = centre - (size - 1) // 2
    return slice(max(0, start), min(n, start + size))


def hint_channels(
    hints: Sequence[Hint], full_shape: tuple[int, int], small_shape: tuple[int, int], patch: int = HINT_PATCH
) -> torch.Tensor:
    """The hint channels (1, 3, h, w) at the working size ``small_shape`` for hints on an image of
    ``full_shape`` (H, W): a / 110, b / 110 and the mask (1 on each hint's square, 0 elsewhere).

    A point in pixel (floor(x), floor(y)) lands in the working pixel that holds that pixel's centre.
    Raises :class:`HintError` for a point off the image.
    """
    import torch

    H, W = full_shape
    h, w = small_shape
    check_bounds(hints, W, H)
    out = torch.zeros(1, HINT_CHANNELS, h, w)
    for hint in hints:
        col = min(w - 1, int((math.floor(hint.x) + 0.5) * w / W))
        row = min(h - 1, int((math.floor(hint.y) + 0.5) * h / H))
        rows, cols = patch_span(row, patch, h), patch_span(col, patch, w)
        out[0, 0, rows, cols] = hint.ab[0] / AB_SCALE
        out[0, 1, rows, cols] = hint.ab[1] / AB_SCALE
        out[0, 2, rows, cols] = 1.0
    return out


def name_seed(name: str) -> int:
    """A seed from a name (stable across runs and machines, unlike ``hash``)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def sample_true_hints(truth: np.ndarray, n: int, seed: int, radius: int = 1) -> list[Hint]:
    """``n`` hints taken from a colour image ``truth`` (H x W x 3 uint8): random points (drawn from
    ``seed``), each with the mean ab of the truth in the (2 radius + 1)^2 window around it (clipped)."""
    import torch

    rng = np.random.default_rng(seed)
    H, W = truth.shape[:2]
    ys, xs = rng.integers(0, H, n), rng.integers(0, W, n)
    hints = []
    for x, y in zip(xs.tolist(), ys.tolist(), strict=True):
        win = truth[max(0, y - radius) : y + radius + 1, max(0, x - radius) : x + radius + 1, :3]
        t = torch.from_numpy(np.ascontiguousarray(win)).permute(2, 0, 1).float() / 255.0
        with torch.inference_mode():
            ab = rgb_to_lab(t)[1:].mean(dim=(1, 2))
        hints.append(Hint(float(x), float(y), (float(ab[0]), float(ab[1]))))
    return hints


def propagate_hint_residuals(ab: torch.Tensor, L: torch.Tensor, channels: torch.Tensor) -> torch.Tensor:
    """Make the network's colour agree with the user's hints, spreading each correction along L.

    ``ab`` (2, h, w): the network's prediction (Lab units) at its output resolution; ``L`` (h, w):
    L (0-100) at that resolution; ``channels`` (1, 3, h', w'): the hint channels the network was
    given (:func:`hint_channels`, at the working size). Where a hint lies, the residual "hint colour
    minus predicted colour" is known; it is propagated to every other pixel by Levin et al.'s
    intensity-affinity propagation (:func:`tinct.core.propagation.levin_solve`: neighbours of similar
    L get similar corrections, edges stop them) and added to the prediction. A network that already
    honours a hint leaves nothing to correct; without hints ``ab`` is returned unchanged.
    Returns (2, h, w) float32.
    """
    import torch
    import torch.nn.functional as F

    h, w = ab.shape[-2:]
    mask = F.adaptive_avg_pool2d(channels[:, 2:3].float(), (h, w))[0, 0]
    if not bool((mask > 0).any()):
        return ab
    hinted = F.adaptive_avg_pool2d(channels[:, :2].float() * channels[:, 2:3], (h, w))[0] * AB_SCALE
    fixed = (mask > 0.5).numpy() if bool((mask > 0.5).any()) else (mask > 0).numpy()
    target = (hinted / mask.clamp_min(1e-6)).numpy()
    residual = target[:, fixed] - ab[:2].float().numpy()[:, fixed]
    y = (L.float().numpy() / 100.0).astype(np.float64)
    field = levin_solve(y, fixed, residual)
    return ab[:2].float() + torch.from_numpy(field.astype(np.float32))
