"""Throughput of tinct on this machine: torch vs onnxruntime on the CPU, and the GPU when present.

Prints, in one run, for the default model:
  * JPEG decode only (the ceiling of any folder pipeline): 256 px images/s with the same number
    of threads, and seconds to decode one 12 MP JPEG;
  * model only at 256 x 256 (normalised L -> ab, decoding included), batch 1, images/s, for torch
    CPU and onnxruntime CPU with the SAME thread count (measured in alternating rounds, median
    reported, so background load hits both alike), and their ratio; beside them, for reference,
    torch CPU with the network in channels-last (not what tinct's torch backend runs);
  * the folder pipeline (read -> colorize -> write JPEG, decoding and encoding overlapped with the
    model, as `tinct colorize` runs it) on 256 px JPEGs, images/s;
  * seconds per 12 MP image end to end (read -> colorize -> write JPEG);
  * with CUDA: model only at batch 1, 64 and 256 in bf16 and channels-last (``--compile`` adds
    torch.compile), and the folder pipeline on the GPU, beside the decode ceiling.

    python benchmarks/throughput.py [--threads N] [--images 200] [--seconds 3] [--rounds 3] [--no-12mp]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from PIL import Image

from tinct.registry import DEFAULT_MODEL

DEMO = Path(__file__).resolve().parents[1] / "tinct" / "demo"


def make_folder(folder: Path, n: int, side: int = 256) -> list[Path]:
    """``n`` gray ``side`` x ``side`` JPEGs cropped from the demo photos."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = [Image.open(p).convert("L") for p in sorted(DEMO.glob("*.jpg"))]
    paths = []
    for i in range(n):
        im = photos[i % len(photos)]
        s = min(im.size) * 3 // 4
        x, y = (i * 37) % (im.width - s), (i * 53) % (im.height - s)
        p = folder / f"{i:05d}.jpg"
        im.crop((x, y, x + s, y + s)).resize((side, side), Image.BICUBIC).save(p, quality=90)
        paths.append(p)
    return paths


