"""`tinct` end to end: folders with good and bad files, skipping, resuming, exit codes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from tinct.cli import app

from .conftest import DEMO

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def mixed_dir(tmp_path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(DEMO / "1909Chicago.jpg", d / "good.jpg")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 60), dtype=np.uint8)).save(d / "good2.png")
    (d / "empty.jpg").write_bytes(b"")
    (d / "trunc.jpg").write_bytes((DEMO / "1909Chicago.jpg").read_bytes()[:3000])
    (d / "text.png").write_text("not an image")
    Image.new("1", (10_000, 10_000)).save(d / "bomb.png")
    (d / "notes.txt").write_text("ignored: not an image extension")
    return d


def test_version_does_not_import_torch():
    code = (
        "import sys; from tinct.cli import app; sys.argv=['tinct','--version']\ntry:\n app()\nexcept SystemExit: pass\n"
    )
    code += "print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "tinct" and out[-1] == "False"


def test_mixed_folder(mixed_dir, tmp_path):
    out = tmp_path / "out"
    r = invoke("colorize", str(mixed_dir), "-o", str(out), "-q")
    assert r.exit_code == 1
    err = r.output
    assert "2 done, 0 skipped (output exists), 4 failed" in err
    for name, why in [
        ("empty.jpg", "empty file"),
        ("trunc.jpg", "truncated"),
        ("text.png", "not an image"),
        ("bomb.png", "above the limit"),
    ]:
        line = next(ln for ln in err.splitlines() if name in ln)
        assert why in line and line.startswith("failed:")
    assert "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["good2_color.png", "good_color.jpg"]
    a = Image.open(out / "good_color.jpg")
    assert a.size == Image.open(mixed_dir / "good.jpg").size and a.mode == "RGB"
    # inputs untouched
    assert (mixed_dir / "good.jpg").read_bytes() == (DEMO / "1909Chicago.jpg").read_bytes()


def test_second_run_skips_and_overwrite_redoes(mixed_dir, tmp_path):
    out = tmp_path / "out"
    invoke("colorize", str(mixed_dir / "good.jpg"), str(mixed_dir / "good2.png"), "-o", str(out))
    r = invoke("colorize", str(mixed_dir / "good.jpg"), str(mixed_dir / "good2.png"), "-o", str(out))
    assert r.exit_code == 0 and "0 done, 2 skipped" in r.output
    r = invoke("colorize", str(mixed_dir / "good.jpg"), "-o", str(out), "--overwrite")
    assert r.exit_code == 0 and "1 done" in r.output


def test_interrupted_batch_resumes(tmp_path, monkeypatch):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(4):
        Image.fromarray(np.full((32, 32), 40 * i, np.uint8)).save(d / f"im{i}.png")
    out = tmp_path / "out"
    import tinct.api

    real = tinct.api.Session.colorize_file
    calls = {"n": 0}

    def flaky(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, *a, **k)

    monkeypatch.setattr(tinct.api.Session, "colorize_file", flaky)
    r = invoke("colorize", str(d), "-o", str(out), "-q")
    # two finished before the third call; on two lanes the fourth may have run beside it and finished
    written = len(list(out.iterdir()))
    assert r.exit_code == 130 and r.output.strip() == f"interrupted: {written} done, rerun to resume"
    assert written in (2, 3) and not list(out.glob(".*"))  # no partial file
    monkeypatch.setattr(tinct.api.Session, "colorize_file", real)
    r = invoke("colorize", str(d), "-o", str(out), "-q")
    assert r.exit_code == 0 and f"{4 - written} done, {written} skipped" in r.output
    assert sorted(p.name for p in out.iterdir()) == [f"im{i}_color.png" for i in range(4)]


def test_outputs_beside_input_and_rescan_ignores_them(tmp_path):
    shutil.copy(DEMO / "CatWash1931.jpg", tmp_path / "cat.jpg")
    r = invoke("colorize", str(tmp_path))
    assert r.exit_code == 0 and (tmp_path / "cat_color.jpg").exists()
    r = invoke("colorize", str(tmp_path))
    assert "0 done, 1 skipped" in r.output and not (tmp_path / "cat_color_color.jpg").exists()


def test_recursive_mirrors_subfolders_and_globs(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    Image.new("L", (20, 20), 90).save(tmp_path / "a" / "b" / "x.png")
    Image.new("L", (20, 20), 90).save(tmp_path / "a" / "y.png")
    out = tmp_path / "out"
    assert invoke("colorize", str(tmp_path / "a"), "-o", str(out)).exit_code == 0
    assert [p.name for p in out.rglob("*.png")] == ["y_color.png"]
    assert invoke("colorize", str(tmp_path / "a"), "-r", "-o", str(out)).exit_code == 0
    assert (out / "b" / "x_color.png").exists()
    r = invoke("colorize", str(tmp_path / "a" / "*.png"), "-o", str(tmp_path / "g"))
    assert r.exit_code == 0 and (tmp_path / "g" / "y_color.png").exists()
    r = invoke("colorize", str(tmp_path / "nothing*.png"))
    assert r.exit_code == 1 and "no file matches" in r.output


def test_format_option_and_missing_input(tmp_path):
    shutil.copy(DEMO / "CatWash1931.jpg", tmp_path / "cat.jpg")
    r = invoke("colorize", str(tmp_path / "cat.jpg"), "--format", "png", "-o", str(tmp_path / "o"))
    assert r.exit_code == 0 and Image.open(tmp_path / "o" / "cat_color.png").format == "PNG"
    r = invoke("colorize", str(tmp_path / "missing.jpg"))
    assert r.exit_code == 1 and "no such file" in r.output


def test_unknown_model_and_empty_suffix(tmp_path):
    r = invoke("colorize", "x.jpg", "--model", "nope")
    assert r.exit_code == 2 and "unknown model 'nope'" in r.output
    r = invoke("colorize", "x.jpg", "--suffix", "")
    assert r.exit_code == 2 and "never overwritten" in r.output


@pytest.mark.parametrize("suffix", ["/x", "/../../good", "_c/x", "a\\b"])
def test_a_suffix_with_a_path_separator_is_refused_before_anything_is_written(mixed_dir, tmp_path, suffix):
    from tinct.apps.batch import plan_jobs

    before = sorted(p.name for p in mixed_dir.iterdir())
    r = invoke("colorize", str(mixed_dir / "good.jpg"), "-o", str(tmp_path / "o"), "--suffix", suffix, "-q")
    assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
    assert r.output.startswith(f"error: --suffix {suffix!r}: a suffix ends each output's file name, so it holds no")
    assert not (tmp_path / "o").exists() and sorted(p.name for p in mixed_dir.iterdir()) == before
    with pytest.raises(ValueError, match="^--suffix "):  # the library refuses it as well
        plan_jobs([mixed_dir], tmp_path / "o", suffix=suffix)


def test_an_output_that_is_a_file_where_a_folder_is_needed_is_refused_at_once(mixed_dir, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    for inputs in ([mixed_dir], [mixed_dir / "good.jpg", mixed_dir / "good2.png"]):
        r = invoke("colorize", *map(str, inputs), "-o", str(notes), "-q")  # each output failed, one by one
        assert r.exit_code == 2 and r.output == (
            f"error: -o {notes} is a file, and these inputs need an output folder: name a folder\n"
        )
    assert notes.read_text() == "mine"


def test_an_unknown_stretch_is_refused_before_any_file_not_only_when_a_fits_file_comes(mixed_dir, tmp_path):
    r = invoke("colorize", str(mixed_dir / "good2.png"), "-o", str(tmp_path / "o"), "--stretch", "foo")
    assert r.exit_code == 2 and r.output == "error: --stretch must be one of linear, asinh, log, not 'foo'\n"


def test_a_bad_window_or_axis_is_refused_before_any_file(mixed_dir, tmp_path):
    """Not one failure per DICOM or NIfTI file of a folder (exit 1), but a usage error (exit 2) at once."""
    out = tmp_path / "o"
    for window, said in (("wide", "--window must be 'auto', 'full' or 'CENTER,WIDTH'"),
                         ("40,0", "--window width must be at least 1")):  # fmt: skip
        r = invoke("colorize", str(mixed_dir / "good2.png"), "-o", str(out), "--window", window)
        assert r.exit_code == 2 and r.output.startswith(f"error: {said}") and r.output.count("\n") == 1, r.output
    r = invoke("colorize", str(mixed_dir / "good2.png"), "-o", str(out), "--axis", "3")
    assert r.exit_code == 2 and r.output == "error: --axis must be 0, 1 or 2, not 3\n"
    assert not out.exists()


def test_max_pixels_below_1_is_refused(mixed_dir, tmp_path):
    r = invoke("colorize", str(mixed_dir / "good2.png"), "-o", str(tmp_path / "o"), "--max-pixels", "0")
    assert r.exit_code == 2 and "--max-pixels" in r.output and not (tmp_path / "o").exists()


@pytest.mark.parametrize("option", ["--scribbles", "--reference"])
def test_a_missing_or_unreadable_guidance_file_is_named(mixed_dir, tmp_path, option):
    what = option.removeprefix("--")
    for name, message in (("missing.png", "file not found"), ("text.png", "not an image file")):
        r = invoke("colorize", str(mixed_dir / "good2.png"), "-o", str(tmp_path / "o"), option, str(mixed_dir / name))
        assert r.exit_code == 2 and r.output.count("\n") == 1, r.output
        assert r.output.startswith(f"error: {what} {mixed_dir / name}: {message}"), r.output


def test_models_lists_registry():
    r = invoke("models", "--json")
    assert r.exit_code == 0 and '"name": "lite"' in r.output


def test_demo(tmp_path):
    r = invoke("demo", "-o", str(tmp_path / "d"))
    assert r.exit_code == 0
    names = sorted(p.name for p in (tmp_path / "d").iterdir())
    assert len([n for n in names if n.endswith("_before_after.jpg")]) == len(list(DEMO.glob("*.jpg"))) >= 3


def test_two_inputs_that_would_write_one_output_are_not_both_done(tmp_path):
    """a.jpg and a.png with --format png, or one name in two folders into one -o: the second output would
    silently replace the first (both counted done). The first is done; the later one fails, naming it,
    and a rerun says so again rather than skipping it as finished."""
    from tinct.apps.batch import plan_jobs

    src = tmp_path / "scans"
    (src / "more").mkdir(parents=True)
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 60), dtype=np.uint8))
    for name in ("a.jpg", "a.png", "more/b.png", "b.png"):
        photo.save(src / name)
    out = tmp_path / "o"
    why = "would replace that of"
    jobs, result = plan_jobs([src, src / "more"], out, fmt="png")
    assert sorted(j.src.relative_to(src).as_posix() for j in jobs) == ["a.jpg", "b.png"]
    assert [(f.relative_to(src).as_posix(), w.split(" would")[0]) for f, w in result.failed] == [
        ("a.png", f"its output {out / 'a_color.png'}"),
        ("more/b.png", f"its output {out / 'b_color.png'}"),
    ]
    for run in range(2):
        r = invoke("colorize", str(src / "a.jpg"), str(src / "a.png"), "-o", str(out), "--format", "png", "-q")
        assert r.exit_code == 1, r.output
        assert f"failed: {src / 'a.png'}: its output {out / 'a_color.png'} {why} {src / 'a.jpg'}" in r.output
        assert r.output.rstrip().endswith(
            ["1 done, 0 skipped", "0 done, 1 skipped"][run] + " (output exists), 1 failed"
        )
    assert sorted(p.name for p in out.iterdir()) == ["a_color.png"]
