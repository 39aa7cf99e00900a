"""`tinct train`: short runs, exact resume, NaN guard, unreadable images, CLI."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from tinct import train as train_mod
from tinct.cli import app
from tinct.train import TrainConfig, TrainingError, train


def tiny_config(data, out, **kw) -> TrainConfig:
    base = dict(
        model="lite",
        data=str(data),
        steps=6,
        batch=4,
        size=32,
        warmup=2,
        out=str(out),
        log_every=1,
        prior_images=16,
        checkpoint_every_s=0.0,
        model_kwargs={"width": 8},
    )
    base.update(kw)
    return TrainConfig(**base)


def test_short_run_writes_weights_log_and_checkpoint(smoke_dir, tmp_path):
    summary = train(
        tiny_config(smoke_dir, tmp_path / "run", val=str(smoke_dir), val_every=3, val_images=4), progress=False
    )
    run = tmp_path / "run"
    assert summary["steps"] == 6
    weights = load_file(str(run / "model.safetensors"))
    assert all(v.dtype == torch.float16 for v in weights.values() if v.is_floating_point())
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    assert "val_psnr_gray" in log[2] and "val_gain" in log[5]
    assert (run / "checkpoint.safetensors").exists()
    # the bin prior its rebalancing used travels with the weights, equal to the checkpoint's
    from tinct.models.quantize import ABQuantizer
    from tinct.train.checkpoint import read_rebalancing

    prior, lam, power = read_rebalancing(run / "model.safetensors")
    same, lam2, power2 = read_rebalancing(run / "checkpoint.safetensors")
    assert prior.shape == (ABQuantizer().q,) and math.isclose(float(prior.sum()), 1.0, rel_tol=1e-4)
    assert torch.allclose(prior, same, rtol=1e-5, atol=1e-9) and (lam, power) == (lam2, power2) == (0.5, 1.0)


@pytest.mark.parametrize("augment", ["degrade", "cutmix"])
def test_training_with_an_augmentation_changes_the_weights(smoke_dir, tmp_path, augment):
    """Scan-like degradations (tinct.train.degrade) and CutMix (tinct.train.cutmix) reach the network."""

    def run(name: str, p: float) -> dict:
        cfg = tiny_config(smoke_dir, tmp_path / name, steps=3, warmup=1, prior_images=8, **{augment: p})
        train(cfg, progress=False)
        return load_file(str(tmp_path / name / "model.safetensors"))

    plain, again, augmented = run("plain", 0.0), run("again", 0.0), run("augmented", 1.0)
    assert all(torch.equal(plain[k], again[k]) for k in plain)  # deterministic without it
    assert any(not torch.equal(plain[k], augmented[k]) for k in plain)


# degraded inputs and pasted rectangles are drawn from (seed, step, rank) too
@pytest.mark.parametrize("augment", [{}, {"degrade": 0.5, "cutmix": 0.5}])
def test_resume_gives_the_same_weights_as_an_uninterrupted_run(smoke_dir, tmp_path, monkeypatch, augment):
    train(tiny_config(smoke_dir, tmp_path / "a", **augment), progress=False)

    real_call = train_mod.Objective.__call__
    calls = {"n": 0}

    def interrupt_at_step_4(self, *args):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real_call(self, *args)

    monkeypatch.setattr(train_mod.Objective, "__call__", interrupt_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(smoke_dir, tmp_path / "b", **augment), progress=False)
    monkeypatch.setattr(train_mod.Objective, "__call__", real_call)
    train(tiny_config(smoke_dir, tmp_path / "b", **augment), resume=True, progress=False)

    a = load_file(str(tmp_path / "a" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_nan_loss_stops_and_keeps_last_good_checkpoint(smoke_dir, tmp_path, monkeypatch):
    real_batch = train_mod.lab_batch
    calls = {"n": 0}

    def poisoned(rgb, device):
        calls["n"] += 1
        l_norm, ab = real_batch(rgb, device)
        if calls["n"] == 3:
            l_norm = l_norm.clone()
            l_norm[0, 0, 0, 0] = float("nan")
        return l_norm, ab

    monkeypatch.setattr(train_mod.loop, "lab_batch", poisoned)
    with pytest.raises(TrainingError, match="non-finite loss.*step 2.*last good checkpoint"):
        train(tiny_config(smoke_dir, tmp_path / "n"), progress=False)
    from safetensors import safe_open

    with safe_open(str(tmp_path / "n" / "checkpoint.safetensors"), framework="pt") as f:
        assert json.loads(f.metadata()["tinct_training_state"])["step"] == 2


def test_unreadable_images_are_skipped_and_counted(smoke_images, tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    for p in smoke_images[:6]:
        shutil.copy(p, d / p.name)
    (d / "broken.jpg").write_bytes(b"\xff\xd8garbage")
    (d / "empty.png").write_bytes(b"")
    summary = train(tiny_config(d, tmp_path / "run", steps=8), progress=False)
    assert sorted(p.rsplit("/", 1)[-1] for p in summary["skipped_images"]) == ["broken.jpg", "empty.png"]


def test_cli_train_and_errors(smoke_dir, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('model = "lite"\nbatch = 4\nsize = 32\nprior_images = 8\nwarmup = 1\n[model_kwargs]\nwidth = 8\n')
    r = CliRunner().invoke(
        app,
        ["train", "--config", str(cfg), "--data", str(smoke_dir), "--steps", "3", "--out", str(tmp_path / "r"), "-q"],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "r" / "model.safetensors").exists()
    r = CliRunner().invoke(app, ["train", "--data", str(tmp_path / "nothing"), "--steps", "1", "-q"])
    assert r.exit_code == 1
    nothing = tmp_path / "nothing"
    hint = "give a folder of your own colour images (or a .txt list)"
    assert r.output == f"error: --data {nothing} does not exist; {hint}\n"
    bad = tmp_path / "bad.toml"
    bad.write_text("nonsense_key = 1\n")
    r = CliRunner().invoke(app, ["train", "--config", str(bad)])
    assert r.exit_code == 1 and "unknown config keys" in r.output
    r = CliRunner().invoke(
        app, ["train", "--data", str(smoke_dir), "--precision", "fp8", "--out", str(tmp_path / "p"), "-q"]
    )
    assert r.exit_code == 1 and "unknown precision 'fp8'" in r.output


def test_baseline_trains_from_the_cli_in_seconds(smoke_dir, tmp_path):
    r = CliRunner().invoke(
        app,
        [
            "train",
            "--model",
            "baseline",
            "--data",
            str(smoke_dir),
            "--steps",
            "20",
            "--batch",
            "4",
            "--size",
            "32",
            "--out",
            str(tmp_path / "b"),
            "-q",
        ],
    )
    assert r.exit_code == 0, r.output
    log = [json.loads(line) for line in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 20 and 0 < log[-1]["loss"] < 1  # smooth L1 on ab / 110
    assert load_file(str(tmp_path / "b" / "model.safetensors"))["net.conv1.weight"].shape == (32, 1, 3, 3)


@pytest.mark.parametrize("arch,kwargs", [("gan", {"width": 8}), ("pix2pix", {"width": 8})])
def test_adversarial_variant_pretrains_then_trains_d_and_g(smoke_dir, tmp_path, arch, kwargs):
    cfg = tiny_config(smoke_dir, tmp_path / arch, model=arch, model_kwargs=kwargs, pretrain_steps=2, gan_mode="lsgan")
    train(cfg, progress=False)
    log = [json.loads(line) for line in (tmp_path / arch / "log.jsonl").read_text().splitlines()]
    assert "loss_d" not in log[1] and "loss_d" in log[2] and "loss_adv" in log[-1]
    from safetensors import safe_open

    with safe_open(str(tmp_path / arch / "checkpoint.safetensors"), framework="pt") as f:
        keys = list(f.keys())
    assert any(k.startswith("disc.") for k in keys) and any(k.startswith("opt_d.") for k in keys)


def test_critic_trains_beside_a_classification_models_objective(smoke_dir, tmp_path):
    """adversarial_weight: D and G both step from the first step; the critic and its optimiser are
    checkpointed; the model's loss is its objective + weight x the adversarial term."""
    out = tmp_path / "critic"
    kw = {"width": 8, "attention": 0}
    train(tiny_config(smoke_dir, out, model="prism", size=64, model_kwargs=kw, adversarial_weight=0.5), progress=False)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [1, 2, 3, 4, 5, 6]
    for row in log:
        assert row["loss"] == pytest.approx(row["loss_objective"] + 0.5 * row["loss_adv"], rel=1e-3)
        assert 0 < row["loss_d"] < 10 and row["loss_adv"] > 0  # lsgan: (D(fake) - 1)^2 / 2 and the like
    from safetensors import safe_open

    with safe_open(str(out / "checkpoint.safetensors"), framework="pt") as f:
        keys = list(f.keys())
    assert any(k.startswith("disc.") for k in keys) and any(k.startswith("opt_d.") for k in keys)
    with pytest.raises(TrainingError, match="adversarial_weight needs a classification model; unet is regression"):
        train(tiny_config(smoke_dir, tmp_path / "reg", model="unet", adversarial_weight=0.5), progress=False)
    with pytest.raises(TrainingError, match="adversarial_weight must be 0 or more"):
        TrainConfig(data=str(smoke_dir), adversarial_weight=-1).check()


