"""A folder of 14 DICOM files of different studies and encodings (issue 20): every input file gets
outputs named after its own stem, of its pixel size, in colour; duplicates of one SOP Instance UID
are never stacked; the summary counts files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("pylibjpeg")

from PIL import Image  # noqa: E402
from pydicom.dataset import Dataset  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from tinct.cli import app  # noqa: E402
from tinct.io.medical.dicom import dicom_series, read_dicom_series  # noqa: E402

from .test_medical import make_dicom  # noqa: E402

PYDICOM_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
# the same MR image (one SOP Instance UID) in four transfer syntaxes
DUPLICATES = ("MR_small_RLE", "MR_small_jpeg_ls_lossless", "MR_small_bigendian", "MR_small_jp2klossless")
COPIED = (*DUPLICATES, "JPEG2000", "JPGExtended", "CT_small", "693_J2KI", "rtdose", "image_dfl")
# JPEG Lossless, Process 14 SV1: no encoder in pydicom, so committed (scripts/make_dicom_fixtures.py)
JPEG_LOSSLESS = Path(__file__).parent / "data" / "dicom" / "CT_jpeg_lossless_sv1.dcm"
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"


def _synthetic(folder: Path) -> None:
    """MONOCHROME1, modality + VOI LUT, and an enhanced CT multi-frame object."""
    raw = (np.arange(20 * 30, dtype=np.uint16) % 1000).reshape(20, 30)
    pydicom.dcmwrite(folder / "CR_mono1.dcm", make_dicom(raw, "MONOCHROME1", 10, Modality="CR"),
                     enforce_file_format=True)  # fmt: skip
    lut = Dataset()
    lut.LUTDescriptor = [1000, 0, 8]
    lut.add_new(0x00283006, "US", [int(v) for v in np.linspace(0, 255, 1000)])
    voi = make_dicom(raw.astype(np.int16), bits_stored=12, PixelRepresentation=1, RescaleSlope=2,
                     RescaleIntercept=-1024)  # fmt: skip
    voi.VOILUTSequence = [lut]
    pydicom.dcmwrite(folder / "CT_modality_voi_lut.dcm", voi, enforce_file_format=True)
    stack = np.stack([raw, raw[::-1], raw[:, ::-1]]).astype(np.uint16)
    enh = make_dicom(stack, bits_stored=10, sop_class=ENHANCED_CT)
    groups = []
    for slope in (1, 2, 3):
        pvt = Dataset()
        pvt.RescaleSlope, pvt.RescaleIntercept, pvt.RescaleType = slope, -100, "HU"
        g = Dataset()
        g.PixelValueTransformationSequence = [pvt]
        groups.append(g)
    enh.PerFrameFunctionalGroupsSequence = groups
    pydicom.dcmwrite(folder / "CT_enhanced.dcm", enh, enforce_file_format=True)


@pytest.fixture
def scans(tmp_path: Path) -> Path:
    folder = tmp_path / "scans"
    folder.mkdir()
    for name in COPIED:
        src = PYDICOM_FILES / f"{name}.dcm"
        if not src.is_file():
            pytest.skip(f"pydicom's test file {src.name} is not installed")
        shutil.copy(src, folder / src.name)
    _synthetic(folder)
    shutil.copy(JPEG_LOSSLESS, folder / JPEG_LOSSLESS.name)
    return folder


def test_duplicate_sop_instances_are_not_stacked(scans):
    groups = dicom_series(scans)
    assert sum(len(g) for g in groups) == 14
    for name in DUPLICATES:  # each copy of the one instance is a group of its own
        assert [f"{name}.dcm"] in [[p.name for p in g] for g in groups]
    # distinct instances of one series and geometry form one series (windowed together); the rest stand alone
    assert [[p.name for p in g] for g in groups if len(g) > 1] == [["JPEG2000.dcm", "JPGExtended.dcm"]]
    image = read_dicom_series([scans / "rtdose.dcm"])
    (part, piece), = image.split()  # fmt: skip
    assert part.path.name == "rtdose.dcm" and len(piece.frames) == 15


def test_series_slices_map_to_their_files(tmp_path):
    series = pydicom.uid.generate_uid()
    for inst, z in ((1, 30.0), (2, 20.0), (3, 10.0)):
        ds = make_dicom(np.full((3, 4), int(z), np.uint16), bits_stored=8, SeriesInstanceUID=series,
                        InstanceNumber=inst, ImageOrientationPatient=[1, 0, 0, 0, 1, 0],
                        ImagePositionPatient=[0, 0, z])  # fmt: skip
        pydicom.dcmwrite(tmp_path / f"IM{inst}.dcm", ds, enforce_file_format=True)
    image = read_dicom_series(tmp_path, window="full")  # one window over the series
    pieces = image.split()
    assert [p.path.name for p, _ in pieces] == ["IM3.dcm", "IM2.dcm", "IM1.dcm"]
    assert [int(img.frames[0][0, 0]) for _, img in pieces] == [0, 32768, 65535]
    assert [img.dataset.InstanceNumber for _, img in pieces] == [3, 2, 1]
    r = CliRunner().invoke(app, ["colorize", str(tmp_path), "--mode", "pseudo", "-q"])
    assert r.exit_code == 0, r.output
    assert "3 done, 0 skipped (output exists), 0 failed" in r.output
    out = tmp_path.parent / f"{tmp_path.name}_color"  # no -o: a folder beside the input folder
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"IM{i}_color.{ext}" for i in (1, 2, 3) for ext in ("dcm", "png")
    )


def test_jpeg_lossless_decodes_exactly():
    ds = pydicom.dcmread(JPEG_LOSSLESS)
    assert ds.file_meta.TransferSyntaxUID == pydicom.uid.JPEGLosslessSV1
    image = read_dicom_series([JPEG_LOSSLESS], window="full")
    assert image.frames[0].shape == (72, 96) and int(ds.pixel_array.max()) == 2216


def test_fourteen_encodings_named_after_each_file(scans, tmp_path):
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["colorize", str(scans), "-o", str(out), "--mode", "pseudo", "-q"])
    assert r.exit_code == 0, r.output
    assert r.output.strip().splitlines()[-1] == "14 done, 0 skipped (output exists), 0 failed"
    names = {p.name for p in out.iterdir()}
    for src in sorted(scans.iterdir()):
        ds = pydicom.dcmread(src)
        stem, n = src.stem, int(ds.get("NumberOfFrames") or 1)
        assert f"{stem}_color.dcm" in names, (stem, sorted(names))
        pngs = [f"{stem}_color.png"] if n == 1 else [f"{stem}_color_{i:04d}.png" for i in range(1, n + 1)]
        assert set(pngs) <= names, (stem, sorted(names))
        for png in pngs:
            rgb = np.asarray(Image.open(out / png).convert("RGB")).astype(int)
            assert rgb.shape == (int(ds.Rows), int(ds.Columns), 3), png
            assert np.abs(rgb[..., 0] - rgb[..., 2]).max() > 10, png  # in colour
        sc = pydicom.dcmread(out / f"{stem}_color.dcm")
        assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == ds.SOPInstanceUID
        assert (int(sc.Rows), int(sc.Columns), int(sc.get("NumberOfFrames") or 1)) == (ds.Rows, ds.Columns, n)
    assert len(names) == 14 + 14 + 15 + 3 - 2  # a .dcm per file, a png per frame (rtdose 15, enhanced 3)
    again = CliRunner().invoke(app, ["colorize", str(scans), "-o", str(out), "--mode", "pseudo", "-q"])
    assert again.exit_code == 0 and "0 done, 1 skipped (output exists), 0 failed" in again.output
