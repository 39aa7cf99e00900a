"""Train the FeatureNet behind the perceptual loss of the `unet` model (seed 003).

    python scripts/train_feature_net.py --data ../shared/data/train --out runs/featurenet

Seed 003 measures a perceptual loss in a pretrained VGG; no pretrained weights can be downloaded
here, so tinct trains its own small feature network (:class:`tinct.losses.FeatureNet`) as a
classifier of the colour training images. The labels are the ``source`` column of the data's
``manifest.csv`` (bsds500, flowers, clothing, cats_dogs, imagenette, ...): telling these apart
takes colour and texture, which is what the loss should respond to. Writes
``OUT/featurenet.safetensors`` (fp32, safetensors only) and ``OUT/featurenet.json`` (labels,
steps, final accuracy). Deterministic for a given ``--seed``.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from tinct.train.checkpoint import atomic_save_tensors
from tinct.train.data import CropDataset
from tinct.train.losses import build_feature_net


def source_labels(data: Path, paths: list[Path]) -> tuple[list[int], list[str]]:
    """Class index of every path (from manifest.csv's ``source``) and the sorted class names."""
    manifest = data / "manifest.csv"
    if not manifest.exists():
        raise SystemExit(f"{manifest} not found: the labels come from its 'source' column")
    with manifest.open(newline="") as fh:
        source = {(data / row["path"]).resolve(): row["source"] for row in csv.DictReader(fh)}
    names = sorted(set(source.values()))
    index = {n: i for i, n in enumerate(names)}
    missing = [p for p in paths if p.resolve() not in source]
    if missing:
        raise SystemExit(f"{len(missing)} images are not in {manifest}, e.g. {missing[0]}")
    return [index[source[p.resolve()]] for p in paths], names


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="../shared/data/train")
    ap.add_argument("--out", default="runs/featurenet")
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    data = Path(args.data)
    ds = CropDataset(data, crop=args.size, train=True)
    labels, names = source_labels(data, ds.paths)
    counts = torch.bincount(torch.tensor(labels), minlength=len(names)).float()
    class_weight = (counts.sum() / counts.clamp_min(1)) / len(names)  # balanced: small sources count as much
    net = build_feature_net(num_classes=len(names))
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps, pct_start=0.1)
    rng = random.Random(args.seed)
    t0, correct, seen = time.time(), 0, 0
    for step in range(1, args.steps + 1):
        idx = [rng.randrange(len(ds)) for _ in range(args.batch)]
        items = [(ds[i], labels[i]) for i in idx]
        items = [(x, y) for x, y in items if x is not None]
        x = torch.stack([t for t, _ in items]).float() / 255.0
        y = torch.tensor([c for _, c in items])
        logits = net(x)
        loss = F.cross_entropy(logits, y, weight=class_weight)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if step > args.steps - 100:  # training accuracy over the last 100 steps
            correct += int((logits.argmax(1) == y).sum())
            seen += len(y)
        if step % 50 == 0:
            print(f"step {step}/{args.steps} loss {loss.item():.3f} {time.time() - t0:.0f}s", file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sd = {k: v.detach().float().contiguous() for k, v in net.state_dict().items()}
    atomic_save_tensors(sd, out / "featurenet.safetensors", {"labels": json.dumps(names)})
    facts = {
        "labels": names,
        "steps": args.steps,
        "batch": args.batch,
        "size": args.size,
        "train_accuracy_last_100_steps": correct / max(1, seen),
        "wall_s": time.time() - t0,
    }
    (out / "featurenet.json").write_text(json.dumps(facts, indent=2))
    print(json.dumps(facts), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
