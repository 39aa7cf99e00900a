"""Deep Koalarization (Baldassarre, Gonzalez Morin and Rodes-Guirao 2017), seed 004 "Model 2" (S4b).

* encoder: 8 conv 3x3 layers 64 /2, 128, 128 /2, 256, 256 /2, 512, 512, 256 -> H/8 x W/8;
* feature extractor: a global embedding of the image (in the paper the 1001 logits of a
  pretrained Inception-ResNet-v2 fed the gray image resized to 299 px and stacked to 3 channels);
* fusion: the embedding replicated over every H/8 x W/8 position, concatenated with the encoder
  output (256 + 1001 = 1257 channels in the paper), 1x1 conv to 256;
* decoder: conv 128, up, conv 64, conv 64, up, conv 32, conv 2 (tanh), up; nearest-neighbour
  upsampling, so the output is H x W x 2 (ab / 110).

Substitution (no pretrained weights are available here): the embedding comes from
:class:`EmbeddingNet`, a small CNN classifier backbone over L resized to ``embed_size`` (128) px,
whose ``embed_dim``-d output (256 by default) stands for Inception's 1001-d vector. It is trained
by this project: end to end with the colorizer by default, or first as a classifier (set
``num_classes``; :meth:`EmbeddingNet.classify`) and then frozen (``freeze_embedding()``), which is
the paper's arrangement. State this in the model card.

SPEC.md says both "to H/8 x W/8 x 512" and "1257 channels"; the paper's table resolves it: the
encoder's 6th and 7th layers have 512 channels and the 8th 256, and 256 + 1001 = 1257. Other
deviations: BN after every conv (the paper has none; it helps training from scratch), channel
widths scaled by ``width`` (0.5 by default).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tinct.models.base import Colorizer, conv_bn_relu


class EmbeddingNet(nn.Module):
    """The global feature extractor standing in for Inception-ResNet-v2: L -> (B, embed_dim).

    Four stride-2 stages (conv-BN-ReLU x2; 32-64-128-256 channels) on a fixed ``size`` x ``size``
    copy of the input, global average pooling, a linear layer to the embedding. Optional
    ``num_classes`` head (on the embedding) to pre-train it as a classifier.
    """

    def __init__(self, embed_dim: int = 256, size: int = 128, width: int = 32, num_classes: int = 0):
        super().__init__()
        self.size = size
        w = width
        self.body = nn.Sequential(
            conv_bn_relu(1, w, 2), conv_bn_relu(w, w),
            conv_bn_relu(w, 2 * w, 2), conv_bn_relu(2 * w, 2 * w),
            conv_bn_relu(2 * w, 4 * w, 2), conv_bn_relu(4 * w, 4 * w),
            conv_bn_relu(4 * w, 8 * w, 2), conv_bn_relu(8 * w, 8 * w),
        )  # fmt: skip
        self.embed = nn.Linear(8 * w, embed_dim)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, H, W) normalised L, any H and W -> (B, embed_dim)."""
        g = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        return self.embed(self.body(g).mean((2, 3)))

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits, for pre-training the backbone as a classifier (needs ``num_classes``)."""
        if self.head is None:
            raise RuntimeError("EmbeddingNet was built without a classification head (num_classes=0)")
        return self.head(F.relu(self(x)))


class KoalaColorizer(Colorizer):
    """Deep Koalarization: (B, 1, H, W) normalised L -> (B, 2, H, W) ab / 110 (tanh)."""

    onnx_exportable = False  # its global branch resizes with antialiasing, which ONNX opset 17 lacks

    multiple = 8

    def __init__(self, width: float = 0.5, embed_dim: int = 256, embed_size: int = 128, num_classes: int = 0):
        super().__init__()

        def c(n: int) -> int:
            return max(8, int(round(n * width)))

        spec = [(64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1), (512, 1), (256, 1)]
        layers, cin = [], 1
        for cout, stride in spec:
            layers.append(conv_bn_relu(cin, c(cout), stride))
            cin = c(cout)
        self.encoder = nn.Sequential(*layers)
        self.embedding = EmbeddingNet(embed_dim, embed_size, num_classes=num_classes)
        self.embedding_frozen = False
        self.fusion = nn.Sequential(
            nn.Conv2d(c(256) + embed_dim, c(256), 1, bias=False), nn.BatchNorm2d(c(256)), nn.ReLU(inplace=True)
        )
        up = nn.Upsample(scale_factor=2, mode="nearest")
        self.decoder = nn.Sequential(
            conv_bn_relu(c(256), c(128)), up,
            conv_bn_relu(c(128), c(64)), conv_bn_relu(c(64), c(64)), up,
            conv_bn_relu(c(64), c(32)),
            nn.Conv2d(c(32), 2, 3, padding=1), nn.Tanh(), up,
        )  # fmt: skip

    def freeze_embedding(self, frozen: bool = True) -> None:
        """Freeze (or unfreeze) the embedding backbone, as the paper does with Inception.

        A frozen backbone also stays in eval mode, so its batch-norm statistics do not drift.
        """
        self.embedding_frozen = frozen
        for p in self.embedding.parameters():
            p.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True) -> KoalaColorizer:
        super().train(mode)
        if self.embedding_frozen:
            self.embedding.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.encoder(x)
        emb = self.embedding(x)
        tiled = emb[:, :, None, None].expand(-1, -1, *feats.shape[-2:])
        return self.decoder(self.fusion(torch.cat([feats, tiled], 1)))
