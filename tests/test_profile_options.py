"""The PS3.15 options of the default profile, the markers, and PatientName/PatientID replacement.

The expected actions come from a second reading of Table E.1-1 (the CSV shipped in the package,
read here with the csv module), not from the engine: per attribute, the basic_profile action,
replaced by each selected option's non-empty cell in bit order.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from dataclasses import dataclass
from functools import lru_cache
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
    ProfileError,
)
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian
from util import OPTION_COLUMNS

Options = ConfidentialityProfileOptions
KEY = b"dicomveil-test-key"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
TABLE = Path(dicomveil.__file__).resolve().parent / "data" / "table_e1_1_2024c.csv"
COLUMNS = OPTION_COLUMNS
# the options of Table E.1-1's columns (Clean Pixel Data has no column: tests/test_pixels.py)
OPTIONS = [
    o for o in Options if o not in (Options.ALL, Options.BASIC_PROFILE, Options.CLEAN_PIXEL_DATA)
]

# CID 7050, De-identification Method (PS3.16), written out here from the standard
CID_7050 = {
    Options.BASIC_PROFILE: ("113100", "Basic Application Confidentiality Profile"),
    Options.CLEAN_GRAPH: ("113103", "Clean Graphics Option"),
    Options.CLEAN_STRUCTD_CONT: ("113104", "Clean Structured Content Option"),
    Options.CLEAN_DESC: ("113105", "Clean Descriptors Option"),
    Options.RETAIN_LONG_FULL_DATES: (
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    Options.RETAIN_LONG_MODIF_DATES: (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    Options.RETAIN_PATIENT_CHARS: ("113108", "Retain Patient Characteristics Option"),
    Options.RETAIN_DEVICE_IDENT: ("113109", "Retain Device Identity Option"),
    Options.RETAIN_UIDS: ("113110", "Retain UIDs Option"),
    Options.RETAIN_SAFE_PRIVATE: ("113111", "Retain Safe Private Option"),
    Options.RETAIN_INSTITUTION_IDENT: ("113112", "Retain Institution Identity Option"),
}


# ---------------------------------------------------------------------------------------------
# The table, read independently
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    tag: str
    keyword: str
    vr: str
    cells: tuple[str, ...]  # the eleven action columns

    def action(self, options: int) -> str:
        action = self.cells[0]
        for bit in range(1, 11):
            if options >> bit & 1 and self.cells[bit]:
                action = self.cells[bit]
        return action


@lru_cache(maxsize=1)
def table() -> tuple[Row, ...]:
    with TABLE.open(encoding="utf-8", newline="") as f:
        lines = [line for line in f if not line.startswith("#")]
    reader = csv.DictReader(lines, delimiter=";")
    assert tuple(reader.fieldnames[6:]) == COLUMNS
    return tuple(Row(r["tag"], r["keyword"], r["vr"], tuple(r[c] for c in COLUMNS)) for r in reader)


def expected_rules(options: int) -> dict[str, str]:
    return {row.tag: row.action(options | 1) for row in table()}


def letters(profile: ConfidentialityProfile) -> dict[str, str]:
    return {pattern: action.value for pattern, action in profile.items()}


def row(tag: str) -> Row:
    return next(r for r in table() if r.tag == tag)


def test_table_has_the_expected_shape():
    rows = table()
    assert len(rows) == 623
    assert all(r.cells[0] for r in rows)  # every row has a basic action
    changed = {o: sum(1 for r in rows if r.cells[o.bit_length() - 1]) for o in OPTIONS}
    assert changed == {
        Options.RETAIN_SAFE_PRIVATE: 1,
        Options.RETAIN_UIDS: 60,
        Options.RETAIN_DEVICE_IDENT: 57,
        Options.RETAIN_INSTITUTION_IDENT: 10,
        Options.RETAIN_PATIENT_CHARS: 14,
        Options.RETAIN_LONG_FULL_DATES: 165,
        Options.RETAIN_LONG_MODIF_DATES: 165,
        Options.CLEAN_DESC: 125,
        Options.CLEAN_STRUCTD_CONT: 3,
        Options.CLEAN_GRAPH: 4,
    }


# ---------------------------------------------------------------------------------------------
# Rules of the default profile for every combination of options
# ---------------------------------------------------------------------------------------------


def test_every_combination_of_options_gives_the_table_rules():
    for options in range(0, 2048, 2):  # BASIC_PROFILE is implied: odd values are checked below
        profile = ConfidentialityProfile.create_default(options)
        assert letters(profile) == expected_rules(options), options
        assert profile.options == Options(options | 1)
        assert not profile.is_custom


def test_basic_profile_is_implied():
    for options in (0, 4, 64 | 256, 2046):
        a = ConfidentialityProfile.create_default(options)
        b = ConfidentialityProfile.create_default(options | Options.BASIC_PROFILE)
        assert a == b
        assert a.options == b.options == Options(options | 1)
    assert ConfidentialityProfile.create_default() == ConfidentialityProfile.create_default(1)
    assert ConfidentialityProfile.create_default(None).options == Options.BASIC_PROFILE
    assert ConfidentialityProfile.create_default(Options.ALL).options == Options.ALL


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_option_changes_exactly_its_column(option: Options):
    bit = option.bit_length() - 1
    basic = ConfidentialityProfile.create_default(Options.BASIC_PROFILE)
    with_option = ConfidentialityProfile.create_default(Options.BASIC_PROFILE | option)
    changed = {p for p in with_option if with_option[p] != basic[p]}
    assert changed == {r.tag for r in table() if r.cells[bit]}
    for r in table():
        assert with_option[r.tag] == Action(r.cells[bit] or r.cells[0]), r.tag
        assert basic[r.tag] == Action(r.cells[0]), r.tag


@pytest.mark.parametrize(
    ("option", "keyword", "basic", "changed"),
    [
        (Options.RETAIN_UIDS, "StudyInstanceUID", "U", "K"),
        (Options.RETAIN_UIDS, "SOPInstanceUID", "U", "K"),
        (Options.RETAIN_LONG_FULL_DATES, "StudyDate", "Z", "K"),
        (Options.RETAIN_LONG_MODIF_DATES, "StudyDate", "Z", "C"),
        (Options.RETAIN_DEVICE_IDENT, "DeviceSerialNumber", "X/Z/D", "K"),
        (Options.RETAIN_INSTITUTION_IDENT, "InstitutionName", "X/Z/D", "K"),
        (Options.RETAIN_PATIENT_CHARS, "PatientAge", "X", "K"),
        (Options.CLEAN_DESC, "StudyDescription", "X", "C"),
        (Options.CLEAN_DESC, "SeriesDescription", "X", "C"),
        (Options.CLEAN_STRUCTD_CONT, "ContentSequence", "D", "C"),
        (Options.CLEAN_GRAPH, "GraphicAnnotationSequence", "D", "C"),
    ],
)
def test_named_examples(option: Options, keyword: str, basic: str, changed: str):
    tag = next(r.tag for r in table() if r.keyword == keyword)
    assert ConfidentialityProfile.create_default()[keyword] == Action(basic)
    assert ConfidentialityProfile.create_default(option)[keyword] == Action(changed)
    assert ConfidentialityProfile.create_default(option)[tag] == Action(changed)


def test_retain_safe_private_turns_the_private_row_into_clean():
    assert ConfidentialityProfile.create_default()["gggg,eeee (gggg odd)"] == Action.X
    profile = ConfidentialityProfile.create_default(Options.RETAIN_SAFE_PRIVATE)
    assert profile["gggg,eeee (gggg odd)"] == Action.C
    assert profile["private"] == Action.C  # another spelling of the same pattern


def test_clean_graph_changes_the_repeating_group_patterns():
    profile = ConfidentialityProfile.create_default(Options.CLEAN_GRAPH)
    for pattern in ("50xx,xxxx", "60xx,4000", "60xx,3000"):
        assert ConfidentialityProfile.create_default()[pattern] == Action.X
        assert profile[pattern] == Action.C


def overlapping_pairs() -> list[tuple[Options, Options, str]]:
    """(lower, higher, tag) for every row that two options both name."""
    out = []
    for r in table():
        named = [b for b in range(1, 11) if r.cells[b]]
        for lo, hi in itertools.combinations(named, 2):
            out.append((Options(1 << lo), Options(1 << hi), r.tag))
    return out


def test_a_higher_bit_wins_where_two_options_name_an_attribute():
    pairs = overlapping_pairs()
    assert {(lo, hi) for lo, hi, _ in pairs} == {
        (Options.RETAIN_UIDS, Options.RETAIN_DEVICE_IDENT),
        (Options.RETAIN_DEVICE_IDENT, Options.RETAIN_LONG_FULL_DATES),
        (Options.RETAIN_DEVICE_IDENT, Options.RETAIN_LONG_MODIF_DATES),
        (Options.RETAIN_PATIENT_CHARS, Options.CLEAN_DESC),
        (Options.RETAIN_LONG_FULL_DATES, Options.RETAIN_LONG_MODIF_DATES),
    }
    for lo, hi, tag in pairs:
        both = ConfidentialityProfile.create_default(lo | hi)
        assert both[tag] == Action(row(tag).cells[hi.bit_length() - 1]), (lo, hi, tag)
    # the one the issue names: full dates keep (K), modified dates clean (C): C wins
    both = ConfidentialityProfile.create_default(
        Options.RETAIN_LONG_FULL_DATES | Options.RETAIN_LONG_MODIF_DATES
    )
    assert both["StudyDate"] == Action.C
    assert (
        ConfidentialityProfile.create_default(Options.RETAIN_LONG_FULL_DATES)["StudyDate"]
        == Action.K
    )


@pytest.mark.parametrize("bad", [4096, 4096 | 4, -1])
def test_unknown_option_bits_are_refused(bad: int):
    with pytest.raises(ProfileError, match=r"not a combination of ConfidentialityProfileOptions"):
        ConfidentialityProfile.create_default(bad)


@pytest.mark.parametrize("bad", ["RETAIN_UIDS", 4.0, True])
def test_options_must_be_flags(bad: object):
    with pytest.raises(TypeError, match="options must be ConfidentialityProfileOptions"):
        ConfidentialityProfile.create_default(bad)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# On real files: a dataset holding one attribute of each row an option changes
# ---------------------------------------------------------------------------------------------

# instances of the pattern rows
PATTERN_INSTANCES = {
    "50xx,xxxx": (0x50020005, "US"),
    "60xx,4000": (0x60004000, "LT"),
    "60xx,3000": (0x60023000, "OW"),
}
PRIVATE_CREATOR = "ACME PRIVATE"


def value_for(vr: str, tag: int) -> object:
    """A value valid for the VR, different from every dummy, identifying for the test."""
    return {
        "AE": "STATION7",
        "AS": "042Y",
        "CS": "VALUE7",
        "DA": "20210315",
        "DS": "12.5",
        "DT": "20210315101112",
        "IS": "42",
        "LO": f"long {tag:08X}",
        "LT": f"long text {tag:08X}",
        "PN": "Roe^Jane",
        "SH": f"S{tag:08X}",
        "ST": f"short text {tag:08X}",
        "TM": "101112",
        "UC": f"unlimited {tag:08X}",
        "UI": f"1.2.826.0.1.3680043.10.999.{tag}",
        "UR": "http://example.com/record",
        "UT": f"unlimited text {tag:08X}",
        "US": 7,
        "SS": 7,
        "UL": 7,
        "SL": 7,
        "FL": 1.5,
        "FD": 1.5,
        "OB": b"\x01\x02",
        "OW": b"\x01\x02",
        "UN": b"\x01\x02",
    }[vr]


def item() -> Dataset:
    ds = Dataset()
    ds.CodeValue = "T-D4000"
    ds.CodingSchemeDesignator = "SRT"
    ds.CodeMeaning = "Abdomen"
    # an instance UID that no row names: an X/Z/U* or D sequence replaces it, K keeps it
    ds.SOPInstanceUIDOfConcatenationSource = "1.2.826.0.1.3680043.10.999.77"
    return ds


def instance(r: Row) -> tuple[int, str] | None:
    """The tag and VR of an element for a row, or None (command set, meta group)."""
    if r.tag in PATTERN_INSTANCES:
        return PATTERN_INSTANCES[r.tag]
    if "x" in r.tag or "odd" in r.tag:
        return None
    tag = int(r.tag.replace(",", ""), 16)
    if tag >> 16 in (0x0000, 0x0002):
        return None
    vr = r.vr if r.vr and " " not in r.vr else dictionary_VR(tag)
    return tag, vr.split(" ")[0]


def build(rows: list[Row]) -> tuple[bytes, Dataset, dict[str, int]]:
    """A Part 10 file holding one element per row: (bytes, dataset, row tag -> element tag)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.10.999.1"
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.999.1"
    ds.BurnedInAnnotation = "NO"
    where = {}
    for r in rows:
        if "odd" in r.tag:
            block = ds.private_block(0x0009, PRIVATE_CREATOR, create=True)
            block.add_new(0x10, "LO", "private value")
            where[r.tag] = 0x00091010
            continue
        found = instance(r)
        if found is None:
            continue
        tag, vr = found
        value = Sequence([item()]) if vr == "SQ" else value_for(vr, tag)
        ds.add_new(tag, vr, value)
        where[r.tag] = tag
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    data = buf.getvalue()
    return data, pydicom.dcmread(io.BytesIO(data)), where


