"""The ``tinct`` command line (layer 7, a surface): one file per command, shared option groups in
:mod:`tinct.cli.options`, the app and its helpers in :mod:`tinct.cli.app`.

``tinct = "tinct.cli:run"`` (pyproject) and ``python -m tinct.cli`` both start :func:`run`. Importing
this package imports typer, not torch: ``tinct --version`` and ``tinct --help`` answer at once.
"""

from __future__ import annotations

from tinct.cli import colorize, dataset, demo, evaluate, export, models, serve, train
from tinct.cli.app import app

app.command()(colorize.colorize)
app.command("colorize-dataset")(dataset.colorize_dataset)
app.command()(export.export)
app.command()(models.models)
app.command("eval")(evaluate.eval_)
app.command()(serve.serve)
app.command()(demo.demo)
app.command()(train.train)


def run() -> None:
    """The console script: run the ``tinct`` app on ``sys.argv``."""
    app()


__all__ = ["app", "run"]
