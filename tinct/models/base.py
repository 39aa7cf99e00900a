"""The interface every tinct network implements, and the layers they share."""

from __future__ import annotations

import math

import torch
from torch import nn

from tinct.core.color import AB_SCALE
from tinct.models.decoding import checked_chroma_restore, checked_temperature


class NoColourDistributionError(ValueError):
    """An uncertainty map was asked of a model without a colour distribution (a regression model)."""


class Colorizer(nn.Module):
    """A network that maps normalised L (B, 1, H, W), in [-1, 1], to colour.

    Subclasses set:
      * ``kind``: ``"regression"`` (``forward`` returns ab / 110 in [-1, 1]) or
        ``"classification"`` (``forward`` returns logits over the ab bins of
        :class:`tinct.quantize.ABQuantizer`).
      * ``multiple``: H and W given to ``forward`` must be multiples of it (the pipeline pads).
      * ``takes_hints`` / ``in_channels``: a model that takes user colour hints (True / 4) gets
        normalised L plus three hint channels (a / 110, b / 110, mask; see
        :mod:`tinct.models.hints`); it must also accept L alone, as "no hints".

    ``predict_ab`` is the single inference entry point: it returns ab in Lab units at whatever
    resolution the network produces (the pipeline upsamples it, guided by full-resolution L).
    """

    kind: str = "regression"
    multiple: int = 8
    #: False when ONNX (opset 17) cannot express the network (antialiased resizing): torch only
    onnx_exportable: bool = True
    takes_hints: bool = False
    in_channels: int = 1

    @property
    def has_distribution(self) -> bool:
        """True when the network predicts a colour distribution per pixel (and so has an uncertainty map)."""
        return False

    def identity_at_init(self, key: str) -> bool:
        """Whether state-dict entry ``key`` belongs to a block that computes the identity as built:
        a submodule whose ``starts_as_identity`` attribute is true (e.g. a residual pair grown into
        a trained network).

        Such blocks may be missing from the weights a fine-tune starts from
        (:func:`tinct.train.init_weights`): the grown network then computes exactly what the
        smaller one did, and training takes the new blocks from there.
        """
        grown = (name for name, module in self.named_modules() if getattr(module, "starts_as_identity", False))
        return any(key.startswith(f"{name}.") for name in grown)

    def predict_ab(self, l_norm: torch.Tensor) -> torch.Tensor:
        return self(l_norm).float() * AB_SCALE

    def predict_ab_uncertainty(self, l_norm: torch.Tensor) -> torch.Tensor:
        """ab in Lab units plus a per-pixel uncertainty in [0, 1]: (B, 3, h, w), one forward pass.

        Only models with a colour distribution (:attr:`has_distribution`) have one; a regression
        model predicts a single colour per pixel and raises :class:`NoColourDistributionError`.
        """
        raise NoColourDistributionError(
            f"{type(self).__name__} is a regression model: it predicts one colour per pixel, not a colour "
            "distribution, so it has no uncertainty map (use a classification model, e.g. lite)"
        )


class ClassificationColorizer(Colorizer):
    """A colorizer with a softmax over ab bins, decoded by the annealed mean."""

    kind = "classification"

    def __init__(self, temperature: float = 0.38, chroma_restore: float = 0.0):
        super().__init__()
        from tinct.models.quantize import ABQuantizer

        self.quantizer = ABQuantizer()
        self.temperature = temperature
        self.chroma_restore = chroma_restore

    @property
    def temperature(self) -> float:
        """Annealed-mean temperature (towards 0 the most likely bin, 1 the mean of the distribution, above
        1 flatter still); setting it runs :func:`checked_temperature`."""
        return self._temperature

    @temperature.setter
    def temperature(self, value: float) -> None:
        self._temperature = checked_temperature(value)

    @property
    def chroma_restore(self) -> float:
        """Decoding: how much of the chroma that averaging over hues loses is given back, 0 to 1
        (:meth:`tinct.models.quantize.ABQuantizer.annealed_mean`); setting it runs :func:`checked_chroma_restore`."""
        return self._chroma_restore

    @chroma_restore.setter
    def chroma_restore(self, value: float) -> None:
        self._chroma_restore = checked_chroma_restore(value)

    @property
    def num_bins(self) -> int:
        return self.quantizer.q

    def shift_logits(self, offset: torch.Tensor) -> None:
        """Add a per-bin ``offset`` (Q,) to every logit the network outputs, in place.

        Folded into the bias of the last layer (``self.head``, a convolution to the Q bins), so the
        weights file, the ONNX export and every backend carry it with no extra operation: e.g. the
        negated :meth:`tinct.models.quantize.ABQuantizer.rebalance_log_factor` to decode without the
        training's rebalancing tilt.
        """
        head = getattr(self, "head", None)
        if not isinstance(head, nn.Conv2d) or head.out_channels != self.num_bins or head.bias is None:
            raise TypeError(f"{type(self).__name__} has no head convolution with a bias to the {self.num_bins} bins")
        if offset.shape != (self.num_bins,):
            raise ValueError(f"offset must have shape ({self.num_bins},), not {tuple(offset.shape)}")
        with torch.no_grad():
            head.bias += offset.to(head.bias)

    @property
    def has_distribution(self) -> bool:
        return True

    def predict_ab(self, l_norm: torch.Tensor) -> torch.Tensor:
        return self.quantizer.annealed_mean(self(l_norm), self.temperature, self.chroma_restore)

    def predict_ab_uncertainty(self, l_norm: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w): the annealed-mean ab (exactly :meth:`predict_ab`'s) and the normalised entropy.

        The entropy is that of the predicted distribution softmax(logits) (temperature 1: the
        distribution the network was trained to predict, not the annealed one used for decoding),
        divided by log(Q): 0 = all mass on one ab bin, 1 = uniform over the Q bins.
        """
        logits = self(l_norm)
        ab = self.quantizer.annealed_mean(logits, self.temperature, self.chroma_restore)
        u = (self.quantizer.entropy(logits) / math.log(self.num_bins)).clamp(0.0, 1.0)
        return torch.cat([ab, u[:, None].to(ab.dtype)], 1)


def conv_bn_relu(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    """3x3 convolution (same padding) + batch norm + ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def up_conv(cin: int, cout: int) -> nn.Sequential:
    """4x4 stride-2 transposed conv (exactly doubles H and W) + BN + ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def upsample2(x: torch.Tensor) -> torch.Tensor:
    return nn.functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
