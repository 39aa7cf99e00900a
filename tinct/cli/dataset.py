"""``tinct colorize-dataset``: a dataset on Ray (:mod:`tinct.apps.cluster`), named, skipped and reported as
``tinct colorize`` does."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tinct.cli.app import err, fail, failure_line
from tinct.cli.options import FileOptions, grouped
from tinct.registry import DEFAULT_MODEL


@grouped
def colorize_dataset(
    inputs: Annotated[
        Optional[list[str]], typer.Argument(help="Folders, files, globs or object-store URIs (s3://, gs://, ...).")
    ] = None,
    output: Annotated[Path, typer.Option("-o", "--output", help="Output folder every Ray node can write.")] = Path(
        "colored"
    ),
    from_list: Annotated[
        Optional[Path], typer.Option("--from-list", help="A text file of inputs, one path or URI a line.")
    ] = None,
    model: Annotated[str, typer.Option("-m", "--model", help="Model name (see `tinct models`).")] = DEFAULT_MODEL,
    device: Annotated[str, typer.Option(help="cpu, or cuda (one GPU per actor).")] = "cpu",
    backend: Annotated[str, typer.Option(help="onnx, torch or auto (as for colorize).")] = "auto",
    actors: Annotated[int, typer.Option(min=1, help="Model actors (each loads the model once).")] = 2,
    cpus_per_actor: Annotated[float, typer.Option(help="CPUs (threads) per actor.")] = 1.0,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per actor call.")] = 16,
    files: FileOptions = FileOptions(),
) -> None:
    """Colorize a dataset on Ray (this machine, or the cluster in RAY_ADDRESS); same naming,
    skipping and failure lines as `colorize`. Needs `pip install 'tinct\\[cluster]'`. Exit code 1 if any failed."""
    items = list(inputs or [])
    if from_list is not None:
        items += [ln.strip() for ln in from_list.read_text().splitlines() if ln.strip()]
    if not items:
        fail("give inputs, or --from-list FILE")
    if not files.suffix:
        fail("an empty --suffix is not allowed here (inputs are never overwritten)")
    from tinct.apps.batch import check_suffix

    try:
        check_suffix(files.suffix)
    except ValueError as e:
        fail(str(e))
    from tinct.registry import UnknownModelError

    try:
        from tinct.apps.cluster import colorize_dataset as run_dataset

        result = run_dataset(
            items,
            output,
            model,
            num_actors=actors,
            batch_size=batch_size,
            device=device,
            backend=backend,
            working_size=files.size,
            fmt=files.fmt,
            quality=files.quality,
            suffix=files.suffix,
            overwrite=files.overwrite,
            recursive=files.recursive,
            max_pixels=files.max_pixels,
            cpus_per_actor=cpus_per_actor,
        )
    except (ImportError, UnknownModelError, ValueError) as e:
        fail(str(e))
    for path, msg in result.failed:
        err(failure_line(path, msg))
    err(result.summary())
    if result.failed:
        raise typer.Exit(1)
