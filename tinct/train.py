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
import os
import random
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import tomllib
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Sampler

from tinct.checkpoint import atomic_save_tensors, load_training_state, save_training_state
from tinct.core.color import AB_SCALE, normalize_l, rgb_to_lab
from tinct.core.hints import HINT_CHANNELS, HINT_PATCH, patch_span
from tinct.data import CropDataset, collate_skip_none
from tinct.models.quantize import ABQuantizer, prior_from_images, soft_ce
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
    min_view: float = 0.0  #: smallest crop side as a fraction of the image's short side (1: whole views)
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
    sample_images: int = 8  #: validation images in each sample grid (samples/step_NNNNNN.png; 0: none)
    log_every: int = 20
    precision: str = "auto"  #: "auto" (bf16 on a GPU or a CPU with AVX-512 BF16 / AMX, else fp32), "fp32", "bf16", "fp16"
    rebalance_lambda: float = 0.5  #: Zhang's class-rebalancing mix
    rebalance_power: float = 1.0  #: 1 = full rebalancing, 0 = none
    prior_images: int = 1000
    loss: str = "auto"  #: regression pixel loss: "auto" (smooth L1), "l1", "mse"
    perceptual_weight: float = 0.0  #: weight of the perceptual term (needs feature_net)
    feature_net: str | None = None  #: safetensors of a trained tinct.losses.FeatureNet
    gan_mode: str | None = None  #: adversarial models: "vanilla" or "lsgan" (default: the model's)
    pretrain_steps: int | None = None  #: adversarial models: G-only steps (default: the model's epochs)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    init: str | None = None  #: safetensors weights to start from (fine-tuning; see :func:`init_weights`)

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


def init_weights(model: torch.nn.Module, path: str | Path) -> list[str]:
    """Initialise ``model`` from the weights in ``path`` (safetensors, fp16 or fp32): fine-tuning.

    Tensors of the same shape are copied. A tensor that is larger only in its input-channel
    dimension (dim 1: e.g. a first convolution that now also takes hint channels) gets the old
    weights in its first channels and zeros in the new ones, so the network starts out computing
    what the old one did. Returns the names of the tensors that were widened this way. Raises
    :class:`TrainingError` for a missing or unreadable file or any other mismatch.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        src = load_file(str(path))
    except (OSError, SafetensorError) as e:
        raise TrainingError(f"cannot read init weights {path}: {e}") from None
    own = model.state_dict()
    problems = [f"missing {k}" for k in own if k not in src] + [f"unexpected {k}" for k in src if k not in own]
    widened = []
    for key, dst in own.items():
        if key not in src:
            continue
        t = src[key].to(dst.dtype)
        if t.shape == dst.shape:
            own[key] = t
        elif t.ndim == dst.ndim >= 2 and t.shape[1] < dst.shape[1] and _same_but_dim1(t.shape, dst.shape):
            wide = torch.zeros_like(dst)
            wide[:, : t.shape[1]] = t
            own[key] = wide
            widened.append(key)
        else:
            problems.append(f"{key}: {tuple(t.shape)} in the file, {tuple(dst.shape)} in the model")
    if problems:
        raise TrainingError(f"init weights {path} do not fit {type(model).__name__}: " + "; ".join(problems[:5]))
    model.load_state_dict(own)
    return widened


def _same_but_dim1(a: torch.Size, b: torch.Size) -> bool:
    return (a[0], *a[2:]) == (b[0], *b[2:])


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


class Precision:
    """Mixed precision for one run: an autocast context for forward passes, a memory format and a gradient scaler.

    ``auto``: bf16 autocast on a GPU, and on a CPU with native bf16 instructions (AVX-512 BF16 or
    AMX: :func:`tinct.hardware.cpu_has_fast_bf16`); plain fp32 on other CPUs, where autocast is
    slower than fp32. bf16 runs use channels-last tensors (oneDNN's and cuDNN's fast layout). The
    weights, gradients and optimizer state stay fp32 in every mode (autocast casts per operation),
    and losses are computed in fp32 (the models' losses cast to float). ``fp16`` adds dynamic loss
    scaling (:class:`torch.amp.GradScaler`, saved in checkpoints); ``bf16`` / ``fp32`` keep a
    disabled scaler, so every step calls it the same way.
    """

    def __init__(self, name: str, device: torch.device):
        if name not in PRECISIONS:
            raise TrainingError(f"unknown precision {name!r}; use one of {', '.join(PRECISIONS)}")
        if name == "auto":
            from tinct.backends.hardware import cpu_has_fast_bf16

            name = "bf16" if device.type == "cuda" or cpu_has_fast_bf16() else "fp32"
        self.name = name
        self.device_type = device.type
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(name)
        self.channels_last = self.dtype is not None
        self.scaler = torch.amp.GradScaler(device.type, enabled=name == "fp16")

    def prepare(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` in this precision's memory format (channels-last for bf16 / fp16; weights stay fp32)."""
        return module.to(memory_format=torch.channels_last) if self.channels_last else module

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        """A (B, C, H, W) batch in this precision's memory format."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def autocast(self):
        """The context a forward pass (and its loss) runs in: autocast to ``dtype``, or nothing for fp32."""
        return torch.autocast(self.device_type, dtype=self.dtype, enabled=self.dtype is not None)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, params=None, clip: float | None = None):
        """Backward (scaled for fp16), optional gradient clipping (on unscaled gradients), optimiser step."""
        optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if clip is not None and params is not None:
            self.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, clip)
        self.scaler.step(optimizer)

    def update(self) -> None:
        """Adjust the loss scale once per training step (after every optimiser of the step has stepped)."""
        self.scaler.update()


def init_distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """Join the process group torchrun describes in the environment; returns (rank, world size, device).

    Without ``WORLD_SIZE`` > 1 (a plain run) this is (0, 1, device) and nothing is initialised.
    Under torchrun, GPU ranks use nccl and the GPU ``LOCAL_RANK``; CPU ranks use gloo.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), device


