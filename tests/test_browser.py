"""The web page in a real browser: Debian's chromium driven by Playwright against a live server.

Install the browser with ``scripts/install-browser.sh`` (apt-get install chromium) and the
Python driver with ``pip install playwright`` (no browser download needed: we use /usr/bin/chromium).
"""

from __future__ import annotations

import contextlib
import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tinct.registry import DEFAULT_MEDICAL_MODEL, DEFAULT_MODEL

from .conftest import DEMO

#: true once the page has loaded the model list and selected the default (a function: see ``page``)
DEFAULT_MODEL_SHOWN = f"() => document.querySelector('#model').value === '{DEFAULT_MODEL}'"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHOTO = DEMO / "1909Chicago.jpg"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found: run scripts/install-browser.sh", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
uvicorn = pytest.importorskip("uvicorn")
pytest.importorskip("fastapi")


#: reads an <img> back through a canvas: its natural size and mean chroma (max - min over RGB)
CANVAS_CHROMA = """(id) => {
    const img = document.getElementById(id);
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    const d = ctx.getImageData(0, 0, c.width, c.height).data;
    let spread = 0;
    for (let i = 0; i < d.length; i += 4) {
      spread += Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]);
    }
    return {w: c.width, h: c.height, chroma: spread / (d.length / 4)};
}"""


def chroma(rgb: np.ndarray) -> float:
    """Mean per-pixel channel spread (max - min): 0 for a gray image."""
    a = rgb.astype(np.int16)
    return float((a.max(axis=2) - a.min(axis=2)).mean())


