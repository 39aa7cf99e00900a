"""Validation during training: PSNR and colourfulness on centre crops, and the sample grids."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

from tinct.core.color import lab_to_rgb
from tinct.core.hints import HINT_PATCH
from tinct.core.metrics import colourfulness, ratio_of_means
from tinct.train.config import TrainConfig
from tinct.train.data import CropDataset, lab_batch
from tinct.train.hints import simulate_hints


@torch.no_grad()
def validate(
    model, val_ds: CropDataset, cfg: TrainConfig, device: torch.device, samples: list[np.ndarray] | None = None
) -> dict[str, float]:
    """PSNR of model and gray, and the model's colourfulness ratio, on centre crops (ab upsampled
    bilinearly; a quick training signal).

    A hint model is scored without hints (``val_psnr``) and with 10 hints from the truth
    (``val_psnr_hints10``, the same points every validation: seeded by the image index).
    ``samples``, when given, receives the first ``cfg.sample_images`` images as uint8 RGB triples
    stacked vertically (gray input, model output, truth): the columns of :func:`sample_grid`.
    """
    model.eval()
    hinted = getattr(model, "takes_hints", False)
    psnr, psnr_gray, psnr_hints, colour, colour_true = [], [], [], [], []
    for i in range(min(cfg.val_images, len(val_ds))):
        t = val_ds[i]
        if t is None:
            continue
        rgb = t[None].to(device).float() / 255.0
        l_norm, ab_true = lab_batch(t[None], device)
        L = (l_norm + 1) * 50
        preds = [(model.predict_ab(l_norm), psnr), (torch.zeros_like(ab_true), psnr_gray)]
        if hinted:
            hints = simulate_hints(ab_true, torch.Generator().manual_seed(i), points=10, patch_sizes=(HINT_PATCH,))
            preds.append((model.predict_ab(torch.cat([l_norm, hints], 1)), psnr_hints))
        keep = samples is not None and len(samples) < cfg.sample_images  # this image goes into the grid
        truth_u8 = t.permute(1, 2, 0).numpy()
        shown = []
        for k, (ab, store) in enumerate(preds):
            ab = F.interpolate(ab.float(), size=rgb.shape[-2:], mode="bilinear", align_corners=False)
            pred = (lab_to_rgb(torch.cat([L, ab], 1)) * 255).round()
            mse = (pred - rgb * 255).pow(2).mean().clamp_min(1e-10)
            store.append(float(10 * torch.log10(255**2 / mse)))
            if k > 0 and not keep:
                continue
            pred_u8 = pred[0].permute(1, 2, 0).clamp(0, 255).byte().cpu().numpy()
            if k == 0:  # the model without hints: its colourfulness beside the truth's
                colour.append(colourfulness(pred_u8))
                colour_true.append(colourfulness(truth_u8))
            if keep:
                shown.append(pred_u8)
        if keep:
            samples.append(np.concatenate([shown[1], shown[0], truth_u8], 0))
    model.train()
    p, g = float(np.mean(psnr)), float(np.mean(psnr_gray))
    scores = {"val_psnr": p, "val_psnr_gray": g, "val_gain": p - g}
    scores["val_colourfulness_ratio"] = ratio_of_means(np.array(colour), np.array(colour_true))
    if hinted:
        scores["val_psnr_hints10"] = float(np.mean(psnr_hints))
    return scores


def sample_grid(
    columns: list[np.ndarray], gap: int = 4, labels: Sequence[str] = (), label_width: int = 72
) -> np.ndarray:
    """Validation columns (gray / model / truth, each uint8 H x W x 3) side by side, white gaps between.

    ``labels``: one per row band (the columns stack equal-height rows: gray input, model, truth),
    written in black on a white strip ``label_width`` px wide at the left; none: no strip.
    """
    h = max(c.shape[0] for c in columns)
    strip = label_width if labels else 0
    width = strip + sum(c.shape[1] for c in columns) + gap * (len(columns) - 1)
    grid = np.full((h, width, 3), 255, np.uint8)
    x = strip
    for c in columns:
        grid[: c.shape[0], x : x + c.shape[1]] = c
        x += c.shape[1] + gap
    if labels:
        im = Image.fromarray(grid)
        draw, band = ImageDraw.Draw(im), h / len(labels)
        font = ImageFont.load_default(size=12)
        for i, text in enumerate(labels):
            draw.text((4, band * (i + 0.5)), text, fill="black", font=font, anchor="lm")
        grid = np.asarray(im).copy()
    return grid
