"""Colorize millions of images on a Ray cluster (``pip install 'tinct[cluster]'``).

    tinct colorize-dataset scans/ -o colored/ --actors 8                 # this machine
    RAY_ADDRESS=ray://head:10001 tinct colorize-dataset s3://bucket/a.jpg ... -o /mnt/shared/out --device cuda

:func:`colorize_dataset` plans the outputs on the driver exactly as ``tinct colorize`` does
(:func:`tinct.apps.batch.plan_jobs`: ``{stem}_color.{ext}``, sub-folders mirrored, existing outputs
skipped unless ``overwrite``), then runs a Ray Data pipeline: the planned (input, output) rows
become a dataset, and ``map_batches`` hands them to a pool of ``num_actors`` actors, each holding
one :class:`tinct.session.Session` (loaded once). An actor reads each input (a local or shared path,
or an object-store URI such as ``s3://``/``gs://``, read through pyarrow's filesystems as Ray
reads), decodes, colorizes (the one pipeline) and writes each output atomically with
:meth:`tinct.session.Session.colorize_file`, decoding and encoding in worker threads while its
model runs (:func:`tinct.apps.batch.run_jobs`, the code behind ``tinct colorize``). A bad file never
stops the run: it comes back as a failure with the same one-line message as the CLI's.

Outputs go to a folder every node can write (a local disk for one machine, a shared mount on a
cluster). Ray itself is found as Ray finds it: an already initialised Ray, else ``RAY_ADDRESS``
(a cluster started with ``ray start``), else a local Ray on this machine.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from tinct.apps.batch import SUFFIX, BatchResult, guess_format, plan_jobs, plan_output
from tinct.registry import DEFAULT_MODEL


def is_uri(path: str | Path) -> bool:
    """An object-store or remote URI (``scheme://...``) rather than a local path."""
    return "://" in str(path)


def plan_dataset(
    inputs: Iterable[str | Path],
    out_dir: str | Path,
    fmt: str | None = None,
    suffix: str = SUFFIX,
    overwrite: bool = False,
    recursive: bool = False,
) -> tuple[list[dict[str, str]], BatchResult]:
    """Rows ``{"src", "dst"}`` to colorize, and a BatchResult with what is skipped or failed.

    Local inputs (files, folders, globs) are planned by :func:`tinct.apps.batch.plan_jobs`; URIs are
    taken one object each, their output named from the object's name in ``out_dir``. Medical and
    video inputs are reported as failures (``tinct colorize`` handles DICOM, NIfTI, FITS, video).
    """
    inputs = [str(i) for i in inputs]
    out = Path(out_dir)
    local = [i for i in inputs if not is_uri(i)]
    jobs, result = plan_jobs(local, out, recursive, overwrite, fmt, suffix)
    rows: list[dict[str, str]] = []
    for job in jobs:
        if job.medical or job.video:
            result.failed.append((job.src, "medical and video inputs are not supported here; use tinct colorize"))
        else:
            rows.append({"src": str(job.src), "dst": str(job.dst)})
    for uri in (i for i in inputs if is_uri(i)):
        name = Path(urlparse(uri).path)
        f = guess_format(name, fmt)
        dst = plan_output(name, name.parent, out, f, suffix)
        if dst.exists() and not overwrite:
            result.skipped.append(uri)
        else:
            rows.append({"src": uri, "dst": str(dst)})
    return rows, result


def read_bytes(src: str) -> bytes:
    """The bytes of a local path or of a URI (through pyarrow's filesystems, as Ray reads)."""
    if not is_uri(src):
        return Path(src).read_bytes()
    from pyarrow import fs

    filesystem, path = fs.FileSystem.from_uri(src)
    with filesystem.open_input_stream(path) as f:
        return f.read()


class Colorizer:
    """Ray actor: one Session, loaded once; colorizes and writes a batch of rows.

    Each batch runs through :func:`tinct.apps.batch.run_jobs`, as ``tinct colorize`` does: worker
    threads read and decode the next images and encode and write finished ones while the model
    runs. Returns the rows' ``src`` and ``dst`` with ``error`` ("" when written).
    """

    def __init__(
        self,
        model: str,
        device: str,
        backend: str,
        working_size: int | None,
        fmt: str | None,
        quality: int,
        max_pixels: int | None,
        io_threads: int,
        options: dict[str, Any],
    ):
        from tinct.api import load_model

        self.session = load_model(model, device=device, working_size=working_size, backend=backend, **options)
        self.fmt, self.quality, self.max_pixels, self.io_threads = fmt, quality, max_pixels, io_threads

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from tinct.apps.batch import Job, run_jobs
        from tinct.io import read_image

        sources = [str(s) for s in batch["src"]]
        jobs = [
            Job(Path(urlparse(s).path) if is_uri(s) else Path(s), Path(str(d)))
            for s, d in zip(sources, batch["dst"], strict=True)
        ]
        uri = {id(job): s for job, s in zip(jobs, sources, strict=True) if is_uri(s)}

        def prefetch(job: Job):
            source = read_bytes(uri[id(job)]) if id(job) in uri else job.src
            return read_image(source, max_pixels=self.max_pixels)

        def process(job: Job, fmt: str) -> None:
            self.session.colorize_file(
                job.src, job.dst, fmt=fmt, quality=self.quality, image=job.prefetched(), defer=job.defer
            )

        result = run_jobs(jobs, process, fmt=self.fmt, prefetch=prefetch, workers=self.io_threads)
        errors = {id(src): msg for src, msg in result.failed}  # failures name their job's src object
        return {
            "src": batch["src"],
            "dst": batch["dst"],
            "error": np.array([errors.get(id(job.src), "") for job in jobs], dtype=object),
        }


def colorize_dataset(
    inputs: str | Path | Sequence[str | Path],
    out_dir: str | Path,
    model: str = DEFAULT_MODEL,
    num_actors: int = 2,
    batch_size: int = 16,
    device: str = "cpu",
    *,
    backend: str = "auto",
    working_size: int | None = None,
    fmt: str | None = None,
    quality: int = 95,
    suffix: str = SUFFIX,
    overwrite: bool = False,
    recursive: bool = False,
    max_pixels: int | None = None,
    cpus_per_actor: float = 1.0,
    **model_options: Any,
) -> BatchResult:
    """Colorize ``inputs`` (a folder, a path or URI, or a list of them) into ``out_dir`` with Ray Data.

    ``num_actors`` actors each hold a Session on ``device`` ("cpu", "cuda": one GPU per actor)
    with ``cpus_per_actor`` CPUs (its torch/onnxruntime threads; as many I/O threads, at least
    2, decode and write); rows go to them ``batch_size`` at a time. Returns a BatchResult
    (``done`` output paths, ``skipped``, ``failed`` (input, message)), ordered as the inputs were
    planned; its ``summary()`` is the CLI's line.
    Raises ImportError (with the install command) without Ray.
    """
    try:
        import ray
        import ray.data
    except ImportError:
        raise ImportError("colorize-dataset needs Ray Data: pip install 'tinct[cluster]'") from None

    from tinct.registry import resolve_spec

    resolve_spec(model)  # an unknown model (or unreadable weights file) fails here, not in every actor
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    rows, result = plan_dataset(inputs, out_dir, fmt, suffix, overwrite, recursive)
    if not rows:
        return result
    if not ray.is_initialized():
        ray.init(address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False)
    ds = ray.data.from_items(rows).map_batches(
        Colorizer,
        fn_constructor_kwargs={
            "model": model,
            "device": device,
            "backend": backend,
            "working_size": working_size,
            "fmt": fmt,
            "quality": quality,
            "max_pixels": max_pixels,
            "io_threads": max(2, math.ceil(cpus_per_actor)),
            "options": model_options,
        },
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(size=num_actors),
        num_cpus=cpus_per_actor,
        num_gpus=1 if device.startswith("cuda") else 0,
    )
    order = {row["src"]: i for i, row in enumerate(rows)}
    outcomes = sorted(ds.iter_rows(), key=lambda r: order[str(r["src"])])
    for r in outcomes:
        src = str(r["src"])
        if r["error"]:
            result.failed.append((src if is_uri(src) else Path(src), str(r["error"])))
        else:
            result.done.append(Path(str(r["dst"])))
    return result


__all__ = ["Colorizer", "colorize_dataset", "is_uri", "plan_dataset", "read_bytes"]
