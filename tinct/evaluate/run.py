"""``tinct eval`` on images: :func:`run_eval` walks DATA_DIR (recursively, sorted, one image in memory at a
time), scores every model beside the gray baseline (:mod:`tinct.evaluate.scoring`) and writes the
report (:mod:`tinct.evaluate.report`).

Outputs in REPORT_DIR:

* ``metrics.csv``: one row per image and model (gray included), columns :data:`~tinct.evaluate.scoring.CSV_FIELDS`.
* ``summary.json``: per model, the mean and 95% bootstrap CI of every statistic in
  :data:`~tinct.evaluate.scoring.STATISTICS`, n images, AIT with resolution / batch size / device,
  dataset, command line, and the images that were skipped (unreadable or near-gray; each also one line on stderr);
  ``by_source`` where the images' sources are known (:mod:`tinct.evaluate.sources`: the folder's
  manifest.csv, or one folder per source): per source, each model's PSNR gain, CIEDE2000 and colourfulness ratio.
* ``report.html``: self-contained (images are data URIs, the plot is inline SVG): summary table,
  per-image PSNR gain per model, and input / models / truth for the best, median and worst image
  (ranked by the first model's PSNR gain).
* ``summary.png``: mean PSNR gain per model with 95% CI whiskers (for the README).
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tinct.core.gray import NEAR_GRAY_CHROMA, is_near_gray, mean_chroma
from tinct.evaluate.report import write_outputs
from tinct.evaluate.scoring import (
    CSV_FIELDS,
    ColorizerSession,
    Columns,
    EvalError,
    build_summary,
    csv_row,
    iter_image_files,
    load_sessions,
    load_truth,
    resolve_models,
    score_image,
    true_hints,
)
from tinct.evaluate.sources import by_source, image_sources
from tinct.io.errors import ImageError


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
    Unreadable and near-gray images (no colour truth: :func:`tinct.core.gray.is_near_gray`, the data
    README's test) are skipped (listed in the summary, one line each on stderr). Raises
    :class:`EvalError`, writing nothing, when the folder is missing, holds no image, or no image could
    be scored.
    """
    from tqdm import tqdm

    data_dir, out_dir = Path(data_dir), Path(out_dir)
    if not data_dir.is_dir():
        raise EvalError(f"not a folder: {data_dir}")
    if hints < 0:
        raise EvalError(f"--hints must be 0 or more, got {hints}")
    if limit is not None and limit < 1:
        raise EvalError(f"--limit must be 1 or more, got {limit}")
    names = resolve_models(models)
    files = iter_image_files(data_dir, exclude=out_dir)
    if not files:
        raise EvalError(f"no images found in {data_dir} (jpg, png, ...); nothing to score, no report written")
    sessions = load_sessions(names, size, device)
    refusing = [name for name, session in sessions.items() if not getattr(session, "takes_hints", False)]
    if hints and refusing:
        raise EvalError(f"--hints {hints}: model {refusing[0]!r} does not take colour hints")
    _warm_up(sessions)
    cols, skipped, csv_rows = Columns(), [], []
    total = len(files) if limit is None else min(limit, len(files))
    with tqdm(total=total, disable=not progress, unit="img", desc="eval", file=sys.stderr) as bar:
        for image, truth in _iter_truths(files, data_dir, skipped, bar):
            rows = score_image(truth, sessions, true_hints(image, truth, hints))
            cols.add(image, (truth.shape[1], truth.shape[0]), rows)
            csv_rows.extend(csv_row(image, truth.shape, m, r) for m, r in rows.items())
            bar.update()
            if limit is not None and len(cols.images) >= limit:
                break
    if not cols.images:
        gray = sum(1 for s in skipped if s["error"].startswith("near-gray"))
        raise EvalError(
            f"no colour image to score in {data_dir}: {len(skipped)} skipped"
            f" ({len(skipped) - gray} unreadable, {gray} near-gray); no report written"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "metrics.csv").open("w", newline="") as fh:  # written once there is something to report
        writer = csv.writer(fh)
        writer.writerow(CSV_FIELDS)
        writer.writerows(csv_rows)
    devices = sorted({str(getattr(session, "device", device)) for session in sessions.values()}) or [device]
    summary = build_summary(cols, sessions, data_dir, skipped, ", ".join(devices), command, hints)
    grouped = image_sources(data_dir, cols.images)
    if grouped is not None:
        sources, where = grouped
        summary["by_source"] = {"from": where, "sources": by_source(cols, sources)}
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
            if is_near_gray(truth):
                raise ImageError(
                    f"near-gray (mean chroma {mean_chroma(truth):.2f} < {NEAR_GRAY_CHROMA}): no colour truth to score"
                )
        except ImageError as e:
            skipped.append({"image": name, "error": str(e)})
            bar.write(f"tinct eval: skipped {name}: {e}", file=sys.stderr)
            bar.update()
            continue
        yield name, truth
