"""The server's work: admission control (:class:`WorkQueue`), the limits an operator sets (:class:`Limits`),
and :class:`Service`, which decodes an upload, colorizes it through the session and encodes the answer
in a worker thread, mapping failures to HTTP errors."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from fastapi import HTTPException

from tinct.apps.medical import colorize_frames
from tinct.classical.lut import DEFAULT_LUT
from tinct.core import fullres
from tinct.core.hints import Hint, HintError
from tinct.io.errors import ImageError, ImageTooLargeError, NotAnImageError, one_line
from tinct.io.images import encode_image, output_format, read_image
from tinct.io.medical.anonymize import anonymous_stem
from tinct.io.medical.image import MedicalImage
from tinct.io.medical.read import read_source
from tinct.io.medical.writers import encode_nifti_rgb, encode_secondary_capture, medical_note
from tinct.registry import DEFAULT_MODEL, resolve_spec, scan_model
from tinct.session.guidance import Guidance, guidance_image

if TYPE_CHECKING:
    from tinct.session import Session

log = logging.getLogger("tinct.server")

#: output formats the API offers (what a browser can show), form value -> Pillow format
OUTPUT_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp"}
MIN_WORKING_SIZE = 32
#: the vividness values a server answers, multiples of this from 0 to 1 (each one asked for is
#: another loaded network, so a few values, not any float)
VIVID_STEP = 0.125


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
class ModelChoice:
    """Which model a request runs: its ``name``, its working ``size`` (None: the model's own) and its
    ``vivid`` (None: the model's own; validated by the form)."""

    name: str
    size: int | None = None
    vivid: float | None = None


@dataclass(frozen=True)
class GuidanceForm:
    """A request's guidance fields, validated: colour ``hints`` for a hint model, or a
    ``reference`` image (encoded bytes, decoded in the worker) transferred by ``method``."""

    hints: tuple[Hint, ...] = ()
    reference: bytes | None = None
    method: str = "reinhard"


@dataclass
class Answer:
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
#: what each kind of medical upload (:func:`tinct.io.medical.kinds.upload_kind`) is called, and its frames
MEDICAL_LABELS = {"dicom": ("DICOM", "frame"), "nifti": ("NIfTI", "slice"), "fits": ("FITS", "plane")}


@dataclass(frozen=True)
class MedicalForm:
    """A DICOM, NIfTI or FITS request's fields, validated (:func:`tinct.server.forms.medical_form`).

    ``output``: "PNG" (one frame, slice or plane, ``frame``: 0-based, None = the middle one; the
    only answer to a FITS upload), "DICOM" (a Secondary Capture of every frame; DICOM uploads only)
    or "NIFTI" (an RGB NIfTI of every slice, gzipped, the input's affine; NIfTI uploads only).
    ``window``: "auto", "full" or (center, width); ``axis``: NIfTI slicing axis; ``mode``:
    realistic (the model) or pseudo (built-in ``lut``); ``stretch``: FITS stretch after the window
    (linear, asinh or log, :data:`tinct.io.medical.fits.STRETCHES`); ``anonymize``: basic-profile
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
    lut: str = DEFAULT_LUT
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


class Service:
    """The per-app state: the default model, the limits, the work queue and the worker threads."""

    def __init__(self, model: str | None, device: str, limits: Limits) -> None:
        """``model``: the server's own default (None: the registry's, :data:`DEFAULT_MODEL`, with
        :data:`~tinct.registry.DEFAULT_MEDICAL_MODEL` for DICOM, NIfTI and FITS uploads; a model named
        here is the default for those too, as ``tinct colorize --model`` is)."""
        named = None if model is None else resolve_spec(model).name  # a registry name, or a weights file
        self.named_model = named
        self.model = named or DEFAULT_MODEL
        #: load :attr:`scan_default` too, after the default (the app sets it where the medical extra is installed)
        self.preload_scans = False
        self.device = device
        self.limits = limits
        self.queue = WorkQueue(limits.queue_size, limits.threads)
        self._executor: ThreadPoolExecutor | None = None
        self._ready = threading.Event()
        self.load_error: str | None = None

    # lifecycle ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker pool and load the default model in the background (readyz turns 200), then,
        with :attr:`preload_scans`, the model for scans, so that the first DICOM does not wait for it."""
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
        if self.preload_scans and self.scan_default != self.model:  # after readiness: images wait for nothing
            try:
                self.session(self.scan_default)
            except HTTPException as e:
                log.warning("model for DICOM, NIfTI and FITS uploads not available: %s", e.detail)

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    @property
    def scan_default(self) -> str:
        """The model a DICOM, NIfTI or FITS upload gets when the request names none and asks no vividness."""
        return scan_model(self.named_model)

    def model_for(self, requested: str | None, scan: bool, vivid: bool = False) -> str:
        """The model a request runs: the one it names; else for an image this server's default, for a
        DICOM, NIfTI or FITS upload (``scan``) :func:`tinct.registry.scan_model` (``vivid``: a
        vividness was asked, which only the photo default takes), as ``tinct colorize`` chooses."""
        if requested is not None:
            return requested
        return scan_model(self.named_model, vivid) if scan else self.model

    # models ------------------------------------------------------------------------------------
    def session(self, name: str, size: int | None = None, vivid: float | None = None) -> Session:
        """The process-wide session of model ``name`` (at vividness ``vivid``: another loaded network,
        kept for the next request); with ``size``, a view at that working size.

        A sized view shares the model's network and its inference lock (nothing is loaded again).
        Raises HTTPException 503 when the weights cannot be loaded.
        """
        from tinct import api

        try:
            base = api.cached_session(name, self.device, vivid=vivid)
        except (api.ModelWeightsError, RuntimeError, OSError, ValueError) as e:
            raise HTTPException(503, f"model {name!r} is not available on this server: {e}") from None
        # a server runs long: the compiled full-resolution kernel (tinct[fast]; the same pixels)
        # once it has loaded in the background
        base.fullres_fused = fullres.fused_available()
        if size is None or size == base.working_size:
            return base
        view = base.with_working_size(size)
        return view

    # work --------------------------------------------------------------------------------------
    def _guidance(self, form: GuidanceForm) -> Guidance:
        """Worker thread: the request's guidance, its reference image decoded under the pixel limit."""
        ref = None
        if form.reference is not None:
            try:
                ref = guidance_image(form.reference, "reference", max_pixels=self.limits.max_pixels)[..., :3]
            except ImageError as e:
                raise type(e)(f"reference image: {e}") from None
        return Guidance(reference=ref, method=form.method, hints=list(form.hints))

    def _colorize(self, data: bytes, model: ModelChoice, fmt: str | None, form: GuidanceForm | None = None) -> Answer:
        """Worker thread: decode (pixel limit from the header), colorize, encode (as the CLI writes files)."""
        t0 = time.perf_counter()
        session = self.session(model.name, model.size, model.vivid)
        img = read_image(data, max_pixels=self.limits.max_pixels)
        out_fmt = output_format(img.format, fmt)
        out_fmt = out_fmt if out_fmt in MEDIA_TYPES else "PNG"
        guidance = self._guidance(form) if form is not None else None
        result = session.colorize_image(img, guidance)
        try:
            body = result.encode(out_fmt)
        except (OSError, ValueError) as e:  # e.g. WebP is limited to 16383 px a side
            w, h = img.size
            raise ImageError(f"cannot write a {w}x{h} result as {out_fmt} ({e}); ask for another format") from None
        return Answer(body, out_fmt, session.name, time.perf_counter() - t0)

    def _read_medical(self, data: bytes, kind: str, form: MedicalForm) -> MedicalImage:
        """Worker thread: the upload read by :func:`tinct.io.medical.read.read_source` under the limits.

        Each frame, slice or plane at most ``max_pixels`` and all of them together too (checked from
        the header, before decoding; a gzipped NIfTI or FITS may expand to 8 bytes a pixel of that):
        above them ImageTooLargeError (413). Corrupt data the readers did not foresee: ImageError (422).
        """
        limit = self.limits.max_pixels
        try:
            return read_source(
                data, kind, window=form.window, axis=form.axis, stretch=form.stretch, max_pixels=limit, max_total=limit
            )
        except (ImageError, ImportError, HTTPException):
            raise
        except Exception as e:  # noqa: BLE001 - corrupt client data the readers did not foresee: 422, not 500
            log.warning("unreadable %s upload", kind, exc_info=e)
            raise ImageError(f"upload: cannot read this {MEDICAL_LABELS[kind][0]} file: {one_line(e)}") from None

    def _colorize_medical(self, data: bytes, kind: str, model: ModelChoice, form: MedicalForm) -> Answer:
        """Worker thread: read a DICOM object, a NIfTI volume or a FITS image (``kind``), colorize, encode.

        The whole object, volume or cube is windowed together; a PNG answer colorizes only the frame
        shown. Unreadable or corrupt input: ImageError (415 not DICOM/NIfTI/FITS at all, else 422);
        without pydicom, nibabel or astropy on the server: HTTP 415.
        """
        t0 = time.perf_counter()
        session = self.session(model.name, model.size, model.vivid) if form.mode == "realistic" else None
        detail = session.name if session is not None else form.lut
        label, part = MEDICAL_LABELS[kind]
        try:
            image = self._read_medical(data, kind, form)
            n = len(image.frames)
            headers = {"X-Tinct-Mode": form.mode, "X-Tinct-Frames": str(n)}
            headers["X-Tinct-Window"] = image.window.encode("ascii", "replace").decode()[:200]
            uid = None
            if form.output == "PNG":
                index = n // 2 if form.frame is None else form.frame
                if not 0 <= index < n:
                    raise ImageError(f"{part} {index} does not exist: the upload has {n} ({part}s 0 to {n - 1})")
                headers["X-Tinct-Frame"] = str(index)
                rgb, _ = colorize_frames(session, replace(image, frames=[image.frames[index]]), form.mode, form.lut)
                body = encode_image(rgb[0], "PNG", note=medical_note(form.mode, detail))
            elif form.output == "DICOM":
                from pydicom.uid import generate_uid

                assert image.dataset is not None
                rgb, _ = colorize_frames(session, image, form.mode, form.lut)
                uid = generate_uid()
                body = encode_secondary_capture(
                    rgb, image.dataset, form.anonymize, form.mode, detail, sources=image.sources, sop_instance_uid=uid
                )
            else:
                rgb, _ = colorize_frames(session, image, form.mode, form.lut)
                body = encode_nifti_rgb(rgb, image, medical_note(form.mode, detail, short=True), form.anonymize)
        except ImportError as e:
            msg = f"this server cannot read {label} files (install tinct[medical]): {e}"
            raise HTTPException(415, msg) from None
        except ValueError as e:  # e.g. a window the data cannot take
            raise ImageError(one_line(e, 10_000)) from None
        ext = MEDICAL_ANSWERS[form.output][1]
        stem = anonymous_stem(uid) if form.anonymize else form.stem
        return Answer(body, form.output, detail, time.perf_counter() - t0, f"{stem}_color{ext}", headers)

    async def colorize(
        self, data: bytes, model: ModelChoice, fmt: str | None, form: GuidanceForm | None = None
    ) -> Answer:
        """Admit, run off the event loop under the time limit, and map failures to HTTP errors.

        ``form``: the request's colour hints or reference image (None: the model alone). Hints off
        the image answer 422.
        """
        return await self.run(self._colorize, data, model, fmt, form)

    async def colorize_medical(self, data: bytes, kind: str, model: ModelChoice, form: MedicalForm) -> Answer:
        """The same as :meth:`colorize` for a DICOM, NIfTI or FITS upload (``kind``), see :meth:`_colorize_medical`."""
        return await self.run(self._colorize_medical, data, kind, model, form)

    async def run(self, work: Callable[..., Answer], *args: Any) -> Answer:
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
        future: Future[Answer] = self._executor.submit(work, *args)
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
