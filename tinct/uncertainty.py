"""Deprecated path, kept as an alias: uncertainty map files live in :mod:`tinct.io.uncertainty`.

``import tinct.uncertainty`` gives that very module, so old imports and attribute patches keep working.
"""

import sys

from tinct.io import uncertainty as module

sys.modules[__name__] = module
