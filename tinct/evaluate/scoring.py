"""``tinct eval``'s scoring: what is measured on one truth image, and how the numbers become a summary.

Each truth image gives the grayscale input itself (:func:`tinct.core.metrics.gray_baseline`: the
truth's own CIELAB L shown as gray); every model colorizes it at full resolution
(``session.colorize``) and the output is scored with :mod:`tinct.core.metrics` (:func:`score_image`).
The gray input, shown as an RGB image, is the "gray" baseline row; each model also gets its PSNR and
SSIM gain over it. :class:`Columns` holds the per-image values; :func:`build_summary` the means with
95% bootstrap confidence intervals of :data:`STATISTICS`.
"""

from __future__ import annotations

import math
import shlex
import sys
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from tinct.backends.hardware import cpu_name
from tinct.core import metrics
from tinct.core.pixels import to_uint8
from tinct.io.errors import ImageError
from tinct.io.images import IMAGE_EXTENSIONS, read_image
from tinct.version import __version__

GRAY = "gray"  #: name of the gray-baseline row
BATCH_SIZE = 1
BOOTSTRAP_N = 1000
BOOTSTRAP_SEED = 0
PALETTE = ("#7f7f7f", "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")

#: per-image, per-model values in metrics.csv (besides image, model, width, height)
VALUE_COLUMNS = (
    "psnr",
    "psnr_gain",
    "ssim",
    "ssim_gain",
    "mse",
    "ciede2000",
    "colourfulness",
    "colourfulness_truth",
    "colourfulness_ratio",
    "lum_err_max",
    "lum_err_mean",
    "seconds",
)
CSV_FIELDS = ("image", "model", "width", "height", *VALUE_COLUMNS)


@dataclass(frozen=True)
class Statistic:
    """A summary statistic over images: the mean of ``column``, or the ratio of means
    ``mean(column) / mean(den)`` when ``den`` is set. ``better``: +1 higher is better, -1 lower is,
    0 neither (the colourfulness ratio: 1.0 is ideal)."""

    label: str
    column: str
    better: int
    fmt: str = ".3f"
    den: str | None = None


#: summary.json keys -> how each is computed from metrics.csv columns
STATISTICS: dict[str, Statistic] = {
    "psnr": Statistic("PSNR (dB)", "psnr", +1, ".2f"),
    "psnr_gain": Statistic("PSNR gain (dB)", "psnr_gain", +1, "+.2f"),
    "ssim": Statistic("SSIM", "ssim", +1, ".4f"),
    "ssim_gain": Statistic("SSIM gain", "ssim_gain", +1, "+.4f"),
    "mse": Statistic("MSE", "mse", -1, ".5f"),
    "ciede2000": Statistic("CIEDE2000", "ciede2000", -1, ".2f"),
    "colourfulness_ratio": Statistic("colourfulness ratio", "colourfulness", 0, ".3f", den="colourfulness_truth"),
    "lum_err_max": Statistic("L error max", "lum_err_max", -1, ".2f"),
    "lum_err_mean": Statistic("L error mean", "lum_err_mean", -1, ".3f"),
    "ait_s": Statistic("AIT (s)", "seconds", -1, ".4f"),
}


class ColorizerSession(Protocol):
    """What evaluation needs of a loaded model (see :func:`tinct.api.load_model`).

    ``colorize`` is called as ``colorize(gray)``, and as ``colorize(gray, hints=[...])`` with
    ``--hints N`` (then the session must have a true ``takes_hints``).
    """

    spec: Any  # has .working_size

    def colorize(self, image: np.ndarray, **kwargs: Any) -> np.ndarray: ...


class EvalError(ValueError):
    """A user-facing evaluation error (bad folder, no readable image, unusable summary). One line."""


# ----------------------------------------------------------------------------- inputs


#: the options a ``tinct eval`` model entry may set, ``NAME@KEY=VALUE[@KEY=VALUE...]`` (e.g.
#: ``prism@vivid=1``, ``prism@size=256``): each becomes its own column, so one run compares settings
ENTRY_OPTIONS: dict[str, type] = {"vivid": float, "temperature": float, "size": int}


