"""onnxruntime inference without torch: :class:`OnnxPredictor`, the cache of exports and
:func:`ready_predictor`, which answers a model from a cached export in milliseconds.

Beside each export the cache keeps the graph as onnxruntime optimises it for this machine
(:func:`optimized_path`), and the weights files' hashes that name the exports
(:func:`weights_sha1`): a load neither optimises the graph again nor reads the weights (loading
``prism`` in a fresh process: 0.08 s instead of 0.13 s).

The export itself (which needs torch and onnx) is :mod:`tinct.backends.onnx`; this module is what
a process that only colorizes needs, so ``tinct colorize`` with a cached export never imports torch
(see :func:`tinct.api.load_model`). Importing this module imports neither torch nor onnxruntime.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import platform
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinct.backends.hardware import cpu_signature, cpu_threads
from tinct.io.cache import cache_root
from tinct.io.files import atomic_write_bytes
from tinct.registry import ModelSpec, resolve_spec

if TYPE_CHECKING:
    import torch

#: the ONNX opsets an export may ask for: the graphs need opset 13 (softmax over one axis, resizes),
#: and 20 is the newest that torch's TorchScript-based exporter (the one tinct uses) writes
MIN_OPSET, MAX_OPSET = 13, 20
INPUT_NAME = "l_norm"
OUTPUT_NAME = "ab"


class OnnxUnavailableError(RuntimeError):
    """onnxruntime (or onnx, for export) is not installed."""


def require(module: str, purpose: str):
    """Import ``module`` or raise :class:`OnnxUnavailableError` saying how to install it."""
    try:
        return __import__(module)
    except ImportError:
        raise OnnxUnavailableError(
            f"{purpose} needs the {module!r} package: pip install 'tinct[onnx]' (onnx and onnxruntime)"
        ) from None


#: how many weights files' hashes :func:`weights_sha1` remembers (the most recently hashed)
SHA1_MEMO_ENTRIES = 256


def weights_sha1(path: str | Path) -> str:
    """Hex SHA-1 of a weights file (what names a cached export).

    Remembered in the export cache (``sha1.json`` in :func:`cache_dir`) under the file's resolved
    path, size, modification time (ns) and inode, so a load hashes a weights file only when one of
    those changed (15 MB cost ``prism`` 10 ms of every shell run); a cache it cannot read or write
    is skipped and the file hashed."""
    path = Path(path)
    st = path.stat()
    key = str(path.resolve())
    stamp = [st.st_size, st.st_mtime_ns, st.st_ino]
    memo_path = cache_dir() / "sha1.json"
    try:
        memo = json.loads(memo_path.read_text())
        if not isinstance(memo, dict):
            memo = {}
    except (OSError, ValueError):
        memo = {}
    entry = memo.get(key)
    if isinstance(entry, dict) and entry.get("stamp") == stamp and isinstance(entry.get("sha1"), str):
        return entry["sha1"]
    digest = hash_file(path)
    memo.pop(key, None)
    memo[key] = {"stamp": stamp, "sha1": digest}  # the newest last; the oldest are dropped
    memo = dict(list(memo.items())[-SHA1_MEMO_ENTRIES:])
    try:
        atomic_write_bytes(memo_path, json.dumps(memo).encode())
    except OSError:  # a read-only cache, or not a folder: the hash is right all the same
        pass
    return digest


def hash_file(path: str | Path) -> str:
    """Hex SHA-1 of a file's bytes, read in 1 MB chunks."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def decode_meta(raw: dict[str, str]) -> dict[str, Any]:
    """The ``tinct_*`` entries of an export's metadata map, values decoded from JSON."""
    return {k: json.loads(v) for k, v in raw.items() if k.startswith("tinct_")}


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The ``tinct_*`` metadata of an exported file (values decoded from JSON), via onnxruntime."""
    ort = require("onnxruntime", "the ONNX backend")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return decode_meta(sess.get_modelmeta().custom_metadata_map)


class OnnxPredictor:
    """``predict_ab`` of an exported model, run by onnxruntime on the CPU.

    ``run(x)`` takes a float32 array (B, C, H, W) (C: the file's ``tinct_in_channels``, 1, or 4 for
    a hint model) and returns ab (B, 2, h, w) float32; ``__call__`` does the same on torch tensors,
    like :class:`tinct.backends.torch.TorchPredictor` (within the tolerance of
    :mod:`tinct.backends.onnx`). ``threads``: intra-op threads (default
    :func:`tinct.backends.hardware.cpu_threads`). Thread-safe (onnxruntime sessions are);
    ``metadata`` holds the file's ``tinct_*`` entries.
    """

    backend = "onnx"

    def __init__(self, path: str | Path, threads: int | None = None):
        ort = require("onnxruntime", "the ONNX backend")
        self.path = Path(path)
        self.threads = threads or cpu_threads()
        self.session = self._open_session(ort)
        self.metadata = decode_meta(self.session.get_modelmeta().custom_metadata_map)

    def _options(self, ort, optimize: bool, save: Path | None = None):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        level = ort.GraphOptimizationLevel
        opts.graph_optimization_level = level.ORT_ENABLE_ALL if optimize else level.ORT_DISABLE_ALL
        # no spinning between runs: the pool's threads would burn the cores that the full-resolution
        # half, decoding and encoding need right after each run
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # ONNX protobuf whatever the file's name (onnxruntime would read a name ending in .ort as its own format)
        opts.add_session_config_entry("session.load_model_format", "ONNX")
        opts.add_session_config_entry("session.save_model_format", "ONNX")
        if save is not None:
            opts.optimized_model_filepath = str(save)
            opts.log_severity_level = 3  # its "hardware specific" warning: that is why the file is keyed so
        return opts

    def _open_session(self, ort):
        """The session of the export: from this machine's optimised graph (:func:`optimized_path`) when
        the cache holds one, else from the export, saving the optimised graph for the next load
        (atomically). An optimised graph that will not load, or a cache it may not write to, falls
        back to the export itself; an export that will not load raises as onnxruntime does."""
        providers = ["CPUExecutionProvider"]
        fast = optimized_path(self.path, ort.__version__)
        if fast.is_file():
            try:
                session = ort.InferenceSession(str(fast), self._options(ort, False), providers=providers)
            except Exception:  # onnxruntime's own exception types (Fail, InvalidGraph, ...): rebuild it
                pass
            else:
                return session  # not marked used: prune_cache goes by its export's last use alone
        tmp = fast.with_name(f"{fast.name}.{os.getpid()}-{threading.get_ident()}.tmp")
        try:
            session = ort.InferenceSession(str(self.path), self._options(ort, True, tmp), providers=providers)
            os.replace(tmp, fast)
            return session
        except Exception:  # could not save it (a read-only cache): load the export without saving
            return ort.InferenceSession(str(self.path), self._options(ort, True), providers=providers)
        finally:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass

    def with_threads(self, threads: int) -> OnnxPredictor:
        """The same export on ``threads`` intra-op threads (self when it already runs on that many).

        With one thread a run stays in the calling thread, so several threads can run the
        returned predictor at once, each on its own core (a batch's lanes, :meth:`Session.concurrent`).
        """
        return self if threads == self.threads else OnnxPredictor(self.path, threads)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Normalised L (and hint channels) (B, C, H, W) -> ab (B, 2, h, w), float32 numpy arrays."""
        (ab,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(x, np.float32)})
        return ab

    def __call__(self, l_norm: torch.Tensor) -> torch.Tensor:
        import torch

        return torch.from_numpy(self.run(l_norm.detach().to("cpu", torch.float32).numpy()))

    def __repr__(self) -> str:
        return f"OnnxPredictor({str(self.path)!r}, threads={self.threads})"


