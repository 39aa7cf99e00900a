"""Layer 0: colour maths, filters, propagation, hints and the colorizing pipeline.

Pure functions on arrays and tensors: nothing here reads a file, loads a model or knows a surface.
See docs/ARCHITECTURE.md.
"""
