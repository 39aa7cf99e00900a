"""`tinct train`: one readable training loop for every tinct model.

Read it top to bottom: config -> data -> model, optimizer, schedule -> (resume) -> loop of
(batch -> Lab -> loss -> step) with periodic validation, logging and atomic checkpoints ->
fp16 safetensors export. Runs are reproducible: the model init, the data order and every
augmentation are drawn from the seed and the step, so ``--resume`` continues exactly.

Models that take user colour hints (``takes_hints``, :mod:`tinct.models.hints`) get, with each
batch, random hints taken from the truth (:func:`simulate_hints`, drawn from a generator seeded by
the run's seed, the step and the rank, so resuming stays exact); the loss is unchanged.

Distributed: the same loop runs unchanged under ``torchrun`` (one process per GPU, or several
CPU processes), which :func:`process_group` detects from the environment (``WORLD_SIZE``,
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
from tinct.registry import ARCHITECTURES, MODELS, build_architecture
from tinct.train.checkpoint import (
    export_weights,
    init_weights,
    load_training_state,
    prior_metadata,
    read_run_state,
    save_training_state,
)
from tinct.train.config import TrainConfig, TrainingError
from tinct.train.cutmix import cut_mix, cutmix_generator
from tinct.train.data import (
    CropDataset,
    Screened,
    SeededCrops,
    collate_indexed,
    lab_batch,
    screen_images,
    screening_cache,
)
from tinct.train.degrade import degrade_generator, degrade_l
from tinct.train.distributed import StepSampler, pick_device, process_group
from tinct.train.hints import hint_generator, simulate_hints
from tinct.train.labels import SCENE_CLASSES, record_classes
from tinct.train.precision import PRECISIONS, PROBE_MIN_STEPS, Precision, auto_precision, precision_machine
from tinct.train.runinfo import (
    PARTIAL_WEIGHTS,
    StopRequests,
    TrainingInterrupted,
    machine_name,
    model_card,
    prepare_out,
)
from tinct.train.steps import AdversarialStep, CriticStep, Objective, SceneStep, SupervisedStep
from tinct.train.validate import sample_grid, validate


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True, overwrite: bool = False) -> dict[str, Any]:
    """Train ``cfg.model``; returns a summary. Checkpoints and logs go to ``cfg.out``.

    Every mistake is refused before anything is written, with a one-line :class:`TrainingError`: a
    config that cannot train (:meth:`TrainConfig.check`), an unknown architecture, a missing device,
    data that does not exist or holds no usable colour image (unreadable and near-gray images are
    skipped: :func:`screen_images`), a crop size the network cannot take, an ``out`` that already
    holds a run (unless ``resume`` or ``overwrite``), ``resume`` without a checkpoint. A run that
    fails before writing anything leaves no folder behind. SIGINT / SIGTERM stop the run after the
    current step with a checkpoint of it (:class:`TrainingInterrupted`); ``resume`` continues exactly.
    Under torchrun every rank calls this and gets the summary; rank 0 writes the files.
    """
    cfg.check()
    _check_architecture(cfg.model)
    device = pick_device(cfg.device)
    screened = screen_images(cfg.data, "--data", screening_cache())
    val_screened = screen_images(cfg.val, "--val", screening_cache()) if cfg.val else None
    out = Path(cfg.out)
    prepare_out(out, resume, overwrite)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        with process_group(device) as (rank, world, device):
            return _train(cfg, device, rank, world, screened, val_screened, resume, progress)
    except BaseException:
        if created:  # leave no empty run folder behind
            log = out / "log.jsonl"
            if log.exists() and log.stat().st_size == 0:
                log.unlink()
            if not any(out.iterdir()):
                out.rmdir()
        raise


def _train(
    cfg: TrainConfig,
    device: torch.device,
    rank: int,
    world: int,
    screened: Screened,
    val_screened: Screened | None,
    resume: bool,
    progress: bool,
) -> dict[str, Any]:
    """The run itself (see :func:`train`), once every check has passed and ``cfg.out`` exists, as
    rank ``rank`` of ``world`` processes (the caller owns the process group)."""
    out = Path(cfg.out)
    ckpt_path = out / "checkpoint.safetensors"
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    main = rank == 0  # the one process that prints, validates, logs, checkpoints and exports

    # --- data
    dataset = CropDataset(cfg.data, crop=cfg.size, train=True, min_view=cfg.min_view, screened=screened)
    total = int(math.ceil(cfg.epochs * len(dataset) / cfg.batch)) if cfg.epochs else cfg.steps
    val_ds = CropDataset(cfg.val, crop=128, train=False, screened=val_screened) if cfg.val and main else None
    facts = _RunFacts(cfg, screened, device, ckpt_path if resume else None)

    # --- model, optimizer, schedule (the GAN variant for adversarial models), resumed where asked
    model, precision, objective, trainer = _make_model(cfg, dataset, total, device, ckpt_path if resume else None)
    facts.precision = precision.name
    if isinstance(trainer, SceneStep):  # before the checkpoint's head is loaded: every rank checks, rank 0 keeps
        record_classes(out / SCENE_CLASSES, trainer.classes, resume, write=main)
    step = 0
    if resume:
        step = _resume(ckpt_path, model, trainer, precision, main)
        if step >= total and (out / "summary.json").exists():  # a finished run: keep its summary as it is
            if main:
                print(f"the run already finished at step {step}; raise --steps to train longer", file=sys.stderr)
            return json.loads((out / "summary.json").read_text())
    elif main:
        print(f"--data {cfg.data}: {screened.describe()}", file=sys.stderr)
    extras = {"prior": objective.prior} if model.kind == "classification" else {}
    takes_hints = bool(getattr(model, "takes_hints", False))

    def checkpoint(at_step: int) -> None:  # atomic: a temporary file renamed
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
            run=facts.state(),
        )

    loader = _loader(cfg, dataset, step, total, rank, world)

    # --- loop
    log = _Log(out, cfg, device, val_ds) if main else None
    model.train()
    t_last_ckpt = time.time()
    facts.start()
    bar = None
    if progress and main:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, unit="step", dynamic_ncols=True)
    last = {}
    with StopRequests() as stop:
        for batch in loader:
            if batch is None:
                step += 1
                continue
            rgb, index = batch
            l_norm, ab = lab_batch(rgb, device)
            if cfg.cutmix:  # rectangles of other images, drawn from (seed, step, rank): resume stays exact
                l_norm, ab = cut_mix(l_norm, ab, cutmix_generator(cfg.seed, step, rank), cfg.cutmix)
            if cfg.degrade:  # scan-like input, drawn from (seed, step, rank): resume stays exact
                l_norm = degrade_l(l_norm, degrade_generator(cfg.seed, step, rank), cfg.degrade)
            if takes_hints:  # L + random hints from the truth, drawn from (seed, step, rank): resume stays exact
                l_norm = torch.cat([l_norm, simulate_hints(ab, hint_generator(cfg.seed, step, rank))], 1)
            try:
                losses = trainer(step, precision.prepare_input(l_norm), ab, index)
            except TrainingError as e:
                if log is not None:
                    log.file.close()
                kept = ckpt_path if ckpt_path.exists() else "(none yet)"
                raise TrainingError(f"{e} The last good checkpoint is kept at {kept}") from None
            loss = losses["loss"]
            step += 1
            facts.images += rgb.shape[0] * world
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.4f}", img_s=f"{facts.images_per_s():.1f}")
            validate_now = bool(cfg.val) and (step % cfg.val_every == 0 or step == total)  # the same on every rank
            if step % cfg.log_every == 0 or step == total or validate_now:
                last = _log_entry(losses, world, step, trainer, facts, dataset)
                if log is not None:
                    log.write(last, model if validate_now else None)
            if _stop_requested(stop, world, device) and step < total:
                for done in (bar, log and log.file):
                    if done is not None:
                        done.close()
                if main:
                    checkpoint(step)  # to resume from, and fp16 weights of this step to use or start a stage from
                    export_weights(model, out / PARTIAL_WEIGHTS, _weights_metadata(cfg, step, extras.get("prior")))
                raise TrainingInterrupted(step)
            if main and time.time() - t_last_ckpt > cfg.checkpoint_every_s:
                checkpoint(step)
                t_last_ckpt = time.time()
    if bar is not None:
        bar.close()
    summary = {**last, "steps": step, "skipped_images": sorted(dataset.failed | {str(p) for p in screened.unreadable})}
    summary.update(facts.summary())
    if log is not None:
        log.file.close()
        checkpoint(step)
        _write_results(out, cfg, model, summary, extras.get("prior"))
    return summary  # under torchrun the other ranks wait for rank 0's files at process_group's barrier


def _resume(ckpt_path: Path, model: torch.nn.Module, trainer: Any, precision: Precision, main: bool) -> int:
    """Load the checkpoint into the model, its optimisers, schedulers and scaler; the step it holds."""
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
    return step


def _write_results(
    out: Path, cfg: TrainConfig, model: torch.nn.Module, summary: dict[str, Any], prior: torch.Tensor | None = None
) -> None:
    """The fp16 weights (``model.safetensors``: :func:`_weights_metadata`), summary.json and the run's
    model card; the weights an interruption left (``partial.safetensors``) are removed."""
    export_weights(model, out / "model.safetensors", _weights_metadata(cfg, summary["steps"], prior))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "model.md").write_text(model_card(summary, asdict(cfg), out))
    (out / PARTIAL_WEIGHTS).unlink(missing_ok=True)


def _weights_metadata(cfg: TrainConfig, steps: int, prior: torch.Tensor | None) -> dict[str, Any]:
    """The metadata of exported weights: architecture and options, the steps trained, the working size
    they were trained at, the config and, for a classification model, the bin prior its rebalancing
    used (``bin_prior``)."""
    meta = {
        "arch": cfg.model,
        "kwargs": cfg.model_kwargs,
        "steps": steps,
        "working_size": cfg.size,
        "config": asdict(cfg),
    }
    if prior is not None:
        meta["bin_prior"] = prior_metadata(prior)
    return meta


def _check_architecture(name: str) -> None:
    """Refuse an architecture name that training does not know (a shipped model's name included)."""
    if name in ARCHITECTURES:
        return
    if name in MODELS:
        spec = MODELS[name]
        raise TrainingError(
            f"--model {name} is a shipped model; train its architecture with --model {spec.arch}"
            f" (its options {json.dumps(spec.kwargs)} go in a config's [model_kwargs])"
        )
    raise TrainingError(f"unknown architecture {name!r} for --model; use one of {', '.join(ARCHITECTURES)}")


def _stop_requested(stop: StopRequests, world: int, device: torch.device) -> bool:
    """Whether SIGINT / SIGTERM asked to stop (on any rank: every rank stops at the same step)."""
    if world == 1:
        return stop.requested is not None
    flag = torch.tensor([1.0 if stop.requested else 0.0], device=device)
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def _log_entry(
    losses: dict[str, torch.Tensor], world: int, step: int, trainer: Any, facts: _RunFacts, dataset: CropDataset
) -> dict[str, Any]:
    """One ``log.jsonl`` line: the global batch's losses (the mean over ranks), lr, speed, skipped images."""
    if world > 1:  # every rank logs the same steps
        values = torch.stack([v.detach().float() for v in losses.values()])
        dist.all_reduce(values)
        losses = dict(zip(losses, values / world, strict=True))
    return {
        "step": step,
        **{k: v.item() for k, v in losses.items()},
        "lr": trainer.schedulers["sched"].get_last_lr()[0],
        "img_per_s": facts.images_per_s(),
        "skipped_images": len(dataset.failed),
        "time": time.time(),
    }


class _RunFacts:
    """What a run records about itself: the data it found, the machine, the precision, and the wall time
    and images of training, accumulated across resumes (carried in the checkpoint: :func:`read_run_state`)."""

    def __init__(self, cfg: TrainConfig, screened: Screened, device: torch.device, resume_from: Path | None):
        state = read_run_state(resume_from) if resume_from is not None else {}
        self.before_s = float(state.get("wall_time_s", 0.0))
        self.images = int(state.get("images", 0))
        self.images_before = self.images
        self.hardware = machine_name(device)
        self.precision = cfg.precision
        self.precision_machine = precision_machine(device)
        self.data = {
            "found": screened.found,
            "used": len(screened.usable),
            "unreadable": len(screened.unreadable),
            "near_gray": len(screened.gray),
            "near_gray_images": [str(p) for p in screened.gray],
        }
        self.t0 = time.time()

    def start(self) -> None:
        """The loop starts now (time before it, loading and checks, is not training time)."""
        self.t0 = time.time()

    def wall_time_s(self) -> float:
        """Seconds of training, this session's and those of the sessions before a resume."""
        return self.before_s + time.time() - self.t0

    def images_per_s(self) -> float:
        """Training images per second in this session."""
        return (self.images - self.images_before) / max(1e-9, time.time() - self.t0)

    def state(self) -> dict[str, Any]:
        """What the checkpoint carries to a resumed run (the precision and the machine it was chosen for: an
        ``auto`` run resumed on the same kind of machine keeps it)."""
        return {
            "wall_time_s": self.wall_time_s(),
            "images": self.images,
            "precision": self.precision,
            "precision_machine": self.precision_machine,
        }

    def summary(self) -> dict[str, Any]:
        """The run's facts for ``summary.json`` and its model card."""
        wall = self.wall_time_s()
        return {
            "hardware": self.hardware,
            "precision": self.precision,
            "wall_time_s": round(wall, 3),
            "images_per_s": self.images / max(1e-9, wall),
            "data": self.data,
        }


def _loader(cfg: TrainConfig, dataset: CropDataset, step: int, total: int, rank: int, world: int) -> DataLoader:
    """This rank's batches from ``step`` to ``total``: its slice of each global batch, every crop seeded."""
    return DataLoader(
        SeededCrops(dataset),
        batch_size=cfg.batch // world,
        sampler=StepSampler(len(dataset), cfg.batch, cfg.seed, step, total, rank, world),
        num_workers=cfg.workers,
        collate_fn=collate_indexed,
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
    multiple = int(getattr(model, "multiple", 1))
    if cfg.size % multiple:
        lower, upper = cfg.size // multiple * multiple, (cfg.size // multiple + 1) * multiple
        raise TrainingError(
            f"--size {cfg.size}: {cfg.model} needs a multiple of {multiple}; use {upper}"
            + (f" or {lower}" if lower else "")
        )
    if cfg.init and not resuming:
        init_weights(model, cfg.init)
    model = model.to(device)
    precision = Precision(_precision_name(cfg, model, total, device, resume_from if resuming else None), device)
    model = precision.prepare(model)
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
    if cfg.adversarial_weight > 0:
        return model, precision, objective, CriticStep(model, objective, cfg, total, device, precision)
    if cfg.scene_weight > 0:
        return (
            model,
            precision,
            objective,
            SceneStep(model, objective, cfg, total, device, precision, dataset),
        )
    return model, precision, objective, SupervisedStep(model, objective, cfg, total, device, precision)


def _precision_name(
    cfg: TrainConfig, model: torch.nn.Module, total: int, device: torch.device, resume_from: Path | None
) -> str:
    """``cfg.precision``, with ``auto`` resolved: as the run being resumed resolved it where it resumes on
    the same kind of machine (:func:`tinct.train.precision.precision_machine`), else by
    :func:`tinct.train.precision.auto_precision` (timing ``model`` where the flags do not decide and the
    run has at least :data:`PROBE_MIN_STEPS` steps; a measured choice is said on rank 0), agreed by every rank."""
    if cfg.precision != "auto":
        return cfg.precision
    state = read_run_state(resume_from) if resume_from is not None else {}
    if state.get("precision") in PRECISIONS and state.get("precision_machine") == precision_machine(device):
        return state["precision"]  # resumed on the same kind of machine: as the run chose
    channels = int(getattr(model, "in_channels", 1))
    shape = (min(cfg.batch, 8), channels, cfg.size, cfg.size) if total >= PROBE_MIN_STEPS else None
    ranks = dist.is_available() and dist.is_initialized()
    main = not ranks or dist.get_rank() == 0
    name, reason, timed = auto_precision(device, model if shape and main else None, shape if main else None)
    if ranks:  # every rank trains as rank 0 chose (it alone measures, undisturbed)
        agreed = [name]
        dist.broadcast_object_list(agreed, src=0)
        name = agreed[0]
    if timed:  # the flags' choice goes unsaid
        print(f"precision auto: {name} ({reason})", file=sys.stderr)
    return name


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
                labels = ("gray input", f"step {entry['step']}", "truth")
                write_image(self.out / "samples" / f"step_{entry['step']:06d}.png", sample_grid(columns, labels=labels))
        self.file.write(json.dumps(entry) + "\n")
        self.file.flush()
