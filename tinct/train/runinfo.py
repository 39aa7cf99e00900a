"""What surrounds a training loop: the run folder (refuse to clobber a run, ``--overwrite``, ``--resume``),
stopping cleanly on SIGINT / SIGTERM, the machine it ran on, the last console lines and the run's model card.

A run folder holds a run when it has any of :data:`RUN_FILES` but the log: a run killed before its
first checkpoint (SIGKILL, a machine going away; SIGINT / SIGTERM write one) leaves only
``log.jsonl``, nothing to continue, and a new run starts over it. A new run refuses a folder that
holds a run unless ``overwrite`` (the old run's files are removed first); ``resume`` needs its
checkpoint.
"""

from __future__ import annotations

import shutil
import signal
import threading
from pathlib import Path
from typing import Any

import torch

from tinct.backends.hardware import cpu_name
from tinct.train.config import TrainingError

#: the fp16 weights of the step an interrupted run stopped at (SIGINT / SIGTERM), beside its checkpoint:
#: usable as ``init`` or ``--model`` before the run is resumed; removed when the run finishes
PARTIAL_WEIGHTS = "partial.safetensors"
#: the files that make a folder a run (and that ``--overwrite`` removes, with ``samples/``)
RUN_FILES = ("checkpoint.safetensors", "model.safetensors", PARTIAL_WEIGHTS, "log.jsonl", "summary.json", "model.md")


class TrainingInterrupted(TrainingError):
    """SIGINT / SIGTERM stopped the run after a step; a checkpoint of that step was written."""

    def __init__(self, step: int):
        super().__init__(f"interrupted at step {step}; resume with --resume")
        self.step = step


def prepare_out(out: Path, resume: bool, overwrite: bool) -> None:
    """Check the run folder ``out`` for a new run, ``resume`` or ``overwrite``; raises a one-line
    :class:`TrainingError` when a new run would replace a run, or ``resume`` finds no checkpoint.
    ``overwrite`` removes the files of the run that is there."""
    if resume and overwrite:
        raise TrainingError("give --resume (continue the run) or --overwrite (replace it), not both")
    if resume:
        if not (out / "checkpoint.safetensors").is_file():
            raise TrainingError(f"--resume: {out} has no checkpoint.safetensors; start a new run without --resume")
        return
    held = [name for name in RUN_FILES if (out / name).exists()]
    if held and not overwrite and held != ["log.jsonl"]:
        raise TrainingError(
            f"{out} already holds a run ({held[0]}): continue it with --resume or replace it with --overwrite"
        )
    for name in held:
        (out / name).unlink()
    shutil.rmtree(out / "samples", ignore_errors=True)


class StopRequests:
    """Within ``with``: SIGINT and SIGTERM ask the loop to stop after the current step (``requested``).

    A second signal stops at once (KeyboardInterrupt). Handlers can only be installed in the main
    thread; elsewhere nothing is installed and signals keep their usual effect.
    """

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested is not None:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


def machine_name(device: torch.device) -> str:
    """The processor a run trains on: the CUDA device's name, or the CPU's model name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


def _duration(seconds: float) -> str:
    """``42 s``, ``3.5 min`` or ``2.1 h``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def summary_lines(summary: dict[str, Any], out: Path) -> list[str]:
    """The last console lines of a run: images used and skipped, steps, wall time, machine and precision,
    validation beside gray and where the weights are."""
    data = summary.get("data", {})
    lines = [
        f"images: {data.get('used', '?')} used of {data.get('found', '?')} found"
        f" ({data.get('unreadable', 0)} unreadable, {data.get('near_gray', 0)} near-gray skipped)",
        f"trained {summary['steps']} steps in {_duration(summary.get('wall_time_s', 0.0))}"
        f" on {summary.get('hardware', '?')} ({summary.get('precision', '?')}),"
        f" {summary.get('images_per_s', 0.0):.1f} images/s",
    ]
    if "val_gain" in summary:
        lines.append(
            f"validation: PSNR {summary['val_psnr']:.2f} dB, {summary['val_gain']:+.2f} dB beside gray"
            f" ({summary['val_psnr_gray']:.2f}); colourfulness {summary['val_colourfulness_ratio']:.2f} of the truth's"
        )
    else:
        lines.append("validation: none (give --val FOLDER to score the run beside gray)")
    lines.append(f"weights: {out / 'model.safetensors'} (card: {out / 'model.md'})")
    return lines


def model_card(summary: dict[str, Any], config: dict[str, Any], out: Path) -> str:
    """The model card of a user run (``model.md`` beside its weights): data, images, steps, hardware,
    precision, wall time, working size and validation beside gray."""
    data = summary.get("data", {})
    val = (
        f"PSNR {summary['val_psnr']:.2f} dB against gray's {summary['val_psnr_gray']:.2f} dB"
        f" (gain {summary['val_gain']:+.2f} dB), colourfulness ratio {summary['val_colourfulness_ratio']:.2f}"
        f" (1.0 = as vivid as the truth), on up to {config['val_images']} images of `{config['val']}`"
        " (128 px centre crops)"
        if "val_gain" in summary
        else "none recorded (train with --val FOLDER, or score it with `tinct eval`)"
    )
    return "\n".join(
        [
            f"# Model card: `{out / 'model.safetensors'}`",
            "",
            "## Facts",
            "",
            f"- Architecture: `{config['model']}`, kwargs {config['model_kwargs'] or '{}'};"
            f" working size {config['size']} px (the size it was trained at; stored in the weights' metadata).",
            f"- Training data: `{config['data']}`: {data.get('found', '?')} images found, {data.get('used', '?')} used"
            f" ({data.get('unreadable', 0)} unreadable, {data.get('near_gray', 0)} near-gray skipped).",
            f"- Training: {summary['steps']} steps of batch {config['batch']}, crops of {config['size']} px,"
            f" lr {config['lr']:g}, seed {config['seed']}.",
            f"- Hardware: {summary.get('hardware', '?')}, precision {summary.get('precision', '?')};"
            f" wall time {_duration(summary.get('wall_time_s', 0.0))}"
            f" ({summary.get('images_per_s', 0.0):.1f} images/s).",
            f"- Validation: {val}.",
            "",
        ]
    )
