"""DICOM, NIfTI and FITS uploads to the web server (tinct.server): answers, limits and errors.

Files are made by the tests with pydicom, nibabel and astropy (helpers of tests/test_medical.py).
Most requests use the pseudo mode (a look-up table: no model run); a few the default model.
"""

from __future__ import annotations

import gzip
import hashlib
import io

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
pydicom = pytest.importorskip("pydicom")
nib = pytest.importorskip("nibabel")

from fastapi.testclient import TestClient  # noqa: E402

from tinct.color import luminance  # noqa: E402
from tinct.medical import read_dicom, read_fits, read_nifti  # noqa: E402
from tinct.registry import DEFAULT_MEDICAL_MODEL, DEFAULT_MODEL, scan_model  # noqa: E402
from tinct.server import create_app  # noqa: E402

from .test_medical import dicom_bytes, make_dicom  # noqa: E402
from .test_server import COLORIZE, assert_error, wait_ready  # noqa: E402


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(DEFAULT_MODEL, device="cpu")) as c:
        wait_ready(c)
        yield c


@pytest.fixture(scope="module")
def ct() -> bytes:
    """A 16-bit CT-like DICOM, 40 x 48, with a window in the file and a patient's name."""
    hu = np.linspace(-1000, 1500, 40 * 48).reshape(40, 48)
    stored = (hu + 1024).astype(np.uint16)
    return dicom_bytes(
        make_dicom(stored, bits_stored=12, RescaleSlope=1, RescaleIntercept=-1024, WindowCenter=40, WindowWidth=400)
    )


@pytest.fixture(scope="module")
def multiframe() -> bytes:
    px = (np.arange(4 * 20 * 24, dtype=np.uint16) * 7 % 4096).reshape(4, 20, 24)
    return dicom_bytes(make_dicom(px, bits_stored=12))


@pytest.fixture(scope="module")
def volume() -> tuple[bytes, np.ndarray]:
    vol = np.random.default_rng(5).normal(100, 30, size=(16, 20, 6)).astype(np.float32)
    vol[0, 0, 0] = np.nan
    affine = np.diag([0.8, 0.9, 2.5, 1.0])
    affine[:3, 3] = (-10, 20, 5)
    buf = nib.Nifti1Image(vol, affine).to_bytes()
    return gzip.compress(buf), affine


def send(client, data: bytes, filename: str, ctype: str = "application/octet-stream", **fields):
    return client.post(COLORIZE, files={"file": (filename, data, ctype)}, data=fields)


def png(r) -> np.ndarray:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))


# ---- answers --------------------------------------------------------------------------------


def test_dicom_upload_answers_a_png_with_the_windowed_luminance(client, ct):
    r = send(client, ct, "ct.dcm", "application/dicom")
    rgb = png(r)
    gray = read_dicom(ct).frames[0]
    assert rgb.shape == (40, 48, 3)
    assert np.abs(luminance(rgb) - luminance(gray)).max() <= 0.5  # the anatomy is kept
    assert r.headers["x-tinct-mode"] == "realistic" and r.headers["x-tinct-model"] == DEFAULT_MODEL
    assert r.headers["x-tinct-frames"] == "1" and r.headers["x-tinct-frame"] == "0"
    assert "C40 W400" in r.headers["x-tinct-window"]
    assert 'filename="ct_color.png"' in r.headers["content-disposition"]
    assert "colour added by software" in Image.open(io.BytesIO(r.content)).text["Software"]


