"""The GAN colorizer for medical images of seed 000 (SPEC.md, S0).

The paper names the parts and the training, not the layers: "a generator and a discriminator,
both convolutional neural networks; the generator is optimised with a mean squared error loss,
the discriminator with binary cross-entropy; Adam, learning rate 0.0005". The layers below are
this project's, kept plain so the model stays the simple CNN GAN the paper describes:

* :class:`GanGenerator`: an encoder-decoder without skip connections. Encoder: conv 32, then
  three stages of (3x3 stride-2 conv, 3x3 conv), 64-128-256 channels, all conv + BN + ReLU, to
  H/8; decoder: three stages of (4x4 stride-2 transposed conv, 3x3 conv) back to H, then a 3x3
  conv + tanh to ab / 110 at full resolution.
* :class:`GanDiscriminator`: one real/fake logit per image. Four 4x4 stride-2 convs (64-128-256-
  512, BN but on the first, LeakyReLU 0.2), global average pooling, a linear layer. It sees the
  colour image as L and ab / 110 concatenated (B, 3, H, W), any size that is a multiple of 16.

Training (``GanGenerator.gan``): G minimises 100 * MSE(ab) + BCE(D(G(L)), real); D minimises
BCE on real and generated images; Adam lr 0.0005 for both. The weight 100 on MSE and Adam's
betas (0.5, 0.999) are not given by the paper; they are the usual pix2pix choices.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from tinct.models.adversarial import GanHParams
from tinct.models.base import Colorizer, conv_bn_relu, up_conv


class GanGenerator(Colorizer):
    """Seed 000 generator: (B, 1, H, W) normalised L -> (B, 2, H, W) ab / 110 (tanh)."""

    multiple = 8
    adversarial: ClassVar[bool] = True
    gan: ClassVar[GanHParams] = GanHParams(
        lr_g=5e-4, lr_d=5e-4, betas=(0.5, 0.999), pixel_loss="mse", pixel_weight=100.0, gan_mode="vanilla"
    )

    def __init__(self, width: int = 32):
        super().__init__()
        w = width
        self.encoder = nn.Sequential(
            conv_bn_relu(1, w),
            conv_bn_relu(w, 2 * w, 2), conv_bn_relu(2 * w, 2 * w),
            conv_bn_relu(2 * w, 4 * w, 2), conv_bn_relu(4 * w, 4 * w),
            conv_bn_relu(4 * w, 8 * w, 2), conv_bn_relu(8 * w, 8 * w),
        )  # fmt: skip
        self.decoder = nn.Sequential(
            up_conv(8 * w, 4 * w), conv_bn_relu(4 * w, 4 * w),
            up_conv(4 * w, 2 * w), conv_bn_relu(2 * w, 2 * w),
            up_conv(2 * w, w), conv_bn_relu(w, w),
            nn.Conv2d(w, 2, 3, padding=1), nn.Tanh(),
        )  # fmt: skip

    def build_discriminator(self) -> GanDiscriminator:
        return GanDiscriminator()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class GanDiscriminator(nn.Module):
    """Image-level discriminator: (B, 3, H, W) = [L, ab / 110] -> (B, 1) real/fake logits."""

    def __init__(self, width: int = 64, in_channels: int = 3):
        super().__init__()
        w = width
        layers: list[nn.Module] = [nn.Conv2d(in_channels, w, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        for cin, cout in ((w, 2 * w), (2 * w, 4 * w), (4 * w, 8 * w)):
            layers += [nn.Conv2d(cin, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(8 * w, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))
