"""Reading and writing profile files: CSV, JSON and XML, in two forms.

This module is the syntax layer: it turns text into rows (a tag pattern and the action cells of
that row, each with where it came from) and rules into text. What the rows mean (patterns,
action letters, options, duplicates, ambiguity) is decided by the engine (``src/rules.rs``).

The two forms, detected from the header (CSV), the keys (JSON) or the child elements (XML):

* the rule form of Aspose's guide: a tag pattern and an action per row
  (CSV ``TagPattern;Action``, JSON ``[{"Tag": ..., "Action": ...}]``,
  XML ``<root><item><tag>...</tag><action>...</action></item></root>``);
* the option form: a tag pattern and the eleven action columns of PS3.15 Table E.1-1
  (``basic_profile``, ``rtn_safe_priv_opt``, ... ``clean_graph_opt``), as in the table shipped
  in ``dicomveil/data``.

Names of columns, keys and elements are matched without regard to case, spaces, ``_`` and
``-`` (``TagPattern``, ``tag pattern`` and ``tag_pattern`` are one name).

Both forms may start with **settings** (:data:`SETTINGS`: ``patient_name``, ``patient_id``,
``conform_to_iod``, ``unlisted``), before the first rule, each at most once:

* CSV: a row whose pattern is the setting's name after ``@`` (``@patient_name``), its value
  where a rule has its action (the ``Action`` column; ``basic_profile`` in the option form);
* JSON: an object ``{"Setting": "patient_name", "Value": "..."}``;
* XML: an element ``<setting name="patient_name">...</setting>``.

Values are text in every format: printable ASCII for ``patient_name`` and ``patient_id``
(``@pseudonym`` for a keyed pseudonym), ``yes`` or ``no`` for ``conform_to_iod``, ``clean`` or
``keep`` for ``unlisted``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from .errors import FileAccessError, ProfileError
from .pseudonym import Pseudonym

__all__ = [
    "ACTION_COLUMN",
    "OPTION_COLUMNS",
    "PSEUDONYM",
    "Parsed",
    "RawRule",
    "RawSetting",
    "SETTINGS",
    "SETTING_MARK",
    "decode",
    "read_csv",
    "read_json",
    "read_text_file",
    "read_bytes_file",
    "read_xml",
    "setting_values",
    "text_problem",
    "write_csv",
    "write_json",
    "write_text_file",
    "write_xml",
]

#: The eleven action columns of Table E.1-1, in the bit order of ConfidentialityProfileOptions.
OPTION_COLUMNS: tuple[str, ...] = (
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

#: The action column of the rule form.
ACTION_COLUMN = "action"

#: The settings a profile file may hold, in the order the exporters write them.
SETTINGS: tuple[str, ...] = (
    "patient_name",
    "patient_id",
    "conform_to_iod",
    "unlisted",
    "clean_pixel_data",
    "pixel_rule",
    "pixel_text_allow",
)

#: A setting that may be given several times: each is a pixel rule, in order.
PIXEL_RULE = "pixel_rule"

#: A setting that may be given several times: each is an entry of the allow-list of text in
#: the pixels (dicomveil.ocr.AllowList: a pattern, or ``@default``).
PIXEL_TEXT_ALLOW = "pixel_text_allow"

#: The settings that may be given several times (their values kept in order, with where).
REPEATED = (PIXEL_RULE, PIXEL_TEXT_ALLOW)

#: In CSV, a row whose pattern is this mark and a setting's name is that setting.
SETTING_MARK = "@"

#: The value of ``patient_name`` or ``patient_id`` that stands for :class:`Pseudonym`.
PSEUDONYM = "@pseudonym"

_SETTING_NAMES = {s.replace("_", ""): s for s in SETTINGS}
_SETTINGS_LIST = ", ".join(SETTINGS)
# the name of the JSON key and of the XML element of a setting
_SETTING_KEY = "setting"
_VALUE_KEY = "value"

# names accepted for the tag pattern column / key / element
_PATTERN_NAMES = frozenset({"tagpattern", "tag", "pattern"})
_ACTION_NAME = "action"
_OPTION_NAMES = {c.replace("_", ""): c for c in OPTION_COLUMNS}
# a name that looks like an option column but is none of them: a typo, refused
_LOOKS_LIKE_OPTION = re.compile(r"^(rtn|retain|clean|basic).*|.*opt$")


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name.strip().lower())


def _fail(source: str, where: str, problem: str) -> ProfileError:
    return ProfileError(f"{source}: {where}: {problem}" if where else f"{source}: {problem}")


def _clip(text: str, n: int = 40) -> str:
    return repr(text if len(text) <= n else text[: n - 3] + "...")


@dataclass(frozen=True)
class RawRule:
    """One row of a profile file, as written, with the location of each part.

    ``cells`` maps a column name (``action``, or one of :data:`OPTION_COLUMNS`) to the text of
    that cell (empty when blank or absent) and where it is.
    """

    where: str
    pattern: str
    pattern_where: str
    cells: dict[str, tuple[str, str]]


@dataclass(frozen=True)
class RawSetting:
    """One setting of a profile file, as written: its name (without the CSV ``@``) and value,
    each with where it is."""

    name: str
    where: str
    value: str
    value_where: str


class Parsed(NamedTuple):
    """A profile file, read: its form (``"rules"`` or ``"options"``), rules and settings."""

    form: str
    rules: list[RawRule]
    settings: list[RawSetting]


def setting_values(settings: list[RawSetting], source: str) -> dict[str, Any]:
    """The settings' values (``str``, :class:`Pseudonym` or ``bool``) by canonical name.

    Raises ProfileError at the setting for an unknown name, a setting given twice, or a value
    that is not one the setting takes.
    """
    out: dict[str, Any] = {}
    first: dict[str, str] = {}
    for raw in settings:
        name = _SETTING_NAMES.get(_norm(raw.name))
        if name is None:
            raise _fail(
                source,
                raw.where,
                f"unknown setting {_clip(raw.name)} (the settings are {_SETTINGS_LIST})",
            )
        if name in REPEATED:
            # a pixel rule's text (checked by the engine with the others), or an allow-list
            # entry (checked by dicomveil.ocr.AllowList)
            out.setdefault(name, []).append((raw.value, raw.value_where))
            continue
        if name in out:
            raise _fail(
                source, raw.where, f"setting {name} is given twice (first at {first[name]})"
            )
        first[name] = raw.where
        out[name] = _setting_value(name, raw.value, source, raw.value_where)
    return out


def _setting_value(name: str, value: str, source: str, where: str) -> Any:
    if name in ("patient_name", "patient_id"):
        if value.casefold() == PSEUDONYM:
            return Pseudonym()
        if value.startswith("@"):
            raise _fail(
                source,
                where,
                f"{name}: unknown value {_clip(value)} (a value starting with @ is "
                f"{PSEUDONYM}, a keyed pseudonym)",
            )
        problem = text_problem(value)
        if problem is not None:
            raise _fail(source, where, f"{name} {problem}")
        return value
    if name in ("conform_to_iod", "clean_pixel_data"):
        answer = {"yes": True, "no": False}.get(value.lower())
        if answer is None:
            raise _fail(source, where, f"{name} is yes or no, not {_clip(value)}")
        return answer
    if value.lower() not in ("clean", "keep", "remove"):
        raise _fail(source, where, f"unlisted is clean, keep or remove, not {_clip(value)}")
    return value.lower()


def text_problem(value: str) -> str | None:
    """What keeps ``value`` from being a patient_name or patient_id in a profile file, or
    None: it must be printable ASCII (a control character is no DICOM text either)."""
    if not value.isascii():
        return "must be ASCII (it is written into every character set)"
    bad = next((c for c in value if not " " <= c <= "~"), None)
    if bad is not None:
        return f"has the control character {bad!r}: a value is printable ASCII"
    return None


def _setting_row(pattern: str) -> bool:
    """Is this pattern cell a setting's name (``@patient_name``)?"""
    return pattern.startswith(SETTING_MARK)


