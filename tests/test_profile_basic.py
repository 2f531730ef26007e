"""The Basic Application Level Confidentiality Profile, driven by PS3.15 Table E.1-1.

Three angles:
* every row of the table, on a dataset that holds one element for each row (exact outcome);
* every file of the corpus, element by element, against a model of the profile (exact outcome);
* every file of the corpus: no element the table names keeps its original non-empty value.
"""

from __future__ import annotations

import io

import pydicom
import pytest
from conftest import ANONYMIZED_CORPUS, anonymize_file, corpus_id
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from util import (
    CODED_CONCEPT_SEQUENCES,
    DICOM_ROOT,
    DUMMY,
    KEPT_IN_DUMMY_SEQUENCE,
    MARKER_TAGS,
    TEST_KEY,
    Rule,
    basic_profile_table,
    check_markers,
    diff_datasets,
    expected_dummy,
    fmt_path,
    get_path,
    holds_uid,
    iod_type,
    is_empty,
    map_uid,
    map_uid_value,
    model_anonymize,
    names_a_kind,
    norm,
    resolve_by_type,
    uid_strings,
    walk,
)

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"

# ---------------------------------------------------------------------------------------------
# The table itself (guards the loader the other tests rely on)
# ---------------------------------------------------------------------------------------------


def test_table_loads_with_expected_rows():
    table = basic_profile_table()
    assert len(table.exact) > 550
    assert {r.tag_text for r in table.rules if r.is_pattern} == {
        "50xx,xxxx",
        "60xx,4000",
        "60xx,3000",
    }
    assert table.action(0x00100010) == "Z"  # PatientName
    assert table.action(0x00100020) == "D"  # PatientID Z/D
    assert table.action(0x00080080) == "D"  # InstitutionName X/Z/D
    assert table.action(0x00080022) == "Z"  # AcquisitionDate X/Z
    assert table.action(0x00081072) == "D"  # OperatorIdentificationSequence X/D
    assert table.action(0x0020000D) == "U"  # StudyInstanceUID
    assert table.action(0x00081140) == "U*"  # ReferencedImageSequence X/Z/U*
    assert table.action(0x00101010) == "X"  # PatientAge
    assert table.action(0x60003000) == "X"  # OverlayData
    assert table.action(0x601E4000) == "X"  # OverlayComments, last repeating group
    assert table.action(0x50020005) == "X"  # curve data
    assert table.action(0x60000010) == "K"  # OverlayRows: not in the table
    assert table.action(0x00280010) == "K"  # Rows
    assert table.action(0x00080016) == "K"  # SOPClassUID


# ---------------------------------------------------------------------------------------------
# One element per row
# ---------------------------------------------------------------------------------------------

PATTERN_INSTANCES = {
    "50xx,xxxx": [(0x50000005, "US"), (0x50023000, "OB"), (0x501E0110, "US")],
    "60xx,4000": [(0x60004000, "LT"), (0x60024000, "LT")],
    "60xx,3000": [(0x60003000, "OW"), (0x601E3000, "OB")],
}

# elements no row names, put beside the others: they must come out untouched
CONTROL_ELEMENTS = [
    (0x00080016, "UI", CT_IMAGE_STORAGE),  # SOPClassUID
    (0x00280010, "US", 4),  # Rows
    (0x60020010, "US", 2),  # OverlayRows, in a group whose Overlay Comments go but no Overlay Data
    (0x00180050, "DS", "2.5"),  # SliceThickness
    (0x00080060, "CS", "CT"),  # Modality
    (0x00280030, "DS", ["0.5", "0.5"]),  # PixelSpacing
]


def sample_value(tag: int, vr: str) -> object:
    """A distinctive, valid value for each VR (distinct per tag where the VR allows text)."""
    h = f"{tag:08X}"
    return {
        "AE": f"AE{h}",
        "AS": "042Y",
        "CS": f"CS{h}",
        "DA": "20210315",
        "DS": "12.5",
        "DT": "20210315101112",
        "IS": "42",
        "LO": f"LO value {h}",
        "LT": f"LT text {h}",
        "PN": f"Family{h}^Given",
        "SH": f"SH-{h}",
        "ST": f"ST text {h}",
        "TM": "101112",
        "UC": f"UC text {h}",
        "UI": f"1.2.826.0.1.3680043.8.498.{tag}",
        "UR": f"http://example.org/{h}",
        "UT": f"UT text {h}",
        "US": 1234,
        "SS": -5,
        "UL": 123456,
        "SL": -123456,
        "FL": 1.5,
        "FD": 2.5,
        "OB": b"\x01\x02\x03\x04",
        "OW": b"\x01\x02\x03\x04",
        "UN": b"\x01\x02\x03\x04",
    }[vr]


