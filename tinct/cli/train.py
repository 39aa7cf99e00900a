"""``tinct train``: a training run from a TOML config and flags (:mod:`tinct.train`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tinct.cli.app import err, fail


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
    precision: Annotated[
        Optional[str], typer.Option(help="auto (bf16 on a GPU, fp32 on the CPU), fp32, bf16 or fp16.")
    ] = None,
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
        precision=precision,
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
        fail(str(e), 1)
    import os

    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks for all
        err(f"trained {summary['steps']} steps; weights: {Path(cfg.out) / 'model.safetensors'}")
