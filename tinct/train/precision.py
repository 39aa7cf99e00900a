"""Mixed precision for a training run: :class:`Precision` (bf16 on a GPU, and on a CPU with native bf16)."""

from __future__ import annotations

import torch

from tinct.backends.hardware import cpu_has_fast_bf16
from tinct.train.config import TrainingError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


class Precision:
    """Mixed precision for one run: an autocast context for forward passes, a memory format and a gradient scaler.

    ``auto``: bf16 autocast on a GPU, and on a CPU with native bf16 instructions (AVX-512 BF16 or
    AMX: :func:`tinct.hardware.cpu_has_fast_bf16`); plain fp32 on other CPUs, where autocast is
    slower than fp32. bf16 and fp16 runs, and every run on a CPU, use channels-last tensors (oneDNN's
    and cuDNN's fast layout; in fp32 on a CPU without bf16, an Intel Xeon with AVX-512, it trains
    prism 1.2x and lite 1.37x faster than the default layout: benchmarks/train_speed.py). The
    weights, gradients and optimizer state stay fp32 in every mode (autocast casts per operation),
    and losses are computed in fp32 (the models' losses cast to float). ``fp16`` adds dynamic loss
    scaling (:class:`torch.amp.GradScaler`, saved in checkpoints); ``bf16`` / ``fp32`` keep a
    disabled scaler, so every step calls it the same way.
    """

    def __init__(self, name: str, device: torch.device):
        if name not in PRECISIONS:
            raise TrainingError(f"unknown precision {name!r}; use one of {', '.join(PRECISIONS)}")
        if name == "auto":
            name = "bf16" if device.type == "cuda" or cpu_has_fast_bf16() else "fp32"
        self.name = name
        self.device_type = device.type
        self.dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(name)
        self.channels_last = self.dtype is not None or device.type == "cpu"
        self.scaler = torch.amp.GradScaler(device.type, enabled=name == "fp16")

    def prepare(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` in this precision's memory format (channels-last on a CPU and for bf16 / fp16; fp32 weights)."""
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
