"""Attributes Table E.1-1 does not list (issue 16): by default (``unlisted="clean"``) person
names are removed, instance UIDs replaced at any depth, free text cleaned, and the issuers of
identifiers follow Issuer of Patient ID; ``unlisted="keep"`` gives the table exactly."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from conftest import ANONYMIZED_CORPUS, anonymize_file, corpus_id
from dicomveil import (
    Anonymizer,
    ConfidentialityProfile,
    ConfidentialityProfileOptions,
    DicomFile,
    verify,
)
from iod_objects import BUILDERS
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from util import TEST_KEY, dict_vr, map_uid, part10, walk

O = ConfidentialityProfileOptions  # noqa: E741
CT = "1.2.840.10008.5.1.4.1.1.2"
ROOT = "1.2.826.0.1.3680043.8.498.1602"
CLASS_UIDS = Path(__file__).resolve().parent.parent / "python/dicomveil/data/class_uids.csv"


def ct() -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = f"{ROOT}.1"
    ds.StudyInstanceUID = f"{ROOT}.2"
    ds.SeriesInstanceUID = f"{ROOT}.3"
    ds.PatientName = "Moreau^Camille"
    ds.PatientID = "MRN-1602"
    ds.IssuerOfPatientID = "HOPITAL SAINT-EXEMPLE"
    ds.InstitutionName = "Hopital Saint-Exemple"
    ds.Modality = "CT"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.Manufacturer = "ACME Medical"
    # unlisted, names someone
    ds.EvaluatorName = "Lefebvre^Anne"
    issuer = Dataset()
    issuer.UniversalEntityID = "1.2.250.1.71.4.2.7"
    issuer.UniversalEntityIDType = "ISO"
    facility = Dataset()
    facility.LocalNamespaceEntityID = "SAINT-EXEMPLE"
    issuer.AssigningFacilitySequence = Sequence([facility])
    ds.IssuerOfPatientIDQualifiersSequence = Sequence([issuer])
    accession_issuer = Dataset()
    accession_issuer.LocalNamespaceEntityID = "RIS SAINT-EXEMPLE"
    ds.IssuerOfAccessionNumberSequence = Sequence([accession_issuer])
    # unlisted instance UIDs, at the top and nested
    ds.SOPInstanceUIDOfConcatenationSource = f"{ROOT}.19580612.4"
    nested = Dataset()
    nested.CodeValue = "T-D3000"
    nested.CodingSchemeDesignator = "SRT"
    nested.CodeMeaning = "Chest"
    nested.CodingSchemeUID = "2.16.840.1.113883.6.96"  # names a coding scheme: kept
    nested.SecondaryReviewerName = "Bonnet^Marc"
    ds.AnatomicRegionSequence = Sequence([nested])
    # unlisted free text
    ds.ImageLaterality = "R"
    ds.ContentDescription = "Processed for MOREAU, no contrast"
    return ds


def run(profile: ConfidentialityProfile | None, ds: Dataset) -> Dataset:
    anon = Anonymizer(profile, key=TEST_KEY)
    out = anon.anonymize(DicomFile.open(part10(ds)))
    return pydicom.dcmread(io.BytesIO(out.to_bytes()))


def test_the_default_treats_the_unlisted_attributes() -> None:
    out = run(None, ct())
    assert "EvaluatorName" not in out  # PN, Type 3 where it is: removed
    nested = out.AnatomicRegionSequence[0]
    assert "SecondaryReviewerName" not in nested
    assert out.SOPInstanceUIDOfConcatenationSource == map_uid(TEST_KEY, f"{ROOT}.19580612.4")
    assert nested.CodingSchemeUID == "2.16.840.1.113883.6.96"
    assert (nested.CodeValue, nested.CodeMeaning) == ("T-D3000", "Chest")
    # issuers follow Issuer of Patient ID: X
    assert "IssuerOfPatientID" not in out
    assert "IssuerOfPatientIDQualifiersSequence" not in out
    assert "IssuerOfAccessionNumberSequence" not in out
    # free text cleaned of the file's own identifiers, the rest kept
    assert out.ContentDescription == "Processed for [REMOVED], no contrast"
    assert out.Manufacturer == "ACME Medical"
    # codes kept: Image Type and Modality have terms; Specific Character Set is structure
    assert list(out.ImageType) == ["ORIGINAL", "PRIMARY", "AXIAL"]
    assert out.Modality == "CT" and out.ImageLaterality == "R"


def test_keep_gives_the_table_exactly() -> None:
    profile = ConfidentialityProfile.create_default()
    profile.unlisted = "keep"
    src = ct()
    out = run(profile, src)
    assert out.EvaluatorName == "Lefebvre^Anne"
    assert out.AnatomicRegionSequence[0].SecondaryReviewerName == "Bonnet^Marc"
    assert out.SOPInstanceUIDOfConcatenationSource == src.SOPInstanceUIDOfConcatenationSource
    assert out.IssuerOfPatientIDQualifiersSequence[0].UniversalEntityID == "1.2.250.1.71.4.2.7"
    assert out.ContentDescription == src.ContentDescription
    assert "IssuerOfPatientID" not in out  # listed: X either way


def test_retain_options_extend_to_the_unlisted_attributes() -> None:
    src = ct()
    out = run(ConfidentialityProfile.create_default(O.RETAIN_UIDS), src)
    assert out.SOPInstanceUIDOfConcatenationSource == src.SOPInstanceUIDOfConcatenationSource
    out = run(ConfidentialityProfile.create_default(O.RETAIN_INSTITUTION_IDENT), src)
    assert out.IssuerOfPatientIDQualifiersSequence[0].UniversalEntityID == "1.2.250.1.71.4.2.7"
    assert out.IssuerOfAccessionNumberSequence[0].LocalNamespaceEntityID == "RIS SAINT-EXEMPLE"


def test_a_required_unlisted_name_keeps_a_valid_value() -> None:
    """An unlisted PN the IOD requires is emptied or given a dummy, not removed: a custom rule
    set without a rule for Patient's Name (Type 2 in a CT Image)."""
    profile = ConfidentialityProfile.load_from_csv_string("TagPattern;Action\nPatientID;Z\n")
    with pytest.warns(UserWarning):  # weaker than Basic: marked NO, and warned
        out = run(profile, ct())
    assert out.PatientName == ""
    assert out.PatientIdentityRemoved == "NO"


