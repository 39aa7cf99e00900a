"""What this machine's CPU can do: its name, its bf16 instructions (for choosing a training
precision) and how many threads inference may use.

Read from ``/proc/cpuinfo`` on Linux (the flags ``avx512_bf16`` and ``amx_bf16``); elsewhere
from what oneDNN reports to torch. Importing this module does not import torch.
"""

from __future__ import annotations

import functools
import math
import os
import platform
import sys
from pathlib import Path

#: CPU flags that make bf16 matrix work fast: AVX-512 BF16 (Intel Cooper Lake+, AMD Zen 4+) and AMX
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.cache
def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ({} where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def cpu_name() -> str:
    """The CPU's model name (e.g. ``AMD EPYC``, ``Intel(R) Xeon(R) Platinum 8481C``)."""
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()


def cpu_signature() -> str:
    """The CPU's model name, architecture and instruction-set flags as one string: what code tuned to
    this CPU depends on (without /proc/cpuinfo, the name and the architecture alone)."""
    return " ".join([cpu_name(), platform.machine(), _cpuinfo().get("flags", "")])


def cpu_bf16_support() -> dict[str, bool]:
    """Each of :data:`BF16_FLAGS` -> whether this CPU has it.

    Without /proc/cpuinfo (macOS, Windows) both read as what torch's oneDNN says of bf16 as a whole.
    """
    info = _cpuinfo()
    if "flags" in info:
        flags = set(info["flags"].split())
        return {f: f in flags for f in BF16_FLAGS}
    try:
        import torch

        fast = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (ImportError, AttributeError, RuntimeError):
        fast = False
    return {f: fast for f in BF16_FLAGS}


def cpu_has_fast_bf16() -> bool:
    """True when the CPU computes bf16 natively (AVX-512 BF16 or AMX), where bf16 autocast pays off."""
    return any(cpu_bf16_support().values())


def _smt_ways() -> int:
    """Hardware threads per physical core (1 where /proc/cpuinfo does not say)."""
    info = _cpuinfo()
    try:
        return max(1, int(info["siblings"]) // int(info["cpu cores"]))
    except (KeyError, ValueError, ZeroDivisionError):
        return 1


def cpu_threads() -> int:
    """Threads for CPU inference (torch and onnxruntime alike): the one place tinct decides it.

    ``TINCT_THREADS`` when set; otherwise the cores this process may run on (its CPU affinity and
    any cgroup CPU quota, as containers set them), capped by torch's own setting, which honours
    ``OMP_NUM_THREADS`` and any ``torch.set_num_threads`` made by the caller. Without torch loaded
    (the torch-free ONNX path) the cap is what torch would choose: ``OMP_NUM_THREADS``, else one
    thread per physical core; torch is not imported for it.
    """
    env = os.environ.get("TINCT_THREADS")
    if env:
        return max(1, int(env))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:  # cgroup v2: "max 100000" or "200000 100000"
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    if "torch" in sys.modules:
        cap = sys.modules["torch"].get_num_threads()
    elif os.environ.get("OMP_NUM_THREADS", "").isdigit():
        cap = int(os.environ["OMP_NUM_THREADS"])
    else:
        cap = max(1, (os.cpu_count() or 1) // _smt_ways())
    return max(1, min(cores, cap))
