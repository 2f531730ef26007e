"""Helpers shared by the test modules: the PS3.15 table, UID mapping, dataset walking, a model.

Everything here is independent of dicomveil: it reads the profile table from its CSV and uses
pydicom as the oracle, so the engine is checked against a second reading of the standard.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pydicom
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragments, parse_basic_offsets
from pydicom.filereader import read_sequence
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag, Tag

REPO = Path(__file__).resolve().parent.parent
DICOM_ROOT = "1.2.840.10008."
TEST_KEY = b"dicomveil-test-key"

#: The eleven action columns of PS3.15 Table E.1-1 (as the shipped table names them), in the
#: bit order of ConfidentialityProfileOptions: written here once, from the standard.
OPTION_COLUMNS = (
    "basic_profile",
    "rtn_safe_priv_opt",
    "rtn_uids_opt",
    "rtn_dev_id_opt",
    "rtn_inst_id_opt",
    "rtn_pat_chars_opt",
    "rtn_long_full_dates_opt",
    "rtn_long_modif_dates_opt",
    "clean_desc_opt",
    "clean_struct_cont_opt",
    "clean_graph_opt",
)

# ---------------------------------------------------------------------------------------------
# The profile table (PS3.15 Table E.1-1)
# ---------------------------------------------------------------------------------------------

# What each letter of the basic profile column means for the engine (see the brief):
# compound codes pick the least destructive choice, C is treated like D, and X/Z/U* keeps the
# sequence while replacing every UID inside it ("U*").
RESOLVED_ACTION = {
    "X": "X",
    "Z": "Z",
    "D": "D",
    "K": "K",
    "C": "D",
    "U": "U",
    "X/Z": "Z",
    "X/D": "D",
    "X/Z/D": "D",
    "Z/D": "D",
    "X/Z/U*": "U*",
}

# PS3.15's definitions of the codes, by the attribute's IOD type (1C and 2C act as 1 and 2: the
# attribute is present, so its condition held for the source). "P" is D on an attribute the
# rule would remove or empty (a sequence keeps its first item). X/Z/U* on a Type 2 sequence
# keeps it with its UIDs replaced (src/profile.rs Code::resolve says why).
BY_TYPE = {
    #         Type 1  Type 2  Type 3
    "X": ("P", "Z", "X"),
    "Z": ("P", "Z", "Z"),
    "D": ("D", "D", "D"),
    "K": ("K", "K", "K"),
    "C": ("D", "D", "D"),
    "U": ("U", "U", "U"),
    "X/Z": ("P", "Z", "X"),
    "X/D": ("P", "P", "X"),
    "X/Z/D": ("P", "Z", "X"),
    "Z/D": ("P", "Z", "Z"),
    "X/Z/U*": ("U*", "U*", "X"),
}


def resolve_by_type(letter: str, iod_type: str | None, vr: str | None = None) -> str:
    """The action for a code of Table E.1-1 on an attribute of `iod_type` ("1", "1C", "2",
    "2C", "3"; None when unknown: the fixed choice of RESOLVED_ACTION). A Z on a Type 3
    sequence removes it (dciodvfy takes no items for no valid Type 3 sequence)."""
    if iod_type is None:
        return RESOLVED_ACTION[letter]
    action = BY_TYPE[letter][{"1": 0, "1C": 0, "2": 1, "2C": 1, "3": 2}[iod_type]]
    if action == "Z" and iod_type == "3" and vr == "SQ":
        return "X"
    return action


def iod_type(sop_class: str | None, path: tuple[int, ...]) -> str | None:
    """The IOD type of the attribute at `path` (tags from the top), by the engine's tables."""
    if not sop_class:
        return None
    from dicomveil import _core

    return _core.iod_requirement(sop_class, list(path))


def iod_terms(sop_class: str | None, path: tuple[int, ...]) -> tuple[list[str], bool, bool] | None:
    """The terms of the CS attribute at `path` (values, enumerated, per value), by the
    engine's tables."""
    if not sop_class:
        return None
    from dicomveil import _core

    return _core.iod_term_list(sop_class, list(path))


