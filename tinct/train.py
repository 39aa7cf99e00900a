"""`tinct train`: one readable training loop for every tinct model.

Read it top to bottom: config -> data -> model, optimizer, schedule -> (resume) -> loop of
(batch -> Lab -> loss -> step) with periodic validation, logging and atomic checkpoints ->
fp16 safetensors export. Runs are reproducible: the model init, the data order and every
augmentation are drawn from the seed and the step, so ``--resume`` continues exactly.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import tomllib
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Sampler

from tinct.checkpoint import atomic_save_tensors, load_training_state, save_training_state
from tinct.color import AB_SCALE, normalize_l, rgb_to_lab
from tinct.data import CropDataset, collate_skip_none
from tinct.quantize import ABQuantizer, prior_from_images, soft_ce
from tinct.registry import build_architecture


class TrainingError(RuntimeError):
    """Training stopped (non-finite loss, no data, ...); the message says why."""


@dataclass
class TrainConfig:
    model: str = "lite"  #: architecture name in tinct.registry.ARCHITECTURES
    data: str = "../shared/data/train"
    val: str | None = None
    steps: int = 1000
    epochs: float | None = None  #: if set, overrides steps
    batch: int = 32
    size: int = 96  #: training crop side
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    seed: int = 0
    device: str = "auto"
    out: str = "runs/lite"
    workers: int = 0
    threads: int = 0  #: torch CPU threads (0: torch's default)
    checkpoint_every_s: float = 300.0
    val_every: int = 500
    val_images: int = 64
    log_every: int = 20
    rebalance_lambda: float = 0.5  #: Zhang's class-rebalancing mix
    rebalance_power: float = 1.0  #: 1 = full rebalancing, 0 = none
    prior_images: int = 1000
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        """Load a TOML config; keyword overrides that are not None win."""
        data = tomllib.loads(Path(path).read_text())
        data.update({k: v for k, v in overrides.items() if v is not None})
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise TrainingError(f"unknown config keys in {path}: {', '.join(sorted(unknown))}")
        return cls(**data)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


class StepSampler(Sampler):
    """Yields (index, seed) for batches from ``start_step`` on: a seeded permutation per epoch.

    The sample seed makes each crop and flip a function of (run seed, epoch, position), so the
    data a step sees does not depend on workers or on where a run was resumed.
    """

    def __init__(self, n: int, batch: int, seed: int, start_step: int, total_steps: int):
        self.n, self.batch, self.seed = n, batch, seed
        self.start, self.total = start_step, total_steps

    def __len__(self) -> int:
        return (self.total - self.start) * self.batch

    def __iter__(self):
        pos = self.start * self.batch
        end = self.total * self.batch
        while pos < end:
            epoch, off = divmod(pos, self.n)
            perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            for j in range(off, self.n):
                if pos >= end:
                    return
                yield int(perm[j]), (self.seed * 1_000_003 + pos) % 2**32
                pos += 1


class SeededCrops(torch.utils.data.Dataset):
    """Wraps CropDataset so that each item is drawn with its own RNG seed."""

    def __init__(self, base: CropDataset):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key):
        idx, seed = key
        state = random.getstate()
        random.seed(seed)
        try:
            return self.base[idx]
        finally:
            random.setstate(state)


def lab_batch(rgb_u8: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 RGB (B, 3, H, W) -> (normalised L (B, 1, H, W), ab in Lab units (B, 2, H, W))."""
    lab = rgb_to_lab(rgb_u8.to(device).float() / 255.0)
    return normalize_l(lab[:, :1]), lab[:, 1:]


