"""The colorize endpoint and its form: fields validated before any work is admitted (one-line 4xx
errors), then handed to the :class:`~tinct.server.service.Service`."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Annotated

from fastapi import File, Form, HTTPException, Request, UploadFile
from fastapi.responses import Response

from tinct.apps.medical import MODES
from tinct.classical.lut import BUILTIN_LUTS, DEFAULT_LUT
from tinct.core.hints import Hint, HintError, parse_hints_json
from tinct.io.medical.fits import STRETCHES
from tinct.io.medical.kinds import FITS_EXTENSIONS, NIFTI_EXTENSIONS, upload_kind
from tinct.io.medical.windowing import parse_window
from tinct.registry import UnknownModelError, get_spec, resolve_spec
from tinct.server.service import (
    EXTENSIONS,
    MEDIA_TYPES,
    MEDICAL_ANSWERS,
    MEDICAL_CONTENT_TYPES,
    MEDICAL_OUTPUTS,
    MIN_WORKING_SIZE,
    OUTPUT_FORMATS,
    VIVID_STEP,
    Answer,
    GuidanceForm,
    MedicalForm,
    ModelChoice,
    Service,
)
from tinct.session import METHODS

#: the fields of the colorize form (the multipart names); any other field or query parameter is a 422
FORM_FIELDS = ("file", "model", "format", "size", "vivid", "hints", "reference", "method", "window", "axis",
               "frame", "mode", "lut", "stretch", "anonymize")  # fmt: skip

#: upload part content types accepted besides image/* (what curl and some clients send)
GENERIC_CONTENT_TYPES = {"", "application/octet-stream", "binary/octet-stream"}


def safe_stem(filename: str | None) -> str:
    """A download name stem from an uploaded name: last path component, ASCII [A-Za-z0-9._-], <= 80.

    The uploaded name is only ever used for this (a header), never as a path.
    """
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    stem = base.rsplit(".", 1)[0] if "." in base.lstrip(".") else base
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80]
    return stem or "image"


def checked_vivid(name: str, vivid: float) -> float | None:
    """``vivid`` for model ``name``, None where it is the model's own (its session is the model's);
    422 unless it is a multiple of :data:`VIVID_STEP` from 0 to 1 and the model can take one."""
    if not (0 <= vivid <= 1 and (vivid / VIVID_STEP).is_integer()):
        raise HTTPException(422, f"vivid must be from 0 to 1 in steps of {VIVID_STEP}, got {vivid:g}")
    own = resolve_spec(name).vivid
    if own is None:
        raise HTTPException(422, f"model {name!r} takes no vivid (its colour against accuracy is fixed)")
    return None if vivid == own else vivid


async def check_fields(request: Request, model: str | None) -> str | None:
    """422 for a form field or query parameter that is not one of :data:`FORM_FIELDS` (a typo such as
    ``colour=red`` never passes silently). ``?model=`` in the query is read as the form field is (the
    form's wins), so an unknown model is the same 422 either way; any other field in the query is a
    422 saying to send it in the form. Returns the model asked for."""
    form = await request.form()  # parsed once: FastAPI has read it already
    unknown = sorted({*form.keys(), *request.query_params.keys()} - set(FORM_FIELDS))
    if unknown:
        raise HTTPException(
            422, f"unknown field {', '.join(map(repr, unknown))}; the fields are {', '.join(FORM_FIELDS)}"
        )
    misplaced = sorted(set(request.query_params.keys()) - {"model"})
    if misplaced:  # one rule: a field in the query is read (model) or refused, never ignored
        name = misplaced[0]
        raise HTTPException(
            422, f"{name!r} in the query: send it as a form field (curl -F {name}=...); only model may be in the query"
        )
    return model if model is not None else request.query_params.get("model")


def named(detail: str, filename: str | None) -> str:
    """An error about an upload, naming the uploaded file (its last path component) instead of "upload"."""
    shown = (filename or "").replace("\\", "/").rsplit("/", 1)[-1][:80]
    if not shown:
        return detail
    if detail.endswith(": upload"):
        return f"{detail[: -len('upload')]}{shown}"
    if detail.startswith("upload:"):
        return f"{shown}{detail[len('upload') :]}"
    return detail if shown in detail else f"{shown}: {detail}"


async def naming(filename: str | None, work: Awaitable[Answer]) -> Answer:
    """Await ``work``; an error about the upload itself (400, 415, 422) names the uploaded file (:func:`named`)."""
    try:
        return await work
    except HTTPException as e:
        if e.status_code not in (400, 415, 422):
            raise
        raise HTTPException(e.status_code, named(str(e.detail), filename), e.headers) from None


def require_multipart(request: Request) -> None:
    """415 unless the request is multipart/form-data (a route dependency)."""
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
    model: Annotated[
        str | None,
        Form(
            description="Registry model name (default: the server's; for DICOM, NIfTI and FITS uploads the "
            "model marked `scan_default` in /api/v1/models)."
        ),
    ] = None,
    fmt: Annotated[
        str | None, Form(alias="format", description="jpg, png or webp (default: the input's, else png).")
    ] = None,
    size: Annotated[
        int | None, Form(description="Working size: the short side the model sees (default: the model's).")
    ] = None,
    vivid: Annotated[
        float | None,
        Form(
            description="Colour against accuracy, 0 (palest) to 1 (most colourful) in steps of 0.125, for the "
            "models whose `vivid` in /api/v1/models is not null (default: that value). On a DICOM, NIfTI or "
            "FITS upload (realistic mode) it asks for the photo default unless `model` names one."
        ),
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
    model = await check_fields(request, model)
    part_type = (file.content_type or "").split(";", 1)[0].strip().lower()
    if not (part_type.startswith("image/") or part_type in GENERIC_CONTENT_TYPES | MEDICAL_CONTENT_TYPES):
        raise HTTPException(415, f"unsupported content type {part_type!r}: upload an image, DICOM, NIfTI or FITS file")
    name = service.model_for(model, scan=False)  # an image's; a DICOM, NIfTI or FITS upload's is chosen below
    fmt = checked_basics(service, name, fmt, size)
    asked_vivid = vivid is not None  # even the model's own: it asks for the photo default on a scan
    if vivid is not None:
        vivid = checked_vivid(name, vivid)
    form = await guidance_form(name, hints, reference, method)
    data = await file.read()
    if not data:
        raise HTTPException(400, "empty file (0 bytes)")
    kind = upload_kind(data, file.filename)
    fields = {"window": window, "axis": axis, "frame": frame, "mode": mode, "lut": lut, "anonymize": anonymize}
    if kind is not None:
        medical = medical_form(kind, fmt, form, file.filename, **fields, stretch=stretch)
        if asked_vivid and medical.mode != "realistic":
            raise HTTPException(422, "vivid: for realistic mode (the model's colour), not pseudo")
        choice = ModelChoice(service.model_for(model, scan=True, vivid=asked_vivid), size, vivid)
        work = service.colorize_medical(data, kind, choice, medical)
        return medical_response(await naming(file.filename, work))
    if stretch is not None:
        raise HTTPException(422, "stretch: for FITS uploads only, not ordinary images")
    given = [k for k, v in fields.items() if v is not None]
    if given:
        raise HTTPException(422, f"{', '.join(given)}: for DICOM, NIfTI and FITS uploads only, not ordinary images")
    if fmt is not None and fmt not in OUTPUT_FORMATS:
        raise HTTPException(422, f"format {fmt} is for DICOM and NIfTI uploads; use jpg, png or webp for images")
    out = await naming(file.filename, service.colorize(data, ModelChoice(name, size, vivid), fmt, form))
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


def checked_basics(service: Service, name: str, fmt: str | None, size: int | None) -> str | None:
    """422 for an unknown model ``name``, an output format no upload has, a working size outside this
    server's bounds; returns the format normalised (lower case, no dot; None: not given)."""
    fmt = (fmt or "").lower().lstrip(".") or None
    try:
        if name != service.model:  # the server's own default may be a weights file (tinct serve --model PATH)
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
    return fmt


def medical_form(
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
    lut = (lut or DEFAULT_LUT).lower()
    axis = 2 if axis is None else axis
    stem = safe_stem(name)
    return MedicalForm(output, spec, axis, frame, mode, lut, bool(anonymize), stem, stretch or "linear")


def medical_response(out: Answer) -> Response:
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


async def guidance_form(
    name: str, hints: str | None, reference: UploadFile | None, method: str | None
) -> GuidanceForm | None:
    """The guidance fields of a colorize request, validated (HTTPException 422 / 415 / 400); None if none."""
    points: list[Hint] = []
    if hints and hints.strip():
        try:
            points = parse_hints_json(hints, "hints")
        except HintError as e:
            raise HTTPException(422, str(e)) from None
        if points and not resolve_spec(name).takes_hints:  # a registry name or the server's own file
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
