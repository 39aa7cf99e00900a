"""A loaded model, ready to colorize: :class:`Session`, the one way in to a network.

Every surface colorizes through a session. A still image goes down one path::

    Session.colorize / colorize_file / colorize_pixels      (path, PIL, numpy, or decoded pixels)
      -> Session.colorize_image(image, guidance, uncertainty)   one request
         -> guidance (tinct.classical) or Session.predict_lowres_batch (the model half)
         -> tinct.core.pipeline.full_resolution (guided upsampling, the image's own L)
      -> ColorizedImage.encode (the CLI's file, the server's answer)

and video frames, server requests, cluster batches and evaluation reach the network only through
:meth:`Session.predict_lowres_batch`: the chosen backend (torch, or ONNX), hint channels, padding
and the inference lock apply to all of them alike.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from tinct.core import fullres, lowres
from tinct.core.color import luminance
from tinct.core.hints import Hint, HintError
from tinct.io.files import atomic_write_bytes
from tinct.io.images import (
    FORMAT_BY_EXTENSION,
    ImageError,
    LoadedImage,
    NotAnImageError,
    extension_for,
    image_from_array,
    image_from_pil,
    output_format,
    read_image,
)
from tinct.io.medical.kinds import kind_by_name, medical_kind
from tinct.io.uncertainty import encode_uncertainty, uncertainty_note, uncertainty_path
from tinct.registry import DEFAULT_MODEL, ModelSpec
from tinct.session.guidance import Guidance
from tinct.session.result import ColorizedImage
from tinct.version import __version__

if TYPE_CHECKING:
    import torch

    from tinct.core.pipeline import AbPredictor


class Session:
    """A loaded model, ready to colorize many images (like rembg's session).

    Thread-safe: the network runs under a lock, so one session can serve a web server.
    ``predictor``, when given, replaces the torch network's ``predict_ab`` (e.g. a
    :class:`tinct.backends.onnx.OnnxPredictor`); ``model`` still provides ``multiple``, the
    architecture and the uncertainty map (an ONNX export computes ab only).
    """

    def __init__(
        self,
        spec: ModelSpec,
        model: torch.nn.Module | None,
        device: torch.device | str,
        working_size: int | None = None,
        predictor: AbPredictor | None = None,
        *,
        model_loader: Callable[[], torch.nn.Module] | None = None,
    ):
        """``model`` may be None with a ``model_loader`` (and a ``predictor`` whose ``metadata`` has
        ``tinct_multiple``, ``tinct_in_channels``, ``tinct_kind``: an ONNX export): the torch network
        is then built on first use of :attr:`model` (the uncertainty map, the torch backend), so a
        session that only colorizes never imports torch."""
        if model is None and model_loader is None:
            raise ValueError("Session needs a model or a model_loader")
        self.spec = spec
        # one slot per network, shared by the views of with_working_size: a deferred network is built once
        self._slot: dict[str, Any] = {"model": model, "loader": model_loader, "lock": threading.Lock()}
        self._device = device
        self.working_size = working_size or spec.working_size
        self.predictor = predictor
        self._network: Any = None
        self._lock: Any = threading.Lock()
        #: threads of the full-resolution half of a still (None: every core, :func:`tinct.core.fullres.default_threads`)
        self.fullres_threads: int | None = None
        #: the full-resolution half in the compiled kernel (:mod:`tinct.core.fused`) instead of numpy
        self.fullres_fused = False

    @property
    def model(self) -> torch.nn.Module:
        """The torch network (built now if it was deferred; see ``model_loader``)."""
        if self._slot["model"] is None:
            with self._slot["lock"]:  # not the inference lock: this may be asked for while that is held
                if self._slot["model"] is None:
                    self._slot["model"] = self._slot["loader"]()
        return self._slot["model"]

    @property
    def _model(self) -> torch.nn.Module | None:
        """The torch network if it is built (None while deferred)."""
        return self._slot["model"]

    @property
    def device(self) -> torch.device:
        if not hasattr(self._device, "type"):
            import torch

            self._device = torch.device(self._device)
        return self._device

    @property
    def network(self) -> Any:
        """The torch network's :class:`~tinct.backends.torch.TorchPredictor`."""
        if self._network is None:
            from tinct.backends.torch import TorchPredictor

            self._network = TorchPredictor(self.model, self.device)
        return self._network

    @property
    def ab_predictor(self) -> Any:
        """What runs the network as loaded: the :attr:`predictor` (e.g. an ONNX export) when there is
        one, else the torch :attr:`network`. Normalised L (B, C, H, W) -> ab, torch tensors."""
        return self.predictor if self.predictor is not None else self.network

    def _fact(self, attr: str, meta: str, default: Any) -> Any:
        """An attribute of the network, from the export's metadata while the network is not built."""
        info = getattr(self.predictor, "metadata", None) or {}
        if self._model is None and meta in info:
            return info[meta]
        return getattr(self.model, attr, default)

    @property
    def multiple(self) -> int:
        """What the network's input size must be a multiple of (the pipeline pads)."""
        return int(self._fact("multiple", "tinct_multiple", 1))

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
        view = Session(
            self.spec, self._model, self._device, working_size, self.predictor, model_loader=self._slot["loader"]
        )
        view._slot = self._slot  # one network: built once, whichever view needs it first
        view._lock = self._lock  # one network, one lock: inference stays serialised
        view.fullres_threads, view.fullres_fused = self.fullres_threads, self.fullres_fused
        return view

    @property
    def concurrent_ready(self) -> bool:
        """Whether :meth:`concurrent` gives a view (the backend is an ONNX export), known without making one."""
        return hasattr(self.predictor, "with_threads")

    def concurrent(self) -> Session | None:
        """A view of this session for colorizing stills on several threads at once, one core each
        (the lanes of :func:`tinct.apps.batch.run_jobs`), or None where the backend cannot.

        The view runs the ONNX export on one intra-op thread without the inference lock
        (onnxruntime sessions run concurrently, each run in its calling thread) and the
        full-resolution half in the calling thread, in the compiled kernel where numba is installed
        (``tinct[fast]``; the same pixels), so two lanes on two cores overlap every step of two
        images. A torch network keeps its one lock: None.
        """
        if not self.concurrent_ready:
            return None
        one_thread = self.predictor.with_threads(1)
        view = Session(
            self.spec, self._model, self._device, self.working_size, one_thread, model_loader=self._slot["loader"]
        )
        view._slot = self._slot
        view._lock = contextlib.nullcontext()
        view.fullres_threads = 1
        view.fullres_fused = fullres.fused_available()  # numba's import and compilation pay off over a batch
        return view

    # what the model can do ---------------------------------------------------------------------

    @property
    def takes_hints(self) -> bool:
        """True when the model takes user colour hints (:mod:`tinct.core.hints`)."""
        info = getattr(self.predictor, "metadata", None) or {}
        if self._model is None and "tinct_in_channels" in info:
            return int(info["tinct_in_channels"]) > 1
        return bool(getattr(self.model, "takes_hints", False))

    def hints_for(self, points: Sequence[Hint]) -> list[Hint] | None:
        """The hints the pipeline passes to this model for ``points``: None for a model without hints,
        else the points (an empty list: no hints, an automatic colorization).

        Raises :class:`~tinct.core.hints.HintError` when points are given to a model that does not take them.
        """
        if not self.takes_hints:
            if points:
                raise HintError(
                    f"model {self.name!r} does not take colour hints; use a hint model (architecture 'hints')"
                )
            return None
        return list(points)

    def model_hints(self, guidance: Guidance | None = None) -> list[Hint] | None:
        """:meth:`hints_for` the guidance's colour points (none without guidance)."""
        return self.hints_for(guidance.hints if guidance is not None else [])

    @property
    def has_uncertainty(self) -> bool:
        """True when the model predicts a colour distribution, so it has an uncertainty map."""
        if self._model is None and "tinct_kind" in (getattr(self.predictor, "metadata", None) or {}):
            return self.predictor.metadata["tinct_kind"] == "classification"
        return bool(getattr(self.model, "has_distribution", False))

    def check_uncertainty(self, guidance: Guidance | None = None) -> None:
        """Raise unless an uncertainty map can be made (one-line messages).

        Raises:
            NoColourDistributionError: the model is a regression model (no colour distribution).
            ValueError: active ``guidance`` (scribbles, reference, LUT) replaces the model's colour.
        """
        from tinct.models.base import NoColourDistributionError

        if guidance is not None and guidance.active:
            raise ValueError(f"an uncertainty map is the model's; it does not exist for {guidance.describe()}")
        if not self.has_uncertainty:
            raise NoColourDistributionError(
                f"model {self.name!r} is a {self._fact('kind', 'tinct_kind', 'regression')} model with no colour "
                f"distribution, so it has no uncertainty map; use a classification model (e.g. {DEFAULT_MODEL})"
            )

    # the one inference path ----------------------------------------------------------------------

    def predict_lowres_batch(
        self,
        Ls: Sequence[torch.Tensor],
        hints: Sequence[Sequence[Hint] | None] | None = None,
        *,
        uncertainty: bool = False,
        amp: bool = False,
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The model half of the pipeline for frames of one size: L (H, W) each -> ``[(ab, L_guide), ...]``.

        The only caller of the network: stills, video frames, server requests, cluster batches and
        evaluation all come here (:func:`tinct.core.pipeline.predict_lowres_batch` with this
        session's backend, under its lock). ``ab`` is (2, h, w), or (3, h, w) with ``uncertainty``
        (ab and the map, always from the torch network: an ONNX export computes ab only).

        ``hints``: one list of colour points per frame (None: none for any frame); a hint model
        without points gets zero hint channels. ``amp``: the torch network under bf16 autocast
        (the batched video path on CUDA).
        """
        per_frame = [self.hints_for(h or []) for h in (hints if hints is not None else [None] * len(Ls))]
        if uncertainty:
            self.check_uncertainty()
            predict: AbPredictor = self.network.with_uncertainty
        elif amp:
            predict = self.network.autocast
        else:
            predict = self.ab_predictor
        frame_hints = per_frame if self.takes_hints else None
        from tinct.core.pipeline import predict_lowres_batch

        with self._lock:
            return predict_lowres_batch(Ls, predict, self.multiple, self.working_size, self.device, frame_hints)

    def predict_lowres(self, L: torch.Tensor, hints: Sequence[Hint] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`predict_lowres_batch` for one frame: full-resolution L (H, W) -> (ab (2, h, w), L_guide (h, w))."""
        return self.predict_lowres_batch([L], [hints])[0]

    # one still image -----------------------------------------------------------------------------

    def colorize_image(
        self, image: LoadedImage, guidance: Guidance | None = None, uncertainty: bool = False
    ) -> ColorizedImage:
        """Colorize a decoded image: the one still-image path that every other entry point takes.

        With active ``guidance`` the colour comes from it instead of the model; either way the
        output keeps the input's L. The guidance's colour ``hints`` go to a hint model
        (:class:`~tinct.core.hints.HintError` for a model without hints or a point off the image).
        ``uncertainty``: also the model's uncertainty map (:mod:`tinct.io.uncertainty`), from the same
        forward pass, upsampled as the colour is (see :meth:`check_uncertainty` for what refuses it).
        """
        if uncertainty:
            self.check_uncertainty(guidance)
        unc = None
        if guidance is not None and guidance.active:
            rgb = guidance.colorize(image.pixels)
        elif self._numpy_still(guidance, uncertainty):
            rgb = fullres.join_full_resolution(
                *self._model_half_numpy(image.pixels), threads=self.fullres_threads, fused=self.fullres_fused
            )
        else:
            import torch

            from tinct.core.pipeline import full_resolution

            L = torch.from_numpy(luminance(image.pixels))
            ((ab, L_guide),) = self.predict_lowres_batch([L], [self.model_hints(guidance)], uncertainty=uncertainty)
            if uncertainty:
                rgb, maps = full_resolution(L, ab, L_guide, with_maps=True)
                unc = np.clip(maps[0], 0.0, 1.0) + 0.0  # + 0.0: no negative zeros
            else:
                rgb = full_resolution(L, ab, L_guide)
        return ColorizedImage(rgb, image.alpha, self.provenance(guidance), unc, image)

    def _numpy_still(self, guidance: Guidance | None, uncertainty: bool) -> bool:
        """Whether a still takes the torch-free path: a numpy predictor (an ONNX export), a model
        without hints (points given to it raise :class:`HintError` here), no uncertainty map, no
        active guidance."""
        if uncertainty or (guidance is not None and guidance.active) or not hasattr(self.predictor, "run"):
            return False
        return self.model_hints(guidance) is None

    def _model_half_numpy(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The model half of the torch-free still path: (L, ab, L_guide) for
        :func:`tinct.core.fullres.join_full_resolution` (:func:`tinct.core.lowres.predict_lowres`;
        the full image within 1 code of the torch path, tests/test_lowres.py)."""
        L = luminance(pixels)
        with self._lock:
            ab, L_guide = lowres.predict_lowres(L, self.predictor.run, self.multiple, self.working_size)
        return L, ab, L_guide

    def colorize_pixels(self, pixels: np.ndarray, guidance: Guidance | None = None) -> np.ndarray:
        """Gray (H, W) or RGB (H, W, 3) uint8/uint16 -> colorized uint8 RGB (H, W, 3) (:meth:`colorize_image`)."""
        return self.colorize_image(LoadedImage(pixels), guidance).rgb

    def colorize_pixels_uncertainty(
        self, pixels: np.ndarray, guidance: Guidance | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`colorize_pixels` plus the uncertainty map: (uint8 RGB (H, W, 3), float32 (H, W) in [0, 1]).

        The map is the normalised entropy of the predicted colour distribution (see
        :mod:`tinct.io.uncertainty`), from the torch network even when the backend is ONNX.

        Raises:
            NoColourDistributionError: a regression model; ValueError: active ``guidance`` (see
            :meth:`check_uncertainty`).
        """
        out = self.colorize_image(LoadedImage(pixels), guidance, uncertainty=True)
        assert out.uncertainty is not None
        return out.rgb, out.uncertainty

    def colorize_loaded(
        self, img: LoadedImage, guidance: Guidance | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Colorize a decoded image; returns (RGB uint8, alpha passed through or None)."""
        out = self.colorize_image(img, guidance)
        return out.rgb, out.alpha

    def provenance(self, guidance: Guidance | None = None) -> str:
        """The note written into every output's metadata."""
        model = Path(self.name).name  # a trained file by its name: no path of this machine in the output
        how = guidance.describe() if guidance is not None and guidance.active else f"model {model}"
        if guidance is not None and guidance.hints:
            how += f" with {len(guidance.hints)} user colour hint{'s' if len(guidance.hints) > 1 else ''}"
        note = f"Colorized by tinct {__version__} ({how}); colour added by software"
        extra = guidance.note() if guidance is not None else ""
        return f"{note}; {extra}" if extra else note

    # files and in-memory images ------------------------------------------------------------------

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
        calling it here (e.g. :meth:`tinct.apps.batch.Job.defer`, to write in a worker thread).

        ``uncertainty``: also write the model's uncertainty map, a 16-bit grayscale PNG
        ``{src stem}_uncertainty.png`` beside ``dst`` (:mod:`tinct.io.uncertainty`; written before the
        colour output, so an existing colour output implies its map). Raises
        :class:`~tinct.models.base.NoColourDistributionError` for a regression model and
        ValueError with active ``guidance``, before reading anything.
        """
        src = Path(src)
        if uncertainty:
            self.check_uncertainty(guidance)
        if image is None:
            scan_refused(src)  # by name: Pillow would read a FITS file as a photo
            try:
                image = read_image(src, max_pixels=max_pixels)
            except ImageError:
                scan_refused(src, sniff=True)  # a DICOM without its extension, a DICOM folder
                raise
        img = image
        out_fmt = output_format(img.format, fmt)
        dst = Path(dst) if dst is not None else src.with_name(f"{src.stem}_color{extension_for(out_fmt)}")
        if dst.resolve() == src.resolve():
            raise ValueError(f"refusing to overwrite the input {src}")
        if defer is not None and self._numpy_still(guidance, uncertainty):
            # pipelined: the model half here, the full-resolution half in the deferred work with the
            # encoding, so that (in tinct.apps.batch) the next image's network overlaps it
            half = self._model_half_numpy(img.pixels)

            def finish_later() -> None:
                rgb = fullres.join_full_resolution(*half, threads=self.fullres_threads, fused=self.fullres_fused)
                result = ColorizedImage(rgb, img.alpha, self.provenance(guidance), None, img)
                atomic_write_bytes(dst, result.encode(out_fmt, quality))

            defer(finish_later)
            return dst
        result = self.colorize_image(img, guidance, uncertainty)

        def finish() -> None:
            if result.uncertainty is not None:
                data = encode_uncertainty(result.uncertainty, uncertainty_note(self.name))
                atomic_write_bytes(uncertainty_path(src.stem, dst.parent), data)
            atomic_write_bytes(dst, result.encode(out_fmt, quality))

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
        overwrite: bool = False,
        **kwargs: Any,
    ):
        """Colorize ``image`` and return the same kind: a path (the written output), a PIL image
        (RGB, or RGBA when the input had alpha) or a numpy array (H x W x 3, or x 4 with alpha) of the
        input's dtype and range (uint8; uint16 0..65535; float in [0, 1]). A zero-size array is a
        ValueError naming its shape.

        ``scribbles``, ``reference`` (+ ``method``) or ``lut`` replace the model by user guidance
        (see :class:`~tinct.session.guidance.Guidance`); ``kwargs`` go to :meth:`colorize_file` for
        paths (dst, fmt, ...). ``hints``: colour points (x, y, colour) in input pixels for a hint
        model, e.g. ``[{"x": 120, "y": 48, "color": "#3366cc"}]`` or a JSON file's path.

        ``uncertainty=True`` returns ``(colour, uncertainty)``: for a path, the uncertainty map's
        path (``{stem}_uncertainty.png`` beside the output, see :meth:`colorize_file`); for a PIL
        image or an array, a float32 (H, W) array in [0, 1] (:meth:`colorize_pixels_uncertainty`).
        Raises :class:`~tinct.models.base.NoColourDistributionError` for a regression model.

        For a path: an ImageError naming it when it does not exist, and, as the CLI skips it, a
        FileExistsError when the default output ``{stem}_color.{ext}`` exists (``overwrite=True`` replaces it).
        """
        guidance = Guidance(scribbles, reference, method, lut, hints)
        if uncertainty:
            self.check_uncertainty(guidance)
        if isinstance(image, (str, Path)):
            _check_path(Path(image), kwargs.get("dst"), kwargs.get("fmt"), overwrite)
            dst = self.colorize_file(image, guidance=guidance, uncertainty=uncertainty, **kwargs)
            return (dst, uncertainty_path(Path(image).stem, dst.parent)) if uncertainty else dst
        if isinstance(image, Image.Image):
            out = self.colorize_image(image_from_pil(image), guidance, uncertainty)
            return (out.to_pil(), out.uncertainty) if uncertainty else out.to_pil()
        if isinstance(image, np.ndarray):
            out = self.colorize_image(image_from_array(image), guidance, uncertainty)
            arr = out.to_array(image.dtype)  # the input's kind: uint8, uint16 or float in [0, 1]
            return (arr, out.uncertainty) if uncertainty else arr
        raise TypeError(f"colorize() takes a path, a PIL image or a numpy array, not {type(image).__name__}")


def _call(fn: Callable[[], Any]) -> Any:
    return fn()


def _check_path(src: Path, dst: Any, fmt: str | None, overwrite: bool) -> None:
    """What :meth:`Session.colorize` refuses for a path: a missing input, an existing default output."""
    if not src.exists():
        raise ImageError(f"{src}: file not found")
    scan_refused(src)  # by name, before the output check: a scan's outputs are named otherwise
    if dst is None and not overwrite:
        kind = output_format(FORMAT_BY_EXTENSION.get(src.suffix.lower(), "PNG"), fmt)
        out = src.with_name(f"{src.stem}_color{extension_for(kind)}")
        if out.exists():
            raise FileExistsError(f"{out} exists; pass overwrite=True to replace it (or dst=...)")


#: how :func:`scan_refused` names each kind of :func:`tinct.io.medical.kinds.medical_kind`
SCAN_LABELS = {"dicom": "DICOM file", "dicom-folder": "DICOM folder", "nifti": "NIfTI file", "fits": "FITS file"}


def scan_refused(src: Path, sniff: bool = False) -> None:
    """Raise :class:`~tinct.io.images.NotAnImageError` for a DICOM, NIfTI or FITS input given where a
    photo goes (a path to :meth:`Session.colorize`), saying what colorizes it: it is windowed and
    written back as its own format there (Pillow reads some FITS files, so it is never decoded here
    as a photo). Known by name (no I/O, the check before decoding); with ``sniff``, also by content
    (the DICM marker, a DICOM folder: for an input that did not decode as a photo)."""
    kind = (medical_kind(src) if src.exists() else None) if sniff else kind_by_name(src)
    if kind is not None:
        raise NotAnImageError(
            f"{src.name} is a {SCAN_LABELS[kind]}, not a photo: colorize it with `tinct colorize` or, in Python, "
            "tinct.apps.medical.colorize_medical_file(session, path)"
        )
