"""Colorize medical and scientific images: DICOM, NIfTI and FITS in; colour that never alters the anatomy out.

Reading (:mod:`tinct.io.medical`) turns every input into windowed gray frames; colour is added here,
``"realistic"`` (a model, through :meth:`tinct.session.Session.colorize_image`) or ``"pseudo"``
(luminance keying with a look-up table, :class:`tinct.session.Guidance` with a ``lut``: the same code
as ``--lut`` on a photo). Both join new ab with the windowed frame's own CIELAB L, so the output's
lightness is the windowed input's up to 8-bit rounding. :func:`colorize_medical_file` is the one
entry point for the command line; the server uses :func:`colorize_frames` on the frames it reads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from tinct.classical.lut import DEFAULT_LUT
from tinct.io.images import LoadedImage
from tinct.io.medical.anonymize import anonymous_stem
from tinct.io.medical.image import MedicalImage, SourcePart
from tinct.io.medical.kinds import medical_stem
from tinct.io.medical.read import read_medical
from tinct.io.medical.windowing import WindowSpec, parse_window
from tinct.io.medical.writers import medical_note, write_frames, write_nifti_rgb, write_secondary_capture
from tinct.io.uncertainty import uncertainty_note, write_uncertainty
from tinct.session import Guidance, Session

MODES = ("realistic", "pseudo")


def check_mode(mode: str, session: Session | None, uncertainty: bool = False) -> None:
    """Raise ValueError for an unknown mode, realistic mode without a session, or an uncertainty map
    that cannot be made (pseudo mode; a model without a colour distribution)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "realistic" and session is None:
        raise ValueError("realistic mode needs a model session (tinct.load_model)")
    if uncertainty:
        if mode != "realistic":
            raise ValueError("an uncertainty map is the model's: it needs realistic mode, not pseudo (a LUT)")
        session.check_uncertainty()  # type: ignore[union-attr]


def colorize_frames(
    session: Session | None,
    image: MedicalImage,
    mode: str = "realistic",
    lut: str | Path = DEFAULT_LUT,
    uncertainty: bool = False,
) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Colour every frame of ``image`` -> (uint8 RGB frames (H x W x 3), uncertainty maps or None).

    "realistic": the session's model, one frame at a time (with ``uncertainty``, also its float32
    (H, W) map in [0, 1] per frame, from the same forward pass); "pseudo": the ab of the look-up
    table ``lut`` (a built-in name or a CSV/JSON file, :func:`tinct.classical.lut.load_lut`) at
    each pixel's lightness. Either way the output's CIELAB L is the windowed frame's.

    Raises:
        ValueError: see :func:`check_mode`, or a bad LUT.
    """
    check_mode(mode, session, uncertainty)
    if mode == "pseudo":
        guidance = Guidance(lut=lut)
        return [guidance.colorize(f) for f in image.frames], None
    assert session is not None
    results = [session.colorize_image(LoadedImage(f), uncertainty=uncertainty) for f in image.frames]
    maps = [r.uncertainty for r in results] if uncertainty else None
    return [r.rgb for r in results], maps  # type: ignore[return-value]


def colorize_medical(
    session: Session | None, image: MedicalImage, mode: str = "realistic", lut: str | Path = DEFAULT_LUT
) -> list[np.ndarray]:
    """Colour every frame of ``image`` -> uint8 RGB frames (H x W x 3) (:func:`colorize_frames`)."""
    return colorize_frames(session, image, mode, lut)[0]


def colorize_medical_uncertainty(session: Session, image: MedicalImage) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Realistic colour for every frame of ``image`` plus the model's uncertainty map per frame.

    Raises:
        NoColourDistributionError: a regression model (no colour distribution).
    """
    rgb, maps = colorize_frames(session, image, uncertainty=True)
    assert maps is not None
    return rgb, maps


def colorize_medical_file(
    session: Session | None, src: str | Path, out_dir: str | Path | None = None, **options: Any
) -> list[Path]:
    """Colorize a DICOM file or folder, a NIfTI or a FITS file; returns the paths written, all input files
    together. ``options``: the keyword options of :func:`colorize_medical_inputs` (``window``, ``axis``,
    ``mode``, ``lut``, ``fmt``, ``anonymize``, ``stretch``, ``dicom_out``, ``nifti_out``, ``max_pixels``,
    ``uncertainty``), which gives the paths per input file."""
    return [p for _, written in colorize_medical_inputs(session, src, out_dir, **options) for p in written]


