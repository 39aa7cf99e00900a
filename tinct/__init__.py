"""tinct: colorize grayscale images (photos, film, medical and scientific images).

``import tinct`` is cheap: torch is imported only when a model is used.

    >>> import tinct
    >>> tinct.colorize("photo.jpg")                 # writes photo_color.jpg, returns its path
    >>> session = tinct.load_model("lite")          # a reusable session
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "colorize", "load_model"]


def __getattr__(name: str):
    if name in ("colorize", "load_model", "Session"):
        from tinct import api

        return getattr(api, name)
    raise AttributeError(f"module 'tinct' has no attribute {name!r}")
