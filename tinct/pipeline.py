"""The full-resolution pipeline: the one code path that colorizes, for every surface.

    image -> L (full resolution) -> L at the working size -> model -> ab (low resolution)
          -> ab upsampled to full resolution, guided by full-resolution L (fast guided filter)
          -> joined with the ORIGINAL L -> 8-bit sRGB

The model only ever sees the working size, so its cost does not grow with the photo; the
full-resolution work (L, guided upsampling, Lab -> RGB) is done in horizontal strips so memory
stays a small multiple of the image itself. Output L equals input L up to 8-bit rounding and
gamut clipping: a colorizer changes hue and saturation, never structure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from tinct.color import lab_to_rgb8, luminance, normalize_l
from tinct.hints import Hint, hint_channels, propagate_hint_residuals

STRIP_PIXELS = 1 << 20  #: pixels per strip of full-resolution work (bounds peak memory)
#: hint models: also spread each hint's correction along L (:func:`tinct.hints.propagate_hint_residuals`)
PROPAGATE_HINTS = True

#: a function from normalised L (1, 1, h, w) to ab in Lab units (1, 2, h', w'); a hint model's
#: gets L and its hint channels, (1, 4, h, w) (see :func:`predict_lowres`)
AbPredictor = Callable[[torch.Tensor], torch.Tensor]


def working_shape(h: int, w: int, working_size: int) -> tuple[int, int]:
    """Size the model sees: short side = ``working_size`` (never upscaled), aspect kept."""
    s = min(working_size, min(h, w)) / min(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


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


def _box(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over a (2r+1)^2 window (edges replicated), x: (C, h, w)."""
    k = 2 * r + 1
    return F.avg_pool2d(F.pad(x[None], (r, r, r, r), mode="replicate"), k, stride=1)[0]


def guided_coefficients(guide: torch.Tensor, src: torch.Tensor, radius: int = 2, eps: float = 16.0):
    """Guided-filter coefficients (He et al.) at low resolution: src ~ A * guide + B locally.

    guide: (h, w) L; src: (C, h, w) ab. Returns A, B of shape (C, h, w), already box-averaged,
    so that A * L_full + B (with A, B upsampled) is the fast guided filter of Kaiming He (2015).
    ``eps`` is in L units squared: edges with a local L std well above sqrt(eps) steer colour.
    """
    g = guide[None]
    mean_g = _box(g, radius)
    mean_s = _box(src, radius)
    cov = _box(g * src, radius) - mean_g * mean_s
    var = _box(g * g, radius) - mean_g * mean_g
    a = cov / (var + eps)
    b = mean_s - a * mean_g
    return _box(a, radius), _box(b, radius)


