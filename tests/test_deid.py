"""Standard-grade de-identification (issue 4): keyed values, modified dates, cleaning,
safe private attributes, the retain options, the burned-in annotation guard, pseudonyms.

Inputs are built with pydicom, and pydicom reads the outputs back. Expected values come from
the standard (PS3.15 Table E.1-1 and E.3.10-1, the CSVs shipped in the package, read here with
the csv module), from the HMAC formula for UIDs, and from the texts written in each test.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import functools
import hmac
import io
import json
import os
import re
import struct
import subprocess
import sys
import traceback
import warnings
from pathlib import Path

import dicomveil
import pydicom
import pytest
from dicomveil import (
    Anonymizer,
    BurnedInAnnotationError,
    BurnedInAnnotationWarning,
    ConfidentialityProfile,
    ConfidentialityProfileOptions,
    DicomFile,
    Pseudonym,
)
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

O = ConfidentialityProfileOptions  # noqa: E741
KEY = b"deid-test-key-7Q"
OTHER_KEY = b"deid-test-key-other"
ROOT = "1.2.826.0.1.3680043.8.498.7777"
CT = "1.2.840.10008.5.1.4.1.1.2"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
ULTRASOUND = "1.2.840.10008.5.1.4.1.1.6.1"
DATA = Path(dicomveil.__file__).resolve().parent / "data"
REMOVED = "[REMOVED]"
HEX16 = re.compile(r"[0-9A-F]{16}")

# Tags used below
OVERLAY_ROWS = 0x60000010
OVERLAY_DATA = 0x60003000
OVERLAY_LABEL = 0x60001500
OVERLAY_COMMENTS = 0x60004000
CURVE_DESCRIPTION = 0x50000022
CURVE_DATA = 0x50003000
LONGITUDINAL = "LongitudinalTemporalInformationModified"


# ---------------------------------------------------------------------------------------------
# Building inputs, running dicomveil, reading outputs
# ---------------------------------------------------------------------------------------------


def dataset(
    patient_id: str = "PID-1001",
    name: str = "Doe^John",
    *,
    sop_class: str = CT,
    sop: str = f"{ROOT}.30.1",
    charset: str | None = None,
    **attrs: object,
) -> Dataset:
    """A small instance of a patient; ``attrs`` are set by keyword after the basics."""
    ds = Dataset()
    if charset is not None:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = f"{ROOT}.10.1"
    ds.SeriesInstanceUID = f"{ROOT}.20.1"
    ds.FrameOfReferenceUID = f"{ROOT}.40.1"
    ds.PatientName = name
    ds.PatientID = patient_id
    ds.PatientBirthDate = "19700215"
    ds.Modality = "CT"
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    return ds


def to_bytes(ds: Dataset) -> bytes:
    """A Part 10 file (explicit VR little endian) of ``ds``."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def profile_of(options: int = O.BASIC_PROFILE) -> ConfidentialityProfile:
    return ConfidentialityProfile.create_default(options)


def deid_bytes(
    data: bytes | Dataset,
    options: int = O.BASIC_PROFILE,
    *,
    profile: ConfidentialityProfile | None = None,
    anonymizer: Anonymizer | None = None,
    key: bytes | str = KEY,
) -> bytes:
    """dicomveil's output file for ``data``."""
    if isinstance(data, Dataset):
        data = to_bytes(data)
    if anonymizer is None:
        anonymizer = Anonymizer(profile if profile is not None else profile_of(options), key=key)
    return anonymizer.anonymize(DicomFile.open(data)).to_bytes()


def deid(data: bytes | Dataset, options: int = O.BASIC_PROFILE, **kwargs) -> Dataset:
    """dicomveil's output for ``data``, read back by pydicom."""
    return pydicom.dcmread(io.BytesIO(deid_bytes(data, options, **kwargs)))


def raw_value(data: bytes, tag: int) -> bytes:
    """The value bytes of a top-level element as stored (padding included)."""
    elem = pydicom.dcmread(io.BytesIO(data)).get_item(tag)
    assert elem is not None, f"({tag >> 16:04X},{tag & 0xFFFF:04X}) missing"
    return bytes(elem.value)


def padded(value: bytes) -> bytes:
    """A text value padded to even length with a space, as stored."""
    return value + b" " * (len(value) % 2)


def text_bytes(raw: bytes) -> bytes:
    """A stored text value without its trailing spaces (not significant in SH, LO, ST, LT)."""
    assert len(raw) % 2 == 0
    return raw.rstrip(b" ")


def hmac_uid(key: bytes, uid: str) -> str:
    digest = hmac.new(key, uid.encode(), "sha256").digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def days_back(original: str, shifted: str) -> int:
    """Whole days from ``shifted`` back to ``original`` (both start with YYYYMMDD)."""
    a = dt.datetime.strptime(original[:8], "%Y%m%d").date()
    b = dt.datetime.strptime(shifted[:8], "%Y%m%d").date()
    return (a - b).days


def codes(ds: Dataset) -> list[str]:
    return [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]


def code_item(value: str, scheme: str, meaning: str) -> Dataset:
    c = Dataset()
    c.CodeValue = value
    c.CodingSchemeDesignator = scheme
    c.CodeMeaning = meaning
    return c


# ---------------------------------------------------------------------------------------------
# 1. Keyed mapping
# ---------------------------------------------------------------------------------------------

KEYED_OPTIONS = O.RETAIN_LONG_MODIF_DATES | O.CLEAN_DESC | O.RETAIN_DEVICE_IDENT


def keyed_input(patient_id: str = "PID-1001", name: str = "Doe^John", n: int = 1) -> Dataset:
    """An instance with UIDs at several depths, dates, an AE title and a description."""
    ref = Dataset()
    ref.ReferencedSOPClassUID = CT
    ref.ReferencedSOPInstanceUID = f"{ROOT}.31.{n}"
    return dataset(
        patient_id,
        name,
        sop=f"{ROOT}.30.{n}",
        StudyDate="20200301",
        ContentDate="20200302",
        AcquisitionDateTime="20200301123000",
        StationAETitle="CT_ROOM_1",
        StudyDescription=f"CT chest {name.replace('^', ' ')}",
        ReferencedImageSequence=Sequence([ref]),
        FailedSOPInstanceUIDList=[f"{ROOT}.50.{n}", f"{ROOT}.51.{n}"],
    )


def keyed_profile() -> ConfidentialityProfile:
    p = profile_of(KEYED_OPTIONS)
    p.patient_id = Pseudonym()
    p.patient_name = Pseudonym()
    # carried out literally, so that the keyed values sit at every depth: resolved by the CT
    # Image IOD, its Referenced Image Sequence (X/Z/U*, Type 3) would be removed
    p.conform_to_iod = False
    return p


def keyed_summary(ds: Dataset) -> dict[str, object]:
    """The derived values of a keyed_input output."""
    return {
        "uids": [
            ds.SOPInstanceUID,
            ds.StudyInstanceUID,
            ds.SeriesInstanceUID,
            ds.FrameOfReferenceUID,
            ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID,
            list(ds.FailedSOPInstanceUIDList),
        ],
        "offset": days_back("20200301", ds.StudyDate),
        "patient_id": ds.PatientID,
        "patient_name": str(ds.PatientName),
        "ae": ds.StationAETitle,
    }


@pytest.mark.parametrize("key", [KEY, KEY.decode(), bytearray(KEY)], ids=["bytes", "str", "ba"])
def test_key_as_bytes_or_str_gives_the_same_output(key: bytes | str) -> None:
    expected = deid_bytes(keyed_input(), profile=keyed_profile(), key=KEY)
    assert deid_bytes(keyed_input(), profile=keyed_profile(), key=key) == expected


@pytest.mark.parametrize("ending", [b"", b"\n", b"\r\n"], ids=["bare", "lf", "crlf"])
def test_key_file_equals_the_key_without_its_trailing_newline(
    tmp_path: Path, ending: bytes
) -> None:
    key_file = tmp_path / "site.key"
    key_file.write_bytes(KEY + ending)
    expected = deid_bytes(keyed_input(), profile=keyed_profile(), key=KEY)
    anon = Anonymizer(keyed_profile(), key_file=key_file)
    assert deid_bytes(keyed_input(), anonymizer=anon) == expected
    anon_str = Anonymizer(keyed_profile(), key_file=str(key_file))
    assert deid_bytes(keyed_input(), anonymizer=anon_str) == expected


def test_key_file_keeps_other_trailing_bytes(tmp_path: Path) -> None:
    """Only one newline is removed: a key ending in a space or two newlines is another key."""
    expected = deid_bytes(keyed_input(), profile=keyed_profile(), key=KEY)
    for tail in (b" ", b"\n\n"):
        key_file = tmp_path / "site.key"
        key_file.write_bytes(KEY + tail)
        out = deid_bytes(keyed_input(), anonymizer=Anonymizer(keyed_profile(), key_file=key_file))
        assert out != expected


