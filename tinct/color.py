"""Deprecated path, kept as an alias: the colour maths live in :mod:`tinct.core.color`.

``import tinct.color`` gives that very module, so old imports and attribute patches keep working.
"""

import sys

from tinct.core import color as module

sys.modules[__name__] = module
