"""`tinct train`: one readable training loop for every tinct model.

Read it top to bottom: config -> data -> model, optimizer, schedule -> (resume) -> loop of
(batch -> Lab -> loss -> step) with periodic validation, logging and atomic checkpoints ->
fp16 safetensors export. Runs are reproducible: the model init, the data order and every
augmentation are drawn from the seed and the step, so ``--resume`` continues exactly.

Models that take user colour hints (``takes_hints``, :mod:`tinct.models.hints`) get, with each
batch, random hints taken from the truth (:func:`simulate_hints`, drawn from a generator seeded by
the run's seed, the step and the rank, so resuming stays exact); the loss is unchanged.

Distributed: the same loop runs unchanged under ``torchrun`` (one process per GPU, or several
CPU processes), which :func:`init_distributed` detects from the environment (``WORLD_SIZE``,
``RANK``, ``LOCAL_RANK``): the process group uses nccl on GPUs and gloo on the CPU, the networks
are wrapped in DistributedDataParallel (gradients averaged over ranks), and each rank takes its
slice of every global batch of ``cfg.batch`` images (:class:`StepSampler`), so the global batch,
the data order and every crop are those of a one-process run (only BatchNorm statistics, computed
per rank, differ). Rank 0 alone prints, validates, writes the log, checkpoints and exports.

    torchrun --nproc_per_node 8 -m tinct.cli train --config configs/lite.toml
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from tinct.io.images import write_image
from tinct.registry import build_architecture
from tinct.train.checkpoint import export_weights, init_weights, load_training_state, save_training_state
from tinct.train.config import TrainConfig, TrainingError
from tinct.train.data import CropDataset, SeededCrops, collate_skip_none, lab_batch
from tinct.train.distributed import StepSampler, init_distributed, pick_device
from tinct.train.hints import hint_generator, simulate_hints
from tinct.train.precision import Precision
from tinct.train.steps import AdversarialStep, Objective, SupervisedStep
from tinct.train.validate import sample_grid, validate


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train ``cfg.model``; returns a summary. Checkpoints and logs go to ``cfg.out``.

    Under torchrun every rank calls this and gets the summary; rank 0 writes the files.
    """
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.safetensors"
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    own_group = not dist.is_initialized()  # torchrun: this call joins the group, and leaves it at the end
    rank, world, device = init_distributed(pick_device(cfg.device))
    main = rank == 0  # the one process that prints, validates, logs, checkpoints and exports

    # --- data
    dataset = CropDataset(cfg.data, crop=cfg.size, train=True, min_view=cfg.min_view)
    total = int(math.ceil(cfg.epochs * len(dataset) / cfg.batch)) if cfg.epochs else cfg.steps
    val_ds = CropDataset(cfg.val, crop=128, train=False) if cfg.val and main else None

    # --- model, optimizer, schedule (the GAN variant for adversarial models), resumed where asked
    model, precision, objective, trainer = _make_model(cfg, dataset, total, device, ckpt_path if resume else None)
    step = 0
    if resume and ckpt_path.exists():
        step, _, _ = load_training_state(
            ckpt_path,
            model=model,
            optimizers=trainer.optimizers,
            schedulers=trainer.schedulers,
            models=trainer.modules,
            scaler=precision.scaler,
        )
        if main:
            print(f"resumed from {ckpt_path} at step {step}", file=sys.stderr)
    extras = {"prior": objective.prior} if model.kind == "classification" else {}
    takes_hints = bool(getattr(model, "takes_hints", False))

    def checkpoint(at_step: int) -> None:
        save_training_state(
            ckpt_path,
            model=model,
            optimizers=trainer.optimizers,
            schedulers=trainer.schedulers,
            step=at_step,
            config=asdict(cfg),
            extra_tensors=extras,
            models=trainer.modules,
            scaler=precision.scaler,
        )

    loader = _loader(cfg, dataset, step, total, rank, world)

    # --- loop
    log = _Log(out, cfg, device, val_ds) if main else None
    model.train()
    t_last_ckpt = time.time()
    t0, seen = time.time(), 0
    bar = None
    if progress and main:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, unit="step", dynamic_ncols=True)
    last = {}
    for batch in loader:
        if batch is None:
            step += 1
            continue
        l_norm, ab = lab_batch(batch, device)
        if takes_hints:  # L + random hints from the truth, drawn from (seed, step, rank): resume stays exact
            l_norm = torch.cat([l_norm, simulate_hints(ab, hint_generator(cfg.seed, step, rank))], 1)
        try:
            losses = trainer(step, precision.prepare_input(l_norm), ab)
        except TrainingError as e:
            if log is not None:
                log.file.close()
            kept = ckpt_path if ckpt_path.exists() else "(none yet)"
            raise TrainingError(f"{e} The last good checkpoint is kept at {kept}") from None
        loss = losses["loss"]
        step += 1
        seen += batch.shape[0] * world
        ips = seen / max(1e-9, time.time() - t0)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}", img_s=f"{ips:.1f}")
        validate_now = bool(cfg.val) and (step % cfg.val_every == 0 or step == total)  # the same on every rank
        if step % cfg.log_every == 0 or step == total or validate_now:
            if world > 1:  # the global batch's losses: the mean over ranks (every rank logs the same steps)
                values = torch.stack([v.detach().float() for v in losses.values()])
                dist.all_reduce(values)
                losses = dict(zip(losses, values / world, strict=True))
            last = {
                "step": step,
                **{k: v.item() for k, v in losses.items()},
                "lr": trainer.schedulers["sched"].get_last_lr()[0],
                "img_per_s": ips,
                "skipped_images": len(dataset.failed),
                "time": time.time(),
            }
            if log is not None:
                log.write(last, model if validate_now else None)
        if main and time.time() - t_last_ckpt > cfg.checkpoint_every_s:
            checkpoint(step)
            t_last_ckpt = time.time()
    if bar is not None:
        bar.close()
    summary = {**last, "steps": step, "skipped_images": sorted(dataset.failed)}
    if log is not None:
        log.file.close()
        checkpoint(step)
        meta = {"arch": cfg.model, "kwargs": cfg.model_kwargs, "steps": step, "config": asdict(cfg)}
        export_weights(model, out / "model.safetensors", meta)
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    if world > 1:
        dist.barrier()  # the other ranks return once rank 0's files are written
        if own_group:
            dist.destroy_process_group()
    return summary


