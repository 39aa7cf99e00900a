"""`tinct train`: one readable training loop for every tinct model (layer 6, an app; inference never
imports it).

* :mod:`~tinct.train.config` -- :class:`TrainConfig` (``configs/*.toml``), :class:`TrainingError`;
* :mod:`~tinct.train.data` -- colour images -> seeded crops -> (normalised L, ab);
* :mod:`~tinct.train.hints` -- random colour hints from the truth, for hint models;
* :mod:`~tinct.train.losses` -- perceptual and adversarial losses;
* :mod:`~tinct.train.steps` -- the objective and one optimiser step (supervised, GAN);
* :mod:`~tinct.train.precision`, :mod:`~tinct.train.distributed` -- bf16/fp16, torchrun and DDP;
* :mod:`~tinct.train.validate` -- validation scores and sample grids;
* :mod:`~tinct.train.runinfo` -- the run folder, SIGINT / SIGTERM, the machine, the last lines and the model card;
* :mod:`~tinct.train.checkpoint` -- atomic, pickle-free checkpoints, init and export of weights;
* :mod:`~tinct.train.loop` -- :func:`train`, which reads top to bottom.
"""

from tinct.registry import build_architecture
from tinct.train.checkpoint import export_weights, init_weights
from tinct.train.config import TrainConfig, TrainingError
from tinct.train.data import SeededCrops, lab_batch
from tinct.train.distributed import StepSampler, distribute, init_distributed, pick_device
from tinct.train.hints import hint_generator, simulate_hints
from tinct.train.loop import train
from tinct.train.precision import PRECISIONS, Precision
from tinct.train.runinfo import TrainingInterrupted
from tinct.train.steps import AdversarialStep, CriticStep, Objective, SceneStep, SupervisedStep, lr_lambda
from tinct.train.validate import sample_grid, validate

__all__ = [
    "PRECISIONS",
    "AdversarialStep",
    "CriticStep",
    "Objective",
    "Precision",
    "SceneStep",
    "SeededCrops",
    "StepSampler",
    "SupervisedStep",
    "TrainConfig",
    "TrainingError",
    "TrainingInterrupted",
    "build_architecture",
    "distribute",
    "export_weights",
    "hint_generator",
    "init_distributed",
    "init_weights",
    "lab_batch",
    "lr_lambda",
    "pick_device",
    "sample_grid",
    "simulate_hints",
    "train",
    "validate",
]
