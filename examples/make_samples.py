"""Write the sample files in examples/data/: small, synthetic, made-up patients.

Every value here is invented (placeholder names such as Doe, Sample, Yamada Taro; UIDs under a
test root); nothing comes from a real person. The output is deterministic: the same script
writes the same bytes. Needs pydicom and numpy (the `test` extra); run from anywhere:

    python examples/make_samples.py
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MRImageStorage,
    RLELossless,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
)

OUT = Path(__file__).resolve().parent / "data"
SEED = 20240229
UID_ROOT = "1.2.826.0.1.3680043.8.498.4242"  # a test root: these UIDs identify nothing real
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
MAX_SIZE = 64 * 1024

rng = random.Random(SEED)
_uid_counter = 0


def new_uid() -> str:
    global _uid_counter
    _uid_counter += 1
    return f"{UID_ROOT}.{_uid_counter}"


# (name, id, birth date, sex): invented placeholders
PATIENTS = [
    ("Doe^Jane", "SAMPLE-0001", "19700101", "F"),
    ("Sample^Zoë^Ångström", "SAMPLE-0002", "19851231", "F"),
    ("山田^太郎", "SAMPLE-0003", "19600615", "M"),
    ("Δοκιμή^Ελένη", "SAMPLE-0004", "19921111", "F"),
    ("Testperson^Øyvind", "SAMPLE-0005", "19550505", "M"),
    ("Placeholder^Noël", "SAMPLE-0006", "20010202", "O"),
]


def base_dataset(patient: tuple[str, str, str, str], sop_class: str, modality: str) -> Dataset:
    name, pid, birth, sex = patient
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.InstanceCreationDate = "20240229"
    ds.InstanceCreationTime = "101500"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = new_uid()
    ds.StudyDate = "20240229"
    ds.SeriesDate = "20240229"
    ds.StudyTime = "101500"
    ds.AccessionNumber = f"ACC{rng.randrange(10**6, 10**7)}"
    ds.Modality = modality
    ds.Manufacturer = "Synthetic Imaging Co."
    ds.InstitutionName = "Hôpital Fictif de Démonstration"
    ds.ReferringPhysicianName = "Doctor^Example"
    ds.StationName = f"STATION{rng.randrange(100)}"
    ds.StudyDescription = f"Demo study for {name.replace('^', ' ')}"
    ds.OperatorsName = ["Operator^First", "Operator^Second"]
    ds.PatientName = name
    ds.PatientID = pid
    ds.PatientBirthDate = birth
    ds.PatientSex = sex
    ds.PatientAge = f"{2024 - int(birth[:4]):03d}Y"
    ds.PatientWeight = f"{rng.randrange(450, 950) / 10:.1f}"
    ds.OtherPatientIDs = f"ALT-{pid}"
    ds.PatientComments = f"Invented patient {pid}; no real person."
    ds.DeviceSerialNumber = f"SN{rng.randrange(10**5, 10**6)}"
    ds.StudyInstanceUID = new_uid()
    ds.SeriesInstanceUID = new_uid()
    ds.FrameOfReferenceUID = new_uid()
    ds.StudyID = f"S{rng.randrange(1000)}"
    ds.SeriesNumber = "1"
    ds.InstanceNumber = "1"

    # nested sequences: a reference to another (invented) image, and a code with a modifier
    ref = Dataset()
    ref.ReferencedSOPClassUID = sop_class
    ref.ReferencedSOPInstanceUID = new_uid()
    ds.ReferencedImageSequence = Sequence([ref])
    modifier = Dataset()
    modifier.CodeValue = "24028007"
    modifier.CodingSchemeDesignator = "SCT"
    modifier.CodeMeaning = "Right"
    region = Dataset()
    region.CodeValue = "39607008"
    region.CodingSchemeDesignator = "SCT"
    region.CodeMeaning = "Lung"
    region.AnatomicRegionModifierSequence = Sequence([modifier])
    ds.AnatomicRegionSequence = Sequence([region])
    request = Dataset()
    request.RequestedProcedureID = f"RP{rng.randrange(10**4)}"
    request.ScheduledProcedureStepID = f"SPS{rng.randrange(10**4)}"
    ds.RequestAttributesSequence = Sequence([request])

    # a private block, with a name in it
    block = ds.private_block(0x0029, "DICOMVEIL DEMO", create=True)
    block.add_new(0x01, "LO", f"private note about {name}")
    block.add_new(0x02, "UL", rng.randrange(2**32))
    return ds


def add_pixels(ds: Dataset, rows: int, cols: int, *, rgb: bool = False, bits: int = 16) -> None:
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = bits
    ds.BitsStored = bits if bits == 8 else 12
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    if rgb:
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
        yy, xx = np.mgrid[0:rows, 0:cols]
        img = np.stack([xx * 255 // cols, yy * 255 // rows, (xx + yy) * 127 // (rows + cols)], -1)
        ds.PixelData = img.astype(np.uint8).tobytes()
    else:
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        yy, xx = np.mgrid[0:rows, 0:cols]
        r = np.hypot(yy - rows / 2, xx - cols / 2)
        img = (2000 + 1500 * np.cos(r / 3)).clip(0, 4095)
        if bits == 8:
            img = img / 16
        ds.PixelData = img.astype(np.uint16 if bits == 16 else np.uint8).tobytes()


def sr_dataset(patient: tuple[str, str, str, str]) -> Dataset:
    ds = base_dataset(patient, BASIC_TEXT_SR, "SR")
    for kw in ("ImageType", "FrameOfReferenceUID", "AnatomicRegionSequence"):
        delattr(ds, kw)
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "VERIFIED"
    observer = Dataset()
    observer.VerifyingObserverName = "Okafor^Chidi"
    observer.VerifyingOrganization = "Fictional Reading Centre"
    observer.VerificationDateTime = "20240229120000"
    ds.VerifyingObserverSequence = Sequence([observer])
    ds.ContentDate = "20240229"
    ds.ContentTime = "120000"

    def code(value: str, meaning: str) -> Dataset:
        c = Dataset()
        c.CodeValue = value
        c.CodingSchemeDesignator = "DCM"
        c.CodeMeaning = meaning
        return c

    text = Dataset()
    text.RelationshipType = "CONTAINS"
    text.ValueType = "TEXT"
    text.ConceptNameCodeSequence = Sequence([code("121071", "Finding")])
    text.TextValue = f"No abnormality seen for {patient[0].replace('^', ' ')} (demo text)."
    person = Dataset()
    person.RelationshipType = "HAS OBS CONTEXT"
    person.ValueType = "PNAME"
    person.ConceptNameCodeSequence = Sequence([code("121008", "Person Observer Name")])
    person.PersonName = "Lindqvist^Maja"
    section = Dataset()
    section.RelationshipType = "CONTAINS"
    section.ValueType = "CONTAINER"
    section.ContinuityOfContent = "SEPARATE"
    section.ConceptNameCodeSequence = Sequence([code("121070", "Findings")])
    section.ContentSequence = Sequence([text])
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.ConceptNameCodeSequence = Sequence([code("121144", "Document Title")])
    ds.ContentSequence = Sequence([person, section])
    return ds


def write(ds: Dataset, name: str, ts: str | None) -> Path:
    path = OUT / name
    if ts is None:  # no preamble, no meta: a bare implicit VR little endian data set
        pydicom.dcmwrite(path, ds, implicit_vr=True, little_endian=True, enforce_file_format=False)
    else:
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = ts
        ds.file_meta.ImplementationClassUID = f"{UID_ROOT}.0.1"
        ds.file_meta.ImplementationVersionName = "DV_SAMPLES_1"
        if ts == RLELossless:
            ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
            ds.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
        pydicom.dcmwrite(path, ds, enforce_file_format=True)
    size = path.stat().st_size
    assert size < MAX_SIZE, f"{name} is {size} bytes"
    return path


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.dcm"):
        old.unlink()
    written = []

    ct = base_dataset(PATIENTS[0], CTImageStorage, "CT")
    add_pixels(ct, 64, 64)
    ct.RescaleIntercept = "-1024"
    ct.RescaleSlope = "1"
    written.append(write(ct, "ct_explicit_le.dcm", ExplicitVRLittleEndian))

    mr = base_dataset(PATIENTS[1], MRImageStorage, "MR")
    add_pixels(mr, 48, 48)
    written.append(write(mr, "mr_implicit_le.dcm", ImplicitVRLittleEndian))

    us = base_dataset(PATIENTS[2], UltrasoundImageStorage, "US")
    add_pixels(us, 32, 40, rgb=True, bits=8)
    written.append(write(us, "us_rgb_explicit_be.dcm", ExplicitVRBigEndian))

    sc = base_dataset(PATIENTS[3], SecondaryCaptureImageStorage, "OT")
    sc.ConversionType = "WSD"
    add_pixels(sc, 64, 64)
    written.append(write(sc, "sc_rle_lossless.dcm", RLELossless))

    cr = base_dataset(PATIENTS[4], CTImageStorage, "CT")
    add_pixels(cr, 64, 64)
    written.append(write(cr, "ct_deflated.dcm", DeflatedExplicitVRLittleEndian))

    sr = sr_dataset(PATIENTS[5])
    written.append(write(sr, "sr_text_utf8.dcm", ExplicitVRLittleEndian))

    bare = base_dataset(PATIENTS[0], CTImageStorage, "CT")
    add_pixels(bare, 32, 32)
    written.append(write(bare, "ct_bare_no_meta.dcm", None))

    for path in written:
        print(f"{path.name:24} {path.stat().st_size:6} bytes")


if __name__ == "__main__":
    main()