def resolve_models(models: str | Sequence[str]) -> list[str]:
    """Model entries: "a,b" or ["a", "b"] -> unique entries in order; "all" -> every registry model. "gray"
    is implicit. An entry is a name, or a name with options (:func:`parse_entry`), checked here."""
    names = [m.strip() for m in (models.split(",") if isinstance(models, str) else models) if m.strip()]
    if "all" in names:
        from tinct.registry import MODELS

        names = [*MODELS, *(n for n in names if n != "all" and n not in MODELS)]
    if any(parse_entry(n)[0] == GRAY for n in names):
        raise EvalError(f"{GRAY!r} is the baseline and always evaluated; do not list it as a model")
    if not names:
        raise EvalError(f"no model given ({models!r}); name one or more, e.g. prism,lite, or 'all'")
    return list(dict.fromkeys(names))


def parse_entry(entry: str) -> tuple[str, dict[str, float | int]]:
    """``"prism@vivid=1@size=256"`` -> ``("prism", {"vivid": 1.0, "size": 256})``; a plain name (or an
    existing file's path, whatever it holds) -> ``(entry, {})``. Keys: :data:`ENTRY_OPTIONS`. Raises
    :class:`EvalError`, in one line, for an unknown key, a missing ``=`` or a value that is no number."""
    if "@" not in entry or Path(entry).is_file():
        return entry, {}
    name, *pairs = entry.split("@")
    options: dict[str, float | int] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if key not in ENTRY_OPTIONS or not eq:
            raise EvalError(
                f"model entry {entry!r}: {pair!r} is not an option; write NAME@KEY=VALUE with KEY one of "
                f"{', '.join(ENTRY_OPTIONS)} (e.g. prism@vivid=1)"
            )
        try:
            options[key] = ENTRY_OPTIONS[key](value)
        except ValueError:
            kind = "a whole number" if ENTRY_OPTIONS[key] is int else "a number"
            raise EvalError(f"model entry {entry!r}: {key} must be {kind}, got {value!r}") from None
    return name, options


def iter_image_files(data_dir: Path, exclude: Path | None = None) -> list[Path]:
    """Image files under ``data_dir`` (recursive, by extension, hidden files and ``exclude`` left out), sorted."""
    return find_files(data_dir, IMAGE_EXTENSIONS, exclude)


def find_files(data_dir: Path, extensions: Collection[str], exclude: Path | None = None) -> list[Path]:
    """Files under ``data_dir`` with one of ``extensions`` (recursive; hidden ones and ``exclude`` left out), sorted."""
    skip = exclude.resolve() if exclude is not None else None
    found = []
    for p in data_dir.rglob("*"):
        rel = p.relative_to(data_dir)
        if p.suffix.lower() not in extensions or any(part.startswith(".") for part in rel.parts):
            continue
        if skip is not None and p.resolve().is_relative_to(skip):
            continue
        if p.is_file():
            found.append(p)
    return sorted(found)


def load_truth(path: Path) -> np.ndarray:
    """Read a colour image as 8-bit RGB (H x W x 3); :class:`ImageError` if unreadable or too small to score."""
    px = to_uint8(read_image(path).pixels)
    rgb = np.ascontiguousarray(np.broadcast_to(px[..., None], (*px.shape, 3))) if px.ndim == 2 else px
    if min(rgb.shape[:2]) < metrics.SSIM_WIN:
        raise ImageError(f"image is {rgb.shape[1]}x{rgb.shape[0]}, smaller than the {metrics.SSIM_WIN} px SSIM window")
    return rgb


def load_sessions(models: Sequence[str], size: int | None, device: str) -> dict[str, ColorizerSession]:
    """``tinct.api.load_model(name, device=device, working_size=size, **options)`` for each entry
    (:func:`parse_entry`; an entry's ``size`` wins over ``size``), keyed by the entry. What the loader
    refuses (e.g. ``vivid`` of a model without a bin prior) is an :class:`EvalError` naming the entry."""
    from tinct import api

    try:
        api.resolve_device(device)
    except (RuntimeError, ValueError) as e:  # e.g. cuda on a machine without a GPU: one line, not a traceback
        raise EvalError(str(e)) from None
    sessions = {}
    for entry in models:
        name, options = parse_entry(entry)
        entry_size = options.pop("size", size)
        try:
            sessions[entry] = api.load_model(name, device=device, working_size=entry_size, **options)
        except ValueError as e:  # one line for the CLI, naming the entry when it set something
            raise EvalError(f"model entry {entry!r}: {e}" if entry != name else str(e)) from None
    return sessions


