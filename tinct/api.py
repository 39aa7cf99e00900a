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
import logging
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError
from safetensors.torch import load_file

from tinct import __version__
from tinct.color import luminance
from tinct.io import LoadedImage, atomic_write_bytes, encode_image, extension_for, output_format, read_image
from tinct.pipeline import AbPredictor, colorize_pixels, join_ab, predict_lowres
from tinct.registry import DEFAULT_MODEL, ModelSpec, build_architecture, resolve_spec

log = logging.getLogger("tinct")

BACKENDS = ("auto", "torch", "onnx")


class ModelWeightsError(RuntimeError):
    """A model's weights file is missing, corrupt or does not match its architecture."""


def cpu_threads() -> int:
    """Threads for CPU inference (torch and onnxruntime alike): the one place tinct decides it.

    ``TINCT_THREADS`` when set; otherwise the cores this process may run on (its CPU affinity and
    any cgroup CPU quota, as containers set them), capped by torch's own setting, which honours
    ``OMP_NUM_THREADS`` and any ``torch.set_num_threads`` made by the caller.
    """
    env = os.environ.get("TINCT_THREADS")
    if env:
        return max(1, int(env))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:  # cgroup v2: "max 100000" or "200000 100000"
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, min(cores, torch.get_num_threads()))


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


METHODS = ("reinhard", "welsh")


def _as_rgb8(image, what: str, max_pixels: int | None = None) -> np.ndarray:
    """A guidance image (path, encoded bytes, PIL or numpy) as uint8 RGB (or RGBA for scribbles)."""
    if isinstance(image, (str, Path, bytes)):
        img = read_image(image, max_pixels=max_pixels)
        px = img.pixels if img.pixels.dtype == np.uint8 else (img.pixels >> 8).astype(np.uint8)
        px = np.dstack([px] * 3) if px.ndim == 2 else px
        return np.dstack([px, img.alpha]) if img.alpha is not None else px
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGBA" if "A" in image.mode else "RGB"))
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] not in (3, 4):
        raise ValueError(f"{what} must be an H x W x 3 (or x 4) uint8 image, got {a.dtype} {a.shape}")
    return a


