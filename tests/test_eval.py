"""`tinct eval` end to end on the shared smoke set, with fake models (no trained weights needed)."""

from __future__ import annotations

import csv
import json
import re
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from skimage import color as skc
from skimage.metrics import peak_signal_noise_ratio

from tinct import evaluate
from tinct.evaluate import GRAY, compare, run_eval

TINTS = {"lite": 6, "vivid": 20}  # fake models: the gray input with R raised and B lowered by this much


class FakeSession:
    """Stands in for tinct.api.Session: colorize(gray H x W uint8) -> tinted RGB, H x W x 3 uint8."""

    def __init__(self, name: str, working_size: int | None, tint: int, delay: float = 0.0):
        self.spec = SimpleNamespace(name=name, working_size=256)
        self.working_size = working_size or 256
        self.tint, self.delay = tint, delay
        self.inputs: list[tuple[tuple[int, ...], np.dtype]] = []

    def colorize(self, image: np.ndarray) -> np.ndarray:
        self.inputs.append((image.shape, image.dtype))
        time.sleep(self.delay)
        return tint(image, self.tint)


def tint(gray: np.ndarray, amount: int) -> np.ndarray:
    out = np.repeat(gray[..., None], 3, axis=-1).astype(int)
    out[..., 0] += amount
    out[..., 2] -= amount
    return np.clip(out, 0, 255).astype(np.uint8)


def fake_loader(sessions: dict[str, FakeSession], tints: dict[str, int], delay: float = 0.0):
    def load_model(name: str, device: str = "auto", working_size: int | None = None) -> FakeSession:
        assert device == "cpu"
        sessions[name] = FakeSession(name, working_size, tints[name], delay)
        return sessions[name]

    return load_model


@pytest.fixture
def data_dir(smoke_dir, tmp_path) -> Path:
    """A copy of the smoke set plus an unreadable image and a non-image file."""
    d = tmp_path / "data"
    shutil.copytree(smoke_dir, d)
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    (d / "notes.txt").write_text("not an image")
    return d


@pytest.fixture
def sessions(monkeypatch) -> dict[str, FakeSession]:
    loaded: dict[str, FakeSession] = {}
    monkeypatch.setattr("tinct.api.load_model", fake_loader(loaded, TINTS, delay=0.002))
    return loaded


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def independent_gray(truth: np.ndarray) -> np.ndarray:
    """The gray input as the spec states it, computed here directly: round(255 * clip(lab2rgb([L, 0, 0])))
    with the three (equal up to ~1e-5) channels averaged."""
    lab = skc.rgb2lab(truth)
    lab[..., 1:] = 0
    return np.rint(255 * np.clip(skc.lab2rgb(lab).mean(axis=-1), 0, 1)).astype(np.uint8)


