"""Medical and scientific images in and out: DICOM, NIfTI and FITS, read into windowed gray frames and
written back as colour that never alters the anatomy.

* :mod:`~tinct.io.medical.kinds` -- which inputs are medical (by name or content; standard library only);
* :mod:`~tinct.io.medical.image` -- :class:`~tinct.io.medical.image.MedicalImage`, size limits, gzip;
* :mod:`~tinct.io.medical.windowing` -- VOI windows from values to display gray;
* :mod:`~tinct.io.medical.dicom`, :mod:`~tinct.io.medical.nifti`, :mod:`~tinct.io.medical.fits` -- the readers;
* :mod:`~tinct.io.medical.read` -- one entry for them all (paths, uploads, DICOM folders);
* :mod:`~tinct.io.medical.writers` -- frames, DICOM Secondary Capture, RGB NIfTI, provenance notes;
* :mod:`~tinct.io.medical.anonymize` -- the basic de-identification profile and neutral names.

Colour is added by the app on top (:mod:`tinct.apps.medical`).
"""
