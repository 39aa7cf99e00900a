"""Medical and scientific inputs (tinct.medical): DICOM, NIfTI and FITS in; colour that keeps the anatomy out.

Windowing is checked against values computed by hand from DICOM PS3.3 C.11.2.1.2; every input kind
is checked to keep the windowed input's CIELAB L in both modes (pseudo and realistic).
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
nib = pytest.importorskip("nibabel")
fits = pytest.importorskip("astropy.io.fits")

from PIL import Image  # noqa: E402
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, generate_uid  # noqa: E402

from tinct.color import luminance  # noqa: E402
from tinct.io import ImageError  # noqa: E402
from tinct.medical import (  # noqa: E402
    MF_TRUE_COLOR_SC_SOP_CLASS,
    SC_SOP_CLASS,
    MedicalImage,
    Window,
    apply_window,
    colorize_medical,
    colorize_medical_file,
    dicom_series,
    gray16_from_l,
    is_medical_path,
    medical_kind,
    medical_note,
    parse_window,
    read_dicom,
    read_dicom_series,
    read_fits,
    read_nifti,
    write_frames,
    write_nifti_rgb,
    write_secondary_capture,
)

DEMO_DICOM = Path(__file__).resolve().parents[1].parent / "shared/data/demo/dicom"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


@pytest.fixture(scope="module")
def demo() -> Path:
    if not DEMO_DICOM.is_dir():
        pytest.skip(f"demo DICOM/NIfTI files not found at {DEMO_DICOM}")
    return DEMO_DICOM


def make_dicom(
    pixels: np.ndarray,
    photometric: str = "MONOCHROME2",
    bits_stored: int | None = None,
    sop_class: str = CT_IMAGE_STORAGE,
    **attrs,
) -> Dataset:
    """A minimal valid DICOM image (Explicit VR Little Endian) with ``attrs`` set by keyword."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.SOPClassUID = sop_class
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "PID-12345"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.AccessionNumber = "ACC-777"
    ds.ReferringPhysicianName = "Who^Doctor"
    ds.InstitutionName = "General Hospital"
    ds.StudyDate, ds.StudyTime = "20240102", "101500"
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.FrameOfReferenceUID = generate_uid()
    ds.SeriesNumber = 3
    ds.Modality = "CT"
    for k, v in attrs.items():
        setattr(ds, k, v)
    bits = bits_stored or pixels.dtype.itemsize * 8
    ds.set_pixel_data(pixels, photometric, bits)  # also sets a new SOP Instance UID
    return ds


def dicom_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def max_l_error(rgb_frames, gray_frames) -> float:
    return max(float(np.abs(luminance(c) - luminance(g)).max()) for c, g in zip(rgb_frames, gray_frames, strict=True))


# --------------------------------------------------------------------------------------------
# windowing by hand


