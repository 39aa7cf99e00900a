"""Video and legacy film: colorize a video file frame by frame, stable in time, audio kept.

    source --PyAV--> frame -> L (full resolution)
        -> model at the working size (:func:`predict_lowres_batch`; batched, bf16 on CUDA)
        -> :class:`TemporalStabilizer` on the low-resolution ab (optical flow, occlusion-aware
           confidence, scene cuts)
        -> :func:`tinct.pipeline.join_full_resolution` (guided upsampling, the ORIGINAL L kept)
        -> H.264 chunks in ``.{dst.name}.parts/`` -> remuxed with the source's audio into ``dst``

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
  :class:`tinct.io.ImageError` with a one-line message.

Flicker is measured by :func:`flicker` / :class:`FlickerMeter`, and :func:`evaluate_video` runs a
colour video through the model with and without stabilisation for ``tinct eval``.
"""

from __future__ import annotations

import copy
import hashlib
import heapq
import json
import math
import os
import shutil
import sys
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import cv2
import numpy as np
import torch
import torch.nn.functional as F
from av.video.reformatter import ColorRange, Colorspace

from tinct.batch import VIDEO_EXTENSIONS  # one list for the CLI's folder scan and this module
from tinct.core.color import lab_to_rgb8, luminance, normalize_l, rgb_to_lab
from tinct.core.metrics import psnr as psnr_rgb8
from tinct.core.pipeline import AbPredictor, join_full_resolution, predict_padded, resize_l, working_shape
from tinct.io import ImageError, read_image

if TYPE_CHECKING:
    from tinct.api import Session

#: file extensions the CLI should send to :func:`colorize_video` rather than the image path
#: luminance change (L units) under which a pixel counts as static for the flicker metric
STATIC_THRESHOLD = 2.0
#: frames per model batch on CUDA when ``batch_size`` is not given (the CPU path uses 1)
CUDA_BATCH = 16
_COLOUR_TAGS = {"colorspace": 1, "color_primaries": 1, "color_trc": 1, "color_range": 1}  # BT.709, limited range
_FORMAT_VERSION = 1  # of the work folder's job.json and chunk files


