"""Training and inference speed in fp32 and bf16, side by side, for every architecture on this CPU.

Each architecture is built as its first registry model ships it (prism: width 48, one attention
block; the row names the arguments), not with the architecture's defaults.

    python benchmarks/train_speed.py [--size 96] [--batch 32] [--steps 4] [--archs lite,prism] [--threads 2]

Prints the CPU's name and the flags that decide bf16 (avx512_bf16, amx_bf16), what
``--precision auto`` picks here, then one markdown row per architecture: training images/s
(forward + backward + AdamW step on a batch of ``--batch`` random crops of ``--size`` px) in fp32
in torch's default layout (NCHW), in fp32 channels-last (what ``tinct train`` uses on a CPU) and in
bf16 autocast + channels-last, the ratios of the last two to the first, and inference images/s
(``predict_ab``, batch 8 at 256 px) in fp32 and bf16, with the largest ab difference between them
(Lab units) on the same input.
Each figure is the median of ``--steps`` timed steps after one warm-up step; the three modes run
alternately, so a busy machine slows both alike (ratios, not absolute times, are the figures).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from tinct.backends.hardware import cpu_bf16_support, cpu_name
from tinct.registry import ARCHITECTURES, MODELS, build_architecture
from tinct.train import Precision
from tinct.train.config import DECODING_OPTIONS
from tinct.train.precision import auto_precision

#: architectures left out unless named in --archs: "hints" is lite with three more input channels
SKIP_DEFAULT = {"hints"}


def shipped_kwargs(arch: str) -> dict:
    """The network arguments of the first registry model of ``arch`` (prism: width 48, one attention block),
    so the figures are the shipped network's, not the architecture's defaults; decoding options left out."""
    spec = next((m for m in MODELS.values() if m.arch == arch), None)
    return {k: v for k, v in (spec.kwargs if spec else {}).items() if k not in DECODING_OPTIONS}


def _train_step(model, opt, x, precision: Precision) -> None:
    with precision.autocast():
        out = model(x)
        loss = out.float().square().mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def time_training(
    arch: str, precision_name: str, size: int, batch: int, steps: int, channels_last: bool = True
) -> float:
    """Median training images/s of ``arch`` in ``precision_name`` on random batches (``channels_last``
    False: torch's default layout instead of the one :class:`Precision` picks)."""
    torch.manual_seed(0)
    model = build_architecture(arch, **shipped_kwargs(arch))
    precision = Precision(precision_name, torch.device("cpu"))
    precision.channels_last = precision.channels_last and channels_last
    model = precision.prepare(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = precision.prepare_input(torch.rand(batch, model.in_channels, size, size) * 2 - 1)
    model.train()
    _train_step(model, opt, x, precision)  # warm-up (oneDNN primitive creation)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        _train_step(model, opt, x, precision)
        times.append(time.perf_counter() - t)
    return batch / statistics.median(times)


def time_inference(arch: str, steps: int, batch: int = 8, size: int = 256) -> tuple[float, float, float]:
    """(fp32 img/s, bf16 img/s, max |ab difference| in Lab units) of ``predict_ab`` at ``size`` px."""
    torch.manual_seed(0)
    model = build_architecture(arch, **shipped_kwargs(arch)).eval()
    x = torch.rand(1, model.in_channels, size, size).repeat(batch, 1, 1, 1) * 2 - 1
    results = {}
    for name in ("fp32", "bf16"):
        precision = Precision(name, torch.device("cpu"))
        m = precision.prepare(model)
        xi = precision.prepare_input(x)
        with torch.inference_mode(), precision.autocast():
            ab = m.predict_ab(xi).float()
            times = []
            for _ in range(steps):
                t = time.perf_counter()
                m.predict_ab(xi)
                times.append(time.perf_counter() - t)
        results[name] = (batch / statistics.median(times), ab)
    diff = float((results["fp32"][1] - results["bf16"][1]).abs().max())
    return results["fp32"][0], results["bf16"][0], diff


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--archs", default=",".join(a for a in ARCHITECTURES if a not in SKIP_DEFAULT))
    ap.add_argument("--no-inference", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    support = cpu_bf16_support()
    print(f"CPU: {cpu_name()}; {args.threads} threads; torch {torch.__version__}")
    print(f"bf16 flags: {', '.join(f'{k}={v}' for k, v in support.items())}")
    name, reason, _ = auto_precision(torch.device("cpu"))
    print(f"--precision auto on this CPU: {name} ({reason})")
    print(
        f"training: batch {args.batch} at {args.size} px (forward + backward + AdamW); inference: batch 8 at 256 px\n"
    )
    print(
        "| architecture | train fp32 NCHW img/s | train fp32 channels-last img/s | train bf16 img/s "
        "| fp32 channels-last / NCHW | bf16 / fp32 NCHW | infer fp32 img/s | infer bf16 img/s | bf16 / fp32 "
        "| max ab diff |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for arch in args.archs.split(","):
        fp32 = time_training(arch, "fp32", args.size, args.batch, args.steps, channels_last=False)
        fp32_cl = time_training(arch, "fp32", args.size, args.batch, args.steps)
        bf16 = time_training(arch, "bf16", args.size, args.batch, args.steps)
        kwargs = ", ".join(f"{k} {v}" for k, v in shipped_kwargs(arch).items())
        name = f"{arch} ({kwargs})" if kwargs else arch
        row = f"| {name} | {fp32:.1f} | {fp32_cl:.1f} | {bf16:.1f} | {fp32_cl / fp32:.2f}x | {bf16 / fp32:.2f}x"
        if args.no_inference:
            row += " | | | | |"
        else:
            i32, i16, diff = time_inference(arch, args.steps)
            row += f" | {i32:.1f} | {i16:.1f} | {i16 / i32:.2f}x | {diff:.2f} |"
        print(row, flush=True)


if __name__ == "__main__":
    main()
