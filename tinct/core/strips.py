"""Bounded memory at full resolution: images are worked on in horizontal strips of about
:data:`STRIP_PIXELS` pixels, so peak memory is a small multiple of one strip, whatever the image size.

Every strip-wise computation in tinct (colour conversion, guided upsampling, the classical methods,
the metrics) takes its strips from here; results do not depend on the strip size.
"""

from __future__ import annotations

from collections.abc import Iterator

STRIP_PIXELS = 1 << 20  #: pixels per strip of full-resolution work (bounds peak memory)


def rows_per_strip(width: int) -> int:
    """Rows in a strip of an image ``width`` pixels wide: about :data:`STRIP_PIXELS` pixels, at least one row."""
    return max(1, STRIP_PIXELS // max(1, width))


def row_strips(height: int, width: int) -> Iterator[slice]:
    """Consecutive row slices covering ``height`` rows, each of at most :data:`STRIP_PIXELS` pixels (>= 1 row)."""
    rows = rows_per_strip(width)
    for y in range(0, height, rows):
        yield slice(y, min(height, y + rows))
