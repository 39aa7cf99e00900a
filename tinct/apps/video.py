"""Video and legacy film: colorize a video file frame by frame, stable in time, audio kept.

    source --PyAV--> frame -> L (full resolution)                         tinct.io.video.read
        -> Session.predict_lowres_batch (the model at the working size; batched, bf16 on CUDA)
        -> reference colours, then TemporalStabilizer on the low-resolution ab  tinct.io.video.stabilise
        -> tinct.core.pipeline.join_full_resolution (guided upsampling, the ORIGINAL L kept)
        -> H.264 chunks in ``.{dst.name}.parts/`` -> remuxed with the source's audio  tinct.io.video.write

Contracts:

* The output has the source's frame size, frame timestamps (so frame rate and duration), and
  its first audio stream copied packet for packet (no re-encoding; AAC re-encode with a warning
  only when the codec cannot go into the output container). Output L equals input L up to the
  codec's rounding: colour is added, structure never changes.
* Memory does not grow with the length of the video: frames stream through, a batch at a time.
* Work is committed in chunks of ``chunk_frames`` frames, each written atomically with the
  stabiliser's state; an interrupted run, started again with the same arguments, skips finished
  chunks and gives the same output as an uninterrupted run.
* Every unreadable input (not a video, corrupt, no video stream) raises
  :class:`tinct.io.errors.ImageError` with a one-line message.

Frames reach the network through :meth:`tinct.session.Session.predict_lowres_batch`, like stills: the
session's backend (ONNX on the CPU), its lock and its hint handling apply. Flicker and video
evaluation are in :mod:`tinct.evaluate.video`.
"""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from tinct.classical.transfer import reinhard_ab
from tinct.core.color import luminance
from tinct.core.pipeline import AbPredictor, join_full_resolution
from tinct.core.pixels import to_uint8
from tinct.io.errors import ImageError
from tinct.io.images import read_image
from tinct.io.video.read import probe_video, read_frames
from tinct.io.video.stabilise import TemporalStabilizer
from tinct.io.video.write import MUXERS, ChunkWriter, assemble, chunk_paths, prepare_work, save_meta
from tinct.session import Session

#: frames per model batch on CUDA when ``batch_size`` is not given (the CPU path uses 1)
CUDA_BATCH = 16
_FORMAT_VERSION = 1  # of the work folder's job.json and chunk files


def default_batch_size(session: Session) -> int:
    """Frames per model call: :data:`CUDA_BATCH` on CUDA, 1 on the CPU."""
    return CUDA_BATCH if session.device.type == "cuda" else 1


