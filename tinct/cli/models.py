"""``tinct models``: the registry (:mod:`tinct.registry`) as a table, JSON or CSV.

On a terminal: a table that fits 80 columns (descriptions in ``--format json|csv``). Piped, or with
``--format json|csv``: full, machine-readable rows (CSV by default when piped), never cut.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

FORMATS = ("table", "json", "csv")
TITLE = "tinct models (scores on tinct's validation set of photos; * default, + default for DICOM, NIfTI, FITS)"


def models(
    fmt: Annotated[
        Optional[str],
        typer.Option("--format", help="table, json or csv (default: table on a terminal, csv when piped)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """List the models in the registry, with weights size and validation scores."""
    from tinct.cli.app import fail
    from tinct.registry import model_rows

    fmt = "json" if as_json else (fmt or ("table" if sys.stdout.isatty() else "csv")).lower()
    if fmt not in FORMATS:
        fail(f"--format {fmt}: use table, json or csv")
    rows = model_rows()
    if fmt == "json":
        import json

        typer.echo(json.dumps(rows, indent=2))
    elif fmt == "csv":
        typer.echo(rows_csv(rows), nl=False)
    else:
        typer.echo(rows_table(rows), nl=False)


def rows_csv(rows: list[dict[str, Any]]) -> str:
    """Every field of every row, as CSV with a header line (full names and numbers)."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else [], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def rows_table(rows: list[dict[str, Any]], width: int = 80) -> str:
    """The rows as a text table at most ``width`` columns wide (no description; never wraps a name)."""
    from rich.console import Console
    from rich.table import Table

    def num(v: Any, spec: str = "{:.2f}") -> str:
        return "-" if v is None else spec.format(v)

    t = Table(title=TITLE, title_justify="left")
    for col in ("name", "params", "weights", "size", "PSNR", "gain", "colour"):
        t.add_column(col, no_wrap=True, justify="left" if col == "name" else "right")
    for r in rows:
        t.add_row(
            r["name"] + (" *" if r["default"] else "") + (" +" if r["scan_default"] else ""),
            num(r["parameters"], "{:,}"),
            num(r["weights_bytes"] / 1e6, "{:.1f} MB") if r["weights_bytes"] else "missing",
            str(r["working_size"]),
            num(r["val_psnr"]),
            num(r["val_psnr_gain"], "{:+.2f} dB"),
            num(r["val_colourfulness_ratio"]),
        )
    console = Console(width=width, record=True, file=__import__("io").StringIO(), color_system=None)
    console.print(t)
    return "".join(line.rstrip() + "\n" for line in console.export_text().splitlines())