# Synthetic CT: stored s, Rescale Slope 2, Intercept -1024 -> HU = 2 s - 1024.
HU = np.array([-1024, -160, -158, 40, 100, 238, 240, 3000])  # even: slope 2
STORED = ((HU + 1024) // 2).astype(np.int16)


def synthetic_ct(**attrs) -> Dataset:
    return make_dicom(
        np.tile(STORED, (2, 1)), bits_stored=12, RescaleSlope=2, RescaleIntercept=-1024, PixelRepresentation=1, **attrs
    )


def test_window_from_file_hand_computed():
    # C 40, W 400, LINEAR (PS3.3 C.11.2.1.2.1): x <= c - 0.5 - (w-1)/2 = -160 -> 0, x > 239 -> max,
    # else ((x - 39.5) / 399 + 0.5) * 65535:  -158 -> 328.496, 40 -> 32849.62, 100 -> 42704.51, 238 -> 65370.75
    img = read_dicom(dicom_bytes(synthetic_ct(WindowCenter=40, WindowWidth=400)))
    expected = [0, 0, 328, 32850, 42705, 65371, 65535, 65535]
    assert img.frames[0].dtype == np.uint16
    assert img.frames[0][0].tolist() == expected
    assert img.frames[0][1].tolist() == expected
    assert "C40 W400 LINEAR" in img.window


def test_window_full_and_explicit_hand_computed():
    data = dicom_bytes(synthetic_ct(WindowCenter=40, WindowWidth=400))
    # "full": min..max of HU (-1024..3000): (HU + 1024) / 4024 * 65535
    full = read_dicom(data, window="full").frames[0][0]
    assert full[[0, 3, 4, 7]].tolist() == [0, 17328, 18306, 65535]  # 17328.34, 18305.50
    # explicit (center 40, width 400) is the same LINEAR window as the file's
    explicit = read_dicom(data, window=(40, 400)).frames[0][0]
    assert explicit.tolist() == [0, 0, 328, 32850, 42705, 65371, 65535, 65535]
    # "auto" without a window in the file -> min..max
    assert read_dicom(dicom_bytes(synthetic_ct())).frames[0][0].tolist() == full.tolist()


def test_apply_window_functions():
    x = np.array([-10.0, 0.0, 5.0, 10.0, 20.0])
    # LINEAR_EXACT (C.11.2.1.3.2): (x - c) / w + 0.5, clipped
    np.testing.assert_allclose(apply_window(x, Window(5, 10, "LINEAR_EXACT")), [0, 0, 0.5, 1, 1], atol=1e-7)
    # SIGMOID (C.11.2.1.3.1): 1 / (1 + exp(-4 (x - c) / w))
    np.testing.assert_allclose(
        apply_window(np.array([5.0, 10.0]), Window(5, 10, "SIGMOID")), [0.5, 0.880797], atol=1e-6
    )
    with pytest.raises(ValueError):
        apply_window(x, Window(0, 0.5, "LINEAR"))


def test_parse_window():
    assert parse_window("auto") == "auto"
    assert parse_window(" FULL ") == "full"
    assert parse_window("40,400") == (40.0, 400.0)
    assert parse_window((-600, 1500)) == (-600.0, 1500.0)
    for bad in ("wide", "40", "40,0", "a,b"):
        with pytest.raises(ValueError):
            parse_window(bad)


def test_voi_lut_sequence_is_used_by_auto():
    lut = Dataset()
    lut.LUTDescriptor = [4, 10, 8]  # 4 entries, first mapped value 10, 8-bit output
    lut.add_new(0x00283006, "US", [0, 51, 204, 255])  # LUT Data
    ds = make_dicom(np.array([[5, 10, 11, 12, 13, 99]], np.uint16), bits_stored=8, WindowCenter=0, WindowWidth=10)
    ds.VOILUTSequence = [lut]
    img = read_dicom(dicom_bytes(ds))
    # below the first value -> entry 0; beyond the last -> the last entry; scaled by 65535 / 255
    assert img.frames[0][0].tolist() == [0, 0, 51 * 257, 204 * 257, 65535, 65535]
    assert "VOI LUT" in img.window


# --------------------------------------------------------------------------------------------
# photometric interpretation, bit depth, frames


def test_monochrome1_synthetic_is_inverted():
    raw = np.array([[0, 256, 512, 1023]], np.uint16)
    m1 = read_dicom(dicom_bytes(make_dicom(raw, "MONOCHROME1", 10)), window="full").frames[0]
    m2 = read_dicom(dicom_bytes(make_dicom(raw, "MONOCHROME2", 10)), window="full").frames[0]
    # full window 0..1023: v / 1023 * 65535 -> 0, 16400, 32800, 65535 (rounded); MONOCHROME1 = 65535 - that
    assert m2[0].tolist() == [0, 16400, 32800, 65535]
    assert m1[0].tolist() == [65535, 49135, 32735, 0]


def test_monochrome1_cr_demo(demo):
    src = demo / "xray_cr_RG3_UNCR.dcm"
    ds = pydicom.dcmread(src)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    img = read_dicom(src)
    raw = ds.pixel_array.astype(np.float64)
    # the file's window C550 W1024 (LINEAR, no rescale), then inverted: low values are bright
    y = np.clip((raw - 549.5) / 1023 + 0.5, 0, 1)
    y[raw <= 549.5 - 511.5] = 0
    expected = 65535 - np.rint(y * 65535)
    assert np.abs(img.frames[0].astype(np.float64) - expected).max() <= 1
    assert img.frames[0][raw == raw.min()].min() == 65535  # the lowest stored value shows white
    assert "MONOCHROME1 inverted" in img.window


def test_16_and_8_bit_full_window_is_exact():
    ramp16 = np.array([[0, 1, 1000, 40000, 65534, 65535]], np.uint16)
    assert read_dicom(dicom_bytes(make_dicom(ramp16, bits_stored=16)), "full").frames[0].tolist() == ramp16.tolist()
    ramp8 = np.array([[0, 1, 128, 255]], np.uint8)
    out8 = read_dicom(dicom_bytes(make_dicom(ramp8, bits_stored=8)), "full").frames[0]
    assert out8.tolist() == [[0, 257, 128 * 257, 65535]]


def test_multiframe_window_spans_all_frames():
    stack = np.stack([np.full((4, 5), v, np.int16) for v in (100, 300, 500)])
    stack[2, 0, 0] = 900
    data = dicom_bytes(make_dicom(stack, bits_stored=12, PixelRepresentation=1))
    img = read_dicom(data, window="full")
    assert len(img.frames) == 3 and img.frames[0].shape == (4, 5)
    # min..max 100..900 over all frames: (v - 100) / 800 * 65535
    assert [int(f[1, 1]) for f in img.frames] == [0, 16384, 32768]  # 16383.75, 32767.5 rounded
    assert int(img.frames[2][0, 0]) == 65535
    two = read_dicom(data, window="full", frames=[1, 2])  # min..max of the selected frames only: 300..900
    assert len(two.frames) == 2 and [int(f[1, 1]) for f in two.frames] == [0, 21845]
    with pytest.raises(ImageError, match="frame 7"):
        read_dicom(data, frames=[7])


def test_enhanced_multiframe_per_frame_rescale():
    stack = np.stack([np.full((2, 2), 10, np.uint16), np.full((2, 2), 10, np.uint16)])
    stack[:, 0, 0] = 0
    ds = make_dicom(stack, bits_stored=8)
    groups = []
    for slope in (1, 3):
        pvt = Dataset()
        pvt.RescaleSlope, pvt.RescaleIntercept, pvt.RescaleType = slope, 0, "US"
        g = Dataset()
        g.PixelValueTransformationSequence = [pvt]
        groups.append(g)
    ds.PerFrameFunctionalGroupsSequence = groups
    img = read_dicom(dicom_bytes(ds), window="full")  # values 0..10 and 0..30 -> one window 0..30
    assert [int(f[1, 1]) for f in img.frames] == [21845, 65535]


def test_colour_dicom_uses_luminance():
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 200, np.arange(4) * 60, 30
    img = read_dicom(dicom_bytes(make_dicom(rgb, "RGB", 8, sop_class="1.2.840.10008.5.1.4.1.1.77.1.4")))
    assert img.frames[0].dtype == np.uint16 and img.frames[0].shape == (3, 4)
    assert np.abs(luminance(img.frames[0]) - luminance(rgb)).max() < 0.01
    assert any("colour" in n for n in img.notes)


def test_palette_colour_dicom_uses_luminance():
    idx = np.array([[0, 1, 2, 3]], np.uint8)
    ds = make_dicom(idx, "PALETTE COLOR", 8)
    red, green, blue = [255, 0, 0, 128], [0, 255, 0, 128], [0, 0, 255, 128]
    for colour, values in (("Red", red), ("Green", green), ("Blue", blue)):
        setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [4, 0, 8])
        ds.add_new(pydicom.datadict.tag_for_keyword(f"{colour}PaletteColorLookupTableData"), "OW", bytes(values))
    img = read_dicom(dicom_bytes(ds))
    expected = luminance(np.stack([red, green, blue], -1).astype(np.uint8)[None])
    assert np.abs(luminance(img.frames[0]) - expected).max() < 0.01


