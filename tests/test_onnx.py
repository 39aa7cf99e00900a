"""ONNX export and the onnxruntime backend: same output as torch within tolerance, metadata,
backend selection, and clear errors without onnxruntime.

Tolerance (what the backends are held to): ab within 1e-3 Lab units at the model's output, and
final 8-bit RGB within 2 codes (in practice 1, at a few pixels in a million) on the demo photos.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import tinct
from tinct.api import cpu_threads, load_model
from tinct.cli import app
from tinct.color import luminance, normalize_l
from tinct.pipeline import resize_l, working_shape
from tinct.registry import MODELS, get_spec

from .conftest import DEMO

pytest.importorskip("onnxruntime", reason="the ONNX backend is an optional extra: pip install 'tinct[onnx]'")
pytest.importorskip("onnx", reason="ONNX export is an optional extra: pip install 'tinct[onnx]'")

from tinct.onnx import (  # noqa: E402 - after the skips
    OnnxPredictor,
    OnnxUnavailableError,
    cache_dir,
    export_onnx,
    read_metadata,
    weights_sha1,
)

AB_TOL = 1e-3
RGB_TOL = 2
DEMOS = sorted(DEMO.glob("*.jpg"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return export_onnx("lite", tmp_path_factory.mktemp("onnx") / "lite.onnx")


@pytest.fixture(scope="module")
def torch_session():
    return load_model("lite", device="cpu", backend="torch")


def test_export_metadata(exported):
    meta = read_metadata(exported)
    spec = get_spec("lite")
    assert meta["tinct_model"] == "lite" and meta["tinct_arch"] == "lite"
    assert meta["tinct_kind"] == "classification" and meta["tinct_multiple"] == 8
    assert meta["tinct_temperature"] == pytest.approx(MODELS["lite"].kwargs["temperature"])
    assert meta["tinct_weights_sha1"] == weights_sha1(spec.weights_path) and len(meta["tinct_weights_sha1"]) == 40
    assert meta["tinct_opset"] == 17 and meta["tinct_version"] == tinct.__version__
    import onnx

    model = onnx.load(str(exported))
    assert [d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim] == ["batch", "", "height", "width"]
    assert model.opset_import[0].version == 17


@pytest.mark.parametrize("path", DEMOS[:3], ids=lambda p: p.stem)
def test_ab_matches_torch(exported, torch_session, path):
    L = torch.from_numpy(luminance(np.asarray(Image.open(path).convert("L"))))
    h, w = working_shape(*L.shape, 256)
    x = normalize_l(resize_l(L, (h - h % 8, w - w % 8)))
    x = torch.cat([x, x.flip(-1)])  # batch of 2
    with torch.inference_mode():
        ref = torch_session.model.predict_ab(x)
    got = OnnxPredictor(exported, threads=1)(x)
    assert got.shape == ref.shape == (2, 2, x.shape[-2] // 2, x.shape[-1] // 2) and got.dtype == torch.float32
    assert (got - ref).abs().max().item() < AB_TOL
    assert ref.abs().mean() > 2  # real colour (a gray prediction would be ~0), not gray compared with itself


def test_colorized_rgb_matches_torch(exported, torch_session):
    onnx_session = tinct.api.Session(torch_session.spec, torch_session.model, torch_session.device, None)
    onnx_session.predictor = OnnxPredictor(exported)
    for path in DEMOS:
        gray = np.asarray(Image.open(path).convert("L"))
        a = onnx_session.colorize(gray).astype(int)
        b = torch_session.colorize(gray).astype(int)
        diff = np.abs(a - b)
        assert diff.max() <= RGB_TOL and (diff > 0).mean() < 1e-3, (path.name, diff.max(), (diff > 0).mean())


def test_temperature_is_baked_in(tmp_path, exported, torch_session):
    hot = export_onnx("lite", tmp_path / "hot.onnx", temperature=1.0)
    assert read_metadata(hot)["tinct_temperature"] == 1.0
    L = torch.from_numpy(luminance(np.asarray(Image.open(DEMOS[0]).convert("L"))))
    x = normalize_l(resize_l(L, (128, 160)))
    cold_ab, hot_ab = OnnxPredictor(exported)(x), OnnxPredictor(hot)(x)
    assert (hot_ab - cold_ab).abs().max() > 100 * AB_TOL  # another temperature, another decoding
    ref = load_model("lite", device="cpu", backend="torch", temperature=1.0).model.predict_ab(x)
    assert (hot_ab - ref).abs().max().item() < AB_TOL


def test_backend_selection_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TINCT_CACHE", str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache" / "onnx"
    auto = load_model("lite", device="cpu")
    assert auto.backend == "onnx" and auto.predictor.threads == cpu_threads()
    expected = auto.predictor.path
    assert expected.parent == cache_dir() and expected.is_file()
    assert expected.name.startswith(f"lite-{weights_sha1(get_spec('lite').weights_path)[:12]}-")
    inode, mtime = expected.stat().st_ino, expected.stat().st_mtime_ns
    os.utime(expected, ns=(mtime - 10**10, mtime - 10**10))  # 10 s older, so a use shows
    assert load_model("lite", device="cpu", backend="onnx").predictor.path == expected
    assert expected.stat().st_ino == inode  # exported once, then reused (an export writes a new file)
    assert expected.stat().st_mtime_ns > mtime - 10**10  # marked as used, for the cache's pruning
    warm = load_model("lite", device="cpu", backend="onnx", temperature=0.5).predictor
    assert warm.path != expected and warm.metadata["tinct_temperature"] == 0.5
    assert load_model("lite", device="cpu", backend="torch").backend == "torch"
    assert auto.with_working_size(128).backend == "onnx"
    with pytest.raises(ValueError, match="unknown backend"):
        load_model("lite", device="cpu", backend="tensorrt")


def test_the_export_cache_drops_the_least_recently_used_beyond_its_cap(tmp_path, monkeypatch):
    from tinct.backends.ort import prune_cache

    files = []
    for i, size in enumerate([300, 200, 100, 400]):  # oldest first
        f = tmp_path / f"m{i}.onnx"
        f.write_bytes(b"x" * size)
        os.utime(f, (1000 + i, 1000 + i))
        files.append(f)
    (tmp_path / "notes.txt").write_bytes(b"y" * 5000)  # not an export: never counted nor touched
    assert prune_cache(files[3], max_bytes=10_000) == []  # under the cap: nothing goes
    assert prune_cache(files[3], max_bytes=650) == [files[0], files[1]]  # oldest first until it fits
    assert [f.exists() for f in files] == [False, False, True, True] and (tmp_path / "notes.txt").exists()
    assert prune_cache(files[2], max_bytes=0) == [files[3]]  # the one just written is always kept
    assert files[2].exists()
    monkeypatch.setenv("TINCT_CACHE_MAX_MB", "0.00005")  # 50 bytes, from the environment
    files[3].write_bytes(b"x" * 400)
    os.utime(files[3], (1, 1))
    assert prune_cache(files[2]) == [files[3]]


def test_the_graph_optimised_for_this_machine_is_cached_beside_its_export(tmp_path, monkeypatch):
    """The first load saves onnxruntime's optimised graph (keyed by onnxruntime's version and the
    CPU); later loads use it and give the same numbers; a broken one is rebuilt; a read-only cache
    still loads; pruning takes an export's graphs with it."""
    import onnxruntime as ort

    from tinct.backends import hardware
    from tinct.backends.ort import OnnxPredictor, export_stem, optimized_path, prune_cache

    monkeypatch.setenv("TINCT_CACHE", str(tmp_path / "cache"))
    export = load_model("lite", device="cpu", backend="onnx").predictor.path
    fast = optimized_path(export, ort.__version__)
    assert fast.is_file() and fast.parent == export.parent and fast.name.startswith(export.stem + ".")
    kept = sorted(p.name for p in export.parent.iterdir() if p.name != "sha1.json")  # weights_sha1's memo
    assert kept == sorted([export.name, fast.name])  # no temp files

    opened = []
    real_session = ort.InferenceSession

    def recording(path, *args, **kw):
        opened.append(os.path.basename(path))
        return real_session(path, *args, **kw)

    monkeypatch.setattr(ort, "InferenceSession", recording)
    x = torch.rand(2, 1, 96, 128) * 2 - 1
    cold, warm = OnnxPredictor(export), OnnxPredictor(export)  # the graph is in the cache now
    assert opened == [fast.name, fast.name]
    assert torch.equal(cold(x), warm(x)) and warm.metadata == cold.metadata
    assert warm.metadata["tinct_model"] == "lite"
    reference = load_model("lite", device="cpu", backend="torch").model.predict_ab(x)
    assert (warm(x) - reference).abs().max().item() < AB_TOL

    fast.write_bytes(b"not a graph")  # broken (a crash mid-copy, a disk error): rebuilt from the export
    opened.clear()
    assert torch.equal(OnnxPredictor(export)(x), cold(x)) and opened == [fast.name, export.name]
    assert fast.stat().st_size > 1000

    monkeypatch.setattr(hardware, "cpu_signature", lambda: "another CPU")  # another machine, same cache
    monkeypatch.setattr("tinct.backends.ort.cpu_signature", hardware.cpu_signature)
    other = optimized_path(export, ort.__version__)
    assert other != fast and optimized_path(export, "0.0") != other
    assert export_stem(other) == export_stem(fast) == export_stem(export) == export.stem  # prune_cache's groups

    unwritable = tmp_path / "read-only" / "graph.opt"  # where it may not write (a folder it cannot create)
    monkeypatch.setattr("tinct.backends.ort.optimized_path", lambda export, version: unwritable)
    opened.clear()
    assert torch.equal(OnnxPredictor(export)(x), cold(x)) and opened == [export.name, export.name]
    assert not unwritable.parent.exists() and len(list(export.parent.iterdir())) == 3  # + sha1.json
    monkeypatch.undo()
    monkeypatch.setenv("TINCT_CACHE", str(tmp_path / "cache"))

    old = export.with_name("old-0123456789ab-cdef0123.onnx")  # an older export and its graph
    old.write_bytes(b"x" * 100)
    old_graph = old.with_name(old.stem + ".abcd1234.opt")
    old_graph.write_bytes(b"x" * 100)
    orphan = export.with_name("gone-0123456789ab-cdef0123.abcd1234.opt")  # its export was deleted
    orphan.write_bytes(b"x" * 10)
    for f in (old, old_graph):
        os.utime(f, (1000, 1000))
    OnnxPredictor(export)  # writes this machine's graph of the export again
    mine = optimized_path(export, ort.__version__)
    assert set(prune_cache(export, max_bytes=0)) == {orphan, old, old_graph}  # oldest first, with its graph
    assert export.exists() and mine.exists()


