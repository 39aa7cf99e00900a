"""The torch backend: load a registry model's network from its safetensors weights, and run it.

:func:`load_network` builds the architecture, loads the fp16/fp32 weights (never a pickle), sets the
options that change inference (e.g. ``temperature``) and puts it on the device (fp16 and
channels-last on CUDA; on the CPU torch's threads are capped at
:func:`tinct.backends.hardware.cpu_threads`). :class:`TorchPredictor` is the network as the
pipeline's ``AbPredictor``: the only place inference calls ``predict_ab``.
"""

from __future__ import annotations

import copy
import json
import numbers
import os
import weakref
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from tinct.backends.hardware import cpu_threads
from tinct.registry import ModelSpec, build_architecture


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


def load_network(spec: ModelSpec, device: torch.device, **options: Any) -> torch.nn.Module:
    """``spec``'s network with its weights, in eval mode on ``device``, ``options`` set (None ones skipped).

    ``options`` are attributes of the network that change inference (e.g. ``temperature``), or
    ``vivid`` (:func:`vivid_offset`); an unknown one raises ValueError. On CUDA the network is fp16
    and channels-last; on the CPU torch's threads are capped at :func:`tinct.backends.hardware.cpu_threads`.
    """
    model = build_architecture(spec.arch, **spec.kwargs)
    meta = load_weights(model, spec.weights_path)
    for key, value in options.items():
        if value is None:
            continue
        if key == "vivid":
            model.shift_logits(vivid_offset(meta, value, spec.name))
            continue
        if not hasattr(model, key):
            raise ValueError(f"model {spec.name!r} has no option {key!r}")
        setattr(model, key, value)
    model.eval().to(device)
    if device.type == "cuda":
        model.half().to(memory_format=torch.channels_last)
    else:
        threads = cpu_threads()
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    return model


def vivid_offset(meta: dict[str, Any], vivid: Any, name: str) -> torch.Tensor:
    """The per-bin logit offset (Q,) that decodes a classification network keeping ``vivid`` of its
    training's class-rebalancing tilt (:meth:`tinct.models.quantize.ABQuantizer.rebalance_log_factor`):
    1 keeps all of it (the most colourful, least accurate colours), 0 takes it all out (the
    network's estimate of the untilted posterior: the palest); ``vivid`` is 1 - the prior
    correction beta of ``scripts/release_model.py`` and ``scripts/choose_decoding.py``. ``meta`` is
    the weights file's parsed metadata: its ``bin_prior``, its training ``config``'s rebalancing and
    the ``prior_correction`` folded in at release (0 if none), so the offset is relative to what the
    file holds. Raises ValueError, in one line, for a ``vivid`` that is not a number from 0 to 1
    and for weights that record no bin prior."""
    from tinct.models.quantize import ABQuantizer

    if isinstance(vivid, bool) or not isinstance(vivid, numbers.Real) or not 0 <= vivid <= 1:
        raise ValueError(f"vivid must be a number from 0 (palest) to 1 (most colourful), got {vivid!r}")
    if "bin_prior" not in meta:
        raise ValueError(
            f"model {name!r} records no bin prior, so its vividness cannot be chosen "
            "(a classification model released with its prior, e.g. prism, can)"
        )
    rebalancing = ABQuantizer.recorded_rebalancing(meta["bin_prior"], meta.get("config") or {})
    tilt = ABQuantizer.rebalance_log_factor(*rebalancing)
    beta = 1.0 - float(vivid)
    return -(beta - float(meta.get("prior_correction", 0.0))) * tilt


def use_cpu_bf16(device: torch.device) -> bool:
    """Whether the torch backend runs the network under bf16 autocast on the CPU: only when asked,
    ``TINCT_BF16=1`` (off by default, and never for the uncertainty map; onnxruntime, the default
    CPU backend when installed, runs fp32).

    Measured (AMD EPYC Zen 4 with AVX-512 BF16, 2 threads; the six demo photos and the golden input,
    fp32 vs bf16 autocast, same run): the network 1.3-2x faster (lite 1.45x); golden outputs within 1
    code for lite, unet, zhang and gan; over the demo photos lite and zhang stay within 2 codes
    (ab within 0.53 Lab units), but unet reaches 5 codes and gan 22 (at about 1 % of values). The
    stated tolerance for a default is 1 code of fp32 on every registry model, which bf16 does not
    meet, so it is opt-in: worth it for lite-like networks without onnxruntime on a CPU with
    :func:`tinct.backends.hardware.cpu_has_fast_bf16`.
    """
    return device.type == "cpu" and os.environ.get("TINCT_BF16", "0") == "1"


_FP32_COPIES: weakref.WeakKeyDictionary[torch.nn.Module, torch.nn.Module] = weakref.WeakKeyDictionary()


class TorchPredictor:
    """A loaded network as the pipeline's ``AbPredictor``: normalised L (B, C, h, w) -> ab (Lab units), float32.

    Calling it runs ``predict_ab`` (the input in fp16 on CUDA, where :func:`load_network` made the
    network fp16); :meth:`with_uncertainty` runs ``predict_ab_uncertainty`` (ab and the map,
    (B, 3, h, w)); :meth:`autocast` runs under bf16 autocast, which needs fp32 parameters (batch
    norm takes bf16 activations only with fp32 weights), so an fp32 copy of an fp16 network is made
    once per network for it.
    """

    backend = "torch"

    def __init__(self, model: torch.nn.Module, device: torch.device, bf16: bool | None = None):
        """``bf16``: run calls under bf16 autocast; None (default) decides by :func:`use_cpu_bf16`."""
        self.model = model
        self.device = device
        self.bf16 = use_cpu_bf16(device) if bf16 is None else bf16

    def _input(self, l_norm: torch.Tensor) -> torch.Tensor:
        return l_norm.half() if self.device.type == "cuda" else l_norm

    def __call__(self, l_norm: torch.Tensor) -> torch.Tensor:
        if self.bf16:
            return self.autocast(l_norm)
        return self.model.predict_ab(self._input(l_norm)).float()

    def with_uncertainty(self, l_norm: torch.Tensor) -> torch.Tensor:
        """ab and the uncertainty map, (B, 3, h, w) float32 (the network must have a colour distribution)."""
        return self.model.predict_ab_uncertainty(self._input(l_norm)).float()

    def autocast(self, l_norm: torch.Tensor) -> torch.Tensor:
        """ab under bf16 autocast (the batched video path on CUDA; also runs on the CPU)."""
        model = self.model
        if next(model.parameters()).dtype != torch.float32:
            if model not in _FP32_COPIES:
                _FP32_COPIES[model] = copy.deepcopy(model).float().eval()
            model = _FP32_COPIES[model]
        dtype = next(model.parameters()).dtype
        with torch.autocast(self.device.type, dtype=torch.bfloat16):
            return model.predict_ab(l_norm.to(dtype)).float()