# the rest of an overlay group whose Overlay Data (6000,3000) is in the dataset: removed with it
OVERLAY_GROUP_ELEMENTS = [
    (0x60000010, "US", 2),  # OverlayRows
    (0x60000011, "US", 2),  # OverlayColumns
    (0x60000040, "CS", "G"),  # OverlayType
]

# multi-valued samples for some 1-n rows: the whole value must be handled, not the first one
MULTI_VALUED = {
    0x00080058: [
        "1.2.826.0.1.3680043.8.498.58.1",
        "1.2.826.0.1.3680043.8.498.58.2",
    ],  # FailedSOPInstanceUIDList
    0x00083010: [
        "1.2.826.0.1.3680043.8.498.3010.1",
        CT_IMAGE_STORAGE + ".77",
    ],  # IrradiationEventUID
    0x00081070: ["Operator^One", "Operator^Two"],  # OperatorsName
    0x00101001: ["Other^Name^A", "Other^Name^B"],  # OtherPatientNames
    0x0072006A: ["Selector^One", "Selector^Two"],  # SelectorPNValue
}


def sequence_item(tag: int) -> Dataset:
    """The content put in every sequence row: a mix of actions, a private block, a nested level."""
    item = Dataset()
    item.ReferencedSOPClassUID = CT_IMAGE_STORAGE  # root UID: never mapped
    item.ReferencedSOPInstanceUID = f"1.2.826.0.1.3680043.8.498.{tag}.1"  # U
    item.CodeValue = "CV-KEEP"  # no row: kept (except under D)
    item.PatientName = "Inner^Name"  # Z
    item.add_new(0x00290010, "LO", "ACME INNER")
    item.add_new(0x00291001, "LO", "private inner value")
    inner = Dataset()
    inner.SeriesInstanceUID = f"1.2.826.0.1.3680043.8.498.{tag}.2"  # U
    inner.CodeMeaning = "nested meaning"  # no row: kept (except under D)
    inner.PersonName = "Nested^Person"  # D
    inner.InstanceNumber = "3"
    item.AnatomicRegionSequence = Sequence([inner])  # no row: profile applied inside
    return item


def row_cases() -> list[tuple[str, int, str, Rule]]:
    table = basic_profile_table()
    cases = []
    for tag, rule in sorted(table.exact.items()):
        if (
            tag >> 16 == 0x0002
        ):  # (0002,0003) lives in the meta: see test_meta_follows_new_sop_instance_uid
            continue
        cases.append(
            (
                f"{tag >> 16:04X},{tag & 0xFFFF:04X} {rule.keyword or rule.tag_text}",
                tag,
                rule.vr,
                rule,
            )
        )
    for rule in table.rules:
        for tag, vr in PATTERN_INSTANCES.get(rule.tag_text, []):
            cases.append((f"{tag >> 16:04X},{tag & 0xFFFF:04X} {rule.tag_text}", tag, vr, rule))
    return cases


ROW_CASES = row_cases()


def all_rows_dataset() -> Dataset:
    ds = Dataset()
    for _, tag, vr, _rule in ROW_CASES:
        if vr == "SQ":
            ds.add_new(tag, "SQ", Sequence([sequence_item(tag)]))
        else:
            ds.add_new(tag, vr, MULTI_VALUED.get(tag, sample_value(tag, vr)))
    for tag, vr, value in CONTROL_ELEMENTS + OVERLAY_GROUP_ELEMENTS:
        assert tag not in ds
        ds.add_new(tag, vr, value)
    # a sequence no row names, at the top level: the profile applies inside it
    ds.AnatomicRegionSequence = Sequence([sequence_item(0x00082218)])
    ds.add_new(0x00090010, "LO", "ACME TOP")
    ds.add_new(0x00091001, "PN", "Private^Top^Name")
    ds.SpecificCharacterSet = "ISO_IR 100"
    return ds


