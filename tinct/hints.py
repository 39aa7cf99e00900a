"""Deprecated path, kept as an alias: colour hints live in :mod:`tinct.core.hints`.

``import tinct.hints`` gives that very module, so old imports and attribute patches keep working.
"""

import sys

from tinct.core import hints as module

sys.modules[__name__] = module
