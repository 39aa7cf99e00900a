"""``tinct eval``: measure models on a folder of colour images, always beside the gray baseline.

:func:`run_eval` walks DATA_DIR (recursively, sorted, one image in memory at a time), takes each
image as the truth, makes the grayscale input itself (:func:`tinct.metrics.gray_baseline`: the
truth's own CIELAB L shown as gray), runs every model's ``session.colorize`` on it at full
resolution and scores the output with :mod:`tinct.metrics`. The gray input, shown as an RGB image,
is the "gray" baseline row; each model also gets its PSNR and SSIM gain over it on the same image.
Luminance error is measured against the gray input the model was given (how well it keeps L).

Outputs in REPORT_DIR:

* ``metrics.csv``: one row per image and model (gray included), columns :data:`CSV_FIELDS`.
* ``summary.json``: per model, the mean and 95% bootstrap CI of every statistic in
  :data:`STATISTICS`, n images, AIT with resolution / batch size / device, dataset, command line,
  and the images that were skipped (unreadable; each also reported as one line on stderr).
* ``report.html``: self-contained (images are data URIs, the plot is inline SVG): summary table,
  per-image PSNR gain per model, and input / models / truth for the best, median and worst image
  (ranked by the first model's PSNR gain).
* ``summary.png``: mean PSNR gain per model with 95% CI whiskers (for the README).

:func:`compare` tells which differences between two summaries are significant.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
import platform
import shlex
import sys
import time
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tinct.core import metrics
from tinct.io import IMAGE_EXTENSIONS, ImageError, read_image
from tinct.version import __version__

GRAY = "gray"  #: name of the gray-baseline row
BATCH_SIZE = 1
BOOTSTRAP_N = 1000
BOOTSTRAP_SEED = 0
THUMB_SIDE = 256  #: longest side of the images shown in report.html
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


def resolve_models(models: str | Sequence[str]) -> list[str]:
    """Model names: "a,b" or ["a", "b"] -> unique names in order; "all" -> every registry model. "gray" is implicit."""
    names = [m.strip() for m in (models.split(",") if isinstance(models, str) else models) if m.strip()]
    if "all" in names:
        from tinct.registry import MODELS

        names = list(MODELS)
    if GRAY in names:
        raise EvalError(f"{GRAY!r} is the baseline and always evaluated; do not list it as a model")
    return list(dict.fromkeys(names))


def iter_image_files(data_dir: Path, exclude: Path | None = None) -> list[Path]:
    """Image files under ``data_dir`` (recursive, by extension, hidden files and ``exclude`` left out), sorted."""
    return _iter_files(data_dir, IMAGE_EXTENSIONS, exclude)


def _iter_files(data_dir: Path, extensions: Collection[str], exclude: Path | None = None) -> list[Path]:
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
    px = read_image(path).pixels
    if px.dtype == np.uint16:
        px = ((px.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    rgb = np.ascontiguousarray(np.broadcast_to(px[..., None], (*px.shape, 3))) if px.ndim == 2 else px
    if min(rgb.shape[:2]) < metrics.SSIM_WIN:
        raise ImageError(f"image is {rgb.shape[1]}x{rgb.shape[0]}, smaller than the {metrics.SSIM_WIN} px SSIM window")
    return rgb


def load_sessions(models: Sequence[str], size: int | None, device: str) -> dict[str, ColorizerSession]:
    """``tinct.api.load_model(name, device=device, working_size=size)`` for each model."""
    from tinct import api

    return {name: api.load_model(name, device=device, working_size=size) for name in models}


def working_size(session: ColorizerSession) -> int | None:
    """The working size a session really runs at (an override, else its spec's)."""
    return getattr(session, "working_size", None) or getattr(session.spec, "working_size", None)


def _gray_rgb(gray: np.ndarray) -> np.ndarray:
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


def _colorize(session: ColorizerSession, gray: np.ndarray, hints: list[Any] | None = None) -> tuple[np.ndarray, float]:
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
    rows = {GRAY: score(_gray_rgb(gray), truth, gray, cf_truth) | {"seconds": math.nan}}
    for name, session in sessions.items():
        out, seconds = _colorize(session, gray, hints)
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


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


# ----------------------------------------------------------------------------- run


def run_eval(
    data_dir: str | Path,
    models: str | Sequence[str],
    out_dir: str | Path,
    limit: int | None = None,
    size: int | None = None,
    progress: bool = True,
    device: str = "cpu",
    command: str | None = None,
    hints: int = 0,
) -> dict[str, Any]:
    """Evaluate ``models`` (names, "a,b" or "all") on the colour images under ``data_dir``.

    Writes metrics.csv, summary.json, report.html and summary.png into ``out_dir`` (created) and
    returns the summary dict (what summary.json holds). ``limit`` stops after that many scored
    images; ``size`` overrides every model's working size; ``command`` is recorded (default: sys.argv).
    ``hints``: give every model, on every image, this many true colour points (:func:`true_hints`;
    every model must take hints); recorded in the summary. Comparing a run with ``hints=0`` and
    one with ``hints=10`` (``tinct eval --compare``) measures what the hints add.
    Unreadable images are skipped (listed in the summary, one line each on stderr). Raises
    :class:`EvalError` when the folder is missing or no image could be scored.
    """
    from tqdm import tqdm

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if not data_dir.is_dir():
        raise EvalError(f"not a folder: {data_dir}")
    if hints < 0:
        raise EvalError(f"--hints must be 0 or more, got {hints}")
    names = resolve_models(models)
    files = iter_image_files(data_dir, exclude=out_dir)
    sessions = load_sessions(names, size, device)
    refusing = [name for name, session in sessions.items() if not getattr(session, "takes_hints", False)]
    if hints and refusing:
        raise EvalError(f"--hints {hints}: model {refusing[0]!r} does not take colour hints")
    _warm_up(sessions)
    out_dir.mkdir(parents=True, exist_ok=True)
    cols, skipped = Columns(), []
    total = len(files) if limit is None else min(limit, len(files))
    with (
        (out_dir / "metrics.csv").open("w", newline="") as fh,
        tqdm(total=total, disable=not progress, unit="img", desc="eval", file=sys.stderr) as bar,
    ):
        writer = csv.writer(fh)
        writer.writerow(CSV_FIELDS)
        for image, truth in _iter_truths(files, data_dir, skipped, bar):
            rows = score_image(truth, sessions, true_hints(image, truth, hints))
            cols.add(image, (truth.shape[1], truth.shape[0]), rows)
            writer.writerows(_csv_row(image, truth.shape, m, r) for m, r in rows.items())
            bar.update()
            if limit is not None and len(cols.images) >= limit:
                break
    if not cols.images:
        raise EvalError(f"no image could be evaluated in {data_dir} ({len(skipped)} skipped)")
    devices = sorted({str(getattr(session, "device", device)) for session in sessions.values()}) or [device]
    summary = build_summary(cols, sessions, data_dir, skipped, ", ".join(devices), command, hints)
    write_outputs(summary, cols, sessions, data_dir, out_dir)
    return summary


def _warm_up(sessions: dict[str, ColorizerSession]) -> None:
    """One untimed call per model, so AIT measures steady state (lazy initialisation left out)."""
    probe = np.full((64, 64), 128, np.uint8)
    for session in sessions.values():
        session.colorize(probe)


def _iter_truths(
    files: list[Path], data_dir: Path, skipped: list[dict[str, str]], bar: Any
) -> Iterator[tuple[str, np.ndarray]]:
    """(name relative to data_dir, RGB truth) per readable file; others are appended to ``skipped``,
    reported as one line on stderr and counted on the progress ``bar`` (a tqdm)."""
    for path in files:
        name = path.relative_to(data_dir).as_posix()
        try:
            truth = load_truth(path)
        except ImageError as e:
            skipped.append({"image": name, "error": str(e)})
            bar.write(f"tinct eval: skipped {name}: {e}", file=sys.stderr)
            bar.update()
            continue
        yield name, truth


def _csv_row(image: str, shape: tuple[int, ...], model: str, row: dict[str, float]) -> list[Any]:
    return [
        image,
        model,
        shape[1],
        shape[0],
        *("" if math.isnan(row[c]) else repr(float(row[c])) for c in VALUE_COLUMNS),
    ]


def _hardware(device: str) -> str:
    """A one-line description of the machine the timings were taken on."""
    torch = sys.modules.get("torch")
    if device.startswith("cuda") and torch is not None and torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(torch.device(device))}"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = f", {torch.get_num_threads()} torch threads" if torch is not None else ""
    return f"CPU {cpu}{threads}"


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
            "stats": {k: {"mean": _num(v), "lo": _num(lo), "hi": _num(hi)} for k, (v, lo, hi) in stats.items()},
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
            "hardware": _hardware(device),
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


