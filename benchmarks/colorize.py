"""Speed and memory of `tinct colorize` on this machine, each figure beside its floor from the same run
(issue 19: 12 MP from the shell <= 6x the I/O floor; a folder of 1 MP JPEGs >= 60 % of
2 / (t_io + t_net); peak RSS < 600 MB at 12 MP and < 2 GB at 100 MP).

Prints, for one model on the CPU:
  * `tinct colorize photo.jpg` wall time (best of --repeat, each a fresh process) for 1, 12 and 24 MP
    gray JPEGs, beside the I/O floor (a fresh Python that decodes the file with Pillow and encodes it
    as JPEG q95 4:4:4), the ratio, and the CLI's peak RSS;
  * the in-process pipeline time (Session.colorize_image, no file I/O) at 12 MP;
  * images/s over a folder of 1 MP JPEGs through the CLI's batch code (best of --repeat), beside the decode + encode
    floor on both cores and the bound 2 / (t_io + t_net) of a perfect two-core pipeline (t_io: one
    core decodes and encodes one image; t_net: the network alone at the working size on one core);
  * with --noisy N (default 12), the same CLI figures for an N-megapixel JPEG of pure noise, the worst
    case of the gamut fit (about a tenth of its colours fall outside sRGB and lose chroma);
  * with --big N, the peak RSS of one N-megapixel photo (--max-pixels raised).

    python benchmarks/colorize.py [--model lite] [--sizes 1,12,24] [--folder-images 40] [--big 100]

The first load of a model exports it to ONNX (cached); this script does that before timing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "tinct" / "demo" / "1909Chicago.jpg"
FLOOR = "import sys\nfrom PIL import Image\nim = Image.open(sys.argv[1]); im.load()\n" + (
    "im.convert('RGB').save(sys.argv[2], quality=95, subsampling=0)\n"
)


def four_by_three(megapixels: float) -> tuple[int, int]:
    """(width, height) of a 4:3 image of about ``megapixels``."""
    w = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    return w, int(w * 3 / 4)


def make_photo(path: Path, megapixels: float) -> Path:
    """A gray JPEG of about ``megapixels``, upscaled from a demo photo (4:3)."""
    Image.open(DEMO).convert("L").resize(four_by_three(megapixels), Image.BICUBIC).save(path, quality=92)
    return path


def make_noise(path: Path, megapixels: float) -> Path:
    """A gray JPEG of about ``megapixels`` of uniform noise (4:3): grain at its worst."""
    w, h = four_by_three(megapixels)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (h, w), dtype=np.uint8), "L").save(path, quality=92)
    return path


def timed(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd``; (wall seconds, peak RSS MB of the child). Raises if it fails."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    secs = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-500:]}")
    return secs, usage.ru_maxrss / 1024


def best(cmd: list[str], repeat: int) -> tuple[float, float]:
    runs = [timed(cmd) for _ in range(repeat)]
    return min(r[0] for r in runs), max(r[1] for r in runs)


def cli_row(src: Path, tmp: Path, args: argparse.Namespace, label: str, note: str = "") -> None:
    """Print one row of the CLI table for ``src``: wall, I/O floor, ratio, peak RSS (best of --repeat)."""
    floor, _ = best([sys.executable, "-c", FLOOR, str(src), str(tmp / "floor.jpg")], args.repeat)
    wall, peak = best(cli_cmd(src, tmp / "out", args.model), args.repeat)
    print(f"{label:>7} {wall:>7.2f} {floor:>8.3f} {wall / floor:>5.1f}x {peak:>8.0f}{note}")


def cli_cmd(src: Path, out: Path, model: str, max_pixels: int | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "tinct.cli", "colorize", str(src), "-o", str(out), "--overwrite", "--model", model]
    return cmd + (["--max-pixels", str(max_pixels)] if max_pixels else [])


def decode_encode(path: Path) -> None:
    """One core's I/O for one image: Pillow decode, JPEG q95 4:4:4 encode of the RGB."""
    import io

    im = Image.open(path)
    im.load()
    im.convert("RGB").save(io.BytesIO(), "JPEG", quality=95, subsampling=0)


def net_seconds(session, shape: tuple[int, int]) -> float:
    """The network alone at the working size for an image of ``shape``, on one core (best of 5)."""
    from tinct.backends.ort import OnnxPredictor
    from tinct.core.lowres import working_shape

    h, w = working_shape(*shape, session.working_size)
    m = session.multiple
    x = np.zeros((1, 1, h + (-h) % m, w + (-w) % m), np.float32)
    if hasattr(session.predictor, "path"):
        one = OnnxPredictor(session.predictor.path, threads=1).run
    else:  # torch backend: one thread
        import torch

        torch.set_num_threads(1)
        one = session.network
        x = torch.from_numpy(x)
    one(x)
    runs = []
    for _ in range(5):
        t = time.perf_counter()
        one(x)
        runs.append(time.perf_counter() - t)
    return min(runs)


