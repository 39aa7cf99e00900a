"""Layer 5: the session, the one way in to a network. :class:`Session` (a loaded model), the
:class:`Guidance` a request may carry, and the :class:`ColorizedImage` it gives back. Sessions are
made by :func:`tinct.api.load_model`.
"""

from tinct.session.guidance import METHODS, Guidance
from tinct.session.result import ColorizedImage
from tinct.session.session import Session

__all__ = ["METHODS", "ColorizedImage", "Guidance", "Session"]