def distribute(module: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``module`` in DistributedDataParallel when a process group is running, else ``module`` itself."""
    if not (dist.is_available() and dist.is_initialized()):
        return module
    return DistributedDataParallel(module, device_ids=[device.index] if device.type == "cuda" else None)


class StepSampler(Sampler):
    """Yields (index, seed) for batches from ``start_step`` on: a seeded permutation per epoch.

    The sample seed makes each crop and flip a function of (run seed, epoch, position), so the
    data a step sees does not depend on workers or on where a run was resumed.

    With ``world`` > 1 ranks, every global batch of ``batch`` samples is cut into ``world``
    consecutive slices of ``batch // world`` and rank ``rank`` yields its slice: the ranks
    together see exactly the samples (and seeds) of a one-process run, step by step.
    """

    def __init__(self, n: int, batch: int, seed: int, start_step: int, total_steps: int, rank: int = 0, world: int = 1):
        if batch % world:
            raise TrainingError(f"batch {batch} is not divisible by the {world} distributed processes")
        self.n, self.batch, self.seed = n, batch, seed
        self.start, self.total = start_step, total_steps
        self.rank, self.local = rank, batch // world

    def __len__(self) -> int:
        return (self.total - self.start) * self.local

    def __iter__(self):
        pos = self.start * self.batch
        end = self.total * self.batch
        while pos < end:
            epoch, off = divmod(pos, self.n)
            perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            for j in range(off, self.n):
                if pos >= end:
                    return
                if (pos % self.batch) // self.local == self.rank:
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


def hint_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """The CPU generator the hints of one step (on one rank) are drawn from: a function of its arguments."""
    state = np.random.SeedSequence([seed, step, rank]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))


def simulate_hints(
    ab: torch.Tensor,
    generator: torch.Generator,
    p_none: float = 0.125,
    p_stop: float = 0.125,
    max_points: int = 24,
    patch_sizes: tuple[int, ...] = (1, 2, 3, 4, 5),
    points: int | None = None,
) -> torch.Tensor:
    """Random user hints taken from the truth: the hint channels of :mod:`tinct.models.hints`.

    ``ab``: the true ab (B, 2, H, W) in Lab units. Returns (B, 3, H, W) on ``ab``'s device:
    a / 110, b / 110 and the mask. Per image, no hint with probability ``p_none`` (so the model
    stays a good automatic colorizer); otherwise n hints, n geometric on 1, 2, ... with stopping
    probability ``p_stop`` (mean about 1 / p_stop), at most ``max_points`` (Zhang et al. 2017).
    ``points`` fixes n for every image instead (validation). Each hint is a square of a side drawn
    from ``patch_sizes`` (placed as :func:`tinct.hints.patch_span` places inference hints) around a
    uniformly random pixel, holding the mean true ab of the square, mask 1 on it; later squares
    overwrite earlier ones. Every number is drawn from ``generator`` (CPU), in image order.
    """
    B, _, H, W = ab.shape
    truth = ab.detach().float().cpu()
    out = torch.zeros(B, HINT_CHANNELS, H, W)
    for i in range(B):
        if points is not None:
            n = points
        elif float(torch.rand((), generator=generator)) < p_none:
            continue
        else:
            u = float(torch.rand((), generator=generator))
            n = min(max_points, max(1, math.ceil(math.log(max(u, 1e-12)) / math.log(1 - p_stop))))
        ys = torch.randint(0, H, (n,), generator=generator).tolist()
        xs = torch.randint(0, W, (n,), generator=generator).tolist()
        sides = torch.randint(0, len(patch_sizes), (n,), generator=generator).tolist()
        for y, x, k in zip(ys, xs, sides, strict=True):
            rows, cols = patch_span(y, patch_sizes[k], H), patch_span(x, patch_sizes[k], W)
            out[i, :2, rows, cols] = truth[i, :, rows, cols].mean(dim=(1, 2), keepdim=True) / AB_SCALE
            out[i, 2, rows, cols] = 1.0
    return out.to(ab.device)


class Objective:
    """The loss of a model kind, with what it needs (the bin prior for classification)."""

    def __init__(self, model, cfg: TrainConfig, dataset: CropDataset, device: torch.device, prior=None):
        self.kind = model.kind
        gan = getattr(model, "gan", None)
        self.loss = gan.pixel_loss if (gan is not None and cfg.loss == "auto") else cfg.loss
        self.perceptual, self.perceptual_weight = None, cfg.perceptual_weight
        if cfg.perceptual_weight > 0:
            if not cfg.feature_net:
                raise TrainingError("perceptual_weight > 0 needs feature_net (a trained FeatureNet's safetensors)")
            from safetensors.torch import load_file

            from tinct.losses import PerceptualLoss, build_feature_net

            net = build_feature_net(state_dict={k: v.float() for k, v in load_file(cfg.feature_net).items()})
            self.perceptual = PerceptualLoss(net).to(device)
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

    def __call__(self, out: torch.Tensor, ab: torch.Tensor, l_norm: torch.Tensor | None = None) -> torch.Tensor:
        if self.kind == "classification":
            ab_small = F.adaptive_avg_pool2d(ab, out.shape[-2:])
            target = self.q.encode_soft(ab_small)
            weight = self.bin_weight[self.q.nearest(ab_small)]
            return soft_ce(out, target, weight)
        return self.pixel(out, ab, l_norm)

    def pixel(self, out: torch.Tensor, ab: torch.Tensor, l_norm: torch.Tensor | None = None) -> torch.Tensor:
        """Regression loss of ab / 110 at the output's resolution (+ perceptual term if set)."""
        ab_t = F.adaptive_avg_pool2d(ab, out.shape[-2:]) / AB_SCALE
        out = out.float()
        if self.loss == "mse":
            loss = F.mse_loss(out, ab_t)
        elif self.loss == "l1":
            loss = F.l1_loss(out, ab_t)
        else:
            loss = F.smooth_l1_loss(out, ab_t, beta=0.05)
        if self.perceptual is not None and l_norm is not None:
            l_small = F.adaptive_avg_pool2d(l_norm[:, :1], out.shape[-2:])
            loss = loss + self.perceptual_weight * self.perceptual(l_small, out, ab_t)
        return loss


@torch.no_grad()
def validate(
    model, val_ds: CropDataset, cfg: TrainConfig, device: torch.device, samples: list[np.ndarray] | None = None
) -> dict[str, float]:
    """PSNR of model and gray, and the model's colourfulness ratio, on centre crops (ab upsampled
    bilinearly; a quick training signal).

    A hint model is scored without hints (``val_psnr``) and with 10 hints from the truth
    (``val_psnr_hints10``, the same points every validation: seeded by the image index).
    ``samples``, when given, receives the first ``cfg.sample_images`` images as uint8 RGB triples
    stacked vertically (gray input, model output, truth): the columns of :func:`sample_grid`.
    """
    from tinct.core.color import lab_to_rgb
    from tinct.core.metrics import colourfulness, ratio_of_means

    model.eval()
    hinted = getattr(model, "takes_hints", False)
    psnr, psnr_gray, psnr_hints, colour, colour_true = [], [], [], [], []
    for i in range(min(cfg.val_images, len(val_ds))):
        t = val_ds[i]
        if t is None:
            continue
        rgb = t[None].to(device).float() / 255.0
        l_norm, ab_true = lab_batch(t[None], device)
        L = (l_norm + 1) * 50
        preds = [(model.predict_ab(l_norm), psnr), (torch.zeros_like(ab_true), psnr_gray)]
        if hinted:
            hints = simulate_hints(ab_true, torch.Generator().manual_seed(i), points=10, patch_sizes=(HINT_PATCH,))
            preds.append((model.predict_ab(torch.cat([l_norm, hints], 1)), psnr_hints))
        keep = samples is not None and len(samples) < cfg.sample_images  # this image goes into the grid
        shown = []
        for k, (ab, store) in enumerate(preds):
            ab = F.interpolate(ab.float(), size=rgb.shape[-2:], mode="bilinear", align_corners=False)
            pred = (lab_to_rgb(torch.cat([L, ab], 1)) * 255).round()
            mse = (pred - rgb * 255).pow(2).mean().clamp_min(1e-10)
            store.append(float(10 * torch.log10(255**2 / mse)))
            if k == 0:  # the model without hints: its colourfulness beside the truth's
                colour.append(colourfulness(pred[0].permute(1, 2, 0).clamp(0, 255).byte().cpu().numpy()))
                colour_true.append(colourfulness(t.permute(1, 2, 0).numpy()))
            if keep:
                shown.append(pred[0].permute(1, 2, 0).clamp(0, 255).byte().cpu().numpy())
        if keep:
            samples.append(np.concatenate([shown[1], shown[0], t.permute(1, 2, 0).numpy()], 0))
    model.train()
    p, g = float(np.mean(psnr)), float(np.mean(psnr_gray))
    scores = {"val_psnr": p, "val_psnr_gray": g, "val_gain": p - g}
    scores["val_colourfulness_ratio"] = ratio_of_means(np.array(colour), np.array(colour_true))
    if hinted:
        scores["val_psnr_hints10"] = float(np.mean(psnr_hints))
    return scores


def sample_grid(columns: list[np.ndarray], gap: int = 4) -> np.ndarray:
    """Validation columns (gray / model / truth, each uint8 H x W x 3) side by side, white gaps between."""
    h = max(c.shape[0] for c in columns)
    width = sum(c.shape[1] for c in columns) + gap * (len(columns) - 1)
    grid = np.full((h, width, 3), 255, np.uint8)
    x = 0
    for c in columns:
        grid[: c.shape[0], x : x + c.shape[1]] = c
        x += c.shape[1] + gap
    return grid


def lr_lambda(cfg: TrainConfig, total: int, start: int = 0, scale_before: float = 1.0):
    """Linear warm-up then cosine decay to 5% over steps [start, total); ``scale_before`` applies
    before ``start`` (the generator's pre-training phase of adversarial models)."""

    def f(step: int) -> float:
        if step < start:
            return scale_before
        s = step - start
        if s < cfg.warmup:
            return (s + 1) / cfg.warmup
        t = (s - cfg.warmup) / max(1, total - start - cfg.warmup)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))

    return f


