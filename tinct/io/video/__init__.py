"""Video containers in and out (PyAV): :mod:`~tinct.io.video.read` (probe, frames), :mod:`~tinct.io.video.write`
(resumable H.264 chunks remuxed with the source's audio) and :mod:`~tinct.io.video.stabilise` (the
temporal stabiliser of predicted colour, OpenCV optical flow).

This file imports nothing, so scanning a folder for videos needs no PyAV.
"""

from __future__ import annotations

from pathlib import Path

#: file extensions that go to the video path rather than the image path
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".wmv", ".flv", ".ogv", ".3gp"}
)


def is_video(path: str | Path) -> bool:
    """True for a file name with a video extension (:data:`VIDEO_EXTENSIONS`)."""
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS
