"""Image files in and out: every way an ordinary image enters or leaves tinct goes through here.

Reading normalises what Pillow can open into one of two shapes, both in sRGB:
gray (H x W) or RGB (H x W x 3), uint8 or uint16, plus an optional alpha channel. EXIF
orientation is applied, ICC profiles are converted to sRGB, palette/CMYK/16-bit/alpha modes are
handled, and the pixel count is checked from the header *before* decoding (decompression bombs).
Every failure is an :class:`ImageError` with a one-line message.

In-memory images (a PIL image, a numpy array) become the same :class:`LoadedImage` through
:func:`image_from_pil` and :func:`image_from_array`.

Writing is atomic (:func:`tinct.io.files.atomic_write_bytes`: a temporary file in the destination
folder, then a rename), so an interrupted run never leaves a truncated output behind and re-running
a batch skips finished files.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from tinct.core.pixels import to_uint8, unit_to_uint16
from tinct.io.errors import ImageError, ImageTooLargeError, NotAnImageError, one_line
from tinct.io.files import atomic_write_bytes

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif"}

#: default limit on decoded pixels (about 64 MP); raise with --max-pixels or TINCT_MAX_PIXELS
DEFAULT_MAX_PIXELS = int(os.environ.get("TINCT_MAX_PIXELS", 64_000_000))

# Output format per input format: keep it where sensible, never a lossy palette format.
_OUTPUT_FORMAT = {
    "JPEG": "JPEG",
    "PNG": "PNG",
    "TIFF": "TIFF",
    "WEBP": "WEBP",
    "BMP": "BMP",
    "GIF": "PNG",
    "MPO": "JPEG",
}
_EXTENSION = {"JPEG": ".jpg", "PNG": ".png", "TIFF": ".tif", "WEBP": ".webp", "BMP": ".bmp"}
FORMAT_BY_EXTENSION = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".bmp": "BMP",
}

# Pillow's own bomb check only warns below 2x its limit; ours is explicit, so silence it.
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass
class LoadedImage:
    """A decoded image in sRGB.

    ``pixels``: H x W (gray) or H x W x 3 (RGB), uint8 or uint16. ``alpha``: H x W uint8 or None.
    ``format``: Pillow's name of the source format (e.g. "JPEG"). ``exif``: the source EXIF with
    orientation reset (it has been applied), or None.
    """

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    format: str = "PNG"
    exif: Image.Exif | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.pixels.shape[1], self.pixels.shape[0]

    @property
    def is_gray(self) -> bool:
        return self.pixels.ndim == 2


def _to_srgb(im: Image.Image) -> Image.Image:
    """Convert an ICC-tagged image to sRGB; images without a profile are taken as sRGB."""
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "RGBA", "CMYK", "L", "LA"):
        return im
    alpha = im.getchannel("A") if im.mode in ("RGBA", "LA") else None
    base = im.convert(im.mode[:-1]) if alpha is not None else im
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        out_mode = "L" if base.mode == "L" else "RGB"
        dst = ImageCms.createProfile("sRGB") if out_mode == "RGB" else None
        if dst is None:  # a gray profile: convert through sRGB and keep gray
            rgb = ImageCms.profileToProfile(base, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
            conv = rgb.convert("L") if rgb is not None else base
        else:
            conv = ImageCms.profileToProfile(base, src, dst, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError) as e:
        warnings.warn(f"ignoring unusable ICC profile ({e})", stacklevel=2)
        return im
    if conv is None:
        return im
    if alpha is not None:
        conv.putalpha(alpha)
    return conv


def _split(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Pillow image of any mode -> (gray or RGB array, alpha or None)."""
    mode = im.mode
    if mode in ("P", "PA"):
        im = im.convert("RGBA" if ("transparency" in im.info or mode == "PA") else "RGB")
        mode = im.mode
    if mode == "1":
        return np.asarray(im.convert("L")), None
    if mode == "L":
        return np.asarray(im), None
    if mode == "LA":
        a = np.asarray(im)
        return a[..., 0].copy(), a[..., 1].copy()
    if mode.startswith("I;16"):
        return np.asarray(im).astype(np.uint16), None
    if mode == "I":
        a = np.asarray(im)
        if a.min() < 0:
            raise ImageError("signed 32-bit images are not supported")
        if a.max() <= 255 and im.format not in ("PNG", "TIFF"):
            return a.astype(np.uint8), None
        return np.clip(a, 0, 65535).astype(np.uint16), None
    if mode == "F":
        a = np.nan_to_num(np.asarray(im, dtype=np.float32))
        hi = float(a.max()) if a.size else 1.0
        a = a / hi if hi > 1.0 else a
        return unit_to_uint16(a), None
    if mode == "RGBA":
        a = np.asarray(im)
        return a[..., :3].copy(), a[..., 3].copy()
    if mode == "RGB":
        return np.asarray(im), None
    # CMYK (without a profile), YCbCr, LAB, HSV, RGBX, ...
    return np.asarray(im.convert("RGB")), None


