"""tinct-lite with user hints: the LiteUNet of :mod:`tinct.models.lite` that also sees sparse colour
points (Zhang, Zhu, Isola, Geng, Lin, Yu & Efros, "Real-Time User-Guided Image Colorization with
Learned Deep Priors", SIGGRAPH 2017).

The input has 4 channels: normalised L, hint a / 110, hint b / 110 and the hint mask (1 where a
hint is given, 0 elsewhere; the hint ab channels are 0 there too). Everything after the first
convolution is LiteUNet's, with the same state-dict names, so the network is initialised from the
shipped ``lite`` weights by :func:`tinct.train.init_weights`, which zero-widens the first
convolution (``enc0.0.0.weight``): with all-zero hint channels the network then computes exactly
what ``lite`` does, and training with simulated hints (:func:`tinct.train.simulate_hints`, some
images with none) keeps it a good automatic model too.

Given only L (B, 1, H, W) -- the pipeline without hints, the video path, the architecture tests --
the hint channels are taken as zeros: no hints, an automatic colorizer. It stays a
classification model over the same ab bins, decoded by the annealed mean.
"""

from __future__ import annotations

import torch
from torch import nn

from tinct.core.hints import HINT_CHANNELS
from tinct.models.lite import LiteUNet


class HintUNet(LiteUNet):
    takes_hints = True
    in_channels = 1 + HINT_CHANNELS

    def __init__(self, width: int = 32, temperature: float = 0.38):
        super().__init__(width, temperature)
        self.enc0[0][0] = nn.Conv2d(self.in_channels, width, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 4, H, W) [L, a / 110, b / 110, mask] or (B, 1, H, W) L alone (no hints) -> (B, Q, H/2, W/2) logits."""
        if x.shape[1] == 1:
            x = torch.cat([x, x.new_zeros((x.shape[0], HINT_CHANNELS, *x.shape[2:]))], 1)
        elif x.shape[1] != self.in_channels:
            raise ValueError(f"HintUNet takes 1 or {self.in_channels} input channels, got {x.shape[1]}")
        return super().forward(x)
