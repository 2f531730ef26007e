"""The baseline for Clean Pixel Data: a plain pydicom script blanking rectangles of the pixels.

Reads each file, de-identifies its header as benches/pydicom_baseline.py does (Table E.1-1),
blanks the rectangles in every frame through ``pixel_array`` (a numpy slice set to the value
that reads as black: the Pixel Padding Value, else the lowest stored value for MONOCHROME2,
the highest for MONOCHROME1, 0 otherwise), writes the array back to Pixel Data and saves.
This is what a careful user writes without dicomveil (native pixels only).

    python benches/pydicom_pixels.py SRC DST --rect 0,0,512,40 [--rect X,Y,W,H ...]

SRC is a file or a folder (its files, at the same relative paths under DST).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pydicom_baseline  # noqa: E402

Rect = tuple[int, int, int, int]


def blank_value(ds: Dataset) -> int:
    if "PixelPaddingValue" in ds:
        return int(ds.PixelPaddingValue)
    if ds.PhotometricInterpretation not in ("MONOCHROME1", "MONOCHROME2"):
        return 0
    stored = int(ds.BitsStored)
    if ds.PixelRepresentation:
        low, high = -(1 << (stored - 1)), (1 << (stored - 1)) - 1
    else:
        low, high = 0, (1 << stored) - 1
    return high if ds.PhotometricInterpretation == "MONOCHROME1" else low


def mask(ds: Dataset, rects: list[Rect]) -> None:
    """Blank ``rects`` (x, y, width, height) in every frame of a native image."""
    arr = ds.pixel_array
    if not arr.flags.writeable:
        arr = arr.copy()
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    value = blank_value(ds)
    for x, y, w, h in rects:
        if frames > 1:
            arr[:, y : y + h, x : x + w] = value
        else:
            arr[y : y + h, x : x + w] = value
    if not ds.file_meta.TransferSyntaxUID.is_little_endian:
        arr = arr.byteswap()
    ds.PixelData = arr.tobytes()


Mask = Callable[[Dataset, list[Rect]], None]


def anonymize(src: Path, dst: Path, rects: list[Rect], masker: Mask | None = None) -> None:
    """Clean the header, mask the rectangles (with `masker`, default :func:`mask`), save."""
    ds = pydicom.dcmread(src)
    pydicom_baseline.clean(ds)
    (masker or mask)(ds, rects)
    ds.PatientIdentityRemoved = "YES"
    ds.BurnedInAnnotation = "NO"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    dst.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(dst)


def anonymize_tree(src: Path, dst: Path, rects: list[Rect], masker: Mask | None = None) -> int:
    if src.is_file():
        anonymize(src, dst, rects, masker)
        return 1
    n = 0
    for root, _, files in os.walk(src):
        for name in files:
            p = Path(root) / name
            anonymize(p, dst / p.relative_to(src), rects, masker)
            n += 1
    return n


def parse_rect(text: str) -> Rect:
    x, y, w, h = (int(v) for v in text.split(","))
    return x, y, w, h


def main(masker: Mask | None = None, doc: str | None = None) -> None:
    p = argparse.ArgumentParser(description=(doc or __doc__ or "").split("\n\n")[0])
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("--rect", type=parse_rect, action="append", required=True, help="x,y,w,h")
    a = p.parse_args()
    print(anonymize_tree(a.src, a.dst, a.rect, masker), "files")


if __name__ == "__main__":
    main()
