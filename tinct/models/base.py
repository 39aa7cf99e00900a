"""The interface every tinct network implements, and the layers they share."""

from __future__ import annotations

import torch
from torch import nn

from tinct.color import AB_SCALE


class Colorizer(nn.Module):
    """A network that maps normalised L (B, 1, H, W), in [-1, 1], to colour.

    Subclasses set:
      * ``kind``: ``"regression"`` (``forward`` returns ab / 110 in [-1, 1]) or
        ``"classification"`` (``forward`` returns logits over the ab bins of
        :class:`tinct.quantize.ABQuantizer`).
      * ``multiple``: H and W given to ``forward`` must be multiples of it (the pipeline pads).

    ``predict_ab`` is the single inference entry point: it returns ab in Lab units at whatever
    resolution the network produces (the pipeline upsamples it, guided by full-resolution L).
    """

    kind: str = "regression"
    multiple: int = 8

    def predict_ab(self, l_norm: torch.Tensor) -> torch.Tensor:
        return self(l_norm).float() * AB_SCALE


class ClassificationColorizer(Colorizer):
    """A colorizer with a softmax over ab bins, decoded by the annealed mean."""

    kind = "classification"

    def __init__(self, temperature: float = 0.38):
        super().__init__()
        from tinct.quantize import ABQuantizer

        self.quantizer = ABQuantizer()
        self.temperature = temperature

    @property
    def num_bins(self) -> int:
        return self.quantizer.q

    def predict_ab(self, l_norm: torch.Tensor) -> torch.Tensor:
        return self.quantizer.annealed_mean(self(l_norm), self.temperature)


def conv_bn_relu(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """3x3 convolution (same padding) + batch norm + ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def upsample2(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