@pytest.mark.parametrize("syntax", ["RLELossless", "JPEG2000Lossless"])
def test_compressed_transfer_syntaxes(syntax):
    raw = (np.arange(32 * 48).reshape(32, 48) * 7 % 4000).astype(np.uint16)
    ds = make_dicom(raw, bits_stored=12)
    reference = read_dicom(dicom_bytes(ds), "full").frames[0]
    try:
        ds.compress(getattr(pydicom.uid, syntax))
    except RuntimeError as e:  # no encoder installed (JPEG 2000 needs pylibjpeg-openjpeg)
        pytest.skip(f"no {syntax} encoder: {e}")
    assert ds.file_meta.TransferSyntaxUID == getattr(pydicom.uid, syntax)
    np.testing.assert_array_equal(read_dicom(dicom_bytes(ds), "full").frames[0], reference)


def test_pylibjpeg_decoders_available():
    pytest.importorskip("pylibjpeg")
    from pydicom.pixels import get_decoder

    for syntax in ("JPEGBaseline8Bit", "JPEGExtended12Bit", "JPEGLossless", "JPEGLSLossless", "JPEG2000"):
        assert get_decoder(getattr(pydicom.uid, syntax)).is_available, syntax


def test_gray16_from_l_inverts_luminance():
    codes = np.array([0, 1, 2, 100, 30000, 65534, 65535], np.uint16)
    assert gray16_from_l(luminance(codes[None]))[0].tolist() == codes.tolist()


# --------------------------------------------------------------------------------------------
# errors


def test_corrupt_dicom_gives_one_line_image_error(demo, tmp_path):
    data = (demo / "ct_CT_small.dcm").read_bytes()
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError) as e:
        read_dicom(truncated)
    msg = str(e.value)
    assert "truncated.dcm" in msg and "\n" not in msg and ("corrupt" in msg or "cannot decode" in msg)

    garbage = tmp_path / "garbage.dcm"
    garbage.write_bytes(b"\x00" * 128 + b"DICM" + bytes(range(256)) * 4)
    with pytest.raises(ImageError) as e:
        read_dicom(garbage)
    assert "\n" not in str(e.value)

    with pytest.raises(ImageError, match="not a DICOM file"):
        read_dicom(b"this is a text file, not an image" * 10)
    with pytest.raises(ImageError, match="empty"):
        (tmp_path / "empty.dcm").write_bytes(b"")
        read_dicom(tmp_path / "empty.dcm")


def test_dicom_without_pixels_and_size_limit():
    ds = make_dicom(np.zeros((4, 4), np.uint16))
    with pytest.raises(ImageError, match="limit"):
        read_dicom(dicom_bytes(ds), max_pixels=10)
    del ds.PixelData
    with pytest.raises(ImageError, match="no Pixel Data"):
        read_dicom(dicom_bytes(ds))


def test_corrupt_nifti_and_fits(tmp_path):
    bad = tmp_path / "bad.nii.gz"
    bad.write_bytes(gzip.compress(b"not a nifti header" * 30)[:40])
    with pytest.raises(ImageError, match="bad.nii.gz"):
        read_nifti(bad)
    badf = tmp_path / "bad.fits"
    badf.write_bytes(b"SIMPLE  = garbage" + b" " * 100)
    with pytest.raises(ImageError, match="bad.fits"):
        read_fits(badf)


# --------------------------------------------------------------------------------------------
# series and detection


def test_dicom_series_sorted_by_position(tmp_path):
    study = generate_uid()
    series = generate_uid()
    # instance numbers run opposite to the position along the normal; position wins
    for inst, z in ((1, 30.0), (2, 20.0), (3, 10.0)):
        ds = make_dicom(
            np.full((3, 3), int(z), np.uint16),
            bits_stored=8,
            StudyInstanceUID=study,
            SeriesInstanceUID=series,
            InstanceNumber=inst,
            ImageOrientationPatient=[1, 0, 0, 0, 1, 0],
            ImagePositionPatient=[0, 0, z],
        )
        pydicom.dcmwrite(tmp_path / f"IM{inst}", ds, enforce_file_format=True)  # no extension
    (tmp_path / "README.txt").write_text("not dicom")
    assert medical_kind(tmp_path) == "dicom-folder" and is_medical_path(tmp_path)
    groups = dicom_series(tmp_path)
    assert [p.name for p in groups[0]] == ["IM3", "IM2", "IM1"]
    img = read_dicom_series(tmp_path, window="full")
    assert [int(f[0, 0]) for f in img.frames] == [0, 32768, 65535]  # 10, 20, 30 over one window
    assert len(img.sources) == 3 and img.dataset.InstanceNumber == 3


def test_medical_kind(demo, tmp_path):
    assert medical_kind(demo / "ct_CT_small.dcm") == "dicom"
    assert medical_kind(demo / "anatomical.nii") == "nifti"
    noext = tmp_path / "IMG0001"
    noext.write_bytes((demo / "mr_MR_small.dcm").read_bytes())
    assert medical_kind(noext) == "dicom"
    for name, kind in (("a.nii.gz", "nifti"), ("m31.fits", "fits"), ("m31.FIT", "fits"), ("x.fts", "fits")):
        assert medical_kind(tmp_path / name) == kind
    (tmp_path / "photo.jpg").write_bytes(b"\xff\xd8")
    assert not is_medical_path(tmp_path / "photo.jpg")
    assert medical_kind(tmp_path) is None  # a folder with ordinary images is not a DICOM folder


# --------------------------------------------------------------------------------------------
# NIfTI and FITS


