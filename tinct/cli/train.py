"""``tinct train``: a training run from a TOML config and flags (:mod:`tinct.train`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tinct.cli.app import err, fail


def train(
    config: Annotated[Optional[Path], typer.Option(help="TOML config (see configs/).")] = None,
    model: Annotated[
        Optional[str],
        typer.Option(
            help="Architecture name (tinct models' architectures). Default: the default model's, with its "
            "options as shipped (a config's model_kwargs sets others)."
        ),
    ] = None,
    data: Annotated[
        Optional[str], typer.Option(help="Folder (or .txt list) of your colour training images: required.")
    ] = None,
    val: Annotated[Optional[str], typer.Option(help="Folder of validation images.")] = None,
    steps: Annotated[Optional[int], typer.Option()] = None,
    epochs: Annotated[Optional[float], typer.Option()] = None,
    size: Annotated[
        Optional[int],
        typer.Option(help="Crop side, the working size of the trained model. Default: the default model's, else 96."),
    ] = None,
    batch: Annotated[Optional[int], typer.Option()] = None,
    lr: Annotated[Optional[float], typer.Option()] = None,
    device: Annotated[Optional[str], typer.Option()] = None,
    precision: Annotated[
        Optional[str],
        typer.Option(
            help="auto (bf16 on a GPU and on a CPU with AMX; on one with AVX-512 BF16 alone, the faster of bf16 "
            "and fp32, timed; else fp32), fp32, bf16, fp16."
        ),
    ] = None,
    out: Annotated[
        Optional[str], typer.Option(help="Run folder (checkpoints, logs, weights). Default: runs/MODEL.")
    ] = None,
    seed: Annotated[Optional[int], typer.Option()] = None,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.safetensors.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace the run that OUT holds.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet")] = False,
) -> None:
    """Train a model on your own colour images; checkpoints are atomic, Ctrl-C writes one, and `--resume`
    continues exactly. Exit codes: 0 trained, 1 refused or failed, 130 interrupted (resume with --resume)."""
    import os

    # idle OpenMP threads sleep instead of spinning: on a machine shared with other work a spinning
    # pool collapses training speed (measured: 5 against 26 img/s); read when torch loads, just below
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from tinct.train import TrainConfig, TrainingError, TrainingInterrupted
    from tinct.train import train as run_train
    from tinct.train.runinfo import summary_lines

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
        precision=precision,
        out=out,
        seed=seed,
    )
    speaks = os.environ.get("RANK", "0") == "0"  # under torchrun, rank 0 speaks for all
    try:
        cfg = TrainConfig.from_options(config, **overrides)
        summary = run_train(cfg, resume=resume, progress=not quiet, overwrite=overwrite)
    except TrainingInterrupted as e:
        if speaks:
            err(f"tinct train: {e}")
        raise typer.Exit(130) from None
    except (TrainingError, FileNotFoundError) as e:
        fail(str(e), 1)
    if speaks:
        for line in summary_lines(summary, Path(cfg.out)):
            err(line)
