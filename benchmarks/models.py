"""Size and cost of every architecture: parameters, GMACs and CPU time per image at 256 px.

    python benchmarks/models.py [--threads N] [--repeats 5] [--megapixels 12]

Prints a markdown table (for docs/MODELS.md). Multiply-accumulates are counted by hooks on the
convolution and linear layers (the bulk of the work); times are the median of ``--repeats``
forward passes of ``predict_ab`` on one 256 x 256 image (batch 1, float32, CPU).

With ``--megapixels N`` a second table times every registry model end to end on an N-megapixel
(4:3) gray photo through ``Session.colorize`` (the whole pipeline: Lab, the network at the
model's working size, guided upsampling, join with the original L, back to RGB; no file I/O; the
session's default backend, onnxruntime where the model exports), median of 3 runs after a
warm-up, beside the same pipeline around a network that costs nothing (predicts ab = 0) as the
reference.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

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


def parse_variant(spec: str) -> tuple[str, dict[str, int | float]]:
    """'prism:width=48,attention=1' -> ('prism', {'width': 48, 'attention': 1}); 'lite' -> ('lite', {})."""
    arch, _, rest = spec.partition(":")
    kwargs: dict[str, int | float] = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        kwargs[key.strip()] = float(value) if "." in value else int(value)
    return arch.strip(), kwargs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--megapixels", type=float, default=0.0, help="also time registry models end to end at N MP")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here (scripts/models_table.py)")
    ap.add_argument(
        "--archs",
        default="",
        help="architectures separated by ';' (default: all), each optionally with keyword arguments, "
        "e.g. 'lite;prism:width=48,attention=1'",
    )
    ap.add_argument("--models", default="", help="end to end: comma-separated registry models (default: all)")
    ap.add_argument("--merge", action="store_true", help="update --json's figures instead of replacing them")
    args = ap.parse_args()
    figures: dict = {"threads": 0, "size": args.size, "archs": {}, "megapixels": args.megapixels, "end_to_end": {}}
    if args.threads:
        torch.set_num_threads(args.threads)
    x = torch.zeros(1, 1, args.size, args.size)
    print(f"| architecture | parameters | fp16 MB | GMACs at {args.size} px | CPU ms at {args.size} px |")
    print("|---|---|---|---|---|")
    for name in [a for a in args.archs.split(";") if a] or ARCHITECTURES:
        arch, kwargs = parse_variant(name)
        model = build_architecture(arch, **kwargs).eval()
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
        print(f"| {name} | {params:,} | {params * 2 / 1e6:.1f} | {macs / 1e9:.2f} | {ms:.0f} |", flush=True)
        figures["archs"][name] = {"parameters": params, "gmacs": macs / 1e9, "ms": ms}
    print(f"\n(torch {torch.__version__}, {torch.get_num_threads()} threads)")
    figures["threads"] = torch.get_num_threads()
    if args.megapixels:
        figures["end_to_end"] = end_to_end(args.megapixels, [m for m in args.models.split(",") if m])
    if args.json:
        if args.merge and args.json.exists():
            old = json.loads(args.json.read_text())
            old["archs"].update(figures["archs"])
            old["end_to_end"].update(figures["end_to_end"])
            figures = old
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


def end_to_end(megapixels: float, only: list[str] | None = None) -> dict[str, float]:
    """Seconds per image of every registry model's full pipeline on a ``megapixels`` gray photo."""
    import numpy as np
    from PIL import Image

    import tinct
    from tinct.core.pipeline import colorize_pixels
    from tinct.registry import MODELS

    demo = Path(tinct.__file__).parent / "demo" / "1909Chicago.jpg"
    w = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    h = int(round(w * 3 / 4))
    gray = np.asarray(Image.open(demo).convert("L").resize((w, h), Image.BICUBIC))

    def median_s(fn) -> float:
        fn()
        times = []
        for _ in range(3):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    def no_network() -> None:  # the same pipeline around a network that costs nothing (predicts ab = 0)
        colorize_pixels(gray, lambda x: torch.zeros(x.shape[0], 2, x.shape[2] // 2, x.shape[3] // 2), 8, 256)

    print(f"\n| model | s per {w} x {h} image ({w * h / 1e6:.1f} MP), end to end |")
    print("|---|---|")
    seconds = {"(no network)": median_s(no_network)}
    print(f"| (no network: the pipeline around a free ab = 0 predictor) | {seconds['(no network)']:.2f} |")
    for name in only or MODELS:
        session = tinct.load_model(name, device="cpu")
        seconds[name] = median_s(lambda s=session: s.colorize(gray))
        print(f"| {name} | {seconds[name]:.2f} |", flush=True)
    return seconds


if __name__ == "__main__":
    main()
