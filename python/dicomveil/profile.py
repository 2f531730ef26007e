"""Confidentiality profiles: the PS3.15 default with its options, and custom rule sets."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from enum import Enum, IntFlag
from functools import lru_cache

from . import _core, profile_io
from .errors import ProfileError
from .pseudonym import Pseudonym

__all__ = [
    "Action",
    "ConfidentialityProfile",
    "ConfidentialityProfileOptions",
    "EDITION",
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
    ALL = 2047


class Action(str, Enum):
    """Action codes of PS3.15 Table E.1-1 (the standard's letters).

    ``X`` removes the attribute, ``Z`` gives it a zero-length value, ``D`` a dummy value,
    ``K`` keeps it, ``C`` cleans it, ``U`` replaces its UIDs. The compound codes pick what is
    always conformant: X/Z -> Z, X/D -> D, X/Z/D -> D, Z/D -> D, and X/Z/U* keeps the sequence
    and replaces every UID inside it.
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


Options = ConfidentialityProfileOptions
OptionsLike = ConfidentialityProfileOptions | int

# CID 7050 codes for (0012,0064), by option bit.
_METHOD_CODES: dict[Options, tuple[str, str]] = {
    Options.BASIC_PROFILE: ("113100", "Basic Application Confidentiality Profile"),
    Options.RETAIN_SAFE_PRIVATE: ("113111", "Retain Safe Private Option"),
    Options.RETAIN_UIDS: ("113110", "Retain UIDs Option"),
    Options.RETAIN_DEVICE_IDENT: ("113109", "Retain Device Identity Option"),
    Options.RETAIN_INSTITUTION_IDENT: ("113112", "Retain Institution Identity Option"),
    Options.RETAIN_PATIENT_CHARS: ("113108", "Retain Patient Characteristics Option"),
    Options.RETAIN_LONG_FULL_DATES: (
        "113106",
        "Retain Longitudinal Temporal Information Full Dates Option",
    ),
    Options.RETAIN_LONG_MODIF_DATES: (
        "113107",
        "Retain Longitudinal Temporal Information Modified Dates Option",
    ),
    Options.CLEAN_DESC: ("113105", "Clean Descriptors Option"),
    Options.CLEAN_STRUCTD_CONT: ("113104", "Clean Structured Content Option"),
    Options.CLEAN_GRAPH: ("113103", "Clean Graphics Option"),
}

_VERSION = _core.__version__
_STRING = "<string>"

# ---------------------------------------------------------------------------------------------
# Tag patterns and action codes
# ---------------------------------------------------------------------------------------------

#: The canonical spelling of the all-private pattern.
ALL_PRIVATE = "gggg,eeee (gggg odd)"
_ALL_PRIVATE_FORMS = ("gggg,eeee (gggg odd)", "(gggg odd)", "private")
_HEX_OR_X = frozenset("0123456789abcdefABCDEFxX")


class _PatternError(ValueError):
    pass


def _fmt_tag(tag: int) -> str:
    return f"{tag >> 16:04x},{tag & 0xFFFF:04x}"


@lru_cache(maxsize=8192)
def canonical_pattern(text: str) -> str:
    """The canonical spelling of a tag pattern; two patterns are the same rule iff equal.

    ``(0010,0010)``, ``0010,0010``, ``00100010`` and ``PatientName`` are all ``0010,0010``;
    ``60XX,3000`` is ``60xx,3000``; ``(0009,xx10,ACME)`` and ``0009,1010:ACME`` are
    ``0009,xx10:ACME`` (the block byte never counts); every spelling of the all-private
    pattern is ``gggg,eeee (gggg odd)``. This mirrors the engine's parser (``src/profile.rs``).

    Raises:
        ValueError: the pattern is malformed (the message says why).
    """
    t = text.strip()
    if t.lower() in _ALL_PRIVATE_FORMS:
        return ALL_PRIVATE
    if not t:
        raise _PatternError("empty tag pattern")
    if t.isascii() and t.isalnum() and len(t) != 8:
        tag = _core.keyword_to_tag(t)
        if tag is None:
            raise _PatternError(f"unknown keyword or malformed tag {t!r}")
        return _fmt_tag(tag)
    inner = t[1:-1] if t.startswith("(") and t.endswith(")") else t
    creator: str | None = None
    if ":" in inner:
        tag_part, creator = inner.split(":", 1)
        tag_part = tag_part.strip()
    else:
        parts = inner.split(",", 2)
        if len(parts) == 3:
            n = len(parts[0]) + 1 + len(parts[1])
            tag_part, creator = inner[:n].strip(), inner[n + 1 :]
        else:
            tag_part = inner
    digits = tag_part.replace(",", "").replace(" ", "")
    if (
        len(digits) != 8
        or not all(c in _HEX_OR_X for c in digits)
        or ("," in tag_part and any(len(p.strip()) != 4 for p in tag_part.split(",")))
    ):
        tag = _core.keyword_to_tag(t)
        if tag is not None:
            return _fmt_tag(tag)
        raise _PatternError(f"malformed tag pattern {t!r}")
    mask = value = 0
    for c in digits:
        mask <<= 4
        value <<= 4
        if c not in "xX":
            mask |= 0xF
            value |= int(c, 16)
    if creator is not None:
        creator = creator.strip().strip('"').strip()
        if not creator:
            raise _PatternError(f"empty private creator in {t!r}")
        group = value >> 16
        if mask >> 16 != 0xFFFF or group % 2 == 0:
            raise _PatternError(f"{t!r}: a private creator needs an odd, fully given group")
        if mask & 0xFF != 0xFF:
            raise _PatternError(f"{t!r}: the element's last two digits must be given")
        return f"{group:04x},xx{value & 0xFF:02x}:{creator}"
    out = "".join(
        f"{(value >> s) & 0xF:x}" if (mask >> s) & 0xF else "x" for s in range(28, -4, -4)
    )
    return f"{out[:4]},{out[4:]}"


def _masked(canon: str) -> tuple[int, int] | None:
    """(mask, value) of a canonical wildcard pattern; None for any other kind."""
    if "x" not in canon or ":" in canon or canon == ALL_PRIVATE:
        return None
    digits = canon.replace(",", "")
    mask = int("".join("0" if c == "x" else "f" for c in digits), 16)
    return mask, int(digits.replace("x", "0"), 16)


def _overlap(a: str, b: str) -> str | None:
    """A tag that two equally specific wildcard patterns both match, or None."""
    ma, mb = _masked(a), _masked(b)
    if ma is None or mb is None or ma[0].bit_count() != mb[0].bit_count():
        return None
    (m1, v1), (m2, v2) = ma, mb
    if (v1 ^ v2) & m1 & m2:
        return None
    return _fmt_tag(v1 | v2)


def _parse_action(value: Action | str, where: str) -> Action:
    if isinstance(value, Action):
        return value
    if isinstance(value, str):
        code = re.sub(r"\s+", "", value).upper()
        if code == "X/Z/U":
            code = "X/Z/U*"
        try:
            return Action(code)
        except ValueError:
            pass
    raise ProfileError(
        f"{where}: unknown action {str(value)[:16]!r} (expected X, Z, D, K, C, U or a compound"
        " code: X/Z, X/D, X/Z/D, Z/D, X/Z/U*)"
    )


def _options_value(options: OptionsLike | None) -> Options | None:
    if options is None:
        return None
    if isinstance(options, bool) or not isinstance(options, int):
        raise TypeError(
            "options must be ConfidentialityProfileOptions flags (or their int value), "
            f"not {type(options).__name__}"
        )
    value = int(options)
    if value < 0 or value & ~int(Options.ALL):
        raise ProfileError(
            f"options {value}: not a combination of ConfidentialityProfileOptions "
            f"(the flags are 1 to 1024, ALL = {int(Options.ALL)})"
        )
    return Options(value | Options.BASIC_PROFILE)


def _option_names(options: Options) -> str:
    return "|".join(o.name or "" for o in _METHOD_CODES if o in options)


# ---------------------------------------------------------------------------------------------
# The default table, for recognising it
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _table() -> tuple[tuple[str, tuple[Action | None, ...]], ...]:
    """Table E.1-1 as the engine ships it: (canonical pattern, 11 action cells)."""
    return tuple(
        (canonical_pattern(tag), tuple(Action(c) if c else None for c in cells))
        for tag, _kw, _name, _vr, cells in _core.table_rows()
    )


def _detect_options(rules: Mapping[str, tuple[str, Action]]) -> Options | None:
    """The options whose default table these rules are exactly, or None.

    When several option sets give the same rules (RETAIN_LONG_MODIF_DATES overrides every
    row of RETAIN_LONG_FULL_DATES), the smallest is chosen: only options whose effect is there.
    """
    table = _table()
    if len(rules) != len(table):
        return None
    rows: list[tuple[Action, tuple[Action | None, ...]]] = []
    for canon, cells in table:
        rule = rules.get(canon)
        if rule is None:
            return None
        rows.append((rule[1], cells))

    def fits(chosen: int, lowest: int) -> bool:
        # rows decided by a chosen bit >= lowest must match; the others must stay reachable
        for seen, cells in rows:
            top = next((b for b in range(10, lowest - 1, -1) if chosen >> b & 1 and cells[b]), None)
            if top is not None:
                if cells[top] != seen:
                    return False
            elif seen != cells[0] and seen not in cells[1:lowest]:
                return False
        return True

    def search(bit: int, chosen: int) -> int | None:
        if bit == 0:
            return chosen if fits(chosen, 1) else None
        for c in (chosen, chosen | 1 << bit):
            if fits(c, bit):
                found = search(bit - 1, c)
                if found is not None:
                    return found
        return None

    found = search(10, 1)
    return None if found is None else Options(found)


# ---------------------------------------------------------------------------------------------
# The profile
# ---------------------------------------------------------------------------------------------


class ConfidentialityProfile(MutableMapping[str, Action]):
    """A set of de-identification rules: a mutable mapping from tag pattern to :class:`Action`.

    ``ConfidentialityProfile()`` is an empty custom profile. A custom profile applies exactly
    its own rules: an element that no rule matches is kept. :meth:`create_default` gives
    PS3.15 Table E.1-1 with the chosen options; the ``load_from_*`` class methods read custom
    profiles (CSV, JSON, XML) and ``to_csv``/``to_json``/``to_xml`` write them.

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

    ``patient_name`` and ``patient_id``, when set (an ASCII string, or :class:`Pseudonym`),
    replace PatientName and PatientID after the profile is applied, at the top level and
    wherever the input had them, whatever the profile's action for them. They are settings of
    this object, not rules: the file formats do not carry them.
    """

    def __init__(
        self,
        rules: Mapping[str, Action | str] | Iterable[tuple[str, Action | str]] | None = None,
        *,
        name: str = "custom profile",
    ) -> None:
        # canonical pattern -> (pattern as written, action)
        self._rules: dict[str, tuple[str, Action]] = {}
        self._options: Options | None = None
        self._options_known = True
        self._name = name
        self._compiled: _core.CompiledProfile | None = None
        self.patient_name: str | Pseudonym | None = None
        self.patient_id: str | Pseudonym | None = None
        if rules is not None:
            items = rules.items() if isinstance(rules, Mapping) else rules
            for pattern, action in items:
                self[pattern] = action

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
        profile = cls(name="PS3.15 default")
        for pattern, canon, action in _core.default_rules(int(opts)):
            profile._rules[canon] = (pattern, Action(action))
        profile._options = opts
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
        form, rows = profile_io.read_csv(profile_io.read_text_file(path), source)
        return cls._from_rows(form, rows, source, options)

    @classmethod
    def load_from_csv_string(
        cls, text: str | bytes, options: OptionsLike | None = None
    ) -> ConfidentialityProfile:
        """Read a profile from CSV text; see :meth:`load_from_csv_file` (source: ``<string>``)."""
        form, rows = profile_io.read_csv(_text(text), _STRING)
        return cls._from_rows(form, rows, _STRING, options)

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
        :meth:`load_from_csv_file`.
        """
        source = os.fspath(path)
        form, rows = profile_io.read_json(profile_io.read_text_file(path), source)
        return cls._from_rows(form, rows, source, options)

    @classmethod
    def load_from_json_string(
        cls, text: str | bytes, options: OptionsLike | None = None
    ) -> ConfidentialityProfile:
        """Read a profile from JSON text; see :meth:`load_from_json_file`."""
        form, rows = profile_io.read_json(_text(text), _STRING)
        return cls._from_rows(form, rows, _STRING, options)

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
        ``options`` as in :meth:`load_from_csv_file`.
        """
        source = os.fspath(path)
        form, rows = profile_io.read_xml(profile_io.read_bytes_file(path), source)
        return cls._from_rows(form, rows, source, options)

    @classmethod
    def load_from_xml_string(
        cls, text: str | bytes, options: OptionsLike | None = None
    ) -> ConfidentialityProfile:
        """Read a profile from XML text; see :meth:`load_from_xml_file`."""
        if not isinstance(text, (str, bytes)):
            raise TypeError(f"expected str or bytes, not {type(text).__name__}")
        form, rows = profile_io.read_xml(text, _STRING)
        return cls._from_rows(form, rows, _STRING, options)

    @classmethod
    def _from_rows(
        cls,
        form: str,
        rows: list[profile_io.RawRule],
        source: str,
        options: OptionsLike | None,
    ) -> ConfidentialityProfile:
        """Build a profile from parsed rows; every problem is a ProfileError at its row."""
        opts = _options_value(options)
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

        def fail(where: str, problem: str) -> ProfileError:
            return ProfileError(f"{source}: {where}: {problem}")

        rules: dict[str, tuple[str, Action]] = {}
        where_of: dict[str, str] = {}
        seen: dict[str, tuple[str, str]] = {}
        for row in rows:
            try:
                canon = canonical_pattern(row.pattern)
            except _PatternError as e:
                raise fail(row.pattern_where, str(e)) from None
            if canon in seen:
                first, first_where = seen[canon]
                same = "is given again" if first == row.pattern else f"is the same as {first!r}"
                raise fail(
                    row.pattern_where,
                    f"duplicate rule: {row.pattern!r} {same} ({first_where})",
                )
            seen[canon] = (row.pattern, row.where)
            action: Action | None
            if form == "rules":
                text, where = row.cells[profile_io.ACTION_COLUMN]
                if not text:
                    raise fail(where, f"no action for {row.pattern!r}")
                action = _parse_action(text, f"{source}: {where}")
            else:
                assert opts is not None
                action = None
                for bit, column in enumerate(profile_io.OPTION_COLUMNS):
                    text, where = row.cells.get(column, ("", row.where))
                    cell = _parse_action(text, f"{source}: {where}") if text else None
                    if cell is not None and (bit == 0 or opts >> bit & 1):
                        action = cell
            if action is not None:
                rules[canon] = (row.pattern.strip(), action)
                where_of[canon] = row.pattern_where
        clash = _find_ambiguity(rules)
        if clash is not None:
            a, b, tag = clash
            raise fail(
                where_of[b],
                f"{rules[b][0]!r} is ambiguous with {rules[a][0]!r} ({where_of[a]}): both match "
                f"({tag}), are equally specific and have different actions",
            )
        profile = cls()
        profile._rules = rules
        profile._options = None
        profile._options_known = False
        if form == "options" and opts is not None:
            default = _core.default_rules(int(opts))
            if len(default) == len(rules) and all(
                rules.get(c, ("", None))[1] == a for _p, c, a in default
            ):
                profile._options = opts  # exactly the shipped table with these options
                profile._options_known = True
        profile._compile_or_fail(source, [where_of[c] for c in rules])
        return profile

    # -- export ------------------------------------------------------------------------------
    def to_csv(self, path: str | os.PathLike[str] | None = None) -> str:
        """The rules as CSV in the rule form (``TagPattern;Action``); written to ``path`` too.

        :meth:`load_from_csv_file` reads it back to an equal profile. ``patient_name`` and
        ``patient_id`` are not rules and are not written.
        """
        return self._export(profile_io.write_csv, path)

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The rules as JSON (``[{"Tag": ..., "Action": ...}]``); written to ``path`` too.

        :meth:`load_from_json_file` reads it back to an equal profile.
        """
        return self._export(profile_io.write_json, path)

    def to_xml(self, path: str | os.PathLike[str] | None = None) -> str:
        """The rules as XML (``<root><item><tag>..</tag><action>..</action></item>``).

        Written to ``path`` too when given; :meth:`load_from_xml_file` reads it back to an
        equal profile.
        """
        return self._export(profile_io.write_xml, path)

    def _export(
        self,
        write: Callable[[list[tuple[str, str]]], str],
        path: str | os.PathLike[str] | None,
    ) -> str:
        text = write([(p, a.value) for p, a in self._rules.values()])
        if path is not None:
            profile_io.write_text_file(path, text)
        return text

    # -- properties --------------------------------------------------------------------------
    @property
    def options(self) -> Options | None:
        """The options when the rules are exactly the default table; None for a custom profile.

        A profile made by :meth:`create_default` has the options it was made with. Any other
        profile (loaded or edited) whose rules are exactly those of the default table for some
        options has those options (the smallest such set); any other is custom.
        """
        if not self._options_known:
            self._options = _detect_options(self._rules)
            self._options_known = True
        return self._options

    @property
    def is_custom(self) -> bool:
        """True unless the rules are exactly PS3.15 Table E.1-1 with some options."""
        return self.options is None

    # -- the mapping -------------------------------------------------------------------------
    def _key(self, pattern: object) -> str:
        if not isinstance(pattern, str):
            raise KeyError(pattern)
        try:
            return canonical_pattern(pattern)
        except _PatternError:
            raise KeyError(pattern) from None

    def __getitem__(self, pattern: str) -> Action:
        return self._rules[self._key(pattern)][1]

    def __setitem__(self, pattern: str, action: Action | str) -> None:
        if not isinstance(pattern, str):
            raise ProfileError(f"a tag pattern must be a str, not {type(pattern).__name__}")
        display = pattern.strip()
        try:
            canon = canonical_pattern(display)
        except _PatternError as e:
            raise ProfileError(f"rule {display[:64]!r}: {e}") from None
        _core.check_pattern(display)
        new = (display, _parse_action(action, f"rule {display[:64]!r}"))
        old = self._rules.get(canon)
        if old is not None and old[1] == new[1]:
            self._rules[canon] = new  # the same rule, spelt anew: nothing else changes
            return
        clashes = (
            (written, _overlap(canon, other))
            for other, (written, act) in self._rules.items()
            if other != canon and act != new[1]
        )
        for written, tag in clashes if _masked(canon) is not None else ():
            if tag is not None:
                raise ProfileError(
                    f"rule {display!r}: ambiguous with {written!r}: both match ({tag}), are "
                    "equally specific and have different actions"
                )
        self._rules[canon] = new
        self._changed()

    def __delitem__(self, pattern: str) -> None:
        del self._rules[self._key(pattern)]
        self._changed()

    def __contains__(self, pattern: object) -> bool:
        try:
            return self._key(pattern) in self._rules
        except KeyError:
            return False

    def __iter__(self) -> Iterator[str]:
        return (written for written, _ in self._rules.values())

    def __len__(self) -> int:
        return len(self._rules)

    def __repr__(self) -> str:
        opts = self.options
        kind = f"options={opts!r}" if opts is not None else "custom"
        return f"<ConfidentialityProfile {kind}, {len(self)} rules>"

    def __eq__(self, other: object) -> bool:
        """Same rules (patterns compared by meaning, not spelling) and same replacements."""
        if not isinstance(other, ConfidentialityProfile):
            return NotImplemented
        return (
            {k: a for k, (_, a) in self._rules.items()}
            == {k: a for k, (_, a) in other._rules.items()}
            and self.patient_name == other.patient_name
            and self.patient_id == other.patient_id
        )

    def _changed(self) -> None:
        self._compiled = None
        # an edited default profile is the standard's table only if its rules still are
        self._options = None
        self._options_known = False

    # -- compilation -------------------------------------------------------------------------
    def _method(self) -> tuple[list[str], list[tuple[str, str]]]:
        """(0012,0063) values and (0012,0064) codes for this profile."""
        options = self.options
        if options is None:
            return [f"dicomveil {_VERSION}", "custom profile"], []
        if Options.RETAIN_LONG_MODIF_DATES in options:
            # the two date options are alternatives: with both, dates are modified on every
            # row, so a file claiming full dates too would contradict its own (0028,0303)
            options &= ~Options.RETAIN_LONG_FULL_DATES
        codes = [_METHOD_CODES[o] for o in _METHOD_CODES if o in options]
        method = [f"dicomveil {_VERSION}", f"PS3.15 {EDITION} Basic Profile"]
        method += [meaning for value, meaning in codes[1:]]
        return method, codes

    def _compile(self) -> _core.CompiledProfile:
        if self._compiled is None:
            method, codes = self._method()
            rules = [(p, a.value) for p, a in self._rules.values()]
            self._compiled = _core.CompiledProfile(rules, self._name, method, codes)
        return self._compiled

    def _compile_or_fail(self, source: str, locations: list[str]) -> None:
        """Compile now; an engine error ``rule N`` is reported at the N-th rule's location."""
        name, self._name = self._name, source
        try:
            self._compile()
        except ProfileError as e:
            message = str(e)
            m = re.match(r"rule (\d+): (.*)", message.removeprefix(f"{source}: "), re.S)
            if m is None:
                raise

            def at(n: str) -> str:
                i = int(n) - 1
                return locations[i] if 0 <= i < len(locations) else f"rule {n}"

            problem = re.sub(r"\brule (\d+)\b", lambda r: at(r.group(1)), m.group(2))
            raise ProfileError(f"{source}: {at(m.group(1))}: {problem}") from None
        finally:
            self._name = name


def _find_ambiguity(rules: Mapping[str, tuple[str, Action]]) -> tuple[str, str, str] | None:
    """Two equally specific wildcard patterns that overlap with different actions, and a tag
    both match: (first, second, tag) by canonical pattern; None when there are none."""
    masked = [c for c in rules if _masked(c) is not None]
    for i, a in enumerate(masked):
        for b in masked[i + 1 :]:
            tag = _overlap(a, b)
            if tag is not None and rules[a][1] != rules[b][1]:
                return a, b, tag
    return None


def _text(text: str | bytes) -> str:
    if isinstance(text, bytes):
        return profile_io.decode(text, _STRING)
    if not isinstance(text, str):
        raise TypeError(f"expected str or bytes, not {type(text).__name__}")
    return text
