"""Confidentiality profiles: the PS3.15 default with its options, and custom rule sets."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from enum import Enum, IntFlag

from . import _core
from .errors import ProfileError

__all__ = ["Action", "ConfidentialityProfile", "ConfidentialityProfileOptions", "EDITION"]

#: Edition of DICOM PS3.15 whose Table E.1-1 is the default profile.
EDITION: str = _core.EDITION


class ConfidentialityProfileOptions(IntFlag):
    """The Basic Application Level Confidentiality Profile and its options (PS3.15 E.3).

    The bit order is the column order of Table E.1-1: where two selected options both name an
    attribute, the higher bit wins.
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
    """Action codes of PS3.15 Table E.1-1.

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

# Options whose table columns hold only K (their effect is exact with the engine as it is).
_SUPPORTED_OPTIONS = (
    Options.BASIC_PROFILE
    | Options.RETAIN_UIDS
    | Options.RETAIN_INSTITUTION_IDENT
    | Options.RETAIN_LONG_FULL_DATES
)

_VERSION = _core.__version__


def _action(value: Action | str, where: str) -> Action:
    if isinstance(value, Action):
        return value
    if isinstance(value, str):
        code = value.strip().upper()
        if code == "X/Z/U":
            code = "X/Z/U*"
        try:
            return Action(code)
        except ValueError:
            pass
    raise ProfileError(
        f"{where}: unknown action {str(value)[:16]!r} (expected X, Z, D, K, C, U or a compound"
        " code such as X/Z)"
    )


class ConfidentialityProfile(MutableMapping[str, Action]):
    """A set of de-identification rules: a mapping from tag pattern to :class:`Action`.

    ``ConfidentialityProfile()`` is an empty custom profile: an element that no rule names is
    kept. :meth:`create_default` gives PS3.15 Table E.1-1 with the chosen options.

    Tag patterns: ``gggg,eeee`` with or without parentheses (hex in either case, ``x`` for any
    digit, e.g. ``50xx,xxxx``), a keyword (``PatientName``), a private attribute with its
    creator (``0009,xx10:ACME PRIVATE``), or ``gggg,eeee (gggg odd)`` for every private
    attribute. Precedence: exact tag, then private attribute with creator, then the pattern with
    more fixed digits, then all-private; no rule keeps the element.

    ``patient_name`` and ``patient_id``, when set, replace PatientName and PatientID after the
    profile is applied (at the top level and wherever the input had them).
    """

    def __init__(
        self,
        rules: Mapping[str, Action | str] | Iterable[tuple[str, Action | str]] | None = None,
        *,
        name: str = "custom profile",
    ) -> None:
        self._rules: dict[str, Action] = {}
        self._options: Options | None = None
        self._name = name
        self._compiled: _core.CompiledProfile | None = None
        self.patient_name: str | None = None
        self.patient_id: str | None = None
        if rules is not None:
            items = rules.items() if isinstance(rules, Mapping) else rules
            for pattern, action in items:
                self[pattern] = action

    @classmethod
    def create_default(
        cls, options: Options | int = Options.BASIC_PROFILE
    ) -> ConfidentialityProfile:
        """The PS3.15 profile (Table E.1-1, edition :data:`EDITION`) with ``options``.

        BASIC_PROFILE is always implied. Per attribute, each selected option whose column has a
        value replaces the basic action, in bit order.
        """
        opts = Options(int(options) | Options.BASIC_PROFILE)
        missing = opts & ~_SUPPORTED_OPTIONS
        if missing:
            names = ", ".join(
                o.name or str(int(o)) for o in Options if o in missing and o.name != "ALL"
            )
            raise NotImplementedError(
                f"options not implemented yet: {names} (their clean actions need the engine's "
                "cleaning, planned in the options work)"
            )
        profile = cls(name="PS3.15 default")
        for pattern, action in _core.default_rules(int(opts)):
            profile._rules[pattern] = Action(action)
        profile._options = opts
        return profile

    @property
    def options(self) -> Options | None:
        """The options of a default profile; None for a custom one."""
        return self._options

    # -- the mapping -------------------------------------------------------------------------
    def __getitem__(self, pattern: str) -> Action:
        return self._rules[pattern.strip()]

    def __setitem__(self, pattern: str, action: Action | str) -> None:
        if not isinstance(pattern, str):
            raise ProfileError(f"a tag pattern must be a str, not {type(pattern).__name__}")
        key = pattern.strip()
        _core.check_pattern(key)
        self._rules[key] = _action(action, f"rule {key!r}")
        self._changed()

    def __delitem__(self, pattern: str) -> None:
        del self._rules[pattern.strip()]
        self._changed()

    def __iter__(self) -> Iterator[str]:
        return iter(self._rules)

    def __len__(self) -> int:
        return len(self._rules)

    def __repr__(self) -> str:
        kind = f"options={self._options!r}" if self._options is not None else "custom"
        return f"<ConfidentialityProfile {kind}, {len(self)} rules>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ConfidentialityProfile):
            return NotImplemented
        return (
            self._rules == other._rules
            and self.patient_name == other.patient_name
            and self.patient_id == other.patient_id
        )

    def _changed(self) -> None:
        self._compiled = None
        # an edited default profile is no longer the standard's table
        self._options = None

    # -- compilation -------------------------------------------------------------------------
    def _method(self) -> tuple[list[str], list[tuple[str, str]]]:
        """(0012,0063) values and (0012,0064) codes for this profile."""
        if self._options is None:
            return [f"dicomveil {_VERSION}", "custom profile"], []
        codes = [_METHOD_CODES[o] for o in _METHOD_CODES if o in self._options]
        method = [f"dicomveil {_VERSION}", f"PS3.15 {EDITION} Basic Profile"]
        method += [meaning for value, meaning in codes[1:]]
        return method, codes

    def _compile(self) -> _core.CompiledProfile:
        if self._compiled is None:
            method, codes = self._method()
            rules = [(p, a.value) for p, a in self._rules.items()]
            self._compiled = _core.CompiledProfile(rules, self._name, method, codes)
        return self._compiled