MARKER_TAGS = frozenset(
    {
        0x00120062,  # PatientIdentityRemoved
        0x00120063,  # DeidentificationMethod
        0x00120064,  # DeidentificationMethodCodeSequence
        0x00280303,  # LongitudinalTemporalInformationModified
    }
)


def _csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                return line.strip().split(";")
    return []


def profile_csv_path() -> Path:
    """The package's copy of Table E.1-1 if it exists, else the shared transcription."""
    data_dir = REPO / "python" / "dicomveil" / "data"
    for path in sorted(data_dir.glob("*.csv")):
        if "basic_profile" in _csv_header(path):
            return path
    env = os.environ.get("DICOMVEIL_TABLE_E1_1")
    candidates = [Path(env)] if env else []
    candidates += [
        REPO.parent / "shared" / "ps3.15" / "table-e1-1.csv",
        Path("/work/shared/ps3.15/table-e1-1.csv"),
    ]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError("PS3.15 Table E.1-1 CSV not found (python/dicomveil/data/*.csv)")


@dataclass(frozen=True)
class Rule:
    tag_text: str  # as in the table, e.g. "0010,0010" or "60xx,3000"
    keyword: str
    vr: str
    letter: str  # the basic_profile column as written
    action: str  # resolved: X Z D K U U*

    @property
    def is_pattern(self) -> bool:
        return "x" in self.tag_text


@dataclass(frozen=True)
class ProfileTable:
    exact: dict[int, Rule]
    patterns: tuple[tuple[int, int, Rule], ...]  # (mask, value, rule)

    def rule(self, tag: int) -> Rule | None:
        tag = int(tag)
        hit = self.exact.get(tag)
        if hit is not None:
            return hit
        for mask, value, rule in self.patterns:
            if tag & mask == value:
                return rule
        return None

    def action(self, tag: int) -> str:
        """Resolved basic-profile action for a public tag ('K' when no row names it)."""
        rule = self.rule(tag)
        return "K" if rule is None else rule.action

    @property
    def rules(self) -> list[Rule]:
        return list(self.exact.values()) + [r for _, _, r in self.patterns]


@lru_cache(maxsize=1)
def basic_profile_table() -> ProfileTable:
    path = profile_csv_path()
    with path.open(encoding="utf-8", newline="") as fh:
        lines = [line for line in fh if not line.startswith("#")]
    exact: dict[int, Rule] = {}
    patterns: list[tuple[int, int, Rule]] = []
    for row in csv.DictReader(lines, delimiter=";"):
        text = row["tag"].strip()
        letter = row["basic_profile"].strip()
        if "odd" in text:  # "gggg,eeee (gggg odd)": private attributes, handled on their own
            continue
        if text.startswith("0000,"):  # command-set attributes never occur in files
            continue
        rule = Rule(text, row["keyword"], row["vr"], letter, RESOLVED_ACTION[letter])
        hexdigits = text.replace(",", "")
        if "x" in hexdigits:
            mask = int("".join("0" if c == "x" else "F" for c in hexdigits), 16)
            value = int(hexdigits.replace("x", "0"), 16)
            # repeating groups (50xx, 60xx) are even groups only
            mask |= 0x00010000
            patterns.append((mask, value, rule))
        else:
            exact[int(hexdigits, 16)] = rule
    return ProfileTable(exact, tuple(patterns))


# ---------------------------------------------------------------------------------------------
# Dummy values and UID mapping
# ---------------------------------------------------------------------------------------------

TEXT_VRS = frozenset("AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT".split())
SINGLE_VALUED_TEXT = frozenset("LT ST UT UR".split())
INT_VRS = frozenset("US SS UL SL SV UV".split())
FLOAT_VRS = frozenset("FL FD".split())

DUMMY = {
    **dict.fromkeys("AE CS LO LT SH ST UC UT PN".split(), "ANONYMIZED"),
    "AS": "000Y",
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "DS": "0",
    "IS": "0",
    "UR": "http://anonymized.invalid",
    **dict.fromkeys("US SS UL SL SV UV".split(), 0),
    **dict.fromkeys("FL FD".split(), 0.0),
    "AT": 0,
    **dict.fromkeys("OB UN OW".split(), b"\x00\x00"),
    **dict.fromkeys("OF OL".split(), b"\x00" * 4),
    **dict.fromkeys("OD OV".split(), b"\x00" * 8),
}