def anonymize(profile: ConfidentialityProfile, data: bytes) -> Dataset:
    """The profile's rules on `data`, and nothing else: the attributes no rule names are kept
    (``unlisted="keep"``; what "clean" does to them is tested in test_unlisted.py)."""
    profile.unlisted = "keep"
    out = Anonymizer(profile, key=KEY).anonymize(DicomFile.open(data))
    return pydicom.dcmread(io.BytesIO(out.to_bytes()))


def survives(original: pydicom.DataElement, out: Dataset) -> bool:
    """Does the original value come out unchanged?"""
    return original.tag in out and out[original.tag].value == original.value


def method_and_codes(ds: Dataset) -> tuple[list[str], list[tuple[str, str, str]]]:
    method = ds.DeidentificationMethod
    values = [method] if isinstance(method, str) else list(method)
    codes = [
        (i.CodeValue, i.CodingSchemeDesignator, i.CodeMeaning)
        for i in ds.get("DeidentificationMethodCodeSequence", [])
    ]
    return values, codes


def expected_markers(options: Options) -> tuple[list[str], list[tuple[str, str, str]]]:
    if Options.RETAIN_LONG_MODIF_DATES in options:  # the alternative that wins
        options &= ~Options.RETAIN_LONG_FULL_DATES
    chosen = [o for o in Options if o != Options.ALL and o in options]
    codes = [(CID_7050[o][0], "DCM", CID_7050[o][1]) for o in chosen]
    method = [f"dicomveil {dicomveil.__version__}", f"PS3.15 {dicomveil.EDITION} Basic Profile"]
    return method + [c[2] for c in codes[1:]], codes


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_option_effect_on_a_file(option: Options):
    bit = option.bit_length() - 1
    rows = [r for r in table() if r.cells[bit]]
    data, original, where = build(rows)
    basic_profile = ConfidentialityProfile.create_default(Options.BASIC_PROFILE)
    option_profile = ConfidentialityProfile.create_default(Options.BASIC_PROFILE | option)
    basic = anonymize(basic_profile, data)
    with_option = anonymize(option_profile, data)
    kept = 0
    for r in rows:
        # the rule: the option's letter replaces the basic one
        assert basic_profile[r.tag] == Action(r.cells[0])
        assert option_profile[r.tag] == Action(r.cells[bit])
        if r.tag not in where:
            continue
        element = original[where[r.tag]]
        if r.cells[bit] == "K":
            # on the file: kept, value for value; the basic profile changes it
            assert survives(element, with_option), f"{r.tag} {r.keyword}: not kept"
            assert not survives(element, basic), f"{r.tag} {r.keyword}: kept by Basic"
            kept += 1
    assert kept == sum(1 for r in rows if r.cells[bit] == "K" and r.tag in where)
    # elements no row names are untouched either way
    for ds in (basic, with_option):
        assert ds.SOPClassUID == CT_IMAGE_STORAGE
        assert ds.BurnedInAnnotation == "NO"
    assert method_and_codes(with_option) == expected_markers(Options.BASIC_PROFILE | option)
    assert method_and_codes(basic) == expected_markers(Options.BASIC_PROFILE)


