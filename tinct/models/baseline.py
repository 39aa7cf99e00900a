"""The baseline CNN of seed 004 ("Model 1"), layer for layer as its Keras summary (SPEC.md, S4a).

=========================  ===============  =========  ========
layer                      output (256 px)  stride     params
=========================  ===============  =========  ========
conv1  3x3, 32, ReLU       256 x 256 x 32   1             320
conv2  3x3, 32, ReLU       128 x 128 x 32   2           9,248
conv3  3x3, 64, ReLU       128 x 128 x 64   1          18,496
conv4  3x3, 64, ReLU        64 x  64 x 64   2          36,928
conv5  3x3, 128, ReLU       64 x  64 x 128  1          73,856
up1    nearest x2          128 x 128 x 128  -               0
conv6  3x3, 64, ReLU       128 x 128 x 64   1          73,792
up2    nearest x2          256 x 256 x 64   -               0
conv7  3x3, 32, ReLU       256 x 256 x 32   1          18,464
conv8  3x3, 2, tanh        256 x 256 x 2    1             578
=========================  ===============  =========  ========

Total 231,682 parameters. "Same" padding throughout (Keras); the upsampling is Keras'
``UpSampling2D`` default, nearest neighbour. Output: ab / 110 in [-1, 1] at the input size.
"""

from __future__ import annotations

import torch
from torch import nn

from tinct.models.base import Colorizer


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1)


class BaselineCNN(Colorizer):
    """Seed 004 Model 1: (B, 1, H, W) normalised L -> (B, 2, H, W) ab / 110 (tanh)."""

    multiple = 4

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential()
        layers: list[tuple[str, nn.Module]] = [
            ("conv1", _conv(1, 32)),
            ("conv2", _conv(32, 32, stride=2)),
            ("conv3", _conv(32, 64)),
            ("conv4", _conv(64, 64, stride=2)),
            ("conv5", _conv(64, 128)),
            ("up1", nn.Upsample(scale_factor=2, mode="nearest")),
            ("conv6", _conv(128, 64)),
            ("up2", nn.Upsample(scale_factor=2, mode="nearest")),
            ("conv7", _conv(64, 32)),
        ]
        for name, layer in layers:
            self.net.add_module(name, layer)
            if name.startswith("conv"):
                self.net.add_module(f"{name}_relu", nn.ReLU(inplace=True))
        self.net.add_module("conv8", _conv(32, 2))
        self.net.add_module("tanh", nn.Tanh())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