def map_uid(key: bytes, uid: str) -> str:
    """The mapping the brief specifies; UIDs under the DICOM root are returned unchanged."""
    old = uid.rstrip("\x00 ")
    if old.startswith(DICOM_ROOT):
        return old
    digest = hmac.new(key, old.encode("ascii"), hashlib.sha256).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def map_uid_value(key: bytes, value: object) -> object:
    """Map a (possibly multi-valued, possibly empty) UI value value by value.

    A UID stored as UN (explicit VR file that did not know the VR) is bytes: it is mapped the
    same way and comes back as bytes, NUL-padded to even length.
    """
    if value is None or value == "" or value == b"":
        return value
    if isinstance(value, (bytes, bytearray)):
        parts = bytes(value).rstrip(b"\x00 ").decode("ascii").split("\\")
        mapped = "\\".join(map_uid(key, v) if v else v for v in parts).encode("ascii")
        return mapped + b"\x00" * (len(mapped) % 2)
    if isinstance(value, (list, MultiValue)):
        return [map_uid(key, str(v)) if str(v) else str(v) for v in value]
    return map_uid(key, str(value))


# ---------------------------------------------------------------------------------------------
# Normalised values, paths, walking
# ---------------------------------------------------------------------------------------------

Path_ = tuple  # alternating tag, item index, tag, ...


def fmt_path(path: Path_) -> str:
    parts = []
    for i, p in enumerate(path):
        if i % 2 == 0:
            t = Tag(p)
            parts.append(f"({t.group:04X},{t.element:04X})")
        else:
            parts.append(f"[{p}]")
    return "".join(parts)


def _norm_scalar(vr: str, v: object) -> object:
    if v is None:
        return ""
    if vr in TEXT_VRS:
        original = getattr(v, "original_string", None) if vr in ("DS", "IS") else None
        if isinstance(original, str):
            return original.strip(" \x00")
        return str(v)
    if vr in FLOAT_VRS:
        f = float(v)  # type: ignore[arg-type]
        return ("float", "nan" if math.isnan(f) else repr(f))
    if vr == "AT":
        return int(v)  # type: ignore[call-overload]
    if isinstance(v, (bytes, bytearray)):
        return bytes(v)
    if isinstance(v, int):
        return int(v)
    return v


def norm(elem: DataElement) -> object:
    """A comparable form of a non-sequence element's value ('' or [] for empty)."""
    vr = elem.VR
    value = elem.value
    if value is None or (not isinstance(value, (int, float)) and len(value) == 0):
        return ""  # every empty value alike: '', b'', None, []
    if isinstance(value, (list, MultiValue)):
        items = [_norm_scalar(vr, v) for v in value]
        return items if len(items) != 1 else items[0]
    if value is None:
        return "" if vr in TEXT_VRS else None
    return _norm_scalar(vr, value)


def is_empty(elem: DataElement) -> bool:
    if elem.VR == "SQ":
        return len(elem.value) == 0
    return bool(elem.is_empty)


def expected_dummy(vr: str) -> object:
    """The dummy in the normalised form `norm` gives for the output element."""
    d = DUMMY[vr]
    if vr in FLOAT_VRS:
        return ("float", repr(float(d)))
    return d


def part10(ds: Dataset) -> bytes:
    """`ds` as an explicit VR little endian Part 10 file, its meta made from its SOP class
    and instance UIDs."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    bio = io.BytesIO()
    ds.save_as(bio, enforce_file_format=True)
    return bio.getvalue()


def walk(ds: Dataset, prefix: Path_ = ()) -> Iterator[tuple[Path_, DataElement]]:
    """Every element, depth first, sequences before their items' elements."""
    for elem in ds:
        path = prefix + (int(elem.tag),)
        yield path, elem
        if elem.VR == "SQ" and elem.value is not None:
            for i, item in enumerate(elem.value):
                yield from walk(item, path + (i,))


