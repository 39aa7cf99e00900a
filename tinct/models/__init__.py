"""Layer 3: the networks, one file per architecture, behind the registry (:mod:`tinct.registry`).

Every network is a :class:`tinct.models.base.Colorizer`: normalised L in, ab out of ``predict_ab``.
Add one by writing its file here and naming it in :data:`tinct.registry.ARCHITECTURES`.
"""
