"""Medical and scientific images: DICOM, NIfTI and FITS in; colour that never alters the anatomy out.

Reading turns every supported input into a :class:`MedicalImage`: a list of 2-D gray frames,
*windowed* to display range as uint16 (0 = black, 65535 = white, sRGB gray), plus the metadata
needed to write the results back (the DICOM dataset, the NIfTI affine and header, the FITS header).

* DICOM (:func:`read_dicom`, :func:`read_dicom_series`; pydicom, with pylibjpeg for JPEG, JPEG-LS
  and JPEG 2000 transfer syntaxes): stored values -> modality LUT (Rescale Slope/Intercept or the
  Modality LUT Sequence, :func:`pydicom.pixels.apply_modality_lut`) -> VOI (the window, see
  :func:`resolve_window`) -> MONOCHROME1 inverted. Enhanced multi-frame objects take their rescale
  and window per frame from the functional groups. Pixel padding (Pixel Padding Value) is left out
  of min..max windows and shown black. Colour DICOM (RGB, YBR, PALETTE COLOR): its luminance is used
  (as a 16-bit gray of the same CIELAB L), its colour dropped, no window applied, with a note.
* NIfTI (:func:`read_nifti`; nibabel): the volume (scl_slope/inter applied) is cut into slices
  along ``axis``; NaN and +-inf voxels are set to the volume's finite minimum; one window for the
  whole volume, so slices are consistent. 4-D volumes: the first volume is used, with a note.
* FITS (:func:`read_fits`; astropy): the first image HDU with 2-D data, or a 3-D cube as frames;
  NaN/inf set to the finite minimum; scaled between the 0.5 and 99.5 percentiles, then stretched
  (linear, asinh or log, astropy's definitions).

Display orientation: DICOM frames are as stored (row 0 at the top). NIfTI slices are shown as
``np.rot90(slice)`` (the slice's second voxel axis points up, the usual view of RAS-like volumes);
:func:`write_nifti_rgb` undoes it. FITS images are flipped vertically (FITS row 1 is the bottom).

Colour is added by :func:`colorize_medical`: ``"realistic"`` (a model, via
``Session.colorize_pixels``) or ``"pseudo"`` (luminance keying with a look-up table,
:func:`tinct.guided.lut_ab`). Both join new ab with the windowed frame's own CIELAB L, so the
output's lightness is the windowed input's up to 8-bit rounding (SPEC.md colour contract).
Writers (:func:`write_frames`, :func:`write_secondary_capture`, :func:`write_nifti_rgb`) are
atomic and say in the output's metadata that colour was added by software, and in which mode.
:func:`colorize_medical_file` is the one entry point for the command line.
"""

from __future__ import annotations

import copy
import datetime as _dt
import functools
import gzip
import io
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import numpy as np

from tinct.core.color import lab_to_rgb8, luminance
from tinct.io import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    ImageError,
    ImageTooLargeError,
    NotAnImageError,
    atomic_write_bytes,
    encode_image,
    extension_for,
    output_format,
)
from tinct.version import __version__

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

    from tinct.api import Session