def get_path(ds: Dataset, path: Path_) -> DataElement | None:
    cur: Dataset = ds
    elem: DataElement | None = None
    for i, p in enumerate(path):
        if i % 2 == 0:
            if p not in cur:
                return None
            elem = cur[p]
        else:
            assert elem is not None
            seq = elem.value
            if seq is None or p >= len(seq):
                return None
            cur = seq[p]
    return elem


def holds_uid(elem: DataElement) -> bool:
    """UI elements, and public elements of UI type stored as UN."""
    return elem.VR == "UI" or (
        elem.VR == "UN" and not elem.tag.is_private and dict_vr(elem.tag) == "UI"
    )


def dict_vr(tag: int) -> str | None:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


def uid_strings(elem: DataElement) -> list[str]:
    """The UID(s) an element holds, as text (UN bytes decoded, padding stripped)."""
    value = elem.value
    if not value:
        return []
    if isinstance(value, (bytes, bytearray)):
        return [
            v for v in bytes(value).rstrip(b"\x00 ").decode("ascii", "replace").split("\\") if v
        ]
    vals = value if isinstance(value, (list, MultiValue)) else [value]
    return [str(v) for v in vals if str(v)]


def uid_values(ds: Dataset) -> set[str]:
    out: set[str] = set()
    for _, elem in walk(ds):
        if holds_uid(elem):
            out.update(uid_strings(elem))
    return out


# ---------------------------------------------------------------------------------------------
# The model of the Basic profile
# ---------------------------------------------------------------------------------------------


def _copy_elem(elem: DataElement, value: object, vr: str | None = None) -> DataElement:
    return DataElement(elem.tag, vr or elem.VR, value)


def _empty_value(vr: str) -> object:
    if vr == "SQ":
        return Sequence([])
    if vr in TEXT_VRS:
        return ""
    if vr in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
        return b""
    return None


def _dummy_elem(
    elem: DataElement, key: bytes, terms: tuple[list[str], bool, bool] | None = None
) -> DataElement:
    if elem.VR == "CS" and terms is not None:
        # a code string with Enumerated Values or Defined Terms where it stands: kept when every
        # value is one of them, else the first, unless they are given per value
        values, _enumerated, per_value = terms
        current = elem.value if isinstance(elem.value, (list, MultiValue)) else [elem.value]
        current = [str(v).strip() for v in current if v is not None]
        if current and all(v in values for v in current):
            return elem
        if not per_value:
            return _copy_elem(elem, values[0])
    if holds_uid(elem):
        return _copy_elem(elem, map_uid_value(key, elem.value) if elem.value else elem.value)
    return _copy_elem(elem, DUMMY[elem.VR])


# Inside a sequence whose action is D, an element no rule names (or a K rule) is kept when its
# VR carries structure or measurement, and replaced by its dummy when it can carry identity
# (text, names, dates, bytes); UIDs are mapped. Named elements follow their own rule. (The
# engine's choice, found with dciodvfy: dummying every leaf broke SR enumerated values.)
KEPT_IN_DUMMY_SEQUENCE = frozenset("SQ CS DS IS US SS UL SL FL FD SV UV AT OF OD OL OV".split())
# Coded concepts inside a D sequence keep their meaning (the profile applies inside them, and
# UIDs are mapped as in an X/Z/U* sequence):
# Concept Name Code, Concept Code, Measurement Units Code, Purpose of Reference Code Sequences.
CODED_CONCEPT_SEQUENCES = frozenset({0x0040A043, 0x0040A168, 0x004008EA, 0x0040A170})


def names_a_kind(keyword: str) -> bool:
    """UID attributes that name a kind of object (a SOP class, a transfer syntax, a coding
    scheme), not an instance: kept inside sequences whose other UIDs are replaced."""
    return (
        "ClassUID" in keyword
        or "SOPClasses" in keyword
        or "TransferSyntaxUID" in keyword
        or keyword
        in (
            "CodingSchemeUID",
            "ContextGroupExtensionCreatorUID",
            "MappingResourceUID",
            "PrivateInformationCreatorUID",
        )
    )