#: the suffix of a graph as onnxruntime optimised it for one machine, kept beside its export
OPTIMIZED_SUFFIX = ".opt"


def optimized_path(export: Path, ort_version: str) -> Path:
    """Where the graph of ``export`` as onnxruntime ``ort_version`` optimises it for this machine is
    kept: beside the export, keyed by that version and the CPU (:func:`cpu_signature`; the optimised
    graph uses the CPU's vector width), so another machine or onnxruntime sharing the cache makes its own."""
    key = hashlib.sha1(f"{ort_version} {cpu_signature()}".encode()).hexdigest()[:8]
    return export.with_name(f"{export.stem}.{key}{OPTIMIZED_SUFFIX}")


def export_stem(cache_file: Path) -> str:
    """The stem of the export a cache file belongs to: an export's own (``.onnx``), or the export an
    optimised graph was made from (the inverse of :func:`optimized_path`)."""
    return cache_file.stem if cache_file.suffix == ".onnx" else cache_file.stem.rsplit(".", 1)[0]


def cache_dir() -> Path:
    """Where automatic exports are kept: ``$TINCT_CACHE/onnx`` or ``~/.cache/tinct/onnx``."""
    return cache_root() / "onnx"


#: the export cache's size cap when ``TINCT_CACHE_MAX_MB`` is not set (about 40 exports of the
#: shipped models; each new weights file, temperature or tinct version adds one)
DEFAULT_CACHE_MAX_MB = 1024