def working_size(session: ColorizerSession) -> int | None:
    """The working size a session really runs at (an override, else its spec's)."""
    return getattr(session, "working_size", None) or getattr(session.spec, "working_size", None)


def gray_rgb(gray: np.ndarray) -> np.ndarray:
    """A gray H x W image as H x W x 3 RGB."""
    return np.ascontiguousarray(np.broadcast_to(gray[..., None], (*gray.shape, 3)))


def true_hints(image: str, truth: np.ndarray, n: int) -> list[Any] | None:
    """The ``n`` colour hints image ``image`` gets with ``--hints n`` (None for 0: no hints at all).

    Random points, the same in every run (seeded by the image's name relative to the data folder),
    each with the truth's mean colour over the 3 x 3 pixels around it (a 3 x 3 eyedropper):
    :func:`tinct.hints.sample_true_hints`.
    """
    if n <= 0:
        return None
    from tinct.core.hints import name_seed, sample_true_hints

    return sample_true_hints(truth, n, name_seed(image), radius=1)


def colorize_timed(
    session: ColorizerSession, gray: np.ndarray, hints: list[Any] | None = None
) -> tuple[np.ndarray, float]:
    """(output, seconds) of one colorize call (with ``hints`` when not None); checks the output contract."""
    t0 = time.perf_counter()
    out = session.colorize(gray) if hints is None else session.colorize(gray, hints=hints)
    seconds = time.perf_counter() - t0
    if not isinstance(out, np.ndarray) or out.dtype != np.uint8 or out.shape != (*gray.shape, 3):
        got = f"{out.dtype} {out.shape}" if isinstance(out, np.ndarray) else type(out).__name__
        raise RuntimeError(f"colorize returned {got}, expected uint8 {(*gray.shape, 3)}")
    return out, seconds


# ----------------------------------------------------------------------------- scoring


def score(pred: np.ndarray, truth: np.ndarray, given: np.ndarray, truth_colourfulness: float) -> dict[str, float]:
    """Every per-image metric of output ``pred`` against ``truth``; luminance against the input ``given``."""
    lum_max, lum_mean = metrics.luminance_error(pred, given)
    cf = metrics.colourfulness(pred)
    return {
        "psnr": metrics.psnr(pred, truth),
        "ssim": metrics.ssim(pred, truth),
        "mse": metrics.mse(pred, truth),
        "ciede2000": metrics.ciede2000(pred, truth),
        "colourfulness": cf,
        "colourfulness_truth": truth_colourfulness,
        "colourfulness_ratio": cf / truth_colourfulness if truth_colourfulness > 0 else math.nan,
        "lum_err_max": lum_max,
        "lum_err_mean": lum_mean,
    }


def score_image(
    truth: np.ndarray, sessions: dict[str, ColorizerSession], hints: list[Any] | None = None
) -> dict[str, dict[str, float]]:
    """model -> metrics for one truth image, the gray baseline first; gains are relative to it.

    ``hints`` (see :func:`true_hints`) go to every model; None: none are passed.
    """
    gray = metrics.gray_baseline(truth)
    cf_truth = metrics.colourfulness(truth)
    rows = {GRAY: score(gray_rgb(gray), truth, gray, cf_truth) | {"seconds": math.nan}}
    for name, session in sessions.items():
        out, seconds = colorize_timed(session, gray, hints)
        rows[name] = score(out, truth, gray, cf_truth) | {"seconds": seconds}
    for row in rows.values():
        row["psnr_gain"] = row["psnr"] - rows[GRAY]["psnr"]
        row["ssim_gain"] = row["ssim"] - rows[GRAY]["ssim"]
    return rows


class Columns:
    """Per-model columns of per-image values, in image order (what metrics.csv holds)."""

    def __init__(self) -> None:
        self.images: list[str] = []
        self.sizes: list[tuple[int, int]] = []
        self.values: dict[str, dict[str, list[float]]] = {}

    def add(self, image: str, size: tuple[int, int], rows: dict[str, dict[str, float]]) -> None:
        self.images.append(image)
        self.sizes.append(size)
        for model, row in rows.items():
            cols = self.values.setdefault(model, {c: [] for c in VALUE_COLUMNS})
            for c in VALUE_COLUMNS:
                cols[c].append(row[c])

    def array(self, model: str, column: str) -> np.ndarray:
        return np.asarray(self.values[model][column], np.float64)


