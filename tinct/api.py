"""Python API: ``tinct.load_model`` returns a :class:`Session`; ``tinct.colorize`` is one call.

    >>> import tinct
    >>> session = tinct.load_model("lite")          # load once ...
    >>> out = session.colorize("photo.jpg")         # ... colorize many: writes photo_color.jpg
    >>> pil_out = tinct.colorize(pil_image)         # PIL in -> PIL out, numpy in -> numpy out

The CLI, the web server and the evaluation tool all call :meth:`Session.colorize_pixels`,
which runs :func:`tinct.pipeline.colorize_pixels`.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file

from tinct import __version__
from tinct.io import LoadedImage, atomic_write_bytes, encode_image, extension_for, output_format, read_image
from tinct.pipeline import colorize_pixels
from tinct.registry import DEFAULT_MODEL, ModelSpec, build_architecture, get_spec


class ModelWeightsError(RuntimeError):
    """A model's weights file is missing, corrupt or does not match its architecture."""


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """ "auto" -> cuda when available, else cpu; anything else as given."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but no CUDA GPU is available")
    return dev


def load_weights(model: torch.nn.Module, path: Path) -> dict[str, Any]:
    """Load fp16/fp32 safetensors into ``model`` (never a pickle); returns the file's metadata."""
    if not path.is_file():
        raise ModelWeightsError(f"weights file missing: {path}")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            meta = {k: json.loads(v) for k, v in (f.metadata() or {}).items()}
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelWeightsError(f"weights file {path} is corrupt or not safetensors: {e}") from None
    ref = model.state_dict()
    missing = sorted(set(ref) - set(state))
    unexpected = sorted(set(state) - set(ref))
    if missing or unexpected:
        raise ModelWeightsError(
            f"weights file {path} does not match the architecture (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    for k, v in state.items():
        if v.shape != ref[k].shape:
            raise ModelWeightsError(
                f"weights file {path}: {k} has shape {tuple(v.shape)}, expected {tuple(ref[k].shape)}"
            )
    model.load_state_dict({k: v.to(ref[k].dtype) for k, v in state.items()})
    return meta


class Session:
    """A loaded model, ready to colorize many images (like rembg's session).

    Thread-safe: inference is serialised by a lock, so one session can serve a web server.
    """

    def __init__(self, spec: ModelSpec, model: torch.nn.Module, device: torch.device, working_size: int | None = None):
        self.spec = spec
        self.model = model
        self.device = device
        self.working_size = working_size or spec.working_size
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.spec.name

    def _predict(self, l_norm: torch.Tensor) -> torch.Tensor:
        if self.device.type == "cuda":
            l_norm = l_norm.half()
        return self.model.predict_ab(l_norm).float()

    def colorize_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Gray (H, W) or RGB (H, W, 3) uint8/uint16 -> colorized uint8 RGB (H, W, 3)."""
        with self._lock:
            return colorize_pixels(pixels, self._predict, self.model.multiple, self.working_size, self.device)

    def colorize_loaded(self, img: LoadedImage) -> tuple[np.ndarray, np.ndarray | None]:
        """Colorize a decoded image; returns (RGB uint8, alpha passed through or None)."""
        return self.colorize_pixels(img.pixels), img.alpha

    def provenance(self) -> str:
        """The note written into every output's metadata."""
        return f"Colorized by tinct {__version__} (model {self.name}); colour added by software"

    def colorize_file(
        self,
        src: str | Path,
        dst: str | Path | None = None,
        fmt: str | None = None,
        quality: int = 95,
        max_pixels: int | None = None,
    ) -> Path:
        """Colorize the image file ``src`` and write it atomically to ``dst``.

        ``dst`` defaults to ``{stem}_color.{ext}`` beside ``src``; ``fmt`` defaults to the input's
        format where sensible. Refuses to overwrite the input. Returns the output path.
        """
        src = Path(src)
        img = read_image(src, max_pixels=max_pixels)
        out_fmt = output_format(img.format, fmt)
        dst = Path(dst) if dst is not None else src.with_name(f"{src.stem}_color{extension_for(out_fmt)}")
        if dst.resolve() == src.resolve():
            raise ValueError(f"refusing to overwrite the input {src}")
        rgb, alpha = self.colorize_loaded(img)
        data = encode_image(
            rgb, out_fmt, alpha=alpha, quality=quality, exif=img.exif, note=self.provenance(), dpi=img.info.get("dpi")
        )
        atomic_write_bytes(dst, data)
        return dst

    def colorize(self, image: str | Path | Image.Image | np.ndarray, **kwargs: Any):
        """Colorize ``image`` and return the same kind: a path (the written output), a PIL image
        (RGB, or RGBA when the input had alpha) or a numpy array (H x W x 3 uint8, or x 4 with alpha).
        """
        if isinstance(image, (str, Path)):
            return self.colorize_file(image, **kwargs)
        if isinstance(image, Image.Image):
            buf = _pil_to_loaded(image)
            rgb, alpha = self.colorize_loaded(buf)
            out = Image.fromarray(rgb, "RGB")
            if alpha is not None:
                out.putalpha(Image.fromarray(alpha, "L"))
            return out
        if isinstance(image, np.ndarray):
            return self._colorize_array(image)
        raise TypeError(f"colorize() takes a path, a PIL image or a numpy array, not {type(image).__name__}")

    def _colorize_array(self, a: np.ndarray) -> np.ndarray:
        alpha = None
        if a.ndim == 3 and a.shape[2] in (2, 4):
            alpha, a = a[..., -1], a[..., :-1]
        if a.ndim == 3 and a.shape[2] == 1:
            a = a[..., 0]
        if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
            raise ValueError(f"expected an H x W, H x W x 1/2/3/4 array, got shape {a.shape}")
        if a.dtype not in (np.uint8, np.uint16):
            if not np.issubdtype(a.dtype, np.floating):
                raise ValueError(f"unsupported array dtype {a.dtype}; use uint8, uint16 or float in [0, 1]")
            a = (np.clip(np.nan_to_num(a), 0, 1) * 65535 + 0.5).astype(np.uint16)
            alpha = None if alpha is None else (np.clip(alpha, 0, 1) * 255 + 0.5).astype(np.uint8)
        rgb = self.colorize_pixels(np.ascontiguousarray(a))
        if alpha is not None:
            if alpha.dtype != np.uint8:
                alpha = (alpha >> 8).astype(np.uint8) if alpha.dtype == np.uint16 else alpha.astype(np.uint8)
            return np.dstack([rgb, alpha])
        return rgb


def _pil_to_loaded(im: Image.Image) -> LoadedImage:
    """Normalise an in-memory PIL image exactly as a file would be (orientation, ICC, modes)."""
    import io as _io

    if im.format is None and im.mode in ("L", "RGB", "RGBA", "LA") and not im.info.get("icc_profile"):
        from tinct.io import _split

        pixels, alpha = _split(im)
        return LoadedImage(pixels=np.ascontiguousarray(pixels), alpha=alpha)
    buf = _io.BytesIO()
    im.save(buf, format="PNG" if im.mode != "CMYK" else "TIFF", icc_profile=im.info.get("icc_profile"))
    return read_image(buf.getvalue(), max_pixels=2**62)


_SESSIONS: dict[tuple[str, str, int | None], Session] = {}
_SESSIONS_LOCK = threading.Lock()


def load_model(
    name: str = DEFAULT_MODEL,
    device: str | torch.device = "auto",
    working_size: int | None = None,
    **model_options: Any,
) -> Session:
    """Load a registry model into a new :class:`Session` (weights from the package, safetensors only).

    ``working_size`` overrides the registry's working size; ``model_options`` set attributes of
    the network that change inference (e.g. ``temperature`` of classification models).
    """
    spec = get_spec(name)
    dev = resolve_device(device)
    model = build_architecture(spec.arch, **spec.kwargs)
    load_weights(model, spec.weights_path)
    for key, value in model_options.items():
        if value is None:
            continue
        if not hasattr(model, key):
            raise ValueError(f"model {name!r} has no option {key!r}")
        setattr(model, key, value)
    model.eval().to(dev)
    if dev.type == "cuda":
        model.half().to(memory_format=torch.channels_last)
    return Session(spec, model, dev, working_size)


def cached_session(name: str = DEFAULT_MODEL, device: str = "auto", working_size: int | None = None) -> Session:
    """A process-wide session per (model, device, size), for one-call use."""
    key = (name, str(device), working_size)
    with _SESSIONS_LOCK:
        if key not in _SESSIONS:
            _SESSIONS[key] = load_model(name, device, working_size)
        return _SESSIONS[key]


def colorize(image, model: str = DEFAULT_MODEL, device: str = "auto", working_size: int | None = None, **kwargs: Any):
    """Colorize one image with a cached session; returns the input's kind (see Session.colorize)."""
    return cached_session(model, device, working_size).colorize(image, **kwargs)
