"""Speed and memory of scribble propagation (``tinct.classical.scribbles.scribbles_ab``, Levin et al. 2004).

For each size (megapixels, 4:3) a fresh process builds a synthetic gray photo (gradients, disks
and bars, mild noise) with a few coloured strokes, then times ``scribbles_ab(L, scribbles)``:
mark detection, the Levin solve (direct up to ``SOLVE_PIXELS``, coarse-to-fine above) and the
guided upsampling to full resolution. Printed per size: total seconds, of which the sparse
solve (constant above ``SOLVE_PIXELS``) and the rest (mark detection, downscaling, guided
upsampling: linear in the pixel count); peak memory traced by tracemalloc (numpy and Python
allocations); the peak resident memory the call adds to the process (includes SuperLU's C
allocations; Linux ``VmHWM`` after a reset); and the size of the ab result itself.

    python benchmarks/scribbles.py [--sizes 0.25,1,4,12] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def make_scene(megapixels: float, seed: int = 0):
    """A synthetic gray image (uint8, 4:3) and an RGB scribble image with 6 coloured strokes."""
    import numpy as np

    w = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    h = int(w * 3 / 4)
    rng = np.random.default_rng(seed)
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    x = np.linspace(0.0, 1.0, w, dtype=np.float32)[None, :]
    g = 60 + 80 * x + 40 * y
    for cy, cx, r, v in [(0.35, 0.3, 0.18, 80), (0.6, 0.7, 0.22, -50), (0.75, 0.25, 0.1, 60)]:
        g = g + v * (((y - cy) ** 2 + ((x - cx) * 4 / 3) ** 2) < r * r)
    g = g + 40 * ((x > 0.48) & (x < 0.52))  # a bar: a thin structure with sharp edges
    g = g + rng.normal(0.0, 2.0, (h, w)).astype(np.float32)
    gray = np.clip(g, 0, 255).astype(np.uint8)
    del g
    scrib = np.repeat(gray[..., None], 3, axis=2)
    strokes = [
        ((0.35, 0.25, 0.35), (200, 60, 40)),  # inside disk 1
        ((0.60, 0.65, 0.75), (40, 90, 200)),  # inside disk 2
        ((0.75, 0.22, 0.28), (60, 170, 60)),  # inside disk 3
        ((0.10, 0.10, 0.90), (220, 200, 120)),  # background, top
        ((0.95, 0.40, 0.90), (120, 80, 160)),  # background, bottom
        ((0.50, 0.49, 0.51), (240, 240, 40)),  # across the bar
    ]
    t = max(2, h // 300)  # stroke thickness grows with the image, as a brush would
    for (sy, sx0, sx1), colour in strokes:
        r0 = int(sy * h)
        scrib[r0 : r0 + t, int(sx0 * w) : int(sx1 * w)] = colour
    return gray, scrib


def _memory_mib() -> tuple[float, float]:
    """(peak, current) resident memory of this process in MiB, from /proc (Linux)."""
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(fields["VmHWM"].split()[0]) / 1024, int(fields["VmRSS"].split()[0]) / 1024


def child(megapixels: float, threads: int) -> None:
    """Run in a fresh process: time one size, print one JSON line."""
    import tracemalloc

    import torch

    torch.set_num_threads(threads)
    from tinct.classical import scribbles
    from tinct.classical.scribbles import scribbles_ab
    from tinct.core.color import luminance

    solve_seconds = []
    levin_solve = scribbles.levin_solve

    def timed_solve(*args):
        t = time.perf_counter()
        x = levin_solve(*args)
        solve_seconds.append(time.perf_counter() - t)
        return x

    scribbles.levin_solve = timed_solve

    g, s = make_scene(0.01)
    scribbles_ab(luminance(g), s)  # warm-up (imports, kornia)
    gray, scrib = make_scene(megapixels)
    L = luminance(gray)
    with open("/proc/self/clear_refs", "w") as f:  # reset the peak (VmHWM) to the current RSS
        f.write("5")
    rss0 = _memory_mib()[1]
    tracemalloc.start()
    t = time.perf_counter()
    ab = scribbles_ab(L, scrib)
    secs = time.perf_counter() - t
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    rss1 = _memory_mib()[0]
    print(
        json.dumps(
            {
                "megapixels": gray.size / 1e6,
                "shape": list(gray.shape),
                "seconds": secs,
                "solve_seconds": solve_seconds[-1],
                "traced_peak_mib": traced,
                "rss_growth_mib": rss1 - rss0,
                "ab_mib": ab.nbytes / 2**20,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="0.25,1,4,12", help="megapixels, comma-separated")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (numpy/scipy use their own)")
    ap.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        child(args.child, args.threads)
        return
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    print(f"{'MP':>6} {'shape':>12} {'seconds':>8} {'solve':>6} {'rest':>6} {'rest/MP':>7} {'traced MiB':>11}", end="")
    print(f" {'RSS +MiB':>9} {'ab MiB':>7}")
    for mp in (float(s) for s in args.sizes.split(",")):
        cmd = [sys.executable, __file__, "--child", str(mp), "--threads", str(args.threads)]
        res = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if res.returncode:
            sys.exit(f"{mp} MP failed:\n{res.stderr}")
        r = json.loads(res.stdout.strip().splitlines()[-1])
        shape = "x".join(map(str, r["shape"]))
        rest = r["seconds"] - r["solve_seconds"]
        print(
            f"{r['megapixels']:6.2f} {shape:>12} {r['seconds']:8.2f} {r['solve_seconds']:6.2f} {rest:6.2f}"
            f" {rest / r['megapixels']:7.2f} {r['traced_peak_mib']:11.0f} {r['rss_growth_mib']:9.0f}"
            f" {r['ab_mib']:7.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
