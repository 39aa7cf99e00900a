"""``tinct eval``: score models on colour images and videos (:mod:`tinct.evaluate`) and print the summary."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from tinct.cli.app import err, fail
from tinct.registry import DEFAULT_MODEL


def eval_(
    data_dir: Annotated[
        Optional[Path], typer.Argument(help="Folder of colour images and/or videos, or one video (the truth).")
    ] = None,
    models: Annotated[
        str,
        typer.Option(
            "--models",
            help="Model names, comma-separated, or 'all'. A name may carry settings, each its own column: "
            "NAME@vivid=V, @temperature=T, @size=PX (e.g. prism,prism@vivid=1).",
        ),
    ] = DEFAULT_MODEL,
    out: Annotated[Path, typer.Option("--out", help="Report folder.")] = Path("eval-report"),
    limit: Annotated[Optional[int], typer.Option(min=1, help="Score at most N images.")] = None,
    size: Annotated[Optional[int], typer.Option(help="Working size for every model.")] = None,
    device: Annotated[str, typer.Option(help="cpu, auto or cuda.")] = "cpu",
    compare: Annotated[
        Optional[tuple[Path, Path]], typer.Option("--compare", help="Compare two summary.json files.")
    ] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar.")] = False,
    frames: Annotated[Optional[int], typer.Option(min=1, help="Videos: score at most N frames of each.")] = None,
    hints: Annotated[
        int, typer.Option(min=0, help="Images: give hint models N true colour points per image (seeded by its name).")
    ] = 0,
) -> None:
    """Score models on colour images and videos, beside the gray baseline.

    Images: metrics.csv, summary.json, report.html and summary.png. Videos (a video file, or the
    videos in the folder): video_metrics.csv and video_summary.json with PSNR per frame and the
    flicker metric, raw and stabilised, beside the truth's own flicker."""
    import shlex

    from tinct.backends.torch import ModelWeightsError
    from tinct.evaluate import EvalError, iter_image_files, iter_video_files, run_eval, run_video_eval
    from tinct.evaluate import compare as compare_summaries
    from tinct.registry import UnknownModelError

    try:
        if compare is not None:
            typer.echo(compare_summaries(*compare))
            return
        if data_dir is None:
            fail("give DATA_DIR, or --compare A.json B.json")
        command = shlex.join(["tinct", *sys.argv[1:]])
        videos = iter_video_files(data_dir, exclude=out) if data_dir.exists() else []
        images = data_dir.is_dir() and bool(iter_image_files(data_dir, exclude=out))
        if videos:
            video_summary = run_video_eval(data_dir, models, out, frames, size, device, command)
            print_video_summary(video_summary)
            err(f"video report: {out / 'video_summary.json'}")
        if images or not videos:
            summary = run_eval(
                data_dir,
                models,
                out,
                limit=limit,
                size=size,
                progress=not quiet,
                device=device,
                command=command,
                hints=hints,
            )
            print_summary(summary)
            err(f"report: {out / 'report.html'}")
    except (EvalError, UnknownModelError, ModelWeightsError) as e:
        fail(str(e))


def print_video_summary(summary: dict) -> None:
    """The video summary as a table on the console."""
    from rich.table import Table

    t = Table(title=f"tinct eval: {summary['n_videos']} videos")
    keys = ("psnr_gray", "psnr_raw", "psnr_stable", "flicker_truth", "flicker_raw", "flicker_stable")
    t.add_column("model", no_wrap=True, min_width=max(map(len, summary["models"]), default=5))
    for c in ("frames", *(k.replace("_", " ") for k in keys)):
        t.add_column(c)
    for name, m in summary["models"].items():
        cells = [m.get(k) for k in keys]
        t.add_row(name, str(m["frames"]), *("-" if v is None else f"{v:.3f}" for v in cells))
    _print_wide(t, summary)


def print_summary(summary: dict) -> None:
    """The image summary as a table on the console: mean of each statistic per model."""
    from rich.table import Table

    n_hints = summary.get("hints", {}).get("per_image", 0)
    with_hints = f", {n_hints} colour hints per image" if n_hints else ""
    t = Table(title=f"tinct eval: {summary.get('n_images', '?')} images{with_hints}")
    cols = ["model", "PSNR", "gain", "SSIM", "CIEDE2000", "colourfulness", "AIT s"]
    # full model names (a weights file's path), never cut or wrapped
    t.add_column(cols[0], no_wrap=True, min_width=max(map(len, summary["models"]), default=5))
    for c in cols[1:]:
        t.add_column(c)
    for name, m in summary["models"].items():

        def g(key, spec="{:.3f}", m=m):
            v = m.get("stats", {}).get(key, {}).get("mean")
            return "-" if v is None else spec.format(v)

        t.add_row(
            name, g("psnr"), g("psnr_gain", "{:+.3f}"), g("ssim"), g("ciede2000"), g("colourfulness_ratio"), g("ait_s")
        )
    _print_wide(t, summary)
    if summary.get("by_source"):
        _print_by_source(summary)


def _print_by_source(summary: dict) -> None:
    """PSNR gain over gray per source and model (a gain at or below 0, no better than gray, in red)."""
    from rich.table import Table

    grouped = summary["by_source"]
    models = [m for m in summary["models"] if m != "gray"]
    t = Table(title=f"PSNR gain over gray per source (sources from {grouped['from']})")
    t.add_column("source", no_wrap=True)
    t.add_column("images")
    t.add_column("gray PSNR")
    for m in models:
        t.add_column(m, no_wrap=True)
    for source, v in grouped["sources"].items():
        gains = [v["models"][m]["psnr_gain"] for m in models]
        cells = ["-" if g is None else (f"[red]{g:+.2f}[/red]" if g <= 0 else f"{g:+.2f}") for g in gains]
        gray = v["models"]["gray"]["psnr"]
        t.add_row(source, str(v["n"]), "-" if gray is None else f"{gray:.2f}", *cells)
    _print_wide(t, summary)


def _print_wide(table: object, summary: dict) -> None:
    """Print ``table`` at the terminal's width, or wider when the longest model name needs it (full names)."""
    from rich.console import Console

    console = Console()
    longest = max(map(len, summary["models"]), default=5)
    Console(width=max(console.width, longest + 80)).print(table)
