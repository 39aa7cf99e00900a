"""Reading every input kind, rejecting every bad input, writing atomically."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms

from tinct.io import ImageError, WriteError, atomic_write_bytes, encode_image, output_format, read_image

from .conftest import gradient_rgb


def _save(im: Image.Image, path: Path, **kw) -> Path:
    im.save(path, **kw)
    return path


def test_gray_jpeg_reads_as_gray(tmp_path):
    p = _save(Image.fromarray(gradient_rgb()[..., 0]), tmp_path / "g.jpg", quality=95)
    img = read_image(p)
    assert img.is_gray and img.pixels.dtype == np.uint8 and img.size == (64, 48) and img.format == "JPEG"


def test_neutral_rgb_becomes_gray_colour_stays_colour(tmp_path):
    g = gradient_rgb()[..., 0]
    img = read_image(_save(Image.fromarray(np.dstack([g] * 3)), tmp_path / "n.png"))
    assert img.is_gray and np.array_equal(img.pixels, g)
    c = read_image(_save(Image.fromarray(gradient_rgb()), tmp_path / "c.png"))
    assert c.pixels.shape == (48, 64, 3)


def test_exif_orientation_is_applied(tmp_path):
    a = np.zeros((20, 40), np.uint8)
    a[:, :10] = 255  # white band on the left
    im = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW for display
    p = tmp_path / "o.jpg"
    im.save(p, exif=exif.tobytes(), quality=100)
    img = read_image(p)
    assert img.size == (20, 40)  # width and height swapped
    assert img.pixels[:10].mean() > 200 and img.pixels[-10:].mean() < 50  # band now on top
    assert img.exif[0x0112] == 1


def test_icc_profile_converted_and_bad_profile_ignored(tmp_path):
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    rgb = gradient_rgb()
    p = _save(Image.fromarray(rgb), tmp_path / "icc.png", icc_profile=srgb)
    assert np.abs(read_image(p).pixels.astype(int) - rgb).max() <= 1
    p2 = _save(Image.fromarray(rgb), tmp_path / "badicc.png", icc_profile=b"not a profile")
    with pytest.warns(UserWarning, match="ICC"):
        assert np.array_equal(read_image(p2).pixels, rgb)


def test_16bit_png_keeps_16_bits(tmp_path):
    a = (np.linspace(0, 65535, 48 * 64).reshape(48, 64)).astype(np.uint16)
    img = read_image(_save(Image.fromarray(a), tmp_path / "g16.png"))
    assert img.pixels.dtype == np.uint16 and np.array_equal(img.pixels, a)


def test_palette_png_and_gif(tmp_path):
    im = Image.fromarray(gradient_rgb()).convert("P", palette=Image.ADAPTIVE, colors=16)
    for name in ("pal.png", "pal.gif"):
        img = read_image(_save(im, tmp_path / name))
        assert img.pixels.shape == (48, 64, 3) and img.alpha is None
    assert output_format("GIF") == "PNG"


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_split_off(tmp_path, mode):
    rgba = np.dstack([gradient_rgb(), np.full((48, 64), 77, np.uint8)])
    im = Image.fromarray(rgba, "RGBA").convert(mode)
    img = read_image(_save(im, tmp_path / "a.png"))
    assert img.alpha is not None and np.all(img.alpha == 77)


def test_palette_with_transparency(tmp_path):
    im = Image.new("P", (10, 10), 0)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.info["transparency"] = 0
    img = read_image(_save(im, tmp_path / "t.png", transparency=0))
    assert img.alpha is not None and img.alpha.max() == 0


@pytest.mark.parametrize("fmt,ext", [("JPEG", "jpg"), ("TIFF", "tif")])
def test_cmyk(tmp_path, fmt, ext):
    im = Image.new("CMYK", (32, 16), (0, 255, 255, 0))  # red
    img = read_image(_save(im, tmp_path / f"c.{ext}", format=fmt))
    r, g, b = img.pixels[8, 8].astype(int)
    assert r > 200 and g < 60 and b < 60


@pytest.mark.parametrize("ext", ["tif", "webp", "bmp"])
def test_other_formats(tmp_path, ext):
    img = read_image(_save(Image.fromarray(gradient_rgb()), tmp_path / f"x.{ext}"))
    assert img.pixels.shape == (48, 64, 3)


def test_bytes_and_file_objects():
    buf = io.BytesIO()
    Image.fromarray(gradient_rgb()).save(buf, format="PNG")
    assert read_image(buf.getvalue()).pixels.shape == (48, 64, 3)
    buf.seek(0)
    assert read_image(buf).pixels.shape == (48, 64, 3)


# --- bad inputs: each one line, each an ImageError


def test_zero_byte(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        read_image(p)


def test_truncated_jpeg(tmp_path):
    full = tmp_path / "full.jpg"
    Image.fromarray((np.random.default_rng(0).random((200, 200)) * 255).astype(np.uint8)).save(full, quality=95)
    p = tmp_path / "trunc.jpg"
    p.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(ImageError, match="truncated or corrupt"):
        read_image(p)


def test_not_an_image(tmp_path):
    p = tmp_path / "text.png"
    p.write_text("hello, I am not a PNG")
    with pytest.raises(ImageError, match="not an image file"):
        read_image(p)


def test_decompression_bomb_rejected_from_header(tmp_path):
    p = tmp_path / "bomb.png"
    Image.new("1", (10_000, 10_000)).save(p)  # 100 MP header, a few kB on disk
    assert p.stat().st_size < 100_000
    with pytest.raises(ImageError, match=r"100\.0 MP.*limit"):
        read_image(p)
    assert read_image(p, max_pixels=200_000_000).size == (10_000, 10_000)


def test_directory_and_missing(tmp_path):
    with pytest.raises(ImageError, match="directory"):
        read_image(tmp_path)
    with pytest.raises(ImageError, match="not found"):
        read_image(tmp_path / "nope.jpg")


def test_messages_are_one_line(tmp_path):
    p = tmp_path / "junk.jpg"
    p.write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 50)
    with pytest.raises(ImageError) as e:
        read_image(p)
    assert "\n" not in str(e.value)


# --- writing


def test_encode_formats_and_metadata():
    rgb = gradient_rgb()
    alpha = np.full(rgb.shape[:2], 9, np.uint8)
    for fmt in ("JPEG", "PNG", "WEBP", "TIFF", "BMP"):
        data = encode_image(rgb, fmt, alpha=alpha, note="made by tinct")
        im = Image.open(io.BytesIO(data))
        assert im.size == (64, 48) and im.format == fmt
        if fmt in ("PNG", "WEBP", "TIFF"):
            assert im.mode == "RGBA"
    png = Image.open(io.BytesIO(encode_image(rgb, "PNG", note="made by tinct")))
    assert np.array_equal(np.asarray(png), rgb)  # lossless
    assert png.info.get("Software") == "made by tinct"
    jpg = Image.open(io.BytesIO(encode_image(rgb, "JPEG", note="made by tinct")))
    assert jpg.getexif()[0x0131] == "made by tinct"
    assert jpg.layer[0][1:3] == (1, 1)  # 4:4:4: full-resolution chroma


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(WriteError, match="cannot write .*out.png: No space left on device") as e:
        atomic_write_bytes(target, b"new")
    # one error for both kinds of caller: a batch catches ImageError, a cache's memo OSError
    assert isinstance(e.value, ImageError) and isinstance(e.value, OSError)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_atomic_write_into_a_folder_that_cannot_be_made(tmp_path):
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(WriteError, match="cannot write"):
        atomic_write_bytes(tmp_path / "file" / "out.png", b"new")
    assert (tmp_path / "file").read_bytes() == b"x"


def test_unsupported_output_format():
    with pytest.raises(ImageError, match="unsupported output format"):
        output_format("PNG", "xyz")
    assert output_format("JPEG") == "JPEG" and output_format("PNG", "jpg") == "JPEG"


# ----------------------------------------------------------------------------- in-memory inputs


def test_float_arrays_beyond_0_to_1_are_refused_not_clipped_to_white():
    from tinct.io import image_from_array

    ramp = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    assert image_from_array(ramp).pixels[-1, -1] == 65535 and image_from_array(ramp).pixels[0, 0] == 0
    assert image_from_array(ramp + 5e-4).pixels.max() == 65535  # rounding slack: clipped
    nan = ramp.copy()
    nan[0, 0] = np.nan  # NaN is 0, as documented
    assert image_from_array(nan).pixels[0, 0] == 0
    for bad, span in ((ramp * 255, "0 to 255"), (ramp - 0.5, "-0.5 to 0.5")):
        with pytest.raises(ValueError) as e:
            image_from_array(bad)
        assert str(e.value) == (
            f"float pixels must lie in [0, 1]; these span {span} (divide 0-255 data by 255, or pass uint8)"
        )


@pytest.mark.parametrize("scale", [1.0, 255.0])
def test_a_pil_float_image_is_read_as_a_float_file_is(scale):
    from tinct.io import image_from_pil

    a = np.linspace(0, scale, 48, dtype=np.float32).reshape(6, 8)
    got = image_from_pil(Image.fromarray(a, "F"))  # PNG cannot hold mode F: this used to raise OSError
    buf = io.BytesIO()
    Image.fromarray(a, "F").save(buf, format="TIFF")
    assert got.pixels.dtype == np.uint16 and np.array_equal(got.pixels, read_image(buf.getvalue()).pixels)
    assert got.pixels.max() == 65535 and got.pixels.min() == 0