def test_kept_rows_are_exercised():
    """Every K of the table is exercised on a file by the test above (command set aside)."""
    missing = []
    for option in OPTIONS:
        bit = option.bit_length() - 1
        for r in table():
            if r.cells[bit] == "K" and instance(r) is None:
                missing.append(r.tag)
    assert all(t.startswith(("0000,", "0002,")) for t in missing), missing


def test_retain_uids_keeps_uids_on_a_file():
    rows = [row("0020,000d"), row("0020,000e"), row("0008,0018")]
    data, original, _ = build(rows)
    out = anonymize(ConfidentialityProfile.create_default(Options.RETAIN_UIDS), data)
    assert out.StudyInstanceUID == original.StudyInstanceUID
    assert out.SeriesInstanceUID == original.SeriesInstanceUID
    assert out.SOPInstanceUID == original.SOPInstanceUID
    assert out.file_meta.MediaStorageSOPInstanceUID == original.SOPInstanceUID
    basic = anonymize(ConfidentialityProfile.create_default(), data)
    assert basic.StudyInstanceUID != original.StudyInstanceUID
    assert basic.StudyInstanceUID.startswith("2.25.")


def test_full_and_modified_dates_on_a_file():
    data, original, _ = build([row("0008,0020"), row("0008,0030")])
    full = anonymize(ConfidentialityProfile.create_default(Options.RETAIN_LONG_FULL_DATES), data)
    assert (full.StudyDate, full.StudyTime) == (original.StudyDate, original.StudyTime)
    assert full.LongitudinalTemporalInformationModified == "UNMODIFIED"
    both = ConfidentialityProfile.create_default(
        Options.RETAIN_LONG_FULL_DATES | Options.RETAIN_LONG_MODIF_DATES
    )
    assert both["StudyDate"] == Action.C
    modified = anonymize(both, data)
    assert modified.LongitudinalTemporalInformationModified == "MODIFIED"
    basic = anonymize(ConfidentialityProfile.create_default(), data)
    assert basic.StudyDate == ""
    assert basic.LongitudinalTemporalInformationModified == "REMOVED"


