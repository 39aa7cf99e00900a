"""Losses beyond the per-pixel ones: perceptual (seed 003) and adversarial (seeds 000, 001, 002).

Perceptual loss. Seed 003 compares VGG features of the predicted and the true colour image.
No pretrained VGG can be downloaded here, so the feature network is :class:`FeatureNet`, a
compact RGB classifier that this project trains itself (for instance on the ``source`` labels
of ``data/train/manifest.csv``, or jointly as a colour/gray discriminator) and then freezes. Its
feature maps play the role of VGG's relu1_2 ... relu4_3. Say so in the card of every model
trained with it.

Adversarial losses. ``vanilla`` is the binary cross-entropy on logits of the original GAN and
pix2pix; ``lsgan`` is the least-squares GAN (Mao et al. 2017), selectable as in seed 002.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tinct.core.color import AB_SCALE, lab_to_rgb
from tinct.models.adversarial import GanHParams
from tinct.models.base import conv_bn_relu

__all__ = [
    "GAN_MODES",
    "FeatureNet",
    "GanHParams",
    "PerceptualLoss",
    "build_feature_net",
    "discriminator_loss",
    "gan_loss",
    "generator_adversarial_loss",
    "rgb_from_normalized",
]

GAN_MODES = ("vanilla", "lsgan")


# ---------------------------------------------------------------------------------------------
# Perceptual loss
# ---------------------------------------------------------------------------------------------


class FeatureNet(nn.Module):
    """A small VGG-like RGB network (1.2M parameters at width 32) whose stages give features.

    Four stages of two 3x3 conv-BN-ReLU each, the first three followed by a stride-2 conv:
    features at 1, 1/2, 1/4 and 1/8 resolution with ``width * (1, 2, 4, 8)`` channels. A
    global-pool + linear head gives ``num_classes`` logits, so it can be trained as a classifier.

    Input: sRGB (B, 3, H, W) in [0, 1].
    """

    def __init__(self, width: int = 32, num_classes: int = 10):
        super().__init__()
        w = width
        self.stages = nn.ModuleList(
            [
                nn.Sequential(conv_bn_relu(3, w), conv_bn_relu(w, w)),
                nn.Sequential(conv_bn_relu(w, 2 * w, 2), conv_bn_relu(2 * w, 2 * w)),
                nn.Sequential(conv_bn_relu(2 * w, 4 * w, 2), conv_bn_relu(4 * w, 4 * w)),
                nn.Sequential(conv_bn_relu(4 * w, 8 * w, 2), conv_bn_relu(8 * w, 8 * w)),
            ]
        )
        self.head = nn.Linear(8 * w, num_classes)

    def features(self, rgb: torch.Tensor) -> list[torch.Tensor]:
        """The output of every stage, finest first."""
        x = (rgb - 0.5) / 0.25
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) RGB -> (B, num_classes) logits."""
        return self.head(self.features(rgb)[-1].mean((2, 3)))


def build_feature_net(width: int = 32, num_classes: int = 10, state_dict: dict | None = None) -> FeatureNet:
    """A :class:`FeatureNet`, with trained weights when ``state_dict`` is given (its width and
    number of classes are then read from the weights' shapes)."""
    if state_dict is not None and "head.weight" in state_dict:
        num_classes, features = state_dict["head.weight"].shape
        width = features // 8
    net = FeatureNet(width, num_classes)
    if state_dict is not None:
        net.load_state_dict(state_dict)
    return net


def rgb_from_normalized(l_norm: torch.Tensor, ab_norm: torch.Tensor) -> torch.Tensor:
    """Normalised L (B, 1, H, W) in [-1, 1] and ab / 110 (B, 2, H, W) -> RGB in [0, 1].

    Differentiable in ``ab_norm`` (kornia's Lab -> sRGB; clipped out-of-gamut values have zero
    gradient). ``ab_norm`` is resized to L's size when the network predicts at lower resolution.
    """
    if ab_norm.shape[-2:] != l_norm.shape[-2:]:
        ab_norm = F.interpolate(ab_norm, size=l_norm.shape[-2:], mode="bilinear", align_corners=False)
    lab = torch.cat([(l_norm.float() + 1) * 50, ab_norm.float() * AB_SCALE], 1)
    return lab_to_rgb(lab)