def test_nifti_with_nans(tmp_path):
    vol = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    vol[0, 0, 0] = np.nan
    vol[1, 2, 3] = np.inf
    vol[1, 1, 1] = -np.inf
    path = tmp_path / "nan.nii.gz"
    nib.save(nib.Nifti1Image(vol, np.diag([2.0, 2.0, 3.0, 1.0])), path)
    img = read_nifti(path, axis=2, window="full")
    assert len(img.frames) == 4 and img.frames[0].shape == (3, 2)  # rot90 of a (2, 3) slice
    assert any("NaN" in n for n in img.notes)
    vol_back = np.stack([np.rot90(f, -1) for f in img.frames], axis=2).astype(np.float64)
    # finite values 1..22 (0 is NaN, 23 is inf) -> (v - 1) / 21; NaN and +-inf -> the minimum 1 -> 0
    assert vol_back[0, 0, 1] == round((1 - 1) / 21 * 65535)
    assert vol_back[0, 1, 0] == round((4 - 1) / 21 * 65535)
    assert vol_back[1, 2, 2] == 65535  # 22, the finite maximum
    assert vol_back[0, 0, 0] == 0 and vol_back[1, 2, 3] == 0 and vol_back[1, 1, 1] == 0
    for axis, n in ((0, 2), (1, 3)):
        assert len(read_nifti(path, axis=axis).frames) == n


def test_nifti_demo_auto_window(demo):
    img = read_nifti(demo / "anatomical.nii", axis=2)
    data = np.asanyarray(nib.load(demo / "anatomical.nii").dataobj).astype(np.float64)
    lo, hi = np.percentile(data, (0.5, 99.5))
    expected = np.clip((data[:, :, 12] - lo) / (hi - lo), 0, 1) * 65535
    assert np.abs(np.rot90(img.frames[12], -1) - expected).max() <= 1
    assert img.affine.shape == (4, 4) and img.volume_shape == (33, 41, 25)


def _fits_file(tmp_path, data, name="sky.fits") -> Path:
    path = tmp_path / name
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data, name="SCI")]).writeto(path)
    return path


@pytest.mark.parametrize("stretch", ["linear", "asinh", "log"])
def test_fits_stretches(tmp_path, stretch):
    data = np.arange(2000, dtype=np.float32).reshape(20, 100)
    data[3, 3] = np.nan
    path = _fits_file(tmp_path, data)
    img = read_fits(path, stretch=stretch)
    assert len(img.frames) == 1 and img.frames[0].shape == (20, 100)
    filled = np.where(np.isnan(data), np.nanmin(data), data).astype(np.float64)
    lo, hi = np.percentile(filled, (0.5, 99.5))
    u = np.clip((filled - lo) / (hi - lo), 0, 1)
    y = {"linear": u, "asinh": np.arcsinh(u / 0.1) / np.arcsinh(10), "log": np.log(1000 * u + 1) / np.log(1001)}[
        stretch
    ]
    expected = np.rint(y * 65535)[::-1]  # FITS row 1 is the bottom
    assert np.abs(img.frames[0] - expected).max() <= 1
    assert any("NaN" in n for n in img.notes)


def test_fits_cube_gives_frames(tmp_path):
    cube = np.random.default_rng(0).normal(size=(3, 8, 9)).astype(np.float32)
    img = read_fits(_fits_file(tmp_path, cube, "cube.fits"), stretch="asinh")
    assert len(img.frames) == 3 and img.frames[0].shape == (8, 9)
    assert img.header["EXTNAME"] == "SCI"


# --------------------------------------------------------------------------------------------
# writers


def test_secondary_capture_read_back(demo, tmp_path):
    src = pydicom.dcmread(demo / "ct_CT_small.dcm")
    img = read_dicom(demo / "ct_CT_small.dcm")
    rgb = colorize_medical(None, img, "pseudo", "hot")
    out = write_secondary_capture(rgb, img.dataset, tmp_path / "sc.dcm", mode="pseudo", model_name="hot")
    sc = pydicom.dcmread(out)
    assert sc.SOPClassUID == SC_SOP_CLASS and sc.file_meta.MediaStorageSOPClassUID == SC_SOP_CLASS
    assert sc.SOPInstanceUID not in (src.SOPInstanceUID, "") and sc.SeriesInstanceUID != src.SeriesInstanceUID
    assert sc.file_meta.MediaStorageSOPInstanceUID == sc.SOPInstanceUID
    assert sc.StudyInstanceUID == src.StudyInstanceUID and sc.FrameOfReferenceUID == src.FrameOfReferenceUID
    assert sc.PatientName == src.PatientName and sc.PatientID == src.PatientID
    assert (sc.PhotometricInterpretation, sc.SamplesPerPixel, sc.PlanarConfiguration) == ("RGB", 3, 0)
    assert (sc.BitsAllocated, sc.BitsStored, sc.ConversionType) == (8, 8, "WSD")
    assert list(sc.ImageType) == ["DERIVED", "SECONDARY"]
    assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert "colour added by software" in sc.ImageComments and "pseudo" in sc.DerivationDescription
    assert sc.pixel_array.shape == (128, 128, 3)
    np.testing.assert_array_equal(sc.pixel_array, rgb[0])
    assert not any(e.tag.is_private for e in sc)
    assert "InstitutionName" not in sc


def test_secondary_capture_anonymized_multiframe(tmp_path):
    src = make_dicom(np.zeros((2, 2), np.uint16), PatientAge="054Y", StudyDescription="HEAD")
    src.add_new(0x00091001, "LO", "private secret")
    before = src.PatientName
    frames = [np.full((5, 6, 3), i * 40, np.uint8) for i in range(3)]
    out = write_secondary_capture(
        frames, src, tmp_path / "anon.dcm", anonymize=True, mode="realistic", model_name="lite"
    )
    sc = pydicom.dcmread(out)
    assert sc.SOPClassUID == MF_TRUE_COLOR_SC_SOP_CLASS and int(sc.NumberOfFrames) == 3
    assert sc.pixel_array.shape == (3, 5, 6, 3) and int(sc.pixel_array[2, 0, 0, 1]) == 80
    assert sc.FrameIncrementPointer == pydicom.tag.Tag("PageNumberVector")
    assert str(sc.PatientName) == "ANONYMOUS" and sc.PatientID == "ANONYMOUS"
    for kw in ("PatientBirthDate", "PatientSex", "AccessionNumber", "ReferringPhysicianName", "StudyDate", "StudyTime"):
        assert sc[kw].value in ("", None), kw
    for kw in ("PatientAge", "StudyDescription", "InstitutionName", "SourceImageSequence", "ContentDate"):
        assert kw not in sc, kw
    assert sc.StudyInstanceUID != src.StudyInstanceUID and sc.FrameOfReferenceUID != src.FrameOfReferenceUID
    assert sc.PatientIdentityRemoved == "YES" and sc.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert not any(e.tag.is_private for e in sc)
    assert "lite" in sc.ImageComments and "realistic" in sc.ImageComments
    assert src.PatientName == before  # the source dataset is not modified
    # the same study maps to the same anonymous study UID
    again = pydicom.dcmread(write_secondary_capture(frames, src, tmp_path / "b.dcm", anonymize=True))
    assert again.StudyInstanceUID == sc.StudyInstanceUID


