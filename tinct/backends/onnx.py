"""ONNX export and an onnxruntime backend for CPU inference.

    tinct export --model lite --format onnx -o lite.onnx      # or: export_onnx("lite", "lite.onnx")
    tinct colorize photos/ --backend onnx                      # or: load_model("lite", backend="onnx")

What is exported is the model's ``predict_ab``, the same function the torch backend
(:class:`tinct.backends.torch.TorchPredictor`) runs: normalised L (B, 1, H, W) in [-1, 1] (a hint
model's: L and its three hint channels, (B, 4, H, W), see :mod:`tinct.core.hints`) with dynamic B,
H and W (multiples of the model's ``multiple``; the pipeline pads) -> ab in Lab units (B, 2, h, w)
at the network's output resolution. For classification models this includes the annealed-mean decoding, with the
temperature baked in as a constant at export; it is recorded in the file's metadata
(``tinct_temperature``) beside the model name, architecture, weights hash, options and opset.

:class:`OnnxPredictor` runs such a file with onnxruntime and is a drop-in for the torch model's
``predict_ab`` inside the pipeline (:data:`tinct.core.pipeline.AbPredictor`), so everything before and after
the network (full-resolution L, guided upsampling, Lab -> RGB) is the same code for both
backends. Agreement with torch: ab within 1e-3 Lab units, final 8-bit RGB within 1 code on the
demo photos (tests/test_onnx.py).

Threads: the session's intra-op pool has :func:`tinct.backends.hardware.cpu_threads` threads (the
cores this process may use, capped by torch's setting, or ``TINCT_THREADS``), one inter-op thread.

:func:`onnx_predictor_for` is the backend choice of :func:`tinct.api.load_model`: when ONNX runs a
loaded network instead of torch.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import torch

from tinct.backends.ort import (
    INPUT_NAME,
    MAX_OPSET,
    MIN_OPSET,
    OUTPUT_NAME,
    OnnxPredictor,
    OnnxUnavailableError,
    cache_dir,
    export_path,
    mark_used,
    onnxruntime_available,
    prune_cache,
    read_metadata,
    require,
    weights_sha1,
)
from tinct.backends.torch import load_network
from tinct.io.errors import one_line
from tinct.registry import ModelSpec, resolve_spec
from tinct.version import __version__

log = logging.getLogger("tinct")

DEFAULT_OPSET = 17


class _PredictAb(torch.nn.Module):
    """Wraps a colorizer so that its ``predict_ab`` is what ``forward`` (and so the export) computes."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        return self.model.predict_ab(l_norm)


#: torch.onnx.export keeps global state: two exports at once in one process fail (e.g. a server warming
#: its default model in a thread while the main thread loads the same model), so they take turns
_EXPORT_LOCK = threading.RLock()


def export_onnx(name: str, path: str | Path, opset: int = DEFAULT_OPSET, **model_options: Any) -> Path:
    """Export registry model ``name``'s ``predict_ab`` to an ONNX file at ``path``; returns the path.

    ``model_options`` are those of :func:`tinct.backends.torch.load_network` (e.g. ``temperature``)
    and are baked into the graph. The file is fp32, has dynamic batch, height and width, and carries
    metadata ``tinct_*`` (model, arch, kind, multiple, working_size, weights_sha1, options,
    temperature for classification models, opset, version). Written atomically; one export at a time
    in a process.
    Raises :class:`OnnxUnavailableError` without the ``onnx`` package, ValueError for an ``opset``
    outside :data:`~tinct.backends.ort.MIN_OPSET` to :data:`~tinct.backends.ort.MAX_OPSET`.
    """
    if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= MAX_OPSET:
        raise ValueError(f"opset must be from {MIN_OPSET} to {MAX_OPSET}, got {opset!r}")
    with _EXPORT_LOCK:
        return _export_onnx(name, path, opset, **model_options)