def test_full_eval_on_the_smoke_set(data_dir, sessions, tmp_path, capsys):
    n_images = len(list(data_dir.glob("0*.jpg")))
    assert n_images == 32
    out = tmp_path / "report"
    summary = run_eval(data_dir, ["lite", "vivid"], out, progress=False, command="tinct eval data")

    assert {p.name for p in out.iterdir()} == {"metrics.csv", "summary.json", "report.html", "summary.png"}
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "summary.json").read_text()) == summary

    # every model got each image as H x W uint8 gray, at full resolution
    for s in sessions.values():
        assert len(s.inputs) >= n_images and all(len(shape) == 2 and dt == np.uint8 for shape, dt in s.inputs)

    rows = read_csv(out / "metrics.csv")
    assert len(rows) == n_images * 3
    assert {(r["image"], r["model"]) for r in rows} == {
        (f"{i:06d}.jpg", m) for i in range(n_images) for m in (GRAY, "lite", "vivid")
    }
    gray_rows = [r for r in rows if r["model"] == GRAY]
    assert all(float(r["psnr_gain"]) == 0.0 and float(r["ssim_gain"]) == 0.0 for r in gray_rows)
    assert all(float(r["colourfulness"]) == 0.0 and float(r["lum_err_max"]) == 0.0 for r in gray_rows)
    assert all(r["seconds"] == "" for r in gray_rows)
    assert all(float(r["seconds"]) >= 0.002 for r in rows if r["model"] != GRAY)

    # one image checked independently: gray input from the spec's formula, PSNR from scikit-image
    truth = np.asarray(Image.open(data_dir / "000005.jpg").convert("RGB"))
    gray = independent_gray(truth)
    by_model = {r["model"]: r for r in rows if r["image"] == "000005.jpg"}
    assert int(by_model[GRAY]["width"]) == truth.shape[1] and int(by_model[GRAY]["height"]) == truth.shape[0]
    expected_gray = peak_signal_noise_ratio(truth, np.dstack([gray] * 3), data_range=255)
    expected_vivid = peak_signal_noise_ratio(truth, tint(gray, 20), data_range=255)
    assert float(by_model[GRAY]["psnr"]) == pytest.approx(expected_gray, abs=1e-9)
    assert float(by_model["vivid"]["psnr"]) == pytest.approx(expected_vivid, abs=1e-9)
    assert float(by_model["vivid"]["psnr_gain"]) == pytest.approx(expected_vivid - expected_gray, abs=1e-9)

    # summary: means of the CSV columns with CIs around them, gray's gains exactly 0
    assert summary["n_images"] == n_images and summary["n_skipped"] == 1
    assert summary["skipped"][0]["image"] == "broken.jpg" and "decode" in summary["skipped"][0]["error"]
    assert list(summary["models"]) == [GRAY, "lite", "vivid"]
    assert summary["dataset"] == str(data_dir.resolve()) and summary["command"] == "tinct eval data"
    gray_stats, vivid = summary["models"][GRAY]["stats"], summary["models"]["vivid"]
    assert gray_stats["psnr_gain"] == {"mean": 0.0, "lo": 0.0, "hi": 0.0}
    assert gray_stats["ssim_gain"] == {"mean": 0.0, "lo": 0.0, "hi": 0.0}
    assert gray_stats["ait_s"] == {"mean": None, "lo": None, "hi": None}
    psnr_col = [float(r["psnr"]) for r in rows if r["model"] == "vivid"]
    st = vivid["stats"]["psnr"]
    assert st["mean"] == pytest.approx(np.mean(psnr_col), abs=1e-12) and st["lo"] < st["mean"] < st["hi"]
    cf = np.array([[float(r["colourfulness"]), float(r["colourfulness_truth"])] for r in rows if r["model"] == "vivid"])
    assert vivid["stats"]["colourfulness_ratio"]["mean"] == pytest.approx(cf[:, 0].mean() / cf[:, 1].mean())
    assert vivid["stats"]["ait_s"]["mean"] >= 0.002
    assert vivid["working_size"] == 256 and vivid["n"] == n_images
    timing = summary["timing"]
    assert timing["batch_size"] == 1 and timing["device"] == "cpu" and timing["hardware"]
    assert timing["resolution"]["smallest_wh"] == [64, 64] and timing["resolution"]["largest_wh"] == [101, 64]

    # the bad image: reported once on stderr, listed, skipped
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "broken.jpg" in line] == [
        f"tinct eval: skipped broken.jpg: {summary['skipped'][0]['error']}"
    ]

    # the report: self-contained, with table, plot and best / median / worst grids
    page = (out / "report.html").read_text()
    assert "http://" not in page and "https://" not in page
    srcs = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page)
    assert srcs and all(s.startswith("data:image/") for s in srcs)
    assert len(srcs) == 1 + 3 * (1 + 2 + 1)  # summary PNG + 3 examples x (input, 2 models, truth)
    assert "<svg" in page and page.count("<polyline") == 2
    assert all(f"<h3>{label}: " in page for label in ("best", "median", "worst"))
    assert "broken.jpg" in page

    # per source (the folder's manifest.csv): each model's figures over that source's images
    manifest = {r["path"]: r["source"] for r in read_csv(data_dir / "manifest.csv")}
    grouped = summary["by_source"]
    assert grouped["from"] == "manifest.csv" and len(grouped["sources"]) == 8
    assert list(grouped["sources"]) == sorted(set(manifest.values()))
    for source, v in grouped["sources"].items():
        mine = [r for r in rows if r["model"] == "vivid" and manifest[r["image"]] == source]
        assert v["n"] == len(mine) > 0
        got = v["models"]["vivid"]
        assert got["psnr_gain"] == pytest.approx(np.mean([float(r["psnr_gain"]) for r in mine]), abs=1e-12)
        assert got["ciede2000"] == pytest.approx(np.mean([float(r["ciede2000"]) for r in mine]), abs=1e-12)
        ratio = sum(float(r["colourfulness"]) for r in mine) / sum(float(r["colourfulness_truth"]) for r in mine)
        assert got["colourfulness_ratio"] == pytest.approx(ratio)
        assert v["models"][GRAY]["psnr_gain"] == 0.0
    assert sum(v["n"] for v in grouped["sources"].values()) == n_images
    assert "<h2>Per source</h2>" in page and page.count("<tr><th>bsds500</th>") == 1

    from tinct.cli.evaluate import print_summary

    capsys.readouterr()
    print_summary(summary)
    printed = capsys.readouterr().out
    assert "per source" in printed and "manifest.csv" in printed
    line = next(ln for ln in printed.splitlines() if "cats_dogs" in ln)
    want = grouped["sources"]["cats_dogs"]["models"]["vivid"]["psnr_gain"]
    assert f"{want:+.2f}" in line