def _is_overlay_data(tag: int) -> bool:
    return (tag >> 16) & 0xFF01 == 0x6000 and tag & 0xFFFF == 0x3000


def model_anonymize(
    ds: Dataset,
    key: bytes,
    action_of: Callable[[int], str] | None = None,
    *,
    remove_private: bool = True,
    conform: bool = True,
    _ctx: str = "normal",
    _sop: str | None = None,
    _path: tuple[int, ...] = (),
) -> Dataset:
    """What the profile should make of `ds` (markers and meta not included).

    `_ctx` is 'normal', 'dummy' (inside a sequence whose action is D) or 'uid' (inside an
    X/Z/U* sequence: every UID is replaced, the rest follows the profile).

    Always, whatever the profile: group lengths (gggg,0000), stray meta elements (0002,eeee)
    and Data Set Trailing Padding (FFFC,FFFC) are dropped; when Overlay Data (60xx,3000) is
    removed, the rest of its overlay group goes with it (an Overlay Plane without its Type 1
    Overlay Data is not conformant).
    """
    by_type = action_of is None and conform
    if action_of is None:
        action_of = basic_profile_table().action
    if by_type and not _path:
        meta = getattr(ds, "file_meta", None)
        _sop = str(ds.get("SOPClassUID") or (meta and meta.get("MediaStorageSOPClassUID")) or "")
    out = Dataset()
    overlay_groups_removed: set[int] = set()
    for elem in ds:
        tag = elem.tag
        if tag.is_private and remove_private:
            continue
        if tag.element == 0 or tag.group == 2 or tag == 0xFFFCFFFC:
            continue

        path = (*_path, int(tag))

        def recurse(
            ctx: str, elem: DataElement = elem, first: bool = False, path: tuple = path
        ) -> DataElement:
            items = [
                model_anonymize(
                    it,
                    key,
                    None if by_type else action_of,
                    remove_private=remove_private,
                    conform=conform,
                    _ctx=ctx,
                    _sop=_sop,
                    _path=path,
                )
                for it in (elem.value or [])[: 1 if first else None]
            ]
            return DataElement(elem.tag, "SQ", Sequence(items))

        if tag.is_private:
            action = "K"
        elif by_type:
            rule = basic_profile_table().rule(int(tag))
            if rule is None:
                action = "K"
            elif _is_overlay_data(int(tag)) and rule.action == "X":
                action = "X"  # the overlay goes whole (its module is optional)
            else:
                action = resolve_by_type(rule.letter, iod_type(_sop, path), dict_vr(int(tag)))
        else:
            action = action_of(int(tag))
        if _ctx == "dummy" and action == "K":
            if holds_uid(elem):
                action = "K" if names_a_kind(elem.keyword) else "U"
            elif elem.VR not in KEPT_IN_DUMMY_SEQUENCE:
                action = "D"
        if action == "X":
            if _is_overlay_data(int(tag)):
                overlay_groups_removed.add(tag.group)
            continue
        if action == "Z":
            out.add(_copy_elem(elem, _empty_value(elem.VR)))
        elif action in ("D", "P"):
            if elem.VR == "SQ":
                out.add(recurse("dummy", first=action == "P"))
            else:
                out.add(_dummy_elem(elem, key, iod_terms(_sop, path) if by_type else None))
        elif action == "U*" and elem.VR == "SQ":
            out.add(recurse("uid"))
        elif action in ("U", "U*") and holds_uid(elem):
            out.add(_copy_elem(elem, map_uid_value(key, elem.value)))
        elif elem.VR == "SQ":
            coded = _ctx == "dummy" and int(tag) in CODED_CONCEPT_SEQUENCES
            out.add(recurse("uid" if coded else _ctx))
        elif _ctx == "uid" and holds_uid(elem) and not names_a_kind(elem.keyword):
            out.add(_copy_elem(elem, map_uid_value(key, elem.value)))
        else:
            out.add(elem)
    for tag in [t for t in out.keys() if t.group in overlay_groups_removed]:
        del out[tag]
    return out


