"""`tinct train` under torchrun: 2 CPU processes with the gloo backend, rank-aware files, resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from tinct.train import StepSampler, TrainingError

# Runs inside each torchrun process: records which rank checkpointed, exported and trained on
# what, then runs the unchanged CLI (``tinct train ...``).
DRIVER = """
import os, sys
import torch.distributed as dist
import tinct.train.loop as T
import tinct.train.steps as S

rank, marks = os.environ["RANK"], sys.argv[1]

def mark(line):
    with open(marks, "a") as f:
        f.write(line + "\\n")

def wrap(name):
    real = getattr(T, name)
    def recorded(*a, **k):
        mark(f"{name} {rank}")
        return real(*a, **k)
    setattr(T, name, recorded)

wrap("save_training_state")
wrap("export_weights")
real_lab = T.lab_batch
def lab_batch(rgb, device):
    mark(f"batch {rank} {rgb.shape[0]} world {dist.get_world_size() if dist.is_initialized() else 1}")
    return real_lab(rgb, device)
T.lab_batch = lab_batch
real_distribute = S.distribute
def distribute(module, device):
    wrapped = real_distribute(module, device)
    mark(f"wrapped {rank} {type(wrapped).__name__}")
    return wrapped
S.distribute = distribute
real_destroy = dist.destroy_process_group
def destroy(*a, **k):  # how many DDP wrappers (each holding the group) are still alive when it is left
    import gc
    from torch.nn.parallel import DistributedDataParallel
    alive = sum(isinstance(o, DistributedDataParallel) for o in gc.get_objects())
    mark(f"destroy {rank} ddp alive {alive}")
    return real_destroy(*a, **k)
dist.destroy_process_group = destroy

from tinct.cli import app
app(sys.argv[2:])
"""


def test_step_sampler_shards_every_global_batch():
    single = list(StepSampler(10, 4, seed=3, start_step=1, total_steps=7))
    shards = [list(StepSampler(10, 4, seed=3, start_step=1, total_steps=7, rank=r, world=2)) for r in range(2)]
    assert len(single) == 24 and all(len(s) == 12 for s in shards)
    for step in range(6):  # rank 0 takes the first half of each global batch, rank 1 the second
        assert (
            shards[0][2 * step : 2 * step + 2] + shards[1][2 * step : 2 * step + 2] == single[4 * step : 4 * step + 4]
        )
    with pytest.raises(TrainingError, match="not divisible"):
        StepSampler(10, 5, seed=0, start_step=0, total_steps=2, rank=0, world=2)


def _torchrun(driver: Path, marks: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    return subprocess.run([*cmd, str(driver), str(marks), *args], capture_output=True, text=True, timeout=600, env=env)


def test_train_under_torchrun_with_two_gloo_processes(smoke_dir, tmp_path):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    cfg = tmp_path / "ddp.toml"
    run = tmp_path / "run"
    cfg.write_text(
        f'model = "lite"\ndata = "{smoke_dir}"\nbatch = 4\nsize = 32\nwarmup = 1\nlog_every = 1\n'
        f'prior_images = 16\ncheckpoint_every_s = 0.0\nout = "{run}"\n[model_kwargs]\nwidth = 8\n'
    )
    marks = tmp_path / "marks.txt"
    r = _torchrun(driver, marks, "train", "--config", str(cfg), "--steps", "3", "-q")
    assert r.returncode == 0, r.stderr[-3000:]
    lines = marks.read_text().splitlines()
    # each rank trained on its half (2 of 4) of every global batch, in a 2-process group, under DDP
    for rank in "01":
        assert lines.count(f"batch {rank} 2 world 2") == 3
        assert f"wrapped {rank} DistributedDataParallel" in lines
    # only rank 0 wrote: one checkpoint at steps 1, 2, 3 (checkpoint_every_s = 0) + the final one
    assert {ln for ln in lines if ln.startswith(("save", "export"))} == {"save_training_state 0", "export_weights 0"}
    assert lines.count("export_weights 0") == 1
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2, 3]  # one writer: no line twice
    assert all(torch.isfinite(torch.tensor(e["loss"])) for e in log)
    weights = load_file(str(run / "model.safetensors"))
    assert weights["enc0.0.0.weight"].shape == (8, 1, 3, 3)
    assert all(torch.isfinite(v.float()).all() for v in weights.values() if v.is_floating_point())
    assert r.stderr.count("trained 3 steps") == 1
    # each rank left the group it joined, once, after the DDP wrappers holding it were freed (left to
    # the interpreter's exit, gloo's teardown can abort a rank after a successful run)
    assert sorted(ln for ln in lines if ln.startswith("destroy")) == ["destroy 0 ddp alive 0", "destroy 1 ddp alive 0"]

    # resume: the same command with more steps continues from rank 0's checkpoint on both ranks
    marks.unlink()
    r = _torchrun(driver, marks, "train", "--config", str(cfg), "--steps", "5", "--resume", "-q")
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stderr.count("resumed from") == 1 and "at step 3" in r.stderr
    lines = marks.read_text().splitlines()
    assert all(lines.count(f"batch {rank} 2 world 2") == 2 for rank in "01")  # steps 4 and 5 only
    log = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert [e["step"] for e in log] == [1, 2, 3, 4, 5]
    with safe_open(str(run / "checkpoint.safetensors"), framework="pt") as f:
        assert json.loads(f.metadata()["tinct_training_state"])["step"] == 5
    resumed = load_file(str(run / "model.safetensors"))
    assert all(torch.isfinite(v.float()).all() for v in resumed.values() if v.is_floating_point())
    assert not torch.equal(resumed["head.weight"], weights["head.weight"])  # it trained on
