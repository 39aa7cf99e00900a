"""Scene labels for training images, for the joint classification term (``scene_weight``).

Iizuka et al. ("Let there be Color!") train the global branch of a colorization network to also
name the scene: labels teach the whole-image features what the colour loss alone learns slowly.
tinct takes the labels a data folder already has, with nothing to annotate:

* where a ``manifest.csv`` lies beside or above the images (the project's data folders, with
  ``path``, ``source`` and ``source_path`` columns), an image's label is its source plus the class
  its original path names: an ImageNet synset (``n01440764``) in the path, else the nearest folder
  of ``source_path`` that is not a container (``train``, ``images``, ``data``, ...);
* otherwise, the name of the image's own folder (a user's data sorted into folders).

A label held by fewer than ``min_images`` of the images falls back to its source (or, without a
manifest, to no label: ``-1``, which the loss ignores), so every class the network is asked to
name has enough examples to learn from.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from tinct.io.files import atomic_write_bytes
from tinct.train.config import TrainingError

#: folder names that hold splits or files, not a class
CONTAINERS = frozenset(
    "train training training_set test test_set testing val valid validation images image imgs data dataset "
    "datasets seg_train seg_test seg_pred train2017 val2017 test2017 imagen".split()
)
_SYNSET = re.compile(r"\bn\d{8}(?=[_/.]|$)")
IGNORE = -1  #: the label of an image with none (nn.CrossEntropyLoss's ignore_index)


def source_class(source_path: str) -> str:
    """The class an original path names: an ImageNet synset in it, else its nearest folder that is not a
    container (:data:`CONTAINERS`, case-insensitive), else ``""``."""
    synset = _SYNSET.search(source_path.replace("\\", "/"))
    if synset:
        return synset.group(0)
    for folder in reversed(Path(source_path).parts[:-1]):
        if folder.lower() not in CONTAINERS:
            return folder
    return ""


def _manifest_keys(manifest: Path) -> dict[Path, tuple[str, str]]:
    """A manifest's images (resolved) -> (source, class); empty if it lacks the columns."""
    try:
        with manifest.open(newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    if not rows or not {"path", "source"} <= set(rows[0]):
        return {}
    root = manifest.parent
    return {
        (root / r["path"]).resolve(): (r["source"], source_class(r.get("source_path") or "")) for r in rows if r["path"]
    }


def _find_manifest(folder: Path, found: dict[Path, Path | None]) -> Path | None:
    """The nearest ``manifest.csv`` in ``folder`` or above it (memoised in ``found``)."""
    if folder not in found:
        here = folder / "manifest.csv"
        if here.is_file():
            found[folder] = here
        else:
            found[folder] = None if folder.parent == folder else _find_manifest(folder.parent, found)
    return found[folder]


def scene_labels(paths: Sequence[str | Path], min_images: int = 20) -> tuple[list[int], list[str]]:
    """Each image's label index (:data:`IGNORE` where it has none) and the label names, sorted.

    Deterministic for the same images and manifests, so a resumed run names the same classes.
    """
    manifests: dict[Path, Path | None] = {}
    tables: dict[Path, dict[Path, tuple[str, str]]] = {}
    keys: list[tuple[str, str]] = []  # (fallback, fine)
    for p in paths:
        p = Path(p).resolve()
        manifest = _find_manifest(p.parent, manifests)
        entry = None
        if manifest is not None:
            if manifest not in tables:
                tables[manifest] = _manifest_keys(manifest)
            entry = tables[manifest].get(p)
        if entry is not None:
            source, cls = entry
            keys.append((source, f"{source}/{cls}" if cls else source))
        else:
            keys.append(("", p.parent.name))
    counts = Counter(fine for _, fine in keys)
    names = [fine if counts[fine] >= min_images else fallback for fallback, fine in keys]
    counts = Counter(names)
    names = [n if n and counts[n] >= min_images else "" for n in names]
    vocab = sorted({n for n in names if n})
    index = {n: i for i, n in enumerate(vocab)}
    return [index[n] if n else IGNORE for n in names], vocab


#: the scene classes of a ``scene_weight`` run, in its folder (JSON list, the head's output order)
SCENE_CLASSES = "scene_classes.json"


def record_classes(path: Path, classes: list[str], resuming: bool, write: bool = True) -> None:
    """Keep a run's scene classes at ``path`` (when ``write``: one process of a run writes); when
    resuming, first refuse (one line) classes that differ from the ones the run started with (its
    data changed: the checkpointed head would not fit). A list that cannot be read or written is
    skipped: it is for reading, and the run does not need it."""
    if resuming and path.is_file():
        try:
            before = json.loads(path.read_text())
        except (OSError, ValueError):
            before = None
        if before is not None and before != classes:
            raise TrainingError(
                f"the data's scene labels changed since this run started ({len(before)} classes then, "
                f"{len(classes)} now; {path}): restore the data, or start a new run"
            )
    if write:
        try:
            atomic_write_bytes(path, json.dumps(classes, indent=0).encode())
        except OSError:
            pass
