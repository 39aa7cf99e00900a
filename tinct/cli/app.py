"""The ``tinct`` typer app, its ``--version`` and what every command shares: one-line errors and loading
a model. Heavy imports (torch) happen inside commands, so ``tinct --version`` and ``tinct --help``
answer at once."""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

import typer

from tinct.version import __version__

app = typer.Typer(
    name="tinct",
    help="Colorize grayscale images: old photos, film, medical and scientific images.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def err(msg: str) -> None:
    """Print ``msg`` on stderr."""
    typer.echo(msg, err=True)


def fail(msg: str, code: int = 2) -> NoReturn:
    """Print ``error: msg`` on stderr and exit with ``code`` (2: a usage error)."""
    err(f"error: {msg}")
    raise typer.Exit(code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tinct {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """tinct: colorize grayscale images."""


def load_session(
    model: str,
    device: str,
    size: int | None,
    temperature: float | None = None,
    debug: bool = False,
    backend: str = "auto",
) -> Any:
    """``tinct.api.load_model`` (looked up at call time), or exit 2 with its one-line error."""
    from tinct import api
    from tinct.registry import UnknownModelError

    try:
        return api.load_model(model, device=device, working_size=size, backend=backend, temperature=temperature)
    except (UnknownModelError, api.ModelWeightsError, RuntimeError, ValueError) as e:
        if debug:
            raise
        fail(str(e))
