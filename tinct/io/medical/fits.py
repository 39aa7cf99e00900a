"""FITS in (astropy): an image, or a cube as frames, scaled and stretched for display.

The first image HDU with 2-D data, or a 3-D cube as frames; NaN/inf set to the finite minimum;
scaled between the 0.5 and 99.5 percentiles, then stretched (linear, asinh or log, astropy's
definitions). Frames are flipped vertically (FITS row 1 is the bottom).
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from tinct.core.pixels import unit_to_uint16
from tinct.io.errors import ImageError, NotAnImageError, one_line
from tinct.io.medical.image import DECODE_ERRORS, MedicalImage, check_size, check_total, gunzip
from tinct.io.medical.kinds import FITS_MAGIC
from tinct.io.medical.windowing import (
    WindowSpec,
    apply_window,
    fill_nonfinite,
    finite_range,
    percentile_window,
    resolve_window,
)

STRETCHES = ("linear", "asinh", "log")


def _stretch(unit: np.ndarray, stretch: str) -> np.ndarray:
    """astropy.visualization stretch on [0, 1]: linear, asinh (a = 0.1) or log (a = 1000)."""
    from astropy.visualization import AsinhStretch, LinearStretch, LogStretch

    fn = {"linear": LinearStretch, "asinh": AsinhStretch, "log": LogStretch}[stretch]()
    return np.asarray(fn(unit, clip=True), dtype=np.float32)


def _fits_image_shape(h: Any) -> tuple[int, ...] | None:
    """The data shape (numpy order) of an image HDU with 2-D or more data, from its header; else None.

    Random-groups HDUs, tables and HDUs without data (NAXIS 0, or an axis of length 0) give None.
    """
    from astropy.io import fits

    if not isinstance(h, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)) or isinstance(h, fits.GroupsHDU):
        return None
    shape = tuple(int(n) for n in h.shape)
    return shape if len(shape) >= 2 and min(shape) > 0 else None


def read_fits(
    src: str | Path | bytes,
    stretch: str = "linear",
    hdu: int | str | None = None,
    window: WindowSpec = "auto",
    max_pixels: int | None = None,
    max_total: int | None = None,
) -> MedicalImage:
    """Read a FITS image (path or bytes) -> :class:`MedicalImage`, a 3-D cube giving one frame per plane.

    ``hdu``: index or EXTNAME; default the first image HDU with at least 2-D data (leading
    singleton axes dropped). BSCALE/BZERO are applied by astropy; NaN/inf set to the finite
    minimum (noted). Scaling: "auto" = the 0.5..99.5 percentiles of all frames, "full" = min..max,
    (center, width) = DICOM LINEAR window; then ``stretch`` (linear, asinh, log; astropy's
    ``AsinhStretch(a=0.1)``: asinh(x/a)/asinh(1/a), ``LogStretch(a=1000)``: log(a x + 1)/log(a + 1)).
    Frames are flipped vertically (FITS row 1 is the bottom). ``header`` is the HDU's header.

    Limits: ``max_pixels`` per plane (default ``tinct.io.images.DEFAULT_MAX_PIXELS``); ``max_total`` pixels
    in all planes together (default: no limit; the server sets one). Both are checked from the
    header (NAXISn), before the data is read. Bytes may be gzipped (a .fits.gz file's); with
    ``max_total`` they may expand to at most 8 bytes per allowed pixel + 1 MiB (a decompression
    bomb is stopped there; :func:`_gunzip`, as for NIfTI). Bytes that do not start with the
    ``SIMPLE  =`` card are not FITS (:class:`~tinct.io.errors.NotAnImageError`).

    Raises:
        ImageError: unreadable file or no image HDU; :class:`~tinct.io.errors.ImageTooLargeError` above
        a limit. ValueError: unknown ``stretch``.
    """
    from astropy.io import fits

    if stretch not in STRETCHES:
        raise ValueError(f"stretch must be one of {', '.join(STRETCHES)}, got {stretch!r}")
    name = Path(src).name if isinstance(src, (str, Path)) else "upload"
    notes: list[str] = []
    try:
        if isinstance(src, (str, Path)) and not Path(src).is_file():
            raise ImageError(f"{name}: file not found")
        if isinstance(src, bytes):
            if src[:2] == b"\x1f\x8b":
                src = gunzip(src, None if max_total is None else 8 * max_total + 2**20, name)
            if not src.startswith(FITS_MAGIC):
                raise NotAnImageError(f"{name}: not a FITS file (it does not start with a SIMPLE card)")
        fp = io.BytesIO(src) if isinstance(src, bytes) else str(src)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(fp, memmap=False) as hdul:
                candidates = [hdul[hdu]] if hdu is not None else list(hdul)
                chosen = next((h for h in candidates if _fits_image_shape(h) is not None), None)
                if chosen is None:
                    raise ImageError(f"{name}: no image HDU with 2-D or 3-D data")
                shape = _fits_image_shape(chosen)
                assert shape is not None
                while len(shape) > 3 and shape[0] == 1:
                    shape = shape[1:]
                if len(shape) > 3:
                    raise ImageError(f"{name}: FITS data of shape {shape} is not 2-D or 3-D")
                check_size(shape[-2], shape[-1], max_pixels)  # from the header, before the data is read
                planes = shape[0] if len(shape) == 3 else 1
                check_total(math.prod(shape), max_total, f"{name}: the {planes} plane(s)")
                data = np.asarray(chosen.data, dtype=np.float32).reshape(shape)  # leading 1-axes dropped
                header = chosen.header.copy()
    except ImageError:
        raise
    except (*DECODE_ERRORS, fits.VerifyError) as e:
        raise ImageError(f"{name}: cannot read FITS file: {one_line(e)}") from None
    cube = data[None] if data.ndim == 2 else data
    cube = fill_nonfinite(cube, notes)
    lo, hi = finite_range([cube])
    win, how = resolve_window(window, lo, hi, percentile_window(cube, window))
    frames = [np.ascontiguousarray(unit_to_uint16(_stretch(apply_window(plane, win), stretch))[::-1]) for plane in cube]
    return MedicalImage(
        frames=frames,
        kind="fits",
        description=f"FITS image {'x'.join(map(str, data.shape[::-1]))}, {len(frames)} frame(s), {stretch} stretch",
        window=f"{how}; {stretch} stretch",
        notes=notes,
        header=header,
    )
