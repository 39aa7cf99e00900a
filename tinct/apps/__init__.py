"""Layer 6: applications built on the session. :mod:`~tinct.apps.batch` (files and folders, what
``tinct colorize`` runs), :mod:`~tinct.apps.cluster` (Ray), :mod:`~tinct.apps.video` (a film, stable in
time) and :mod:`~tinct.apps.medical` (DICOM, NIfTI, FITS). Evaluation (:mod:`tinct.evaluate`) and
training (:mod:`tinct.train`) are apps too, in folders of their own.
"""
