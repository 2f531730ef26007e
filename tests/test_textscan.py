"""What C finds in text besides the file's own identifying values (issue 17, the engine part):
dates written in text follow the date attributes (shifted by the same offset, kept, or
removed), contact details and identifiers are removed, medical and technical text is kept.

Expected shifted dates are computed here from the StudyDate's own shift (its value in and out),
with the datetime module, in the form each date was written.
"""

from __future__ import annotations

import datetime as dt
import io

import pydicom
import pytest
from dicomveil import (
    Anonymizer,
    ConfidentialityProfile,
    ConfidentialityProfileOptions,
    DicomFile,
)
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from util import part10

O = ConfidentialityProfileOptions  # noqa: E741
KEY = b"textscan-test-key-0042"
ROOT = "1.2.826.0.1.3680043.8.498.1717"
CT = "1.2.840.10008.5.1.4.1.1.2"
BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.88.11"
REMOVED = "[REMOVED]"
STUDY_DATE = "20210314"

ROMAN = "I II III IV V VI VII VIII IX X XI XII".split()

# Dates written in text, with the date each one names and how to write a date that way.
DATES = [
    ("2021-03-04", dt.date(2021, 3, 4), lambda d: f"{d:%Y-%m-%d}"),
    ("20210314", dt.date(2021, 3, 14), lambda d: f"{d:%Y%m%d}"),
    ("13-Jul-1966", dt.date(1966, 7, 13), lambda d: f"{d:%d-%b-%Y}"),
    ("July 13, 1966", dt.date(1966, 7, 13), lambda d: f"{d:%B} {d.day}, {d.year}"),
    ("14/07/2021", dt.date(2021, 7, 14), lambda d: f"{d:%d/%m/%Y}"),
    ("1966.07.13", dt.date(1966, 7, 13), lambda d: f"{d:%Y.%m.%d}"),
    # the month in Roman numerals, and a German date typed with spaces after the dots
    ("13.VII.1966", dt.date(1966, 7, 13), lambda d: f"{d.day}.{ROMAN[d.month - 1]}.{d.year}"),
    ("14. 3. 2021", dt.date(2021, 3, 14), lambda d: f"{d.day}. {d.month}. {d.year}"),
]
DATED_TEXT = "Prior {} and {}; onset {} ({}); seen {} at 10:22; ref {}; Vorbefund {}, {}."
AMBIGUOUS = "04/03/2021"
CONTACTS = (
    "call 555 0199 or (555) 123-4567, +33 1 23 45 67 89, ext. 4471; mail john.doe66@example.org; "
    "https://pacs.example.org/viewer?study=1; MRN12345, AB-123456, ACC2021-0042, "
    "12345678901, MRN: 778899"
)
CONTACTS_REMOVED = (
    "call [REMOVED] or [REMOVED], [REMOVED], ext. [REMOVED]; mail [REMOVED]; "
    "[REMOVED]; [REMOVED], [REMOVED], [REMOVED], "
    "[REMOVED], MRN: [REMOVED]"
)
MEDICAL = (
    "AX 5mm 120kV 3.0T T1W T2* b1000 DWI ADC 3D_T1_MPRAGE SE2D ep2d_diff_b1000, "
    "2.5 mg/kg, 512x512, Series 3, 12.5 cm lesion, left lung, DWI b0-b1000, AW Server 3.2 Ext. 4.1"
)


def base(sop_class: str = CT) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = f"{ROOT}.1"
    ds.StudyInstanceUID = f"{ROOT}.2"
    ds.SeriesInstanceUID = f"{ROOT}.3"
    ds.PatientName = "Doe^John"
    ds.PatientID = "PID-1717"
    ds.PatientBirthDate = "19700215"
    ds.StudyDate = ds.SeriesDate = STUDY_DATE
    ds.StudyTime = "102233"
    ds.AcquisitionDateTime = STUDY_DATE + "102233"
    ds.Modality = "CT"
    return ds


