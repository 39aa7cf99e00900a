"""Deprecated path: video files are read and written by :mod:`tinct.io.video` (read, write, stabilise),
colorized by :mod:`tinct.apps.video` and evaluated by :mod:`tinct.evaluate.video`. The old names are
re-exported."""

from tinct.apps.video import (
    CUDA_BATCH,
    batch_predictor,
    colorize_video,
    predict_lowres_batch,
)
from tinct.apps.video import ReferenceColours as _ReferenceColours
from tinct.evaluate.video import STATIC_THRESHOLD, FlickerMeter, evaluate_video, flicker
from tinct.io.video import VIDEO_EXTENSIONS, is_video
from tinct.io.video.read import VideoInfo, probe_video, read_frames
from tinct.io.video.stabilise import TemporalStabilizer
from tinct.io.video.write import MUXERS
from tinct.io.video.write import ChunkWriter as _ChunkWriter

__all__ = [
    "CUDA_BATCH",
    "MUXERS",
    "STATIC_THRESHOLD",
    "VIDEO_EXTENSIONS",
    "FlickerMeter",
    "TemporalStabilizer",
    "VideoInfo",
    "_ChunkWriter",
    "_ReferenceColours",
    "batch_predictor",
    "colorize_video",
    "evaluate_video",
    "flicker",
    "is_video",
    "predict_lowres_batch",
    "probe_video",
    "read_frames",
]
