"""Deprecated path, kept as an alias: training checkpoints live in :mod:`tinct.train.checkpoint`.

``import tinct.checkpoint`` gives that very module, so old imports and attribute patches keep working.
"""

import sys

from tinct.train import checkpoint as module

sys.modules[__name__] = module
