"""Layer 4: how a network runs. :mod:`tinct.backends.torch` loads a registry model's weights and runs it
with torch (fp16 on CUDA, optional bf16 autocast); :mod:`tinct.backends.onnx` exports it and runs it
with onnxruntime on the CPU; :mod:`tinct.backends.hardware` says what the CPU can do.

A backend is an ``AbPredictor`` (:mod:`tinct.core.pipeline`): normalised L in, ab out. The session
(:class:`tinct.session.Session`) picks one and is its only caller.
"""