def test_keyed_values_are_deterministic_across_instances() -> None:
    a = deid_bytes(keyed_input(), profile=keyed_profile())
    b = deid_bytes(keyed_input(), profile=keyed_profile())
    assert a == b
    ds = pydicom.dcmread(io.BytesIO(a))
    s = keyed_summary(ds)
    assert s["uids"] == [
        hmac_uid(KEY, f"{ROOT}.30.1"),
        hmac_uid(KEY, f"{ROOT}.10.1"),
        hmac_uid(KEY, f"{ROOT}.20.1"),
        hmac_uid(KEY, f"{ROOT}.40.1"),
        hmac_uid(KEY, f"{ROOT}.31.1"),
        [hmac_uid(KEY, f"{ROOT}.50.1"), hmac_uid(KEY, f"{ROOT}.51.1")],
    ]
    assert ds.file_meta.MediaStorageSOPInstanceUID == hmac_uid(KEY, f"{ROOT}.30.1")
    assert ds.SOPClassUID == CT  # under the DICOM root: never mapped
    assert 1 <= s["offset"] <= 3650
    assert HEX16.fullmatch(s["patient_id"])
    assert re.fullmatch(r"ANONYMOUS\^[0-9A-Fa-f]{16}", s["patient_name"])
    assert HEX16.fullmatch(s["ae"])


_CHILD = """
import os, sys
from dicomveil import Anonymizer, ConfidentialityProfile, Pseudonym
p = ConfidentialityProfile.create_default(int(sys.argv[3]))
p.conform_to_iod = sys.argv[4] == "conform"
p.patient_id = Pseudonym()
p.patient_name = Pseudonym()
key = bytes.fromhex(os.environ["DEID_TEST_KEY_HEX"])
Anonymizer(p, key=key).anonymize_file(sys.argv[1], sys.argv[2])
"""


def run_child(src: Path, dst: Path, key: bytes, options: int, *, conform: bool = True) -> None:
    env = dict(os.environ, DEID_TEST_KEY_HEX=key.hex())
    how = "conform" if conform else "literal"
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(src), str(dst), str(int(options)), how],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_same_key_in_two_processes_gives_byte_identical_files(tmp_path: Path) -> None:
    sources = []
    for i, (pid, name) in enumerate([("PID-1001", "Doe^John"), ("PID-2002", "Roe^Jane")]):
        src = tmp_path / f"in{i}.dcm"
        src.write_bytes(to_bytes(keyed_input(pid, name, n=i + 1)))
        sources.append(src)
    for i, src in enumerate(sources):
        here = tmp_path / f"here{i}.dcm"
        Anonymizer(keyed_profile(), key=KEY).anonymize_file(src, here)
        first, second = tmp_path / f"child{i}a.dcm", tmp_path / f"child{i}b.dcm"
        run_child(src, first, KEY, KEYED_OPTIONS, conform=False)
        run_child(src, second, KEY, KEYED_OPTIONS, conform=False)
        assert first.read_bytes() == here.read_bytes()
        assert second.read_bytes() == here.read_bytes()
        # and the in-memory path writes the same file
        assert deid_bytes(src.read_bytes(), profile=keyed_profile()) == here.read_bytes()
    other = tmp_path / "other.dcm"
    run_child(sources[0], other, OTHER_KEY, KEYED_OPTIONS, conform=False)
    assert other.read_bytes() != (tmp_path / "here0.dcm").read_bytes()


def test_a_different_key_changes_every_derived_value() -> None:
    patients = [(f"PID-{i:04d}", f"Patient{i}^Test") for i in range(6)]
    a = [keyed_summary(deid(keyed_input(*p), profile=keyed_profile())) for p in patients]
    b = [
        keyed_summary(deid(keyed_input(*p), profile=keyed_profile(), key=OTHER_KEY))
        for p in patients
    ]
    for x, y in zip(a, b, strict=True):
        assert all(u != v for u, v in zip(x["uids"][:5], y["uids"][:5], strict=True))
        assert x["uids"][5][0] != y["uids"][5][0] and x["uids"][5][1] != y["uids"][5][1]
        assert x["patient_id"] != y["patient_id"]
        assert x["patient_name"] != y["patient_name"]
        assert x["ae"] != y["ae"]
    # offsets are 1..3650: one patient may collide by chance, six cannot all
    assert sum(x["offset"] != y["offset"] for x, y in zip(a, b, strict=True)) >= 5
    assert b[0]["uids"][0] == hmac_uid(OTHER_KEY, f"{ROOT}.30.1")


def test_uid_map_is_exactly_what_was_mapped() -> None:
    anon = Anonymizer(keyed_profile(), key=KEY, keep_uid_map=True)
    assert anon.uid_map() == {}
    deid_bytes(keyed_input(n=1), anonymizer=anon)
    deid_bytes(keyed_input("PID-2002", "Roe^Jane", n=2), anonymizer=anon)
    olds = {f"{ROOT}.10.1", f"{ROOT}.20.1", f"{ROOT}.40.1"}
    for n in (1, 2):
        olds |= {f"{ROOT}.30.{n}", f"{ROOT}.31.{n}", f"{ROOT}.50.{n}", f"{ROOT}.51.{n}"}
    mapping = anon.uid_map()
    assert mapping == {old: hmac_uid(KEY, old) for old in olds}
    # map_uid agrees, and leaves standard UIDs alone
    for old, new in mapping.items():
        assert anon.map_uid(old) == new
    assert anon.map_uid(CT) == CT
    # a copy: changing it changes nothing
    mapping.clear()
    assert len(anon.uid_map()) == len(olds)


def test_uid_map_survives_a_profile_change() -> None:
    p = keyed_profile()
    anon = Anonymizer(p, key=KEY, keep_uid_map=True)
    deid_bytes(keyed_input(n=1), anonymizer=anon)
    p.patient_id = "SUBJECT-1"  # a new engine is built for the next file
    deid_bytes(keyed_input(n=2), anonymizer=anon)
    assert f"{ROOT}.30.1" in anon.uid_map() and f"{ROOT}.30.2" in anon.uid_map()


def test_uid_map_is_empty_without_keep_uid_map() -> None:
    """Opt-in: a run of millions of files would otherwise hold millions of UIDs."""
    anon = Anonymizer(keyed_profile(), key=KEY)
    out = deid(keyed_input(), anonymizer=anon)
    assert out.SOPInstanceUID == hmac_uid(KEY, f"{ROOT}.30.1")
    assert anon.uid_map() == {}
    assert anon.map_uid(f"{ROOT}.10.1") == hmac_uid(KEY, f"{ROOT}.10.1")
    assert anon.uid_map() == {}


def test_an_empty_key_file_is_refused(tmp_path: Path) -> None:
    for content in (b"", b"\n"):
        key_file = tmp_path / "empty.key"
        key_file.write_bytes(content)
        with pytest.raises(dicomveil.FileAccessError, match="empty"):
            Anonymizer(key_file=key_file)


@pytest.mark.parametrize("key", [b"", ""], ids=["bytes", "str"])
def test_an_empty_key_is_refused(key: bytes | str) -> None:
    with pytest.raises(ValueError):
        Anonymizer(key=key)


SECRET = "Kx9-SECRET-c0ffee-DEID"


def _leaks(text: str) -> bool:
    key = SECRET.encode()
    forms = [SECRET, key.hex(), key.hex().upper(), base64.b64encode(key).decode(), repr(key)]
    return any(f in text for f in forms)


def test_the_key_never_appears_in_repr_errors_warnings_or_audit(tmp_path: Path) -> None:
    key_file = tmp_path / "k.key"
    key_file.write_text(SECRET + "\n")
    anonymizers = [
        Anonymizer(key=SECRET),
        Anonymizer(key=SECRET.encode()),
        Anonymizer(keyed_profile(), key_file=key_file),
    ]
    for anon in anonymizers:
        assert not _leaks(repr(anon))
        assert not _leaks(str(anon))
    src = tmp_path / "src"
    src.mkdir()
    good = to_bytes(keyed_input())
    (src / "good.dcm").write_bytes(good)
    (src / "sc.dcm").write_bytes(to_bytes(dataset(sop_class=SECONDARY_CAPTURE, sop=f"{ROOT}.9")))
    (src / "cut.dcm").write_bytes(good[: len(good) - 7])
    (src / "text.txt").write_text("not dicom")

    errors: list[BaseException] = []

    def catch(fn, *args, **kwargs) -> None:
        try:
            fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - every error is checked below
            errors.append(e)

    refusing = Anonymizer(key=SECRET, burned_in="refuse")
    catch(refusing.anonymize, DicomFile.open(src / "sc.dcm"))
    catch(refusing.anonymize_file, src / "sc.dcm", tmp_path / "o.dcm")
    catch(anonymizers[0].anonymize_file, src / "cut.dcm", tmp_path / "o.dcm")
    catch(anonymizers[0].anonymize_file, tmp_path / "missing.dcm", tmp_path / "o.dcm")
    catch(anonymizers[2].anonymize_tree, src, tmp_path / "raise", on_error="raise")
    catch(refusing.anonymize_tree, src / "sc.dcm", tmp_path / "raise2", on_error="raise")
    catch(Anonymizer, key=SECRET, burned_in="sometimes")
    catch(Anonymizer, key=SECRET, key_file=key_file)
    assert [type(e).__name__ for e in errors] == [
        "BurnedInAnnotationError",
        "BurnedInAnnotationError",
        "InvalidDicomError",
        "FileAccessError",
        "InvalidDicomError",
        "BurnedInAnnotationError",
        "ValueError",
        "ValueError",
    ]
    for e in errors:
        text = "".join(traceback.format_exception_only(type(e), e)) + repr(e) + repr(e.args)
        assert not _leaks(text), text

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Anonymizer(key=SECRET).anonymize(DicomFile.open(src / "sc.dcm"))
    assert caught and not any(_leaks(str(w.message)) for w in caught)

    for i, anon in enumerate(anonymizers):
        audit = tmp_path / f"audit{i}.jsonl"
        report = anon.anonymize_tree(src, tmp_path / f"out{i}", audit=audit)
        assert [f.status for f in sorted(report.files, key=lambda f: f.source)] == [
            "refused",
            "done",
            "done",
            "skipped",
        ]
        text = audit.read_text(encoding="utf-8")
        assert len(text.splitlines()) == 4
        assert not _leaks(text)
        assert not _leaks(repr(report)) and not _leaks(report.summary())


