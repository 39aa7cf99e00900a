"""Layer 1: colour without a model, each method a full-resolution L -> ab function.

* :mod:`tinct.classical.scribbles` -- colour strokes propagated over the image (Levin et al. 2004).
* :mod:`tinct.classical.transfer` -- colours of a reference image (Reinhard et al. 2001, Welsh et al. 2002).
* :mod:`tinct.classical.lut` -- luminance keying with a look-up table (pseudo-colour).

The caller joins the ab with the image's own L (:func:`tinct.core.pipeline.join_ab`), so the output
keeps the input's lightness by construction.
"""
