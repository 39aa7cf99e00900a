"""Pickle-free checkpoints and weights: tensors in safetensors, everything else in the file's JSON metadata.

A training checkpoint holds the model, the optimizer (state tensors and param groups), the
scheduler, the mixed-precision gradient scaler, RNG states, the step and the config. It is
written to a temporary file and renamed, so a crash mid-write never leaves a broken checkpoint.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from tinct.models.quantize import ABQuantizer
from tinct.train.config import TrainingError


def atomic_save_tensors(tensors: dict[str, torch.Tensor], path: str | Path, metadata: dict[str, str]) -> None:
    """Write ``tensors`` to ``path`` via a temporary file in the same folder + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.chmod(tmp, 0o644)  # safetensors creates files 0600: weights are for sharing
    os.replace(tmp, path)


def _flatten_optimizer(sd: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, scalars = {}, {}
    for pid, st in sd["state"].items():
        for name, val in st.items():
            if isinstance(val, torch.Tensor):
                tensors[f"optim.{pid}.{name}"] = val
            else:
                scalars[f"{pid}.{name}"] = val
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[int, dict[str, Any]] = {}
    for key, val in tensors.items():
        _, pid, name = key.split(".", 2)
        state.setdefault(int(pid), {})[name] = val
    for key, val in meta["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = val
    return {"state": state, "param_groups": meta["param_groups"]}


def save_training_state(
    path: str | Path,
    *,
    model: torch.nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    schedulers: dict[str, Any],
    step: int,
    config: dict,
    extra_tensors: dict[str, torch.Tensor] | None = None,
    models: dict[str, torch.nn.Module] | None = None,
    scaler: Any = None,
    run: dict[str, Any] | None = None,
) -> None:
    """Save everything needed to resume training exactly (see module docstring).

    ``scaler``: a :class:`torch.amp.GradScaler` (its state is ``{}`` when disabled: bf16 / fp32).
    ``run``: JSON-able facts of the run carried across resumes (e.g. the training wall time so far;
    :func:`read_run_state`).
    """
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    for name, m in (models or {}).items():
        tensors.update({f"{name}.{k}": v for k, v in m.state_dict().items()})
    meta: dict[str, Any] = {"step": step, "config": config, "optim": {}, "sched": {}, "run": run or {}}
    for name, opt in optimizers.items():
        t, m = _flatten_optimizer(opt.state_dict())
        tensors.update({f"{name}.{k}": v for k, v in t.items()})
        meta["optim"][name] = m
    for name, sch in schedulers.items():
        meta["sched"][name] = sch.state_dict()  # LambdaLR keeps None for plain functions
    if scaler is not None:
        meta["scaler"] = scaler.state_dict()
    tensors["rng.torch"] = torch.get_rng_state()
    meta["rng_python"] = random.getstate()
    np_state = np.random.get_state()
    meta["rng_numpy"] = [np_state[0], np_state[1].tolist(), *np_state[2:]]
    for k, v in (extra_tensors or {}).items():
        tensors[f"extra.{k}"] = v
    atomic_save_tensors(tensors, path, {"tinct_training_state": json.dumps(meta)})


def load_training_state(
    path: str | Path,
    *,
    model: torch.nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    schedulers: dict[str, Any],
    models: dict[str, torch.nn.Module] | None = None,
    scaler: Any = None,
) -> tuple[int, dict, dict[str, torch.Tensor]]:
    """Restore a checkpoint written by :func:`save_training_state`; returns (step, config, extras).

    A ``scaler`` gets the saved loss scale when the checkpoint has one (an fp16 run); otherwise it
    keeps its initial state (a run saved in bf16 / fp32, or before scalers were saved).
    """
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["tinct_training_state"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}

    def part(prefix: str) -> dict[str, torch.Tensor]:
        n = len(prefix) + 1
        return {k[n:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}

    model.load_state_dict(part("model"))
    for name, m in (models or {}).items():
        m.load_state_dict(part(name))
    for name, opt in optimizers.items():
        opt.load_state_dict(_unflatten_optimizer(part(name), meta["optim"][name]))
    for name, sch in schedulers.items():
        state = dict(meta["sched"][name])
        if hasattr(sch, "lr_lambdas"):  # LambdaLR: plain functions are stored as None
            state.setdefault("lr_lambdas", [None] * len(sch.lr_lambdas))
        sch.load_state_dict(state)
    if scaler is not None and meta.get("scaler"):
        scaler.load_state_dict(meta["scaler"])
    torch.set_rng_state(tensors["rng.torch"])
    py = meta["rng_python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    ns = meta["rng_numpy"]
    np.random.set_state((ns[0], np.array(ns[1], dtype=np.uint32), *ns[2:]))
    return int(meta["step"]), meta["config"], part("extra")


def read_run_state(path: str | Path) -> dict[str, Any]:
    """The ``run`` facts a checkpoint carries (:func:`save_training_state`); ``{}`` for older checkpoints."""
    with safe_open(str(path), framework="pt") as f:
        return dict(json.loads(f.metadata()["tinct_training_state"]).get("run") or {})


def prior_metadata(prior: torch.Tensor) -> list[float]:
    """The bin prior as weights metadata stores it (``bin_prior``, read back by
    :func:`read_rebalancing`): a list of floats rounded to 6 significant digits."""
    return [float(f"{v:.6g}") for v in prior.detach().float().cpu().tolist()]


def read_rebalancing(path: str | Path) -> tuple[torch.Tensor, float, float]:
    """(bin prior, rebalance_lambda, rebalance_power) of a classification run, read from its
    ``model.safetensors`` (metadata ``bin_prior`` and ``config``) or its training checkpoint
    (``extra.prior``); what :meth:`tinct.models.quantize.ABQuantizer.rebalance_log_factor` needs.
    Raises TrainingError where the file holds no prior (a regression model, or weights written
    before the prior was recorded: point at the run's checkpoint.safetensors instead)."""
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if "tinct_training_state" in meta:
                config = json.loads(meta["tinct_training_state"])["config"]
                prior = f.get_tensor("extra.prior") if "extra.prior" in f.keys() else None
            else:
                config = json.loads(meta.get("config", "{}"))
                prior = json.loads(meta["bin_prior"]) if "bin_prior" in meta else None
    except (OSError, SafetensorError, ValueError, KeyError) as e:
        raise TrainingError(f"cannot read the rebalancing of {path}: {e}") from None
    if prior is None:
        raise TrainingError(f"{path} records no bin prior (use the run's checkpoint.safetensors)")
    return ABQuantizer.recorded_rebalancing(prior, config)


def export_weights(model, path: str | Path, metadata: dict[str, Any]) -> None:
    """Write the model's weights as fp16 safetensors (what tinct ships)."""
    sd = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    atomic_save_tensors(sd, path, {k: json.dumps(v) for k, v in metadata.items()})


def init_weights(model: torch.nn.Module, path: str | Path) -> list[str]:
    """Initialise ``model`` from the weights in ``path`` (safetensors, fp16 or fp32): fine-tuning.

    Tensors of the same shape are copied. A tensor that is larger only in its input-channel
    dimension (dim 1: e.g. a first convolution that now also takes hint channels) gets the old
    weights in its first channels and zeros in the new ones; a tensor the file lacks is kept as
    built where the model says its block is the identity as built
    (:meth:`tinct.models.base.Colorizer.identity_at_init`: e.g. residual pairs grown into a
    deeper network). Either way the network starts out computing what the old one did. Returns
    the names of the tensors that were widened or kept as built. Raises :class:`TrainingError` for
    a missing or unreadable file or any other mismatch.
    """
    try:
        src = load_file(str(path))
    except (OSError, SafetensorError) as e:
        raise TrainingError(f"cannot read init weights {path}: {e}") from None
    own = model.state_dict()
    grows = getattr(model, "identity_at_init", lambda key: False)
    grown = [k for k in own if k not in src and grows(k)]
    problems = [f"missing {k}" for k in own if k not in src and not grows(k)]
    problems += [f"unexpected {k}" for k in src if k not in own]
    widened = []
    for key, dst in own.items():
        if key not in src:
            continue
        t = src[key].to(dst.dtype)
        if t.shape == dst.shape:
            own[key] = t
        elif t.ndim == dst.ndim >= 2 and t.shape[1] < dst.shape[1] and _same_but_dim1(t.shape, dst.shape):
            wide = torch.zeros_like(dst)
            wide[:, : t.shape[1]] = t
            own[key] = wide
            widened.append(key)
        else:
            problems.append(f"{key}: {tuple(t.shape)} in the file, {tuple(dst.shape)} in the model")
    if problems:
        raise TrainingError(f"init weights {path} do not fit {type(model).__name__}: " + "; ".join(problems[:5]))
    model.load_state_dict(own)
    return widened + grown


def _same_but_dim1(a: torch.Size, b: torch.Size) -> bool:
    return (a[0], *a[2:]) == (b[0], *b[2:])