# ---------------------------------------------------------------------------------------------
# 2. RETAIN_LONG_MODIF_DATES
# ---------------------------------------------------------------------------------------------

# Table E.1-1 as the package ships it, read with the csv module.


@functools.lru_cache(maxsize=1)
def _table_rows() -> tuple[dict[str, str], ...]:
    path = DATA / "table_e1_1_2024c.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        lines = [line for line in fh if not line.startswith("#")]
    return tuple(csv.DictReader(lines, delimiter=";"))


def _row(keyword: str) -> dict[str, str]:
    (row,) = [r for r in _table_rows() if r["keyword"] == keyword]
    return row


DATE_ATTRS = {
    # keyword: (VR, original value)
    "StudyDate": ("DA", "20200301"),
    "SeriesDate": ("DA", "20200302"),
    "ContentDate": ("DA", "20200303"),
    "AcquisitionDate": ("DA", "20200301"),
    "InstanceCreationDate": ("DA", "20200310"),
    "AcquisitionDateTime": ("DT", "20200301123000.5+0100"),
}
TIME_ATTRS = {"StudyTime": "101010", "SeriesTime": "101500.25", "AcquisitionTime": "101010"}


def test_the_table_says_c_for_the_dates_used_and_z_for_the_birth_date() -> None:
    for keyword in [*DATE_ATTRS, *TIME_ATTRS, "RadiopharmaceuticalStartDateTime"]:
        assert _row(keyword)["rtn_long_modif_dates_opt"] == "C", keyword
        assert _row(keyword)["rtn_long_full_dates_opt"] == "K", keyword
    # PatientBirthDate is not in that column: the option leaves it to the Basic profile (Z)
    birth = _row("PatientBirthDate")
    assert (birth["basic_profile"], birth["rtn_long_modif_dates_opt"]) == ("Z", "")


def dated_instance(patient_id: str, name: str, n: int, day_shift: int = 0) -> Dataset:
    """An instance whose dates are DATE_ATTRS moved ``day_shift`` days later."""
    attrs: dict[str, object] = {}
    for keyword, (_vr, value) in DATE_ATTRS.items():
        d = dt.datetime.strptime(value[:8], "%Y%m%d").date() + dt.timedelta(days=day_shift)
        attrs[keyword] = d.strftime("%Y%m%d") + value[8:]
    attrs.update(TIME_ATTRS)
    radio = Dataset()
    radio.RadiopharmaceuticalStartDateTime = attrs["AcquisitionDateTime"]
    radio.RadionuclideTotalDose = "350000000"
    attrs["RadiopharmaceuticalInformationSequence"] = Sequence([radio])
    return dataset(patient_id, name, sop=f"{ROOT}.30.{n}", **attrs)


def offsets_of(original: Dataset, out: Dataset) -> dict[str, int]:
    found = {k: days_back(getattr(original, k), getattr(out, k)) for k in DATE_ATTRS}
    found["RadiopharmaceuticalStartDateTime"] = days_back(
        original.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartDateTime,
        out.RadiopharmaceuticalInformationSequence[0].RadiopharmaceuticalStartDateTime,
    )
    return found


def test_modified_dates_move_by_one_offset_per_patient() -> None:
    anon = Anonymizer(profile_of(O.RETAIN_LONG_MODIF_DATES), key=KEY)
    patients = [(f"PAT-{i:03d}", f"Person{i}^Test") for i in range(8)]
    per_patient: list[int] = []
    for p, (pid, name) in enumerate(patients):
        # two files of the patient, with different dates (a follow-up 40 days later)
        first_in = dated_instance(pid, name, n=2 * p, day_shift=0)
        second_in = dated_instance(pid, name, n=2 * p + 1, day_shift=40)
        first = deid(first_in, anonymizer=anon)
        second = deid(second_in, anonymizer=anon)
        offs = {*offsets_of(first_in, first).values(), *offsets_of(second_in, second).values()}
        assert len(offs) == 1, (pid, offs)
        (offset,) = offs
        assert 1 <= offset <= 3650
        per_patient.append(offset)
        # intervals stay true
        assert days_back(second.StudyDate, first.StudyDate) == 40
        # times stay, DT keeps its time part and offset
        for keyword, value in TIME_ATTRS.items():
            assert getattr(first, keyword) == value
        assert first.AcquisitionDateTime[8:] == "123000.5+0100"
        assert second.AcquisitionDateTime[8:] == "123000.5+0100"
        # the birth date follows the Basic profile (Z), as the table says
        assert first.PatientBirthDate == ""
        assert "PatientBirthDate" in first
        assert first.RadiopharmaceuticalInformationSequence[0].RadionuclideTotalDose == "350000000"
        assert first[LONGITUDINAL].value == "MODIFIED"
    # another patient, another offset (one chance collision among eight is tolerated)
    assert len(set(per_patient)) >= len(patients) - 1
    assert per_patient[0] != per_patient[1] or per_patient[0] != per_patient[2]


def test_the_offset_is_the_same_in_another_anonymizer_and_keyed_by_patient_id() -> None:
    a = deid(dated_instance("PAT-1", "One^Test", 1), O.RETAIN_LONG_MODIF_DATES)
    b = deid(dated_instance("PAT-1", "Other^Name", 2), O.RETAIN_LONG_MODIF_DATES)
    assert a.StudyDate == b.StudyDate  # same PatientID: same offset whatever the name


def test_without_a_patient_id_the_name_keys_the_offset() -> None:
    a = deid(dated_instance("", "One^Test", 1), O.RETAIN_LONG_MODIF_DATES)
    b = deid(dated_instance("", "One^Test", 2), O.RETAIN_LONG_MODIF_DATES)
    others = {
        deid(dated_instance("", f"Other{i}^Test", 3 + i), O.RETAIN_LONG_MODIF_DATES).StudyDate
        for i in range(4)
    }
    assert a.StudyDate == b.StudyDate
    assert len(others | {a.StudyDate}) >= 4


def test_full_dates_keep_dates_and_say_unmodified() -> None:
    original = dated_instance("PAT-1", "One^Test", 1)
    out = deid(original, O.RETAIN_LONG_FULL_DATES)
    for keyword in DATE_ATTRS:
        assert getattr(out, keyword) == getattr(original, keyword), keyword
    for keyword, value in TIME_ATTRS.items():
        assert getattr(out, keyword) == value
    assert out[LONGITUDINAL].value == "UNMODIFIED"
    assert "113106" in codes(out)


def test_both_date_options_shift_and_say_modified() -> None:
    """The higher bit (RETAIN_LONG_MODIF_DATES) wins where both name an attribute."""
    original = dated_instance("PAT-1", "One^Test", 1)
    out = deid(original, O.RETAIN_LONG_FULL_DATES | O.RETAIN_LONG_MODIF_DATES)
    alone = deid(original, O.RETAIN_LONG_MODIF_DATES)
    assert len(set(offsets_of(original, out).values())) == 1
    assert out.StudyDate == alone.StudyDate
    assert out[LONGITUDINAL].value == "MODIFIED"


