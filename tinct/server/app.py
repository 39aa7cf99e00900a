"""The web app: :func:`create_app` (FastAPI: routes, error handlers, middleware, the page) and
:func:`run_server` (uvicorn)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from tinct.api import check_arguments
from tinct.registry import DEFAULT_MODEL, model_rows
from tinct.server.forms import colorize_upload, require_multipart
from tinct.server.middleware import AccessLogMiddleware, BodyLimitMiddleware, TokenMiddleware
from tinct.server.schema import exact_openapi
from tinct.server.service import MEDIA_TYPES, MIN_WORKING_SIZE, OUTPUT_FORMATS, Limits, Service, log
from tinct.version import __version__

WEB_DIR = Path(__file__).resolve().parents[1] / "web"
#: pages may load nothing from another origin (the page works offline; a CDN would break that)
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "Referrer-Policy": "no-referrer",
}
_OPTIONS_ENV = "TINCT_SERVE_OPTIONS"


def create_app(
    model: str | None = None,
    device: str = "cpu",
    max_body_bytes: int = 25 * 2**20,
    max_pixels: int = 40_000_000,
    timeout_s: float = 60.0,
    queue_size: int = 8,
    threads: int = 1,
    max_working_size: int = 1024,
    token: str | None = None,
) -> FastAPI:
    """The tinct web app (FastAPI). ``model`` is the default model (an unknown name raises
    :class:`tinct.registry.UnknownModelError`; None: the registry's, with its medical default for
    DICOM, NIfTI and FITS uploads, see :class:`~tinct.server.service.Service`); ``device`` is passed
    to ``tinct.load_model``.

    Limits: ``max_body_bytes`` request body (413, counted while streaming); ``max_pixels`` per
    image, from its header (413); ``timeout_s`` per colorize request from admission (504);
    ``queue_size`` colorize requests admitted at once, running or waiting (then 503 +
    Retry-After); ``threads`` worker threads colorizing at once in this process (inference on one
    model is serialised by its session lock, so more threads only overlap decoding and encoding);
    ``max_working_size`` the largest ``size`` a client may ask for (422 above it). ``token``: an
    access token every API call must send (``Authorization: Bearer <token>``; 401 without it,
    :class:`~tinct.server.middleware.TokenMiddleware`); the page asks for it once, ``/healthz`` stays open.

    The default model starts loading when the app starts (lifespan); ``/readyz`` answers 200 once
    it is loaded. ``app.state.service`` is the :class:`Service` (tests use its queue).
    """
    check_arguments(model or DEFAULT_MODEL, device, None)  # e.g. --device gpu: refused now, not on every request
    limits = Limits(max_body_bytes, max_pixels, float(timeout_s), queue_size, threads, max_working_size)
    service = Service(model, device, limits)
    service.preload_scans = medical_available()

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
    if token:
        app.add_middleware(TokenMiddleware, token=token)
    app.add_middleware(AccessLogMiddleware)  # added last: outermost, so it logs the 413s too
    _add_error_handlers(app)
    _add_colorize_routes(app)
    _add_info_routes(app, service, limits)
    _add_page_routes(app)
    app.openapi = exact_openapi(app, limits)  # type: ignore[method-assign]
    return app


def _add_error_handlers(app: FastAPI) -> None:
    """Every error is JSON ``{"error": "<one line>"}``; an unhandled one is logged, never shown."""

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


def _add_colorize_routes(app: FastAPI) -> None:
    """POST /api/v1/colorize and its alias /colorize (:func:`tinct.server.forms.colorize_upload`)."""
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
            dependencies=[Depends(require_multipart)],
            tags=["colorize"],
        )


def _add_info_routes(app: FastAPI, service: Service, limits: Limits) -> None:
    """The registry, this server's limits, liveness and readiness."""

    @app.get(
        "/api/v1/models",
        summary="The model registry (as `tinct models --json`; `default` marks this server's default model, "
        "`scan_default` the one for DICOM, NIfTI and FITS uploads)",
        tags=["models"],
    )
    def models() -> list[dict[str, Any]]:
        return model_rows(service.model, service.scan_default)

    @app.get("/api/v1/info", summary="Version, default model and this server's limits", tags=["models"])
    def info() -> dict[str, Any]:
        return {
            "version": __version__,
            "default_model": service.model,
            "default_scan_model": service.scan_default,
            "output_formats": sorted({k for k in OUTPUT_FORMATS if k != "jpeg"}),
            "min_working_size": MIN_WORKING_SIZE,
            "medical": medical_available(),
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


def medical_available() -> bool:
    """True when the 'medical' extra is installed (pydicom, nibabel, astropy): the page offers DICOM,
    NIfTI and FITS only then, and says how to enable them otherwise."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("pydicom", "nibabel", "astropy"))


def _add_page_routes(app: FastAPI) -> None:
    """The page, the API reference and their assets (files of the package: no CDN)."""

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(WEB_DIR / "index.html", headers=PAGE_HEADERS)

    @app.get("/docs", include_in_schema=False)
    def docs() -> FileResponse:
        return FileResponse(WEB_DIR / "docs.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")


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
    model: str | None = None,
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
    if host not in ("127.0.0.1", "localhost", "::1") and not options.get("token"):
        log.warning(
            "listening on %s: reachable from other machines and serving anyone; set an access token with --token "
            "or TINCT_TOKEN",
            host,
        )
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
