"""Every CLI message a person can act on (issue 20): one line naming the file and what to do, no
traceback, a non-zero exit code where the run failed; ``-o`` naming a file for one input."""

from __future__ import annotations

import numpy as np
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from tinct.apps.batch import output_file, plan_jobs
from tinct.cli import app
from tinct.cli.app import guarded
from tinct.io.errors import missing_extra

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def photo(tmp_path):
    p = tmp_path / "x.png"
    Image.fromarray(np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))).save(p)
    return p


def lines(r) -> list[str]:
    return [ln for ln in r.output.splitlines() if ln.strip()]


def test_unknown_format_is_one_line(photo):
    r = invoke("colorize", str(photo), "--format", "gif")
    assert r.exit_code == 2
    assert lines(r) == ["error: --format gif: not an output format; use one of jpg, png, tif, webp, bmp"]


def test_empty_folder_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing to colour")
    r = invoke("colorize", str(tmp_path))
    assert r.exit_code == 1
    assert lines(r) == [
        f"error: nothing to colorize in {tmp_path}: no image, video, DICOM, NIfTI or FITS file "
        "(earlier outputs, *_color.*, are left out)"
    ]


def test_options_that_do_not_apply_to_an_image(photo, tmp_path):
    r = invoke("colorize", str(photo), "-o", str(tmp_path / "o"), "--window", "40,400", "--axis", "1",
               "--stretch", "asinh", "-q")  # fmt: skip
    assert r.exit_code == 1
    assert lines(r) == [
        f"failed: {photo}: --window, --axis, --stretch do not apply to an image; leave it out for this input",
        "0 done, 0 skipped (output exists), 1 failed",
    ]
    assert not (tmp_path / "o").exists()


def test_options_that_do_not_apply_to_a_video(tmp_path):
    from tinct.apps.batch import Job
    from tinct.cli.colorize import Colorizing
    from tinct.cli.options import FileOptions, MedicalOptions, VideoOptions
    from tinct.session import Guidance

    run = Colorizing(None, Guidance(lut="magma"), "magma", FileOptions(fmt="png"), MedicalOptions(),
                     VideoOptions(), None, False, True, None, "magma")  # fmt: skip
    job = Job(tmp_path / "film.mp4", tmp_path / "film_color.mp4", video=True)
    assert run.not_applying(job) == ["--format", "--lut"]
    with pytest.raises(ValueError, match=r"^--format, --lut do not apply to a video; leave it out for this input$"):
        run.process(job, "PNG")


def test_missing_extra_names_the_extra():
    e = ModuleNotFoundError("No module named 'pydicom'", name="pydicom")
    assert missing_extra(e) == "this needs the 'medical' extra (pydicom is not installed): pip install 'tinct[medical]'"
    for module, extra in (("av", "video"), ("ray", "cluster"), ("onnxruntime", "onnx")):
        assert missing_extra(ModuleNotFoundError(name=module)).endswith(f"pip install 'tinct[{extra}]'")


def test_uncaught_error_and_ctrl_c_are_one_line():
    def boom(debug: bool = False) -> None:
        raise RuntimeError("disk on fire\nsecond line")

    def stop() -> None:
        e = KeyboardInterrupt()
        e.batch_result = type("R", (), {"done": [1, 2, 3]})()
        raise e

    t = typer.Typer()
    t.command("boom")(guarded(boom))
    t.command("stop")(guarded(stop))
    r = runner.invoke(t, ["boom"])
    assert r.exit_code == 1 and lines(r) == ["error: disk on fire (rerun with --debug for details)"]
    r = runner.invoke(t, ["stop"])
    assert r.exit_code == 130 and lines(r) == ["interrupted: 3 done, rerun to resume"]


def test_output_with_a_suffix_names_the_file(photo, tmp_path):
    out = tmp_path / "chicago.jpg"
    r = invoke("colorize", str(photo), "-o", str(out), "-q")
    assert r.exit_code == 0, r.output
    assert out.is_file() and Image.open(out).format == "JPEG"
    assert r.output.splitlines()[0] == str(out)
    r = invoke("colorize", str(photo), "-o", str(out), "-q")
    assert r.exit_code == 0 and "0 done, 1 skipped" in r.output
    r = invoke("colorize", str(photo), "-o", str(tmp_path / "y.png"), "--format", "jpg", "-q")
    assert r.exit_code == 1 and f"failed: {photo}: --format jpg contradicts -o y.png; give one of them" in r.output
    # a video: the container from the suffix; two inputs or an existing folder: a folder
    film = tmp_path / "film.mp4"
    film.write_bytes(b"")
    assert output_file([str(film)], tmp_path / "film_out.mkv") == tmp_path / "film_out.mkv"
    jobs, _ = plan_jobs([film], tmp_path / "film_out.mkv")
    assert jobs[0].video and jobs[0].dst == tmp_path / "film_out.mkv"
    assert output_file([str(photo), str(film)], tmp_path / "o.png") is None
    (tmp_path / "dir.png").mkdir()
    assert output_file([str(photo)], tmp_path / "dir.png") is None


def test_models_piped_json_csv_and_80_columns():
    import csv
    import io
    import json

    from tinct.registry import MODELS, model_rows

    rows = model_rows()
    piped = invoke("models")  # not a terminal: CSV, every name and parameter count in full
    assert piped.exit_code == 0
    parsed = list(csv.DictReader(io.StringIO(piped.output)))
    assert [r["name"] for r in parsed] == list(MODELS)
    assert [r["parameters"] for r in parsed] == [str(r["parameters"]) for r in rows]
    as_json = invoke("models", "--format", "json")
    assert as_json.exit_code == 0 and json.loads(as_json.output) == rows
    assert json.loads(invoke("models", "--json").output) == rows
    table = invoke("models", "--format", "table")
    assert table.exit_code == 0 and "../shared" not in table.output and "MODELS.md" not in table.output
    assert max(len(line) for line in table.output.splitlines()) <= 80
    for r in rows:
        assert f"{r['parameters']:,}" in table.output and r["name"] in table.output
    bad = invoke("models", "--format", "xml")
    assert bad.exit_code == 2 and lines(bad) == ["error: --format xml: use table, json or csv"]