__all__ = [
    "DEFAULT_LUT",
    "MODES",
    "STRETCHES",
    "MedicalImage",
    "Window",
    "anonymous_stem",
    "WindowSpec",
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

#: "auto", "full" or an explicit (center, width)
WindowSpec = Union[str, tuple[float, float]]

MODES = ("realistic", "pseudo")
STRETCHES = ("linear", "asinh", "log")
DEFAULT_LUT = "viridis"  #: pseudo-colour table used when none is named (see tinct.guided.BUILTIN_LUTS)
PERCENTILES = (0.5, 99.5)  #: the "auto" window of NIfTI volumes without cal_min/cal_max, and of FITS

DICOM_EXTENSIONS = (".dcm", ".dicom", ".dic")
NIFTI_EXTENSIONS = (".nii", ".nii.gz")
FITS_EXTENSIONS = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz")
FITS_MAGIC = b"SIMPLE  ="  #: how every FITS file starts (the primary header's first card, FITS 4.0 section 4.4.1.1)

SC_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"  #: Secondary Capture Image Storage
MF_TRUE_COLOR_SC_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7.4"  #: Multi-frame True Color SC Image Storage

_U16 = 65535.0
# what decoders raise on corrupt or unsupported input; turned into one-line ImageErrors
_DECODE_ERRORS = (
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


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:200]


# --------------------------------------------------------------------------------------------
# the image every reader returns


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


# --------------------------------------------------------------------------------------------
# windowing


@dataclass(frozen=True)
class Window:
    """A VOI window (DICOM PS3.3 C.11.2.1.2): ``function`` is LINEAR, LINEAR_EXACT or SIGMOID."""

    center: float
    width: float
    function: str = "LINEAR"

    @classmethod
    def from_range(cls, lo: float, hi: float) -> Window:
        """The window that maps ``lo`` to black and ``hi`` to white exactly (LINEAR_EXACT)."""
        return cls((lo + hi) / 2.0, max(hi - lo, 1e-12), "LINEAR_EXACT")

    def describe(self) -> str:
        return f"C{self.center:g} W{self.width:g} {self.function}"


def apply_window(values: np.ndarray, window: Window) -> np.ndarray:
    """Window ``values`` to [0, 1] (float32) with the DICOM PS3.3 C.11.2.1.2/C.11.2.1.3 formulas.

    LINEAR (C.11.2.1.2.1, width >= 1): ``x <= c - 0.5 - (w-1)/2`` -> 0; ``x > c - 0.5 + (w-1)/2``
    -> 1; else ``(x - (c - 0.5)) / (w - 1) + 0.5``. LINEAR_EXACT (C.11.2.1.3.2, width > 0):
    ``(x - c) / w + 0.5`` clipped to [0, 1]. SIGMOID: ``1 / (1 + exp(-4 (x - c) / w))``.
    Multiply by 65535 and round for the uint16 display values of :class:`MedicalImage`.
    """
    x = np.asarray(values, dtype=np.float64)
    c, w, fn = float(window.center), float(window.width), window.function.upper()
    if fn == "LINEAR":
        if w < 1:
            raise ValueError(f"a LINEAR window needs a width of at least 1, got {w:g}")
        if w == 1:  # the formula's limit: a step at c - 0.5
            return (x > c - 0.5).astype(np.float32)
        y = (x - (c - 0.5)) / (w - 1) + 0.5
        y[x <= c - 0.5 - (w - 1) / 2] = 0.0
        y[x > c - 0.5 + (w - 1) / 2] = 1.0
    elif fn == "LINEAR_EXACT":
        if w <= 0:
            raise ValueError(f"a LINEAR_EXACT window needs a positive width, got {w:g}")
        y = (x - c) / w + 0.5
    elif fn == "SIGMOID":
        if w <= 0:
            raise ValueError(f"a SIGMOID window needs a positive width, got {w:g}")
        y = 1.0 / (1.0 + np.exp(np.clip(-4.0 * (x - c) / w, -700, 700)))
    else:
        raise ValueError(f"unknown VOI LUT function {window.function!r}")
    return np.clip(y, 0.0, 1.0).astype(np.float32)


def _to_u16(unit: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint16 display values (rounded)."""
    return np.rint(np.clip(unit, 0.0, 1.0) * _U16).astype(np.uint16)


def parse_window(text: str | Sequence[float]) -> WindowSpec:
    """Parse a ``--window`` value: "auto", "full", or "CENTER,WIDTH" (e.g. "40,400").

    Raises:
        ValueError: anything else, or a width that is not positive.
    """
    if isinstance(text, str):
        t = text.strip().lower()
        if t in ("auto", "full"):
            return t
        parts = t.replace(";", ",").split(",")
    else:
        parts = list(text)
    try:
        center, width = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise ValueError(f"window must be 'auto', 'full' or 'CENTER,WIDTH' (e.g. 40,400), got {text!r}") from None
    if not (np.isfinite(center) and np.isfinite(width)) or width < 1:
        raise ValueError(f"window width must be at least 1 (and both numbers finite), got {text!r}")
    return (center, width)


def resolve_window(window: WindowSpec, lo: float, hi: float, auto: Window | None = None) -> tuple[Window, str]:
    """The :class:`Window` for a ``window`` spec, and how it was chosen (for the description).

    "auto": ``auto`` (the file's own window, or a percentile range, chosen by the reader) if
    given, else ``lo..hi``; "full": ``lo..hi`` (the data's min..max); (center, width): that
    window with the DICOM LINEAR function.
    """
    spec = parse_window(window)
    if spec == "auto" and auto is not None:
        return auto, f"{auto.describe()} (auto)"
    if spec in ("auto", "full"):
        return Window.from_range(lo, hi), f"min..max {lo:g}..{hi:g} ({spec})"
    c, w = spec  # type: ignore[misc]
    return Window(c, w, "LINEAR"), f"C{c:g} W{w:g} LINEAR (given)"


def _finite_range(
    arrays: Sequence[np.ndarray], masks: Sequence[np.ndarray | None] | None = None
) -> tuple[float, float]:
    """min and max over the finite, unmasked values of ``arrays`` ((0, 0) when there are none)."""
    lo, hi = np.inf, -np.inf
    for i, a in enumerate(arrays):
        m = masks[i] if masks is not None else None
        v = a[~m] if m is not None else a
        v = v[np.isfinite(v)] if v.dtype.kind == "f" else v
        if v.size:
            lo, hi = min(lo, float(v.min())), max(hi, float(v.max()))
    return (lo, hi) if lo <= hi else (0.0, 0.0)


def _fill_nonfinite(volume: np.ndarray, notes: list[str]) -> np.ndarray:
    """Set NaN and +-inf values to the finite minimum (0 if none is finite), with a note."""
    bad = ~np.isfinite(volume)
    n = int(bad.sum())
    if n:
        finite = volume[~bad]
        fill = float(finite.min()) if finite.size else 0.0
        volume = np.where(bad, fill, volume).astype(np.float32)
        notes.append(f"{n} NaN/inf value(s) set to the minimum {fill:g}")
    return volume


@functools.lru_cache(maxsize=1)
def _l_of_gray16() -> np.ndarray:
    return luminance(np.arange(65536, dtype=np.uint16)[None])[0]


def gray16_from_l(L: np.ndarray) -> np.ndarray:
    """The uint16 gray whose CIELAB L (``tinct.color.luminance``) is nearest to ``L``."""
    lut = _l_of_gray16()
    i = np.clip(np.searchsorted(lut, L), 1, 65535)
    lower_nearer = (L - lut[i - 1]) < (lut[i] - L)
    return (i - lower_nearer).astype(np.uint16)


def _check_size(rows: int, cols: int, max_pixels: int | None) -> None:
    """Refuse frames of more than ``max_pixels`` pixels (default ``DEFAULT_MAX_PIXELS``): ImageTooLargeError."""
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    if rows * cols > limit:
        raise ImageTooLargeError(
            f"image frames are {cols}x{rows} ({rows * cols / 1e6:.1f} MP), above the limit of {limit / 1e6:.0f} MP"
        )


def _check_total(n: int, max_total: int | None, what: str) -> None:
    """Refuse more than ``max_total`` pixels over all frames or voxels (None: no limit): ImageTooLargeError."""
    if max_total is not None and n > max_total:
        raise ImageTooLargeError(f"{what} hold {n:,} pixels in all, above the limit of {max_total:,}")


# --------------------------------------------------------------------------------------------
# DICOM

# attributes that drive the modality and VOI transforms, lifted from functional groups per frame
_TRANSFORM_KEYWORDS = (
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "ModalityLUTSequence",
    "WindowCenter",
    "WindowWidth",
    "VOILUTFunction",
    "VOILUTSequence",
)
_PIXEL_KEYWORDS = ("PixelRepresentation", "BitsStored", "BitsAllocated", "PhotometricInterpretation")


def _dcmread(src: str | Path | bytes, stop_before_pixels: bool = False) -> Dataset:
    """Read a DICOM file (Part 10, or a bare dataset) -> Dataset, or a one-line ImageError."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    name = Path(src).name if isinstance(src, (str, Path)) else "upload"
    if isinstance(src, (str, Path)):
        p = Path(src)
        if not p.is_file():
            raise ImageError(f"{name}: file not found" if not p.exists() else f"{name}: not a file")
        if p.stat().st_size == 0:
            raise ImageError(f"{name}: empty file (0 bytes)")
    fp = io.BytesIO(src) if isinstance(src, bytes) else src
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return pydicom.dcmread(fp, stop_before_pixels=stop_before_pixels)
        except InvalidDicomError:
            pass  # no preamble: maybe a bare dataset; accept it only if it is clearly an image
        except _DECODE_ERRORS as e:
            raise ImageError(f"{name}: corrupt DICOM file: {_one_line(e)}") from None
        try:
            if isinstance(fp, io.BytesIO):
                fp.seek(0)
            ds = pydicom.dcmread(fp, stop_before_pixels=stop_before_pixels, force=True)
            if "Rows" in ds and "Columns" in ds and "SOPClassUID" in ds:
                return ds
        except _DECODE_ERRORS:
            pass
    raise NotAnImageError(f"{name}: not a DICOM file (no DICM marker at byte 128)")


def _frame_params(ds: Dataset, index: int) -> Dataset:
    """The transform attributes for frame ``index``: top level, then shared, then per-frame groups."""
    from pydicom.dataset import Dataset

    p = Dataset()
    if hasattr(ds, "file_meta"):
        p.file_meta = ds.file_meta
    for kw in _PIXEL_KEYWORDS + _TRANSFORM_KEYWORDS:
        if kw in ds:
            p[kw] = ds[kw]
    for seq_kw, i in (("SharedFunctionalGroupsSequence", 0), ("PerFrameFunctionalGroupsSequence", index)):
        groups = ds.get(seq_kw)
        if not groups or len(groups) <= i:
            continue
        for macro in ("PixelValueTransformationSequence", "FrameVOILUTSequence"):
            items = groups[i].get(macro)
            if items:
                for kw in _TRANSFORM_KEYWORDS:
                    if kw in items[0]:
                        p[kw] = items[0][kw]
    return p


def _first(v: Any) -> float:
    """First value of a possibly multi-valued DICOM number."""
    return float(v[0] if isinstance(v, Sequence) and not isinstance(v, str) else v)


def _file_window(params: Dataset) -> Window | None:
    """The object's own first window (Window Center/Width + VOI LUT Function), or None."""
    if "WindowCenter" not in params or "WindowWidth" not in params:
        return None
    try:
        w = Window(
            _first(params.WindowCenter), _first(params.WindowWidth), str(params.get("VOILUTFunction") or "LINEAR")
        )
        apply_window(np.zeros(1), w)  # validates width and function
    except (TypeError, ValueError, IndexError):
        return None
    return w


def _voi_lut_unit(values: np.ndarray, params: Dataset) -> np.ndarray:
    """Apply the first VOI LUT Sequence item to modality values -> [0, 1] (by the LUT's bit depth)."""
    from pydicom.pixels import apply_voi

    item = params.VOILUTSequence[0]
    n, first, bits = (int(v) for v in item.LUTDescriptor)
    n = n or 65536
    x = np.clip(np.rint(values), first, first + n - 1).astype(np.int64)
    out = apply_voi(x, params, index=0).astype(np.float64)
    top = max(2.0**bits - 1, float(out.max()) if out.size else 1.0)
    return (out / top).astype(np.float32)


def _padding_mask(raw: np.ndarray, ds: Dataset) -> np.ndarray | None:
    """Pixels whose stored value is Pixel Padding Value (up to Pixel Padding Range Limit), or None."""
    if "PixelPaddingValue" not in ds:
        return None
    a = int(ds.PixelPaddingValue)
    b = int(ds.get("PixelPaddingRangeLimit", a))
    lo, hi = min(a, b), max(a, b)
    m = (raw >= lo) & (raw <= hi)
    return m if m.any() else None


@dataclass
class _DicomFrame:
    """One decoded frame on its way to display values."""

    params: Dataset
    values: np.ndarray  # modality values (float32), or uint16 gray for colour input
    pad: np.ndarray | None = None
    colour: bool = False
    inverted: bool = False


def _decode_dicom(
    ds: Dataset, name: str, frames: Sequence[int] | None, max_pixels: int | None, max_total: int | None = None
) -> list[_DicomFrame]:
    """Decode the pixel data of ``ds`` (selected ``frames``) into modality values or gray.

    ``max_pixels`` bounds one frame, ``max_total`` all selected frames together (checked before decoding).
    """
    from pydicom.pixels import apply_color_lut, apply_modality_lut, iter_pixels

    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise ImageError(f"{name}: DICOM object without an image (no Pixel Data)")
    try:
        rows, cols = int(ds.Rows), int(ds.Columns)
        _check_size(rows, cols, max_pixels)
        n_frames = int(ds.get("NumberOfFrames") or 1)
        indices = list(range(n_frames)) if frames is None else [int(i) for i in frames]
        bad = [i for i in indices if not 0 <= i < n_frames]
        if bad:
            raise ImageError(f"{name}: frame {bad[0]} does not exist (the object has {n_frames})")
        _check_total(rows * cols * len(indices), max_total, f"{name}: the {len(indices)} frame(s)")
        photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
        out: list[_DicomFrame] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for i, raw in zip(indices, iter_pixels(ds, indices=indices), strict=True):
                params = _frame_params(ds, i)
                if photometric == "PALETTE COLOR":
                    raw = apply_color_lut(raw, ds)
                if raw.ndim == 3:  # RGB (YBR is converted to RGB by pydicom)
                    gray = gray16_from_l(luminance(_as_uint(raw)))
                    out.append(_DicomFrame(params, gray, colour=True))
                    continue
                values = apply_modality_lut(raw, params).astype(np.float32)
                out.append(_DicomFrame(params, values, _padding_mask(raw, ds), inverted=photometric == "MONOCHROME1"))
    except ImageError:
        raise
    except _DECODE_ERRORS as e:
        raise ImageError(f"{name}: cannot decode DICOM pixel data (corrupt or unsupported?): {_one_line(e)}") from None
    return out


def _as_uint(rgb: np.ndarray) -> np.ndarray:
    """Colour samples as uint8/uint16 for ``luminance`` (other depths rescaled to 16 bits)."""
    if rgb.dtype in (np.uint8, np.uint16):
        return rgb
    a = rgb.astype(np.float64)
    top = float(a.max()) if a.size and a.max() > 0 else 1.0
    return _to_u16(a / top)


def _window_dicom(decoded: list[_DicomFrame], window: WindowSpec) -> tuple[list[np.ndarray], str, list[str]]:
    """Window decoded frames to uint16 display values; returns (frames, window description, notes).

    A min..max window ("full", or "auto" where an object has no window of its own) spans all
    gray frames together (padding excluded), so a multi-frame object or a series stays consistent.
    """
    gray = [f for f in decoded if not f.colour]
    lo, hi = _finite_range([f.values for f in gray], [f.pad for f in gray])
    frames, used, notes = [], [], []
    for f in decoded:
        if f.colour:
            frames.append(f.values)
            continue
        auto_lut = parse_window(window) == "auto" and bool(f.params.get("VOILUTSequence"))
        if auto_lut:
            unit, how = _voi_lut_unit(f.values, f.params), "VOI LUT Sequence (auto)"
        else:
            win, how = resolve_window(window, lo, hi, _file_window(f.params))
            unit = apply_window(f.values, win)
        u16 = _to_u16(unit)
        if f.inverted:
            u16 = 65535 - u16
        if f.pad is not None:
            u16[f.pad] = 0
        frames.append(u16)
        if how not in used:
            used.append(how)
    if any(f.colour for f in decoded):
        notes.append("colour DICOM: its luminance is used and its colour dropped (no window applied)")
    if any(f.inverted for f in gray):
        used.append("MONOCHROME1 inverted")
    if any(f.pad is not None for f in gray):
        notes.append("pixel padding shown black and left out of min..max windows")
    return frames, "; ".join(used[:3]) + (" ..." if len(used) > 3 else ""), notes


def _describe_ds(ds: Dataset, n_frames: int, shape: tuple[int, ...]) -> str:
    mod = ds.get("Modality", "?")
    pi = str(ds.get("PhotometricInterpretation", "?")).strip()
    bits = ds.get("BitsStored", "?")
    return f"DICOM {mod}, {n_frames} frame(s) {shape[1]}x{shape[0]}, {pi}, {bits}-bit"


def read_dicom(
    src: str | Path | bytes,
    window: WindowSpec = "auto",
    frames: Sequence[int] | None = None,
    max_pixels: int | None = None,
    max_total: int | None = None,
) -> MedicalImage:
    """Read one DICOM object (path or bytes) -> :class:`MedicalImage` of uint16 display frames.

    ``window``: "auto" = the object's VOI LUT Sequence, else its first Window Center/Width (with its
    VOI LUT Function), else the min..max of the modality values (all frames, padding excluded);
    "full" = that min..max; (center, width) = the DICOM LINEAR window on modality values (e.g. HU).
    ``frames``: indices of the frames to decode (default all). ``max_pixels`` limits one frame's
    pixel count (default ``tinct.io.DEFAULT_MAX_PIXELS``), checked before decoding; ``max_total``
    the pixel count of all the frames together (default: no limit; the server sets one).

    Raises:
        ImageError: not DICOM (:class:`~tinct.io.NotAnImageError`), corrupt, no pixel data, or a
        transfer syntax without a decoder; :class:`~tinct.io.ImageTooLargeError` above a limit.
    """
    name = Path(src).name if isinstance(src, (str, Path)) else "upload"
    ds = _dcmread(src)
    decoded = _decode_dicom(ds, name, frames, max_pixels, max_total)
    out, how, notes = _window_dicom(decoded, window)
    _without_pixels(ds)
    return MedicalImage(
        frames=out,
        kind="dicom",
        description=_describe_ds(ds, len(out), out[0].shape),
        window=how,
        notes=notes,
        dataset=ds,
        sources=[(str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", "")))],
    )


def _without_pixels(ds: Dataset) -> Dataset:
    """Drop the pixel data from ``ds`` (in place; the frames are kept, the dataset is metadata)."""
    for kw in ("PixelData", "FloatPixelData", "DoubleFloatPixelData"):
        if kw in ds:
            del ds[kw]
    return ds


def _slice_key(ds: Dataset, path: Path) -> tuple:
    """Sort key: position along the slice normal, else Instance Number, else file name."""
    pos = None
    try:
        iop = np.asarray([float(v) for v in ds.ImageOrientationPatient])
        ipp = np.asarray([float(v) for v in ds.ImagePositionPatient])
        pos = float(np.dot(np.cross(iop[:3], iop[3:]), ipp))
    except (AttributeError, TypeError, ValueError):
        pass
    inst = ds.get("InstanceNumber")
    try:
        inst = int(inst) if inst is not None else None
    except (TypeError, ValueError):
        inst = None
    return (pos is None, pos or 0.0, inst is None, inst or 0, path.name)


def dicom_series(folder: str | Path) -> list[list[Path]]:
    """The DICOM image series under ``folder`` (searched recursively), each sorted for display.

    Files are grouped by Series Instance UID and image size (a series that mixes sizes becomes
    several groups), and sorted by position along the slice normal (Image Position/Orientation
    Patient), else Instance Number, else file name. Hidden files, non-DICOM files and objects
    without pixel data (DICOMDIR, reports) are skipped. Groups are ordered by Series Number.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{folder}: not a folder")
    groups: dict[tuple, list[tuple[tuple, Path]]] = {}
    series_no: dict[tuple, tuple] = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(folder).parts):
            continue
        if _suffix(p) not in DICOM_EXTENSIONS and not _has_dicm_magic(p):
            continue
        try:
            ds = _dcmread(p, stop_before_pixels=True)
        except ImageError:
            continue
        if "Rows" not in ds or "Columns" not in ds or ds.get("DirectoryRecordSequence") is not None:
            continue
        key = (str(ds.get("SeriesInstanceUID", "")), int(ds.Rows), int(ds.Columns))
        groups.setdefault(key, []).append((_slice_key(ds, p), p))
        sn = ds.get("SeriesNumber")
        series_no.setdefault(key, (sn is None, int(sn) if sn is not None else 0, key))
    return [[p for _, p in sorted(groups[k])] for k in sorted(groups, key=lambda k: series_no[k])]


def read_dicom_series(
    src: str | Path | Sequence[str | Path], window: WindowSpec = "auto", max_pixels: int | None = None
) -> MedicalImage:
    """Read a DICOM series -> one :class:`MedicalImage`, frames in display order (see :func:`dicom_series`).

    ``src`` is a folder holding exactly one series, or a list of files in order. Every object's
    frames are included; ``window`` as in :func:`read_dicom`, a min..max window spanning the series.

    Raises:
        ImageError: no DICOM image in the folder, several series (list them with :func:`dicom_series`
        and pass one), or an unreadable file.
    """
    if isinstance(src, (str, Path)):
        series = dicom_series(src)
        if not series:
            raise ImageError(f"{Path(src).name}: no DICOM images found")
        if len(series) > 1:
            raise ImageError(f"{Path(src).name}: holds {len(series)} series; read them one by one (dicom_series)")
        paths = series[0]
    else:
        paths = [Path(p) for p in src]
        if not paths:
            raise ImageError("no DICOM files given")
    decoded: list[_DicomFrame] = []
    sources: list[tuple[str, str]] = []
    first: Dataset | None = None
    for p in paths:
        ds = _dcmread(p)
        decoded += _decode_dicom(ds, p.name, None, max_pixels)
        sources.append((str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", ""))))
        if first is None:
            first = _without_pixels(ds)
    shapes = {f.values.shape for f in decoded}
    if len(shapes) > 1:
        raise ImageError(f"the series mixes image sizes {sorted(shapes)}")
    out, how, notes = _window_dicom(decoded, window)
    assert first is not None
    return MedicalImage(
        frames=out,
        kind="dicom",
        description=_describe_ds(first, len(out), out[0].shape) + f", series of {len(paths)} file(s)",
        window=how,
        notes=notes,
        dataset=first,
        sources=sources,
    )


# --------------------------------------------------------------------------------------------
# NIfTI


def _gunzip(data: bytes, limit: int | None, name: str) -> bytes:
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
        raise ImageError(f"{name}: corrupt gzip data: {_one_line(e)}") from None
    return b"".join(out)


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
    errors = (*_DECODE_ERRORS, *_nibabel_errors(), ImageFileError, gzip.BadGzipFile)
    try:
        if isinstance(src, (str, Path)):
            if not Path(src).is_file():
                raise ImageError(f"{name}: file not found")
            img = nib.load(str(src))
        else:
            data = _gunzip(src, max_bytes, name) if src[:2] == b"\x1f\x8b" else src
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
        raise ImageError(f"{name}: cannot read NIfTI file: {_one_line(e)}") from None


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

    Limits: ``max_pixels`` per slice (default ``tinct.io.DEFAULT_MAX_PIXELS``); ``max_total`` voxels
    in the (first) volume (default: no limit; the server sets one), checked from the header before
    the voxels are read; with ``max_total``, gzipped bytes may expand to at most 8 bytes per allowed
    voxel + 1 MiB (a decompression bomb is stopped there).

    Raises:
        ImageError: unreadable file, or a volume of more than 4 (non-singleton) dimensions;
        :class:`~tinct.io.ImageTooLargeError` above a limit.
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
    _check_size(dims[0], dims[1], max_pixels)
    _check_total(int(np.prod(spatial)), max_total, f"{name}: the {spatial[axis]} slice(s)")
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
    except (*_DECODE_ERRORS, *_nibabel_errors()) as e:
        raise ImageError(f"{name}: cannot read the NIfTI voxel data: {_one_line(e)}") from None
    how = ""
    if vol is not None:
        vol = _fill_nonfinite(vol, notes)
        lo, hi = _finite_range([vol])
        auto = _nifti_window(img.header)
        if auto is None and parse_window(window) == "auto" and vol.size:
            p_lo, p_hi = np.percentile(vol, PERCENTILES)
            auto = Window.from_range(float(p_lo), float(p_hi)) if p_hi > p_lo else None
        win, how = resolve_window(window, lo, hi, auto)
        gray = _to_u16(apply_window(vol, win))
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


# --------------------------------------------------------------------------------------------
# FITS


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

    Limits: ``max_pixels`` per plane (default ``tinct.io.DEFAULT_MAX_PIXELS``); ``max_total`` pixels
    in all planes together (default: no limit; the server sets one). Both are checked from the
    header (NAXISn), before the data is read. Bytes may be gzipped (a .fits.gz file's); with
    ``max_total`` they may expand to at most 8 bytes per allowed pixel + 1 MiB (a decompression
    bomb is stopped there; :func:`_gunzip`, as for NIfTI). Bytes that do not start with the
    ``SIMPLE  =`` card are not FITS (:class:`~tinct.io.NotAnImageError`).

    Raises:
        ImageError: unreadable file or no image HDU; :class:`~tinct.io.ImageTooLargeError` above
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
                src = _gunzip(src, None if max_total is None else 8 * max_total + 2**20, name)
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
                _check_size(shape[-2], shape[-1], max_pixels)  # from the header, before the data is read
                planes = shape[0] if len(shape) == 3 else 1
                _check_total(math.prod(shape), max_total, f"{name}: the {planes} plane(s)")
                data = np.asarray(chosen.data, dtype=np.float32).reshape(shape)  # leading 1-axes dropped
                header = chosen.header.copy()
    except ImageError:
        raise
    except (*_DECODE_ERRORS, fits.VerifyError) as e:
        raise ImageError(f"{name}: cannot read FITS file: {_one_line(e)}") from None
    cube = data[None] if data.ndim == 2 else data
    cube = _fill_nonfinite(cube, notes)
    lo, hi = _finite_range([cube])
    auto = None
    if parse_window(window) == "auto" and cube.size:
        p_lo, p_hi = np.percentile(cube, PERCENTILES)
        auto = Window.from_range(float(p_lo), float(p_hi)) if p_hi > p_lo else None
    win, how = resolve_window(window, lo, hi, auto)
    frames = [np.ascontiguousarray(_to_u16(_stretch(apply_window(plane, win), stretch))[::-1]) for plane in cube]
    return MedicalImage(
        frames=frames,
        kind="fits",
        description=f"FITS image {'x'.join(map(str, data.shape[::-1]))}, {len(frames)} frame(s), {stretch} stretch",
        window=f"{how}; {stretch} stretch",
        notes=notes,
        header=header,
    )


# --------------------------------------------------------------------------------------------
# which inputs are medical


def _has_dicm_magic(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def _nifti_magic(head: bytes) -> bool:
    """True when ``head`` (the first 544 or more bytes) starts a single-file NIfTI-1 or NIfTI-2 header."""
    import struct

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
        import zlib

        try:
            head = zlib.decompressobj(wbits=31).decompress(data[: 1 << 16], 544)
        except zlib.error:
            return None
        if head.startswith(FITS_MAGIC):
            return "fits"
    return "nifti" if _nifti_magic(head) else None


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for ext in (*NIFTI_EXTENSIONS, *FITS_EXTENSIONS, *DICOM_EXTENSIONS):
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
            found = found or _suffix(f) in DICOM_EXTENSIONS or _has_dicm_magic(f)
        return "dicom-folder" if found else None
    ext = _suffix(p)
    if ext in NIFTI_EXTENSIONS:
        return "nifti"
    if ext in FITS_EXTENSIONS:
        return "fits"
    if ext in DICOM_EXTENSIONS or (p.is_file() and _has_dicm_magic(p)):
        return "dicom"
    return None


def is_medical_path(path: str | Path) -> bool:
    """True for a DICOM file or folder, a NIfTI or a FITS file (see :func:`medical_kind`)."""
    return medical_kind(path) is not None


def read_medical(
    src: str | Path,
    *,
    window: WindowSpec = "auto",
    axis: int = 2,
    stretch: str = "linear",
    max_pixels: int | None = None,
) -> list[tuple[str, MedicalImage]]:
    """Read any medical input -> [(output stem, image)]: one per file, one per series of a DICOM folder."""
    src = Path(src)
    kind = medical_kind(src)
    ext = _suffix(src)
    stem = (
        src.name[: -len(ext)]
        if src.is_file() and ext in (*DICOM_EXTENSIONS, *NIFTI_EXTENSIONS, *FITS_EXTENSIONS)
        else src.name
    )
    if kind == "dicom":
        return [(stem, read_dicom(src, window, max_pixels=max_pixels))]
    if kind == "nifti":
        return [(stem, read_nifti(src, axis, window, max_pixels))]
    if kind == "fits":
        return [(stem, read_fits(src, stretch, window=window, max_pixels=max_pixels))]
    if kind == "dicom-folder":
        series = dicom_series(src)
        if len(series) == 1:
            return [(src.name, read_dicom_series(series[0], window, max_pixels))]
        return [
            (f"{src.name}_series{i + 1:02d}", read_dicom_series(s, window, max_pixels)) for i, s in enumerate(series)
        ]
    raise ImageError(f"{src.name}: not a DICOM, NIfTI or FITS input")


# --------------------------------------------------------------------------------------------
# colorizing


def medical_note(mode: str, detail: str, short: bool = False) -> str:
    """The provenance note for every output: mode, model or LUT, "colour added by software".

    ``detail`` is the model name (realistic) or the LUT name (pseudo). ``short`` gives a note of
    at most 79 characters (the NIfTI descrip field).
    """
    what = "model" if mode == "realistic" else "LUT"
    if short:
        return f"tinct {mode} colour ({what} {detail}), added by software"[:79]
    note = (
        f"Colorized by tinct {__version__}, mode {mode} ({what} {detail}); colour added by software; "
        "lightness (CIELAB L) is the windowed original's"
    )
    if mode == "pseudo":
        from tinct.guided import PSEUDO_COLOUR_NOTE

        note += ". " + PSEUDO_COLOUR_NOTE
    return note


def _check_mode(mode: str, session: Session | None) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "realistic" and session is None:
        raise ValueError("realistic mode needs a model session (tinct.load_model)")


def colorize_medical(
    session: Session | None, image: MedicalImage, mode: str = "realistic", lut: str | Path = DEFAULT_LUT
) -> list[np.ndarray]:
    """Colour every frame of ``image`` -> uint8 RGB frames (H x W x 3).

    "realistic": ``session.colorize_pixels(frame)``; "pseudo": the ab of the look-up table
    ``lut`` (a built-in name or a CSV/JSON file, :func:`tinct.guided.load_lut`) at each pixel's
    lightness. Either way the output's CIELAB L is the windowed frame's, up to 8-bit rounding.

    Raises:
        ValueError: unknown mode, realistic mode without a session, or a bad LUT.
    """
    import torch

    _check_mode(mode, session)
    if mode == "realistic":
        return [session.colorize_pixels(f) for f in image.frames]  # type: ignore[union-attr]
    from tinct.guided import load_lut, lut_ab

    table = load_lut(lut)
    out = []
    for f in image.frames:
        L = luminance(f)
        ab = lut_ab(L, table)
        out.append(lab_to_rgb8(torch.from_numpy(L), torch.as_tensor(ab, dtype=torch.float32)).numpy())
    return out


# --------------------------------------------------------------------------------------------
# writing


def write_frames(
    frames: Sequence[np.ndarray], out_stem: str | Path, fmt: str = "png", note: str | None = None
) -> list[Path]:
    """Write RGB frames atomically: ``{out_stem}.png`` for one frame, else ``{out_stem}_0001.png``...

    ``fmt``: png or tif (any format of ``tinct.io.output_format``; avoid lossy ones for medical
    images). ``note`` goes into the PNG text / TIFF and EXIF Software and ImageDescription tags.
    """
    pil_fmt = output_format("PNG", fmt)
    ext = extension_for(pil_fmt)
    out_stem = Path(out_stem)
    paths = []
    for i, rgb in enumerate(frames):
        suffix = "" if len(frames) == 1 else f"_{i + 1:04d}"
        path = out_stem.with_name(f"{out_stem.name}{suffix}{ext}")
        atomic_write_bytes(path, encode_image(rgb, pil_fmt, note=note))
        paths.append(path)
    return paths


# copied from the source object into a Secondary Capture (nothing else is: no private tags)
_PATIENT_KEYWORDS = ("PatientName", "PatientID", "IssuerOfPatientID", "PatientBirthDate", "PatientSex", "PatientAge")
_STUDY_KEYWORDS = (
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "ReferringPhysicianName",
    "StudyID",
    "AccessionNumber",
    "StudyDescription",
)
_OTHER_KEYWORDS = ("SpecificCharacterSet", "FrameOfReferenceUID", "Modality", "BodyPartExamined", "Laterality")


def _anon_uid(uid: str) -> str:
    """A replacement UID, the same for the same original (so outputs of one study stay together)."""
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=["tinct-anonymize", uid])


def write_secondary_capture(
    frames: Sequence[np.ndarray],
    source_ds: Dataset,
    path: str | Path,
    anonymize: bool = False,
    mode: str = "realistic",
    model_name: str = "",
    note: str | None = None,
    sources: Sequence[tuple[str, str]] | None = None,
    sop_instance_uid: str | None = None,
) -> Path:
    """Write RGB ``frames`` as a DICOM Secondary Capture derived from ``source_ds`` (atomically).

    The file is :func:`encode_secondary_capture` of the same arguments; returns ``path``.
    """
    data = encode_secondary_capture(
        frames, source_ds, anonymize, mode, model_name, note=note, sources=sources, sop_instance_uid=sop_instance_uid
    )
    path = Path(path)
    atomic_write_bytes(path, data)
    return path


def encode_secondary_capture(
    frames: Sequence[np.ndarray],
    source_ds: Dataset,
    anonymize: bool = False,
    mode: str = "realistic",
    model_name: str = "",
    note: str | None = None,
    sources: Sequence[tuple[str, str]] | None = None,
    sop_instance_uid: str | None = None,
) -> bytes:
    """RGB ``frames`` as a DICOM Secondary Capture derived from ``source_ds``: the Part 10 file's bytes.

    One frame: SC Image Storage (1.2.840.10008.5.1.4.1.1.7); several: Multi-frame True Color SC
    (…7.4, Frame Increment Pointer -> Page Number Vector). Explicit VR Little Endian, RGB,
    Samples per Pixel 3, Planar Configuration 0, 8 bits. New SOP Instance UID and Series Instance
    UID; Image Type DERIVED\\SECONDARY; Conversion Type WSD; SC equipment = tinct and its version;
    Derivation Description and Image Comments = ``note`` (default :func:`medical_note`): mode,
    model or LUT, "colour added by software". Copied from the source, and nothing else (so no
    private tags): patient (Patient's Name, ID, Issuer, Birth Date, Sex, Age), study (Study
    Instance UID, Date, Time, ID, Accession Number, Referring Physician, Description), Frame of
    Reference UID, Modality, Body Part, Laterality, Specific Character Set, Pixel Spacing (single
    source frame size), and a Source Image Sequence naming ``sources`` (default the source object).

    ``anonymize=True`` applies the DICOM PS3.15 Annex E basic profile to those attributes:
    Patient's Name and ID -> "ANONYMOUS"; Birth Date, Sex, Accession Number, Referring Physician,
    Study ID, Study Date and Time -> empty (dates removed, not shifted); Patient's Age, Issuer of
    Patient ID, Study Description, Source Image Sequence, instance creation and content dates and
    times -> not written; Study Instance UID and Frame of Reference UID -> replaced by UIDs
    derived from them (one-way hash, the same for the same study); Patient Identity Removed YES,
    De-identification Method (+ code 113100), Longitudinal Temporal Information Modified REMOVED;
    private tags removed. Institution, device, operator and physician attributes are never copied.
    Burned-in text in the pixels cannot be removed: a source marked Burned In Annotation YES
    gives a warning.

    ``sop_instance_uid``: the new object's SOP Instance UID (default: a new one, ``generate_uid()``);
    :func:`colorize_medical_file` chooses it first to name anonymised outputs after it.
    """
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence as DicomSequence
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian, generate_uid

    if not frames:
        raise ValueError("no frames to write")
    arr = np.stack([np.asarray(f, dtype=np.uint8) for f in frames])
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"frames must be H x W x 3 uint8 RGB, got {arr.shape[1:]}")
    multi = arr.shape[0] > 1
    sop_class = MF_TRUE_COLOR_SC_SOP_CLASS if multi else SC_SOP_CLASS
    src = source_ds
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta.ImplementationVersionName = f"TINCT_{__version__}"[:16]
    for kw in _PATIENT_KEYWORDS + _STUDY_KEYWORDS + _OTHER_KEYWORDS:
        if kw in src:
            ds[kw] = copy.deepcopy(src[kw])
    for kw in ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime"):
        ds.setdefault(kw, "")
    for kw in ("ReferringPhysicianName", "StudyID", "AccessionNumber"):
        ds.setdefault(kw, "")
    ds.setdefault("StudyInstanceUID", generate_uid())
    ds.Modality = ds.get("Modality") or "OT"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_instance_uid or generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    try:
        ds.SeriesNumber = int(src.get("SeriesNumber") or 0) + 1000
    except (TypeError, ValueError):
        ds.SeriesNumber = 1000
    ds.SeriesDescription = f"tinct {mode} colour"[:64]
    ds.InstanceNumber = 1
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.PatientOrientation = ""
    ds.Manufacturer = ""  # General Equipment (type 2); the SC Equipment module names tinct
    ds.ConversionType = "WSD"
    ds.SecondaryCaptureDeviceManufacturer = "tinct"
    ds.SecondaryCaptureDeviceManufacturerModelName = (model_name or mode)[:64]
    ds.SecondaryCaptureDeviceSoftwareVersions = __version__
    text = note or medical_note(mode, model_name or DEFAULT_LUT)
    ds.DerivationDescription = text[:1024]
    ds.ImageComments = text
    ds.BurnedInAnnotation = str(src.get("BurnedInAnnotation") or "NO")
    ds.LossyImageCompression = "01" if str(src.get("LossyImageCompression", "00")) == "01" else "00"
    if "PixelSpacing" in src and (int(src.get("Rows", 0)), int(src.get("Columns", 0))) == arr.shape[1:3]:
        ds.PixelSpacing = copy.deepcopy(src.PixelSpacing)
    if not anonymize:
        now = _dt.datetime.now()
        ds.InstanceCreationDate = ds.ContentDate = now.strftime("%Y%m%d")
        ds.InstanceCreationTime = ds.ContentTime = now.strftime("%H%M%S")
        refs = []
        for cls, inst in sources if sources is not None else [(src.get("SOPClassUID"), src.get("SOPInstanceUID"))]:
            if cls and inst:
                item = Dataset()
                item.ReferencedSOPClassUID = cls
                item.ReferencedSOPInstanceUID = inst
                refs.append(item)
        if refs:
            ds.SourceImageSequence = DicomSequence(refs)
    else:
        if str(ds.BurnedInAnnotation).upper() == "YES":
            warnings.warn("the source has burned-in annotation: text in the pixels is not anonymised", stacklevel=2)
        ds.PatientName = "ANONYMOUS"
        ds.PatientID = "ANONYMOUS"
        for kw in ("PatientBirthDate", "PatientSex", "AccessionNumber", "ReferringPhysicianName", "StudyID"):
            ds[kw].value = ""
        ds.StudyDate = ""
        ds.StudyTime = ""
        for kw in ("PatientAge", "IssuerOfPatientID", "StudyDescription"):
            if kw in ds:
                del ds[kw]
        ds.StudyInstanceUID = _anon_uid(str(ds.StudyInstanceUID))
        if "FrameOfReferenceUID" in ds:
            ds.FrameOfReferenceUID = _anon_uid(str(ds.FrameOfReferenceUID))
        ds.PatientIdentityRemoved = "YES"
        ds.LongitudinalTemporalInformationModified = "REMOVED"
        ds.DeidentificationMethod = "DICOM PS3.15 Basic Application Confidentiality Profile (tinct)"
        code = Dataset()
        code.CodeValue = "113100"
        code.CodingSchemeDesignator = "DCM"
        code.CodeMeaning = "Basic Application Confidentiality Profile"
        ds.DeidentificationMethodCodeSequence = DicomSequence([code])
    if multi:
        ds.FrameIncrementPointer = pydicom.tag.Tag("PageNumberVector")
        ds.PageNumberVector = list(range(1, arr.shape[0] + 1))
    ds.set_pixel_data(arr if multi else arr[0], "RGB", 8, generate_instance_uid=False)
    ds.remove_private_tags()
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def write_nifti_rgb(
    frames: Sequence[np.ndarray],
    image: MedicalImage,
    path: str | Path,
    note: str | None = None,
    anonymize: bool = False,
) -> Path:
    """Write RGB slices back into a NIfTI-1 volume (atomically): :func:`encode_nifti_rgb`, gzipped
    when ``path`` ends in .gz. Returns ``path``."""
    path = Path(path)
    atomic_write_bytes(path, encode_nifti_rgb(frames, image, note, anonymize, gz=path.name.endswith(".gz")))
    return path


def encode_nifti_rgb(
    frames: Sequence[np.ndarray],
    image: MedicalImage,
    note: str | None = None,
    anonymize: bool = False,
    gz: bool = True,
) -> bytes:
    """RGB slices back in a NIfTI-1 volume with ``image``'s affine and voxel order: the file's bytes.

    The data type is RGB24 (NIfTI datatype 128, one 3-byte voxel), which nibabel, FSLeyes,
    ITK-SNAP, 3D Slicer and Mango show as colour (a 4-D uint8 volume with 3 "time points" is
    not read as colour by most viewers). Slices are put back along ``image.axis`` (undoing the
    display rotation). The input header is kept (qform/sform codes, pixdims, units); scaling is
    reset and ``descrip`` set to ``note`` (at most 79 characters). ``gz``: gzipped (.nii.gz).
    ``anonymize``: the free-text header fields that may name a subject (``aux_file``,
    ``intent_name``, ``db_name``) are cleared and header extensions (which may hold a whole DICOM
    header) are dropped; the affine and voxel sizes are kept.
    """
    import nibabel as nib

    if image.kind != "nifti" or image.affine is None or image.axis is None or image.volume_shape is None:
        raise ValueError("write_nifti_rgb needs a MedicalImage read by read_nifti")
    if len(frames) != image.volume_shape[image.axis]:
        raise ValueError(f"expected {image.volume_shape[image.axis]} slices, got {len(frames)}")
    vol = np.stack([np.rot90(np.asarray(f, np.uint8), -1) for f in frames], axis=image.axis)
    if vol.shape[:3] != tuple(image.volume_shape):
        raise ValueError(f"slices give a volume of {vol.shape[:3]}, expected {image.volume_shape}")
    rgb = np.empty(vol.shape[:3], dtype=[("R", "u1"), ("G", "u1"), ("B", "u1")])
    rgb["R"], rgb["G"], rgb["B"] = vol[..., 0], vol[..., 1], vol[..., 2]
    header = nib.Nifti1Header.from_header(image.header) if image.header is not None else None
    out = nib.Nifti1Image(rgb, image.affine, header=header)
    out.header.set_data_dtype(rgb.dtype)
    out.header.set_slope_inter(1.0, 0.0)
    out.header.set_intent("none")
    out.header["cal_min"] = out.header["cal_max"] = 0
    out.header["descrip"] = (note or "tinct colour, added by software")[:79].encode("ascii", "replace")
    if anonymize:
        for key in ("aux_file", "intent_name", "db_name"):
            if key in out.header:
                out.header[key] = b""
        del out.header.extensions[:]
    data = out.to_bytes()
    return gzip.compress(data, mtime=0) if gz else data


def anonymous_stem(uid: str | None = None) -> str:
    """A neutral output stem for ``--anonymize``: ``anon-`` + 16 hex digits of SHA-256 of ``uid``.

    ``uid`` is the new (random) SOP Instance UID of the Secondary Capture written beside, so the
    name and the object match; without one (NIfTI, FITS, no DICOM output) a random UUID is hashed.
    Nothing from the input (file name, patient, original UIDs) goes into it, so it cannot be traced
    back to the input.
    """
    import hashlib
    import uuid

    return "anon-" + hashlib.sha256((uid or uuid.uuid4().hex).encode()).hexdigest()[:16]


def colorize_medical_uncertainty(session: Session, image: MedicalImage) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Realistic colour for every frame of ``image`` plus the model's uncertainty map per frame.

    Returns (uint8 RGB frames, float32 (H, W) maps in [0, 1]), from the same forward pass
    (:meth:`tinct.api.Session.colorize_pixels_uncertainty`; the colour is what
    :func:`colorize_medical` gives in realistic mode).

    Raises:
        NoColourDistributionError: a regression model (no colour distribution).
    """
    session.check_uncertainty()
    rgb, maps = [], []
    for f in image.frames:
        c, u = session.colorize_pixels_uncertainty(f)
        rgb.append(c)
        maps.append(u)
    return rgb, maps


def colorize_medical_file(
    session: Session | None,
    src: str | Path,
    out_dir: str | Path | None = None,
    *,
    window: WindowSpec = "auto",
    axis: int = 2,
    mode: str = "realistic",
    lut: str | Path = DEFAULT_LUT,
    fmt: str = "png",
    anonymize: bool = False,
    stretch: str = "linear",
    dicom_out: bool = True,
    nifti_out: bool = True,
    max_pixels: int | None = None,
    uncertainty: bool = False,
) -> list[Path]:
    """Colorize a DICOM file or folder, a NIfTI or a FITS file; returns the paths written.

    Outputs go to ``out_dir`` (default: beside ``src``) as ``{stem}_color.png`` for one frame or
    ``{stem}_color_0001.png``... per frame/slice (``fmt`` png or tif), plus ``{stem}_color.dcm`` (a
    Secondary Capture, :func:`write_secondary_capture`, unless ``dicom_out`` is False) for DICOM
    and ``{stem}_color.nii.gz`` (RGB NIfTI, :func:`write_nifti_rgb`, unless ``nifti_out`` is False)
    for NIfTI. A DICOM folder with several series gives one set per series, with stems
    ``{folder}_seriesNN``. Every output names the mode and says the colour was added by software.
    ``window``: "auto", "full" or (center, width) (a "C,W" string is accepted); ``axis``: NIfTI
    slicing axis; ``stretch``: FITS stretch; ``mode``/``lut``: see :func:`colorize_medical`.

    ``anonymize``: basic-profile de-identification of the Secondary Capture
    (:func:`write_secondary_capture`), free-text fields and extensions dropped from the RGB NIfTI
    (:func:`write_nifti_rgb`), and **neutral file names**: the stem is :func:`anonymous_stem` of
    the new SOP Instance UID (``anon-`` + 16 hex digits; a random one for NIfTI and FITS) instead
    of the input's file or folder name, which may name the patient. No mapping from inputs to
    these names is written here (the caller may keep one: the paths are returned per input).

    ``uncertainty``: also write the model's uncertainty map per frame/slice (realistic mode with a
    classification model only; :mod:`tinct.uncertainty`): ``{stem}_uncertainty.png`` or
    ``{stem}_uncertainty_0001.png``..., 16-bit grayscale PNG, 0 = certain, 65535 = uniform.

    Raises:
        ImageError: unreadable input or unwritable output. ValueError: bad option, or
        ``uncertainty`` in pseudo mode or with a model without a colour distribution
        (:class:`~tinct.models.base.NoColourDistributionError`, a ValueError).
    """
    _check_mode(mode, session)
    if uncertainty:
        if mode != "realistic":
            raise ValueError("an uncertainty map is the model's: it needs realistic mode, not pseudo (a LUT)")
        session.check_uncertainty()  # type: ignore[union-attr]
    window = parse_window(window)
    src = Path(src)
    out_dir = Path(out_dir) if out_dir is not None else src.parent
    detail = session.name if mode == "realistic" else Path(str(lut)).name  # type: ignore[union-attr]
    note = medical_note(mode, detail)
    written: list[Path] = []
    for stem, image in read_medical(src, window=window, axis=axis, stretch=stretch, max_pixels=max_pixels):
        sc_uid = None
        if image.kind == "dicom" and dicom_out:
            from pydicom.uid import generate_uid

            sc_uid = generate_uid()
        if anonymize:
            stem = anonymous_stem(sc_uid)
        if uncertainty:
            rgb, maps = colorize_medical_uncertainty(session, image)  # type: ignore[arg-type]
            from tinct.uncertainty import uncertainty_note, write_uncertainty

            written += write_uncertainty(maps, stem, out_dir, uncertainty_note(detail))
        else:
            rgb = colorize_medical(session, image, mode, lut)
        written += write_frames(rgb, out_dir / f"{stem}_color", fmt, note=note)
        if image.kind == "dicom" and dicom_out:
            sc = out_dir / f"{stem}_color.dcm"
            assert image.dataset is not None
            written.append(
                write_secondary_capture(
                    rgb,
                    image.dataset,
                    sc,
                    anonymize,
                    mode,
                    detail,
                    note=note,
                    sources=image.sources,
                    sop_instance_uid=sc_uid,
                )
            )
        if image.kind == "nifti" and nifti_out:
            short = medical_note(mode, detail, short=True)
            written.append(write_nifti_rgb(rgb, image, out_dir / f"{stem}_color.nii.gz", short, anonymize))
    return written
