"""DICOM files with text drawn into their pixels, for the OCR tests and benches/ocr.py.

Each image is made here with Pillow and DejaVu Sans (Debian's fonts-dejavu-core): names, dates
and IDs at several sizes and contrasts on dark, speckled ultrasound-like or CT-like
backgrounds, and harmless text the default allow-list covers (orientation letters, 5.0MHz,
12/60, 4 cm). Every drawn word's box is kept as the ground truth.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_MONO = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")

US = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTI = "1.2.840.10008.5.1.4.1.1.3.1"
SC = "1.2.840.10008.5.1.4.1.1.7"
CT = "1.2.840.10008.5.1.4.1.1.2"

NAMES = ["DOE^JANE", "SMITH^JOHN", "MÜLLER^ANNA", "GARCIA^LUIS", "NGUYEN^THI", "OBRIEN^PAT"]


@dataclass
class Drawn:
    """An image with its ground truth: boxes (x, y, w, h) of the identifying words and of
    the harmless ones."""

    pixels: np.ndarray
    secret: list[tuple[int, int, int, int]] = field(default_factory=list)
    harmless: list[tuple[int, int, int, int]] = field(default_factory=list)
    #: the identifying values drawn (for the dataset's header)
    name: str = ""
    birth: str = ""
    patient_id: str = ""


def _font(size: int, mono: bool = False) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_MONO if mono else FONT), size)


def _draw_words(draw, xy, text, font, fill, boxes) -> None:
    """Draw ``text`` at ``xy``; each space-separated word's box goes to ``boxes``."""
    x, y = xy
    for word in text.split(" "):
        bbox = draw.textbbox((x, y), word, font=font)
        draw.text((x, y), word, font=font, fill=fill)
        boxes.append((bbox[0], bbox[1], bbox[2] - bbox[0], bbox[3] - bbox[1]))
        x = bbox[2] + font.size // 2


def _background(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:rows, 0:cols]
    angle = np.degrees(np.arctan2(xx - cols / 2, yy - rows * 0.1))
    radius = np.hypot(xx - cols / 2, yy - rows * 0.1)
    fan = (np.abs(angle) < 35) & (radius > rows * 0.15) & (radius < rows * 0.85)
    return np.where(fan, rng.integers(30, 170, size=fan.shape), rng.integers(0, 12, fan.shape))


def ultrasound(seed: int, color: bool = False, size: int | None = None) -> Drawn:
    """A 640x480 ultrasound-like screen: a banner (name, birth date, ID) at a size from
    ``seed`` (or ``size``), harmless labels, a speckled fan."""
    rng = np.random.default_rng(seed)
    name = NAMES[seed % len(NAMES)]
    birth = f"{1930 + seed % 70}-{1 + seed % 12:02d}-{1 + seed % 28:02d}"
    pid = f"PID{100000 + seed * 7919 % 900000}"
    gray = _background(480, 640, rng).astype(np.uint8)
    img = Image.fromarray(gray).convert("RGB" if color else "L")
    draw = ImageDraw.Draw(img)
    px = size or [12, 14, 16, 20, 24, 28][seed % 6]
    level = [255, 220, 190, 160][seed % 4]
    fill = (level, level, 0) if color else level
    out = Drawn(np.zeros(0), name=name, birth=birth.replace("-", ""), patient_id=pid)
    _draw_words(draw, (10, 6), f"{name} {birth}", _font(px), fill, out.secret)
    _draw_words(draw, (10, 10 + px * 2), pid, _font(px, mono=True), fill, out.secret)
    small = _font(16)
    white = (230, 230, 230) if color else 230
    _draw_words(draw, (560, 8), "5.0MHz", small, white, out.harmless)
    _draw_words(draw, (560, 440), "12/60", small, white, out.harmless)
    _draw_words(draw, (20, 440), "4 cm", small, white, out.harmless)
    _draw_words(draw, (600, 220), "L", _font(20), white, out.harmless)
    if color:
        draw.ellipse((290, 220, 350, 270), fill=(200, 40, 40))
    out.pixels = np.asarray(img)
    return out


