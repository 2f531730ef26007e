"""Custom profiles: loading (CSV, JSON, XML; rule and option forms), tag patterns and their
precedence on real files, export round trips, and the errors of bad profiles."""

from __future__ import annotations

import csv
import io
import json
import re
import warnings
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
    FileAccessError,
    ProfileError,
    _core,
)
from dicomveil.profile import canonical_pattern
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian
from util import OPTION_COLUMNS

Options = ConfidentialityProfileOptions
P = ConfidentialityProfile
KEY = b"dicomveil-test-key"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
DATA = Path(dicomveil.__file__).resolve().parent / "data"
EXAMPLES = DATA / "examples"
TABLE = DATA / "table_e1_1_2024c.csv"
COLUMNS = OPTION_COLUMNS

LOAD_STRING = {
    "csv": P.load_from_csv_string,
    "json": P.load_from_json_string,
    "xml": P.load_from_xml_string,
}
LOAD_FILE = {
    "csv": P.load_from_csv_file,
    "json": P.load_from_json_file,
    "xml": P.load_from_xml_file,
}
EXPORT = {"csv": P.to_csv, "json": P.to_json, "xml": P.to_xml}
FORMATS = ["csv", "json", "xml"]
HEADER = "TagPattern;Action\n"


def letters(profile: ConfidentialityProfile) -> dict[str, str]:
    return {pattern: action.value for pattern, action in profile.items()}


def rule_form(fmt: str, rules: list[tuple[str, str]]) -> str:
    """Rules written by hand in each format's rule form (not through the exporters)."""
    if fmt == "csv":
        return "TagPattern;Action\n" + "".join(f"{p};{a}\n" for p, a in rules)
    if fmt == "json":
        return json.dumps([{"Tag": p, "Action": a} for p, a in rules])
    items = "".join(f"<item><tag>{p}</tag><action>{a}</action></item>" for p, a in rules)
    return f"<root>{items}</root>"


def option_form(fmt: str, rows: list[dict[str, str]]) -> str:
    """Rows {tag, keyword, column: letter} in each format's option form (empty cells omitted
    in JSON and XML, written empty in CSV)."""
    if fmt == "csv":
        header = ["tag", "keyword", *COLUMNS]
        lines = [";".join(header)] + [";".join(r.get(c, "") for c in header) for r in rows]
        return "\n".join(lines) + "\n"
    if fmt == "json":
        return json.dumps(rows)
    items = "".join(
        "<item>" + "".join(f"<{k}>{v}</{k}>" for k, v in r.items()) + "</item>" for r in rows
    )
    return f"<table>{items}</table>"


# ---------------------------------------------------------------------------------------------
# DICOM files for behaviour checks
# ---------------------------------------------------------------------------------------------


def make_file(extra: Dataset | None = None, private: list[tuple[int, str, list]] = ()) -> bytes:
    """A small CT file with patient, study, institution and private data.

    ``private``: (group, creator, [(element byte, value)]) blocks, reserved from 0x10 up.
    """
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.10.999.5"
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = "1.2.826.0.1.3680043.10.999.5"
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.10.999.6"
    ds.SeriesInstanceUID = "1.2.826.0.1.3680043.10.999.7"
    ds.PatientName = "Roe^Jane"
    ds.PatientID = "MRN-1234"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "F"
    ds.PatientAge = "051Y"
    ds.PatientWeight = "61.5"
    ds.StudyDate = "20210315"
    ds.InstitutionName = "Saint Elsewhere Hospital"
    ds.InstitutionAddress = "1 Main Street, Springfield"
    ds.ReferringPhysicianName = "Who^Doctor"
    ds.StudyDescription = "Chest CT"
    ds.SeriesDescription = "Axial 5mm"
    ds.DeviceSerialNumber = "SN-99887"
    ds.Modality = "CT"
    ds.Rows = 2
    ds.BurnedInAnnotation = "NO"
    for group, creator, elements in private:
        block = ds.private_block(group, creator, create=True)
        for byte, vr, value in elements:
            block.add_new(byte, vr, value)
    if extra is not None:
        ds.update(extra)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def anonymize(profile: ConfidentialityProfile, data: bytes) -> Dataset:
    """The profile's rules on `data`, and nothing else: the attributes no rule names are kept
    (``unlisted="keep"``; what "clean" does to them is tested in test_unlisted.py)."""
    profile.unlisted = "keep"
    out = Anonymizer(profile, key=KEY).anonymize(DicomFile.open(data))
    return pydicom.dcmread(io.BytesIO(out.to_bytes()))


def mapped(uid: str) -> str:
    return Anonymizer(key=KEY).map_uid(uid)


# ---------------------------------------------------------------------------------------------
# The shipped examples
# ---------------------------------------------------------------------------------------------

EXAMPLE_RULES = {
    "0010,0010": "Z",
    "0010,0020": "Z",
    "0010,0030": "X",
    "0010,0040": "K",
    "0010,1010": "K",
    "0010,1030": "K",
    "0020,000d": "U",
    "0020,000e": "U",
    "0008,0018": "U",
    "0008,0080": "X",
    "0008,0081": "X",
    "0008,0090": "D",
    "0008,1030": "C",
    "0008,103e": "C",
    "0009,xx10:ACME PRIVATE": "K",
    "gggg,eeee (gggg odd)": "X",
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_example_rule_form_loads(fmt: str):
    profile = LOAD_FILE[fmt](EXAMPLES / f"custom_profile.{fmt}")
    assert {canonical_pattern(p): a.value for p, a in profile.items()} == EXAMPLE_RULES
    assert profile.is_custom and profile.options is None


def test_example_rule_forms_are_one_profile():
    csv_, json_, xml_ = (LOAD_FILE[f](EXAMPLES / f"custom_profile.{f}") for f in FORMATS)
    assert csv_ == json_ == xml_


@pytest.mark.parametrize("fmt", FORMATS)
def test_example_rule_form_behaves_as_documented(fmt: str):
    profile = LOAD_FILE[fmt](EXAMPLES / f"custom_profile.{fmt}")
    data = make_file(
        private=[
            (0x0009, "ACME PRIVATE", [(0x10, "LO", "acme kept"), (0x11, "LO", "acme other")]),
            (0x0011, "OTHER", [(0x10, "LO", "other private")]),
        ]
    )
    before = pydicom.dcmread(io.BytesIO(data))
    out = anonymize(profile, data)
    assert out.PatientName == "" and out.PatientID == ""  # Z
    # X, but Type 2 in the file's IOD (CT Image, Patient Module): emptied instead
    assert out.PatientBirthDate == ""
    assert (out.PatientSex, out.PatientAge, out.PatientWeight) == ("F", "051Y", 61.5)  # K
    for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):  # U
        assert out[kw].value == mapped(before[kw].value), kw
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert "InstitutionName" not in out and "InstitutionAddress" not in out  # X
    assert out.ReferringPhysicianName == "ANONYMIZED"  # D: a dummy (PS3.15 letters)
    assert "StudyDescription" in out and "SeriesDescription" in out  # C: cleaned, present
    assert out[0x00091010].value == "acme kept"  # the creator's attribute
    assert 0x00091011 not in out and 0x00111010 not in out  # every other private attribute
    # no rule names them: kept
    assert (out.StudyDate, out.Modality, out.DeviceSerialNumber) == (
        "20210315",
        "CT",
        "SN-99887",
    )
    assert out.DeidentificationMethod == [f"dicomveil {dicomveil.__version__}", "custom profile"]
    assert "DeidentificationMethodCodeSequence" not in out


def test_a_kept_private_attribute_keeps_its_creator():
    profile = P.load_from_csv_file(EXAMPLES / "custom_profile.csv")
    out = anonymize(profile, make_file(private=[(0x0009, "ACME PRIVATE", [(0x10, "LO", "v")])]))
    assert out[0x00091010].value == "v"
    assert out[0x00090010].value == "ACME PRIVATE"