def _export_onnx(name: str, path: str | Path, opset: int = DEFAULT_OPSET, **model_options: Any) -> Path:
    """The export itself (see :func:`export_onnx`); the caller holds ``_EXPORT_LOCK``."""
    onnx = require("onnx", "ONNX export")
    spec = resolve_spec(name)
    model = load_network(spec, torch.device("cpu"), **model_options).float().eval()
    meta: dict[str, Any] = {
        "tinct_model": name,
        "tinct_arch": spec.arch,
        "tinct_kind": model.kind,
        "tinct_multiple": model.multiple,
        "tinct_in_channels": getattr(model, "in_channels", 1),
        "tinct_working_size": spec.working_size,
        "tinct_weights_sha1": weights_sha1(spec.weights_path),
        "tinct_options": {k: v for k, v in model_options.items() if v is not None},
        "tinct_opset": opset,
        "tinct_version": __version__,
    }
    if hasattr(model, "temperature"):
        meta["tinct_temperature"] = float(model.temperature)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    example = torch.zeros(1, getattr(model, "in_channels", 1), 8 * model.multiple, 8 * model.multiple)
    try:
        with warnings.catch_warnings():
            # the TorchScript-based exporter: the torch.export-based one needs onnxscript, and this
            # graph (convolutions, resizes, softmax) exports the same either way
            warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"torch\.onnx")
            torch.onnx.export(
                _PredictAb(model),
                (example,),
                str(tmp),
                dynamo=False,
                opset_version=opset,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={
                    INPUT_NAME: {0: "batch", 2: "height", 3: "width"},
                    OUTPUT_NAME: {0: "batch", 2: "out_height", 3: "out_width"},
                },
            )
        proto = onnx.load(str(tmp))
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, json.dumps(value)
        proto.producer_name, proto.producer_version = "tinct", __version__
        onnx.save(proto, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def cached_export(name: str, **model_options: Any) -> Path:
    """The exported file for ``name`` (and options) in :func:`cache_dir`, exporting it on first use
    (named as :func:`tinct.backends.ort.export_path` says: new weights or another temperature never
    reuse a stale export). Safe to call from several threads: one exports, the others then find the file.
    A new export prunes the least recently used others beyond the cache's size cap
    (:func:`tinct.backends.ort.prune_cache`)."""
    path, opts = export_path(name, **model_options)
    if not path.is_file():
        with _EXPORT_LOCK:
            if not path.is_file():
                export_onnx(name, path, **opts)
                prune_cache(path)
                return path  # just written: already the most recently used
    mark_used(path)
    return path


def onnx_predictor_for(
    spec: ModelSpec, model: torch.nn.Module, device: torch.device, backend: str, model_options: dict[str, Any]
) -> OnnxPredictor | None:
    """The ONNX predictor to run ``spec``'s loaded ``model`` with, or None for torch.

    ``backend`` "torch", or a device other than the CPU: None. "onnx": the predictor of the cached
    export (:func:`cached_export`; errors propagate). "auto": the same when onnxruntime is installed
    and the network can be exported, falling back to torch (None, with a warning) if the export fails.
    """
    if backend == "torch" or device.type != "cpu" or (backend == "auto" and not onnxruntime_available()):
        return None
    if backend == "auto" and not getattr(model, "onnx_exportable", True):
        return None  # known not to export: do not try (and print the exporter's failure) on every load
    try:
        return OnnxPredictor(cached_export(spec.name, **model_options))
    except Exception as e:  # noqa: BLE001 - "auto" must never stop colorizing: torch still works
        if backend == "onnx":
            raise
        # exporter errors can carry a whole graph dump: their first line only
        log.warning("onnx backend unavailable (%s: %s); using torch", type(e).__name__, one_line(e))
        return None


__all__ = [
    "OnnxPredictor",
    "OnnxUnavailableError",
    "cache_dir",
    "cached_export",
    "export_onnx",
    "onnx_predictor_for",
    "onnxruntime_available",
    "prune_cache",
    "read_metadata",
    "weights_sha1",
]
