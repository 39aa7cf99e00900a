"""``tinct serve``: the web page and the REST API, on the same registry and pipeline as the CLI.

    >>> from tinct.server import create_app, run_server
    >>> app = create_app(model="lite", device="cpu")     # an ASGI app (FastAPI)
    >>> run_server(host="127.0.0.1", port=8000)          # uvicorn, loopback by default

Endpoints (all errors are JSON ``{"error": "<one line>"}``, never a traceback):

* ``POST /api/v1/colorize`` -- multipart field ``file`` (the image) and optional form fields
  ``model`` (registry name), ``format`` (jpg, png, webp; default: the input's where a browser can
  show it, else PNG), ``size`` (working size), ``hints`` (colour points for a hint model: JSON
  ``[{"x": .., "y": .., "color": "#rrggbb"}, ...]`` or ``[[x, y, "#rrggbb"], ...]`` in input
  pixels, see :mod:`tinct.hints`) and ``reference`` (a colour image file whose colours are
  transferred instead of the model's, by ``method`` reinhard or welsh). Answers the colorized image.
  400 empty or missing file; 413 body or pixel count above the limit; 415 not multipart, not an
  image content type, or not an image; 422 undecodable/truncated image or an invalid field
  (unknown model, format, size, bad hints or hints off the image, hints to a model without
  hints); 503 queue full (with ``Retry-After``) or model unavailable; 504 the per-request time
  limit passed.
* ``POST /colorize`` -- the same, kept as the seed's simple form endpoint.
* DICOM, NIfTI and FITS uploads (found by content or name, :func:`tinct.medical.upload_kind`) go
  to the same endpoints: answered as a PNG of one frame, slice or plane, a DICOM Secondary Capture
  (``format`` dcm; DICOM only) or an RGB NIfTI (``format`` nii; NIfTI only); FITS uploads are
  answered as PNG only; fields ``window``, ``axis`` (NIfTI), ``frame``, ``mode``, ``lut``,
  ``stretch`` (FITS), ``anonymize`` (see :class:`MedicalForm`); the same limits and errors,
  checked per frame and for all frames together.
* ``GET /api/v1/models`` -- the registry as ``tinct models --json`` prints it (:func:`model_rows`).
* ``GET /api/v1/info`` -- version, default model and the limits in force (the page reads them).
* ``GET /healthz`` -- the process answers. ``GET /readyz`` -- 200 only once the default model is loaded.
* ``GET /`` the page, ``/static/...`` its assets, ``GET /docs`` the API reference (rendered from
  ``/openapi.json`` by a page shipped in the package: no CDN).

Operator limits (arguments of :func:`create_app`): the request body is counted while it streams
in and refused with 413 as soon as it passes ``max_body_bytes`` (a Content-Length above it is
refused before reading anything); images above ``max_pixels`` are refused from their header,
before decoding; each colorize request has ``timeout_s`` from admission to answer (504); at most
``queue_size`` requests are admitted (running or waiting) and the next one gets 503 with
``Retry-After`` at once. Uploaded file names are never used as paths, only (sanitised) in the
answer's Content-Disposition. Sessions are loaded once per process (``tinct.api.cached_session``);
decoding, inference and encoding run in a dedicated thread pool of ``threads`` threads, off the
event loop. Every request logs one line on the ``tinct.access`` logger.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from tinct.core.hints import Hint, HintError, parse_hints_json
from tinct.io import ImageError, ImageTooLargeError, NotAnImageError, encode_image, output_format, read_image
from tinct.registry import DEFAULT_MODEL, UnknownModelError, get_spec, model_rows
from tinct.version import __version__

if TYPE_CHECKING:
    from tinct.api import Guidance, Session

ASGIMessage = dict[str, Any]
Receive = Callable[[], Awaitable[ASGIMessage]]
Send = Callable[[ASGIMessage], Awaitable[None]]
ASGIApp = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]

WEB_DIR = Path(__file__).parent / "web"
access_log = logging.getLogger("tinct.access")
log = logging.getLogger("tinct.server")

#: output formats the API offers (what a browser can show), form value -> Pillow format
OUTPUT_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
MIN_WORKING_SIZE = 32
#: upload part content types accepted besides image/* (what curl and some clients send)
GENERIC_CONTENT_TYPES = {"", "application/octet-stream", "binary/octet-stream"}
#: pages may load nothing from another origin (the page works offline; a CDN would break that)
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "Referrer-Policy": "no-referrer",
}
_OPTIONS_ENV = "TINCT_SERVE_OPTIONS"


@dataclass(frozen=True)
class Limits:
    """What an operator can bound; every value must be positive."""

    max_body_bytes: int = 25 * 2**20
    max_pixels: int = 40_000_000
    timeout_s: float = 60.0
    queue_size: int = 8
    threads: int = 1
    max_working_size: int = 1024

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        if self.max_working_size < MIN_WORKING_SIZE:
            raise ValueError(f"max_working_size must be at least {MIN_WORKING_SIZE}")


class WorkQueue:
    """Admission control: at most ``size`` jobs admitted (running or waiting) at once.

    :meth:`try_acquire` never waits: it answers False when full, so the server can answer 503 at
    once instead of letting requests pile up. Thread-safe (jobs release their slot from worker
    threads). ``retry_after()`` estimates, from recent job durations, when a slot frees up.
    """

    def __init__(self, size: int, threads: int) -> None:
        self.size = size
        self.threads = threads
        self._in_use = 0
        self._avg_s = 1.0  # exponential moving average of job seconds
        self._lock = threading.Lock()

    @property
    def in_use(self) -> int:
        return self._in_use

    def try_acquire(self) -> bool:
        with self._lock:
            if self._in_use >= self.size:
                return False
            self._in_use += 1
            return True

    def release(self, seconds: float | None = None) -> None:
        with self._lock:
            if self._in_use <= 0:
                raise RuntimeError("WorkQueue.release() without a matching try_acquire()")
            self._in_use -= 1
            if seconds is not None:
                self._avg_s = 0.8 * self._avg_s + 0.2 * seconds

    def retry_after(self) -> int:
        """Whole seconds (>= 1) until the queue has likely drained by one job per thread."""
        with self._lock:
            return max(1, math.ceil(self._avg_s * self._in_use / self.threads))


@dataclass(frozen=True)
class GuidanceForm:
    """A request's guidance fields, validated: colour ``hints`` for a hint model, or a
    ``reference`` image (encoded bytes, decoded in the worker) transferred by ``method``."""

    hints: tuple[Hint, ...] = ()
    reference: bytes | None = None
    method: str = "reinhard"


@dataclass
class Colorized:
    """One colorized upload, encoded. ``filename`` and ``headers``: set for DICOM/NIfTI/FITS uploads
    (the download name, and X-Tinct-* headers: mode, frames, the frame shown, the window)."""

    data: bytes
    fmt: str
    model: str
    seconds: float
    filename: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


#: answers to DICOM, NIfTI and FITS uploads: ``format`` value -> answer kind -> (media type, extension)
MEDICAL_OUTPUTS = {"png": "PNG", "dcm": "DICOM", "dicom": "DICOM", "nii": "NIFTI", "nii.gz": "NIFTI", "nifti": "NIFTI"}
MEDICAL_ANSWERS = {
    "PNG": ("image/png", ".png"),
    "DICOM": ("application/dicom", ".dcm"),
    "NIFTI": ("application/gzip", ".nii.gz"),
}
#: upload part content types accepted for DICOM, NIfTI and FITS besides the generic ones
MEDICAL_CONTENT_TYPES = {
    "application/dicom",
    "application/gzip",
    "application/x-gzip",
    "application/x-nifti",
    "application/fits",
    "image/fits",
}
#: what each kind of medical upload (:func:`tinct.medical.upload_kind`) is called, and its frames
MEDICAL_LABELS = {"dicom": ("DICOM", "frame"), "nifti": ("NIfTI", "slice"), "fits": ("FITS", "plane")}


@dataclass(frozen=True)
class MedicalForm:
    """A DICOM, NIfTI or FITS request's fields, validated (:func:`_medical_form`).

    ``output``: "PNG" (one frame, slice or plane, ``frame``: 0-based, None = the middle one; the
    only answer to a FITS upload), "DICOM" (a Secondary Capture of every frame; DICOM uploads only)
    or "NIFTI" (an RGB NIfTI of every slice, gzipped, the input's affine; NIfTI uploads only).
    ``window``: "auto", "full" or (center, width); ``axis``: NIfTI slicing axis; ``mode``:
    realistic (the model) or pseudo (built-in ``lut``); ``stretch``: FITS stretch after the window
    (linear, asinh or log, :data:`tinct.medical.STRETCHES`); ``anonymize``: basic-profile
    de-identification of a DICOM answer, free-text fields and extensions dropped from a NIfTI
    answer, and a neutral download name (``anon-<hex>``) for every answer (a FITS answer is a PNG
    without the FITS header, so the name is all it changes); ``stem``: the download name's stem
    otherwise.
    """

    output: str = "PNG"
    window: Any = "auto"
    axis: int = 2
    frame: int | None = None
    mode: str = "realistic"
    lut: str = "viridis"
    anonymize: bool = False
    stem: str = "image"
    stretch: str = "linear"


def status_for(error: ImageError) -> int:
    """HTTP status of an upload that :func:`tinct.io.read_image` refused: 413 above the pixel
    limit (checked from the header: bombs), 415 not an image at all, 422 anything else."""
    if isinstance(error, ImageTooLargeError):
        return 413
    if isinstance(error, NotAnImageError):
        return 415
    return 422


def safe_stem(filename: str | None) -> str:
    """A download name stem from an uploaded name: last path component, ASCII [A-Za-z0-9._-], <= 80.

    The uploaded name is only ever used for this (a header), never as a path.
    """
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80]
    return stem or "image"


class Service:
    """The per-app state: the default model, the limits, the work queue and the worker threads."""

    def __init__(self, model: str, device: str, limits: Limits) -> None:
        self.model = get_spec(model).name
        self.device = device
        self.limits = limits
        self.queue = WorkQueue(limits.queue_size, limits.threads)
        self._executor: ThreadPoolExecutor | None = None
        self._ready = threading.Event()
        self.load_error: str | None = None

    # lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker pool and load the default model in the background (readyz turns 200)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self.limits.threads, thread_name_prefix="tinct-worker")
        threading.Thread(target=self._preload, name="tinct-preload", daemon=True).start()

    def stop(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def _preload(self) -> None:
        try:
            self.session(self.model)
        except HTTPException as e:
            self.load_error = str(e.detail)
            log.error("default model not available: %s", e.detail)
        else:
            self._ready.set()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    # models ------------------------------------------------------------------------------------
    def session(self, name: str, size: int | None = None) -> Session:
        """The process-wide session of model ``name``; with ``size``, a view at that working size.

        A sized view shares the model's network and its inference lock (nothing is loaded again).
        Raises HTTPException 503 when the weights cannot be loaded.
        """
        from tinct.api import ModelWeightsError, cached_session

        try:
            base = cached_session(name, self.device)
        except (ModelWeightsError, RuntimeError, OSError, ValueError) as e:
            raise HTTPException(503, f"model {name!r} is not available on this server: {e}") from None
        if size is None or size == base.working_size:
            return base
        view = base.with_working_size(size)
        return view

    # work --------------------------------------------------------------------------------------
    def _guidance(self, form: GuidanceForm) -> Guidance:
        """Worker thread: the request's guidance, its reference image decoded under the pixel limit."""
        from tinct.session.guidance import Guidance, guidance_image

        ref = None
        if form.reference is not None:
            try:
                ref = guidance_image(form.reference, "reference", max_pixels=self.limits.max_pixels)[..., :3]
            except ImageError as e:
                raise type(e)(f"reference image: {e}") from None
        return Guidance(reference=ref, method=form.method, hints=list(form.hints))

    def _colorize(
        self, data: bytes, name: str, size: int | None, fmt: str | None, form: GuidanceForm | None = None
    ) -> Colorized:
        """Worker thread: decode (pixel limit from the header), colorize, encode."""
        t0 = time.perf_counter()
        session = self.session(name, size)
        img = read_image(data, max_pixels=self.limits.max_pixels)
        out_fmt = output_format(img.format, fmt)
        out_fmt = out_fmt if out_fmt in MEDIA_TYPES else "PNG"
        guidance = self._guidance(form) if form is not None else None
        rgb, alpha = session.colorize_loaded(img, guidance)
        try:
            body = encode_image(
                rgb, out_fmt, alpha=alpha, exif=img.exif, note=session.provenance(guidance), dpi=img.info.get("dpi")
            )
        except (OSError, ValueError) as e:  # e.g. WebP is limited to 16383 px a side
            w, h = img.size
            raise ImageError(f"cannot write a {w}x{h} result as {out_fmt} ({e}); ask for another format") from None
        return Colorized(body, out_fmt, session.name, time.perf_counter() - t0)

    def _colorize_medical(self, data: bytes, kind: str, name: str, size: int | None, form: MedicalForm) -> Colorized:
        """Worker thread: read a DICOM object, a NIfTI volume or a FITS image (``kind``), colorize, encode.

        Limits: each frame, slice or plane at most ``max_pixels`` and all of them together too
        (checked from the header, before decoding; a gzipped NIfTI or FITS may expand to 8 bytes a
        pixel of that); above them ImageTooLargeError (413). The whole object, volume or cube is
        windowed together; a PNG answer colorizes only the frame shown. Unreadable or corrupt
        input: ImageError (415 not DICOM/NIfTI/FITS at all, else 422); without pydicom, nibabel or
        astropy on the server: HTTP 415.
        """
        from dataclasses import replace

        from tinct import medical

        t0 = time.perf_counter()
        session = self.session(name, size) if form.mode == "realistic" else None
        detail = session.name if session is not None else form.lut
        limit = self.limits.max_pixels
        headers = {"X-Tinct-Mode": form.mode}
        label, part = MEDICAL_LABELS[kind]
        try:
            try:
                if kind == "dicom":
                    image = medical.read_dicom(data, form.window, max_pixels=limit, max_total=limit)
                elif kind == "fits":
                    image = medical.read_fits(data, form.stretch, window=form.window, max_pixels=limit, max_total=limit)
                else:
                    image = medical.read_nifti(data, form.axis, form.window, max_pixels=limit, max_total=limit)
            except (ImageError, ImportError, HTTPException):
                raise
            except Exception as e:  # noqa: BLE001 - corrupt client data the readers did not foresee: 422, not 500
                log.warning("unreadable %s upload", kind, exc_info=e)
                raise ImageError(f"upload: cannot read this {label} file: {medical._one_line(e)}") from None
            n = len(image.frames)
            headers["X-Tinct-Frames"] = str(n)
            headers["X-Tinct-Window"] = image.window.encode("ascii", "replace").decode()[:200]
            uid = None
            if form.output == "PNG":
                index = n // 2 if form.frame is None else form.frame
                if not 0 <= index < n:
                    raise ImageError(f"{part} {index} does not exist: the upload has {n} ({part}s 0 to {n - 1})")
                headers["X-Tinct-Frame"] = str(index)
                one = replace(image, frames=[image.frames[index]])
                rgb = medical.colorize_medical(session, one, form.mode, form.lut)
                body = encode_image(rgb[0], "PNG", note=medical.medical_note(form.mode, detail))
            elif form.output == "DICOM":
                from pydicom.uid import generate_uid

                assert image.dataset is not None
                rgb = medical.colorize_medical(session, image, form.mode, form.lut)
                uid = generate_uid()
                body = medical.encode_secondary_capture(
                    rgb, image.dataset, form.anonymize, form.mode, detail, sources=image.sources, sop_instance_uid=uid
                )
            else:
                rgb = medical.colorize_medical(session, image, form.mode, form.lut)
                note = medical.medical_note(form.mode, detail, short=True)
                body = medical.encode_nifti_rgb(rgb, image, note, form.anonymize)
        except ImportError as e:
            msg = f"this server cannot read {label} files (install tinct[medical]): {e}"
            raise HTTPException(415, msg) from None
        except ValueError as e:  # e.g. a window the data cannot take
            raise ImageError(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
        ext = MEDICAL_ANSWERS[form.output][1]
        stem = medical.anonymous_stem(uid) if form.anonymize else form.stem
        return Colorized(body, form.output, detail, time.perf_counter() - t0, f"{stem}_color{ext}", headers)

    async def colorize(
        self, data: bytes, name: str, size: int | None, fmt: str | None, form: GuidanceForm | None = None
    ) -> Colorized:
        """Admit, run off the event loop under the time limit, and map failures to HTTP errors.

        ``form``: the request's colour hints or reference image (None: the model alone). Hints off
        the image answer 422.
        """
        return await self.run(self._colorize, data, name, size, fmt, form)

    async def colorize_medical(
        self, data: bytes, kind: str, name: str, size: int | None, form: MedicalForm
    ) -> Colorized:
        """The same as :meth:`colorize` for a DICOM, NIfTI or FITS upload (``kind``), see :meth:`_colorize_medical`."""
        return await self.run(self._colorize_medical, data, kind, name, size, form)

    async def run(self, work: Callable[..., Colorized], *args: Any) -> Colorized:
        """Admit ``work(*args)``, run it in a worker thread under the time limit, map failures to HTTP errors.

        The queue slot is held until the worker thread really ends (a job that timed out still
        occupies its slot until it finishes), so the queue bounds the work actually in flight.
        """
        if not self.queue.try_acquire():
            wait = self.queue.retry_after()
            raise HTTPException(
                503,
                f"server busy: {self.queue.size} images already queued; retry in {wait} s",
                headers={"Retry-After": str(wait)},
            )
        if self._executor is None:
            self.start()
        assert self._executor is not None
        started = time.perf_counter()
        future: Future[Colorized] = self._executor.submit(work, *args)
        future.add_done_callback(lambda f: self.queue.release(None if f.cancelled() else time.perf_counter() - started))
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.limits.timeout_s)
        except asyncio.TimeoutError:
            raise HTTPException(
                504, f"not colorized within this server's limit of {self.limits.timeout_s:g} s; try a smaller image"
            ) from None
        except ImageError as e:
            msg = str(e).replace("; raise it with --max-pixels", "")  # a CLI hint, not for web users
            raise HTTPException(status_for(e), msg) from None
        except HintError as e:  # a point off the image (the rest is checked before admission)
            raise HTTPException(422, str(e)) from None


# ASGI middleware ----------------------------------------------------------------------------------


async def _send_json(send: Send, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    body = json.dumps(payload).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Refuse request bodies above ``max_bytes`` with 413, counting while they stream in.

    A Content-Length above the limit is refused before any byte is read. Otherwise the bytes of
    ``http.request`` messages are counted; the moment they pass the limit, reading stops (the app
    sees an exception from ``receive``), whatever the app tried to answer is dropped and a 413 is
    sent instead. Only the limit's worth of bytes is ever read.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> dict[str, str]:
        return {"error": f"request body too large: the limit is {self.max_bytes / 2**20:g} MB"}

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _send_json(send, 400, {"error": "invalid Content-Length header"})
                return
            if declared > self.max_bytes:
                await _send_json(send, 413, self._too_large(), {"Connection": "close"})
                return
        received = 0
        exceeded = False
        started = False

        async def counted_receive() -> ASGIMessage:
            nonlocal received, exceeded
            if exceeded:
                raise _BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: ASGIMessage) -> None:
            nonlocal started
            if exceeded:  # the app's answer to a body it could not read: ours replaces it
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await _send_json(send, 413, self._too_large(), {"Connection": "close"})


class AccessLogMiddleware:
    """One line per HTTP request on the ``tinct.access`` logger, in logfmt:

    ``method=POST path=/api/v1/colorize status=200 bytes=48211 ms=812.4 in_bytes=95312 client=127.0.0.1``

    ``bytes`` is the response body, ``in_bytes`` the request body read. The same fields are on
    the record as ``record.access`` (a dict) for JSON formatters. Also sets ``nosniff`` on every answer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        fields: dict[str, Any] = {"method": scope["method"], "path": scope["path"], "status": 500, "bytes": 0}
        in_bytes = 0

        async def counting_receive() -> ASGIMessage:
            nonlocal in_bytes
            message = await receive()
            in_bytes += len(message.get("body", b""))
            return message

        async def counting_send(message: ASGIMessage) -> None:
            if message["type"] == "http.response.start":
                fields["status"] = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-content-type-options", b"nosniff")]}
            elif message["type"] == "http.response.body":
                fields["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            client = scope.get("client")
            fields.update(
                ms=round((time.perf_counter() - t0) * 1000, 1), in_bytes=in_bytes, client=client[0] if client else "-"
            )
            access_log.info(" ".join(f"{k}={v}" for k, v in fields.items()), extra={"access": dict(fields)})


# the app ------------------------------------------------------------------------------------------


def _require_multipart(request: Request) -> None:
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype != "multipart/form-data":
        raise HTTPException(
            415, f"expected multipart/form-data with the image in the field 'file', got {ctype or 'no content type'!r}"
        )


async def colorize_upload(
    request: Request,
    file: Annotated[
        UploadFile | None,
        File(description="The image (JPEG, PNG, TIFF, WebP, BMP, GIF), or a DICOM, NIfTI or FITS file."),
    ] = None,
    model: Annotated[str | None, Form(description="Registry model name (default: the server's).")] = None,
    fmt: Annotated[
        str | None, Form(alias="format", description="jpg, png or webp (default: the input's, else png).")
    ] = None,
    size: Annotated[
        int | None, Form(description="Working size: the short side the model sees (default: the model's).")
    ] = None,
    hints: Annotated[
        str | None,
        Form(
            description='Colour points for a hint model, JSON: [{"x": 120, "y": 48, "color": "#3366cc"}, ...] '
            'or [[x, y, "#rrggbb"], ...]; x, y in pixels of the input image.'
        ),
    ] = None,
    reference: Annotated[
        UploadFile | None, File(description="A colour image whose colours are transferred (replaces the model).")
    ] = None,
    method: Annotated[
        str | None, Form(description="How the reference's colours are transferred: reinhard (default) or welsh.")
    ] = None,
    window: Annotated[
        str | None,
        Form(description="DICOM/NIfTI/FITS: the window, auto (default), full or CENTER,WIDTH (e.g. 40,400)."),
    ] = None,
    axis: Annotated[int | None, Form(description="NIfTI: the slicing axis, 0, 1 or 2 (default 2).")] = None,
    frame: Annotated[
        int | None,
        Form(
            description="DICOM/NIfTI/FITS: the frame, slice or plane answered as PNG, from 0 (default: the middle one)."
        ),
    ] = None,
    mode: Annotated[
        str | None,
        Form(description="DICOM/NIfTI/FITS: realistic (the model; default) or pseudo (a look-up table's colour)."),
    ] = None,
    lut: Annotated[
        str | None, Form(description="DICOM/NIfTI/FITS, pseudo mode: a built-in look-up table (default viridis).")
    ] = None,
    stretch: Annotated[
        str | None,
        Form(description="FITS: the stretch after the window, linear (default), asinh or log (astropy's)."),
    ] = None,
    anonymize: Annotated[
        bool | None,
        Form(
            description="DICOM/NIfTI/FITS: de-identify a DICOM answer (basic profile) or a NIfTI answer's free "
            "text, and give any answer a neutral download name (a FITS answer is a PNG without the FITS header)."
        ),
    ] = None,
) -> Response:
    """POST /api/v1/colorize and /colorize: validate the form, colorize, answer the image."""
    service: Service = request.app.state.service
    if file is None:
        raise HTTPException(400, "no file: send the image in the multipart form field 'file'")
    part_type = (file.content_type or "").split(";", 1)[0].strip().lower()
    if not (part_type.startswith("image/") or part_type in GENERIC_CONTENT_TYPES | MEDICAL_CONTENT_TYPES):
        raise HTTPException(415, f"unsupported content type {part_type!r}: upload an image, DICOM, NIfTI or FITS file")
    name = model or service.model
    fmt = (fmt or "").lower().lstrip(".") or None
    try:
        get_spec(name)
    except UnknownModelError as e:
        raise HTTPException(422, str(e)) from None
    if fmt is not None and fmt not in OUTPUT_FORMATS and fmt not in MEDICAL_OUTPUTS:
        raise HTTPException(
            422,
            f"unsupported output format {fmt!r}; use one of jpg, png, webp "
            "(images; DICOM/NIfTI: png, dcm, nii; FITS: png)",
        )
    max_size = service.limits.max_working_size
    if size is not None and not MIN_WORKING_SIZE <= size <= max_size:
        raise HTTPException(422, f"size must be between {MIN_WORKING_SIZE} and {max_size}, got {size}")
    form = await _guidance_form(name, hints, reference, method)
    data = await file.read()
    if not data:
        raise HTTPException(400, "empty file (0 bytes)")
    from tinct.medical import upload_kind

    kind = upload_kind(data, file.filename)
    fields = {"window": window, "axis": axis, "frame": frame, "mode": mode, "lut": lut, "anonymize": anonymize}
    if kind is not None:
        medical = _medical_form(kind, fmt, form, file.filename, **fields, stretch=stretch)
        return _medical_response(await service.colorize_medical(data, kind, name, size, medical))
    if stretch is not None:
        raise HTTPException(422, "stretch: for FITS uploads only, not ordinary images")
    given = [k for k, v in fields.items() if v is not None]
    if given:
        raise HTTPException(422, f"{', '.join(given)}: for DICOM, NIfTI and FITS uploads only, not ordinary images")
    if fmt is not None and fmt not in OUTPUT_FORMATS:
        raise HTTPException(422, f"format {fmt} is for DICOM and NIfTI uploads; use jpg, png or webp for images")
    out = await service.colorize(data, name, size, fmt, form)
    filename = f"{safe_stem(file.filename)}_color{EXTENSIONS[out.fmt]}"
    return Response(
        out.data,
        media_type=MEDIA_TYPES[out.fmt],
        headers={
            "Content-Disposition": f'inline; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Tinct-Model": out.model,
            "Server-Timing": f"colorize;dur={out.seconds * 1000:.1f}",
        },
    )


def _medical_form(
    kind: str,
    fmt: str | None,
    guidance: GuidanceForm | None,
    filename: str | None,
    window: str | None = None,
    axis: int | None = None,
    frame: int | None = None,
    mode: str | None = None,
    lut: str | None = None,
    anonymize: bool | None = None,
    stretch: str | None = None,
) -> MedicalForm:
    """The fields of a DICOM, NIfTI or FITS (``kind``) upload, validated (HTTPException 422 with one line)."""
    from tinct.guided import BUILTIN_LUTS
    from tinct.medical import FITS_EXTENSIONS, MODES, NIFTI_EXTENSIONS, STRETCHES, parse_window

    if guidance is not None:
        raise HTTPException(422, "hints and reference images are for ordinary images, not DICOM, NIfTI or FITS uploads")
    output = MEDICAL_OUTPUTS.get(fmt or "png")
    if output is None:
        answers = "png (lossless)" if kind == "fits" else "png, dcm or nii (lossless)"
        raise HTTPException(422, f"a {kind.upper()} upload is answered as {answers}, not {fmt}")
    if output != "PNG" and output.lower() != kind:
        msg = f"format {fmt} is for {'DICOM' if output == 'DICOM' else 'NIfTI'} uploads only"
        raise HTTPException(422, msg + ("; a FITS upload is answered as png" if kind == "fits" else ""))
    if frame is not None and (output != "PNG" or frame < 0):
        raise HTTPException(422, "frame is a frame, slice or plane number (from 0) and applies to PNG answers only")
    if axis is not None and (kind != "nifti" or axis not in (0, 1, 2)):
        raise HTTPException(422, "axis is 0, 1 or 2 and applies to NIfTI uploads only")
    stretch = (stretch or "linear").lower() if kind == "fits" else stretch
    if stretch is not None and (kind != "fits" or stretch not in STRETCHES):
        raise HTTPException(422, f"stretch is one of {', '.join(STRETCHES)} and applies to FITS uploads only")
    mode = (mode or "realistic").lower()
    if mode not in MODES:
        raise HTTPException(422, f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if lut is not None and (mode != "pseudo" or lut.lower() not in BUILTIN_LUTS):
        raise HTTPException(422, f"lut is for pseudo mode and one of {', '.join(BUILTIN_LUTS)}")
    try:
        spec = parse_window(window or "auto")
    except ValueError as e:
        raise HTTPException(422, str(e)) from None
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    gzipped = tuple(ext for ext in (*NIFTI_EXTENSIONS, *FITS_EXTENSIONS) if ext.endswith(".gz"))
    name = name[:-3] if name.lower().endswith(gzipped) else name  # brain.nii.gz -> brain, not brain.nii
    lut = (lut or "viridis").lower()
    axis = 2 if axis is None else axis
    stem = safe_stem(name)
    return MedicalForm(output, spec, axis, frame, mode, lut, bool(anonymize), stem, stretch or "linear")


def _medical_response(out: Colorized) -> Response:
    """The answer to a DICOM, NIfTI or FITS upload (see :class:`MedicalForm`)."""
    return Response(
        out.data,
        media_type=MEDICAL_ANSWERS[out.fmt][0],
        headers={
            "Content-Disposition": f'inline; filename="{out.filename}"',
            "Cache-Control": "no-store",
            "X-Tinct-Model": out.model,
            "Server-Timing": f"colorize;dur={out.seconds * 1000:.1f}",
            **out.headers,
        },
    )


async def _guidance_form(
    name: str, hints: str | None, reference: UploadFile | None, method: str | None
) -> GuidanceForm | None:
    """The guidance fields of a colorize request, validated (HTTPException 422 / 415 / 400); None if none."""
    from tinct.api import METHODS

    points: list[Hint] = []
    if hints and hints.strip():
        try:
            points = parse_hints_json(hints, "hints")
        except HintError as e:
            raise HTTPException(422, str(e)) from None
        if points and not get_spec(name).takes_hints:
            raise HTTPException(422, f"model {name!r} does not take colour hints; choose a hint model")
    if reference is None:
        if method:
            raise HTTPException(422, "method applies to a reference image: send one in the field 'reference'")
        return GuidanceForm(tuple(points)) if points else None
    if points:
        raise HTTPException(422, "give colour hints or a reference image, not both")
    method = (method or "reinhard").lower()
    if method not in METHODS:
        raise HTTPException(422, f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    part_type = (reference.content_type or "").split(";", 1)[0].strip().lower()
    if not (part_type.startswith("image/") or part_type in GENERIC_CONTENT_TYPES):
        raise HTTPException(415, f"unsupported reference content type {part_type!r}: upload an image file")
    data = await reference.read()
    if not data:
        raise HTTPException(400, "empty reference file (0 bytes)")
    return GuidanceForm(reference=data, method=method)


def create_app(
    model: str = DEFAULT_MODEL,
    device: str = "cpu",
    max_body_bytes: int = 25 * 2**20,
    max_pixels: int = 40_000_000,
    timeout_s: float = 60.0,
    queue_size: int = 8,
    threads: int = 1,
    max_working_size: int = 1024,
) -> FastAPI:
    """The tinct web app (FastAPI). ``model`` is the default model (an unknown name raises
    :class:`tinct.registry.UnknownModelError`); ``device`` is passed to ``tinct.load_model``.

    Limits: ``max_body_bytes`` request body (413, counted while streaming); ``max_pixels`` per
    image, from its header (413); ``timeout_s`` per colorize request from admission (504);
    ``queue_size`` colorize requests admitted at once, running or waiting (then 503 +
    Retry-After); ``threads`` worker threads colorizing at once in this process (inference on one
    model is serialised by its session lock, so more threads only overlap decoding and encoding);
    ``max_working_size`` the largest ``size`` a client may ask for (422 above it).

    The default model starts loading when the app starts (lifespan); ``/readyz`` answers 200 once
    it is loaded. ``app.state.service`` is the :class:`Service` (tests use its queue).
    """
    limits = Limits(max_body_bytes, max_pixels, float(timeout_s), queue_size, threads, max_working_size)
    service = Service(model, device, limits)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="tinct",
        version=__version__,
        description='Colorize grayscale images. Errors are JSON objects `{"error": "..."}`.',
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.service = service
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes)
    app.add_middleware(AccessLogMiddleware)  # added last: outermost, so it logs the 413s too

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(exc.detail)}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(tuple(e["loc"]) == ("body", "file") for e in errors):  # a text field named "file"
            return JSONResponse({"error": "the field 'file' must be a file upload (a part with a filename)"}, 400)
        parts = [f"{'.'.join(str(p) for p in e['loc'] if p != 'body')}: {e['msg']}" for e in errors]
        return JSONResponse({"error": "invalid request: " + "; ".join(parts)}, 422)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse({"error": "internal server error (logged on the server)"}, 500)

    colorize_responses: dict[int | str, dict[str, Any]] = {
        200: {
            "content": {t: {} for t in [*MEDIA_TYPES.values(), "application/dicom", "application/gzip"]},
            "description": (
                "The colorized image (DICOM/NIfTI uploads: a PNG, a Secondary Capture or an RGB NIfTI; "
                "FITS uploads: a PNG)."
            ),
        },
        400: {"description": "No file, or an empty one."},
        413: {"description": "Body or image (pixels) above this server's limit."},
        415: {"description": "Not multipart, not an image content type, or not an image."},
        422: {"description": "Undecodable or truncated image; unknown model; invalid format, size, hints or method."},
        503: {"description": "Queue full (see Retry-After) or model unavailable."},
        504: {"description": "Not done within the per-request time limit."},
    }
    for path, summary in (
        ("/api/v1/colorize", "Colorize an image"),
        ("/colorize", "Colorize an image (the simple form endpoint; same as /api/v1/colorize)"),
    ):
        app.add_api_route(
            path,
            colorize_upload,
            methods=["POST"],
            summary=summary,
            description=(
                "Send the image as multipart/form-data in the field `file`; the optional fields choose the model, "
                "the output format and the working size, give colour hints to a hint model (`hints`) or a "
                "reference image whose colours are transferred (`reference`, `method`). Answers the colorized "
                "image (same size, the input's luminance kept, alpha passed through) or a JSON error."
            ),
            response_class=Response,
            responses=colorize_responses,
            dependencies=[Depends(_require_multipart)],
            tags=["colorize"],
        )

    @app.get(
        "/api/v1/models",
        summary="The model registry (as `tinct models --json`; `default` marks this server's default model)",
        tags=["models"],
    )
    def models() -> list[dict[str, Any]]:
        return model_rows(service.model)

    @app.get("/api/v1/info", summary="Version, default model and this server's limits", tags=["models"])
    def info() -> dict[str, Any]:
        return {
            "version": __version__,
            "default_model": service.model,
            "output_formats": sorted({k for k in OUTPUT_FORMATS if k != "jpeg"}),
            "min_working_size": MIN_WORKING_SIZE,
            **asdict(limits),
        }

    @app.get("/healthz", summary="Liveness: the process answers", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        summary="Readiness: 200 once the default model is loaded, else 503",
        tags=["health"],
        responses={503: {"description": "Still loading, or the default model cannot be loaded (see `error`)."}},
    )
    def readyz() -> JSONResponse:
        if service.ready:
            return JSONResponse({"status": "ready", "model": service.model})
        body = {"status": "error", "error": service.load_error} if service.load_error else {"status": "loading"}
        return JSONResponse({**body, "model": service.model}, 503, headers={"Retry-After": "1"})

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", headers=PAGE_HEADERS)

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(WEB_DIR / "docs.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    return app


# running it ---------------------------------------------------------------------------------------


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging config plus the ``tinct`` loggers on its default handler (stderr)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["tinct"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config


def app_from_env() -> FastAPI:
    """uvicorn factory for ``--workers N`` (each worker process builds its app from the options
    :func:`run_server` put in ``TINCT_SERVE_OPTIONS``); torch threads are shared out between workers."""
    options = json.loads(os.environ[_OPTIONS_ENV])
    workers = options.pop("_workers", 1)
    if "OMP_NUM_THREADS" not in os.environ:
        import torch

        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))
    return create_app(**options)


def run_server(
    host: str = "127.0.0.1",
    port: int = 8000,
    model: str = DEFAULT_MODEL,
    device: str = "auto",
    workers: int = 1,
    log_level: str = "info",
    **limits: Any,
) -> None:
    """Serve the app with uvicorn until interrupted. Binds to loopback unless ``host`` says otherwise.

    ``workers`` is the number of uvicorn worker processes (each loads the models once);
    ``limits`` are :func:`create_app`'s keyword arguments (max_body_bytes, max_pixels, timeout_s,
    queue_size, threads, max_working_size). Access lines go to stderr via the ``tinct.access``
    logger (uvicorn's own access log is off, to avoid two lines per request).
    """
    import uvicorn

    options = {"model": model, "device": device, **limits}
    app = create_app(**options)  # validates the options (and the model name) in this process
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s: reachable from other machines; tinct has no authentication", host)
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "access_log": False,
        "log_config": _log_config(log_level),
        "log_level": log_level,
    }
    if workers <= 1:
        uvicorn.run(app, **common)
        return
    os.environ[_OPTIONS_ENV] = json.dumps({**options, "_workers": workers})
    uvicorn.run("tinct.server:app_from_env", factory=True, workers=workers, **common)
