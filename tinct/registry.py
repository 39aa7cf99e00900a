"""The model registry: the one table the CLI, the Python API, the server and the docs read.

Each entry maps a model name to its architecture (a class in :mod:`tinct.models`), its
constructor arguments, its fp16 safetensors weights and model card (package data in
``tinct/weights``), and its working size. Importing this module does not import torch.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

WEIGHTS_DIR = Path(__file__).parent / "weights"

#: architecture name -> "module:Class"
ARCHITECTURES: dict[str, str] = {
    "lite": "tinct.models.lite:LiteUNet",
    "prism": "tinct.models.prism:PrismNet",
    "hints": "tinct.models.hints:HintUNet",
    "baseline": "tinct.models.baseline:BaselineCNN",
    "unet": "tinct.models.unet:UNet",
    "fusion": "tinct.models.fusion:FusionColorizer",
    "koala": "tinct.models.koala:KoalaColorizer",
    "zhang": "tinct.models.zhang:ZhangColorizer",
    "gan": "tinct.models.gan:GanGenerator",
    "pix2pix": "tinct.models.pix2pix:Pix2PixGenerator",
}

#: the architectures whose network takes user colour hints (their class's ``takes_hints``; a test
#: checks the two agree), listed here so that the registry answers without importing torch
HINT_ARCHITECTURES: frozenset[str] = frozenset({"hints"})


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry. ``working_size`` is the short side the network sees (never upscaled)."""

    name: str
    arch: str
    description: str
    working_size: int = 256
    kwargs: dict[str, Any] = field(default_factory=dict)
    paper: str = ""
    #: weights outside the package (a model trained with ``tinct train``; see :func:`resolve_spec`)
    path: str | None = None

    @property
    def weights_path(self) -> Path:
        return Path(self.path) if self.path else WEIGHTS_DIR / f"{self.name}.safetensors"

    @property
    def card_path(self) -> Path:
        return self.weights_path.with_suffix(".md")

    @property
    def metrics_path(self) -> Path:
        return self.weights_path.with_suffix(".json")

    @property
    def vivid(self) -> float | None:
        """The share of its training's class-rebalancing tilt the shipped weights keep (1 - the
        ``prior_correction`` its card records), for a model whose vividness can be chosen
        (``vivid`` of :func:`tinct.api.load_model`); None for the others."""
        return card_vivid(self.card_metrics())

    @property
    def takes_hints(self) -> bool:
        """Whether the model takes user colour hints (:mod:`tinct.hints`)."""
        return self.arch in HINT_ARCHITECTURES

    def card_metrics(self) -> dict[str, Any]:
        """Validation metrics recorded when the weights were made ({} if none)."""
        try:
            return json.loads(self.metrics_path.read_text())
        except (OSError, ValueError):
            return {}


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec(
            name="lite",
            arch="lite",
            description="tinct's compact classification U-Net (annealed-mean decoding); the default before prism",
            working_size=96,  # the size of its training views; with the temperature, chosen on train images (card)
            kwargs={"temperature": 0.5},
        ),
        ModelSpec(
            name="prism",
            arch="prism",
            description="tinct's CPU-first network: strided stem, wide stages to 1/16 with global context and "
            "attention, colour at 1/4; the default (its training chain: configs/prism/STAGES.md)",
            working_size=128,  # its training views; the decoding chosen on the dev split (card)
            kwargs={"width": 48, "attention": 1, "temperature": 0.6},
        ),
        ModelSpec(
            name="lite-plain",
            arch="lite",
            description="lite fine-tuned without class rebalancing: higher PSNR, less vivid colour",
            working_size=96,  # better than 256 on 200 training images (model card)
            kwargs={"temperature": 0.8},
        ),
        ModelSpec(
            name="lite-hints",
            arch="hints",
            description="lite that also takes user colour points (--hints), spread along L; automatic without them",
            working_size=256,
            kwargs={"temperature": 0.85},  # stage 3 lite's, which it was trained from (chosen on training images)
            paper="Zhang et al. 2017, Real-Time User-Guided Image Colorization with Learned Deep Priors",
        ),
        ModelSpec(
            name="baseline",
            arch="baseline",
            description="seed 004 Model 1: the 8-layer baseline CNN regressing ab (MSE)",
            working_size=256,
            paper="Seed 004 (baseline CNN, Model 1)",
        ),
        ModelSpec(
            name="koala",
            arch="koala",
            description="seed 004 Model 2, Deep Koalarization: encoder + global embedding fused, MSE",
            working_size=256,
            paper="Baldassarre et al. 2017, Deep Koalarization (seed 004 Model 2)",
        ),
        ModelSpec(
            name="fusion",
            arch="fusion",
            description="Iizuka et al. 2016: low/mid/global features with a fusion layer, MSE",
            working_size=256,
            paper="Iizuka, Simo-Serra and Ishikawa 2016, Let there be Color! (seed 001)",
        ),
        ModelSpec(
            name="zhang",
            arch="zhang",
            description="Zhang et al. 2016: VGG-style net, rebalanced classification over ab bins",
            working_size=256,
            kwargs={"temperature": 0.38},
            paper="Zhang, Isola and Efros 2016, Colorful Image Colorization (seeds 001, 004)",
        ),
        ModelSpec(
            name="unet",
            arch="unet",
            description="seed 003's U-Net regressing ab with MSE + a perceptual loss",
            working_size=256,
            paper="Seed 003 (U-Net with perceptual loss for medical images)",
        ),
        ModelSpec(
            name="gan",
            arch="gan",
            description="seed 000's GAN colorizer: encoder-decoder G (MSE + adversarial), CNN D",
            working_size=96,  # better than 256 on 200 training images (model card)
            paper="Seed 000 (GAN colorization of medical images)",
        ),
        ModelSpec(
            name="pix2pix",
            arch="pix2pix",
            description="pix2pix: ResNet18-encoder U-Net, L1 pre-training then PatchGAN + L1",
            working_size=96,  # better than 256 on 200 training images (model card)
            paper="Isola et al. 2017, pix2pix (seeds 001, 002)",
        ),
        ModelSpec(
            name="unet-medical",
            arch="unet",
            description="unet (seed 003) fine-tuned on colour medical images: fundus, histology, endoscopy",
            working_size=256,
            paper="Seed 003 (U-Net with perceptual loss for medical images)",
        ),
        ModelSpec(
            name="gan-medical",
            arch="gan",
            description="gan (seed 000) fine-tuned on colour medical images: fundus, histology, endoscopy",
            working_size=256,
            paper="Seed 000 (GAN colorization of medical images)",
        ),
    ]
}

