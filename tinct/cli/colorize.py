"""``tinct colorize``: images, videos, DICOM, NIfTI and FITS, file by file through :mod:`tinct.apps.batch`."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tinct.cli.app import err, fail, failure_line, load_session
from tinct.cli.options import FileOptions, GuidanceOptions, MedicalOptions, VideoOptions, grouped
from tinct.registry import DEFAULT_MEDICAL_MODEL, DEFAULT_MODEL, scan_model


@dataclass
class Colorizing:
    """What ``tinct colorize`` does with each planned job (an image, a video or a medical input)."""

    session: Any
    guidance: Any
    lut: str | None  #: the look-up table as given (pseudo mode: the default one)
    files: FileOptions
    medical: MedicalOptions
    video: VideoOptions
    reference: Path | None
    uncertainty: bool
    quiet: bool
    medical_model: Any = None  #: loads the medical default model, when one is needed (None: use ``session``)
    guide_lut: str | None = None  #: --lut as the user gave it (None: not given)
    decoding: tuple[str, ...] = ()  #: the decoding options given (--vivid, --temperature): a model's colour
    _medical_session: Any = field(default=None, init=False)
    _lane_session: Any = field(default=None, init=False)
    _lane_lock: Any = field(default_factory=threading.Lock, init=False)

    def in_lane(self, job) -> bool:
        """Whether ``job`` may run on one of the batch's lanes (:func:`tinct.apps.batch.run_jobs`):
        a still colorized by a model whose session can run on several threads at once."""
        still = not (job.medical or job.video or self.uncertainty or self.guidance.active)
        return still and self.session.concurrent_ready

    def lane_session(self) -> Any:
        """The session the lanes share (:meth:`tinct.session.Session.concurrent`), made by the first lane."""
        with self._lane_lock:
            if self._lane_session is None:
                self._lane_session = self.session.concurrent()
            return self._lane_session

    def medical_session(self) -> Any:
        """The session medical inputs use: the medical default model, loaded when the first one comes."""
        if self.medical_model is None:
            return self.session
        if self._medical_session is None:
            self._medical_session = self.medical_model()
        return self._medical_session

    def prefetch(self, job) -> Any:
        """Decoded ahead in a worker thread (images only)."""
        from tinct.io.images import read_image

        return None if job.medical or job.video else read_image(job.src, max_pixels=self.files.max_pixels)

    def not_applying(self, job) -> list[str]:
        """The options given that do nothing for ``job``'s kind of input (each is an error)."""
        m, v, g = self.medical, self.video, self.guidance
        given = {
            "--window": m.window != "auto", "--axis": m.axis != 2, "--stretch": m.stretch != "linear",
            "--mode": m.mode != "realistic", "--anonymize": m.anonymize, "--start": v.start is not None,
            "--end": v.end is not None, "--crf": v.crf != 18, "--no-stabilize": not v.stabilize,
            "--accept-truncated": v.accept_truncated,
            "--format": self.files.fmt is not None, "--hints": bool(g.hints), "--scribbles": g.scribbles is not None,
            "--lut": self.guide_lut is not None, "--uncertainty": self.uncertainty,
            "--reference": self.reference is not None, **dict.fromkeys(self.decoding, True),
        }  # fmt: skip
        if job.video:
            applies = {"--start", "--end", "--crf", "--no-stabilize", "--reference", "--accept-truncated"}
        elif job.medical:
            applies = {"--window", "--axis", "--stretch", "--mode", "--anonymize", "--lut", "--uncertainty"}
        else:
            applies = {"--format", "--hints", "--scribbles", "--lut", "--uncertainty", "--reference"}
        if not (job.medical and m.mode == "pseudo"):  # a look-up table's colour has no model to decode
            applies |= {"--vivid", "--temperature"}
        return [opt for opt, on in given.items() if on and opt not in applies]

    def process(self, job, fmt: str) -> None:
        """Colorize one job; what it raises is that job's one-line failure."""
        wrong = self.not_applying(job)
        if wrong:
            kind = "a video" if job.video else "a DICOM, NIfTI or FITS input" if job.medical else "an image"
            kind += " in pseudo mode" if job.medical and self.medical.mode == "pseudo" else ""
            raise ValueError(f"{', '.join(wrong)} do{'es' if len(wrong) == 1 else ''} not apply to {kind}; "
                             "leave it out for this input")  # fmt: skip
        if job.video:
            self._video(job)
        elif job.medical:
            self._medical(job)
        else:
            (self.lane_session() if job.in_lane else self.session).colorize_file(
                job.src,
                job.dst,
                fmt=fmt,
                quality=self.files.quality,
                max_pixels=self.files.max_pixels,
                guidance=self.guidance,
                image=job.prefetched(),
                defer=job.defer,
                uncertainty=self.uncertainty,
            )

    def _video(self, job) -> None:
        try:
            from tinct.apps.video import colorize_video
        except ImportError as e:
            raise ValueError(f"video needs the 'video' extra: pip install 'tinct[video]' ({e})") from None
        v = self.video
        colorize_video(
            self.session,
            job.src,
            job.dst,
            start=v.start,
            end=v.end,
            crf=v.crf,
            stabilize=v.stabilize,
            progress=not self.quiet and sys.stderr.isatty(),
            reference=self.reference,
            accept_truncated=v.accept_truncated,
        )

    def _medical(self, job) -> None:
        from tinct.apps.batch import is_output_name
        from tinct.apps.medical import colorize_medical_inputs

        m = self.medical
        per_input = colorize_medical_inputs(
            self.medical_session() if m.mode == "realistic" else None,
            job.src,
            job.dst.parent,
            window=m.window,
            axis=m.axis,
            mode=m.mode,
            lut=self.lut,
            anonymize=m.anonymize,
            stretch=m.stretch,
            max_pixels=self.files.max_pixels,
            uncertainty=self.uncertainty,
            skip=lambda p: is_output_name(p, self.files.suffix),
        )
        written = [p for _, paths in per_input for p in paths]
        # reported: a real output per input file (a DICOM folder counts its files)
        firsts = [next((p for p in paths if "_color" in p.name), paths[0]) for _, paths in per_input if paths]
        job.dst = firsts[0] if firsts else job.dst
        if job.src.is_dir():
            job.outputs = firsts
        if m.anonymize_map is not None:
            import csv

            with open(m.anonymize_map, "a", newline="") as fh:
                csv.writer(fh).writerows((str(job.src), str(p)) for p in written)


