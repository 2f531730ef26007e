"""A source tree for the batch and CLI tests: good, bad, truncated and non-DICOM files, a DICOMDIR.

Built from the files pydicom ships (never downloaded), in nested folders, some with spaces and
without extensions, as PACS exports have them.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence


def pydicom_file(name: str) -> Path:
    """A file of pydicom's test data, from the installed wheel only."""
    path = get_testdata_file(name, download=False)
    if path is None:  # pragma: no cover - depends on the pydicom wheel
        raise FileNotFoundError(f"pydicom does not ship {name}")
    return Path(path)


# relative path in the tree -> pydicom test file
GOOD = {
    "study1/CT_small.dcm": "CT_small.dcm",
    "study1/series 2/IM0001": "MR_small.dcm",  # no extension, a space in the folder
    "study1/series 2/IM0002": "MR_small_implicit.dcm",
    "study2/MR_small_bigendian.dcm": "MR_small_bigendian.dcm",
    "study2/rtplan.dcm": "rtplan.dcm",
    "study2/rtstruct.dcm": "rtstruct.dcm",  # no preamble, no meta group
    "study3/deflated.dcm": "image_dfl.dcm",
    "study3/jpeg2000.dcm": "JPEG2000.dcm",
    "study3/rle.dcm": "SC_rgb_rle.dcm",
    "study3/ecg.dcm": "waveform_ecg.dcm",
}

# outputs whose scan against their originals finds nothing (see test_batch for the others)
CLEAN_WITH_ORIGINALS = [
    "study1/CT_small.dcm",
    "study2/rtstruct.dcm",
    "study3/deflated.dcm",
    "study3/jpeg2000.dcm",
    "study3/rle.dcm",
    "study3/ecg.dcm",
]

REFUSED = [
    "bad/rtplan_truncated.dcm",  # pydicom's truncated file
    "bad/half.dcm",  # CT_small cut in half
    "bad/name_past_eof.dcm",  # PatientName's length points past the end
    "bad/pixels_past_eof.dcm",  # PixelData's length points past the end
]

NOT_DICOM = [
    "notes.txt",
    "study1/empty",
    "study1/series 2/thumb.png",
    "study3/.DS_Store",
]

DICOMDIR = "DICOMDIR"


@dataclass
class Tree:
    """The tree's root and what is in it."""

    root: Path
    good: list[str] = field(default_factory=lambda: list(GOOD))
    refused: list[str] = field(default_factory=lambda: list(REFUSED))
    not_dicom: list[str] = field(default_factory=lambda: list(NOT_DICOM))
    dicomdir: str = DICOMDIR

    @property
    def all(self) -> list[str]:
        return sorted([*self.good, *self.refused, *self.not_dicom, self.dicomdir])

    def hashes(self) -> dict[str, str]:
        """SHA-256 of every file below the root, by relative path."""
        return hash_tree(self.root)

    def identifying(self) -> set[str]:
        """PatientName and PatientID values of the originals (the refused files are made from
        the same pydicom files as good ones), 4 characters or more."""
        values: set[str] = set()
        for rel in self.good:
            ds = pydicom.dcmread(self.root / rel, force=True, stop_before_pixels=True)
            for keyword in ("PatientName", "PatientID"):
                value = str(ds.get(keyword, "") or "")
                if len(value.strip("^ ")) >= 4 and value.lower() not in ("anonymous", "anonymized"):
                    values.add(value)
        return values


def hash_tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _patch(data: bytes, marker: bytes, at: int, fmt: str, value: int) -> bytes:
    i = data.find(marker)
    assert i >= 0, marker
    out = bytearray(data)
    size = struct.calcsize(fmt)
    out[i + at : i + at + size] = struct.pack(fmt, value)
    return bytes(out)


def make_tree(root: Path) -> Tree:
    """Create the tree under ``root`` (which must not exist or be empty)."""
    root.mkdir(parents=True, exist_ok=True)

    def put(rel: str, data: bytes) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    for rel, name in GOOD.items():
        put(rel, pydicom_file(name).read_bytes())

    ct = pydicom_file("CT_small.dcm").read_bytes()
    mr = pydicom_file("MR_small.dcm").read_bytes()
    put("bad/rtplan_truncated.dcm", pydicom_file("rtplan_truncated.dcm").read_bytes())
    put("bad/half.dcm", ct[: len(ct) // 2])
    # explicit VR little endian: tag (4), VR (2), 16-bit length at offset 6
    put("bad/name_past_eof.dcm", _patch(mr, b"\x10\x00\x10\x00PN", 6, "<H", 0xFFF0))
    # OW: tag (4), VR (2), reserved (2), 32-bit length at offset 8
    put("bad/pixels_past_eof.dcm", _patch(ct, b"\xe0\x7f\x10\x00OW", 8, "<I", 0x7FFFFFF0))

    put("notes.txt", b"exported from PACS on 2024-01-01\n")
    put("study1/empty", b"")
    put("study1/series 2/thumb.png", b"\x89PNG\r\n\x1a\n" + bytes(64))
    put("study3/.DS_Store", b"\x00\x00\x00\x01Bud1" + bytes(32))
    shutil.copyfile(pydicom_file("DICOMDIR"), root / DICOMDIR)
    return Tree(root)


def plant_leak(output: Path, original: Path, planted: Path) -> str:
    """Copy ``output`` to ``planted`` with the original PatientName in a private attribute and in
    a description nested in a sequence. Returns the name."""
    name = str(pydicom.dcmread(original, force=True).PatientName)
    ds = pydicom.dcmread(output)
    block = ds.private_block(0x0011, "PLANTED LEAK", create=True)
    block.add_new(0x10, "LO", f"copy of {name}")
    item = Dataset()
    item.CodeValue = "T-D0050"
    item.CodingSchemeDesignator = "SRT"
    item.CodeMeaning = f"scan of {name}"
    ds.AnatomicRegionSequence = Sequence([item])
    planted.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(planted, enforce_file_format=True)
    return name