class Objective:
    """The loss of a model kind, with what it needs (the bin prior for classification)."""

    def __init__(self, model, cfg: TrainConfig, dataset: CropDataset, device: torch.device, prior=None):
        self.kind = model.kind
        if self.kind == "classification":
            self.q: ABQuantizer = model.quantizer
            if prior is None:
                prior = self._estimate_prior(dataset, cfg)
            self.prior = prior.to(device)
            w = ABQuantizer.rebalance_weights(self.prior, cfg.rebalance_lambda)
            self.bin_weight = w**cfg.rebalance_power

    def _estimate_prior(self, dataset: CropDataset, cfg: TrainConfig) -> torch.Tensor:
        rng = random.Random(cfg.seed)
        idx = rng.sample(range(len(dataset)), min(cfg.prior_images, len(dataset)))
        ims = []
        for i in idx:
            t = dataset[i]
            if t is not None:
                ims.append(t.permute(1, 2, 0).numpy())
        return prior_from_images(ims, self.q)

    def __call__(self, out: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        if self.kind == "classification":
            ab_small = F.adaptive_avg_pool2d(ab, out.shape[-2:])
            target = self.q.encode_soft(ab_small)
            weight = self.bin_weight[self.q.nearest(ab_small)]
            return soft_ce(out, target, weight)
        ab_t = F.adaptive_avg_pool2d(ab, out.shape[-2:]) / AB_SCALE
        return F.smooth_l1_loss(out.float(), ab_t, beta=0.05)


@torch.no_grad()
def validate(model, val_ds: CropDataset, cfg: TrainConfig, device: torch.device) -> dict[str, float]:
    """PSNR of model and gray on centre crops (ab upsampled bilinearly; quick training signal)."""
    from tinct.color import lab_to_rgb

    model.eval()
    psnr, psnr_gray = [], []
    for i in range(min(cfg.val_images, len(val_ds))):
        t = val_ds[i]
        if t is None:
            continue
        rgb = t[None].to(device).float() / 255.0
        l_norm, _ = lab_batch(t[None], device)
        ab = model.predict_ab(l_norm)
        ab = F.interpolate(ab, size=rgb.shape[-2:], mode="bilinear", align_corners=False)
        L = (l_norm + 1) * 50
        for pred, store in (
            (lab_to_rgb(torch.cat([L, ab], 1)), psnr),
            (lab_to_rgb(torch.cat([L, ab * 0], 1)), psnr_gray),
        ):
            mse = ((pred * 255).round() - rgb * 255).pow(2).mean().clamp_min(1e-10)
            store.append(float(10 * torch.log10(255**2 / mse)))
    model.train()
    p, g = float(np.mean(psnr)), float(np.mean(psnr_gray))
    return {"val_psnr": p, "val_psnr_gray": g, "val_gain": p - g}


def lr_lambda(cfg: TrainConfig, total: int):
    def f(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        t = (step - cfg.warmup) / max(1, total - cfg.warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return f


def export_weights(model, path: str | Path, metadata: dict[str, Any]) -> None:
    """Write the model's weights as fp16 safetensors (what tinct ships)."""
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    atomic_save_tensors(sd, path, {k: json.dumps(v) for k, v in metadata.items()})


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train ``cfg.model``; returns a summary. Checkpoints and logs go to ``cfg.out``."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.safetensors"
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)

    # --- data
    dataset = CropDataset(cfg.data, crop=cfg.size, train=True)
    total = int(math.ceil(cfg.epochs * len(dataset) / cfg.batch)) if cfg.epochs else cfg.steps
    val_ds = CropDataset(cfg.val, crop=128, train=False) if cfg.val else None

    # --- model, optimizer, schedule
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    model = build_architecture(cfg.model, **cfg.model_kwargs).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg, total))
    step, prior = 0, None
    if resume and ckpt_path.exists():
        step, saved_cfg, extras = load_training_state(
            ckpt_path, model=model, optimizers={"opt": opt}, schedulers={"sched": sched}
        )
        prior = extras.get("prior")
        print(f"resumed from {ckpt_path} at step {step}", file=sys.stderr)
    objective = Objective(model, cfg, dataset, device, prior)
    extras = {"prior": objective.prior} if model.kind == "classification" else {}

    def checkpoint(at_step: int) -> None:
        save_training_state(
            ckpt_path,
            model=model,
            optimizers={"opt": opt},
            schedulers={"sched": sched},
            step=at_step,
            config=asdict(cfg),
            extra_tensors=extras,
        )

    loader = DataLoader(
        SeededCrops(dataset),
        batch_size=cfg.batch,
        sampler=StepSampler(len(dataset), cfg.batch, cfg.seed, step, total),
        num_workers=cfg.workers,
        collate_fn=collate_skip_none,
        persistent_workers=False,
    )

    # --- loop
    log = (out / "log.jsonl").open("a")
    model.train()
    t_last_ckpt = time.time()
    t0, seen = time.time(), 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, unit="step", dynamic_ncols=True)
    last = {}
    for batch in loader:
        if batch is None:
            step += 1
            continue
        l_norm, ab = lab_batch(batch, device)
        loss = objective(model(l_norm), ab)
        if not torch.isfinite(loss):
            log.close()
            raise TrainingError(
                f"non-finite loss ({loss.item()}) at step {step}; stopped. "
                f"The last good checkpoint is kept at {ckpt_path if ckpt_path.exists() else '(none yet)'}"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        step += 1
        seen += batch.shape[0]
        ips = seen / max(1e-9, time.time() - t0)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}", img_s=f"{ips:.1f}")
        if step % cfg.log_every == 0 or step == total:
            last = {
                "step": step,
                "loss": loss.item(),
                "lr": sched.get_last_lr()[0],
                "img_per_s": ips,
                "skipped_images": len(dataset.failed),
                "time": time.time(),
            }
            if val_ds is not None and (step % cfg.val_every == 0 or step == total):
                last.update(validate(model, val_ds, cfg, device))
            log.write(json.dumps(last) + "\n")
            log.flush()
        if time.time() - t_last_ckpt > cfg.checkpoint_every_s:
            checkpoint(step)
            t_last_ckpt = time.time()
    if bar is not None:
        bar.close()
    log.close()
    checkpoint(step)
    export_weights(
        model,
        out / "model.safetensors",
        {"arch": cfg.model, "kwargs": cfg.model_kwargs, "steps": step, "config": asdict(cfg)},
    )
    summary = {**last, "steps": step, "skipped_images": sorted(dataset.failed)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
