"""Training data: colour images -> (normalised L, ab) crops, each drawn from its own seed.

Images are decoded lazily (small JPEGs decode in about a millisecond), so a folder of any
size streams. Unreadable files are skipped and counted, never fatal.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from tinct.core.color import normalize_l, rgb_to_lab
from tinct.core.gray import is_near_gray
from tinct.io.cache import cache_root
from tinct.io.files import atomic_write_bytes
from tinct.io.images import IMAGE_EXTENSIONS
from tinct.train.config import TrainingError


def list_images(root: str | Path, recursive: bool = True) -> list[Path]:
    """Image files below ``root`` (sorted, so runs are reproducible).

    ``root`` may also be a list file (``.txt``: one image path a line, relative to the list's own
    folder unless absolute; blank lines and ``#`` comments skipped), e.g. a split of a folder that
    holds some images out (``scripts/make_dev_split.py``), or a single image.
    """
    root = Path(root)
    if root.is_file() and root.suffix.lower() == ".txt":
        lines = (line.strip() for line in root.read_text().splitlines())
        return sorted(root.parent / line for line in lines if line and not line.startswith("#"))
    if root.is_file():
        return [root]
    it = root.rglob("*") if recursive else root.glob("*")
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


@dataclass
class Screened:
    """The images of a data folder sorted by use: ``usable`` (colour), ``unreadable`` and ``gray`` (near-gray)."""

    usable: list[Path] = field(default_factory=list)
    unreadable: list[Path] = field(default_factory=list)
    gray: list[Path] = field(default_factory=list)

    @property
    def found(self) -> int:
        """How many image files there were."""
        return len(self.usable) + len(self.unreadable) + len(self.gray)

    def describe(self) -> str:
        """``found N images: U usable, X unreadable, G near-gray (skipped)``."""
        return (
            f"found {self.found} images: {len(self.usable)} usable, {len(self.unreadable)} unreadable, "
            f"{len(self.gray)} near-gray (no colour to learn; skipped)"
        )


def screen_images(root: str | Path, what: str = "--data", cache: Path | None = None) -> Screened:
    """Open every image of ``root`` (:func:`list_images`) once and sort it: readable colour images are
    usable; unreadable and near-gray ones (:func:`tinct.core.gray.is_near_gray`, the data README's test)
    are set aside. Raises :class:`TrainingError` (one line naming ``root`` and ``what`` gave it) when
    ``root`` does not exist, holds no image file, or holds no usable one.

    ``cache`` (a JSON file, e.g. :func:`screening_cache`): verdicts kept from earlier screenings, each
    valid while its file keeps the same size and modification time; a file that changed is opened
    again. The cache is rewritten atomically when it learnt something; one that cannot be read or
    written is ignored (screening never fails because of it).
    """
    if not Path(root).exists():
        raise TrainingError(f"{what} {root} does not exist; give a folder of your own colour images (or a .txt list)")
    paths = list_images(root)
    if not paths:
        raise TrainingError(f"{what} {root}: no images found (jpg, png, ...)")
    known = _read_verdicts(cache)
    learnt = 0
    screened = Screened()
    for path in paths:
        key, stamp = str(Path(path).resolve()), _stamp(path)
        verdict = known.get(key)
        if stamp is None or verdict is None or verdict[:2] != stamp:
            verdict = [*(stamp or [0, 0]), _verdict(path)]
            known[key] = verdict
            learnt += 1
        {"usable": screened.usable, "gray": screened.gray}.get(verdict[2], screened.unreadable).append(path)
    if cache is not None and learnt:
        _write_verdicts(cache, known)
    if not screened.usable:
        raise TrainingError(f"{what} {root}: no usable colour images ({screened.describe()})")
    return screened


def screening_cache() -> Path:
    """The screening verdicts kept between runs: ``<cache root>/screened-v1.json``
    (:func:`tinct.io.cache.cache_root`; v1: the near-gray test of :mod:`tinct.core.gray`)."""
    return cache_root() / "screened-v1.json"


def _verdict(path: Path) -> str:
    try:
        with Image.open(path) as im:
            return "gray" if is_near_gray(im) else "usable"
    except Exception:  # any decoder failure: the file is set aside, never fatal
        return "unreadable"


def _stamp(path: Path) -> list[int] | None:
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _read_verdicts(cache: Path | None) -> dict[str, list]:
    if cache is None:
        return {}
    try:
        data = json.loads(cache.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_verdicts(cache: Path, verdicts: dict[str, list]) -> None:
    try:
        atomic_write_bytes(cache, json.dumps(verdicts, separators=(",", ":")).encode())
    except OSError:
        pass  # a read-only cache: screen again next time


class CropDataset(Dataset):
    """Random crops (training) or centre crops (validation) of colour images, as uint8 RGB.

    Training crops take a random square of side ``s`` in [max(crop, min_view * short side),
    short side] (scale augmentation; ``min_view`` near 1 shows the network nearly the whole
    image, as it sees it at a working size equal to ``crop``), resize it bicubically to ``crop``
    and flip it horizontally at random.
    Returns a (3, crop, crop) uint8 tensor; an unreadable image returns ``None`` and is counted
    in ``self.failed`` (the collate function drops it).

    ``screened``: the folder already sorted by :func:`screen_images` (its usable images are used);
    without it every image file of ``root`` is used as it is found.
    """

    def __init__(
        self,
        root: str | Path,
        crop: int = 96,
        train: bool = True,
        scale_aug: bool = True,
        min_view: float = 0.0,
        screened: Screened | None = None,
    ):
        self.paths = list(screened.usable) if screened is not None else list_images(root)
        if not self.paths:
            raise FileNotFoundError(f"no images found in {root}")
        self.crop = crop
        self.train = train
        self.scale_aug = scale_aug
        self.min_view = min_view
        self.failed: set[str] = set()

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        path = self.paths[i]
        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
                im.load()
        except Exception:
            self.failed.add(str(path))
            return None
        w, h = im.size
        c = self.crop
        short = min(w, h)
        if short < c:  # upscale small images so a crop fits
            s = c / short
            im = im.resize((max(c, round(w * s)), max(c, round(h * s))), Image.BICUBIC)
            w, h = im.size
            short = min(w, h)
        if self.train:
            side = random.randint(min(short, max(c, round(self.min_view * short))), short) if self.scale_aug else c
            x0 = random.randint(0, w - side)
            y0 = random.randint(0, h - side)
        else:
            side = short if self.scale_aug else c
            x0, y0 = (w - side) // 2, (h - side) // 2
        im = im.crop((x0, y0, x0 + side, y0 + side))
        if side != c:
            im = im.resize((c, c), Image.BICUBIC)
        if self.train and random.random() < 0.5:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)


def collate_skip_none(batch):
    """Stack a batch, dropping samples that failed to load."""
    batch = [b for b in batch if b is not None]
    if not batch:
        return None
    return torch.stack(batch)


def collate_indexed(batch):
    """Stack a batch of ``(index, crop or None)`` items, dropping failed crops: ``(crops, indices)``,
    or None where every crop failed."""
    kept = [(i, b) for i, b in batch if b is not None]
    if not kept:
        return None
    indices, crops = zip(*kept, strict=True)
    return collate_skip_none(list(crops)), torch.tensor(indices, dtype=torch.long)


class SeededCrops(torch.utils.data.Dataset):
    """Wraps CropDataset so that each item is drawn with its own RNG seed: ``(index, crop or None)``."""

    def __init__(self, base: CropDataset):
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, key):
        idx, seed = key
        state = random.getstate()
        random.seed(seed)
        try:
            return idx, self.base[idx]
        finally:
            random.setstate(state)


def step_generator(seed: int, step: int, rank: int = 0, *stream: int) -> torch.Generator:
    """A CPU generator that is a function of its arguments only: the random draws of one training step (on
    one rank) that are not the data order (hints, input degradations), so a resumed run draws what the
    uninterrupted one would have. ``stream`` keeps the draws of different purposes apart."""
    state = np.random.SeedSequence([seed, step, rank, *stream]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))


def lab_batch(rgb_u8: torch.Tensor, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 RGB (B, 3, H, W) -> (normalised L (B, 1, H, W), ab in Lab units (B, 2, H, W))."""
    lab = rgb_to_lab(rgb_u8.to(device).float() / 255.0)
    return normalize_l(lab[:, :1]), lab[:, 1:]