@pytest.fixture(
    scope="module",
    params=[ExplicitVRLittleEndian, ImplicitVRLittleEndian],
    ids=["explicit", "implicit"],
)
def all_rows(request):
    return _all_rows_through(request.param, conform=True)


def _all_rows_through(syntax: str, *, conform: bool) -> tuple[Dataset, Dataset]:
    """The dataset of every row in `syntax`, and what the Basic profile makes of it: the
    table exactly (the attributes no rule names kept, so each row shows its own effect),
    resolved by the CT Image IOD or (`conform=False`) literally."""
    from dicomveil import Anonymizer, ConfidentialityProfile, DicomFile

    ds = all_rows_dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    bio = io.BytesIO()
    ds.save_as(bio, enforce_file_format=True)
    data = bio.getvalue()
    profile = ConfidentialityProfile.create_default()
    profile.unlisted = "keep"
    profile.conform_to_iod = conform
    out = Anonymizer(profile, key=TEST_KEY).anonymize(DicomFile.open(data)).to_bytes()
    return pydicom.dcmread(io.BytesIO(data)), pydicom.dcmread(io.BytesIO(out))


def _check_item_under_u_star(item_in: Dataset, item_out: Dataset, where: str) -> None:
    assert item_out.ReferencedSOPClassUID == CT_IMAGE_STORAGE, where
    assert item_out.ReferencedSOPInstanceUID == map_uid(
        TEST_KEY, item_in.ReferencedSOPInstanceUID
    ), where
    assert item_out.CodeValue == "CV-KEEP", where
    assert item_out["PatientName"].is_empty, where
    assert not any(e.tag.is_private for e in item_out), where
    inner_in, inner_out = item_in.AnatomicRegionSequence[0], item_out.AnatomicRegionSequence[0]
    assert inner_out.SeriesInstanceUID == map_uid(TEST_KEY, inner_in.SeriesInstanceUID), where
    assert inner_out.CodeMeaning == "nested meaning", where
    assert inner_out.PersonName == "ANONYMIZED", where
    assert inner_out.InstanceNumber == "3", where


@pytest.fixture(scope="module")
def all_rows_literal():
    """The dataset of every row, anonymized with the profile carried out literally (no
    resolution by IOD: compound codes by their fixed choice)."""
    return _all_rows_through(ExplicitVRLittleEndian, conform=False)


@pytest.mark.parametrize("case", ROW_CASES, ids=[c[0] for c in ROW_CASES])
def test_row(all_rows, case):
    """Each row on a CT Image: its code resolved by the attribute's type in the CT Image IOD
    (PS3.3 A.3, from the shipped IOD tables)."""
    label, tag, _vr, rule = case
    if rule.tag_text == "60xx,3000":  # an Overlay Plane goes whole (its module is optional)
        check_row(all_rows, case, "X")
        return
    check_row(all_rows, case, resolve_by_type(rule.letter, iod_type(CT_IMAGE_STORAGE, (tag,)), _vr))


@pytest.mark.parametrize("case", ROW_CASES, ids=[c[0] for c in ROW_CASES])
def test_row_literal(all_rows_literal, case):
    """Each row carried out literally: compound codes by their fixed choice."""
    check_row(all_rows_literal, case, case[3].action)


