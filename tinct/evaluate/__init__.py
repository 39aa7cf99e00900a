"""``tinct eval``: measure models on colour images and videos, always beside the gray baseline.

* :mod:`~tinct.evaluate.scoring` -- the metrics of one image, the per-image columns and the summary;
* :mod:`~tinct.evaluate.run` -- :func:`run_eval` over a folder of images (metrics.csv, summary.json);
* :mod:`~tinct.evaluate.report` -- report.html and summary.png;
* :mod:`~tinct.evaluate.compare` -- :func:`compare`, which differences between two runs are significant;
* :mod:`~tinct.evaluate.video` -- flicker and :func:`run_video_eval` on colour videos.
"""

from tinct.evaluate.compare import compare, read_metrics_csv
from tinct.evaluate.report import (
    PALETTE,
    THUMB_SIDE,
    example_indices,
    examples_html,
    gain_plot_svg,
    nice_ticks,
    report_html,
    summary_png,
    summary_table_html,
    write_outputs,
)
from tinct.evaluate.run import run_eval
from tinct.evaluate.scoring import (
    BATCH_SIZE,
    BOOTSTRAP_N,
    BOOTSTRAP_SEED,
    CSV_FIELDS,
    GRAY,
    STATISTICS,
    VALUE_COLUMNS,
    ColorizerSession,
    Columns,
    EvalError,
    Statistic,
    build_summary,
    iter_image_files,
    load_sessions,
    load_truth,
    parse_entry,
    resolve_models,
    score,
    score_image,
    summarize_statistic,
    true_hints,
    working_size,
)
from tinct.evaluate.video import (
    STATIC_THRESHOLD,
    VIDEO_COLUMNS,
    FlickerMeter,
    evaluate_video,
    flicker,
    iter_video_files,
    run_video_eval,
)

__all__ = [
    "BATCH_SIZE",
    "BOOTSTRAP_N",
    "BOOTSTRAP_SEED",
    "CSV_FIELDS",
    "GRAY",
    "PALETTE",
    "STATIC_THRESHOLD",
    "STATISTICS",
    "THUMB_SIDE",
    "VALUE_COLUMNS",
    "VIDEO_COLUMNS",
    "ColorizerSession",
    "Columns",
    "EvalError",
    "FlickerMeter",
    "Statistic",
    "build_summary",
    "compare",
    "evaluate_video",
    "example_indices",
    "examples_html",
    "flicker",
    "gain_plot_svg",
    "iter_image_files",
    "iter_video_files",
    "load_sessions",
    "load_truth",
    "nice_ticks",
    "parse_entry",
    "read_metrics_csv",
    "report_html",
    "resolve_models",
    "run_eval",
    "run_video_eval",
    "score",
    "score_image",
    "summarize_statistic",
    "summary_png",
    "summary_table_html",
    "true_hints",
    "working_size",
    "write_outputs",
]