def test_without_date_options_dates_are_removed() -> None:
    original = dated_instance("PAT-1", "One^Test", 1)
    out = deid(original)
    assert out[LONGITUDINAL].value == "REMOVED"
    # resolved by the CT Image IOD's types (PS3.3 A.3)
    assert out.StudyDate == ""  # Z, Type 2 (General Study)
    assert out.ContentDate == ""  # Z/D, Type 2C (General Image): Z
    assert "AcquisitionDate" not in out  # X/Z, Type 3: X
    assert "AcquisitionDateTime" not in out  # X/Z/D, Type 3: X
    assert "InstanceCreationDate" not in out  # X/D, Type 3 (SOP Common): X
    assert "RadiopharmaceuticalStartDateTime" not in out.RadiopharmaceuticalInformationSequence[0]
    assert out.StudyTime == ""  # Z
    # carried out literally: the compound codes' fixed choices
    literal = profile_of()
    literal.conform_to_iod = False
    out = deid(original, profile=literal)
    assert out[LONGITUDINAL].value == "REMOVED"
    assert out.StudyDate == ""  # Z
    assert out.ContentDate == "19000101"  # Z/D -> D
    assert out.AcquisitionDate == ""  # X/Z -> Z
    assert out.AcquisitionDateTime == "19000101000000"  # X/Z/D -> D
    assert out.InstanceCreationDate == "19000101"  # X/D -> D


# ---------------------------------------------------------------------------------------------
# 3. CLEAN_DESC
# ---------------------------------------------------------------------------------------------

IDENTITY = {
    "AccessionNumber": "ACC123456",
    "InstitutionName": "General Hospital",
    "ReferringPhysicianName": "House^Gregory",
}

# keyword: (text written, text expected); the patient is Doe^John, PID-1001, born 19700215
CLEANED_ASCII = {
    "StudyDescription": ("CT chest Doe^John", "CT chest [REMOVED]"),
    "SeriesDescription": ("AX 5mm John Doe", "AX 5mm [REMOVED]"),
    "ProtocolName": ("JOHN DOE protocol", "[REMOVED] protocol"),
    "PerformedProcedureStepDescription": (
        "pt PID-1001 acc ACC123456",
        "pt [REMOVED] acc [REMOVED]",
    ),
    "ImageComments": (
        "Born 1970-02-15 (15/02/1970), seen at General Hospital by Dr House; "
        "Johnson and Doefield are not him.",
        "Born [REMOVED] ([REMOVED]), seen at [REMOVED] by Dr [REMOVED]; "
        "Johnson and Doefield are not him.",
    ),
    "AdditionalPatientHistory": ("Referred by Gregory House", "Referred by [REMOVED]"),
    "PatientComments": ("doe, john: no contrast", "[REMOVED], [REMOVED]: no contrast"),
    "RequestedProcedureDescription": ("dOe JoHn knee", "[REMOVED] knee"),
}
UNTOUCHED = {
    "StudyComments": "Knee MRI w/o contrast, 3 sequences; Johnson technique",
    "DerivationDescription": "Lossy x10 (Doefield filter)",
    "ClinicalTrialSeriesDescription": "Arm B",  # odd length: padded
    "AcquisitionComments": "Protocol v2 by Johnsonville",  # "john" inside a longer word
}


def test_the_table_says_c_for_the_descriptions_used() -> None:
    for keyword in [*CLEANED_ASCII, *UNTOUCHED, "StructureSetLabel"]:
        assert _row(keyword)["clean_desc_opt"] == "C", keyword


def test_clean_desc_removes_each_identifying_value_and_keeps_the_rest() -> None:
    attrs = {k: v for k, (v, _) in CLEANED_ASCII.items()}
    out = deid(dataset(**IDENTITY, **attrs, **UNTOUCHED), O.CLEAN_DESC)
    got = {k: getattr(out, k) for k in CLEANED_ASCII}
    assert got == {k: v for k, (_, v) in CLEANED_ASCII.items()}
    assert "113105" in codes(out)


def test_text_with_no_identifying_value_is_byte_identical() -> None:
    data = to_bytes(dataset(**IDENTITY, **UNTOUCHED))
    out = deid_bytes(data, O.CLEAN_DESC)
    for keyword in UNTOUCHED:
        tag = pydicom.datadict.tag_for_keyword(keyword)
        assert raw_value(out, tag) == raw_value(data, tag), keyword
        assert raw_value(out, tag) == padded(UNTOUCHED[keyword].encode()), keyword


def test_without_clean_desc_the_descriptions_are_removed() -> None:
    attrs = {k: v for k, (v, _) in CLEANED_ASCII.items()}
    out = deid(dataset(**IDENTITY, **attrs, **UNTOUCHED), O.BASIC_PROFILE)
    for keyword in ("StudyDescription", "SeriesDescription", "ImageComments", "StudyComments"):
        assert keyword not in out  # X
    assert "ProtocolName" not in out  # X/D, Type 3 in the CT Image IOD: X
    # X/Z, and the CT Image IOD does not list it: the fixed choice Z
    assert out.RequestedProcedureDescription == ""


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        # accents in the file, none in the text
        ("Müller^José", "Contrôle genou JOSE MULLER", "Contrôle genou [REMOVED]"),
        ("Müller^José", "müller, suivi", "[REMOVED], suivi"),
        ("Müller^José", "Examen de José Müller à 10h", "Examen de [REMOVED] à 10h"),
        # none in the file, accents in the text
        ("Muller^Jose", "Suivi José MÜLLER", "Suivi [REMOVED]"),
        # inside a longer word: kept
        ("Müller^José", "Genou Müllerstraße", None),
        ("Müller^José", "Contrôle genou", None),
    ],
)
def test_clean_desc_in_latin1(name: str, text: str, expected: str | None) -> None:
    data = to_bytes(dataset(name=name, charset="ISO_IR 100", StudyDescription=text))
    out = deid_bytes(data, O.CLEAN_DESC)
    tag = 0x00081030
    want = text if expected is None else expected
    assert text_bytes(raw_value(out, tag)) == want.encode("latin-1")
    if expected is None:
        assert raw_value(out, tag) == raw_value(data, tag)
    ds = pydicom.dcmread(io.BytesIO(out))
    assert ds.SpecificCharacterSet == "ISO_IR 100"
    assert ds.StudyDescription == want


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("Ødegård^Åse", "MR for Åse Ødegård – oppfølging", "MR for [REMOVED] – oppfølging"),
        ("Ødegård^Åse", "ÅSE, kontroll", "[REMOVED], kontroll"),
        ("Иванов^Иван", "МРТ ИВАНОВ Иван", "МРТ [REMOVED]"),
        ("Иванов^Иван", "МРТ иванов", "МРТ [REMOVED]"),
        ("Иванов^Иван", "МРТ Ивановский район", None),
        ("山田^太郎", "CT 山田 太郎", "CT [REMOVED]"),
    ],
)
def test_clean_desc_in_utf8(name: str, text: str, expected: str | None) -> None:
    data = to_bytes(dataset(name=name, charset="ISO_IR 192", StudyDescription=text))
    out = deid_bytes(data, O.CLEAN_DESC)
    want = text if expected is None else expected
    assert text_bytes(raw_value(out, 0x00081030)) == want.encode("utf-8")
    if expected is None:
        assert raw_value(out, 0x00081030) == raw_value(data, 0x00081030)
    ds = pydicom.dcmread(io.BytesIO(out))
    assert ds.SpecificCharacterSet == "ISO_IR 192"
    assert ds.StudyDescription == want


@pytest.mark.parametrize(
    ("name", "text"),
    [("Ødegård^Åse", "MR ODEGARD"), ("Kowalski^Łukasz", "MR LUKASZ"), ("Đurić^Ana", "MR Duric")],
)
def test_clean_desc_folds_letters_with_a_stroke(name: str, text: str) -> None:
    out = deid(dataset(name=name, charset="ISO_IR 192", StudyDescription=text), O.CLEAN_DESC)
    assert out.StudyDescription == f"MR {REMOVED}"


def test_cleaned_values_stay_within_their_vr_length() -> None:
    # Structure Set Label is SH (16 characters), Protocol Name is LO (64)
    sh = "Doe Doe Doe Doe"
    lo = "Doe " * 15 + "end"
    out = deid(
        dataset(StructureSetLabel=sh, ProtocolName=lo, ImageComments="Doe " * 100),
        O.CLEAN_DESC,
    )
    assert len(out.StructureSetLabel) <= 16
    assert out.StructureSetLabel.startswith(REMOVED)
    assert "doe" not in out.StructureSetLabel.lower()
    assert len(out.ProtocolName) <= 64
    assert out.ProtocolName.startswith(f"{REMOVED} {REMOVED} ")
    assert "doe" not in out.ProtocolName.lower()
    # LT allows 10240 characters: nothing cut
    assert out.ImageComments == f"{REMOVED} " * 99 + REMOVED


def test_clean_desc_removes_other_identifying_attributes() -> None:
    """Other IDs, the institution address, the study ID and a telephone number."""
    out = deid(
        dataset(
            OtherPatientIDs="MRN-778899",
            InstitutionAddress="12 Elm Street",
            StudyID="ST-55501",
            PatientTelephoneNumbers="555-0199",
            StudyDescription="MRN-778899 at 12 Elm Street, study ST-55501, call 555-0199",
        ),
        O.CLEAN_DESC,
    )
    assert out.StudyDescription == f"{REMOVED} at {REMOVED}, study {REMOVED}, call {REMOVED}"


