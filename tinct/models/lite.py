"""tinct-lite: the project's own compact classification U-Net (about 2.5M parameters).

A U-Net encoder (stride-2 conv + BN + ReLU, 32 -> 256 channels, dilated at 1/8 resolution)
and a two-level decoder with skips, ending in a 1x1 convolution to logits over the ab bins at
half resolution. Trained with soft-encoded cross-entropy and partial class rebalancing, so it
predicts a colour distribution rather than the sepia mean; decoded by the annealed mean.
"""

from __future__ import annotations

import torch
from torch import nn

from tinct.models.base import ClassificationColorizer, conv_bn_relu, upsample2


class LiteUNet(ClassificationColorizer):
    multiple = 8

    def __init__(self, width: int = 32, temperature: float = 0.38):
        super().__init__(temperature)
        w = width
        self.enc0 = nn.Sequential(conv_bn_relu(1, w), conv_bn_relu(w, w))
        self.enc1 = nn.Sequential(conv_bn_relu(w, 2 * w, 2), conv_bn_relu(2 * w, 2 * w))
        self.enc2 = nn.Sequential(conv_bn_relu(2 * w, 4 * w, 2), conv_bn_relu(4 * w, 4 * w))
        self.enc3 = nn.Sequential(
            conv_bn_relu(4 * w, 8 * w, 2),
            conv_bn_relu(8 * w, 8 * w, dilation=2),
            conv_bn_relu(8 * w, 8 * w, dilation=2),
        )
        self.dec2 = nn.Sequential(conv_bn_relu(12 * w, 4 * w), conv_bn_relu(4 * w, 4 * w))
        self.dec1 = nn.Sequential(conv_bn_relu(6 * w, 2 * w), conv_bn_relu(2 * w, 2 * w))
        self.head = nn.Conv2d(2 * w, self.num_bins, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) normalised L -> (B, Q, H/2, W/2) logits."""
        e0 = self.enc0(x)
        e1 = self.enc1(e0)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([upsample2(e3), e2], 1))
        d1 = self.dec1(torch.cat([upsample2(d2), e1], 1))
        return self.head(d1)
