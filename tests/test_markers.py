"""Honest de-identification markers (issue 16): (0012,0062) Patient Identity Removed says YES
only for a profile at least as strong as PS3.15's Basic profile (options taken into account),
NO otherwise with a warning naming why; a file de-identified before keeps the record of it."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pydicom
import pytest
from dicomveil import (
    Anonymizer,
    ConfidentialityProfile,
    ConfidentialityProfileOptions,
    DicomFile,
    WeakProfileWarning,
)
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian
from util import TEST_KEY, run_cli

O = ConfidentialityProfileOptions  # noqa: E741
CT = "1.2.840.10008.5.1.4.1.1.2"
EDITION = "2024c"


def ct(**attrs: object) -> bytes:
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.1601.1"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1601.2"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.1601.3"
    ds.PatientName = "Doe^Jane"
    ds.PatientID = "PID-1601"
    ds.PatientSex = "F"
    ds.StudyDate = "20240101"
    ds.Modality = "CT"
    for k, v in attrs.items():
        setattr(ds, k, v)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CT
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    bio = io.BytesIO()
    ds.save_as(bio, enforce_file_format=True)
    return bio.getvalue()


def run(profile: ConfidentialityProfile, data: bytes | None = None) -> Dataset:
    anon = Anonymizer(profile, key=TEST_KEY)
    out = anon.anonymize(DicomFile.open(data if data is not None else ct()))
    return pydicom.dcmread(io.BytesIO(out.to_bytes()))


def codes(ds: Dataset) -> list[str]:
    return [item.CodeValue for item in ds.get("DeidentificationMethodCodeSequence", [])]


def methods(ds: Dataset) -> list[str]:
    value = ds.get("DeidentificationMethod")
    return [] if value is None else [value] if isinstance(value, str) else list(value)


def basic_with(**rules: str) -> ConfidentialityProfile:
    profile = ConfidentialityProfile.create_default()
    for pattern, code in rules.items():
        profile[pattern] = code
    return profile


def rules_only(*rules: tuple[str, str]) -> ConfidentialityProfile:
    text = "TagPattern;Action\n" + "".join(f"{p};{a}\n" for p, a in rules)
    return ConfidentialityProfile.load_from_csv_string(text)


def quiet(profile: ConfidentialityProfile, data: bytes | None = None) -> Dataset:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", WeakProfileWarning)
        return run(profile, data)


def test_the_basic_profile_says_yes() -> None:
    out = run(ConfidentialityProfile.create_default())
    assert out.PatientIdentityRemoved == "YES"
    assert codes(out) == ["113100"]
    assert methods(out)[1] == f"PS3.15 {EDITION} Basic Profile"


def test_a_profile_weaker_than_basic_says_no_and_warns_why() -> None:
    profile = rules_only(("PatientName", "Z"), ("StudyDate", "X"))
    with pytest.warns(WeakProfileWarning) as caught:
        out = run(profile)
    message = str(caught[0].message)
    assert "AccessionNumber kept (Basic: Z)" in message
    assert "PatientIdentityRemoved (0012,0062)" in message and "Doe" not in message
    assert out.PatientIdentityRemoved == "NO"
    assert methods(out)[1:] == ["custom profile"]
    assert codes(out) == []
    # one warning per Anonymizer, not one per file
    anon = Anonymizer(profile, key=TEST_KEY)
    with pytest.warns(WeakProfileWarning) as caught:
        for _ in range(3):
            anon.anonymize(DicomFile.open(ct()))
    assert len([w for w in caught if w.category is WeakProfileWarning]) == 1


def test_stronger_rules_on_top_of_basic_say_yes() -> None:
    out = run(basic_with(PatientSex="X", StudyDescription="X"))  # Z and X in Basic
    assert out.PatientIdentityRemoved == "YES"
    assert codes(out) == ["113100"]
    assert methods(out)[1] == f"custom profile, at least PS3.15 {EDITION} Basic Profile"


@pytest.mark.parametrize(
    ("rules", "option"),
    [
        ({"StudyInstanceUID": "K"}, "113110"),  # Retain UIDs keeps it
        ({"PatientSex": "K"}, "113108"),  # Retain Patient Characteristics
        ({"InstitutionName": "K"}, "113112"),  # Retain Institution Identity
        ({"gggg,eeee (gggg odd)": "C"}, "113111"),  # Retain Safe Private
        ({"StudyDate": "K"}, "113106"),  # Retain Longitudinal Full Dates
        ({"StudyDate": "C"}, "113107"),  # Retain Longitudinal Modified Dates
    ],
)
def test_what_an_option_allows_says_yes_and_names_the_option(
    rules: dict[str, str], option: str
) -> None:
    out = run(basic_with(**rules))
    assert out.PatientIdentityRemoved == "YES"
    assert codes(out) == ["113100", option]


@pytest.mark.parametrize(
    "rules",
    [
        {"PatientName": "K"},  # no option keeps the patient's name
        {"PatientID": "C"},
        {"0009,xx10:ACME": "K"},  # a private attribute kept whole: Safe Private cleans
        {"6000,3000": "K"},  # one overlay group's data kept
        {"AccessionNumber": "C"},  # Z in Basic, and no option keeps or cleans it
    ],
)
def test_what_no_option_allows_says_no(rules: dict[str, str]) -> None:
    profile = basic_with(**rules)
    with pytest.warns(WeakProfileWarning):
        out = run(profile)
    assert out.PatientIdentityRemoved == "NO"
    assert codes(out) == []


def test_a_profile_with_the_options_own_rules_is_that_profile() -> None:
    """The very rules of a default table are that table, with its markers."""
    profile = ConfidentialityProfile.create_default(O.RETAIN_UIDS | O.CLEAN_DESC)
    again = rules_only(*[(p, str(a)) for p, a in profile.items()])
    out = run(again)
    assert codes(out) == ["113100", "113110", "113105"]
    assert methods(out)[1] == f"PS3.15 {EDITION} Basic Profile"


def earlier_deidentified(temporal: str = "MODIFIED") -> bytes:
    item = Dataset()
    item.CodeValue = "113100"
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = "Basic Application Confidentiality Profile"
    other = Dataset()
    other.CodeValue = "113107"
    other.CodingSchemeDesignator = "DCM"
    other.CodeMeaning = "Retain Longitudinal Temporal Information Modified Dates Option"
    return ct(
        PatientIdentityRemoved="YES",
        DeidentificationMethod=["OTHER TOOL 2.1", "HOSPITAL SOP 12"],
        DeidentificationMethodCodeSequence=Sequence([item, other]),
        LongitudinalTemporalInformationModified=temporal,
    )


def test_an_earlier_record_stays_and_ours_is_added() -> None:
    out = run(ConfidentialityProfile.create_default(), earlier_deidentified())
    assert out.PatientIdentityRemoved == "YES"
    assert methods(out)[:2] == ["OTHER TOOL 2.1", "HOSPITAL SOP 12"]
    assert methods(out)[2:] == ["dicomveil 0.1.0", f"PS3.15 {EDITION} Basic Profile"]
    # the earlier items first; 113100 is there already, so not repeated
    assert codes(out) == ["113100", "113107"]
    assert out.LongitudinalTemporalInformationModified == "REMOVED"  # ours: dates removed
    # kept dates (Retain Full Dates says UNMODIFIED) do not undo the earlier shift
    out = run(
        ConfidentialityProfile.create_default(O.RETAIN_LONG_FULL_DATES), earlier_deidentified()
    )
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    assert codes(out) == ["113100", "113107", "113106"]
    # run again on our own output: nothing is repeated
    data = DicomFile.open(earlier_deidentified())
    anon = Anonymizer(key=TEST_KEY)
    twice = anon.anonymize(anon.anonymize(data))
    twice_ds = pydicom.dcmread(io.BytesIO(twice.to_bytes()))
    assert methods(twice_ds) == methods(
        run(ConfidentialityProfile.create_default(), earlier_deidentified())
    )


def test_a_weak_profile_on_a_file_de_identified_before_keeps_its_yes() -> None:
    out = quiet(rules_only(("PatientName", "Z")), earlier_deidentified())
    assert out.PatientIdentityRemoved == "YES"
    assert methods(out)[-1] == "custom profile"
    assert codes(out) == ["113100", "113107"]


def test_cli_prints_the_warning_once(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        (src / f"{i}.dcm").write_bytes(ct(SOPInstanceUID=f"1.2.826.0.1.3680043.8.498.1601.9{i}"))
    profile = tmp_path / "weak.csv"
    profile.write_text("TagPattern;Action\nPatientName;Z\n", encoding="utf-8")
    r = run_cli("anonymize", src, tmp_path / "out", "--profile", profile, "-q")
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "weaker than the PS3.15 Basic profile" in ln]
    assert len(lines) == 1 and lines[0].startswith("warning: ")
    assert "Traceback" not in r.stderr and "UserWarning" not in r.stderr
    out = pydicom.dcmread(tmp_path / "out" / "0.dcm")
    assert out.PatientIdentityRemoved == "NO"
    # verify agrees: the output does not claim the identity removed
    r = run_cli("verify", tmp_path / "out", "--profile", profile)
    assert r.returncode == 1 and "identity-not-removed" in r.stdout
