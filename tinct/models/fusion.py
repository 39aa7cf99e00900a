"""Iizuka, Simo-Serra and Ishikawa, "Let there be Color!" (SIGGRAPH 2016), seed 001 (SPEC.md, S1a).

Four networks, all 3x3 conv + BN + ReLU unless stated (channels at ``width`` = 1):

* low-level features, shared by the two paths below: 64 /2, 128, 128 /2, 256, 256 /2, 512 (H/8);
* mid-level features on the full input: 512, 256;
* global features on a fixed ``global_size`` square copy of the input: 512 /2, 512, 512 /2, 512,
  then FC 1024, FC 512, FC 256 -> a 256-d image vector. Because this copy always has the same
  size, the vector does not depend on the input resolution or aspect ratio;
* fusion layer: the global vector replicated over every H/8 x W/8 position, concatenated with
  the mid-level features, 1x1 conv to 256;
* colorization network: conv 128, up x2, conv 64, conv 64, up x2, conv 32, conv 2 -> ab / 110 at
  H/2 (the paper upsamples this to H and joins it with L; the tinct pipeline does that).

With ``num_classes > 0`` a classification head (FC 256, FC num_classes on the 512-d global
layer) predicts a scene label, trained jointly as in the paper (loss weight 1/300 there);
:meth:`FusionColorizer.forward_with_class` returns both outputs.

Deviations, to stay trainable on a CPU: channel widths are scaled by ``width`` (0.5 by default,
about 6M parameters instead of about 42M); the global copy is 128 px (224 in the paper), so the
flattened global conv output is 4 x 4 instead of 7 x 7; the output is tanh on ab / 110 (the
tinct contract) instead of a sigmoid on ab normalised to [0, 1], which is the same up to an
affine map; upsampling is nearest neighbour, as in the paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tinct.models.base import Colorizer, conv_bn_relu


def _stack(cin: int, spec: list[tuple[int, int]]) -> nn.Sequential:
    """conv_bn_relu layers from (channels, stride) pairs."""
    layers = []
    for cout, stride in spec:
        layers.append(conv_bn_relu(cin, cout, stride))
        cin = cout
    return nn.Sequential(*layers)


class FusionColorizer(Colorizer):
    """Iizuka et al.: (B, 1, H, W) normalised L -> (B, 2, H/2, W/2) ab / 110 (tanh)."""

    onnx_exportable = False  # its global branch resizes with antialiasing, which ONNX opset 17 lacks

    multiple = 8

    def __init__(self, width: float = 0.5, global_size: int = 128, num_classes: int = 0):
        super().__init__()

        def c(n: int) -> int:
            return max(8, int(round(n * width)))

        self.global_size = global_size
        self.low = _stack(1, [(c(64), 2), (c(128), 1), (c(128), 2), (c(256), 1), (c(256), 2), (c(512), 1)])
        self.mid = _stack(c(512), [(c(512), 1), (c(256), 1)])
        self.global_conv = _stack(c(512), [(c(512), 2), (c(512), 1), (c(512), 2), (c(512), 1)])
        side = -(-global_size // 32)  # global_size / 8 after the low-level net, / 4 after these convs
        self.global_fc1 = nn.Sequential(
            nn.Flatten(), nn.Linear(c(512) * side * side, c(1024)), nn.ReLU(inplace=True),
            nn.Linear(c(1024), c(512)), nn.ReLU(inplace=True),
        )  # fmt: skip
        self.global_fc2 = nn.Sequential(nn.Linear(c(512), c(256)), nn.ReLU(inplace=True))
        self.classifier = None
        if num_classes > 0:
            self.classifier = nn.Sequential(
                nn.Linear(c(512), c(256)), nn.ReLU(inplace=True), nn.Linear(c(256), num_classes)
            )
        self.fusion = nn.Sequential(
            nn.Conv2d(2 * c(256), c(256), 1, bias=False), nn.BatchNorm2d(c(256)), nn.ReLU(inplace=True)
        )
        self.colorize = nn.Sequential(
            conv_bn_relu(c(256), c(128)),
            nn.Upsample(scale_factor=2, mode="nearest"),
            conv_bn_relu(c(128), c(64)),
            conv_bn_relu(c(64), c(64)),
            nn.Upsample(scale_factor=2, mode="nearest"),
            conv_bn_relu(c(64), c(32)),
            nn.Conv2d(c(32), 2, 3, padding=1),
            nn.Tanh(),
        )

    def global_hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The 512-d (at width 1) global layer, from a ``global_size`` square copy of ``x``."""
        g = F.interpolate(x, size=(self.global_size, self.global_size), mode="bilinear", align_corners=False,
                          antialias=True)  # fmt: skip
        return self.global_fc1(self.global_conv(self.low(g)))

    def global_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W), any H and W -> the (B, 256 * width) global image vector."""
        return self.global_fc2(self.global_hidden(x))

    def forward_with_class(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """ab / 110 at H/2 and the class logits (None without a classification head)."""
        hidden = self.global_hidden(x)
        vec = self.global_fc2(hidden)
        mid = self.mid(self.low(x))
        tiled = vec[:, :, None, None].expand(-1, -1, *mid.shape[-2:])
        ab = self.colorize(self.fusion(torch.cat([mid, tiled], 1)))
        logits = self.classifier(hidden) if self.classifier is not None else None
        return ab, logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_with_class(x)[0]
