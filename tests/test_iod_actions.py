"""Actions resolved by the object's IOD (PS3.3), on whole objects: what each resolution writes,
the literal switch, the precedence of the profile's letters, `verify`, and `profile show
--sop-class`. The decision table itself is tested cell by cell in src/profile.rs
(`codes_resolve_by_type`); dciodvfy's verdict on ten IODs under every option is in
test_conformance.py.
"""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from dicomveil import (
    Action,
    Anonymizer,
    ConfidentialityProfile,
    ConfidentialityProfileOptions,
    DicomFile,
    ResolvedRule,
    verify,
)
from iod_objects import BUILDERS, GSPS
from util import TEST_KEY, dciodvfy_errors, map_uid, run_cli

Options = ConfidentialityProfileOptions
CT = "1.2.840.10008.5.1.4.1.1.2"


def build(name: str) -> bytes:
    ds = BUILDERS[name]()
    bio = io.BytesIO()
    ds.save_as(bio, enforce_file_format=True)
    return bio.getvalue()


def run(
    data: bytes,
    profile: ConfidentialityProfile | None = None,
    *,
    conform: bool = True,
) -> pydicom.Dataset:
    profile = profile if profile is not None else ConfidentialityProfile.create_default()
    profile.conform_to_iod = conform
    anon = Anonymizer(profile, key=TEST_KEY, burned_in="allow")
    return pydicom.dcmread(io.BytesIO(anon.anonymize(DicomFile.open(data)).to_bytes()))


def test_a_required_attribute_is_kept_with_a_dummy_where_the_table_removes_it() -> None:
    """GSPS: Presentation Creation Date and Time are X in Table E.1-1 and Type 1 in the
    Presentation State Identification Module: dummies. Content Creator's Name (Z/D) is Type 2:
    empty. Literally, the X removes them."""
    data = build("gsps")
    out = run(data)
    assert out.PresentationCreationDate == "19000101"
    assert out.PresentationCreationTime == "000000"
    assert out.ContentCreatorName == ""
    assert "InstitutionName" not in out  # X/Z/D, Type 3 (General Equipment)
    assert "ReferencedStudySequence" not in out  # X/Z, Type 3: not an empty sequence
    literal = run(data, conform=False)
    assert "PresentationCreationDate" not in literal
    assert "PresentationCreationTime" not in literal
    assert literal.ContentCreatorName == "ANONYMIZED"  # Z/D's fixed choice D
    assert literal.InstitutionName == "ANONYMIZED"  # X/Z/D's fixed choice D


@pytest.mark.skipif(not __import__("shutil").which("dciodvfy"), reason="dciodvfy not installed")
def test_the_literal_profile_is_what_breaks_the_object(tmp_path: Path) -> None:
    """The conformance test can fail: literally, the GSPS loses two Type 1 attributes."""
    out = tmp_path / "literal.dcm"
    profile = ConfidentialityProfile.create_default()
    profile.conform_to_iod = False
    anon = Anonymizer(profile, key=TEST_KEY)
    out.write_bytes(anon.anonymize(DicomFile.open(build("gsps"))).to_bytes())
    errors, read_ok = dciodvfy_errors(out)
    assert read_ok
    missing = [e for e in errors if "Missing attribute" in e and "Type 1 Required" in e]
    assert any("PresentationCreationDate" in e for e in missing), sorted(errors)
    assert any("PresentationCreationTime" in e for e in missing), sorted(errors)


