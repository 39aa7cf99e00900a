"""The colorizing pipeline: the one code path that turns lightness into colour, for every surface.

    image -> L (full resolution) -> L at the working size -> predictor -> ab (low resolution)
          -> ab upsampled to full resolution, guided by full-resolution L (fast guided filter)
          -> joined with the ORIGINAL L -> 8-bit sRGB

Two halves, both batch-aware:

* the model half, :func:`predict_lowres_batch`: frames of one size -> (ab, L_guide) each. The
  predictor (a network behind a backend; :meth:`tinct.session.Session.predict_lowres_batch` is the
  one caller that hands it one) only ever sees the working size, so its cost does not grow with the
  photo. Hint models get their hint channels here, and their hints' corrections are spread along L.
* the full-resolution half, :func:`full_resolution`: ab upsampled (guided by L) and joined with
  the original L, in horizontal strips (:mod:`tinct.core.strips`) so memory stays a small multiple
  of the image itself.

Output L equals input L up to 8-bit rounding and gamut clipping: a colorizer changes hue and
saturation, never structure. Video stabilisation, reference colours and uncertainty maps work on
the model half's output before the full-resolution half.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from tinct.core import fullres
from tinct.core.color import luminance, normalize_l
from tinct.core.hints import Hint, hint_channels, propagate_hint_residuals
from tinct.core.lowres import working_shape

#: a function from normalised L (B, 1, h, w) to ab in Lab units (B, 2, h', w'), plus any map channels
#: after ab; a hint model's gets L and its hint channels, (B, 4, h, w) (see :func:`predict_lowres_batch`)
AbPredictor = Callable[[torch.Tensor], torch.Tensor]


def resize_l(L: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Resize L (H, W) to ``shape`` with an anti-aliased bilinear filter -> (1, 1, h, w)."""
    x = L[None, None]
    if tuple(x.shape[-2:]) == tuple(shape):
        return x
    return F.interpolate(x, size=shape, mode="bilinear", antialias=True, align_corners=False)


def predict_padded(predict: AbPredictor, l_norm: torch.Tensor, multiple: int) -> torch.Tensor:
    """Run ``predict`` on L padded (edge replicated) to a multiple of ``multiple``; crop the output back.

    Channels after the first (the hint channels of hint models) are padded with zeros: no hints
    in the padding. Returns ab at the network's output resolution, covering exactly the unpadded input.
    """
    h, w = l_norm.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    x = l_norm
    if ph or pw:
        x = F.pad(l_norm[:, :1], (0, pw, 0, ph), mode="replicate")
        if l_norm.shape[1] > 1:
            x = torch.cat([x, F.pad(l_norm[:, 1:], (0, pw, 0, ph))], 1)
    ab = predict(x)
    sy, sx = ab.shape[-2] / x.shape[-2], ab.shape[-1] / x.shape[-1]
    return ab[..., : max(1, round(h * sy)), : max(1, round(w * sx))]


