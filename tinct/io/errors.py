"""The errors of reading and writing files: one line each, so a batch can report a bad file and go on."""

from __future__ import annotations


class ImageError(Exception):
    """An input that cannot be read, or an output that cannot be written. One-line message."""


class WriteError(ImageError, OSError):
    """An output that cannot be written (:func:`tinct.io.files.atomic_write_bytes`): an :class:`ImageError`
    for a batch that reports a bad file and goes on, an :class:`OSError` for a cache that shrugs it off."""


class ImageTooLargeError(ImageError):
    """More pixels than the limit (checked from the header, before decoding: bombs)."""


class NotAnImageError(ImageError):
    """Not an image file at all (or a format the reader cannot read)."""


def one_line(e: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (its type's name when it has none), at most ``limit`` characters."""
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:limit]


#: the extra that installs each optional module: what a missing one tells the user to install
EXTRAS = {
    "pydicom": "medical", "pylibjpeg": "medical", "nibabel": "medical", "astropy": "medical",
    "av": "video", "cv2": "video", "onnx": "onnx", "onnxruntime": "onnx", "ray": "cluster",
    "fastapi": "serve", "uvicorn": "serve", "multipart": "serve", "python_multipart": "serve",
}  # fmt: skip


def missing_extra(e: ModuleNotFoundError) -> str:
    """One line for a missing optional module: which extra to install (``pip install 'tinct[medical]'``)."""
    top = (e.name or "").split(".")[0]
    extra = EXTRAS.get(top)
    if extra is None:
        return f"the Python package {top!r} is missing: pip install {top}"
    return f"this needs the {extra!r} extra ({top} is not installed): pip install 'tinct[{extra}]'"
