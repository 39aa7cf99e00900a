"""What every medical reader returns, and the checks they share.

:class:`MedicalImage`: 2-D gray frames windowed to display range as uint16 (0 = black, 65535 =
white, sRGB gray), plus what is needed to write the results back (the DICOM dataset, the NIfTI affine
and header, the FITS header). :func:`check_size` / :func:`check_total` refuse too many pixels from
the header, before decoding; :func:`gunzip` stops a decompression bomb; :data:`DECODE_ERRORS` is what
decoders raise on corrupt input, turned into one-line :class:`~tinct.io.errors.ImageError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinct.io.errors import ImageError, ImageTooLargeError, one_line
from tinct.io.images import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

# what decoders raise on corrupt or unsupported input; turned into one-line ImageErrors
DECODE_ERRORS = (
    AttributeError,
    EOFError,
    IndexError,
    KeyError,
    NotImplementedError,
    OSError,
    RuntimeError,
    TypeError,
    ValueError,
)


@dataclass
class MedicalImage:
    """Frames windowed to display range, plus what is needed to write results back.

    ``frames``: 2-D gray arrays (uint16, 0..65535, sRGB gray), in display orientation (see the
    module docstring). ``kind``: "dicom", "nifti" or "fits". ``dataset``: the pydicom Dataset of
    the (first) source object, without its pixel data, for DICOM. ``sources``: (SOP Class UID,
    SOP Instance UID) of every source DICOM object. ``affine``/``header``: NIfTI affine (4 x 4) and
    header, or the FITS header. ``axis``/``volume_shape``: the NIfTI slicing axis and the 3-D
    shape the slices came from. ``window``: how the frames were windowed, in words.
    ``notes``: anything the user should know (colour dropped, volume 0 of 4-D, NaNs replaced...).
    """

    frames: list[np.ndarray]
    kind: str
    description: str = ""
    window: str = ""
    notes: list[str] = field(default_factory=list)
    dataset: Dataset | None = None
    sources: list[tuple[str, str]] = field(default_factory=list)
    affine: np.ndarray | None = None
    header: Any = None
    axis: int | None = None
    volume_shape: tuple[int, ...] | None = None
    parts: list[SourcePart] = field(default_factory=list)

    def split(self) -> list[tuple[SourcePart, MedicalImage]]:
        """One image per source file (``parts``, in frame order): its frames, dataset and source, so that
        every input file of a series gets outputs of its own. Without parts: ``[]``."""
        out, i = [], 0
        for part in self.parts:
            frames = self.frames[i : i + part.frames]
            i += part.frames
            sources = [(str(part.dataset.get("SOPClassUID", "")), str(part.dataset.get("SOPInstanceUID", "")))]
            out.append((part, replace(self, frames=frames, dataset=part.dataset, sources=sources, parts=[])))
        return out


@dataclass
class SourcePart:
    """One source file of a multi-file image (a DICOM series): its path, how many of the image's frames
    it holds (consecutive, in order) and its dataset without pixel data."""

    path: Path
    frames: int
    dataset: Any = None


def check_size(rows: int, cols: int, max_pixels: int | None) -> None:
    """Refuse frames of more than ``max_pixels`` pixels (default ``DEFAULT_MAX_PIXELS``): ImageTooLargeError."""
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    if rows * cols > limit:
        raise ImageTooLargeError(
            f"image frames are {cols}x{rows} ({rows * cols / 1e6:.1f} MP), above the limit of {limit / 1e6:.0f} MP"
        )


def check_total(n: int, max_total: int | None, what: str) -> None:
    """Refuse more than ``max_total`` pixels over all frames or voxels (None: no limit): ImageTooLargeError."""
    if max_total is not None and n > max_total:
        raise ImageTooLargeError(f"{what} hold {n:,} pixels in all, above the limit of {max_total:,}")


def gunzip(data: bytes, limit: int | None, name: str) -> bytes:
    """Decompress gzip ``data`` (every member), refusing to produce more than ``limit`` bytes.

    Raises:
        ImageTooLargeError: the data expands beyond ``limit`` (a decompression bomb is stopped
        there, never decompressed in full). ImageError: corrupt or truncated gzip data.
    """
    import zlib

    out: list[bytes] = []
    total = 0
    try:
        while data:
            d = zlib.decompressobj(wbits=31)
            chunk = d.decompress(data, 0 if limit is None else limit - total + 1)
            total += len(chunk)
            out.append(chunk)
            if limit is not None and total > limit:
                raise ImageTooLargeError(f"{name}: the gzipped data expands to more than {limit / 2**20:.0f} MB")
            if not d.eof:
                raise ImageError(f"{name}: truncated gzip data")
            data = d.unused_data
            if not data.strip(b"\0"):  # trailing zero padding is allowed
                break
    except zlib.error as e:
        raise ImageError(f"{name}: corrupt gzip data: {one_line(e)}") from None
    return b"".join(out)
