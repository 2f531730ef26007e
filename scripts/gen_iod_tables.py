"""Generate the IOD tables (PS3.3 module tables as data) that the engine embeds.

The source is the PyPI package ``dicom-standard`` 0.1.0 (Innolitics, MIT licence): DICOM PS3.3
parsed into JSON, scraped from the "current" web edition on 2020-04-07. Its wheel carries the
JSON files in ``dicom_standard-0.1.0.data/data/standard/``; this script reads eight of them:

- ``sops.json``: SOP Class UID -> name of its Composite IOD (CIOD);
- ``ciods.json``: CIOD names -> ids;
- ``ciod_to_modules.json``: CIOD -> modules, each with its usage (M, C or U);
- ``ciod_to_fg_macros.json``: enhanced CIOD -> functional group macros, each with its usage;
- ``module_to_attributes.json`` and ``macro_to_attributes.json``: module or macro -> its
  attributes with their type (1, 1C, 2, 2C, 3) and their ``path``, e.g.
  ``general-study:00080096:00401101:00080100`` (the module id, then the tags from the top of the
  module down through the sequences that hold the attribute). The macros that a module table
  includes are already expanded there, recursively (Code Sequence macros and so on); the
  functional group macros are not: they are listed per CIOD and apply inside the items of the
  Shared and Per-frame Functional Groups Sequences (5200,9229) and (5200,9230). Each row also
  has the attribute's ``description`` (the HTML of the table cell) and the ``externalReferences``
  it links to;
- ``attributes.json``: the data dictionary (PS3.6), for the VR of each tag;
- ``references.json``: the HTML of the sections of PS3.3 that the rows link to, by URL.

Term lists. For each attribute of VR CS, the terms that PS3.3 lists under "Enumerated Values"
or "Defined Terms", so that the engine can write a dummy that the IOD accepts and tell a value
that is one of the standard's terms. Read from:

1. the description: each ``<strong>`` label ``Enumerated Values:``, ``Defined Terms:`` and
   their variants (``Enumerated Values for Value 1:``, ``Value 1 Enumerated Values:``,
   ``Defined Terms if Execution Status (2100,0020) is DONE ...:``, ``Retired Defined Terms:``,
   no colon, any case), followed by a ``<dl>`` whose ``<dt>`` are the terms. This is the only
   shape the source has (866 labels in the descriptions of CS attributes, every one followed by
   its ``<dl>``, every ``<dt>`` one ``<span>``); a label that is not followed by a list stops
   the script. A label "... for <another attribute> (gggg,eeee)" is skipped.
2. when the description has none: the sections it links to (``references.json``, each without
   its subsections) whose title is the attribute's name ("C.7.3.1.1.1 Modality") or that the
   description names as holding the terms ("See Section C.7.3.1.1.2 for Defined Terms"). There
   the same labelled lists, and the tables with a column headed "Enumerated Value(s) [Name]" or
   "Defined Term(s) [Name]" (Pixel Presentation, Specific Character Set: the cells of that
   column, a cell spanning rows read once); in a section that holds a module or macro table,
   only the row of the attribute's tag.

The lists of one attribute are joined, in order of appearance, each term once; whitespace
runs are one space and ends stripped; a term that is not a valid CS value (``A-Z 0-9 _`` and
space, at most 16 characters) is left out: in this source only "none" (the default repertoire
row of Specific Character Set's table) and "BIN_i" (Film Destination's pattern for BIN_1,
BIN_2, ...). The kind is E (Enumerated Values) when any list joined is, else D (Defined Terms),
with V appended when a list is given per value of a multi-valued attribute: a label "for Value
N" or "Value N ...", a list in a list item that starts "Value N" (Image Type, C.7.6.1.1.2), or
after a paragraph that ends "for Value N:". Then a term is valid at its own position only, and
the joined list of Image Type holds the terms of Values 1 and 2 (ORIGINAL, DERIVED, PRIMARY,
SECONDARY), which no single value takes. Where one path of a module is listed twice, the list
goes with the stronger type (the first at equal), as the engine merges modules (src/iod.rs).

In this source, of the 7208 CS attributes of the modules and macros written (each module or
macro and path once), 5193 get a list; of the 2015 others, 1931 are Context Identifier
(0008,010F) in code items (it names a context group). Of 543 distinct CS tags, 525 have a list
somewhere. Of the descriptions, 861 give their terms, 105 get them from a linked section, 86
get none. Not captured:

- values written in prose ("Enumerated Value: MONOCHOME2", "Only MONOCHROME2 may be used",
  "Value 1 shall be DERIVED. Value 2 shall be PRIMARY");
- terms given by reference to another attribute ("the same as for Bounding Box Annotation
  Units (0070,0003)", Frame Type "the same as those for the four values of Image Type",
  several print management attributes) or to another Part (PS3.5's VRs, PS3.16 Annex L for
  Body Part Examined, HL7 Table 0203);
- sections missing from ``references.json`` (C.7.6.16.2.24.1 Data Type, ...) or whose title is
  not the attribute's name and that the description does not name for the terms ("Image Type
  and Frame Type", C.8.16.1; "See Section C.8.9.4.1.1 for specialization" is followed, for its
  title is "Image Type");
- attributes with no list in PS3.3 at all: free Code Strings (Patient Orientation, Content
  Label, Graphic Layer, Template Identifier, Context Identifier, Selector CS Value, ...);
- attributes whose VR is not CS, whatever their description lists (US values such as 0001H).

It writes ``python/dicomveil/data/iod_2020.tsv``, which the engine includes at compile time
(src/iod.rs). Run from anywhere, with the folder that holds the JSON files:

    python scripts/gen_iod_tables.py PATH/TO/dicom_standard-0.1.0.data/data/standard

or let it download the wheel with pip into a temporary folder (needs PyPI):

    python scripts/gen_iod_tables.py --download

The output is deterministic: the same source gives the same bytes.

Format of the output (tab-separated, one record a line, after the header line that starts with
``#``). Each attribute tree (the items of a sequence, a module, a functional group macro) is a
"body"; identical bodies are written once (the Code Sequence macro is included thousands of
times in the source), and a body only refers to bodies written before it:

- ``T <id> <kind> <term> <term> ...``: term list ``id`` (0, 1, 2, ... in order), kind ``E``,
  ``D``, ``EV`` or ``DV`` (see above), then its terms, at least one, each a CS value (no tab).
  Identical lists are written once; all come before the first body.
- ``B <id> <entry> <entry> ...``: body ``id`` (0, 1, 2, ... in order); an entry is
  ``GGGGEEEE=T``, then ``>id`` for a sequence, then ``~id`` for an attribute with a term list
  (``00100040=2~7``, ``00081110=3>12``), where ``T`` is the type (1, 1C, 2, 2C, 3, or ``-``
  when the source gives none), ``>id`` is the body of the items of that sequence and ``~id``
  the term list. A repeating group is written with ``xx`` (``60xx3000``: any overlay group
  6000-601E).
- ``M <module id> <body id>`` and ``F <macro id> <body id>``: a module, a functional group macro.
- ``I <ciod id> <ciod name> <usage><module>,<usage><module>,... <usage><macro>,...``: a CIOD,
  its modules and its functional group macros (the last field is empty for an IOD without
  functional groups), usage one letter M, C or U.
- ``S <SOP Class UID> <ciod id>``.
"""

