"""Temporal stabilisation of predicted colour: smooth ab along the optical flow, reset at scene cuts.

Works at the model's output resolution, between the two halves of the pipeline
(:func:`tinct.core.pipeline.predict_lowres_batch` and :func:`tinct.core.pipeline.full_resolution`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dense optical flow (Farneback) from uint8 image ``a`` to ``b``: (h, w, 2), a(x) ~ b(x + f(x))."""
    levels = max(0, min(3, int(math.log2(max(1, min(a.shape) // 8)))))
    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, levels, 9, 3, 5, 1.1, 0)


def _remap(x: np.ndarray, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    return cv2.remap(x, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@dataclass
class TemporalStabilizer:
    """Smooths predicted chroma along motion; resets at scene cuts. Works at the model's resolution.

    For frame t with prediction ``ab_pred`` and low-resolution L:

        ab_t = a(x) * warp(ab_{t-1})(x) + (1 - a(x)) * ab_pred(x),   a(x) = alpha * c(x)

    ``warp`` follows the optical flow from frame t to t-1 (Farneback on L). The confidence c in
    [0, 1] is the product of exp(-e^2 / 2 flow_sigma^2), with e the forward-backward flow error in
    pixels, and exp(-d^2 / 2 l_sigma^2), with d the difference between L and the warped previous
    L (both fail at occlusions and disocclusions); it is 0 where the flow leaves the frame. A
    scene cut (total-variation distance between the two frames' L histograms above
    ``cut_threshold``) resets the state: ab_t = ab_pred, so colour may change at cuts.
    """

    alpha: float = 0.8
    flow_sigma: float = 1.0
    l_sigma: float = 4.0
    cut_threshold: float = 0.3
    bins: int = 32
    cuts: int = field(default=0, repr=False)  #: scene cuts seen so far
    _L: np.ndarray | None = field(default=None, repr=False)
    _ab: np.ndarray | None = field(default=None, repr=False)

    def reset(self) -> None:
        """Forget the previous frame and the cut count (a new video)."""
        self._L = self._ab = None
        self.cuts = 0

    def state(self) -> dict[str, np.ndarray]:
        """The state to carry over (e.g. across chunk boundaries): previous L, ab and the cut count."""
        empty = np.zeros((0,), np.float32)
        return {
            "L": empty if self._L is None else self._L,
            "ab": empty if self._ab is None else self._ab,
            "cuts": np.array(self.cuts),
        }

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`state`."""
        L, ab = np.asarray(state["L"], np.float32), np.asarray(state["ab"], np.float32)
        self._L, self._ab = (L, ab) if L.size else (None, None)
        self.cuts = int(state["cuts"])

    def is_cut(self, L_prev: np.ndarray, L: np.ndarray) -> bool:
        """True if the L histograms of two frames differ by more than ``cut_threshold`` (TV distance)."""
        h0 = np.histogram(L_prev, self.bins, (0.0, 100.0))[0] / L_prev.size
        h1 = np.histogram(L, self.bins, (0.0, 100.0))[0] / L.size
        return 0.5 * float(np.abs(h0 - h1).sum()) > self.cut_threshold

    def confidence(self, L_prev: np.ndarray, L: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(c (h, w), map_x, map_y): per-pixel confidence of the warp from the previous frame, and the warp."""
        h, w = L.shape
        u8 = [np.clip(x * 2.55 + 0.5, 0, 255).astype(np.uint8) for x in (L, L_prev)]
        back = _flow(u8[0], u8[1])  # current -> previous
        fwd = _flow(u8[1], u8[0])  # previous -> current
        gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
        mx, my = gx + back[..., 0], gy + back[..., 1]
        err = np.linalg.norm(back + _remap(fwd, mx, my), axis=-1)
        d = L - _remap(L_prev, mx, my)
        c = np.exp(-0.5 * (err / self.flow_sigma) ** 2 - 0.5 * (d / self.l_sigma) ** 2)
        c *= (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        return c.astype(np.float32), mx, my

    def __call__(self, ab: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
        """Stabilised ab (2, h, w) for this frame's prediction ``ab`` and its L (h, w)."""
        L_np = L.numpy().astype(np.float32, copy=True)
        ab_np = ab.numpy().astype(np.float32, copy=True)
        prev_ok = self._L is not None and self._L.shape == L_np.shape
        if prev_ok and self.is_cut(self._L, L_np):
            self.cuts += 1
            prev_ok = False
        if prev_ok:
            c, mx, my = self.confidence(self._L, L_np)
            warped = _remap(np.ascontiguousarray(self._ab.transpose(1, 2, 0)), mx, my).transpose(2, 0, 1)
            a = self.alpha * c
            ab_np = a * warped + (1.0 - a) * ab_np
        self._L, self._ab = L_np, ab_np
        return torch.from_numpy(ab_np.copy())
