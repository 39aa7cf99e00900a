"""`tinct colorize-dataset` on a local Ray: naming, URIs, failures, skip-existing, same pixels as the CLI."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from .conftest import DEMO

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'tinct[cluster]'")
pytest.importorskip("ray.data", reason="Ray Data is an optional extra: pip install 'tinct[cluster]'")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def dataset(tmp_path):
    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    shutil.copy(DEMO / "1909Chicago.jpg", d / "chicago.jpg")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 60), dtype=np.uint8)).save(d / "sub" / "noise.png")
    (d / "empty.jpg").write_bytes(b"")
    (d / "text.png").write_text("not an image")
    remote = tmp_path / "bucket"
    remote.mkdir()
    shutil.copy(DEMO / "CatWash1931.jpg", remote / "cat.jpg")
    return d, f"file://{remote / 'cat.jpg'}"


def test_colorize_dataset_matches_the_cli(local_ray, dataset, tmp_path, session):
    from tinct.cluster import colorize_dataset

    folder, uri = dataset
    out = tmp_path / "out"
    res = colorize_dataset([folder, uri], out, num_actors=2, batch_size=2, recursive=True, fmt="png")
    assert sorted(p.relative_to(out).as_posix() for p in res.done) == [
        "cat_color.png",
        "chicago_color.png",
        "sub/noise_color.png",
    ]
    failed = {p.name: msg for p, msg in res.failed}
    assert failed.keys() == {"empty.jpg", "text.png"}
    assert "empty file" in failed["empty.jpg"] and "not an image" in failed["text.png"]
    assert res.summary() == "3 done, 0 skipped (output exists), 2 failed"
    # the same pixels as the session the CLI uses, at the same size, colour added
    ref = session.colorize_file(folder / "chicago.jpg", tmp_path / "ref.png", fmt="png")
    a, b = (np.asarray(Image.open(p)).astype(int) for p in (out / "chicago_color.png", ref))
    assert a.shape == b.shape and np.abs(a - b).max() <= 1
    assert np.abs(a[..., 0] - a[..., 2]).mean() > 1
    # a second run skips what exists, URIs included, and still reports the bad files
    again = colorize_dataset([folder, uri], out, num_actors=1, recursive=True, fmt="png")
    assert again.summary() == "0 done, 3 skipped (output exists), 2 failed"
    assert uri in again.skipped


def test_cli_colorize_dataset(local_ray, dataset, tmp_path):
    from tinct.cli import app

    folder, uri = dataset
    listing = tmp_path / "list.txt"
    listing.write_text(f"{folder / 'chicago.jpg'}\n{uri}\n\n{folder / 'text.png'}\n")
    out = tmp_path / "cli"
    r = CliRunner().invoke(app, ["colorize-dataset", "--from-list", str(listing), "-o", str(out), "--actors", "1"])
    assert r.exit_code == 1, r.output
    assert "2 done, 0 skipped (output exists), 1 failed" in r.output
    assert any(ln.startswith("failed: ") and "text.png" in ln for ln in r.output.splitlines())
    assert sorted(p.name for p in out.iterdir()) == ["cat_color.jpg", "chicago_color.jpg"]
    r = CliRunner().invoke(app, ["colorize-dataset", str(folder), "-o", str(out), "--model", "nope"])
    assert r.exit_code == 2 and "unknown model 'nope'" in r.output
