"""Add labelled texts to the cleaning set (tests/data/cleaning/), each to the part its id says.

Texts are written in a small marked-up form, one item a line:

    @patient KEY FAMILY^Given PATIENT-ID YYYYMMDD
    == LANG ATTRIBUTE PATIENT-KEY [path=Sequence/Sequence]
    MR knee {n:DOE} {n:JOHN}, seen by Dr {c:Okafor} on {d:2021-03-04}

``{kind:text}`` marks an identifier (kinds: d date, n name, c name_by_cue, p phone, e email,
u url, i id, or their full names); ``\\n`` in a line is a line feed; lines starting with ``#``
are comments. A ``==`` line sets the language, attribute (its VR comes from the DICOM
dictionary), patient and sequence path of the items below it.

Each new item gets the id ``LANG-NNN`` (numbered on from the highest of that language in either
part) and goes to the part that cleaning_eval.part_of gives for its id: a hash, so the split
does not depend on what the text says or on who adds it. Nothing is ever moved between parts.

    python scripts/cleaning_set.py add NEW.txt [NEW2.txt ...]
    python scripts/cleaning_set.py add --dry-run NEW.txt   # counts only
    python scripts/cleaning_set.py add --tuning NEW.txt    # tuning items, ids t2-LANG-NNN

``--tuning`` is for texts written after seeing what the engine misses in a held-out part (the
second one, heldout2.jsonl, was used so): they are generalisations of those misses and must
not be reported on, so they all go to the tuning part, with ids ``t2-LANG-NNN`` that say so
(cleaning_eval.part_of).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import cleaning_eval as ev  # noqa: E402
from pydicom.datadict import dictionary_VR  # noqa: E402

SHORT = {
    "d": "date",
    "n": "name",
    "c": "name_by_cue",
    "p": "phone",
    "e": "email",
    "u": "url",
    "i": "id",
}
MARK = re.compile(r"\{(\w+):([^{}]+)\}")


def unmark(line: str) -> tuple[str, list[dict]]:
    """The text of a marked-up line and its identifier spans."""
    line = line.replace("\\n", "\n")
    text, spans, pos = [], [], 0
    length = 0
    for m in MARK.finditer(line):
        kind = SHORT.get(m.group(1), m.group(1))
        if kind not in ev.KINDS:
            raise ValueError(f"unknown kind {m.group(1)!r}")
        before = line[pos : m.start()]
        text.append(before)
        length += len(before)
        spans.append({"start": length, "end": length + len(m.group(2)), "kind": kind})
        text.append(m.group(2))
        length += len(m.group(2))
        pos = m.end()
    text.append(line[pos:])
    out = "".join(text)
    if "{" in out or "}" in out:
        raise ValueError(f"unbalanced mark in {line!r}")
    return out, spans


def parse(source: str) -> list[dict]:
    """The items of a marked-up file, without ids (in the order written)."""
    patients: dict[str, dict] = {}
    header: dict | None = None
    items = []
    for number, raw in enumerate(source.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            if line.startswith("@patient "):
                _, key, name, pid, birth = line.split()
                patients[key] = {"name": name.replace("_", " "), "id": pid, "birth_date": birth}
            elif line.startswith("== "):
                fields = line[3:].split()
                lang, attribute, patient = fields[:3]
                path = []
                for extra in fields[3:]:
                    if not extra.startswith("path="):
                        raise ValueError(f"unknown field {extra!r}")
                    path = extra[5:].split("/")
                header = {
                    "lang": lang,
                    "attribute": attribute,
                    "vr": dictionary_VR(attribute),
                    "patient": patients[patient],
                    "path": path,
                }
            else:
                if header is None:
                    raise ValueError("an item before any == line")
                text, spans = unmark(line)
                item = {
                    "id": None,
                    "text": text,
                    "vr": header["vr"],
                    "attribute": header["attribute"],
                    "patient": dict(header["patient"]),
                    "identifiers": spans,
                    "lang": header["lang"],
                }
                if header["path"]:
                    item["path"] = list(header["path"])
                items.append(item)
        except (ValueError, KeyError) as exc:
            raise SystemExit(f"line {number}: {exc}") from None
    return items


def add(files: list[Path], dry_run: bool, tuning: bool = False) -> int:
    existing = {part: ev.load(part) if ev.path_of(part).exists() else [] for part in ev.PARTS}
    highest: Counter = Counter()
    prefix = "t2-" if tuning else ""
    for items in existing.values():
        for item in items:
            lang, _, n = item["id"].rpartition("-")
            highest[lang] = max(highest[lang], int(n))
    new: dict[str, list[dict]] = {part: [] for part in ev.PARTS}
    for path in files:
        for item in parse(path.read_text(encoding="utf-8")):
            key = prefix + item["lang"]
            highest[key] += 1
            item["id"] = f"{key}-{highest[key]:03d}"
            new[ev.part_of(item["id"])].append(item)
    for part in ev.PARTS:
        found = ev.problems(existing[part] + new[part], part)
        if found:
            print("\n".join(found), file=sys.stderr)
            return 1
    for part in ev.PARTS:
        print(f"{part}: {len(existing[part])} items + {len(new[part])} new")
        if dry_run or not new[part]:
            continue
        ev.DATA.mkdir(parents=True, exist_ok=True)
        with ev.path_of(part).open("a", encoding="utf-8") as fh:
            for item in new[part]:
                fh.write(json.dumps(item, ensure_ascii=False) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_add = sub.add_parser("add", help="add marked-up texts to the set")
    p_add.add_argument("files", nargs="+", type=Path)
    p_add.add_argument("--dry-run", action="store_true")
    p_add.add_argument(
        "--tuning",
        action="store_true",
        help="tuning items written after seeing held-out misses: ids t2-LANG-NNN, all to tune",
    )
    args = parser.parse_args(argv)
    return add(args.files, args.dry_run, args.tuning)


if __name__ == "__main__":
    sys.exit(main())
