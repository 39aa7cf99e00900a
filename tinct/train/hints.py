"""Colour hints for training a hint model: random points taken from the truth, as a user would give them."""

from __future__ import annotations

import math

import torch

from tinct.core.color import AB_SCALE
from tinct.core.hints import HINT_CHANNELS, patch_span
from tinct.train.data import step_generator


def hint_generator(seed: int, step: int, rank: int = 0) -> torch.Generator:
    """The CPU generator the hints of one step (on one rank) are drawn from: a function of its arguments."""
    return step_generator(seed, step, rank)


def simulate_hints(
    ab: torch.Tensor,
    generator: torch.Generator,
    p_none: float = 0.125,
    p_stop: float = 0.125,
    max_points: int = 24,
    patch_sizes: tuple[int, ...] = (1, 2, 3, 4, 5),
    points: int | None = None,
) -> torch.Tensor:
    """Random user hints taken from the truth: the hint channels of :mod:`tinct.models.hints`.

    ``ab``: the true ab (B, 2, H, W) in Lab units. Returns (B, 3, H, W) on ``ab``'s device:
    a / 110, b / 110 and the mask. Per image, no hint with probability ``p_none`` (so the model
    stays a good automatic colorizer); otherwise n hints, n geometric on 1, 2, ... with stopping
    probability ``p_stop`` (mean about 1 / p_stop), at most ``max_points`` (Zhang et al. 2017).
    ``points`` fixes n for every image instead (validation). Each hint is a square of a side drawn
    from ``patch_sizes`` (placed as :func:`tinct.hints.patch_span` places inference hints) around a
    uniformly random pixel, holding the mean true ab of the square, mask 1 on it; later squares
    overwrite earlier ones. Every number is drawn from ``generator`` (CPU), in image order.
    """
    B, _, H, W = ab.shape
    truth = ab.detach().float().cpu()
    out = torch.zeros(B, HINT_CHANNELS, H, W)
    for i in range(B):
        if points is not None:
            n = points
        elif float(torch.rand((), generator=generator)) < p_none:
            continue
        else:
            u = float(torch.rand((), generator=generator))
            n = min(max_points, max(1, math.ceil(math.log(max(u, 1e-12)) / math.log(1 - p_stop))))
        ys = torch.randint(0, H, (n,), generator=generator).tolist()
        xs = torch.randint(0, W, (n,), generator=generator).tolist()
        sides = torch.randint(0, len(patch_sizes), (n,), generator=generator).tolist()
        for y, x, k in zip(ys, xs, sides, strict=True):
            rows, cols = patch_span(y, patch_sizes[k], H), patch_span(x, patch_sizes[k], W)
            out[i, :2, rows, cols] = truth[i, :, rows, cols].mean(dim=(1, 2), keepdim=True) / AB_SCALE
            out[i, 2, rows, cols] = 1.0
    return out.to(ab.device)
