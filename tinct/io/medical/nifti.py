"""NIfTI in (nibabel): a volume cut into display slices.

The volume (scl_slope/inter applied) is cut into slices along ``axis``; NaN and +-inf voxels are
set to the volume's finite minimum; one window for the whole volume, so slices are consistent. 4-D
volumes: the first volume is used, with a note. Slices are shown as ``np.rot90(slice)`` (the
slice's second voxel axis points up, the usual view of RAS-like volumes); the RGB NIfTI writer
(:func:`tinct.io.medical.writers.encode_nifti_rgb`) undoes it.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np

from tinct.core.color import gray16_from_l, luminance
from tinct.core.pixels import unit_to_uint16
from tinct.io.errors import ImageError, NotAnImageError, one_line
from tinct.io.medical.image import DECODE_ERRORS, MedicalImage, check_size, check_total, gunzip
from tinct.io.medical.windowing import (
    Window,
    WindowSpec,
    apply_window,
    fill_nonfinite,
    finite_range,
    percentile_window,
    resolve_window,
)


def _nibabel_errors() -> tuple[type[Exception], ...]:
    """What nibabel raises on a corrupt header or voxel data, beyond the builtin errors."""
    from nibabel.spatialimages import HeaderDataError, ImageDataError
    from nibabel.wrapstruct import WrapStructError

    return (HeaderDataError, ImageDataError, WrapStructError)


def _load_nifti(src: str | Path | bytes, max_bytes: int | None = None):
    """nibabel image from a path or bytes (gzip or not) -> (image, name), or a one-line ImageError.

    ``max_bytes``: for gzipped bytes, the most they may expand to (:func:`_gunzip`).
    """
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    name = Path(src).name if isinstance(src, (str, Path)) else "upload"
    errors = (*DECODE_ERRORS, *_nibabel_errors(), ImageFileError, gzip.BadGzipFile)
    try:
        if isinstance(src, (str, Path)):
            if not Path(src).is_file():
                raise ImageError(f"{name}: file not found")
            img = nib.load(str(src))
        else:
            data = gunzip(src, max_bytes, name) if src[:2] == b"\x1f\x8b" else src
            for cls in (nib.Nifti1Image, nib.Nifti2Image):
                try:
                    img = cls.from_bytes(data)
                    break
                except errors:
                    img = None
            if img is None:
                raise NotAnImageError(f"{name}: not a NIfTI file")
        if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
            raise ImageError(f"{name}: not a NIfTI image ({type(img).__name__})")
        return img, name
    except ImageError:
        raise
    except errors as e:
        raise ImageError(f"{name}: cannot read NIfTI file: {one_line(e)}") from None


def _nifti_window(header: Any) -> Window | None:
    """The header's display range (cal_min..cal_max) when it is set."""
    lo, hi = float(header["cal_min"]), float(header["cal_max"])
    return Window.from_range(lo, hi) if np.isfinite(lo) and np.isfinite(hi) and hi > lo else None


def read_nifti(
    src: str | Path | bytes,
    axis: int = 2,
    window: WindowSpec = "auto",
    max_pixels: int | None = None,
    max_total: int | None = None,
) -> MedicalImage:
    """Read a NIfTI-1/2 volume (path or bytes, .nii or .nii.gz) -> one frame per slice along ``axis``.

    Voxel values have scl_slope/scl_inter applied; NaN and +-inf voxels are set to the volume's
    finite minimum (noted). ``window``: "auto" = the header's cal_min..cal_max when set, else the
    0.5..99.5 percentiles of the volume (MR intensities are uncalibrated and often have a few hot
    voxels); "full" = min..max; (center, width) = DICOM LINEAR window. One window for the whole
    volume. Slices are shown as ``np.rot90(slice)``. A 4-D volume contributes its first volume (noted);
    RGB NIfTI input is reduced to its luminance. ``affine`` and ``header`` are kept.

    Limits: ``max_pixels`` per slice (default ``tinct.io.images.DEFAULT_MAX_PIXELS``); ``max_total`` voxels
    in the (first) volume (default: no limit; the server sets one), checked from the header before
    the voxels are read; with ``max_total``, gzipped bytes may expand to at most 8 bytes per allowed
    voxel + 1 MiB (a decompression bomb is stopped there).

    Raises:
        ImageError: unreadable file, or a volume of more than 4 (non-singleton) dimensions;
        :class:`~tinct.io.errors.ImageTooLargeError` above a limit.
        ValueError: ``axis`` not in 0..2.
    """
    img, name = _load_nifti(src, None if max_total is None else 8 * max_total + 2**20)
    if axis not in (0, 1, 2, -1, -2, -3):
        raise ValueError(f"axis must be 0, 1 or 2, got {axis}")
    axis = axis % 3
    notes: list[str] = []
    shape = tuple(int(s) for s in img.shape)
    while len(shape) > 3 and shape[-1] == 1:
        shape = shape[:-1]
    if len(shape) > 4:
        raise ImageError(f"{name}: {len(shape)}-D NIfTI volumes are not supported")
    spatial = (shape + (1, 1))[:3]
    dims = [spatial[i] for i in range(3) if i != axis]
    check_size(dims[0], dims[1], max_pixels)
    check_total(int(np.prod(spatial)), max_total, f"{name}: the {spatial[axis]} slice(s)")
    try:
        dtype = img.get_data_dtype()
        first_volume = img.dataobj[(slice(None),) * 3 + (0,)] if len(shape) == 4 else img.dataobj
        if dtype.names and set("RGB") <= set(dtype.names):
            rgb = np.asanyarray(first_volume).reshape(spatial)
            rgb = np.stack([rgb["R"], rgb["G"], rgb["B"]], -1)
            vol = None
            gray = gray16_from_l(luminance(rgb.reshape(spatial[0], -1, 3))).reshape(spatial)
            notes.append("RGB NIfTI: its luminance is used and its colour dropped (no window applied)")
        else:
            vol = np.asanyarray(first_volume, dtype=np.float32).reshape(spatial)
            if len(shape) == 4:
                notes.append(f"4-D volume: the first of {shape[3]} volumes is used")
    except (*DECODE_ERRORS, *_nibabel_errors()) as e:
        raise ImageError(f"{name}: cannot read the NIfTI voxel data: {one_line(e)}") from None
    how = ""
    if vol is not None:
        vol = fill_nonfinite(vol, notes)
        lo, hi = finite_range([vol])
        auto = _nifti_window(img.header) or percentile_window(vol, window)
        win, how = resolve_window(window, lo, hi, auto)
        gray = unit_to_uint16(apply_window(vol, win))
    frames = [np.ascontiguousarray(np.rot90(np.take(gray, i, axis=axis))) for i in range(spatial[axis])]
    return MedicalImage(
        frames=frames,
        kind="nifti",
        description=f"NIfTI volume {'x'.join(map(str, shape))}, {len(frames)} slice(s) along axis {axis}",
        window=how,
        notes=notes,
        affine=np.asarray(img.affine, dtype=np.float64),
        header=img.header,
        axis=axis,
        volume_shape=spatial,
    )
