"""``tinct models``: the registry (:mod:`tinct.registry`) as a table or JSON."""

from __future__ import annotations

from typing import Annotated

import typer


def models(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """List the models in the registry, with weights size and validation scores."""
    import json

    from tinct.registry import model_rows

    rows = model_rows()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    t = Table(title="tinct models (scores: ../shared/data/val, see docs/MODELS.md)")
    for col in ("name", "params", "weights", "size", "val PSNR", "gain vs gray", "colourfulness", "description"):
        t.add_column(col)

    def fmt(v, spec="{:.2f}"):
        return "-" if v is None else spec.format(v)

    for r in rows:
        t.add_row(
            r["name"] + (" *" if r["default"] else ""),
            fmt(r["parameters"], "{:,}"),
            fmt(r["weights_bytes"] and r["weights_bytes"] / 1e6, "{:.1f} MB") if r["weights_bytes"] else "missing",
            str(r["working_size"]),
            fmt(r["val_psnr"]),
            fmt(r["val_psnr_gain"], "{:+.2f} dB"),
            fmt(r["val_colourfulness_ratio"]),
            r["description"],
        )
    Console().print(t)
    typer.echo("* default model", err=True)
