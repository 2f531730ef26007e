"""A made-up study full of identifiers, in every transfer syntax: nothing identifying survives.

The identifying values are searched for in the raw output bytes (after inflating the deflated
syntax), in UTF-8 and, for binary values, in both byte orders. Each search is first shown to
find the value in the input, so a search that cannot find anything cannot pass by accident.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from util import (
    MARKER_TAGS,
    TEST_KEY,
    check_markers,
    diff_datasets,
    fragments,
    map_uid,
    model_anonymize,
    uid_values,
)

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ROOT = "1.2.826.0.1.3680043.8.498.7719"  # made-up UIDs for made-up patients

IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
BIG = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
RLE = "1.2.840.10008.1.2.5"

SYNTAXES = {
    "implicit": IMPLICIT,
    "explicit": EXPLICIT,
    "big": BIG,
    "deflated": DEFLATED,
    "rle": RLE,
    "bare": None,  # no preamble, no meta: an implicit VR little endian data set
}

# text that identifies the patient, the staff or the site; none may survive
IDENTIFYING_TEXT = [
    "Müller^Zoë^Ångström",
    "Müller",
    "Ångström",
    "PID-SYN-77813",
    "ALT-ID-55120",
    "19620417",
    "20231115",
    "131415.16",
    "12 Rue Fictive, Lyon",
    "Ørsted^Hans",
    "Ørsted",
    "Hôpital Imaginaire Saint-Ëloi",
    "ACC99887766",
    "STUDY-4242",
    "STATION-ZETA9",
    "中村^洋子",
    "中村",
    "SN-DEV-30303",
    "Kowalski^Zbigniew Łukasz",
    "Łukasz",
    "Иванова^Светлана",
    "Светлана",
    "Dubois^Céline",
    "Nested^Deep^Name",
    "Sánchez^Lucía",
    "Clinique Fictive Éclair",
    "REQ-PROC-9931",
    "Private^Leak^Name",
    "FAKECORP SYNTH 1",
    "Hidden^Private^Seq",
    "Protocol for Zoë Müller",
]

PRIVATE_NUMBER = 0xCAFEBABE  # a private UL: its bytes in either order must vanish
PRIVATE_FLOAT = 1234.5678  # a private FD


@dataclass
class Study:
    study_uid: str
    series_uid: str
    frame_uid: str


def instance_uid(n: int) -> str:
    return f"{ROOT}.3.{n}"


def make_dataset(n: int, study: Study, referenced: str, source: str) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["DERIVED", "SECONDARY"]
    ds.InstanceCreationDate = "20231115"
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = instance_uid(n)
    ds.StudyDate = "20231115"
    ds.SeriesDate = "20231115"
    ds.StudyTime = "131415.16"
    ds.AccessionNumber = "ACC99887766"
    ds.Modality = "CT"
    ds.Manufacturer = "Synthetic Devices"
    ds.InstitutionName = "Hôpital Imaginaire Saint-Ëloi"
    ds.ReferringPhysicianName = "Ørsted^Hans"
    ds.StationName = "STATION-ZETA9"
    ds.OperatorsName = ["中村^洋子", "Ørsted^Hans"]

    ref = Dataset()
    ref.ReferencedSOPClassUID = CT_IMAGE_STORAGE
    ref.ReferencedSOPInstanceUID = referenced
    ds.ReferencedImageSequence = Sequence([ref])

    ds.PatientName = "Müller^Zoë^Ångström"
    ds.PatientID = "PID-SYN-77813"
    ds.OtherPatientIDs = "ALT-ID-55120"
    ds.PatientBirthDate = "19620417"
    ds.PatientSex = "F"
    ds.PatientAddress = "12 Rue Fictive, Lyon"
    ds.DeviceSerialNumber = "SN-DEV-30303"
    ds.ProtocolName = "Protocol for Zoë Müller"  # X: free text that happens to name her

    src = Dataset()
    src.ReferencedSOPClassUID = CT_IMAGE_STORAGE
    src.ReferencedSOPInstanceUID = source
    ds.SourceImageSequence = Sequence([src])

    # three levels of sequences the table does not name: the profile applies inside each
    level3 = Dataset()
    level3.CodeValue = "T-L3"
    level3.ReviewerName = "Dubois^Céline"  # X/Z
    level3.PersonName = "Nested^Deep^Name"  # D
    level3.UID = f"{ROOT}.9.{n}"  # U
    level2 = Dataset()
    level2.CodeValue = "T-L2"
    level2.ReviewerName = "Иванова^Светлана"
    level2.ConceptNameCodeSequence = Sequence([level3])
    level1 = Dataset()
    level1.CodeValue = "T-L1"
    level1.CodingSchemeDesignator = "SRT"
    level1.ContentCreatorName = "Kowalski^Zbigniew Łukasz"  # Z/D
    level1.AnatomicRegionModifierSequence = Sequence([level2])
    ds.AnatomicRegionSequence = Sequence([level1])

    # a sequence whose action is D: its leaves become dummies
    observer = Dataset()
    observer.VerifyingObserverName = "Sánchez^Lucía"
    observer.VerifyingOrganization = "Clinique Fictive Éclair"
    observer.VerificationDateTime = "20231115131415"
    ds.VerifyingObserverSequence = Sequence([observer])

    # a sequence whose action is X
    request = Dataset()
    request.RequestedProcedureID = "REQ-PROC-9931"
    request.StudyInstanceUID = study.study_uid
    ds.RequestAttributesSequence = Sequence([request])

    ds.StudyInstanceUID = study.study_uid
    ds.SeriesInstanceUID = study.series_uid
    ds.StudyID = "STUDY-4242"
    ds.SeriesNumber = "3"
    ds.InstanceNumber = str(n)
    ds.FrameOfReferenceUID = study.frame_uid

    # a private block with a name, numbers and a nested sequence
    block = ds.private_block(0x0019, "FAKECORP SYNTH 1", create=True)
    block.add_new(0x01, "LO", "Private^Leak^Name")
    block.add_new(0x02, "UL", PRIVATE_NUMBER)
    block.add_new(0x03, "FD", PRIVATE_FLOAT)
    hidden = Dataset()
    hidden.PatientName = "Hidden^Private^Seq"
    block.add_new(0x04, "SQ", Sequence([hidden]))

    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 4
    ds.Columns = 4
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = struct.pack("<16H", *[(n * 97 + i * 131) % 4096 for i in range(16)])
    return ds


RLE_FRAGMENTS = (bytes(range(7, 19)), bytes(range(19, 37)) + b"\x00\x00")


def _item(value: bytes) -> bytes:
    return b"\xfe\xff\x00\xe0" + struct.pack("<I", len(value)) + value


def encode(ds: Dataset, ts: str | None) -> bytes:
    ds = ds.copy()
    bio = io.BytesIO()
    if ts is None:
        pydicom.dcmwrite(bio, ds, implicit_vr=True, little_endian=True, enforce_file_format=False)
        return bio.getvalue()
    if ts == RLE:
        # made-up fragments: the engine must copy them, not decode them
        ds.PixelData = b"".join(_item(b) for b in (b"", *RLE_FRAGMENTS))  # empty offset table
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    pydicom.dcmwrite(bio, ds, enforce_file_format=True)
    return bio.getvalue()


def searchable(data: bytes) -> bytes:
    """The bytes of a file with its data set inflated when the syntax is deflated."""
    if data[128:132] != b"DICM":
        return data
    ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=[])
    if ds.file_meta.TransferSyntaxUID != DEFLATED:
        return data
    (group_length,) = struct.unpack_from("<I", data, 132 + 8)
    meta_end = 132 + 12 + group_length
    return data[:meta_end] + zlib.decompress(data[meta_end:], -zlib.MAX_WBITS)


def identifying_forms() -> list[bytes]:
    forms = [s.encode("utf-8") for s in IDENTIFYING_TEXT]
    forms += [struct.pack("<I", PRIVATE_NUMBER), struct.pack(">I", PRIVATE_NUMBER)]
    forms += [struct.pack("<d", PRIVATE_FLOAT), struct.pack(">d", PRIVATE_FLOAT)]
    return forms


STUDY = Study(f"{ROOT}.1", f"{ROOT}.2", f"{ROOT}.4")


def make_pair() -> tuple[Dataset, Dataset]:
    """Two images of one study; each references the other (new data sets at each call)."""
    a = make_dataset(1, STUDY, referenced=instance_uid(2), source=instance_uid(3))
    b = make_dataset(2, STUDY, referenced=instance_uid(1), source=instance_uid(3))
    return a, b


@pytest.fixture(scope="module")
def pair() -> tuple[Dataset, Dataset]:
    """Two images of one study; each references the other."""
    return make_pair()


def anonymize_bytes(data: bytes, key: bytes = TEST_KEY, *, conform: bool = True) -> bytes:
    from dicomveil import Anonymizer, ConfidentialityProfile, DicomFile

    profile = ConfidentialityProfile.create_default()
    profile.conform_to_iod = conform
    return Anonymizer(profile, key=key).anonymize(DicomFile.open(data)).to_bytes()


@pytest.fixture(scope="module", params=list(SYNTAXES), ids=list(SYNTAXES))
def encoded(request, pair):
    ts = SYNTAXES[request.param]
    data = encode(pair[0], ts)
    return ts, data, anonymize_bytes(data)


def test_identifiers_are_in_the_input(encoded):
    ts, data, _ = encoded
    raw = searchable(data)
    for form in identifying_forms():
        if (
            form in (struct.pack(">I", PRIVATE_NUMBER), struct.pack(">d", PRIVATE_FLOAT))
            and ts != BIG
        ):
            continue
        if (
            form in (struct.pack("<I", PRIVATE_NUMBER), struct.pack("<d", PRIVATE_FLOAT))
            and ts == BIG
        ):
            continue
        assert form in raw, form
    for uid in (instance_uid(1), instance_uid(2), instance_uid(3), STUDY.study_uid):
        assert uid.encode() in raw


def test_no_identifier_left_in_output_bytes(encoded):
    _, _, out = encoded
    raw = searchable(out)
    left = [form for form in identifying_forms() if form in raw]
    assert left == []
    # and no original UID, in any attribute (the study UID is a prefix of the others: search all)
    assert ROOT.encode() not in raw


def test_output_is_part10_in_the_same_syntax(encoded):
    ts, data, out = encoded
    assert out[128:132] == b"DICM"
    ds = pydicom.dcmread(io.BytesIO(out))
    assert ds.file_meta.TransferSyntaxUID == (ts or IMPLICIT)
    assert ds.SpecificCharacterSet == "ISO_IR 192"


def test_output_matches_model(encoded):
    _, data, out = encoded
    ds_in = pydicom.dcmread(io.BytesIO(data), force=True)
    ds_out = pydicom.dcmread(io.BytesIO(out))
    problems = diff_datasets(model_anonymize(ds_in, TEST_KEY), ds_out, ignore_top=MARKER_TAGS)
    problems += check_markers(ds_out)
    assert not problems, "\n".join(problems)


def test_pixel_data_identical(encoded):
    ts, data, out = encoded
    ds_in = pydicom.dcmread(io.BytesIO(data), force=True)
    ds_out = pydicom.dcmread(io.BytesIO(out))
    assert ds_out.PixelData == ds_in.PixelData
    if ts == RLE:
        assert fragments(ds_out) == fragments(ds_in) == list(RLE_FRAGMENTS)


def test_nested_values(encoded):
    _, _, out = encoded
    ds = pydicom.dcmread(io.BytesIO(out))
    level1 = ds.AnatomicRegionSequence[0]
    assert level1.CodeValue == "T-L1"
    assert level1.ContentCreatorName == "ANONYMIZED"
    level2 = level1.AnatomicRegionModifierSequence[0]
    assert level2.CodeValue == "T-L2"
    assert level2["ReviewerName"].is_empty
    level3 = level2.ConceptNameCodeSequence[0]
    assert level3.CodeValue == "T-L3"
    assert level3["ReviewerName"].is_empty
    assert level3.PersonName == "ANONYMIZED"
    assert level3.UID == map_uid(TEST_KEY, f"{ROOT}.9.1")
    observer = ds.VerifyingObserverSequence[0]
    assert observer.VerifyingObserverName == "ANONYMIZED"
    assert observer.VerifyingOrganization == "ANONYMIZED"
    assert observer.VerificationDateTime == "19000101000000"
    assert "RequestAttributesSequence" not in ds
    # resolved by the CT Image IOD's types (PS3.3 A.3): Type 3 in General Series or General
    # Equipment, so X/Z/D, X/D and X/Z/U* remove; Patient ID (Z/D) is Type 2, so Z
    for keyword in (
        "OperatorsName",  # X/Z/D
        "InstitutionName",  # X/Z/D
        "SeriesDate",  # X/D
        "ProtocolName",  # X/D
        "ReferencedImageSequence",  # X/Z/U*
        "SourceImageSequence",  # X/Z/U*
    ):
        assert keyword not in ds, keyword
    assert ds["PatientID"].is_empty
    assert ds["PatientName"].is_empty
    assert ds["PatientSex"].is_empty
    assert not [e for e in ds.iterall() if e.tag.is_private]


def test_nested_values_literal(encoded):
    """Carried out literally, compound codes take their fixed choice (X/Z -> Z, X/D, X/Z/D and
    Z/D -> D, X/Z/U* -> the UIDs inside replaced), whatever the IOD says."""
    _, data, _ = encoded
    ds = pydicom.dcmread(io.BytesIO(anonymize_bytes(data, conform=False)))
    assert ds.OperatorsName == "ANONYMIZED"
    assert ds.InstitutionName == "ANONYMIZED"
    assert ds.SeriesDate == "19000101"
    assert ds.PatientID == "ANONYMIZED"
    assert ds.ProtocolName == "ANONYMIZED"
    assert ds.ReferencedImageSequence[0].ReferencedSOPClassUID == CT_IMAGE_STORAGE
    assert ds["PatientName"].is_empty
    assert not [e for e in ds.iterall() if e.tag.is_private]


def test_uids_consistent_across_files_with_one_key(pair):
    # literally, so that the references (Type 3 in a CT Image, so removed by the IOD-aware
    # profile) stay to be compared
    a, b = pair
    for ts in SYNTAXES.values():
        out_a = pydicom.dcmread(io.BytesIO(anonymize_bytes(encode(a, ts), conform=False)))
        out_b = pydicom.dcmread(io.BytesIO(anonymize_bytes(encode(b, ts), conform=False)))
        assert (
            out_a.StudyInstanceUID == out_b.StudyInstanceUID == map_uid(TEST_KEY, STUDY.study_uid)
        )
        assert out_a.SeriesInstanceUID == out_b.SeriesInstanceUID
        assert out_a.FrameOfReferenceUID == out_b.FrameOfReferenceUID
        assert out_a.SOPInstanceUID != out_b.SOPInstanceUID
        # each references the other: the references follow the mapping
        assert out_b.ReferencedImageSequence[0].ReferencedSOPInstanceUID == out_a.SOPInstanceUID
        assert out_a.ReferencedImageSequence[0].ReferencedSOPInstanceUID == out_b.SOPInstanceUID
        assert (
            out_a.SourceImageSequence[0].ReferencedSOPInstanceUID
            == out_b.SourceImageSequence[0].ReferencedSOPInstanceUID
            == map_uid(TEST_KEY, instance_uid(3))
        )
        assert out_a.ReferencedImageSequence[0].ReferencedSOPClassUID == CT_IMAGE_STORAGE
        assert out_a.file_meta.MediaStorageSOPInstanceUID == out_a.SOPInstanceUID


def test_uids_differ_across_keys(pair):
    a, _ = pair
    data = encode(a, EXPLICIT)
    one = pydicom.dcmread(io.BytesIO(anonymize_bytes(data, b"the first test key", conform=False)))
    two = pydicom.dcmread(io.BytesIO(anonymize_bytes(data, b"the second test key", conform=False)))
    uids_one, uids_two = uid_values(one) - {CT_IMAGE_STORAGE}, uid_values(two) - {CT_IMAGE_STORAGE}
    assert len(uids_one) >= 6
    assert uids_one.isdisjoint(uids_two)
    assert one.StudyInstanceUID == map_uid(b"the first test key", STUDY.study_uid)
    assert two.StudyInstanceUID == map_uid(b"the second test key", STUDY.study_uid)


def test_same_output_from_every_entry_point(tmp_path: Path, pair):
    """Path, bytes, file object, anonymize_in_place and save all produce the same file."""
    from dicomveil import Anonymizer, DicomFile

    data = encode(pair[0], EXPLICIT)
    src = tmp_path / "in.dcm"
    src.write_bytes(data)
    anon = Anonymizer(key=TEST_KEY)
    by_bytes = anon.anonymize(DicomFile.open(data)).to_bytes()
    by_path = anon.anonymize(DicomFile.open(src)).to_bytes()
    with src.open("rb") as fh:
        by_file = anon.anonymize(DicomFile.open(fh)).to_bytes()
    f = DicomFile.open(src)
    anon.anonymize_in_place(f)
    f.save(tmp_path / "out.dcm")
    assert by_bytes == by_path == by_file == f.to_bytes() == (tmp_path / "out.dcm").read_bytes()