def colourfulness(rgb: torch.Tensor) -> torch.Tensor:
    """Hasler & Suesstrunk colourfulness of each image of RGB (B, 3, H, W) in [0, 1], as (B,): the
    formula of :func:`tinct.core.metrics.colourfulness` (population std) on 0-1 values instead of
    0-255 (the same figure / 255), differentiable."""
    r, g, b = rgb.float().unbind(1)
    rg, yb = (r - g).flatten(1), (0.5 * (r + g) - b).flatten(1)
    spread = (rg.var(1, unbiased=False) + yb.var(1, unbiased=False) + 1e-12).sqrt()
    centre = (rg.mean(1) ** 2 + yb.mean(1) ** 2 + 1e-12).sqrt()
    return spread + 0.3 * centre


def colourfulness_deficit(l_norm: torch.Tensor, ab_shown: torch.Tensor, ab_truth: torch.Tensor) -> torch.Tensor:
    """How far the colour shown falls short of the truth's colourfulness: ``sum_i max(0, M(truth_i) -
    M(shown_i)) / sum_i M(truth_i)`` over the batch (0 when every image is at least as colourful as its
    truth; 1 when all are gray). ``l_norm`` is normalised L (B, 1, H, W); ``ab_shown`` and ``ab_truth``
    are ab / 110, at L's size or lower (resized to it). A colour-aware term beside an accuracy loss:
    it asks for the truth's amount of colour, never for more."""
    shown = colourfulness(rgb_from_normalized(l_norm, ab_shown))
    with torch.no_grad():
        truth = colourfulness(rgb_from_normalized(l_norm, ab_truth))
    return (truth - shown).clamp_min(0).sum() / truth.sum().clamp_min(1e-6)


class PerceptualLoss(nn.Module):
    """Feature distance in a frozen :class:`FeatureNet` between predicted and true colour images.

    ``loss = sum_k w_k * mean |phi_k(rgb_pred) - phi_k(rgb_true)|^p`` with p = 2 (``"l2"``,
    default) or 1 (``"l1"``). The feature net is put in eval mode and its parameters frozen; the
    gradient flows to the colorizer only.
    """

    def __init__(self, feature_net: FeatureNet, weights: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0), norm: str = "l2"):
        super().__init__()
        if norm not in ("l1", "l2"):
            raise ValueError(f"norm must be 'l1' or 'l2', not {norm!r}")
        self.net = feature_net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.weights = weights
        self.norm = norm

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.net.eval()  # frozen statistics, always
        return self

    def forward_rgb(self, rgb_pred: torch.Tensor, rgb_true: torch.Tensor) -> torch.Tensor:
        """The loss between two RGB batches in [0, 1]."""
        dist = F.mse_loss if self.norm == "l2" else F.l1_loss
        with torch.no_grad():
            f_true = self.net.features(rgb_true)
        f_pred = self.net.features(rgb_pred)
        return sum(w * dist(p, t) for w, p, t in zip(self.weights, f_pred, f_true, strict=False) if w)

    def forward(self, l_norm: torch.Tensor, ab_pred: torch.Tensor, ab_true: torch.Tensor) -> torch.Tensor:
        """Normalised L and ab / 110 (prediction and truth, as a regression model sees them) -> loss."""
        return self.forward_rgb(rgb_from_normalized(l_norm, ab_pred), rgb_from_normalized(l_norm, ab_true))


# ---------------------------------------------------------------------------------------------
# Adversarial losses
# ---------------------------------------------------------------------------------------------


def gan_loss(logits: torch.Tensor, target_is_real: bool, mode: str = "vanilla") -> torch.Tensor:
    """Loss of discriminator ``logits`` against an all-real or all-fake target.

    ``vanilla``: binary cross-entropy with logits; ``lsgan``: mean squared error to 1 / 0.
    """
    target = torch.full_like(logits, 1.0 if target_is_real else 0.0)
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(logits.float(), target.float())
    if mode == "lsgan":
        return F.mse_loss(logits.float(), target.float())
    raise ValueError(f"unknown GAN mode {mode!r}; one of {GAN_MODES}")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, mode: str = "vanilla") -> torch.Tensor:
    """D's loss: half the sum of the real and fake terms (pix2pix). Detach the fakes first."""
    return 0.5 * (gan_loss(real_logits, True, mode) + gan_loss(fake_logits, False, mode))


def generator_adversarial_loss(fake_logits: torch.Tensor, mode: str = "vanilla") -> torch.Tensor:
    """G's adversarial term: make D call its output real (non-saturating form)."""
    return gan_loss(fake_logits, True, mode)