# ----------------------------------------------------------------------------- report


def write_outputs(
    summary: dict[str, Any], cols: Columns, sessions: dict[str, ColorizerSession], data_dir: Path, out_dir: Path
) -> None:
    """summary.json, summary.png and report.html (metrics.csv is written while scoring)."""
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    png = summary_png(summary)
    (out_dir / "summary.png").write_bytes(png)
    examples = _examples(cols, sessions, data_dir, summary.get("hints", {}).get("per_image", 0))
    (out_dir / "report.html").write_text(report_html(summary, cols, png, examples), encoding="utf-8")


def _ranking_key(cols: Columns) -> tuple[str, str]:
    """(model, column) the examples are ranked by: the first model's PSNR gain (gray's PSNR if none)."""
    models = [m for m in cols.values if m != GRAY]
    return (models[0], "psnr_gain") if models else (GRAY, "psnr")


def example_indices(cols: Columns) -> list[tuple[str, int]]:
    """[("best", i), ("median", j), ("worst", k)] image indices by :func:`_ranking_key` (duplicates dropped)."""
    order = np.argsort(cols.array(*_ranking_key(cols)), kind="stable")
    picks: list[tuple[str, int]] = []
    for label, i in (("best", order[-1]), ("median", order[len(order) // 2]), ("worst", order[0])):
        if all(int(i) != j for _, j in picks):
            picks.append((label, int(i)))
    return picks


def _examples(
    cols: Columns, sessions: dict[str, ColorizerSession], data_dir: Path, hints: int = 0
) -> list[dict[str, Any]]:
    """The best / median / worst images re-run through every model (with the same ``hints`` per
    image as when scored): label, image name, [(caption, RGB)]."""
    out = []
    for label, i in example_indices(cols):
        name = cols.images[i]
        truth = load_truth(data_dir / name)
        gray = metrics.gray_baseline(truth)
        points = true_hints(name, truth, hints)
        panels = [("input (gray baseline)", _gray_rgb(gray))]
        for model, session in sessions.items():
            gain = cols.values[model]["psnr_gain"][i]
            panels.append(
                (f"{model}: {cols.values[model]['psnr'][i]:.2f} dB ({gain:+.2f})", _colorize(session, gray, points)[0])
            )
        panels.append(("truth", truth))
        out.append({"label": label, "image": name, "panels": panels})
    return out


def _data_uri(rgb: np.ndarray, fmt: str = "JPEG") -> str:
    im = Image.fromarray(rgb)
    im.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, fmt, quality=88) if fmt == "JPEG" else im.save(buf, fmt)
    mime = "jpeg" if fmt == "JPEG" else fmt.lower()
    return f"data:image/{mime};base64,{base64.b64encode(buf.getvalue()).decode('ascii')}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (about ``count`` of them)."""
    if not hi > lo:
        lo, hi = lo - 1.0, hi + 1.0
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    return [round(first + k * step, 10) for k in range(int(math.ceil((hi - first) / step)) + 1)]


def gain_plot_svg(cols: Columns, width: int = 720, height: int = 340) -> str:
    """Inline SVG: each model's per-image PSNR gain over gray, sorted (x: fraction of images)."""
    models = [m for m in cols.values if m != GRAY]
    if not models:
        return "<p>No model was evaluated (gray baseline only).</p>"
    gains = {m: np.sort(cols.array(m, "psnr_gain")) for m in models}
    ticks = nice_ticks(min(0.0, *(g.min() for g in gains.values())), max(0.0, *(g.max() for g in gains.values())))
    left, right, top, bottom = 56, 150, 16, 40
    pw, ph = width - left - right, height - top - bottom

    def y(v: float) -> float:
        return top + ph * (ticks[-1] - v) / (ticks[-1] - ticks[0])

    parts = [f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" font-size="12">']
    for t in ticks:
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(t):.1f}" y2="{y(t):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end">{t:g}</text>')
    parts.append(
        f'<line x1="{left}" x2="{left + pw}" y1="{y(0):.1f}" y2="{y(0):.1f}" stroke="#555" stroke-dasharray="4 3"/>'
    )
    parts.append(f'<text x="{left + pw + 6}" y="{y(0) + 4:.1f}" fill="#555">gray baseline</text>')
    for k, m in enumerate(models):
        g = gains[m]
        xs = [left + pw * (i + 0.5) / len(g) for i in range(len(g))]
        pts = " ".join(f"{x:.1f},{y(v):.1f}" for x, v in zip(xs, g, strict=True))
        color = PALETTE[1 + k % (len(PALETTE) - 1)]
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{color}" stroke-width="2"/>')
        if len(g) <= 200:
            parts.extend(
                f'<circle cx="{x:.1f}" cy="{y(v):.1f}" r="2.2" fill="{color}"/>' for x, v in zip(xs, g, strict=True)
            )
        ly = top + 20 + 18 * k
        parts.append(f'<rect x="{left + pw + 6}" y="{ly - 9}" width="12" height="4" fill="{color}"/>')
        parts.append(f'<text x="{left + pw + 22}" y="{ly - 3}">{html.escape(m)} (mean {g.mean():+.2f})</text>')
    parts.append(
        f'<text x="{left + pw / 2}" y="{height - 8}" text-anchor="middle">images, sorted by gain '
        "(fraction of the set)</text>"
    )
    parts.append(
        f'<text transform="translate(14 {top + ph / 2}) rotate(-90)" text-anchor="middle">'
        "PSNR gain over gray (dB)</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def summary_png(summary: dict[str, Any], width: int = 640, height: int = 360) -> bytes:
    """PNG bar chart: mean PSNR gain over gray per model (gray = 0) with 95% CI whiskers."""
    rows = [(m, s["stats"]["psnr_gain"]) for m, s in summary["models"].items()]
    vals = [v for _, st in rows for v in (st["mean"], st["lo"], st["hi"]) if v is not None]
    ticks = nice_ticks(min(0.0, *vals), max(0.0, *vals))
    left, right, top, bottom = 64, 16, 36, 48
    pw, ph = width - left - right, height - top - bottom
    im = Image.new("RGB", (width, height), "white")
    d, font = ImageDraw.Draw(im), _font(13)

    def y(v: float) -> float:
        return top + ph * (ticks[-1] - v) / (ticks[-1] - ticks[0])

    d.text((left, 10), f"PSNR gain over gray, {summary['n_images']} images (95% CI)", fill="black", font=font)
    for t in ticks:
        d.line([(left, y(t)), (left + pw, y(t))], fill=(221, 221, 221))
        d.text((left - 6, y(t)), f"{t:g}", fill="black", font=font, anchor="rm")
    slot = pw / len(rows)
    for k, (model, st) in enumerate(rows):
        cx, mean = left + slot * (k + 0.5), st["mean"] or 0.0
        color = PALETTE[k % len(PALETTE)]
        d.rectangle([cx - slot * 0.3, min(y(0), y(mean)), cx + slot * 0.3, max(y(0), y(mean))], fill=color)
        if st["lo"] is not None and st["hi"] is not None:
            d.line([(cx, y(st["lo"])), (cx, y(st["hi"]))], fill="black", width=2)
            for v in (st["lo"], st["hi"]):
                d.line([(cx - 8, y(v)), (cx + 8, y(v))], fill="black", width=2)
        d.text((cx, top + ph + 8), model, fill="black", font=font, anchor="mt")
        d.text((cx, top + ph + 26), f"{mean:+.2f} dB", fill="black", font=font, anchor="mt")
    d.line([(left, y(0)), (left + pw, y(0))], fill="black", width=1)
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _cell(st: dict[str, float | None], fmt: str) -> str:
    if st["mean"] is None:
        return "<td>–</td>"
    ci = f"<br><small>[{st['lo']:{fmt}}, {st['hi']:{fmt}}]</small>" if st["lo"] is not None else ""
    return f"<td>{st['mean']:{fmt}}{ci}</td>"


def summary_table_html(summary: dict[str, Any]) -> str:
    """The summary table: one row per model (gray first), mean and [95% CI] per statistic."""
    head = "".join(f"<th>{html.escape(st.label)}</th>" for st in STATISTICS.values())
    body = []
    for model, s in summary["models"].items():
        cells = "".join(_cell(s["stats"][key], st.fmt) for key, st in STATISTICS.items())
        size = "" if s["working_size"] is None else f"<br><small>working size {s['working_size']}</small>"
        size += f"<br><small>{s['hints']} hints per image</small>" if s.get("hints") else ""
        body.append(f"<tr><th>{html.escape(model)}{size}</th><td>{s['n']}</td>{cells}</tr>")
    return f"<table><tr><th>model</th><th>n</th>{head}</tr>{''.join(body)}</table>"


def examples_html(examples: list[dict[str, Any]]) -> str:
    """Input / each model / truth for the chosen images, as embedded JPEG data URIs."""
    blocks = []
    for ex in examples:
        figs = "".join(
            f'<figure><img src="{_data_uri(rgb)}" alt="{html.escape(cap)}"><figcaption>{html.escape(cap)}</figcaption>'
            "</figure>"
            for cap, rgb in ex["panels"]
        )
        blocks.append(f"<h3>{ex['label']}: {html.escape(ex['image'])}</h3><div class=row>{figs}</div>")
    return "\n".join(blocks)


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right;vertical-align:top}small{color:#666}
.row{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0}figcaption{font-size:12px;max-width:256px}
.row img{height:192px;width:auto}
code{background:#f4f4f4;padding:1px 4px}"""


def _hints_sentence(summary: dict[str, Any]) -> str:
    """The report's line about colour hints ("" when the models got none)."""
    n = summary.get("hints", {}).get("per_image", 0)
    if not n:
        return ""
    return (
        f"Every model was given <b>{n} true colour points</b> per image as hints (random points seeded by the "
        "image's name; the truth's mean colour over 3 x 3 pixels at each)."
    )


def report_html(summary: dict[str, Any], cols: Columns, png: bytes, examples: list[dict[str, Any]]) -> str:
    """The self-contained report page (no external asset: CSS inline, images as data URIs, SVG inline)."""
    t = summary["timing"]
    res = t["resolution"]
    model, column = _ranking_key(cols)
    skipped = "".join(f"<li>{html.escape(s['image'])}: {html.escape(s['error'])}</li>" for s in summary["skipped"])
    png_uri = f"data:image/png;base64,{base64.b64encode(png).decode('ascii')}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tinct eval: {html.escape(summary["dataset"])}</title>
<style>{_CSS}</style></head><body>
<h1>tinct eval</h1>
<p>Dataset <code>{html.escape(summary["dataset"])}</code>: {summary["n_images"]} images scored,
{summary["n_skipped"]} skipped. Command: <code>{html.escape(summary["command"])}</code>.
tinct {summary["tinct_version"]}.</p>
<p>Inputs are each truth's own CIELAB L shown as gray; the <b>gray</b> row scores that input itself.
{_hints_sentence(summary)}
Means with 95% bootstrap confidence intervals ({summary["bootstrap"]["n"]} resamples of the images).
AIT: batch size {t["batch_size"]}, device {html.escape(t["device"])} ({html.escape(t["hardware"])}),
{res["input"]} ({res["smallest_wh"][0]}x{res["smallest_wh"][1]} to {res["largest_wh"][0]}x{res["largest_wh"][1]},
mean {res["mean_megapixels"]} MP).</p>
<h2>Summary</h2>
{summary_table_html(summary)}
<h2>PSNR gain over gray, per image</h2>
{gain_plot_svg(cols)}
<p><img src="{png_uri}" alt="mean PSNR gain per model with 95% CI"></p>
<h2>Examples (best, median and worst by {html.escape(column)} of {html.escape(model)})</h2>
{examples_html(examples)}
{f"<h2>Skipped images</h2><ul>{skipped}</ul>" if skipped else ""}
</body></html>
"""


# ----------------------------------------------------------------------------- compare


def _load_summary(path: Path) -> dict[str, Any]:
    try:
        s = json.loads(Path(path).read_text())
        s["models"]  # noqa: B018 - presence check
        return s
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise EvalError(f"cannot read summary {path}: {e}") from None


def read_metrics_csv(path: Path) -> dict[str, dict[str, dict[str, float]]]:
    """metrics.csv -> model -> image -> {column: value} (NaN for empty cells); {} if the file is absent."""
    if not path.is_file():
        return {}
    out: dict[str, dict[str, dict[str, float]]] = {}
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            vals = {c: float(row[c]) if row.get(c) else math.nan for c in VALUE_COLUMNS}
            out.setdefault(row["model"], {})[row["image"]] = vals
    return out


def _model_pairs(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, str]]:
    """Models to compare: those in both summaries; else, if each has exactly one model, that pair."""
    pairs = [(m, m) for m in a["models"] if m in b["models"]]
    models_a = [m for m in a["models"] if m != GRAY]
    models_b = [m for m in b["models"] if m != GRAY]
    if all(m == GRAY for m, _ in pairs) and len(models_a) == 1 and len(models_b) == 1:
        pairs.append((models_a[0], models_b[0]))
    return pairs


def _paired_rows(a_rows: dict[str, dict[str, float]], b_rows: dict[str, dict[str, float]]) -> list[str] | None:
    """The shared image list when both runs scored exactly the same images, else None."""
    if not a_rows or set(a_rows) != set(b_rows):
        return None
    return sorted(a_rows)


def _compare_stat(
    st: Statistic,
    sa: dict[str, Any],
    sb: dict[str, Any],
    paired: tuple[list[dict[str, float]], list[dict[str, float]]] | None,
) -> tuple[float, str, bool]:
    """(B - A, evidence text, significant?) for one statistic."""
    if paired is not None:
        ra, rb = paired

        def column(rows: list[dict[str, float]], name: str | None) -> np.ndarray | None:
            return None if name is None else np.array([r[name] for r in rows])

        diff, lo, hi = metrics.paired_bootstrap_diff_ci(
            column(ra, st.column),
            column(rb, st.column),
            column(ra, st.den),
            column(rb, st.den),
            BOOTSTRAP_N,
            BOOTSTRAP_SEED,
        )
        return diff, f"paired 95% CI [{lo:{st.fmt}}, {hi:{st.fmt}}]", bool(lo > 0 or hi < 0)
    if sa["mean"] is None or sb["mean"] is None:
        return math.nan, "n/a", False
    diff = sb["mean"] - sa["mean"]
    overlap = sa["hi"] is None or sb["hi"] is None or not (sa["hi"] < sb["lo"] or sb["hi"] < sa["lo"])
    return diff, "CIs overlap" if overlap else "CIs disjoint", not overlap


def _verdict(st: Statistic, diff: float, significant: bool, ratio_a: float | None, ratio_b: float | None) -> str:
    if not significant:
        return "not significant"
    if st.better == 0:  # colourfulness ratio: closer to 1 is better
        if ratio_a is None or ratio_b is None:
            return "significant"
        return "significant, B better" if abs(ratio_b - 1) < abs(ratio_a - 1) else "significant, B worse"
    return "significant, B better" if diff * st.better > 0 else "significant, B worse"


def compare(a_json: str | Path, b_json: str | Path) -> str:
    """A text table of B - A for every statistic of every model the two summaries share, with significance.

    When both runs' metrics.csv files (beside each summary.json) hold the same images of the same
    dataset, significance is a paired bootstrap (95% CI of the difference excludes 0); otherwise
    it is the conservative test "the two 95% CIs do not overlap".
    """
    a_json, b_json = Path(a_json), Path(b_json)
    a, b = _load_summary(a_json), _load_summary(b_json)
    csv_a, csv_b = read_metrics_csv(a_json.parent / "metrics.csv"), read_metrics_csv(b_json.parent / "metrics.csv")
    same_data = a.get("dataset") == b.get("dataset")
    lines = [
        f"A: {a_json} ({a.get('n_images')} images of {a.get('dataset')})",
        f"B: {b_json} ({b.get('n_images')} images of {b.get('dataset')})",
    ]
    pairs = _model_pairs(a, b)
    if not pairs:
        return "\n".join([*lines, "no model to compare: the summaries share none"])
    header = f"{'model':<20} {'statistic':<22} {'A':>10} {'B':>10} {'B - A':>10}  evidence"
    lines += ["", header, "-" * (len(header) + 40)]
    for ma, mb in pairs:
        label = ma if ma == mb else f"{ma} vs {mb}"
        images = _paired_rows(csv_a.get(ma, {}), csv_b.get(mb, {})) if same_data else None
        if images is not None and ma == mb == GRAY:
            lines.append(f"{GRAY:<20} (same images: the gray baseline is identical by construction)")
            continue
        paired = None if images is None else ([csv_a[ma][i] for i in images], [csv_b[mb][i] for i in images])
        for key, st in STATISTICS.items():
            sa, sb = a["models"][ma]["stats"].get(key), b["models"][mb]["stats"].get(key)
            if sa is None or sb is None or (sa["mean"] is None and sb["mean"] is None):
                continue
            diff, evidence, sig = _compare_stat(st, sa, sb, paired)
            verdict = _verdict(st, diff, sig, sa["mean"], sb["mean"])
            lines.append(
                f"{label:<20} {st.label:<22} {_fmt(sa['mean'], st.fmt):>10} {_fmt(sb['mean'], st.fmt):>10} "
                f"{_fmt(diff, '+' + st.fmt.lstrip('+')):>10}  {evidence}: {verdict}"
            )
    return "\n".join(lines)


def _fmt(v: float | None, fmt: str) -> str:
    return "–" if v is None or not math.isfinite(v) else format(v, fmt)


# ----------------------------------------------------------------------------- videos

#: per-video, per-model values in video_metrics.csv (what :func:`tinct.video.evaluate_video` returns)
VIDEO_COLUMNS = (
    "frames",
    "width",
    "height",
    "cuts",
    "static_fraction",
    "flicker_truth",
    "flicker_raw",
    "flicker_stable",
    "psnr_gray",
    "psnr_raw",
    "psnr_stable",
)


def iter_video_files(data: Path, exclude: Path | None = None) -> list[Path]:
    """``data`` itself when it is a video file, else the video files under the folder (recursive, sorted)."""
    from tinct.batch import VIDEO_EXTENSIONS

    if data.is_file():
        return [data] if data.suffix.lower() in VIDEO_EXTENSIONS else []
    return _iter_files(data, VIDEO_EXTENSIONS, exclude)


def run_video_eval(
    data: str | Path,
    models: str | Sequence[str],
    out_dir: str | Path,
    max_frames: int | None = None,
    size: int | None = None,
    device: str = "cpu",
    command: str | None = None,
) -> dict[str, Any]:
    """Evaluate ``models`` on colour videos (a video file, or the videos under a folder).

    Each video's frames are the truth; each model colorizes their CIELAB L frame by frame, raw
    and stabilised (:func:`tinct.video.evaluate_video`); the gray baseline is the input shown as
    gray. Writes ``video_metrics.csv`` (one row per video and model, :data:`VIDEO_COLUMNS`) and
    ``video_summary.json`` (per model: the means over videos, and the PSNR gains over gray)
    into ``out_dir``; returns that summary. Unreadable videos are skipped and listed (one line
    on stderr each). Raises :class:`EvalError` when no video could be scored.
    """
    from tinct.video import evaluate_video

    data, out_dir = Path(data), Path(out_dir)
    if not data.exists():
        raise EvalError(f"not found: {data}")
    names = resolve_models(models)
    videos = iter_video_files(data, exclude=out_dir)
    if not videos:
        raise EvalError(f"no video files in {data}")
    sessions = load_sessions(names, size, device)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    skipped: list[str] = []
    with (out_dir / "video_metrics.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(("video", "model", *VIDEO_COLUMNS))
        for video in videos:
            rel = video.name if data.is_file() else video.relative_to(data).as_posix()
            try:
                results = {name: evaluate_video(s, video, max_frames=max_frames) for name, s in sessions.items()}
            except ImageError as e:
                print(f"skipped {rel}: {e}", file=sys.stderr)
                skipped.append(rel)
                continue
            for name, r in results.items():
                rows[name].append(r)
                writer.writerow((rel, name, *(r.get(c, "") for c in VIDEO_COLUMNS)))
    n = len(videos) - len(skipped)
    if n == 0:
        raise EvalError(f"no video could be evaluated in {data} ({len(skipped)} skipped)")

    def mean(name: str, key: str) -> float | None:
        vals = [r[key] for r in rows[name] if key in r]
        return _num(float(np.mean(vals))) if vals else None

    summary: dict[str, Any] = {
        "tinct_version": __version__,
        "data": str(data),
        "n_videos": n,
        "max_frames": max_frames,
        "device": device,
        "command": command or shlex.join(sys.argv),
        "skipped": skipped,
        "definitions": {
            "flicker": "mean |change of ab| (Lab units) between consecutive frames at pixels whose truth L "
            "does not change (static pixels); flicker_truth is the same measure for the true colour",
            "psnr": "mean over frames of PSNR on 8-bit RGB (dB); gray = the input L shown as gray",
        },
        "models": {},
    }
    for name in names:
        m = {key: mean(name, key) for key in VIDEO_COLUMNS if key not in ("width", "height", "cuts")}
        m["frames"] = int(sum(r["frames"] for r in rows[name]))
        for kind in ("raw", "stable"):
            if m.get(f"psnr_{kind}") is not None and m.get("psnr_gray") is not None:
                m[f"psnr_gain_{kind}"] = m[f"psnr_{kind}"] - m["psnr_gray"]
        summary["models"][name] = m
    (out_dir / "video_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