def test_nifti_rgb_read_back(demo, tmp_path):
    img = read_nifti(demo / "anatomical.nii", axis=1)
    rgb = colorize_medical(None, img, "pseudo")
    note = medical_note("pseudo", "viridis", short=True)
    out = write_nifti_rgb(rgb, img, tmp_path / "rgb.nii.gz", note)
    back = nib.load(out)
    src = nib.load(demo / "anatomical.nii")
    np.testing.assert_allclose(back.affine, src.affine)
    assert back.shape == src.shape and back.header["datatype"] == 128  # RGB24
    data = np.asanyarray(back.dataobj)
    k = 17
    np.testing.assert_array_equal(data["G"][:, k, :], np.rot90(rgb[k][..., 1], -1))
    assert b"pseudo" in back.header["descrip"].item() and len(note) <= 79


def test_write_frames_names_and_note(tmp_path):
    frames = [np.zeros((4, 4, 3), np.uint8)] * 2
    paths = write_frames(frames, tmp_path / "x_color", "png", note="mode pseudo; colour added by software")
    assert [p.name for p in paths] == ["x_color_0001.png", "x_color_0002.png"]
    assert "colour added by software" in Image.open(paths[0]).text["Software"]
    assert [p.name for p in write_frames(frames[:1], tmp_path / "y_color", "tif")] == ["y_color.tif"]


# --------------------------------------------------------------------------------------------
# luminance preserved, every input kind, both modes


def _inputs(demo: Path, tmp_path: Path) -> dict[str, MedicalImage]:
    vol = np.random.default_rng(1).normal(100, 30, size=(12, 10, 3)).astype(np.float32)
    vol[0, 0, 0] = np.nan
    nii = tmp_path / "v.nii"
    nib.save(nib.Nifti1Image(vol, np.eye(4)), nii)
    rgb = np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    return {
        "dicom-ct": read_dicom(demo / "ct_693_UNCR.dcm"),
        "dicom-cr-monochrome1": read_dicom(demo / "xray_cr_RG3_UNCR.dcm"),
        "dicom-mr": read_dicom(demo / "mr_MR_small.dcm"),
        "dicom-colour": read_dicom(dicom_bytes(make_dicom(rgb, "RGB", 8))),
        "dicom-multiframe": read_dicom(
            dicom_bytes(make_dicom(np.arange(3 * 20 * 20, dtype=np.uint16).reshape(3, 20, 20)))
        ),
        "nifti-demo": read_nifti(demo / "anatomical.nii"),
        "nifti-nan": read_nifti(nii, axis=0),
        "fits-log": read_fits(_fits_file(tmp_path, np.arange(600, dtype=np.float32).reshape(20, 30)), stretch="log"),
    }


@pytest.mark.parametrize("mode", ["pseudo", "realistic"])
def test_luminance_preserved_every_kind(demo, tmp_path, session, mode):
    for kind, img in _inputs(demo, tmp_path).items():
        rgb = colorize_medical(session if mode == "realistic" else None, img, mode)
        assert len(rgb) == len(img.frames)
        assert rgb[0].dtype == np.uint8 and rgb[0].shape == (*img.frames[0].shape, 3)
        assert max_l_error(rgb, img.frames) <= 0.5, (kind, mode)
        if mode == "pseudo" and kind == "dicom-ct":
            assert np.abs(rgb[0][..., 0].astype(int) - rgb[0][..., 2]).max() > 20  # colour was added


def test_colorize_medical_needs_session_for_realistic(demo):
    img = read_dicom(demo / "mr_MR_small.dcm")
    with pytest.raises(ValueError, match="session"):
        colorize_medical(None, img, "realistic")
    with pytest.raises(ValueError, match="mode"):
        colorize_medical(None, img, "vivid")


# --------------------------------------------------------------------------------------------
# the CLI entry point


def test_colorize_medical_file_dicom(demo, tmp_path, session):
    paths = colorize_medical_file(session, demo / "mr_MR_small.dcm", tmp_path, mode="realistic", anonymize=True)
    stem = paths[0].name.removesuffix("_color.png")  # anonymised: a neutral name, see test_anonymize_gives_neutral...
    assert stem.startswith("anon-") and [p.name for p in paths] == [f"{stem}_color.png", f"{stem}_color.dcm"]
    png = Image.open(paths[0])
    assert "realistic" in png.text["Software"] and "colour added by software" in png.text["Software"]
    sc = pydicom.dcmread(paths[1])
    assert str(sc.PatientName) == "ANONYMOUS" and f"model {session.name}" in sc.ImageComments
    gray = read_dicom(demo / "mr_MR_small.dcm").frames[0]
    assert np.abs(luminance(np.asarray(png.convert("RGB"))) - luminance(gray)).max() <= 0.5