def ct() -> Dataset:
    ds = base()
    ds.ImageComments = DATED_TEXT.format(*(t for t, _, _ in DATES)) + f" {CONTACTS}. {MEDICAL}"
    ds.StudyDescription = f"CT chest {STUDY_DATE}, ambiguous {AMBIGUOUS}"
    ds.SeriesDescription = f"DT {STUDY_DATE}102233"
    # free text the table does not list, cleaned by default, at the top and at depth 2
    ds.ContentDescription = "Exported 2021-03-04 for MRN12345"
    modifier = Dataset()
    modifier.CodeValue = "7771000"  # SNOMED CT "Left": a code, not scanned
    modifier.CodingSchemeDesignator = "SCT"
    modifier.CodeMeaning = "Left, drawn 2021-03-04"
    region = Dataset()
    region.CodeValue = "39607008"  # SNOMED CT "Lung structure": 8 digits, kept
    region.CodingSchemeDesignator = "SCT"
    region.CodeMeaning = "Lung structure"
    region.AnatomicRegionModifierSequence = Sequence([modifier])
    ds.AnatomicRegionSequence = Sequence([region])
    return ds


def run(ds: Dataset, options: int) -> Dataset:
    profile = ConfidentialityProfile.create_default(options)
    out = Anonymizer(profile, key=KEY, burned_in="allow").anonymize(DicomFile.open(part10(ds)))
    return pydicom.dcmread(io.BytesIO(out.to_bytes()))


def offset_of(out: Dataset) -> dt.timedelta:
    """How far the StudyDate moved back."""
    moved = dt.datetime.strptime(out.StudyDate, "%Y%m%d").date()
    return dt.date(2021, 3, 14) - moved


def comments(dates: list[str], contacts: str = CONTACTS_REMOVED) -> str:
    return DATED_TEXT.format(*dates) + f" {contacts}. {MEDICAL}"


MODIFIED = O.CLEAN_DESC | O.RETAIN_LONG_MODIF_DATES
FULL = O.CLEAN_DESC | O.RETAIN_LONG_FULL_DATES


def test_dates_in_text_move_with_the_study_date() -> None:
    out = run(ct(), MODIFIED)
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    offset = offset_of(out)
    assert dt.timedelta(days=1) <= offset <= dt.timedelta(days=3650)
    shifted = [write(date - offset) for _, date, write in DATES]
    assert out.ImageComments == comments(shifted)
    # the date written as the StudyDate is written is the shifted StudyDate, exactly
    assert out.StudyDescription == f"CT chest {out.StudyDate}, ambiguous {REMOVED}"
    # a DT in text moves as the DT attributes do, its time kept
    assert out.SeriesDescription == f"DT {out.AcquisitionDateTime}"
    assert out.AcquisitionDateTime.endswith("102233")
    assert out.StudyTime == "102233"
    # at every depth, in text no rule names; code values are not scanned
    assert out.ContentDescription == f"Exported {shifted[0]} for {REMOVED}"
    region = out.AnatomicRegionSequence[0]
    assert (region.CodeValue, region.CodeMeaning) == ("39607008", "Lung structure")
    modifier = region.AnatomicRegionModifierSequence[0]
    assert modifier.CodeValue == "7771000"
    assert modifier.CodeMeaning == f"Left, drawn {shifted[0]}"


def test_the_offset_is_the_patients_in_every_file() -> None:
    """Another file of the same patient, another study date: the same offset in its text."""
    first = run(ct(), MODIFIED)
    ds = ct()
    ds.SOPInstanceUID = f"{ROOT}.9"
    ds.StudyDate = "20220101"
    ds.StudyDescription = "CT chest 2022-01-01"
    second = run(ds, MODIFIED)
    moved = dt.datetime.strptime(second.StudyDate, "%Y%m%d").date()
    assert dt.date(2022, 1, 1) - moved == offset_of(first)
    assert second.StudyDescription == f"CT chest {moved:%Y-%m-%d}"


def test_full_dates_keep_the_dates_in_text() -> None:
    src = ct()
    out = run(src, FULL)
    assert out.LongitudinalTemporalInformationModified == "UNMODIFIED"
    assert out.StudyDate == STUDY_DATE
    assert out.ImageComments == comments([t for t, _, _ in DATES])
    # nothing to guess when nothing moves: the ambiguous date is kept too
    assert out.StudyDescription == src.StudyDescription
    assert out.SeriesDescription == src.SeriesDescription
    assert out.ContentDescription == f"Exported 2021-03-04 for {REMOVED}"