def _check_finite(losses: dict[str, torch.Tensor], step: int) -> None:
    for name, value in losses.items():
        if not torch.isfinite(value):
            raise TrainingError(f"non-finite {name} ({value.item()}) at step {step}; stopped.")


class SupervisedStep:
    """One optimiser step of a regression or classification model (AdamW, warm-up + cosine)."""

    def __init__(
        self, model, objective: Objective, cfg: TrainConfig, total: int, device: torch.device, precision: Precision
    ):
        self.model, self.objective, self.precision = distribute(model, device), objective, precision
        self.opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lr_lambda(cfg, total))
        self.optimizers = {"opt": self.opt}
        self.schedulers = {"sched": self.sched}
        self.modules: dict[str, torch.nn.Module] = {}

    def __call__(self, step: int, l_norm: torch.Tensor, ab: torch.Tensor) -> dict[str, torch.Tensor]:
        """One step on the model's input ``l_norm`` (normalised L, plus a hint model's hint channels)."""
        with self.precision.autocast():
            loss = self.objective(self.model(l_norm), ab, l_norm)
        _check_finite({"loss": loss}, step)
        self.precision.step(loss, self.opt, self.model.parameters(), clip=5.0)
        self.precision.update()
        self.sched.step()
        return {"loss": loss}


