"""Deprecated path: classical and user-guided colorization lives in :mod:`tinct.classical` (scribbles,
transfer, lut), guided upsampling in :mod:`tinct.core.filters` and the propagation in
:mod:`tinct.core.propagation`. The old names are re-exported."""

from tinct.classical.lut import BUILTIN_LUTS, PSEUDO_COLOUR_NOTE, Lut, load_lut, lut_ab
from tinct.classical.scribbles import SOLVE_PIXELS, scribble_mask_from_image, scribbles_ab
from tinct.classical.transfer import REFERENCE_PIXELS, reinhard_ab, reinhard_transfer, welsh_ab
from tinct.core.color import lab_of_rgb as _lab
from tinct.core.filters import guided_upsample_ab
from tinct.core.propagation import levin_solve as _levin_solve
from tinct.core.propagation import nested_dissection as _nested_dissection
from tinct.core.strips import STRIP_PIXELS

__all__ = [
    "BUILTIN_LUTS",
    "PSEUDO_COLOUR_NOTE",
    "REFERENCE_PIXELS",
    "SOLVE_PIXELS",
    "STRIP_PIXELS",
    "Lut",
    "_lab",
    "_levin_solve",
    "_nested_dissection",
    "guided_upsample_ab",
    "load_lut",
    "lut_ab",
    "reinhard_ab",
    "reinhard_transfer",
    "scribble_mask_from_image",
    "scribbles_ab",
    "welsh_ab",
]
