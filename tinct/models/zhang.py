"""Zhang, Isola and Efros, "Colorful Image Colorization" (ECCV 2016), seeds 001 and 004 (S1b).

A VGG-style network without pooling, in the layout of richzhang/colorization's ``eccv16``:
eight blocks of 3x3 convs with ReLU, each ending in batch norm (channels at ``width`` = 1):

=====  =======================================  ==========
block  convs                                    resolution
=====  =======================================  ==========
1      64, 64 /2                                H/2
2      128, 128 /2                              H/4
3      256, 256, 256 /2                         H/8
4      512, 512, 512                            H/8
5      512, 512, 512, dilation 2                H/8
6      512, 512, 512, dilation 2                H/8
7      512, 512, 512                            H/8
8      256 (4x4 transposed, up x2), 256, 256    H/4
=====  =======================================  ==========

then a 1x1 conv to logits over the ab bins of :class:`tinct.quantize.ABQuantizer` at H/4.
Trained with soft-encoded, class-rebalanced cross-entropy; decoded by the annealed mean at
``temperature`` (0.38 by default; set ``model.temperature`` to change it at inference).

Deviations: widths scaled by ``width`` (0.25 by default: about 2M parameters instead of 32M,
to train on a CPU); the bins are the project's exact-sRGB gamut bins (261 at grid 10, where the
paper's data-derived gamut has 313); block 8 ends in BN like the others (eccv16 has none there).
"""

from __future__ import annotations

import torch
from torch import nn

from tinct.models.base import ClassificationColorizer


def _block(cin: int, cout: int, n: int, stride_last: int = 1, dilation: int = 1) -> nn.Sequential:
    """``n`` 3x3 conv + ReLU layers (the last with stride ``stride_last``), then batch norm."""
    layers: list[nn.Module] = []
    for i in range(n):
        stride = stride_last if i == n - 1 else 1
        layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation), nn.ReLU(inplace=True)]
        cin = cout
    layers.append(nn.BatchNorm2d(cout))
    return nn.Sequential(*layers)


class ZhangColorizer(ClassificationColorizer):
    """Zhang et al.: (B, 1, H, W) normalised L -> (B, Q, H/4, W/4) logits over the ab bins."""

    multiple = 8

    def __init__(self, width: float = 0.25, temperature: float = 0.38):
        super().__init__(temperature)

        def c(n: int) -> int:
            return max(8, int(round(n * width)))

        self.model1 = _block(1, c(64), 2, stride_last=2)
        self.model2 = _block(c(64), c(128), 2, stride_last=2)
        self.model3 = _block(c(128), c(256), 3, stride_last=2)
        self.model4 = _block(c(256), c(512), 3)
        self.model5 = _block(c(512), c(512), 3, dilation=2)
        self.model6 = _block(c(512), c(512), 3, dilation=2)
        self.model7 = _block(c(512), c(512), 3)
        self.model8 = nn.Sequential(
            nn.ConvTranspose2d(c(512), c(256), 4, stride=2, padding=1), nn.ReLU(inplace=True),
            _block(c(256), c(256), 2),
        )  # fmt: skip
        self.head = nn.Conv2d(c(256), self.num_bins, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in (self.model1, self.model2, self.model3, self.model4, self.model5, self.model6, self.model7):
            x = block(x)
        return self.head(self.model8(x))
