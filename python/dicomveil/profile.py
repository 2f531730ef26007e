"""Confidentiality profiles: the PS3.15 default with its options, and custom rule sets."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from enum import Enum, IntFlag
from functools import lru_cache
from typing import NamedTuple

from . import _core, profile_io
from .errors import ProfileError
from .ocr import DEFAULT_ALLOW_ENTRY, AllowList
from .pixels import PixelRule, compile_rules
from .pixels import RuleLike as PixelRuleLike
from .pseudonym import Pseudonym

__all__ = [
    "Action",
    "ConfidentialityProfile",
    "ConfidentialityProfileOptions",
    "EDITION",
    "ResolvedRule",
    "UNLISTED",
    "canonical_pattern",
]

#: Edition of DICOM PS3.15 whose Table E.1-1 is the default profile.
EDITION: str = _core.EDITION


class ConfidentialityProfileOptions(IntFlag):
    """The Basic Application Level Confidentiality Profile and its options (PS3.15 E.3).

    Combine them with ``|``; BASIC_PROFILE is always implied (the options modify the Basic
    profile). The bit order is the column order of Table E.1-1: per attribute, the basic
    action is replaced by each selected option that names the attribute, in bit order, so
    where two selected options both name an attribute, the higher bit wins (e.g. with
    RETAIN_LONG_FULL_DATES | RETAIN_LONG_MODIF_DATES, the dates are cleaned, C, not kept).
    """

    BASIC_PROFILE = 1
    RETAIN_SAFE_PRIVATE = 2
    RETAIN_UIDS = 4
    RETAIN_DEVICE_IDENT = 8
    RETAIN_INSTITUTION_IDENT = 16
    RETAIN_PATIENT_CHARS = 32
    RETAIN_LONG_FULL_DATES = 64
    RETAIN_LONG_MODIF_DATES = 128
    CLEAN_DESC = 256
    CLEAN_STRUCTD_CONT = 512
    CLEAN_GRAPH = 1024
    #: Clean Pixel Data (PS3.15 E.3.1, code 113101): the profile's pixel rules blank regions
    #: of the pixels. Not part of ``ALL``, which keeps Aspose's value 2047: asking for it by
    #: name is asking for the rules to be applied (docs/pixels.md).
    CLEAN_PIXEL_DATA = 2048
    ALL = 2047


class Action(str, Enum):
    """Action codes of PS3.15 Table E.1-1 (the standard's letters).

    ``X`` removes the attribute, ``Z`` gives it a zero-length value, ``D`` a dummy value,
    ``K`` keeps it, ``C`` cleans it, ``U`` replaces its UIDs. The compound codes (X/Z, X/D,
    X/Z/D, Z/D, X/Z/U*) are resolved by the attribute's type in the object's IOD, as PS3.15
    defines them, and X or Z on an attribute the IOD requires keeps it valid (Type 1: a dummy,
    Type 2: empty); see :attr:`ConfidentialityProfile.conform_to_iod` and
    :meth:`ConfidentialityProfile.resolve_for`.

    Rules that compute a value (set, shift a date, hash, decide on the value) are value
    actions: :meth:`Action.set`, :meth:`Action.shift_dates`, :meth:`Action.hash`,
    :meth:`Action.hash_uid` and :meth:`Action.when` make them (:class:`ValueAction`).
    """

    X = "X"
    Z = "Z"
    D = "D"
    K = "K"
    C = "C"
    U = "U"
    X_Z = "X/Z"
    X_D = "X/D"
    X_Z_D = "X/Z/D"
    Z_D = "Z/D"
    X_Z_U = "X/Z/U*"

    def __str__(self) -> str:
        return self.value

    # -- value actions (see docs/profiles.md, "Value actions") ------------------------------
    @staticmethod
    def set(value: str, *, add: bool = True) -> ValueAction:
        """Set the attribute to ``value`` (checked against its VR when the rule is set). With
        ``add`` (the default) an attribute the file lacks is added too (top level)."""
        if add:
            return ValueAction("@always()" + _escape(value, "{}"))
        return ValueAction("@set(" + _escape(value, ',(){}"[]') + ")")

    @staticmethod
    def shift_dates(days: int | None = None) -> ValueAction:
        """Move a date (DA, or the date of a DT) by ``days`` (negative: earlier), or, with
        ``days=None``, back by the keyed per-patient offset that C uses (the same for every
        date of one patient)."""
        if days is None:
            return ValueAction("@incrementdate(this,keyed)")
        if isinstance(days, bool) or not isinstance(days, int):
            raise TypeError(f"days is an int or None, not {type(days).__name__}")
        return ValueAction(f"@incrementdate(this,{days})")

    @staticmethod
    def hash(length: int | None = None) -> ValueAction:
        """A keyed hash of the value (HMAC-SHA256 with the run's key) as decimal digits, cut
        to ``length`` (an ID of bounded length; at most 39 digits)."""
        if length is None:
            return ValueAction("@hash(this)")
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"length is a positive int, not {length!r}")
        return ValueAction(f"@hash(this,{length})")

    @staticmethod
    def hash_uid() -> ValueAction:
        """The UID replaced by the keyed ``2.25.`` UID that ``U`` gives."""
        return ValueAction("@hashuid(,this)")

    @staticmethod
    def when(
        condition: str,
        then: Action | str,
        otherwise: Action | str,
        value: str | None = None,
        element: str = "this",
    ) -> ValueAction:
        """Decide on the element's own value (or ``element``'s, a keyword or tag):
        ``condition`` is ``blank``, ``exists``, ``equals``, ``contains`` (both ignoring
        case) or ``matches`` (a regular expression the whole value matches), ``value`` the
        text the last three compare with. ``then`` and ``otherwise`` are X, Z, K or value
        actions."""
        names = {"blank": "isblank", "isblank": "isblank", "exists": "exists"}
        names.update({c: c for c in ("equals", "contains", "matches")})
        if condition not in names:
            raise ValueError(
                f"condition is blank, exists, equals, contains or matches, not {condition!r}"
            )
        args = [_escape(element, ",(){}"), names[condition]]
        if names[condition] not in ("isblank", "exists"):
            if value is None:
                raise ValueError(f"condition {condition!r} needs a value")
            args.append(_escape(value, ',(){}"[]'))
        return ValueAction(f"@if({','.join(args)}){{{_clause(then)}}}{{{_clause(otherwise)}}}")


class ValueAction(str):
    """A value action: a rule that computes the attribute's value, written in RSNA CTP's
    DicomAnonymizer function language (``@always()ANONYMOUS``, ``@incrementdate(this,-30)``,
    ``@hash(this,10)``, ``@if(this,isblank){@remove()}{@keep()}``). Made by
    :meth:`Action.set`, :meth:`Action.shift_dates`, :meth:`Action.hash`,
    :meth:`Action.hash_uid` and :meth:`Action.when`, or written as text starting with ``@``;
    the engine checks it when it is set in a profile."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"ValueAction({str.__repr__(self)})"


def _escape(text: str, also: str = "") -> str:
    """Text as a literal of the function language: ``\\``, ``@`` and ``also`` escaped."""
    if not isinstance(text, str):
        raise TypeError(f"expected str, not {type(text).__name__}")
    return "".join("\\" + c if c in "\\@" + also else c for c in text)


_LETTER_CALLS = {"X": "@remove()", "Z": "@empty()", "K": "@keep()"}


def _clause(action: Action | str) -> str:
    """A branch of :meth:`Action.when`: X, Z or K as their functions, a value action as is."""
    text = str(action)
    if text.startswith("@"):
        return text
    if text.upper() in _LETTER_CALLS:
        return _LETTER_CALLS[text.upper()]
    raise ValueError(f"a branch of a condition is X, Z, K or a value action, not {text!r}")


def _action(code: str) -> Action | ValueAction:
    """The Python form of an engine code: a letter's Action, else a ValueAction."""
    return ValueAction(code) if code.startswith("@") else Action(code)


class ResolvedRule(NamedTuple):
    """A rule as it acts on the objects of one SOP class
    (:meth:`ConfidentialityProfile.resolve_for`)."""

    #: the pattern as the rule was written
    pattern: str
    #: its canonical spelling
    canonical: str
    #: the tag of an exact pattern, else None
    tag: int | None
    #: the keyword of an exact tag, else None
    keyword: str | None
    #: the rule's code
    action: Action | ValueAction
    #: the attribute's type in the IOD at the top level ("1", "1C", "2", "2C", "3"), or None
    #: (an attribute the IOD does not list, a pattern of many attributes, an unknown class)
    iod_type: str | None
    #: what is done: X, Z, D, K, C, U, or U* (a sequence kept, every UID inside replaced)
    effective: str | None


Options = ConfidentialityProfileOptions
OptionsLike = ConfidentialityProfileOptions | int

_STRING = "<string>"

#: The canonical spelling of the all-private pattern.
ALL_PRIVATE = "gggg,eeee (gggg odd)"

#: The values of :attr:`ConfidentialityProfile.unlisted`, the default first.
UNLISTED: tuple[str, ...] = ("clean", "keep", "remove")


@lru_cache(maxsize=8192)
def canonical_pattern(text: str) -> str:
    """The canonical spelling of a tag pattern; two patterns are the same rule iff equal.

    ``(0010,0010)``, ``0010,0010``, ``00100010`` and ``PatientName`` are all ``0010,0010``;
    ``60XX,3000`` is ``60xx,3000``; ``(0009,xx10,ACME)`` and ``0009,1010:ACME`` are
    ``0009,xx10:ACME`` (the block byte never counts); every spelling of the all-private
    pattern is ``gggg,eeee (gggg odd)``. The engine parses it (``src/profile.rs``).

    Raises:
        ProfileError: the pattern is malformed (a ``ValueError``; the message says why).
    """
    return _core.canonical_pattern(text)


def _options_value(options: OptionsLike | None) -> Options | None:
    if options is None:
        return None
    if isinstance(options, bool) or not isinstance(options, int):
        raise TypeError(
            "options must be ConfidentialityProfileOptions flags (or their int value), "
            f"not {type(options).__name__}"
        )
    value = int(options)
    if value < 0 or value & ~(int(Options.ALL) | int(Options.CLEAN_PIXEL_DATA)):
        raise ProfileError(
            f"options {value}: not a combination of ConfidentialityProfileOptions "
            f"(the flags are 1 to 2048, ALL = {int(Options.ALL)})"
        )
    return Options(value | Options.BASIC_PROFILE)


def _replacement(value: object, what: str) -> str | Pseudonym | None:
    """A value for patient_name or patient_id: None, a Pseudonym, or an ASCII str."""
    if value is None or isinstance(value, Pseudonym):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, a Pseudonym or None, not {type(value).__name__}")
    problem = profile_io.text_problem(value)  # the one check, as the loaders make it
    if problem is not None:
        raise ProfileError(f"{what} {problem}")
    return value


def _option_names(options: Options) -> str:
    return "|".join(o.name or "" for o in Options if o in options and o is not Options.ALL)


# ---------------------------------------------------------------------------------------------
# The profile
# ---------------------------------------------------------------------------------------------


class ConfidentialityProfile(MutableMapping[str, Action | ValueAction]):
    """A set of de-identification rules: a mutable mapping from tag pattern to :class:`Action`.

    ``ConfidentialityProfile()`` is the Basic profile: PS3.15 Table E.1-1 with no option, the
    same rules as :meth:`create_default` (and what :class:`Anonymizer` uses without a
    profile). Rules given to the constructor, or set later (``profile["PatientName"] = "K"``),
    apply on top of it: each replaces the Basic rule of the same pattern (patterns compare by
    meaning, not spelling), or is added. :meth:`create_default` gives the table with options;
    :meth:`empty` is a profile with no rules at all, for a custom profile built rule by rule
    (an element that no rule matches is kept); the ``load_from_*`` class methods read profiles
    (CSV, JSON, XML), which keep exactly the rules of their file, and
    ``to_csv``/``to_json``/``to_xml`` write them.

    Tag patterns: ``gggg,eeee`` with or without parentheses (hex in either case, ``x`` for any
    digit, e.g. ``50xx,xxxx`` or ``60xx,3000``), a keyword (``PatientName``), a private
    attribute with its creator (``0009,xx10:ACME PRIVATE`` or ``(0009,xx10,ACME PRIVATE)``,
    any block), or ``gggg,eeee (gggg odd)`` for every private attribute. Two spellings of one
    pattern are one key: ``profile["PatientName"]`` finds the rule written ``0010,0010``, and
    setting it replaces that rule.

    Precedence, highest first: an exact tag; a private attribute with its creator; the
    wildcard pattern with more fixed digits; the all-private pattern; no rule (kept). Two
    equally specific wildcard patterns that match a common tag with different actions are
    refused as ambiguous.

    ``conform_to_iod`` (default True) keeps each object valid for its IOD (PS3.3): where a
    rule would remove or empty an attribute that the object's IOD requires, a Type 1 attribute
    gets a dummy value and a Type 2 attribute an empty one, and the compound codes (X/Z, X/D,
    X/Z/D, Z/D, X/Z/U*) are resolved by the attribute's type, as PS3.15 defines them. Set it
    to False to carry every rule out literally (compound codes then take a fixed choice that
    needs no IOD knowledge: X/Z -> Z, X/D, X/Z/D and Z/D -> D, X/Z/U* -> the UIDs inside
    replaced). See "How actions are resolved" in the README.

    ``unlisted`` says what happens to attributes Table E.1-1 does not list: ``"clean"``
    (default) treats those that can identify someone the way the table treats their kind;
    ``"keep"`` keeps them, the table exactly.

    ``patient_name`` and ``patient_id``, when set (an ASCII string, or :class:`Pseudonym`),
    replace PatientName and PatientID after the profile is applied, at the top level and
    wherever the input had them, whatever the profile's action for them.

    ``patient_name``, ``patient_id``, ``conform_to_iod`` and ``unlisted`` are settings, not
    rules. The export formats carry those that differ from their defaults, and the loaders
    apply them, so a profile exported and loaded back is equal to it (docs/profiles.md,
    "Settings").
    """

    def __init__(
        self,
        rules: Mapping[str, Action | str] | Iterable[tuple[str, Action | str]] | None = None,
    ) -> None:
        self._start(_core.Rules.default(int(Options.BASIC_PROFILE)))
        self._update(rules)

    def _start(self, rules: _core.Rules) -> None:
        """Set every attribute: ``rules`` and the settings at their defaults."""
        self._rules = rules
        self._compiled: _core.CompiledProfile | None = None
        self._patient_name: str | Pseudonym | None = None
        self._patient_id: str | Pseudonym | None = None
        self._conform = True
        self._unlisted = UNLISTED[0]
        self._clean_pixels = False
        self._pixel_rules: tuple[PixelRule, ...] = ()
        self._engine_pixel_rules: _core.PixelRules | None = None
        self._lookup: str | None = None
        self._pixel_text_allow: tuple[str, ...] = (DEFAULT_ALLOW_ENTRY,)

    def _update(
        self,
        rules: Mapping[str, Action | str] | Iterable[tuple[str, Action | str]] | None,
    ) -> None:
        if rules is not None:
            items = rules.items() if isinstance(rules, Mapping) else rules
            for pattern, action in items:
                self[pattern] = action

    @classmethod
    def _of(cls, rules: _core.Rules) -> ConfidentialityProfile:
        """A profile of exactly ``rules`` (the engine's), with default settings."""
        profile = cls.__new__(cls)
        profile._start(rules)
        return profile

    @property
    def conform_to_iod(self) -> bool:
        """Whether actions are resolved by the object's IOD so that it stays valid (default
        True); False carries every rule out literally."""
        return self._conform

    @conform_to_iod.setter
    def conform_to_iod(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"conform_to_iod must be a bool, not {type(value).__name__}")
        if value != self._conform:
            self._conform = value
            self._compiled = None

    @property
    def unlisted(self) -> str:
        """What happens to the attributes Table E.1-1 does not list (no rule names them):
        ``"clean"`` (default) treats those that can identify someone as the table treats their
        kind (person names removed, instance UIDs replaced, free text cleaned, the issuers of
        identifiers as Issuer of Patient ID); ``"keep"`` keeps them, the table exactly. See
        "Attributes the table does not list" in the README."""
        return self._unlisted

    @unlisted.setter
    def unlisted(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(
                f"unlisted must be 'clean', 'keep' or 'remove', not {type(value).__name__}"
            )
        if value not in UNLISTED:
            raise ValueError(f"unlisted must be 'clean', 'keep' or 'remove', not {value[:40]!r}")
        if value != self._unlisted:
            self._unlisted = value
            self._compiled = None

    @property
    def clean_pixel_data(self) -> bool:
        """Whether the pixel rules apply (the Clean Pixel Data option, bit 2048): the first
        rule whose selector matches a file blanks its regions of every frame (default
        False; :meth:`create_default` with ``CLEAN_PIXEL_DATA`` sets it). See
        docs/pixels.md."""
        return self._clean_pixels

    @clean_pixel_data.setter
    def clean_pixel_data(self, value: bool) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"clean_pixel_data must be a bool, not {type(value).__name__}")
        if value != self._clean_pixels:
            self._clean_pixels = value
            self._compiled = None

    @property
    def pixel_rules(self) -> tuple[PixelRule, ...]:
        """The pixel rules, in order (the first whose selector matches a file applies).

        Set it to a list of :class:`~dicomveil.pixels.PixelRule`, ``(name, when, regions)``
        tuples or rule texts ``"name: { selector } regions"``; every rule is checked then
        (ProfileError naming the rule). :func:`~dicomveil.pixels.load_pixel_rules` reads a CTP
        DicomPixelAnonymizer script. The rules apply only with :attr:`clean_pixel_data`.
        """
        return self._pixel_rules

    @pixel_rules.setter
    def pixel_rules(self, rules: Iterable[PixelRuleLike]) -> None:
        if isinstance(rules, (str, bytes)):
            raise TypeError("pixel_rules is a list of rules, not one str")
        engine, checked = compile_rules(rules)
        self._pixel_rules = checked
        self._engine_pixel_rules = engine if checked else None
        self._compiled = None

    @property
    def pixel_text_allow(self) -> tuple[str, ...]:
        """The allow-list of text in the pixels: what OCR may find without it being reported
        (``verify(..., pixels=True)``) or blanked (``Anonymizer(..., pixel_text="redact")``).

        Each entry is a regular expression matching a whole word, or adjacent words of a line
        joined by one space, ignoring case; ``"@default"`` stands for the built-in entries
        (:data:`dicomveil.ocr.DEFAULT_ALLOW`: orientation letters, numbers with units such as
        4 cm or 5.0MHz, units alone, frame counters such as 12/60). Default:
        ``("@default",)``; ``()`` allows nothing. Checked when set (ProfileError naming the
        entry). See docs/ocr.md.
        """
        return self._pixel_text_allow

    @pixel_text_allow.setter
    def pixel_text_allow(self, entries: Iterable[str]) -> None:
        if isinstance(entries, (str, bytes)):
            raise TypeError("pixel_text_allow is a list of entries, not one str")
        checked = tuple(entries)
        AllowList(checked)
        self._pixel_text_allow = checked

    @property
    def patient_name(self) -> str | Pseudonym | None:
        """PatientName to write after the profile is applied: an ASCII str, a
        :class:`Pseudonym`, or None (default: the profile's action decides)."""
        return self._patient_name

    @patient_name.setter
    def patient_name(self, value: str | Pseudonym | None) -> None:
        self._patient_name = _replacement(value, "patient_name")

    @property
    def patient_id(self) -> str | Pseudonym | None:
        """PatientID to write after the profile is applied: an ASCII str, a
        :class:`Pseudonym`, or None (default: the profile's action decides)."""
        return self._patient_id

    @patient_id.setter
    def patient_id(self, value: str | Pseudonym | None) -> None:
        self._patient_id = _replacement(value, "patient_id")

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def create_default(
        cls, options: OptionsLike | None = Options.BASIC_PROFILE
    ) -> ConfidentialityProfile:
        """The PS3.15 profile (Table E.1-1, edition :data:`EDITION`) with ``options``.

        ``options`` is any combination of :class:`ConfidentialityProfileOptions` (``|``), or
        ``ALL``; BASIC_PROFILE is always implied. Per attribute: the ``basic_profile`` action,
        then each selected option whose column has a value replaces it, in bit order, so a
        higher bit wins where two selected options both name the attribute.
        """
        opts = _options_value(options) or Options.BASIC_PROFILE
        profile = cls._of(_core.Rules.default(int(opts & Options.ALL)))
        profile._clean_pixels = bool(opts & Options.CLEAN_PIXEL_DATA)
        return profile

    @classmethod
    def empty(
        cls,
        rules: Mapping[str, Action | str] | Iterable[tuple[str, Action | str]] | None = None,
    ) -> ConfidentialityProfile:
        """A custom profile of exactly ``rules`` (none when not given): nothing of Table
        E.1-1 is added, and an element that no rule matches is kept.

        ``ConfidentialityProfile.empty({"PatientName": "Z"})`` changes PatientName and keeps
        everything else, where ``ConfidentialityProfile({"PatientName": "Z"})`` is the Basic
        profile with that rule.
        """
        profile = cls._of(_core.Rules())
        profile._update(rules)
        return profile

    @classmethod
    def load_from_csv_file(
        cls, path: str | os.PathLike[str], options: OptionsLike | None = None
    ) -> ConfidentialityProfile:
        """Read a profile from a CSV file (UTF-8, or UTF-16 with a BOM).

        Two forms, told apart by the header:

        * rule form (Aspose's): header ``TagPattern;Action``, then rows such as
          ``(0010,0010);Z`` or ``PatientID;X // comment``;
        * option form: a tag column (``tag``) and the eleven columns of Table E.1-1
          (``basic_profile``, ``rtn_safe_priv_opt``, ... ``clean_graph_opt``), as in the table
          shipped in ``dicomveil/data``; other columns (keyword, name, vr...) are ignored.

        The separator (``;``, tab or ``,``) is the header's; names are matched without
        regard to case, spaces and ``_``; ``// comment`` ends a line, ``#`` starts a comment
        line, blank lines and surrounding spaces are ignored.

        The profile has exactly the file's rules. Before them, rows whose pattern is ``@``
        and a setting's name give the settings (``@patient_name;ANONYMOUS``,
        ``@patient_id;@pseudonym``, ``@conform_to_iod;no``, ``@unlisted;keep``), the value
        in the action column (``basic_profile`` in the option form); the profile has them,
        and the defaults for the others.

        Args:
            path: the file.
            options: for the option form, the columns to apply, as in :meth:`create_default`
                (default: BASIC_PROFILE); an empty cell changes nothing. The rule form has no
                option columns: options other than BASIC_PROFILE change nothing there and
                give a UserWarning saying so (Aspose's call passes options whatever the form).

        Raises:
            ProfileError: the file is malformed: the message names the file, the line and the
                problem (unknown action, malformed pattern, duplicate rule, missing column...).
            FileAccessError: the file cannot be read.
        """
        source = os.fspath(path)
        parsed = profile_io.read_csv(profile_io.read_text_file(path), source)
        return cls._from_rows(parsed, source, options)

    @classmethod
    def load_from_csv_string(
        cls, text: str | bytes, options: OptionsLike | None = None
    ) -> ConfidentialityProfile:
        """Read a profile from CSV text; see :meth:`load_from_csv_file` (source: ``<string>``)."""
        parsed = profile_io.read_csv(_text(text), _STRING)
        return cls._from_rows(parsed, _STRING, options)

    @classmethod
    def load_from_json_file(
        cls, path: str | os.PathLike[str], options: OptionsLike | None = None
    ) -> ConfidentialityProfile:
        """Read a profile from a JSON file: an array of objects, one per rule.

        Rule form: ``[{"Tag": "0010,0010", "Action": "Z"}, ...]``. Option form: objects with a
        ``tag`` key and the option columns as keys (``basic_profile`` required, the others
        optional; ``""`` or ``null`` changes nothing). Key names are matched as in
        :meth:`load_from_csv_file`; other keys are ignored; a key given twice is an error.
        Errors name the JSON path, e.g. ``[3].Action``. ``options`` as in
        :meth:`load_from_csv_file`. Settings are objects before the rules:
        ``{"Setting": "patient_name", "Value": "ANONYMOUS"}`` (values as in CSV).
        """
        source = os.fspath(path)
        parsed = profile_io.read_json(profile_io.read_text_file(path), source)
        return cls._from_rows(parsed, source, options)

    @classmethod
    def load_from_json_string(
        cls, text: str | bytes, options: OptionsLike | None = None
    ) -> ConfidentialityProfile:
        """Read a profile from JSON text; see :meth:`load_from_json_file`."""
        parsed = profile_io.read_json(_text(text), _STRING)
        return cls._from_rows(parsed, _STRING, options)

    @classmethod
    def load_from_xml_file(
        cls, path: str | os.PathLike[str], options: OptionsLike | None = None
    ) -> ConfidentialityProfile:
        """Read a profile from an XML file.

        Rule form: ``<root><item><tag>0010,0010</tag><action>Z</action></item>...</root>``;
        option form: ``<tag>`` and the option columns as child elements (``<basic_profile>``
        required). The names of the root and rule elements are free; values may also be
        given as attributes (``<item tag="0010,0010" action="Z"/>``). Errors name the rule
        element and its line, e.g. ``item[4] (line 7)``. The parser is defusedxml's and
        refuses any DOCTYPE, so no entity (external or an expansion bomb) is ever read.
        ``options`` as in :meth:`load_from_csv_file`. Settings are elements before the rules:
        ``<setting name="patient_name">ANONYMOUS</setting>`` (values as in CSV).
        """
        source = os.fspath(path)
        parsed = profile_io.read_xml(profile_io.read_bytes_file(path), source)
        return cls._from_rows(parsed, source, options)

    @classmethod
    def load_from_xml_string(
        cls, text: str | bytes, options: OptionsLike | None = None
    ) -> ConfidentialityProfile:
        """Read a profile from XML text; see :meth:`load_from_xml_file`."""
        if not isinstance(text, (str, bytes)):
            raise TypeError(f"expected str or bytes, not {type(text).__name__}")
        parsed = profile_io.read_xml(text, _STRING)
        return cls._from_rows(parsed, _STRING, options)

    @classmethod
    def load_from_ctp_file(
        cls,
        path: str | os.PathLike[str],
        lookup_table: str | os.PathLike[str] | None = None,
    ) -> ConfidentialityProfile:
        """Read an RSNA CTP DicomAnonymizer script (``<script>`` with ``<p>``, ``<e>``,
        ``<k>`` and ``<r>`` elements) as it is: each enabled ``<e>`` becomes a rule (its
        function calls a value action, parameters substituted), ``<k t="0018">`` keeps a
        group, ``<r>`` removes private groups, curves, overlays or the unspecified elements
        (``unlisted = "remove"``); disabled elements are ignored. The profile runs literally,
        as CTP does: ``conform_to_iod`` False, and ``unlisted`` "keep" unless the script
        removes the unspecified elements. ``lookup_table`` is the file of ``@lookup`` (CTP's
        ``keytype/key=value`` properties). A function dicomveil does not support is a
        ProfileError naming the file, the line and the function. The differences from CTP
        are listed in docs/ctp.md."""
        source = os.fspath(path)
        data = profile_io.read_bytes_file(path)
        return cls._from_ctp(data, source, lookup_table)

    @classmethod
    def load_from_ctp_string(
        cls,
        text: str | bytes,
        lookup_table: str | os.PathLike[str] | None = None,
    ) -> ConfidentialityProfile:
        """Read a CTP DicomAnonymizer script from text; see :meth:`load_from_ctp_file`."""
        if not isinstance(text, (str, bytes)):
            raise TypeError(f"expected str or bytes, not {type(text).__name__}")
        return cls._from_ctp(text, _STRING, lookup_table)

    @classmethod
    def _from_ctp(
        cls,
        data: str | bytes,
        source: str,
        lookup_table: str | os.PathLike[str] | None,
    ) -> ConfidentialityProfile:
        items = profile_io.read_ctp(data, source)
        rules, remove_unspecified = _core.ctp_script(items, source)
        profile = cls._of(
            _core.Rules.from_rows(
                "rules",
                [(p, where, where, [(action, where)]) for p, action, where in rules],
                int(Options.BASIC_PROFILE),
                source,
            )
        )
        profile._conform = False
        profile._unlisted = "remove" if remove_unspecified else "keep"
        if lookup_table is not None:
            profile.lookup_table = lookup_table
        return profile

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        format: str | None = None,
        options: OptionsLike | None = None,
        lookup_table: str | os.PathLike[str] | None = None,
    ) -> ConfidentialityProfile:
        """Read a profile file of any supported format: ``format`` is one of ``ctp``,
        ``csv``, ``json``, ``xml`` (``deid`` and ``kitware`` are not supported yet), or None
        to recognise it from the content (:func:`detect_format`). ``options`` are for the
        option form of our own formats, ``lookup_table`` for ``@lookup`` value actions (a CTP
        script's, or a profile converted from one)."""
        source = os.fspath(path)
        if format is None:
            format = detect_format(profile_io.decode(profile_io.read_bytes_file(path), source))
        if format not in profile_io.FORMATS:
            raise ProfileError(
                f"{source}: unknown profile format {format!r} "
                f"(the formats are {', '.join(profile_io.FORMATS)})"
            )
        if format in ("deid", "kitware"):
            raise ProfileError(
                f"{source}: {format} profiles are not yet supported (issue 22); convert it by "
                "hand to csv, json or xml, or use a CTP script"
            )
        if format == "ctp":
            if options is not None and _options_value(options) != Options.BASIC_PROFILE:
                raise ProfileError(f"{source}: options do not apply to a CTP script")
            return cls.load_from_ctp_file(path, lookup_table)
        loader = {
            "csv": cls.load_from_csv_file,
            "json": cls.load_from_json_file,
            "xml": cls.load_from_xml_file,
        }[format]
        profile = loader(path, options)
        if lookup_table is not None:
            profile.lookup_table = lookup_table
        return profile

    @property
    def lookup_table(self) -> str | None:
        """The text of the lookup table of ``@lookup`` value actions (CTP's properties,
        ``keytype/key=value`` lines), or None. Set it to a path (the file is read) or pass
        ``lookup_table=`` to a loader. A lookup whose key the table lacks refuses the file
        (RefusedByProfileError), as CTP quarantines it. It is not part of an export."""
        return self._lookup

    @lookup_table.setter
    def lookup_table(self, path: str | os.PathLike[str] | None) -> None:
        if path is None:
            self._lookup = None
        else:
            text = profile_io.read_text_file(path)
            if _core.lookup_table_size(text) == 0:
                raise ProfileError(f"{os.fspath(path)}: an empty lookup table")
            self._lookup = text
        self._compiled = None

    @classmethod
    def _from_rows(
        cls,
        parsed: profile_io.Parsed,
        source: str,
        options: OptionsLike | None,
    ) -> ConfidentialityProfile:
        """Build a profile from a parsed file; every problem is a ProfileError at its row."""
        form, rows = parsed.form, parsed.rules
        opts = _options_value(options)
        settings = profile_io.setting_values(parsed.settings, source)
        if form == "rules":
            if opts is not None and opts != Options.BASIC_PROFILE:
                # Aspose's call passes options whatever the form (LoadFromCsvFile(path,
                # ConfidentialityProfileOptions.All)): accepted, but never silently
                import warnings

                warnings.warn(
                    f"{source}: options {_option_names(opts)} select option columns, but this "
                    "profile is in the rule form (TagPattern, Action), which has none: its "
                    "rules apply as written and the options change nothing",
                    UserWarning,
                    stacklevel=3,
                )
        elif opts is None:
            opts = Options.BASIC_PROFILE

        # the engine reads the rows: patterns, action codes, duplicates, ambiguity, options
        if form == "rules":
            cells = [[row.cells.get(profile_io.ACTION_COLUMN, ("", row.where))] for row in rows]
        else:
            cells = [
                [row.cells.get(column, ("", row.where)) for column in profile_io.OPTION_COLUMNS]
                for row in rows
            ]
        profile = cls._of(
            _core.Rules.from_rows(
                form,
                [
                    (row.pattern, row.pattern_where, row.where, row_cells)
                    for row, row_cells in zip(rows, cells, strict=True)
                ],
                int((opts or Options.BASIC_PROFILE) & Options.ALL),
                source,
            )
        )
        if opts is not None and opts & Options.CLEAN_PIXEL_DATA:
            profile._clean_pixels = True
        pixel_rules = settings.pop(profile_io.PIXEL_RULE, [])
        allow = settings.pop(profile_io.PIXEL_TEXT_ALLOW, None)
        if allow is not None:
            for text, where in allow:
                AllowList([text], f"{source}: {where}: {profile_io.PIXEL_TEXT_ALLOW}")
            profile._pixel_text_allow = tuple(text for text, _ in allow)
        for name, value in settings.items():
            setattr(profile, name, value)
        if pixel_rules:
            rules_read = []
            for text, where in pixel_rules:
                try:
                    rules_read.append(PixelRule.parse(text))
                except ProfileError as e:
                    raise ProfileError(f"{source}: {where}: {e}") from None
            engine, checked = compile_rules(rules_read, source)
            profile._pixel_rules = checked
            profile._engine_pixel_rules = engine
        return profile

    # -- export ------------------------------------------------------------------------------
    def to_csv(self, path: str | os.PathLike[str] | None = None) -> str:
        """The profile as CSV in the rule form (``TagPattern;Action``); written to ``path``
        too when given.

        The settings that differ from their defaults come first, one row each
        (``@patient_name;ANONYMOUS``, ``@conform_to_iod;no``), then the rules.
        :meth:`load_from_csv_file` reads it back to an equal profile.

        Raises:
            ProfileError: a setting's value cannot be written (see :meth:`to_json`).
        """
        return self._export(profile_io.write_csv, path)

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The profile as JSON; written to ``path`` too when given.

        An array: ``{"Setting": ..., "Value": ...}`` for each setting that differs from its
        default, then ``{"Tag": ..., "Action": ...}`` for each rule.
        :meth:`load_from_json_file` reads it back to an equal profile.

        Raises:
            ProfileError: a setting's value cannot be written in a profile file: a
                ``patient_name`` or ``patient_id`` with a control character, surrounding
                spaces (every loader strips them), or starting with ``@`` (the mark of
                ``@pseudonym``).
        """
        return self._export(profile_io.write_json, path)

    def to_xml(self, path: str | os.PathLike[str] | None = None) -> str:
        """The profile as XML; written to ``path`` too when given.

        ``<root>``, then ``<setting name="...">value</setting>`` for each setting that differs
        from its default, then ``<item><tag>..</tag><action>..</action></item>`` for each
        rule. :meth:`load_from_xml_file` reads it back to an equal profile.

        Raises:
            ProfileError: a setting's value cannot be written (see :meth:`to_json`), or a
                pattern holds a character XML cannot.
        """
        return self._export(profile_io.write_xml, path)

    def _settings(self) -> list[tuple[str, str]]:
        """The settings that differ from their defaults, as the export formats write them."""
        out = []
        for name in ("patient_name", "patient_id"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, Pseudonym):
                out.append((name, profile_io.PSEUDONYM))
                continue
            problem = profile_io.text_problem(value)
            if problem is None and value != value.strip():
                problem = "has surrounding spaces, which every profile loader strips"
            if problem is None and value.startswith(profile_io.SETTING_MARK):
                problem = f"starts with @, which in a profile file marks {profile_io.PSEUDONYM}"
            if problem is not None:
                raise ProfileError(f"{name} cannot be written in a profile file: it {problem}")
            out.append((name, value))
        if not self._conform:
            out.append(("conform_to_iod", "no"))
        if self._unlisted != UNLISTED[0]:
            out.append(("unlisted", self._unlisted))
        if self._clean_pixels:
            out.append(("clean_pixel_data", "yes"))
        for rule in self._pixel_rules:
            out.append((profile_io.PIXEL_RULE, rule.text()))
        if self._pixel_text_allow != (DEFAULT_ALLOW_ENTRY,):
            if not self._pixel_text_allow:
                raise ProfileError(
                    "pixel_text_allow cannot be written in a profile file when empty (allow "
                    "nothing): give it an entry that matches nothing you expect, e.g. '(?!)'"
                )
            for entry in self._pixel_text_allow:
                out.append((profile_io.PIXEL_TEXT_ALLOW, entry))
        return out

    def _rules_json(self) -> str:
        """The rules alone as JSON, no setting: how a distributed run's job carries them
        (the settings travel beside them, whatever their values)."""
        return profile_io.write_json(self._rules.items())

    def _export(
        self,
        write: Callable[[list[tuple[str, str]], list[tuple[str, str]]], str],
        path: str | os.PathLike[str] | None,
    ) -> str:
        text = write(self._rules.items(), self._settings())
        if path is not None:
            profile_io.write_text_file(path, text)
        return text

    # -- properties --------------------------------------------------------------------------
    @property
    def options(self) -> Options | None:
        """The options when the rules are exactly the default table; None for a custom profile.

        A profile made by :meth:`create_default` has the options it was made with, and
        ``ConfidentialityProfile()`` BASIC_PROFILE while its rules are unchanged. Any other
        profile (loaded or edited) whose rules are exactly those of the default table for some
        options has those options (the smallest such set); any other is custom (a Basic
        profile with a rule on top that the table does not have included).
        """
        options = self._rules.options
        if options is None:
            return None
        if self._clean_pixels:
            options |= int(Options.CLEAN_PIXEL_DATA)
        return Options(options)

    @property
    def is_custom(self) -> bool:
        """True unless the rules are exactly PS3.15 Table E.1-1 with some options."""
        return self.options is None

    # -- the mapping -------------------------------------------------------------------------
    def __getitem__(self, pattern: str) -> Action | ValueAction:
        code = self._rules.get(pattern) if isinstance(pattern, str) else None
        if code is None:
            raise KeyError(pattern)
        return _action(code)

    def __setitem__(self, pattern: str, action: Action | ValueAction | str) -> None:
        if not isinstance(pattern, str):
            raise ProfileError(f"a tag pattern must be a str, not {type(pattern).__name__}")
        if not isinstance(action, str):  # an Action is a str
            raise ProfileError(
                f"rule {pattern.strip()[:64]!r}: an action is an Action or a str such as 'X', "
                f"not {type(action).__name__}"
            )
        self._rules.set(pattern, action)
        self._compiled = None

    def __delitem__(self, pattern: str) -> None:
        if not isinstance(pattern, str) or not self._rules.remove(pattern):
            raise KeyError(pattern)
        self._compiled = None

    def __contains__(self, pattern: object) -> bool:
        return isinstance(pattern, str) and self._rules.get(pattern) is not None

    def __iter__(self) -> Iterator[str]:
        return iter([written for written, _ in self._rules.items()])

    def __len__(self) -> int:
        return len(self._rules)

    def __repr__(self) -> str:
        opts = self.options
        kind = f"options={opts!r}" if opts is not None else "custom"
        return f"<ConfidentialityProfile {kind}, {len(self)} rules>"

    def __eq__(self, other: object) -> bool:
        """Same rules (patterns compared by meaning, not spelling) and same settings
        (``patient_name``, ``patient_id``, ``conform_to_iod``, ``unlisted``)."""
        if not isinstance(other, ConfidentialityProfile):
            return NotImplemented
        return (
            self._rules.same_rules(other._rules)
            and self.patient_name == other.patient_name
            and self.patient_id == other.patient_id
            and self._conform == other._conform
            and self._unlisted == other._unlisted
            and self._clean_pixels == other._clean_pixels
            and self._pixel_rules == other._pixel_rules
            and self._pixel_text_allow == other._pixel_text_allow
        )

    def _describe(self) -> list[tuple[str, str, Action | ValueAction, int | None]]:
        """For showing the rules: (pattern as written, canonical pattern, action, the tag of an
        exact pattern or None), in order."""
        return [(w, c, _action(a), t) for w, c, a, t in self._rules.describe()]

    def resolve_for(self, sop_class: str) -> list[ResolvedRule]:
        """What each rule does to an object of ``sop_class`` (a SOP Class UID), at the top
        level of the dataset: the rule's code, the attribute's type in the class's IOD, and
        the action that results (see :attr:`conform_to_iod`). Inside sequences each attribute
        is resolved by its own type there, the same way.

        For a SOP class the IOD tables do not know, or a literal profile, every code is
        carried out by its fixed choice (``iod_type`` None). Rules in the order of
        :meth:`__iter__`.
        """
        compiled = self._compile()
        out = []
        for written, canon, code, tag in self._rules.describe():
            if tag is not None:
                iod_type, effective = compiled.effective(sop_class, tag)
            else:  # a pattern of many attributes: private, or a repeating group
                iod_type, effective = None, _core.code_letter(code)
            keyword = _core.tag_to_keyword(tag) if tag is not None else None
            out.append(
                ResolvedRule(written, canon, tag, keyword, _action(code), iod_type, effective)
            )
        return out

    # -- compilation -------------------------------------------------------------------------
    def _compile(self) -> _core.CompiledProfile:
        """The engine's lookup table, with the de-identification markers of the options."""
        if self._compiled is None:
            self._compiled = self._rules.compile(
                conform=self._conform,
                unlisted=self._unlisted,
                clean_pixels=self._clean_pixels,
                pixel_rules=self._engine_pixel_rules,
                lookup=self._lookup,
            )
        return self._compiled


def detect_format(text: str) -> str:
    """The format of a profile file's text: ``ctp``, ``deid``, ``kitware``, ``csv``,
    ``json`` or ``xml`` (see :func:`dicomveil.profile_io.detect_format`)."""
    return profile_io.detect_format(text)


def _text(text: str | bytes) -> str:
    if isinstance(text, bytes):
        return profile_io.decode(text, _STRING)
    if not isinstance(text, str):
        raise TypeError(f"expected str or bytes, not {type(text).__name__}")
    return text