from __future__ import annotations

import argparse
import glob
import html
import json
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "python" / "dicomveil" / "data" / "iod_2020.tsv"
PACKAGE = "dicom-standard==0.1.0"
HEADER = (
    "# Generated by scripts/gen_iod_tables.py from PyPI dicom-standard 0.1.0 (DICOM PS3.3"
    " module and macro tables as published on 2020-04-07, parsed by Innolitics, MIT licence);"
    " do not edit."
)
TYPES = {"1", "1C", "2", "2C", "3"}
# When one path is listed twice with different types (the source repeats a few SR paths),
# keep the stronger: the one whose fulfilment satisfies the other.
STRENGTH = {"1": 5, "1C": 4, "2": 3, "2C": 2, "3": 1, "-": 0}
# The engine keeps a term list's index in 16 bits (src/iod.rs, Slot).
MAX_TERM_LISTS = 0xFFFE


def load(src: Path, name: str) -> list[dict]:
    with open(src / name, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, list):
        raise SystemExit(f"{name}: expected a JSON list")
    return data


def load_dict(src: Path, name: str) -> dict[str, str]:
    with open(src / name, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise SystemExit(f"{name}: expected a JSON object of strings")
    return data


# ---------------------------------------------------------------------------------------------
# Term lists: the Enumerated Values and Defined Terms of a CS attribute, read from the HTML of
# its description (and of the section that the description sends the reader to).

# (kind, terms): kind "E" or "D", with "V" appended when the list is given per value.
TermList = tuple[str, tuple[str, ...]]

VALID_TERM = re.compile(r"[A-Z0-9 _]{1,16}")  # a CS value (PS3.5 6.2)
LABEL = re.compile(
    r"(?P<value>values?\s+\d+\s+)?(?:retired\s+)?"
    r"(?P<kind>enumerated\s+values?|defined\s+terms?)\b(?P<rest>.*)",
    re.I | re.S,
)
TAG_IN_TEXT = r"\(([0-9a-f]{4}),([0-9a-f]{4})\)"
SUBJECT = re.compile(r"\s*(?:for|of)\s+[^()]*?" + TAG_IN_TEXT, re.I)
FOR_VALUE = re.compile(r"\s*for\s+(?:[^():]*\s)?values?\s+\d", re.I)
VALUE_N = re.compile(r"values?\s+\d", re.I)
ENDS_WITH_VALUE_N = re.compile(r"\bfor\s+values?\s+\d+\s*:$", re.I)
HEADER_CELL = re.compile(r"(enumerated\s+values?|defined\s+terms?)(?:\s+name)?", re.I)
TAG_CELL = re.compile(TAG_IN_TEXT, re.I)
MENTION = re.compile(r"enumerated\s+values?|defined\s+terms?", re.I)
SECTION_HEADING = re.compile(r"<h[1-6]>\s*(?:[A-Z]\.)?\d+(?:\.\d+)*\s")
VOID_ELEMENTS = {"area", "br", "col", "hr", "img", "input", "link", "meta", "source", "wbr"}


class Element:
    """An HTML element: enough of a DOM for the source's small fragments."""

    __slots__ = ("tag", "attrs", "children", "parent")

    def __init__(self, tag: str, parent: Element | None, attrs: dict[str, str | None]) -> None:
        self.tag = tag
        self.attrs = attrs
        self.children: list[Element | str] = []
        self.parent = parent

    def elements(self) -> list[Element]:
        return [c for c in self.children if isinstance(c, Element)]

    def walk(self) -> Iterator[Element]:
        for c in self.children:
            if isinstance(c, Element):
                yield c
                yield from c.walk()

    def text(self) -> str:
        """The text, whitespace runs (no-break spaces too) made one space, ends stripped."""
        parts: list[str] = []
        stack: list[Element | str] = [self]
        while stack:
            node = stack.pop()
            if isinstance(node, str):
                parts.append(node)
            else:
                stack.extend(reversed(node.children))
        return " ".join("".join(parts).split())

    def next_element(self) -> Element | None:
        """The next sibling element, when only whitespace stands between."""
        if self.parent is None:
            return None
        siblings = self.parent.children
        for c in siblings[siblings.index(self) + 1 :]:
            if isinstance(c, Element):
                return c
            if c.strip():
                return None
        return None


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#root", None, {})
        self.current = self.root

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, self.current, dict(attrs))
        self.current.children.append(element)
        if tag not in VOID_ELEMENTS:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Element(tag, self.current, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        element: Element | None = self.current
        while element is not None and element.tag != tag:
            element = element.parent
        if element is not None and element.parent is not None:
            self.current = element.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


def parse_html(text: str) -> Element:
    builder = _Builder()
    builder.feed(text)
    builder.close()
    return builder.root


def own_part(section: str) -> str:
    """A referenced section's HTML without its subsections (cut at the second numbered
    heading, with the <div>s that open it)."""
    headings = list(SECTION_HEADING.finditer(section))
    if len(headings) < 2:
        return section
    cut = headings[1].start()
    opening = re.search(r"(?:<div>\s*)+$", section[:cut])
    return section[: opening.start() if opening else cut]


def heading_of(section: str) -> str:
    """The title of a section, without its number: "Modality" for C.7.3.1.1.1."""
    m = SECTION_HEADING.search(section)
    if not m:
        return ""
    end = section.find("</h", m.end())
    return " ".join(html.unescape(section[m.end() : end]).split())


def tag_of(m: re.Match[str]) -> str:
    return (m.group(1) + m.group(2)).lower()


class Terms:
    """The term lists of the CS attributes of the source's module and macro tables."""

    def __init__(self, attributes: list[dict], references: dict[str, str]) -> None:
        self.vr = {a["id"].lower(): a["valueRepresentation"] for a in attributes}
        self.name = {a["id"].lower(): " ".join(a["name"].split()) for a in attributes}
        self.references = references
        self.cache: dict[tuple, TermList | None] = {}
        self.sections: dict[str, Element] = {}

    def of(self, row: dict, tag: str, owner: str) -> TermList | None:
        """The term list of a module or macro row, or None (not CS, or no list found)."""
        vr = self.vr.get(tag)
        if vr is None:
            raise SystemExit(f"{owner}: {row['path']!r}: no VR for {tag} in attributes.json")
        if vr != "CS":
            return None
        refs = tuple(
            (" ".join(r["title"].split()), r["sourceUrl"])
            for r in row.get("externalReferences", [])
        )
        key = (tag, row["description"], refs)
        if key not in self.cache:
            self.cache[key] = self.extract(
                tag, row["description"], refs, f"{owner}: {row['path']!r}"
            )
        return self.cache[key]

    def extract(self, tag: str, description: str, refs: tuple, where: str) -> TermList | None:
        lists = self.lists_in(parse_html(description), tag, where)
        if not lists:
            text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", description)).split())
            for title, url in refs:
                section = self.references.get(url)
                if section is None:
                    continue
                named = heading_of(section).lower() == self.name[tag].lower()
                sent = MENTION.search(text) and re.search(
                    re.escape(title)
                    + r" for (?:a description and )?(?:enumerated values|defined terms)",
                    text,
                    re.I,
                )
                if named or (sent and title.startswith("Section")):
                    if url not in self.sections:
                        self.sections[url] = parse_html(own_part(section))
                    lists += self.lists_in(self.sections[url], tag, f"{where} -> {title}", True)
        if not lists:
            return None
        kind = "E" if any(k == "E" for k, _, _ in lists) else "D"
        if any(per_value for _, per_value, _ in lists):
            kind += "V"
        values: dict[str, None] = {}
        for _, _, terms in lists:
            for term in terms:
                if VALID_TERM.fullmatch(term):
                    values[term] = None
        return (kind, tuple(values)) if values else None

    def lists_in(
        self, root: Element, tag: str, where: str, section: bool = False
    ) -> list[tuple[str, bool, list[str]]]:
        """The term lists in a fragment that apply to `tag`: (kind, per value, terms)."""
        if section:
            rows = attribute_rows(root)
            if rows:  # a module or macro table: the lists of the row of `tag` only
                return [x for tr in rows.get(tag, []) for x in self.lists_in(tr, tag, where)]
        found = []
        for element in root.walk():
            if element.tag == "strong":
                label = element.text()
                m = LABEL.fullmatch(label)
                if not m:
                    continue
                subject = SUBJECT.match(m.group("rest"))
                if subject and tag_of(subject) != tag:
                    continue  # the terms of another attribute
                p = element.parent
                dl = p.next_element() if p is not None and p.tag == "p" else None
                if dl is None or dl.tag != "dl":
                    raise SystemExit(f"{where}: {label!r} is not followed by a list of terms")
                kind = "E" if m.group("kind").lower().startswith("enum") else "D"
                per_value = (
                    bool(m.group("value"))
                    or bool(FOR_VALUE.match(m.group("rest")))
                    or in_value_item(element)
                    or after_for_value(p)
                )
                found.append(
                    (kind, per_value, [dt.text() for dt in dl.elements() if dt.tag == "dt"])
                )
            elif element.tag == "table" and section:
                got = table_terms(element, tag)
                if got is not None:
                    found.append(got)
        return found


def attribute_rows(root: Element) -> dict[str, list[Element]]:
    """The rows of the module or macro tables in a fragment, by the tag in their Tag cell."""
    rows: dict[str, list[Element]] = {}
    for element in root.walk():
        if element.tag == "tr":
            for cell in element.elements():
                m = TAG_CELL.fullmatch(cell.text()) if cell.tag == "td" else None
                if m:
                    rows.setdefault(tag_of(m), []).append(element)
                    break
    return rows


def in_value_item(element: Element) -> bool:
    """Whether the element is in a list item that starts "Value N" (Image Type's Value 1 is
    one of ..., Value 2 one of ...)."""
    node = element
    while node.parent is not None:
        parent = node.parent
        if parent.tag == "li":
            before = []
            for c in parent.children:
                if c is node:
                    break
                before.append(c.text() if isinstance(c, Element) else c)
            if VALUE_N.match(" ".join(" ".join(before).split())):
                return True
        node = parent
    return False


def previous_paragraph(box: Element | None) -> str:
    """The text of the <p> just before `box` among its parent's elements, or ""."""
    if box is None or box.parent is None:
        return ""
    siblings = box.parent.elements()
    i = siblings.index(box)
    return siblings[i - 1].text() if i > 0 and siblings[i - 1].tag == "p" else ""


def after_for_value(p: Element | None) -> bool:
    """Whether the paragraph before the label's box ends "... for Value N:"."""
    box = p.parent if p is not None else None
    return bool(ENDS_WITH_VALUE_N.search(previous_paragraph(box)))


def table_terms(table: Element, tag: str) -> tuple[str, bool, list[str]] | None:
    """The terms of a table whose column is headed "Enumerated Value(s) [Name]" or "Defined
    Term(s) [Name]", cells spanning rows read once; None for another table, or one whose
    caption gives it to another attribute."""
    rows = [e for e in table.walk() if e.tag == "tr"]
    if not rows:
        return None
    column, kind, x = None, "D", 0
    for cell in (c for c in rows[0].elements() if c.tag in ("th", "td")):
        m = HEADER_CELL.fullmatch(cell.text())
        if m:
            column, kind = x, ("E" if m.group(1).lower().startswith("enum") else "D")
            break
        x += int(cell.attrs.get("colspan") or 1)
    if column is None:
        return None
    per_value = False
    caption = previous_paragraph(table.parent)  # "Table C.12-2. Defined Terms for ..."
    if caption:
        subject = re.search(r"(?:for|of)\s+[^()]*?" + TAG_IN_TEXT, caption, re.I)
        if subject and tag_of(subject) != tag:
            return None
        per_value = bool(re.search(r"\)\s+values?\s+\d", caption, re.I))
    terms = []
    pending: dict[int, int] = {}  # column -> rows still covered by a cell above
    for tr in rows[1:]:
        cells = [c for c in tr.elements() if c.tag in ("th", "td")]
        x = 0
        for cell in cells:
            while pending.get(x):
                pending[x] -= 1
                x += 1
            span_rows = int(cell.attrs.get("rowspan") or 1)
            span_cols = int(cell.attrs.get("colspan") or 1)
            if x == column:
                terms.append(cell.text())
            for k in range(span_cols):
                if span_rows > 1:
                    pending[x + k] = span_rows - 1
            x += span_cols
        for k in list(pending):  # covered columns right of the last cell
            if k >= x and pending[k]:
                pending[k] -= 1
    return kind, per_value, terms


class Node:
    __slots__ = ("type", "children", "terms", "terms_strength")

    def __init__(self) -> None:
        self.type = "-"
        self.children: dict[str, Node] = {}
        self.terms: TermList | None = None
        self.terms_strength = -1


def tree(rows: list[dict], owner_key: str, owner: str, terms: Terms) -> Node:
    """The attribute tree of one module or macro, children in the source's order."""
    root = Node()
    for row in rows:
        parts = row["path"].split(":")
        if parts[0] != owner or len(parts) < 2:
            raise SystemExit(f"{owner_key} {owner}: unexpected path {row['path']!r}")
        tags = [p.lower() for p in parts[1:]]
        for tag in tags:
            if len(tag) != 8 or any(c not in "0123456789abcdefx" for c in tag):
                raise SystemExit(f"{owner}: unexpected tag {tag!r} in {row['path']!r}")
        expect = row["tag"].lower().replace("(", "").replace(")", "").replace(",", "")
        if tags[-1] != expect:
            raise SystemExit(f"{owner}: path {row['path']!r} does not end in {row['tag']!r}")
        node = root
        for tag in tags:
            node = node.children.setdefault(tag, Node())
        kind = row["type"]
        kind = "-" if kind == "None" else kind
        if kind != "-" and kind not in TYPES:
            raise SystemExit(f"{owner}: unexpected type {kind!r} at {row['path']!r}")
        if STRENGTH[kind] > STRENGTH[node.type]:
            node.type = kind
        # a path listed twice: the terms of the stronger row that has some, the first at equal
        found = terms.of(row, tags[-1], owner)
        if found is not None and STRENGTH[kind] > node.terms_strength:
            node.terms, node.terms_strength = found, STRENGTH[kind]
    return root


class Bodies:
    """Interned bodies and term lists, each numbered in the order it is first written (the
    children of a body and its term lists before it)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.lines: list[str] = []
        self.term_ids: dict[TermList, int] = {}
        self.term_lines: list[str] = []

    def terms(self, terms: TermList) -> int:
        found = self.term_ids.get(terms)
        if found is None:
            found = self.term_ids[terms] = len(self.term_lines)
            kind, values = terms
            self.term_lines.append("\t".join(["T", str(found), kind, *values]))
        return found

    def intern(self, node: Node) -> int:
        entries = []
        for tag, child in node.children.items():
            entry = f"{tag.upper().replace('XX', 'xx')}={child.type}"
            if child.children:
                entry += f">{self.intern(child)}"
            if child.terms is not None:
                entry += f"~{self.terms(child.terms)}"
            entries.append(entry)
        key = "\t".join(entries)
        found = self.ids.get(key)
        if found is not None:
            return found
        n = len(self.lines)
        self.ids[key] = n
        self.lines.append(f"B\t{n}\t{key}" if key else f"B\t{n}")
        return n


def generate(src: Path) -> str:
    sops = load(src, "sops.json")
    ciods = load(src, "ciods.json")
    ciod_modules = load(src, "ciod_to_modules.json")
    ciod_macros = load(src, "ciod_to_fg_macros.json")
    module_rows = load(src, "module_to_attributes.json")
    macro_rows = load(src, "macro_to_attributes.json")
    terms = Terms(load(src, "attributes.json"), load_dict(src, "references.json"))

    ciod_id = {c["name"]: c["id"] for c in ciods}
    ciod_name = {c["id"]: c["name"] for c in ciods}
    sop_lines = []
    used: set[str] = set()
    for sop in sorted(sops, key=lambda s: s["id"]):
        cid = ciod_id.get(sop["ciod"])
        if cid is None:
            raise SystemExit(f"sops.json: {sop['id']}: unknown CIOD {sop['ciod']!r}")
        used.add(cid)
        sop_lines.append(f"S\t{sop['id']}\t{cid}")

    def members(rel: list[dict], key: str) -> dict[str, list[tuple[str, str]]]:
        out: dict[str, list[tuple[str, str]]] = {}
        for row in rel:
            if row["ciodId"] not in used:
                continue
            if row["usage"] not in ("M", "C", "U"):
                raise SystemExit(f"{row['ciodId']}: unexpected usage {row['usage']!r}")
            out.setdefault(row["ciodId"], []).append((row["usage"], row[key]))
        return out

    modules_of = members(ciod_modules, "moduleId")
    macros_of = members(ciod_macros, "macroId")

    def grouped(rows: list[dict], key: str) -> dict[str, list[dict]]:
        out: dict[str, list[dict]] = {}
        for row in rows:
            out.setdefault(row[key], []).append(row)
        return out

    rows_of_module = grouped(module_rows, "moduleId")
    rows_of_macro = grouped(macro_rows, "macroId")
    bodies = Bodies()
    owner_lines = []
    for letter, wanted, rows_of, key in (
        ("M", {m for ms in modules_of.values() for _, m in ms}, rows_of_module, "module"),
        ("F", {m for ms in macros_of.values() for _, m in ms}, rows_of_macro, "macro"),
    ):
        for name in sorted(wanted):
            if name not in rows_of:
                raise SystemExit(f"{key} {name!r} has no attributes in the source")
            body = bodies.intern(tree(rows_of[name], key, name, terms))
            owner_lines.append(f"{letter}\t{name}\t{body}")

    iod_lines = []
    for cid in sorted(used):
        mods = ",".join(f"{u}{m}" for u, m in modules_of.get(cid, []))
        fgs = ",".join(f"{u}{m}" for u, m in macros_of.get(cid, []))
        iod_lines.append(f"I\t{cid}\t{ciod_name[cid]}\t{mods}\t{fgs}")

    if len(bodies.term_lines) > MAX_TERM_LISTS:
        raise SystemExit(f"{len(bodies.term_lines)} term lists: more than {MAX_TERM_LISTS}")
    lines = [HEADER, *bodies.term_lines, *bodies.lines, *owner_lines, *iod_lines, *sop_lines]
    return "\n".join(lines) + "\n"


def download(dest: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(dest), PACKAGE],
        check=True,
    )
    wheels = glob.glob(str(dest / "dicom_standard-0.1.0-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one wheel in {dest}, found {wheels}")
    import zipfile

    with zipfile.ZipFile(wheels[0]) as z:
        z.extractall(dest)
    return dest / "dicom_standard-0.1.0.data" / "data" / "standard"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("source", nargs="?", type=Path, help="folder with sops.json etc.")
    group.add_argument("--download", action="store_true", help="pip download the wheel first")
    parser.add_argument("-o", "--output", type=Path, default=OUT, help=f"default: {OUT}")
    args = parser.parse_args(argv)
    if args.download:
        with tempfile.TemporaryDirectory() as tmp:
            text = generate(download(Path(tmp)))
    else:
        text = generate(args.source)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with open(args.output, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    counts: dict[str, int] = {}
    for line in text.splitlines()[1:]:
        counts[line[0]] = counts.get(line[0], 0) + 1
    print(
        f"wrote {args.output}: {len(text.encode())} bytes, "
        + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
