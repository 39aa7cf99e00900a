"""Golden outputs of the shipped models on fixed inputs.

Regenerate after retraining a model: ``python tests/test_golden.py NAME...`` (no name: every model;
regenerating a model that did not change only records this CPU's one-code kernel noise).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tinct.registry import MODELS as REGISTRY

GOLDEN = Path(__file__).parent / "golden"
INPUT = GOLDEN / "input_1909Chicago_crop.png"  # a 160 x 200 gray crop of a demo photo
MODELS = list(REGISTRY)  # every shipped model


def _golden(name: str) -> Path:
    return GOLDEN / f"{name}_1909Chicago_crop.png"


@pytest.mark.parametrize("name", MODELS)
def test_shipped_model_matches_golden_output(name):
    import tinct

    gray = np.asarray(Image.open(INPUT))
    out = tinct.load_model(name, device="cpu").colorize(gray)
    ref = np.asarray(Image.open(_golden(name)))
    diff = np.abs(out.astype(int) - ref)
    # CPU kernels differ slightly between machines: allow a couple of codes at a few pixels
    assert diff.max() <= 3 and diff.mean() < 0.05, (diff.max(), diff.mean())
    assert np.abs(ref.astype(int)[..., 0] - ref[..., 2]).mean() > 2  # the golden image is coloured


def test_regenerate_refuses_a_name_not_in_the_registry(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "GOLDEN", tmp_path)  # nothing may be written
    with pytest.raises(SystemExit, match="not in the registry: nosuch"):
        regenerate(["prism", "nosuch"])
    assert not any(tmp_path.iterdir())


def regenerate(names: list[str] | None = None) -> None:
    """Rewrite the golden outputs of `names` (registry names; None: every shipped model)."""
    import tinct

    unknown = sorted(set(names or ()) - set(MODELS))
    if unknown:
        raise SystemExit(f"not in the registry: {', '.join(unknown)} (known: {', '.join(MODELS)})")

    if not INPUT.exists():
        demo = Path(__file__).resolve().parents[1] / "tinct" / "demo" / "1909Chicago.jpg"
        Image.open(demo).convert("L").crop((200, 150, 400, 310)).save(INPUT)
    gray = np.asarray(Image.open(INPUT))
    for name in names or MODELS:
        Image.fromarray(tinct.load_model(name, device="cpu").colorize(gray)).save(_golden(name))
        print(f"wrote {_golden(name)}")


if __name__ == "__main__":
    sys.exit(regenerate(sys.argv[1:] or None))
