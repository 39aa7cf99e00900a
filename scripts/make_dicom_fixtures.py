"""Write the DICOM test fixtures that pydicom cannot encode itself (run once; the files are committed).

tests/data/dicom/CT_jpeg_lossless_sv1.dcm: a 12-bit CT image in JPEG Lossless, Non-Hierarchical,
First-Order Prediction (Process 14, Selection Value 1; transfer syntax 1.2.840.10008.1.2.4.70), the
most common lossless JPEG in archives. pydicom decodes it (with pylibjpeg-libjpeg, tinct's medical
extra) but has no encoder for it, so this script encodes the frame with libjpeg-turbo 3's lossless
mode through imagecodecs, a tool for this script only (not a dependency of tinct or its tests):

    pip install --target /tmp/imagecodecs --no-deps imagecodecs
    PYTHONPATH=/tmp/imagecodecs python scripts/make_dicom_fixtures.py

The script checks that pydicom decodes the file back to exactly the pixels written.
"""

from __future__ import annotations

from pathlib import Path

import imagecodecs
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGLosslessSV1, generate_uid

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "dicom" / "CT_jpeg_lossless_sv1.dcm"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def ct_pixels(rows: int = 72, cols: int = 96) -> np.ndarray:
    """A 12-bit phantom: a water disc (1024 = 0 HU) with a bone ring and two soft-tissue inserts."""
    y, x = np.mgrid[:rows, :cols]
    r = np.hypot((y - rows / 2) / (rows * 0.42), (x - cols / 2) / (cols * 0.42))
    img = np.where(r < 1.0, 1024, 24).astype(np.int32)
    img[(r > 0.85) & (r < 1.0)] = 2200
    img[np.hypot(y - rows * 0.4, x - cols * 0.35) < 7] = 1090
    img[np.hypot(y - rows * 0.6, x - cols * 0.65) < 6] = 960
    return (img + (x * 3 + y * 5) % 17).astype(np.uint16)


def main() -> None:
    pixels = ct_pixels()
    frame = imagecodecs.jpeg8_encode(pixels, lossless=True, predictor=1, bitspersample=12)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = JPEGLosslessSV1
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CT_IMAGE_STORAGE, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName, ds.PatientID = "CT", "Phantom^JPEG Lossless", "TINCT-JPEG-LL"
    ds.InstanceNumber = 1
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.PixelData = encapsulate([frame])
    ds["PixelData"].VR = "OB"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    pydicom.dcmwrite(OUT, ds, enforce_file_format=True)
    back = pydicom.dcmread(OUT)
    assert back.file_meta.TransferSyntaxUID == JPEGLosslessSV1
    assert np.array_equal(back.pixel_array, pixels), "the decoded pixels differ from those written"
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes), {pixels.shape}, decodes back exactly")


if __name__ == "__main__":
    main()