@dataclass(frozen=True)
class _Columns:
    """What a header (or a first record's keys) says: the form and which name is which."""

    form: str  # "rules" or "options"
    pattern: str  # the name as written
    names: dict[str, str]  # canonical column -> name as written


def _classify(names: list[str], source: str, where: str, what: str) -> _Columns:
    """Decide the form from column names (CSV header, JSON keys, XML child elements)."""
    seen: dict[str, str] = {}
    pattern = None
    cols: dict[str, str] = {}
    for name in names:
        key = _norm(name)
        if not key:
            continue
        if key in seen:
            raise _fail(source, where, f"{what} {name!r} is given twice (also as {seen[key]!r})")
        seen[key] = name
        if key in _PATTERN_NAMES:
            if pattern is not None:
                raise _fail(source, where, f"two tag pattern {what}s: {pattern!r} and {name!r}")
            pattern = name
        elif key == _ACTION_NAME:
            cols[ACTION_COLUMN] = name
        elif key in _OPTION_NAMES:
            cols[_OPTION_NAMES[key]] = name
        elif _LOOKS_LIKE_OPTION.match(key):
            raise _fail(
                source,
                where,
                f"unknown option {what} {name!r} (the option columns are "
                + ", ".join(OPTION_COLUMNS)
                + ")",
            )
    has_action = ACTION_COLUMN in cols
    options = [c for c in OPTION_COLUMNS if c in cols]
    if has_action and options:
        raise _fail(
            source,
            where,
            f"both an {cols[ACTION_COLUMN]!r} {what} (rule form) and option {what}s "
            f"({', '.join(cols[c] for c in options)}): use one form",
        )
    if pattern is None:
        raise _fail(
            source,
            where,
            f"no tag pattern {what} (expected TagPattern or Tag, with Action or the option "
            f"{what}s {', '.join(OPTION_COLUMNS)}); found "
            + (", ".join(repr(n) for n in names) if names else f"no {what}s"),
        )
    if not has_action and not options:
        raise _fail(
            source,
            where,
            f"no action {what}: expected Action (rule form) or the option {what}s "
            f"{', '.join(OPTION_COLUMNS)}",
        )
    return _Columns("rules" if has_action else "options", pattern, cols)


