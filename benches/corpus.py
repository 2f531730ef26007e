"""Synthetic corpora for the benchmarks: CT series full of identifiers.

    python benches/corpus.py OUT_DIR --files 1000 --size 512      # corpus L, ~500 MB
    python benches/corpus.py OUT_DIR --files 5000 --size 64       # corpus S, ~60 MB
    python benches/corpus.py OUT_DIR --multiframe-gb 2            # one 2 GB multi-frame file

Every file has identifiers at the top level, in nested sequences and in a private block, so
the profile has real work to do. Seeded: the same arguments give the same files.
"""

from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ROOT = "1.2.826.0.1.3680043.10.1234."  # an example root for synthetic UIDs


def _uid(rng: random.Random) -> str:
    return ROOT + str(rng.getrandbits(96))


def ct_dataset(rng: random.Random, patient: int, study: str, series: str, size: int) -> Dataset:
    """One CT slice of a fake patient, with identifiers where real files have them."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = _uid(rng)
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = "20240315"
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "101500"
    ds.AccessionNumber = f"ACC{patient:06d}"
    ds.Modality = "CT"
    ds.Manufacturer = "ACME MEDICAL"
    ds.InstitutionName = "SYNTHETIC GENERAL HOSPITAL"
    ds.InstitutionAddress = "1 Example Road, Nowhere"
    ds.ReferringPhysicianName = "WELBY^MARCUS"
    ds.StationName = "CT-SCANNER-01"
    ds.StudyDescription = f"CT CHEST for DOE{patient}^JOHN"
    ds.SeriesDescription = "AXIAL 1.25mm"
    ds.OperatorsName = "TECH^TERRY"
    ds.PatientName = f"DOE{patient}^JOHN"
    ds.PatientID = f"PID{patient:08d}"
    ds.PatientBirthDate = "19700215"
    ds.PatientSex = "M"
    ds.PatientAge = "054Y"
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.FrameOfReferenceUID = study + ".1"
    ds.StudyID = f"S{patient}"
    ds.SeriesNumber = 1
    ds.InstanceNumber = rng.randint(1, 1000)
    ref = Dataset()
    ref.ReferencedSOPClassUID = CT_IMAGE_STORAGE
    ref.ReferencedSOPInstanceUID = _uid(rng)
    ds.ReferencedImageSequence = Sequence([ref])
    req = Dataset()
    req.RequestingPhysician = "HOUSE^GREGORY"
    req.RequestedProcedureID = f"RP{patient}"
    ds.RequestAttributesSequence = Sequence([req])
    block = ds.private_block(0x0009, "ACME PRIVATE", create=True)
    block.add_new(0x10, "LO", str(ds.PatientName))
    block.add_new(0x11, "LO", "scanner internal note")
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = size
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    pixels = np.random.default_rng(rng.getrandbits(32)).integers(
        -1024, 3000, (size, size), dtype=np.int16
    )
    ds.PixelData = pixels.tobytes()
    return ds


def write(ds: Dataset, path: Path) -> None:
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.save_as(path, enforce_file_format=True)


def make_series(out: Path, files: int, size: int, seed: int = 1) -> Path:
    """``files`` CT slices in folders patient/study/series, 10 slices per series."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    per_series = 10
    for i in range(files):
        series_index = i // per_series
        patient = series_index // 5
        study = ROOT + f"{seed}.{patient}"
        series = study + f".{series_index}"
        ds = ct_dataset(rng, patient, study, series, size)
        folder = out / f"p{patient:05d}" / f"s{series_index:05d}"
        folder.mkdir(parents=True, exist_ok=True)
        write(ds, folder / f"{i:06d}.dcm")
    return out


def make_multiframe(path: Path, gigabytes: float, seed: int = 1) -> Path:
    """One multi-frame file of about ``gigabytes`` GB, written without holding it in memory."""
    rng = random.Random(seed)
    size = 512
    frame_bytes = size * size * 2
    frames = max(1, int(gigabytes * 1e9) // frame_bytes)
    ds = ct_dataset(rng, 0, ROOT + "9", ROOT + "9.1", size)
    ds.NumberOfFrames = frames
    del ds.PixelData
    path.parent.mkdir(parents=True, exist_ok=True)
    write(ds, path)
    # append Pixel Data (explicit VR LE, OW, 32-bit length) frame by frame
    frame = np.random.default_rng(seed).integers(0, 3000, (size, size), dtype=np.int16).tobytes()
    total = frames * frame_bytes
    with open(path, "ab") as f:
        f.write(b"\xe0\x7f\x10\x00OW\x00\x00" + total.to_bytes(4, "little"))
        for _ in range(frames):
            f.write(frame)
    return path


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("out", type=Path)
    p.add_argument("--files", type=int, default=1000)
    p.add_argument("--size", type=int, default=512, help="rows and columns of each image")
    p.add_argument("--multiframe-gb", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    if a.multiframe_gb:
        path = make_multiframe(a.out / "multiframe.dcm", a.multiframe_gb, a.seed)
        print(f"{path}: {os.path.getsize(path) / 1e9:.2f} GB")
    else:
        make_series(a.out, a.files, a.size, a.seed)
        print(f"{a.out}: {a.files} files, {tree_size(a.out) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
