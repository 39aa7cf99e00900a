"""Deprecated path, kept as an alias: the training losses live in :mod:`tinct.train.losses`.

``import tinct.losses`` gives that very module, so old imports and attribute patches keep working.
"""

import sys

from tinct.train import losses as module

sys.modules[__name__] = module
