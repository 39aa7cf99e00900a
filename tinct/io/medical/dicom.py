"""DICOM in (pydicom, with pylibjpeg for JPEG, JPEG-LS and JPEG 2000 transfer syntaxes).

Stored values -> modality LUT (Rescale Slope/Intercept or the Modality LUT Sequence,
:func:`pydicom.pixels.apply_modality_lut`) -> VOI (the window, see
:func:`tinct.io.medical.windowing.resolve_window`) -> MONOCHROME1 inverted. Enhanced multi-frame
objects take their rescale and window per frame from the functional groups. Pixel padding (Pixel
Padding Value) is left out of min..max windows and shown black. Colour DICOM (RGB, YBR, PALETTE
COLOR): its luminance is used (as a 16-bit gray of the same CIELAB L), its colour dropped, no window
applied, with a note. Frames are as stored (row 0 at the top).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinct.core.color import gray16_from_l, luminance
from tinct.core.pixels import unit_to_uint16
from tinct.io.errors import ImageError, NotAnImageError, one_line
from tinct.io.medical.image import DECODE_ERRORS, MedicalImage, SourcePart, check_size, check_total
from tinct.io.medical.kinds import DICOM_EXTENSIONS, has_dicm_magic, medical_suffix
from tinct.io.medical.windowing import (
    Window,
    WindowSpec,
    apply_window,
    finite_range,
    parse_window,
    resolve_window,
)

if TYPE_CHECKING:
    from pydicom.dataset import Dataset


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
        except DECODE_ERRORS as e:
            raise ImageError(f"{name}: corrupt DICOM file: {one_line(e)}") from None
        try:
            if isinstance(fp, io.BytesIO):
                fp.seek(0)
            ds = pydicom.dcmread(fp, stop_before_pixels=stop_before_pixels, force=True)
            if "Rows" in ds and "Columns" in ds and "SOPClassUID" in ds:
                return ds
        except DECODE_ERRORS:
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
        check_size(rows, cols, max_pixels)
        n_frames = int(ds.get("NumberOfFrames") or 1)
        indices = list(range(n_frames)) if frames is None else [int(i) for i in frames]
        bad = [i for i in indices if not 0 <= i < n_frames]
        if bad:
            raise ImageError(f"{name}: frame {bad[0]} does not exist (the object has {n_frames})")
        check_total(rows * cols * len(indices), max_total, f"{name}: the {len(indices)} frame(s)")
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
    except DECODE_ERRORS as e:
        raise ImageError(f"{name}: cannot decode DICOM pixel data (corrupt or unsupported?): {one_line(e)}") from None
    return out


def _as_uint(rgb: np.ndarray) -> np.ndarray:
    """Colour samples as uint8/uint16 for ``luminance`` (other depths rescaled to 16 bits)."""
    if rgb.dtype in (np.uint8, np.uint16):
        return rgb
    a = rgb.astype(np.float64)
    top = float(a.max()) if a.size and a.max() > 0 else 1.0
    return unit_to_uint16(a / top)


def _window_dicom(decoded: list[_DicomFrame], window: WindowSpec) -> tuple[list[np.ndarray], str, list[str]]:
    """Window decoded frames to uint16 display values; returns (frames, window description, notes).

    A min..max window ("full", or "auto" where an object has no window of its own) spans all
    gray frames together (padding excluded), so a multi-frame object or a series stays consistent.
    """
    gray = [f for f in decoded if not f.colour]
    lo, hi = finite_range([f.values for f in gray], [f.pad for f in gray])
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
        u16 = unit_to_uint16(unit)
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
    pixel count (default ``tinct.io.images.DEFAULT_MAX_PIXELS``), checked before decoding; ``max_total``
    the pixel count of all the frames together (default: no limit; the server sets one).

    Raises:
        ImageError: not DICOM (:class:`~tinct.io.errors.NotAnImageError`), corrupt, no pixel data, or a
        transfer syntax without a decoder; :class:`~tinct.io.errors.ImageTooLargeError` above a limit.
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


def _orientation(ds: Dataset) -> tuple[float, ...]:
    """Image Orientation (Patient) rounded to 1e-3, or () without one: part of a series' geometry."""
    try:
        return tuple(round(float(v), 3) for v in ds.ImageOrientationPatient)
    except (AttributeError, TypeError, ValueError):
        return ()


