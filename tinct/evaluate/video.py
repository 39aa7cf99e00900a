"""Video evaluation: flicker (:class:`FlickerMeter`, :func:`flicker`), one colour video through a model
raw and stabilised (:func:`evaluate_video`), and ``tinct eval`` on videos (:func:`run_video_eval`).
"""

from __future__ import annotations

import csv
import json
import shlex
import sys
from collections.abc import Iterable, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tinct.apps.video import batches, default_batch_size, predict_frames
from tinct.core.color import lab_to_rgb8, luminance, rgb_to_lab
from tinct.core.metrics import psnr as psnr_rgb8
from tinct.core.pipeline import join_full_resolution
from tinct.evaluate.scoring import EvalError, find_files, finite_or_none, load_sessions, resolve_models
from tinct.io.errors import ImageError
from tinct.io.video import VIDEO_EXTENSIONS
from tinct.io.video.read import probe_video, read_frames
from tinct.io.video.stabilise import TemporalStabilizer
from tinct.session import Session
from tinct.version import __version__

#: luminance change (L units) under which a pixel counts as static for the flicker metric
STATIC_THRESHOLD = 2.0


def _ab(rgb: np.ndarray) -> np.ndarray:
    """ab (2, H, W) float32 of a uint8 RGB image."""
    x = torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0)
    return rgb_to_lab(x)[1:].numpy()


class FlickerMeter:
    """Flicker of a frame sequence: mean |ab_t - ab_{t-1}| (Euclidean, Lab units) over static pixels.

    A pixel is static between two frames when the input luminance changes by less than
    ``static_threshold`` L units there; the caller passes that luminance with each frame (the
    truth's or the input's L, the same for the sequences it compares).
    """

    def __init__(self, static_threshold: float = STATIC_THRESHOLD):
        self.static_threshold = static_threshold
        self._prev: tuple[np.ndarray, np.ndarray] | None = None
        self._sum = 0.0
        self._static = 0
        self._pixels = 0

    def update(self, rgb: np.ndarray, L: np.ndarray) -> None:
        ab = _ab(rgb)
        if self._prev is not None:
            L0, ab0 = self._prev
            static = np.abs(L - L0) < self.static_threshold
            self._sum += float(np.sqrt(((ab - ab0) ** 2).sum(0))[static].sum())
            self._static += int(static.sum())
            self._pixels += static.size
        self._prev = (L, ab)

    @property
    def value(self) -> float:
        """Mean ab change per static pixel and frame pair (0 when no pixel was static)."""
        return self._sum / self._static if self._static else 0.0

    @property
    def static_fraction(self) -> float:
        return self._static / self._pixels if self._pixels else 0.0


def flicker(
    frames_rgb_iter: Iterable[np.ndarray],
    reference_frames_iter: Iterable[np.ndarray] | None = None,
    static_threshold: float = STATIC_THRESHOLD,
) -> dict[str, Any]:
    """Flicker of colorized frames (uint8 RGB, H x W x 3), beside the truth's when given.

    Static pixels are where the luminance (of the truth when given, else of the frames, which a
    colorizer keeps) changes by less than ``static_threshold`` between consecutive frames.
    Returns frames, flicker, static_fraction, and with the truth also flicker_truth, psnr (per
    frame, dB) and psnr_mean.
    """
    meter, truth_meter, psnr = FlickerMeter(static_threshold), FlickerMeter(static_threshold), []
    pairs = (
        zip(frames_rgb_iter, reference_frames_iter, strict=True)
        if reference_frames_iter is not None
        else ((f, None) for f in frames_rgb_iter)
    )
    n = 0
    for rgb, truth in pairs:
        L = luminance(truth if truth is not None else rgb)
        meter.update(rgb, L)
        if truth is not None:
            truth_meter.update(truth, L)
            psnr.append(psnr_rgb8(rgb, truth))
        n += 1
    out: dict[str, Any] = {"frames": n, "flicker": meter.value, "static_fraction": meter.static_fraction}
    if reference_frames_iter is not None:
        out.update(flicker_truth=truth_meter.value, psnr=psnr, psnr_mean=float(np.mean(psnr)) if psnr else 0.0)
    return out


def evaluate_video(
    session: Session,
    truth_video_path: str | Path,
    stabilize: bool = True,
    *,
    max_frames: int | None = None,
    batch_size: int | None = None,
    static_threshold: float = STATIC_THRESHOLD,
    stabilizer: TemporalStabilizer | None = None,
) -> dict[str, Any]:
    """Colorize the gray version (CIELAB L) of a colour video, with and without stabilisation; score both.

    The model runs once per frame; its prediction is joined as is ("raw") and, with
    ``stabilize``, after the :class:`TemporalStabilizer` ("stable"). Returns: frames, width,
    height, cuts, static_fraction, flicker_truth, flicker_raw, psnr_raw, psnr_gray (the input
    shown as gray, the baseline), and with ``stabilize`` flicker_stable, psnr_stable (mean PSNR
    over frames on 8-bit RGB, dB; flicker in Lab units per static pixel and frame).
    """
    bs = batch_size or default_batch_size(session)
    stab = (stabilizer or TemporalStabilizer()) if stabilize else None
    if stab:
        stab.reset()
    meters = {k: FlickerMeter(static_threshold) for k in ("truth", "raw", "stable")}
    psnr: dict[str, list[float]] = {"raw": [], "stable": [], "gray": []}
    frames = islice(read_frames(truth_video_path), max_frames)
    n = 0
    for batch in batches(frames, bs):
        Ls = [torch.from_numpy(luminance(rgb)) for _, rgb in batch]
        for (_, truth), L, (ab, L_guide) in zip(batch, Ls, predict_frames(session, Ls), strict=True):
            L_np = L.numpy()
            outputs = {"raw": join_full_resolution(L, ab, L_guide), "gray": lab_to_rgb8(L, torch.zeros(2, *L.shape))}
            if stab:
                outputs["stable"] = join_full_resolution(L, stab(ab, L_guide), L_guide)
            meters["truth"].update(truth, L_np)
            for k, rgb in outputs.items():
                psnr[k].append(psnr_rgb8(np.asarray(rgb), truth))
                if k in meters:
                    meters[k].update(rgb, L_np)
            n += 1
    if n == 0:
        raise ImageError(f"no video frames in {Path(truth_video_path).name}")
    info = probe_video(truth_video_path)
    out: dict[str, Any] = {
        "frames": n,
        "width": info.width,
        "height": info.height,
        "cuts": stab.cuts if stab else 0,
        "static_fraction": meters["truth"].static_fraction,
        "flicker_truth": meters["truth"].value,
    }
    for k in ("raw", "stable", "gray"):
        if psnr[k]:
            out[f"psnr_{k}"] = float(np.mean(psnr[k]))
            if k != "gray":
                out[f"flicker_{k}"] = meters[k].value
    return out


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
    if data.is_file():
        return [data] if data.suffix.lower() in VIDEO_EXTENSIONS else []
    return find_files(data, VIDEO_EXTENSIONS, exclude)


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
        return finite_or_none(float(np.mean(vals))) if vals else None

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
