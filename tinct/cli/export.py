"""``tinct export``: a model's inference graph for other runtimes (ONNX, :mod:`tinct.backends.onnx`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from tinct.cli.app import fail
from tinct.registry import DEFAULT_MODEL


def export(
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write (e.g. lite.onnx).")],
    model: Annotated[str, typer.Option("-m", "--model", help="Model name (see `tinct models`).")] = DEFAULT_MODEL,
    fmt: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    opset: Annotated[int, typer.Option(help="ONNX opset, 13 to 20.")] = 17,
    temperature: Annotated[
        Optional[float], typer.Option(help="Annealed-mean temperature to bake in (classification models).")
    ] = None,
) -> None:
    """Export a model's inference graph (L -> ab, decoding included) for other runtimes."""
    if fmt.lower() != "onnx":
        fail(f"unknown export format {fmt!r}; supported: onnx")
    if output.suffix.lower() != ".onnx":  # e.g. `-o photo.png`: never replace some other file with a graph
        fail(f"--output {output}: an ONNX export is written to a file ending in .onnx")
    from tinct.backends.onnx import OnnxUnavailableError, export_onnx
    from tinct.backends.torch import ModelWeightsError
    from tinct.registry import UnknownModelError

    try:
        path = export_onnx(model, output, opset=opset, temperature=temperature)
    except (UnknownModelError, ModelWeightsError, OnnxUnavailableError, ValueError) as e:
        fail(str(e))
    typer.echo(str(path))
