"""Mixed precision for a training run: :class:`Precision` (bf16 on a GPU, and on a CPU with native bf16),
and what ``auto`` means on this machine (:func:`auto_precision`)."""

from __future__ import annotations

import copy
import statistics
import time
from typing import NamedTuple

import torch

from tinct.backends import hardware
from tinct.train.config import TrainingError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
#: the smallest run whose ``auto`` measures bf16 against fp32 on a CPU with AVX-512 BF16 but no AMX
#: (a few seconds; shorter runs go by the flags)
PROBE_MIN_STEPS = 200
#: bf16 must train at least this much faster than fp32 in the probe to be picked (timing noise)
PROBE_MARGIN = 1.05


def precision_machine(device: torch.device) -> str:
    """What ``auto``'s choice depends on, as a string a resumed run compares: the device type, and on a
    CPU its name and bf16 flags (two CPUs of one name can differ in AMX, and a run moved to another
    machine chooses again)."""
    if device.type != "cpu":
        return device.type
    flags = [f for f, has in hardware.cpu_bf16_support().items() if has]
    return f"cpu: {hardware.cpu_name()}; {' '.join(flags) or 'no bf16'}"


class AutoChoice(NamedTuple):
    """What ``--precision auto`` picked: the precision, why in a few words, and whether it was timed."""

    name: str
    reason: str
    timed: bool = False


def auto_precision(device: torch.device, model: torch.nn.Module | None = None, input_shape=None) -> AutoChoice:
    """What ``--precision auto`` picks for a run on ``device``, and why.

    bf16 on a GPU and on a CPU with AMX (2.35-3.1x fp32's speed where measured); fp32 on a CPU without
    native bf16. A CPU with AVX-512 BF16 but no AMX can go either way (an AMD Zen 4 trained prism 1.9x
    faster in bf16; an Intel Xeon whose AMX was not exposed, 0.74x): with a ``model`` and its
    ``input_shape`` the two are timed on it (:func:`bf16_speedup`; ``timed``) and bf16 is picked only
    where it is :data:`PROBE_MARGIN` faster, fp32 where bf16 fails to run; without them, bf16. The
    model is not changed.
    """
    if device.type == "cuda":
        return AutoChoice("bf16", "a GPU")
    if not hardware.cpu_has_fast_bf16():
        return AutoChoice("fp32", "no native bf16 on this CPU")
    if hardware.cpu_bf16_support().get("amx_bf16"):
        return AutoChoice("bf16", "AMX on this CPU")
    if model is None or input_shape is None:
        return AutoChoice("bf16", f"AVX-512 BF16 on this CPU; a run of {PROBE_MIN_STEPS}+ steps times its network")
    try:
        speedup = bf16_speedup(model, input_shape)
    except RuntimeError as e:  # an operation this CPU's bf16 kernels lack: fp32 trains where bf16 would not
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        return AutoChoice("fp32", f"bf16 failed on this network on this CPU: {first}", timed=True)
    return AutoChoice(
        "bf16" if speedup >= PROBE_MARGIN else "fp32",
        f"bf16 measured at {speedup:.2f}x fp32's speed for this network on this CPU (AVX-512 BF16, no AMX)",
        timed=True,
    )


def bf16_speedup(model: torch.nn.Module, input_shape, repeats: int = 2) -> float:
    """fp32 seconds / bf16 seconds of one forward + backward of a copy of ``model`` (channels-last, training
    mode) on a random batch of ``input_shape``, each the median of ``repeats`` after a warm-up, the two
    modes alternating. The model, its batch-norm statistics and its gradients are left as they were."""
    probe = copy.deepcopy(model).train().to(memory_format=torch.channels_last)
    x = (torch.rand(input_shape) * 2 - 1).contiguous(memory_format=torch.channels_last)
    times: dict[bool, list[float]] = {False: [], True: []}
    for i in range(repeats + 1):
        for bf16 in (False, True):
            t = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = probe(x)
                out = out[0] if isinstance(out, tuple) else out
            out.float().square().mean().backward()
            if i:  # the first round is the warm-up (oneDNN builds its kernels)
                times[bf16].append(time.perf_counter() - t)
            probe.zero_grad(set_to_none=True)
    return statistics.median(times[False]) / statistics.median(times[True])


class Precision:
    """Mixed precision for one run: an autocast context for forward passes, a memory format and a gradient scaler.

    ``auto``: :func:`auto_precision` without a model (bf16 autocast on a GPU, and on a CPU with native
    bf16 instructions, AVX-512 BF16 or AMX: :func:`tinct.hardware.cpu_has_fast_bf16`; plain fp32 on
    other CPUs, where autocast is slower than fp32); a training run resolves ``auto`` itself, timing
    its own network where the flags do not decide. bf16 and fp16 runs, and every run on a CPU, use
    channels-last tensors (oneDNN's and cuDNN's fast layout; in fp32 on a CPU without bf16, an Intel
    Xeon with AVX-512, it trains prism 1.2x and lite 1.37x faster than the default layout:
    benchmarks/train_speed.py). The
    weights, gradients and optimizer state stay fp32 in every mode (autocast casts per operation),
    and losses are computed in fp32 (the models' losses cast to float). ``fp16`` adds dynamic loss
    scaling (:class:`torch.amp.GradScaler`, saved in checkpoints); ``bf16`` / ``fp32`` keep a
    disabled scaler, so every step calls it the same way.
    """

    def __init__(self, name: str, device: torch.device):
        if name not in PRECISIONS:
            raise TrainingError(f"unknown precision {name!r}; use one of {', '.join(PRECISIONS)}")
        if name == "auto":
            name = auto_precision(device)[0]
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
