"""The public API: DicomFile, Anonymizer, ConfidentialityProfile and the error hierarchy."""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import dicomveil
import pydicom
import pytest
from dicomveil import (
    Action,
    Anonymizer,
    ConfidentialityProfile,
    ConfidentialityProfileOptions,
    DicomFile,
    DicomveilError,
    FileAccessError,
    InvalidDicomError,
    ProfileError,
    UnsupportedDicomError,
    UnsupportedTransferSyntaxError,
)
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from util import TEST_KEY, map_uid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def make_typed_file(tmp_path: Path, ts: str = ExplicitVRLittleEndian) -> Path:
    """A small file with one element of each value kind the API converts."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.StudyDate = "20200102"
    ds.AccessionNumber = ""
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "ID-42"
    ds.SliceThickness = "2.5"
    ds.PixelSpacing = ["0.5", "0.25"]
    ds.AcquisitionMatrix = [0, 256, 256, 0]  # US, VM 4
    ds.InstanceNumber = "7"
    ds.Rows = 2
    ds.Columns = 2
    ds.SmallestImagePixelValue = -3  # (0028,0106) US or SS: SS here
    ds["SmallestImagePixelValue"].VR = "SS"
    ds.DiffusionBValue = 1000.5  # FD
    ds.RescaleSlope = "1"
    ds.WindowWidth = None  # DS, empty
    ds.LargestImagePixelValue = None  # empty US
    ds["LargestImagePixelValue"].VR = "US"
    ds.add_new(0x00431028, "OB", b"\x01\x02\x03\x04")  # private OB, stays a bytes value
    ds.add_new(0x00430010, "LO", "ACME")
    ds.add_new(0x00189339, "UN", b"\x05\x06")  # public tag stored as UN
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = b"\x00\x01\x02\x03"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path = tmp_path / "typed.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


# ---------------------------------------------------------------------------------------------
# Exceptions
# ---------------------------------------------------------------------------------------------


def test_exception_hierarchy():
    assert issubclass(DicomveilError, Exception)
    assert issubclass(InvalidDicomError, DicomveilError)
    assert issubclass(InvalidDicomError, ValueError)
    assert issubclass(UnsupportedTransferSyntaxError, InvalidDicomError)
    assert issubclass(UnsupportedDicomError, DicomveilError)
    assert issubclass(FileAccessError, DicomveilError)
    assert issubclass(FileAccessError, OSError)
    assert issubclass(ProfileError, DicomveilError)


def test_public_names_are_exported():
    for name in (
        "DicomFile",
        "Anonymizer",
        "ConfidentialityProfile",
        "ConfidentialityProfileOptions",
        "Action",
        "DicomveilError",
        "InvalidDicomError",
        "UnsupportedTransferSyntaxError",
        "UnsupportedDicomError",
        "FileAccessError",
        "ProfileError",
    ):
        assert name in dicomveil.__all__, name


# ---------------------------------------------------------------------------------------------
# DicomFile: opening
# ---------------------------------------------------------------------------------------------


def test_open_from_str_path_bytes_and_file_objects(ct_small: Path):
    data = ct_small.read_bytes()
    by_str = DicomFile.open(str(ct_small))
    by_path = DicomFile.open(ct_small)
    by_bytes = DicomFile.open(data)
    with ct_small.open("rb") as fh:
        by_file = DicomFile.open(fh)
    by_bytesio = DicomFile.open(io.BytesIO(data))
    names = {f["PatientName"] for f in (by_str, by_path, by_bytes, by_file, by_bytesio)}
    assert names == {"CompressedSamples^CT1"}
    blobs = {f.to_bytes() for f in (by_str, by_path, by_bytes, by_file, by_bytesio)}
    assert len(blobs) == 1


def test_transfer_syntax_uid(ct_small: Path, mr_small: Path):
    assert DicomFile.open(ct_small).transfer_syntax_uid == "1.2.840.10008.1.2.1"
    implicit = Path(pydicom.data.get_testdata_file("MR_small_implicit.dcm"))
    assert DicomFile.open(implicit).transfer_syntax_uid == "1.2.840.10008.1.2"
    big = Path(pydicom.data.get_testdata_file("MR_small_bigendian.dcm"))
    assert DicomFile.open(big).transfer_syntax_uid == "1.2.840.10008.1.2.2"
    rle = Path(pydicom.data.get_testdata_file("MR_small_RLE.dcm"))
    assert DicomFile.open(rle).transfer_syntax_uid == "1.2.840.10008.1.2.5"


def test_missing_file_raises_file_access_error(tmp_path: Path):
    missing = tmp_path / "no-such-file.dcm"
    with pytest.raises(FileAccessError) as info:
        DicomFile.open(missing)
    assert isinstance(info.value, OSError)
    assert "no-such-file.dcm" in str(info.value)


def test_directory_raises_file_access_error(tmp_path: Path):
    with pytest.raises(FileAccessError):
        DicomFile.open(tmp_path)


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"hello, world\n" * 40,
        b"\x00" * 128 + b"DICX" + b"\x00" * 64,
        b"\x00" * 128 + b"DICM",
        bytes(range(256)) * 4,
    ],
    ids=["empty", "text", "bad-magic", "magic-only", "binary-noise"],
)
def test_non_dicom_raises_invalid_dicom_error_naming_file(tmp_path: Path, blob: bytes):
    path = tmp_path / "not-a-dicom-file.bin"
    path.write_bytes(blob)
    with pytest.raises(InvalidDicomError) as info:
        DicomFile.open(path)
    assert isinstance(info.value, ValueError)
    assert "not-a-dicom-file.bin" in str(info.value)


def test_non_dicom_bytes_raise_invalid_dicom_error():
    with pytest.raises(InvalidDicomError):
        DicomFile.open(b"this is not DICOM at all, just some text" * 10)


@pytest.mark.parametrize("cut", [200, 1000, 5000, -100, -1])
def test_truncated_file_raises_invalid_dicom_error(tmp_path: Path, ct_small: Path, cut: int):
    data = ct_small.read_bytes()
    path = tmp_path / f"truncated_{cut}.dcm"
    path.write_bytes(data[:cut])
    with pytest.raises(InvalidDicomError) as info:
        DicomFile.open(path).to_bytes()
    assert path.name in str(info.value)


def test_length_past_end_of_file_raises_invalid_dicom_error(tmp_path: Path, ct_small: Path):
    data = bytearray(ct_small.read_bytes())
    # PatientName (0010,0010) PN: make its 2-byte length claim far more than the file holds
    pos = data.index(b"\x10\x00\x10\x00PN")
    struct.pack_into("<H", data, pos + 6, 0xFFF0)
    path = tmp_path / "length_past_eof.dcm"
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidDicomError) as info:
        DicomFile.open(path).to_bytes()
    assert "length_past_eof.dcm" in str(info.value)


def test_unknown_transfer_syntax_raises(tmp_path: Path):
    path = make_typed_file(tmp_path)
    data = path.read_bytes()
    old = b"1.2.840.10008.1.2.1\x00"
    assert data.count(old) == 1
    new = b"1.2.3.4.5.6.7.8.9.10"  # same length keeps every offset valid
    path2 = tmp_path / "unknown_ts.dcm"
    path2.write_bytes(data.replace(old, new))
    with pytest.raises(UnsupportedTransferSyntaxError) as info:
        DicomFile.open(path2).to_bytes()
    assert isinstance(info.value, InvalidDicomError)
    assert "unknown_ts.dcm" in str(info.value)
    assert "1.2.3.4.5.6.7.8.9.10" in str(info.value)


def test_dicomdir_is_refused():
    path = pydicom.data.get_testdata_file("DICOMDIR")
    with pytest.raises(UnsupportedDicomError) as info:
        Anonymizer(key=TEST_KEY).anonymize(DicomFile.open(path))
    assert "DICOMDIR" in str(info.value)


def _mutations(data: bytes, rng: random.Random, count: int):
    for _ in range(count):
        kind = rng.randrange(3)
        buf = bytearray(data)
        if kind == 0:
            yield bytes(buf[: rng.randrange(len(buf))])
        elif kind == 1:
            for _ in range(rng.randrange(1, 8)):
                buf[rng.randrange(len(buf))] = rng.randrange(256)
            yield bytes(buf)
        else:  # overwrite a 4-byte window with a big length
            pos = rng.randrange(128, len(buf) - 4)
            buf[pos : pos + 4] = struct.pack(
                "<I", rng.choice([0xFFFFFFFF, 0xFFFFFFF0, 0x7FFFFFFF, len(buf) * 2])
            )
            yield bytes(buf)


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "MR_small_RLE.dcm",
        "rtplan.dcm",
        "image_dfl.dcm",
        "test-SR.dcm",
        "UN_sequence.dcm",
        "ExplVR_BigEndNoMeta.dcm",
        "DICOMDIR",
    ],
)
def test_corrupted_input_never_panics(name: str):
    """Truncations, byte flips, huge lengths: it works or raises a DicomveilError, never panics."""
    data = Path(pydicom.data.get_testdata_file(name)).read_bytes()
    rng = random.Random(f"dicomveil-{name}")
    anon = Anonymizer(key=TEST_KEY)
    outcomes = {"ok": 0, "refused": 0}
    for blob in _mutations(data, rng, 300):
        try:
            f = DicomFile.open(blob)
            anon.anonymize(f).to_bytes()
            outcomes["ok"] += 1
        except DicomveilError:
            outcomes["refused"] += 1
        # anything else (pyo3's PanicException derives from BaseException) fails the test
    assert outcomes["refused"] > 0


# ---------------------------------------------------------------------------------------------
# DicomFile: element access
# ---------------------------------------------------------------------------------------------


def test_getitem_value_types(tmp_path: Path):
    f = DicomFile.open(make_typed_file(tmp_path))
    assert f["PatientName"] == "Doe^Jane"
    assert f[0x00100010] == "Doe^Jane"
    assert f["ImageType"] == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert f["SOPClassUID"] == CT_IMAGE_STORAGE
    assert f["StudyDate"] == "20200102"
    assert f["SliceThickness"] == "2.5"
    assert f["PixelSpacing"] == ["0.5", "0.25"]
    assert f["InstanceNumber"] == "7"
    assert f["Rows"] == 2 and type(f["Rows"]) is int
    assert f["AcquisitionMatrix"] == [0, 256, 256, 0]
    assert f["SmallestImagePixelValue"] == -3
    assert f["DiffusionBValue"] == 1000.5 and type(f["DiffusionBValue"]) is float
    assert f[0x00431028] == b"\x01\x02\x03\x04"
    assert f[0x00189339] == b"\x05\x06"
    assert f["PixelData"] == b"\x00\x01\x02\x03"
    assert f["AccessionNumber"] == ""  # empty text: an empty str
    assert f["WindowWidth"] == ""
    assert f["LargestImagePixelValue"] is None  # empty binary number: None


def test_getitem_strips_padding(ct_small: Path):
    f = DicomFile.open(ct_small)
    ds = pydicom.dcmread(ct_small)
    # odd-length values are padded with a space (text) or NUL (UI) in the file
    assert f["SOPInstanceUID"] == ds.SOPInstanceUID
    assert f["PatientID"] == ds.PatientID == "1CT1"


def test_getitem_missing_raises_key_error(ct_small: Path):
    f = DicomFile.open(ct_small)
    with pytest.raises(KeyError):
        f["OtherPatientNames"]
    with pytest.raises(KeyError):
        f[0x00101001]
    with pytest.raises(KeyError):
        f["NotADicomKeyword"]


def test_contains_and_iter(ct_small: Path):
    f = DicomFile.open(ct_small)
    ds = pydicom.dcmread(ct_small)
    assert "PatientID" in f
    assert 0x00100020 in f
    assert "OtherPatientNames" not in f
    assert 0x00101001 not in f
    tags = list(f)
    assert all(type(t) is int for t in tags)
    assert tags == [int(e.tag) for e in ds]  # top level, ascending as in the file, no meta
    assert tags == sorted(tags)


def test_setitem_and_delitem(ct_small: Path):
    f = DicomFile.open(ct_small)
    f["PatientID"] = "X"
    assert f["PatientID"] == "X"
    f["PatientComments"] = "added by a test"  # not in the file before
    assert f["PatientComments"] == "added by a test"
    f[0x00100010] = "Roe^Richard"
    del f["StudyID"]
    assert "StudyID" not in f
    with pytest.raises(KeyError):
        del f["StudyID"]
    ds = pydicom.dcmread(io.BytesIO(f.to_bytes()))
    assert ds.PatientID == "X"
    assert ds.PatientComments == "added by a test"
    assert ds["PatientComments"].VR == "LT"
    assert ds.PatientName == "Roe^Richard"
    assert "StudyID" not in ds
    assert list(f) == [int(e.tag) for e in ds]


def test_setitem_int_on_binary_element(ct_small: Path):
    f = DicomFile.open(ct_small)
    f["Rows"] = 64
    assert f["Rows"] == 64
    assert pydicom.dcmread(io.BytesIO(f.to_bytes())).Rows == 64


def test_uv_values_above_the_signed_range_round_trip(ct_small: Path):
    """A UV holds up to 2**64 - 1: set from Python and read back exactly (not wrapped)."""
    f = DicomFile.open(ct_small)
    tag = 0x00111001  # a private element, written with the VR given
    f.set(tag, [2**64 - 1, 5, 2**63], vr="UV")
    assert f[tag] == [2**64 - 1, 5, 2**63]
    ds = pydicom.dcmread(io.BytesIO(f.to_bytes()))
    assert list(ds[tag].value) == [2**64 - 1, 5, 2**63]
    with pytest.raises(OverflowError):
        f.set(tag, [2**64], vr="UV")


def test_repr(ct_small: Path):
    text = repr(DicomFile.open(ct_small))
    assert isinstance(text, str)
    assert "DicomFile" in text


# ---------------------------------------------------------------------------------------------
# DicomFile: writing
# ---------------------------------------------------------------------------------------------


def test_to_bytes_is_part10_and_preserves_everything(ct_small: Path):
    data = DicomFile.open(ct_small).to_bytes()
    assert data[128:132] == b"DICM"
    before = pydicom.dcmread(ct_small)
    after = pydicom.dcmread(io.BytesIO(data))
    assert after.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID
    assert after.file_meta.MediaStorageSOPInstanceUID == before.SOPInstanceUID
    assert [e.tag for e in after] == [e.tag for e in before if e.tag.element != 0]
    for elem in before:
        if elem.tag.element == 0:
            continue
        assert after[elem.tag].value == elem.value, elem.tag


def test_save_writes_the_same_bytes_as_to_bytes(tmp_path: Path, ct_small: Path):
    f = DicomFile.open(ct_small)
    out = tmp_path / "copy.dcm"
    f.save(out)
    assert out.read_bytes() == f.to_bytes()
    f.save(str(tmp_path / "copy2.dcm"))
    assert (tmp_path / "copy2.dcm").read_bytes() == f.to_bytes()


def test_save_replaces_existing_file(tmp_path: Path, ct_small: Path):
    out = tmp_path / "existing.dcm"
    out.write_bytes(b"old content")
    f = DicomFile.open(ct_small)
    f.save(out)
    assert out.read_bytes() == f.to_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.dcm"]


def test_failed_save_leaves_no_file(tmp_path: Path, ct_small: Path):
    f = DicomFile.open(ct_small)
    with pytest.raises(FileAccessError):
        f.save(tmp_path / "no-such-dir" / "out.dcm")
    assert list(tmp_path.iterdir()) == []
    # the target is a directory: the final rename fails, the temporary file must be gone
    target = tmp_path / "a-directory"
    target.mkdir()
    (target / "keep").write_bytes(b"")
    with pytest.raises(FileAccessError):
        f.save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-directory"]
    assert sorted(p.name for p in target.iterdir()) == ["keep"]


def test_bare_dataset_is_written_as_part10_implicit(tmp_path: Path, ct_small: Path):
    ds = pydicom.dcmread(ct_small)
    ds.file_meta = FileMetaDataset()
    ds.preamble = None
    bio = io.BytesIO()
    pydicom.dcmwrite(bio, ds, implicit_vr=True, little_endian=True, enforce_file_format=False)
    bare = bio.getvalue()
    assert bare[128:132] != b"DICM" and bare[:4] == b"\x08\x00\x05\x00"
    f = DicomFile.open(bare)
    assert f.transfer_syntax_uid == "1.2.840.10008.1.2"
    out = f.to_bytes()
    assert out[128:132] == b"DICM"
    again = pydicom.dcmread(io.BytesIO(out))
    assert again.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"
    assert again.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert again.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert again.PixelData == ds.PixelData


# ---------------------------------------------------------------------------------------------
# Anonymizer
# ---------------------------------------------------------------------------------------------


def test_anonymize_returns_new_file_and_leaves_input_unchanged(ct_small: Path):
    f = DicomFile.open(ct_small)
    before = f.to_bytes()
    out = Anonymizer(key=TEST_KEY).anonymize(f)
    assert isinstance(out, DicomFile)
    assert out is not f
    assert f.to_bytes() == before
    assert f["PatientName"] == "CompressedSamples^CT1"
    assert out["PatientName"] == ""
    assert out["SOPInstanceUID"] == map_uid(TEST_KEY, f["SOPInstanceUID"])


def test_anonymize_in_place(ct_small: Path):
    f = DicomFile.open(ct_small)
    uid = f["SOPInstanceUID"]
    Anonymizer(key=TEST_KEY).anonymize_in_place(f)
    assert f["PatientName"] == ""
    assert f["SOPInstanceUID"] == map_uid(TEST_KEY, uid)
    assert f["PatientIdentityRemoved"] == "YES"
    ds = pydicom.dcmread(io.BytesIO(f.to_bytes()))
    assert ds.file_meta.MediaStorageSOPInstanceUID == map_uid(TEST_KEY, uid)


def test_anonymize_output_is_deterministic_for_a_key(ct_small: Path):
    a = Anonymizer(key=TEST_KEY).anonymize(DicomFile.open(ct_small)).to_bytes()
    b = Anonymizer(key=TEST_KEY).anonymize(DicomFile.open(ct_small)).to_bytes()
    assert a == b


def test_key_str_is_its_utf8_bytes():
    uid = "1.2.826.0.1.3680043.8.498.12345"
    assert Anonymizer(key="une clé assez longue").map_uid(uid) == Anonymizer(
        key="une clé assez longue".encode()
    ).map_uid(uid)
    assert Anonymizer(key="une clé assez longue").map_uid(uid) == map_uid(
        "une clé assez longue".encode(), uid
    )


def test_map_uid_formula():
    anon = Anonymizer(key=TEST_KEY)
    for uid in ["1.2.3", "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322", "2.25.1"]:
        assert anon.map_uid(uid) == map_uid(TEST_KEY, uid)
        assert anon.map_uid(uid).startswith("2.25.")
        assert len(anon.map_uid(uid)) <= 64
    assert anon.map_uid("1.2.3\x00") == map_uid(TEST_KEY, "1.2.3")
    assert anon.map_uid("1.2.3 ") == map_uid(TEST_KEY, "1.2.3")


def test_map_uid_keeps_dicom_root():
    anon = Anonymizer(key=TEST_KEY)
    assert anon.map_uid(CT_IMAGE_STORAGE) == CT_IMAGE_STORAGE
    assert anon.map_uid("1.2.840.10008.1.2.1") == "1.2.840.10008.1.2.1"
    # only the root with its dot: 1.2.840.100080... is not under it
    assert anon.map_uid("1.2.840.100081.5") == map_uid(TEST_KEY, "1.2.840.100081.5")


def test_random_key_per_anonymizer():
    uid = generate_uid()
    a, b = Anonymizer(), Anonymizer()
    assert a.map_uid(uid) == a.map_uid(uid)
    assert a.map_uid(uid) != b.map_uid(uid)
    assert a.map_uid(uid).startswith("2.25.")


def test_different_keys_give_different_uids():
    uid = "1.2.826.0.1.3680043.8.498.777"
    first, second = Anonymizer(key=b"the first key!!!"), Anonymizer(key=b"the second key!!")
    assert first.map_uid(uid) != second.map_uid(uid)


def test_anonymize_pydicom_dataset(ct_small: Path):
    ds = pydicom.dcmread(ct_small)
    original_uid = ds.SOPInstanceUID
    out = Anonymizer(key=TEST_KEY).anonymize(ds)
    assert isinstance(out, Dataset)
    assert out is not ds
    assert ds.PatientName == "CompressedSamples^CT1"  # input untouched
    assert out.PatientName == ""
    assert out.SOPInstanceUID == map_uid(TEST_KEY, original_uid)
    assert out.PatientIdentityRemoved == "YES"
    assert out.PixelData == ds.PixelData
    assert not any(e.tag.is_private for e in out)
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert out.file_meta.TransferSyntaxUID == ds.file_meta.TransferSyntaxUID
    assert ds.file_meta.MediaStorageSOPInstanceUID == original_uid  # input's meta untouched


def test_anonymize_pydicom_dataset_in_place(ct_small: Path):
    ds = pydicom.dcmread(ct_small)
    original_uid = ds.SOPInstanceUID
    pixels = ds.PixelData
    Anonymizer(key=TEST_KEY).anonymize_in_place(ds)
    assert ds.PatientName == ""
    assert ds.SOPInstanceUID == map_uid(TEST_KEY, original_uid)
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.PixelData == pixels
    assert not any(e.tag.is_private for e in ds)
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


# ---------------------------------------------------------------------------------------------
# Profiles
# ---------------------------------------------------------------------------------------------


def test_action_letters_exist():
    for letter in ("X", "Z", "D", "K", "C", "U"):
        assert hasattr(Action, letter)


def test_default_profile_equals_no_profile(ct_small: Path):
    basic = ConfidentialityProfile.create_default(ConfidentialityProfileOptions.BASIC_PROFILE)
    a = Anonymizer(profile=basic, key=TEST_KEY).anonymize(DicomFile.open(ct_small)).to_bytes()
    b = Anonymizer(key=TEST_KEY).anonymize(DicomFile.open(ct_small)).to_bytes()
    assert a == b
    assert len(basic) > 0


def test_custom_profile_mapping_protocol():
    p = ConfidentialityProfile.empty()
    assert len(p) == 0
    assert list(p) == []
    p["0010,0010"] = Action.Z
    p["PatientID"] = "X"
    assert len(p) == 2
    assert len(list(iter(p))) == 2
    del p["0010,0010"]
    assert len(p) == 1
    with pytest.raises(KeyError):
        del p["0010,0010"]


def test_custom_profile_rejects_bad_rules():
    p = ConfidentialityProfile.empty()
    with pytest.raises(ProfileError):
        p["PatientName"] = "Q"
    with pytest.raises(ProfileError):
        p["NotADicomKeyword"] = Action.X
    with pytest.raises(ProfileError):
        p["zzzz,0010"] = Action.X
    assert len(p) == 0


def test_custom_profile_applies_only_its_rules(tmp_path: Path):
    path = make_typed_file(tmp_path)
    p = ConfidentialityProfile.empty()
    p["0010,0010"] = Action.Z
    p["PatientID"] = "X"
    p["StudyDate"] = Action.D
    p["0008,0018"] = Action.U
    before = pydicom.dcmread(path)
    out = Anonymizer(profile=p, key=TEST_KEY).anonymize(DicomFile.open(path))
    after = pydicom.dcmread(io.BytesIO(out.to_bytes()))
    assert after.PatientName == ""
    assert after.PatientID == ""  # X, but Type 2 in the CT Image IOD: emptied
    assert after.StudyDate == "19000101"
    assert after.SOPInstanceUID == map_uid(TEST_KEY, before.SOPInstanceUID)
    assert after.file_meta.MediaStorageSOPInstanceUID == after.SOPInstanceUID
    # four rules: far weaker than the Basic profile, and the markers say so
    assert after.PatientIdentityRemoved == "NO"
    assert after.DeidentificationMethod[1] == "custom profile"
    assert "DeidentificationMethodCodeSequence" not in after
    # no rule names them: kept, private block included
    for kw in (
        "ImageType",
        "PixelSpacing",
        "SliceThickness",
        "AcquisitionMatrix",
        "DiffusionBValue",
        "PixelData",
    ):
        assert after[kw].value == before[kw].value, kw
    assert after[0x00431028].value == before[0x00431028].value
    assert after[0x00430010].value == "ACME"