def test_a_scan_gets_the_model_the_cli_would_choose(ct):
    """No model named anywhere: the medical default, as `tinct colorize` (tests/test_medical.py); a
    vividness asks for the photo default (only its distribution takes one), even the model's own
    value; a named model wins; pseudo mode refuses a vividness instead of ignoring it."""
    with TestClient(create_app(device="cpu")) as c:
        wait_ready(c)
        rows = {row["name"]: row for row in c.get("/api/v1/models").json()}
        assert [n for n, row in rows.items() if row["scan_default"]] == [DEFAULT_MEDICAL_MODEL]
        assert [n for n, row in rows.items() if row["default"]] == [DEFAULT_MODEL]
        assert c.get("/api/v1/info").json()["default_scan_model"] == DEFAULT_MEDICAL_MODEL
        shown = {}
        for label, fields in (("plain", {}), ("vivid", {"vivid": "1"}), ("own", {"vivid": "0.625"}),
                              ("named", {"model": "lite"})):  # fmt: skip
            r = send(c, ct, "ct.dcm", **fields)
            shown[label] = png(r)
            assert r.headers["x-tinct-model"] == {"plain": DEFAULT_MEDICAL_MODEL, "named": "lite"}.get(
                label, DEFAULT_MODEL
            ), label
        assert not np.array_equal(shown["vivid"], shown["own"])  # the vividness is applied, not only the model
        assert_error(send(c, ct, "ct.dcm", mode="pseudo", vivid="1"), 422, "vivid: for realistic mode")
        r = c.post(COLORIZE, files={"file": ("x.png", _gray_png(), "image/png")})
        assert r.status_code == 200 and r.headers["x-tinct-model"] == DEFAULT_MODEL  # images keep the photo default
    # the server's own --model serves scans too, as tinct colorize --model does
    with TestClient(create_app("lite", device="cpu")) as c:
        assert [row["name"] for row in c.get("/api/v1/models").json() if row["scan_default"]] == ["lite"]
        assert send(c, ct, "ct.dcm").headers["x-tinct-model"] == "lite"
    assert (scan_model(None), scan_model(None, True), scan_model("gan", True)) == (
        DEFAULT_MEDICAL_MODEL, DEFAULT_MODEL, "gan"
    )  # fmt: skip


def test_the_model_for_scans_loads_after_the_default(monkeypatch):
    """With the medical extra, the server loads its model for scans in the background once the default
    is ready (the first DICOM does not wait for it); a server given one model loads only that."""
    pytest.importorskip("astropy")
    import time
    from types import SimpleNamespace

    from tinct import api

    loaded = []

    def record(name, device="auto", working_size=None, vivid=None):
        loaded.append(name)
        return SimpleNamespace(working_size=128, fullres_fused=False, name=name)

    monkeypatch.setattr(api, "cached_session", record)
    for model, expected in ((None, [DEFAULT_MODEL, DEFAULT_MEDICAL_MODEL]), ("lite", ["lite"])):
        loaded.clear()
        with TestClient(create_app(model, device="cpu")) as c:
            wait_ready(c)
            deadline = time.monotonic() + 10
            while len(loaded) < len(expected) and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(0.1)  # nothing more comes
        assert loaded == expected


def _gray_png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.tile(np.arange(0, 256, 4, dtype=np.uint8), (32, 1))).save(buf, "PNG")
    return buf.getvalue()


def test_dicom_without_extension_is_found_by_its_preamble(client, ct):
    r = send(client, ct, "IM000001", mode="pseudo", lut="hot")
    assert png(r).shape == (40, 48, 3)
    assert r.headers["x-tinct-mode"] == "pseudo" and r.headers["x-tinct-model"] == "hot"


def test_dicom_window_field(client, ct):
    full = png(send(client, ct, "ct.dcm", mode="pseudo", window="full"))
    gray = read_dicom(ct, window="full").frames[0]
    assert np.abs(luminance(full) - luminance(gray)).max() <= 0.5


def test_multiframe_dicom_frame_field(client, multiframe):
    img = read_dicom(multiframe)
    r = send(client, multiframe, "cine.dcm", mode="pseudo")
    assert r.headers["x-tinct-frame"] == "2" and r.headers["x-tinct-frames"] == "4"  # the middle one
    assert np.abs(luminance(png(r)) - luminance(img.frames[2])).max() <= 0.5
    r = send(client, multiframe, "cine.dcm", mode="pseudo", frame="0")
    assert np.abs(luminance(png(r)) - luminance(img.frames[0])).max() <= 0.5
    assert_error(send(client, multiframe, "cine.dcm", mode="pseudo", frame="4"), 422, "frame 4 does not exist")


