"""Issue 21: a user's own images -> ``tinct train`` (a run is never clobbered, Ctrl-C checkpoints, resume is
exact) -> ``tinct eval`` (near-gray images skipped) -> ``colorize`` / ``serve --model PATH`` at the
working size the model was trained at; every ordinary mistake is one line and a non-zero exit."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file
from typer.testing import CliRunner

from tinct import train as train_mod
from tinct.backends.hardware import cpu_name
from tinct.cli import app
from tinct.core.gray import is_near_gray, mean_chroma
from tinct.registry import ARCHITECTURES, resolve_spec
from tinct.train import TrainConfig, TrainingInterrupted, train
from tinct.train.checkpoint import read_run_state

TINY_TOML = (
    'model = "lite"\nbatch = 4\nsize = 32\nprior_images = 8\nwarmup = 1\nlog_every = 1\n'
    "checkpoint_every_s = 1000.0\n[model_kwargs]\nwidth = 8\n"
)


def cli(*args) -> object:
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def tiny_toml(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_TOML)
    return path


@pytest.fixture
def own_photos(smoke_images, tmp_path):
    """A user's folder: 6 colour photos, 1 grayscale JPEG, 1 broken file."""
    d = tmp_path / "photos"
    d.mkdir()
    for p in smoke_images[:6]:
        shutil.copy(p, d / p.name)
    with Image.open(smoke_images[6]) as im:
        im.convert("L").save(d / "gray.jpg")
    (d / "broken.jpg").write_bytes(b"\xff\xd8garbage")
    return d


def steps_of(path) -> int:
    with safe_open(str(path), framework="pt") as f:
        return json.loads(f.metadata()["tinct_training_state"])["step"]


# ---- the near-gray test -------------------------------------------------------------------------


def test_near_gray_follows_the_data_readme_rule():
    """Mean CIELAB (D65) chroma, as scikit-image computes it (rgb2lab), below 3.0 is near-gray."""
    gray = np.full((300, 200, 3), 90, np.uint8)
    assert mean_chroma(gray) < 0.01 and is_near_gray(gray)
    for red, chroma, near_gray in ((93, 1.2729, True), (97, 2.9928, True), (100, 4.2974, False)):
        cast = gray.copy()
        cast[..., 0] = red  # a faint red cast (skimage.color.rgb2lab gives the chroma quoted)
        assert mean_chroma(cast) == pytest.approx(chroma, abs=1e-3) and is_near_gray(cast) == near_gray
    halves = np.zeros((256, 512, 3), np.uint8)  # shrunk to 128 x 64 first: half gray, half saturated red
    halves[:, 256:] = (255, 0, 0)
    halves[:, :256] = 128
    assert mean_chroma(halves) == pytest.approx(104.55 / 2, abs=1.0)


# ---- work that is lost ----------------------------------------------------------------------------


def test_a_run_is_never_clobbered(smoke_dir, tiny_toml, tmp_path):
    out = tmp_path / "run"
    r = cli("train", "--config", tiny_toml, "--data", smoke_dir, "--steps", 2, "--out", out, "-q")
    assert r.exit_code == 0, r.output
    weights, log = (out / "model.safetensors").read_bytes(), (out / "log.jsonl").read_text()
    assert stat.S_IMODE(os.stat(out / "model.safetensors").st_mode) == 0o644  # shareable, not 0600

    r = cli("train", "--config", tiny_toml, "--data", smoke_dir, "--steps", 3, "--out", out, "-q")
    assert r.exit_code == 1
    assert r.output == (
        f"error: {out} already holds a run (checkpoint.safetensors): continue it with --resume"
        " or replace it with --overwrite\n"
    )
    assert (out / "model.safetensors").read_bytes() == weights and (out / "log.jsonl").read_text() == log

    summary = (out / "summary.json").read_text()
    r = cli("train", "--config", tiny_toml, "--data", smoke_dir, "--steps", 2, "--out", out, "--resume", "-q")
    assert r.exit_code == 0 and "the run already finished at step 2; raise --steps to train longer" in r.output
    assert (out / "summary.json").read_text() == summary  # a finished run keeps its summary

    r = cli("train", "--config", tiny_toml, "--data", smoke_dir, "--steps", 3, "--out", out, "--overwrite", "-q")
    assert r.exit_code == 0, r.output
    assert [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] == [1, 2, 3]

    fresh = tmp_path / "fresh"
    r = cli("train", "--config", tiny_toml, "--data", smoke_dir, "--out", fresh, "--resume", "-q")
    assert r.exit_code == 1
    assert r.output == f"error: --resume: {fresh} has no checkpoint.safetensors; start a new run without --resume\n"
    assert not fresh.exists()


