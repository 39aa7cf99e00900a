"""Scan-like degradations of the network's input during training (``degrade`` in a training config).

Old photographs and archive scans differ from clean gray images in exactly three ways a network can
learn to ignore: their tone curve (faded, contrasty, under- or over-exposed prints), their
sharpness (soft lenses, scanning blur) and their grain. :func:`degrade_l` gives a random fraction of
a batch's images a random amount of each, on the input L only: the colour the network is asked
for stays the clean image's, so it learns colour from the structure that survives a bad scan, and
the same image seen again looks different (a regulariser against learning the training images).

The draws come only from the generator :func:`degrade_generator` makes from (seed, step, rank), so a
resumed run degrades exactly the images the uninterrupted one would have.
"""

from __future__ import annotations

import torch
from kornia.filters import gaussian_blur2d

from tinct.train.data import step_generator

#: the largest change of each kind: log-gamma, contrast about mid-gray, blur sigma (px at the
#: training size), grain sigma (in L units of 0-100)
MAX_LOG_GAMMA = 0.35
MAX_CONTRAST = 0.2
MAX_BLUR = 1.2
MAX_GRAIN = 3.0


def degrade_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """The CPU generator one step's degradations (on one rank) are drawn from: a function of its arguments."""
    return step_generator(seed, step, rank, 1)  # stream 1: not the hints' draws


def degrade_l(l_norm: torch.Tensor, generator: torch.Generator, p: float) -> torch.Tensor:
    """Degrade each image of normalised L (B, 1, H, W; -1 = black, 1 = white) with probability ``p``.

    A chosen image gets a tone curve (gamma in exp(+-0.35), contrast about mid-gray x 0.8-1.2), a
    Gaussian blur (sigma 0-1.2 px) and Gaussian grain (sigma 0-3 L units), each of uniform random
    strength. Returns a new tensor of the same shape, dtype and device with values in [-1, 1]; the
    images not chosen are returned unchanged, bit for bit. ``p`` = 0 returns ``l_norm`` itself.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"degrade probability must be in [0, 1], got {p:g}")
    b = l_norm.shape[0]
    draws = torch.rand(b, 5, generator=generator)  # chosen?, gamma, contrast, blur, grain: one row per image
    noise = torch.randn(l_norm.shape, generator=generator)
    chosen = draws[:, 0] < p
    if not bool(chosen.any()):
        return l_norm
    rows = chosen.nonzero().squeeze(1).to(l_norm.device)
    x = (l_norm[rows].float() + 1) / 2  # 0..1
    n = x.shape[0]
    gamma = torch.exp((draws[chosen, 1] * 2 - 1) * MAX_LOG_GAMMA).view(n, 1, 1, 1)
    contrast = (1 + (draws[chosen, 2] * 2 - 1) * MAX_CONTRAST).view(n, 1, 1, 1)
    x = (0.5 + contrast * (x.clamp_min(0) ** gamma - 0.5)).clamp(0, 1)
    sigma = (draws[chosen, 3] * MAX_BLUR).clamp_min(1e-2)
    x = gaussian_blur2d(x, (7, 7), torch.stack([sigma, sigma], 1), border_type="replicate")
    grain = draws[chosen, 4].view(n, 1, 1, 1) * (MAX_GRAIN / 100)
    x = (x + grain * noise[chosen].to(x)).clamp(0, 1)
    out = l_norm.clone()
    out[rows] = (x * 2 - 1).to(l_norm.dtype)
    return out