def folder_figures(args: argparse.Namespace, tmp: Path) -> None:
    """Images/s over a folder of 1 MP JPEGs vs its floors (see the module docstring)."""
    from concurrent.futures import ThreadPoolExecutor

    from tinct.api import load_model
    from tinct.apps.batch import default_lanes, default_workers, run_batch
    from tinct.io import read_image

    folder = tmp / "folder"
    folder.mkdir()
    base = Image.open(DEMO).convert("L").resize((1155, 866), Image.BICUBIC)
    for i in range(args.folder_images):
        x, y = (i * 37) % 100, (i * 53) % 80
        base.crop((x, y, x + 1155 - 100, y + 866 - 80)).resize((1155, 866)).save(folder / f"{i:05d}.jpg", quality=90)
    files = sorted(folder.glob("*.jpg"))
    session = load_model(args.model, device="cpu")
    session.colorize_pixels(np.asarray(Image.open(files[0])))  # warm-up
    t = time.perf_counter()
    for p in files[:10]:
        decode_encode(p)
    t_io = (time.perf_counter() - t) / 10
    t_net = net_seconds(session, (866, 1155))
    with ThreadPoolExecutor(2) as pool:
        t = time.perf_counter()
        list(pool.map(decode_encode, files))
        io_rate = len(files) / (time.perf_counter() - t)
    lane_session = session.concurrent()
    if lane_session is not None:  # a long batch's steady state: the compiled kernel loaded (tinct[fast])
        from tinct.core.fullres import fused_kernel

        kernel = fused_kernel(wait=120) if lane_session.fullres_fused else None
        print(f"full-resolution half in lanes: {'compiled kernel (numba)' if kernel else 'numpy kernels'}")
        lane_session.colorize_pixels(np.asarray(Image.open(files[0])))

    def process(job, fmt: str) -> None:
        on = lane_session if job.in_lane else session
        on.colorize_file(job.src, job.dst, fmt=fmt, image=job.prefetched(), defer=job.defer)

    rates = []
    for run in range(args.repeat):  # best of --repeat, as the CLI figures
        t = time.perf_counter()
        res = run_batch(  # as `tinct colorize folder/` runs it: whole images on one lane per core
            [folder],
            process,
            out_dir=tmp / f"out{run}",
            prefetch=lambda job: read_image(job.src),
            workers=default_workers(),
            lanes=default_lanes(),
            in_lane=lambda job: session.concurrent_ready,
        )
        rates.append(len(res.done) / (time.perf_counter() - t))
    rate = max(rates)
    bound = 2 / (t_io + t_net)
    print(f"folder of {len(files)} 1 MP JPEGs: {rate:.1f} images/s; decode+encode floor on 2 threads {io_rate:.1f}/s;")
    print(f"  t_io {t_io * 1e3:.1f} ms, t_net {t_net * 1e3:.1f} ms (one core): bound 2/(t_io+t_net) {bound:.1f}/s;")
    print(f"  reached {100 * rate / bound:.0f} % of the bound (target >= 60 %)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="registry name or weights file (default: the default model)")
    ap.add_argument("--sizes", default="1,12,24", help="megapixels, comma-separated")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (the best is printed)")
    ap.add_argument("--folder-images", type=int, default=40, help="0: no folder figure")
    ap.add_argument("--noisy", type=float, default=12, help="megapixels of the noise photo (0: none)")
    ap.add_argument("--big", type=float, default=0, help="also the peak RSS of one photo this many megapixels")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from tinct.api import load_model
    from tinct.registry import DEFAULT_MODEL

    args.model = args.model or DEFAULT_MODEL
    session = load_model(args.model, device="cpu")  # exports to the ONNX cache on first use
    print(f"tinct colorize benchmark: model {args.model}, backend {session.backend}, {os.cpu_count()} cores")
    print(f"{'image':>7} {'CLI s':>7} {'floor s':>8} {'ratio':>6} {'peak MB':>8}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for mp in [float(s) for s in args.sizes.split(",")]:
            src = make_photo(tmp / f"photo_{mp:g}mp.jpg", mp)
            cli_row(src, tmp, args, f"{mp:g}MP")
            if mp == 12:
                from tinct.io import read_image

                img = read_image(src)
                runs = []
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    session.colorize_image(img)
                    runs.append(time.perf_counter() - t)
                print(f"  in-process pipeline at 12 MP (colorize_image, no file I/O): {min(runs):.3f} s")
        if args.noisy:
            cli_row(make_noise(tmp / "noise.jpg", args.noisy), tmp, args, f"{args.noisy:g}MP", "  (pure noise)")
        if args.big:
            src = make_photo(tmp / "big.jpg", args.big)
            wall, peak = timed(cli_cmd(src, tmp / "out", args.model, max_pixels=int(args.big * 1.1e6)))
            print(f"{args.big:>5g}MP {wall:>7.2f} {'':>8} {'':>6} {peak:>8.0f}  (--max-pixels raised)")
        if args.folder_images:
            folder_figures(args, tmp)


if __name__ == "__main__":
    main()