def _linear_taps(n_out: int, n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source indices and weights of bilinear resampling (align_corners=False) along one axis."""
    pos = ((torch.arange(n_out, dtype=torch.float32) + 0.5) * (n_in / n_out) - 0.5).clamp(0, n_in - 1)
    i0 = pos.floor().long()
    i1 = (i0 + 1).clamp(max=n_in - 1)
    return i0, i1, pos - i0


def upsample_strips(coef: torch.Tensor, height: int, width: int, rows: int) -> Iterator[tuple[int, torch.Tensor]]:
    """Bilinearly upsample ``coef`` (C, h, w) to (C, height, width), one strip of rows at a time.

    Yields (y0, strip of shape (C, y1 - y0, width)); identical to F.interpolate(bilinear,
    align_corners=False) on the whole image, but never holds the full-resolution result.
    """
    x0, x1, wx = _linear_taps(width, coef.shape[-1])
    cols = coef[..., x0] * (1 - wx) + coef[..., x1] * wx  # (C, h, width)
    y0i, y1i, wy = _linear_taps(height, coef.shape[-2])
    for y in range(0, height, rows):
        sl = slice(y, min(height, y + rows))
        w = wy[sl][:, None]
        yield y, cols[:, y0i[sl]] * (1 - w) + cols[:, y1i[sl]] * w


def guided_ab_strips(
    L: torch.Tensor, ab_small: torch.Tensor, L_guide: torch.Tensor | None, radius: int = 2, eps: float = 16.0
) -> Iterator[tuple[int, torch.Tensor]]:
    """Full-resolution ab, strip by strip: (y0, ab (C, rows, W)) for L (H, W) and ab_small (C, h, w).

    With ``L_guide`` (L at the ab resolution) this is the fast guided filter: ab = A * L + B with
    the coefficients of :func:`guided_coefficients` upsampled bilinearly; with None, plain bilinear.
    """
    H, W = L.shape
    c = ab_small.shape[0]
    if L_guide is not None:
        A, B = guided_coefficients(L_guide, ab_small, radius, eps)
        coef = torch.cat([A, B])
    else:
        coef = ab_small
    rows = max(1, STRIP_PIXELS // max(1, W))
    for y, strip in upsample_strips(coef, H, W, rows):
        yield y, (strip[:c] * L[y : y + strip.shape[1]] + strip[c:]) if L_guide is not None else strip


def upsample_ab(
    L: torch.Tensor, ab_small: torch.Tensor, L_guide: torch.Tensor | None, radius: int = 2, eps: float = 16.0
) -> torch.Tensor:
    """Full-resolution ab (C, H, W) from ab_small, guided by L (see :func:`guided_ab_strips`)."""
    out = torch.empty((ab_small.shape[0], *L.shape), dtype=torch.float32)
    for y, strip in guided_ab_strips(L, ab_small, L_guide, radius, eps):
        out[:, y : y + strip.shape[1]] = strip
    return out


def join_ab(L: torch.Tensor, ab: torch.Tensor, out: np.ndarray | None = None) -> np.ndarray:
    """Join full-resolution L (H, W) and ab (2, H, W) -> uint8 RGB (H, W, 3), in strips."""
    H, W = L.shape
    out = np.empty((H, W, 3), np.uint8) if out is None else out
    rows = max(1, STRIP_PIXELS // max(1, W))
    for y in range(0, H, rows):
        out[y : y + rows] = lab_to_rgb8(L[y : y + rows], ab[:, y : y + rows]).numpy()
    return out


def join_full_resolution(
    L: torch.Tensor,
    ab_small: torch.Tensor,
    L_guide: torch.Tensor | None,
    radius: int = 2,
    eps: float = 16.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Upsample ab (2, h, w) to L's (H, W), guided by L, and join it with L -> uint8 RGB (H, W, 3).

    ``L_guide`` is L at the ab resolution (h, w); with None the upsampling is plain bilinear.
    Never holds full-resolution ab: each strip is upsampled and converted in turn.
    """
    H, W = L.shape
    out = np.empty((H, W, 3), np.uint8) if out is None else out
    for y, ab in guided_ab_strips(L, ab_small, L_guide, radius, eps):
        out[y : y + ab.shape[1]] = lab_to_rgb8(L[y : y + ab.shape[1]], ab).numpy()
    return out


@torch.inference_mode()
def predict_lowres(
    L: torch.Tensor,
    predict: AbPredictor,
    multiple: int,
    working_size: int,
    device: torch.device | str = "cpu",
    hints: Sequence[Hint] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The model half of the pipeline: full-resolution L (H, W) -> (ab, L_guide).

    ``ab`` (2, h, w) is the model's prediction (Lab units) at its output resolution for L seen
    at ``working_size`` (plus any map channels ``predict`` adds, see :func:`colorize_pixels`);
    ``L_guide`` (h, w) is L at that same resolution, for guided upsampling.
    Video stabilisation and guided methods work on these before :func:`join_full_resolution`.

    ``hints``: None for models without hints (``predict`` gets L alone, (1, 1, h, w)); for a hint
    model, the user's colour points in input pixels (maybe none): ``predict`` gets L and the hint
    channels of :func:`tinct.hints.hint_channels`, (1, 4, h, w). A point off the image raises
    :class:`tinct.hints.HintError`.
    """
    shape = working_shape(*L.shape, working_size)
    L_small = resize_l(L, shape)
    x = normalize_l(L_small)
    channels = None
    if hints is not None:
        channels = hint_channels(hints, (L.shape[0], L.shape[1]), shape)
        x = torch.cat([x, channels], 1)
    ab = predict_padded(predict, x.to(device), multiple)[0].float().cpu()
    L_guide = F.interpolate(L_small, size=ab.shape[-2:], mode="area")[0, 0]
    if channels is not None and hints and PROPAGATE_HINTS:
        ab = torch.cat([propagate_hint_residuals(ab[:2], L_guide, channels), ab[2:]], 0)
    return ab, L_guide


@torch.inference_mode()
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
    """Colorize one image (gray H x W or RGB H x W x 3, uint8/uint16) -> uint8 RGB (H, W, 3).

    The model sees L at ``working_size`` (short side, never upscaled); its ab is upsampled by
    the fast guided filter (or bilinearly with ``guided=False``) and joined with the image's own
    full-resolution L.

    ``predict`` may return channels after ab: per-pixel maps such as the uncertainty of
    :meth:`tinct.models.base.Colorizer.predict_ab_uncertainty`. Only ab colours the image; with
    ``with_maps`` the maps are upsampled to the input's size as ab is (guided by L, so a map's
    edges follow the image's; bilinearly with ``guided=False``) and returned as well:
    ``(rgb, maps)``, maps float32 (K, H, W) (K = 0 when ``predict`` gives ab only).

    ``hints``: the colour points of a hint model (see :func:`predict_lowres`); None for other models.
    """
    L = torch.from_numpy(luminance(pixels))
    ab, L_guide = predict_lowres(L, predict, multiple, working_size, device, hints)
    rgb = join_full_resolution(L, ab[:2], L_guide if guided else None)
    if not with_maps:
        return rgb
    return rgb, upsample_ab(L, ab[2:], L_guide if guided else None).numpy()
