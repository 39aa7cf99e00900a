"""Batch colorization of files and folders: what `tinct colorize` does with many inputs.

Inputs are files, folders (optionally recursive) and glob patterns. Each output goes to
``{stem}{suffix}.{ext}`` in the output folder (beside the input by default; with a folder input
and an output folder, the sub-folder layout is mirrored). Existing outputs are skipped unless
``overwrite``, writes are atomic, and one bad file never stops the batch: an interrupted run,
started again, finishes the rest.
"""

from __future__ import annotations

import glob
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tinct.io import IMAGE_EXTENSIONS, ImageError, extension_for, output_format, read_image

SUFFIX = "_color"


@dataclass
class Job:
    src: Path
    dst: Path
    medical: bool = False  #: DICOM file/folder, NIfTI or FITS: ``dst`` is an output stem


def _medical_kind(p: Path, scan: bool) -> str | None:
    """Medical kind of ``p`` (see tinct.medical.medical_kind); while scanning a folder, by name only."""
    from tinct import medical

    if scan:
        ext = medical._suffix(p)
        return (
            "medical"
            if ext in (*medical.DICOM_EXTENSIONS, *medical.NIFTI_EXTENSIONS, *medical.FITS_EXTENSIONS)
            else None
        )
    return medical.medical_kind(p)


def _medical_stem(p: Path) -> str:
    from tinct import medical

    ext = medical._suffix(p)
    return p.name[: -len(ext)] if p.is_file() and p.name.lower().endswith(ext) else p.name


@dataclass
class BatchResult:
    done: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)

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
                if not f.is_file() or f.name.startswith(".") or f.stem.endswith(suffix):
                    continue
                if f.suffix.lower() in IMAGE_EXTENSIONS or _medical_kind(f, scan=True):
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
    from tinct.io import FORMAT_BY_EXTENSION

    if requested:
        return output_format("PNG", requested)
    return output_format(FORMAT_BY_EXTENSION.get(src.suffix.lower(), "GIF" if src.suffix.lower() == ".gif" else "PNG"))


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
) -> BatchResult:
    """Colorize every input with ``process(job, fmt)``; never stops at a bad file.

    Images get ``job.dst`` = the output file; medical inputs (``job.medical``) an output stem
    (``{out}/{stem}_color``): they are skipped when any output with that stem exists.

    ``on_error(path, one_line_message, traceback_text)`` is called for each failure.
    """
    result = BatchResult()
    files, missing = expand_inputs(inputs, recursive, suffix)
    for p, why in missing:
        result.failed.append((p, why))
        if on_error:
            on_error(p, why, "")
    out = Path(out_dir) if out_dir is not None else None
    jobs: list[Job] = []
    for src, base in files:
        if _medical_kind(src, scan=False):
            stem = plan_output(src, base, out, "PNG", suffix).parent / f"{_medical_stem(src)}{suffix}"
            if not overwrite and any(stem.parent.glob(glob.escape(stem.name) + "*")):
                result.skipped.append(src)
            else:
                jobs.append(Job(src, stem, medical=True))
            continue
        f = guess_format(src, fmt)
        dst = plan_output(src, base, out, f, suffix)
        if dst.resolve() == src.resolve():
            result.failed.append((src, "output would overwrite the input"))
            continue
        if dst.exists() and not overwrite:
            result.skipped.append(src)
            continue
        jobs.append(Job(src, dst))
    for job in progress(jobs):
        try:
            process(job, "PNG" if job.medical else guess_format(job.src, fmt))
            result.done.append(job.dst)
        except (ImageError, ValueError) as e:
            result.failed.append((job.src, str(e)))
            if on_error:
                on_error(job.src, str(e), traceback.format_exc())
        except Exception as e:  # noqa: BLE001 - one bad file must not stop a batch
            msg = f"{type(e).__name__}: {e}"
            result.failed.append((job.src, msg))
            if on_error:
                on_error(job.src, msg, traceback.format_exc())
    return result


__all__ = ["BatchResult", "Job", "SUFFIX", "expand_inputs", "plan_output", "run_batch", "read_image"]