def check_row(all_rows, case, action):
    ds_in, ds_out = all_rows
    label, tag, vr, rule = case
    if action == "P":  # a dummy where the IOD requires a value (a sequence: its first item)
        action = "D"
    elem_in = ds_in[tag]
    elem_out = ds_out.get(tag)
    got = None if elem_out is None else f"{elem_out.VR} {elem_out.value!r:.100}"
    if action == "X":
        assert elem_out is None, f"{label} ({rule.letter}): expected removed, got {got}"
        return
    assert elem_out is not None, f"{label} ({rule.letter}): expected present, it was removed"
    assert elem_out.VR == elem_in.VR
    if action == "Z":
        assert is_empty(elem_out), f"{label} ({rule.letter}): expected zero length, got {got}"
    elif action == "U" or (action == "D" and vr == "UI"):
        assert norm(elem_out) == map_uid_value(TEST_KEY, norm(elem_in)), f"{label}: got {got}"
    elif action == "D" and vr != "SQ":
        assert norm(elem_out) == expected_dummy(vr), (
            f"{label} ({rule.letter}): expected dummy, got {got}"
        )
    elif action == "D":
        # a sequence: structure kept; named elements follow their rule; unnamed text gets its
        # dummy, unnamed numbers, code strings and sequences are kept, UIDs mapped
        assert len(elem_out.value) == 1, label
        item = elem_out.value[0]
        assert item.ReferencedSOPClassUID == CT_IMAGE_STORAGE
        assert item.ReferencedSOPInstanceUID == map_uid(
            TEST_KEY, elem_in.value[0].ReferencedSOPInstanceUID
        )
        assert item.CodeValue == "ANONYMIZED"  # SH, no rule: dummy
        assert item["PatientName"].is_empty  # its own rule: Z
        assert not any(e.tag.is_private for e in item)
        inner_in, inner = elem_in.value[0].AnatomicRegionSequence[0], item.AnatomicRegionSequence[0]
        assert inner.SeriesInstanceUID == map_uid(TEST_KEY, inner_in.SeriesInstanceUID)
        assert inner.CodeMeaning == "ANONYMIZED"  # LO, no rule: dummy
        assert inner.PersonName == "ANONYMIZED"  # its own rule: D
        assert inner.InstanceNumber == "3"  # IS, no rule: kept
        assert sorted(item.keys()) == sorted(k for k in elem_in.value[0].keys() if not k.is_private)
    elif action == "U*":
        assert len(elem_out.value) == 1, label
        _check_item_under_u_star(elem_in.value[0], elem_out.value[0], label)
    else:  # pragma: no cover - the table has no other letters
        pytest.fail(f"unexpected action {action!r} for {label}")


def test_meta_follows_new_sop_instance_uid(all_rows):
    ds_in, ds_out = all_rows
    assert basic_profile_table().action(0x00020003) == "U"
    assert ds_out.file_meta.MediaStorageSOPInstanceUID == map_uid(TEST_KEY, ds_in.SOPInstanceUID)
    assert ds_out.file_meta.MediaStorageSOPClassUID == CT_IMAGE_STORAGE


def test_elements_no_row_names_are_kept(all_rows):
    ds_in, ds_out = all_rows
    for tag, vr, _value in CONTROL_ELEMENTS:
        assert ds_out[tag].VR == vr
        assert norm(ds_out[tag]) == norm(ds_in[tag]), f"{tag:08X}"


def test_overlay_group_goes_with_its_overlay_data(all_rows):
    _, ds_out = all_rows
    assert [hex(t) for t in ds_out.keys() if t.group == 0x6000] == []
    assert [hex(t) for t in ds_out.keys() if t.group == 0x601E] == []
    assert ds_out[0x60020010].value == 2  # group 6002 had no Overlay Data


def test_sequence_no_row_names_has_profile_applied_inside(all_rows):
    ds_in, ds_out = all_rows
    item_in, item_out = ds_in.AnatomicRegionSequence[0], ds_out.AnatomicRegionSequence[0]
    assert item_out.ReferencedSOPClassUID == CT_IMAGE_STORAGE
    assert item_out.ReferencedSOPInstanceUID == map_uid(TEST_KEY, item_in.ReferencedSOPInstanceUID)
    assert item_out.CodeValue == "CV-KEEP"
    assert item_out["PatientName"].is_empty
    assert not any(e.tag.is_private for e in item_out)
    inner_out = item_out.AnatomicRegionSequence[0]
    assert inner_out.PersonName == "ANONYMIZED"
    assert inner_out.CodeMeaning == "nested meaning"


def test_all_rows_private_removed_and_nothing_added(all_rows):
    ds_in, ds_out = all_rows
    assert not [e.tag for _, e in walk(ds_out) if e.tag.is_private]
    added = {int(t) for t in ds_out.keys()} - {int(t) for t in ds_in.keys()}
    assert added <= MARKER_TAGS
    assert check_markers(ds_out) == []


