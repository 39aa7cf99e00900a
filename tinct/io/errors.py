"""The errors of reading and writing files: one line each, so a batch can report a bad file and go on."""

from __future__ import annotations


class ImageError(Exception):
    """An input that cannot be read, or an output that cannot be written. One-line message."""


class ImageTooLargeError(ImageError):
    """More pixels than the limit (checked from the header, before decoding: bombs)."""


class NotAnImageError(ImageError):
    """Not an image file at all (or a format the reader cannot read)."""


def one_line(e: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its type's name when it has none), at most ``limit`` characters."""
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:limit]