def read_image(source: str | Path | IO[bytes] | bytes, max_pixels: int | None = None) -> LoadedImage:
    """Decode an image file (path, bytes or binary file object) into a :class:`LoadedImage`.

    Raises :class:`ImageError` for an empty, truncated, unreadable or too-large image; the
    pixel limit is checked from the header, before any pixel is decoded.
    """
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else max_pixels
    name = str(source) if isinstance(source, (str, Path)) else "upload"
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    try:
        if isinstance(source, (str, Path)):
            p = Path(source)
            if p.is_dir():
                raise ImageError("is a directory, not an image")
            if p.stat().st_size == 0:
                raise ImageError("empty file (0 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(source) as im:
                w, h = im.size
                if w * h > limit:
                    raise ImageTooLargeError(
                        f"image is {w}x{h} ({w * h / 1e6:.1f} MP), above the limit of {limit / 1e6:.0f} MP "
                        "(possible decompression bomb; raise it with --max-pixels)"
                    )
                fmt = im.format or "PNG"
                im.load()
                exif = im.getexif()
                if exif.get(0x0112, 1) != 1:  # rotated or mirrored: upright it (a copy only then)
                    im = ImageOps.exif_transpose(im)
                    exif[0x0112] = 1
                im = _to_srgb(im)
                pixels, alpha = _split(im)
                info = {k: v for k, v in im.info.items() if k in ("dpi",)}
    except ImageError:
        raise
    except FileNotFoundError:
        raise ImageError("file not found") from None
    except UnidentifiedImageError:
        raise NotAnImageError(f"not an image file (or a format Pillow cannot read): {Path(name).name}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"cannot decode image (truncated or corrupt?): {one_line(e)}") from None
    except Image.DecompressionBombError as e:
        raise ImageError(str(e)) from None
    if pixels.ndim == 3 and pixels.shape[2] == 3 and _is_neutral(pixels):
        pixels = pixels[..., 0].copy()
    return LoadedImage(pixels=np.ascontiguousarray(pixels), alpha=alpha, format=fmt, exif=exif, info=info)


def image_from_pil(im: Image.Image) -> LoadedImage:
    """An in-memory PIL image as :class:`LoadedImage`, normalised exactly as a file would be (orientation,
    ICC profile, modes); ``format`` "PNG" unless the image came from a file."""
    if im.format is None and im.mode in ("L", "RGB", "RGBA", "LA", "F") and not im.info.get("icc_profile"):
        pixels, alpha = _split(im)  # "F" too: PNG cannot hold it, and a float image carries no profile
        return LoadedImage(pixels=np.ascontiguousarray(pixels), alpha=alpha)
    buf = io.BytesIO()
    im.save(buf, format="PNG" if im.mode != "CMYK" else "TIFF", icc_profile=im.info.get("icc_profile"))
    return read_image(buf.getvalue(), max_pixels=2**62)


#: how far float pixels may stray outside [0, 1] (rounding of a computation) before they are refused
FLOAT_SLACK = 1e-3


def image_from_array(a: np.ndarray) -> LoadedImage:
    """A numpy image as :class:`LoadedImage`: H x W, or H x W x 1/2/3/4 (the last channel of 2 or 4 is alpha).

    uint8 and uint16 are taken as they are; floats are [0, 1] (NaN as 0) and become uint16 (alpha:
    uint8). A uint16 alpha becomes uint8 (:func:`tinct.core.pixels.to_uint8`). ValueError for other
    shapes or dtypes, for an array without pixels (a zero in its shape) and for float pixels beyond
    [0, 1] by more than rounding (0-255 floats would otherwise come back white).
    """
    alpha = None
    if a.ndim == 3 and a.shape[2] in (2, 4):
        alpha, a = a[..., -1], a[..., :-1]
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise ValueError(f"expected an H x W, H x W x 1/2/3/4 array, got shape {a.shape}")
    if a.size == 0:
        raise ValueError(f"the array has no pixels (shape {a.shape}); give an image of at least 1 x 1")
    if a.dtype not in (np.uint8, np.uint16):
        if not np.issubdtype(a.dtype, np.floating):
            raise ValueError(f"unsupported array dtype {a.dtype}; use uint8, uint16 or float in [0, 1]")
        finite = a[np.isfinite(a)]
        if finite.size and (finite.min() < -FLOAT_SLACK or finite.max() > 1 + FLOAT_SLACK):
            raise ValueError(
                f"float pixels must lie in [0, 1]; these span {finite.min():g} to {finite.max():g} "
                "(divide 0-255 data by 255, or pass uint8)"
            )
        a = unit_to_uint16(a)
        alpha = None if alpha is None else (np.clip(alpha, 0, 1) * 255 + 0.5).astype(np.uint8)
    if alpha is not None and alpha.dtype != np.uint8:
        alpha = to_uint8(alpha) if alpha.dtype == np.uint16 else alpha.astype(np.uint8)
    return LoadedImage(pixels=np.ascontiguousarray(a), alpha=None if alpha is None else np.ascontiguousarray(alpha))


def _is_neutral(rgb: np.ndarray) -> bool:
    """True if an RGB image is exactly gray (R = G = B), checked on a sample first for speed."""
    s = rgb[::7, ::7]
    if not (np.array_equal(s[..., 0], s[..., 1]) and np.array_equal(s[..., 1], s[..., 2])):
        return False
    return bool(np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]))