DEFAULT_MODEL = "prism"
#: realistic colour for DICOM / NIfTI / FITS inputs when no model is named: the best on medical/val
DEFAULT_MEDICAL_MODEL = "unet-medical"


def scan_model(named: str | None, photo_options: bool = False) -> str:
    """The model a DICOM, NIfTI or FITS input gets in realistic mode, on every surface (the CLI, the
    server): ``named`` where one was named (a command's or a request's ``--model``, a server's own
    ``--model``); else :data:`DEFAULT_MODEL` where ``photo_options`` (an option that only the photo
    default's colour distribution takes was given: a vividness, a temperature, an uncertainty map);
    else :data:`DEFAULT_MEDICAL_MODEL`."""
    if named is not None:
        return named
    return DEFAULT_MODEL if photo_options else DEFAULT_MEDICAL_MODEL


class UnknownModelError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; this one reads as a sentence
        return str(self.args[0])


def get_spec(name: str) -> ModelSpec:
    """The registry entry for ``name``; an unknown name raises with the list of known ones."""
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None


def resolve_spec(name: str) -> ModelSpec:
    """A registry entry, or the spec of a weights file that ``tinct train`` wrote (its ``model.safetensors``).

    A name that is not in the registry and ends in ``.safetensors`` is read as a path: the
    architecture and its arguments come from the file's metadata (``arch``, ``kwargs``); the working
    size is the file's ``working_size`` (what ``tinct train`` writes: the size it trained at), else
    its training config's ``size``, else the registry default (256); a ``temperature`` in the
    metadata (one chosen for the weights) joins the kwargs. Callers may still override both. So
    ``tinct colorize --model runs/mine/model.safetensors`` and ``tinct eval --models
    lite,runs/mine/model.safetensors`` use a model you trained, and ``tinct serve --model
    runs/mine/model.safetensors`` serves it as its default (a request may name registry models
    only, :func:`get_spec`, or that default). Raises :class:`UnknownModelError` for anything else,
    with the reason.
    """
    if name in MODELS or not name.endswith(".safetensors"):
        return get_spec(name)
    path = Path(name)
    if not path.is_file():
        raise UnknownModelError(f"weights file {name} not found (and {name!r} is not a registry model)")
    try:
        from safetensors import SafetensorError, safe_open
    except ImportError:  # pragma: no cover - safetensors is a dependency
        raise UnknownModelError("reading a weights file needs safetensors") from None
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError) as e:
        raise UnknownModelError(f"{name} is not a readable safetensors file: {e}") from None
    try:
        arch = json.loads(meta["arch"])
        kwargs = json.loads(meta.get("kwargs", "{}")) or {}
    except (KeyError, ValueError, TypeError):
        raise UnknownModelError(
            f"{name} has no tinct metadata (arch, kwargs): use the model.safetensors that tinct train writes"
        ) from None
    if arch not in ARCHITECTURES or not isinstance(kwargs, dict):
        raise UnknownModelError(f"{name}: unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    size, temperature = _trained_for(meta)
    if temperature is not None:
        kwargs = {**kwargs, "temperature": temperature}
    return ModelSpec(
        name=name,
        arch=arch,
        description=f"{arch} weights from {name}",
        kwargs=kwargs,
        path=str(path),
        **({"working_size": size} if size else {}),
    )


def _trained_for(meta: dict[str, str]) -> tuple[int | None, float | None]:
    """(working size, temperature) a weights file's metadata names: ``working_size`` (else the training
    config's ``size``) and ``temperature``; None for what it does not name or names wrongly."""

    def number(key: str, source: dict[str, Any]) -> Any:
        value = source.get(key)
        try:
            value = json.loads(value) if isinstance(value, str) else value
        except ValueError:
            return None
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None

    size = number("working_size", meta)
    if size is None:
        try:
            config = json.loads(meta.get("config", "{}"))
        except ValueError:
            config = {}
        size = number("size", config) if isinstance(config, dict) else None
    temperature = number("temperature", meta)
    return (int(size) if size else None), (float(temperature) if temperature else None)


def card_vivid(card: dict[str, Any]) -> float | None:
    """1 - the ``prior_correction`` a model card records (:attr:`ModelSpec.vivid`); None without one."""
    beta = card.get("prior_correction")
    return None if beta is None else 1.0 - float(beta)


def model_rows(default: str = DEFAULT_MODEL, scan_default: str = DEFAULT_MEDICAL_MODEL) -> list[dict[str, Any]]:
    """The registry as rows (what ``tinct models --json`` prints and ``GET /api/v1/models`` answers).

    One dict per model, registry order: name, default (True for ``default``: the registry's, or a
    server's own default model), scan_default (True for ``scan_default``: the model DICOM, NIfTI and
    FITS inputs get when none is named, :func:`scan_model`), description, working_size, takes_hints
    (whether it takes user colour hints), vivid (its default vividness where it can be chosen, else
    None: :attr:`ModelSpec.vivid`), weights_bytes (None if the weights file is missing),
    parameters and val_* scores from the model card (None when not recorded).
    """
    rows = []
    for spec in MODELS.values():
        card = spec.card_metrics()
        val = card.get("val", {})
        rows.append(
            {
                "name": spec.name,
                "default": spec.name == default,
                "scan_default": spec.name == scan_default,
                "description": spec.description,
                "working_size": spec.working_size,
                "takes_hints": spec.takes_hints,
                "vivid": card_vivid(card),
                "weights_bytes": spec.weights_path.stat().st_size if spec.weights_path.exists() else None,
                "parameters": card.get("parameters"),
                "val_psnr": val.get("psnr"),
                "val_psnr_gain": val.get("psnr_gain"),
                "val_colourfulness_ratio": val.get("colourfulness_ratio"),
            }
        )
    return rows


def architecture_class(arch: str) -> type:
    """The network class of an architecture name (its module is imported, torch with it)."""
    try:
        target = ARCHITECTURES[arch]
    except KeyError:
        raise UnknownModelError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}") from None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def build_architecture(arch: str, **kwargs: Any):
    """Instantiate an (untrained) network by architecture name."""
    return architecture_class(arch)(**kwargs)
