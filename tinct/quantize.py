"""Deprecated path, kept as an alias: the ab quantiser live in :mod:`tinct.models.quantize`.

``import tinct.quantize`` gives that very module, so old imports and attribute patches keep working.
"""

import sys

from tinct.models import quantize as module

sys.modules[__name__] = module
