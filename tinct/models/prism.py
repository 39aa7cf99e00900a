"""tinct-prism: the default network, designed for accuracy per CPU-second (classification over ab bins).

Where :class:`~tinct.models.lite.LiteUNet` spends most of its 9 GMACs (at 256 px) on two
full-resolution convolutions whose output it never emits, prism puts its compute where colour
is decided:

* a **strided stem** (3x3, stride 2) and one convolution at 1/2 resolution;
* **wider low-resolution stages** at 1/4, 1/8 and 1/16 (``width`` x 2, 4, 8 channels; the 1/16
  stage dilated), a residual pair of convolutions each, ``depth`` pairs at 1/8 and 1/16 (capacity
  where it is cheap: a pair at 1/16 costs 1/16 of one at 1/4 per channel squared);
* a **global context branch** (Iizuka et al., Koalarization): the 1/16 features pooled over the
  whole image, through a small MLP, and added to every 1/16 position, so that every pixel knows
  the scene (indoor/outdoor, sky or not) whatever the working size;
* optional **self-attention at 1/16** (``attention`` blocks; one multi-head block is 64 tokens
  at 128 px), so distant parts of the image agree on colour;
* a decoder with skips back to 1/4 (optionally 1/2, ``out_stride`` 2) and a 1x1 head to logits
  over the ab bins, decoded by the annealed mean like lite.

About 2.1 GMACs at 256 px for the default settings (lite: 9.0), and roughly 4x lite's
parameters, in the low-resolution stages where they are cheap.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tinct.models.base import ClassificationColorizer, conv_bn_relu, upsample2


class ResidualPair(nn.Module):
    """Two 3x3 conv-BN layers with a skip: x + conv(relu(conv(x))), then ReLU."""

    def __init__(self, ch: int, dilation: int = 1, identity: bool = False):
        """``identity``: the last batch norm's scale starts at zero, so the pair computes the identity
        on its (non-negative, post-ReLU) input until training moves it: a block grown into a trained
        network leaves its function unchanged."""
        super().__init__()
        self.a = conv_bn_relu(ch, ch, dilation=dilation)
        self.b = nn.Sequential(
            nn.Conv2d(ch, ch, 3, padding=dilation, dilation=dilation, bias=False), nn.BatchNorm2d(ch)
        )
        #: read by :meth:`tinct.models.base.Colorizer.identity_at_init`
        self.starts_as_identity = identity
        if identity:
            nn.init.zeros_(self.b[1].weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.b(self.a(x)))


class GlobalContext(nn.Module):
    """Whole-image context: mean over positions -> MLP -> added to every position (a learned bias per scene)."""

    def __init__(self, ch: int, hidden: int | None = None):
        super().__init__()
        hidden = hidden or ch
        self.mlp = nn.Sequential(nn.Linear(ch, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.mlp(x.mean((2, 3)))
        return F.relu(x + g[:, :, None, None])


class SelfAttention(nn.Module):
    """Multi-head self-attention over tokens (B, N, C), written with shape-free reshapes.

    The same computation and parameter names as :class:`torch.nn.MultiheadAttention` with
    ``batch_first=True`` (``in_proj_weight``, ``in_proj_bias``, ``out_proj``), but no size is read
    into Python, so an ONNX export runs at any token count (any working size), where torch's
    module bakes the export's sequence length into its reshapes.
    """

    def __init__(self, ch: int, heads: int = 4):
        super().__init__()
        if ch % heads:
            raise ValueError(f"{ch} channels do not split into {heads} heads")
        self.heads, self.head_dim = heads, ch // heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * ch, ch))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * ch))
        self.out_proj = nn.Linear(ch, ch)
        nn.init.xavier_uniform_(self.in_proj_weight)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        qkv = F.linear(t, self.in_proj_weight, self.in_proj_bias).unflatten(-1, (3, self.heads, self.head_dim))
        q, k, v = (x.transpose(1, 2) for x in qkv.unbind(2))  # each (B, heads, N, head_dim)
        weights = torch.softmax((q * self.head_dim**-0.5) @ k.transpose(-2, -1), dim=-1)
        return self.out_proj((weights @ v).transpose(1, 2).flatten(2))


class Attention(nn.Module):
    """One pre-norm transformer block over the positions of a feature map (multi-head attention + MLP)."""

    def __init__(self, ch: int, heads: int = 4):
        super().__init__()
        self.norm1 = nn.LayerNorm(ch)
        self.attn = SelfAttention(ch, heads)
        self.norm2 = nn.LayerNorm(ch)
        self.mlp = nn.Sequential(nn.Linear(ch, 2 * ch), nn.GELU(), nn.Linear(2 * ch, ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.flatten(2).transpose(1, 2)  # (B, h*w, C)
        t = t + self.attn(self.norm1(t))
        t = t + self.mlp(self.norm2(t))
        return t.transpose(1, 2).reshape_as(x)


class PrismNet(ClassificationColorizer):
    """(B, 1, H, W) normalised L -> (B, Q, H / out_stride, W / out_stride) logits over the ab bins."""

    multiple = 16
    #: the module whose output (B, scene_channels, h, w) holds the whole-image features a scene
    #: classifier reads in training (:class:`tinct.train.steps.SceneStep`)
    scene_features = "attention"

    def __init__(
        self,
        width: int = 32,
        temperature: float = 0.38,
        chroma_restore: float = 0.0,
        global_context: bool = True,
        attention: int = 0,
        out_stride: int = 4,
        depth: int = 1,
    ):
        super().__init__(temperature, chroma_restore)
        if out_stride not in (2, 4):
            raise ValueError(f"out_stride must be 2 or 4, not {out_stride}")
        if depth < 1:
            raise ValueError(f"depth must be at least 1, not {depth}")
        w = width
        self.out_stride = out_stride
        self.stem = nn.Sequential(conv_bn_relu(1, w, 2), conv_bn_relu(w, w))  # 1/2
        self.enc2 = nn.Sequential(conv_bn_relu(w, 2 * w, 2), ResidualPair(2 * w))  # 1/4
        # 1/8 and 1/16: ``depth`` residual pairs; those after the first start as the identity (grown
        # into a trained depth-1 network by tinct.train.init_weights, they leave its output unchanged)
        self.enc3 = nn.Sequential(
            conv_bn_relu(2 * w, 4 * w, 2), *[ResidualPair(4 * w, identity=i > 0) for i in range(depth)]
        )
        self.enc4 = nn.Sequential(
            conv_bn_relu(4 * w, 8 * w, 2), *[ResidualPair(8 * w, dilation=2, identity=i > 0) for i in range(depth)]
        )
        self.scene_channels = 8 * w
        self.context = GlobalContext(8 * w) if global_context else nn.Identity()
        self.attention = nn.Sequential(*[Attention(8 * w) for _ in range(attention)])
        self.dec3 = nn.Sequential(conv_bn_relu(12 * w, 4 * w), conv_bn_relu(4 * w, 4 * w))  # 1/8
        self.dec2 = nn.Sequential(conv_bn_relu(6 * w, 2 * w), conv_bn_relu(2 * w, 2 * w))  # 1/4
        if out_stride == 2:
            self.dec1 = nn.Sequential(conv_bn_relu(3 * w, w), conv_bn_relu(w, w))  # 1/2
            head_in = w
        else:
            self.dec1 = None
            head_in = 2 * w
        self.head = nn.Conv2d(head_in, self.num_bins, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e1 = self.stem(x)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        e4 = self.attention(self.context(self.enc4(e3)))
        d3 = self.dec3(torch.cat([upsample2(e4), e3], 1))
        d = self.dec2(torch.cat([upsample2(d3), e2], 1))
        if self.dec1 is not None:
            d = self.dec1(torch.cat([upsample2(d), e1], 1))
        return self.head(d)
