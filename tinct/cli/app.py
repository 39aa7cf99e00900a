"""The ``tinct`` typer app, its ``--version`` and what every command shares: one-line errors and loading
a model. Heavy imports (torch) happen inside commands, so ``tinct --version`` and ``tinct --help``
answer at once."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
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


def failure_line(path: Any, msg: str) -> str:
    """``failed: PATH: MSG``, the line a batch prints for an input it could not do; a reader's message
    that starts with the file's name already (the medical readers name it for the server) or ends
    with it (the video reader) is not made to say it twice."""
    name = Path(str(path)).name
    if msg.startswith(f"{name}: "):
        msg = msg[len(name) + 2 :]
    if msg.endswith(f": {name}"):
        msg = msg[: -len(name) - 2]
    return f"failed: {path}: {msg}"


def fail(msg: str, code: int = 2) -> NoReturn:
    """Print ``error: msg`` on stderr and exit with ``code`` (2: a usage error)."""
    err(f"error: {msg}")
    raise typer.Exit(code)


def interrupted(e: KeyboardInterrupt) -> NoReturn:
    """Ctrl-C: say how many inputs were finished (a batch attaches its result) and exit 130."""
    result = getattr(e, "batch_result", None)
    done = len(result.done) if result is not None else 0
    err(f"interrupted: {done} done, rerun to resume")
    raise typer.Exit(130)


_CLICK_EXITS = ("Exit", "Abort", "ClickException")  # by name: typer may bundle its own click


def guarded(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` with every error as one line: ``error: ...`` on stderr and exit 1 (a missing
    optional package names its extra), Ctrl-C as :func:`interrupted` (exit 130). With ``--debug``
    (where the command has it) the traceback is shown instead."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt as e:
            interrupted(e)
        except ModuleNotFoundError as e:
            if kwargs.get("debug"):
                raise
            from tinct.io.errors import missing_extra

            fail(missing_extra(e), 1)
        except Exception as e:  # noqa: BLE001 - a sentence, not a traceback
            if kwargs.get("debug") or any(c.__name__ in _CLICK_EXITS for c in type(e).__mro__):
                raise  # typer's and click's own exits and usage errors
            from tinct.io.errors import one_line

            fail(f"{one_line(e)} (rerun with --debug for details)" if "debug" in kwargs else one_line(e), 1)

    return run


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
    vivid: float | None = None,
) -> Any:
    """``tinct.api.load_model`` (looked up at call time), or exit 2 with its one-line error."""
    from tinct import api
    from tinct.registry import UnknownModelError

    options = {"temperature": temperature, "vivid": vivid}
    try:
        return api.load_model(model, device=device, working_size=size, backend=backend, **options)
    except (UnknownModelError, api.ModelWeightsError, RuntimeError, ValueError) as e:
        if debug:
            raise
        fail(str(e))