def summarize_statistic(cols: Columns, model: str, stat: Statistic) -> tuple[float, float, float]:
    """(value, lo, hi) of one statistic for one model, with its 95% bootstrap CI over images."""
    x = cols.array(model, stat.column)
    if stat.den is None:
        return metrics.bootstrap_ci(x, BOOTSTRAP_N, BOOTSTRAP_SEED)
    return metrics.bootstrap_ratio_ci(x, cols.array(model, stat.den), BOOTSTRAP_N, BOOTSTRAP_SEED)


def finite_or_none(x: float) -> float | None:
    """``x`` as a float, or None when it is not finite (JSON has no NaN)."""
    return float(x) if math.isfinite(x) else None


def csv_row(image: str, shape: tuple[int, ...], model: str, row: dict[str, float]) -> list[Any]:
    """One metrics.csv row: image, model, width, height and the values (empty for NaN)."""
    return [
        image,
        model,
        shape[1],
        shape[0],
        *("" if math.isnan(row[c]) else repr(float(row[c])) for c in VALUE_COLUMNS),
    ]


def hardware_description(device: str) -> str:
    """A one-line description of the machine the timings were taken on."""
    torch = sys.modules.get("torch")
    if device.startswith("cuda") and torch is not None and torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(torch.device(device))}"
    threads = f", {torch.get_num_threads()} torch threads" if torch is not None else ""
    return f"CPU {cpu_name()}{threads}"


def build_summary(
    cols: Columns,
    sessions: dict[str, ColorizerSession],
    data_dir: Path,
    skipped: list[dict[str, str]],
    device: str,
    command: str | None,
    hints: int = 0,
) -> dict[str, Any]:
    """The summary.json content (see the module docstring); ``hints``: true colour points per image."""
    sizes = np.asarray(cols.sizes)
    mp = sizes[:, 0] * sizes[:, 1] / 1e6
    lo_i, hi_i = int(np.argmin(mp)), int(np.argmax(mp))
    models: dict[str, Any] = {}
    for model in cols.values:
        stats = {key: summarize_statistic(cols, model, st) for key, st in STATISTICS.items()}
        models[model] = {
            "n": len(cols.images),
            "working_size": None if model == GRAY else working_size(sessions[model]),
            "hints": 0 if model == GRAY else hints,
            "stats": {
                k: {"mean": finite_or_none(v), "lo": finite_or_none(lo), "hi": finite_or_none(hi)}
                for k, (v, lo, hi) in stats.items()
            },
        }
    return {
        "tinct_version": __version__,
        "dataset": str(data_dir.resolve()),
        "command": command if command is not None else shlex.join(sys.argv),
        "n_images": len(cols.images),
        "n_skipped": len(skipped),
        "skipped": skipped,
        "hints": {
            "per_image": hints,
            "what": "colour hints given to every model: random points seeded by the image's name, each with "
            "the truth's mean colour over the 3 x 3 pixels around it (tinct.evaluate.true_hints)",
        },
        "timing": {
            "what": "AIT: mean wall-clock seconds of one session.colorize call per image (after one untimed "
            "warm-up call), full-resolution gray input to RGB output; decoding and metrics excluded",
            "batch_size": BATCH_SIZE,
            "device": device,
            "hardware": hardware_description(device),
            "resolution": {
                "input": "full resolution of each image",
                "smallest_wh": list(map(int, sizes[lo_i])),
                "largest_wh": list(map(int, sizes[hi_i])),
                "mean_megapixels": round(float(mp.mean()), 4),
            },
        },
        "bootstrap": {"n": BOOTSTRAP_N, "seed": BOOTSTRAP_SEED, "level": metrics.CI_LEVEL},
        "definitions": {key: _definition(st) for key, st in STATISTICS.items()},
        "models": models,
    }


def _definition(st: Statistic) -> str:
    how = f"mean({st.column}) / mean({st.den}) over images" if st.den else f"mean of per-image {st.column}"
    direction = {1: "higher is better", -1: "lower is better", 0: "1.0 = as colourful as the truth"}[st.better]
    return f"{st.label}: {how}; {direction}"
