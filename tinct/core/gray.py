"""Whether a colour image has any colour: the near-gray test of the data README (``shared/data/README.md``).

An image is shrunk to at most 128 x 128 (bilinear, aspect kept), converted to CIELAB (D65), and is
*near-gray* when the mean chroma, ``mean(sqrt(a*^2 + b*^2))`` over all pixels, is below
:data:`NEAR_GRAY_CHROMA` (3.0). Such an image holds no colour truth: evaluation does not score it and
training does not learn from it (:mod:`tinct.evaluate.run`, :mod:`tinct.train.data`).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from tinct.core.color import rgb_to_lab

#: mean CIELAB chroma below which an image counts as near-gray
NEAR_GRAY_CHROMA = 3.0
#: the side the image is shrunk to (at most) before the chroma is measured
NEAR_GRAY_SIDE = 128


def mean_chroma(image: Image.Image | np.ndarray) -> float:
    """Mean CIELAB (D65) chroma of ``image`` (a PIL image, or uint8 H x W [x 3] RGB) shrunk to at most 128 x 128."""
    im = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, np.uint8))
    im = im.convert("RGB")
    if max(im.size) > NEAR_GRAY_SIDE:
        im = im.copy()
        im.thumbnail((NEAR_GRAY_SIDE, NEAR_GRAY_SIDE), Image.BILINEAR)
    rgb = torch.from_numpy(np.asarray(im, np.float32) / 255.0).permute(2, 0, 1)
    ab = rgb_to_lab(rgb)[1:]
    return float(torch.sqrt((ab * ab).sum(0)).mean())


def is_near_gray(image: Image.Image | np.ndarray) -> bool:
    """True when ``image`` has no colour to learn or score: :func:`mean_chroma` below :data:`NEAR_GRAY_CHROMA`."""
    return mean_chroma(image) < NEAR_GRAY_CHROMA