# ---------------------------------------------------------------------------------------------
# 4. CLEAN_STRUCTD_CONT
# ---------------------------------------------------------------------------------------------


def content_item(value_type: str, relationship: str, concept: Dataset, **attrs) -> Dataset:
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    item.ConceptNameCodeSequence = Sequence([concept])
    for keyword, value in attrs.items():
        setattr(item, keyword, value)
    return item


CONCEPTS = {
    "TEXT": ("121071", "DCM", "Finding"),
    "PNAME": ("121008", "DCM", "Person Observer Name"),
    "DATE": ("111060", "DCM", "Study Date"),
    "UIDREF": ("121018", "DCM", "Procedure Study Instance UID"),
    "DATETIME": ("111526", "DCM", "DateTime Started"),
    "CONTAINER": ("121070", "DCM", "Findings"),
}
SR_TEXT = "Nodule in John Doe (DOE^JOHN), reviewed by Dr House, 4 mm"
SR_TEXT_CLEANED = "Nodule in [REMOVED] ([REMOVED]), reviewed by Dr [REMOVED], 4 mm"
SR_UID = f"{ROOT}.10.1"


def sr_instance() -> Dataset:
    def item(vt: str, rel: str, **attrs) -> Dataset:
        return content_item(vt, rel, code_item(*CONCEPTS[vt]), **attrs)

    nested = item("CONTAINER", "CONTAINS", ContinuityOfContent="SEPARATE")
    nested.ContentSequence = Sequence([item("TEXT", "CONTAINS", TextValue=SR_TEXT)])
    content = Sequence(
        [
            item("TEXT", "CONTAINS", TextValue=SR_TEXT),
            item("PNAME", "HAS OBS CONTEXT", PersonName="House^Gregory"),
            item("DATE", "CONTAINS", Date="20200301"),
            item("UIDREF", "CONTAINS", UID=SR_UID),
            item("DATETIME", "CONTAINS", DateTime="20200301101500"),
            nested,
        ]
    )
    return dataset(
        sop_class=BASIC_TEXT_SR,
        Modality="SR",
        StudyDate="20200301",
        ReferringPhysicianName="House^Gregory",
        ValueType="CONTAINER",
        ContentSequence=content,
    )


def assert_structure_kept(out: Dataset, keep_concepts: bool) -> None:
    items = out.ContentSequence
    assert [i.ValueType for i in items] == [
        "TEXT",
        "PNAME",
        "DATE",
        "UIDREF",
        "DATETIME",
        "CONTAINER",
    ]
    assert [i.RelationshipType for i in items] == [
        "CONTAINS",
        "HAS OBS CONTEXT",
        "CONTAINS",
        "CONTAINS",
        "CONTAINS",
        "CONTAINS",
    ]
    assert items[5].ContinuityOfContent == "SEPARATE"
    assert [i.ValueType for i in items[5].ContentSequence] == ["TEXT"]
    if keep_concepts:
        for item in items:
            (concept,) = item.ConceptNameCodeSequence
            got = (concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning)
            assert got == CONCEPTS[item.ValueType]


def test_the_table_says_d_and_c_for_content_sequence() -> None:
    row = _row("ContentSequence")
    assert (row["basic_profile"], row["clean_struct_cont_opt"]) == ("D", "C")


def test_clean_structured_content_cleans_the_sr_tree() -> None:
    out = deid(sr_instance(), O.CLEAN_STRUCTD_CONT | O.RETAIN_LONG_MODIF_DATES)
    assert_structure_kept(out, keep_concepts=True)
    items = out.ContentSequence
    assert items[0].TextValue == SR_TEXT_CLEANED
    assert items[5].ContentSequence[0].TextValue == SR_TEXT_CLEANED
    assert str(items[1].PersonName) == "ANONYMIZED"
    offset = days_back("20200301", out.StudyDate)
    assert 1 <= offset <= 3650
    assert days_back("20200301", items[2].Date) == offset
    assert days_back("20200301", items[4].DateTime) == offset
    assert items[4].DateTime[8:] == "101500"
    assert items[3].UID == hmac_uid(KEY, SR_UID)
    assert items[3].UID == out.StudyInstanceUID
    assert "113104" in codes(out) and "113107" in codes(out)


def test_clean_structured_content_without_modified_dates_dummies_dates() -> None:
    """Date and DateTime have their own rows (D, C only with RETAIN_LONG_MODIF_DATES)."""
    out = deid(sr_instance(), O.CLEAN_STRUCTD_CONT)
    assert_structure_kept(out, keep_concepts=True)
    items = out.ContentSequence
    assert items[0].TextValue == SR_TEXT_CLEANED
    assert items[2].Date == "19000101"
    assert items[4].DateTime == "19000101000000"
    assert items[3].UID == hmac_uid(KEY, SR_UID)


def test_basic_profile_replaces_the_content_with_dummies() -> None:
    out = deid(sr_instance(), O.BASIC_PROFILE)
    assert_structure_kept(out, keep_concepts=False)
    items = out.ContentSequence
    assert items[0].TextValue == "ANONYMIZED"
    assert items[5].ContentSequence[0].TextValue == "ANONYMIZED"
    assert str(items[1].PersonName) == "ANONYMIZED"
    assert items[2].Date == "19000101"
    assert items[4].DateTime == "19000101000000"
    assert items[3].UID == hmac_uid(KEY, SR_UID)


# ---------------------------------------------------------------------------------------------
# 5. CLEAN_GRAPH
# ---------------------------------------------------------------------------------------------

OVERLAY_BYTES = bytes(range(256)) * 2
CURVE_BYTES = b"\x01\x02\x03\x04\xfe\xff"
GRAPHIC_DATA = [1.5, 2.5, 3.25, -4.5]


def graphics_instance() -> Dataset:
    ds = dataset()
    ds.add_new(OVERLAY_ROWS, "US", 64)
    ds.add_new(0x60000011, "US", 64)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(OVERLAY_DATA, "OW", OVERLAY_BYTES)
    ds.add_new(OVERLAY_LABEL, "LO", "DOE label")
    ds.add_new(OVERLAY_COMMENTS, "LT", "Overlay drawn for John Doe, 3 cm")
    ds.add_new(0x50000005, "US", 2)
    ds.add_new(CURVE_DESCRIPTION, "LO", "curve of Doe")
    ds.add_new(CURVE_DATA, "OB", CURVE_BYTES)
    text = Dataset()
    text.UnformattedTextValue = "Doe John: lesion 2"
    text.BoundingBoxAnnotationUnits = "PIXEL"
    text.AnchorPoint = [1.0, 2.0]
    text.AnchorPointVisibility = "N"
    graphic = Dataset()
    graphic.GraphicAnnotationUnits = "PIXEL"
    graphic.GraphicDimensions = 2
    graphic.NumberOfGraphicPoints = 2
    graphic.GraphicData = GRAPHIC_DATA
    graphic.GraphicType = "POLYLINE"
    graphic.GraphicFilled = "N"
    annotation = Dataset()
    annotation.GraphicLayer = "LAYER1"
    annotation.TextObjectSequence = Sequence([text])
    annotation.GraphicObjectSequence = Sequence([graphic])
    ds.GraphicAnnotationSequence = Sequence([annotation])
    return ds


def graphic_data_bytes(out_bytes: bytes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(out_bytes))
    graphic = ds.GraphicAnnotationSequence[0].GraphicObjectSequence[0]
    return struct.pack(f"<{len(graphic.GraphicData)}f", *graphic.GraphicData)


def test_clean_graph_cleans_text_and_keeps_graphics() -> None:
    data = to_bytes(graphics_instance())
    out_bytes = deid_bytes(data, O.CLEAN_GRAPH)
    out = pydicom.dcmread(io.BytesIO(out_bytes))
    assert out[OVERLAY_COMMENTS].value == "Overlay drawn for [REMOVED], 3 cm"
    assert out[CURVE_DESCRIPTION].value == "curve of [REMOVED]"
    annotation = out.GraphicAnnotationSequence[0]
    assert annotation.GraphicLayer == "LAYER1"
    text = annotation.TextObjectSequence[0]
    assert text.UnformattedTextValue == "[REMOVED]: lesion 2"
    assert list(text.AnchorPoint) == [1.0, 2.0]
    graphic = annotation.GraphicObjectSequence[0]
    assert (graphic.GraphicType, graphic.NumberOfGraphicPoints) == ("POLYLINE", 2)
    # graphic data byte for byte
    assert raw_value(out_bytes, OVERLAY_DATA) == raw_value(data, OVERLAY_DATA) == OVERLAY_BYTES
    assert raw_value(out_bytes, CURVE_DATA) == raw_value(data, CURVE_DATA) == CURVE_BYTES
    assert graphic_data_bytes(out_bytes) == graphic_data_bytes(data)
    assert out[OVERLAY_ROWS].value == 64
    assert "113103" in codes(out)


def test_clean_graph_cleans_the_overlay_label() -> None:
    out = deid(graphics_instance(), O.CLEAN_GRAPH)
    assert out[OVERLAY_LABEL].value == "[REMOVED] label"