# ---------------------------------------------------------------------------------------------
# Markers: (0012,0063) and (0012,0064)
# ---------------------------------------------------------------------------------------------

SMALL = [row("0010,0010")]


@pytest.mark.parametrize(
    "options",
    [Options.BASIC_PROFILE, *OPTIONS, Options.ALL, Options.RETAIN_UIDS | Options.CLEAN_GRAPH],
    ids=lambda o: str(int(o)),
)
def test_markers_list_the_options_in_bit_order(options: Options):
    data, _, _ = build(SMALL)
    out = anonymize(ConfidentialityProfile.create_default(options), data)
    method, codes = method_and_codes(out)
    assert (method, codes) == expected_markers(options | Options.BASIC_PROFILE)
    assert out.PatientIdentityRemoved == "YES"
    assert codes[0] == ("113100", "DCM", "Basic Application Confidentiality Profile")
    both_dates = Options.RETAIN_LONG_FULL_DATES | Options.RETAIN_LONG_MODIF_DATES
    claimed = options & ~Options.RETAIN_LONG_FULL_DATES if both_dates in options else options
    assert len(codes) == bin(int(claimed | 1)).count("1")


def test_all_options_markers_are_the_options_in_effect():
    """ALL selects both date options; modified dates win on every row, so the file claims
    modified dates only (113107, not 113106): what was done, as (0028,0303) says."""
    data, _, _ = build(SMALL)
    out = anonymize(ConfidentialityProfile.create_default(Options.ALL), data)
    _, codes = method_and_codes(out)
    assert [c[0] for c in codes] == [
        "113100", "113111", "113110", "113109", "113112", "113108",
        "113107", "113105", "113104", "113103",
    ]  # fmt: skip
    assert out.LongitudinalTemporalInformationModified == "MODIFIED"
    # a profile read back from its export has the same rules and says the same
    text = ConfidentialityProfile.create_default(Options.ALL).to_json()
    again = anonymize(ConfidentialityProfile.load_from_json_string(text), data)
    assert method_and_codes(again) == method_and_codes(out)


