"""Where tinct keeps what it can recompute: ``$TINCT_CACHE``, else ``~/.cache/tinct``.

Nothing in it is needed: deleting the folder only costs the time to rebuild what was there
(ONNX exports of the shipped models, the training data's screening verdicts).
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$TINCT_CACHE`` when set, else ``~/.cache/tinct`` (not created here)."""
    root = os.environ.get("TINCT_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "tinct"
