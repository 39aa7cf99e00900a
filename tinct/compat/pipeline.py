"""Deprecated path: the pipeline lives in :mod:`tinct.core.pipeline`, its filters in
:mod:`tinct.core.filters` and the strip size in :mod:`tinct.core.strips`. The old names are re-exported."""

from tinct.core.filters import guided_ab_strips, guided_coefficients, upsample_ab, upsample_strips
from tinct.core.pipeline import (
    AbPredictor,
    colorize_pixels,
    full_resolution,
    join_ab,
    join_full_resolution,
    predict_lowres,
    predict_lowres_batch,
    predict_padded,
    resize_l,
    working_shape,
)
from tinct.core.strips import STRIP_PIXELS

#: deprecated and without effect: the corrections of colour hints are always spread along L
PROPAGATE_HINTS = True

__all__ = [
    "PROPAGATE_HINTS",
    "STRIP_PIXELS",
    "AbPredictor",
    "colorize_pixels",
    "full_resolution",
    "guided_ab_strips",
    "guided_coefficients",
    "join_ab",
    "join_full_resolution",
    "predict_lowres",
    "predict_lowres_batch",
    "predict_padded",
    "resize_l",
    "upsample_ab",
    "upsample_strips",
    "working_shape",
]
