"""What a training run is told: :class:`TrainConfig` (a TOML file under ``configs/`` and ``tinct train``'s
flags), and :class:`TrainingError`, how a run stops with a reason."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomllib

#: constructor options that choose how a classification model decodes, not what it learns: a new
#: run leaves them at the architecture's defaults (the release chooses them, scripts/choose_decoding.py)
DECODING_OPTIONS = ("temperature", "chroma_restore")


class TrainingError(RuntimeError):
    """Training stopped (non-finite loss, no data, ...); the message says why."""


@dataclass
class TrainConfig:
    #: architecture name in tinct.registry.ARCHITECTURES (None: the default model's, as shipped; see
    #: :meth:`__post_init__`)
    model: str | None = None
    data: str = ""  #: folder (or .txt list) of colour training images: required (``--data``)
    val: str | None = None
    steps: int = 1000
    epochs: float | None = None  #: if set, overrides steps
    batch: int = 32
    size: int | None = None  #: training crop side (None: the default model's working size, or 96)
    min_view: float = 0.0  #: smallest crop side as a fraction of the image's short side (1: whole views)
    #: probability that an image's input L is degraded as old scans are (tone curve, blur, grain;
    #: :mod:`tinct.train.degrade`): the colour asked for stays the clean image's (0: never)
    degrade: float = 0.0
    #: probability that an image gets a rectangle of another image of its batch pasted in, input and
    #: colour alike (CutMix, :mod:`tinct.train.cutmix`; 0: never)
    cutmix: float = 0.0
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: int = 100
    seed: int = 0
    device: str = "auto"
    out: str | None = None  #: run folder (None: ``runs/<model>``)
    workers: int = 0
    threads: int = 0  #: torch CPU threads (0: torch's default)
    checkpoint_every_s: float = 300.0
    val_every: int = 500
    val_images: int = 64
    sample_images: int = 8  #: validation images in each sample grid (samples/step_NNNNNN.png; 0: none)
    log_every: int = 20
    #: "auto" (bf16 on a GPU or a CPU with AVX-512 BF16 / AMX, else fp32), "fp32", "bf16", "fp16"
    precision: str = "auto"
    rebalance_lambda: float = 0.5  #: Zhang's class-rebalancing mix
    rebalance_power: float = 1.0  #: 1 = full rebalancing, 0 = none
    #: classification: weight of a smooth-L1 loss on the decoded colour (the annealed mean at the
    #: model's temperature, ab / 110) against the truth, added to the cross-entropy (0: none)
    decoded_weight: float = 0.0
    #: weight of the colourfulness deficit of the colour shown (the annealed mean, or a regression
    #: model's output) against the truth's (:func:`tinct.train.losses.colourfulness_deficit`; 0: none)
    colourfulness_weight: float = 0.0
    #: classification: weight of an adversarial term on the colour shown (the annealed mean): a small
    #: conditional PatchGAN critic (:class:`tinct.train.steps.CriticStep`) learns to tell it from the
    #: truth beside the cross-entropy (0: none; ``gan_mode`` picks its loss, default "lsgan")
    adversarial_weight: float = 0.0
    #: weight of a joint scene-classification term (Iizuka et al.): a linear head on the model's
    #: whole-image features names each image's source and class, from the data's manifest.csv or its
    #: folders (:class:`tinct.train.steps.SceneStep`, :mod:`tinct.train.labels`; 0: none)
    scene_weight: float = 0.0
    scene_min_images: int = 20  #: a scene label held by fewer images falls back to its source
    prior_images: int = 1000
    loss: str = "auto"  #: regression pixel loss: "auto" (smooth L1), "l1", "mse"
    perceptual_weight: float = 0.0  #: weight of the perceptual term (needs feature_net)
    feature_net: str | None = None  #: safetensors of a trained tinct.train.losses.FeatureNet
    #: adversarial models and ``adversarial_weight``: "vanilla" or "lsgan" (default: the model's; "lsgan")
    gan_mode: str | None = None
    pretrain_steps: int | None = None  #: adversarial models: G-only steps (default: the model's epochs)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    init: str | None = None  #: safetensors weights to start from (fine-tuning; see :func:`init_weights`)

    def __post_init__(self) -> None:
        """Fill what was left unset: a run of the default model's architecture (``model`` None or the
        same name) without ``model_kwargs`` trains the network as shipped (its options, decoding
        aside), at its working size; any other architecture has its own defaults and 96 px crops;
        the run folder is ``runs/<model>``."""
        from tinct.registry import DEFAULT_MODEL, get_spec

        shipped = get_spec(DEFAULT_MODEL)
        if self.model is None:
            self.model = shipped.arch
        if self.model == shipped.arch:
            if not self.model_kwargs:
                self.model_kwargs = {k: v for k, v in shipped.kwargs.items() if k not in DECODING_OPTIONS}
            if self.size is None:
                self.size = shipped.working_size
        if self.size is None:
            self.size = 96
        if self.out is None:
            self.out = f"runs/{self.model}"

    @classmethod
    def from_options(cls, path: str | Path | None, **overrides: Any) -> TrainConfig:
        """The config of ``tinct train``: the TOML file ``path`` (if any) with the flags that are not None."""
        if path is not None:
            return cls.from_file(path, **overrides)
        given = {k: v for k, v in overrides.items() if v is not None}
        _steps_or_epochs(given, "the command line")
        return cls(**given)

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        """Load a TOML config; keyword overrides that are not None win.

        A run counts in steps or in epochs, not both: ``--steps`` on the command line replaces the
        file's ``epochs`` (and ``--epochs`` its ``steps``); both given in one place is refused.
        """
        path = Path(path)
        if not path.is_file():
            raise TrainingError(f"config {path} does not exist")
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise TrainingError(f"config {path} is not valid TOML: {e}") from None
        given = {k: v for k, v in overrides.items() if v is not None}
        _steps_or_epochs(given, "the command line")
        _steps_or_epochs(data, str(path))
        if "steps" in given:
            data.pop("epochs", None)
        if "epochs" in given:
            data.pop("steps", None)
        data.update(given)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise TrainingError(f"unknown config keys in {path}: {', '.join(sorted(unknown))}")
        return cls(**data)

    def check(self) -> None:
        """Refuse, with a one-line :class:`TrainingError`, a config that cannot train: no data, a number
        field holding something else (or NaN, or infinity), a batch or a step count below 1, both steps
        and epochs set, a crop size that is not positive, a negative loss weight, warm-up, weight decay
        or rebalancing power, a learning rate that is not above 0, a view fraction, a degrade or
        cutmix probability or a rebalancing mix outside [0, 1], a scene term beside an adversarial one."""
        if not self.data:
            raise TrainingError(
                "no training data: give --data FOLDER (your own colour images), or data = in the config"
            )
        self._check_number_types()
        if self.batch < 1:
            raise TrainingError(f"--batch must be 1 or more, got {self.batch}")
        if self.epochs is not None and self.epochs <= 0:
            raise TrainingError(f"--epochs must be above 0, got {self.epochs:g}")
        if self.epochs is None and self.steps < 1:
            raise TrainingError(f"--steps must be 1 or more, got {self.steps} (0 steps would write an untrained model)")
        if self.size < 1:
            raise TrainingError(f"--size must be 1 or more, got {self.size}")
        if self.lr <= 0:
            raise TrainingError(f"--lr must be above 0, got {self.lr:g}")
        at_least_0 = ("decoded_weight", "colourfulness_weight", "adversarial_weight", "scene_weight",
                      "perceptual_weight", "weight_decay", "rebalance_power", "warmup", "workers", "threads",
                      "val_images", "sample_images", "checkpoint_every_s")  # fmt: skip
        for name in at_least_0:
            if getattr(self, name) < 0:
                raise TrainingError(f"{name} must be 0 or more, got {getattr(self, name):g}")
        for name in ("val_every", "log_every", "prior_images", "scene_min_images"):
            if getattr(self, name) < 1:
                raise TrainingError(f"{name} must be 1 or more, got {getattr(self, name)}")
        if self.scene_weight and self.adversarial_weight:
            raise TrainingError("scene_weight and adversarial_weight cannot be combined yet; set one of them to 0")
        if not 0 <= self.degrade <= 1:
            raise TrainingError(f"degrade is a probability, from 0 to 1; got {self.degrade:g}")
        if not 0 <= self.cutmix <= 1:
            raise TrainingError(f"cutmix is a probability, from 0 to 1; got {self.cutmix:g}")
        if not 0 <= self.min_view <= 1:
            raise TrainingError(f"min_view is a fraction of the short side, from 0 to 1; got {self.min_view:g}")
        if not 0 <= self.rebalance_lambda <= 1:
            raise TrainingError(f"rebalance_lambda is a mix, from 0 to 1; got {self.rebalance_lambda:g}")

    def _check_number_types(self) -> None:
        """Each field annotated ``int`` holds a whole number and each ``float`` a finite number (a TOML
        string or boolean would otherwise fail deep in torch with a message about something else)."""
        for f in fields(self):
            kinds = {k.strip() for k in str(f.type).split("|")}
            value = getattr(self, f.name)
            if value is None and "None" in kinds:
                continue
            if "int" in kinds and "float" not in kinds:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise TrainingError(f"{f.name} must be a whole number, got {value!r}")
            elif "float" in kinds:
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise TrainingError(f"{f.name} must be a finite number, got {value!r}")


def _steps_or_epochs(values: dict[str, Any], where: str) -> None:
    """Refuse ``values`` that set both ``steps`` and ``epochs`` (``where``: the file or the command line)."""
    if values.get("steps") is not None and values.get("epochs") is not None:
        raise TrainingError(
            f"give steps or epochs, not both ({where} sets steps {values['steps']} and epochs {values['epochs']:g})"
        )