def test_sources_from_a_manifest_or_one_folder_per_source(tmp_path):
    from tinct.evaluate.sources import image_sources, sources_below_gray

    images = ["a/1.jpg", "a/2.jpg", "b/3.jpg", "top.jpg"]
    assert image_sources(tmp_path, images) == (
        {"a/1.jpg": "a", "a/2.jpg": "a", "b/3.jpg": "b", "top.jpg": "(top folder)"},
        "the first folder of each image",
    )
    assert image_sources(tmp_path, ["1.jpg", "2.jpg"]) is None  # flat: nothing to group by
    assert image_sources(tmp_path, ["a/1.jpg", "a/2.jpg"]) is None  # one folder: one source, no breakdown
    (tmp_path / "manifest.csv").write_text("path,source\na/1.jpg,pets\nb/3.jpg,streets\n")
    assert image_sources(tmp_path, images) == (
        {"a/1.jpg": "pets", "a/2.jpg": "a", "b/3.jpg": "streets", "top.jpg": "(unlisted)"},
        "manifest.csv",
    )
    for bad in ("path;source\na/1.jpg;pets\n", "\xff\xfe\x00garbage", "path,kind\na/1.jpg,x\n"):
        (tmp_path / "manifest.csv").write_bytes(bad.encode("latin-1"))  # unusable: the folders decide
        assert image_sources(tmp_path, images)[1] == "the first folder of each image"
    per_source = {
        "a": {"n": 2, "models": {"gray": {"psnr_gain": 0.0}, "m": {"psnr_gain": 0.4}}},
        "b": {"n": 1, "models": {"gray": {"psnr_gain": 0.0}, "m": {"psnr_gain": -0.1}}},
        "c": {"n": 1, "models": {"gray": {"psnr_gain": 0.0}, "m": {"psnr_gain": None}}},
    }
    assert sources_below_gray(per_source, "m") == ["b", "c"] and sources_below_gray(per_source, "gray") == []


def test_limit_and_size(data_dir, sessions, tmp_path):
    summary = run_eval(data_dir, "lite", tmp_path / "r", limit=5, size=128, progress=False)
    assert summary["n_images"] == 5
    assert len(read_csv(tmp_path / "r" / "metrics.csv")) == 5 * 2
    assert summary["models"]["lite"]["working_size"] == 128 and sessions["lite"].working_size == 128


def test_a_report_folder_inside_the_data_is_not_evaluated(data_dir, sessions):
    for _ in range(2):
        summary = run_eval(data_dir, ["lite"], data_dir / "report", progress=False)
        assert summary["n_images"] == 32 and [s["image"] for s in summary["skipped"]] == ["broken.jpg"]


def test_examples_are_best_median_worst_by_the_first_models_gain():
    cols = evaluate.Columns()
    for i, gain in enumerate([0.5, -2.0, 3.0, 1.0, 0.0]):
        row = dict.fromkeys(evaluate.VALUE_COLUMNS, 0.0)
        cols.add(f"{i}.jpg", (8, 8), {GRAY: row, "a": row | {"psnr_gain": gain}, "b": row | {"psnr_gain": -gain}})
    assert evaluate.example_indices(cols) == [("best", 2), ("median", 0), ("worst", 1)]


