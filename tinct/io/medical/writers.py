"""Medical outputs, written atomically and labelled as colour added by software: RGB frames (PNG or
TIFF), a DICOM Secondary Capture derived from the source object, an RGB NIfTI volume in the source's
space. :func:`medical_note` is the provenance every output carries.
"""

from __future__ import annotations

import copy
import datetime as _dt
import gzip
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tinct.classical.lut import DEFAULT_LUT, PSEUDO_COLOUR_NOTE
from tinct.io.files import atomic_write_bytes
from tinct.io.images import encode_image, extension_for, output_format
from tinct.io.medical.anonymize import apply_basic_profile
from tinct.io.medical.image import MedicalImage
from tinct.version import __version__

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

SC_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"  #: Secondary Capture Image Storage
MF_TRUE_COLOR_SC_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7.4"  #: Multi-frame True Color SC Image Storage


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
        note += ". " + PSEUDO_COLOUR_NOTE
    return note


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
    if anonymize:
        apply_basic_profile(ds)
    else:
        _add_provenance(ds, src, sources)
    if multi:
        ds.FrameIncrementPointer = pydicom.tag.Tag("PageNumberVector")
        ds.PageNumberVector = list(range(1, arr.shape[0] + 1))
    ds.set_pixel_data(arr if multi else arr[0], "RGB", 8, generate_instance_uid=False)
    ds.remove_private_tags()
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def _add_provenance(ds: Dataset, src: Dataset, sources: Sequence[tuple[str, str]] | None) -> None:
    """Creation date and time, and a Source Image Sequence naming ``sources`` (default ``src`` itself)."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

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