# ---------------------------------------------------------------------------------------------
# reading


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learns from a file's header (no frame decoded).

    ``time_base`` is the video stream's; ``origin`` the pts of its first frame (0 if unknown);
    ``frames`` the frame count the container states (0 if it does not); ``duration`` seconds.
    """

    width: int
    height: int
    rate: Fraction
    time_base: Fraction
    origin: int
    frames: int
    duration: float
    codec: str
    audio_codec: str | None

    def expected_frames(self, start: float | None = None, end: float | None = None) -> int:
        """Frames expected in [start, end) seconds (for the progress bar; 0 when unknown)."""
        if start is None and end is None:
            return self.frames or round(self.duration * self.rate)
        t1 = self.duration if end is None else (min(end, self.duration) if self.duration else end)
        return max(0, math.ceil((t1 - (start or 0.0)) * self.rate))


def _one_line(e: BaseException) -> str:
    msg = str(e).strip().splitlines()
    return msg[0] if msg else type(e).__name__


def _open(path: Path) -> av.container.InputContainer:
    """Open ``path`` for reading; every failure is an ImageError with a one-line message."""
    if not path.exists():
        raise ImageError(f"file not found: {path}")
    if path.is_dir():
        raise ImageError(f"is a directory, not a video: {path}")
    if path.stat().st_size == 0:
        raise ImageError(f"empty file (0 bytes): {path.name}")
    try:
        c = av.open(str(path), "r")
    except (av.FFmpegError, OSError, ValueError) as e:
        raise ImageError(f"not a video file PyAV can read: {path.name} ({_one_line(e)})") from None
    if not c.streams.video:
        c.close()
        raise ImageError(f"no video stream in {path.name}")
    return c


def probe_video(path: str | Path) -> VideoInfo:
    """Read the header of a video file. Raises ImageError if it is not a readable video."""
    path = Path(path)
    with _open(path) as c:
        v = c.streams.video[0]
        cc = v.codec_context
        rate = v.average_rate or v.guessed_rate or v.base_rate
        if not rate or not cc.width or not cc.height:
            raise ImageError(f"video stream of {path.name} has no frame size or frame rate (corrupt?)")
        tb = v.time_base or Fraction(1, 1) / rate
        if v.duration:
            duration = float(v.duration * tb)
        elif c.duration:
            duration = c.duration / av.time_base
        else:
            duration = 0.0
        audio = c.streams.audio[0].codec_context.name if c.streams.audio else None
        return VideoInfo(
            width=cc.width,
            height=cc.height,
            rate=Fraction(rate),
            time_base=Fraction(tb),
            origin=v.start_time or 0,
            frames=v.frames or 0,
            duration=duration,
            codec=cc.name,
            audio_codec=audio,
        )


def read_frames(
    path: str | Path,
    start: float | None = None,
    end: float | None = None,
    after_pts: int | None = None,
    fmt: str = "rgb24",
) -> Iterator[tuple[int, np.ndarray]]:
    """Decoded frames ``(pts, pixels)`` of the first video stream, in presentation order.

    Only frames with ``start <= t < end`` are yielded, t in seconds from the stream's first frame;
    with ``after_pts``, only frames after that pts (resume). ``pixels`` is ``fmt`` as PyAV's
    ``to_ndarray`` gives it (H x W x 3 uint8 for rgb24). Seeks to the nearest keyframe before the
    first wanted frame and falls back to decoding from the start if the container seeks past it.
    Decoding errors are ImageErrors.
    """
    path = Path(path)
    info = probe_video(path)
    tb = info.time_base
    lo = info.origin + (math.ceil(start / tb - 1e-6) if start else 0)
    hi = None if end is None else info.origin + math.ceil(end / tb - 1e-6)
    if after_pts is not None:
        lo = max(lo, after_pts + 1)
    step = max(1, round(1 / (info.rate * tb)))  # nominal frame duration, for frames without pts
    with _open(path) as c:
        v = c.streams.video[0]
        v.thread_type = "AUTO"
        target = lo - 1 if lo > info.origin else None  # seek to a frame at or before the first wanted one

        def decoded() -> Iterator[av.VideoFrame]:
            if target is not None:
                try:
                    c.seek(target, stream=v, backward=True)
                    frames = c.decode(v)
                    first = next(frames, None)
                    if first is None or first.pts is None or first.pts <= target:
                        if first is not None:
                            yield first
                        yield from frames
                        return
                except av.FFmpegError:
                    pass
                c.seek(0)  # the container seeked past the target (or cannot seek): from the start
            yield from c.decode(v)

        last = None
        try:
            for frame in decoded():
                pts = frame.pts if frame.pts is not None else (info.origin if last is None else last + step)
                last = pts
                if pts < lo:
                    continue
                if hi is not None and pts >= hi:
                    break
                yield pts, frame.to_ndarray(format=fmt)
        except av.FFmpegError as e:
            raise ImageError(f"cannot decode {path.name} (corrupt?): {_one_line(e)}") from None


# ---------------------------------------------------------------------------------------------
# the model, batched


_AMP_MODELS: weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module] = weakref.WeakKeyDictionary()


def batch_predictor(session: Session, amp: bool | None = None) -> AbPredictor:
    """The session's model as an :data:`~tinct.pipeline.AbPredictor` for batches (B, 1, h, w).

    With ``amp`` (default: on CUDA) it runs under bf16 autocast. Autocast needs fp32 parameters
    (batch norm takes bf16 activations only with fp32 weights), and :func:`tinct.api.load_model`
    puts the model in fp16 on CUDA, so an fp32 copy is made once per model for this path.
    """
    model = session.model
    amp = session.device.type == "cuda" if amp is None else amp
    if amp and next(model.parameters()).dtype != torch.float32:
        if model not in _AMP_MODELS:
            _AMP_MODELS[model] = copy.deepcopy(model).float().eval()
        model = _AMP_MODELS[model]
    dtype = next(model.parameters()).dtype

    def predict(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(session.device.type, dtype=torch.bfloat16, enabled=amp):
            return model.predict_ab(x.to(dtype)).float()

    return predict


@torch.inference_mode()
def predict_lowres_batch(
    session: Session, Ls: Sequence[torch.Tensor], amp: bool | None = None
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """:meth:`Session.predict_lowres` for several frames of one size at once.

    Returns one ``(ab (2, h, w), L_guide (h, w))`` per frame, as ``predict_lowres`` would (up to
    float rounding of batched kernels, and bf16 under ``amp``, default on CUDA). A single frame
    without ``amp`` goes through ``session.predict_lowres`` itself; batches bypass the session's
    lock, so do not share a session between threads while a video runs on it.
    """
    amp = session.device.type == "cuda" if amp is None else amp
    if len(Ls) == 1 and not amp:
        return [session.predict_lowres(Ls[0])]
    shape = working_shape(*Ls[0].shape, session.working_size)
    L_small = torch.cat([resize_l(L, shape) for L in Ls])
    x = normalize_l(L_small).to(session.device)
    ab = predict_padded(batch_predictor(session, amp), x, session.model.multiple).float().cpu()
    L_guide = F.interpolate(L_small, size=ab.shape[-2:], mode="area")[:, 0]
    return list(zip(ab, L_guide, strict=True))


def _batches(it: Iterable[Any], n: int) -> Iterator[list[Any]]:
    it = iter(it)
    while batch := list(islice(it, n)):
        yield batch


# ---------------------------------------------------------------------------------------------
# temporal consistency


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense optical flow (Farneback) from uint8 image ``a`` to ``b``: (h, w, 2), a(x) ~ b(x + f(x))."""
    levels = max(0, min(3, int(math.log2(max(1, min(a.shape) // 8)))))
    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, levels, 9, 3, 5, 1.1, 0)


def _remap(x: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    return cv2.remap(x, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@dataclass
class TemporalStabilizer:
    """Smooths predicted chroma along motion; resets at scene cuts. Works at the model's resolution.

    For frame t with prediction ``ab_pred`` and low-resolution L:

        ab_t = a(x) * warp(ab_{t-1})(x) + (1 - a(x)) * ab_pred(x),   a(x) = alpha * c(x)

    ``warp`` follows the optical flow from frame t to t-1 (Farneback on L). The confidence c in
    [0, 1] is the product of exp(-e^2 / 2 flow_sigma^2), with e the forward-backward flow error in
    pixels, and exp(-d^2 / 2 l_sigma^2), with d the difference between L and the warped previous
    L (both fail at occlusions and disocclusions); it is 0 where the flow leaves the frame. A
    scene cut (total-variation distance between the two frames' L histograms above
    ``cut_threshold``) resets the state: ab_t = ab_pred, so colour may change at cuts.
    """

    alpha: float = 0.8
    flow_sigma: float = 1.0
    l_sigma: float = 4.0
    cut_threshold: float = 0.3
    bins: int = 32
    cuts: int = field(default=0, repr=False)  #: scene cuts seen so far
    _L: np.ndarray | None = field(default=None, repr=False)
    _ab: np.ndarray | None = field(default=None, repr=False)

    def reset(self) -> None:
        """Forget the previous frame and the cut count (a new video)."""
        self._L = self._ab = None
        self.cuts = 0

    def state(self) -> dict[str, np.ndarray]:
        """The state to carry over (e.g. across chunk boundaries): previous L, ab and the cut count."""
        empty = np.zeros((0,), np.float32)
        return {
            "L": empty if self._L is None else self._L,
            "ab": empty if self._ab is None else self._ab,
            "cuts": np.array(self.cuts),
        }

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`state`."""
        L, ab = np.asarray(state["L"], np.float32), np.asarray(state["ab"], np.float32)
        self._L, self._ab = (L, ab) if L.size else (None, None)
        self.cuts = int(state["cuts"])

    def is_cut(self, L_prev: np.ndarray, L: np.ndarray) -> bool:
        """True if the L histograms of two frames differ by more than ``cut_threshold`` (TV distance)."""
        h0 = np.histogram(L_prev, self.bins, (0.0, 100.0))[0] / L_prev.size
        h1 = np.histogram(L, self.bins, (0.0, 100.0))[0] / L.size
        return 0.5 * float(np.abs(h0 - h1).sum()) > self.cut_threshold

    def confidence(self, L_prev: np.ndarray, L: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(c (h, w), map_x, map_y): per-pixel confidence of the warp from the previous frame, and the warp."""
        h, w = L.shape
        u8 = [np.clip(x * 2.55 + 0.5, 0, 255).astype(np.uint8) for x in (L, L_prev)]
        back = _flow(u8[0], u8[1])  # current -> previous
        fwd = _flow(u8[1], u8[0])  # previous -> current
        gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
        mx, my = gx + back[..., 0], gy + back[..., 1]
        err = np.linalg.norm(back + _remap(fwd, mx, my), axis=-1)
        d = L - _remap(L_prev, mx, my)
        c = np.exp(-0.5 * (err / self.flow_sigma) ** 2 - 0.5 * (d / self.l_sigma) ** 2)
        c *= (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        return c.astype(np.float32), mx, my

    def __call__(self, ab: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
        """Stabilised ab (2, h, w) for this frame's prediction ``ab`` and its L (h, w)."""
        L_np = L.numpy().astype(np.float32, copy=True)
        ab_np = ab.numpy().astype(np.float32, copy=True)
        prev_ok = self._L is not None and self._L.shape == L_np.shape
        if prev_ok and self.is_cut(self._L, L_np):
            self.cuts += 1
            prev_ok = False
        if prev_ok:
            c, mx, my = self.confidence(self._L, L_np)
            warped = _remap(np.ascontiguousarray(self._ab.transpose(1, 2, 0)), mx, my).transpose(2, 0, 1)
            a = self.alpha * c
            ab_np = a * warped + (1.0 - a) * ab_np
        self._L, self._ab = L_np, ab_np
        return torch.from_numpy(ab_np.copy())


class _ReferenceColours:
    """Mixes the colours of a reference image into every frame's predicted ab (at the model's resolution).

    ab = (1 - weight) * ab_model + weight * reinhard_ab(L, reference): the reference's a, b means
    and spreads, laid along the frame's own L (see :func:`tinct.guided.reinhard_ab`).
    """

    REFERENCE_PIXELS = 1 << 16  #: the reference is reduced to this size once; its statistics need no more

    def __init__(self, reference: str | Path | np.ndarray, weight: float):
        from tinct.guided import reinhard_ab  # optional: another part of tinct

        self._reinhard = reinhard_ab
        rgb = read_image(reference).pixels if isinstance(reference, (str, Path)) else np.asarray(reference)
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError("the reference must be a colour (RGB) image")
        if rgb.dtype == np.uint16:
            rgb = (rgb >> 8).astype(np.uint8)
        h, w = rgb.shape[:2]
        scale = math.sqrt(self.REFERENCE_PIXELS / (h * w))
        if scale < 1:
            rgb = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        self.rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
        self.weight = float(weight)

    def __call__(self, ab: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
        ref = torch.from_numpy(self._reinhard(L.numpy(), self.rgb))
        return (1.0 - self.weight) * ab + self.weight * ref


def _reference(reference: str | Path | np.ndarray | None, weight: float) -> _ReferenceColours | None:
    if reference is None:
        return None
    try:
        return _ReferenceColours(reference, weight)
    except ImportError:
        warnings.warn("tinct.guided is not available: the reference is ignored", stacklevel=3)
        return None


# ---------------------------------------------------------------------------------------------
# writing


def _encoder_options(codec: str, crf: int, preset: str) -> dict[str, str]:
    """Encoder options for the quality setting.

    x264 is made deterministic: with its macroblock-tree rate control and threaded lookahead, the
    same frames encoded twice in this pipeline (frames arriving between model calls) gave
    different bytes, even with one thread. Without them, the same frames always give the same
    bytes, so a resumed run writes the same file as an uninterrupted one. CRF still sets the quality.
    """
    if codec == "libx264":
        return {"crf": str(crf), "preset": str(preset), "x264-params": "mbtree=0:sync-lookahead=0"}
    if codec in ("libx265", "libsvtav1"):
        return {"crf": str(crf), "preset": str(preset)}
    return {}


class _ChunkWriter:
    """Encodes RGB frames into one chunk file (mp4), timestamps relative to its first frame."""

    def __init__(self, path: Path, info: VideoInfo, codec: str, crf: int, preset: str):
        self.path = path
        self.out = av.open(str(path), "w", format="mp4")
        try:
            s = self.out.add_stream(codec, rate=info.rate, options=_encoder_options(codec, crf, preset))
        except (av.FFmpegError, ValueError) as e:
            self.out.close()
            raise ValueError(f"cannot use video codec {codec!r}: {_one_line(e)}") from None
        s.width, s.height = info.width, info.height
        even = info.width % 2 == 0 and info.height % 2 == 0
        s.pix_fmt = "yuv420p" if even else "yuv444p"  # 4:2:0 needs even sizes; keep the size exactly
        s.time_base = info.time_base
        s.codec_context.time_base = info.time_base
        for k, val in _COLOUR_TAGS.items():
            setattr(s.codec_context, k, val)
        self.stream = s

    def write(self, rgb: np.ndarray, pts: int) -> None:
        f = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format=self.stream.pix_fmt, dst_colorspace=Colorspace.ITU709, dst_color_range=ColorRange.MPEG
        )
        f.pts, f.time_base = pts, self.stream.codec_context.time_base
        self.out.mux(self.stream.encode(f))

    def close(self) -> None:
        """Flush the encoder and close the file."""
        try:
            self.out.mux(self.stream.encode(None))
        finally:
            self.out.close()

    def abort(self) -> None:
        """Close (if still open) and delete the file."""
        try:
            self.out.close()
        except (av.FFmpegError, ValueError):
            pass
        self.path.unlink(missing_ok=True)


def _chunk_paths(work: Path, i: int) -> tuple[Path, Path]:
    return work / f"chunk_{i:05d}.mp4", work / f"chunk_{i:05d}.npz"


def _load_chunks(work: Path) -> list[dict[str, Any]]:
    """Metadata of the finished chunks 0..k-1 (a chunk is finished when its video and npz exist)."""
    metas = []
    for i in range(10**6):
        video, meta = _chunk_paths(work, i)
        if not (video.is_file() and meta.is_file()):
            break
        try:
            with np.load(meta) as z:
                metas.append({k: z[k] for k in z.files})
        except (OSError, ValueError):
            break
    return metas


def _prepare_work(work: Path, job: dict[str, Any]) -> list[dict[str, Any]]:
    """Create or reuse the work folder for ``job``; returns the finished chunks' metadata."""
    job_file = work / "job.json"
    if work.is_dir():
        try:
            same = json.loads(job_file.read_text()) == job
        except (OSError, ValueError):
            same = False
        if same:
            return _load_chunks(work)
        warnings.warn(f"discarding unfinished work in {work} (made with other settings)", stacklevel=3)
        shutil.rmtree(work)
    work.mkdir(parents=True)
    job_file.write_text(json.dumps(job))
    return []


def _save_meta(path: Path, meta: dict[str, np.ndarray]) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **meta)
    os.replace(tmp, path)


def _chunk_packets(work: Path, metas: list[dict[str, Any]], stream: av.video.stream.VideoStream) -> Iterator[av.Packet]:
    """Packets of all chunks in order, as packets of ``stream``, timestamps moved to output time."""
    for i, meta in enumerate(metas):
        offset = int(meta["out_pts"])
        with av.open(str(_chunk_paths(work, i)[0])) as c:
            for p in c.demux(c.streams.video[0]):
                if p.dts is None or not p.size:
                    continue
                p.pts = None if p.pts is None else p.pts + offset
                p.dts += offset
                p.stream = stream
                yield p


def _audio_packets(
    a: av.audio.stream.AudioStream,
    out: av.audio.stream.AudioStream,
    copy_audio: bool,
    t0: float,
    lo: float | None,
    hi: float | None,
) -> Iterator[av.Packet]:
    """Packets of ``out`` from the source audio stream ``a`` over [lo, hi) seconds, moved by -t0 seconds.

    Copied packet for packet (``copy_audio``), or decoded and re-encoded by ``out``'s encoder. A packet is
    kept when it overlaps [lo, hi); a bound of None is open.
    """
    c, tb = a.container, a.time_base
    shift = round(t0 / tb)
    if lo is not None and lo > 0:
        c.seek(max(0, math.floor((lo - 1.0) / tb)), stream=a, backward=True)
    rate = out.codec_context.sample_rate
    for p in c.demux(a):
        if p.dts is None:
            continue
        begin = (p.pts if p.pts is not None else p.dts) * tb
        if hi is not None and begin >= hi:
            break
        if lo is not None and begin + (p.duration or 0) * tb <= lo:
            continue
        if not copy_audio:
            for frame in p.decode():
                frame.pts = None if frame.pts is None else round((frame.pts * tb - t0) * rate)
                frame.time_base = Fraction(1, rate)
                yield from out.encode(frame)
        elif p.size:
            p.pts = None if p.pts is None else p.pts - shift
            p.dts -= shift
            p.stream = out
            yield p
    if not copy_audio:
        yield from out.encode(None)


#: output containers by extension (H.264 and the copied audio go into each)
MUXERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


def _open_output(path: Path, template: Path, a: av.audio.stream.AudioStream | None, copy_audio: bool):
    """Output container with a video stream like the chunks' and the audio stream (copied or AAC)."""
    fmt = MUXERS[path.suffix.lower()]
    out = av.open(str(path), "w", format=fmt, options={"movflags": "+faststart"} if fmt in ("mp4", "mov") else None)
    try:
        with av.open(str(template)) as t:
            vs = out.add_stream_from_template(t.streams.video[0])
        aus = None
        if a is not None and copy_audio:
            aus = out.add_stream_from_template(a)
        elif a is not None:
            aus = out.add_stream("aac", rate=a.codec_context.sample_rate or 48000)
            layout = a.codec_context.layout  # "N channels" (no order, e.g. from AVI): the default order for N
            aus.layout = av.AudioLayout(f"{len(layout.channels)}c") if layout.name.endswith("channels") else layout
        out.start_encoding()
    except BaseException:
        out.close()
        raise
    return out, vs, aus


def _assemble(
    src: Path, dst: Path, work: Path, metas: list[dict[str, Any]], t0: float, lo: float | None, hi: float | None
) -> str | None:
    """Remux the chunk files (no re-encode) with the source's audio into ``dst``, atomically.

    Audio: see :func:`_audio_packets`. Returns "copy", "aac" (re-encoded, with a warning: the codec
    cannot go into ``dst``'s container) or None (no audio).
    """
    tmp = dst.with_name(f".{dst.stem}.tinct-tmp-{os.getpid()}{dst.suffix}")
    try:
        with _open(src) as c:
            a = c.streams.audio[0] if c.streams.audio else None
            copy_audio = a is not None
            try:
                out, vs, aus = _open_output(tmp, _chunk_paths(work, 0)[0], a, copy_audio)
            except (av.FFmpegError, ValueError) as e:  # the muxer refuses the codec (ValueError) or its header
                if a is None:
                    raise
                warnings.warn(
                    f"audio codec {a.codec_context.name} cannot go into {dst.suffix} ({_one_line(e)}): "
                    "re-encoding to AAC",
                    stacklevel=3,
                )
                copy_audio = False
                out, vs, aus = _open_output(tmp, _chunk_paths(work, 0)[0], a, copy_audio)
            with out:
                audio = _audio_packets(a, aus, copy_audio, t0, lo, hi) if a is not None else iter(())
                for p in heapq.merge(_chunk_packets(work, metas, vs), audio, key=lambda p: p.dts * p.time_base):
                    out.mux(p)
        os.replace(tmp, dst)
    except av.FFmpegError as e:
        raise ImageError(f"cannot write {dst.name}: {_one_line(e)}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return None if a is None else ("copy" if copy_audio else "aac")


# ---------------------------------------------------------------------------------------------
# colorize a video file


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
    session: Session,
    ref: _ReferenceColours | None,
    stab: TemporalStabilizer | None,
    writer: Callable[[Path], _ChunkWriter],
    origin: int | None,
    bar: Any,
) -> dict[str, np.ndarray] | None:
    """Colorize up to ``n_max`` frames from ``frames`` into chunk ``i`` and commit it (None: no frames left).

    Commit order: the metadata (with the stabiliser's state after the chunk's last frame) is
    written, then the video is renamed into place; a chunk counts as finished once its video
    exists. An interruption leaves no partial file behind.
    """
    video_path, meta_path = _chunk_paths(work, i)
    tmp = video_path.with_name(video_path.name + ".tmp")
    out, n, first_pts, last_pts = None, 0, 0, 0
    try:
        while n < n_max and (batch := list(islice(frames, min(batch_size, n_max - n)))):
            if out is None:
                out, first_pts = writer(tmp), batch[0][0]
                origin = first_pts if origin is None else origin
            Ls = [torch.from_numpy(luminance(rgb)) for _, rgb in batch]
            for (pts, _), L, (ab, L_guide) in zip(batch, Ls, predict_lowres_batch(session, Ls), strict=True):
                ab = ref(ab, L_guide) if ref else ab
                ab = stab(ab, L_guide) if stab else ab
                out.write(join_full_resolution(L, ab, L_guide), pts - first_pts)
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
            **(stab.state() if stab else {}),
        }
        _save_meta(meta_path, meta)
        os.replace(tmp, video_path)
        return meta
    except BaseException:
        if out is not None:
            out.abort()
        raise


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
      mixed into every frame's prediction with ``reference_weight`` (needs :mod:`tinct.guided`).

    Raises ImageError for an unreadable source (one line) or an empty [start, end) range, and
    ValueError for bad arguments. The statistics: frames, frames_computed, chunks,
    chunks_reused, cuts, audio ("copy", "aac" or None), seconds, fps (frames computed per second),
    width, height, rate, dst.
    """
    t_begin = time.perf_counter()
    src, dst = Path(src), Path(dst)
    if dst.resolve() == src.resolve():
        raise ValueError(f"refusing to overwrite the input {src}")
    if start is not None and start < 0:
        raise ValueError("start must be >= 0 seconds")
    if end is not None and end <= (start or 0.0):
        raise ValueError("end must be after start")
    if chunk_frames < 1:
        raise ValueError("chunk_frames must be >= 1")
    if dst.suffix.lower() not in MUXERS:
        raise ValueError(f"output must be one of {', '.join(MUXERS)}, not {dst.name}")
    info = probe_video(src)
    bs = batch_size or (CUDA_BATCH if session.device.type == "cuda" else 1)
    ref = _reference(reference, reference_weight)
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
    metas = _prepare_work(work, job)
    if stab is not None:
        stab.reset()
        if metas:
            stab.load_state(metas[-1])
    reused = len(metas)
    done = int(sum(int(m["frames"]) for m in metas))
    origin = int(metas[0]["origin"]) if metas else None  # source pts of the output's first frame
    frames = read_frames(src, start, end, after_pts=int(metas[-1]["last_pts"]) if metas else None)
    writer = lambda path: _ChunkWriter(path, info, codec, crf, preset)  # noqa: E731

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
        while meta := _write_chunk(work, len(metas), frames, chunk_frames, bs, session, ref, stab, writer, origin, bar):
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
    tb = info.time_base
    t0 = float(origin * tb)  # the output's zero, on the source's timeline
    hi = None if end is None else float(int(metas[-1]["last_pts"]) * tb + 1 / info.rate)
    audio = _assemble(src, dst, work, metas, t0, t0 if start else None, hi)
    shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - t_begin
    total = int(sum(int(m["frames"]) for m in metas))
    computed = total - done
    return {
        "frames": total,
        "frames_computed": computed,
        "chunks": len(metas),
        "chunks_reused": reused,
        "cuts": stab.cuts if stab else 0,
        "audio": audio,
        "seconds": seconds,
        "fps": computed / seconds if seconds > 0 else 0.0,
        "width": info.width,
        "height": info.height,
        "rate": float(info.rate),
        "dst": str(dst),
    }


# ---------------------------------------------------------------------------------------------
# flicker and evaluation


def _ab(rgb: np.ndarray) -> np.ndarray:
    """ab (2, H, W) float32 of a uint8 RGB image."""
    x = torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0)
    return rgb_to_lab(x)[1:].numpy()


class FlickerMeter:
    """Flicker of a frame sequence: mean |ab_t - ab_{t-1}| (Euclidean, Lab units) over static pixels.

    A pixel is static between two frames when the input luminance changes by less than
    ``static_threshold`` L units there; the caller passes that luminance with each frame (the
    truth's or the input's L, the same for the sequences it compares).
    """

    def __init__(self, static_threshold: float = STATIC_THRESHOLD):
        self.static_threshold = static_threshold
        self._prev: tuple[np.ndarray, np.ndarray] | None = None
        self._sum = 0.0
        self._static = 0
        self._pixels = 0

    def update(self, rgb: np.ndarray, L: np.ndarray) -> None:
        ab = _ab(rgb)
        if self._prev is not None:
            L0, ab0 = self._prev
            static = np.abs(L - L0) < self.static_threshold
            self._sum += float(np.sqrt(((ab - ab0) ** 2).sum(0))[static].sum())
            self._static += int(static.sum())
            self._pixels += static.size
        self._prev = (L, ab)

    @property
    def value(self) -> float:
        """Mean ab change per static pixel and frame pair (0 when no pixel was static)."""
        return self._sum / self._static if self._static else 0.0

    @property
    def static_fraction(self) -> float:
        return self._static / self._pixels if self._pixels else 0.0


def flicker(
    frames_rgb_iter: Iterable[np.ndarray],
    reference_frames_iter: Iterable[np.ndarray] | None = None,
    static_threshold: float = STATIC_THRESHOLD,
) -> dict[str, Any]:
    """Flicker of colorized frames (uint8 RGB, H x W x 3), beside the truth's when given.

    Static pixels are where the luminance (of the truth when given, else of the frames, which a
    colorizer keeps) changes by less than ``static_threshold`` between consecutive frames.
    Returns frames, flicker, static_fraction, and with the truth also flicker_truth, psnr (per
    frame, dB) and psnr_mean.
    """
    meter, truth_meter, psnr = FlickerMeter(static_threshold), FlickerMeter(static_threshold), []
    pairs = (
        zip(frames_rgb_iter, reference_frames_iter, strict=True)
        if reference_frames_iter is not None
        else ((f, None) for f in frames_rgb_iter)
    )
    n = 0
    for rgb, truth in pairs:
        L = luminance(truth if truth is not None else rgb)
        meter.update(rgb, L)
        if truth is not None:
            truth_meter.update(truth, L)
            psnr.append(psnr_rgb8(rgb, truth))
        n += 1
    out: dict[str, Any] = {"frames": n, "flicker": meter.value, "static_fraction": meter.static_fraction}
    if reference_frames_iter is not None:
        out.update(flicker_truth=truth_meter.value, psnr=psnr, psnr_mean=float(np.mean(psnr)) if psnr else 0.0)
    return out


def evaluate_video(
    session: Session,
    truth_video_path: str | Path,
    stabilize: bool = True,
    *,
    max_frames: int | None = None,
    batch_size: int | None = None,
    static_threshold: float = STATIC_THRESHOLD,
    stabilizer: TemporalStabilizer | None = None,
) -> dict[str, Any]:
    """Colorize the gray version (CIELAB L) of a colour video, with and without stabilisation; score both.

    The model runs once per frame; its prediction is joined as is ("raw") and, with
    ``stabilize``, after the :class:`TemporalStabilizer` ("stable"). Returns: frames, width,
    height, cuts, static_fraction, flicker_truth, flicker_raw, psnr_raw, psnr_gray (the input
    shown as gray, the baseline), and with ``stabilize`` flicker_stable, psnr_stable (mean PSNR
    over frames on 8-bit RGB, dB; flicker in Lab units per static pixel and frame).
    """
    bs = batch_size or (CUDA_BATCH if session.device.type == "cuda" else 1)
    stab = (stabilizer or TemporalStabilizer()) if stabilize else None
    if stab:
        stab.reset()
    meters = {k: FlickerMeter(static_threshold) for k in ("truth", "raw", "stable")}
    psnr: dict[str, list[float]] = {"raw": [], "stable": [], "gray": []}
    frames = islice(read_frames(truth_video_path), max_frames)
    n = 0
    for batch in _batches(frames, bs):
        Ls = [torch.from_numpy(luminance(rgb)) for _, rgb in batch]
        for (_, truth), L, (ab, L_guide) in zip(batch, Ls, predict_lowres_batch(session, Ls), strict=True):
            L_np = L.numpy()
            outputs = {"raw": join_full_resolution(L, ab, L_guide), "gray": lab_to_rgb8(L, torch.zeros(2, *L.shape))}
            if stab:
                outputs["stable"] = join_full_resolution(L, stab(ab, L_guide), L_guide)
            meters["truth"].update(truth, L_np)
            for k, rgb in outputs.items():
                psnr[k].append(psnr_rgb8(np.asarray(rgb), truth))
                if k in meters:
                    meters[k].update(rgb, L_np)
            n += 1
    if n == 0:
        raise ImageError(f"no video frames in {Path(truth_video_path).name}")
    info = probe_video(truth_video_path)
    out: dict[str, Any] = {
        "frames": n,
        "width": info.width,
        "height": info.height,
        "cuts": stab.cuts if stab else 0,
        "static_fraction": meters["truth"].static_fraction,
        "flicker_truth": meters["truth"].value,
    }
    for k in ("raw", "stable", "gray"):
        if psnr[k]:
            out[f"psnr_{k}"] = float(np.mean(psnr[k]))
            if k != "gray":
                out[f"flicker_{k}"] = meters[k].value
    return out


def is_video(path: str | Path) -> bool:
    """True for a file name with a video extension (:data:`VIDEO_EXTENSIONS`)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS
