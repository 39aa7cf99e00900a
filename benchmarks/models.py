"""Size and cost of every architecture: parameters, GMACs and CPU time per image at 256 px.

    python benchmarks/models.py [--threads N] [--repeats 5]

Prints a markdown table (for docs/MODELS.md). Multiply-accumulates are counted by hooks on the
convolution and linear layers (the bulk of the work); times are the median of ``--repeats``
forward passes of ``predict_ab`` on one 256 x 256 image (batch 1, float32, CPU).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from tinct.registry import ARCHITECTURES, build_architecture


def count_macs(model: nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of conv / transposed-conv / linear layers for one forward pass."""
    total = 0

    def conv_hook(m: nn.Conv2d | nn.ConvTranspose2d, inp, out) -> None:
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels // m.groups)
        n = out.numel() if isinstance(m, nn.Conv2d) else inp[0].numel() // m.in_channels * m.out_channels
        total += k * n

    def linear_hook(m: nn.Linear, inp, out) -> None:
        nonlocal total
        total += m.in_features * out.numel()

    hooks = []
    for mod in model.modules():
        if isinstance(mod, (nn.Conv2d, nn.ConvTranspose2d)):
            hooks.append(mod.register_forward_hook(conv_hook))
        elif isinstance(mod, nn.Linear):
            hooks.append(mod.register_forward_hook(linear_hook))
    with torch.inference_mode():
        model.predict_ab(x)
    for h in hooks:
        h.remove()
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    x = torch.zeros(1, 1, args.size, args.size)
    print(f"| architecture | parameters | fp16 MB | GMACs at {args.size} px | CPU ms at {args.size} px |")
    print("|---|---|---|---|---|")
    for name in ARCHITECTURES:
        model = build_architecture(name).eval()
        params = sum(p.numel() for p in model.parameters())
        macs = count_macs(model, x)
        times = []
        with torch.inference_mode():
            model.predict_ab(x)
            for _ in range(args.repeats):
                t = time.perf_counter()
                model.predict_ab(x)
                times.append(time.perf_counter() - t)
        ms = statistics.median(times) * 1000
        print(f"| {name} | {params:,} | {params * 2 / 1e6:.1f} | {macs / 1e9:.2f} | {ms:.0f} |")
    print(f"\n(torch {torch.__version__}, {torch.get_num_threads()} threads)")


if __name__ == "__main__":
    main()