@contextlib.contextmanager
def serving(app) -> Iterator[str]:
    """A real uvicorn server for ``app`` on 127.0.0.1 and a free port, in a background thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        import httpx

        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            if srv.started and httpx.get(f"{url}/readyz").status_code == 200:
                break
            threading.Event().wait(0.1)
        else:
            pytest.fail("the server did not become ready")
        yield url
    finally:
        srv.should_exit = True
        thread.join(15)
        sock.close()


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    from tinct.server import create_app

    with serving(create_app(device="cpu")) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, base_url):
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    pg = context.new_page()
    pg.requests_seen = []
    pg.problems = []
    pg.on("request", lambda req: pg.requests_seen.append(req.url))
    pg.on("pageerror", lambda err: pg.problems.append(f"page error: {err}"))
    pg.on("console", lambda msg: msg.type == "error" and pg.problems.append(f"console: {msg.text}"))
    pg.goto(base_url)
    # a function, not an expression: Playwright polls an expression with eval, which the page's CSP forbids
    pg.wait_for_function(DEFAULT_MODEL_SHOWN)
    yield pg
    context.close()


def test_upload_colorize_compare_download(page, base_url, tmp_path):
    page.set_input_files("#file", str(PHOTO))
    page.wait_for_selector("#compare[data-state=done]", timeout=90_000)

    # the result <img>, read back through a canvas: the input's size, and coloured
    result = page.evaluate(CANVAS_CHROMA, "after")
    with Image.open(PHOTO) as im:
        assert (result["w"], result["h"]) == im.size
    assert result["chroma"] > 3.0, result

    # the download button holds the result under a sanitised name
    download = page.locator("#download")
    assert download.get_attribute("download") == "1909Chicago_color.jpg"
    assert download.get_attribute("aria-disabled") == "false"
    with page.expect_download() as info:
        download.click()
    saved = tmp_path / "download.jpg"
    info.value.save_as(saved)
    with Image.open(saved) as im:
        assert im.format == "JPEG" and chroma(np.asarray(im.convert("RGB"))) > 3.0
    assert DEFAULT_MODEL in page.inner_text("#meta")

    # screenshot with the slider in the middle: the left half shows the gray original, the right the colour
    page.evaluate(
        "() => { const s = document.getElementById('slider'); s.value = 50; s.dispatchEvent(new Event('input')); }"
    )
    shot_path = tmp_path / "page.png"
    page.screenshot(path=str(shot_path), full_page=True)
    box = page.locator("#compare").bounding_box()
    with Image.open(shot_path) as shot:
        shot = np.asarray(shot.convert("RGB"))
    x0, y0, w, h = (int(round(v)) for v in (box["x"], box["y"], box["width"], box["height"]))
    assert w > 300 and h > 200
    rows = slice(y0 + int(0.15 * h), y0 + int(0.85 * h))
    before = shot[rows, x0 + int(0.05 * w) : x0 + int(0.40 * w)]
    after = shot[rows, x0 + int(0.60 * w) : x0 + int(0.95 * w)]
    assert chroma(before) < 1.0, "the 'before' side should be the gray original"
    assert chroma(after) > 3.0, "the 'after' side should be coloured"

    # moving the slider to the left edge shows the colour result across the whole box
    page.evaluate(
        "() => { const s = document.getElementById('slider'); s.value = 0; s.dispatchEvent(new Event('input')); }"
    )
    left = np.asarray(Image.open(io.BytesIO(page.locator("#compare").screenshot())).convert("RGB"))
    assert chroma(left[:, int(0.05 * left.shape[1]) : int(0.40 * left.shape[1])]) > 3.0

    # nothing came from another origin, and the page raised no errors (CSP violations would show here)
    foreign = [u for u in page.requests_seen if not u.startswith((base_url, "blob:", "data:"))]
    assert foreign == []
    assert page.problems == []

    # a failed re-run shows the server's message and returns to the previous result, undimmed
    page.click(".advanced summary")
    page.fill("#size", "8")
    page.click("#again")
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    assert page.inner_text("#error-status") == "HTTP 422"
    assert "size must be between" in page.inner_text("#error-message")
    assert page.get_attribute("#compare", "data-state") == "done"
    assert "after-preview" not in (page.get_attribute("#after", "class") or "")


def test_the_colour_slider_sends_vivid_for_the_models_that_take_it(page):
    page.set_input_files("#file", str(PHOTO))
    page.wait_for_selector("#compare[data-state=done]", timeout=90_000)
    own = page.evaluate(CANVAS_CHROMA, "after")["chroma"]
    page.click(".advanced summary")
    assert page.is_visible("#vivid") and page.input_value("#vivid") == "0.625"  # prism's own
    assert page.inner_text("#vivid-value") == "0.625"
    page.evaluate(
        "() => { const s = document.getElementById('vivid'); s.value = 1; s.dispatchEvent(new Event('input')); }"
    )
    assert page.inner_text("#vivid-value") == "1"
    with page.expect_response(lambda r: r.url.endswith("/api/v1/colorize")) as answer:
        page.click("#again")
    assert answer.value.status == 200  # the form sent vivid 1: a more colourful answer, below
    page.wait_for_selector("#compare[data-state=done]", timeout=90_000)
    page.wait_for_function("() => !document.getElementById('after').classList.contains('after-preview')")
    assert page.evaluate(CANVAS_CHROMA, "after")["chroma"] > 1.1 * own
    page.select_option("#model", "lite")  # a model whose vividness is fixed: no slider
    assert not page.is_visible("#vivid") and not page.is_visible("#vivid-help")
    assert page.problems == []


def test_errors_are_shown_with_the_servers_message(page, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"these are notes, not a picture\n" * 20)
    page.set_input_files("#file", str(bad))
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    assert page.inner_text("#error-status") == "HTTP 415"
    assert "not an image" in page.inner_text("#error-message")
    assert page.is_visible("#drop")  # back to the start, ready for another file
    page.click("#error-close")
    assert page.is_hidden("#error")


# ---- DICOM, NIfTI and FITS files ------------------------------------------------------------


def ct_dicom(frames: int = 3, h: int = 64, w: int = 80) -> bytes:
    """A small multi-frame 12-bit CT-like DICOM (with the DICM preamble), made with pydicom."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    y, x = np.mgrid[0:h, 0:w]
    disc = ((y - h / 2) ** 2 + (x - w / 2) ** 2 < (min(h, w) / 3) ** 2) * 900
    px = np.stack([(x * 30 + y * 10 + disc + 200 * f) % 4096 for f in range(frames)]).astype(np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"  # CT Image Storage
    ds.PatientName, ds.PatientID, ds.Modality = "Doe^Jane", "PID-12345", "CT"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.set_pixel_data(px, "MONOCHROME2", 12)
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def test_dicom_upload_shows_a_colour_frame_and_its_options(page, base_url, tmp_path):
    pydicom = pytest.importorskip("pydicom")
    scan = tmp_path / "scan"  # no extension: found by its DICM marker, as the server does
    scan.write_bytes(ct_dicom())
    assert page.is_hidden("#medical") and page.is_visible("#format-field")

    # hold the first answer back to see the placeholder the page shows instead of a preview
    held = []
    page.route("**/api/v1/colorize", lambda route: held.append(route))
    page.set_input_files("#file", str(scan))
    page.wait_for_selector("#busy-note", state="visible", timeout=30_000)
    assert page.inner_text("#busy-note") == "DICOM file: preview after colorizing"
    for _ in range(300):
        if held:
            break
        page.wait_for_timeout(50)
    held[0].continue_()
    page.unroute("**/api/v1/colorize")
    page.wait_for_selector("#compare[data-state=done]", timeout=90_000)

    # the DICOM options are shown (the image-only "Download as" is not), the middle frame came back
    assert page.is_visible("#medical") and page.is_hidden("#format-field")
    assert page.inner_text("#medical-legend") == "DICOM options"
    assert page.is_visible("#export") and page.inner_text("#export") == "Download DICOM"
    assert page.input_value("#frame") == "1" and page.get_attribute("#frame", "max") == "2"
    assert "DICOM frame 1 (0 to 2)" in page.inner_text("#meta")
    # the list still shows the photo default, but a scan gets the server's model for scans until one is picked
    assert page.input_value("#model") == DEFAULT_MODEL and DEFAULT_MEDICAL_MODEL in page.inner_text("#meta")
    shown = page.inner_text(f"#model option[value='{DEFAULT_MEDICAL_MODEL}']")
    assert shown == f"{DEFAULT_MEDICAL_MODEL} (default for DICOM, NIfTI, FITS)"
    page.select_option("#model", "lite")  # a model picked from the list is sent for scans too
    page.click("#again")
    page.wait_for_function("() => document.getElementById('meta').textContent.includes('lite')", timeout=90_000)
    page.wait_for_selector("#compare[data-state=done]", timeout=90_000)
    after = page.evaluate(CANVAS_CHROMA, "after")
    assert (after["w"], after["h"]) == (80, 64)
    before = page.evaluate(CANVAS_CHROMA, "before")  # the gray "before", from the answer's luminance
    assert (before["w"], before["h"]) == (80, 64) and before["chroma"] < 1.0
    assert page.get_attribute("#download", "download") == "scan_color.png"

    # pseudo colour and another frame: applied at once, a strongly coloured answer
    page.select_option("#mode", "pseudo")
    page.wait_for_selector("#compare[data-state=done]", timeout=90_000)
    page.fill("#frame", "2")
    page.locator("#frame").blur()  # a changed field applies when it is left
    page.wait_for_function("() => document.getElementById('meta').textContent.includes('frame 2 (')", timeout=90_000)
    page.wait_for_selector("#compare[data-state=done]", timeout=90_000)
    assert "pseudo-colour" in page.inner_text("#meta")
    assert page.evaluate(CANVAS_CHROMA, "after")["chroma"] > 10.0

    # the whole file as a colour DICOM Secondary Capture
    with page.expect_download(timeout=90_000) as info:
        page.click("#export")
    saved = tmp_path / "sc.dcm"
    info.value.save_as(saved)
    assert info.value.suggested_filename == "scan_color.dcm"
    sc = pydicom.dcmread(saved)
    assert sc.SamplesPerPixel == 3 and int(sc.NumberOfFrames) == 3 and (sc.Rows, sc.Columns) == (64, 80)

    # a window the server refuses: its one-line message, and the last result stays
    page.select_option("#window-mode", "custom")
    page.fill("#window", "40,-5")
    page.locator("#window").blur()
    page.wait_for_selector("#error:not([hidden])", timeout=30_000)
    assert page.inner_text("#error-status") == "HTTP 422"
    message = page.inner_text("#error-message")
    assert message and "\n" not in message and "width" in message
    assert page.get_attribute("#compare", "data-state") == "done"

    # "New photo": the DICOM options go away
    page.click("#new")
    assert page.is_hidden("#medical") and page.is_visible("#drop")
    foreign = [u for u in page.requests_seen if not u.startswith((base_url, "blob:", "data:"))]
    assert foreign == []
    assert [p for p in page.problems if "status of 422" not in p] == []  # the browser logs the refused request


def test_nifti_upload_names_slices_and_offers_an_rgb_nifti(page, tmp_path):
    nib = pytest.importorskip("nibabel")
    import gzip

    vol = np.random.default_rng(5).normal(100, 30, size=(40, 32, 5)).astype(np.float32)
    brain = tmp_path / "brain.nii.gz"
    brain.write_bytes(gzip.compress(nib.Nifti1Image(vol, np.eye(4)).to_bytes()))
    page.set_input_files("#file", str(brain))
    page.wait_for_selector("#compare[data-state=done]", timeout=90_000)
    assert page.inner_text("#medical-legend") == "NIfTI options"
    assert page.inner_text("#frame-label") == "Slice (0 to 4)" and page.input_value("#frame") == "2"
    assert page.inner_text("#export") == "Download NIfTI"
    assert page.get_attribute("#download", "download") == "brain_color.png"
    with page.expect_download(timeout=90_000) as info:
        page.click("#export")
    assert info.value.suggested_filename == "brain_color.nii.gz"
    assert page.problems == []


def test_fits_upload_shows_a_plane_a_stretch_and_png_only(page, tmp_path):
    pytest.importorskip("astropy")
    from astropy.io import fits

    cube = np.stack([np.tile(np.linspace(0, 1000, 48, dtype=np.float32), (36, 1)) * (k + 1) for k in range(3)])
    sky = tmp_path / "m31.fits"
    fits.PrimaryHDU(cube).writeto(sky)
    assert page.is_hidden("#stretch-field")
    page.set_input_files("#file", str(sky))
    page.wait_for_selector("#compare[data-state=done]", timeout=90_000)
    assert page.is_visible("#medical") and page.is_hidden("#format-field")
    assert page.inner_text("#medical-legend") == "FITS options"
    assert page.inner_text("#frame-label") == "Plane (0 to 2)" and page.input_value("#frame") == "1"
    assert "FITS plane 1 (0 to 2)" in page.inner_text("#meta")
    after = page.evaluate(CANVAS_CHROMA, "after")
    assert (after["w"], after["h"]) == (48, 36)
    # a PNG is the only download: no whole-file export
    assert page.is_hidden("#export") and page.inner_text("#download") == "Download PNG"
    assert page.get_attribute("#download", "download") == "m31_color.png"
    # the stretch is shown for FITS and applied at once: the answer's window header names it
    assert page.is_visible("#stretch-field")
    page.select_option("#stretch", "asinh")
    page.wait_for_function(
        "() => document.getElementById('meta').textContent.includes('asinh stretch')", timeout=90_000
    )
    page.click("#new")
    assert page.is_hidden("#medical") and page.is_hidden("#stretch-field")
    assert page.problems == []


def test_a_server_with_a_token_asks_for_it_once(browser):
    from tinct.server import create_app

    with serving(create_app(device="cpu", token="s3cret-t0ken")) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        pg = context.new_page()
        asked: list[str] = []

        def answer(dialog) -> None:
            asked.append(dialog.message)
            dialog.accept("s3cret-t0ken")

        pg.on("dialog", answer)
        headers: list[tuple[str, str | None]] = []
        pg.on("request", lambda req: headers.append((req.url, req.headers.get("authorization"))))
        pg.goto(url)
        pg.wait_for_function(DEFAULT_MODEL_SHOWN)
        pg.set_input_files("#file", str(PHOTO))
        pg.wait_for_selector("#compare[data-state=done]", timeout=90_000)
        assert len(asked) == 1 and "access token" in asked[0]  # once, for all the calls that met the 401
        calls = [(u, h) for u, h in headers if u.startswith(url) and "/static/" not in u and u.rstrip("/") != url]
        assert any("/colorize" in u for u, _ in calls)
        assert all(h == "Bearer s3cret-t0ken" for u, h in calls if "/colorize" in u)
        assert all("s3cret" not in u for u, _ in headers)  # never in a URL
        assert pg.evaluate("() => sessionStorage.getItem('tinct-token')") == "s3cret-t0ken"
        context.close()
