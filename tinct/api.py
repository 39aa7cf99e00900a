"""Python API: ``tinct.load_model`` returns a :class:`~tinct.session.Session`; ``tinct.colorize`` is one call.

    >>> import tinct
    >>> session = tinct.load_model("prism")         # load once ...
    >>> out = session.colorize("photo.jpg")         # ... colorize many: writes photo_color.jpg
    >>> pil_out = tinct.colorize(pil_image)         # PIL in -> PIL out, numpy in -> numpy out

The CLI, the web server, the cluster job and the evaluation tool all load their sessions here, and
every session colorizes through :meth:`tinct.session.Session.colorize_image` and
:meth:`~tinct.session.Session.predict_lowres_batch`.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

from tinct.backends.hardware import cpu_threads
from tinct.backends.ort import ready_predictor
from tinct.models.decoding import DECODING_CHECKS
from tinct.registry import DEFAULT_MODEL, MODELS, UnknownModelError, resolve_spec
from tinct.session import METHODS, ColorizedImage, Guidance, Session

if TYPE_CHECKING:
    import torch

#: names of torch's backend, imported when first asked for (``import tinct.api`` does not import torch)
_TORCH_NAMES = ("ModelWeightsError", "load_weights", "resolve_device")


def __getattr__(name: str) -> Any:
    if name in _TORCH_NAMES:
        from tinct.backends import torch as torch_backend

        return getattr(torch_backend, name)
    raise AttributeError(f"module 'tinct.api' has no attribute {name!r}")


BACKENDS = ("auto", "torch", "onnx")

__all__ = [
    "BACKENDS",
    "METHODS",
    "ColorizedImage",
    "Guidance",
    "ModelWeightsError",  # noqa: F822 - lazy (module __getattr__)
    "Session",
    "UnknownModelError",
    "cached_session",
    "check_arguments",
    "colorize",
    "cpu_threads",
    "load_model",
    "list_models",
    "load_weights",  # noqa: F822 - lazy
    "resolve_device",  # noqa: F822 - lazy
]


def load_model(
    name: str = DEFAULT_MODEL,
    device: str | torch.device = "auto",
    working_size: int | None = None,
    backend: str = "auto",
    **model_options: Any,
) -> Session:
    """Load a registry model into a new :class:`~tinct.session.Session` (weights from the package, safetensors only).

    ``name``: a registry name, or a ``model.safetensors`` that ``tinct train`` wrote
    (:func:`tinct.registry.resolve_spec`). ``working_size`` overrides the registry's working size;
    ``model_options`` set attributes of the network that change inference (e.g. ``temperature``
    of classification models), or ``vivid``: 0 (palest) to 1 (most colourful), the share of the
    training's class-rebalancing tilt a classification model released with its bin prior keeps
    (:func:`tinct.backends.torch.vivid_offset`; default: the model's own, 0.625 for ``prism``).

    ``backend``: "torch"; "onnx" (onnxruntime on the CPU, see :mod:`tinct.backends.onnx`; the model
    is exported once to :func:`tinct.backends.onnx.cache_dir`); "auto": onnx when the device is the
    CPU and onnxruntime is installed (falling back to torch, with a warning, if the export fails),
    else torch. On the CPU, torch's threads are capped at :func:`tinct.backends.hardware.cpu_threads`.

    Start-up: when the ONNX export of these weights is already cached and the device is the CPU,
    the session starts from it alone (:func:`tinct.backends.ort.ready_predictor`, milliseconds) and
    torch is imported only if the torch network is needed later (the uncertainty map).
    """
    check_arguments(name, device, working_size)
    for key, check in DECODING_CHECKS.items():
        if model_options.get(key) is not None:
            check(model_options[key])
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; use one of {', '.join(BACKENDS)}")
    spec = resolve_spec(name)
    ready = ready_predictor(spec, device, backend, model_options)
    if ready is not None:
        return Session(spec, None, "cpu", working_size, ready, model_loader=lambda: _network(spec, model_options))
    from tinct.backends.onnx import onnx_predictor_for
    from tinct.backends.torch import load_network, resolve_device

    dev = resolve_device(device)
    if backend == "onnx" and dev.type != "cpu":
        raise ValueError("the onnx backend runs on the CPU; use --device cpu (or the torch backend on the GPU)")
    model = load_network(spec, dev, **model_options)
    return Session(spec, model, dev, working_size, onnx_predictor_for(spec, model, dev, backend, model_options))


DEVICES = ("auto", "cpu", "cuda", "mps")


def check_arguments(name: Any, device: Any, working_size: Any) -> None:
    """Refuse a model name that is no string, an unknown device and a working size below 1, each with
    a ValueError saying what to give (before anything is loaded)."""
    if not isinstance(name, (str, os.PathLike)):
        raise ValueError(
            f"model must be a registry name or a .safetensors path, not {name!r}; known: {', '.join(MODELS)}"
        )
    if isinstance(device, str) and device not in DEVICES and not device.startswith(("cuda:", "mps:")):
        raise ValueError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N")
    if working_size is not None and (isinstance(working_size, bool) or not isinstance(working_size, int)
                                     or working_size < 1):  # fmt: skip
        raise ValueError(f"working_size must be a positive number of pixels (e.g. 256), not {working_size!r}")


def list_models() -> list[str]:
    """The names of the registry's models, registry order (``tinct models`` shows their scores)."""
    return list(MODELS)


def _network(spec: Any, model_options: dict[str, Any]) -> torch.nn.Module:
    """The torch network of ``spec`` on the CPU (a deferred :class:`~tinct.session.Session` model)."""
    import torch

    from tinct.backends.torch import load_network

    return load_network(spec, torch.device("cpu"), **model_options)


_SESSIONS: dict[tuple[str, str, int | None, float | None], Session] = {}
_SESSIONS_LOCK = threading.Lock()


def cached_session(
    name: str = DEFAULT_MODEL, device: str = "auto", working_size: int | None = None, vivid: float | None = None
) -> Session:
    """A process-wide session per (model, device, size, vividness), for one-call use (and the server)."""
    key = (name, str(device), working_size, vivid)
    with _SESSIONS_LOCK:
        if key not in _SESSIONS:
            _SESSIONS[key] = load_model(name, device, working_size, vivid=vivid)  # None: the model's own
        return _SESSIONS[key]


def colorize(image, model: str = DEFAULT_MODEL, device: str = "auto", working_size: int | None = None, **kwargs: Any):
    """Colorize one image with a cached session; returns the input's kind (see Session.colorize:
    ``scribbles``, ``reference``, ``method``, ``lut``, ``hints`` and the rest go to it)."""
    return cached_session(model, device, working_size).colorize(image, **kwargs)