@torch.inference_mode()
def predict_lowres_batch(
    Ls: Sequence[torch.Tensor],
    predict: AbPredictor,
    multiple: int,
    working_size: int,
    device: torch.device | str = "cpu",
    hints: Sequence[Sequence[Hint]] | None = None,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The model half of the pipeline for frames of one size: full-resolution L (H, W) each ->
    ``[(ab, L_guide), ...]``, one network call for the batch.

    ``ab`` (2, h, w) is the prediction (Lab units) at the network's output resolution for L seen
    at ``working_size`` (plus any map channels ``predict`` adds after ab); ``L_guide`` (h, w) is L
    at that same resolution, for guided upsampling (:func:`full_resolution`).

    ``hints``: None for models without hints (``predict`` gets L alone, (B, 1, h, w)); for a hint
    model, one sequence of colour points per frame, in input pixels (maybe empty: no hints).
    ``predict`` then gets L and the hint channels of :func:`tinct.core.hints.hint_channels`,
    (B, 4, h, w), and where a frame has hints their corrections are spread along L
    (:func:`tinct.core.hints.propagate_hint_residuals`). A point off the image raises
    :class:`tinct.core.hints.HintError` before the network runs.
    """
    if not Ls:
        return []
    full = tuple(Ls[0].shape)
    if any(tuple(L.shape) != full for L in Ls):
        raise ValueError(f"a batch holds frames of one size; got {sorted({tuple(L.shape) for L in Ls})}")
    shape = working_shape(*full, working_size)
    L_small = torch.cat([resize_l(L, shape) for L in Ls])
    x = normalize_l(L_small)
    channels = None
    if hints is not None:
        if len(hints) != len(Ls):
            raise ValueError(f"{len(hints)} hint lists for {len(Ls)} frames")
        channels = torch.cat([hint_channels(h, (full[0], full[1]), shape) for h in hints])
        x = torch.cat([x, channels], 1)
    ab = predict_padded(predict, x.to(device), multiple).float().cpu()
    L_guide = F.interpolate(L_small, size=ab.shape[-2:], mode="area")[:, 0]
    out = []
    for i in range(len(Ls)):
        ab_i = ab[i]
        if channels is not None and hints[i]:
            ab_i = torch.cat([propagate_hint_residuals(ab_i[:2], L_guide[i], channels[i : i + 1]), ab_i[2:]], 0)
        out.append((ab_i, L_guide[i]))
    return out


def predict_lowres(
    L: torch.Tensor,
    predict: AbPredictor,
    multiple: int,
    working_size: int,
    device: torch.device | str = "cpu",
    hints: Sequence[Hint] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`predict_lowres_batch` for one frame: L (H, W) -> (ab, L_guide); ``hints`` that frame's
    colour points for a hint model (maybe empty), None for other models."""
    return predict_lowres_batch([L], predict, multiple, working_size, device, None if hints is None else [hints])[0]


def _np(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().float().numpy()


def join_ab(L: torch.Tensor, ab: torch.Tensor, out: np.ndarray | None = None) -> np.ndarray:
    """Join full-resolution L (H, W) and ab (2, H, W) -> uint8 RGB (H, W, 3), in strips on all cores
    (:func:`tinct.core.fullres.join_ab`)."""
    return fullres.join_ab(_np(L), _np(ab), out)


def join_full_resolution(
    L: torch.Tensor,
    ab_small: torch.Tensor,
    L_guide: torch.Tensor | None,
    radius: int = 2,
    eps: float = 16.0,
    out: np.ndarray | None = None,
    fused: bool = False,
) -> np.ndarray:
    """Upsample ab (2, h, w) to L's (H, W), guided by L, and join it with L -> uint8 RGB (H, W, 3).

    ``L_guide`` is L at the ab resolution (h, w); with None the upsampling is plain bilinear.
    Never holds full-resolution ab: strips are upsampled and converted on every core
    (:func:`tinct.core.fullres.join_full_resolution`; ``fused``: in the compiled kernel once it has
    loaded, for long runs such as a film).
    """
    return fullres.join_full_resolution(_np(L), _np(ab_small), _np(L_guide), radius, eps, out, fused=fused)


@torch.inference_mode()
def full_resolution(
    L: torch.Tensor, ab: torch.Tensor, L_guide: torch.Tensor, guided: bool = True, with_maps: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The full-resolution half: the model half's (ab, L_guide) for full-resolution L -> uint8 RGB (H, W, 3).

    ab is upsampled by the fast guided filter (bilinearly with ``guided=False``) and joined with L.
    Channels of ``ab`` after the first two are per-pixel maps (e.g. the uncertainty of
    :meth:`tinct.models.base.Colorizer.predict_ab_uncertainty`): only ab colours the image; with
    ``with_maps`` the maps are upsampled as ab is (their edges follow the image's) and returned as
    well, ``(rgb, maps)``, maps float32 (K, H, W) (K = 0 when there are none).
    """
    guide = L_guide if guided else None
    rgb = join_full_resolution(L, ab[:2], guide)
    if not with_maps:
        return rgb
    return rgb, fullres.upsample_ab(_np(L), _np(ab[2:]), _np(guide))


def colorize_pixels(
    pixels: np.ndarray,
    predict: AbPredictor,
    multiple: int,
    working_size: int,
    device: torch.device | str = "cpu",
    guided: bool = True,
    with_maps: bool = False,
    hints: Sequence[Hint] | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Colorize one image (gray H x W or RGB H x W x 3, uint8/uint16) with ``predict`` -> uint8 RGB (H, W, 3).

    Both halves in turn: :func:`predict_lowres` then :func:`full_resolution` (``guided``,
    ``with_maps``), on the image's own full-resolution L. ``hints``: the colour points of a hint
    model (see :func:`predict_lowres_batch`); None for other models.
    """
    L = torch.from_numpy(luminance(pixels))
    ab, L_guide = predict_lowres(L, predict, multiple, working_size, device, hints)
    return full_resolution(L, ab, L_guide, guided, with_maps)
