"""Luminance keying (Gonzalez & Wintz, as cited by seed 004): a gray level -> colour look-up table,
for pseudo-colour. The output keeps the input's L; only the table colour's hue and chroma are used.
Label every result with :data:`PSEUDO_COLOUR_NOTE`.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tinct.core.color import lab_of_rgb, luminance
from tinct.core.filters import check_l
from tinct.core.pixels import parse_rgb8
from tinct.core.strips import row_strips

DEFAULT_LUT = "viridis"  #: the pseudo-colour table used when none is named (one of :data:`BUILTIN_LUTS`)

#: text for the metadata of any image coloured by :func:`lut_ab`
PSEUDO_COLOUR_NOTE = (
    "Pseudo-colour: hues assigned by luminance keying (a gray level -> colour look-up table). "
    "Lightness is the original image's; the colours do not represent the scene's true colours."
)


def _stops(points: list[tuple[float, str]]) -> list[tuple[float, tuple[int, int, int]]]:
    """Control points at fractions of the gray range -> at whole gray codes (so they are hit exactly)."""
    return [(float(round(255 * f)), parse_rgb8("#" + h)) for f, h in points]


def _even(hexes: str) -> list[tuple[float, tuple[int, int, int]]]:
    """Evenly spaced control points from a space-separated list of colours."""
    cols = hexes.split()
    return _stops([(i / (len(cols) - 1), h) for i, h in enumerate(cols)])


#: built-in colour maps: gray level (0-255) -> 8-bit sRGB control points, linearly interpolated
BUILTIN_LUTS: dict[str, list[tuple[float, tuple[int, int, int]]]] = {
    # perceptually uniform maps of van der Walt & Smith (matplotlib), sampled at 10 even stops (as R's viridisLite)
    "viridis": _even("440154 482878 3e4a89 31688e 26828e 1f9e89 35b779 6dcd59 b4de2c fde725"),
    "magma": _even("000004 180f3e 451077 721f81 9f2f7f cd4071 f1605d fd9567 fec98d fcfdbf"),
    "inferno": _even("000004 1b0c42 4b0c6b 781c6d a52c60 cf4446 ed6925 fb9a06 f7d03c fcffa4"),
    # black -> red -> yellow -> white
    "hot": _stops([(0.0, "0b0000"), (0.365, "ff0000"), (0.746, "ffff00"), (1.0, "ffffff")]),
    # blue-tinted gray, as the classic "bone" map
    "bone": _stops([(0.0, "000000"), (0.375, "515171"), (0.75, "a6c6c6"), (1.0, "ffffff")]),
    # brown photographic toning
    "sepia": _stops([(0.0, "1a0f05"), (0.35, "5e3a1a"), (0.7, "b48c5a"), (1.0, "fff5e1")]),
    # Moreland's diverging cool-warm
    "cool-warm": _stops([(0.0, "3b4cc0"), (0.25, "8db0fe"), (0.5, "dddddd"), (0.75, "f49a7b"), (1.0, "b40426")]),
}

_KEY_RANGE = {"gray": 255.0, "L": 100.0}


@dataclass(frozen=True)
class Lut:
    """A luminance-keying table: control points (key level -> 8-bit sRGB colour).

    ``key`` is ``"gray"`` (levels are 8-bit gray codes, 0-255, of the gray input; for other
    inputs the code of a neutral gray with the same L, fractional for 16-bit) or ``"L"``
    (levels are CIELAB L, 0-100). Between control points colours are interpolated linearly in
    sRGB; outside them the end colours are held.
    """

    name: str
    levels: tuple[float, ...]
    colours: tuple[tuple[int, int, int], ...]
    key: str = "gray"

    def __post_init__(self) -> None:
        if self.key not in _KEY_RANGE:
            raise ValueError(f"LUT {self.name}: key must be 'gray' or 'L', got {self.key!r}")
        lv = np.asarray(self.levels, np.float64)
        if lv.size == 0 or lv.size != len(self.colours):
            raise ValueError(f"LUT {self.name}: needs at least one (level, colour) point")
        if not np.all(np.isfinite(lv)) or lv.min() < 0 or lv.max() > _KEY_RANGE[self.key]:
            raise ValueError(f"LUT {self.name}: levels must lie in [0, {_KEY_RANGE[self.key]:g}] for key {self.key}")
        if np.any(np.diff(lv) <= 0):
            raise ValueError(f"LUT {self.name}: levels must be strictly increasing (no duplicates)")
        for c in self.colours:
            if len(c) != 3 or any(not (0 <= v <= 255) for v in c):
                raise ValueError(f"LUT {self.name}: colour {c} is not three 8-bit values")

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        """The table on its key grid: (L of each grid level (n,), ab (2, n)), float64.

        The grid is the 256 gray codes for key "gray" (their L are exactly those of
        ``tinct.color.luminance``) and L in steps of 0.25 for key "L".
        """
        if self.key == "gray":
            levels = np.arange(256, dtype=np.float64)
            grid_l = luminance(np.arange(256, dtype=np.uint8)[None])[0].astype(np.float64)
        else:
            levels = grid_l = np.linspace(0.0, 100.0, 401)
        cols = np.asarray(self.colours, np.float64)
        rgb = np.stack([np.interp(levels, self.levels, cols[:, c]) for c in range(3)], -1) / 255.0
        return grid_l, lab_of_rgb(rgb)[1].astype(np.float64)


def _lut_from_points(name: str, points: list[tuple[object, object]], key: str) -> Lut:
    pts = sorted((float(lv), parse_rgb8(c, lenient=True)) for lv, c in points)
    return Lut(name, tuple(p[0] for p in pts), tuple(p[1] for p in pts), key)


def _read_csv_lut(path: Path, text: str) -> Lut:
    rows = [r for r in csv.reader(io.StringIO(text)) if r and any(x.strip() for x in r) and not r[0].startswith("#")]
    key = "gray"
    if rows:
        try:
            float(rows[0][0])
        except ValueError:  # a header row; "L" as its first column keys the table on L
            key = "L" if rows[0][0].strip() == "L" else "gray"
            rows = rows[1:]
    points = []
    for r in rows:
        cells = [x.strip() for x in r if x.strip()]
        if len(cells) == 2:
            points.append((cells[0], cells[1]))
        elif len(cells) == 4:
            points.append((cells[0], cells[1:]))
        else:
            raise ValueError(f"row {r} is not 'level,#rrggbb' or 'level,r,g,b'")
    return _lut_from_points(path.stem, points, key)


def _read_json_lut(path: Path, text: str) -> Lut:
    data = json.loads(text)
    key = "gray"
    if isinstance(data, dict) and "points" in data:
        key = data.get("key", "gray")
        data = data["points"]
    if isinstance(data, dict):
        points = list(data.items())
    elif isinstance(data, list) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in data):
        points = [tuple(p) for p in data]
    else:
        raise ValueError("expected {level: colour}, [[level, colour], ...] or {'key': ..., 'points': ...}")
    return _lut_from_points(path.stem, points, key)


def load_lut(name_or_path: str | Path | Lut) -> Lut:
    """A luminance-keying table by built-in name (``BUILTIN_LUTS``) or from a CSV or JSON file.

    CSV: one control point a row, ``level,#rrggbb`` or ``level,r,g,b`` (8-bit values); an
    optional header row (a first column named ``L`` keys the table on CIELAB L, anything else on
    8-bit gray); blank lines and ``#`` comment lines are skipped. JSON: ``{"0": "#000000",
    "255": [255, 255, 255]}``, ``[[0, "#000000"], ...]``, or ``{"key": "gray" | "L", "points":
    <either>}``. Levels are 0-255 (gray) or 0-100 (L), strictly increasing after sorting.

    Raises:
        ValueError: unknown name, unreadable or malformed file (the message says which and why).
    """
    if isinstance(name_or_path, Lut):
        return name_or_path
    name = str(name_or_path)
    canon = name.lower().replace("_", "-").replace("coolwarm", "cool-warm")
    if canon in BUILTIN_LUTS:
        pts = BUILTIN_LUTS[canon]
        return Lut(canon, tuple(p[0] for p in pts), tuple(p[1] for p in pts))
    path = Path(name)
    if not path.is_file():
        raise ValueError(f"unknown LUT {name!r}: not a file, and not one of {', '.join(BUILTIN_LUTS)}")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise ValueError(f"LUT file {path}: expected a .csv or .json file")
    try:
        text = path.read_text(encoding="utf-8")
        return (_read_csv_lut if suffix == ".csv" else _read_json_lut)(path, text)
    except (ValueError, TypeError, UnicodeDecodeError) as e:  # JSONDecodeError is a ValueError
        raise ValueError(f"bad LUT file {path}: {e}") from e


def lut_ab(L: np.ndarray, lut: Lut | str | Path) -> np.ndarray:
    """Luminance keying: the ab of the LUT colour at each pixel's gray level (pseudo-colour).

    The output keeps the input's L by construction, so only the hue and chroma of the table's
    colour are used: pixel x gets the CIELAB a, b of ``lut``'s colour at x's level. For an 8-bit
    gray input (key "gray") that is exactly the ab of the table colour at its gray code; other
    L values are interpolated linearly between neighbouring codes. Label the result with
    ``PSEUDO_COLOUR_NOTE``.

    Returns float32 ab, 2 x H x W.
    """
    L = check_l(L)
    grid_l, grid_ab = load_lut(lut).grid()
    out = np.empty((2, *L.shape), np.float32)
    for sl in row_strips(*L.shape):
        for c in range(2):
            out[c, sl] = np.interp(L[sl], grid_l, grid_ab[c])
    return out
