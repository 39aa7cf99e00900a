"""Deprecated path, kept as an alias: CPU feature detection live in :mod:`tinct.backends.hardware`.

``import tinct.hardware`` gives that very module, so old imports and attribute patches keep working.
"""

import sys

from tinct.backends import hardware as module

sys.modules[__name__] = module