def test_a_label_code_string_is_cleaned_into_a_valid_one() -> None:
    """GSPS Content Label (CS, no terms, Type 1): the patient's name in it is no valid
    replacement text for a CS, so the label becomes a dummy."""
    ds = BUILDERS["gsps"]()
    assert ds.ContentLabel == "MOREAU_NODULE"
    out = run(None, ds)
    assert out.ContentLabel == "ANONYMIZED"
    assert "MOREAU" not in out.ContentDescription


@pytest.mark.parametrize("name", ["encapsulated_pdf", "twelve_lead_ecg", "enhanced_ct"])
def test_the_patient_is_gone_from_unlisted_text(name: str) -> None:
    ds = BUILDERS[name]()
    out = run(None, ds)
    texts = [
        str(e.value)
        for _, e in walk(out)
        if e.VR in ("LO", "SH", "ST", "LT", "UT", "UC", "CS", "PN") and e.value
    ]
    assert not [t for t in texts if "moreau" in t.lower() or "camille" in t.lower()], texts


def test_the_class_uid_list_names_real_attributes() -> None:
    """Every row of data/class_uids.csv is a UI attribute of the dictionary whose keyword says
    it names a kind of thing; and the usual kinds are there."""
    rows = [
        line.split(";")
        for line in CLASS_UIDS.read_text(encoding="utf-8").splitlines()
        if not line.startswith("#") and not line.startswith("tag;")
    ]
    assert len(rows) >= 25
    from pydicom.datadict import keyword_for_tag

    for tag_text, keyword, _names in rows:
        tag = int(tag_text.replace(",", ""), 16)
        assert dict_vr(tag) == "UI", tag_text
        assert keyword_for_tag(tag) == keyword, tag_text
    keywords = {r[1] for r in rows}
    assert {"SOPClassUID", "ReferencedSOPClassUID", "TransferSyntaxUID", "CodingSchemeUID"} <= (
        keywords
    )
    assert not keywords & {"SOPInstanceUID", "SOPInstanceUIDOfConcatenationSource"}


def _class_uid_tags() -> set[int]:
    return {
        int(line.split(";")[0].replace(",", ""), 16)
        for line in CLASS_UIDS.read_text(encoding="utf-8").splitlines()
        if not line.startswith("#") and not line.startswith("tag;")
    }


def _originals(ds: Dataset) -> tuple[set[str], set[str]]:
    """The person names and the instance UIDs (not under the DICOM root, not of a class-like
    attribute) of `ds`, at any depth, private attributes aside."""
    classes = _class_uid_tags()
    names, uids = set(), set()
    for _, e in walk(ds):
        if e.tag.is_private or e.value in (None, ""):
            continue
        if e.VR == "PN":
            values = (
                e.value if isinstance(e.value, (list, pydicom.multival.MultiValue)) else [e.value]
            )
            names |= {str(v) for v in values if str(v).strip("^ ")}
        elif e.VR == "UI" and int(e.tag) not in classes:
            values = (
                e.value if isinstance(e.value, (list, pydicom.multival.MultiValue)) else [e.value]
            )
            uids |= {str(v) for v in values if not str(v).startswith("1.2.840.10008.")}
    return names, uids


@pytest.mark.parametrize("path", ANONYMIZED_CORPUS, ids=[corpus_id(p) for p in ANONYMIZED_CORPUS])
def test_no_original_name_or_instance_uid_survives(path: Path) -> None:
    """Done-criterion of issue 16 on pydicom's files: under the default profile no person name
    and no instance UID of the original survives, at any depth, listed or not."""
    r = anonymize_file(path, "default")
    names, uids = _originals(r.ds_in)
    out_names, out_uids = _originals(r.ds_out)
    dummies = {"ANONYMIZED"}
    assert not (names & out_names) - dummies, sorted(names & out_names)
    assert not uids & out_uids, sorted(uids & out_uids)[:5]


@pytest.mark.parametrize("name", list(BUILDERS))
def test_verify_agrees_on_the_unlisted_attributes(name: str, tmp_path: Path) -> None:
    src = tmp_path / "in.dcm"
    BUILDERS[name]().save_as(src, enforce_file_format=True)
    out = tmp_path / "out"
    out.mkdir()
    Anonymizer(key=TEST_KEY, burned_in="allow").anonymize_file(src, out / "o.dcm")
    assert verify(out).ok
    # the input itself, checked as if it were an output: its unlisted names are findings
    report = verify(src)
    assert any(f.kind == "not-removed" for f in report.findings)