def predict_frames(session: Session, Ls: Sequence[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The model half for video frames of one size: :meth:`Session.predict_lowres_batch`, under bf16
    autocast on CUDA (batched frames), as the session's backend runs it elsewhere."""
    return session.predict_lowres_batch(Ls, amp=session.device.type == "cuda")


def predict_lowres_batch(
    session: Session, Ls: Sequence[torch.Tensor], amp: bool | None = None
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Deprecated: :meth:`tinct.session.Session.predict_lowres_batch` (``amp`` default: on CUDA)."""
    warnings.warn(
        "tinct.video.predict_lowres_batch is deprecated; use Session.predict_lowres_batch", DeprecationWarning, 2
    )
    return session.predict_lowres_batch(Ls, amp=session.device.type == "cuda" if amp is None else amp)


def batch_predictor(session: Session, amp: bool | None = None) -> AbPredictor:
    """Deprecated: the session's torch network as an ``AbPredictor`` (under bf16 autocast with ``amp``,
    default on CUDA); use :meth:`tinct.session.Session.predict_lowres_batch`."""
    warnings.warn("tinct.video.batch_predictor is deprecated; use Session.predict_lowres_batch", DeprecationWarning, 2)
    amp = session.device.type == "cuda" if amp is None else amp
    return session.network.autocast if amp else session.network


def batches(it: Iterable[Any], n: int) -> Iterator[list[Any]]:
    """``it`` in lists of ``n`` (the last one shorter)."""
    it = iter(it)
    while batch := list(islice(it, n)):
        yield batch


class ReferenceColours:
    """Mixes the colours of a reference image into every frame's predicted ab (at the model's resolution).

    ab = (1 - weight) * ab_model + weight * reinhard_ab(L, reference): the reference's a, b means
    and spreads, laid along the frame's own L (see :func:`tinct.classical.transfer.reinhard_ab`).
    """

    REFERENCE_PIXELS = 1 << 16  #: the reference is reduced to this size once; its statistics need no more

    def __init__(self, reference: str | Path | np.ndarray, weight: float):
        rgb = read_image(reference).pixels if isinstance(reference, (str, Path)) else np.asarray(reference)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError("the reference must be a colour (RGB) image")
        if rgb.dtype == np.uint16:
            rgb = to_uint8(rgb)
        h, w = rgb.shape[:2]
        scale = math.sqrt(self.REFERENCE_PIXELS / (h * w))
        if scale < 1:
            rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        self.rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        self.weight = float(weight)

    def __call__(self, ab: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
        ref = torch.from_numpy(reinhard_ab(L.numpy(), self.rgb))
        return (1.0 - self.weight) * ab + self.weight * ref


@dataclass
class FrameColorizer:
    """Colours a batch of decoded frames: the model half, then reference colours and the stabiliser at
    the model's resolution, then the full-resolution join with each frame's own L."""

    session: Session
    reference: ReferenceColours | None = None
    stabilizer: TemporalStabilizer | None = None

    def __call__(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]:
        """uint8 RGB frames (H, W, 3) of one size -> colorized uint8 RGB frames, in order."""
        Ls = [torch.from_numpy(luminance(rgb)) for rgb in frames]
        out = []
        for L, (ab, L_guide) in zip(Ls, predict_frames(self.session, Ls), strict=True):
            ab = self.reference(ab, L_guide) if self.reference else ab
            ab = self.stabilizer(ab, L_guide) if self.stabilizer else ab
            out.append(join_full_resolution(L, ab, L_guide, fused=True))  # a film: numba's load pays off
        return out


def _job(session: Session, src: Path, **settings: Any) -> dict[str, Any]:
    """Everything the chunks depend on: a work folder made with other settings is not reused."""
    st = src.stat()
    return {
        "format": _FORMAT_VERSION,
        "src": str(src.resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "model": session.name,
        "working_size": session.working_size,
        **settings,
    }


def _reference_digest(reference: str | Path | np.ndarray | None) -> str | None:
    if reference is None:
        return None
    data = Path(reference).read_bytes() if isinstance(reference, (str, Path)) else np.ascontiguousarray(reference)
    return hashlib.sha256(data).hexdigest()[:16]


def _write_chunk(
    work: Path,
    i: int,
    frames: Iterator[tuple[int, np.ndarray]],
    n_max: int,
    batch_size: int,
    colour: FrameColorizer,
    writer: Callable[[Path], ChunkWriter],
    origin: int | None,
    bar: Any,
) -> dict[str, np.ndarray] | None:
    """Colorize up to ``n_max`` frames from ``frames`` into chunk ``i`` and commit it (None: no frames left).

    Commit order: the metadata (with the stabiliser's state after the chunk's last frame) is
    written, then the video is renamed into place; a chunk counts as finished once its video
    exists. An interruption leaves no partial file behind.
    """
    video_path, meta_path = chunk_paths(work, i)
    tmp = video_path.with_name(video_path.name + ".tmp")
    out, n, first_pts, last_pts = None, 0, 0, 0
    try:
        while n < n_max and (batch := list(islice(frames, min(batch_size, n_max - n)))):
            if out is None:
                out, first_pts = writer(tmp), batch[0][0]
                origin = first_pts if origin is None else origin
            for (pts, _), rgb in zip(batch, colour([rgb for _, rgb in batch]), strict=True):
                out.write(rgb, pts - first_pts)
                last_pts = pts
            n += len(batch)
            bar.update(len(batch))
        if out is None:
            return None
        out.close()
        meta = {
            "frames": np.array(n),
            "origin": np.array(origin),
            "out_pts": np.array(first_pts - origin),
            "last_pts": np.array(last_pts),
            **(colour.stabilizer.state() if colour.stabilizer else {}),
        }
        save_meta(meta_path, meta)
        os.replace(tmp, video_path)
        return meta
    except BaseException:
        if out is not None:
            out.abort()
        raise


def _check_arguments(src: Path, dst: Path, start: float | None, end: float | None, chunk_frames: int) -> None:
    if dst.resolve() == src.resolve():
        raise ValueError(f"refusing to overwrite the input {src}")
    for name, t in (("start", start), ("end", end)):
        if t is not None and not math.isfinite(t):
            raise ValueError(f"{name} must be a finite number of seconds, got {t}")
    if start is not None and start < 0:
        raise ValueError("start must be >= 0 seconds")
    if end is not None and end <= (start or 0.0):
        raise ValueError("end must be after start")
    if chunk_frames < 1:
        raise ValueError("chunk_frames must be >= 1")
    if dst.suffix.lower() not in MUXERS:
        raise ValueError(f"output must be one of {', '.join(MUXERS)}, not {dst.name}")


def _ended_early(src: Path, work: Path, metas: list[dict[str, Any]], declared: int, accept: bool) -> bool:
    """True when fewer frames were read than the header ``declared`` (beyond one frame or 1 %); without
    ``accept``, that is an ImageError with both counts, and the work folder is removed (nothing written)."""
    read = int(sum(int(m["frames"]) for m in metas))
    early = bool(declared) and read < declared - max(1, declared // 100)
    if early and not accept:
        shutil.rmtree(work, ignore_errors=True)
        raise ImageError(
            f"{src.name}: the input ended early: {read} of the {declared} frames its header declares were read "
            "(truncated file?); nothing written; rerun with --accept-truncated to keep what was read"
        )
    return early


def colorize_video(
    session: Session,
    src: str | Path,
    dst: str | Path,
    *,
    start: float | None = None,
    end: float | None = None,
    stabilize: bool = True,
    crf: int = 18,
    preset: str = "medium",
    codec: str = "libx264",
    progress: bool = True,
    chunk_frames: int = 300,
    batch_size: int | None = None,
    reference: str | Path | np.ndarray | None = None,
    reference_weight: float = 0.5,
    stabilizer: TemporalStabilizer | None = None,
    accept_truncated: bool = False,
) -> dict[str, Any]:
    """Colorize the video ``src`` into ``dst`` (H.264 in mp4 by default); returns statistics.

    * Same frame size, frame timestamps (rate, duration) as the source; its first audio stream is
      copied (AAC re-encode with a warning where the codec cannot go into ``dst``'s container).
    * ``start``/``end`` (seconds from the first frame) colorize a part; the audio is cut to match
      (at packet boundaries) and the output starts at 0.
    * ``stabilize``: temporal smoothing along motion with scene-cut resets (``stabilizer`` to tune it).
    * ``crf``/``preset``/``codec``: the encoder (x264's quality scale: lower is better, 18 is
      visually lossless for most material).
    * ``chunk_frames``: frames per committed chunk in ``.{dst.name}.parts/`` beside ``dst``; a run
      interrupted and started again with the same arguments resumes after the last finished chunk.
    * ``batch_size``: frames per model call (default 16 on CUDA, with bf16 autocast; 1 on CPU).
    * ``reference``: a colour image (path or RGB array) whose Reinhard colour statistics are
      mixed into every frame's prediction with ``reference_weight``.

    A source that ends early (fewer frames read than its header declares, beyond one frame or 1 %:
    a truncated file) is an ImageError saying both counts, and nothing is written, unless
    ``accept_truncated``: then the frames read are kept (``stats["truncated"]`` says so).

    Raises ImageError for an unreadable source (one line), a truncated one, or an empty [start, end)
    range, and ValueError for bad arguments. The statistics: frames, frames_computed, chunks,
    chunks_reused, cuts, audio ("copy", "aac" or None), seconds, fps (frames computed per second),
    width, height, rate, dst.
    """
    t_begin = time.perf_counter()
    src, dst = Path(src), Path(dst)
    _check_arguments(src, dst, start, end, chunk_frames)
    info = probe_video(src)
    ref = ReferenceColours(reference, reference_weight) if reference is not None else None
    stab = (stabilizer or TemporalStabilizer()) if stabilize else None
    job = _job(
        session,
        src,
        start=start,
        end=end,
        stabilize=stabilize,
        stabilizer=repr(stab),
        crf=crf,
        preset=preset,
        codec=codec,
        chunk_frames=chunk_frames,
        reference=_reference_digest(reference) if ref else None,
        reference_weight=reference_weight if ref else None,
    )
    dst.parent.mkdir(parents=True, exist_ok=True)
    work = dst.with_name(f".{dst.name}.parts")
    metas = prepare_work(work, job)
    if stab is not None:
        stab.reset()
        if metas:
            stab.load_state(metas[-1])
    reused = len(metas)
    done = int(sum(int(m["frames"]) for m in metas))
    origin = int(metas[0]["origin"]) if metas else None  # source pts of the output's first frame
    frames = read_frames(src, start, end, after_pts=int(metas[-1]["last_pts"]) if metas else None)
    writer = lambda path: ChunkWriter(path, info, codec, crf, preset)  # noqa: E731
    colour = FrameColorizer(session, ref, stab)
    bs = batch_size or default_batch_size(session)

    from tqdm import tqdm

    bar = tqdm(
        total=info.expected_frames(start, end) or None,
        initial=done,
        unit="frame",
        disable=not progress,
        dynamic_ncols=True,
        file=sys.stderr,
        desc=src.name,
    )
    try:
        while meta := _write_chunk(work, len(metas), frames, chunk_frames, bs, colour, writer, origin, bar):
            metas.append(meta)
            origin = int(meta["origin"])
            if int(meta["frames"]) < chunk_frames:
                break
    finally:
        bar.close()
        frames.close()
    if not metas:
        shutil.rmtree(work, ignore_errors=True)
        raise ImageError(f"no video frames in {src.name}" + (" in the selected range" if start or end else ""))
    truncated = _ended_early(src, work, metas, info.expected_frames(start, end), accept_truncated)
    tb = info.time_base
    t0 = float(origin * tb)  # the output's zero, on the source's timeline
    hi = None if end is None else float(int(metas[-1]["last_pts"]) * tb + 1 / info.rate)
    audio = assemble(src, dst, work, metas, t0, t0 if start else None, hi)
    shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - t_begin
    total = int(sum(int(m["frames"]) for m in metas))
    stats = {"frames": total, "frames_computed": total - done, "chunks": len(metas), "chunks_reused": reused}
    stats.update(cuts=stab.cuts if stab else 0, audio=audio, seconds=seconds, truncated=truncated)
    stats["fps"] = (total - done) / seconds if seconds > 0 else 0.0
    stats.update(width=info.width, height=info.height, rate=float(info.rate), dst=str(dst))
    return stats
