"""Which inputs are medical: DICOM, NIfTI and FITS files (and DICOM folders) by name or content.

Importing this module imports nothing but the standard library, so a folder scan stays cheap.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from tinct.io.images import IMAGE_EXTENSIONS

DICOM_EXTENSIONS = (".dcm", ".dicom", ".dic")
NIFTI_EXTENSIONS = (".nii", ".nii.gz")
FITS_EXTENSIONS = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")
MEDICAL_EXTENSIONS = (*NIFTI_EXTENSIONS, *FITS_EXTENSIONS, *DICOM_EXTENSIONS)
FITS_MAGIC = b"SIMPLE  ="  #: how every FITS file starts (the primary header's first card, FITS 4.0 section 4.4.1.1)


def has_dicm_magic(path: Path) -> bool:
    """True when ``path`` has the DICM marker at byte 128 (a DICOM Part 10 file)."""
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def _nifti_magic(head: bytes) -> bool:
    """True when ``head`` (the first 544 or more bytes) starts a single-file NIfTI-1 or NIfTI-2 header."""
    if len(head) >= 348 and head[344:348] == b"n+1\0":
        return 348 in (struct.unpack("<i", head[:4])[0], struct.unpack(">i", head[:4])[0])
    if len(head) >= 12 and head[4:8] == b"n+2\0":
        return 540 in (struct.unpack("<i", head[:4])[0], struct.unpack(">i", head[:4])[0])
    return False


def upload_kind(data: bytes, filename: str | None = None) -> str | None:
    """What an uploaded file is: "dicom", "nifti", "fits", or None (an ordinary image, or anything else).

    DICOM: the DICM marker at byte 128, or a .dcm/.dicom/.dic name (a bare dataset without the
    preamble). FITS: the ``SIMPLE  =`` card at byte 0, or a .fits/.fit/.fts name (gzipped:
    .fits.gz...). NIfTI: a .nii/.nii.gz name, or a single-file NIfTI-1/2 header. FITS and NIfTI
    are recognised gzipped too (only the first bytes are decompressed to look).
    """
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "dicom"
    if data.startswith(FITS_MAGIC):
        return "fits"
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1].lower()
    if name.endswith(NIFTI_EXTENSIONS):
        return "nifti"
    if name.endswith(FITS_EXTENSIONS):
        return "fits"
    if name.endswith(DICOM_EXTENSIONS):
        return "dicom"
    head = data[:544]
    if data[:2] == b"\x1f\x8b":
        try:
            head = zlib.decompressobj(wbits=31).decompress(data[: 1 << 16], 544)
        except zlib.error:
            return None
        if head.startswith(FITS_MAGIC):
            return "fits"
    return "nifti" if _nifti_magic(head) else None


def medical_suffix(path: Path) -> str:
    """The extension of ``path``, counting the two-part ones (``.nii.gz``, ``.fits.gz``) as one; lower case."""
    name = path.name.lower()
    for ext in MEDICAL_EXTENSIONS:
        if name.endswith(ext):
            return ext
    return path.suffix.lower()


def medical_kind(path: str | Path) -> str | None:
    """The kind of a medical input: "dicom", "dicom-folder", "nifti", "fits", or None.

    Files by extension (.dcm/.dicom/.dic, .nii/.nii.gz, .fits/.fit/.fts[.gz]) or by the DICM
    marker at byte 128. A folder is a DICOM folder when its visible files (recursively) hold at
    least one DICOM file and no ordinary image files (``tinct.io.IMAGE_EXTENSIONS``).
    """
    p = Path(path)
    if p.is_dir():
        found = False
        for f in sorted(p.rglob("*")):
            if not f.is_file() or any(part.startswith(".") for part in f.relative_to(p).parts):
                continue
            if f.suffix.lower() in IMAGE_EXTENSIONS:
                return None
            found = found or medical_suffix(f) in DICOM_EXTENSIONS or has_dicm_magic(f)
        return "dicom-folder" if found else None
    named = kind_by_name(p)
    if named is not None:
        return named
    return "dicom" if p.is_file() and has_dicm_magic(p) else None


def kind_by_name(path: str | Path) -> str | None:
    """The kind of a medical file from its name alone (no I/O): "dicom", "nifti", "fits", or None."""
    ext = medical_suffix(Path(path))
    if ext in NIFTI_EXTENSIONS:
        return "nifti"
    if ext in FITS_EXTENSIONS:
        return "fits"
    return "dicom" if ext in DICOM_EXTENSIONS else None


def is_medical_path(path: str | Path) -> bool:
    """True for a DICOM file or folder, a NIfTI or a FITS file (see :func:`medical_kind`)."""
    return medical_kind(path) is not None


def medical_stem(path: str | Path) -> str:
    """A file's name without its extension, two-part ones counted as one (``brain.nii.gz`` -> ``brain``);
    a folder's name as it is."""
    p = Path(path)
    ext = medical_suffix(p)
    return p.name[: -len(ext)] if ext and p.is_file() and p.name.lower().endswith(ext) else p.name