def test_basic_profile_removes_overlays_and_dummies_annotation_text() -> None:
    data = to_bytes(graphics_instance())
    out_bytes = deid_bytes(data, O.BASIC_PROFILE)
    out = pydicom.dcmread(io.BytesIO(out_bytes))
    assert not [e for e in out if e.tag.group in (0x5000, 0x6000)]
    annotation = out.GraphicAnnotationSequence[0]
    assert annotation.TextObjectSequence[0].UnformattedTextValue == "ANONYMIZED"
    assert graphic_data_bytes(out_bytes) == graphic_data_bytes(data)


# ---------------------------------------------------------------------------------------------
# 6. RETAIN_SAFE_PRIVATE
# ---------------------------------------------------------------------------------------------

PHILIPS_PET = "Philips PET Private Group"


def _safe_rows() -> set[tuple[int, str, int]]:
    path = DATA / "table_e3_10_1_2024c.csv"
    with path.open(encoding="utf-8", newline="") as fh:
        lines = [line for line in fh if not line.startswith("#")]
    rows = set()
    for r in csv.DictReader(lines, delimiter=";"):
        tag = r["tag"]
        rows.add((int(tag[:4], 16), r["private_creator"].strip(), int(tag[7:9], 16)))
    return rows


def private_instance(block: int) -> Dataset:
    """Philips PET's creator at ``block``: two safe elements and an unsafe one; another
    vendor's block with nothing safe; an ACME block in group 0019."""
    ds = dataset()
    ds.add_new((0x7053, block), "LO", PHILIPS_PET)
    ds.add_new((0x7053, block << 8 | 0x00), "DS", "1.5")  # SUV Factor: safe
    ds.add_new((0x7053, block << 8 | 0x09), "DS", "2.5")  # Activity Concentration: safe
    ds.add_new((0x7053, block << 8 | 0x77), "LO", "Doe John")  # not listed
    other = 0x11 if block != 0x11 else 0x12
    ds.add_new((0x7053, other), "LO", "OTHER VENDOR")
    ds.add_new((0x7053, other << 8 | 0x00), "DS", "9.5")  # same element byte, other creator
    ds.add_new((0x0019, 0x0010), "LO", "ACME")
    ds.add_new((0x0019, 0x1010), "DS", "42")
    ds.add_new((0x0019, 0x1011), "LO", "not safe")
    return ds


def privates(ds: Dataset) -> dict[int, object]:
    return {int(e.tag): e.value for e in ds if e.tag.is_private}


def test_the_safe_private_table_lists_the_rows_used() -> None:
    rows = _safe_rows()
    assert len(rows) > 400
    assert (0x7053, PHILIPS_PET, 0x00) in rows and (0x7053, PHILIPS_PET, 0x09) in rows
    assert (0x7053, PHILIPS_PET, 0x77) not in rows
    assert not any(g == 0x7053 and c == "OTHER VENDOR" for g, c, _ in rows)
    assert not any(c == "ACME" for _, c, _ in rows)


@pytest.mark.parametrize("block", [0x10, 0x42], ids=["block10", "block42"])
def test_safe_private_attributes_are_kept_with_their_creator(block: int) -> None:
    out = deid(private_instance(block), O.RETAIN_SAFE_PRIVATE)
    assert privates(out) == {
        0x70530000 | block: PHILIPS_PET,
        0x70530000 | block << 8 | 0x00: "1.5",
        0x70530000 | block << 8 | 0x09: "2.5",
    }
    assert out[0x70530000 | block << 8].VR == "DS"
    assert "113111" in codes(out)


@pytest.mark.parametrize("block", [0x10, 0x42], ids=["block10", "block42"])
def test_basic_profile_removes_every_private_attribute(block: int) -> None:
    assert privates(deid(private_instance(block), O.BASIC_PROFILE)) == {}


@pytest.mark.parametrize("block", [0x10, 0x42], ids=["block10", "block42"])
def test_a_user_safe_row_is_kept_with_retain_safe_private(block: int) -> None:
    profile = profile_of(O.RETAIN_SAFE_PRIVATE)
    profile["0019,xx10:ACME"] = "K"
    out = deid(private_instance(block), profile=profile)
    assert privates(out) == {
        0x00190010: "ACME",
        0x00191010: "42",
        0x70530000 | block: PHILIPS_PET,
        0x70530000 | block << 8 | 0x00: "1.5",
        0x70530000 | block << 8 | 0x09: "2.5",
    }


def test_a_user_safe_row_follows_its_creator_to_another_block() -> None:
    profile = profile_of(O.RETAIN_SAFE_PRIVATE)
    profile["0019,xx10:ACME"] = "K"
    ds = dataset()
    ds.add_new((0x0019, 0x0010), "LO", "SOMEONE ELSE")
    ds.add_new((0x0019, 0x1010), "DS", "7")  # same element byte, other creator: removed
    ds.add_new((0x0019, 0x0030), "LO", "ACME")
    ds.add_new((0x0019, 0x3010), "DS", "42")
    ds.add_new((0x0019, 0x3011), "LO", "not safe")
    assert privates(deid(ds, profile=profile)) == {0x00190030: "ACME", 0x00193010: "42"}


@pytest.mark.parametrize("custom", [False, True], ids=["basic", "custom"])
def test_a_user_safe_row_keeps_its_creator_without_retain_safe_private(custom: bool) -> None:
    """The creator is kept while its block keeps an element, whatever the private row says."""
    if custom:
        profile = ConfidentialityProfile.empty({"0019,xx10:ACME": "K", "gggg,eeee (gggg odd)": "X"})
    else:
        profile = profile_of(O.BASIC_PROFILE)
        profile["0019,xx10:ACME"] = "K"
    out = deid(private_instance(0x42), profile=profile)
    assert privates(out) == {0x00190010: "ACME", 0x00191010: "42"}


# ---------------------------------------------------------------------------------------------
# 7. RETAIN_PATIENT_CHARS, RETAIN_DEVICE_IDENT, RETAIN_INSTITUTION_IDENT, RETAIN_UIDS
# ---------------------------------------------------------------------------------------------

RETAIN_INPUT = {
    "PatientSex": "F",
    "PatientAge": "050Y",
    "PatientWeight": "72.5",
    "PatientSize": "1.68",
    "SmokingStatus": "NO",
    "Allergies": "Penicillin (reported by John Doe)",
    "DeviceSerialNumber": "SN-4711",
    "StationName": "CTSTATION3",
    "StationAETitle": "CT_ROOM_1",
    "InstitutionName": "General Hospital",
    "InstitutionAddress": "12 Elm Street",
    "InstitutionalDepartmentName": "Radiology",
}

# option: (CID 7050 code, {keyword: (table column value, expected output)}); None: removed
RETAINED = {
    O.RETAIN_PATIENT_CHARS: (
        "113108",
        "rtn_pat_chars_opt",
        {
            "PatientSex": ("K", "F"),
            "PatientAge": ("K", "050Y"),
            "PatientWeight": ("K", "72.5"),
            "PatientSize": ("K", "1.68"),
            "SmokingStatus": ("K", "NO"),
            "Allergies": ("C", "Penicillin (reported by [REMOVED])"),
        },
    ),
    O.RETAIN_DEVICE_IDENT: (
        "113109",
        "rtn_dev_id_opt",
        {
            "DeviceSerialNumber": ("K", "SN-4711"),
            "StationName": ("K", "CTSTATION3"),
            "StationAETitle": ("C", HEX16),
        },
    ),
    O.RETAIN_INSTITUTION_IDENT: (
        "113112",
        "rtn_inst_id_opt",
        {
            "InstitutionName": ("K", "General Hospital"),
            "InstitutionAddress": ("K", "12 Elm Street"),
            "InstitutionalDepartmentName": ("K", "Radiology"),
        },
    ),
}
BASIC_EXPECTED = {
    "PatientSex": "",  # Z
    "PatientAge": None,  # X
    "PatientWeight": None,
    "PatientSize": None,
    "SmokingStatus": None,
    "Allergies": None,
    # X/Z/D, Type 3 in the CT Image IOD's General Equipment Module: X
    "DeviceSerialNumber": None,
    "StationName": None,
    "StationAETitle": None,
    "InstitutionName": None,
    "InstitutionAddress": None,
    "InstitutionalDepartmentName": None,
}


def _value(ds: Dataset, keyword: str) -> object:
    return str(getattr(ds, keyword)) if keyword in ds else None


def test_basic_profile_on_the_retain_attributes() -> None:
    out = deid(dataset(**RETAIN_INPUT))
    assert {k: _value(out, k) for k in RETAIN_INPUT} == BASIC_EXPECTED
    assert out.StudyInstanceUID == hmac_uid(KEY, f"{ROOT}.10.1")
    assert codes(out) == ["113100"]


