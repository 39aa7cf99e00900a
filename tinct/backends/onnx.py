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

import hashlib
import json
import logging
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tinct.backends.hardware import cpu_threads
from tinct.backends.torch import load_network
from tinct.io.errors import one_line
from tinct.registry import ModelSpec, resolve_spec
from tinct.version import __version__

log = logging.getLogger("tinct")

INPUT_NAME = "l_norm"
OUTPUT_NAME = "ab"
DEFAULT_OPSET = 17


class OnnxUnavailableError(RuntimeError):
    """onnxruntime (or onnx, for export) is not installed."""


def _require(module: str, purpose: str):
    """Import ``module`` or raise an error that says how to install it."""
    try:
        return __import__(module)
    except ImportError:
        raise OnnxUnavailableError(
            f"{purpose} needs the {module!r} package: pip install 'tinct[onnx]' (onnx and onnxruntime)"
        ) from None


def weights_sha1(path: str | Path) -> str:
    """Hex SHA-1 of a weights file (what names a cached export)."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class _PredictAb(torch.nn.Module):
    """Wraps a colorizer so that its ``predict_ab`` is what ``forward`` (and so the export) computes."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, l_norm: torch.Tensor) -> torch.Tensor:
        return self.model.predict_ab(l_norm)


def export_onnx(name: str, path: str | Path, opset: int = DEFAULT_OPSET, **model_options: Any) -> Path:
    """Export registry model ``name``'s ``predict_ab`` to an ONNX file at ``path``; returns the path.

    ``model_options`` are those of :func:`tinct.backends.torch.load_network` (e.g. ``temperature``)
    and are baked into the graph. The file is fp32, has dynamic batch, height and width, and carries
    metadata ``tinct_*`` (model, arch, kind, multiple, working_size, weights_sha1, options,
    temperature for classification models, opset, version). Written atomically.
    Raises :class:`OnnxUnavailableError` without the ``onnx`` package.
    """
    onnx = _require("onnx", "ONNX export")
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


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The ``tinct_*`` metadata of an exported file (values decoded from JSON), via onnxruntime."""
    ort = _require("onnxruntime", "the ONNX backend")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return _decode_meta(sess.get_modelmeta().custom_metadata_map)


def _decode_meta(raw: dict[str, str]) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in raw.items() if k.startswith("tinct_")}


class OnnxPredictor:
    """``predict_ab`` of an exported model, run by onnxruntime on the CPU.

    ``__call__(l_norm)`` takes a float tensor (B, C, H, W) (C: the file's ``tinct_in_channels``,
    1, or 4 for a hint model) and returns ab (B, 2, h, w) float32 on
    the CPU, like :class:`tinct.backends.torch.TorchPredictor` (within the tolerance in the module
    docstring). ``threads``: intra-op threads (default :func:`tinct.backends.hardware.cpu_threads`).
    Thread-safe (onnxruntime sessions are); ``metadata`` holds the file's ``tinct_*`` entries.
    """

    backend = "onnx"

    def __init__(self, path: str | Path, threads: int | None = None):
        ort = _require("onnxruntime", "the ONNX backend")
        self.path = Path(path)
        self.threads = threads or cpu_threads()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self.metadata = _decode_meta(self.session.get_modelmeta().custom_metadata_map)

    def __call__(self, l_norm: torch.Tensor) -> torch.Tensor:
        x = np.ascontiguousarray(l_norm.detach().to("cpu", torch.float32).numpy())
        (ab,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: x})
        return torch.from_numpy(ab)

    def __repr__(self) -> str:
        return f"OnnxPredictor({str(self.path)!r}, threads={self.threads})"


def cache_dir() -> Path:
    """Where automatic exports are kept: ``$TINCT_CACHE/onnx`` or ``~/.cache/tinct/onnx``."""
    root = os.environ.get("TINCT_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "tinct") / "onnx"


def cached_export(name: str, **model_options: Any) -> Path:
    """The exported file for ``name`` (and options) in :func:`cache_dir`, exporting it on first use.

    Named ``{name}-{weights sha1[:12]}.onnx`` (plus a hash of the options when any are set), so
    new weights or another temperature never reuse a stale export.
    """
    spec = resolve_spec(name)
    opts = {k: v for k, v in sorted(model_options.items()) if v is not None}
    stem = spec.weights_path.stem if spec.path else name  # a weights file: its stem, never its folders
    tag = f"{stem}-{weights_sha1(spec.weights_path)[:12]}"
    if opts:
        tag += "-" + hashlib.sha1(json.dumps(opts, sort_keys=True).encode()).hexdigest()[:8]
    path = cache_dir() / f"{tag}.onnx"
    if not path.is_file():
        export_onnx(name, path, **opts)
    return path


def onnxruntime_available() -> bool:
    """Whether onnxruntime can be imported (the ONNX backend can run)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


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
    "read_metadata",
]