def test_bad_arguments(tmp_path, sessions):
    with pytest.raises(evaluate.EvalError, match="not a folder"):
        run_eval(tmp_path / "missing", ["lite"], tmp_path / "r")
    (tmp_path / "empty").mkdir()
    with pytest.raises(evaluate.EvalError) as e:
        run_eval(tmp_path / "empty", ["lite"], tmp_path / "r", progress=False)
    empty = tmp_path / "empty"
    assert str(e.value) == f"no images found in {empty} (jpg, png, ...); nothing to score, no report written"
    (tmp_path / "empty" / "bad.png").write_bytes(b"")
    with pytest.raises(evaluate.EvalError) as e:
        run_eval(tmp_path / "empty", ["lite"], tmp_path / "r", progress=False)
    assert str(e.value) == (
        f"no colour image to score in {tmp_path / 'empty'}: 1 skipped (1 unreadable, 0 near-gray); no report written"
    )
    assert not (tmp_path / "r").exists()  # a failed evaluation writes no report files
    with pytest.raises(evaluate.EvalError, match="baseline"):
        evaluate.resolve_models("lite,gray")
    for nothing in ("", " , ,", []):  # scoring gray alone against itself is no evaluation
        with pytest.raises(evaluate.EvalError, match=r"^no model given \("):
            evaluate.resolve_models(nothing)
    for limit in (0, -1):
        with pytest.raises(evaluate.EvalError, match=f"^--limit must be 1 or more, got {limit}$"):
            run_eval(tmp_path, ["lite"], tmp_path / "r", limit=limit, progress=False)
    assert evaluate.resolve_models(" lite, vivid,lite ") == ["lite", "vivid"]
    assert evaluate.resolve_models("all") == list(__import__("tinct.registry").registry.MODELS)


def test_a_model_breaking_the_output_contract_fails_loudly(data_dir, tmp_path, monkeypatch):
    session = FakeSession("lite", None, 0)
    session.colorize = lambda image: np.zeros((*image.shape, 4), np.uint8)
    monkeypatch.setattr("tinct.api.load_model", lambda name, device, working_size: session)
    with pytest.raises(RuntimeError, match="colorize returned uint8"):
        run_eval(data_dir, ["lite"], tmp_path / "r", progress=False)


def test_compare(data_dir, tmp_path, monkeypatch):
    runs = {}
    for label, tints in (("a", {"lite": 6}), ("b", {"lite": 20})):
        monkeypatch.setattr("tinct.api.load_model", fake_loader({}, tints))
        run_eval(data_dir, ["lite"], tmp_path / label, progress=False)
        runs[label] = tmp_path / label / "summary.json"
    monkeypatch.setattr("tinct.api.load_model", fake_loader({}, {"lite": 6}))
    run_eval(data_dir, ["lite"], tmp_path / "a5", limit=5, progress=False)

    def line(text: str, model: str, stat: str) -> str:
        (found,) = [x for x in text.splitlines() if x.startswith(model) and f" {stat} " in x]
        return found

    text = compare(runs["a"], runs["b"])
    # same images: a paired bootstrap; the stronger tint is more colourful and moves L more
    assert "paired 95% CI" in line(text, "lite", "colourfulness ratio")
    assert line(text, "lite", "colourfulness ratio").endswith("significant, B better")
    assert line(text, "lite", "L error mean").endswith("significant, B worse")
    assert "identical by construction" in text  # the gray rows of the same images are not compared
    a = json.loads(runs["a"].read_text())["models"]["lite"]["stats"]["psnr"]["mean"]
    b = json.loads(runs["b"].read_text())["models"]["lite"]["stats"]["psnr"]["mean"]
    assert f"{b - a:+.2f}" in line(text, "lite", "PSNR (dB)")

    same = compare(runs["a"], runs["a"])
    assert all(x.endswith("not significant") for x in same.splitlines() if x.startswith("lite"))

    # different image sets: no pairing, CI overlap instead; gray is compared too
    unpaired = compare(tmp_path / "a5" / "summary.json", runs["a"])
    assert "CIs" in line(unpaired, "lite", "PSNR gain") and "paired" not in unpaired
    assert line(unpaired, "gray", "PSNR gain").endswith("not significant")

    with pytest.raises(evaluate.EvalError, match="cannot read summary"):
        compare(tmp_path / "nope.json", runs["a"])


