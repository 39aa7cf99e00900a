"""scripts/choose_decoding.py: the chain's decoding rule and the equal-colour comparison, and a real run."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from .conftest import REPO as ROOT
from .conftest import load_script

SCRIPT = ROOT / "scripts" / "choose_decoding.py"


# stage 12 on dev-val at T 0.6 (configs/prism/STAGES.md)
STAGE12 = [
    {"beta": 0.0, "gain": 0.64, "ratio": 0.69},
    {"beta": 0.125, "gain": 0.79, "ratio": 0.65},
    {"beta": 0.25, "gain": 0.92, "ratio": 0.61},
    {"beta": 0.375, "gain": 1.03, "ratio": 0.574},
    {"beta": 0.5, "gain": 1.12, "ratio": 0.54},
]


def test_rule_picks_the_most_accurate_setting_colourful_enough_else_the_most_colourful():
    cd = load_script("scripts/choose_decoding.py")
    assert cd.rule_pick(STAGE12, 0.58)["beta"] == 0.25  # 0.574 is just under the floor
    assert cd.rule_pick(STAGE12, 0.5)["beta"] == 0.5
    assert cd.rule_pick(STAGE12, 0.8)["beta"] == 0.0  # none reaches 0.8: the most colourful
    with pytest.raises(ValueError):
        cd.rule_pick([], 0.58)


def test_gain_at_equal_colourfulness_interpolates_between_the_bracketing_settings():
    cd = load_script("scripts/choose_decoding.py")
    # between beta 0.25 (0.61, +0.92) and 0.375 (0.574, +1.03)
    expected = 0.92 + (0.61 - 0.58) / (0.61 - 0.574) * (1.03 - 0.92)
    assert cd.gain_at_ratio(STAGE12, 0.58) == pytest.approx(expected)
    assert cd.gain_at_ratio(list(reversed(STAGE12)), 0.58) == pytest.approx(expected)  # order-free
    assert cd.gain_at_ratio(STAGE12, 0.65) == pytest.approx(0.79)  # on a setting exactly
    assert cd.gain_at_ratio(STAGE12, 0.75) is None  # no extrapolation
    assert cd.gain_at_ratio(STAGE12, 0.5) is None


def test_choose_decoding_runs_the_real_pipeline_and_prints_the_rule(tmp_path):
    rng = np.random.default_rng(0)
    for source in ("flowers", "streets"):
        (tmp_path / "dev" / source).mkdir(parents=True)
        for i in range(2):
            rgb = (rng.random((40, 56, 3)) * 255).astype(np.uint8)
            Image.fromarray(rgb).save(tmp_path / "dev" / source / f"{i}.png")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,source\na.png,flowers\nb.png,flowers\nc.png,flowers\nd.png,bsds500\n")
    r = subprocess.run(
        [sys.executable, str(SCRIPT), "lite", "--data", str(tmp_path / "dev"), "--temperatures", "0.38,0.6"]
        + ["--like-manifest", str(manifest), "--min-colourfulness", "0.1"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    # only the manifest's sources are kept: the two flowers images, weighted as the manifest weights them
    assert "2 images from" in r.stdout and "sources weighted {'flowers': 3}" in r.stdout
    rows = [line for line in r.stdout.splitlines() if line.startswith("| 0.")]
    assert len(rows) == 2
    parsed = [{"T": float(c[1]), "gain": float(c[5]), "ratio": float(c[6])} for c in (row.split("|") for row in rows)]
    pick = load_script("scripts/choose_decoding.py").rule_pick(parsed, 0.1)
    assert f"rule (highest gain with colourfulness >= 0.1): T {pick['T']:g}, size 128" in r.stdout
    assert f"{pick['gain']:+.3f} dB / {pick['ratio']:.3f}" in r.stdout
    assert ("none reaches the floor" in r.stdout) == (pick["ratio"] < 0.1)
