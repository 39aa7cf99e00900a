"""Deprecated path, kept as an alias: batch colorization of files and folders live in :mod:`tinct.apps.batch`.

``import tinct.batch`` gives that very module, so old imports and attribute patches keep working.
"""

import sys

from tinct.apps import batch as module

sys.modules[__name__] = module
