"""The benchmark scripts run: each once, at the smallest settings, through its real code path.

The figures themselves are not checked (they are timings on a shared machine); what is checked
is that a script still runs against the current library and prints the lines its docs quote, so
that a refactor cannot leave a benchmark broken until someone needs its numbers.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tinct.registry import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    "throughput": (
        ["--threads", "1", "--images", "3", "--seconds", "0.1", "--rounds", "1", "--no-12mp"],
        ["onnxruntime / torch, model only at 256 px:", f"model {DEFAULT_MODEL};"],
        ["onnxruntime"],
    ),
    "colorize": (
        ["--sizes", "1", "--repeat", "1", "--folder-images", "3", "--noisy", "0.5"],
        [f"model {DEFAULT_MODEL}, backend onnx", "1MP", "(pure noise)", "of the bound"],
        ["onnxruntime"],
    ),
    "video": (
        ["--threads", "1", "--frames", "2", "--long-frames", "4"],
        [f"model {DEFAULT_MODEL} on the CPU, backend", "480p 854x480, 2 frames", "RSS at frame"],
        ["av"],
    ),
    "train_speed": (
        ["--archs", "prism", "--size", "32", "--batch", "2", "--steps", "1", "--threads", "1", "--no-inference"],
        ["--precision auto on this CPU:", "| fp32 channels-last / NCHW |", "| prism (width 48, attention 1) |"],
        [],
    ),
    "serve_load": (
        ["--requests", "1", "--requests-2mp", "1", "--clients", "1", "--max-seconds", "30"],
        [f"model {DEFAULT_MODEL}, device cpu", "503 answers:", "timeouts/other errors: 0"],
        ["fastapi", "uvicorn", "httpx"],
    ),
}


@pytest.mark.parametrize("script", sorted(CASES))
def test_benchmark_runs_and_prints_its_figures(script, tmp_path):
    args, expected, needs = CASES[script]
    for module in needs:
        pytest.importorskip(module)
    r = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / f"{script}.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    for line in expected:
        assert line in r.stdout, (line, r.stdout[-2000:])