def make_photo(path: Path, megapixels: float = 12.0) -> Path:
    """A gray 4:3 JPEG of about ``megapixels``, upscaled from a demo photo."""
    w = int((megapixels * 1e6 * 4 / 3) ** 0.5)
    Image.open(DEMO / "1909Chicago.jpg").convert("L").resize((w, w * 3 // 4), Image.BICUBIC).save(path, quality=92)
    return path


def rate(fn: Callable[[], object], seconds: float, per_call: int = 1) -> float:
    """Calls of ``fn`` per second times ``per_call``, over about ``seconds`` after a warm-up."""
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds and n >= 3:
            return n * per_call / dt


def decode_rate(paths: list[Path], threads: int) -> float:
    """JPEG files read and decoded (tinct.io.read_image) per second with ``threads`` threads."""
    from tinct.io import read_image

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(read_image, paths[:8]))
        t = time.perf_counter()
        list(pool.map(read_image, paths))
        return len(paths) / (time.perf_counter() - t)


def folder_rate(session, paths: list[Path], out: Path) -> float:
    """Images/s of the overlapped folder pipeline (tinct.apps.batch, as `tinct colorize` runs it)."""
    from tinct.apps.batch import default_workers, run_batch
    from tinct.io import read_image

    def process(job, fmt):
        session.colorize_file(job.src, job.dst, fmt=fmt, image=job.prefetched(), defer=job.defer)

    t = time.perf_counter()
    res = run_batch(
        [paths[0].parent],
        process,
        out,
        overwrite=True,
        prefetch=lambda job: read_image(job.src),
        workers=default_workers(),
    )
    assert not res.failed, res.failed[:3]
    return len(res.done) / (time.perf_counter() - t)


def seconds_per_file(session, src: Path, out: Path, repeats: int = 2) -> float:
    """Best of ``repeats`` seconds to colorize ``src`` into a JPEG (read -> colorize -> write)."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        session.colorize_file(src, out, max_pixels=10**9)
        best = min(best, time.perf_counter() - t)
    return best


def gpu_model_rate(model: torch.nn.Module, batch: int, seconds: float, compile_: bool) -> float:
    """Model-only images/s on the GPU at 256 x 256, bf16, channels-last."""
    net = model.to("cuda", torch.bfloat16).to(memory_format=torch.channels_last).eval()
    fn = torch.compile(net.predict_ab) if compile_ else net.predict_ab
    x = torch.rand(batch, 1, 256, 256, device="cuda", dtype=torch.bfloat16).contiguous(
        memory_format=torch.channels_last
    )

    def step() -> None:
        fn(x)
        torch.cuda.synchronize()

    with torch.inference_mode():
        for _ in range(3):
            step()
        return rate(step, seconds, batch)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for torch AND onnxruntime (0: tinct's default)")
    ap.add_argument("--images", type=int, default=200, help="256 px JPEGs in the folder runs")
    ap.add_argument("--seconds", type=float, default=3.0, help="time per model-only measurement")
    ap.add_argument("--rounds", type=int, default=3, help="alternating torch/onnxruntime rounds (median)")
    ap.add_argument("--no-12mp", action="store_true", help="skip the 12 MP image")
    ap.add_argument("--gpu-batches", default="1,64,256")
    ap.add_argument("--compile", action="store_true", help="torch.compile the GPU model")
    args = ap.parse_args()

    from tinct.api import cpu_threads, load_model

    threads = args.threads or cpu_threads()
    torch.set_num_threads(threads)
    os.environ["TINCT_THREADS"] = str(threads)  # onnxruntime gets the same count
    import onnxruntime  # noqa: F401 - this benchmark compares against it

    sessions = {b: load_model(args.model, device="cpu", backend=b) for b in ("torch", "onnx")}
    cpu = os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"tinct throughput: model {args.model}; {cpu} CPU cores, {threads} threads for torch and onnxruntime;")
    print(f"load average {load:.1f} at start (other processes share the CPU when it exceeds the core count)")
    x = torch.rand(1, 1, 256, 256) * 2 - 1
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        paths = make_folder(tmp / "in", args.images)
        ceiling = decode_rate(paths, threads)
        photo = None if args.no_12mp else make_photo(tmp / "photo12.jpg")
        print(f"\n{'':<28}{'model 256px img/s':>18}{'folder 256px img/s':>20}{'12 MP s/img':>13}")
        decode12 = ""
        if photo is not None:
            from tinct.io import read_image

            t = time.perf_counter()
            read_image(photo, max_pixels=10**9)
            decode12 = f"{time.perf_counter() - t:.2f}"
        print(f"{'JPEG decode only (ceiling)':<28}{'-':>18}{ceiling:>20.1f}{decode12:>13}")
        import copy

        channels_last = copy.deepcopy(sessions["torch"].model).to(memory_format=torch.channels_last)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        predictors = {b: s.ab_predictor for b, s in sessions.items()}
        predictors["torch-cl"] = lambda t: channels_last.predict_ab(x_cl)
        model_rates: dict[str, list[float]] = {b: [] for b in predictors}
        with torch.inference_mode():
            for _ in range(args.rounds):
                for b, predict in predictors.items():
                    model_rates[b].append(rate(lambda p=predict: p(x), args.seconds))
        medians = {b: statistics.median(r) for b, r in model_rates.items()}
        for b, s in sessions.items():
            folder = folder_rate(s, paths, tmp / f"out-{b}")
            mp = "" if photo is None else f"{seconds_per_file(s, photo, tmp / f'o12-{b}.jpg'):.2f}"
            name = "torch CPU" if b == "torch" else "onnxruntime CPU"
            print(f"{name:<28}{medians[b]:>18.1f}{folder:>20.1f}{mp:>13}")
        print(f"{'(torch CPU, channels-last)':<28}{medians['torch-cl']:>18.1f}{'-':>20}{'-':>13}")
        ratio = medians["onnx"] / medians["torch"]
        rounds = ", ".join(f"{o / t:.2f}" for o, t in zip(model_rates["onnx"], model_rates["torch"], strict=True))
        print(f"\nonnxruntime / torch, model only at 256 px: {ratio:.2f}x (per round: {rounds})")
        print(f"onnxruntime / torch channels-last: {medians['onnx'] / medians['torch-cl']:.2f}x")

        if torch.cuda.is_available():
            name = torch.cuda.get_device_name()
            print(f"\nGPU: {name}, bf16, channels-last{', torch.compile' if args.compile else ''}")
            from tinct.registry import build_architecture, get_spec

            spec = get_spec(args.model)
            for b in (int(v) for v in args.gpu_batches.split(",")):
                model = build_architecture(spec.arch, **spec.kwargs)
                model.load_state_dict(sessions["torch"].model.state_dict())
                print(
                    f"  model only, batch {b:>4}: {gpu_model_rate(model, b, args.seconds, args.compile):>10.0f} img/s"
                )
            gpu = load_model(args.model, device="cuda", backend="torch")
            folder = folder_rate(gpu, paths, tmp / "out-gpu")
            print(f"  folder pipeline (fp16, one image at a time): {folder:.1f} img/s; decode ceiling {ceiling:.1f}")
            if photo is not None:
                print(f"  12 MP image: {seconds_per_file(gpu, photo, tmp / 'o12-gpu.jpg'):.2f} s")


if __name__ == "__main__":
    main()