@grouped
def colorize(
    inputs: Annotated[list[str], typer.Argument(help="Image files, folders or glob patterns.")],
    output: Annotated[
        Optional[Path], typer.Option("-o", "--output", help="Output folder (default: beside each input).")
    ] = None,
    model: Annotated[
        Optional[str],
        typer.Option(
            "-m",
            "--model",
            help=f"Model name (see `tinct models`). Default: {DEFAULT_MODEL}; for DICOM, NIfTI and FITS in "
            f"realistic mode {DEFAULT_MEDICAL_MODEL} (trained on medical colour) unless --uncertainty, --vivid "
            "or --temperature.",
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    files: FileOptions = FileOptions(),
    temperature: Annotated[
        Optional[float], typer.Option(help="Annealed-mean temperature (classification models).")
    ] = None,
    vivid: Annotated[
        Optional[float],
        typer.Option(help="Colour against accuracy: 1 most colourful, 0 palest (default: the model's; prism 0.625)."),
    ] = None,
    guide: GuidanceOptions = GuidanceOptions(),
    medical: MedicalOptions = MedicalOptions(),
    uncertainty: Annotated[
        bool,
        typer.Option(
            help="Also write {stem}_uncertainty.png (per frame/slice for scans): 16-bit gray, the normalised "
            "entropy of the model's colours, 0 certain. "
            f"Classification models only (e.g. {DEFAULT_MODEL}), no guidance."
        ),
    ] = False,
    video: VideoOptions = VideoOptions(),
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
    backend: Annotated[
        str, typer.Option(help="Inference backend: onnx (onnxruntime, CPU), torch, or auto (onnx when installed).")
    ] = "auto",
) -> None:
    """Colorize images (and videos, DICOM, NIfTI, FITS); outputs are `{stem}_color.{ext}`. Exit code 1 if any failed."""
    from tinct.apps.batch import check_suffix, default_lanes, default_workers, run_batch

    if not files.suffix and output is None:
        fail("an empty --suffix needs an --output folder (inputs are never overwritten)")
    try:
        check_suffix(files.suffix)
    except ValueError as e:
        fail(str(e))
    _check_format(files.fmt)
    session = load_session(model or DEFAULT_MODEL, device, files.size, temperature, debug, backend, vivid)
    guidance, lut = _guidance(session, guide, medical, uncertainty)

    decoding = tuple(opt for opt, v in (("--vivid", vivid), ("--temperature", temperature)) if v is not None)
    # an option that only a classification model takes (the photo default's colour distribution) chooses it
    # for medical inputs too, as a named model does; else they get the medical default model
    scans = scan_model(model, uncertainty or bool(decoding))

    def medical_model() -> Any:
        return load_session(scans, device, files.size, None, debug, backend)

    run = Colorizing(
        session, guidance, lut, files, medical, video, guide.reference, uncertainty, quiet,
        None if scans == (model or DEFAULT_MODEL) else medical_model, guide.lut, decoding,
    )  # fmt: skip

    def on_error(path: Path, msg: str, tb: str) -> None:
        from tqdm import tqdm

        tqdm.write(failure_line(path, msg) + (f"\n{tb.rstrip()}" if debug and tb else ""), file=sys.stderr)

    def progress(jobs):
        if quiet or len(jobs) <= 1 or not sys.stderr.isatty():  # a log gets the failure lines only
            return jobs
        from tqdm import tqdm

        return tqdm(jobs, unit="img", dynamic_ncols=True, file=sys.stderr)

    f = files
    try:
        result = run_batch(
            inputs, run.process, output, f.recursive, f.overwrite, f.fmt, f.suffix, on_error, progress,
            run.prefetch, default_workers(), default_lanes(), run.in_lane,
        )  # fmt: skip
    except ValueError as e:  # the plan itself (an -o that is a file for a folder of inputs): nothing ran
        fail(str(e))
    if len(result.done) == 1 and not result.failed and not result.skipped:
        typer.echo(str(result.done[0]))
    if not (result.done or result.skipped or result.failed):
        fail(
            f"nothing to colorize in {', '.join(inputs)}: no image, video, DICOM, NIfTI or FITS file "
            f"(earlier outputs, *{files.suffix}.*, are left out)",
            1,
        )
    err(result.summary())
    if result.failed:
        raise typer.Exit(1)


def _check_format(fmt: str | None) -> None:
    """Exit 2 with one line for an unknown ``--format``, before any file is read."""
    from tinct.io.errors import ImageError
    from tinct.io.images import output_format

    if fmt is not None:
        try:
            output_format("PNG", fmt)
        except ImageError:
            fail(f"--format {fmt}: not an output format; use one of jpg, png, tif, webp, bmp")


def _guidance(session: Any, guide: GuidanceOptions, medical: MedicalOptions, uncertainty: bool) -> tuple[Any, Any]:
    """The run's guidance and look-up table, checked against the model before any file is read (exit 2
    with one line)."""
    from tinct.classical.lut import DEFAULT_LUT
    from tinct.io.errors import ImageError
    from tinct.io.medical.fits import STRETCHES
    from tinct.io.medical.windowing import parse_window
    from tinct.session import Guidance

    try:
        if medical.mode not in ("realistic", "pseudo"):
            raise ValueError(f"--mode must be realistic or pseudo, not {medical.mode!r}")
        if medical.stretch not in STRETCHES:  # checked here, not only when a FITS file comes
            raise ValueError(f"--stretch must be one of {', '.join(STRETCHES)}, not {medical.stretch!r}")
        try:
            parse_window(medical.window)  # likewise, not once per DICOM or NIfTI file
        except ValueError as e:
            raise ValueError(f"--{e}") from None
        if medical.axis not in (0, 1, 2):
            raise ValueError(f"--axis must be 0, 1 or 2, not {medical.axis}")
        lut = guide.lut or (DEFAULT_LUT if medical.mode == "pseudo" else None)  # pseudo-colour: luminance keying
        guidance = Guidance(guide.scribbles, guide.reference, guide.method, lut, guide.hints)
        session.model_hints(guidance)  # hints for a model without hints: refused before any file
        if uncertainty:
            session.check_uncertainty(guidance)  # a regression model, or guidance: refused before any file
        if medical.anonymize_map is not None and not medical.anonymize:
            raise ValueError("--anonymize-map needs --anonymize")
    except (ValueError, ImageError) as e:
        fail(str(e))
    return guidance, lut
