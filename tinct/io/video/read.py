"""Reading video files (PyAV): the header (:func:`probe_video`) and the decoded frames (:func:`read_frames`).

Every unreadable input (not a video, corrupt, no video stream) raises
:class:`tinct.io.errors.ImageError` with a one-line message.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tinct.io.errors import ImageError, one_line


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


def open_video(path: Path) -> av.container.InputContainer:
    """Open ``path`` for reading (the caller closes it); every failure is an ImageError with a one-line message."""
    if not path.exists():
        raise ImageError(f"file not found: {path}")
    if path.is_dir():
        raise ImageError(f"is a directory, not a video: {path}")
    if path.stat().st_size == 0:
        raise ImageError(f"empty file (0 bytes): {path.name}")
    try:
        c = av.open(str(path), "r")
    except (av.FFmpegError, OSError, ValueError) as e:
        raise ImageError(f"not a video file PyAV can read: {path.name} ({one_line(e)})") from None
    if not c.streams.video:
        c.close()
        raise ImageError(f"no video stream in {path.name}")
    return c


def probe_video(path: str | Path) -> VideoInfo:
    """Read the header of a video file. Raises ImageError if it is not a readable video."""
    path = Path(path)
    with open_video(path) as c:
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
    with open_video(path) as c:
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
            raise ImageError(f"cannot decode {path.name} (corrupt?): {one_line(e)}") from None
