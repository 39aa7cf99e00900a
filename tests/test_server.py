"""The web server (tinct.server) through FastAPI's test client: every endpoint and every bad upload."""

from __future__ import annotations

import asyncio
import io
import logging
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi")
pytest.importorskip("multipart")
from fastapi.testclient import TestClient  # noqa: E402

from tinct import server  # noqa: E402
from tinct.registry import DEFAULT_MODEL, MODELS  # noqa: E402
from tinct.server import BodyLimitMiddleware, create_app, model_rows, safe_stem  # noqa: E402
from tinct.server.forms import checked_vivid  # noqa: E402
from tinct.session import ColorizedImage  # noqa: E402

from .conftest import DEMO  # noqa: E402

COLORIZE = "/api/v1/colorize"


def chroma(rgb: np.ndarray) -> float:
    """Mean per-pixel channel spread (max - min) of an RGB image: 0 for gray."""
    a = rgb.astype(np.int16)
    return float((a.max(axis=2) - a.min(axis=2)).mean())


def encode(im: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


@pytest.fixture(scope="module")
def gray_photo() -> Image.Image:
    """A real grayscale photo (a demo image) at 240 x 192, small enough to colorize quickly."""
    with Image.open(DEMO / "1909Chicago.jpg") as im:
        return im.convert("L").resize((240, 192), Image.BICUBIC)


@pytest.fixture(scope="module")
def photo_jpeg(gray_photo) -> bytes:
    return encode(gray_photo, "JPEG", quality=90)


def wait_ready(client: TestClient, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the default model did not load"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(DEFAULT_MODEL, device="cpu")) as c:
        wait_ready(c)
        yield c


@pytest.fixture
def small_app():
    """An app with small limits: 64 kB bodies, 1 MP images, 2 queue slots, 0.5 s per request."""
    return create_app(max_body_bytes=64_000, max_pixels=1_000_000, queue_size=2, timeout_s=0.5)


def post(client: TestClient, data: bytes, filename: str = "photo.jpg", ctype: str = "image/jpeg", **fields):
    return client.post(COLORIZE, files={"file": (filename, data, ctype)}, data=fields)


def assert_error(response, status: int, *fragments: str) -> str:
    """The answer is a JSON error with ``status`` whose message contains every fragment; no traceback."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    for fragment in fragments:
        assert fragment in body["error"], body["error"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body["error"]


# ---- health, readiness, models --------------------------------------------------------------


def test_healthz(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_readyz_once_the_default_model_is_loaded(client):
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready", "model": DEFAULT_MODEL}


def test_readyz_is_503_before_startup():
    c = TestClient(create_app())  # not entered: the lifespan (which loads the model) has not run
    r = c.get("/readyz")
    assert r.status_code == 503 and r.json()["status"] == "loading" and r.headers["retry-after"] == "1"
    assert c.get("/healthz").status_code == 200


def test_readyz_reports_a_model_that_cannot_load(monkeypatch):
    import tinct.api

    def broken(name, device="auto", working_size=None, vivid=None):
        raise tinct.api.ModelWeightsError(f"weights file missing: /nowhere/{name}.safetensors")

    monkeypatch.setattr(tinct.api, "cached_session", broken)
    with TestClient(create_app()) as c:
        deadline = time.monotonic() + 10
        while (body := c.get("/readyz").json())["status"] == "loading" and time.monotonic() < deadline:
            time.sleep(0.02)
        r = c.get("/readyz")
        assert r.status_code == 503 and body["status"] == "error" and "weights file missing" in body["error"]
        assert_error(post(c, b"x" * 10), 503, "not available", "weights file missing")


def test_unknown_default_model_is_refused_at_creation():
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        create_app(model="nope")


def test_models_list_is_the_registry(client):
    r = client.get("/api/v1/models")
    assert r.status_code == 200
    rows = r.json()
    assert rows == model_rows(DEFAULT_MODEL, DEFAULT_MODEL)  # a model the server was given serves scans too
    assert [row["name"] for row in rows] == list(MODELS)
    assert [row["name"] for row in rows if row["default"]] == [DEFAULT_MODEL]
    lite = next(row for row in rows if row["name"] == "lite")
    assert lite["weights_bytes"] == MODELS["lite"].weights_path.stat().st_size
    assert lite["working_size"] == MODELS["lite"].working_size


def test_models_list_marks_the_servers_own_default():
    """`tinct serve --model X`: the page pre-selects X, so the list must mark X as the default."""
    other = next(name for name in MODELS if name != DEFAULT_MODEL)
    c = TestClient(create_app(model=other))
    rows = c.get("/api/v1/models").json()
    assert [row["name"] for row in rows if row["default"]] == [other]
    assert c.get("/api/v1/info").json()["default_model"] == other


def test_info_reports_the_limits():
    c = TestClient(create_app(max_body_bytes=1234, max_pixels=5678, timeout_s=9, queue_size=3, threads=2))
    info = c.get("/api/v1/info").json()
    assert info["default_model"] == DEFAULT_MODEL
    assert (info["max_body_bytes"], info["max_pixels"], info["timeout_s"], info["queue_size"], info["threads"]) == (
        1234,
        5678,
        9.0,
        3,
        2,
    )
    assert info["output_formats"] == ["jpg", "png", "webp"]


@pytest.mark.parametrize("bad", [{"queue_size": 0}, {"timeout_s": 0}, {"max_body_bytes": -1}, {"threads": 0}])
def test_nonpositive_limits_are_refused(bad):
    with pytest.raises(ValueError, match="must be positive"):
        create_app(**bad)


def test_an_unknown_device_is_refused_at_start_not_per_request():
    with pytest.raises(ValueError, match=r"^unknown device 'gpu'; use auto, cpu, cuda or cuda:N$"):
        create_app(device="gpu")


# ---- colorizing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "media_type", "pil_format"),
    [
        (None, "image/jpeg", "JPEG"),
        ("jpg", "image/jpeg", "JPEG"),
        ("png", "image/png", "PNG"),
        ("webp", "image/webp", "WEBP"),
    ],
)
def test_colorize_returns_a_coloured_image_of_the_same_size(
    client, photo_jpeg, gray_photo, fmt, media_type, pil_format
):
    r = post(client, photo_jpeg, **({"format": fmt} if fmt else {}))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == media_type
    assert r.headers["x-tinct-model"] == DEFAULT_MODEL
    ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[pil_format]
    assert r.headers["content-disposition"] == f'inline; filename="photo_color.{ext}"'
    with Image.open(io.BytesIO(r.content)) as out:
        assert out.format == pil_format and out.size == gray_photo.size
        rgb = np.asarray(out.convert("RGB"))
        if pil_format == "PNG":
            assert out.info["Software"].startswith("Colorized by tinct")
    assert chroma(rgb) > 3.0, "the result is (nearly) gray"
    # the luminance is the input's (the pipeline's promise), up to JPEG/WebP coding error
    gray_out = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float32)
    assert np.abs(gray_out - np.asarray(gray_photo, dtype=np.float32)).mean() < 6.0


def test_the_seed_form_endpoint_colorizes(client, photo_jpeg, gray_photo):
    r = client.post("/colorize", files={"file": ("old.jpg", photo_jpeg, "image/jpeg")})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(r.content)) as out:
        assert out.size == gray_photo.size
        assert chroma(np.asarray(out.convert("RGB"))) > 3.0


def test_alpha_passes_through_and_tiff_answers_png(client, gray_photo):
    alpha = Image.linear_gradient("L").resize(gray_photo.size)
    la = gray_photo.copy()
    la.putalpha(alpha)
    r = post(client, encode(la, "TIFF"), filename="scan.tif", ctype="image/tiff")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"  # a browser cannot show TIFF
    assert r.headers["content-disposition"].endswith('filename="scan_color.png"')
    with Image.open(io.BytesIO(r.content)) as out:
        assert out.mode == "RGBA" and out.size == gray_photo.size
        assert np.array_equal(np.asarray(out)[..., 3], np.asarray(alpha))


def test_working_size_field(client, photo_jpeg):
    r = post(client, photo_jpeg, size="64")
    assert r.status_code == 200
    with Image.open(io.BytesIO(r.content)) as out:
        assert out.size == (240, 192)
    assert_error(post(client, photo_jpeg, size="8"), 422, "size must be between 32 and 1024, got 8")
    assert_error(post(client, photo_jpeg, size="5000"), 422, "size must be between")
    assert_error(post(client, photo_jpeg, size="big"), 422, "size", "integer")


def test_vivid_field(client, photo_jpeg):
    """``vivid`` decodes the model with that share of its rebalancing tilt (a session of its own, kept):
    more colour at 1 than the model's own 0.625; the model's own value answers what no field does."""
    assert [r["vivid"] for r in client.get("/api/v1/models").json() if r["name"] == "prism"] == [0.625]
    plain = post(client, photo_jpeg, format="png")
    own = post(client, photo_jpeg, format="png", vivid="0.625")
    vivid = post(client, photo_jpeg, format="png", vivid="1")
    assert plain.status_code == own.status_code == vivid.status_code == 200, vivid.text
    rgb = {k: np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")) for k, r in (("plain", plain),
           ("own", own), ("vivid", vivid))}  # fmt: skip
    assert np.array_equal(rgb["plain"], rgb["own"])
    assert chroma(rgb["vivid"]) > 1.1 * chroma(rgb["plain"])
    service = client.app.state.service
    assert service.session("prism", vivid=1.0) is service.session("prism", vivid=1.0)
    assert service.session("prism", vivid=1.0) is not service.session("prism")
    assert checked_vivid("prism", 0.625) is None and checked_vivid("prism", 0.5) == 0.5  # own: the model's session
    assert_error(post(client, photo_jpeg, vivid="0.3"), 422, "vivid must be from 0 to 1 in steps of 0.125, got 0.3")
    assert_error(post(client, photo_jpeg, vivid="1.5"), 422, "vivid must be from 0 to 1 in steps of 0.125, got 1.5")
    assert_error(post(client, photo_jpeg, vivid="nan"), 422, "vivid must be from 0 to 1")
    assert_error(post(client, photo_jpeg, vivid="lots"), 422, "vivid")
    assert_error(post(client, photo_jpeg, model="lite", vivid="0.5"), 422, "model 'lite' takes no vivid")


def test_sized_session_shares_the_network_and_its_lock(client):
    service = client.app.state.service
    base = service.session(DEFAULT_MODEL)
    view = service.session(DEFAULT_MODEL, 128)
    assert view.working_size == 128 and base.working_size == MODELS[DEFAULT_MODEL].working_size
    assert view.model is base.model and view._lock is base._lock
    assert service.session(DEFAULT_MODEL) is base


def test_result_too_large_for_the_format_is_422(client):
    wide = encode(Image.new("L", (16_400, 8), 128), "PNG")  # WebP holds at most 16383 px a side
    assert_error(post(client, wide, filename="strip.png", ctype="image/png", format="webp"), 422, "16400x8", "WEBP")


def test_unknown_model_name(client, photo_jpeg):
    assert_error(post(client, photo_jpeg, model="nope"), 422, "unknown model 'nope'", "lite")


def test_weights_file_paths_are_not_models_on_the_server(client, photo_jpeg):
    """The CLI and API take a trained model.safetensors path; a client of the server never names a file."""
    weights = str(MODELS["lite"].weights_path)
    assert_error(post(client, photo_jpeg, model=weights), 422, f"unknown model {weights!r}", "lite")


def test_unsupported_output_format(client, photo_jpeg):
    assert_error(post(client, photo_jpeg, format="gif"), 422, "unsupported output format 'gif'")


def test_uploaded_names_are_never_paths(client, photo_jpeg, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, expected in [
        ("../../etc/passwd.jpg", "passwd_color.jpg"),
        ("C:\\Users\\x\\..\\evil name;.jpg", "evil_name_color.jpg"),
        ('a"b\r\nSet-Cookie: x.jpg', "a_22b_0D_0ASet-Cookie_x_color.jpg"),  # sent as %22, %0D%0A
        ("photos/", "image_color.jpg"),
    ]:
        r = post(client, photo_jpeg, filename=name)
        assert r.status_code == 200
        assert r.headers["content-disposition"] == f'inline; filename="{expected}"'
        assert "set-cookie" not in r.headers
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "stem"), [("photo.jpg", "photo"), (".hidden", "hidden"), ("..", "image"), ("a/b/c.tar.gz", "c.tar")]
)
def test_safe_stem(name, stem):
    assert safe_stem(name) == stem


# ---- bad uploads ----------------------------------------------------------------------------


def test_empty_file(client):
    assert_error(post(client, b""), 400, "empty")


def test_no_file_field(client, photo_jpeg):
    r = client.post(COLORIZE, files={"image": ("photo.jpg", photo_jpeg, "image/jpeg")})
    assert_error(r, 400, "no file", "'file'")


def test_file_field_that_is_not_a_file(client):
    r = client.post(COLORIZE, files={"file": ("", b"\xff\xd8 not sent as a file", "image/jpeg")})  # no filename
    assert_error(r, 400, "must be a file upload")


def test_not_multipart(client, photo_jpeg):
    assert_error(client.post(COLORIZE, json={"file": "photo.jpg"}), 415, "multipart/form-data", "application/json")
    raw = client.post(COLORIZE, content=photo_jpeg, headers={"content-type": "image/jpeg"})
    assert_error(raw, 415, "multipart/form-data")


def test_wrong_content_type(client, photo_jpeg):
    assert_error(post(client, photo_jpeg, filename="photo.txt", ctype="text/plain"), 415, "'text/plain'")


def test_octet_stream_is_accepted(client, photo_jpeg):
    assert post(client, photo_jpeg, ctype="application/octet-stream").status_code == 200


def test_not_an_image(client):
    assert_error(post(client, b"hello, this is text and not a picture" * 10, ctype="image/png"), 415, "not an image")


def test_truncated_image(client, photo_jpeg):
    assert_error(post(client, photo_jpeg[: len(photo_jpeg) // 2]), 422, "truncated")


def test_too_many_pixels_refused_from_the_header(client):
    bomb = encode(Image.new("1", (10_000, 10_000)), "PNG")  # 100 MP in a few kB
    assert len(bomb) < 50_000
    t0 = time.perf_counter()
    message = assert_error(post(client, bomb, filename="bomb.png", ctype="image/png"), 413, "10000x10000", "limit")
    assert time.perf_counter() - t0 < 5.0
    assert "--max-pixels" not in message  # the CLI's hint is not shown to web users


def test_pixel_limit_is_the_servers(small_app, gray_photo):
    with TestClient(small_app) as c:
        big = encode(gray_photo.resize((1200, 1000)), "JPEG", quality=20)
        assert len(big) < 64_000
        assert_error(post(c, big), 413, "1200x1000", "limit of 1 MP")


def test_too_large_body_with_content_length(small_app):
    with TestClient(small_app) as c:
        r = post(c, b"\xff" * 100_000)
        assert_error(r, 413, "too large")


def test_too_large_body_without_content_length(small_app):
    def chunks():
        for _ in range(10):
            yield b"x" * 10_000

    with TestClient(small_app) as c:
        r = c.post(COLORIZE, content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"})
        assert "content-length" not in r.request.headers
        assert_error(r, 413, "too large")


def test_body_limit_stops_reading_while_streaming():
    """The middleware refuses a body as soon as it passes the limit, without reading the rest."""
    reads = 0

    async def endless_body():
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 1000, "more_body": True}

    async def app(scope, receive, send):  # an app that reads everything it is sent
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read it all"})

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"transfer-encoding", b"chunked")]}
    asyncio.run(BodyLimitMiddleware(app, max_bytes=10_000)(scope, endless_body, send))
    assert reads == 11  # 10 chunks fit the limit, the 11th passes it, and no more is read
    assert sent[0]["status"] == 413 and b"too large" in sent[1]["body"]
    assert len(sent) == 2


def test_invalid_content_length():
    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def never(*_):
        raise AssertionError("the app must not run")

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"content-length", b"lots")]}
    asyncio.run(BodyLimitMiddleware(never, max_bytes=10)(scope, never, send))
    assert sent[0]["status"] == 400


# ---- queue, time limit, server errors -------------------------------------------------------


def test_queue_full_answers_503_at_once(small_app, photo_jpeg):
    with TestClient(small_app) as c:
        wait_ready(c)
        queue = small_app.state.service.queue
        assert queue.try_acquire() and queue.try_acquire()  # both slots taken, as by 2 running jobs
        assert not queue.try_acquire()
        t0 = time.perf_counter()
        r = post(c, photo_jpeg)
        elapsed = time.perf_counter() - t0
        assert_error(r, 503, "busy")
        assert int(r.headers["retry-after"]) >= 1
        assert elapsed < 1.0
        queue.release()
        queue.release()
        assert post(c, photo_jpeg).status_code == 200
        assert queue.in_use == 0


def test_time_limit_answers_504_and_keeps_the_slot_until_the_work_ends(small_app, photo_jpeg, monkeypatch):
    release = threading.Event()
    real_read = server.service.read_image

    def slow_read(data, max_pixels=None):
        release.wait(10)
        return real_read(data, max_pixels=max_pixels)

    monkeypatch.setattr(server.service, "read_image", slow_read)
    with TestClient(small_app) as c:
        wait_ready(c)
        queue = small_app.state.service.queue
        t0 = time.perf_counter()
        assert_error(post(c, photo_jpeg), 504, "limit of 0.5 s")
        assert 0.4 < time.perf_counter() - t0 < 3.0
        assert queue.in_use == 1  # the timed-out work still runs: its slot is not handed out again
        release.set()
        deadline = time.monotonic() + 10
        while queue.in_use and time.monotonic() < deadline:
            time.sleep(0.01)
        assert queue.in_use == 0


def test_internal_errors_are_json_without_traceback(photo_jpeg, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(ColorizedImage, "encode", broken)
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        wait_ready(c)
        with caplog.at_level(logging.ERROR, logger="tinct.server"):
            r = post(c, photo_jpeg)
        message = assert_error(r, 500, "internal server error")
        assert "secret" not in message
        assert any("secret internal detail" in str(rec.exc_info[1]) for rec in caplog.records if rec.exc_info)
        assert c.app.state.service.queue.in_use == 0


def test_unknown_path_is_json_404(client):
    assert_error(client.get("/nothing/here"), 404, "Not Found")


# ---- the page, the docs, the access log -----------------------------------------------------


def test_page_and_assets_are_served_from_the_package(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert 'id="file" type="file"' in r.text and "/static/app.js" in r.text
    for asset, ctype in [("app.js", "javascript"), ("app.css", "text/css"), ("favicon.svg", "image/svg+xml")]:
        a = client.get(f"/static/{asset}")
        assert a.status_code == 200 and ctype in a.headers["content-type"]
        assert a.content == (server.WEB_DIR / asset).read_bytes()


def page_elements(html: str) -> dict[str, dict[str, str | None]]:
    """The page's elements that have an id: id -> {"tag": tag, attribute: value, ...}."""
    from html.parser import HTMLParser

    found: dict[str, dict[str, str | None]] = {}

    class Elements(HTMLParser):
        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if a.get("id"):
                found[a["id"]] = {"tag": tag, **a}

    Elements().feed(html)
    return found


def test_page_file_input_takes_dicom_and_nifti():
    r = TestClient(create_app(device="cpu")).get("/")  # no lifespan: the page needs no model
    assert r.status_code == 200
    found = page_elements(r.text)
    accept = {t.strip() for t in (found["file"].get("accept") or "").split(",")}
    assert {"image/*", ".dcm", ".nii", ".nii.gz"} <= accept, accept
    # the DICOM/NIfTI options exist, hidden until such a file is chosen; the whole-file download too
    assert found["medical"]["tag"] == "fieldset" and "hidden" in found["medical"]
    assert {"window-mode", "window", "frame", "mode", "anonymize"} <= found.keys()
    assert "hidden" in found["export"]
    # the reference image stays an image only
    assert ".dcm" not in (found["reference"].get("accept") or "")


def test_page_file_input_takes_fits():
    found = page_elements((server.WEB_DIR / "index.html").read_text())
    accept = {t.strip() for t in (found["file"].get("accept") or "").split(",")}
    assert {".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz"} <= accept, accept
    # the FITS stretch is a medical option, hidden until a FITS file is chosen
    assert found["stretch"]["tag"] == "select" and "hidden" in found["stretch-field"]
    assert ".fits" not in (found["reference"].get("accept") or "")
    # the page tells FITS files by name and by their first card, as tinct.medical.upload_kind does
    script = (server.WEB_DIR / "app.js").read_text()
    assert '"SIMPLE  ="' in script and '".fits.gz"' in script


def test_web_files_load_nothing_from_other_origins():
    files = sorted(Path(server.WEB_DIR).iterdir())
    assert {f.name for f in files} >= {"index.html", "app.js", "app.css", "docs.html", "docs.js"}
    external = re.compile(
        r"""(?:src|href|action)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import|fetch\(\s*["'`](?:https?:)?//"""
    )
    for f in files:
        text = f.read_text()
        assert not external.search(text), f"{f.name} refers to another origin"


def test_docs_are_served_without_a_cdn(client):
    r = client.get("/docs")
    assert r.status_code == 200 and "/static/docs.js" in r.text
    assert "cdn" not in r.text.lower() and "default-src 'self'" in r.headers["content-security-policy"]
    spec = client.get("/openapi.json").json()
    assert {"/api/v1/colorize", "/colorize", "/api/v1/models", "/api/v1/info", "/healthz", "/readyz"} <= set(
        spec["paths"]
    )
    body = spec["paths"]["/api/v1/colorize"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body
    assert client.get("/redoc").status_code == 404


def test_access_log_line_per_request(client, caplog):
    with caplog.at_level(logging.INFO, logger="tinct.access"):
        r = client.get("/healthz")
        post(client, b"")
    lines = [rec for rec in caplog.records if rec.name == "tinct.access"]
    assert len(lines) == 2
    ok, bad = lines
    assert re.fullmatch(
        rf"method=GET path=/healthz status=200 bytes={len(r.content)} ms=\d+\.\d in_bytes=0 client=\S+", ok.getMessage()
    )
    assert ok.access["status"] == 200 and ok.access["bytes"] == len(r.content)
    assert bad.access["method"] == "POST" and bad.access["path"] == COLORIZE and bad.access["status"] == 400
    assert bad.access["in_bytes"] > 0


def test_access_log_includes_413_from_the_body_limit(small_app, caplog):
    with TestClient(small_app) as c, caplog.at_level(logging.INFO, logger="tinct.access"):
        post(c, b"\xff" * 100_000)
    [line] = [rec for rec in caplog.records if rec.name == "tinct.access"]
    assert line.access["status"] == 413 and line.access["in_bytes"] == 0
