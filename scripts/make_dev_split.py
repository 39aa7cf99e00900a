"""Hold out a small "dev" split of the training images, for choices that must not look at val.

    python scripts/make_dev_split.py [--data ../shared/data/train] [--out runs/splits] [--per-source 20]

From the training folder's ``manifest.csv``, takes ``--per-source`` images of every source (at most a
fifth of a source) (the first ones in the order of the SHA-1 of their path: fixed, and independent of
file order) as dev,
and writes, under ``--out``:

* ``train.txt``: every other training image (what the training configs read as ``data``);
* ``dev.txt``: the held-out images (``val`` of a training run: its quick validation);
* ``dev/``: the held-out images as symlinks ``dev/<source>/<file>``, a folder for ``tinct eval``;
* ``train-sample/``: as many *training* images per source as ``dev/`` holds (the next ones in the
  same order), the same kind of folder: a figure measured on both shows how much of what a network
  learnt holds on images it never trained on (the gap grows when it memorises).

Architecture ablations, working sizes and temperatures are chosen on dev; val is only measured.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
from collections import defaultdict
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/data/train")
    ap.add_argument("--out", default="runs/splits")
    ap.add_argument("--per-source", type=int, default=20)
    args = ap.parse_args()
    data, out = Path(args.data).resolve(), Path(args.out)
    by_source: dict[str, list[str]] = defaultdict(list)
    with (data / "manifest.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            by_source[row["source"]].append(row["path"])
    dev, train, sample = [], [], []
    for paths in by_source.values():
        ranked = sorted(paths, key=lambda p: hashlib.sha1(p.encode()).hexdigest())
        k = min(args.per_source, len(paths) // 5)  # a small source keeps most of its images for training
        dev += ranked[:k]
        train += ranked[k:]
        sample += ranked[k : 2 * k]
    (out / "dev").mkdir(parents=True, exist_ok=True)
    rel = os.path.relpath(data, out.resolve())
    (out / "train.txt").write_text("".join(f"{rel}/{p}\n" for p in sorted(train)))
    (out / "dev.txt").write_text("".join(f"{rel}/{p}\n" for p in sorted(dev)))
    for folder, paths in (("dev", dev), ("train-sample", sample)):
        for p in paths:
            link = out / folder / p
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(data / p)
    print(f"{len(train)} training images -> {out / 'train.txt'}", end="")
    print(f" ({len(sample)} of them in {out / 'train-sample'}/); ", end="")
    print(f"{len(dev)} dev images -> {out / 'dev.txt'}, {out / 'dev'}/")


if __name__ == "__main__":
    main()