def test_custom_profile_is_named_custom_without_codes():
    data, _, _ = build(SMALL)
    profile = ConfidentialityProfile.empty({"PatientName": "Z"})
    assert profile.options is None and profile.is_custom
    method, codes = method_and_codes(anonymize(profile, data))
    assert method == [f"dicomveil {dicomveil.__version__}", "custom profile"]
    assert codes == []


def test_an_edited_default_profile_is_custom():
    data, _, _ = build(SMALL)
    profile = ConfidentialityProfile.create_default(Options.RETAIN_UIDS)
    profile["PatientName"] = Action.K
    assert profile.options is None
    method, codes = method_and_codes(anonymize(profile, data))
    assert method[-1] == "custom profile" and codes == []
    # undone: exactly the default table again, so named as such
    profile["PatientName"] = Action.Z
    assert profile.options == Options.BASIC_PROFILE | Options.RETAIN_UIDS
    assert method_and_codes(anonymize(profile, data)) == expected_markers(
        Options.BASIC_PROFILE | Options.RETAIN_UIDS
    )
    # setting a rule to what it already is changes nothing
    again = ConfidentialityProfile.create_default(Options.ALL)
    again["StudyDate"] = "C"
    assert again.options == Options.ALL


def test_deleting_a_rule_makes_the_default_custom():
    profile = ConfidentialityProfile.create_default()
    del profile["0010,0010"]
    assert profile.options is None
    assert len(profile) == 622


def test_a_profile_built_rule_by_rule_to_the_table_is_the_default():
    for options in (Options.BASIC_PROFILE, Options(1 | 256 | 32)):
        rules = [(r.tag, r.action(int(options))) for r in table()]
        profile = ConfidentialityProfile.empty(rules)
        assert profile.options == options
        assert profile == ConfidentialityProfile.create_default(options)


