"""The baseline for Clean Pixel Data on JPEG Baseline: a plain pydicom script that decodes,
masks and re-encodes.

Reads each file, de-identifies its header as benches/pydicom_baseline.py does (Table E.1-1),
decodes every frame (``pixel_array``: pydicom's JPEG decoder, Pillow's libjpeg-turbo here, or
pylibjpeg when it is installed and preferred), sets the rectangles to black, encodes every
frame again with Pillow (JPEG quality 90, 4:2:0, as the sources were made), encapsulates the
frames with a Basic Offset Table and saves. The transfer syntax stays JPEG Baseline and the
image is recompressed: every block changes a little (that is what block-selective redaction
avoids). This is what a careful user writes without dicomveil.

    python benches/pydicom_jpeg.py SRC DST --rect 0,0,640,48 [--rect X,Y,W,H ...]

SRC is a file or a folder (its files, at the same relative paths under DST).
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pydicom_pixels  # noqa: E402
from pydicom_pixels import parse_rect  # noqa: E402, F401

Rect = tuple[int, int, int, int]


def encode(frame: np.ndarray) -> bytes:
    bio = io.BytesIO()
    Image.fromarray(frame).save(bio, "JPEG", quality=90, subsampling=2)
    return bio.getvalue()


def mask(ds: Dataset, rects: list[Rect]) -> None:
    """Blank ``rects`` (x, y, width, height) in every frame and encode the frames again."""
    arr = ds.pixel_array  # YBR_FULL_422 comes back as RGB
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    if frames == 1:
        arr = arr[None]
    if not arr.flags.writeable:
        arr = arr.copy()
    for x, y, w, h in rects:
        arr[:, y : y + h, x : x + w] = 0
    ds.PixelData = encapsulate([encode(f) for f in arr], has_bot=True)
    if ds.SamplesPerPixel == 3:
        ds.PhotometricInterpretation = "YBR_FULL_422"  # what Pillow's stream holds
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True


def anonymize_tree(src: Path, dst: Path, rects: list[Rect]) -> int:
    return pydicom_pixels.anonymize_tree(src, dst, rects, mask)


def main() -> None:
    pydicom_pixels.main(mask, __doc__)


if __name__ == "__main__":
    main()