def output_format(input_format: str, requested: str | None = None) -> str:
    """Pillow format to write: ``requested`` (a name or extension) or the input's where sensible."""
    if requested:
        key = requested.lower()
        key = key if key.startswith(".") else "." + key
        if key not in FORMAT_BY_EXTENSION:
            raise ImageError(f"unsupported output format {requested!r}; use one of jpg, png, tif, webp, bmp")
        return FORMAT_BY_EXTENSION[key]
    return _OUTPUT_FORMAT.get(input_format.upper(), "PNG")


def extension_for(fmt: str) -> str:
    """The file extension tinct writes for Pillow format ``fmt`` (e.g. ".jpg" for JPEG)."""
    return _EXTENSION[fmt]


def encode_image(
    rgb: np.ndarray,
    fmt: str,
    alpha: np.ndarray | None = None,
    quality: int = 95,
    exif: Image.Exif | None = None,
    note: str | None = None,
    dpi=None,
) -> bytes:
    """Encode uint8 RGB (H x W x 3) [+ alpha] in ``fmt``; JPEG keeps full chroma (4:4:4)."""
    im = Image.fromarray(rgb, "RGB")
    if alpha is not None and fmt in ("PNG", "WEBP", "TIFF"):
        im.putalpha(Image.fromarray(alpha, "L"))
    kwargs: dict[str, Any] = {}
    if exif is None:
        exif = Image.Exif()
    if note:
        exif[0x0131] = note  # Software
        exif[0x010E] = note  # ImageDescription
    if fmt == "JPEG":
        kwargs.update(quality=quality, subsampling=0, optimize=False)
    elif fmt == "PNG":
        from PIL.PngImagePlugin import PngInfo

        meta = PngInfo()
        if note:
            meta.add_text("Software", note)
        kwargs.update(compress_level=3, pnginfo=meta)
    elif fmt == "WEBP":
        kwargs.update(quality=quality, method=4)
    elif fmt == "TIFF":
        kwargs.update(compression="tiff_deflate")
    if dpi:
        kwargs["dpi"] = dpi
    if fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        kwargs["exif"] = exif.tobytes()
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def write_image(path: str | Path, rgb: np.ndarray, fmt: str | None = None, **kwargs: Any) -> Path:
    """Encode and atomically write an image; the format follows the extension unless given."""
    path = Path(path)
    fmt = fmt or FORMAT_BY_EXTENSION.get(path.suffix.lower(), "PNG")
    atomic_write_bytes(path, encode_image(rgb, fmt, **kwargs))
    return path
