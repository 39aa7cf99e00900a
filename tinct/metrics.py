"""Deprecated path, kept as an alias: the quality metrics live in :mod:`tinct.core.metrics`.

``import tinct.metrics`` gives that very module, so old imports and attribute patches keep working.
"""

import sys

from tinct.core import metrics as module

sys.modules[__name__] = module
