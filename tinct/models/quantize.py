"""Quantised ab space for classification colorizers (Zhang et al. 2016, seeds 001 and 004).

ab is quantised to the grid-10 bins the sRGB gamut occupies (:func:`tinct.color.ab_bins`).
Targets are soft-encoded over the 5 nearest bins with a Gaussian (sigma 5); rare colours are
re-weighted by ``1 / ((1 - lam) * p + lam / Q)`` of the smoothed empirical prior ``p``; a
distribution over bins is decoded to one ab value by the annealed mean at temperature T.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tinct.core.color import ab_bins


class ABQuantizer:
    """Soft encoding, class rebalancing and annealed-mean decoding over the ab bins."""

    def __init__(self, k: int = 5, sigma: float = 5.0):
        self.centers = torch.from_numpy(ab_bins())  # Q x 2, Lab units
        self.k = k
        self.sigma = sigma

    @property
    def q(self) -> int:
        return int(self.centers.shape[0])

    def encode_soft(self, ab: torch.Tensor) -> torch.Tensor:
        """ab (B, 2, H, W) in Lab units -> soft targets (B, Q, H, W) summing to 1 per pixel."""
        b, _, h, w = ab.shape
        pts = ab.permute(0, 2, 3, 1).reshape(-1, 2)
        d2 = torch.cdist(pts, self.centers.to(ab)) ** 2
        near, idx = torch.topk(d2, self.k, dim=1, largest=False)
        wts = torch.exp(-near / (2 * self.sigma**2))
        wts = wts / wts.sum(1, keepdim=True)
        out = torch.zeros(pts.shape[0], self.q, dtype=ab.dtype, device=ab.device)
        out.scatter_(1, idx, wts)
        return out.reshape(b, h, w, self.q).permute(0, 3, 1, 2)

    def nearest(self, ab: torch.Tensor) -> torch.Tensor:
        """Index of the nearest bin, (B, H, W) int64."""
        b, _, h, w = ab.shape
        pts = ab.permute(0, 2, 3, 1).reshape(-1, 2)
        return torch.cdist(pts, self.centers.to(ab)).argmin(1).reshape(b, h, w)

    def prior(self, ab_samples: torch.Tensor, sigma: float = 5.0) -> torch.Tensor:
        """Empirical bin distribution of ab samples (N x 2), smoothed in ab with a Gaussian."""
        idx = self.nearest(ab_samples.T.reshape(1, 2, 1, -1)).flatten()
        counts = torch.bincount(idx, minlength=self.q).double()
        p = counts / counts.sum()
        d2 = torch.cdist(self.centers.double(), self.centers.double()) ** 2
        kern = torch.exp(-d2 / (2 * sigma**2))
        p = kern @ p
        return (p / p.sum()).float()

    @staticmethod
    def rebalance_weights(prior: torch.Tensor, lam: float = 0.5) -> torch.Tensor:
        """Per-bin weights w ~ 1 / ((1 - lam) p + lam / Q), normalised so E_p[w] = 1."""
        q = prior.numel()
        w = 1.0 / ((1 - lam) * prior + lam / q)
        return w / (prior * w).sum()

    @staticmethod
    def rebalance_log_factor(prior: torch.Tensor, lam: float = 0.5, power: float = 1.0) -> torch.Tensor:
        """log of the per-bin factor by which class rebalancing tilts what a network learns, (Q,).

        Weighting each pixel's cross-entropy by ``w(bin) ** power`` moves the optimum of the predicted
        distribution from the posterior p(bin | image) to one proportional to p(bin | image) *
        w(bin) ** power. Subtracting ``beta`` times this from the logits takes the tilt back out:
        beta = 1 gives the network's estimate of the untilted posterior (the most accurate mean, the
        palest), 0 leaves the rebalanced colours; between the two trades colour for PSNR.
        """
        return power * ABQuantizer.rebalance_weights(prior, lam).log()

    @staticmethod
    def recorded_rebalancing(prior: Any, config: dict[str, Any]) -> tuple[torch.Tensor, float, float]:
        """(bin prior as float32, rebalance_lambda, rebalance_power) of a run, from the prior it
        recorded (a tensor or a list) and its training config (the training defaults, 0.5 and 1.0,
        where the config names none): the arguments of :meth:`rebalance_log_factor`."""
        return (
            torch.as_tensor(prior, dtype=torch.float32),
            float(config.get("rebalance_lambda", 0.5)),
            float(config.get("rebalance_power", 1.0)),
        )

    def annealed_mean(
        self, logits: torch.Tensor, temperature: float = 0.38, chroma_restore: float = 0.0
    ) -> torch.Tensor:
        """Logits (B, Q, H, W) -> ab (B, 2, H, W) in Lab units: mean of softmax(logits / T).

        ``chroma_restore`` (alpha, 0 to 1) gives back the chroma that averaging takes away where
        the distribution spreads over several hues: the mean's hue is kept and its chroma C =
        |E[ab]| is scaled towards the expected chroma E[|ab|] of the same distribution, to
        C^(1 - alpha) * E[|ab|]^alpha. 0 is the plain annealed mean; 1 puts the mean hue at the
        distribution's expected chroma. Where the distribution is sure (one bin), both are equal.

        Computed channels-last (softmax over the last axis, then a matrix product with the bin
        centres): as fast as a channel-axis softmax in torch, and it exports to an ONNX graph that
        onnxruntime runs several times faster than a softmax over axis 1 (see tinct.backends.onnx).
        """
        p = F.softmax(logits.float().permute(0, 2, 3, 1) / max(temperature, 1e-3), dim=-1)
        centers = self.centers.to(p)
        ab = p @ centers
        if chroma_restore:
            expected = p @ centers.norm(dim=1)  # E[|ab|], (B, H, W)
            mean = ab.norm(dim=-1).clamp_min(1e-3)
            ab = ab * ((expected / mean).clamp_min(1.0) ** chroma_restore)[..., None]
        return ab.permute(0, 3, 1, 2)

    def entropy(self, logits: torch.Tensor) -> torch.Tensor:
        """Entropy (nats) of the predicted colour distribution, (B, H, W): an uncertainty map."""
        logp = F.log_softmax(logits.float(), dim=1)
        return -(logp.exp() * logp).sum(1)


def soft_ce(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of soft targets (B, Q, H, W); optional per-pixel weight (B, H, W)."""
    ce = -(target * F.log_softmax(logits.float(), dim=1)).sum(1)
    if weight is not None:
        ce = ce * weight
    return ce.mean()


def prior_from_images(images: list[np.ndarray], quantizer: ABQuantizer) -> torch.Tensor:
    """Prior over bins from a list of uint8 RGB arrays (any sizes)."""
    from tinct.core.color import rgb_to_lab

    abs_ = []
    for im in images:
        t = torch.from_numpy(im).permute(2, 0, 1)[None].float() / 255.0
        lab = rgb_to_lab(F.avg_pool2d(t, 4) if min(t.shape[-2:]) >= 16 else t)
        abs_.append(lab[0, 1:].reshape(2, -1).T)
    return quantizer.prior(torch.cat(abs_))
