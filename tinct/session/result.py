"""What colorizing one still image gives: :class:`ColorizedImage`, the colour and all that goes with it
into a file (alpha, provenance note, uncertainty map, the source's EXIF and resolution)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from tinct.io.images import LoadedImage, encode_image, output_format


@dataclass
class ColorizedImage:
    """One colorized image (:meth:`tinct.session.Session.colorize_image`).

    ``rgb``: uint8 (H, W, 3); ``alpha``: the source's, passed through (uint8 (H, W) or None);
    ``note``: the provenance written into the output's metadata; ``uncertainty``: float32 (H, W) in
    [0, 1] when asked for; ``source``: the decoded input (format, EXIF, resolution).
    """

    rgb: np.ndarray
    alpha: np.ndarray | None
    note: str
    uncertainty: np.ndarray | None = None
    source: LoadedImage | None = None

    def output_format(self, requested: str | None = None) -> str:
        """The Pillow format to write: ``requested`` (a name or extension), else the source's where sensible."""
        return output_format(self.source.format if self.source is not None else "PNG", requested)

    def encode(self, fmt: str, quality: int = 95) -> bytes:
        """The encoded file in Pillow format ``fmt``: alpha, provenance note, the source's EXIF and dpi kept.

        What the CLI writes and the server answers (:func:`tinct.io.encode_image`).
        """
        src = self.source
        return encode_image(
            self.rgb,
            fmt,
            alpha=self.alpha,
            quality=quality,
            exif=src.exif if src is not None else None,
            note=self.note,
            dpi=src.info.get("dpi") if src is not None else None,
        )

    def to_pil(self) -> Image.Image:
        """RGB, or RGBA when the source had alpha."""
        out = Image.fromarray(self.rgb, "RGB")
        if self.alpha is not None:
            out.putalpha(Image.fromarray(self.alpha, "L"))
        return out

    def to_array(self, dtype: np.dtype | type | None = None) -> np.ndarray:
        """H x W x 3, or x 4 when the source had alpha: uint8 by default, or the ``dtype`` of the input
        array in its range (uint16: 0..65535; float: [0, 1], that float type)."""
        out = self.rgb if self.alpha is None else np.dstack([self.rgb, self.alpha])
        kind = np.dtype(dtype) if dtype is not None else np.dtype(np.uint8)
        if kind == np.uint16:
            return out.astype(np.uint16) * 257
        if np.issubdtype(kind, np.floating):
            return (out / 255.0).astype(kind)
        return out