def colorize_medical_inputs(
    session: Session | None,
    src: str | Path,
    out_dir: str | Path | None = None,
    *,
    window: WindowSpec = "auto",
    axis: int = 2,
    mode: str = "realistic",
    lut: str | Path = DEFAULT_LUT,
    fmt: str = "png",
    anonymize: bool = False,
    stretch: str = "linear",
    dicom_out: bool = True,
    nifti_out: bool = True,
    max_pixels: int | None = None,
    uncertainty: bool = False,
    skip: Callable[[Path], bool] | None = None,
) -> list[tuple[Path, list[Path]]]:
    """Colorize a DICOM file or folder, a NIfTI or a FITS file -> [(input file, the paths written for it)].

    Every input file gets outputs named after its own stem, in ``out_dir`` (default: beside ``src``;
    a DICOM folder's files keep their sub-folder under ``out_dir``, default ``{folder}_color/`` beside
    the folder): ``{stem}_color.png`` for one frame or ``{stem}_color_0001.png``... per frame/slice
    (``fmt`` png or tif), plus ``{stem}_color.dcm`` (a Secondary Capture,
    :func:`~tinct.io.medical.writers.write_secondary_capture`, unless ``dicom_out`` is False) for
    DICOM and ``{stem}_color.nii.gz`` (RGB NIfTI, :func:`~tinct.io.medical.writers.write_nifti_rgb`,
    unless ``nifti_out`` is False) for NIfTI. The files of one DICOM series (distinct instances of
    one geometry, :func:`~tinct.io.medical.dicom.dicom_series`) are windowed together, so their
    slices are consistent, and still written file by file. ``skip``: files of a folder to leave out
    (earlier outputs). Every output names the mode and says the colour was added by software.
    ``window``: "auto", "full" or (center, width) (a "C,W" string is accepted); ``axis``: NIfTI
    slicing axis; ``stretch``: FITS stretch; ``mode``/``lut``: see :func:`colorize_frames`.

    ``anonymize``: basic-profile de-identification of the Secondary Capture, free-text fields and
    extensions dropped from the RGB NIfTI, and **neutral file names**: the stem is
    :func:`~tinct.io.medical.anonymize.anonymous_stem` of the new SOP Instance UID (``anon-`` + 16
    hex digits; a random one for NIfTI and FITS) instead of the input's file name, which may name
    the patient (the caller may keep a mapping: the paths are returned per input).

    ``uncertainty``: also write the model's uncertainty map per frame/slice (realistic mode with a
    classification model only; :mod:`tinct.io.uncertainty`): ``{stem}_uncertainty.png`` or
    ``{stem}_uncertainty_0001.png``..., 16-bit grayscale PNG, 0 = certain, 65535 = uniform.

    Raises:
        ImageError: unreadable input or unwritable output. ValueError: bad option, or
        ``uncertainty`` in pseudo mode or with a model without a colour distribution
        (:class:`~tinct.models.base.NoColourDistributionError`, a ValueError).
    """
    check_mode(mode, session, uncertainty)
    window = parse_window(window)
    src = Path(src)
    folder = src.is_dir()
    if out_dir is None:
        out_dir = src.parent / f"{src.name}_color" if folder else src.parent
    out_dir = Path(out_dir)
    detail = session.name if mode == "realistic" else Path(str(lut)).name  # type: ignore[union-attr]
    results: list[tuple[Path, list[Path]]] = []
    for stem, image in read_medical(src, window=window, axis=axis, stretch=stretch, max_pixels=max_pixels, skip=skip):
        rgb, maps = colorize_frames(session, image, mode, lut, uncertainty)
        pieces = image.split() if folder else []
        if not pieces:
            pieces = [(SourcePart(src, len(image.frames), image.dataset), image)]
        i = 0
        for part, piece in pieces:
            n = len(piece.frames)
            name = medical_stem(part.path) if folder else stem
            where = out_dir / part.path.parent.relative_to(src) if folder else out_dir
            piece_maps = maps[i : i + n] if maps is not None else None
            written = _write_piece(rgb[i : i + n], piece_maps, piece, where, name, mode, detail, fmt, anonymize,
                                   dicom_out, nifti_out)  # fmt: skip
            results.append((part.path, written))
            i += n
    return results


def _write_piece(
    rgb: list[np.ndarray],
    maps: list[np.ndarray] | None,
    image: MedicalImage,
    out_dir: Path,
    stem: str,
    mode: str,
    detail: str,
    fmt: str,
    anonymize: bool,
    dicom_out: bool,
    nifti_out: bool,
) -> list[Path]:
    """The outputs of one input file: uncertainty maps (``maps``), its frames, plus a Secondary Capture
    (DICOM, with ``dicom_out``) or an RGB NIfTI (NIfTI, with ``nifti_out``)."""
    sc_uid = _new_uid() if image.kind == "dicom" and dicom_out else None
    if anonymize:
        stem = anonymous_stem(sc_uid)
    written: list[Path] = []
    if maps is not None:
        written += write_uncertainty(maps, stem, out_dir, uncertainty_note(detail))
    note = medical_note(mode, detail)
    written += write_frames(rgb, out_dir / f"{stem}_color", fmt, note=note)
    if sc_uid is not None:
        assert image.dataset is not None
        sc = out_dir / f"{stem}_color.dcm"
        written.append(
            write_secondary_capture(
                rgb,
                image.dataset,
                sc,
                anonymize,
                mode,
                detail,
                note=note,
                sources=image.sources,
                sop_instance_uid=sc_uid,
            )  # fmt: skip
        )
    if image.kind == "nifti" and nifti_out:
        short = medical_note(mode, detail, short=True)
        written.append(write_nifti_rgb(rgb, image, out_dir / f"{stem}_color.nii.gz", short, anonymize))
    return written


def _new_uid() -> str:
    from pydicom.uid import generate_uid

    return generate_uid()
