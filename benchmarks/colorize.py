"""Speed and memory of `tinct colorize` on this machine (issue 3 targets: 12 MP < 3 s, < 2 GB).

Prints, for the default model on the CPU:
  * seconds and peak resident memory to colorize one 1, 12 and 24 megapixel JPEG file to JPEG
    (read -> pipeline -> write), each in a fresh process, beside the I/O floor (read + write of
    the same file with no colorizing) and the process's memory before the first image;
  * images per second over a folder of 256 px images.

    python benchmarks/colorize.py [--model lite] [--threads N] [--sizes 1,12,24] [--folder-images 200]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

DEMO = Path(__file__).resolve().parents[1] / "tinct" / "demo" / "1909Chicago.jpg"


def make_photo(path: Path, megapixels: float) -> Path:
    """A gray JPEG of about ``megapixels``, upscaled from a demo photo (4:3)."""
    w = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    h = int(w * 3 / 4)
    Image.open(DEMO).convert("L").resize((w, h), Image.BICUBIC).save(path, quality=92)
    return path


def child(args: argparse.Namespace) -> None:
    """Run in a fresh process: time one file, print JSON with seconds and peak RSS."""
    import resource

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from tinct.api import load_model
    from tinct.io import encode_image, read_image

    src = Path(args.child)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.io_only:
        t = time.perf_counter()
        img = read_image(src, max_pixels=10**9)
        encode_image(np.dstack([img.pixels] * 3), "JPEG")
        secs = time.perf_counter() - t
    else:
        session = load_model(args.model, device="cpu")
        session.colorize_pixels(np.zeros((64, 64), np.uint8))  # warm-up
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t = time.perf_counter()
        session.colorize_file(src, src.with_name("out.jpg"), max_pixels=10**9)
        secs = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": secs, "peak_mb": peak, "before_mb": rss0}))


def run_child(path: Path, args: argparse.Namespace, io_only: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--child", str(path), "--model", args.model, "--threads", str(args.threads)]
    if io_only:
        cmd.append("--io-only")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def folder_rate(args: argparse.Namespace, tmp: Path) -> tuple[float, float]:
    """Images/s for a folder of 256 px images through the batch code the CLI uses, and I/O floor."""
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from tinct.api import load_model
    from tinct.apps.batch import run_batch

    folder = tmp / "folder"
    folder.mkdir()
    base = Image.open(DEMO).convert("L")
    for i in range(args.folder_images):
        x, y = (i * 37) % 300, (i * 53) % 200
        base.crop((x, y, x + 320, y + 256)).resize((320, 256)).save(folder / f"{i:05d}.jpg", quality=90)
    session = load_model(args.model, device="cpu")
    t = time.perf_counter()
    res = run_batch([folder], lambda job, f: session.colorize_file(job.src, job.dst, fmt=f), out_dir=tmp / "out")
    rate = len(res.done) / (time.perf_counter() - t)
    from tinct.io import encode_image, read_image

    t = time.perf_counter()
    for p in sorted(folder.glob("*.jpg")):
        img = read_image(p)
        encode_image(np.dstack([img.pixels] * 3), "JPEG")
    io_rate = args.folder_images / (time.perf_counter() - t)
    return rate, io_rate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="lite")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--sizes", default="1,12,24", help="megapixels, comma-separated")
    ap.add_argument("--folder-images", type=int, default=200)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--io-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    import os

    threads = args.threads or "default"
    print(f"tinct colorize benchmark: model {args.model}, CPU, {os.cpu_count()} cores, threads {threads}")
    print(f"{'image':>8} {'seconds':>8} {'peak MB':>8} {'(before)':>9} {'I/O floor s':>12}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for mp in [float(s) for s in args.sizes.split(",")]:
            src = make_photo(tmp / f"photo_{mp:g}mp.jpg", mp)
            r = run_child(src, args)
            floor = run_child(src, args, io_only=True)
            row = f"{mp:>6g}MP {r['seconds']:>8.2f} {r['peak_mb']:>8.0f} {r['before_mb']:>9.0f}"
            print(f"{row} {floor['seconds']:>12.2f}")
        rate, io_rate = folder_rate(args, tmp)
        print(f"folder of {args.folder_images} 320x256 images: {rate:.1f} images/s (I/O floor {io_rate:.0f} images/s)")


if __name__ == "__main__":
    main()
