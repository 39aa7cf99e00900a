"""De-identification of outputs (``--anonymize``): the DICOM PS3.15 Annex E basic profile on a
Secondary Capture's attributes, and neutral output names that cannot be traced back to the input.
"""

from __future__ import annotations

import hashlib
import uuid
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom.dataset import Dataset


def anon_uid(uid: str) -> str:
    """A replacement UID, the same for the same original (so outputs of one study stay together)."""
    from pydicom.uid import generate_uid

    return generate_uid(entropy_srcs=["tinct-anonymize", uid])


def apply_basic_profile(ds: Dataset) -> Dataset:
    """Apply the basic profile (in place) to a Secondary Capture's copied patient and study attributes.

    Patient's Name and ID -> "ANONYMOUS"; Birth Date, Sex, Accession Number, Referring Physician,
    Study ID, Study Date and Time -> empty (dates removed, not shifted); Patient's Age, Issuer of
    Patient ID, Study Description -> removed; Study Instance UID and Frame of Reference UID ->
    :func:`anon_uid`; Patient Identity Removed YES, De-identification Method (+ code 113100),
    Longitudinal Temporal Information Modified REMOVED. A source marked Burned In Annotation YES
    gives a warning: text in the pixels cannot be removed.
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence as DicomSequence

    if str(ds.BurnedInAnnotation).upper() == "YES":
        warnings.warn("the source has burned-in annotation: text in the pixels is not anonymised", stacklevel=3)
    ds.PatientName = "ANONYMOUS"
    ds.PatientID = "ANONYMOUS"
    for kw in ("PatientBirthDate", "PatientSex", "AccessionNumber", "ReferringPhysicianName", "StudyID"):
        ds[kw].value = ""
    ds.StudyDate = ""
    ds.StudyTime = ""
    for kw in ("PatientAge", "IssuerOfPatientID", "StudyDescription"):
        if kw in ds:
            del ds[kw]
    ds.StudyInstanceUID = anon_uid(str(ds.StudyInstanceUID))
    if "FrameOfReferenceUID" in ds:
        ds.FrameOfReferenceUID = anon_uid(str(ds.FrameOfReferenceUID))
    ds.PatientIdentityRemoved = "YES"
    ds.LongitudinalTemporalInformationModified = "REMOVED"
    ds.DeidentificationMethod = "DICOM PS3.15 Basic Application Confidentiality Profile (tinct)"
    code = Dataset()
    code.CodeValue = "113100"
    code.CodingSchemeDesignator = "DCM"
    code.CodeMeaning = "Basic Application Confidentiality Profile"
    ds.DeidentificationMethodCodeSequence = DicomSequence([code])
    return ds


def anonymous_stem(uid: str | None = None) -> str:
    """A neutral output stem for ``--anonymize``: ``anon-`` + 16 hex digits of SHA-256 of ``uid``.

    ``uid`` is the new (random) SOP Instance UID of the Secondary Capture written beside, so the
    name and the object match; without one (NIfTI, FITS, no DICOM output) a random UUID is hashed.
    Nothing from the input (file name, patient, original UIDs) goes into it, so it cannot be traced
    back to the input.
    """
    return "anon-" + hashlib.sha256((uid or uuid.uuid4().hex).encode()).hexdigest()[:16]
