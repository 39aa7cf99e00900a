"""What a training run is told: :class:`TrainConfig` (a TOML file under ``configs/`` and ``tinct train``'s
flags), and :class:`TrainingError`, how a run stops with a reason."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomllib


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
    #: "auto" (bf16 on a GPU or a CPU with AVX-512 BF16 / AMX, else fp32), "fp32", "bf16", "fp16"
    precision: str = "auto"
    rebalance_lambda: float = 0.5  #: Zhang's class-rebalancing mix
    rebalance_power: float = 1.0  #: 1 = full rebalancing, 0 = none
    prior_images: int = 1000
    loss: str = "auto"  #: regression pixel loss: "auto" (smooth L1), "l1", "mse"
    perceptual_weight: float = 0.0  #: weight of the perceptual term (needs feature_net)
    feature_net: str | None = None  #: safetensors of a trained tinct.train.losses.FeatureNet
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
