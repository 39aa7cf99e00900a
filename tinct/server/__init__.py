"""``tinct serve``: the web page and the REST API, on the same registry and pipeline as the CLI.

    >>> from tinct.server import create_app, run_server
    >>> app = create_app(model="prism", device="cpu")    # an ASGI app (FastAPI)
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
* DICOM, NIfTI and FITS uploads (found by content or name, :func:`tinct.io.medical.kinds.upload_kind`) go
  to the same endpoints: answered as a PNG of one frame, slice or plane, a DICOM Secondary Capture
  (``format`` dcm; DICOM only) or an RGB NIfTI (``format`` nii; NIfTI only); FITS uploads are
  answered as PNG only; fields ``window``, ``axis`` (NIfTI), ``frame``, ``mode``, ``lut``,
  ``stretch`` (FITS), ``anonymize`` (see :class:`tinct.server.service.MedicalForm`); the same limits and errors,
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
answer's Content-Disposition. Sessions are loaded once per process (:func:`tinct.api.cached_session`);
decoding, inference and encoding run in a dedicated thread pool of ``threads`` threads, off the
event loop. Every request logs one line on the ``tinct.access`` logger.

Layout (layer 7, a surface): :mod:`~tinct.server.app` (the app, routes, uvicorn),
:mod:`~tinct.server.forms` (the colorize endpoint and its form validation),
:mod:`~tinct.server.service` (limits, admission, the work in worker threads),
:mod:`~tinct.server.middleware` (body limit, access log).
"""

from tinct.registry import model_rows
from tinct.server.app import PAGE_HEADERS, WEB_DIR, app_from_env, create_app, run_server
from tinct.server.forms import GENERIC_CONTENT_TYPES, colorize_upload, safe_stem
from tinct.server.middleware import AccessLogMiddleware, BodyLimitMiddleware
from tinct.server.service import (
    EXTENSIONS,
    MEDIA_TYPES,
    MEDICAL_ANSWERS,
    MEDICAL_CONTENT_TYPES,
    MEDICAL_LABELS,
    MEDICAL_OUTPUTS,
    MIN_WORKING_SIZE,
    OUTPUT_FORMATS,
    VIVID_STEP,
    Answer,
    GuidanceForm,
    Limits,
    MedicalForm,
    ModelChoice,
    Service,
    WorkQueue,
    status_for,
)

Colorized = Answer  #: the old name of :class:`~tinct.server.service.Answer` (deprecated)

__all__ = [
    "EXTENSIONS",
    "GENERIC_CONTENT_TYPES",
    "MEDIA_TYPES",
    "MEDICAL_ANSWERS",
    "MEDICAL_CONTENT_TYPES",
    "MEDICAL_LABELS",
    "MEDICAL_OUTPUTS",
    "MIN_WORKING_SIZE",
    "OUTPUT_FORMATS",
    "PAGE_HEADERS",
    "VIVID_STEP",
    "WEB_DIR",
    "AccessLogMiddleware",
    "Answer",
    "BodyLimitMiddleware",
    "Colorized",
    "GuidanceForm",
    "Limits",
    "MedicalForm",
    "ModelChoice",
    "Service",
    "WorkQueue",
    "app_from_env",
    "colorize_upload",
    "create_app",
    "model_rows",
    "run_server",
    "safe_stem",
    "status_for",
]
