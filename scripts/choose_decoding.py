"""Choose a classification model's decoding on training images (the dev split), never on val.

    python scripts/choose_decoding.py configs/prism/stage3.safetensors \
        [--data runs/splits/dev] [--like-manifest ../shared/data/val/manifest.csv] \
        [--temperatures 0.3,0.38,0.5] [--sizes 128,160] [--chroma-restore 0] \
        [--prior-correction 0,0.5,1 --prior runs/prism-s3/checkpoint.safetensors]

For every combination of annealed-mean temperature, working size, chroma restore and prior
correction, colorizes every image of ``--data`` through the real pipeline (as ``tinct colorize``
does: the image's gray at full resolution, guided upsampling, its own L kept) and prints the PSNR
gain over the gray baseline (mean over images) and the colourfulness ratio (ratio of means), the
two figures of ``tinct eval`` (tinct.core.metrics, the same definitions), with the gain per
source (the first folder under ``--data``), so the chosen setting can be written into the release
and measured once on val.

``--like-manifest`` keeps only the sources another manifest lists and weights each source by its
share of that manifest (only its ``source`` column is read): with val's manifest, the dev images of
val's sources, weighted as val weights them, so a choice is made on the distribution val measures
from images the network never trained on.

After the grid it prints the chain's rule (configs/prism/STAGES.md): the setting with the highest
gain among those at least ``--min-colourfulness`` colourful (the most colourful if none is), and,
for every temperature with two or more betas, the gain at exactly that colourfulness, interpolated
along beta (how two models are compared at equal colour).

``--prior-correction`` beta takes the class-rebalancing tilt back out of the logits
(``beta * ABQuantizer.rebalance_log_factor``, folded into the network's last bias by
``shift_logits``); it needs the run's bin prior: ``--prior`` names its ``model.safetensors`` or
``checkpoint.safetensors`` (:func:`tinct.train.checkpoint.read_rebalancing`).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import time
from collections import Counter
from pathlib import Path

import numpy as np


def rule_pick(rows: list[dict], min_ratio: float) -> dict:
    """The row with the highest ``gain`` among those whose ``ratio`` is at least ``min_ratio``; the
    most colourful row (highest ``ratio``) where none reaches it. ``rows``: dicts with ``gain`` and
    ``ratio`` (and whatever names the setting)."""
    if not rows:
        raise ValueError("no settings to choose from")
    kept = [r for r in rows if r["ratio"] >= min_ratio]
    return max(kept, key=lambda r: r["gain"]) if kept else max(rows, key=lambda r: r["ratio"])


def gain_at_ratio(rows: list[dict], ratio: float) -> float | None:
    """The gain at colourfulness ``ratio``, linearly interpolated between the two settings whose ratios
    bracket it most closely (one curve: e.g. one temperature along beta); None where no two settings
    bracket it (no extrapolation)."""
    below = [r for r in rows if r["ratio"] <= ratio]
    above = [r for r in rows if r["ratio"] >= ratio]
    if not below or not above:
        return None
    lo, hi = max(below, key=lambda r: r["ratio"]), min(above, key=lambda r: r["ratio"])
    if hi["ratio"] == lo["ratio"]:
        return (lo["gain"] + hi["gain"]) / 2
    t = (ratio - lo["ratio"]) / (hi["ratio"] - lo["ratio"])
    return lo["gain"] + t * (hi["gain"] - lo["gain"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights", help="a registry name or a weights file")
    ap.add_argument("--data", default="runs/splits/dev", help="colour images in one folder per source")
    ap.add_argument("--like-manifest", default="", help="keep this manifest's sources, weighted by its counts")
    ap.add_argument("--temperatures", default="0.38")
    ap.add_argument("--sizes", default="128")
    ap.add_argument("--chroma-restore", default="0")
    ap.add_argument("--prior-correction", default="0", help="beta values (0: the logits as trained)")
    ap.add_argument("--prior", default="", help="the run's model.safetensors or checkpoint.safetensors")
    ap.add_argument("--limit", type=int, default=0, help="at most N images (0: all)")
    ap.add_argument(
        "--min-colourfulness",
        type=float,
        default=0.58,
        help="the rule's colourfulness floor (and the ratio at which gains are interpolated)",
    )
    args = ap.parse_args()

    from tinct import api
    from tinct.core import metrics
    from tinct.evaluate import iter_image_files, load_truth
    from tinct.evaluate.scoring import gray_rgb
    from tinct.models.quantize import ABQuantizer
    from tinct.train.checkpoint import read_rebalancing

    data = Path(args.data)
    files = iter_image_files(data)[: args.limit or None]
    sources = [p.relative_to(data).parts[0] for p in files]
    share = Counter(sources)  # unweighted: every image counts once
    if args.like_manifest:
        with open(args.like_manifest, newline="") as f:
            wanted = Counter(row["source"] for row in csv.DictReader(f))
        files, sources = zip(*[(p, s) for p, s in zip(files, sources, strict=True) if s in wanted], strict=True)
        share = Counter({s: wanted[s] for s in set(sources)})
    src = np.array(sources)
    names = sorted(share)
    weight = np.array([share[s] / np.sum(src == s) for s in sources]) / sum(share.values())  # sums to 1

    truths = [load_truth(p) for p in files]
    grays = [metrics.gray_baseline(t) for t in truths]
    gray_psnr = np.array([metrics.psnr(gray_rgb(g), t) for g, t in zip(grays, truths, strict=True)])
    truth_cf = np.array([metrics.colourfulness(t) for t in truths])
    tilt = None
    if args.prior:
        prior, lam, power = read_rebalancing(args.prior)
        tilt = ABQuantizer.rebalance_log_factor(prior, lam, power)
        print(f"bin prior from {args.prior}: rebalance lambda {lam:g}, power {power:g}")
    print(f"{len(files)} images from {args.data}; model {args.weights}; sources weighted {dict(share)}")
    print("| T | working size | chroma restore | prior correction | PSNR gain dB | colourfulness ratio | s |")
    print("|---|---|---|---|---|---|---|")
    grid = itertools.product(
        (float(v) for v in args.temperatures.split(",")),
        (int(v) for v in args.sizes.split(",")),
        (float(v) for v in args.chroma_restore.split(",")),
        (float(v) for v in args.prior_correction.split(",")),
    )
    rows = []
    for temperature, size, restore, beta in grid:
        session = api.load_model(args.weights, device="cpu", working_size=size, temperature=temperature)
        if beta:
            if tilt is None:
                ap.error("--prior-correction needs --prior")
            session.model.shift_logits(-beta * tilt)
        if restore:
            session.model.chroma_restore = restore
        if beta or restore:
            session.predictor = None  # the torch network: an ONNX export has the shipped decoding baked in
        t = time.perf_counter()
        outs = [session.colorize(g) for g in grays]  # the eval's input: the truth's L as gray
        gains = np.array([metrics.psnr(o, t) for o, t in zip(outs, truths, strict=True)]) - gray_psnr
        cf = np.array([metrics.colourfulness(o) for o in outs])
        gain, ratio = float(np.sum(weight * gains)), float(np.sum(weight * cf) / np.sum(weight * truth_cf))
        row = f"| {temperature:g} | {size} | {restore:g} | {beta:g} | {gain:+.3f} | {ratio:.3f} |"
        print(f"{row} {time.perf_counter() - t:.0f} |")
        print("    " + ", ".join(f"{s} {np.mean(gains[src == s]):+.2f}" for s in names))
        rows.append({"T": temperature, "size": size, "restore": restore, "beta": beta, "gain": gain, "ratio": ratio})

    floor = args.min_colourfulness
    pick = rule_pick(rows, floor)
    print(
        f"\nrule (highest gain with colourfulness >= {floor:g}): T {pick['T']:g}, size {pick['size']}, "
        f"chroma restore {pick['restore']:g}, beta {pick['beta']:g}: {pick['gain']:+.3f} dB / {pick['ratio']:.3f}"
        + ("" if pick["ratio"] >= floor else " (none reaches the floor: the most colourful)")
    )
    curves = itertools.groupby(
        sorted(rows, key=lambda r: (r["T"], r["size"], r["restore"])), key=lambda r: (r["T"], r["size"], r["restore"])
    )
    for (temperature, size, restore), curve in curves:
        curve = list(curve)
        if len(curve) < 2:
            continue
        at = gain_at_ratio(curve, floor)
        figure = "not bracketed by its betas" if at is None else f"{at:+.3f} dB"
        print(
            f"at colourfulness {floor:g} along beta, T {temperature:g}, size {size}, "
            f"chroma restore {restore:g}: {figure}"
        )


if __name__ == "__main__":
    main()