def diff_datasets(
    expected: Dataset,
    actual: Dataset,
    *,
    prefix: Path_ = (),
    ignore_top: frozenset[int] = frozenset(),
    compare_vr: bool = True,
) -> list[str]:
    """Human-readable differences between two datasets (values compared after `norm`)."""
    problems: list[str] = []
    exp_tags = {int(t) for t in expected.keys()}
    act_tags = {int(t) for t in actual.keys()}
    if not prefix:
        exp_tags -= ignore_top
        act_tags -= ignore_top
    for t in sorted(exp_tags - act_tags):
        problems.append(f"{fmt_path(prefix + (t,))}: missing in output")
    for t in sorted(act_tags - exp_tags):
        problems.append(
            f"{fmt_path(prefix + (t,))}: unexpected in output"
            f" ({actual[t].VR} {actual[t].value!r:.60})"
        )
    for t in sorted(exp_tags & act_tags):
        e, a = expected[t], actual[t]
        path = prefix + (t,)
        if e.VR == "UN" and a.VR == "SQ" and isinstance(e.value, bytes):
            # a sequence stored as UN (private, or CP-246) that the engine parsed as SQ
            parsed = un_as_sequence(e.value)
            if parsed is None:
                problems.append(f"{fmt_path(path)}: UN value is not a sequence, got SQ")
                continue
            e = DataElement(e.tag, "SQ", parsed)
        if e.VR == "SQ" or a.VR == "SQ":
            if e.VR != a.VR:
                problems.append(f"{fmt_path(path)}: VR {e.VR} expected, got {a.VR}")
                continue
            ev, av = e.value or [], a.value or []
            if len(ev) != len(av):
                problems.append(f"{fmt_path(path)}: {len(ev)} items expected, got {len(av)}")
                continue
            for i, (ei, ai) in enumerate(zip(ev, av, strict=True)):
                problems += diff_datasets(ei, ai, prefix=path + (i,), compare_vr=compare_vr)
            continue
        # encapsulated pixel data is always written OB (PS3.5 A.4), whatever the input said
        encapsulated_ob = e.tag == 0x7FE00010 and a.VR == "OB" and e.is_undefined_length
        if compare_vr and e.VR != a.VR and not encapsulated_ob:
            problems.append(f"{fmt_path(path)}: VR {e.VR} expected, got {a.VR}")
        en, an = norm(e), norm(a)
        if isinstance(en, bytes) and isinstance(an, bytes) and len(en) % 2 == 1:
            en += an[-1:] if an[-1:] in (b"\x00", b" ") else b"\x00"  # odd length: one pad byte
        if en != an:
            problems.append(
                f"{fmt_path(path)} {e.keyword or ''}: expected {en!r:.120}, got {an!r:.120}"
            )
    return problems


def un_as_sequence(value: bytes) -> Sequence | None:
    """Parse a UN value as an implicit VR little endian sequence (PS3.5 6.2.2), or None."""
    if value[:4] != b"\xfe\xff\x00\xe0":
        return None
    try:
        return read_sequence(io.BytesIO(value), True, True, len(value), "iso8859")
    except Exception:
        return None


def check_markers(ds: Dataset, *, basic: bool = True, removed: bool = True) -> list[str]:
    """What is wrong with the de-identification markers of an output: of the Basic profile
    (`basic`), or of a custom profile; `removed`: whether the profile is at least as strong
    as the Basic profile, so that (0012,0062) says YES (else NO)."""
    problems = []
    if ds.get("PatientIdentityRemoved") != ("YES" if removed else "NO"):
        problems.append(f"(0012,0062) PatientIdentityRemoved: {ds.get('PatientIdentityRemoved')!r}")
    method = ds.get("DeidentificationMethod")
    values = [] if method is None else ([method] if isinstance(method, str) else list(method))
    if basic and not any("PS3.15" in str(v) for v in values):
        problems.append(f"(0012,0063) DeidentificationMethod does not mention PS3.15: {method!r}")
    if not basic and "DeidentificationMethod" not in ds:
        problems.append("(0012,0063) DeidentificationMethod missing")
    if basic:
        seq = ds.get("DeidentificationMethodCodeSequence")
        if seq is None or len(seq) != 1:
            problems.append(f"(0012,0064) DeidentificationMethodCodeSequence: {seq!r:.200}")
        else:
            item = seq[0]
            got = (
                item.get("CodeValue"),
                item.get("CodingSchemeDesignator"),
                item.get("CodeMeaning"),
            )
            want = ("113100", "DCM", "Basic Application Confidentiality Profile")
            if got != want:
                problems.append(f"(0012,0064) code item {got!r}, expected {want!r}")
        if ds.get("LongitudinalTemporalInformationModified") != "REMOVED":
            problems.append(
                "(0028,0303) LongitudinalTemporalInformationModified: "
                f"{ds.get('LongitudinalTemporalInformationModified')!r}"
            )
    return problems