def test_help_grouped_short_and_not_swallowed():
    r = runner.invoke(app, ["colorize", "--help"], env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert r.exit_code == 0
    out = r.output.splitlines()
    assert len(out) <= 130 and max(len(line) for line in out) <= 80
    panels = [line.split("─ ")[1].split(" ─")[0] for line in out if line.startswith("╭─ ")]
    assert panels == ["Arguments", "Options", "Input and output", "Guidance (still images)",
                      "Medical (DICOM, NIfTI, FITS)", "Video"]  # fmt: skip
    flat = " ".join(" ".join(line.strip("│ ").split()) for line in out)
    assert '[x, y, "#rrggbb"]' in flat
    top = runner.invoke(app, ["--help"], env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert "pip install 'tinct[cluster]'" in " ".join(
        " ".join(ln.strip("│ ").split()) for ln in top.output.splitlines()
    )


def test_public_api_names_and_argument_errors():
    import tinct
    from tinct.registry import MODELS

    assert {"colorize", "Session", "load_model", "list_models", "UnknownModelError"} <= set(dir(tinct))
    assert set(tinct.__all__) >= {"colorize", "Session", "load_model", "list_models", "UnknownModelError"}
    assert tinct.list_models() == list(MODELS) and issubclass(tinct.UnknownModelError, KeyError)
    with pytest.raises(
        ValueError, match=r"^model must be a registry name or a \.safetensors path, not None; known: lite"
    ):
        tinct.load_model(None)
    with pytest.raises(ValueError, match=r"^unknown device 'gpu'; use auto, cpu, cuda or cuda:N$"):
        tinct.load_model("lite", device="gpu")
    with pytest.raises(ValueError, match=r"^working_size must be a positive number of pixels \(e\.g\. 256\), not -5$"):
        tinct.load_model("lite", working_size=-5)


def test_api_dtype_round_trip_zero_size_and_paths(session, tmp_path):
    g = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (48, 1))
    f = session.colorize(g)
    assert f.dtype == np.float32 and f.shape == (48, 64, 3) and 0.0 <= f.min() and f.max() <= 1.0
    u16 = session.colorize((g * 65535).astype(np.uint16))
    assert u16.dtype == np.uint16 and u16.max() > 255 and int(u16.max()) % 257 == 0
    u8 = session.colorize((g * 255).astype(np.uint8))
    assert u8.dtype == np.uint8
    assert np.abs(u16.astype(int) // 257 - u8.astype(int)).max() <= 4  # the same colours, in the input's range
    np.testing.assert_allclose(f, u16 / 65535.0, atol=1.01 / 255)  # float input is read at 16 bits
    with pytest.raises(ValueError, match=r"^the array has no pixels \(shape \(0, 5\)\); give an image of at least"):
        session.colorize(np.zeros((0, 5), np.uint8))
    from tinct.io.errors import ImageError

    missing = tmp_path / "missing.jpg"
    with pytest.raises(ImageError, match=f"^{missing}: file not found$"):
        session.colorize(missing)
    src = tmp_path / "p.png"
    Image.fromarray((g * 255).astype(np.uint8)).save(src)
    out = session.colorize(src)
    assert out == tmp_path / "p_color.png"
    with pytest.raises(FileExistsError, match="p_color.png exists; pass overwrite=True"):
        session.colorize(src)
    assert session.colorize(src, overwrite=True) == out
    assert str(tmp_path) not in Image.open(out).info.get("Description", "") + str(Image.open(out).info)


def test_batch_log_has_one_line_per_failure(photo, tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8junk")
    (tmp_path / "scan.dcm").write_bytes(b"")
    r = invoke("colorize", str(tmp_path), "-o", str(tmp_path / "o"))  # stderr is not a terminal: no bar
    assert r.exit_code == 1 and "\r" not in r.output
    assert r.output.splitlines() == [  # each file named once, though its reader's message names it too
        f"failed: {tmp_path / 'b.jpg'}: not an image file (or a format Pillow cannot read)",
        f"failed: {tmp_path / 'notes.png'}: not an image file (or a format Pillow cannot read)",
        f"failed: {tmp_path / 'scan.dcm'}: empty file (0 bytes)",
        "1 done, 0 skipped (output exists), 3 failed",
    ]


def test_dicom_without_the_medical_extra_names_the_extra(tmp_path, monkeypatch):
    import sys

    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.set_pixel_data(np.arange(64, dtype=np.uint8).reshape(8, 8), "MONOCHROME2", 8)
    src = tmp_path / "scan.dcm"
    pydicom.dcmwrite(src, ds, enforce_file_format=True)
    for name in [m for m in sys.modules if m == "pydicom" or m.startswith("pydicom.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "pydicom", None)  # as if the extra were not installed
    r = invoke("colorize", str(src), "--mode", "pseudo", "-o", str(tmp_path / "o"))
    assert r.exit_code == 1
    assert lines(r) == [
        f"failed: {src}: this needs the 'medical' extra (pydicom is not installed): pip install 'tinct[medical]'",
        "0 done, 0 skipped (output exists), 1 failed",
    ]