def test_colorize_medical_file_nifti_and_fits(demo, tmp_path):
    paths = colorize_medical_file(None, demo / "anatomical.nii", tmp_path, mode="pseudo", lut="hot", axis=0)
    assert len(paths) == 34 and paths[0].name == "anatomical_color_0001.png"
    assert paths[-1].name == "anatomical_color.nii.gz" and nib.load(paths[-1]).shape == (33, 41, 25)
    fpath = _fits_file(tmp_path, np.arange(400, dtype=np.float32).reshape(20, 20), "m31.fits")
    out = colorize_medical_file(None, fpath, tmp_path / "o", mode="pseudo", stretch="asinh", window="full")
    assert [p.name for p in out] == ["m31_color.png"] and "pseudo" in Image.open(out[0]).text["Software"]
    with pytest.raises(ImageError, match="not a DICOM, NIfTI or FITS"):
        colorize_medical_file(None, tmp_path / "photo.jpg", tmp_path, mode="pseudo")


# --------------------------------------------------------------------------------------------
# uncertainty maps, anonymous names, uploads (issue 8)


def _multiframe_dicom(tmp_path: Path, name: str = "mf.dcm", **attrs) -> Path:
    px = (np.arange(3 * 24 * 30, dtype=np.uint16) % 1000).reshape(3, 24, 30)
    path = tmp_path / name
    path.write_bytes(dicom_bytes(make_dicom(px, bits_stored=10, **attrs)))
    return path


def _nifti(tmp_path: Path, name: str = "vol.nii.gz", shape=(10, 12, 4)) -> Path:
    vol = np.random.default_rng(3).normal(100, 30, size=shape).astype(np.float32)
    path = tmp_path / name
    nib.save(nib.Nifti1Image(vol, np.diag([1.5, 1.5, 3.0, 1.0])), path)
    return path


def test_uncertainty_maps_per_frame_and_slice(tmp_path):
    from .test_uncertainty import FixedLogits, session_of

    s = session_of(FixedLogits())
    paths = colorize_medical_file(s, _multiframe_dicom(tmp_path), tmp_path / "o", uncertainty=True)
    names = [p.name for p in paths]
    assert names[:3] == ["mf_uncertainty_0001.png", "mf_uncertainty_0002.png", "mf_uncertainty_0003.png"]
    assert "mf_color_0003.png" in names and "mf_color.dcm" in names
    u = np.asarray(Image.open(paths[1]))
    assert u.shape == (24, 30) and u.dtype == np.uint16 and (u == 65535).all()  # uniform logits: 1

    one_hot = session_of(FixedLogits(hot=11))
    paths = colorize_medical_file(one_hot, _nifti(tmp_path), tmp_path / "n", uncertainty=True, axis=0)
    maps = [p for p in paths if "_uncertainty_" in p.name]
    assert len(maps) == 10 and maps[0].name == "vol_uncertainty_0001.png"
    u = np.asarray(Image.open(maps[4]))
    assert u.shape == (4, 12) and (u == 0).all()  # one-hot logits: 0; rot90 of a 12 x 4 slice

    single = tmp_path / "one.dcm"
    single.write_bytes(dicom_bytes(make_dicom(np.arange(20 * 16, dtype=np.uint16).reshape(20, 16))))
    out = colorize_medical_file(s, single, tmp_path / "s", uncertainty=True, dicom_out=False)
    assert [p.name for p in out] == ["one_uncertainty.png", "one_color.png"]


def test_uncertainty_needs_a_model_distribution(tmp_path):
    import torch

    from tinct.api import Session
    from tinct.models.base import NoColourDistributionError
    from tinct.registry import ModelSpec, build_architecture

    src = _multiframe_dicom(tmp_path)
    with pytest.raises(ValueError, match="realistic mode"):
        colorize_medical_file(None, src, tmp_path, mode="pseudo", uncertainty=True)
    reg = Session(ModelSpec("u", "unet", ""), build_architecture("unet").eval(), torch.device("cpu"), 32)
    with pytest.raises(NoColourDistributionError, match="no colour distribution"):
        colorize_medical_file(reg, src, tmp_path, uncertainty=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mf.dcm"]  # refused before writing anything


def test_anonymize_gives_neutral_file_names(tmp_path):
    import hashlib

    src = _multiframe_dicom(tmp_path, "DOE_JOHN.dcm", PatientName="Doe^John", PatientID="MRN-424242")
    plain = colorize_medical_file(None, src, tmp_path / "plain", mode="pseudo")
    assert {p.name for p in plain} >= {"DOE_JOHN_color_0001.png", "DOE_JOHN_color.dcm"}

    out = colorize_medical_file(None, src, tmp_path / "anon", mode="pseudo", anonymize=True)
    assert len(out) == 4
    for p in out:
        assert p.name.startswith("anon-"), p.name
        assert not any(word in p.name.lower() for word in ("doe", "john", "mrn", "424242"))
    sc = pydicom.dcmread(next(p for p in out if p.suffix == ".dcm"))
    stem = "anon-" + hashlib.sha256(sc.SOPInstanceUID.encode()).hexdigest()[:16]
    assert {p.name for p in out} == {f"{stem}_color_000{i}.png" for i in (1, 2, 3)} | {f"{stem}_color.dcm"}
    assert str(sc.PatientName) == "ANONYMOUS" and sc.PatientID == "ANONYMOUS"
    assert sorted(p.name for p in (tmp_path / "anon").iterdir()) == sorted(p.name for p in out)  # no mapping file
    again = colorize_medical_file(None, src, tmp_path / "anon", mode="pseudo", anonymize=True)
    assert not {p.name for p in again} & {p.name for p in out}  # a fresh UID: names cannot be linked

    # NIfTI: a random neutral stem, and the subject's name dropped from the header's free text
    vol = np.random.default_rng(0).normal(size=(6, 7, 3)).astype(np.float32)
    nii = nib.Nifti1Image(vol, np.eye(4))
    nii.header["aux_file"] = b"DOE_JOHN"
    nii.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"PatientName=DOE^JOHN"))
    nib.save(nii, tmp_path / "DOE_JOHN.nii.gz")
    out = colorize_medical_file(None, tmp_path / "DOE_JOHN.nii.gz", tmp_path / "nanon", mode="pseudo", anonymize=True)
    assert all(p.name.startswith("anon-") and "doe" not in p.name.lower() for p in out)
    rgb = nib.load(next(p for p in out if p.name.endswith(".nii.gz")))
    assert rgb.header["aux_file"].item() == b"" and len(rgb.header.extensions) == 0
    assert b"DOE" not in gzip.decompress(next(p for p in out if p.name.endswith(".nii.gz")).read_bytes())


