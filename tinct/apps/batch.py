"""Batch colorization of files and folders: what `tinct colorize` does with many inputs.

Inputs are files, folders (optionally recursive) and glob patterns. Each output goes to
``{stem}{suffix}.{ext}`` in the output folder (beside the input by default; with a folder input
and an output folder, the sub-folder layout is mirrored). Existing outputs are skipped unless
``overwrite``, writes are atomic, and one bad file never stops the batch: an interrupted run,
started again, finishes the rest.

Overlap (``workers`` > 0): worker threads decode the next images (``prefetch``) and encode and
write finished ones (:meth:`Job.defer`) while the calling thread runs the model, one image at a
time, in input order. Pillow's decoders and encoders release the GIL, so the CPU keeps decoding
and encoding while the model runs (which a Session's lock serialises anyway).
"""

from __future__ import annotations

import glob
import os
import re
import traceback
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tinct.io.errors import missing_extra
from tinct.io.images import (
    FORMAT_BY_EXTENSION,
    IMAGE_EXTENSIONS,
    ImageError,
    extension_for,
    output_format,
    read_image,
)
from tinct.io.medical.kinds import MEDICAL_EXTENSIONS, medical_kind, medical_stem, medical_suffix
from tinct.io.uncertainty import SUFFIX as UNCERTAINTY_SUFFIX
from tinct.io.video import VIDEO_EXTENSIONS

SUFFIX = "_color"


@dataclass
class Job:
    """One input and where its output goes; :func:`run_batch` hands it to ``process``."""

    src: Path
    dst: Path
    medical: bool = False  #: DICOM file/folder, NIfTI or FITS: ``dst`` is an output stem
    video: bool = False  #: a video file: ``dst`` is ``{stem}_color.mp4``
    #: set by ``process`` when the job covered several input files (a DICOM folder): one output per file
    outputs: list[Path] | None = None
    fmt: str | None = None  #: the output format when ``dst`` was named by the user (``-o photo.png``)
    in_lane: bool = False  #: run whole on one of run_jobs' lanes (with other jobs at once)
    _ahead: Future | None = field(default=None, init=False, repr=False, compare=False)
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False, compare=False)
    _deferred: Future | None = field(default=None, init=False, repr=False, compare=False)

    def prefetched(self) -> Any:
        """What run_batch's ``prefetch`` returned for this job (computed ahead in a worker thread),
        or None without one; its exception (a bad file) is raised here, in ``process``."""
        return None if self._ahead is None else self._ahead.result()

    def defer(self, finish: Callable[[], Any]) -> None:
        """Run ``finish`` (encoding and writing the output) in a worker thread, or now without
        workers. The job counts as done once it returns; what it raises counts as the job's failure."""
        if self._pool is None:
            finish()
        else:
            self._deferred = self._pool.submit(finish)


def _medical_kind(p: Path, scan: bool) -> str | None:
    """Medical kind of ``p`` (:func:`tinct.io.medical.kinds.medical_kind`); while scanning a folder, by name only."""
    if scan:
        return "medical" if medical_suffix(p) in MEDICAL_EXTENSIONS else None
    return medical_kind(p)


def is_output_name(p: Path, suffix: str = SUFFIX) -> bool:
    """True for a file name tinct writes, left out when a folder is scanned for inputs.

    ``{stem}{suffix}.{ext}``, its frames and slices ``{stem}{suffix}_0001.{ext}`` (medical inputs;
    ``.nii.gz`` counts as one extension) and uncertainty maps ``{stem}_uncertainty[_0001].png``
    (:mod:`tinct.io.uncertainty`). An empty ``suffix`` matches no colour output.
    """
    stem = re.sub(r"_\d{4}$", "", medical_stem(p) if p.is_file() else p.stem)
    return (bool(suffix) and stem.endswith(suffix)) or stem.endswith(UNCERTAINTY_SUFFIX)


@dataclass
class BatchResult:
    """Outputs written, inputs skipped (output exists) and inputs failed with a one-line reason.

    Inputs are paths, or URI strings (:mod:`tinct.apps.cluster`)."""

    done: list[Path] = field(default_factory=list)
    skipped: list[Path | str] = field(default_factory=list)
    failed: list[tuple[Path | str, str]] = field(default_factory=list)

    def summary(self) -> str:
        return f"{len(self.done)} done, {len(self.skipped)} skipped (output exists), {len(self.failed)} failed"