def test_without_a_date_option_the_dates_in_text_are_removed() -> None:
    out = run(ct(), O.CLEAN_DESC)
    assert out.LongitudinalTemporalInformationModified == "REMOVED"
    assert out.ImageComments == comments([REMOVED] * len(DATES))
    assert out.StudyDescription == f"CT chest {REMOVED}, ambiguous {REMOVED}"
    assert out.SeriesDescription == f"DT {REMOVED}"
    # the Basic profile alone: the descriptions go (X), the unlisted text is cleaned
    basic = run(ct(), O.BASIC_PROFILE)
    assert "ImageComments" not in basic
    assert basic.ContentDescription == f"Exported {REMOVED} for {REMOVED}"


def test_structured_content_text_at_depth() -> None:
    def text_item(value: str) -> Dataset:
        concept = Dataset()
        concept.CodeValue, concept.CodingSchemeDesignator = "121071", "DCM"
        concept.CodeMeaning = "Finding"
        item = Dataset()
        item.RelationshipType, item.ValueType = "CONTAINS", "TEXT"
        item.ConceptNameCodeSequence = Sequence([concept])
        item.TextValue = value
        return item

    text = "Compared with 13 July 1966 and 2021-03-04; call 555-0199 (Dr. Doe)"
    container = Dataset()
    container.RelationshipType, container.ValueType = "CONTAINS", "CONTAINER"
    container.ContinuityOfContent = "SEPARATE"
    container.ContentSequence = Sequence([text_item(text)])
    ds = base(BASIC_TEXT_SR)
    ds.Modality = "SR"
    ds.ValueType = "CONTAINER"
    ds.ContentSequence = Sequence([text_item(text), container])
    out = run(ds, O.CLEAN_STRUCTD_CONT | O.RETAIN_LONG_MODIF_DATES)
    offset = offset_of(out)
    old, recent = dt.date(1966, 7, 13) - offset, dt.date(2021, 3, 4) - offset
    want = (
        f"Compared with {old.day} {old:%B %Y} and {recent:%Y-%m-%d}; call {REMOVED} (Dr. {REMOVED})"
    )
    assert out.ContentSequence[0].TextValue == want
    assert out.ContentSequence[1].ContentSequence[0].TextValue == want


@pytest.mark.parametrize(
    "text",
    [
        "CT chest w/o contrast",
        MEDICAL,
        "Knee MRI, 3 sequences, TR 2000 TE 90, FOV 240 x 240 mm, matrix 1024 1024",
        "b 0 500 1000, kVp 80 100 120 140, 10:22:33, 2019-2021",
        "CTDIvol 12.34 mGy, DLP 456.78 mGy*cm, pixel spacing 0.48828125",
    ],
)
@pytest.mark.parametrize("options", [MODIFIED, FULL, O.CLEAN_DESC], ids=["modif", "full", "basic"])
def test_text_with_nothing_found_is_byte_identical(text: str, options: int) -> None:
    ds = base()
    ds.ImageComments = text
    data = part10(ds)
    profile = ConfidentialityProfile.create_default(options)
    out = Anonymizer(profile, key=KEY).anonymize(DicomFile.open(data)).to_bytes()
    before = pydicom.dcmread(io.BytesIO(data))["ImageComments"]
    after = pydicom.dcmread(io.BytesIO(out))["ImageComments"]
    assert after.value == before.value == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5. März 2021", "{d.day}. {de} {d.year}"),
        ("5 mars 2021", "{d.day} {fr} {d.year}"),
        ("5 MARCH 2021", "{d.day} {en_upper} {d.year}"),
    ],
)
def test_month_names_in_other_languages(text: str, expected: str) -> None:
    de = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
          "September", "Oktober", "November", "Dezember"]  # fmt: skip
    fr = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
          "septembre", "octobre", "novembre", "décembre"]  # fmt: skip
    ds = base()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.ImageComments = f"Befund vom {text}"
    out = run(ds, MODIFIED)
    d = dt.date(2021, 3, 5) - offset_of(out)
    want = expected.format(d=d, de=de[d.month - 1], fr=fr[d.month - 1], en_upper=f"{d:%B}".upper())
    assert out.ImageComments == f"Befund vom {want}"


def test_a_cleaned_code_string_becomes_a_dummy() -> None:
    """A code string (CS) without terms is cleaned as text: one that held a date or an ID
    cannot hold "[REMOVED]", it is given a dummy (as before for names)."""
    ds = base()
    ds.ContentLabel = "MRN12345"
    out = run(ds, O.CLEAN_DESC)
    assert out.ContentLabel != "MRN12345"
    assert REMOVED not in out.ContentLabel