def test_dicom_secondary_capture_answer(client, multiframe):
    r = send(client, multiframe, "cine.dcm", mode="pseudo", format="dcm")
    assert r.status_code == 200 and r.headers["content-type"] == "application/dicom"
    sc = pydicom.dcmread(io.BytesIO(r.content))
    assert sc.SOPClassUID == "1.2.840.10008.5.1.4.1.1.7.4" and int(sc.NumberOfFrames) == 4
    assert str(sc.PatientName) == "Doe^Jane" and 'filename="cine_color.dcm"' in r.headers["content-disposition"]
    assert "x-tinct-frame" not in r.headers


def test_anonymized_secondary_capture_and_neutral_name(client, multiframe):
    r = send(client, multiframe, "DOE_JANE.dcm", mode="pseudo", format="dcm", anonymize="true")
    sc = pydicom.dcmread(io.BytesIO(r.content))
    assert str(sc.PatientName) == "ANONYMOUS" and sc.PatientIdentityRemoved == "YES"
    stem = "anon-" + hashlib.sha256(sc.SOPInstanceUID.encode()).hexdigest()[:16]
    assert r.headers["content-disposition"] == f'inline; filename="{stem}_color.dcm"'
    r = send(client, multiframe, "DOE_JANE.dcm", mode="pseudo", anonymize="1")
    assert "DOE" not in r.headers["content-disposition"] and "anon-" in r.headers["content-disposition"]


def test_nifti_upload_answers_the_middle_slice(client, volume):
    data, _ = volume
    r = send(client, data, "brain.nii.gz", "application/gzip", mode="pseudo")
    rgb = png(r)
    img = read_nifti(data)
    assert r.headers["x-tinct-frames"] == "6" and r.headers["x-tinct-frame"] == "3"
    assert rgb.shape == img.frames[3].shape + (3,) == (20, 16, 3)
    assert np.abs(luminance(rgb) - luminance(img.frames[3])).max() <= 0.5
    assert 'filename="brain_color.png"' in r.headers["content-disposition"]
    r = send(client, data, "brain.nii.gz", mode="pseudo", axis="0", frame="5")
    assert r.headers["x-tinct-frames"] == "16" and png(r).shape == (6, 20, 3)


def test_nifti_without_a_name_is_found_by_its_header(client, volume):
    data, _ = volume
    assert png(send(client, data, "blob", mode="pseudo")).shape == (20, 16, 3)  # gzipped
    assert png(send(client, gzip.decompress(data), "blob", mode="pseudo")).shape == (20, 16, 3)  # plain


def test_nifti_rgb_answer_keeps_the_affine(client, volume):
    data, affine = volume
    r = send(client, data, "brain.nii.gz", format="nii")  # realistic: the model colours every slice
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/gzip"
    assert 'filename="brain_color.nii.gz"' in r.headers["content-disposition"]
    out = nib.Nifti1Image.from_bytes(gzip.decompress(r.content))
    assert out.shape == (16, 20, 6) and out.header["datatype"] == 128
    np.testing.assert_allclose(out.affine, affine)


# ---- errors: always a 4xx with one line ------------------------------------------------------


