"""The decoding options of classification models and their contracts, without torch.

:class:`tinct.models.base.ClassificationColorizer` runs these checks when its options are set, and
:func:`tinct.api.load_model` runs them before anything is loaded (an ONNX export cached for some
options starts without building the network, so the network's own check would come too late).
"""

from __future__ import annotations

import math
import numbers


def checked_temperature(value: object) -> float:
    """``value`` as an annealed-mean temperature: a finite number above 0, else ValueError in one line
    (0 or below, NaN and infinity decode to gray, black or a uniform cast)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < math.inf:
        raise ValueError(f"temperature must be a number above 0 (e.g. 0.38), got {value!r}")
    return float(value)


def checked_chroma_restore(value: object) -> float:
    """``value`` as a chroma restore share: a number from 0 to 1, else ValueError in one line."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise ValueError(f"chroma_restore must be a number from 0 to 1, got {value!r}")
    return float(value)


#: the decoding options of classification models and their checks (:func:`tinct.api.load_model` runs
#: them before anything is loaded, so an ONNX export cached for these options is never reached with one
#: that no network would accept)
DECODING_CHECKS = {"temperature": checked_temperature, "chroma_restore": checked_chroma_restore}