# ----------------------------------------------------------------------------- model entries with settings


def test_entries_parse_their_settings_and_refuse_anything_else(tmp_path):
    assert evaluate.parse_entry("prism") == ("prism", {})
    assert evaluate.parse_entry("prism@vivid=1@size=256") == ("prism", {"vivid": 1.0, "size": 256})
    assert evaluate.parse_entry("lite@temperature=0.5") == ("lite", {"temperature": 0.5})
    odd = tmp_path / "run@2" / "model.safetensors"  # a path is a name, whatever it holds
    odd.parent.mkdir()
    odd.write_bytes(b"")
    assert evaluate.parse_entry(str(odd)) == (str(odd), {})
    for entry, message in (
        ("prism@colour=1", "model entry 'prism@colour=1': 'colour=1' is not an option; write NAME@KEY=VALUE with "
                           "KEY one of vivid, temperature, size (e.g. prism@vivid=1)"),
        ("prism@vivid", "model entry 'prism@vivid': 'vivid' is not an option;"),
        ("prism@vivid=high", "model entry 'prism@vivid=high': vivid must be a number, got 'high'"),
        ("prism@size=12.5", "model entry 'prism@size=12.5': size must be a whole number, got '12.5'"),
    ):  # fmt: skip
        with pytest.raises(evaluate.EvalError) as e:
            evaluate.resolve_models(f"lite,{entry}")
        assert str(e.value).startswith(message)
    with pytest.raises(evaluate.EvalError, match="baseline"):
        evaluate.resolve_models("gray@vivid=1")
    assert evaluate.resolve_models("all,prism@vivid=1")[-1] == "prism@vivid=1"


def test_each_entry_is_loaded_with_its_settings_and_scored_as_its_own_column(data_dir, tmp_path, monkeypatch):
    calls = []

    def load_model(name, device="auto", working_size=None, **options):
        calls.append((name, working_size, options))
        return FakeSession(name, working_size, TINTS["vivid"] if options.get("vivid") == 1 else TINTS["lite"])

    monkeypatch.setattr("tinct.api.load_model", load_model)
    summary = run_eval(data_dir, "lite,lite@vivid=1@size=64", tmp_path / "r", limit=3, size=128, progress=False)
    assert calls == [("lite", 128, {}), ("lite", 64, {"vivid": 1.0})]
    models = summary["models"]
    assert list(models) == [GRAY, "lite", "lite@vivid=1@size=64"]
    assert models["lite@vivid=1@size=64"]["working_size"] == 64 and models["lite"]["working_size"] == 128
    ratio = {m: models[m]["stats"]["colourfulness_ratio"]["mean"] for m in models}
    assert ratio["lite@vivid=1@size=64"] > ratio["lite"] > 0
    assert {r["model"] for r in read_csv(tmp_path / "r" / "metrics.csv")} == {GRAY, "lite", "lite@vivid=1@size=64"}


def test_cli_compares_vivid_settings_of_the_shipped_model(smoke_dir, tmp_path):
    from typer.testing import CliRunner

    from tinct.cli import app
    from tinct.registry import DEFAULT_MODEL

    runner = CliRunner()
    out = tmp_path / "rep"
    args = ["eval", str(smoke_dir), "--limit", "4", "-q", "--out", str(out)]
    r = runner.invoke(app, [*args, "--models", f"{DEFAULT_MODEL},{DEFAULT_MODEL}@vivid=1"])
    assert r.exit_code == 0, r.output
    models = json.loads((out / "summary.json").read_text())["models"]
    ratio = {m: models[m]["stats"]["colourfulness_ratio"]["mean"] for m in models}
    assert ratio[f"{DEFAULT_MODEL}@vivid=1"] > 1.1 * ratio[DEFAULT_MODEL] > 0
    assert f"{DEFAULT_MODEL}@vivid=1" in r.output
    r = runner.invoke(app, [*args, "--out", str(tmp_path / "never"), "--models", "lite@vivid=1"])
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert r.output.startswith("error: model entry 'lite@vivid=1': model 'lite' records no bin prior")
    assert not (tmp_path / "never").exists()
