"""Per-source scores for ``tinct eval``: which source each image came from, and each model's figures
per source beside gray's.

Where an image comes from is read from the data folder's ``manifest.csv`` when it has ``path`` and
``source`` columns (the project's data folders have one; ``path`` relative to the folder), and
otherwise from each image's first folder under the data folder when the images sit in two folders
or more. A flat folder, or a manifest that names none of the scored images, has no breakdown.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

import numpy as np

from tinct.core import metrics
from tinct.evaluate.scoring import GRAY, Columns

MANIFEST = "manifest.csv"


def image_sources(data_dir: Path, images: list[str]) -> tuple[dict[str, str], str] | None:
    """({image: source}, where the sources came from) for the scored ``images`` (paths relative to
    ``data_dir``), or None when there is nothing to group by. Images a manifest does not list are
    grouped under their first folder (or "(unlisted)" for an image at the top)."""
    listed = _manifest_sources(data_dir / MANIFEST)
    if listed and any(name in listed for name in images):
        return {name: listed.get(name) or _first_folder(name) or "(unlisted)" for name in images}, MANIFEST
    folders = {name: _first_folder(name) for name in images}
    if len({f for f in folders.values() if f}) >= 2:
        return {name: folder or "(top folder)" for name, folder in folders.items()}, "the first folder of each image"
    return None


def _first_folder(name: str) -> str:
    parts = Path(name).parts
    return parts[0] if len(parts) > 1 else ""


def _manifest_sources(path: Path) -> dict[str, str]:
    """{path: source} of a manifest.csv with both columns; {} when there is none or it cannot be read."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not {"path", "source"} <= set(reader.fieldnames or ()):
                return {}
            return {row["path"]: row["source"] for row in reader if row.get("path") and row.get("source")}
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}


def by_source(cols: Columns, sources: dict[str, str]) -> dict[str, dict[str, Any]]:
    """{source: {"n": images, "models": {model: figures}}}, sources sorted by name. A model's figures
    are the mean PSNR and PSNR gain over gray, mean CIEDE2000 and the colourfulness ratio (ratio of
    means), the definitions of the whole-set summary; gray is included as the reference."""
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(cols.images):
        groups.setdefault(sources[name], []).append(i)
    out: dict[str, dict[str, Any]] = {}
    for source in sorted(groups):
        idx = np.asarray(groups[source])
        models = {}
        for model in cols.values:

            def mean(column: str, model: str = model, idx: np.ndarray = idx) -> float | None:
                v = float(np.nanmean(cols.array(model, column)[idx]))
                return v if math.isfinite(v) else None

            ratio = metrics.ratio_of_means(
                cols.array(model, "colourfulness")[idx], cols.array(model, "colourfulness_truth")[idx]
            )
            models[model] = {
                "psnr": mean("psnr"),
                "psnr_gain": mean("psnr_gain"),
                "ciede2000": mean("ciede2000"),
                "colourfulness_ratio": ratio if math.isfinite(ratio) else None,
            }
        out[source] = {"n": int(len(idx)), "models": models}
    return out


def sources_below_gray(per_source: dict[str, dict[str, Any]], model: str) -> list[str]:
    """The sources where ``model``'s mean PSNR gain over gray is not above 0."""
    return [s for s, v in per_source.items() if (v["models"][model]["psnr_gain"] or 0.0) <= 0.0 and model != GRAY]
