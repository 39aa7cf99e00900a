"""Deprecated module paths, kept importable: the layout before issue 18 (27 flat modules).

``import tinct.color`` (or any name of :data:`MOVED`) still works: the import is answered by the
module that now holds the code. Where one old module moved whole, that module *is* the old path
(``tinct.color is tinct.core.color``), so attribute patches on the old path reach the code; where
one old module was split, a module here re-exports its old names (``pipeline``, ``guided``,
``video``, ``medical``). New code imports the new paths; nothing inside tinct imports these.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from types import ModuleType

#: old module path -> where its code lives now
MOVED = {
    "tinct.batch": "tinct.apps.batch",
    "tinct.checkpoint": "tinct.train.checkpoint",
    "tinct.cluster": "tinct.apps.cluster",
    "tinct.color": "tinct.core.color",
    "tinct.data": "tinct.train.data",
    "tinct.guided": "tinct.compat.guided",
    "tinct.hardware": "tinct.backends.hardware",
    "tinct.hints": "tinct.core.hints",
    "tinct.losses": "tinct.train.losses",
    "tinct.medical": "tinct.compat.medical",
    "tinct.metrics": "tinct.core.metrics",
    "tinct.onnx": "tinct.backends.onnx",
    "tinct.pipeline": "tinct.compat.pipeline",
    "tinct.quantize": "tinct.models.quantize",
    "tinct.uncertainty": "tinct.io.uncertainty",
    "tinct.video": "tinct.compat.video",
}


class MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an import of an old path (:data:`MOVED`) with the module that holds the code now."""

    def find_spec(self, fullname: str, path=None, target=None) -> importlib.machinery.ModuleSpec | None:
        return importlib.machinery.ModuleSpec(fullname, self) if fullname in MOVED else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(MOVED[spec.name])
        spec.loader_state = module.__spec__  # the import machinery sets the alias's spec on the module next
        return module

    def exec_module(self, module: ModuleType) -> None:
        alias = module.__spec__
        if alias is not None and alias.loader_state is not None:
            module.__spec__ = alias.loader_state  # the module keeps its own spec


def install() -> None:
    """Put the finder on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, MovedModules) for f in sys.meta_path):
        sys.meta_path.insert(0, MovedModules())
