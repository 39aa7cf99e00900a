"""The medical encoder-decoder of seed 003 (SPEC.md, S3): a U-Net regressing ab.

Encoder: ``depth`` stages, each a stride-2 3x3 conv + BN + ReLU followed by a 3x3 conv + BN +
ReLU; filters start at ``width`` (64 in the paper) and double after every downsampling
(64-128-256-512 by default, bottleneck at H/16). Decoder: per stage a 4x4 stride-2 transposed
convolution that halves the filters, concatenation with the encoder features of the same
resolution (skip), and a 3x3 conv + BN + ReLU. The last stage returns to full resolution, where
the input L joins as a skip, and a 1x1 conv + tanh gives ab / 110.

Seed 003 trains it with MSE plus a perceptual loss (plus an optional adversarial term); see
:class:`tinct.losses.PerceptualLoss`. The paper does not give the number of convs per stage; one
extra stride-1 conv per encoder stage is this project's choice.
"""

from __future__ import annotations

import torch
from torch import nn

from tinct.models.base import Colorizer, conv_bn_relu, up_conv


class UNet(Colorizer):
    """Seed 003 U-Net: (B, 1, H, W) normalised L -> (B, 2, H, W) ab / 110 (tanh)."""

    def __init__(self, width: int = 64, depth: int = 4):
        super().__init__()
        self.multiple = 2**depth
        chans = [width * 2**i for i in range(depth)]  # 64, 128, 256, 512
        self.down = nn.ModuleList()
        cin = 1
        for c in chans:
            self.down.append(nn.Sequential(conv_bn_relu(cin, c, stride=2), conv_bn_relu(c, c)))
            cin = c
        self.up = nn.ModuleList()
        self.fuse = nn.ModuleList()
        for i in reversed(range(1, depth)):  # H/16 -> H/8 -> H/4 -> H/2, with skips
            self.up.append(up_conv(chans[i], chans[i - 1]))
            self.fuse.append(conv_bn_relu(2 * chans[i - 1], chans[i - 1]))
        half = max(chans[0] // 2, 16)
        self.up.append(up_conv(chans[0], half))  # H/2 -> H, skip from the input L
        self.fuse.append(conv_bn_relu(half + 1, half))
        self.head = nn.Sequential(nn.Conv2d(half, 2, 1), nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [x]
        h = x
        for stage in self.down:
            h = stage(h)
            skips.append(h)
        skips.pop()  # the bottleneck is not a skip
        for up, fuse in zip(self.up, self.fuse, strict=True):
            h = fuse(torch.cat([up(h), skips.pop()], 1))
        return self.head(h)
