"""pix2pix (Isola et al. 2017) with a ResNet18-encoder U-Net generator, seeds 001 and 002 (S1c, S2).

Generator (:class:`Pix2PixGenerator`): the encoder is ResNet18 (He et al. 2016) without its
pooling and classifier head, written out here (no torchvision): a 7x7 stride-2 stem conv (64) +
BN + ReLU, 3x3 stride-2 max pooling, then four stages of two BasicBlocks with 64, 128, 256 and
512 channels (H/4 ... H/32). The decoder goes back up one resolution at a time: bilinear x2
upsampling, concatenation with the encoder features of that resolution (the stem output at H/2,
the input L at H), 3x3 conv + BN + ReLU; a 1x1 conv + tanh gives ab / 110 at H x W.

Discriminator (:class:`PatchDiscriminator`): the 70x70 PatchGAN, C64-C128-C256-C512 with 4x4
convs (stride 2, 2, 2, 1; padding 1; BN but on C64; LeakyReLU 0.2) and a final 4x4 conv to one
logit per patch: a 30x30 map for a 256x256 input. It sees L and ab / 110 concatenated.

Training (``Pix2PixGenerator.gan``, seed 002): the generator is first trained alone with L1 (20
epochs in the paper, Adam lr 1e-4), then adversarially: G minimises GAN loss + 100 * L1, D the
GAN loss, Adam lr 2e-4, betas (0.5, 0.999); the GAN loss is ``"vanilla"`` (BCE) or ``"lsgan"``.

Deviations: seed 002 builds the generator with fastai's DynamicUnet on an ImageNet-pretrained
ResNet18; no pretrained weights are available here, so the encoder is trained from scratch
(the L1 pre-training stage still comes first), its stem takes 1 channel (L) instead of RGB, and
the decoder is a lean conv-BN-ReLU one (fastai's has pixel-shuffle upsampling and about 20M
parameters) so the whole generator stays under 12M parameters (fp16 weights < 25 MB).
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import torch
from torch import nn

from tinct.models.adversarial import GanHParams
from tinct.models.base import Colorizer, conv_bn_relu, upsample2


def conv_bn_relu_1x1(cin: int, cout: int) -> nn.Sequential:
    """1x1 convolution + batch norm + ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class BasicBlock(nn.Module):
    """ResNet's two-conv residual block; a 1x1 strided conv projects the shortcut when needed."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet18Encoder(nn.Module):
    """ResNet18 body on a 1-channel input; returns the features at H/2, H/4, H/8, H/16, H/32."""

    def __init__(self, width: int = 64):
        super().__init__()
        w = width
        self.stem = nn.Sequential(nn.Conv2d(1, w, 7, 2, 3, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True))
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(w, w), BasicBlock(w, w))
        self.layer2 = nn.Sequential(BasicBlock(w, 2 * w, 2), BasicBlock(2 * w, 2 * w))
        self.layer3 = nn.Sequential(BasicBlock(2 * w, 4 * w, 2), BasicBlock(4 * w, 4 * w))
        self.layer4 = nn.Sequential(BasicBlock(4 * w, 8 * w, 2), BasicBlock(8 * w, 8 * w))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        s1 = self.stem(x)
        s2 = self.layer1(self.pool(s1))
        s3 = self.layer2(s2)
        s4 = self.layer3(s3)
        s5 = self.layer4(s4)
        return [s1, s2, s3, s4, s5]


class Pix2PixGenerator(Colorizer):
    """ResNet18 U-Net: (B, 1, H, W) normalised L -> (B, 2, H, W) ab / 110 (tanh)."""

    multiple = 32
    adversarial: ClassVar[bool] = True
    gan: ClassVar[GanHParams] = GanHParams(
        lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), pixel_loss="l1", pixel_weight=100.0, gan_mode="vanilla",
        pretrain_epochs=20, pretrain_lr=1e-4,
    )  # fmt: skip

    def __init__(self, width: int = 64, gan_mode: str = "vanilla"):
        super().__init__()
        if gan_mode != self.gan.gan_mode:
            self.gan = replace(self.gan, gan_mode=gan_mode)
        w = width
        self.encoder = ResNet18Encoder(w)
        d = [3 * w // 2, w, 3 * w // 4, w // 2, w // 4]  # decoder widths at H/16 ... H
        self.lateral = conv_bn_relu_1x1(8 * w, d[0])
        self.dec4 = conv_bn_relu(d[0] + 4 * w, d[0])  # H/16, skip layer3
        self.dec3 = conv_bn_relu(d[0] + 2 * w, d[1])  # H/8, skip layer2
        self.dec2 = conv_bn_relu(d[1] + w, d[2])  # H/4, skip layer1
        self.dec1 = conv_bn_relu(d[2] + w, d[3])  # H/2, skip stem
        self.dec0 = conv_bn_relu(d[3] + 1, d[4])  # H, skip input L
        self.head = nn.Sequential(nn.Conv2d(d[4], 2, 1), nn.Tanh())

    def build_discriminator(self) -> PatchDiscriminator:
        return PatchDiscriminator()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s1, s2, s3, s4, s5 = self.encoder(x)
        h = self.lateral(s5)
        for dec, skip in ((self.dec4, s4), (self.dec3, s3), (self.dec2, s2), (self.dec1, s1), (self.dec0, x)):
            h = dec(torch.cat([upsample2(h), skip], 1))
        return self.head(h)


class PatchDiscriminator(nn.Module):
    """70x70 PatchGAN: (B, 3, H, W) = [L, ab / 110] -> (B, 1, H/8 - 2, W/8 - 2) patch logits."""

    def __init__(self, width: int = 64, in_channels: int = 3, n_layers: int = 3):
        super().__init__()
        w = width
        layers: list[nn.Module] = [nn.Conv2d(in_channels, w, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        cin = w
        for i in range(1, n_layers + 1):  # C128 /2, C256 /2, C512 /1
            cout = w * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(cin, cout, 4, stride, 1, bias=False), nn.BatchNorm2d(cout),
                       nn.LeakyReLU(0.2, inplace=True)]  # fmt: skip
            cin = cout
        layers.append(nn.Conv2d(cin, 1, 4, 1, 1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
