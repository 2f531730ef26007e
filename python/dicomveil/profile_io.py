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
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from .errors import FileAccessError, ProfileError

__all__ = [
    "ACTION_COLUMN",
    "OPTION_COLUMNS",
    "RawRule",
    "decode",
    "read_csv",
    "read_json",
    "read_text_file",
    "read_bytes_file",
    "read_xml",
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


def read_csv(text: str, source: str) -> tuple[str, list[RawRule]]:
    """Parse a CSV profile: (form, rows).

    The first line that is not blank or a comment is the header; its separator (``;``, tab or
    ``,``) is the file's. ``// comment`` ends a line; a line starting with ``#`` is a comment.
    With ``,`` as separator an unquoted pattern such as ``0010,0010`` spans several fields:
    they are joined back when the row has more fields than the header.
    """
    text = text.removeprefix("\ufeff")
    lines = io.StringIO(text, newline=None).read().split("\n")
    header: list[str] | None = None
    sep = ";"
    cols: _Columns | None = None
    index: dict[str, int] = {}
    pattern_at = 0
    rules: list[RawRule] = []
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
        if extra > 0 and sep == ",":
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
        rules.append(RawRule(where, fields[pattern_at], where, cells))
    if cols is None:
        raise _fail(source, "", "empty profile: no header line (expected e.g. TagPattern;Action)")
    return cols.form, rules


def _quote(field: str, sep: str) -> str:
    if (
        any(c in field for c in (sep, '"', "\n", "\r"))
        or "//" in field
        or field.startswith("#")
        or field != field.strip()
    ):
        return '"' + field.replace('"', '""') + '"'
    return field


def write_csv(rules: list[tuple[str, str]]) -> str:
    """The rule form as CSV: header ``TagPattern;Action``, one rule per line."""
    out = ["TagPattern;Action"]
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


def read_json(text: str, source: str) -> tuple[str, list[RawRule]]:
    """Parse a JSON profile: an array of objects, one per rule: (form, rows).

    Locations are JSON paths: ``[3].Action`` is the ``Action`` key of the fourth object.
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
    rules: list[RawRule] = []
    for i, item in enumerate(doc):
        where = f"[{i}]"
        if not isinstance(item, dict):
            raise _fail(source, where, f"expected an object, found {type(item).__name__}")
        item_cols = _classify(list(item), source, where, "key")
        if cols is None:
            cols = item_cols
        elif item_cols.form != cols.form:
            raise _fail(
                source,
                where,
                f"this object is in the {_FORM_NAMES[item_cols.form]} but [0] is in the "
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
    return (cols.form if cols else "rules"), rules


_FORM_NAMES = {"rules": "rule form (Tag, Action)", "options": "option form (option columns)"}


def write_json(rules: list[tuple[str, str]]) -> str:
    """The rule form as JSON: an array of ``{"Tag": ..., "Action": ...}``, one per line."""
    items = ["  " + json.dumps({"Tag": p, "Action": a}, ensure_ascii=False) for p, a in rules]
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


def read_xml(data: str | bytes, source: str) -> tuple[str, list[RawRule]]:
    """Parse an XML profile: (form, rows).

    The root element (any name) holds one element per rule (any name, e.g. ``item``); a rule's
    tag pattern and actions are its child elements (``<tag>``, ``<action>`` or the option
    columns) or its attributes. Locations are ``item[4] (line 17)``: the fourth rule element.
    The parser is defusedxml's: DOCTYPE declarations (and with them entities, external or
    not) are refused.
    """
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
    if "".join(root.text).strip():
        raise _fail(
            source,
            f"{root.name} (line {root.line})",
            "text directly inside the root element: each rule is an element such as "
            "<item><tag>0010,0010</tag><action>Z</action></item>",
        )
    cols: _Columns | None = None
    counts: dict[str, int] = {}
    rules: list[RawRule] = []
    for node in root.children:
        counts[node.name] = counts.get(node.name, 0) + 1
        where = f"{node.name}[{counts[node.name]}] (line {node.line})"
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
            cols = item_cols
        elif item_cols.form != cols.form:
            first = next(iter(counts))
            raise _fail(
                source,
                where,
                f"this element is in the {_FORM_NAMES[item_cols.form]} but {first}[1] is in "
                f"the {_FORM_NAMES[cols.form]}",
            )
        if item_cols.form == "options" and "basic_profile" not in item_cols.names:
            raise _fail(source, where, "missing element <basic_profile>")
        pattern, pwhere = fields[item_cols.pattern]
        cells = {c: fields[name] for c, name in item_cols.names.items()}
        rules.append(RawRule(where, pattern, pwhere, cells))
    return (cols.form if cols else "rules"), rules


def _not_xml_char(c: str) -> bool:
    """Characters XML 1.0 cannot hold (its Char production)."""
    n = ord(c)
    return not (
        c in "\t\n\r" or 0x20 <= n <= 0xD7FF or 0xE000 <= n <= 0xFFFD or 0x10000 <= n <= 0x10FFFF
    )


def _xml_text(text: str) -> str:
    bad = next((c for c in text if _not_xml_char(c)), None)
    if bad is not None:
        raise ProfileError(f"pattern {_clip(text)}: character {bad!r} cannot be written in XML")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_xml(rules: list[tuple[str, str]]) -> str:
    """The rule form as XML: ``<root><item><tag>..</tag><action>..</action></item>...``."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>', "<root>"]
    out += [
        f"  <item><tag>{_xml_text(p)}</tag><action>{_xml_text(a)}</action></item>" for p, a in rules
    ]
    out.append("</root>")
    return "\n".join(out) + "\n"