def test_all_rows_matches_model(all_rows):
    ds_in, ds_out = all_rows
    problems = diff_datasets(model_anonymize(ds_in, TEST_KEY), ds_out, ignore_top=MARKER_TAGS)
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------------------------
# The corpus, element by element
# ---------------------------------------------------------------------------------------------

CORPUS_IDS = [corpus_id(p) for p in ANONYMIZED_CORPUS]


@pytest.mark.parametrize("path", ANONYMIZED_CORPUS, ids=CORPUS_IDS)
def test_corpus_matches_model(path):
    r = anonymize_file(path)
    expected = model_anonymize(r.ds_in, TEST_KEY)
    problems = diff_datasets(expected, r.ds_out, ignore_top=MARKER_TAGS)
    problems += check_markers(r.ds_out)
    assert not problems, f"{corpus_id(path)}: {len(problems)} differences\n" + "\n".join(
        problems[:40]
    )


@pytest.mark.parametrize("path", ANONYMIZED_CORPUS, ids=CORPUS_IDS)
def test_corpus_no_named_element_keeps_its_value(path):
    """For each element the table gives a non-K action: its original non-empty value is gone.

    Checked two ways: for the tags the table names, the value is held by no element of that tag
    anywhere in the output; for unnamed leaves inside a sequence whose action is D (except the
    structural VRs the engine keeps there), the element at the same place no longer holds it. A
    value equal to the dummy, or a UID under the DICOM root, may stay.
    """
    r = anonymize_file(path)
    table = basic_profile_table()

    out_values: dict[int, list] = {}
    for _, elem in walk(r.ds_out):
        if elem.VR != "SQ":
            out_values.setdefault(int(elem.tag), []).append(norm(elem))

    leaks = []
    checked = 0

    def exempt(elem, value) -> bool:
        if holds_uid(elem):
            # UIDs under the DICOM root, and those naming a kind of object, not an instance
            return names_a_kind(elem.keyword) or all(
                v.startswith(DICOM_ROOT) for v in uid_strings(elem)
            )
        return elem.VR in DUMMY and value == expected_dummy(elem.VR)

    def visit(ds, prefix, under_dummy):
        nonlocal checked
        for elem in ds:
            path_ = prefix + (int(elem.tag),)
            if elem.tag.is_private:
                continue
            action = table.action(int(elem.tag))
            if elem.VR == "SQ":
                # coded concepts inside a D sequence keep their meaning (see util.py)
                coded = under_dummy and int(elem.tag) in CODED_CONCEPT_SEQUENCES
                for i, item in enumerate(elem.value or []):
                    visit(item, path_ + (i,), (under_dummy or action == "D") and not coded)
                continue
            if is_empty(elem):
                continue
            value = norm(elem)
            if exempt(elem, value):
                continue
            if action != "K":
                checked += 1
                if value in out_values.get(int(elem.tag), []):
                    leaks.append(
                        f"{fmt_path(path_)} {elem.keyword} ({action}) still holds {value!r:.80}"
                    )
            elif under_dummy and elem.VR not in KEPT_IN_DUMMY_SEQUENCE:
                checked += 1
                out = get_path(r.ds_out, path_)
                if out is not None and norm(out) == value:
                    leaks.append(
                        f"{fmt_path(path_)} {elem.keyword} (in a D sequence) holds {value!r:.80}"
                    )

    visit(r.ds_in, (), False)
    assert not leaks, (
        f"{corpus_id(path)}: {len(leaks)} of {checked} checked values leak\n"
        + "\n".join(leaks[:40])
    )


def test_corpus_has_elements_for_most_actions():
    """The corpus must actually exercise the profile: each resolved action occurs in it."""
    table = basic_profile_table()
    seen: dict[str, int] = {}
    for path in ANONYMIZED_CORPUS:
        ds = pydicom.dcmread(path, force=True)
        for _, elem in walk(ds):
            if not elem.tag.is_private:
                a = table.action(int(elem.tag))
                seen[a] = seen.get(a, 0) + 1
    assert {"X", "Z", "D", "U", "U*", "K"} <= set(seen), seen