@pytest.mark.parametrize("option", list(RETAINED), ids=lambda o: o.name)
def test_retain_options_do_what_the_table_says(option: O) -> None:
    code, column, expected = RETAINED[option]
    for keyword, (cell, _) in expected.items():
        assert _row(keyword)[column] == cell, keyword
    out = deid(dataset(**RETAIN_INPUT), option)
    for keyword, (_, want) in expected.items():
        got = _value(out, keyword)
        if isinstance(want, re.Pattern):
            assert got is not None and want.fullmatch(got), (keyword, got)
        else:
            assert got == want, keyword
    # the attributes of the other options follow the Basic profile
    for keyword, want in BASIC_EXPECTED.items():
        if keyword not in expected:
            assert _value(out, keyword) == want, keyword
    assert codes(out) == ["113100", code]


def test_retain_device_ident_gives_ae_titles_keyed_pseudonyms() -> None:
    a = deid(dataset(**RETAIN_INPUT), O.RETAIN_DEVICE_IDENT)
    b = deid(dataset(sop=f"{ROOT}.30.2", **RETAIN_INPUT), O.RETAIN_DEVICE_IDENT)
    c = deid(dataset(**RETAIN_INPUT), O.RETAIN_DEVICE_IDENT, key=OTHER_KEY)
    d = deid(dataset(**{**RETAIN_INPUT, "StationAETitle": "MR_ROOM_2"}), O.RETAIN_DEVICE_IDENT)
    assert a.StationAETitle == b.StationAETitle
    assert a.StationAETitle not in (c.StationAETitle, d.StationAETitle, "CT_ROOM_1")


def test_retain_uids_keeps_the_uids() -> None:
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        assert _row(keyword)["rtn_uids_opt"] == "K"
    ref = Dataset()
    ref.ReferencedSOPClassUID = CT
    ref.ReferencedSOPInstanceUID = f"{ROOT}.31.1"
    anon = Anonymizer(profile_of(O.RETAIN_UIDS), key=KEY, keep_uid_map=True)
    out = deid(dataset(ReferencedImageSequence=Sequence([ref])), anonymizer=anon)
    assert out.StudyInstanceUID == f"{ROOT}.10.1"
    assert out.SeriesInstanceUID == f"{ROOT}.20.1"
    assert out.SOPInstanceUID == f"{ROOT}.30.1"
    assert out.file_meta.MediaStorageSOPInstanceUID == f"{ROOT}.30.1"
    assert out.FrameOfReferenceUID == f"{ROOT}.40.1"
    assert out.ReferencedImageSequence[0].ReferencedSOPInstanceUID == f"{ROOT}.31.1"
    assert anon.uid_map() == {}
    assert codes(out) == ["113100", "113110"]


def test_all_retain_options_together_list_their_codes_in_bit_order() -> None:
    options = O.RETAIN_UIDS | O.RETAIN_DEVICE_IDENT | O.RETAIN_INSTITUTION_IDENT
    out = deid(dataset(**RETAIN_INPUT), options | O.RETAIN_PATIENT_CHARS)
    assert codes(out) == ["113100", "113110", "113109", "113112", "113108"]
    assert [i.CodingSchemeDesignator for i in out.DeidentificationMethodCodeSequence] == ["DCM"] * 5
    assert out.PatientIdentityRemoved == "YES"


# ---------------------------------------------------------------------------------------------
# 8. Burned-in annotation guard
# ---------------------------------------------------------------------------------------------

BURNED_IN_CASES = {
    # name: (dataset, flagged)
    "yes.dcm": (lambda: dataset(sop=f"{ROOT}.60.1", BurnedInAnnotation="YES"), True),
    "sc.dcm": (lambda: dataset(sop_class=SECONDARY_CAPTURE, sop=f"{ROOT}.60.2"), True),
    "sc-no.dcm": (
        lambda: dataset(sop_class=SECONDARY_CAPTURE, sop=f"{ROOT}.60.3", BurnedInAnnotation="NO"),
        False,
    ),
    "us.dcm": (lambda: dataset(sop_class=ULTRASOUND, sop=f"{ROOT}.60.6"), True),
    "ct.dcm": (lambda: dataset(sop=f"{ROOT}.60.4"), False),
    "ct-no.dcm": (lambda: dataset(sop=f"{ROOT}.60.5", BurnedInAnnotation="NO"), False),
}


@pytest.mark.parametrize("name", list(BURNED_IN_CASES))
def test_burned_in_warn_is_the_default_and_warns_for_flagged_files(name: str) -> None:
    make, flagged = BURNED_IN_CASES[name]
    data = to_bytes(make())
    for anon in (Anonymizer(key=KEY), Anonymizer(key=KEY, burned_in="warn")):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = anon.anonymize(DicomFile.open(data))
        burned = [w for w in caught if issubclass(w.category, BurnedInAnnotationWarning)]
        assert len(burned) == (1 if flagged else 0), [str(w.message) for w in caught]
        assert out["PatientIdentityRemoved"] == "YES"


@pytest.mark.parametrize("name", list(BURNED_IN_CASES))
def test_burned_in_refuse_raises_for_flagged_files(name: str, tmp_path: Path) -> None:
    make, flagged = BURNED_IN_CASES[name]
    data = to_bytes(make())
    anon = Anonymizer(key=KEY, burned_in="refuse")
    src, dst = tmp_path / name, tmp_path / "out.dcm"
    src.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if flagged:
            f = DicomFile.open(data)
            with pytest.raises(BurnedInAnnotationError):
                anon.anonymize(f)
            with pytest.raises(BurnedInAnnotationError):
                anon.anonymize_in_place(f)
            with pytest.raises(BurnedInAnnotationError):
                anon.anonymize_file(src, dst)
            assert not dst.exists()
            assert issubclass(BurnedInAnnotationError, dicomveil.DicomveilError)
        else:
            anon.anonymize(DicomFile.open(data))
            anon.anonymize_file(src, dst)
            assert dst.exists()


@pytest.mark.parametrize("name", list(BURNED_IN_CASES))
def test_burned_in_allow_says_nothing(name: str) -> None:
    make, _ = BURNED_IN_CASES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = Anonymizer(key=KEY, burned_in="allow").anonymize(DicomFile.open(to_bytes(make())))
    assert out["PatientIdentityRemoved"] == "YES"


def test_burned_in_pydicom_dataset_and_anonymize_file_warn(tmp_path: Path) -> None:
    make, _ = BURNED_IN_CASES["sc.dcm"]
    with pytest.warns(BurnedInAnnotationWarning):
        Anonymizer(key=KEY).anonymize(make())
    src = tmp_path / "sc.dcm"
    src.write_bytes(to_bytes(make()))
    with pytest.warns(BurnedInAnnotationWarning):
        Anonymizer(key=KEY).anonymize_file(src, tmp_path / "out.dcm")


def burned_in_tree(root: Path) -> Path:
    root.mkdir()
    for name, (make, _) in BURNED_IN_CASES.items():
        (root / name).write_bytes(to_bytes(make()))
    return root


def test_burned_in_in_anonymize_tree(tmp_path: Path) -> None:
    src = burned_in_tree(tmp_path / "src")
    flagged = sorted(n for n, (_, f) in BURNED_IN_CASES.items() if f)
    clean = sorted(n for n, (_, f) in BURNED_IN_CASES.items() if not f)

    # warn: every file done, the flagged ones listed
    audit = tmp_path / "audit.jsonl"
    report = Anonymizer(key=KEY).anonymize_tree(src, tmp_path / "warn", audit=audit)
    assert all(f.status == "done" for f in report.files)
    assert sorted(Path(f.source).name for f in report.flagged) == flagged
    for f in report.files:
        want = ("burned-in-annotation",) if Path(f.source).name in flagged else ()
        assert f.flags == want, f.source
    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert sorted(Path(r["source"]).name for r in lines if r["flags"]) == flagged
    assert {tuple(r["flags"]) for r in lines} == {(), ("burned-in-annotation",)}

    # refuse: the flagged files refused with the error class, nothing written for them
    report = Anonymizer(key=KEY, burned_in="refuse").anonymize_tree(src, tmp_path / "refuse")
    assert sorted(Path(f.source).name for f in report.refused) == flagged
    assert sorted(Path(f.source).name for f in report.done) == clean
    for f in report.refused:
        assert f.error == "BurnedInAnnotationError"
        assert f.reason and Path(f.source).name in f.reason
        assert not (tmp_path / "refuse" / Path(f.source).name).exists()
    assert not report.ok
    with pytest.raises(BurnedInAnnotationError):
        Anonymizer(key=KEY, burned_in="refuse").anonymize_tree(
            src, tmp_path / "raise", on_error="raise"
        )

    # allow: nothing flagged, nothing refused
    report = Anonymizer(key=KEY, burned_in="allow").anonymize_tree(src, tmp_path / "allow")
    assert report.flagged == [] and report.refused == []
    assert len(report.done) == len(BURNED_IN_CASES)


def test_burned_in_mode_is_checked() -> None:
    with pytest.raises(ValueError, match="burned_in"):
        Anonymizer(key=KEY, burned_in="never")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# 9. Pseudonym()