class AdversarialStep:
    """The GAN variant (seeds 000, 001, 002): a discriminator step, then a generator step.

    Hyper-parameters come from the model's ``gan`` (:class:`tinct.losses.GanHParams`). For the
    first ``pretrain`` steps the generator is trained alone with the pixel loss (seed 002).
    D sees (L, ab / 110) stacked; G minimises ``adv_weight * adv + pixel_weight * pixel``.
    """

    def __init__(
        self,
        model,
        objective: Objective,
        cfg: TrainConfig,
        total: int,
        device: torch.device,
        n_images: int,
        precision: Precision,
    ):
        from dataclasses import replace

        self.model, self.objective, self.precision = distribute(model, device), objective, precision
        hp = model.gan if cfg.gan_mode is None else replace(model.gan, gan_mode=cfg.gan_mode)
        self.hp = hp
        disc = precision.prepare(model.build_discriminator().to(device))
        self.disc = distribute(disc, device)
        default_pre = int(hp.pretrain_epochs * n_images / cfg.batch)
        self.pretrain = min(total, cfg.pretrain_steps if cfg.pretrain_steps is not None else default_pre)
        self.opt_g = torch.optim.Adam(model.parameters(), lr=hp.lr_g, betas=hp.betas)
        self.opt_d = torch.optim.Adam(self.disc.parameters(), lr=hp.lr_d, betas=hp.betas)
        pre_scale = hp.pretrain_lr / hp.lr_g
        self.sched_g = torch.optim.lr_scheduler.LambdaLR(self.opt_g, lr_lambda(cfg, total, self.pretrain, pre_scale))
        self.sched_d = torch.optim.lr_scheduler.LambdaLR(self.opt_d, lr_lambda(cfg, total, self.pretrain))
        self.optimizers = {"opt": self.opt_g, "opt_d": self.opt_d}
        self.schedulers = {"sched": self.sched_g, "sched_d": self.sched_d}
        self.modules = {"disc": disc}  # checkpointed unwrapped

    def __call__(self, step: int, l_norm: torch.Tensor, ab: torch.Tensor) -> dict[str, torch.Tensor]:
        from tinct.losses import discriminator_loss, generator_adversarial_loss

        amp = self.precision
        with amp.autocast():
            fake = self.model(l_norm)
            pixel = self.objective.pixel(fake, ab, l_norm)
        if step < self.pretrain:
            losses = {"loss": pixel}
            _check_finite(losses, step)
            amp.step(pixel, self.opt_g)
            amp.update()
            self.opt_d.step()  # no gradients: a no-op that keeps D's schedule in step with G's
            self.sched_g.step()
            self.sched_d.step()
            return losses
        mode = self.hp.gan_mode
        with amp.autocast():
            l_small = F.adaptive_avg_pool2d(l_norm[:, :1], fake.shape[-2:])
            real = torch.cat([l_small, F.adaptive_avg_pool2d(ab, fake.shape[-2:]) / AB_SCALE], 1)
            loss_d = discriminator_loss(self.disc(real), self.disc(torch.cat([l_small, fake.detach()], 1)), mode)
        _check_finite({"loss_d": loss_d}, step)
        amp.step(loss_d, self.opt_d)
        with amp.autocast():
            adv = generator_adversarial_loss(self.disc(torch.cat([l_small, fake], 1)), mode)
            loss_g = self.hp.adv_weight * adv + self.hp.pixel_weight * pixel
        losses = {"loss": loss_g, "loss_d": loss_d, "loss_adv": adv, "loss_pixel": pixel}
        _check_finite(losses, step)
        amp.step(loss_g, self.opt_g)
        amp.update()
        self.sched_g.step()
        self.sched_d.step()
        return losses