def dicom_files(folder: str | Path, skip: Callable[[Path], bool] | None = None) -> list[Path]:
    """The files under ``folder`` (recursively, sorted) that may be DICOM: a DICOM extension or the DICM
    marker. Hidden files and those ``skip`` returns True for (earlier outputs) are left out; no file is parsed."""
    folder = Path(folder)
    out = []
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or any(part.startswith(".") for part in p.relative_to(folder).parts):
            continue
        if skip is not None and skip(p):
            continue
        if medical_suffix(p) in DICOM_EXTENSIONS or has_dicm_magic(p):
            out.append(p)
    return out


def dicom_series(folder: str | Path, skip: Callable[[Path], bool] | None = None) -> list[list[Path]]:
    """The DICOM image series under ``folder`` (searched recursively), each sorted for display.

    A series is built only from distinct instances that agree on geometry: files are grouped by
    Series Instance UID, image size and orientation, and files that share a SOP Instance UID with
    another of their group (one image stored with several transfer syntaxes) each become a group of
    their own, so they are never stacked into one volume. Groups are sorted by position along the
    slice normal (Image Position/Orientation Patient), else Instance Number, else file name. Hidden
    files, files ``skip`` returns True for, non-DICOM files and objects without pixel data
    (DICOMDIR, reports) are skipped. Groups are ordered by Series Number, then by first file name.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"{folder}: not a folder")
    groups: dict[tuple, list[tuple[tuple, Path, str]]] = {}
    series_no: dict[tuple, tuple] = {}
    for p in dicom_files(folder, skip):
        try:
            ds = _dcmread(p, stop_before_pixels=True)
        except ImageError:
            continue
        if "Rows" not in ds or "Columns" not in ds or ds.get("DirectoryRecordSequence") is not None:
            continue
        key = (str(ds.get("SeriesInstanceUID", "")), int(ds.Rows), int(ds.Columns), _orientation(ds))
        groups.setdefault(key, []).append((_slice_key(ds, p), p, str(ds.get("SOPInstanceUID", ""))))
        sn = ds.get("SeriesNumber")
        series_no.setdefault(key, (sn is None, int(sn) if sn is not None else 0, key))
    out: list[tuple[tuple, list[Path]]] = []
    for key, members in groups.items():
        uids = [uid for _, _, uid in members]
        dup = {u for u in uids if u and uids.count(u) > 1}
        kept = sorted((k, p) for k, p, uid in members if uid not in dup)
        if kept:
            out.append(((series_no[key], kept[0][1].name), [p for _, p in kept]))
        out += [((series_no[key], p.name), [p]) for _, p, uid in sorted(members) if uid in dup]
    return [paths for _, paths in sorted(out, key=lambda t: t[0])]


def read_dicom_series(
    src: str | Path | Sequence[str | Path], window: WindowSpec = "auto", max_pixels: int | None = None
) -> MedicalImage:
    """Read a DICOM series -> one :class:`MedicalImage`, frames in display order (see :func:`dicom_series`).

    ``src`` is a folder holding exactly one series, or a list of files in order. Every object's
    frames are included, and ``parts`` says which file each frame came from
    (:meth:`MedicalImage.split`); ``window`` as in :func:`read_dicom`, a min..max window spanning the series.

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
    parts: list[SourcePart] = []
    for p in paths:
        ds = _dcmread(p)
        frames = _decode_dicom(ds, p.name, None, max_pixels)
        decoded += frames
        sources.append((str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", ""))))
        parts.append(SourcePart(p, len(frames), _without_pixels(ds)))
    shapes = {f.values.shape for f in decoded}
    if len(shapes) > 1:
        raise ImageError(f"the series mixes image sizes {sorted(shapes)}")
    out, how, notes = _window_dicom(decoded, window)
    first = parts[0].dataset
    return MedicalImage(
        frames=out,
        kind="dicom",
        description=_describe_ds(first, len(out), out[0].shape) + f", series of {len(paths)} file(s)",
        window=how,
        notes=notes,
        dataset=first,
        sources=sources,
        parts=parts,
    )
