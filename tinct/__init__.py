"""tinct: colorize grayscale images (photos, film, medical and scientific images).

``import tinct`` is cheap: torch is imported only when a model is used.

    >>> import tinct
    >>> tinct.colorize("photo.jpg")                 # writes photo_color.jpg, returns its path
    >>> session = tinct.load_model("prism")         # a reusable session

The package is layered (docs/ARCHITECTURE.md): core (maths, the pipeline) < classical < io < models
and the registry < backends < session and api < apps (batch, cluster, video, medical, evaluate,
train) < surfaces (cli, server).
"""

from __future__ import annotations

from tinct import compat
from tinct.version import __version__

compat.install()  # the old module paths (tinct.color, tinct.pipeline, ...) stay importable

__all__ = ["Session", "UnknownModelError", "__version__", "colorize", "list_models", "load_model"]
_LAZY = ("Session", "UnknownModelError", "colorize", "list_models", "load_model")  # from tinct.api, on first use


def __getattr__(name: str):
    if name in _LAZY:
        from tinct import api

        return getattr(api, name)
    raise AttributeError(f"module 'tinct' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names (``dir(tinct)``), lazy ones included."""
    return sorted({*globals(), *__all__})