def export_weights(model, path: str | Path, metadata: dict[str, Any]) -> None:
    """Write the model's weights as fp16 safetensors (what tinct ships)."""
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    atomic_save_tensors(sd, path, {k: json.dumps(v) for k, v in metadata.items()})


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

    # --- model, optimizer, schedule (the GAN variant for adversarial models)
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    model = build_architecture(cfg.model, **cfg.model_kwargs)
    if cfg.init and not (resume and ckpt_path.exists()):
        init_weights(model, cfg.init)
    precision = Precision(cfg.precision, device)
    model = precision.prepare(model.to(device))
    step, prior = 0, None
    if resume and ckpt_path.exists():  # the bin prior is part of the state: load it first
        from safetensors import safe_open

        with safe_open(str(ckpt_path), framework="pt") as f:
            prior = f.get_tensor("extra.prior") if "extra.prior" in f.keys() else None
    objective = Objective(model, cfg, dataset, device, prior)
    if getattr(model, "adversarial", False):
        trainer = AdversarialStep(model, objective, cfg, total, device, len(dataset), precision)
    else:
        trainer = SupervisedStep(model, objective, cfg, total, device, precision)
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

    loader = DataLoader(
        SeededCrops(dataset),
        batch_size=cfg.batch // world,
        sampler=StepSampler(len(dataset), cfg.batch, cfg.seed, step, total, rank, world),
        num_workers=cfg.workers,
        collate_fn=collate_skip_none,
        persistent_workers=False,
    )

    # --- loop
    log = (out / "log.jsonl").open("a") if main else None
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
                log.close()
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
            if validate_now and main:
                columns: list[np.ndarray] = []
                last.update(validate(model, val_ds, cfg, device, columns if cfg.sample_images > 0 else None))
                if columns:  # rows: gray input, the model at this step, the truth
                    from tinct.io import write_image

                    write_image(out / "samples" / f"step_{step:06d}.png", sample_grid(columns))
            if log is not None:
                log.write(json.dumps(last) + "\n")
                log.flush()
        if main and time.time() - t_last_ckpt > cfg.checkpoint_every_s:
            checkpoint(step)
            t_last_ckpt = time.time()
    if bar is not None:
        bar.close()
    summary = {**last, "steps": step, "skipped_images": sorted(dataset.failed)}
    if main:
        log.close()
        checkpoint(step)
        export_weights(
            model,
            out / "model.safetensors",
            {"arch": cfg.model, "kwargs": cfg.model_kwargs, "steps": step, "config": asdict(cfg)},
        )
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
    if world > 1:
        dist.barrier()  # the other ranks return once rank 0's files are written
        if own_group:
            dist.destroy_process_group()
    return summary
