"""The joint scene-classification term (scene_weight): labels from a data folder's manifest or
folders (tinct.train.labels), and the training step that adds it (tinct.train.steps.SceneStep)."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from tinct.train import TrainConfig, TrainingError, train
from tinct.train.labels import IGNORE, scene_labels, source_class


@pytest.mark.parametrize(
    "source_path,expected",
    [
        ("train/n03888257/n03888257_24295.JPEG", "n03888257"),  # imagenette: the synset folder
        ("imagen/n02374451_11795_horse.jpg", "n02374451"),  # a synset in the file name
        ("n07717556_butternut_squash.JPEG", "n07717556"),
        ("datasets/seg_train/buildings/9018.jpg", "buildings"),  # split folders skipped
        ("dataset/breed_dataset/dog_breeds/train/0df4.jpg", "dog_breeds"),
        ("data/training/train/Tom Kha Gai/0043.jpg", "Tom Kha Gai"),
        ("images/train2017/000000000025.jpg", ""),  # containers only: no class
        ("data/50_0_0_2017.jpg.chip.jpg", ""),
        ("noun7717556x/a.jpg", "noun7717556x"),  # not a synset
    ],
)
def test_source_class_names_the_class_an_original_path_holds(source_path, expected):
    assert source_class(source_path) == expected


def _image_tree(root, smoke_dir, layout: dict[str, int]) -> list:
    """Copies of the smoke images into root/<folder>/ (``layout``: folder -> count)."""
    smoke = sorted(smoke_dir.glob("*.jpg"))
    paths = []
    k = 0
    for folder, n in layout.items():
        (root / folder).mkdir(parents=True)
        for _ in range(n):
            dst = root / folder / f"{k:03d}.jpg"
            shutil.copy(smoke[k % len(smoke)], dst)
            paths.append(dst)
            k += 1
    return paths


def test_labels_come_from_the_manifest_with_rare_classes_folded_into_their_source(tmp_path, smoke_dir):
    paths = _image_tree(tmp_path / "data", smoke_dir, {"intel": 6, "flowers": 3, "misc": 2})
    rows = [
        *[("intel", f"datasets/seg_train/{(['street'] * 3 + ['sea'] * 2 + ['glacier'])[i]}/{i}.jpg") for i in range(6)],
        *[("flowers", f"flowers/tulip/{i}.jpg") for i in range(3)],
        *[("misc", "x.jpg"), ("misc", "y.jpg")],
    ]
    with (tmp_path / "data" / "manifest.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "source", "source_path"])
        for p, (source, source_path) in zip(paths, rows, strict=True):
            w.writerow([p.relative_to(tmp_path / "data").as_posix(), source, source_path])
    labels, classes = scene_labels(paths, min_images=3)
    # intel/sea (2 images) and intel/glacier (1) fall back to intel (3); misc (2, no class) has no label
    assert classes == ["flowers/tulip", "intel", "intel/street"]
    assert labels == [2, 2, 2, 1, 1, 1, 0, 0, 0, IGNORE, IGNORE]
    assert scene_labels(list(reversed(paths)), min_images=3) == (list(reversed(labels)), classes)


def test_without_a_manifest_an_images_folder_is_its_label(tmp_path, smoke_dir):
    paths = _image_tree(tmp_path / "mine", smoke_dir, {"beach": 3, "forest": 3, "odd": 1})
    labels, classes = scene_labels(paths, min_images=2)
    assert classes == ["beach", "forest"]
    assert labels == [0, 0, 0, 1, 1, 1, IGNORE]


def _scene_config(data, out, **kw) -> TrainConfig:
    base = dict(
        model="prism", data=str(data), steps=8, batch=4, size=64, warmup=2, out=str(out), log_every=1,
        prior_images=16, checkpoint_every_s=0.0, model_kwargs={"width": 8, "attention": 0},
        scene_weight=0.5, scene_min_images=2, lr=3e-3, precision="fp32",
    )  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def test_scene_term_trains_beside_the_objective_and_is_never_exported(tmp_path, smoke_dir):
    """loss = objective + scene_weight x the scene cross-entropy, which starts near log(classes) and
    falls; the head and its optimiser state are checkpointed; the released weights are the colour
    network's alone (the same tensor names as a run without the term)."""
    data = tmp_path / "data"
    _image_tree(data, smoke_dir, {"beach": 6, "forest": 6})
    out = tmp_path / "scene"
    train(_scene_config(data, out, steps=30), progress=False)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    for row in log:
        assert row["loss"] == pytest.approx(row["loss_objective"] + 0.5 * row["loss_scene"], rel=1e-3)
    assert log[0]["loss_scene"] == pytest.approx(torch.log(torch.tensor(2.0)).item(), abs=0.35)
    first, last = (sum(r["loss_scene"] for r in rows) / 5 for rows in (log[:5], log[-5:]))
    assert last < 0.5 * first  # it learns to tell the two folders apart (fp32: 0.75 -> 0.21)
    with safe_open(str(out / "checkpoint.safetensors"), framework="pt") as f:
        keys = list(f.keys())
    assert "scene.weight" in keys and "scene.bias" in keys
    plain = tmp_path / "plain"
    train(_scene_config(data, plain, steps=2, scene_weight=0.0), progress=False)
    assert set(load_file(str(out / "model.safetensors"))) == set(load_file(str(plain / "model.safetensors")))


def test_scene_term_refuses_what_it_cannot_train(tmp_path, smoke_dir):
    data = tmp_path / "data"
    _image_tree(data, smoke_dir, {"beach": 2, "forest": 2})
    with pytest.raises(TrainingError, match="scene_weight needs a model with whole-image features; lite has none"):
        train(_scene_config(data, tmp_path / "lite", model="lite", size=32, model_kwargs={"width": 8}), progress=False)
    with pytest.raises(TrainingError, match="scene_weight: no scene labels in"):
        train(_scene_config(data, tmp_path / "rare", scene_min_images=5), progress=False)
    with pytest.raises(TrainingError, match="scene_weight must be 0 or more"):
        _scene_config(data, tmp_path / "neg", scene_weight=-1).check()
    with pytest.raises(TrainingError, match="cannot be combined"):
        _scene_config(data, tmp_path / "both", adversarial_weight=0.5).check()


def test_a_run_records_its_classes_and_refuses_to_resume_on_other_labels(tmp_path, smoke_dir):
    data = tmp_path / "data"
    _image_tree(data, smoke_dir, {"beach": 3, "forest": 3})
    out = tmp_path / "run"
    train(_scene_config(data, out, steps=2), progress=False)
    assert json.loads((out / "scene_classes.json").read_text()) == ["beach", "forest"]
    (data / "forest").rename(data / "woods")  # the data changed under the run: the head would not fit
    with pytest.raises(TrainingError, match=r"scene labels changed since this run started \(2 classes then, 2 now"):
        train(_scene_config(data, out, steps=4), resume=True, progress=False)
    (data / "woods").rename(data / "forest")
    train(_scene_config(data, out, steps=4), resume=True, progress=False)  # the same data: it goes on
    assert json.loads((out / "log.jsonl").read_text().splitlines()[-1])["step"] == 4