# ---------------------------------------------------------------------------------------------
# Files and text
# ---------------------------------------------------------------------------------------------


def read_bytes_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a profile file; a missing or unreadable file is a FileAccessError."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise FileAccessError(
            f"{os.fspath(path)}: cannot read the profile: {e.strerror or e}"
        ) from None


def decode(data: bytes, source: str) -> str:
    """Text of a profile file: UTF-8 (a BOM is allowed), or UTF-16 with its BOM."""
    try:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            return data.decode("utf-16")
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _fail(source, "", f"not UTF-8 text (undecodable byte at offset {e.start})") from None


def read_text_file(path: str | os.PathLike[str]) -> str:
    """The text of a profile file (see :func:`decode`)."""
    return decode(read_bytes_file(path), os.fspath(path))


def write_text_file(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` (through a temporary file, then renamed)."""
    target = os.fspath(path)
    tmp = f"{target}.tmp{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, target)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise FileAccessError(f"{target}: cannot write the profile: {e.strerror or e}") from None


# ---------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------


def _strip_comment(line: str) -> str:
    """The line without a ``//`` comment (outside double quotes) and without ``#`` lines."""
    if line.lstrip().startswith("#"):
        return ""
    quoted = False
    i = 0
    while i < len(line):
        c = line[i]
        if c == '"':
            quoted = not quoted
        elif c == "/" and not quoted and line.startswith("//", i):
            return line[:i]
        i += 1
    return line


def _split(line: str, sep: str, source: str, where: str) -> list[str]:
    try:
        rows = list(csv.reader([line], delimiter=sep, quotechar='"', strict=True))
    except csv.Error as e:
        raise _fail(source, where, f"malformed CSV: {e}") from None
    return [f.strip() for f in rows[0]] if rows else []


def _sniff(header: str) -> str:
    """The separator: ``;`` or tab when the header has one, else ``,``."""
    for sep in (";", "\t"):
        if sep in header:
            return sep
    return ","


def read_csv(text: str, source: str) -> Parsed:
    """Parse a CSV profile: its form, rules and settings.

    The first line that is not blank or a comment is the header; its separator (``;``, tab or
    ``,``) is the file's. ``// comment`` ends a line; a line starting with ``#`` is a comment.
    With ``,`` as separator an unquoted pattern such as ``0010,0010`` spans several fields:
    they are joined back when the row has more fields than the header. A row whose pattern
    starts with ``@`` is a setting (``@patient_name;ANONYMOUS``): its value is in the action
    column (``basic_profile`` in the option form), and settings come before the rules.
    """
    text = text.removeprefix("\ufeff")
    lines = io.StringIO(text, newline=None).read().split("\n")
    header: list[str] | None = None
    sep = ";"
    cols: _Columns | None = None
    index: dict[str, int] = {}
    pattern_at = 0
    rules: list[RawRule] = []
    settings: list[RawSetting] = []
    for number, raw in enumerate(lines, start=1):
        line = _strip_comment(raw)
        if not line.strip():
            continue
        where = f"line {number}"
        if header is None:
            sep = _sniff(line)
            header = _split(line, sep, source, where)
            cols = _classify(header, source, where, "column")
            index = {_norm(h): i for i, h in enumerate(header)}
            pattern_at = index[_norm(cols.pattern)]
            if cols.form == "options":
                missing = [c for c in OPTION_COLUMNS if c not in cols.names]
                if missing:
                    raise _fail(source, where, f"missing column(s): {', '.join(missing)}")
            continue
        assert cols is not None
        fields = _split(line, sep, source, where)
        extra = len(fields) - len(header)
        setting = pattern_at < len(fields) and _setting_row(fields[pattern_at])
        if extra > 0 and sep == "," and not setting:
            # "0010,0010" or "(0009,xx10,ACME)" unquoted: put the pattern back together
            fields[pattern_at : pattern_at + extra + 1] = [
                ",".join(fields[pattern_at : pattern_at + extra + 1])
            ]
            extra = 0
        if extra > 0:
            raise _fail(
                source,
                where,
                f"{len(fields)} fields, but the header has {len(header)} (quote a value that "
                f"contains {sep!r})",
            )
        fields += [""] * -extra
        cells = {
            col: (fields[index[_norm(name)]], f"{where} ({name})")
            for col, name in cols.names.items()
        }
        if setting:
            if rules:
                raise _fail(
                    source, where, f"settings come before the rules ({rules[0].where} is a rule)"
                )
            value_column = ACTION_COLUMN if cols.form == "rules" else OPTION_COLUMNS[0]
            others = [cols.names[c] for c, (v, _) in cells.items() if v and c != value_column]
            if others:
                raise _fail(
                    source,
                    where,
                    f"a setting has its value in {cols.names[value_column]!r} only; "
                    f"{', '.join(others)} must be empty",
                )
            value, value_where = cells[value_column]
            settings.append(RawSetting(fields[pattern_at][1:], where, value, value_where))
            continue
        rules.append(RawRule(where, fields[pattern_at], where, cells))
    if cols is None:
        raise _fail(source, "", "empty profile: no header line (expected e.g. TagPattern;Action)")
    return Parsed(cols.form, rules, settings)


def _quote(field: str, sep: str) -> str:
    if (
        any(c in field for c in (sep, '"', "\n", "\r"))
        or "//" in field
        or field.startswith("#")
        or field != field.strip()
    ):
        return '"' + field.replace('"', '""') + '"'
    return field


def write_csv(rules: list[tuple[str, str]], settings: Sequence[tuple[str, str]] = ()) -> str:
    """The rule form as CSV: header ``TagPattern;Action``, a line per setting
    (``@patient_name;ANONYMOUS``), then one rule per line."""
    out = ["TagPattern;Action"]
    out += [f"{SETTING_MARK}{n};{_quote(v, ';')}" for n, v in settings]
    out += [f"{_quote(p, ';')};{_quote(a, ';')}" for p, a in rules]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# JSON
# ---------------------------------------------------------------------------------------------


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def read_json(text: str, source: str) -> Parsed:
    """Parse a JSON profile: an array of objects, one per rule: its form, rules and settings.

    Locations are JSON paths: ``[3].Action`` is the ``Action`` key of the fourth object. An
    object with a ``Setting`` key is a setting (``{"Setting": "patient_name", "Value":
    "ANONYMOUS"}``); settings come before the rules.
    """
    text = text.removeprefix("\ufeff")
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateKey as e:
        raise _fail(source, "", f"an object has the key {str(e)!r} twice") from None
    except json.JSONDecodeError as e:
        where = f"line {e.lineno} column {e.colno}"
        raise _fail(source, where, f"malformed JSON: {e.msg}") from None
    except RecursionError:
        raise _fail(source, "", "malformed JSON: nested too deeply") from None
    if not isinstance(doc, list):
        raise _fail(
            source,
            "",
            f"expected a JSON array of rule objects, found {type(doc).__name__} "
            '(e.g. [{"Tag": "0010,0010", "Action": "Z"}])',
        )
    cols: _Columns | None = None
    first = ""
    rules: list[RawRule] = []
    settings: list[RawSetting] = []
    for i, item in enumerate(doc):
        where = f"[{i}]"
        if not isinstance(item, dict):
            raise _fail(source, where, f"expected an object, found {type(item).__name__}")
        keys = {_norm(k): k for k in item}
        if _SETTING_KEY in keys:
            if rules:
                raise _fail(source, where, f"settings come before the rules ({first} is a rule)")
            settings.append(_json_setting(item, keys, source, where))
            continue
        item_cols = _classify(list(item), source, where, "key")
        if cols is None:
            cols, first = item_cols, where
        elif item_cols.form != cols.form:
            raise _fail(
                source,
                where,
                f"this object is in the {_FORM_NAMES[item_cols.form]} but {first} is in the "
                f"{_FORM_NAMES[cols.form]}",
            )
        if item_cols.form == "options" and "basic_profile" not in item_cols.names:
            raise _fail(source, where, "missing key basic_profile")
        values = {}
        for col, key in [("pattern", item_cols.pattern), *item_cols.names.items()]:
            v = item[key]
            if v is None:
                v = ""
            if not isinstance(v, str):
                raise _fail(
                    source, f"{where}.{key}", f"expected a string, found {type(v).__name__}"
                )
            values[col] = (v.strip(), f"{where}.{key}")
        cells = {c: values[c] for c in item_cols.names}
        rules.append(RawRule(where, values["pattern"][0], values["pattern"][1], cells))
    return Parsed(cols.form if cols else "rules", rules, settings)


def _json_setting(
    item: dict[str, Any], keys: dict[str, str], source: str, where: str
) -> RawSetting:
    """A setting object: ``Setting`` and ``Value``, both strings, and no key of a rule."""
    seen: dict[str, str] = {}
    for key in item:
        if _norm(key) in seen:
            raise _fail(source, where, f"key {key!r} is given twice (also as {seen[_norm(key)]!r})")
        seen[_norm(key)] = key
    rule_keys = [k for n, k in keys.items() if n in _PATTERN_NAMES or n == _ACTION_NAME]
    rule_keys += [k for n, k in keys.items() if n in _OPTION_NAMES]
    if rule_keys:
        raise _fail(
            source,
            where,
            f"an object with a {keys[_SETTING_KEY]!r} key is a setting, and a setting has no "
            f"key of a rule ({', '.join(repr(k) for k in rule_keys)})",
        )
    if _VALUE_KEY not in keys:
        raise _fail(source, where, "missing key Value (the value of the setting)")
    texts = []
    for key in (keys[_SETTING_KEY], keys[_VALUE_KEY]):
        v = item[key]
        if not isinstance(v, str):
            raise _fail(source, f"{where}.{key}", f"expected a string, found {type(v).__name__}")
        texts.append((v.strip(), f"{where}.{key}"))
    (name, name_where), (value, value_where) = texts
    return RawSetting(name, name_where, value, value_where)


_FORM_NAMES = {"rules": "rule form (Tag, Action)", "options": "option form (option columns)"}


def write_json(rules: list[tuple[str, str]], settings: Sequence[tuple[str, str]] = ()) -> str:
    """The rule form as JSON: an array of ``{"Setting": ..., "Value": ...}``, one per setting,
    then of ``{"Tag": ..., "Action": ...}``, one per rule, one per line."""
    items = ["  " + json.dumps({"Setting": n, "Value": v}) for n, v in settings]
    items += ["  " + json.dumps({"Tag": p, "Action": a}, ensure_ascii=False) for p, a in rules]
    return "[\n" + ",\n".join(items) + ("\n" if items else "") + "]\n"


# ---------------------------------------------------------------------------------------------
# XML
# ---------------------------------------------------------------------------------------------


@dataclass
class _Node:
    name: str
    attrs: dict[str, str]
    line: int
    text: list[str]
    children: list[_Node]


class _Builder:
    """A parser target that keeps names, attributes, text, children and line numbers."""

    def __init__(self) -> None:
        self.parser: Any = None
        self.stack: list[_Node] = []
        self.root: _Node | None = None

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        line = self.parser.parser.CurrentLineNumber if self.parser is not None else 0
        node = _Node(tag.rsplit("}", 1)[-1], dict(attrs), line, [], [])
        if self.stack:
            self.stack[-1].children.append(node)
        else:
            self.root = node
        self.stack.append(node)

    def end(self, tag: str) -> None:
        self.stack.pop()

    def data(self, data: str) -> None:
        if self.stack:
            self.stack[-1].text.append(data)

    def close(self) -> _Node | None:
        return self.root


def _xml_tree(data: str | bytes, source: str) -> _Node:
    """The element tree of an XML document, with line numbers, by defusedxml's parser: a
    DOCTYPE (and with it any entity, external or not) is refused."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, XMLParser

    if isinstance(data, str):
        data = data.removeprefix("\ufeff")
    builder = _Builder()
    parser = XMLParser(target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    builder.parser = parser
    try:
        parser.feed(data)
        parser.close()
        root = builder.close()
    except ParseError as e:
        line, col = getattr(e, "position", (0, 0))
        msg = str(e).split(":", 1)[0]
        raise _fail(source, f"line {line} column {col + 1}", f"malformed XML: {msg}") from None
    except DefusedXmlException:
        raise _fail(
            source,
            "",
            "a DOCTYPE (DTD) is not allowed in a profile: no entities, internal or external",
        ) from None
    if root is None:
        raise _fail(source, "", "empty XML document")
    return root


def read_xml(data: str | bytes, source: str) -> Parsed:
    """Parse an XML profile: its form, rules and settings.

    The root element (any name) holds one element per rule (any name but ``setting``, e.g.
    ``item``); a rule's tag pattern and actions are its child elements (``<tag>``,
    ``<action>`` or the option columns) or its attributes. Locations are ``item[4] (line
    17)``: the fourth rule element. A ``<setting name="patient_name">ANONYMOUS</setting>``
    element is a setting; settings come before the rules.
    The parser is defusedxml's: DOCTYPE declarations (and with them entities, external or
    not) are refused.
    """
    root = _xml_tree(data, source)
    if "".join(root.text).strip():
        raise _fail(
            source,
            f"{root.name} (line {root.line})",
            "text directly inside the root element: each rule is an element such as "
            "<item><tag>0010,0010</tag><action>Z</action></item>",
        )
    cols: _Columns | None = None
    first = ""
    counts: dict[str, int] = {}
    rules: list[RawRule] = []
    settings: list[RawSetting] = []
    for node in root.children:
        counts[node.name] = counts.get(node.name, 0) + 1
        where = f"{node.name}[{counts[node.name]}] (line {node.line})"
        if _norm(node.name) == _SETTING_KEY:
            if rules:
                raise _fail(source, where, f"settings come before the rules ({first} is a rule)")
            settings.append(_xml_setting(node, source, where))
            continue
        fields: dict[str, tuple[str, str]] = {}
        for k, v in node.attrs.items():
            fields[k] = (v.strip(), f"{where} @{k}")
        for child in node.children:
            cwhere = f"{node.name}[{counts[node.name]}]/{child.name} (line {child.line})"
            if child.children:
                raise _fail(source, cwhere, "expected text, found child elements")
            if child.name in fields or any(_norm(child.name) == _norm(k) for k in fields):
                raise _fail(source, cwhere, f"<{child.name}> is given twice")
            fields[child.name] = ("".join(child.text).strip(), cwhere)
        if "".join(node.text).strip():
            raise _fail(
                source,
                where,
                "text directly inside a rule element: put it in <tag> and <action> elements",
            )
        item_cols = _classify(list(fields), source, where, "element")
        if cols is None:
            cols, first = item_cols, f"{node.name}[{counts[node.name]}]"
        elif item_cols.form != cols.form:
            raise _fail(
                source,
                where,
                f"this element is in the {_FORM_NAMES[item_cols.form]} but {first} is in "
                f"the {_FORM_NAMES[cols.form]}",
            )
        if item_cols.form == "options" and "basic_profile" not in item_cols.names:
            raise _fail(source, where, "missing element <basic_profile>")
        pattern, pwhere = fields[item_cols.pattern]
        cells = {c: fields[name] for c, name in item_cols.names.items()}
        rules.append(RawRule(where, pattern, pwhere, cells))
    return Parsed(cols.form if cols else "rules", rules, settings)


def _xml_setting(node: _Node, source: str, where: str) -> RawSetting:
    """A ``<setting name="...">value</setting>`` element: a name attribute, text, nothing
    else."""
    if node.children:
        child = node.children[0]
        raise _fail(
            source,
            where,
            f"a setting holds its value as text, not elements (<{child.name}>, line "
            f'{child.line}): <setting name="patient_name">ANONYMOUS</setting>',
        )
    names = [k for k in node.attrs if _norm(k) == "name"]
    others = [k for k in node.attrs if _norm(k) != "name"]
    if others:
        raise _fail(
            source,
            where,
            "a setting has a name attribute only, not "
            + ", ".join(repr(k) for k in others)
            + ': <setting name="patient_name">ANONYMOUS</setting>',
        )
    if not names:
        raise _fail(
            source,
            where,
            'a setting needs its name attribute: <setting name="patient_name">ANONYMOUS</setting>',
        )
    name = node.attrs[names[0]].strip()
    return RawSetting(name, f"{where} @{names[0]}", "".join(node.text).strip(), where)


def _not_xml_char(c: str) -> bool:
    """Characters XML 1.0 cannot hold (its Char production)."""
    n = ord(c)
    return not (
        c in "\t\n\r" or 0x20 <= n <= 0xD7FF or 0xE000 <= n <= 0xFFFD or 0x10000 <= n <= 0x10FFFF
    )


def _xml_text(text: str, what: str = "pattern") -> str:
    bad = next((c for c in text if _not_xml_char(c)), None)
    if bad is not None:
        raise ProfileError(f"{what} {_clip(text)}: character {bad!r} cannot be written in XML")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_xml(rules: list[tuple[str, str]], settings: Sequence[tuple[str, str]] = ()) -> str:
    """The rule form as XML: ``<root><setting name="..">..</setting>...<item><tag>..</tag>
    <action>..</action></item>...``."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<root>"]
    out += [f'  <setting name="{n}">{_xml_text(v, n)}</setting>' for n, v in settings]
    out += [
        f"  <item><tag>{_xml_text(p)}</tag><action>{_xml_text(a)}</action></item>" for p, a in rules
    ]
    out.append("</root>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# RSNA CTP DicomAnonymizer scripts
# ---------------------------------------------------------------------------------------------

#: A part of a CTP script: (kind: p, e, k or r; t; enabled; text; location).
ScriptItem = tuple[str, str, bool, str, str]


def read_ctp(data: str | bytes, source: str) -> list[ScriptItem]:
    """The parts of an RSNA CTP DicomAnonymizer script (``<script>`` holding ``<p t>``
    parameters, ``<e en t n>`` elements, ``<k en t>`` keeps and ``<r en t>`` removals), in
    order, each with its line, by the same XML parser as every profile (defusedxml). The
    function language of the elements is the engine's to read (``_core.ctp_script``).
    Elements other than these four are refused, as is an ``en`` other than ``T`` or ``F``."""
    root = _xml_tree(data, source)
    if root.name != "script":
        raise _fail(
            source, f"{root.name} (line {root.line})", "a CTP script's root element is <script>"
        )
    items: list[ScriptItem] = []
    for node in root.children:
        where = f"line {node.line} (<{node.name}"
        t = node.attrs.get("t", "").strip()
        where += f' t="{t[:24]}">)' if t else ">)"
        if node.name not in ("p", "e", "k", "r"):
            raise _fail(source, where, f"unknown element <{node.name}> (expected p, e, k or r)")
        if node.children:
            raise _fail(source, where, "expected text, found child elements")
        if not t:
            raise _fail(source, where, f"<{node.name}> without its t attribute")
        # as CTP reads it: a parameter is always on, anything else only with en="T"
        en = node.attrs.get("en", "T" if node.name == "p" else "F").strip()
        if en not in ("T", "F"):
            raise _fail(source, where, f'en must be "T" or "F", not {_clip(en)!r}')
        items.append((node.name, t, en == "T", "".join(node.text), where))
    return items


#: The formats ``--profile-format`` names.
FORMATS: tuple[str, ...] = ("ctp", "deid", "kitware", "csv", "json", "xml")


def detect_format(text: str) -> str:
    """The format of a profile file, from its content: ``ctp`` (XML whose root is
    ``<script>``), ``xml`` (other XML), ``json`` (a JSON list), ``kitware`` (a JSON object:
    Kitware dicom-anonymizer's rules), ``deid`` (a pydicom/deid recipe: a ``FORMAT dicom``
    line first), else ``csv``."""
    body = text.lstrip("\ufeff \t\r\n")
    if body.startswith("<"):
        import re

        # after the declaration, comments and processing instructions: the root's name
        rest = re.sub(r"^(\s*(<\?.*?\?>|<!--.*?-->))*\s*", "", body, flags=re.S)
        return "ctp" if re.match(r"<script[\s>/]", rest) else "xml"
    if body.startswith("["):
        return "json"
    if body.startswith("{"):
        return "kitware"
    for line in body.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return "deid" if line.upper().startswith("FORMAT ") else "csv"
    return "csv"