def mark_used(path: Path) -> None:
    """Record that the export ``path`` was just used (its modification time), for :func:`prune_cache`.
    A cache the process may not write to is left as it is."""
    try:
        os.utime(path)
    except OSError:
        pass


def prune_cache(keep: Path, max_bytes: int | None = None) -> list[Path]:
    """Delete the least recently used exports in ``keep``'s folder until they fit in ``max_bytes``
    (default ``TINCT_CACHE_MAX_MB``, else :data:`DEFAULT_CACHE_MAX_MB`); ``keep`` itself is never
    deleted. Recency is the modification time, which :func:`mark_used` refreshes on every load, so
    exports of weights, temperatures or tinct versions no longer used go first. An export's
    optimised graphs (:func:`optimized_path`) count with it and go with it; one whose export is
    gone goes first. Everything can be rebuilt (the next load of a model exports it again). Returns
    the deleted paths; files another process removed first, or that cannot be removed, are skipped."""
    if max_bytes is None:
        max_bytes = int(float(os.environ.get("TINCT_CACHE_MAX_MB", DEFAULT_CACHE_MAX_MB)) * 1e6)
    groups: dict[str, list[tuple[float, int, Path]]] = {}  # an export's stem -> it and its optimised graphs
    for f in [*keep.parent.glob("*.onnx"), *keep.parent.glob(f"*{OPTIMIZED_SUFFIX}")]:
        try:
            st = f.stat()
        except OSError:
            continue
        groups.setdefault(export_stem(f), []).append((st.st_mtime, st.st_size, f))

    def recency(stem: str) -> float:  # the export's last use; -inf for graphs whose export is gone
        return max((t for t, _, f in groups[stem] if f.suffix == ".onnx"), default=float("-inf"))

    total = sum(size for group in groups.values() for _, size, _ in group)
    deleted = []
    for stem in sorted(groups, key=recency):  # oldest first
        if total <= max_bytes:
            break
        if stem == keep.stem:
            continue
        for _, size, f in groups[stem]:
            try:
                f.unlink()
            except OSError:
                continue
            total -= size
            deleted.append(f)
    return deleted


def export_path(name: str, **model_options: Any) -> tuple[Path, dict[str, Any]]:
    """Where :func:`tinct.backends.onnx.cached_export` keeps ``name``'s export (and the options it bakes in).

    Named ``{name}-{weights sha1[:12]}-{recipe hash}.onnx``, where the recipe is everything else
    an export depends on: the options (e.g. another temperature), the registry's architecture and
    arguments (a new working temperature or decoding for the same weights) and tinct's version (a
    network's code may change how it exports). So a cached export is never stale.
    """
    from tinct import version

    spec = resolve_spec(name)
    opts = {k: v for k, v in sorted(model_options.items()) if v is not None}
    stem = spec.weights_path.stem if spec.path else name  # a weights file: its stem, never its folders
    recipe = {"options": opts, "arch": spec.arch, "kwargs": spec.kwargs, "tinct": version.__version__}
    digest = hashlib.sha1(json.dumps(recipe, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return cache_dir() / f"{stem}-{weights_sha1(spec.weights_path)[:12]}-{digest}.onnx", opts


def onnxruntime_available() -> bool:
    """Whether onnxruntime can be imported (the ONNX backend can run)."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def no_gpu() -> bool:
    """True when "auto" surely means the CPU, known without importing torch: torch loaded and
    reporting no CUDA, or no NVIDIA device node on Linux, or macOS (tinct uses CUDA only)."""
    if "torch" in sys.modules:
        return not sys.modules["torch"].cuda.is_available()
    if platform.system() == "Darwin":
        return True
    return platform.system() == "Linux" and not glob.glob("/dev/nvidia[0-9]*")


def ready_predictor(spec: ModelSpec, device: Any, backend: str, model_options: dict[str, Any]) -> OnnxPredictor | None:
    """The ONNX predictor for ``spec`` when it can start now without torch, else None.

    That is: ``backend`` "auto" or "onnx", the device the CPU ("cpu", or "auto" with :func:`no_gpu`),
    onnxruntime installed, and an export of these weights and options already in :func:`cache_dir`
    (the first load, which exports, goes the torch way).
    """
    if backend not in ("auto", "onnx") or not (str(device) == "cpu" or (str(device) == "auto" and no_gpu())):
        return None
    if not spec.weights_path.is_file() or not onnxruntime_available():
        return None
    path, _ = export_path(spec.name, **model_options)
    if not path.is_file():
        return None
    mark_used(path)
    return OnnxPredictor(path)