# ---------------------------------------------------------------------------------------------
# Reading files, pixel data, external tools
# ---------------------------------------------------------------------------------------------


def read(data: bytes | str | os.PathLike, *, force: bool = False) -> Dataset:
    src = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    return pydicom.dcmread(src, force=force)


def transfer_syntax_of(ds: Dataset) -> str | None:
    ts = getattr(getattr(ds, "file_meta", None), "get", lambda *_: None)("TransferSyntaxUID")
    if ts:
        return str(ts)
    enc = getattr(ds, "original_encoding", None)
    if enc == (True, True):
        return "1.2.840.10008.1.2"
    if enc == (False, True):
        return "1.2.840.10008.1.2.1"
    if enc == (False, False):
        return "1.2.840.10008.1.2.2"
    return None


def fragments(ds: Dataset) -> list[bytes] | None:
    """Fragments of encapsulated pixel data, or None when it is native."""
    ts = transfer_syntax_of(ds)
    if "PixelData" not in ds or ts is None or not pydicom.uid.UID(ts).is_encapsulated:
        return None
    buf = io.BytesIO(ds.PixelData)
    parse_basic_offsets(buf)
    return list(generate_fragments(buf))


def dcmdump_errors(path: str | os.PathLike) -> str | None:
    """None if dcmdump reads the file cleanly, else its complaint (exit code, E: lines)."""
    exe = shutil.which("dcmdump")
    assert exe is not None
    proc = subprocess.run(
        [exe, "-dc", str(path)], capture_output=True, text=True, errors="replace", timeout=60
    )
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith(("E:", "F:"))]
    if proc.returncode != 0 or errors:
        return f"exit {proc.returncode}: " + " | ".join(errors or proc.stderr.splitlines()[:3])
    return None


def dciodvfy_errors(path: str | os.PathLike) -> tuple[set[str], bool]:
    """dciodvfy's Error lines (values in <...> after '=' blanked), and whether it read the file.

    The second item is False when dciodvfy could not read the whole data set (it then reports
    only what it saw, so its errors cannot be compared).
    """
    exe = shutil.which("dciodvfy")
    assert exe is not None
    proc = subprocess.run(
        [exe, "-new", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=60,
        check=False,
    )
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("Error")]
    read_ok = not any("read failed" in ln or "Tags out of order" in ln for ln in lines)
    return {re.sub(r"=\s*<[^<>]*>", "= <>", ln) for ln in lines}, read_ok


def pixel_profile(regions: str, when: str = "true"):
    """A profile with Clean Pixel Data and one pixel rule ("banner"): `regions` of every file
    `when` (a selector in CTP's grammar) matches."""
    from dicomveil import ConfidentialityProfile, ConfidentialityProfileOptions

    p = ConfidentialityProfile.create_default(ConfidentialityProfileOptions.CLEAN_PIXEL_DATA)
    p.pixel_rules = [("banner", when, regions)]
    return p


def clean_pixels(data: bytes | str | os.PathLike, profile, **kw: object) -> bytes:
    """The file (bytes or a path) de-identified under `profile`; `kw` goes to ``anonymize``
    (``boxes=``)."""
    from dicomveil import Anonymizer, DicomFile

    src = data if isinstance(data, (bytes, bytearray)) else str(data)
    return Anonymizer(profile, key=TEST_KEY).anonymize(DicomFile.open(src), **kw).to_bytes()


