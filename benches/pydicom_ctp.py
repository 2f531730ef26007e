"""The baseline for CTP scripts: tests/data/ctp/trial.script's policy written by hand with
pydicom, the way a site without CTP (Java is not installed here, so CTP itself cannot run)
would carry it out: the same functions, with dicomveil's keyed hashes so that the outputs can
be compared value for value.

    python benches/pydicom_ctp.py SRC_DIR DST_DIR LOOKUP_FILE
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import os
import re
import sys
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

KEY = b"benchmark key 0123"
DATEINC = -3210
SITEID = "7"
KEEP_GROUPS = (0x0018, 0x0028)
ALWAYS_KEPT = {0x00080016, 0x00080018, 0x0020000D}


def pseudonym(purpose: bytes, value: str) -> int:
    d = hmac.new(KEY, purpose + b"\0" + value.encode(), hashlib.sha256).digest()
    return int.from_bytes(d[:8], "big")


def keyed_hash(value: str, length: int | None) -> str:
    s = str(
        pseudonym(b"dicomveil/ctp-hash/1", value) << 64 | pseudonym(b"dicomveil/ctp-hash/2", value)
    )
    return s[:length] if length else s


def new_uid(old: str) -> str:
    if old.startswith("1.2.840.10008."):
        return old
    digest = hmac.new(KEY, old.encode("ascii"), hashlib.sha256).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def increment(da: str) -> str:
    d = datetime.date(int(da[:4]), int(da[4:6]), int(da[6:8])) + datetime.timedelta(DATEINC)
    return d.strftime("%Y%m%d") + da[8:]


def load_lookup(path: Path) -> dict[str, str]:
    table = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            table[k.strip()] = v.strip()
    return table


def lookup(table: dict[str, str], keytype: str, key: str) -> str:
    value = table[f"{keytype}/{key}"]
    while value.startswith("@") and "/" in value:
        value = table[value[1:]]
    return value


def value(ds: Dataset, kw: str) -> str | None:
    if kw not in ds:
        return None
    v = ds[kw].value
    return "" if v is None else str(v)


def apply(ds: Dataset, table: dict[str, str]) -> None:
    original = ds.copy()
    pid = value(original, "PatientID") or ""
    rules = {
        "SpecificCharacterSet": None,
        "InstanceCreationDate": "date",
        "SOPClassUID": None,
        "SOPInstanceUID": "uid",
        "StudyDate": "date",
        "SeriesDate": "date",
        "StudyTime": None,
        "Modality": None,
        "Manufacturer": None,
        "PatientSex": None,
        "StudyInstanceUID": "uid",
        "SeriesInstanceUID": "uid",
        "FrameOfReferenceUID": "uid",
    }
    for elem in list(ds):
        tag = int(elem.tag)
        kw = elem.keyword
        if kw in rules:
            how = rules[kw]
            v = value(original, kw)
            if how == "date" and v is not None:
                ds[kw].value = increment(v) if len(v) >= 8 else ""
            elif how == "uid" and v:
                ds[kw].value = new_uid(v)
        elif kw == "AccessionNumber":
            ds[kw].value = keyed_hash(value(original, kw) or "", 16)
        elif kw == "InstitutionName":
            del ds[tag]
        elif kw in ("ReferringPhysicianName", "PatientBirthDate", "StudyID"):
            ds[kw].value = ""
        elif kw == "StudyDescription":
            if "research" not in (value(original, kw) or "").lower():
                del ds[tag]
        elif kw == "SeriesDescription":
            if not (value(original, kw) or "").strip():
                del ds[tag]
        elif kw == "PatientName":
            ds[kw].value = lookup(table, "ptname", pid)
        elif kw == "PatientID":
            ds[kw].value = lookup(table, "ptid", pid)
        elif kw == "PatientAge":
            v = value(original, kw) or ""
            n = round(int(re.sub(r"\D", "", v)) / 5) * 5
            out = f"{n}{re.sub(r'[0-9]', '', v)}"
            ds[kw].value = "0" + out if len(out) % 2 else out
        elif kw == "ImageComments":
            if not re.fullmatch(r"[A-Z0-9 ]*", value(original, kw) or ""):
                del ds[tag]
        elif elem.tag.group in KEEP_GROUPS or tag in ALWAYS_KEPT or elem.tag.group == 0x7FE0:
            continue
        else:
            del ds[tag]  # private groups, curves, overlays, unspecified elements
    ds.ClinicalTrialSponsorName = "TRIAL-X"
    ds.ClinicalTrialSiteID = SITEID
    ds.ClinicalTrialSiteName = "Site Seven"
    ds.ClinicalTrialSubjectID = keyed_hash(f"[{SITEID}]{pid}", 10)
    ds.PatientIdentityRemoved = "YES"


def anonymize_tree(src: Path, dst: Path, lookup_file: Path) -> int:
    table = load_lookup(lookup_file)
    n = 0
    for root, _dirs, files in os.walk(src):
        for name in files:
            path = Path(root) / name
            ds = pydicom.dcmread(path)
            apply(ds, table)
            out = dst / path.relative_to(src)
            out.parent.mkdir(parents=True, exist_ok=True)
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            ds.save_as(out, enforce_file_format=True)
            n += 1
    return n


if __name__ == "__main__":
    anonymize_tree(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
