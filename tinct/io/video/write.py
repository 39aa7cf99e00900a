"""Writing video (PyAV): H.264 chunks committed one by one in a work folder, then remuxed with the
source's audio into the output, atomically.

:class:`ChunkWriter` encodes RGB frames into one chunk file; :func:`prepare_work`,
:func:`load_chunks` and :func:`save_meta` keep the work folder (``job.json``, ``chunk_NNNNN.mp4`` and
its ``.npz`` metadata), so an interrupted run resumes after its last finished chunk;
:func:`assemble` remuxes the chunks (no re-encode) with the source's first audio stream, copied
packet for packet (AAC re-encode, with a warning, only where the codec cannot go into the container).
"""

from __future__ import annotations

import heapq
import json
import math
import os
import shutil
import warnings
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace

from tinct.io.errors import ImageError, one_line
from tinct.io.video.read import VideoInfo, open_video

_COLOUR_TAGS = {"colorspace": 1, "color_primaries": 1, "color_trc": 1, "color_range": 1}  # BT.709, limited range


def encoder_options(codec: str, crf: int, preset: str) -> dict[str, str]:
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


class ChunkWriter:
    """Encodes RGB frames into one chunk file (mp4), timestamps relative to its first frame."""

    def __init__(self, path: Path, info: VideoInfo, codec: str, crf: int, preset: str):
        self.path = path
        self.out = av.open(str(path), "w", format="mp4")
        try:
            s = self.out.add_stream(codec, rate=info.rate, options=encoder_options(codec, crf, preset))
        except (av.FFmpegError, ValueError) as e:
            self.out.close()
            raise ValueError(f"cannot use video codec {codec!r}: {one_line(e)}") from None
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


def chunk_paths(work: Path, i: int) -> tuple[Path, Path]:
    """Chunk ``i``'s video and metadata files in the work folder."""
    return work / f"chunk_{i:05d}.mp4", work / f"chunk_{i:05d}.npz"


def load_chunks(work: Path) -> list[dict[str, Any]]:
    """Metadata of the finished chunks 0..k-1 (a chunk is finished when its video and npz exist)."""
    metas = []
    for i in range(10**6):
        video, meta = chunk_paths(work, i)
        if not (video.is_file() and meta.is_file()):
            break
        try:
            with np.load(meta) as z:
                metas.append({k: z[k] for k in z.files})
        except (OSError, ValueError):
            break
    return metas


def prepare_work(work: Path, job: dict[str, Any]) -> list[dict[str, Any]]:
    """Create or reuse the work folder for ``job``; returns the finished chunks' metadata."""
    job_file = work / "job.json"
    if work.is_dir():
        try:
            same = json.loads(job_file.read_text()) == job
        except (OSError, ValueError):
            same = False
        if same:
            return load_chunks(work)
        warnings.warn(f"discarding unfinished work in {work} (made with other settings)", stacklevel=3)
        shutil.rmtree(work)
    work.mkdir(parents=True)
    job_file.write_text(json.dumps(job))
    return []


def save_meta(path: Path, meta: dict[str, np.ndarray]) -> None:
    """Write a chunk's metadata (numpy arrays) atomically."""
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **meta)
    os.replace(tmp, path)


def chunk_packets(work: Path, metas: list[dict[str, Any]], stream: av.video.stream.VideoStream) -> Iterator[av.Packet]:
    """Packets of all chunks in order, as packets of ``stream``, timestamps moved to output time."""
    for i, meta in enumerate(metas):
        offset = int(meta["out_pts"])
        with av.open(str(chunk_paths(work, i)[0])) as c:
            for p in c.demux(c.streams.video[0]):
                if p.dts is None or not p.size:
                    continue
                p.pts = None if p.pts is None else p.pts + offset
                p.dts += offset
                p.stream = stream
                yield p


def audio_packets(
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


def open_output(path: Path, template: Path, a: av.audio.stream.AudioStream | None, copy_audio: bool):
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


def assemble(
    src: Path, dst: Path, work: Path, metas: list[dict[str, Any]], t0: float, lo: float | None, hi: float | None
) -> str | None:
    """Remux the chunk files (no re-encode) with the source's audio into ``dst``, atomically.

    Audio: see :func:`_audio_packets`. Returns "copy", "aac" (re-encoded, with a warning: the codec
    cannot go into ``dst``'s container) or None (no audio).
    """
    tmp = dst.with_name(f".{dst.stem}.tinct-tmp-{os.getpid()}{dst.suffix}")
    try:
        with open_video(src) as c:
            a = c.streams.audio[0] if c.streams.audio else None
            copy_audio = a is not None
            try:
                out, vs, aus = open_output(tmp, chunk_paths(work, 0)[0], a, copy_audio)
            except (av.FFmpegError, ValueError) as e:  # the muxer refuses the codec (ValueError) or its header
                if a is None:
                    raise
                warnings.warn(
                    f"audio codec {a.codec_context.name} cannot go into {dst.suffix} ({one_line(e)}): "
                    "re-encoding to AAC",
                    stacklevel=3,
                )
                copy_audio = False
                out, vs, aus = open_output(tmp, chunk_paths(work, 0)[0], a, copy_audio)
            with out:
                audio = audio_packets(a, aus, copy_audio, t0, lo, hi) if a is not None else iter(())
                for p in heapq.merge(chunk_packets(work, metas, vs), audio, key=lambda p: p.dts * p.time_base):
                    out.mux(p)
        os.replace(tmp, dst)
    except av.FFmpegError as e:
        raise ImageError(f"cannot write {dst.name}: {one_line(e)}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return None if a is None else ("copy" if copy_audio else "aac")
