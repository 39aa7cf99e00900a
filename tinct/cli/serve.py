"""``tinct serve``: the web page and the REST API (:mod:`tinct.server`)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from tinct.cli.app import fail
from tinct.registry import DEFAULT_MEDICAL_MODEL, DEFAULT_MODEL


def serve(
    host: Annotated[str, typer.Option(help="Address to bind (0.0.0.0 exposes it to the network).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free one).")] = 8000,
    model: Annotated[
        Optional[str],
        typer.Option(
            "-m",
            "--model",
            help="Default model: a registry name or a model.safetensors tinct train wrote (default: "
            f"{DEFAULT_MODEL}; {DEFAULT_MEDICAL_MODEL} for DICOM, NIfTI and FITS uploads, as tinct colorize).",
        ),
    ] = None,
    device: Annotated[str, typer.Option()] = "auto",
    workers: Annotated[int, typer.Option(min=1, help="Server processes (each loads the model once).")] = 1,
    queue_size: Annotated[int, typer.Option(min=1, help="Requests queued or running before 503.")] = 8,
    timeout: Annotated[float, typer.Option(help="Per-request time limit, seconds.")] = 60.0,
    max_body_mb: Annotated[float, typer.Option(help="Largest upload, MB.")] = 25.0,
    max_pixels: Annotated[int, typer.Option(help="Largest image, pixels (bomb guard).")] = 40_000_000,
    token: Annotated[
        Optional[str],
        typer.Option(
            envvar="TINCT_TOKEN",
            show_envvar=True,
            help="Access token every API call must send (Authorization: Bearer ...); the page asks for it once. "
            "Prefer the environment variable: a command line is visible to other users.",
        ),
    ] = None,
) -> None:
    """Serve the web page and the REST API (FastAPI + uvicorn)."""
    try:
        from tinct.server import run_server
    except ImportError as e:
        fail(f"the server needs the 'serve' extra: pip install 'tinct[serve]' ({e})")
    from tinct.registry import UnknownModelError

    try:
        run_server(
            host,
            port,
            model=model,
            device=device,
            workers=workers,
            queue_size=queue_size,
            timeout_s=timeout,
            max_body_bytes=int(max_body_mb * 2**20),
            max_pixels=max_pixels,
            token=token,
        )
    except UnknownModelError as e:
        fail(f"{e} (or a model.safetensors file that tinct train wrote)")
