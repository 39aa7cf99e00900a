"""Deprecated path, kept as an alias: colorizing datasets on Ray live in :mod:`tinct.apps.cluster`.

``import tinct.cluster`` gives that very module, so old imports and attribute patches keep working.
"""

import sys

from tinct.apps import cluster as module

sys.modules[__name__] = module