def test_a_run_killed_before_its_first_checkpoint_is_started_over(smoke_dir, tiny_toml, tmp_path):
    out = tmp_path / "killed"  # SIGKILL before the first checkpoint: a log and nothing to continue
    out.mkdir()
    (out / "log.jsonl").write_text('{"step": 1, "loss": 5.0}\n')
    r = cli("train", "--config", tiny_toml, "--data", smoke_dir, "--steps", 2, "--out", out, "-q")
    assert r.exit_code == 0, r.output
    assert [json.loads(line)["step"] for line in (out / "log.jsonl").read_text().splitlines()] == [1, 2]
    assert (out / "model.safetensors").is_file()


def test_ctrl_c_checkpoints_and_resume_is_exact(smoke_dir, tiny_toml, tmp_path, monkeypatch):
    base = ["train", "--config", tiny_toml, "--data", smoke_dir, "--steps", 6, "-q"]
    assert cli(*base, "--out", tmp_path / "a").exit_code == 0

    real_call = train_mod.Objective.__call__
    calls = {"n": 0}

    def ctrl_c_in_step_3(self, *args):
        calls["n"] += 1
        if calls["n"] == 3:
            os.kill(os.getpid(), signal.SIGINT)  # the step finishes, then the run stops
        return real_call(self, *args)

    monkeypatch.setattr(train_mod.Objective, "__call__", ctrl_c_in_step_3)
    r = cli(*base, "--out", tmp_path / "b")
    assert r.exit_code == 130
    assert r.output.splitlines()[-1] == "tinct train: interrupted at step 3; resume with --resume"
    assert steps_of(tmp_path / "b" / "checkpoint.safetensors") == 3
    assert not (tmp_path / "b" / "model.safetensors").exists()  # not finished: no final weights
    partial = tmp_path / "b" / "partial.safetensors"  # but fp16 weights of step 3, usable as init or --model
    with safe_open(str(partial), framework="pt") as f:
        assert json.loads(f.metadata()["steps"]) == 3 and json.loads(f.metadata()["working_size"]) > 0
        assert {f.get_tensor(k).dtype for k in f.keys() if f.get_tensor(k).is_floating_point()} == {torch.float16}
    assert resolve_spec(str(partial)).arch == "lite"  # a model tinct colorize --model can take
    first_wall = read_run_state(tmp_path / "b" / "checkpoint.safetensors")["wall_time_s"]
    assert first_wall > 0
    monkeypatch.setattr(train_mod.Objective, "__call__", real_call)

    r = cli(*base, "--out", tmp_path / "b", "--resume")
    assert r.exit_code == 0, r.output
    a = load_file(str(tmp_path / "a" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["steps"] == 6 and summary["wall_time_s"] > first_wall  # wall time summed over both sessions
    assert not partial.exists()  # the finished run's model.safetensors replaces it


def test_sigterm_checkpoints_too(smoke_dir, tmp_path, monkeypatch):
    real_call = train_mod.Objective.__call__
    calls = {"n": 0}

    def term_in_step_2(self, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_call(self, *args)

    monkeypatch.setattr(train_mod.Objective, "__call__", term_in_step_2)
    cfg = TrainConfig.from_file(TINY_PATH(tmp_path), data=str(smoke_dir), out=str(tmp_path / "t"), steps=5)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted) as e:
        train(cfg, progress=False)
    assert str(e.value) == "interrupted at step 2; resume with --resume"
    assert steps_of(tmp_path / "t" / "checkpoint.safetensors") == 2
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before  # the handlers are put back


def TINY_PATH(tmp_path):  # noqa: N802 - a path helper for the API tests
    path = tmp_path / "tiny_api.toml"
    path.write_text(TINY_TOML)
    return path


# ---- gray images and the last lines -------------------------------------------------------------


def test_train_skips_gray_and_broken_images_and_says_so(own_photos, tiny_toml, tmp_path):
    out = tmp_path / "run"
    r = cli("train", "--config", tiny_toml, "--data", own_photos, "--steps", 2, "--out", out, "--val", own_photos, "-q")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == (
        f"--data {own_photos}: found 8 images: 6 usable, 1 unreadable, 1 near-gray (no colour to learn; skipped)"
    )
    summary = json.loads((out / "summary.json").read_text())
    assert {k: summary["data"][k] for k in ("found", "used", "unreadable", "near_gray")} == {
        "found": 8,
        "used": 6,
        "unreadable": 1,
        "near_gray": 1,
    }
    assert summary["hardware"] == cpu_name() and summary["precision"] in ("fp32", "bf16")
    assert lines[-4] == "images: 6 used of 8 found (1 unreadable, 1 near-gray skipped)"
    assert lines[-3].startswith("trained 2 steps in ") and f" on {cpu_name()} ({summary['precision']}), " in lines[-3]
    assert lines[-2] == (
        f"validation: PSNR {summary['val_psnr']:.2f} dB, {summary['val_gain']:+.2f} dB beside gray"
        f" ({summary['val_psnr_gray']:.2f}); colourfulness {summary['val_colourfulness_ratio']:.2f} of the truth's"
    )
    assert lines[-1] == f"weights: {out / 'model.safetensors'} (card: {out / 'model.md'})"
    card = (out / "model.md").read_text()
    assert f"- Hardware: {cpu_name()}, precision {summary['precision']}; wall time " in card
    assert "working size 32 px" in card and "8 images found, 6 used (1 unreadable, 1 near-gray skipped)" in card
    assert f"(gain {summary['val_gain']:+.2f} dB)" in card


def test_screening_verdicts_are_kept_until_a_file_changes(own_photos, tmp_path, monkeypatch):
    """A second screening of the same folder opens no image; a file that changed is opened again;
    a cache that cannot be read is ignored."""
    from tinct.train import data as data_mod

    cache = tmp_path / "cache" / "screened.json"
    first = data_mod.screen_images(own_photos, cache=cache)
    assert (len(first.usable), len(first.unreadable), len(first.gray)) == (6, 1, 1) and cache.is_file()
    opened = []
    real_open = data_mod.Image.open
    monkeypatch.setattr(data_mod.Image, "open", lambda p, *a, **k: opened.append(Path(p).name) or real_open(p, *a, **k))
    again = data_mod.screen_images(own_photos, cache=cache)
    assert opened == [] and (again.usable, again.unreadable, again.gray) == (first.usable, first.unreadable, first.gray)
    with Image.open(first.usable[0]) as im:  # the gray file becomes a colour photo
        im.save(own_photos / "gray.jpg")
    opened.clear()
    changed = data_mod.screen_images(own_photos, cache=cache)
    assert opened == ["gray.jpg"] and len(changed.usable) == 7 and changed.gray == []
    cache.write_text("{not json")
    assert len(data_mod.screen_images(own_photos, cache=cache).usable) == 7
    assert data_mod.screening_cache().parent == Path(os.environ["TINCT_CACHE"])


def test_eval_skips_a_gray_image_with_a_note(own_photos, tmp_path, capsys):
    from tinct.evaluate import run_eval

    summary = run_eval(own_photos, ["lite"], tmp_path / "report", progress=False)
    assert summary["n_images"] == 6 and summary["n_skipped"] == 2
    assert capsys.readouterr().err.count("tinct eval: skipped gray.jpg: near-gray (mean chroma 0.00 < 3.0)") == 1
    report = (tmp_path / "report" / "report.html").read_text()
    for explained in (  # every column says what it measures and which way is better
        "<dt>PSNR gain (dB) (higher is better)</dt>",
        "<dt>CIEDE2000 (lower is better)</dt>",
        "<dt>colourfulness ratio (1.0 is ideal)</dt>",
        "<dt>AIT (s) (lower is better)</dt><dd>average inference time per image, seconds",
    ):
        assert explained in report


# ---- ordinary mistakes: one line, exit 1, nothing written --------------------------------------


def mistakes(smoke_dir, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.jpg").write_bytes(b"\xff\xd8garbage")
    (broken / "b.png").write_bytes(b"")
    grays = tmp_path / "grays"
    grays.mkdir()
    Image.new("L", (64, 64), 128).save(grays / "g.png")
    data = ["--data", smoke_dir]
    return [
        (
            [*data, "--model", "lite-plain"],
            "--model lite-plain is a shipped model; train its architecture with --model lite"
            ' (its options {"temperature": 0.8} go in a config\'s [model_kwargs])',
        ),
        (
            [*data, "--model", "nosuch"],
            f"unknown architecture 'nosuch' for --model; use one of {', '.join(ARCHITECTURES)}",
        ),
        (
            ["--data", broken],
            f"--data {broken}: no usable colour images"
            " (found 2 images: 0 usable, 2 unreadable, 0 near-gray (no colour to learn; skipped))",
        ),
        (
            ["--data", grays],
            f"--data {grays}: no usable colour images"
            " (found 1 images: 0 usable, 0 unreadable, 1 near-gray (no colour to learn; skipped))",
        ),
        ([*data, "--size", "100"], "--size 100: prism needs a multiple of 16; use 112 or 96"),
        ([*data, "--batch", "0"], "--batch must be 1 or more, got 0"),
        (
            [*data, "--steps", "2", "--epochs", "1"],
            "give steps or epochs, not both (the command line sets steps 2 and epochs 1)",
        ),
        ([*data, "--steps", "0"], "--steps must be 1 or more, got 0 (0 steps would write an untrained model)"),
        ([], "no training data: give --data FOLDER (your own colour images), or data = in the config"),
        ([*data, "--device", "tpu9"], "unknown device 'tpu9'; use auto, cpu or cuda"),
    ]


def test_every_ordinary_mistake_is_one_line_and_exit_1(smoke_dir, tmp_path):
    for args, message in mistakes(smoke_dir, tmp_path):
        out = tmp_path / "never"
        r = cli("train", *args, "--out", out, "-q")
        assert (r.exit_code, r.output) == (1, f"error: {message}\n"), args
        assert not out.exists(), args


def test_without_model_a_run_trains_the_default_network_as_shipped():
    """No ``model``: the registry default's architecture with its shipped options (not its decoding) at
    its working size, in runs/<arch>; another architecture keeps its own defaults and 96 px; options
    given are never merged with the shipped ones."""
    from tinct.registry import DEFAULT_MODEL, get_spec

    shipped = get_spec(DEFAULT_MODEL)
    cfg = TrainConfig(data="photos")
    assert (cfg.model, cfg.size, cfg.out) == (shipped.arch, shipped.working_size, f"runs/{shipped.arch}")
    assert (
        cfg.model_kwargs
        == {"width": 48, "attention": 1}
        == {k: v for k, v in shipped.kwargs.items() if k != "temperature"}
    )
    assert TrainConfig(data="photos", model=shipped.arch).model_kwargs == cfg.model_kwargs
    mine = TrainConfig(data="photos", model_kwargs={"width": 8}, size=64, out="runs/mine")
    assert (mine.model, mine.model_kwargs, mine.size, mine.out) == (shipped.arch, {"width": 8}, 64, "runs/mine")
    lite = TrainConfig(data="photos", model="lite")
    assert (lite.model_kwargs, lite.size, lite.out) == ({}, 96, "runs/lite")


def test_cli_train_without_model_writes_the_default_network(smoke_dir, tmp_path):
    from tinct.registry import DEFAULT_MODEL

    out = tmp_path / "run"
    r = cli("train", "--data", smoke_dir, "--steps", "1", "--batch", "2", "--size", "32", "--out", out, "-q")
    assert r.exit_code == 0, r.output
    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        meta = f.metadata()
    assert json.loads(meta["arch"]) == resolve_spec(DEFAULT_MODEL).arch == "prism"
    assert json.loads(meta["kwargs"]) == {"width": 48, "attention": 1}
    assert json.loads(meta["working_size"]) == 32
    help_text = " ".join(cli("colorize", "--help").output.split())
    assert f"Default: {DEFAULT_MODEL};" in help_text and "(e.g. lite)" not in help_text


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_without_a_gpu_is_one_line(smoke_dir, tmp_path):
    r = cli("train", "--data", smoke_dir, "--device", "cuda", "--out", tmp_path / "never", "-q")
    assert (r.exit_code, r.output) == (
        1,
        "error: --device cuda: no CUDA GPU is available here; use --device cpu (or auto)\n",
    )


# ---- the trained model: its working size everywhere, served from its file ------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory, smoke_dir):
    """A 2-step lite (width 8) trained at size 32 on the smoke images: its model.safetensors."""
    root = tmp_path_factory.mktemp("trained")
    (root / "tiny.toml").write_text(TINY_TOML)
    cfg = TrainConfig.from_file(root / "tiny.toml", data=str(smoke_dir), out=str(root / "run"), steps=2)
    train(cfg, progress=False)
    return root / "run" / "model.safetensors"


def test_the_trained_working_size_is_carried_and_used(trained, own_photos, tmp_path):
    from tinct import api

    with safe_open(str(trained), framework="pt") as f:
        assert json.loads(f.metadata()["working_size"]) == 32
    assert resolve_spec(str(trained)).working_size == 32
    assert api.load_model(str(trained), device="cpu").working_size == 32  # colorize and the API
    r = cli("eval", own_photos, "--models", trained, "--out", tmp_path / "report", "-q")
    assert r.exit_code == 0, r.output
    assert any(line.startswith(f"│ {trained} ") for line in r.output.splitlines())  # the full name on the console
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["models"][str(trained)]["working_size"] == 32
    report = (tmp_path / "report" / "report.html").read_text()
    gain = summary["models"][str(trained)]["stats"]["psnr_gain"]["mean"]
    legend = f"{trained} (mean {gain:+.2f})"
    assert f">{legend}</text>" in report  # the full name in the plot's legend
    svg_width = int(report.split('<svg viewBox="0 0 ', 1)[1].split(" ", 1)[0])
    assert svg_width >= 56 + 22 + 7 * len(legend)  # and room for it


def test_serve_a_trained_model_file(trained):
    from fastapi.testclient import TestClient

    from tinct.server import create_app

    with TestClient(create_app(str(trained), device="cpu")) as client:
        deadline = 600
        while client.get("/readyz").status_code != 200 and deadline:
            deadline -= 1
            __import__("time").sleep(0.1)
        assert client.get("/api/v1/info").json()["default_model"] == str(trained)
        assert client.app.state.service.session(str(trained)).working_size == 32
        buf = io.BytesIO()
        Image.new("L", (80, 48), 120).save(buf, "PNG")
        r = client.post("/api/v1/colorize", files={"file": ("g.png", buf.getvalue(), "image/png")})
        assert r.status_code == 200, r.text
        with Image.open(io.BytesIO(r.content)) as im:
            assert im.size == (80, 48) and im.mode == "RGB"


def test_serve_names_the_valid_models_in_one_line(tmp_path):
    from tinct.registry import MODELS

    r = cli("serve", "--model", "nope")
    assert r.exit_code == 2
    assert r.output == (
        f"error: unknown model 'nope'; known models: {', '.join(MODELS)}"
        " (or a model.safetensors file that tinct train wrote)\n"
    )
    missing = tmp_path / "runs" / "model.safetensors"
    r = cli("serve", "--model", missing)
    assert r.exit_code == 2
    assert r.output == (
        f"error: weights file {missing} not found (and {str(missing)!r} is not a registry model)"
        " (or a model.safetensors file that tinct train wrote)\n"
    )


def test_release_card_records_machine_precision_and_wall_time(tmp_path):
    """scripts/release_model.py takes the machine, precision, speed and wall time a run recorded."""
    from tinct.registry import get_spec

    from .conftest import load_script

    release = load_script("scripts/release_model.py")
    run = tmp_path / "run"
    run.mkdir()
    (run / "log.jsonl").write_text(json.dumps({"step": 5, "time": 100.0}) + "\n")
    recorded = {"steps": 5, "wall_time_s": 600.4, "hardware": "Intel X", "precision": "bf16", "images_per_s": 12.5}
    (run / "summary.json").write_text(json.dumps(recorded))
    facts = release._training_facts(run)
    assert {k: facts[k] for k in ("steps", "wall_time_s", "hardware", "precision", "images_per_s")} == {
        **recorded,
        "wall_time_s": 600,
    }
    spec = get_spec("lite")
    card = json.loads(spec.metrics_path.read_text())
    card["training"].update(hardware="Intel X", precision="bf16", wall_time_s=600, images_per_s=12.5)
    assert "- Hardware: Intel X, precision bf16; wall time 10 min (12.5 images/s)." in release.render_card(
        spec, card, ""
    )
    # tinct eval's per-source figures reach the card, with the sources that do not beat gray named
    summary = {
        "n_images": 3,
        "dataset": "val",
        "models": {m: {"stats": {}} for m in ("gray", "lite")},
        "by_source": {
            "from": "manifest.csv",
            "sources": {
                s: {"n": n, "models": {"lite": {"psnr_gain": g, "ciede2000": 9.5, "colourfulness_ratio": 0.5}}}
                for s, n, g in (("cats", 2, 0.81), ("streets", 1, -0.12))
            },
        },
    }
    card["val"] = {**card["val"], "by_source": release._scores(summary, "lite")["by_source"]}
    text = release.render_card(spec, card, "")
    assert "1 of 2 sources not above gray (streets)" in text
    assert "| cats | 2 | +0.81 | 9.50 | 0.50 |" in text and "| streets | 1 | -0.12 | 9.50 | 0.50 |" in text
    # a run trained on degraded inputs says so, and one that was not does not
    assert "degraded as old scans are" not in text
    card["training"]["config"]["degrade"] = 0.5
    assert "; the input L of 50% of them degraded as old scans are (tone curve, blur, grain)." in release.render_card(
        spec, card, ""
    )
    assert "CutMix" not in text
    card["training"]["config"]["cutmix"] = 0.25
    assert "horizontal flips; 25% of them with a rectangle of another image pasted in (CutMix); the input L" in (
        release.render_card(spec, card, "")
    )


def test_a_weights_file_names_its_temperature_and_older_files_their_training_size(trained, tmp_path):
    from safetensors.torch import save_file

    tensors = load_file(str(trained))
    with safe_open(str(trained), framework="pt") as f:
        meta = dict(f.metadata())
    older = {k: v for k, v in meta.items() if k != "working_size"}  # written before the working size was recorded
    save_file(tensors, str(tmp_path / "older.safetensors"), metadata=older)
    assert resolve_spec(str(tmp_path / "older.safetensors")).working_size == 32  # from its config's size
    save_file(tensors, str(tmp_path / "chosen.safetensors"), metadata={**meta, "temperature": "0.6"})
    spec = resolve_spec(str(tmp_path / "chosen.safetensors"))
    assert spec.kwargs == {"width": 8, "temperature": 0.6} and spec.working_size == 32


def test_the_summary_chart_keys_long_names_under_it():
    from tinct.evaluate.report import summary_png

    stat = {"mean": 0.5, "lo": 0.2, "hi": 0.8}
    short = {"n_images": 3, "models": {m: {"stats": {"psnr_gain": stat}} for m in ("gray", "lite")}}
    long_name = "runs/a-rather-long-run-folder-name/model.safetensors"
    long = {"n_images": 3, "models": {m: {"stats": {"psnr_gain": stat}} for m in ("gray", long_name)}}
    assert Image.open(io.BytesIO(summary_png(short))).size == (640, 360)
    assert Image.open(io.BytesIO(summary_png(long))).size == (640, 360 + 2 * 18)  # "1: gray", "2: <full name>"