# ---------------------------------------------------------------------------------------------


def pseudonyms(
    patient_id: str, name: str, n: int = 1, key: bytes = KEY, both: bool = True
) -> tuple[str, str]:
    profile = profile_of()
    profile.patient_id = Pseudonym()
    if both:
        profile.patient_name = Pseudonym()
    out = deid(dataset(patient_id, name, sop=f"{ROOT}.30.{n}"), profile=profile, key=key)
    return out.PatientID, str(out.PatientName)


def test_patient_id_pseudonym_is_16_uppercase_hex_and_keyed() -> None:
    pid, _ = pseudonyms("PID-1001", "Doe^John", both=False)
    assert HEX16.fullmatch(pid)
    assert pseudonyms("PID-1001", "Doe^John", n=2, both=False)[0] == pid  # same patient
    assert pseudonyms("PID-1001", "Doe^John", n=3, both=False)[0] == pid
    assert pseudonyms("PID-2002", "Roe^Jane", both=False)[0] != pid  # another patient
    assert pseudonyms("PID-1001", "Doe^John", key=OTHER_KEY, both=False)[0] != pid
    assert len({pseudonyms(f"PID-{i}", "X^Y", both=False)[0] for i in range(20)}) == 20


def test_patient_name_pseudonym_is_anonymous_and_16_hex() -> None:
    _, name = pseudonyms("PID-1001", "Doe^John")
    assert re.fullmatch(r"ANONYMOUS\^[0-9A-F]{16}", name), name
    assert pseudonyms("PID-1001", "Doe^John", n=2)[1] == name
    assert pseudonyms("PID-2002", "Roe^Jane")[1] != name
    assert pseudonyms("PID-1001", "Doe^John", key=OTHER_KEY)[1] != name


def test_pseudonyms_are_the_same_in_another_process(tmp_path: Path) -> None:
    src = tmp_path / "in.dcm"
    src.write_bytes(to_bytes(dataset("PID-1001", "Doe^John")))
    dst = tmp_path / "child.dcm"
    run_child(src, dst, KEY, O.BASIC_PROFILE)
    child = pydicom.dcmread(dst)
    assert (child.PatientID, str(child.PatientName)) == pseudonyms("PID-1001", "Doe^John")
    run_child(src, dst, OTHER_KEY, O.BASIC_PROFILE)
    other = pydicom.dcmread(dst)
    assert other.PatientID != child.PatientID and other.PatientName != child.PatientName


def test_pseudonyms_replace_patient_id_wherever_it_occurs() -> None:
    profile = profile_of(O.RETAIN_SAFE_PRIVATE)
    profile.patient_id = Pseudonym()
    # literally: resolved by the CT Image IOD, the Source Image Sequence (X/Z/U*, Type 3) goes
    profile.conform_to_iod = False
    item = Dataset()
    item.PatientID = "PID-1001"
    item.PatientName = "Doe^John"
    item.ReferencedSOPClassUID = CT
    item.ReferencedSOPInstanceUID = f"{ROOT}.31.1"
    out = deid(dataset(SourceImageSequence=Sequence([item])), profile=profile)
    assert out.SourceImageSequence[0].PatientID == out.PatientID
    assert HEX16.fullmatch(out.PatientID)


# ---------------------------------------------------------------------------------------------
# Options inside D and C sequences; values written with another VR; names in unspaced scripts
# ---------------------------------------------------------------------------------------------


def _sr_about_an_image() -> bytes:
    """A Basic Text SR whose content references a CT image and carries a date."""
    ds = Dataset()
    ds.SOPClassUID = BASIC_TEXT_SR
    ds.SOPInstanceUID = f"{ROOT}.100"
    ds.StudyInstanceUID = f"{ROOT}.200"
    ds.SeriesInstanceUID = f"{ROOT}.300"
    ds.PatientName = "Doe^John"
    ds.PatientID = "PID12345"
    ds.StudyDate = "20200304"
    ds.Modality = "SR"
    reference = Dataset()
    reference.ReferencedSOPClassUID = CT
    reference.ReferencedSOPInstanceUID = f"{ROOT}.999"
    image = Dataset()
    image.RelationshipType = "CONTAINS"
    image.ValueType = "IMAGE"
    image.ReferencedSOPSequence = Sequence([reference])
    date = Dataset()
    date.RelationshipType = "CONTAINS"
    date.ValueType = "DATE"
    date.Date = "20200304"
    ds.ContentSequence = Sequence([image, date])
    return _part10(ds)


def _part10(ds: Dataset) -> bytes:
    """`ds` as an explicit VR little endian Part 10 file."""
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def _deid_bytes(data: bytes, options: O) -> Dataset:
    profile = ConfidentialityProfile.create_default(options)
    out = Anonymizer(profile, key=KEY, burned_in="allow").anonymize(DicomFile.open(data))
    return pydicom.dcmread(io.BytesIO(out.to_bytes()))


@pytest.mark.parametrize("clean", [False, True], ids=["D", "C"])
def test_retain_uids_keeps_references_inside_sr_content(clean: bool):
    """Retain UIDs says K for (0008,1155): inside the content sequence (D, or C with Clean
    Structured Content) the reference is kept too, or the report would point at nothing."""
    options = O.RETAIN_UIDS | (O.CLEAN_STRUCTD_CONT if clean else O.BASIC_PROFILE)
    out = _deid_bytes(_sr_about_an_image(), options)
    assert out.SOPInstanceUID == f"{ROOT}.100"
    reference = out.ContentSequence[0].ReferencedSOPSequence[0]
    assert reference.ReferencedSOPInstanceUID == f"{ROOT}.999"
    # without the option it is replaced, as the instance it names is
    basic = _deid_bytes(_sr_about_an_image(), O.CLEAN_STRUCTD_CONT if clean else O.BASIC_PROFILE)
    replaced = basic.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
    assert replaced.startswith("2.25.") and replaced != f"{ROOT}.999"


def test_retain_full_dates_keeps_dates_inside_sr_content():
    out = _deid_bytes(_sr_about_an_image(), O.RETAIN_LONG_FULL_DATES)
    assert out.StudyDate == "20200304"
    assert out.ContentSequence[1].Date == "20200304"
    basic = _deid_bytes(_sr_about_an_image(), O.BASIC_PROFILE)
    assert basic.ContentSequence[1].Date != "20200304"


def _explicit(tag: int, vr: str, value: bytes) -> bytes:
    value += b" " * (len(value) % 2)
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), len(value)) + value


def test_a_date_written_as_text_is_still_shifted():
    """StudyDate written with VR LO is a date all the same: Retain Modified Dates shifts it as
    it shifts the same date written as DA (a kept real date would contradict (0028,0303))."""
    ds = Dataset()
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = f"{ROOT}.1"
    data = _part10(ds)
    data += _explicit(0x00080020, "LO", b"20200304") + _explicit(0x00080021, "DA", b"20200304")
    data += _explicit(0x00100010, "LO", b"Doe^John")  # a name written as LO: still a name
    out = _deid_bytes(data, O.RETAIN_LONG_MODIF_DATES)
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    series_date = out[0x00080021].value
    assert series_date != "20200304"
    assert out[0x00080020].value == series_date  # the same date, the same shift
    assert "Doe" not in str(out[0x00100010].value)


def test_a_chinese_name_is_cleaned_whole_from_unspaced_text():
    """王^小东 written 王小东 in a description: the one-character family name goes with the
    given name (alone it is too short to look for: it is a common character)."""
    ds = Dataset()
    ds.SOPClassUID = SECONDARY_CAPTURE
    ds.SOPInstanceUID = f"{ROOT}.2"
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientName = "Wang^Xiaodong=王^小东="
    ds.StudyDescription = "头部王小东检查"
    out = _deid_bytes(_part10(ds), O.CLEAN_DESC)
    assert out.StudyDescription == f"头部{REMOVED}检查"


def test_class_uids_inside_uid_replacing_sequences_are_kept():
    """Inside X/Z/U* and D sequences, UIDs no rule names are replaced, but not those naming a
    kind of object: a vendor's private SOP class UID identifies no patient, and replaced it
    would no longer say what is referenced."""
    private_class = "1.2.840.113619.4.27"  # a vendor's SOP class, outside the DICOM root
    data = _sr_about_an_image()
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPClassUID = private_class
    reference = Dataset()
    reference.ReferencedSOPClassUID = private_class
    reference.ReferencedSOPInstanceUID = f"{ROOT}.998"
    ds.ReferencedImageSequence = Sequence([reference])  # X/Z/U*
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    out = _deid_bytes(buffer.getvalue(), O.BASIC_PROFILE)
    kept = out.ReferencedImageSequence[0]
    assert kept.ReferencedSOPClassUID == private_class
    assert kept.ReferencedSOPInstanceUID.startswith("2.25.")
    in_content = out.ContentSequence[0].ReferencedSOPSequence[0]
    assert in_content.ReferencedSOPClassUID == private_class
    assert in_content.ReferencedSOPInstanceUID.startswith("2.25.")
