"""The `tinct` command line. Heavy imports (torch) happen inside commands, so `tinct --version`
and `tinct --help` answer at once."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from tinct import __version__

app = typer.Typer(
    name="tinct",
    help="Colorize grayscale images: old photos, film, medical and scientific images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _err(msg: str) -> None:
    typer.echo(msg, err=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tinct {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """tinct: colorize grayscale images."""


def _load_session(model: str, device: str, size: int | None, temperature: float | None = None, debug: bool = False):
    from tinct.api import ModelWeightsError, load_model
    from tinct.registry import UnknownModelError

    try:
        return load_model(model, device=device, working_size=size, temperature=temperature)
    except (UnknownModelError, ModelWeightsError, RuntimeError, ValueError) as e:
        if debug:
            raise
        _err(f"error: {e}")
        raise typer.Exit(2) from None


@app.command()
def colorize(
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.")],
    output: Annotated[
        Optional[Path], typer.Option("-o", "--output", help="Output folder (default: beside each input).")
    ] = None,
    model: Annotated[str, typer.Option("-m", "--model", help="Model name (see `tinct models`).")] = "lite",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    size: Annotated[Optional[int], typer.Option(help="Working size (short side the model sees).")] = None,
    recursive: Annotated[bool, typer.Option("-r", "--recursive", help="Descend into sub-folders.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace existing outputs (default: skip them).")] = False,
    fmt: Annotated[Optional[str], typer.Option("--format", help="Output format: jpg, png, tif, webp, bmp.")] = None,
    quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG/WebP quality.")] = 95,
    suffix: Annotated[str, typer.Option(help="Appended to each output's file name.")] = "_color",
    temperature: Annotated[
        Optional[float], typer.Option(help="Annealed-mean temperature (classification models).")
    ] = None,
    max_pixels: Annotated[Optional[int], typer.Option(help="Refuse images with more pixels (bomb guard).")] = None,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Colorize images; outputs are `{stem}_color.{ext}`. Exit code 1 if any file failed."""
    from tinct.batch import run_batch

    if not suffix and output is None:
        _err("error: an empty --suffix needs an --output folder (inputs are never overwritten)")
        raise typer.Exit(2)
    session = _load_session(model, device, size, temperature, debug)

    def process(src: Path, dst: Path, f: str) -> None:
        session.colorize_file(src, dst, fmt=f, quality=quality, max_pixels=max_pixels)

    def on_error(path: Path, msg: str, tb: str) -> None:
        from tqdm import tqdm

        tqdm.write(f"failed: {path}: {msg}" + (f"\n{tb}" if debug and tb else ""), file=sys.stderr)

    def progress(jobs):
        if quiet or len(jobs) <= 1:
            return jobs
        from tqdm import tqdm

        return tqdm(jobs, unit="img", dynamic_ncols=True, file=sys.stderr)

    result = run_batch(inputs, process, output, recursive, overwrite, fmt, suffix, on_error, progress)
    if len(result.done) == 1 and not result.failed and not result.skipped:
        typer.echo(str(result.done[0]))
    _err(result.summary())
    if result.failed:
        raise typer.Exit(1)