OPTION_EXAMPLE = {
    # canonical tag: {options: expected letter}
    "0010,0010": {1: "Z", 2047: "Z"},
    "0010,0030": {1: "X", 64: "K", 128: "C", 192: "C"},
    "0010,1010": {1: "X", 32: "K"},
    "0020,000d": {1: "U", 4: "K"},
    "0008,0020": {1: "Z", 64: "K", 128: "C"},
    "0008,0080": {1: "X", 16: "K"},
    "0018,1000": {1: "X", 8: "K"},
    "0008,1030": {1: "X", 256: "C"},
    "gggg,eeee (gggg odd)": {1: "X", 2: "C"},
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("options", [1, 2, 4, 8, 16, 32, 64, 128, 192, 256, 2047])
def test_example_option_form_selects_columns(fmt: str, options: int):
    profile = LOAD_FILE[fmt](EXAMPLES / f"options_profile.{fmt}", options=options)
    got = {canonical_pattern(p): a.value for p, a in profile.items()}
    assert len(got) == 10
    for tag, by_options in OPTION_EXAMPLE.items():
        want = by_options[1]
        for bit in sorted(b for b in by_options if b != 1 and b != 2047):
            if options & bit == bit:
                want = by_options[bit]
        if options == 2047 and 2047 in by_options:
            want = by_options[2047]
        assert got[tag] == want, (tag, options)
    assert profile.is_custom


def test_example_option_forms_are_one_profile():
    for options in (1, 2047, 64 | 128):
        a, b, c = (LOAD_FILE[f](EXAMPLES / f"options_profile.{f}", options) for f in FORMATS)
        assert a == b == c


def test_example_option_form_on_a_file():
    path = EXAMPLES / "options_profile.csv"
    data = make_file()
    basic = anonymize(P.load_from_csv_file(path), data)
    assert "PatientAge" not in basic and "InstitutionName" not in basic
    assert "DeviceSerialNumber" not in basic and basic.StudyDate == ""
    retained = anonymize(
        P.load_from_csv_file(
            path,
            Options.RETAIN_PATIENT_CHARS
            | Options.RETAIN_INSTITUTION_IDENT
            | Options.RETAIN_DEVICE_IDENT
            | Options.RETAIN_LONG_FULL_DATES
            | Options.RETAIN_UIDS,
        ),
        data,
    )
    assert retained.PatientAge == "051Y"
    assert retained.InstitutionName == "Saint Elsewhere Hospital"
    assert retained.DeviceSerialNumber == "SN-99887"
    assert retained.StudyDate == "20210315"
    assert retained.PatientBirthDate == "19700101"
    assert retained.StudyInstanceUID == "1.2.826.0.1.3680043.10.999.6"
    assert retained.PatientName == ""
    # a custom profile: no rule for SOPInstanceUID in this file, so it is kept
    assert retained.SOPInstanceUID == "1.2.826.0.1.3680043.10.999.5"
    assert retained.DeidentificationMethod[-1] == "custom profile"


# ---------------------------------------------------------------------------------------------
# The option form on the shipped table: exactly the default profile
# ---------------------------------------------------------------------------------------------


def table_records() -> list[dict[str, str]]:
    with TABLE.open(encoding="utf-8", newline="") as f:
        lines = [line for line in f if not line.startswith("#")]
    return list(csv.DictReader(lines, delimiter=";"))


@pytest.mark.parametrize("options", [1, 2, 4, 8, 16, 32, 64, 128, 192, 256, 512, 1024, 2047, 1029])
def test_shipped_table_loads_as_the_default_profile(options: int):
    profile = P.load_from_csv_file(TABLE, options=options)
    default = P.create_default(options)
    assert profile == default
    assert letters(profile) == letters(default)
    assert profile.options == Options(options | 1)
    assert not profile.is_custom


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_shipped_table_in_json_and_xml(fmt: str):
    records = [{k: v for k, v in r.items() if v} for r in table_records()]
    text = option_form(fmt, records)
    for options in (1, 4 | 256, 2047):
        profile = LOAD_STRING[fmt](text, options=options)
        assert profile == P.create_default(options)
        assert profile.options == Options(options | 1)


def test_shipped_table_without_one_row_is_custom():
    records = table_records()[1:]
    profile = P.load_from_json_string(json.dumps(records))
    assert profile.is_custom
    assert len(profile) == 622


def test_option_form_empty_basic_cell_means_no_rule_unless_an_option_says():
    text = option_form(
        "csv",
        [{"tag": "0008,1030", "clean_desc_opt": "C"}, {"tag": "0010,0010", "basic_profile": "Z"}],
    )
    assert letters(P.load_from_csv_string(text)) == {"0010,0010": "Z"}
    assert letters(P.load_from_csv_string(text, Options.CLEAN_DESC)) == {
        "0008,1030": "C",
        "0010,0010": "Z",
    }
    out = anonymize(P.load_from_csv_string(text), make_file())
    assert out.StudyDescription == "Chest CT"


# ---------------------------------------------------------------------------------------------
# The rule form, by hand, in each format
# ---------------------------------------------------------------------------------------------

RULES = [
    ("(0010,0010)", "Z"),
    ("0010,0020", "X"),
    ("StudyDate", "K"),
    ("(0009,xx10,ACME PRIVATE)", "K"),
    ("0011,xx20:OTHER CREATOR", "D"),
    ("60xx,4000", "X"),
    ("gggg,eeee (gggg odd)", "X"),
    ("0020,000D", "U"),
    ("ReferencedImageSequence", "X/Z/U*"),
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_rule_form_in_each_format(fmt: str):
    profile = LOAD_STRING[fmt](rule_form(fmt, RULES))
    assert list(profile.items()) == [(p, Action(a)) for p, a in RULES]
    assert profile == P.empty(RULES)
    assert profile.is_custom


@pytest.mark.parametrize("fmt", FORMATS)
def test_rule_form_from_a_file_names_the_file(fmt: str, tmp_path: Path):
    path = tmp_path / f"p.{fmt}"
    path.write_text(rule_form(fmt, RULES), encoding="utf-8")
    assert LOAD_FILE[fmt](path) == P.empty(RULES)
    assert LOAD_FILE[fmt](str(path)) == P.empty(RULES)
    path.write_text(rule_form(fmt, [("0010,0010", "Q")]), encoding="utf-8")
    with pytest.raises(ProfileError) as e:
        LOAD_FILE[fmt](path)
    assert str(e.value).startswith(f"{path}: ")
    assert "unknown action 'Q'" in str(e.value)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("options", [2, 4, Options.ALL])
def test_rule_form_with_options_warns_that_they_change_nothing(fmt: str, options: int):
    """Aspose's call passes options whatever the form: accepted, the rules apply as written,
    and a warning says the options do nothing (a silent CLEAN_DESC that does nothing would
    leave descriptions in place)."""
    with pytest.warns(UserWarning, match=r"^<string>: options .* rule form.* change nothing"):
        loaded = LOAD_STRING[fmt](rule_form(fmt, RULES), options=options)
    assert loaded == P.empty(RULES)
    # BASIC_PROFILE (what every profile implies) is accepted without a word
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert LOAD_STRING[fmt](rule_form(fmt, RULES), options=Options.BASIC_PROFILE) == P.empty(
            RULES
        )


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_profiles(fmt: str):
    text = {"csv": "TagPattern;Action\n", "json": "[]", "xml": "<root/>"}[fmt]
    profile = LOAD_STRING[fmt](text)
    assert len(profile) == 0 and profile.is_custom
    out = anonymize(profile, make_file())
    assert out.PatientName == "Roe^Jane"


# ---------------------------------------------------------------------------------------------
# Leniency
# ---------------------------------------------------------------------------------------------

EXPECTED = {"0010,0010": "Z", "0010,0020": "X", "0009,xx10:ACME PRIVATE": "K"}


def canon_letters(profile: ConfidentialityProfile) -> dict[str, str]:
    return {canonical_pattern(p): a.value for p, a in profile.items()}


@pytest.mark.parametrize(
    "text",
    [
        # Aspose's guide style: header, parentheses, trailing comments
        "TagPattern;Action\n(0010,0010);Z // Patient's Name\n(0010,0020);X\n"
        "(0009,xx10,ACME PRIVATE);K // a private attribute\n",
        # header case and spacing, blank lines, spaces around fields, lower-case letters
        "  tagpattern ; ACTION \n\n 0010,0010 ; z \n\n\n0010,0020;x\n0009,xx10:ACME PRIVATE;k\n",
        "Tag Pattern;action\n0010,0010;Z\n0010,0020;X\n0009,xx10:ACME PRIVATE;K\n",
        "tag_pattern;Action\nPatientName;Z\nPatientID;X\n0009,1010:ACME PRIVATE;K\n",
        # comment lines
        "// my profile\n# generated by hand\nTagPattern;Action\n// names\n0010,0010;Z\n"
        "0010,0020;X//no space before the comment\n0009,xx10:ACME PRIVATE;K\n",
        # CRLF and a BOM
        "\ufeffTagPattern;Action\r\n0010,0010;Z\r\n0010,0020;X\r\n0009,xx10:ACME PRIVATE;K\r\n",
        # old Mac line ends
        "TagPattern;Action\r0010,0010;Z\r0010,0020;X\r0009,xx10:ACME PRIVATE;K\r",
        # comma separator: quoted patterns, or unquoted ones put back together
        'TagPattern,Action\n"0010,0010",Z\n"0010,0020",X\n"(0009,xx10,ACME PRIVATE)",K\n',
        "TagPattern,Action\n0010,0010,Z\n(0010,0020),X\n(0009,xx10,ACME PRIVATE),K\n",
        # tab separator (spreadsheet export), action column first, an extra column
        "Action\tTagPattern\tComment\nZ\t0010,0010\tname\nX\t0010,0020\t\nK\t"
        "0009,xx10:ACME PRIVATE\tacme\n",
        # quoted fields with the separator and // inside
        'TagPattern;Action;Note\n"0010,0010";"Z";"a;b // not a comment"\n0010,0020;X;\n'
        '"0009,xx10:ACME PRIVATE";K;x\n',
        # no trailing newline
        "TagPattern;Action\n0010,0010;Z\n0010,0020;X\n0009,xx10:ACME PRIVATE;K",
    ],
)
def test_csv_leniency(text: str):
    assert canon_letters(P.load_from_csv_string(text)) == EXPECTED


def test_csv_files_in_other_encodings(tmp_path: Path):
    text = "TagPattern;Action\n0010,0010;Z\n0010,0020;X\n0009,xx10:ACME PRIVATE;K\n"
    for name, data in {
        "bom.csv": b"\xef\xbb\xbf" + text.encode(),
        "utf16.csv": text.encode("utf-16"),  # with its BOM
        "utf16be.csv": b"\xfe\xff" + text.encode("utf-16-be"),
    }.items():
        (tmp_path / name).write_bytes(data)
        assert canon_letters(P.load_from_csv_file(tmp_path / name)) == EXPECTED, name
    assert canon_letters(P.load_from_csv_string(text.encode())) == EXPECTED


def test_csv_private_creator_with_unicode(tmp_path: Path):
    path = tmp_path / "u.csv"
    path.write_text("TagPattern;Action\n0009,xx10:ÄCMÉ 医療;K\n", encoding="utf-8")
    assert letters(P.load_from_csv_file(path)) == {"0009,xx10:ÄCMÉ 医療": "K"}


@pytest.mark.parametrize(
    "text",
    [
        '[{"Tag": "(0010,0010)", "Action": "Z"}, {"Tag": "0010,0020", "Action": "X"},'
        ' {"Tag": "(0009,xx10,ACME PRIVATE)", "Action": "K"}]',
        '[{"tag": " 0010,0010 ", "action": "z"}, {"TAG": "PatientID", "ACTION": "x"},'
        ' {"TagPattern": "0009,xx10:ACME PRIVATE", "Action": "K", "Comment": "kept"}]',
        '\ufeff[\n  {"Action": "Z", "Tag": "0010,0010"},\n  {"Tag": "0010,0020", "Action": "X"},'
        '\n  {"tag_pattern": "0009,xx10:ACME PRIVATE", "action": "K"}\n]\n',
    ],
)
def test_json_leniency(text: str):
    assert canon_letters(P.load_from_json_string(text)) == EXPECTED


@pytest.mark.parametrize(
    "text",
    [
        "<root><item><tag>(0010,0010)</tag><action>Z</action></item>"
        "<item><tag>0010,0020</tag><action>X</action></item>"
        "<item><tag>(0009,xx10,ACME PRIVATE)</tag><action>K</action></item></root>",
        # declaration, comments, whitespace, element case, any element names
        '<?xml version="1.0" encoding="UTF-8"?>\n<!-- profile -->\n<Profile>\n'
        "  <Rule>\n    <Tag> 0010,0010 </Tag>\n    <Action>z</Action>\n  </Rule>\n"
        "  <Rule><TAG>PatientID</TAG><!-- c --><ACTION>X</ACTION></Rule>\n"
        "  <Rule><TagPattern>0009,xx10:ACME PRIVATE</TagPattern><Action>K</Action>"
        "<Note>kept</Note></Rule>\n</Profile>\n",
        # attributes, a namespace
        '<p:root xmlns:p="urn:x"><p:item tag="0010,0010" action="Z"/>'
        '<p:item tag="0010,0020" action="X"/>'
        '<p:item tag="0009,xx10:ACME PRIVATE" action="K"/></p:root>',
    ],
)
def test_xml_leniency(text: str):
    assert canon_letters(P.load_from_xml_string(text)) == EXPECTED
    assert canon_letters(P.load_from_xml_string(text.encode("utf-8"))) == EXPECTED


def test_xml_in_another_encoding(tmp_path: Path):
    text = (
        '<?xml version="1.0" encoding="ISO-8859-1"?>'
        "<root><item><tag>0009,xx10:ACMÉ</tag><action>K</action></item></root>"
    )
    path = tmp_path / "latin1.xml"
    path.write_bytes(text.encode("latin-1"))
    assert letters(P.load_from_xml_file(path)) == {"0009,xx10:ACMÉ": "K"}
    path.write_bytes(text.replace("ISO-8859-1", "UTF-16").encode("utf-16"))
    assert letters(P.load_from_xml_file(path)) == {"0009,xx10:ACMÉ": "K"}


def test_compound_codes_load():
    text = "TagPattern;Action\n" + "".join(
        f"00{g:02x},0010;{a}\n"
        for g, a in zip(
            range(0x10, 0x1C, 2), ["X/Z", "X/D", "X/Z/D", "Z/D", "X/Z/U*", "x/z/u"], strict=True
        )
    )
    got = [a.value for a in P.load_from_csv_string(text).values()]
    assert got == ["X/Z", "X/D", "X/Z/D", "Z/D", "X/Z/U*", "X/Z/U*"]


# ---------------------------------------------------------------------------------------------
# Tag patterns
# ---------------------------------------------------------------------------------------------

SPELLINGS = {
    "0010,0010": [
        "0010,0010",
        "(0010,0010)",
        " ( 0010,0010 ) ".strip(),
        "00100010",
        "PatientName",
        "(0010, 0010)",
    ],
    "0020,000d": ["0020,000D", "(0020,000d)", "0020000D", "StudyInstanceUID"],
    "50xx,xxxx": ["50xx,xxxx", "50XX,XXXX", "(50xx,xxxx)", "50xxxxxx"],
    "60xx,3000": ["60xx,3000", "(60XX,3000)"],
    "0009,xx10:ACME PRIVATE": [
        "0009,xx10:ACME PRIVATE",
        "(0009,xx10,ACME PRIVATE)",
        "(0009,XX10:ACME PRIVATE)",
        "0009,1010:ACME PRIVATE",
        "0009,xx10: ACME PRIVATE ",
        '0009,xx10:"ACME PRIVATE"',
    ],
    "gggg,eeee (gggg odd)": [
        "gggg,eeee (gggg odd)",
        "GGGG,EEEE (GGGG ODD)",
        "(gggg odd)",
        "private",
    ],
}


@pytest.mark.parametrize("canon", SPELLINGS)
def test_every_spelling_of_a_pattern_loads_and_is_one_rule(canon: str):
    for spelling in SPELLINGS[canon]:
        assert canonical_pattern(spelling) == canon, spelling
        quoted = '"' + spelling.replace('"', '""') + '"'
        profile = P.load_from_csv_string(f"TagPattern;Action\n{quoted};K\n")
        assert list(profile) == [spelling.strip()]
        assert profile[canon] == Action.K
        # the engine agrees: the first spelling and this one are the same rule
        first = SPELLINGS[canon][0]
        with pytest.raises(ProfileError, match="rule 2"):
            _core.CompiledProfile([(first, "X"), (spelling, "X")], "t", [], [])


def test_the_engine_spells_every_table_pattern_as_python_does():
    """create_default takes its canonical patterns from the engine (no Python parse of 600
    patterns at start-up): they must be the ones canonical_pattern gives."""
    rows = _core.default_rules(int(Options.ALL))
    assert len(rows) == len(_core.table_rows()) > 600
    for pattern, canon, _action in rows:
        assert canon == canonical_pattern(pattern), pattern
    assert any("x" in canon for _p, canon, _a in rows)  # wildcards (60xx,...) are among them
    assert any(canon == "gggg,eeee (gggg odd)" for _p, canon, _a in rows)


DIFFERENT = [
    "0010,0010",
    "0010,0020",
    "0010,xxxx",
    "001x,0010",
    "0009,xx10",
    "0009,xxxx",
    "0009,xx10:ACME",
    "0009,xx10:acme",
    "0009,xx11:ACME",
    "0011,xx10:ACME",
    "gggg,eeee (gggg odd)",
    "60xx,3000",
    "60xx,4000",
]


def test_different_patterns_are_different_rules():
    assert len({canonical_pattern(p) for p in DIFFERENT}) == len(DIFFERENT)
    rules = [(p, "X") for p in DIFFERENT]
    _core.CompiledProfile(rules, "t", [], [])  # the engine sees no duplicate either
    assert len(P.empty(rules)) == len(DIFFERENT)


MALFORMED = [
    "",
    "0010,001",
    "0010,00100",
    "0010;0010",
    "zzzz,0010",
    "0010,00zz",
    "NotAKeyword",
    "patientname",
    "(0010,0010",
    "0008,xx10:ACME",  # even group with a creator
    "0009,10xx:ACME",  # element byte not given
    "00x9,xx10:ACME",  # group not fully given
    "0009,xx10:",
    "0009,xx10:  ",
    "0010,0010,0010,0010",
]


@pytest.mark.parametrize("pattern", MALFORMED)
def test_malformed_patterns_agree_with_the_engine(pattern: str):
    with pytest.raises(ValueError):
        canonical_pattern(pattern)
    with pytest.raises(ProfileError):
        _core.canonical_pattern(pattern)
    with pytest.raises(ProfileError, match=r"^<string>: line 2: "):
        P.load_from_csv_string(f'TagPattern;Action\n"{pattern}";X\n')


def test_mapping_keys_are_patterns_not_spellings():
    profile = P.empty({"0010,0010": "Z"})
    assert profile["PatientName"] == Action.Z
    assert "(0010,0010)" in profile and "PatientName" in profile
    assert "0010,0020" not in profile and "garbage" not in profile and 7 not in profile
    profile["PatientName"] = "K"  # replaces the rule, spelt anew
    assert list(profile.items()) == [("PatientName", Action.K)]
    del profile["00100010"]
    assert len(profile) == 0
    with pytest.raises(KeyError):
        profile["garbage"]
    assert P.empty({"PatientName": "Z"}) == P.empty({"(0010,0010)": "Z"})
    assert P.empty({"PatientName": "Z"}) != P.empty({"(0010,0010)": "X"})


def test_equally_specific_overlapping_patterns_are_refused():
    profile = P.empty({"0009,xx10": "Z"})
    with pytest.raises(ProfileError, match=r"ambiguous with '0009,xx10'.*\(0009,1010\)"):
        profile["0009,10xx"] = "K"
    profile["0009,10xx"] = "Z"  # same action: no ambiguity
    profile["0009,20xx"] = "Z"
    with pytest.raises(ProfileError, match=r"ambiguous with '0009,xx10'.*\(0009,1110\)"):
        profile["0009,11xx"] = "K"
    profile["0019,11xx"] = "K"  # no common tag with any
    assert len(profile) == 4
    with pytest.raises(ProfileError, match=r"^<string>: line 3: '0009,10xx' is ambiguous"):
        P.load_from_csv_string("TagPattern;Action\n0009,xx10;Z\n0009,10xx;K\n")


def test_no_ambiguity_between_patterns_of_different_specificity():
    """Overlapping patterns of different specificity load, and the most specific decides."""
    profile = P.load_from_csv_string("TagPattern;Action\n0009,xx10;Z\n0009,1xxx;K\n00x9,1010;X\n")
    assert {canonical_pattern(p): a.value for p, a in profile.items()} == {
        "0009,xx10": "Z",
        "0009,1xxx": "K",
        "00x9,1010": "X",
    }
    blocks = [
        (0x0009, "ACME", [(0x10, "LO", "ten"), (0x20, "LO", "twenty")]),
        (0x0009, "OTHER", [(0x10, "LO", "other ten")]),  # block 0x11: (0009,1110)
    ]
    out = anonymize(profile, make_file(private=blocks))
    assert 0x00091010 not in out  # 00x9,1010 (7 digits given) wins: X
    assert out[0x00091110].value == ""  # 0009,xx10 (6 digits) wins over 0009,1xxx (5): Z
    assert out[0x00091020].value == "twenty"  # only 0009,1xxx matches: K


# ---------------------------------------------------------------------------------------------
# Precedence on real files
# ---------------------------------------------------------------------------------------------

ACME = [(0x0009, "ACME PRIVATE", [(0x10, "LO", "acme 10"), (0x20, "LO", "acme 20")])]
OTHER_BLOCKS = [
    (0x0009, "OTHER", [(0x10, "LO", "other 10")]),  # block 0x11: (0009,1110)
    (0x0011, "ACME PRIVATE", [(0x10, "LO", "acme in 0011")]),
]


def private_file() -> bytes:
    return make_file(private=ACME + OTHER_BLOCKS)


# (winner, loser, tag the winner decides): winner K keeps it, loser X would remove it
PRECEDENCE = [
    ("exact over creator", "0009,1010", "0009,xx10:ACME PRIVATE", 0x00091010),
    ("exact over pattern", "0009,1010", "0009,xx10", 0x00091010),
    ("exact over all-private", "0009,1010", "gggg,eeee (gggg odd)", 0x00091010),
    ("keyword over pattern", "PatientAge", "0010,xxxx", 0x00101010),
    ("creator over pattern", "0009,xx10:ACME PRIVATE", "0009,xx10", 0x00091010),
    ("creator over wide pattern", "(0009,xx10,ACME PRIVATE)", "0009,xxxx", 0x00091010),
    ("creator over all-private", "0009,xx10:ACME PRIVATE", "gggg,eeee (gggg odd)", 0x00091010),
    ("6 digits over 4", "0009,xx10", "0009,xxxx", 0x00091110),
    ("7 digits over 6", "0009,1x10", "0009,xx10", 0x00091110),
    ("pattern over all-private", "0009,xxxx", "gggg,eeee (gggg odd)", 0x00091110),
    ("repeating group, 6 over 2", "60xx,4000", "60xx,xxxx", 0x60004000),
]


@pytest.mark.parametrize(
    ("case", "winner", "loser", "tag"), PRECEDENCE, ids=[c[0] for c in PRECEDENCE]
)
def test_precedence_on_a_file(case: str, winner: str, loser: str, tag: int):
    extra = Dataset()
    extra.add_new(0x60004000, "LT", "overlay comment")
    extra.add_new(0x60000010, "US", 2)
    data = make_file(extra, private=ACME + OTHER_BLOCKS)
    before = pydicom.dcmread(io.BytesIO(data))
    for rules in ([(winner, "K"), (loser, "X")], [(loser, "X"), (winner, "K")]):
        profile = P.load_from_csv_string(rule_form("csv", rules))
        out = anonymize(profile, data)
        assert tag in out, (case, rules)
        assert out[tag].value == before[tag].value, (case, rules)
        # and the loser's rule does act where the winner's does not reach
        flipped = anonymize(P.load_from_csv_string(rule_form("csv", [(loser, "X")])), data)
        assert tag not in flipped, case


def test_creator_rule_matches_in_any_block_and_only_its_creator():
    profile = P.load_from_csv_string(
        "TagPattern;Action\n0009,xx10:ACME PRIVATE;Z\n0011,xx10:ACME PRIVATE;X\n"
    )
    out = anonymize(profile, private_file())
    assert out[0x00091010].value == ""  # ACME, block 0x10
    assert out[0x00091020].value == "acme 20"  # ACME, another element: no rule
    assert out[0x00091110].value == "other 10"  # element byte 0x10 of another creator
    assert 0x00111010 not in out  # ACME in group 0011
    # the same creator reserved at another block (0x12) in another file
    ds = pydicom.dcmread(io.BytesIO(make_file()))
    ds.add_new(0x00090010, "LO", "SOMEONE")
    ds.add_new(0x00090011, "LO", "ELSE")
    ds.add_new(0x00090012, "LO", "ACME PRIVATE")
    ds.add_new(0x00091210, "LO", "acme in block 12")
    ds.add_new(0x00091010, "LO", "someone 10")
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    out = anonymize(profile, buf.getvalue())
    assert out[0x00091210].value == ""
    assert out[0x00091010].value == "someone 10"


def test_creator_rule_needs_the_creator():
    """A private attribute whose block has no creator element matches no creator rule."""
    ds = pydicom.dcmread(io.BytesIO(make_file()))
    ds.add_new(0x00091010, "LO", "orphan")
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    profile = P.empty({"0009,xx10:ACME PRIVATE": "X", "0009,xxxx": "Z"})
    out = anonymize(profile, buf.getvalue())
    assert out[0x00091010].value == ""


def test_all_private_pattern_applies_to_every_odd_group():
    out = anonymize(P.empty({"gggg,eeee (gggg odd)": "X"}), private_file())
    assert not any(e.tag.is_private for e in out)
    assert out.PatientName == "Roe^Jane"


def test_wildcard_pattern_on_public_groups():
    extra = Dataset()
    for group in (0x6000, 0x6002, 0x601E):
        extra.add_new(group << 16 | 0x4000, "LT", f"comment {group:04x}")
    data = make_file(extra)
    out = anonymize(P.empty({"60xx,4000": "Z"}), data)
    for group in (0x6000, 0x6002, 0x601E):
        assert out[group << 16 | 0x4000].value == ""
    out = anonymize(P.empty({"60xx,4000": "Z", "6002,4000": "K"}), data)
    assert out[0x60024000].value == "comment 6002"
    assert out[0x60004000].value == ""


def test_keyword_and_tag_rules_act_the_same():
    data = make_file()
    a = anonymize(P.empty({"PatientAge": "X", "InstitutionName": "Z"}), data)
    b = anonymize(P.empty({"(0010,1010)": "X", "0008,0080": "Z"}), data)
    assert "PatientAge" not in a and "PatientAge" not in b
    assert a.InstitutionName == b.InstitutionName == ""
    # X on Patient's Name, Type 2 in the file's IOD (CT Image): emptied, not removed
    a = anonymize(P.empty({"PatientName": "X"}), data)
    b = anonymize(P.empty({"(0010,0010)": "X"}), data)
    assert a.PatientName == b.PatientName == ""


def test_sequence_rules_apply_inside_kept_sequences():
    extra = Dataset()
    inner = Dataset()
    inner.PatientName = "Roe^Jane"
    inner.CodeMeaning = "x"
    extra.add_new(0x00189321, "SQ", Sequence([inner]))  # no rule: kept, rules applied inside
    out = anonymize(P.empty({"PatientName": "X"}), make_file(extra))
    item = out[0x00189321].value[0]
    assert "PatientName" not in item and item.CodeMeaning == "x"


# ---------------------------------------------------------------------------------------------
# Export round trips
# ---------------------------------------------------------------------------------------------

DEFAULT_OPTIONS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2047]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("options", DEFAULT_OPTIONS)
def test_default_profile_round_trip(fmt: str, options: int):
    profile = P.create_default(options)
    text = EXPORT[fmt](profile)
    back = LOAD_STRING[fmt](text)
    assert back == profile
    assert list(back.items()) == list(profile.items())  # order and spelling too
    # the rules alone show the options, except full dates under modified dates (shadowed)
    shown = Options.ALL & ~Options.RETAIN_LONG_FULL_DATES if options == 2047 else options
    assert back.options == Options(shown | 1)
    assert not back.is_custom


CUSTOM = [
    ("PatientName", "Z"),
    ("(0010,0020)", "X/Z/D"),
    ("0010,1010", "K"),
    ("50XX,XXXX", "C"),
    ("60xx,3000", "X"),
    ("0009,xx10:ACME;PRIVATE", "K"),
    ('0009,xx11:SAY "HI"', "D"),
    ("0009,xx12:A//B & <C>", "Z"),
    ("0009,xx13:#hash", "X/Z"),
    ("(0019,xx10,ÄCMÉ 医療)", "U"),
    ("gggg,eeee (gggg odd)", "X"),
    ("ReferencedImageSequence", "X/Z/U*"),
    ("0008,0050", "X/D"),
    ("0008,0090", "Z/D"),
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_custom_profile_round_trip(fmt: str, tmp_path: Path):
    profile = P.empty(CUSTOM)
    text = EXPORT[fmt](profile)
    back = LOAD_STRING[fmt](text)
    assert back == profile
    assert list(back.items()) == list(profile.items())
    assert back.is_custom
    path = tmp_path / f"out.{fmt}"
    assert EXPORT[fmt](profile, path) == text
    assert path.read_text(encoding="utf-8") == text
    assert LOAD_FILE[fmt](path) == profile
    # and the round trip acts the same on a file
    data = make_file(private=ACME)
    assert anonymize(back, data) == anonymize(profile, data)


@pytest.mark.parametrize("fmt", FORMATS)
def test_empty_profile_round_trip(fmt: str):
    assert LOAD_STRING[fmt](EXPORT[fmt](P.empty())) == P.empty()


def test_export_formats_are_the_rule_forms():
    profile = P.empty([("(0010,0010)", "Z"), ("0009,xx10:ACME", "K")])
    assert profile.to_csv() == "TagPattern;Action\n(0010,0010);Z\n0009,xx10:ACME;K\n"
    assert json.loads(profile.to_json()) == [
        {"Tag": "(0010,0010)", "Action": "Z"},
        {"Tag": "0009,xx10:ACME", "Action": "K"},
    ]
    assert profile.to_xml() == (
        '<?xml version="1.0" encoding="UTF-8"?>\n<root>\n'
        "  <item><tag>(0010,0010)</tag><action>Z</action></item>\n"
        "  <item><tag>0009,xx10:ACME</tag><action>K</action></item>\n</root>\n"
    )


# ---------------------------------------------------------------------------------------------
# Settings: patient_name, patient_id, conform_to_iod, unlisted in every format
# ---------------------------------------------------------------------------------------------

SETTING_CASES = {
    "patient_name": {"patient_name": "ANONYMOUS PATIENT"},
    "patient_name_pseudonym": {"patient_name": dicomveil.Pseudonym()},
    "patient_id": {"patient_id": "00000000"},
    "patient_id_pseudonym": {"patient_id": dicomveil.Pseudonym()},
    "patient_name_empty": {"patient_name": ""},
    "patient_id_punctuation": {"patient_id": 'a;b,"c" // #d <e> & f'},
    "conform_to_iod": {"conform_to_iod": False},
    "unlisted": {"unlisted": "keep"},
    "all": {
        "patient_name": "ANON^PATIENT",
        "patient_id": dicomveil.Pseudonym(),
        "conform_to_iod": False,
        "unlisted": "keep",
    },
}
SETTING_DEFAULTS = {
    "patient_name": None,
    "patient_id": None,
    "conform_to_iod": True,
    "unlisted": "clean",
}


def settings_of(profile: ConfidentialityProfile) -> dict[str, object]:
    return {name: getattr(profile, name) for name in SETTING_DEFAULTS}


def with_settings(profile: ConfidentialityProfile, settings: dict) -> ConfidentialityProfile:
    for name, value in settings.items():
        setattr(profile, name, value)
    return profile


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", SETTING_CASES)
@pytest.mark.parametrize("base", ["basic", "options", "custom", "empty"])
def test_settings_round_trip(fmt: str, case: str, base: str, tmp_path: Path):
    make = {
        "basic": P,
        "options": lambda: P.create_default(Options.RETAIN_UIDS | Options.CLEAN_DESC),
        "custom": lambda: P.empty(CUSTOM),
        "empty": P.empty,
    }[base]
    profile = with_settings(make(), SETTING_CASES[case])
    text = EXPORT[fmt](profile)
    back = LOAD_STRING[fmt](text)
    assert back == profile
    assert settings_of(back) == SETTING_DEFAULTS | SETTING_CASES[case]
    assert list(back.items()) == list(profile.items())
    assert back.options == make().options  # settings are no rules: the options stay
    path = tmp_path / f"p.{fmt}"
    EXPORT[fmt](profile, path)
    assert LOAD_FILE[fmt](path) == profile


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_loaded_profile_acts_as_the_exported_one(fmt: str):
    profile = with_settings(P({"InstitutionName": "K"}), SETTING_CASES["all"])
    back = LOAD_STRING[fmt](EXPORT[fmt](profile))
    data = make_file()
    out = anonymize(back, data)
    assert out == anonymize(profile, data)
    assert out.PatientName == "ANON^PATIENT" and re.fullmatch(r"[0-9A-F]{16}", out.PatientID)
    assert out.InstitutionName == "Saint Elsewhere Hospital"
    assert back._compile().conform is False and back._compile().unlisted == "keep"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("options", [1, 4 | 256, 2047])
def test_a_default_export_is_unchanged(fmt: str, options: int):
    """Settings at their defaults are not written: a default profile exports the rules alone,
    as before settings were part of the formats, set explicitly or not."""
    profile = P.create_default(options)
    rules = list(profile.items())
    expected = {
        "csv": "TagPattern;Action\n" + "".join(f"{p};{a.value}\n" for p, a in rules),
        "json": "[\n"
        + ",\n".join(f'  {{"Tag": "{p}", "Action": "{a.value}"}}' for p, a in rules)
        + "\n]\n",
        "xml": '<?xml version="1.0" encoding="UTF-8"?>\n<root>\n'
        + "".join(f"  <item><tag>{p}</tag><action>{a.value}</action></item>\n" for p, a in rules)
        + "</root>\n",
    }[fmt]
    assert EXPORT[fmt](profile) == expected
    assert EXPORT[fmt](P()) == EXPORT[fmt](P.create_default())
    explicit = with_settings(P.create_default(options), SETTING_DEFAULTS)
    assert EXPORT[fmt](explicit) == expected
    changed = with_settings(P.create_default(options), SETTING_CASES["all"])
    assert EXPORT[fmt](with_settings(changed, SETTING_DEFAULTS)) == expected


def test_the_settings_as_each_format_writes_them():
    profile = with_settings(P.empty({"PatientName": "Z"}), SETTING_CASES["all"])
    assert profile.to_csv() == (
        "TagPattern;Action\n"
        "@patient_name;ANON^PATIENT\n"
        "@patient_id;@pseudonym\n"
        "@conform_to_iod;no\n"
        "@unlisted;keep\n"
        "PatientName;Z\n"
    )
    assert json.loads(profile.to_json()) == [
        {"Setting": "patient_name", "Value": "ANON^PATIENT"},
        {"Setting": "patient_id", "Value": "@pseudonym"},
        {"Setting": "conform_to_iod", "Value": "no"},
        {"Setting": "unlisted", "Value": "keep"},
        {"Tag": "PatientName", "Action": "Z"},
    ]
    assert profile.to_xml() == (
        '<?xml version="1.0" encoding="UTF-8"?>\n<root>\n'
        '  <setting name="patient_name">ANON^PATIENT</setting>\n'
        '  <setting name="patient_id">@pseudonym</setting>\n'
        '  <setting name="conform_to_iod">no</setting>\n'
        '  <setting name="unlisted">keep</setting>\n'
        "  <item><tag>PatientName</tag><action>Z</action></item>\n</root>\n"
    )
    quoted = with_settings(P.empty(), {"patient_id": 'a;b "c" // d'})
    assert quoted.to_csv() == 'TagPattern;Action\n@patient_id;"a;b ""c"" // d"\n'


def settings_by_hand(fmt: str, settings: list[tuple[str, str]], rules=(("0010,0010", "Z"),)):
    """Settings then rules, written by hand in each format's rule form."""
    if fmt == "csv":
        return (
            "TagPattern;Action\n"
            + "".join(f"@{n};{v}\n" for n, v in settings)
            + "".join(f"{p};{a}\n" for p, a in rules)
        )
    if fmt == "json":
        items = [{"Setting": n, "Value": v} for n, v in settings]
        return json.dumps(items + [{"Tag": p, "Action": a} for p, a in rules])
    items = "".join(f'<setting name="{n}">{v}</setting>' for n, v in settings)
    items += "".join(f"<item><tag>{p}</tag><action>{a}</action></item>" for p, a in rules)
    return f"<root>{items}</root>"


@pytest.mark.parametrize("fmt", FORMATS)
def test_settings_by_hand_names_and_values_are_lenient_in_case(fmt: str):
    text = settings_by_hand(
        fmt,
        [("PatientName", "@Pseudonym"), ("patient-id", "P-7"), ("Conform To IOD", "NO")]
        + [("UNLISTED", "Keep")],
    )
    profile = LOAD_STRING[fmt](text)
    assert settings_of(profile) == {
        "patient_name": dicomveil.Pseudonym(),
        "patient_id": "P-7",
        "conform_to_iod": False,
        "unlisted": "keep",
    }
    assert letters(profile) == {"0010,0010": "Z"}
    # a file of settings alone: a profile with no rules and those settings
    alone = LOAD_STRING[fmt](settings_by_hand(fmt, [("conform_to_iod", "yes")], rules=()))
    assert len(alone) == 0 and alone.conform_to_iod is True


def test_settings_in_the_option_form():
    header = "tag;keyword;" + ";".join(COLUMNS)
    empty = ";" * 10
    text = (
        f"{header}\n@patient_id;;STUDY-1{empty}\n@unlisted;comment;keep{empty}\n"
        f"0020,000d;StudyInstanceUID;U;;K{';' * 8}\n"
    )
    profile = P.load_from_csv_string(text, options=Options.RETAIN_UIDS)
    assert (profile.patient_id, profile.unlisted) == ("STUDY-1", "keep")
    assert letters(profile) == {"0020,000d": "K"}
    rows = [{"tag": "0020,000d", "basic_profile": "U", "rtn_uids_opt": "K"}]
    as_json = [{"Setting": "patient_id", "Value": "STUDY-1"}, *rows]
    profile = P.load_from_json_string(json.dumps(as_json), options=Options.RETAIN_UIDS)
    assert profile.patient_id == "STUDY-1" and letters(profile) == {"0020,000d": "K"}
    as_xml = (
        '<table><setting name="patient_id">STUDY-1</setting><item><tag>0020,000d</tag>'
        "<basic_profile>U</basic_profile><rtn_uids_opt>K</rtn_uids_opt></item></table>"
    )
    profile = P.load_from_xml_string(as_xml, options=Options.RETAIN_UIDS)
    assert profile.patient_id == "STUDY-1" and letters(profile) == {"0020,000d": "K"}
    # a setting's value is in basic_profile: the option cells of its row stay empty
    bad = f"{header}\n@patient_id;;STUDY-1;;K{';' * 8}\n"
    with pytest.raises(
        ProfileError,
        match=r"^<string>: line 2: a setting has its value in 'basic_profile' only; "
        r"rtn_uids_opt must be empty",
    ):
        P.load_from_csv_string(bad)


def test_a_loaded_setting_applies_to_the_run():
    data = make_file()
    literal = P.load_from_csv_string(HEADER + "@conform_to_iod;no\nPatientName;X\n")
    assert "PatientName" not in anonymize(literal, data)  # X as written
    resolved = P.load_from_csv_string(HEADER + "PatientName;X\n")
    assert anonymize(resolved, data).PatientName == ""  # Type 2 in CT Image: emptied
    named = P.load_from_json_string('[{"Setting": "patient_name", "Value": "ANON"}]')
    assert anonymize(named, data).PatientName == "ANON"


SETTING_ERRORS = {
    "csv": [
        (HEADER + "@patient_nam;X\n", r"line 2: unknown setting 'patient_nam' \(the settings are "),
        (HEADER + "@;X\n", r"line 2: unknown setting ''"),
        (
            HEADER + "@patient_id;A\n@PatientID;B\n",
            r"line 3: setting patient_id is given twice \(first at line 2\)",
        ),
        (
            HEADER + "0010,0010;Z\n@patient_id;A\n",
            r"line 3: settings come before the rules \(line 2 is a rule\)",
        ),
        (HEADER + "@conform_to_iod;false\n", r"line 2 \(Action\): conform_to_iod is yes or no"),
        (HEADER + "@conform_to_iod;\n", r"line 2 \(Action\): conform_to_iod is yes or no, not ''"),
        (
            HEADER + "@unlisted;drop\n",
            r"line 2 \(Action\): unlisted is clean, keep or remove, not 'drop'",
        ),
        (HEADER + "@patient_name;Müller\n", r"line 2 \(Action\): patient_name must be ASCII"),
        (
            HEADER + "@patient_id;@random\n",
            r"line 2 \(Action\): patient_id: unknown value '@random' \(a value starting with @ "
            r"is @pseudonym",
        ),
        (HEADER + "@patient_id;A;B\n", r"line 2: 3 fields, but the header has 2"),
        ("TagPattern,Action\n@patient_id,Doe, J\n", r"line 2: 3 fields, but the header has 2"),
    ],
    "json": [
        ('[{"Setting": "colour", "Value": "X"}]', r"\[0\]\.Setting: unknown setting 'colour'"),
        (
            '[{"Setting": "unlisted", "Value": "drop"}]',
            r"\[0\]\.Value: unlisted is clean, keep or remove",
        ),
        ('[{"Setting": "conform_to_iod", "Value": false}]', r"\[0\]\.Value: expected a string"),
        ('[{"Setting": "patient_id", "Value": null}]', r"\[0\]\.Value: expected a string"),
        ('[{"Setting": 5, "Value": "x"}]', r"\[0\]\.Setting: expected a string, found int"),
        ('[{"Setting": "patient_id"}]', r"\[0\]: missing key Value"),
        (
            '[{"Setting": "patient_id", "Value": "A\\u0001"}]',
            r"\[0\]\.Value: patient_id has the control character '\\x01'",
        ),
        (
            '[{"Setting": "patient_id", "Value": "x", "Tag": "0010,0020"}]',
            r"\[0\]: an object with a 'Setting' key is a setting, and a setting has no key of a "
            r"rule \('Tag'\)",
        ),
        (
            '[{"Setting": "patient_id", "Value": "x", "setting": "y"}]',
            r"\[0\]: key 'setting' is given twice \(also as 'Setting'\)",
        ),
        (
            '[{"Setting": "patient_id", "Value": "A"}, {"Setting": "patient_id", "Value": "B"}]',
            r"\[1\]\.Setting: setting patient_id is given twice \(first at \[0\]\.Setting\)",
        ),
        (
            '[{"Tag": "0010,0010", "Action": "Z"}, {"Setting": "patient_id", "Value": "A"}]',
            r"\[1\]: settings come before the rules \(\[0\] is a rule\)",
        ),
    ],
    "xml": [
        (
            '<root><setting name="nope">x</setting></root>',
            r"setting\[1\] \(line 1\) @name: unknown setting 'nope'",
        ),
        (
            '<root>\n<setting name="unlisted">x</setting></root>',
            r"setting\[1\] \(line 2\): unlisted is clean, keep or remove, not 'x'",
        ),
        ("<root><setting>x</setting></root>", r"setting\[1\] \(line 1\): a setting needs its name"),
        (
            '<root><setting name="unlisted" value="keep"/></root>',
            r"setting\[1\] \(line 1\): a setting has a name attribute only, not 'value'",
        ),
        (
            '<root><setting name="unlisted"><value>keep</value></setting></root>',
            r"setting\[1\] \(line 1\): a setting holds its value as text, not elements",
        ),
        (
            '<root><setting name="unlisted">keep</setting>\n'
            '<setting name="Unlisted">clean</setting></root>',
            r"setting\[2\] \(line 2\) @name: setting unlisted is given twice \(first at "
            r"setting\[1\] \(line 1\) @name\)",
        ),
        (
            "<root><item><tag>0010,0010</tag><action>Z</action></item>\n"
            '<setting name="unlisted">keep</setting></root>',
            r"setting\[1\] \(line 2\): settings come before the rules \(item\[1\] is a rule\)",
        ),
    ],
}


@pytest.mark.parametrize(
    ("fmt", "text", "message"),
    [(fmt, text, message) for fmt, cases in SETTING_ERRORS.items() for text, message in cases],
)
def test_setting_errors(fmt: str, text: str, message: str):
    with pytest.raises(ProfileError) as e:
        LOAD_STRING[fmt](text)
    assert re.match(r"<string>: " + message, str(e.value)), str(e.value)


@pytest.mark.parametrize("fmt", FORMATS)
def test_setting_errors_name_the_file(fmt: str, tmp_path: Path):
    path = tmp_path / f"p.{fmt}"
    path.write_text(settings_by_hand(fmt, [("unlisted", "sometimes")]), encoding="utf-8")
    with pytest.raises(
        ProfileError, match=r"unlisted is clean, keep or remove, not 'sometimes'"
    ) as e:
        LOAD_FILE[fmt](path)
    assert str(e.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (" P-1", "surrounding spaces"),
        ("P-1 ", "surrounding spaces"),
        ("@pseudonym", "starts with @"),
    ],
)
def test_settings_no_file_can_hold_are_refused_on_export(value: str, problem: str):
    profile = P.empty()
    profile.patient_id = value  # a valid replacement for a run
    for export in EXPORT.values():
        with pytest.raises(ProfileError, match=f"patient_id cannot be written .*{problem}"):
            export(profile)


def test_a_control_character_is_refused_when_set():
    """The loaders' check, made when the value is set (not at export or at the run)."""
    profile = P.empty()
    with pytest.raises(ProfileError, match="patient_id has the control character"):
        profile.patient_id = "P\t1"
    assert profile.patient_id is None


def test_unlisted_setting():
    profile = P()
    assert profile.unlisted == "clean" and profile._compile().unlisted == "clean"
    compiled = profile._compile()
    profile.unlisted = "clean"  # unchanged: the compiled table is kept
    assert profile._compile() is compiled
    profile.unlisted = "keep"
    assert profile._compile() is not compiled and profile._compile().unlisted == "keep"
    assert profile != P() and profile.options == Options.BASIC_PROFILE
    must = r"unlisted must be 'clean', 'keep' or 'remove'"
    with pytest.raises(ValueError, match=must + r", not 'KEEP'"):
        profile.unlisted = "KEEP"
    with pytest.raises(TypeError, match=must + r", not bool"):
        profile.unlisted = True  # type: ignore[assignment]
    assert profile.unlisted == "keep"
    assert P.load_from_csv_string(HEADER).unlisted == "clean"


def test_export_to_an_unwritable_path(tmp_path: Path):
    with pytest.raises(FileAccessError, match="cannot write the profile"):
        P.empty().to_csv(tmp_path / "missing-dir" / "p.csv")


def test_export_of_characters_xml_cannot_hold():
    profile = P.empty({"0009,xx10:A\x01B": "K"})
    assert P.load_from_csv_string(profile.to_csv()) == profile
    assert P.load_from_json_string(profile.to_json()) == profile
    with pytest.raises(ProfileError, match="cannot be written in XML"):
        profile.to_xml()


# ---------------------------------------------------------------------------------------------
# Bad profiles
# ---------------------------------------------------------------------------------------------

CSV_ERRORS = [
    # (text, message after "<string>: ")
    (HEADER + "0010,0010;Z\n0010,0020;Q\n", r"line 3 \(Action\): unknown action 'Q'"),
    (HEADER + "0010,0010;ZZ\n", r"line 2 \(Action\): unknown action 'ZZ'"),
    (HEADER + "0010,0010;\n", r"line 2 \(Action\): no action for '0010,0010'"),
    (HEADER + "0010,0010\n", r"line 2 \(Action\): no action for '0010,0010'"),
    (HEADER + "0010,001;Z\n", r"line 2: malformed tag pattern '0010,001'"),
    (HEADER + "PatientNam;Z\n", r"line 2: unknown keyword or malformed tag 'PatientNam'"),
    (HEADER + ";Z\n", r"line 2: empty tag pattern"),
    (HEADER + "0008,xx10:ACME;K\n", r"line 2: '0008,xx10:ACME': a private creator needs an odd"),
    (
        HEADER + "0010,0010;Z\n0010,0020;Z\n0010,0010;X\n",
        r"line 4: duplicate rule: '0010,0010' is given again \(line 2\)",
    ),
    (
        HEADER + "PatientName;Z\n\n// c\n(0010,0010);X\n",
        r"line 5: duplicate rule: '\(0010,0010\)' is the same as 'PatientName' \(line 2\)",
    ),
    (
        HEADER + "(0009,xx10,ACME);K\n0009,1010:ACME;X\n",
        r"line 3: duplicate rule: '0009,1010:ACME' is the same as '\(0009,xx10,ACME\)' \(line 2\)",
    ),
    (HEADER + "private;X\ngggg,eeee (gggg odd);X\n", r"line 3: duplicate rule"),
    (HEADER + '"0010,0010;Z\n', r"line 2: malformed CSV: "),
    (HEADER + "0010,0010;Z;extra\n", r"line 2: 3 fields, but the header has 2"),
    ("TagPattern;Action\n0010,0010;Z\n", None),  # fine: the control
    ("Tag;Comment\n0010,0010;x\n", r"line 1: no action column"),
    ("Action;Comment\nZ;x\n", r"line 1: no tag pattern column"),
    ("0010,0010;Z\n", r"line 1: no tag pattern column .* found '0010,0010', 'Z'"),
    ("TagPattern;TagPattern;Action\n", r"line 1: column 'TagPattern' is given twice"),
    ("Tag;Pattern;Action\n", r"line 1: two tag pattern columns: 'Tag' and 'Pattern'"),
    ("Tag;Action;basic_profile\n", r"line 1: both an 'Action' column \(rule form\) and option"),
    ("tag;basic_profile;rtn_uid_opt\n", r"line 1: unknown option column 'rtn_uid_opt'"),
    ("tag;basic_profile;clean_desc_opt\n", r"line 1: missing column\(s\): rtn_safe_priv_opt,"),
    ("", r"empty profile: no header line"),
    ("// only a comment\n\n", r"empty profile: no header line"),
]


@pytest.mark.parametrize(("text", "message"), CSV_ERRORS)
def test_csv_errors(text: str, message: str | None):
    if message is None:
        P.load_from_csv_string(text)
        return
    with pytest.raises(ProfileError) as e:
        P.load_from_csv_string(text)
    assert re.match(r"<string>: " + message, str(e.value)), str(e.value)


def test_option_form_errors():
    header = "tag;" + ";".join(COLUMNS)
    cells = [""] * 11
    ok = header + "\n0010,0010;" + ";".join(["Z", *cells[1:]]) + "\n"
    P.load_from_csv_string(ok)
    bad = list(cells)
    bad[0], bad[8] = "X", "Q"  # an unknown letter in an option column not selected: still bad
    text = ok + "0008,1030;" + ";".join(bad) + "\n"
    with pytest.raises(
        ProfileError, match=r"^<string>: line 3 \(clean_desc_opt\): unknown action 'Q'"
    ):
        P.load_from_csv_string(text)
    text = ok + "PatientName;" + ";".join(["X", *cells[1:]]) + "\n"
    with pytest.raises(ProfileError, match=r"^<string>: line 3: duplicate rule: 'PatientName'"):
        P.load_from_csv_string(text, Options.ALL)


JSON_ERRORS = [
    (
        '[{"Tag": "0010,0010", "Action": "Z"}, {"Tag": "0010,0020", "Action": "Q"}]',
        r"\[1\]\.Action: unknown action 'Q'",
    ),
    (
        '[{"Tag": "0010,0010", "Action": "Z"}, {"Tag": "0010,0020", "Action": 1}]',
        r"\[1\]\.Action: expected a string, found int",
    ),
    ('[{"Tag": "0010,0010", "Action": ""}]', r"\[0\]\.Action: no action for '0010,0010'"),
    ('[{"Tag": "0010,001", "Action": "Z"}]', r"\[0\]\.Tag: malformed tag pattern '0010,001'"),
    ('[{"Tag": null, "Action": "Z"}]', r"\[0\]\.Tag: empty tag pattern"),
    (
        '[{"Tag": "PatientName", "Action": "Z"}, {"Tag": "0010,0010", "Action": "Z"}]',
        r"\[1\]\.Tag: duplicate rule: '0010,0010' is the same as 'PatientName' \(\[0\]\)",
    ),
    ('[{"Tag": "0010,0010"}]', r"\[0\]: no action key"),
    ('[{"Action": "Z"}]', r"\[0\]: no tag pattern key"),
    ('[{"Tag": "0010,0010", "Action": "Z", "Tag": "x"}]', r"an object has the key 'Tag' twice"),
    (
        '[{"Tag": "0010,0010", "Action": "Z"}, {"tag": "0010,0020", "basic_profile": "Z"}]',
        r"\[1\]: this object is in the option form",
    ),
    ('[{"tag": "0010,0020", "rtn_uids_opt": "K"}]', r"\[0\]: missing key basic_profile"),
    ('[{"Tag": "0010,0010", "Action": "Z"}, "0010,0020"]', r"\[1\]: expected an object, found str"),
    ('{"Tag": "0010,0010", "Action": "Z"}', r"expected a JSON array of rule objects, found dict"),
    (
        '[{"Tag": "0010,0010", "Action": "Z"},\n {"Tag": "0010,0020" "Action": "Z"}]',
        r"line 2 column 22: malformed JSON: Expecting ','",
    ),
    ('[{"Tag": "0010,0010", "Action": "Z"},]', r"line 1 column 38: malformed JSON"),
    ("", r"line 1 column 1: malformed JSON"),
    ("[" * 100000, r"malformed JSON: nested too deeply"),
]


@pytest.mark.parametrize(("text", "message"), JSON_ERRORS)
def test_json_errors(text: str, message: str):
    with pytest.raises(ProfileError) as e:
        P.load_from_json_string(text)
    assert re.match(r"<string>: " + message, str(e.value)), str(e.value)


def item(tag: str, action: str) -> str:
    return f"<item><tag>{tag}</tag><action>{action}</action></item>\n"


XML_ERRORS = [
    (
        "<root>\n" + item("0010,0010", "Z") + item("0010,0020", "Q") + "</root>",
        r"item\[2\]/action \(line 3\): unknown action 'Q'",
    ),
    (
        "<root>\n" + item("0010,0010", "Z") * 2 + "</root>",
        r"item\[2\]/tag \(line 3\): duplicate rule: '0010,0010' is given again "
        r"\(item\[1\] \(line 2\)\)",
    ),
    (
        "<root>\n" + item("0010,001", "Z") + "</root>",
        r"item\[1\]/tag \(line 2\): malformed tag pattern",
    ),
    (
        "<root>\n<item><tag>0010,0010</tag></item></root>",
        r"item\[1\] \(line 2\): no action element",
    ),
    (
        "<root>\n<item><tag>0010,0010</tag><action>Z</action><action>X</action></item></root>",
        r"item\[1\]/action \(line 2\): <action> is given twice",
    ),
    (
        "<root>\n<item tag='0010,0010'><tag>0010,0010</tag><action>Z</action></item></root>",
        r"item\[1\]/tag \(line 2\): <tag> is given twice",
    ),
    (
        "<root><item><tag><b>0010,0010</b></tag><action>Z</action></item></root>",
        r"item\[1\]/tag \(line 1\): expected text",
    ),
    (
        "<root><item>0010,0010;Z</item></root>",
        r"item\[1\] \(line 1\): text directly inside a rule element",
    ),
    ("<root>0010,0010;Z</root>", r"root \(line 1\): text directly inside the root element"),
    (
        "<root>\n"
        + item("0010,0010", "Z")
        + "<item><tag>0010,0020</tag><basic_profile>Z</basic_profile></item></root>",
        r"item\[2\] \(line 3\): this element is in the option form",
    ),
    ("<root>\n" + item("0010,0010", "Z"), r"line 3 column 1: malformed XML: no element found"),
    (
        "<root><item><tag>0010,0010</tag><action>Z</action></itm></root>",
        r"line 1 column 53: malformed XML: mismatched tag",
    ),
    ("", r"line 1 column 1: malformed XML: no element found"),
    ("not xml", r"line 1 column 1: malformed XML: syntax error"),
]


@pytest.mark.parametrize(("text", "message"), XML_ERRORS)
def test_xml_errors(text: str, message: str):
    with pytest.raises(ProfileError) as e:
        P.load_from_xml_string(text)
    assert re.match(r"<string>: " + message, str(e.value)), str(e.value)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<root><item><tag>&lol9;</tag><action>Z</action></item></root>
"""


@pytest.mark.parametrize(
    "text",
    [
        BILLION_LAUGHS,
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<root><item><tag>&x;</tag><action>Z</action></item></root>",
        '<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://example.invalid/p.dtd">'
        "<root><item><tag>0010,0010</tag><action>Z</action></item></root>",
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://example.invalid/x">%p;]>'
        "<root/>",
        '<!DOCTYPE root [<!ELEMENT root ANY>]><root><item tag="0010,0010" action="Z"/></root>',
    ],
    ids=["billion-laughs", "external-entity", "external-dtd", "parameter-entity", "plain-dtd"],
)
def test_xml_refuses_any_doctype(text: str, tmp_path: Path):
    with pytest.raises(ProfileError, match=r"^<string>: a DOCTYPE \(DTD\) is not allowed"):
        P.load_from_xml_string(text)
    path = tmp_path / "evil.xml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError, match=rf"^{re.escape(str(path))}: a DOCTYPE"):
        P.load_from_xml_file(path)


def test_errors_name_the_file(tmp_path: Path):
    cases = {
        "p.csv": (HEADER + "0010,0010;Z\n0010,0010;X\n", r"line 3: duplicate rule"),
        "p.json": ('[{"Tag": "0010,0010", "Action": "W"}]', r"\[0\]\.Action: unknown action"),
        "p.xml": ("<root>\n\n" + item("x", "Z") + "</root>", r"item\[1\]/tag \(line 3\): "),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ProfileError) as e:
            LOAD_FILE[name.split(".")[1]](path)
        assert re.match(re.escape(str(path)) + ": " + message, str(e.value)), str(e.value)


def test_undecodable_file(tmp_path: Path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("TagPattern;Action\n0009,xx10:ÄCME;K\n".encode("latin-1"))
    with pytest.raises(
        ProfileError, match=r"latin1.csv: not UTF-8 text \(undecodable byte at offset 28\)"
    ):
        P.load_from_csv_file(path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_missing_file(fmt: str, tmp_path: Path):
    path = tmp_path / f"nope.{fmt}"
    with pytest.raises(FileAccessError, match=r"nope\.\w+: cannot read the profile: No such file"):
        LOAD_FILE[fmt](path)
    with pytest.raises(OSError):
        LOAD_FILE[fmt](path)


def test_wrong_argument_types():
    with pytest.raises(TypeError):
        P.load_from_csv_string(["TagPattern;Action"])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        P.load_from_xml_string(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="options must be"):
        P.load_from_csv_string(HEADER, options="ALL")  # type: ignore[arg-type]


def test_a_late_error_leaves_nothing_loaded():
    """The last rule is bad: no profile is returned, and an existing one is not touched."""
    profile = P.empty({"PatientName": "K"})
    text = HEADER + "".join(f"00{g:02x},0010;Z\n" for g in range(0x10, 0x40, 2)) + "0010,0010;?\n"
    with pytest.raises(ProfileError, match=r"line 26"):
        profile = P.load_from_csv_string(text)
    assert dict(profile.items()) == {"PatientName": Action.K}


def test_mapping_setitem_errors_name_the_rule():
    profile = P.empty()
    with pytest.raises(ProfileError, match=r"rule 'PatientNam': unknown keyword"):
        profile["PatientNam"] = "X"
    with pytest.raises(ProfileError, match=r"rule 'PatientName': unknown action 'W'"):
        profile["PatientName"] = "W"
    with pytest.raises(ProfileError, match="a tag pattern must be a str"):
        profile[0x00100010] = "X"  # type: ignore[index]
    assert len(profile) == 0


def test_duplicates_are_reported_at_the_file_lines():
    """The engine reads the rows (one check, not one per language): a duplicate names its
    line and the line of the first spelling."""
    text = HEADER + "// c\n0010,0020;Z\n\nPatientName;Z\n(0010,0010);X\n"
    with pytest.raises(ProfileError) as e:
        P.load_from_csv_string(text)
    assert str(e.value) == (
        "<string>: line 6: duplicate rule: '(0010,0010)' is the same as 'PatientName' (line 5)"
    )


@pytest.mark.parametrize("options", [1, 4 | 64, 2047])
def test_loaded_default_table_writes_the_default_markers(options: int):
    loaded = P.load_from_csv_file(TABLE, options=options)
    data = make_file()
    out = anonymize(loaded, data)
    ref = anonymize(P.create_default(options), data)
    assert out.DeidentificationMethod == ref.DeidentificationMethod
    assert out.DeidentificationMethodCodeSequence == ref.DeidentificationMethodCodeSequence
    assert out.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert out == ref
    # exported in the rule form and read back: still recognised as the default table
    again = anonymize(P.load_from_json_string(loaded.to_json()), data)
    assert again.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
