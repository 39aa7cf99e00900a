"""Option groups: options that belong together are declared once, as a dataclass whose fields are
typer options, and a command takes the group as one parameter.

    @grouped
    def colorize(inputs: ..., files: FileOptions, medical: MedicalOptions) -> None: ...

:func:`grouped` spreads each group's fields into the command's signature (so ``--recursive``,
``--window``... are ordinary flags) and gathers them back into the dataclass when the command runs.
``colorize`` and ``colorize-dataset`` share :class:`FileOptions`; the rest belong to ``colorize``.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Optional

import typer


def grouped(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` with every parameter annotated by an option-group dataclass replaced, for typer, by
    that dataclass's fields (each an option, with its default); the group is rebuilt on each call."""
    hints = typing.get_type_hints(command, include_extras=True)
    params: list[inspect.Parameter] = []
    groups: dict[str, type] = {}
    for p in inspect.signature(command).parameters.values():
        kind = hints.get(p.name)
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            groups[p.name] = kind
            fields = typing.get_type_hints(kind, include_extras=True)
            for f in dataclasses.fields(kind):
                _in_panel(fields[f.name], getattr(kind, "panel", None))
                params.append(
                    inspect.Parameter(f.name, p.POSITIONAL_OR_KEYWORD, default=f.default, annotation=fields[f.name])
                )
        else:
            params.append(p.replace(annotation=hints.get(p.name, p.annotation)))

    @functools.wraps(command)
    def run(**values: Any) -> Any:
        for name, kind in groups.items():
            values[name] = kind(**{f.name: values.pop(f.name) for f in dataclasses.fields(kind)})
        return command(**values)

    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params}
    return run


def _in_panel(annotation: Any, panel: str | None) -> None:
    """Show the typer option in ``annotation`` under the ``--help`` panel ``panel`` (a group's ``panel``)."""
    for meta in getattr(annotation, "__metadata__", ()):
        if panel and hasattr(meta, "rich_help_panel") and meta.rich_help_panel is None:
            meta.rich_help_panel = panel


@dataclass
class FileOptions:
    """Which files, and how outputs are named and written: ``colorize`` and ``colorize-dataset`` alike."""

    panel: ClassVar[str] = "Input and output"

    size: Annotated[Optional[int], typer.Option(help="Working size (short side the model sees).")] = None
    recursive: Annotated[bool, typer.Option("-r", "--recursive", help="Descend into sub-folders.")] = False
    overwrite: Annotated[bool, typer.Option(help="Replace existing outputs (default: skip them).")] = False
    fmt: Annotated[Optional[str], typer.Option("--format", help="Output format: jpg, png, tif, webp, bmp.")] = None
    quality: Annotated[int, typer.Option(min=1, max=100, help="JPEG/WebP quality.")] = 95
    suffix: Annotated[str, typer.Option(help="Appended to each output's file name.")] = "_color"
    max_pixels: Annotated[Optional[int], typer.Option(min=1, help="Refuse images with more pixels (bomb guard).")] = (
        None
    )


@dataclass
class GuidanceOptions:
    """User guidance of still images: colour from scribbles, a reference or a LUT, or hints to a hint model."""

    panel: ClassVar[str] = "Guidance (still images)"

    scribbles: Annotated[
        Optional[Path], typer.Option(help="Colour strokes over the image (same size) to propagate (Levin et al.).")
    ] = None
    reference: Annotated[Optional[Path], typer.Option(help="Transfer the colours of this reference image.")] = None
    method: Annotated[str, typer.Option(help="Reference transfer: reinhard or welsh.")] = "reinhard"
    lut: Annotated[
        Optional[str],
        typer.Option(help="Pseudo-colour look-up table: a name (viridis, magma, ...) or a CSV/JSON file."),
    ] = None
    hints: Annotated[
        Optional[Path],
        typer.Option(
            help='Colour points for a hint model: a JSON list of {"x": .., "y": .., "color": "#rrggbb"} '
            'or \\[x, y, "#rrggbb"], in input pixels.'  # \\[: rich markup would swallow [...]
        ),
    ] = None


@dataclass
class MedicalOptions:
    """DICOM, NIfTI and FITS inputs: windowing, slicing, colour mode, de-identification."""

    panel: ClassVar[str] = "Medical (DICOM, NIfTI, FITS)"

    window: Annotated[str, typer.Option(help="Medical: DICOM/NIfTI window: auto, full or CENTER,WIDTH.")] = "auto"
    axis: Annotated[int, typer.Option(help="Medical: NIfTI slicing axis.")] = 2
    mode: Annotated[str, typer.Option(help="Medical: realistic (a model) or pseudo (look-up table colour).")] = (
        "realistic"
    )
    anonymize: Annotated[
        bool,
        typer.Option(
            help="Medical: de-identify outputs (DICOM basic profile), named anon-<16 hex>_color.*, never "
            "after the input (which may name the patient); --anonymize-map keeps the list."
        ),
    ] = False
    anonymize_map: Annotated[
        Optional[Path],
        typer.Option(
            help="With --anonymize: append 'input,output' CSV lines here (it links outputs to patients: "
            "keep it private)."
        ),
    ] = None
    stretch: Annotated[str, typer.Option(help="FITS stretch: linear, asinh or log.")] = "linear"


@dataclass
class VideoOptions:
    """Video inputs: the part to colorize, the encoder's quality, temporal stabilisation."""

    panel: ClassVar[str] = "Video"

    start: Annotated[Optional[float], typer.Option(help="Video: start at this second.")] = None
    end: Annotated[Optional[float], typer.Option(help="Video: stop at this second.")] = None
    crf: Annotated[int, typer.Option(min=0, max=51, help="Video: H.264 quality (lower is better).")] = 18
    stabilize: Annotated[bool, typer.Option(help="Video: smooth colour along motion (no flicker).")] = True
    accept_truncated: Annotated[
        bool, typer.Option(help="Video: keep the frames of an input that ends early (default: it fails).")
    ] = False