@app.command()
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the models in the registry, with weights size and validation scores."""
    import json

    from tinct.registry import DEFAULT_MODEL, MODELS

    rows = []
    for spec in MODELS.values():
        m = spec.card_metrics().get("val", {})
        size = spec.weights_path.stat().st_size if spec.weights_path.exists() else None
        rows.append(
            {
                "name": spec.name,
                "default": spec.name == DEFAULT_MODEL,
                "description": spec.description,
                "working_size": spec.working_size,
                "weights_bytes": size,
                "parameters": spec.card_metrics().get("parameters"),
                "val_psnr": m.get("psnr"),
                "val_psnr_gain": m.get("psnr_gain"),
                "val_colourfulness_ratio": m.get("colourfulness_ratio"),
            }
        )
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="tinct models (val = ../shared/data/val)")
    for col in ("name", "params", "weights", "size", "val PSNR", "gain vs gray", "colourfulness", "description"):
        t.add_column(col)

    def fmt(v, spec="{:.2f}"):
        return "-" if v is None else spec.format(v)

    for r in rows:
        t.add_row(
            r["name"] + (" *" if r["default"] else ""),
            fmt(r["parameters"], "{:,}"),
            fmt(r["weights_bytes"] and r["weights_bytes"] / 1e6, "{:.1f} MB") if r["weights_bytes"] else "missing",
            str(r["working_size"]),
            fmt(r["val_psnr"]),
            fmt(r["val_psnr_gain"], "{:+.2f} dB"),
            fmt(r["val_colourfulness_ratio"]),
            r["description"],
        )
    Console().print(t)


@app.command()
def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the results.")] = Path("tinct-demo"),
    model: Annotated[str, typer.Option("-m", "--model")] = "lite",
    device: Annotated[str, typer.Option()] = "auto",
) -> None:
    """Colorize the bundled demo photos into OUTPUT, with a before/after image of each."""
    import numpy as np
    from PIL import Image

    from tinct.io import read_image, write_image

    demo_dir = Path(__file__).parent / "demo"
    files = sorted(p for p in demo_dir.glob("*.jpg"))
    session = _load_session(model, device, None)
    output.mkdir(parents=True, exist_ok=True)
    for src in files:
        dst = session.colorize_file(src, output / f"{src.stem}_color.jpg")
        before = read_image(src).pixels
        before = np.dstack([before] * 3) if before.ndim == 2 else before
        after = np.asarray(Image.open(dst).convert("RGB"))
        gap = np.full((before.shape[0], 8, 3), 255, np.uint8)
        write_image(output / f"{src.stem}_before_after.jpg", np.hstack([before, gap, after]), quality=90)
        typer.echo(str(dst))
    _err(f"{len(files)} demo images colorized into {output}/ (see *_before_after.jpg)")


@app.command()
def train(
    config: Annotated[Optional[Path], typer.Option(help="TOML config (see configs/).")] = None,
    model: Annotated[Optional[str], typer.Option(help="Architecture name.")] = None,
    data: Annotated[Optional[str], typer.Option(help="Folder of colour training images.")] = None,
    val: Annotated[Optional[str], typer.Option(help="Folder of validation images.")] = None,
    steps: Annotated[Optional[int], typer.Option()] = None,
    epochs: Annotated[Optional[float], typer.Option()] = None,
    size: Annotated[Optional[int], typer.Option(help="Crop size.")] = None,
    batch: Annotated[Optional[int], typer.Option()] = None,
    lr: Annotated[Optional[float], typer.Option()] = None,
    device: Annotated[Optional[str], typer.Option()] = None,
    out: Annotated[Optional[str], typer.Option(help="Run folder (checkpoints, logs, weights).")] = None,
    seed: Annotated[Optional[int], typer.Option()] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.safetensors.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet")] = False,
) -> None:
    """Train a model; checkpoints are atomic and `--resume` continues exactly."""
    from tinct.train import TrainConfig, TrainingError
    from tinct.train import train as run_train

    overrides = dict(
        model=model,
        data=data,
        val=val,
        steps=steps,
        epochs=epochs,
        size=size,
        batch=batch,
        lr=lr,
        device=device,
        out=out,
        seed=seed,
    )
    try:
        if config is not None:
            cfg = TrainConfig.from_file(config, **overrides)
        else:
            cfg = TrainConfig(**{k: v for k, v in overrides.items() if v is not None})
        summary = run_train(cfg, resume=resume, progress=not quiet)
    except (TrainingError, FileNotFoundError) as e:
        _err(f"error: {e}")
        raise typer.Exit(1) from None
    _err(f"trained {summary['steps']} steps; weights: {Path(cfg.out) / 'model.safetensors'}")


def run() -> None:
    app()


if __name__ == "__main__":
    run()
