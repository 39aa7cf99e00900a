"""CutMix for colorization (``cutmix`` in a training config): a rectangle of another image of the batch
pasted into an image, in its input L and in the colour asked for alike (Yun et al., 2019).

A network that has seen an image many times can colour it from its whole-image signature (the global
context branch names it) rather than from what each part looks like. A pasted rectangle keeps every
pixel's colour the truth of what is there, but breaks the link between an image's signature and the
colour of each of its parts: a regulariser aimed at memorising the training images, which is what
more steps of prism bought on this data (configs/prism/STAGES.md, stage 24).

The draws come only from the generator :func:`cutmix_generator` makes from (seed, step, rank), so a
resumed run mixes exactly the images the uninterrupted one would have.
"""

from __future__ import annotations

import math

import torch

from tinct.train.data import step_generator

#: the pasted rectangle's area, as a fraction of the image's, is uniform in this range
AREA = (0.1, 0.5)
#: its aspect ratio (width / height) is log-uniform in [1 / MAX_ASPECT, MAX_ASPECT]
MAX_ASPECT = 2.0


def cutmix_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """The CPU generator one step's rectangles (on one rank) are drawn from: a function of its arguments."""
    return step_generator(seed, step, rank, 2)  # stream 2: not the hints' (0) or the degradations' (1)


def cut_mix(
    l_norm: torch.Tensor, ab: torch.Tensor, generator: torch.Generator, p: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste into each image of a batch, with probability ``p``, a rectangle of another image of the batch.

    ``l_norm`` (B, C, H, W) and ``ab`` (B, 2, H, W) get the same rectangle from the same image: the
    pair stays a true (input, colour) pair everywhere. A chosen image takes a rectangle of
    ``AREA`` of its area (aspect ratio within ``MAX_ASPECT``, at a uniform position, the same place
    in both images) from the image ``k`` places after it in the batch (k uniform in 1..B-1).
    Returns new tensors of the same shapes, dtypes and devices; images not chosen are unchanged bit
    for bit; ``p`` = 0 or a batch of one returns the inputs themselves.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"cutmix probability must be in [0, 1], got {p:g}")
    b, _, h, w = l_norm.shape
    if ab.shape[0] != b or ab.shape[2:] != l_norm.shape[2:]:
        raise ValueError(f"L {tuple(l_norm.shape)} and ab {tuple(ab.shape)} are not one batch")
    draws = torch.rand(b, 6, generator=generator)  # chosen?, area, aspect, x, y, partner: one row per image
    if p == 0 or b < 2 or not bool((draws[:, 0] < p).any()):
        return l_norm, ab
    l_out, ab_out = l_norm.clone(), ab.clone()
    for i in (draws[:, 0] < p).nonzero().squeeze(1).tolist():
        area = (AREA[0] + (AREA[1] - AREA[0]) * draws[i, 1].item()) * h * w
        aspect = math.exp((2 * draws[i, 2].item() - 1) * math.log(MAX_ASPECT))
        rw = max(1, min(w, round(math.sqrt(area * aspect))))
        rh = max(1, min(h, round(math.sqrt(area / aspect))))
        x0 = min(w - rw, int(draws[i, 3].item() * (w - rw + 1)))
        y0 = min(h - rh, int(draws[i, 4].item() * (h - rh + 1)))
        j = (i + 1 + min(b - 2, int(draws[i, 5].item() * (b - 1)))) % b
        l_out[i, :, y0 : y0 + rh, x0 : x0 + rw] = l_norm[j, :, y0 : y0 + rh, x0 : x0 + rw]
        ab_out[i, :, y0 : y0 + rh, x0 : x0 + rw] = ab[j, :, y0 : y0 + rh, x0 : x0 + rw]
    return l_out, ab_out
