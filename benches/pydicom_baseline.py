"""The baseline: a plain pydicom script doing the same work as dicomveil's Basic profile.

Reads each file, applies PS3.15 Table E.1-1 (the table dicomveil ships) recursively -- X
removes, Z empties, D writes a dummy, U maps UIDs with HMAC-SHA256, private attributes go --
and writes the result. This is what a careful user writes without dicomveil.

    python benches/pydicom_baseline.py SRC_DIR DST_DIR
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import os
import sys
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

TABLE = Path(__file__).resolve().parent.parent / "python/dicomveil/data/table_e1_1_2024c.csv"
KEY = b"benchmark key 0123"
DUMMY = {
    "DA": "19000101",
    "TM": "000000",
    "DT": "19000101000000",
    "DS": "0",
    "IS": "0",
    "AS": "000Y",
    "UR": "http://anonymized.invalid",
}
COMPOUND = {"X/Z": "Z", "X/D": "D", "X/Z/D": "D", "Z/D": "D", "X/Z/U*": "U*"}


def load_rules() -> dict[int, str]:
    rules: dict[int, str] = {}
    with open(TABLE, encoding="utf-8") as f:
        rows = csv.DictReader((line for line in f if not line.startswith("#")), delimiter=";")
        for row in rows:
            tag = row["tag"]
            if "x" in tag or "odd" in tag:
                continue
            action = row["basic_profile"]
            rules[int(tag.replace(",", ""), 16)] = COMPOUND.get(action, action)
    return rules


RULES = load_rules()


def new_uid(old: str) -> str:
    if old.startswith("1.2.840.10008."):
        return old
    digest = hmac.new(KEY, old.encode("ascii"), hashlib.sha256).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def clean(ds: Dataset) -> None:
    for elem in list(ds):
        tag = int(elem.tag)
        if elem.tag.is_private or (tag >> 24) == 0x50 or (tag & 0xFF00FFFF) == 0x60003000:
            del ds[elem.tag]
            continue
        action = RULES.get(tag, "K")
        if action == "X":
            del ds[elem.tag]
        elif action == "Z":
            elem.value = [] if elem.VR == "SQ" else ""
        elif action in ("D", "C"):
            if elem.VR == "SQ":
                for item in elem.value:
                    clean(item)
            elif elem.VR == "UI":
                elem.value = new_uid(str(elem.value))
            elif elem.VR in ("US", "SS", "UL", "SL", "FL", "FD"):
                elem.value = 0
            elif elem.VR in ("OB", "OW", "UN"):
                elem.value = b"\0\0"
            else:
                elem.value = DUMMY.get(elem.VR, "ANONYMIZED")
        elif action in ("U", "U*"):
            if elem.VR == "SQ":
                for item in elem.value:
                    clean(item)
            elif elem.VM > 1:
                elem.value = [new_uid(v) for v in elem.value]
            else:
                elem.value = new_uid(str(elem.value))
        elif elem.VR == "SQ":
            for item in elem.value:
                clean(item)


def anonymize(src: Path, dst: Path) -> None:
    ds = pydicom.dcmread(src)
    clean(ds)
    ds.PatientIdentityRemoved = "YES"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    dst.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dst)


def anonymize_tree(src: Path, dst: Path) -> int:
    n = 0
    for root, _, files in os.walk(src):
        for name in files:
            p = Path(root) / name
            anonymize(p, dst / p.relative_to(src))
            n += 1
    return n


if __name__ == "__main__":
    print(anonymize_tree(Path(sys.argv[1]), Path(sys.argv[2])), "files")
