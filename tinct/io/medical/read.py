"""One entry for every medical reader: :func:`read_source` reads a DICOM object, a NIfTI volume or a FITS
image from a path or bytes (the CLI's files and the server's uploads alike), :func:`read_medical` any
medical input on disk, DICOM folders included.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tinct.io.errors import ImageError
from tinct.io.medical import dicom, fits, nifti
from tinct.io.medical.image import MedicalImage
from tinct.io.medical.kinds import medical_kind, medical_stem
from tinct.io.medical.windowing import WindowSpec


def read_source(
    src: str | Path | bytes,
    kind: str,
    *,
    window: WindowSpec = "auto",
    axis: int = 2,
    stretch: str = "linear",
    max_pixels: int | None = None,
    max_total: int | None = None,
) -> MedicalImage:
    """Read one ``kind`` ("dicom", "nifti" or "fits") object from a path or bytes -> :class:`MedicalImage`.

    ``window`` for all; ``axis`` the NIfTI slicing axis; ``stretch`` the FITS stretch. ``max_pixels``
    bounds one frame, slice or plane, ``max_total`` all of them together (checked from the header).
    """
    if kind == "dicom":
        return dicom.read_dicom(src, window, max_pixels=max_pixels, max_total=max_total)
    if kind == "nifti":
        return nifti.read_nifti(src, axis, window, max_pixels, max_total)
    if kind == "fits":
        return fits.read_fits(src, stretch, window=window, max_pixels=max_pixels, max_total=max_total)
    raise ValueError(f"unknown medical kind {kind!r}; use dicom, nifti or fits")


def read_medical(
    src: str | Path,
    *,
    window: WindowSpec = "auto",
    axis: int = 2,
    stretch: str = "linear",
    max_pixels: int | None = None,
    skip: Callable[[Path], bool] | None = None,
) -> list[tuple[str, MedicalImage]]:
    """Read any medical input -> [(series stem, image)]: one per file, one per series of a DICOM folder.

    A DICOM folder's images keep which file each frame came from (``parts``; split them with
    :meth:`MedicalImage.split`); their stem names the folder (and the series: ``{folder}_seriesNN``).
    ``skip``: files of a DICOM folder to leave out (earlier outputs).
    """
    src = Path(src)
    kind = medical_kind(src)
    if kind == "dicom-folder":
        series = dicom.dicom_series(src, skip)
        if not series:
            raise ImageError(f"{src.name}: no DICOM image in this folder")
        if len(series) == 1:
            return [(src.name, dicom.read_dicom_series(series[0], window, max_pixels))]
        return [
            (f"{src.name}_series{i + 1:02d}", dicom.read_dicom_series(s, window, max_pixels))
            for i, s in enumerate(series)
        ]
    if kind is None:
        raise ImageError(f"{src.name}: not a DICOM, NIfTI or FITS input")
    image = read_source(src, kind, window=window, axis=axis, stretch=stretch, max_pixels=max_pixels)
    return [(medical_stem(src), image)]