def test_a_required_sequence_the_profile_removes_keeps_its_first_item_dummied() -> None:
    """A custom X on Referenced Series Sequence, Type 1 in the GSPS's Presentation State
    Relationship Module: the sequence stays with its first item only, whose values get
    dummies and whose UIDs are replaced; inside it, the Type 1 Referenced Image Sequence
    keeps its items with their UIDs replaced."""
    data = build("gsps")
    before = pydicom.dcmread(io.BytesIO(data))
    series_in = before.ReferencedSeriesSequence[0]
    before.ReferencedSeriesSequence.append(series_in)  # two items in: one out
    bio = io.BytesIO()
    before.save_as(bio, enforce_file_format=True)
    profile = ConfidentialityProfile.empty({"ReferencedSeriesSequence": "X", "PatientName": "X"})
    out = run(bio.getvalue(), profile)
    assert len(out.ReferencedSeriesSequence) == 1
    series = out.ReferencedSeriesSequence[0]
    assert series.SeriesInstanceUID == map_uid(TEST_KEY, series_in.SeriesInstanceUID)
    images = series.ReferencedImageSequence
    assert len(images) == len(series_in.ReferencedImageSequence) == 3
    for got, was in zip(images, series_in.ReferencedImageSequence, strict=True):
        assert got.ReferencedSOPClassUID == was.ReferencedSOPClassUID  # a class: kept
        assert got.ReferencedSOPInstanceUID == map_uid(TEST_KEY, was.ReferencedSOPInstanceUID)
    assert out.PatientName == ""  # X, Type 2 in the Patient Module: Z
    # literally: removed
    literal = run(
        bio.getvalue(),
        ConfidentialityProfile.empty({"ReferencedSeriesSequence": "X"}),
        conform=False,
    )
    assert "ReferencedSeriesSequence" not in literal


def test_the_profile_letters_decide_first() -> None:
    """K, C, U and D are applied as written, whatever the type; only removals and empties of
    required attributes and the compound codes depend on it."""
    data = build("gsps")
    profile = ConfidentialityProfile.empty(
        {
            "PresentationCreationDate": "K",  # Type 1: kept as is
            "ContentCreatorName": "D",  # Type 2: a dummy, as written
            "ContentLabel": "X",  # Type 1 (a CS): a dummy
            "InstitutionName": "Z",  # Type 3: Z as written
        }
    )
    before = pydicom.dcmread(io.BytesIO(data))
    out = run(data, profile)
    assert out.PresentationCreationDate == before.PresentationCreationDate
    assert out.ContentCreatorName == "ANONYMIZED"
    assert out.ContentLabel == "ANONYMIZED"
    assert out.InstitutionName == ""


def test_a_conditional_attribute_present_in_the_input_is_kept_valid() -> None:
    """Request Attributes Sequence, kept and cleaned under Clean Descriptors: its Requested
    Procedure ID and Scheduled Procedure Step ID (X in the table) are Type 1C in the Request
    Attributes Macro and present, so their condition held: dummies, not removed."""
    data = build("enhanced_ct")
    before = pydicom.dcmread(io.BytesIO(data))
    assert "RequestAttributesSequence" in before
    item_in = before.RequestAttributesSequence[0]
    assert "RequestedProcedureID" in item_in and "ScheduledProcedureStepID" in item_in
    out = run(data, ConfidentialityProfile.create_default(Options.CLEAN_DESC))
    item = out.RequestAttributesSequence[0]
    assert item.RequestedProcedureID == "ANONYMIZED"
    assert item.ScheduledProcedureStepID == "ANONYMIZED"
    assert "ReferencedStudySequence" not in item  # X/Z, Type 3 inside the macro


def test_a_type_2_attribute_inside_a_sequence_is_emptied() -> None:
    """Comprehensive SR: Referenced Request Sequence > Requested Procedure ID is X in the
    table and Type 2 there (SR Document General Module): zero length."""
    data = build("comprehensive_sr")
    before = pydicom.dcmread(io.BytesIO(data))
    assert before.ReferencedRequestSequence[0].RequestedProcedureID
    out = run(data)
    assert out.ReferencedRequestSequence[0].RequestedProcedureID == ""
    literal = run(data, conform=False)
    assert "RequestedProcedureID" not in literal.ReferencedRequestSequence[0]


def test_an_unknown_sop_class_is_decided_by_the_table_alone() -> None:
    """A private SOP class: no IOD, so the compound codes take their fixed choices."""
    before = pydicom.dcmread(io.BytesIO(build("gsps")))
    before.SOPClassUID = "1.2.826.0.1.3680043.8.498.999"
    before.file_meta.MediaStorageSOPClassUID = before.SOPClassUID
    bio = io.BytesIO()
    before.save_as(bio, enforce_file_format=True)
    out = run(bio.getvalue())
    assert "PresentationCreationDate" not in out  # X
    assert out.InstitutionName == "ANONYMIZED"  # X/Z/D -> D
    assert out.ContentCreatorName == "ANONYMIZED"  # Z/D -> D


