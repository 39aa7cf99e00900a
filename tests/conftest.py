"""Shared test fixtures: data locations and small images made by the tests themselves."""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

# CI has 2 free cores; a developer with a training run in the background sets TINCT_TEST_THREADS=1.
torch.set_num_threads(int(os.environ.get("TINCT_TEST_THREADS", min(2, torch.get_num_threads()))))
# automatic ONNX exports (load_model's backend "auto") go to a fresh folder, not the user's cache
if "TINCT_CACHE" not in os.environ:
    os.environ["TINCT_CACHE"] = tempfile.mkdtemp(prefix="tinct-test-cache-")
    atexit.register(shutil.rmtree, os.environ["TINCT_CACHE"], ignore_errors=True)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SMOKE = SHARED / "smoke"
DEMO = REPO / "tinct" / "demo"


def load_script(relative: str):
    """The repository script at ``relative`` (e.g. ``scripts/models_table.py``), imported as a module
    (scripts are not a package), so that tests call its functions directly."""
    path = REPO / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def smoke_dir() -> Path:
    if not SMOKE.is_dir():
        pytest.skip(f"shared smoke data not found at {SMOKE}")
    return SMOKE


@pytest.fixture(scope="session")
def smoke_images(smoke_dir) -> list[Path]:
    return sorted(smoke_dir.glob("*.jpg"))


@pytest.fixture(scope="session")
def session():
    """The default shipped model on the CPU."""
    import tinct
    from tinct.registry import DEFAULT_MODEL

    return tinct.load_model(DEFAULT_MODEL, device="cpu")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def gradient_rgb(h: int = 48, w: int = 64) -> np.ndarray:
    """A deterministic colourful test image (uint8 RGB)."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 255 // max(1, w - 1)), (y * 255 // max(1, h - 1)), ((x + y) * 127 // (h + w))], -1).astype(
        np.uint8
    )