@dataclass
class Guidance:
    """User guidance: at most one kind at a time.

    Replacing the automatic model (tinct.guided): ``scribbles``: an image the size of the input
    with colour strokes (unmarked pixels transparent or equal to the gray input), propagated by
    Levin et al.; ``reference``: a colour image whose colours are transferred (``method``
    "reinhard" or "welsh"); ``lut``: a look-up table name or CSV/JSON file (luminance keying:
    pseudo-colour).

    Steering a hint model (:mod:`tinct.hints`): ``hints``: colour points (x, y, colour) in input
    pixels -- a list of ``{"x", "y", "color"}`` dicts, ``[x, y, color]`` lists or
    :class:`tinct.hints.Hint`, or the path of a JSON file of them. After construction ``hints`` is a
    list of :class:`tinct.hints.Hint` (empty when none were given); bad hints raise
    :class:`tinct.hints.HintError` here, points off the image when an image is colorized.
    """

    scribbles: Any = None
    reference: Any = None
    method: str = "reinhard"
    lut: str | Path | None = None
    hints: Any = None

    def __post_init__(self) -> None:
        from tinct.hints import parse_hints

        given = [k for k in ("scribbles", "reference", "lut") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of scribbles, reference or lut, not {' and '.join(given)}")
        self.hints = parse_hints(self.hints)
        if self.hints and given:
            raise ValueError(f"colour hints steer a hint model; they cannot be combined with {given[0]}")
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; use one of {', '.join(METHODS)}")
        if self.scribbles is not None:
            self.scribbles = _as_rgb8(self.scribbles, "scribbles")
        if self.reference is not None:
            self.reference = _as_rgb8(self.reference, "reference")[..., :3]
        if self.lut is not None:
            from tinct.guided import load_lut

            self.lut = load_lut(self.lut)

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.scribbles, self.reference, self.lut))

    def describe(self) -> str:
        if self.scribbles is not None:
            return "scribbles (Levin et al. 2004)"
        if self.reference is not None:
            return f"reference image ({self.method})"
        return f"pseudo-colour look-up table {getattr(self.lut, 'name', self.lut)}"

    def ab(self, L: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        """ab (2, H, W) for full-resolution L (H, W) of ``pixels``."""
        from tinct import guided

        if self.scribbles is not None:
            if self.scribbles.shape[:2] != L.shape:
                h, w = self.scribbles.shape[:2]
                raise ValueError(f"the scribble image is {w}x{h} but the input is {L.shape[1]}x{L.shape[0]}")
            gray = pixels if pixels.ndim == 2 and pixels.dtype == np.uint8 else None
            mask = guided.scribble_mask_from_image(self.scribbles, gray)
            return guided.scribbles_ab(L, self.scribbles[..., :3], mask)
        if self.reference is not None:
            fn = guided.reinhard_ab if self.method == "reinhard" else guided.welsh_ab
            return fn(L, self.reference)
        return guided.lut_ab(L, self.lut)


class Session:
    """A loaded model, ready to colorize many images (like rembg's session).

    Thread-safe: inference is serialised by a lock, so one session can serve a web server.
    ``predictor``, when given, replaces the torch model's ``predict_ab`` (e.g. a
    :class:`tinct.onnx.OnnxPredictor`); ``model`` still provides ``multiple`` and the architecture.
    """

    def __init__(
        self,
        spec: ModelSpec,
        model: torch.nn.Module,
        device: torch.device,
        working_size: int | None = None,
        predictor: AbPredictor | None = None,
    ):
        self.spec = spec
        self.model = model
        self.device = device
        self.working_size = working_size or spec.working_size
        self.predictor = predictor
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        """The inference backend: "torch", or the predictor's ``backend`` ("onnx")."""
        return "torch" if self.predictor is None else getattr(self.predictor, "backend", "custom")

    @property
    def name(self) -> str:
        return self.spec.name

    def with_working_size(self, working_size: int | None) -> Session:
        """A view of this session at another working size, sharing the network and its lock."""
        if not working_size or working_size == self.working_size:
            return self
        view = Session(self.spec, self.model, self.device, working_size, self.predictor)
        view._lock = self._lock  # one network, one lock: inference stays serialised
        return view

    @property
    def takes_hints(self) -> bool:
        """True when the model takes user colour hints (:mod:`tinct.hints`)."""
        return bool(getattr(self.model, "takes_hints", False))

    def model_hints(self, guidance: Guidance | None = None) -> list[Any] | None:
        """The hints the pipeline passes to this model: None for a model without hints, else the
        guidance's list of :class:`tinct.hints.Hint` (empty: no hints, an automatic colorization).

        Raises :class:`tinct.hints.HintError` when hints are given to a model that does not take them.
        """
        hints = guidance.hints if guidance is not None else []
        if not self.takes_hints:
            if hints:
                from tinct.hints import HintError

                raise HintError(
                    f"model {self.name!r} does not take colour hints; use a hint model (architecture 'hints')"
                )
            return None
        return list(hints)

    def _with_hint_channels(self, l_norm: torch.Tensor) -> torch.Tensor:
        """A hint model's input from L alone: L plus three zero hint channels (no hints); else as given."""
        if self.takes_hints and l_norm.shape[1] == 1:
            return torch.cat([l_norm, l_norm.new_zeros((l_norm.shape[0], 3, *l_norm.shape[2:]))], 1)
        return l_norm

    def _predict(self, l_norm: torch.Tensor) -> torch.Tensor:
        """Normalised L (B, 1, H, W) -> ab in Lab units, float32 (the pipeline's AbPredictor).

        A hint model's input also holds its hint channels, (B, 4, H, W); given L alone it gets
        zero hint channels (no hints).
        """
        l_norm = self._with_hint_channels(l_norm)
        if self.predictor is not None:
            return self.predictor(l_norm)
        if self.device.type == "cuda":
            l_norm = l_norm.half()
        return self.model.predict_ab(l_norm).float()

    @property
    def has_uncertainty(self) -> bool:
        """True when the model predicts a colour distribution, so it has an uncertainty map."""
        return bool(getattr(self.model, "has_distribution", False))

    def check_uncertainty(self, guidance: Guidance | None = None) -> None:
        """Raise unless :meth:`colorize_pixels_uncertainty` can run (one-line messages).

        Raises:
            NoColourDistributionError: the model is a regression model (no colour distribution).
            ValueError: active ``guidance`` (scribbles, reference, LUT) replaces the model's colour.
        """
        from tinct.models.base import NoColourDistributionError

        if guidance is not None and guidance.active:
            raise ValueError(f"an uncertainty map is the model's; it does not exist for {guidance.describe()}")
        if not self.has_uncertainty:
            raise NoColourDistributionError(
                f"model {self.name!r} is a {getattr(self.model, 'kind', 'regression')} model with no colour "
                "distribution, so it has no uncertainty map; use a classification model (e.g. lite)"
            )

    def _predict_uncertainty(self, l_norm: torch.Tensor) -> torch.Tensor:
        """Normalised L (B, 1, H, W) -> ab (Lab units) and the uncertainty, (B, 3, h, w) float32.

        Always the torch network, whatever the backend: an ONNX export computes ab only. A hint
        model gets zero hint channels when given L alone, as in :meth:`_predict`.
        """
        l_norm = self._with_hint_channels(l_norm)
        if self.device.type == "cuda":
            l_norm = l_norm.half()
        return self.model.predict_ab_uncertainty(l_norm).float()

    def colorize_pixels_uncertainty(
        self, pixels: np.ndarray, guidance: Guidance | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`colorize_pixels` (same pipeline, one forward pass) plus the uncertainty map.

        Returns (uint8 RGB (H, W, 3), float32 (H, W) in [0, 1]): the normalised entropy of the
        predicted colour distribution (see :mod:`tinct.uncertainty`), upsampled from the network's
        resolution as the colour is (guided by L). Runs the torch network even when the session's
        backend is ONNX.
        The guidance's colour ``hints`` go to a hint model, as in :meth:`colorize_pixels`.

        Raises:
            NoColourDistributionError: a regression model; ValueError: active ``guidance`` (see
            :meth:`check_uncertainty`).
        """
        self.check_uncertainty(guidance)
        hints = self.model_hints(guidance)
        with self._lock:
            rgb, maps = colorize_pixels(
                pixels,
                self._predict_uncertainty,
                self.model.multiple,
                self.working_size,
                self.device,
                with_maps=True,
                hints=hints,
            )
        return rgb, np.clip(maps[0], 0.0, 1.0) + 0.0  # + 0.0: no negative zeros

    def colorize_pixels(self, pixels: np.ndarray, guidance: Guidance | None = None) -> np.ndarray:
        """Gray (H, W) or RGB (H, W, 3) uint8/uint16 -> colorized uint8 RGB (H, W, 3).

        With active ``guidance`` the colour comes from it instead of the model; either way the
        output keeps the input's L. The guidance's colour ``hints`` go to a hint model (see
        :meth:`model_hints`; :class:`tinct.hints.HintError` for a model without hints or a point
        off the image).
        """
        if guidance is not None and guidance.active:
            L = luminance(pixels)
            return join_ab(torch.from_numpy(L), torch.from_numpy(np.ascontiguousarray(guidance.ab(L, pixels))))
        hints = self.model_hints(guidance)
        with self._lock:
            return colorize_pixels(
                pixels, self._predict, self.model.multiple, self.working_size, self.device, hints=hints
            )

    def predict_lowres(self, L: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Model half of the pipeline on full-resolution L (H, W): (ab (2, h, w), L_guide (h, w))."""
        with self._lock:
            return predict_lowres(L, self._predict, self.model.multiple, self.working_size, self.device)

    def colorize_loaded(
        self, img: LoadedImage, guidance: Guidance | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Colorize a decoded image; returns (RGB uint8, alpha passed through or None)."""
        return self.colorize_pixels(img.pixels, guidance), img.alpha

    def provenance(self, guidance: Guidance | None = None) -> str:
        """The note written into every output's metadata."""
        how = guidance.describe() if guidance is not None and guidance.active else f"model {self.name}"
        if guidance is not None and guidance.hints:
            how += f" with {len(guidance.hints)} user colour hint{'s' if len(guidance.hints) > 1 else ''}"
        note = f"Colorized by tinct {__version__} ({how}); colour added by software"
        if guidance is not None and guidance.lut is not None:
            from tinct.guided import PSEUDO_COLOUR_NOTE

            note += f"; {PSEUDO_COLOUR_NOTE}"
        return note

    def colorize_file(
        self,
        src: str | Path,
        dst: str | Path | None = None,
        fmt: str | None = None,
        quality: int = 95,
        max_pixels: int | None = None,
        guidance: Guidance | None = None,
        image: LoadedImage | None = None,
        defer: Callable[[Callable[[], Any]], Any] | None = None,
        uncertainty: bool = False,
    ) -> Path:
        """Colorize the image file ``src`` and write it atomically to ``dst``.

        ``dst`` defaults to ``{stem}_color.{ext}`` beside ``src``; ``fmt`` defaults to the input's
        format where sensible. Refuses to overwrite the input. Returns the output path.

        ``image``: ``src`` already decoded (``read_image(src, max_pixels)``, e.g. by a worker
        thread); ``defer``: called with the function that encodes and writes the output instead of
        calling it here (e.g. :meth:`tinct.batch.Job.defer`, to write in a worker thread).

        ``uncertainty``: also write the model's uncertainty map, a 16-bit grayscale PNG
        ``{src stem}_uncertainty.png`` beside ``dst`` (:mod:`tinct.uncertainty`; written before the
        colour output, so an existing colour output implies its map). Raises
        :class:`~tinct.models.base.NoColourDistributionError` for a regression model and
        ValueError with active ``guidance``, before reading anything.
        """
        src = Path(src)
        if uncertainty:
            self.check_uncertainty(guidance)
        img = image if image is not None else read_image(src, max_pixels=max_pixels)
        out_fmt = output_format(img.format, fmt)
        dst = Path(dst) if dst is not None else src.with_name(f"{src.stem}_color{extension_for(out_fmt)}")
        if dst.resolve() == src.resolve():
            raise ValueError(f"refusing to overwrite the input {src}")
        unc = None
        if uncertainty:
            (rgb, unc), alpha = self.colorize_pixels_uncertainty(img.pixels, guidance), img.alpha
        else:
            rgb, alpha = self.colorize_loaded(img, guidance)
        note = self.provenance(guidance)

        def finish() -> None:
            if unc is not None:
                from tinct.uncertainty import encode_uncertainty, uncertainty_note, uncertainty_path

                data = encode_uncertainty(unc, uncertainty_note(self.name))
                atomic_write_bytes(uncertainty_path(src.stem, dst.parent), data)
            data = encode_image(
                rgb, out_fmt, alpha=alpha, quality=quality, exif=img.exif, note=note, dpi=img.info.get("dpi")
            )
            atomic_write_bytes(dst, data)

        (defer or _call)(finish)
        return dst

    def colorize(
        self,
        image: str | Path | Image.Image | np.ndarray,
        *,
        scribbles: Any = None,
        reference: Any = None,
        method: str = "reinhard",
        lut: str | Path | None = None,
        uncertainty: bool = False,
        hints: Any = None,
        **kwargs: Any,
    ):
        """Colorize ``image`` and return the same kind: a path (the written output), a PIL image
        (RGB, or RGBA when the input had alpha) or a numpy array (H x W x 3 uint8, or x 4 with alpha).

        ``scribbles``, ``reference`` (+ ``method``) or ``lut`` replace the model by user guidance
        (see :class:`Guidance`); ``kwargs`` go to :meth:`colorize_file` for paths (dst, fmt, ...).
        ``hints``: colour points (x, y, colour) in input pixels for a hint model, e.g.
        ``[{"x": 120, "y": 48, "color": "#3366cc"}]`` or a JSON file's path (see :mod:`tinct.hints`).

        ``uncertainty=True`` returns ``(colour, uncertainty)``: for a path, the uncertainty map's
        path (``{stem}_uncertainty.png`` beside the output, see :meth:`colorize_file`); for a PIL
        image or an array, a float32 (H, W) array in [0, 1] (:meth:`colorize_pixels_uncertainty`).
        Raises :class:`~tinct.models.base.NoColourDistributionError` for a regression model.
        """
        guidance = Guidance(scribbles, reference, method, lut, hints)
        if uncertainty:
            self.check_uncertainty(guidance)
        if isinstance(image, (str, Path)):
            dst = self.colorize_file(image, guidance=guidance, uncertainty=uncertainty, **kwargs)
            if uncertainty:
                from tinct.uncertainty import uncertainty_path

                return dst, uncertainty_path(Path(image).stem, dst.parent)
            return dst
        if isinstance(image, Image.Image):
            buf = _pil_to_loaded(image)
            unc = None
            if uncertainty:
                (rgb, unc), alpha = self.colorize_pixels_uncertainty(buf.pixels, guidance), buf.alpha
            else:
                rgb, alpha = self.colorize_loaded(buf, guidance)
            out = Image.fromarray(rgb, "RGB")
            if alpha is not None:
                out.putalpha(Image.fromarray(alpha, "L"))
            return (out, unc) if uncertainty else out
        if isinstance(image, np.ndarray):
            return self._colorize_array(image, guidance, uncertainty)
        raise TypeError(f"colorize() takes a path, a PIL image or a numpy array, not {type(image).__name__}")

    def _colorize_array(self, a: np.ndarray, guidance: Guidance | None = None, uncertainty: bool = False):
        """numpy in -> numpy out (see :meth:`colorize`); with ``uncertainty``, (colour, map)."""
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
        unc = None
        if uncertainty:
            rgb, unc = self.colorize_pixels_uncertainty(np.ascontiguousarray(a), guidance)
        else:
            rgb = self.colorize_pixels(np.ascontiguousarray(a), guidance)
        if alpha is not None:
            if alpha.dtype != np.uint8:
                alpha = (alpha >> 8).astype(np.uint8) if alpha.dtype == np.uint16 else alpha.astype(np.uint8)
            rgb = np.dstack([rgb, alpha])
        return (rgb, unc) if uncertainty else rgb


def _call(fn: Callable[[], Any]) -> Any:
    return fn()


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
    backend: str = "auto",
    **model_options: Any,
) -> Session:
    """Load a registry model into a new :class:`Session` (weights from the package, safetensors only).

    ``working_size`` overrides the registry's working size; ``model_options`` set attributes of
    the network that change inference (e.g. ``temperature`` of classification models).

    ``backend``: "torch"; "onnx" (onnxruntime on the CPU, see :mod:`tinct.onnx`; the model is
    exported once to :func:`tinct.onnx.cache_dir`); "auto": onnx when the device is the CPU and
    onnxruntime is installed (falling back to torch, with a warning, if the export fails), else
    torch. On the CPU, torch's threads are capped at :func:`cpu_threads`.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    spec = resolve_spec(name)
    dev = resolve_device(device)
    if backend == "onnx" and dev.type != "cpu":
        raise ValueError("the onnx backend runs on the CPU; use --device cpu (or the torch backend on the GPU)")
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
    else:
        threads = cpu_threads()
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    return Session(spec, model, dev, working_size, _onnx_predictor(spec, model, dev, backend, model_options))


def _onnx_predictor(
    spec: ModelSpec, model: torch.nn.Module, dev: torch.device, backend: str, model_options: dict[str, Any]
) -> AbPredictor | None:
    """The ONNX predictor ``load_model`` should use for ``spec``'s loaded ``model``, or None for torch
    (see its ``backend``)."""
    from tinct import onnx

    if backend == "torch" or dev.type != "cpu" or (backend == "auto" and not onnx.onnxruntime_available()):
        return None
    if backend == "auto" and not getattr(model, "onnx_exportable", True):
        return None  # known not to export: do not try (and print the exporter's failure) on every load
    try:
        return onnx.OnnxPredictor(onnx.cached_export(spec.name, **model_options))
    except Exception as e:  # noqa: BLE001 - "auto" must never stop colorizing: torch still works
        if backend == "onnx":
            raise
        first = (str(e).strip().splitlines() or [""])[0][:200]  # exporter errors can carry a whole graph dump
        log.warning("onnx backend unavailable (%s: %s); using torch", type(e).__name__, first)
        return None


def cached_session(name: str = DEFAULT_MODEL, device: str = "auto", working_size: int | None = None) -> Session:
    """A process-wide session per (model, device, size), for one-call use."""
    key = (name, str(device), working_size)
    with _SESSIONS_LOCK:
        if key not in _SESSIONS:
            _SESSIONS[key] = load_model(name, device, working_size)
        return _SESSIONS[key]


def colorize(image, model: str = DEFAULT_MODEL, device: str = "auto", working_size: int | None = None, **kwargs: Any):
    """Colorize one image with a cached session; returns the input's kind (see Session.colorize:
    ``scribbles``, ``reference``, ``method``, ``lut``, ``hints`` and the rest go to it)."""
    return cached_session(model, device, working_size).colorize(image, **kwargs)