def test_the_meta_names_the_class_when_the_dataset_does_not() -> None:
    before = pydicom.dcmread(io.BytesIO(build("gsps")))
    del before.SOPClassUID
    bio = io.BytesIO()
    before.save_as(bio, enforce_file_format=True)
    assert before.file_meta.MediaStorageSOPClassUID == GSPS
    out = run(bio.getvalue())
    assert out.PresentationCreationDate == "19000101"


@pytest.mark.parametrize("name", list(BUILDERS))
def test_verify_agrees_with_the_resolution(name: str, tmp_path: Path) -> None:
    """verify resolves as the anonymizer does: a required attribute kept with a dummy is no
    finding; checked literally, the same output has them."""
    src = tmp_path / "in.dcm"
    src.write_bytes(build(name))
    out = tmp_path / "out"
    out.mkdir()
    Anonymizer(key=TEST_KEY, burned_in="allow").anonymize_file(src, out / "out.dcm")
    report = verify(out)
    assert report.ok, [str(f) for f in report.findings]
    if name == "gsps":
        literal = ConfidentialityProfile.create_default()
        literal.conform_to_iod = False
        kinds = {(f.kind, f.keyword) for f in verify(out, profile=literal).findings}
        assert ("not-removed", "PresentationCreationDate") in kinds


def test_resolve_for_names_type_and_effect() -> None:
    profile = ConfidentialityProfile.create_default()
    rules = {r.keyword: r for r in profile.resolve_for(GSPS) if r.keyword}
    assert rules["PresentationCreationDate"] == ResolvedRule(
        "0070,0082", "0070,0082", 0x00700082, "PresentationCreationDate", Action.X, "1", "D"
    )
    assert rules["ContentCreatorName"][-3:] == (Action.Z_D, "2", "Z")
    assert rules["InstitutionName"][-3:] == (Action.X_Z_D, "3", "X")
    assert rules["ReferencedImageSequence"][-2:] == (None, "U*")  # not at the top of a GSPS
    assert rules["StudyInstanceUID"][-2:] == ("1", "U")
    private = [r for r in profile.resolve_for(GSPS) if r.canonical == "gggg,eeee (gggg odd)"]
    assert [(r.iod_type, r.effective) for r in private] == [(None, "X")]
    # literal, or a class the tables do not know: the fixed choices
    profile.conform_to_iod = False
    rules = {r.keyword: r for r in profile.resolve_for(GSPS) if r.keyword}
    assert rules["PresentationCreationDate"][-2:] == (None, "X")
    assert rules["InstitutionName"][-2:] == (None, "D")
    profile.conform_to_iod = True
    rules = {r.keyword: r for r in profile.resolve_for("1.2.3.4") if r.keyword}
    assert rules["InstitutionName"][-2:] == (None, "D")


def test_conform_to_iod_is_part_of_the_profile() -> None:
    a, b = ConfidentialityProfile.create_default(), ConfidentialityProfile.create_default()
    assert a.conform_to_iod is True and a == b
    b.conform_to_iod = False
    assert a != b
    with pytest.raises(TypeError):
        b.conform_to_iod = "no"  # type: ignore[assignment]


def test_cli_profile_show_sop_class() -> None:
    r = run_cli("profile", "show", "--sop-class", "Grayscale Softcopy Presentation State")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert any("IOD 'Grayscale Softcopy Presentation State'" in ln for ln in lines)
    row = next(ln.split() for ln in lines if "PresentationCreationDate" in ln)
    assert row[:5] == ["(0070,0082)", "PresentationCreationDate", "X", "1", "D"]
    row = next(ln.split() for ln in lines if " InstitutionName " in ln)
    assert row[:5] == ["(0008,0080)", "InstitutionName", "X/Z/D", "3", "X"]
    # by UID, and literally
    r = run_cli("profile", "show", "--sop-class", GSPS, "--literal")
    row = next(ln.split() for ln in r.stdout.splitlines() if "PresentationCreationDate" in ln)
    assert row[2:5] == ["X", "-", "X"]
    # a name the tables do not know: an error; a UID they do not know: a warning
    r = run_cli("profile", "show", "--sop-class", "CT Imagery")
    assert r.returncode == 2 and "neither a SOP Class UID nor the name of an IOD" in r.stderr
    r = run_cli("profile", "show", "--sop-class", "1.2.3.4")
    assert r.returncode == 0 and "warning: SOP class 1.2.3.4 is not in the IOD tables" in r.stderr
    r = run_cli("profile", "show", "--sop-class", "ct image")
    assert r.returncode == 0 and CT in r.stdout