def test_corrupt_and_foreign_medical_uploads(client, ct, volume):
    data, _ = volume
    msg = assert_error(send(client, ct[: len(ct) // 2], "ct.dcm"), 422, "DICOM")
    assert "\n" not in msg
    assert_error(send(client, b"hello, not a scan" * 20, "scan.dcm"), 415, "not a DICOM file")
    assert_error(send(client, b"\x00" * 128 + b"DICM" + bytes(range(256)) * 3, "x"), 422)
    assert_error(send(client, data[: len(data) // 2], "brain.nii.gz"), 422, "truncated gzip")
    assert_error(send(client, b"not a nifti header at all" * 40, "brain.nii"), 415, "not a NIfTI")
    assert_error(send(client, gzip.compress(b"\x00" * 400), "brain.nii.gz"), 415, "not a NIfTI")


@pytest.mark.parametrize("kind", ["dicom", "nifti"])
def test_damaged_uploads_never_give_500(client, ct, volume, kind):
    good = ct if kind == "dicom" else gzip.decompress(volume[0])
    name = "scan.dcm" if kind == "dicom" else "scan.nii"
    rng = np.random.default_rng(7)
    cases = [good[:n] for n in (10, 131, 132, 200, 348, 352, 400, len(good) - 7)]
    for _ in range(8):
        bad = bytearray(good)
        for i in rng.integers(0, min(len(good), 600), size=4):
            bad[i] = int(rng.integers(0, 256))
        cases.append(bytes(bad))
    for data in cases:
        r = send(client, data, name, mode="pseudo")
        assert r.status_code in (200, 413, 415, 422), (r.status_code, r.text)
        if r.status_code != 200:
            assert_error(r, r.status_code)


def test_medical_limits_are_the_servers(ct, volume):
    app = create_app(max_body_bytes=64_000, max_pixels=1_000, queue_size=2)
    with TestClient(app) as c:
        assert_error(send(c, ct, "ct.dcm", mode="pseudo"), 413, "above the limit")  # 40 x 48 > 1000 pixels
        bomb = gzip.compress(b"\x00" * (4 << 20))  # 4 MiB of zeros, 4 kB on the wire
        assert_error(send(c, bomb, "bomb.nii.gz", mode="pseudo"), 413, "expands to more than")
        assert_error(send(c, b"\x00" * 100_000, "big.dcm"), 413, "request body too large")
    app = create_app(max_pixels=2_000)  # every slice fits (320 pixels), the volume does not (1920 + ...)
    with TestClient(app) as c:
        vol = nib.Nifti1Image(np.zeros((16, 20, 8), np.float32), np.eye(4)).to_bytes()
        assert_error(send(c, vol, "v.nii", mode="pseudo"), 413, "2,560 pixels in all")


def test_invalid_medical_fields(client, ct, volume):
    data, _ = volume
    assert_error(send(client, ct, "ct.dcm", format="jpg"), 422, "png, dcm or nii")
    assert_error(send(client, ct, "ct.dcm", format="nii"), 422, "NIfTI uploads only")
    assert_error(send(client, data, "v.nii.gz", format="dcm"), 422, "DICOM uploads only")
    assert_error(send(client, ct, "ct.dcm", window="wide"), 422, "window must be")
    assert_error(send(client, ct, "ct.dcm", mode="vivid"), 422, "mode must be")
    assert_error(send(client, ct, "ct.dcm", mode="pseudo", lut="/etc/passwd"), 422, "lut")
    assert_error(send(client, ct, "ct.dcm", lut="hot"), 422, "pseudo mode")
    assert_error(send(client, ct, "ct.dcm", axis="1"), 422, "NIfTI uploads only")
    assert_error(send(client, ct, "ct.dcm", format="dcm", frame="0"), 422, "PNG answers only")
    assert_error(send(client, data, "v.nii.gz", axis="3"), 422, "axis")
    photo = io.BytesIO()
    Image.new("L", (20, 20), 128).save(photo, "PNG")
    assert_error(
        send(client, photo.getvalue(), "p.png", "image/png", window="40,400"), 422, "DICOM, NIfTI and FITS uploads"
    )
    assert_error(send(client, photo.getvalue(), "p.png", "image/png", format="dcm"), 422, "for DICOM and NIfTI")
    ref = {"reference": ("ref.png", photo.getvalue(), "image/png")}
    r = client.post(COLORIZE, files={"file": ("ct.dcm", ct, "application/dicom"), **ref})
    assert_error(r, 422, "not DICOM, NIfTI or FITS")


# ---- FITS ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fits():
    pytest.importorskip("astropy")
    from astropy.io import fits

    return fits


def fits_bytes(fits, data) -> bytes:
    buf = io.BytesIO()
    fits.PrimaryHDU(np.asarray(data)).writeto(buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def sky(fits) -> tuple[bytes, np.ndarray]:
    """A 2-D FITS image, 30 rows x 40 columns, that brightens row by row (FITS row 1 darkest)."""
    data = np.tile(np.linspace(0, 1000, 30, dtype=np.float32)[:, None], (1, 40))
    return fits_bytes(fits, data), data


@pytest.fixture(scope="module")
def cube(fits) -> tuple[bytes, np.ndarray]:
    """A 3-plane FITS cube, 20 x 24 a plane, each plane brighter than the one before."""
    data = np.stack([np.tile(np.linspace(0, 100, 24, dtype=np.float32), (20, 1)) + 300 * k for k in range(3)])
    return fits_bytes(fits, data), data


def test_fits_upload_answers_a_png_flipped_as_fits_is_shown(client, sky):
    data, image = sky
    r = send(client, data, "m31.fits", "application/fits", window="full")  # realistic: the model
    rgb = png(r)
    assert rgb.shape == image.shape + (3,) == (30, 40, 3)
    # FITS row 1 is the bottom: the PNG's top row is the data's last (brightest) row
    expected = np.rint(image / 1000 * 65535).astype(np.uint16)[::-1]
    assert np.abs(luminance(rgb) - luminance(expected)).max() <= 0.5
    assert luminance(rgb)[0].mean() > 95 and luminance(rgb)[-1].mean() < 5
    assert r.headers["x-tinct-mode"] == "realistic" and r.headers["x-tinct-model"] == DEFAULT_MODEL
    assert r.headers["x-tinct-frames"] == "1" and r.headers["x-tinct-frame"] == "0"
    assert "min..max 0..1000 (full); linear stretch" in r.headers["x-tinct-window"]
    assert 'filename="m31_color.png"' in r.headers["content-disposition"]
    assert "colour added by software" in Image.open(io.BytesIO(r.content)).text["Software"]


def test_fits_cube_frame_field_picks_a_plane(client, cube):
    data, _ = cube
    planes = read_fits(data).frames
    r = send(client, data, "cube.fits", mode="pseudo", frame="1")
    assert r.headers["x-tinct-frames"] == "3" and r.headers["x-tinct-frame"] == "1"
    assert np.abs(luminance(png(r)) - luminance(planes[1])).max() <= 0.5
    r = send(client, data, "cube.fits", mode="pseudo", frame="0")
    assert r.headers["x-tinct-frame"] == "0"
    assert np.abs(luminance(png(r)) - luminance(planes[0])).max() <= 0.5
    r = send(client, data, "cube.fits", mode="pseudo", lut="hot")
    assert r.headers["x-tinct-frame"] == "1" and r.headers["x-tinct-model"] == "hot"  # the middle one
    assert_error(send(client, data, "cube.fits", mode="pseudo", frame="3"), 422, "plane 3 does not exist")


def test_fits_stretch_field(client, sky, ct):
    data, _ = sky
    r = send(client, data, "m31.fits", mode="pseudo", stretch="asinh")
    assert np.abs(luminance(png(r)) - luminance(read_fits(data, "asinh").frames[0])).max() <= 0.5
    assert r.headers["x-tinct-window"].endswith("asinh stretch")
    assert png(send(client, data, "m31.fits", mode="pseudo", stretch="LOG")).shape == (30, 40, 3)
    assert_error(send(client, data, "m31.fits", mode="pseudo", stretch="sqrt"), 422, "linear, asinh, log")
    photo = io.BytesIO()
    Image.new("L", (20, 20), 128).save(photo, "JPEG")
    msg = assert_error(send(client, photo.getvalue(), "p.jpg", "image/jpeg", stretch="asinh"), 422, "FITS uploads only")
    assert "DICOM" not in msg
    assert_error(send(client, ct, "ct.dcm", mode="pseudo", stretch="asinh"), 422, "FITS uploads only")


def test_fits_is_answered_as_png_only(client, sky):
    data, _ = sky
    for fmt, fragment in (("dcm", "DICOM uploads only"), ("nii", "NIfTI uploads only"), ("jpg", "png (lossless)")):
        msg = assert_error(send(client, data, "m31.fits", format=fmt), 422, fragment)
        assert "\n" not in msg and "FITS" in msg
    assert_error(send(client, data, "m31.fits", axis="0"), 422, "NIfTI uploads only")
    assert_error(send(client, data, "m31.fits", mode="pseudo", window="wide"), 422, "window must be")
    assert png(send(client, data, "m31.fits", mode="pseudo", format="png")).shape == (30, 40, 3)


def test_fits_anonymize_gives_a_neutral_name(client, sky):
    data, _ = sky
    r = send(client, data, "DOE_JANE.fits", mode="pseudo", anonymize="true")
    assert png(r).shape == (30, 40, 3)
    disposition = r.headers["content-disposition"]
    assert "DOE" not in disposition and 'filename="anon-' in disposition and disposition.endswith('_color.png"')


def test_fits_found_by_content_gzipped_or_not(client, sky):
    data, image = sky
    for body, name, ctype in (
        (data, "blob", "application/octet-stream"),
        (data, "upload", "image/fits"),
        (gzip.compress(data), "blob", "application/gzip"),
        (gzip.compress(data), "m31.fits.gz", "application/octet-stream"),
    ):
        r = send(client, body, name, ctype, mode="pseudo")
        assert png(r).shape == image.shape + (3,), name
    assert 'filename="m31_color.png"' in r.headers["content-disposition"]  # not m31.fits_color.png


def test_corrupt_fits_uploads_are_refused_not_500(client, sky, cube):
    data, _ = sky
    msg = assert_error(send(client, data[: 2880 + 500], "m31.fits", mode="pseudo"), 422, "FITS")  # data cut short
    assert "\n" not in msg
    assert_error(send(client, b"SIMPLE  = garbage" + b" " * 100, "m31.fits", mode="pseudo"), 422)
    assert_error(send(client, gzip.compress(data)[:200], "m31.fits.gz", mode="pseudo"), 422, "truncated gzip")
    assert_error(send(client, b"hello, not a sky" * 20, "m31.fits", mode="pseudo"), 415, "not a FITS file")
    rng = np.random.default_rng(11)
    good = cube[0]
    cases = [good[:n] for n in (9, 80, 400, 2880, 2881, len(good) - 2881)]
    for _ in range(8):
        bad = bytearray(good)
        for i in rng.integers(0, 800, size=4):  # damage the header cards
            bad[i] = int(rng.integers(0, 256))
        cases.append(bytes(bad))
    for body in cases:
        r = send(client, body, "cube.fits", mode="pseudo")
        assert r.status_code in (200, 413, 415, 422), (r.status_code, r.text)
        if r.status_code != 200:
            assert_error(r, r.status_code)


def test_fits_limits_are_the_servers(fits):
    with TestClient(create_app(max_pixels=2_000)) as c:  # every 20 x 30 plane fits (600), 4 of them do not
        ok = fits_bytes(fits, np.zeros((3, 20, 30), np.float32))
        assert png(send(c, ok, "ok.fits", mode="pseudo")).shape == (20, 30, 3)
        big = fits_bytes(fits, np.zeros((4, 20, 30), np.float32))
        assert_error(send(c, big, "big.fits", mode="pseudo"), 413, "2,400 pixels in all, above the limit of 2,000")
        wide = fits_bytes(fits, np.zeros((50, 50), np.float32))
        assert_error(send(c, wide, "wide.fits", mode="pseudo"), 413, "above the limit")
        bomb = gzip.compress(b"\x00" * (4 << 20))  # 4 MiB of zeros, 4 kB on the wire
        assert_error(send(c, bomb, "bomb.fits.gz", mode="pseudo"), 413, "expands to more than")


def test_fits_without_astropy_is_415(client, sky, monkeypatch):
    from tinct.io.medical import fits

    def no_astropy(*_args, **_kwargs):
        raise ModuleNotFoundError("No module named 'astropy'")

    monkeypatch.setattr(fits, "read_fits", no_astropy)
    data, _ = sky
    assert_error(
        send(client, data, "m31.fits", mode="pseudo"),
        415,
        "this server cannot read FITS files (install tinct[medical])",
    )
