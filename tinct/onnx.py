"""Deprecated path, kept as an alias: the ONNX export and backend live in :mod:`tinct.backends.onnx`.

``import tinct.onnx`` gives that very module, so old imports and attribute patches keep working.
"""

import sys

from tinct.backends import onnx as module

sys.modules[__name__] = module