def ct_windowed(seed: int) -> Drawn:
    """A 512x512 16-bit CT-like slice (signed HU, window 40/400) with the name and ID burned
    in at a high value, as workstations print them."""
    rng = np.random.default_rng(seed)
    hu = rng.normal(-900, 30, size=(512, 512))
    yy, xx = np.mgrid[0:512, 0:512]
    body = np.hypot(xx - 256, (yy - 256) * 1.3) < 200
    hu[body] = rng.normal(40, 60, size=int(body.sum()))
    canvas = Image.new("L", (512, 512), 0)
    draw = ImageDraw.Draw(canvas)
    name = NAMES[seed % len(NAMES)]
    out = Drawn(np.zeros(0), name=name, patient_id=f"CT{40000 + seed}")
    _draw_words(draw, (8, 6), name, _font(18), 255, out.secret)
    _draw_words(draw, (8, 30), out.patient_id, _font(18, mono=True), 255, out.secret)
    _draw_words(draw, (480, 250), "R", _font(20), 255, out.harmless)
    mask = np.asarray(canvas) > 128
    hu[mask] = 3000
    out.pixels = (hu + 1024).clip(0, 4095).astype(np.uint16)  # stored, rescale -1024
    return out


def dataset(
    d: Drawn,
    sop_class: str = US,
    photometric: str | None = None,
    frames: list[np.ndarray] | None = None,
) -> Dataset:
    """A DICOM dataset of the drawn image (or of ``frames``), its header holding the drawn
    identifying values."""
    arr = d.pixels if frames is None else np.stack(frames)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = {US: "US", US_MULTI: "US", CT: "CT"}.get(sop_class, "OT")
    ds.PatientName = d.name
    ds.PatientID = d.patient_id
    if d.birth:
        ds.PatientBirthDate = d.birth
    ds.Manufacturer = "NoRuleCo"
    color = arr.shape[-1] == 3 and arr.ndim == (4 if frames is not None else 3)
    if frames is not None:
        ds.NumberOfFrames = len(frames)
    ds.Rows, ds.Columns = arr.shape[-3:-1] if color else arr.shape[-2:]
    ds.SamplesPerPixel = 3 if color else 1
    if color:
        ds.PlanarConfiguration = 0
    ds.PhotometricInterpretation = photometric or ("RGB" if color else "MONOCHROME2")
    pixels = arr
    if ds.PhotometricInterpretation == "YBR_FULL":
        pixels = rgb_to_ybr(arr)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        pixels = 255 - arr
    if arr.dtype == np.uint16:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.WindowCenter, ds.WindowWidth = 40, 400
    else:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    return ds


def rgb_to_ybr(rgb: np.ndarray) -> np.ndarray:
    """RGB to YBR_FULL (PS3.3 C.7.6.3.1.2), 8 bits."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    return np.stack([y, cb, cr], axis=-1).round().clip(0, 255).astype(np.uint8)


def to_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def write(ds: Dataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def test_set(seeds: range = range(12)) -> list[tuple[str, Drawn, Dataset]]:
    """The measured set: for each seed an 8-bit grey ultrasound, an RGB one, a YBR_FULL one,
    a MONOCHROME1 secondary capture and a 16-bit CT (every fourth seed), named by kind."""
    out = []
    for s in seeds:
        g = ultrasound(s)
        out.append(("us-gray", g, dataset(g)))
        c = ultrasound(s + 100, color=True)
        out.append(("us-rgb", c, dataset(c)))
        y = ultrasound(s + 200, color=True)
        out.append(("us-ybr", y, dataset(y, photometric="YBR_FULL")))
        m = ultrasound(s + 300)
        out.append(("sc-mono1", m, dataset(m, sop_class=SC, photometric="MONOCHROME1")))
        if s % 4 == 0:
            t = ct_windowed(s)
            out.append(("ct-16bit", t, dataset(t, sop_class=CT)))
    return out


def read(data: bytes) -> Dataset:
    return pydicom.dcmread(io.BytesIO(data))