def test_a_weights_files_hash_is_remembered_until_the_file_changes(tmp_path, monkeypatch):
    import hashlib

    from tinct.backends import ort as ort_mod

    monkeypatch.setenv("TINCT_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"a" * 1000)
    hashed = []
    real_hash = ort_mod.hash_file
    monkeypatch.setattr(ort_mod, "hash_file", lambda p: hashed.append(p) or real_hash(p))
    first = ort_mod.weights_sha1(weights)
    assert first == hashlib.sha1(b"a" * 1000).hexdigest() and len(hashed) == 1
    assert ort_mod.weights_sha1(weights) == first and len(hashed) == 1  # remembered: not read again
    weights.write_bytes(b"b" * 1000)  # same size, new contents and modification time
    os.utime(weights, ns=(10**18, 10**18))
    assert ort_mod.weights_sha1(weights) == hashlib.sha1(b"b" * 1000).hexdigest() and len(hashed) == 2
    memo = cache_dir() / "sha1.json"
    memo.write_text("{not json")  # a broken memo: hashed again and rewritten
    assert ort_mod.weights_sha1(weights) == hashlib.sha1(b"b" * 1000).hexdigest() and len(hashed) == 3
    assert ort_mod.weights_sha1(weights) == hashlib.sha1(b"b" * 1000).hexdigest() and len(hashed) == 3
    monkeypatch.setattr(ort_mod, "SHA1_MEMO_ENTRIES", 2)  # bounded: the oldest entries go
    for name in ("x", "y"):
        (tmp_path / name).write_bytes(name.encode())
        ort_mod.weights_sha1(tmp_path / name)
    assert sorted(Path(k).name for k in json.loads(memo.read_text())) == ["x", "y"]
    monkeypatch.setenv("TINCT_CACHE", str(tmp_path / "file-not-folder"))
    (tmp_path / "file-not-folder").write_text("")  # a cache it cannot write to: still the right hash
    assert ort_mod.weights_sha1(weights) == hashlib.sha1(b"b" * 1000).hexdigest()


def test_a_cached_export_is_keyed_by_everything_it_depends_on(monkeypatch):
    """Same weights, but another tinct version or other registry arguments: another file."""
    from dataclasses import replace

    from tinct import registry, version
    from tinct.backends.ort import export_path

    base = export_path("lite")[0]
    assert export_path("lite")[0] == base
    monkeypatch.setattr(version, "__version__", "99.0")
    assert export_path("lite")[0] != base
    monkeypatch.undo()
    changed = replace(registry.MODELS["lite"], kwargs={"temperature": 0.123})
    monkeypatch.setitem(registry.MODELS, "lite", changed)
    assert export_path("lite")[0] != base


def test_threads_follow_the_environment(monkeypatch):
    monkeypatch.setenv("TINCT_THREADS", "3")
    assert cpu_threads() == 3
    monkeypatch.delenv("TINCT_THREADS")
    assert 1 <= cpu_threads() <= torch.get_num_threads()


def test_missing_onnxruntime_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TINCT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import onnxruntime -> ImportError
    with pytest.raises(OnnxUnavailableError, match=r"needs the 'onnxruntime' package: pip install 'tinct\[onnx\]'"):
        load_model("lite", device="cpu", backend="onnx")
    assert load_model("lite", device="cpu").backend == "torch"  # auto falls back
    r = CliRunner().invoke(app, ["colorize", str(DEMO / "CatWash1931.jpg"), "--backend", "onnx", "-o", str(tmp_path)])
    assert r.exit_code == 2 and "pip install 'tinct[onnx]'" in r.output
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(OnnxUnavailableError, match="ONNX export needs the 'onnx' package"):
        export_onnx("lite", tmp_path / "x.onnx")


def test_cli_export_and_backend_option(tmp_path, monkeypatch):
    monkeypatch.setenv("TINCT_CACHE", str(tmp_path / "cache"))
    r = CliRunner().invoke(app, ["export", "--model", "lite", "--format", "onnx", "-o", str(tmp_path / "m.onnx")])
    assert r.exit_code == 0, r.output
    assert read_metadata(tmp_path / "m.onnx")["tinct_model"] == "lite"
    r = CliRunner().invoke(app, ["export", "--format", "tflite", "-o", str(tmp_path / "m.tflite")])
    assert r.exit_code == 2 and "unknown export format" in r.output
    photo = tmp_path / "photo.png"  # a mistyped -o never replaces some other file with a graph
    photo.write_bytes(b"a photo")
    r = CliRunner().invoke(app, ["export", "--model", "lite", "-o", str(photo)])
    assert (
        r.exit_code == 2
        and r.output == f"error: --output {photo}: an ONNX export is written to a file ending in .onnx\n"
    )
    for opset in ("12", "21"):  # 12 failed inside torch after its warnings (exit 1); 21 wrote with a warning
        r = CliRunner().invoke(app, ["export", "-m", "lite", "-o", str(tmp_path / "o.onnx"), "--opset", opset])
        assert r.exit_code == 2 and r.output == f"error: opset must be from 13 to 20, got {opset}\n", r.output
    assert not (tmp_path / "o.onnx").exists()
    assert photo.read_bytes() == b"a photo"
    src = DEMO / "CatWash1931.jpg"
    outs = {}
    for backend in ("onnx", "torch"):
        out = tmp_path / backend
        r = CliRunner().invoke(app, ["colorize", str(src), "--backend", backend, "--format", "png", "-o", str(out)])
        assert r.exit_code == 0, r.output
        outs[backend] = np.asarray(Image.open(out / "CatWash1931_color.png")).astype(int)
    assert np.abs(outs["onnx"] - outs["torch"]).max() <= RGB_TOL
    r = CliRunner().invoke(app, ["colorize", str(src), "--backend", "nope", "-o", str(tmp_path / "x")])
    assert r.exit_code == 2 and "unknown backend" in r.output


def test_auto_backend_does_not_try_to_export_models_onnx_cannot_express(monkeypatch):
    from tinct import onnx

    def refuse(*args, **kwargs):
        raise AssertionError("cached_export must not be called for koala")

    monkeypatch.setattr(onnx, "cached_export", refuse)
    monkeypatch.setattr(onnx, "onnxruntime_available", lambda: True)
    session = load_model("koala", device="cpu")  # backend "auto"
    assert session.backend == "torch" and not session.model.onnx_exportable
    gray = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))
    assert session.colorize(gray).shape == (48, 64, 3)


