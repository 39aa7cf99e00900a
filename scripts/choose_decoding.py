"""Choose a classification model's decoding on training images (the dev split), never on val.

    python scripts/choose_decoding.py configs/prism/stage3.safetensors \
        [--data runs/splits/dev] [--temperatures 0.3,0.38,0.5] [--sizes 128,160] [--chroma-restore 0]

For every combination of annealed-mean temperature, working size and chroma restore, colorizes
every image of ``--data`` through the real pipeline (as ``tinct colorize`` does: the image's gray
at full resolution, guided upsampling, its own L kept) and prints the PSNR gain over the gray
baseline (mean over images) and the colourfulness ratio (ratio of means), the two figures of
``tinct eval`` (tinct.core.metrics, the same definitions), so the chosen setting can be written
into the stage's config and measured once on val.
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", help="a registry name or a weights file")
    ap.add_argument("--data", default="runs/splits/dev", help="colour images (default: the dev split)")
    ap.add_argument("--temperatures", default="0.38")
    ap.add_argument("--sizes", default="128")
    ap.add_argument("--chroma-restore", default="0")
    ap.add_argument("--limit", type=int, default=0, help="at most N images (0: all)")
    args = ap.parse_args()

    from tinct import api
    from tinct.core import metrics
    from tinct.evaluate import iter_image_files, load_truth
    from tinct.evaluate.scoring import gray_rgb

    files = iter_image_files(Path(args.data))[: args.limit or None]
    truths = [load_truth(p) for p in files]
    grays = [metrics.gray_baseline(t) for t in truths]
    gray_psnr = np.array([metrics.psnr(gray_rgb(g), t) for g, t in zip(grays, truths, strict=True)])
    truth_cf = np.array([metrics.colourfulness(t) for t in truths])
    print(f"{len(files)} images from {args.data}; model {args.weights}")
    print("| T | working size | chroma restore | PSNR gain dB | colourfulness ratio | s |")
    print("|---|---|---|---|---|---|")
    grid = itertools.product(
        (float(v) for v in args.temperatures.split(",")),
        (int(v) for v in args.sizes.split(",")),
        (float(v) for v in args.chroma_restore.split(",")),
    )
    for temperature, size, restore in grid:
        session = api.load_model(args.weights, device="cpu", working_size=size, temperature=temperature)
        if restore:
            session.model.chroma_restore = restore
            session.predictor = None  # the torch network: the export has its own decoding baked in
        t = time.perf_counter()
        outs = [session.colorize(g) for g in grays]  # the eval's input: the truth's L as gray
        psnr = np.array([metrics.psnr(o, t) for o, t in zip(outs, truths, strict=True)])
        cf = np.array([metrics.colourfulness(o) for o in outs])
        gain, ratio = float(np.mean(psnr - gray_psnr)), metrics.ratio_of_means(cf, truth_cf)
        print(f"| {temperature:g} | {size} | {restore:g} | {gain:+.3f} | {ratio:.3f} | {time.perf_counter() - t:.0f} |")


if __name__ == "__main__":
    main()
