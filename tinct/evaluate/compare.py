"""``tinct eval --compare A B``: which differences between two summaries are significant (a paired
bootstrap where both runs scored the same images, else non-overlapping 95% CIs)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from tinct.core import metrics
from tinct.evaluate.scoring import BOOTSTRAP_N, BOOTSTRAP_SEED, GRAY, STATISTICS, VALUE_COLUMNS, EvalError, Statistic


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