def test_prism_with_attention_exports_for_any_working_size(tmp_path, monkeypatch):
    """The attention block's reshapes read no size, so one export runs at every working size (and
    chroma_restore decoding exports too) and agrees with torch."""
    from safetensors.torch import save_file

    from tinct import registry
    from tinct.models.prism import PrismNet
    from tinct.registry import ModelSpec

    torch.manual_seed(0)
    kwargs = {"width": 16, "attention": 1, "chroma_restore": 0.5}
    net = PrismNet(**kwargs).eval()
    monkeypatch.setattr(registry, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setitem(registry.MODELS, "tiny-prism", ModelSpec("tiny-prism", "prism", "test", 64, kwargs))
    save_file({k: v.half() for k, v in net.state_dict().items()}, str(tmp_path / "tiny-prism.safetensors"))
    net = load_model("tiny-prism", device="cpu", backend="torch").model
    predictor = OnnxPredictor(export_onnx("tiny-prism", tmp_path / "p.onnx"))
    for side in (64, 96, 160):  # 16, 36 and 100 tokens at 1/16
        x = torch.rand(2, 1, side, side + 16) * 2 - 1
        with torch.inference_mode():
            ref = net.predict_ab(x)
        out = predictor(x)
        assert out.shape == ref.shape == (2, 2, side // 4, (side + 16) // 4)
        assert (out - ref).abs().max().item() < 1e-2


def test_concurrent_exports_take_turns(tmp_path, monkeypatch):
    """torch.onnx.export keeps global state: two threads exporting at once used to fail one of them
    (and its session fell back to torch); now one exports and the other finds the file."""
    from concurrent.futures import ThreadPoolExecutor

    from tinct.backends.onnx import cached_export

    monkeypatch.setenv("TINCT_CACHE", str(tmp_path))
    with ThreadPoolExecutor(2) as pool:
        paths = list(pool.map(lambda t: cached_export("lite", temperature=t), [0.5, 0.5, 0.7]))
    assert paths[0] == paths[1] != paths[2] and all(p.is_file() for p in paths)


def test_a_concurrent_view_runs_stills_on_threads_at_once_with_the_same_output(exported, torch_session):
    from concurrent.futures import ThreadPoolExecutor

    session = tinct.api.Session(torch_session.spec, torch_session.model, torch_session.device, None)
    session.predictor = OnnxPredictor(exported, threads=2)
    lane = session.concurrent()
    assert lane.predictor.threads == 1 and lane.fullres_threads == 1 and lane.predictor.path == exported
    assert session.predictor.with_threads(2) is session.predictor
    grays = [np.asarray(Image.open(p).convert("L")) for p in DEMOS[:4]]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lane.colorize, grays))
    for gray, out in zip(grays, together, strict=True):
        assert np.array_equal(out, session.colorize(gray))  # same pixels, one run after another
    assert torch_session.concurrent() is None  # a torch network keeps its one lock


def test_one_image_from_the_shell_makes_one_onnxruntime_session(tmp_path, monkeypatch):
    import onnxruntime as ort

    load_model("lite", device="cpu")  # the export exists (cached) before the run
    made = []
    real = ort.InferenceSession.__init__

    def counting(self, *a, **k):
        made.append(a[0] if a else k.get("path_or_bytes"))
        real(self, *a, **k)

    monkeypatch.setattr(ort.InferenceSession, "__init__", counting)
    Image.open(DEMOS[0]).convert("L").save(tmp_path / "one.png")
    r = CliRunner().invoke(app, ["colorize", str(tmp_path / "one.png"), "-q"])
    assert r.exit_code == 0, r.output
    assert len(made) == 1, made  # no second (one-thread) session for lanes: one image has none