def test_shadowed_option_is_not_claimed_by_a_rebuilt_profile():
    """Modified dates override full dates on every row: rules alone cannot show full dates."""
    both = Options.RETAIN_LONG_FULL_DATES | Options.RETAIN_LONG_MODIF_DATES
    rules = list(ConfidentialityProfile.create_default(both).items())
    assert ConfidentialityProfile.empty(rules).options == Options.BASIC_PROFILE | (
        Options.RETAIN_LONG_MODIF_DATES
    )
    assert ConfidentialityProfile.create_default(both).options == Options.BASIC_PROFILE | both


# ---------------------------------------------------------------------------------------------
# ConfidentialityProfile() is the Basic profile; .empty() has no rules
# ---------------------------------------------------------------------------------------------


def test_the_constructor_gives_the_basic_profile():
    profile = ConfidentialityProfile()
    assert profile == ConfidentialityProfile.create_default()
    assert profile == ConfidentialityProfile.create_default(Options.BASIC_PROFILE)
    assert letters(profile) == expected_rules(Options.BASIC_PROFILE)
    assert profile.options == Options.BASIC_PROFILE and not profile.is_custom
    assert repr(profile) == (
        "<ConfidentialityProfile options=<ConfidentialityProfileOptions.BASIC_PROFILE: 1>, "
        "623 rules>"
    )
    data, _, _ = build(SMALL)
    assert method_and_codes(anonymize(profile, data)) == expected_markers(Options.BASIC_PROFILE)


def test_rules_given_to_the_constructor_apply_on_top_of_basic():
    basic = expected_rules(Options.BASIC_PROFILE)
    profile = ConfidentialityProfile({"(0010,0010)": "K", "0009,xx10:ACME": "K"})
    assert len(profile) == len(basic) + 1  # PatientName replaced (same pattern), ACME added
    assert profile["PatientName"] == Action.K and profile["0009,xx10:ACME"] == Action.K
    assert {
        p: a for p, a in letters(profile).items() if p not in ("(0010,0010)", "0009,xx10:ACME")
    } == {t: a for t, a in basic.items() if t != "0010,0010"}
    assert profile.options is None and profile.is_custom
    assert repr(profile) == "<ConfidentialityProfile custom, 624 rules>"
    # the same rules set later give the same profile; pairs work as a mapping does
    later = ConfidentialityProfile()
    later["PatientName"] = "K"
    later["0009,xx10:ACME"] = Action.K
    assert (
        later == profile == ConfidentialityProfile([("PatientName", "K"), ("0009,xx10:ACME", "K")])
    )
    # a rule that says what the table says changes nothing: still the Basic profile
    same = ConfidentialityProfile({"PatientName": "Z"})
    assert same.options == Options.BASIC_PROFILE and same == ConfidentialityProfile()
    # a bad rule is refused as when set
    with pytest.raises(ProfileError, match="unknown action 'W'"):
        ConfidentialityProfile({"PatientName": "W"})


def test_a_basic_profile_with_a_rule_acts_as_basic_but_for_that_rule():
    rows = [row(t) for t in ("0010,0010", "0008,1030", "0008,0050", "0020,000d")]
    data, original, where = build(rows)
    out = anonymize(ConfidentialityProfile({"StudyDescription": "K"}), data)
    ref = anonymize(ConfidentialityProfile.create_default(), data)
    assert out.StudyDescription == original.StudyDescription  # the rule on top: kept
    assert "StudyDescription" not in ref  # Basic: X
    for tag in ("0010,0010", "0008,0050", "0020,000d"):
        assert out[where[tag]] == ref[where[tag]]  # the rest: as Basic does it
    assert not survives(original[where["0020,000d"]], out)
    assert method_and_codes(out)[0][-1] == "custom profile"


def test_empty_is_a_profile_with_no_rules():
    empty = ConfidentialityProfile.empty()
    assert len(empty) == 0 and empty.options is None and empty.is_custom
    assert repr(empty) == "<ConfidentialityProfile custom, 0 rules>"
    assert empty != ConfidentialityProfile()
    only = ConfidentialityProfile.empty({"PatientName": "Z", "0010,0020": "X"})
    assert letters(only) == {"PatientName": "Z", "0010,0020": "X"}
    assert only == ConfidentialityProfile.empty([("(0010,0010)", "Z"), ("PatientID", "X")])
    rows = [row(t) for t in ("0010,0010", "0008,1030", "0008,0050")]
    data, original, where = build(rows)
    out = anonymize(only, data)
    assert out.PatientName == ""
    assert out.StudyDescription == original.StudyDescription  # no rule: kept
    assert out.AccessionNumber == original.AccessionNumber


