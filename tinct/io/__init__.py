"""Layer 2: files in and out. Ordinary images (:mod:`tinct.io.images`, re-exported here: ``tinct.io`` is
the image API), atomic writes (:mod:`tinct.io.files`), uncertainty maps (:mod:`tinct.io.uncertainty`),
medical formats (:mod:`tinct.io.medical`: DICOM, NIfTI, FITS) and video containers (:mod:`tinct.io.video`).

Readers turn files into arrays and writers arrays into files; nothing here loads a model or colorizes.
"""

from tinct.io.errors import WriteError
from tinct.io.files import atomic_write_bytes
from tinct.io.images import (
    DEFAULT_MAX_PIXELS,
    FORMAT_BY_EXTENSION,
    IMAGE_EXTENSIONS,
    ImageError,
    ImageTooLargeError,
    LoadedImage,
    NotAnImageError,
    encode_image,
    extension_for,
    image_from_array,
    image_from_pil,
    output_format,
    read_image,
    write_image,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FORMAT_BY_EXTENSION",
    "IMAGE_EXTENSIONS",
    "ImageError",
    "ImageTooLargeError",
    "LoadedImage",
    "NotAnImageError",
    "WriteError",
    "atomic_write_bytes",
    "encode_image",
    "extension_for",
    "image_from_array",
    "image_from_pil",
    "output_format",
    "read_image",
    "write_image",
]