@pytest.mark.parametrize(
    "step_class,kw",
    [  # the GAN variant (its D and G optimisers, after G's pre-training) and a classification model's critic
        ("AdversarialStep", {"model": "gan", "model_kwargs": {"width": 8}, "pretrain_steps": 2}),
        ("CriticStep", {"model": "prism", "size": 64, "model_kwargs": {"width": 8, "attention": 0},
                        "adversarial_weight": 0.5}),
        # and the scene head (a second parameter group of the model's AdamW; one folder: one class)
        ("SceneStep", {"model": "prism", "size": 64, "model_kwargs": {"width": 8, "attention": 0},
                       "scene_weight": 0.5, "scene_min_images": 1}),
    ],
)  # fmt: skip
def test_adversarial_resume_is_exact(smoke_dir, tmp_path, monkeypatch, step_class, kw):
    train(tiny_config(smoke_dir, tmp_path / "a", **kw), progress=False)
    step = getattr(train_mod, step_class)
    real = step.__call__
    calls = {"n": 0}

    def interrupt(self, *args):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(self, *args)

    monkeypatch.setattr(step, "__call__", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(smoke_dir, tmp_path / "b", **kw), progress=False)
    monkeypatch.setattr(step, "__call__", real)
    train(tiny_config(smoke_dir, tmp_path / "b", **kw), resume=True, progress=False)
    a = load_file(str(tmp_path / "a" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_init_weights_copies_and_widens_input_channels(tmp_path):
    from safetensors.torch import save_file

    from tinct.models.lite import LiteUNet
    from tinct.train import init_weights

    src = LiteUNet(width=8)
    path = tmp_path / "src.safetensors"
    save_file({k: v.half() for k, v in src.state_dict().items()}, str(path))
    same = LiteUNet(width=8)
    assert init_weights(same, path) == []
    w = src.state_dict()["enc0.0.0.weight"]
    assert torch.allclose(same.state_dict()["enc0.0.0.weight"], w.half().float())

    class Wider(LiteUNet):  # the first conv takes 3 more channels (hints)
        def __init__(self):
            super().__init__(width=8)
            self.enc0[0][0] = torch.nn.Conv2d(4, 8, 3, padding=1, bias=False)

    wide = Wider()
    assert init_weights(wide, path) == ["enc0.0.0.weight"]
    got = wide.state_dict()["enc0.0.0.weight"]
    assert torch.equal(got[:, :1], w.half().float()) and not got[:, 1:].any()

    with pytest.raises(TrainingError, match="do not fit"):
        init_weights(LiteUNet(width=16), path)
    with pytest.raises(TrainingError, match="cannot read"):
        init_weights(LiteUNet(width=8), tmp_path / "missing.safetensors")


def test_init_weights_grows_a_deeper_prism_that_computes_what_the_shallower_did(tmp_path):
    from safetensors.torch import save_file

    from tinct.models.prism import PrismNet
    from tinct.train import init_weights

    torch.manual_seed(0)
    shallow = PrismNet(width=8, attention=1)
    for m in shallow.modules():  # trained-looking batch-norm statistics, so eval mode is not trivial
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
    path = tmp_path / "shallow.safetensors"
    save_file(shallow.state_dict(), str(path))
    deep = PrismNet(width=8, attention=1, depth=3)
    grown = init_weights(deep, path)
    assert grown and all(k.startswith(("enc3.2.", "enc3.3.", "enc4.2.", "enc4.3.")) for k in grown)
    assert {k.split(".")[0] + "." + k.split(".")[1] for k in grown} == {"enc3.2", "enc3.3", "enc4.2", "enc4.3"}
    x = torch.rand(2, 1, 64, 48) * 2 - 1
    shallow.eval(), deep.eval()
    with torch.no_grad():
        assert torch.allclose(deep(x), shallow(x), atol=1e-5)
        deep.train()
        assert torch.allclose(deep(x), shallow.train()(x), atol=1e-4)  # batch statistics too
    n_shallow = sum(p.numel() for p in shallow.parameters())
    assert sum(p.numel() for p in deep.parameters()) > n_shallow
    # only the grown blocks may be missing: a shallower network's own tensors may not
    with pytest.raises(TrainingError, match="missing enc4.1"):
        init_weights(deep, _without(tmp_path, shallow.state_dict(), "enc4.1."))
    with pytest.raises(TrainingError, match="unexpected enc3.2"):  # deeper weights into a shallower network
        save_file(deep.state_dict(), str(tmp_path / "deep.safetensors"))
        init_weights(PrismNet(width=8, attention=1), tmp_path / "deep.safetensors")
    with pytest.raises(ValueError, match="depth"):
        PrismNet(width=8, depth=0)


def _without(tmp_path, state: dict, prefix: str):
    from safetensors.torch import save_file

    path = tmp_path / "partial.safetensors"
    save_file({k: v for k, v in state.items() if not k.startswith(prefix)}, str(path))
    return path


def _ramp_image(path, w: int = 200, h: int = 100) -> None:
    """A horizontal ramp (red 0 -> 255 from left to right): a crop's mean red tells where it came from."""
    import numpy as np
    from PIL import Image

    red = np.tile(np.linspace(0, 255, w).round().astype(np.uint8), (h, 1))
    Image.fromarray(np.stack([red, np.full_like(red, 60), np.full_like(red, 90)], -1)).save(path)


@pytest.mark.parametrize("min_view", [0.0, 0.75, 1.0])
def test_crop_sides_respect_min_view(tmp_path, min_view):
    """Training crops cover at least ``min_view`` of the short side (1.0: the whole short side)."""
    import random

    from tinct.data import CropDataset

    _ramp_image(tmp_path / "ramp.png")
    ds = CropDataset(tmp_path, crop=32, train=True, min_view=min_view)
    random.seed(0)
    spans = []
    for _ in range(200):
        red = ds[0][0].float()
        spans.append(abs(float(red[:, -1].mean() - red[:, 0].mean())))  # ~ (crop side - 1) x 255/199 (flips too)
    side = 255 / 199  # red per source pixel
    smallest = min(spans) / side + 1
    assert smallest >= max(32, min_view * 100) - 5  # resampling softens the edge columns
    if min_view == 0.0:
        assert smallest < 40  # small crops do happen without a floor
    assert max(spans) / side + 1 <= 100 + 2


def test_validation_writes_sample_grids(smoke_dir, tmp_path):
    """Every validation also writes a grid: gray input, model output and truth for a few val images."""
    import numpy as np
    from PIL import Image

    cfg = tiny_config(smoke_dir, tmp_path / "run", val=str(smoke_dir), val_every=3, val_images=4, sample_images=3)
    train(cfg, progress=False)
    grids = sorted((tmp_path / "run" / "samples").glob("*.png"))
    assert [g.name for g in grids] == ["step_000003.png", "step_000006.png"]
    grid = np.asarray(Image.open(grids[-1]))
    # a 72 px strip of row labels, then three 128 px val crops, stacked gray / model / truth
    assert grid.shape == (3 * 128, 72 + 3 * 128 + 2 * 4, 3)
    gray = grid[:128, 72:200].astype(int)
    assert np.abs(gray[..., 0] - gray[..., 1]).max() <= 1  # the first row is the gray input
    assert np.abs(grid[256:, 72:200].astype(int) - gray).mean() > 1  # the last is the colour truth
    for band in range(3):  # each row band is labelled (black text on the white strip)
        strip = grid[band * 128 : (band + 1) * 128, :72]
        assert strip.min() < 100 and np.median(strip) == 255


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_and_resumes(smoke_dir, tmp_path, precision):
    """bf16 / fp16 autocast (GPU only by default, forced here on the CPU) trains, checkpoints the
    scaler and resumes; fp16 weights are exported either way."""
    cfg = tiny_config(smoke_dir, tmp_path / "run", precision=precision, steps=3)
    summary = train(cfg, progress=False)
    assert summary["steps"] == 3 and math.isfinite(summary["loss"])
    from safetensors import safe_open

    with safe_open(str(tmp_path / "run" / "checkpoint.safetensors"), framework="pt") as f:
        meta = json.loads(f.metadata()["tinct_training_state"])
    assert bool(meta["scaler"]) == (precision == "fp16")  # only fp16 scales the loss
    again = train(tiny_config(smoke_dir, tmp_path / "run", precision=precision, steps=5), resume=True, progress=False)
    assert again["steps"] == 5


@pytest.mark.parametrize("fast_bf16, expected", [(True, "bf16"), (False, "fp32")])
def test_precision_auto_follows_the_cpu_and_unknown_is_refused(monkeypatch, fast_bf16, expected):
    """auto: bf16 on a CPU with AVX-512 BF16 / AMX and on a GPU, fp32 on other CPUs; channels-last on every CPU
    (and for bf16 on a GPU), the default layout for fp32 on a GPU."""
    import tinct.hardware

    monkeypatch.setattr(tinct.hardware, "cpu_bf16_support", lambda: {"avx512_bf16": fast_bf16, "amx_bf16": False})
    chosen = train_mod.Precision("auto", torch.device("cpu"))
    assert chosen.name == expected and chosen.channels_last
    cuda = train_mod.Precision("auto", torch.device("cuda"))
    assert cuda.name == "bf16" and cuda.channels_last
    assert not train_mod.Precision("fp32", torch.device("cuda")).channels_last
    with pytest.raises(TrainingError, match="unknown precision 'fp8'"):
        train_mod.Precision("fp8", torch.device("cpu"))


@pytest.mark.parametrize(
    "avx512, amx, speedup, expected",
    [(False, False, None, "fp32"), (True, True, None, "bf16"), (True, False, 0.74, "fp32"), (True, False, 1.9, "bf16")],
)
def test_auto_times_bf16_only_where_the_flags_do_not_decide(monkeypatch, avx512, amx, speedup, expected):
    """No native bf16: fp32; AMX: bf16; AVX-512 BF16 alone: the measured faster of the two for the network."""
    import tinct.hardware
    from tinct.train import precision as pr

    monkeypatch.setattr(tinct.hardware, "cpu_bf16_support", lambda: {"avx512_bf16": avx512, "amx_bf16": amx})
    timed = []
    monkeypatch.setattr(pr, "bf16_speedup", lambda model, shape: timed.append(shape) or speedup)
    model = train_mod.build_architecture("lite", width=8)
    name, reason, was_timed = pr.auto_precision(torch.device("cpu"), model, (8, 1, 32, 32))
    assert name == expected and timed == ([(8, 1, 32, 32)] if speedup else []) and was_timed == bool(speedup)
    assert (f"{speedup:.2f}x" in reason) if speedup else ("AMX" in reason if amx else "no native bf16" in reason)
    if avx512 and not amx:  # without a network to time (Precision("auto")), the flags: bf16
        assert pr.auto_precision(torch.device("cpu"))[0] == "bf16" and len(timed) == 1


def test_a_bf16_probe_that_fails_picks_fp32(monkeypatch):
    import tinct.hardware
    from tinct.train import precision as pr

    monkeypatch.setattr(tinct.hardware, "cpu_bf16_support", lambda: {"avx512_bf16": True, "amx_bf16": False})

    def fails(model, shape):
        raise RuntimeError("could not create a primitive\nmore detail")

    monkeypatch.setattr(pr, "bf16_speedup", fails)
    choice = pr.auto_precision(torch.device("cpu"), train_mod.build_architecture("lite", width=8), (8, 1, 32, 32))
    assert choice == ("fp32", "bf16 failed on this network on this CPU: could not create a primitive", True)


def test_the_bf16_probe_measures_without_changing_the_network():
    from tinct.train.precision import bf16_speedup

    torch.manual_seed(0)
    model = train_mod.build_architecture("prism", width=8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    speedup = bf16_speedup(model, (2, 1, 32, 32), repeats=1)
    assert math.isfinite(speedup) and 0.05 < speedup < 20
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # batch-norm statistics included
    assert all(p.grad is None for p in model.parameters())


def test_a_run_resolves_auto_once_and_its_resume_keeps_the_choice(smoke_dir, tmp_path, monkeypatch, capsys):
    import tinct.hardware

    monkeypatch.setattr(tinct.hardware, "cpu_bf16_support", lambda: {"avx512_bf16": True, "amx_bf16": False})
    monkeypatch.setattr(train_mod.precision, "bf16_speedup", lambda model, shape: pytest.fail("a short run timed"))
    short = train(tiny_config(smoke_dir, tmp_path / "short", steps=2), progress=False)
    assert short["precision"] == "bf16"  # under PROBE_MIN_STEPS steps: the flags decide
    monkeypatch.setattr(train_mod.loop, "PROBE_MIN_STEPS", 1)
    speedups = iter([0.5, 3.0])  # the probe says fp32, and bf16 if it were asked again
    monkeypatch.setattr(train_mod.precision, "bf16_speedup", lambda model, shape: next(speedups))
    cfg = tiny_config(smoke_dir, tmp_path / "run", steps=2)
    assert train(cfg, progress=False)["precision"] == "fp32"
    assert "precision auto: fp32 (bf16 measured at 0.50x fp32's speed" in capsys.readouterr().err
    cfg.steps = 4
    assert train(cfg, resume=True, progress=False)["precision"] == "fp32"  # as the run was; not measured again
    assert next(speedups) == 3.0
    # resumed on another kind of machine (here one with AMX), the run chooses again
    monkeypatch.setattr(tinct.hardware, "cpu_bf16_support", lambda: {"avx512_bf16": True, "amx_bf16": True})
    cfg.steps = 6
    assert train(cfg, resume=True, progress=False)["precision"] == "bf16"


def test_cpu_flags_are_read_from_cpuinfo(monkeypatch):
    import tinct.hardware as hw

    info = {"model name": "AMD EPYC 9R14", "flags": "fpu avx512f avx512_bf16 avx512_vnni"}
    monkeypatch.setattr(hw, "_cpuinfo", lambda: info)
    assert hw.cpu_name() == "AMD EPYC 9R14"
    assert hw.cpu_bf16_support() == {"avx512_bf16": True, "amx_bf16": False} and hw.cpu_has_fast_bf16()
    info["flags"] = "fpu avx2"
    assert not hw.cpu_has_fast_bf16()


#: |loss(bf16) - loss(fp32)| / loss(fp32) for one step from the same weights and batch: bf16 keeps
#: 8 bits of mantissa, so activations carry about 0.4% relative error; the cross-entropy, summed in
#: fp32, moves far less than that (measured: under 0.2% for lite and prism)
BF16_LOSS_RTOL = 0.01


@pytest.mark.parametrize("arch", ["lite", "prism"])
def test_bf16_step_matches_fp32_and_keeps_fp32_weights(smoke_dir, arch):
    from tinct.data import CropDataset, collate_skip_none

    ds = CropDataset(smoke_dir, crop=64, train=False)
    batch = collate_skip_none([ds[i] for i in range(8)])
    l_norm, ab = train_mod.lab_batch(batch, torch.device("cpu"))
    losses, states = {}, {}
    for name in ("fp32", "bf16"):
        torch.manual_seed(0)
        model = train_mod.build_architecture(arch)
        precision = train_mod.Precision(name, torch.device("cpu"))
        model = precision.prepare(model)
        cfg = TrainConfig(data=str(smoke_dir), prior_images=8)
        objective = train_mod.Objective(model, cfg, ds, torch.device("cpu"))
        step = train_mod.SupervisedStep(model, objective, cfg, 10, torch.device("cpu"), precision)
        losses[name] = step(0, precision.prepare_input(l_norm), ab)["loss"].item()
        states[name] = {k: v for k, v in model.state_dict().items() if v.is_floating_point()}
        assert all(v.dtype == torch.float32 for v in states[name].values())  # master weights stay fp32
        assert all(s["exp_avg"].dtype == torch.float32 for s in step.opt.state.values())  # optimizer state too
    assert abs(losses["bf16"] - losses["fp32"]) <= BF16_LOSS_RTOL * losses["fp32"], losses


def test_short_bf16_run_lowers_the_loss(smoke_dir, tmp_path):
    cfg = tiny_config(smoke_dir, tmp_path / "run", precision="bf16", steps=30, model="prism", lr=3e-3, warmup=2)
    cfg.log_every = 1
    train(cfg, progress=False)
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.9 * first, (first, last)


def test_lite_stage_configs_chain():
    """scripts/train_lite.sh: stage 4 starts from stage 3's weights on near-whole 96 px views."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    mid = TrainConfig.from_file(root / "configs" / "lite-mid.toml")
    whole = TrainConfig.from_file(root / "configs" / "lite-whole.toml")
    assert whole.init == f"{mid.out}/model.safetensors" and whole.out == "runs/lite-whole"
    assert (whole.model, whole.size, whole.min_view, whole.steps) == ("lite", 96, 0.75, 4800)
    assert "configs/lite-whole.toml" in (root / "scripts" / "train_lite.sh").read_text()


def test_decoded_colour_loss_adds_the_l1_of_what_the_model_shows(smoke_dir):
    import torch.nn.functional as F

    from tinct.core.color import AB_SCALE
    from tinct.data import CropDataset, collate_skip_none

    ds = CropDataset(smoke_dir, crop=64, train=False)
    batch = collate_skip_none([ds[i] for i in range(4)])
    l_norm, ab = train_mod.lab_batch(batch, torch.device("cpu"))
    torch.manual_seed(0)
    model = train_mod.build_architecture("prism", width=8)
    logits = model(l_norm)
    plain = train_mod.Objective(model, TrainConfig(data=str(smoke_dir), prior_images=8), ds, torch.device("cpu"))
    cfg = TrainConfig(data=str(smoke_dir), prior_images=8, decoded_weight=2.0)
    both = train_mod.Objective(model, cfg, ds, torch.device("cpu"), prior=plain.prior)
    ab_small = F.adaptive_avg_pool2d(ab, logits.shape[-2:])
    shown = model.quantizer.annealed_mean(logits, model.temperature)
    expected = plain(logits, ab) + 2.0 * F.smooth_l1_loss(shown / AB_SCALE, ab_small / AB_SCALE, beta=0.05)
    loss = both(logits, ab)
    assert torch.allclose(loss, expected) and loss > plain(logits, ab)
    loss.backward()  # the term reaches the network
    assert all(p.grad is not None for p in model.head.parameters())


def test_colourfulness_matches_the_eval_metric_and_the_deficit_asks_for_the_truths_colour():
    import numpy as np

    from tinct.core.metrics import colourfulness as metric
    from tinct.train.losses import colourfulness, colourfulness_deficit

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 24, 20, 3), dtype=np.uint8)
    images[1] = images[1].mean(2, keepdims=True).astype(np.uint8)  # a gray image: M = 0
    got = colourfulness(torch.from_numpy(images).permute(0, 3, 1, 2) / 255.0) * 255
    want = torch.tensor([metric(im) for im in images], dtype=torch.float32)
    assert want[0] > 50 and want[1] == 0
    assert torch.allclose(got, want, atol=1e-3)

    torch.manual_seed(0)
    l_norm = torch.rand(2, 1, 16, 16) * 1.2 - 0.6
    truth = torch.randn(2, 2, 16, 16) * 0.2
    assert colourfulness_deficit(l_norm, truth, truth).item() == pytest.approx(0, abs=1e-6)
    assert colourfulness_deficit(l_norm, truth * 1.5, truth).item() == pytest.approx(0, abs=1e-6)  # never asks for less
    assert colourfulness_deficit(l_norm, truth * 0, truth).item() == pytest.approx(1, abs=1e-4)  # gray: all missing
    half = colourfulness_deficit(l_norm, truth * 0.5, truth).item()
    assert 0.3 < half < 0.7
    pale = (truth[:, :, ::2, ::2] * 0.5).requires_grad_()  # at half resolution, as a network predicts
    colourfulness_deficit(l_norm, pale, truth).backward()
    assert pale.grad.abs().sum() > 0


def test_colourfulness_term_is_added_for_classification_and_regression(smoke_dir):
    from tinct.core.color import AB_SCALE
    from tinct.data import CropDataset, collate_skip_none
    from tinct.train.losses import colourfulness_deficit

    ds = CropDataset(smoke_dir, crop=64, train=False)
    batch = collate_skip_none([ds[i] for i in range(4)])
    l_norm, ab = train_mod.lab_batch(batch, torch.device("cpu"))
    torch.manual_seed(0)
    for arch in ("prism", "unet"):
        model = train_mod.build_architecture(arch, width=8)
        out = model(l_norm)
        base = TrainConfig(data=str(smoke_dir), prior_images=8)
        plain = train_mod.Objective(model, base, ds, torch.device("cpu"))
        cfg = TrainConfig(data=str(smoke_dir), prior_images=8, colourfulness_weight=3.0)
        prior = getattr(plain, "prior", None)
        coloured = train_mod.Objective(model, cfg, ds, torch.device("cpu"), prior=prior)
        shown = model.quantizer.annealed_mean(out, model.temperature) / AB_SCALE if arch == "prism" else out
        expected = plain(out, ab, l_norm) + 3.0 * colourfulness_deficit(l_norm, shown, ab / AB_SCALE)
        loss = coloured(out, ab, l_norm)
        assert torch.allclose(loss, expected) and loss > plain(out, ab, l_norm), arch
        loss.backward()
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad), arch
    with pytest.raises(TrainingError, match="colourfulness_weight must be 0 or more"):
        TrainConfig(data=str(smoke_dir), colourfulness_weight=-1).check()


def test_prism_stage_configs_chain():
    """scripts/train_prism.sh: each stage starts from the previous stage's committed fp16 weights;
    only the newest stage may still be training (its weights not committed yet); a stage that grows
    the network (``depth``) can start from the previous stage's weights."""
    import re
    from pathlib import Path

    from tinct.train import init_weights

    root = Path(__file__).resolve().parents[1]
    configs = sorted((root / "configs" / "prism").glob("stage*.toml"), key=lambda p: int(re.sub(r"\D", "", p.stem)))
    assert len(configs) >= 3
    depth = 1
    for prev, cur in zip(configs, configs[1:], strict=False):
        cfg = TrainConfig.from_file(cur)
        assert cfg.init == f"configs/prism/{prev.stem}.safetensors", cur.name
        assert cfg.model == "prism" and cfg.size in (128, 160), cur.name  # 160: val's own short side
        kwargs = dict(cfg.model_kwargs)
        assert (kwargs.pop("width"), kwargs.pop("attention")) == (48, 1), cur.name
        assert kwargs.pop("depth", 1) >= depth and not kwargs, cur.name  # a stage may only grow the network
        depth = cfg.model_kwargs.get("depth", 1)
        if cfg.model_kwargs != TrainConfig.from_file(prev).model_kwargs:  # grown: the weights must fit
            init_weights(train_mod.build_architecture("prism", **cfg.model_kwargs), root / cfg.init)
    weights = [c.with_suffix(".safetensors") for c in configs]
    assert all(w.is_file() for w in weights[:-1])
    for w in filter(Path.is_file, weights):
        assert w.stat().st_size < 25e6
        assert {t.dtype for t in load_file(w).values() if t.is_floating_point()} == {torch.float16}, w.name


def test_prior_correction_undoes_the_rebalancing_tilt(smoke_dir):
    """Subtracting beta * rebalance_log_factor from the logits divides the predicted distribution by
    w ** (power * beta), renormalised; it is folded into the head's bias, so the ONNX export and every
    backend carry it, and beta = 0 changes nothing."""
    from tinct.models.quantize import ABQuantizer

    torch.manual_seed(0)
    model = train_mod.build_architecture("prism", width=8).eval()
    x = torch.randn(1, 1, 32, 32)
    prior = torch.rand(model.num_bins) + 0.01
    prior /= prior.sum()
    tilt = ABQuantizer.rebalance_log_factor(prior, lam=0.5, power=0.5)
    w = ABQuantizer.rebalance_weights(prior, 0.5)
    assert torch.allclose(tilt, 0.5 * w.log())
    with torch.no_grad():
        before = torch.softmax(model(x), 1)
        model.shift_logits(-0.0 * tilt)
        assert torch.allclose(torch.softmax(model(x), 1), before)
        model.shift_logits(-1.0 * tilt)
        after = torch.softmax(model(x), 1)
    expected = before / w.sqrt()[None, :, None, None]
    assert torch.allclose(after, expected / expected.sum(1, keepdim=True), atol=1e-6)
    with pytest.raises(ValueError, match="shape"):
        model.shift_logits(torch.zeros(3))
    lite = train_mod.build_architecture("lite", width=8)
    lite.head = torch.nn.Conv2d(16, lite.num_bins, 1, bias=False)
    with pytest.raises(TypeError, match="head convolution with a bias"):
        lite.shift_logits(torch.zeros(lite.num_bins))


def test_read_rebalancing_refuses_weights_without_a_prior(tmp_path):
    from tinct.train.checkpoint import export_weights, read_rebalancing

    export_weights(torch.nn.Linear(2, 2), tmp_path / "w.safetensors", {"config": {}})
    with pytest.raises(TrainingError, match="no bin prior"):
        read_rebalancing(tmp_path / "w.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(TrainingError, match="cannot read"):
        read_rebalancing(tmp_path / "junk.safetensors")


def test_every_shipped_config_loads_and_names_weights_that_exist():
    """Each TOML under configs/ is a config `tinct train` accepts (known keys, values it can train
    with); an ``init`` it starts from is a committed file its network fits, or the weights another
    shipped config's run writes (a chain that its script runs in order)."""
    from pathlib import Path

    from tinct.train import init_weights

    root = Path(__file__).resolve().parents[1]
    configs = sorted((root / "configs").rglob("*.toml"))
    assert len(configs) >= 10
    loaded = {path: TrainConfig.from_file(path) for path in configs}
    written = {f"{cfg.out}/model.safetensors" for cfg in loaded.values()}
    for path, cfg in loaded.items():
        cfg.check()
        if cfg.init in written:
            continue
        if cfg.init:
            assert (root / cfg.init).is_file(), path.name
            init_weights(train_mod.build_architecture(cfg.model, **cfg.model_kwargs), root / cfg.init)


@pytest.mark.parametrize(
    "field,value,message",
    [  # each once deep in torch or not at all: a string lr compared with a float, min_view 2 trained on
        ("lr", "fast", "lr must be a finite number, got 'fast'"),
        ("lr", math.nan, "lr must be a finite number, got nan"),
        ("lr", 0, "--lr must be above 0, got 0"),
        ("steps", True, "steps must be a whole number, got True"),
        ("batch", 2.5, "batch must be a whole number, got 2.5"),
        ("min_view", 2, "min_view is a fraction of the short side, from 0 to 1; got 2"),
        ("warmup", -1, "warmup must be 0 or more, got -1"),
        ("weight_decay", -0.1, "weight_decay must be 0 or more, got -0.1"),
        ("rebalance_power", -1, "rebalance_power must be 0 or more, got -1"),
        ("rebalance_lambda", 1.5, "rebalance_lambda is a mix, from 0 to 1; got 1.5"),
        ("val_every", 0, "val_every must be 1 or more, got 0"),
        ("prior_images", 0, "prior_images must be 1 or more, got 0"),
        ("checkpoint_every_s", -1, "checkpoint_every_s must be 0 or more, got -1"),
        ("epochs", math.inf, "epochs must be a finite number, got inf"),
    ],
)
def test_a_config_value_that_cannot_train_is_refused_in_one_line(smoke_dir, field, value, message):
    with pytest.raises(TrainingError) as e:
        TrainConfig(data=str(smoke_dir), **{field: value}).check()
    assert str(e.value) == message


def test_every_committed_config_passes_the_check():
    from pathlib import Path

    configs = sorted(Path(__file__).parents[1].glob("configs/**/*.toml"))
    assert len(configs) > 20
    for path in configs:
        TrainConfig.from_file(path, data="any").check()