def test_cli_literal(tmp_path: Path) -> None:
    src = tmp_path / "gsps.dcm"
    src.write_bytes(build("gsps"))
    for flags, present in (([], True), (["--literal"], False)):
        out = tmp_path / f"out{len(flags)}.dcm"
        r = run_cli("anonymize", src, out, "-q", *flags)
        assert r.returncode == 0, r.stderr
        assert ("PresentationCreationDate" in pydicom.dcmread(out)) is present
        # verify with the same flags: clean
        r = run_cli("verify", out, *flags)
        assert r.returncode == 0, r.stdout + r.stderr


def test_the_list_of_table_only_attributes_is_up_to_date() -> None:
    """docs/table-only.md lists the rows of Table E.1-1 that the IOD tables list nowhere:
    regenerated by scripts/list_table_only.py from the committed tables."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, str(root / "scripts" / "list_table_only.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    text = (root / "docs" / "table-only.md").read_text(encoding="utf-8")
    # one added after the 2020 source, one listed by the tables (so not here)
    assert "| (0008,0017) | AcquisitionUID |" in text
    assert "PresentationCreationDate" not in text


def test_a_dummy_document_is_a_document_of_its_type() -> None:
    """Encapsulated Document is D: the dummy is a blank PDF (the MIME type says PDF), and the
    Encapsulated Document Length says its length, not the original's."""
    data = build("encapsulated_pdf")
    before = pydicom.dcmread(io.BytesIO(data))
    assert before.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert b"stream" in before.EncapsulatedDocument  # a page with text
    for conform in (True, False):
        out = run(data, conform=conform)
        doc = out.EncapsulatedDocument
        assert doc.startswith(b"%PDF-1.4\n") and doc.rstrip(b"\0").endswith(b"%%EOF\n")
        assert b"stream" not in doc  # a blank page: no content
        assert out.EncapsulatedDocumentLength == len(doc.rstrip(b"\0")) == len(doc) - len(doc) % 2
        assert out.EncapsulatedDocumentLength != before.EncapsulatedDocumentLength


def test_a_dummy_code_string_is_one_of_its_terms() -> None:
    """D on a CS whose Enumerated Values or Defined Terms PS3.3 lists: a value that is one of
    them is kept (it identifies no one), another value becomes the first term; with no terms,
    the VR's dummy."""
    data = build("gsps")
    profile = ConfidentialityProfile.empty(
        {
            "PresentationLUTShape": "D",  # IDENTITY, one of IDENTITY, INVERSE: kept
            "PresentationSizeMode": "D",  # inside Displayed Area Selection: SCALE TO FIT
            "ContentLabel": "D",  # a CS with no terms (a label): the VR's dummy
            "Modality": "X",  # Type 1, General Series' Defined Terms: PR is one: kept
            "BodyPartExamined": "D",  # terms in PS3.16, not in the tables: the VR's dummy
        }
    )
    out = run(data, profile)
    assert out.PresentationLUTShape == "IDENTITY"
    assert out.DisplayedAreaSelectionSequence[0].PresentationSizeMode == "SCALE TO FIT"
    assert out.ContentLabel == "ANONYMIZED"
    assert out.Modality == "PR"
    assert out.BodyPartExamined == "ANONYMIZED"
    # a value that is no term: the first term
    before = pydicom.dcmread(io.BytesIO(data))
    before.PresentationLUTShape = "MOREAU"
    bio = io.BytesIO()
    before.save_as(bio, enforce_file_format=True)
    out = run(bio.getvalue(), ConfidentialityProfile.empty({"PresentationLUTShape": "D"}))
    assert out.PresentationLUTShape == "IDENTITY"
    # literally, no IOD: the VR's dummy
    out = run(data, ConfidentialityProfile.empty({"PresentationLUTShape": "D"}), conform=False)
    assert out.PresentationLUTShape == "ANONYMIZED"