def _loader(cfg: TrainConfig, dataset: CropDataset, step: int, total: int, rank: int, world: int) -> DataLoader:
    """This rank's batches from ``step`` to ``total``: its slice of each global batch, every crop seeded."""
    return DataLoader(
        SeededCrops(dataset),
        batch_size=cfg.batch // world,
        sampler=StepSampler(len(dataset), cfg.batch, cfg.seed, step, total, rank, world),
        num_workers=cfg.workers,
        collate_fn=collate_skip_none,
        persistent_workers=False,
    )


def _make_model(
    cfg: TrainConfig, dataset: CropDataset, total: int, device: torch.device, resume_from: Path | None
) -> tuple[torch.nn.Module, Precision, Objective, SupervisedStep | AdversarialStep]:
    """The seeded network (from ``cfg.init`` when fine-tuning a fresh run), its precision, its objective
    (with the bin prior of the checkpoint ``resume_from``, when it exists) and its optimiser step."""
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    resuming = resume_from is not None and resume_from.exists()
    model = build_architecture(cfg.model, **cfg.model_kwargs)
    if cfg.init and not resuming:
        init_weights(model, cfg.init)
    precision = Precision(cfg.precision, device)
    model = precision.prepare(model.to(device))
    prior = None
    if resuming:  # the bin prior is part of the state: load it first
        from safetensors import safe_open

        with safe_open(str(resume_from), framework="pt") as f:
            prior = f.get_tensor("extra.prior") if "extra.prior" in f.keys() else None
    objective = Objective(model, cfg, dataset, device, prior)
    if getattr(model, "adversarial", False):
        return (
            model,
            precision,
            objective,
            AdversarialStep(model, objective, cfg, total, device, len(dataset), precision),
        )
    return model, precision, objective, SupervisedStep(model, objective, cfg, total, device, precision)


class _Log:
    """Rank 0's record of a run: ``log.jsonl`` lines, with validation scores and sample grids when asked."""

    def __init__(self, out: Path, cfg: TrainConfig, device: torch.device, val_ds: CropDataset | None):
        self.out, self.cfg, self.device, self.val_ds = out, cfg, device, val_ds
        self.file = (out / "log.jsonl").open("a")

    def write(self, entry: dict[str, Any], validate_model: torch.nn.Module | None = None) -> None:
        """Append ``entry``; with ``validate_model``, first add its validation scores (and write a sample grid)."""
        if validate_model is not None:
            columns: list[np.ndarray] = []
            grid = columns if self.cfg.sample_images > 0 else None
            entry.update(validate(validate_model, self.val_ds, self.cfg, self.device, grid))
            if columns:  # rows: gray input, the model at this step, the truth
                write_image(self.out / "samples" / f"step_{entry['step']:06d}.png", sample_grid(columns))
        self.file.write(json.dumps(entry) + "\n")
        self.file.flush()
