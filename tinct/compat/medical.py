"""Deprecated path: medical formats are read and written by :mod:`tinct.io.medical` (kinds, windowing,
dicom, nifti, fits, read, writers, anonymize) and colorized by :mod:`tinct.apps.medical`. The old
names are re-exported."""

from tinct.apps.medical import (
    MODES,
    colorize_medical,
    colorize_medical_file,
    colorize_medical_uncertainty,
)
from tinct.classical.lut import DEFAULT_LUT
from tinct.core.color import gray16_from_l
from tinct.io.medical.anonymize import anonymous_stem
from tinct.io.medical.dicom import dicom_series, read_dicom, read_dicom_series
from tinct.io.medical.fits import STRETCHES, read_fits
from tinct.io.medical.image import MedicalImage
from tinct.io.medical.kinds import (
    DICOM_EXTENSIONS,
    FITS_EXTENSIONS,
    FITS_MAGIC,
    NIFTI_EXTENSIONS,
    is_medical_path,
    medical_kind,
    upload_kind,
)
from tinct.io.medical.nifti import read_nifti
from tinct.io.medical.read import read_medical
from tinct.io.medical.windowing import PERCENTILES, Window, WindowSpec, apply_window, parse_window, resolve_window
from tinct.io.medical.writers import (
    MF_TRUE_COLOR_SC_SOP_CLASS,
    SC_SOP_CLASS,
    encode_nifti_rgb,
    encode_secondary_capture,
    medical_note,
    write_frames,
    write_nifti_rgb,
    write_secondary_capture,
)

__all__ = [
    "DEFAULT_LUT",
    "DICOM_EXTENSIONS",
    "FITS_EXTENSIONS",
    "FITS_MAGIC",
    "MF_TRUE_COLOR_SC_SOP_CLASS",
    "MODES",
    "NIFTI_EXTENSIONS",
    "PERCENTILES",
    "SC_SOP_CLASS",
    "STRETCHES",
    "MedicalImage",
    "Window",
    "WindowSpec",
    "anonymous_stem",
    "apply_window",
    "colorize_medical",
    "colorize_medical_file",
    "colorize_medical_uncertainty",
    "dicom_series",
    "encode_nifti_rgb",
    "encode_secondary_capture",
    "gray16_from_l",
    "is_medical_path",
    "medical_kind",
    "medical_note",
    "parse_window",
    "read_dicom",
    "read_dicom_series",
    "read_fits",
    "read_medical",
    "read_nifti",
    "resolve_window",
    "upload_kind",
    "write_frames",
    "write_nifti_rgb",
    "write_secondary_capture",
]