def test_cli_anonymize_names_and_map(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import tinct.api
    from tinct.cli import app

    from .test_uncertainty import FixedLogits, session_of

    monkeypatch.setattr(tinct.api, "load_model", lambda *a, **k: session_of(FixedLogits()))
    src = _multiframe_dicom(tmp_path, "DOE_JOHN.dcm", PatientName="Doe^John")
    r = CliRunner().invoke(app, ["colorize", str(src), "-o", str(tmp_path / "o"), "--anonymize", "--uncertainty"])
    assert r.exit_code == 0, r.output
    names = sorted(p.name for p in (tmp_path / "o").iterdir())
    assert len(names) == 7 and all(n.startswith("anon-") for n in names), names  # 3 maps, 3 frames, the SC
    assert "DOE" not in r.output and "anon-" in r.output.splitlines()[0]
    r = CliRunner().invoke(app, ["colorize", str(src), "-o", str(tmp_path / "m"), "--mode", "pseudo", "--anonymize",
                                 "--anonymize-map", str(tmp_path / "map.csv")])  # fmt: skip
    assert r.exit_code == 0, r.output
    rows = [ln.split(",") for ln in (tmp_path / "map.csv").read_text().splitlines()]
    assert len(rows) == 4 and all(a == str(src) and Path(b).name.startswith("anon-") for a, b in rows)
    r = CliRunner().invoke(app, ["colorize", str(src), "--anonymize-map", str(tmp_path / "x.csv")])
    assert r.exit_code == 2 and "needs --anonymize" in r.output


def test_upload_kind(demo, tmp_path):
    from tinct.medical import upload_kind

    dcm = (demo / "mr_MR_small.dcm").read_bytes()
    assert upload_kind(dcm) == "dicom" and upload_kind(dcm, "IM0001") == "dicom"
    bare = dicom_bytes(make_dicom(np.zeros((4, 4), np.uint16)))[132:]  # no preamble: only a .dcm name tells
    assert upload_kind(bare) is None and upload_kind(bare, "x.DCM") == "dicom"
    gz = _nifti(tmp_path).read_bytes()
    assert upload_kind(gz) == "nifti" and upload_kind(gzip.decompress(gz), "blob") == "nifti"
    assert upload_kind(b"\x1f\x8b" + b"\x00" * 100) is None  # corrupt gzip: not recognised, no error
    assert upload_kind(b"\xff\xd8\xff\xe0" + b"\x00" * 600, "photo.jpg") is None
    assert upload_kind(b"x", "C:\\scans\\brain.NII.GZ") == "nifti"


def _fits_bytes(data) -> bytes:
    buf = io.BytesIO()
    fits.PrimaryHDU(np.asarray(data)).writeto(buf)
    return buf.getvalue()


def test_upload_kind_fits():
    from tinct.medical import upload_kind

    data = _fits_bytes(np.zeros((4, 5), np.float32))
    assert data[:9] == b"SIMPLE  ="
    assert upload_kind(data) == "fits" and upload_kind(data, "blob") == "fits"
    assert upload_kind(data, "scan.dcm") == "fits"  # the content wins over a wrong name, as the DICM marker does
    assert upload_kind(gzip.compress(data)) == "fits" and upload_kind(gzip.compress(data), "blob.gz") == "fits"
    for name in ("m31.fits", "M31.FIT", "x.fts", "x.fits.gz", "x.FTS.GZ", "C:\\sky\\m31.fit.gz"):
        assert upload_kind(b"x", name) == "fits", name
    assert upload_kind(b"SIMPLE = T" + b" " * 600) is None  # not the card's spacing
    assert upload_kind(b" SIMPLE  =" + b" " * 600) is None  # not at byte 0
    assert upload_kind(gzip.compress(b"\x00" * 600)) is None


def test_fits_limits_from_the_header_gzip_and_foreign_bytes():
    from tinct.io import ImageTooLargeError, NotAnImageError

    cube = np.arange(3 * 8 * 9, dtype=np.float32).reshape(3, 8, 9)
    data = _fits_bytes(cube)
    assert len(read_fits(data, max_total=216).frames) == 3
    with pytest.raises(ImageTooLargeError, match="3 plane\\(s\\) hold 216 pixels in all, above the limit of 215"):
        read_fits(data, max_total=215)
    with pytest.raises(ImageTooLargeError):
        read_fits(data, max_pixels=71)  # one 9 x 8 plane is 72 pixels
    # a header that promises 50 planes of 1000 x 1000 and no data: refused from the header, before
    # any data is read (reading it would fail with "cannot read FITS file" instead)
    hdr = fits.Header([("SIMPLE", True), ("BITPIX", -32), ("NAXIS", 3), ("NAXIS1", 1000), ("NAXIS2", 1000)])
    hdr["NAXIS3"] = 50
    with pytest.raises(ImageTooLargeError, match="50,000,000 pixels in all"):
        read_fits(hdr.tostring().encode("ascii"), max_total=1000)
    # gzipped bytes: read as the plain ones; a decompression bomb is stopped; a cut stream refused
    gz = gzip.compress(data)
    np.testing.assert_array_equal(read_fits(gz, max_total=216).frames[1], read_fits(data).frames[1])
    with pytest.raises(ImageTooLargeError, match="expands to more than"):
        read_fits(gzip.compress(b"\x00" * (8 << 20)), max_total=1000)
    with pytest.raises(ImageError, match="truncated gzip"):
        read_fits(gz[: len(gz) // 2], max_total=1000)
    with pytest.raises(NotAnImageError, match="not a FITS file"):
        read_fits(b"a text file, not FITS" * 30)
    with pytest.raises(ImageError, match="cannot read FITS file") as e:
        read_fits(data[: 2880 + 100])  # the header (one 2880-byte block) and 100 of the 864 data bytes
    assert "\n" not in str(e.value)


def test_total_limits_and_bombs(tmp_path):
    from tinct.io import ImageTooLargeError
    from tinct.medical import read_nifti

    data = _multiframe_dicom(tmp_path).read_bytes()
    assert len(read_dicom(data, max_total=3 * 24 * 30).frames) == 3
    with pytest.raises(ImageTooLargeError, match="2,160 pixels in all, above the limit of 2,000"):
        read_dicom(data, max_total=2000)
    with pytest.raises(ImageTooLargeError):
        read_dicom(data, max_pixels=100)  # a frame above the per-image limit
    gz = _nifti(tmp_path).read_bytes()
    assert len(read_nifti(gz, max_total=480).frames) == 4
    with pytest.raises(ImageTooLargeError, match="480 pixels"):
        read_nifti(gz, max_total=479)
    bomb = gzip.compress(b"\x00" * (8 << 20))  # 8 MiB of zeros in 8 kB
    with pytest.raises(ImageTooLargeError, match="expands to more than"):
        read_nifti(bomb, max_total=1000)
    with pytest.raises(ImageError, match="truncated gzip"):
        read_nifti(gz[: len(gz) // 2], max_total=1000)


def test_encoders_match_writers(tmp_path):
    from tinct.medical import encode_nifti_rgb, encode_secondary_capture

    img = read_dicom(_multiframe_dicom(tmp_path))
    rgb = colorize_medical(None, img, "pseudo")
    uid = generate_uid()
    sc = pydicom.dcmread(io.BytesIO(encode_secondary_capture(rgb, img.dataset, sop_instance_uid=uid)))
    assert sc.SOPInstanceUID == uid == sc.file_meta.MediaStorageSOPInstanceUID and int(sc.NumberOfFrames) == 3
    vol = read_nifti(_nifti(tmp_path))
    raw = encode_nifti_rgb(colorize_medical(None, vol, "pseudo"), vol, "n", gz=False)
    assert nib.Nifti1Image.from_bytes(raw).shape == (10, 12, 4)


def test_cli_realistic_default_for_medical_inputs_is_the_medical_model(tmp_path):
    from typer.testing import CliRunner

    from tinct.cli import app
    from tinct.registry import DEFAULT_MEDICAL_MODEL, DEFAULT_MODEL

    rows = np.tile(np.linspace(0, 4000, 48), (40, 1)).astype(np.uint16)
    src = tmp_path / "ct.dcm"
    src.write_bytes(dicom_bytes(make_dicom(rows)))
    r = CliRunner().invoke(app, ["colorize", str(src), "-o", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    sc = pydicom.dcmread(tmp_path / "a" / "ct_color.dcm")
    assert f"model {DEFAULT_MEDICAL_MODEL}" in sc.ImageComments
    # a named model wins; --uncertainty needs a colour distribution, so it keeps the photo default
    r = CliRunner().invoke(app, ["colorize", str(src), "-o", str(tmp_path / "b"), "-m", "lite"])
    assert r.exit_code == 0 and "model lite" in pydicom.dcmread(tmp_path / "b" / "ct_color.dcm").ImageComments
    r = CliRunner().invoke(app, ["colorize", str(src), "-o", str(tmp_path / "c"), "--uncertainty"])
    comments = pydicom.dcmread(tmp_path / "c" / "ct_color.dcm").ImageComments
    assert r.exit_code == 0 and f"model {DEFAULT_MODEL}" in comments
    assert (tmp_path / "c" / "ct_uncertainty.png").exists()
    # so do --vivid and --temperature, which only the photo default's distribution takes (never ignored)
    for name, extra in (("d", ["--vivid", "1"]), ("e", ["--temperature", "0.5"])):
        r = CliRunner().invoke(app, ["colorize", str(src), "-o", str(tmp_path / name), *extra])
        comments = pydicom.dcmread(tmp_path / name / "ct_color.dcm").ImageComments
        assert r.exit_code == 0 and f"model {DEFAULT_MODEL}" in comments, r.output
    # in pseudo mode a look-up table colours it: no model to decode, so they are refused, not ignored
    r = CliRunner().invoke(app, ["colorize", str(src), "-o", str(tmp_path / "f"), "--mode", "pseudo", "--vivid", "1",
                                 "--temperature", "0.5", "-q"])  # fmt: skip
    assert r.exit_code == 1 and not (tmp_path / "f").exists()
    assert f"failed: {src}: --vivid, --temperature do not apply to a DICOM, NIfTI or FITS input in pseudo mode" in (
        r.output
    )


def test_a_scan_given_where_a_photo_goes_says_what_colorizes_it(tmp_path):
    """tinct.colorize(path) / Session.colorize_file take photos; a DICOM (by name or DICM marker), a
    NIfTI or a FITS file (which Pillow would half-read) is refused with the way to colorize it, never
    decoded as a photo, and nothing is written."""
    import tinct

    rows = np.tile(np.linspace(0, 4000, 48), (40, 1)).astype(np.uint16)
    dcm = tmp_path / "ct.dcm"
    dcm.write_bytes(dicom_bytes(make_dicom(rows)))
    bare = tmp_path / "IM0001"  # no extension: known by its DICM marker
    bare.write_bytes(dcm.read_bytes())
    sky = _fits_file(tmp_path, np.arange(24 * 32, dtype=np.float32).reshape(24, 32))
    vol = _nifti(tmp_path)
    session = tinct.load_model("lite", device="cpu")
    for path, kind in ((dcm, "DICOM file"), (bare, "DICOM file"), (sky, "FITS file"), (vol, "NIfTI file")):
        for call in (tinct.colorize, session.colorize, session.colorize_file):
            with pytest.raises(ImageError, match=rf"^{path.name} is a {kind}, not a photo: colorize it with `tinct"):
                call(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (dcm, bare, sky, vol))