def test_no_profile_and_the_constructor_give_the_same_file():
    data, _, _ = build([row(t) for t in ("0010,0010", "0008,0050", "0020,000d")])
    a = Anonymizer(ConfidentialityProfile(), key=KEY).anonymize(DicomFile.open(data))
    b = Anonymizer(key=KEY).anonymize(DicomFile.open(data))
    assert a.to_bytes() == b.to_bytes()


def aspose_input() -> bytes:
    """A CT image with the identifiers Aspose's example used to leave behind."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.10.999.31"
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.999.31"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.999.32"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.10.999.33"
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.10.999.34"
    ds.PatientName = "Roe^Jane"
    ds.PatientID = "MRN-1234"
    ds.PatientBirthDate = "19700101"
    ds.OtherPatientIDs = "MRN-9876"
    ds.AccessionNumber = "ACC-5555"
    ds.ReferringPhysicianName = "Who^Doctor"
    ds.StudyID = "S-4321"
    ds.StudyDate = "20210315"
    ds.ImageComments = "Jane Roe, bed 4"
    ds.CurrentPatientLocation = "Ward 3, bed 4"
    ds.InstitutionName = "Saint Elsewhere Hospital"
    ds.Modality = "CT"
    ds.BurnedInAnnotation = "NO"
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_the_aspose_guide_example_is_de_identified_by_the_basic_profile(tmp_path: Path):
    """Aspose's "Advanced Anonymization" example, written as in its guide: a profile from the
    constructor, the two replacement values, an Anonymizer of that profile, no key."""
    (tmp_path / "input.dcm").write_bytes(aspose_input())
    dcm = DicomFile.open(str(tmp_path / "input.dcm"))

    profile = ConfidentialityProfile()
    profile.patient_name = "ANONYMOUS PATIENT"
    profile.patient_id = "00000000"
    anonymizer = Anonymizer(profile)
    anonymized_dcm = anonymizer.anonymize(dcm)
    anonymized_dcm.save(str(tmp_path / "anonymized_output.dcm"))

    before = pydicom.dcmread(io.BytesIO(aspose_input()))
    out = pydicom.dcmread(tmp_path / "anonymized_output.dcm")
    assert out.PatientName == "ANONYMOUS PATIENT"
    assert out.PatientID == "00000000"
    # as Table E.1-1's Basic profile says (Type 2 in the CT Image IOD: emptied, not removed)
    assert row("0008,0050").action(1) == "Z" and out.AccessionNumber == ""
    assert row("0008,0090").action(1) == "Z" and out.ReferringPhysicianName == ""
    assert row("0020,0010").action(1) == "Z" and out.StudyID == ""
    assert row("0010,1000").action(1) == "X" and "OtherPatientIDs" not in out
    assert row("0020,4000").action(1) == "X" and "ImageComments" not in out
    assert row("0038,0300").action(1) == "X" and "CurrentPatientLocation" not in out
    assert out.PatientBirthDate == "" and "InstitutionName" not in out
    uids = {"0008,0018": "SOPInstanceUID", "0020,000d": "StudyInstanceUID"}
    uids |= {"0020,000e": "SeriesInstanceUID", "0020,0052": "FrameOfReferenceUID"}
    for tag, keyword in uids.items():
        assert row(tag).action(1) == "U"
        assert out[keyword].value != before[keyword].value
        assert out[keyword].value.startswith("2.25.")
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert out.SOPClassUID == CT_IMAGE_STORAGE and out.Modality == "CT"
    assert out.PatientIdentityRemoved == "YES"
    assert method_and_codes(out) == expected_markers(Options.BASIC_PROFILE)
    # exactly the Basic profile with the two values: with one key, the same bytes
    ref = ConfidentialityProfile.create_default()
    ref.patient_name = "ANONYMOUS PATIENT"
    ref.patient_id = "00000000"
    assert profile == ref
    same_key = [Anonymizer(p, key=KEY).anonymize(dcm).to_bytes() for p in (profile, ref)]
    assert same_key[0] == same_key[1]


# ---------------------------------------------------------------------------------------------
# PatientName and PatientID replacement
# ---------------------------------------------------------------------------------------------

CT_EXPOSURE_SEQUENCE = 0x00189321  # no row names it: kept, the profile applied inside


def patient_file() -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.10.999.2"
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.999.2"
    ds.PatientName = "Roe^Jane"
    ds.PatientID = "MRN-1234"
    with_patient = Dataset()
    with_patient.PatientName = "Roe^Jane"
    with_patient.PatientID = "MRN-1234"
    with_patient.ExposureTime = 5
    without = Dataset()
    without.ExposureTime = 6
    ds.add_new(CT_EXPOSURE_SEQUENCE, "SQ", Sequence([with_patient, without]))
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.mark.parametrize(
    "profile",
    [
        ConfidentialityProfile.create_default(),
        ConfidentialityProfile.create_default(Options.ALL),
        ConfidentialityProfile.empty({"PatientName": "K", "PatientID": "K"}),
        ConfidentialityProfile.empty({"PatientName": "X", "PatientID": "X"}),
        ConfidentialityProfile.empty({"PatientName": "D", "PatientID": "Z"}),
        ConfidentialityProfile.empty(),
    ],
    ids=["basic", "all", "keep", "remove", "dummy", "empty"],
)
def test_patient_name_and_id_replace_whatever_the_profile_did(profile: ConfidentialityProfile):
    profile.patient_name = "ANON^PATIENT"
    profile.patient_id = "STUDY-001"
    out = anonymize(profile, patient_file())
    assert out.PatientName == "ANON^PATIENT"
    assert out.PatientID == "STUDY-001"
    items = out[CT_EXPOSURE_SEQUENCE].value
    assert len(items) == 2
    assert items[0].PatientName == "ANON^PATIENT"
    assert items[0].PatientID == "STUDY-001"
    assert items[0].ExposureTime == 5
    # an item that did not have them does not get them
    assert "PatientName" not in items[1] and "PatientID" not in items[1]
    assert items[1].ExposureTime == 6


def test_patient_name_and_id_are_added_at_the_top_level():
    profile = ConfidentialityProfile.empty({"PatientName": "X", "PatientID": "X"})
    data = patient_file()
    ds = pydicom.dcmread(io.BytesIO(data))
    del ds.PatientName, ds.PatientID
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    profile.patient_name = "ANON"
    profile.patient_id = "P1"
    out = anonymize(profile, buf.getvalue())
    assert (out.PatientName, out.PatientID) == ("ANON", "P1")


def test_without_replacement_the_profile_decides():
    out = anonymize(ConfidentialityProfile.create_default(), patient_file())
    assert out.PatientName == ""
    assert out.PatientID == ""  # Z/D, Type 2 in the file's IOD: Z
    kept = anonymize(ConfidentialityProfile.empty({"PatientName": "K"}), patient_file())
    assert kept.PatientName == "Roe^Jane"
    assert kept.PatientID == "MRN-1234"


def test_only_one_of_the_two_can_be_set():
    profile = ConfidentialityProfile.empty({"PatientName": "K", "PatientID": "K"})
    profile.patient_id = "P9"
    out = anonymize(profile, patient_file())
    assert out.PatientName == "Roe^Jane"
    assert out.PatientID == "P9"


def test_replacement_must_be_ascii():
    profile = ConfidentialityProfile.create_default()
    with pytest.raises(ProfileError, match="patient_name must be ASCII"):
        profile.patient_name = "Müller^Jürgen"  # refused when set
    with pytest.raises(ProfileError, match="patient_id must be ASCII"):
        profile.patient_id = "患者-1"
    with pytest.raises(TypeError, match="patient_id must be a str, a Pseudonym or None"):
        profile.patient_id = b"P1"  # type: ignore[assignment]
    assert profile.patient_name is None and profile.patient_id is None
    assert anonymize(profile, patient_file()).PatientName == ""


def test_replacement_is_part_of_equality():
    a = ConfidentialityProfile.create_default()
    b = ConfidentialityProfile.create_default()
    assert a == b
    b.patient_id = "P1"
    assert a != b


def test_pseudonyms_replace_at_every_level():
    profile = ConfidentialityProfile.create_default()
    profile.patient_name = dicomveil.Pseudonym()
    profile.patient_id = dicomveil.Pseudonym()
    out = anonymize(profile, patient_file())
    assert re.fullmatch(r"ANONYMOUS\^[0-9A-F]{16}", str(out.PatientName))
    assert re.fullmatch(r"[0-9A-F]{16}", out.PatientID)
    item = out[CT_EXPOSURE_SEQUENCE].value[0]
    assert (item.PatientName, item.PatientID) == (out.PatientName, out.PatientID)
    assert profile == profile  # a Pseudonym takes part in equality
    other = ConfidentialityProfile.create_default()
    other.patient_name = dicomveil.Pseudonym()
    other.patient_id = dicomveil.Pseudonym()
    other.unlisted = profile.unlisted  # anonymize() set "keep"
    assert profile == other