def expand_inputs(
    inputs: Iterable[str | Path], recursive: bool = False, suffix: str = SUFFIX
) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """Expand files, folders and globs into (file, base folder) pairs, plus inputs that match nothing.

    Files found by scanning a folder are images by extension, and earlier outputs
    (``*{suffix}.*``) are left out; a file named explicitly is always taken.
    """
    found: list[tuple[Path, Path]] = []
    missing: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def add(p: Path, base: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            found.append((p, base))

    for raw in inputs:
        p = Path(raw)
        if p.is_dir() and _medical_kind(p, scan=False):  # a DICOM series folder is one input
            add(p, p.parent)
        elif p.is_dir():
            it = p.rglob("*") if recursive else p.glob("*")
            for f in sorted(it):
                if not f.is_file() or f.name.startswith(".") or is_output_name(f, suffix):
                    continue
                if f.suffix.lower() in IMAGE_EXTENSIONS or f.suffix.lower() in VIDEO_EXTENSIONS:
                    add(f, p)
                elif _medical_kind(f, scan=True):
                    add(f, p)
        elif p.exists():
            add(p, p.parent)
        elif any(ch in str(raw) for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(str(raw), recursive=recursive))
            files = [m for m in matches if m.is_file()]
            if not files:
                missing.append((p, "no file matches this pattern"))
            for m in files:
                add(m, m.parent)
        else:
            missing.append((p, "no such file or folder"))
    return found, missing


def check_suffix(suffix: str) -> str:
    """``suffix`` if it can end a file name: ValueError, in one line, for a path separator or a NUL in
    it (``_color/x`` would write into a folder named after each input, ``/../x`` beside its parents)."""
    if any(c in suffix for c in ("/", "\\", "\0")):
        raise ValueError(f"--suffix {suffix!r}: a suffix ends each output's file name, so it holds no / or \\")
    return suffix


def plan_output(src: Path, base: Path, out_dir: Path | None, fmt: str, suffix: str = SUFFIX) -> Path:
    """Where the output of ``src`` goes (see module docstring)."""
    name = f"{src.stem}{suffix}{extension_for(fmt)}"
    if out_dir is None:
        return src.with_name(name)
    try:
        rel = src.parent.resolve().relative_to(base.resolve())
    except ValueError:
        rel = Path()
    return out_dir / rel / name


def guess_format(src: Path, requested: str | None) -> str:
    """Output format from the request or the input's extension (no decoding needed)."""
    return output_format(FORMAT_BY_EXTENSION.get(src.suffix.lower(), "PNG"), requested)


def default_workers() -> int:
    """Decode/encode threads for an overlapped batch: the cores present, at least 2, at most 8."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(2, min(8, cores))


def default_lanes() -> int:
    """Lanes of a batch of stills (:func:`run_jobs`): one per core tinct may use
    (:func:`tinct.backends.hardware.cpu_threads`: ``TINCT_THREADS``, CPU affinity and quota); 1: no lanes."""
    from tinct.backends.hardware import cpu_threads

    return cpu_threads()


def _failure(e: BaseException) -> str:
    """The one-line message of a failed job (image errors as they are, others with their type)."""
    if isinstance(e, ModuleNotFoundError):
        return missing_extra(e)
    return str(e) if isinstance(e, (ImageError, ValueError)) else f"{type(e).__name__}: {e}"


def plan_jobs(
    inputs: Iterable[str | Path],
    out_dir: str | Path | None = None,
    recursive: bool = False,
    overwrite: bool = False,
    fmt: str | None = None,
    suffix: str = SUFFIX,
) -> tuple[list[Job], BatchResult]:
    """The jobs to run for ``inputs``, and a BatchResult holding the skipped and failed inputs.

    Failed: inputs that match nothing, outputs that would overwrite their input and outputs that an
    earlier input of the batch writes too (done or to do: a rerun says so again); skipped:
    existing outputs (unless ``overwrite``). Outputs are named by :func:`plan_output`, except that
    one image or video with an ``out_dir`` that has a file suffix is written to that file
    (:func:`output_file`). ValueError, before anything is planned, for a suffix that is no file-name
    ending (:func:`check_suffix`) and for an ``out_dir`` that is an existing file where a folder is needed.
    """
    inputs = list(inputs)
    check_suffix(suffix)
    out_file = output_file(inputs, out_dir)
    if out_file is not None:
        return _plan_single(Path(inputs[0]), out_file, overwrite, fmt)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and out.exists() and not out.is_dir():  # every output would fail to be written
        raise ValueError(f"-o {out} is a file, and these inputs need an output folder: name a folder")
    result = BatchResult()
    files, missing = expand_inputs(inputs, recursive, suffix)
    result.failed.extend(missing)
    jobs: list[Job] = []
    first: dict[Path, Path] = {}  # each output's first input: a later one would replace its result
    for src, base in files:
        job, done = _plan_one(src, base, out, overwrite, fmt, suffix)
        if job is None:
            result.failed.append((src, "output would overwrite the input"))
            continue
        key = job.dst.resolve()
        if key in first:  # a.jpg and a.png with --format png; one name in two folders into one -o
            why = f"its output {job.dst} would replace that of {first[key]}; rename one, or colorize them apart"
            result.failed.append((src, why))
            continue
        first[key] = src
        if done:
            result.skipped.append(src)
        else:
            jobs.append(job)
    return jobs, result


def _plan_one(
    src: Path, base: Path, out: Path | None, overwrite: bool, fmt: str | None, suffix: str
) -> tuple[Job | None, bool]:
    """The job for one expanded input of :func:`plan_jobs` and whether its output is there already (to
    skip, unless ``overwrite``); no job where the output would overwrite the input."""
    if src.suffix.lower() in VIDEO_EXTENSIONS:
        dst = plan_output(src, base, out, "PNG", suffix).with_suffix(".mp4")
        return Job(src, dst, video=True), dst.exists() and not overwrite
    if src.is_dir():  # a DICOM folder: one output folder, every file's outputs named after the file
        folder = plan_output(src, base, out, "PNG", suffix).parent
        folder = folder if out is not None else folder / f"{src.name}{suffix}"
        done = not overwrite and _folder_done(src, folder, suffix)
        return Job(src, folder / f"{src.name}{suffix}", medical=True), done
    if _medical_kind(src, scan=False):
        stem = plan_output(src, base, out, "PNG", suffix).parent / f"{medical_stem(src)}{suffix}"
        done = not overwrite and any(stem.parent.glob(glob.escape(stem.name) + "*"))
        return Job(src, stem, medical=True), done
    dst = plan_output(src, base, out, guess_format(src, fmt), suffix)
    if dst.resolve() == src.resolve():
        return None, False
    return Job(src, dst), dst.exists() and not overwrite


def output_file(inputs: list[str | Path], out: str | Path | None) -> Path | None:
    """The output file ``out`` names, or None where it is a folder.

    ``-o`` is a folder, except with one input that is an image or a video file: then an ``out``
    with a file suffix (``film.mkv``, ``chicago.png``) that is not an existing folder names the output
    file, and its suffix picks the format or container. DICOM, NIfTI and FITS inputs write several
    files: for them ``out`` is always a folder.
    """
    if out is None or len(inputs) != 1:
        return None
    src, out = Path(inputs[0]), Path(out)
    kind = src.suffix.lower()
    if not out.suffix or out.is_dir() or not src.is_file() or _medical_kind(src, scan=False):
        return None
    return out if kind in IMAGE_EXTENSIONS or kind in VIDEO_EXTENSIONS else None


def _plan_single(src: Path, out: Path, overwrite: bool, fmt: str | None) -> tuple[list[Job], BatchResult]:
    """The one job writing ``src``'s output to the file ``out`` (see :func:`output_file`)."""
    result = BatchResult()
    video = src.suffix.lower() in VIDEO_EXTENSIONS
    f = None if video else FORMAT_BY_EXTENSION.get(out.suffix.lower())
    if not video and f is None:
        why = f"-o {out.name}: {out.suffix} is no image format; use .jpg, .png, .tif, .webp or .bmp"
        result.failed.append((src, why))
    elif not video and fmt and output_format("PNG", fmt) != f:
        result.failed.append((src, f"--format {fmt} contradicts -o {out.name}; give one of them"))
    elif out.resolve() == src.resolve():
        result.failed.append((src, "output would overwrite the input"))
    elif out.exists() and not overwrite:
        result.skipped.append(src)
    else:
        return [Job(src, out, video=video, fmt=f)], result
    return [], result


def _folder_done(src: Path, out: Path, suffix: str) -> bool:
    """True when every DICOM file of the folder ``src`` has an output (``{stem}{suffix}*``) under ``out``."""
    from tinct.io.medical.dicom import dicom_files

    files = dicom_files(src, lambda p: is_output_name(p, suffix))
    if not files or not out.is_dir():
        return False
    for f in files:
        where = out / f.parent.relative_to(src)
        if not any(where.glob(glob.escape(f"{medical_stem(f)}{suffix}") + "*")):
            return False
    return True


def run_batch(
    inputs: Iterable[str | Path],
    process: Callable[[Job, str], None],
    out_dir: str | Path | None = None,
    recursive: bool = False,
    overwrite: bool = False,
    fmt: str | None = None,
    suffix: str = SUFFIX,
    on_error: Callable[[Path, str, str], None] | None = None,
    progress: Callable[[Iterable[Job]], Iterable[Job]] = lambda it: it,
    prefetch: Callable[[Job], Any] | None = None,
    workers: int = 0,
    lanes: int = 0,
    in_lane: Callable[[Job], bool] = lambda job: False,
) -> BatchResult:
    """Colorize every input with ``process(job, fmt)``; never stops at a bad file.

    Images get ``job.dst`` = the output file; medical inputs (``job.medical``) an output stem
    (``{out}/{stem}_color``): they are skipped when any output with that stem exists.

    ``on_error(path, one_line_message, traceback_text)`` is called for each failure.

    ``prefetch``, ``workers``, ``lanes`` and ``in_lane``: see :func:`run_jobs`, which runs the planned jobs.
    """
    jobs, result = plan_jobs(inputs, out_dir, recursive, overwrite, fmt, suffix)
    for p, why in result.failed:
        if on_error:
            on_error(p, why, "")
    return run_jobs(jobs, process, result, fmt, on_error, progress, prefetch, workers, lanes, in_lane)


class _Outcomes:
    """Jobs' outcomes recorded into a :class:`BatchResult` in input order, as they finish."""

    def __init__(self, result: BatchResult, on_error: Callable[[Path, str, str], None] | None):
        self.result = result
        self.on_error = on_error
        #: (job, future of its work or None, exception or None), in input order
        self.pending: deque[tuple[Job, Future | None, BaseException | None]] = deque()

    def add(self, job: Job, future: Future | None, exc: BaseException | None = None) -> None:
        self.pending.append((job, future, exc))

    def call(self, job: Job, process: Callable[[Job, str], None], fmt: str) -> None:
        """Run ``process(job, fmt)`` in this thread and add its outcome: the work it deferred
        (:meth:`Job.defer`), or what it raised (one bad file must not stop a batch)."""
        try:
            process(job, fmt)
            self.add(job, job._deferred)
        except Exception as e:  # noqa: BLE001
            self.add(job, None, e)

    def in_flight(self) -> int:
        """Jobs whose future has not been recorded yet."""
        return sum(f is not None for _, f, _ in self.pending)

    def record(self, block: bool) -> None:
        """Record finished outcomes from the left; with ``block``, wait for the leftmost first. Stops at
        a job still running (without ``block``) or cancelled (never started)."""
        while self.pending:
            fut = self.pending[0][1]
            if fut is not None and (fut.cancelled() or not (block or fut.done())):
                break
            job, fut, exc = self.pending.popleft()
            block = False
            if fut is not None:
                exc = fut.exception()
                if exc is not None and not isinstance(exc, Exception):
                    raise exc  # KeyboardInterrupt or SystemExit in a thread: the batch stops, as in this one
            if exc is None:
                self.result.done.extend(job.outputs if job.outputs is not None else [job.dst])
                continue
            msg = _failure(exc)
            self.result.failed.append((job.src, msg))
            if self.on_error:
                self.on_error(job.src, msg, "".join(traceback.format_exception(exc)))


def run_jobs(
    jobs: list[Job],
    process: Callable[[Job, str], None],
    result: BatchResult | None = None,
    fmt: str | None = None,
    on_error: Callable[[Path, str, str], None] | None = None,
    progress: Callable[[Iterable[Job]], Iterable[Job]] = lambda it: it,
    prefetch: Callable[[Job], Any] | None = None,
    workers: int = 0,
    lanes: int = 0,
    in_lane: Callable[[Job], bool] = lambda job: False,
) -> BatchResult:
    """Run ``process(job, output format)`` on planned ``jobs``, recording into ``result`` (returned).

    With ``workers`` > 0, ``workers`` threads run ``prefetch(job)`` (decoding) up to ``workers``
    jobs ahead, for ``process`` to pick up with :meth:`Job.prefetched`, and the ``finish``
    functions ``process`` hands to :meth:`Job.defer` (encoding, writing), at most ``workers``
    of them pending. ``process`` itself runs in the calling thread, one job at a time, in input
    order.

    With ``lanes`` > 1, the jobs for which ``in_lane(job)`` is true (e.g. stills on a model that
    can run on several threads at once) run whole, ``process`` included, on ``lanes`` threads
    (``job.in_lane`` is set; no prefetch, and :meth:`Job.defer` runs its work at once), at most
    ``2 * lanes`` of them in flight; any other job waits for those in flight and runs in the
    calling thread. Either way results (``done``, ``failed``, ``on_error`` calls) are recorded in
    input order. If something that is not an Exception (KeyboardInterrupt) stops the batch, the
    work already handed to threads is completed, the rest is not started, and it propagates.
    """
    result = BatchResult() if result is None else result
    if lanes > 1 and sum(1 for job in jobs if in_lane(job)) > 1:
        return _run_lanes(jobs, process, _Outcomes(result, on_error), fmt, progress, lanes, in_lane)
    pool = ThreadPoolExecutor(workers, thread_name_prefix="tinct-io") if workers > 0 else None
    outcomes = _Outcomes(result, on_error)

    def start_prefetch(i: int) -> None:
        if pool is not None and prefetch is not None and i < len(jobs) and jobs[i]._ahead is None:
            jobs[i]._ahead = pool.submit(prefetch, jobs[i])

    for i in range(workers):
        start_prefetch(i)
    try:
        for i, job in enumerate(progress(jobs)):
            start_prefetch(i + workers)
            job._pool = pool
            outcomes.call(job, process, _format(job, fmt))
            job._ahead = None  # free the decoded image
            outcomes.record(block=outcomes.in_flight() > workers)
    except KeyboardInterrupt as e:
        e.batch_result = result  # type: ignore[attr-defined]  # what was finished, for the message
        raise
    finally:
        if pool is not None:  # interrupted: no new decodes, but the writes handed over finish
            for job in jobs:
                if job._ahead is not None:
                    job._ahead.cancel()
            pool.shutdown(wait=True)
        outcomes.record(block=False)  # after the pool: what finished, up to the first cancelled
    return result


def _format(job: Job, fmt: str | None) -> str:
    """The output format ``process`` is called with."""
    return job.fmt or ("PNG" if (job.medical or job.video) else guess_format(job.src, fmt))


def _run_lanes(
    jobs: list[Job],
    process: Callable[[Job, str], None],
    outcomes: _Outcomes,
    fmt: str | None,
    progress: Callable[[Iterable[Job]], Iterable[Job]],
    lanes: int,
    in_lane: Callable[[Job], bool],
) -> BatchResult:
    """:func:`run_jobs` with ``lanes`` threads that each run whole jobs."""
    pool = ThreadPoolExecutor(lanes, thread_name_prefix="tinct-lane")
    try:
        for job in progress(jobs):
            if in_lane(job):
                job.in_lane = True
                outcomes.add(job, pool.submit(process, job, _format(job, fmt)))
                outcomes.record(block=outcomes.in_flight() > 2 * lanes)
                continue
            while outcomes.pending:  # a job of another kind runs alone, in this thread
                outcomes.record(block=True)
            outcomes.call(job, process, _format(job, fmt))
            outcomes.record(block=False)
        while outcomes.pending:
            outcomes.record(block=True)
    except KeyboardInterrupt as e:
        e.batch_result = outcomes.result  # type: ignore[attr-defined]  # what was finished, for the message
        raise
    finally:  # jobs running finish (their writes are atomic); queued ones are cancelled
        pool.shutdown(wait=True, cancel_futures=True)
        outcomes.record(block=False)  # after the pool: what finished, up to the first cancelled
    return outcomes.result


__all__ = [
    "BatchResult",
    "Job",
    "SUFFIX",
    "default_lanes",
    "expand_inputs",
    "is_output_name",
    "plan_jobs",
    "plan_output",
    "run_batch",
    "run_jobs",
    "read_image",
]