def region_mask(shape: tuple[int, ...], rect: tuple[int, int, int, int], frames: int = 1):
    """True inside rectangle `rect` (x, y, w, h) of every frame of an array of `shape`
    ((frames,) rows, columns (, samples)); `frames` > 1 when the first axis is the frame."""
    import numpy as np

    x, y, w, h = rect
    m = np.zeros(shape, dtype=bool)
    if frames > 1:
        m[:, y : y + h, x : x + w, ...] = True
    else:
        m[y : y + h, x : x + w, ...] = True
    return m


def dcm2pnm_frames(path: str | os.PathLike, workdir: str | os.PathLike) -> list:
    """Every frame of `path` as dcmtk's dcm2pnm renders it (no VOI window, no overlays,
    16-bit ASCII PGM/PPM, which scales the whole range of the stored values linearly, so the
    rendering of a value does not depend on the other pixels), as numpy arrays: (rows,
    columns) or (rows, columns, 3)."""
    import numpy as np

    exe = shutil.which("dcm2pnm")
    assert exe is not None
    prefix = Path(workdir) / (Path(path).name + ".dcmtk")
    subprocess.run(
        [exe, "+Fa", "+opw", "--no-windowing", "--no-overlays", str(path), str(prefix)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    frames = []
    while True:
        names = [Path(f"{prefix}.{len(frames)}.{ext}") for ext in ("pgm", "ppm")]
        found = [n for n in names if n.is_file()]
        if not found:
            return frames
        fields = found[0].read_text().split()
        magic, cols, rows = fields[0], int(fields[1]), int(fields[2])
        shape = (rows, cols) if magic == "P2" else (rows, cols, 3)
        frames.append(np.array(fields[4:], dtype=np.int64).reshape(shape))


def tag_int(t: BaseTag | int) -> int:
    return int(t)


def run_cli(*args: object, cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m dicomveil ARGS`` with stdout and stderr captured (not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "dicomveil", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


# ---------------------------------------------------------------------------------------------
# Ultrasound-like images with a name drawn into their pixels, and OCR
# ---------------------------------------------------------------------------------------------

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
BANNER_TEXT = "DOE^JANE 1966-07-13"
BANNER = (0, 0, 640, 48)


def rule_text(rect: tuple[int, int, int, int]) -> str:
    return "({},{},{},{})".format(*rect)


#: A CTP DicomPixelAnonymizer script of a site: the banner of one device's ultrasound images.
SITE_SCRIPT = (
    "ACME ultrasound: name banner\n"
    '{ Modality.equals("US") * Manufacturer.containsIgnoreCase("acme") }\n'
    f"{rule_text(BANNER)}\n"
)


def read_any(src: bytes | str | os.PathLike) -> Dataset:
    return pydicom.dcmread(io.BytesIO(src) if isinstance(src, bytes) else src, force=True)


def ultrasound_image(color: bool, seed: int = 18):
    """A 640x480 ultrasound-like picture: a speckled fan on black (its speckle drawn from
    `seed`), the name banner at the top (and a color Doppler blob in the RGB one)."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:480, 0:640]
    angle = np.degrees(np.arctan2(xx - 320, yy - 40))
    radius = np.hypot(xx - 320, yy - 40)
    fan = (np.abs(angle) < 35) & (radius > 60) & (radius < 430)
    gray = np.where(fan, rng.integers(40, 200, size=fan.shape), 0).astype(np.uint8)
    img = Image.fromarray(gray).convert("RGB" if color else "L")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 28)
    draw.text((12, 8), BANNER_TEXT, fill=(255, 255, 0) if color else 255, font=font)
    draw.text((520, 450), "MI 0.8", fill=(255, 255, 255) if color else 200, font=font)
    if color:
        draw.ellipse((280, 200, 360, 260), fill=(200, 30, 30))
    return img


def ocr(arr, tmp_path: Path, name: str) -> str:
    """What tesseract reads in the image (gray levels, sparse text: a banner and labels)."""
    from PIL import Image

    png = tmp_path / f"{name}.png"
    Image.fromarray(arr).convert("L").save(png)
    proc = subprocess.run(
        ["tesseract", str(png), "-", "--psm", "11"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout
