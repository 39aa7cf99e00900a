"""Deprecated path, kept as an alias: the training data live in :mod:`tinct.train.data`.

``import tinct.data`` gives that very module, so old imports and attribute patches keep working.
"""

import sys

from tinct.train import data as module

sys.modules[__name__] = module
