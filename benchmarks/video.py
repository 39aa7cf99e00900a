"""Speed and memory of video colorization (`tinct.apps.video.colorize_video`) on this machine.

Prints, for the default model on the CPU:
  * frames per second, end to end (decode -> model -> stabiliser -> guided join -> H.264 encode
    -> remux), for short synthetic 480p and 1080p clips, with and without the stabiliser, and the
    share of the time spent in the model, the stabiliser and the full-resolution join;
  * resident memory (RSS) while a long low-resolution clip streams through: at frame 100, 1000
    and 2000 it should stay flat (frames are never accumulated).

The clips pan across a demo photo (gray, with grain) and carry an AAC sine track.

    python benchmarks/video.py [--model lite] [--threads N] [--frames 60] [--long-frames 2000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from tinct.registry import DEFAULT_MODEL

DEMO = Path(__file__).resolve().parents[1] / "tinct" / "demo" / "1909Chicago.jpg"


def rss_mib() -> float:
    """Current resident set size of this process (MiB), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def make_clip(path: Path, width: int, height: int, frames: int, fps: int = 24) -> Path:
    """A gray clip panning across the demo photo, with film grain and a sine audio track."""
    import av

    photo = Image.open(DEMO).convert("L")
    big = np.asarray(photo.resize((int(width * 1.25), int(height * 1.25)), Image.BICUBIC), np.float32)
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "20"})
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        aus = out.add_stream("aac", rate=48000)
        aus.layout = "mono"
        dx, dy = big.shape[1] - width, big.shape[0] - height
        for i in range(frames):
            x = int(dx * (0.5 + 0.5 * np.sin(i / 40)))
            y = int(dy * (0.5 + 0.5 * np.cos(i / 55)))
            gray = big[y : y + height, x : x + width] + rng.normal(0, 3, (height, width))
            f = av.VideoFrame.from_ndarray(np.clip(gray, 0, 255).astype(np.uint8), format="gray")
            f.pts = i
            out.mux(vs.encode(f))
        out.mux(vs.encode(None))
        t = np.arange(48000 * frames // fps) / 48000
        s16 = (3000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
        for k in range(0, len(s16), 1024):
            fr = av.AudioFrame.from_ndarray(s16[None, k : k + 1024], format="s16", layout="mono")
            fr.sample_rate, fr.pts = 48000, k
            out.mux(aus.encode(fr))
        out.mux(aus.encode(None))
    return path


class StageTimer:
    """Wraps the pipeline's stages in tinct.apps.video to add up their time."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, owner, name: str, label: str) -> None:
        fn = getattr(owner, name)

        def timed(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[label] += time.perf_counter() - t

        setattr(owner, name, timed)


def speed(session, workdir: Path, label: str, width: int, height: int, frames: int) -> None:
    import tinct.apps.video as video
    from tinct.io.video.stabilise import TemporalStabilizer
    from tinct.io.video.write import ChunkWriter

    src = make_clip(workdir / f"{label}.mp4", width, height, frames)
    for stabilize in (True, False):
        timer = StageTimer()
        saved = {n: getattr(video, n) for n in ("predict_frames", "join_full_resolution")}
        saved_call = TemporalStabilizer.__call__
        saved_write = ChunkWriter.write
        timer.wrap(video, "predict_frames", "model")
        timer.wrap(video, "join_full_resolution", "join")
        timer.wrap(TemporalStabilizer, "__call__", "stabiliser")
        timer.wrap(ChunkWriter, "write", "encode")
        try:
            stats = video.colorize_video(
                session, src, workdir / f"{label}_color.mp4", stabilize=stabilize, progress=False
            )
        finally:
            for n, fn in saved.items():
                setattr(video, n, fn)
            TemporalStabilizer.__call__ = saved_call
            ChunkWriter.write = saved_write
        total = stats["seconds"]
        shares = ", ".join(f"{k} {100 * v / total:.0f}%" for k, v in timer.seconds.items())
        print(
            f"{label:>6} {width}x{height}, {frames} frames, stabilise={stabilize!s:5}: "
            f"{stats['fps']:6.2f} frames/s ({1000 * total / frames:.0f} ms/frame; {shares})",
            flush=True,
        )


def memory(session, workdir: Path, frames: int, width: int = 256, height: int = 144) -> None:
    import tinct.apps.video as video
    from tinct.io.video.write import ChunkWriter

    src = make_clip(workdir / "long.mp4", width, height, frames)
    marks = {100, 1000, frames} | ({2000} if frames >= 2000 else set())
    seen = {"n": 0}
    readings: list[tuple[int, float]] = []
    write = ChunkWriter.write

    def counting(self, rgb, pts):
        write(self, rgb, pts)
        seen["n"] += 1
        if seen["n"] in marks:
            readings.append((seen["n"], rss_mib()))

    ChunkWriter.write = counting
    try:
        t = time.perf_counter()
        before = rss_mib()
        video.colorize_video(session, src, workdir / "long_color.mp4", progress=False)
        secs = time.perf_counter() - t
    finally:
        ChunkWriter.write = write
    print(f"memory over a {frames}-frame {width}x{height} clip ({frames / secs:.1f} frames/s end to end):")
    print(f"  RSS before the run: {before:.0f} MiB")
    for n, mib in readings:
        print(f"  RSS at frame {n:>5}: {mib:.0f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--frames", type=int, default=60, help="frames of the 480p and 1080p clips")
    ap.add_argument("--long-frames", type=int, default=2000, help="frames of the memory clip")
    args = ap.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["TINCT_THREADS"] = str(args.threads)  # onnxruntime gets the same count
    from tinct.api import load_model

    session = load_model(args.model, device="cpu")
    print(f"model {args.model} on the CPU, backend {session.backend}, {torch.get_num_threads()} thread(s)", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        speed(session, work, "480p", 854, 480, args.frames)
        speed(session, work, "1080p", 1920, 1080, args.frames)
        memory(session, work, args.long_frames)


if __name__ == "__main__":
    main()
