"""The ``tinct`` command line (layer 7, a surface): one file per command, shared option groups in
:mod:`tinct.cli.options`, the app and its helpers in :mod:`tinct.cli.app`.

``tinct = "tinct.cli:run"`` (pyproject) and ``python -m tinct.cli`` both start :func:`run`. Importing
this package imports typer, not torch: ``tinct --version`` and ``tinct --help`` answer at once.
"""

from __future__ import annotations

from tinct.cli import colorize, dataset, demo, evaluate, export, models, serve, train
from tinct.cli.app import app, guarded

app.command()(guarded(colorize.colorize))
app.command("colorize-dataset")(guarded(dataset.colorize_dataset))
app.command()(guarded(export.export))
app.command()(guarded(models.models))
app.command("eval")(guarded(evaluate.eval_))
app.command()(guarded(serve.serve))
app.command()(guarded(demo.demo))
app.command()(guarded(train.train))


def run() -> None:
    """The console script: run the ``tinct`` app on ``sys.argv``."""
    app()


__all__ = ["app", "run"]
