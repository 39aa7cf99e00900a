"""``tinct demo``: the bundled demo photos, colorized, each with a before/after image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tinct.cli.app import err, load_session
from tinct.registry import DEFAULT_MODEL


def demo(
    output: Annotated[Path, typer.Option("-o", "--output", help="Folder for the results.")] = Path("tinct-demo"),
    model: Annotated[str, typer.Option("-m", "--model")] = DEFAULT_MODEL,
    device: Annotated[str, typer.Option()] = "auto",
) -> None:
    """Colorize the bundled demo photos into OUTPUT, with a before/after image of each."""
    import numpy as np
    from PIL import Image

    from tinct.io.images import read_image, write_image

    demo_dir = Path(__file__).resolve().parents[1] / "demo"
    files = sorted(p for p in demo_dir.glob("*.jpg"))
    session = load_session(model, device, None)
    output.mkdir(parents=True, exist_ok=True)
    for src in files:
        dst = session.colorize_file(src, output / f"{src.stem}_color.jpg")
        before = read_image(src).pixels
        before = np.dstack([before] * 3) if before.ndim == 2 else before
        after = np.asarray(Image.open(dst).convert("RGB"))
        gap = np.full((before.shape[0], 8, 3), 255, np.uint8)
        write_image(output / f"{src.stem}_before_after.jpg", np.hstack([before, gap, after]), quality=90)
        typer.echo(str(dst))
    err(f"{len(files)} demo images colorized into {output}/ (see *_before_after.jpg)")
