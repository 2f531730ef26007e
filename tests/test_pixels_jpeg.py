"""Clean Pixel Data on JPEG Baseline files made for the tests, checked with decoders that are not
dicomveil's.

The files: an ultrasound-like picture with "DOE^JANE 1966-07-13" drawn into its banner
(tests/util.py), saved as JPEG by Pillow (quality 90; grayscale, RGB in 4:2:0, 4:2:2 and
4:4:4; one with restart markers, optimal Huffman tables and a size that is no multiple of the
unit) and wrapped without recompression by dcmtk's img2dcm (JPEG Baseline, Modality US, an
ACME manufacturer); multi-frame files, made by img2dcm and rewrapped by pydicom without a
Basic Offset Table, with every frame split over two fragments (with and without one), and with
an Extended Offset Table; and the 4:2:0 stream labelled RGB instead of YBR_FULL_422, as some
devices write it. A site's CTP script blanks the banner (and, for the decoders, a rectangle
that is not aligned with the units).

* tesseract reads the name before and not after; the transfer syntax stays;
* dcmtk's dcmdjpeg and Pillow decode every 8x8 block outside the replaced units exactly as
  before (a decoder's chroma upsampling may reach one pixel into a unit next to a replaced one
  where chroma is subsampled), and the replaced units black; each frame is one fragment found
  through a new Basic Offset Table, an Extended Offset Table is removed;
* 12-bit JPEG Extended (dcmcjpeg's, pydicom's JPGExtended.dcm): the same with dcmdjpeg and
  pydicom (pylibjpeg's libjpeg), black 0 or, for MONOCHROME1, 4095;
* a progressive stream in a file that says JPEG Baseline is refused, nothing written;
* Exif, XMP, Photoshop, COM and JFXX segments holding the name are gone from the output;
* dciodvfy finds no new error.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import dicomveil
import numpy as np
import pydicom
import pytest
from dicomveil import Anonymizer, DicomFile
from pydicom.encaps import encapsulate, encapsulate_extended, generate_frames
from util import (
    BANNER,
    BANNER_TEXT,
    FONT,
    SITE_SCRIPT,
    TEST_KEY,
    dciodvfy_errors,
    ocr,
    pixel_profile,
    read_any,
    rule_text,
    ultrasound_image,
)

pytestmark = [
    pytest.mark.skipif(shutil.which("img2dcm") is None, reason="img2dcm (dcmtk) not installed"),
    pytest.mark.skipif(not FONT.is_file(), reason=f"{FONT} (fonts-dejavu-core) not installed"),
]
PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
#: A rectangle that no unit grid aligns with, for the decoders (besides the site's banner).
ODD = (100, 203, 150, 37)
KEYS = ["Modality=US", "Manufacturer=ACME Medical", "PatientName=DOE^JANE"]
FRAMES = 4


def pillow_jpeg(
    color: bool, seed: int = 18, subsampling: int = 2, size: tuple[int, int] | None = None, **save
) -> bytes:
    """The picture as Pillow saves it (quality 90), cropped to `size` (width, height)."""
    img = ultrasound_image(color, seed)
    if size is not None:
        img = img.crop((0, 0, *size))
    bio = io.BytesIO()
    img.save(bio, "JPEG", quality=90, subsampling=subsampling, **save)
    return bio.getvalue()


def img2dcm(jpegs: list[bytes], dst: Path, *args: str) -> Path:
    """The JPEG streams wrapped by img2dcm as they are (one frame each)."""
    names = []
    for i, data in enumerate(jpegs):
        names.append(dst.with_suffix(f".{i}.jpg"))
        names[-1].write_bytes(data)
    cmd = ["img2dcm", "-i", "JPEG", *args, *map(str, names), str(dst)]
    if len(jpegs) > 1:
        cmd.insert(1, "-nsc")  # the multi-frame Secondary Capture classes
    subprocess.run(
        [*cmd, *[a for k in KEYS for a in ("-k", k)]], check=True, capture_output=True, timeout=60
    )
    return dst


def rewrapped(src: Path, dst: Path, extended: bool = False, **encaps: object) -> Path:
    """`src` with its frames encapsulated again by pydicom (``encapsulate(**encaps)``, or with
    an Extended Offset Table)."""
    ds = pydicom.dcmread(src)
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    if extended:
        ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = encapsulate_extended(
            frames
        )
    else:
        ds.PixelData = encapsulate(frames, **encaps)
    ds.save_as(dst)
    return dst


def relabelled_rgb(src: Path, dst: Path, jpeg: bytes | None = None) -> Path:
    """`src` labelled RGB (its stream YCbCr, as some ultrasound devices write it); `jpeg`
    replaces its stream (Pillow's, with its JFIF segment: img2dcm drops it)."""
    ds = pydicom.dcmread(src)
    ds.PhotometricInterpretation = "RGB"
    if jpeg is not None:
        ds.PixelData = encapsulate([jpeg])
    ds.save_as(dst)
    return dst


@pytest.fixture(scope="session")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every file of the module, made once."""
    d = tmp_path_factory.mktemp("jpeg")
    rgb420 = pillow_jpeg(True)
    files = {
        "gray": img2dcm([pillow_jpeg(False)], d / "gray.dcm"),
        "rgb420": img2dcm([rgb420], d / "rgb420.dcm"),
        "rgb444": img2dcm([pillow_jpeg(True, subsampling=0)], d / "rgb444.dcm"),
        "rgb422": img2dcm([pillow_jpeg(True, subsampling=1)], d / "rgb422.dcm"),
        "gray-frames": img2dcm(
            [pillow_jpeg(False, 18 + i) for i in range(FRAMES)], d / "gray-frames.dcm"
        ),
        "rgb-frames": img2dcm(
            [pillow_jpeg(True, 18 + i) for i in range(FRAMES)], d / "rgb-frames.dcm"
        ),
    }
    # restart markers every 3 units, optimal Huffman tables (which lack the codes of black
    # blocks), a size that is no multiple of the unit
    odd = pillow_jpeg(True, size=(637, 477), optimize=True, restart_marker_blocks=3)
    assert b"\xff\xdd" in odd[: odd.index(b"\xff\xda")]  # a DRI segment
    files["rgb-restart-odd-size"] = img2dcm([odd], d / "rgb-restart-odd-size.dcm")
    files["rgb-frames-no-bot"] = rewrapped(
        files["rgb-frames"], d / "rgb-frames-no-bot.dcm", has_bot=False
    )
    files["rgb-frames-split"] = rewrapped(
        files["rgb-frames"], d / "rgb-frames-split.dcm", fragments_per_frame=2
    )
    files["rgb-frames-split-no-bot"] = rewrapped(
        files["rgb-frames"], d / "rgb-frames-split-no-bot.dcm", fragments_per_frame=2, has_bot=False
    )
    files["rgb-frames-eot"] = rewrapped(files["rgb-frames"], d / "rgb-frames-eot.dcm", True)
    files["rgb-label"] = relabelled_rgb(files["rgb420"], d / "rgb-label.dcm")
    files["rgb-label-jfif"] = relabelled_rgb(files["rgb420"], d / "rgb-label-jfif.dcm", rgb420)
    return files


def clean(src: Path, script: str = SITE_SCRIPT) -> DicomFile:
    profile = pixel_profile("(0,0,1,1)")
    profile.pixel_rules = dicomveil.parse_pixel_rules(script)
    return Anonymizer(profile, key=TEST_KEY).anonymize(DicomFile.open(str(src)))


def check_wrapping(before: pydicom.Dataset, after: pydicom.Dataset) -> None:
    """The syntax stays; each frame is one fragment, found through a new Basic Offset Table."""
    assert before.file_meta.TransferSyntaxUID == JPEG_BASELINE
    assert after.file_meta.TransferSyntaxUID == JPEG_BASELINE
    frames = int(after.get("NumberOfFrames") or 1)
    buf = io.BytesIO(after.PixelData)
    offsets = pydicom.encaps.parse_basic_offsets(buf)
    fragments = list(pydicom.encaps.generate_fragments(buf))
    assert len(fragments) == frames and all(f[:2] == b"\xff\xd8" for f in fragments)
    assert len(offsets) == frames and offsets[0] == 0
    assert after.LossyImageCompression == "01" and after.BurnedInAnnotation == "NO"
    assert "ExtendedOffsetTable" not in after and "ExtendedOffsetTableLengths" not in after


# ---------------------------------------------------------------------------------------------
# 1. The name is read before and not after
# ---------------------------------------------------------------------------------------------

OCR_FILES = ["gray", "rgb420", "rgb444", "gray-frames", "rgb-frames-no-bot", "rgb-frames-split"]


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed")
@pytest.mark.parametrize("name", OCR_FILES)
def test_drawn_name_is_read_before_and_not_after(
    name: str, made: dict[str, Path], tmp_path: Path
) -> None:
    src = made[name]
    out = clean(src)
    assert out.pixel_handling is not None
    assert out.pixel_handling.startswith("cleaned by rule 1 (ACME ultrasound: name banner)")
    assert "JPEG redacted block by block" in out.pixel_handling
    ds_in, ds_out = read_any(src), read_any(out.to_bytes())
    check_wrapping(ds_in, ds_out)
    a, b = ds_in.pixel_array, ds_out.pixel_array
    last = a.shape[0] - 1 if a.ndim == (3 if ds_in.SamplesPerPixel == 1 else 4) else None
    before_text = ocr(a if last is None else a[0], tmp_path, "before")
    assert "JANE" in before_text and "1966" in before_text, before_text
    for i in [None] if last is None else [0, last]:
        after_text = ocr(b if i is None else b[i], tmp_path, f"after{i}")
        assert not re.search(r"DOE|JANE|1966|07-13", after_text), (i, after_text)
        assert "MI" in after_text, (i, after_text)  # the label outside the banner is still read


def test_a_rule_for_another_device_leaves_the_stream_as_it_was(made: dict[str, Path]) -> None:
    profile = pixel_profile(rule_text(BANNER), 'Manufacturer.equals("Other")')
    src = made["rgb420"]
    out = Anonymizer(profile, key=TEST_KEY, burned_in="allow").anonymize(DicomFile.open(str(src)))
    assert out.pixel_handling == "no rule matched"
    assert read_any(out.to_bytes()).PixelData == read_any(src).PixelData


# ---------------------------------------------------------------------------------------------
# 2. Independent decoders: dcmtk's dcmdjpeg, Pillow
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Units:
    """The unit (MCU) grid of a JPEG frame, from its SOF segment (one scan of all components,
    as Pillow writes them)."""

    width: int
    height: int
    unit_w: int
    unit_h: int
    subsampled: bool

    def replaced(self, rects: list[tuple[int, int, int, int]]) -> np.ndarray:
        """True on every pixel of a unit that touches one of `rects`."""
        m = np.zeros((self.height, self.width), bool)
        for x, y, w, h in rects:
            x0, y0 = x // self.unit_w * self.unit_w, y // self.unit_h * self.unit_h
            x1 = -(-(x + w) // self.unit_w) * self.unit_w
            y1 = -(-(y + h) // self.unit_h) * self.unit_h
            m[y0:y1, x0:x1] = True
        return m


def units_of(frame: bytes) -> Units:
    i = 2
    while i < len(frame):
        marker, length = frame[i + 1], int.from_bytes(frame[i + 2 : i + 4], "big")
        if marker in (0xC0, 0xC1):
            seg = frame[i + 4 : i + 2 + length]
            height, width = int.from_bytes(seg[1:3], "big"), int.from_bytes(seg[3:5], "big")
            factors = [(c >> 4, c & 15) for c in seg[7 : 6 + 3 * seg[5] : 3]]
            # one component: its scan is not interleaved, a unit is one 8x8 block (T.81 A.2.2)
            h, v = (
                (1, 1)
                if len(factors) == 1
                else (max(f[0] for f in factors), max(f[1] for f in factors))
            )
            return Units(width, height, 8 * h, 8 * v, len(set(factors)) > 1)
        i += 2 + length
    raise AssertionError("no SOF0 or SOF1 segment")


def grow(m: np.ndarray, n: int) -> np.ndarray:
    """`m` widened by `n` pixels in each direction."""
    out = m.copy()
    for _ in range(n):
        g = out.copy()
        g[1:] |= out[:-1]
        g[:-1] |= out[1:]
        g[:, 1:] |= out[:, :-1]
        g[:, :-1] |= out[:, 1:]
        out = g
    return out


def dcmdjpeg_frames(path: Path, tmp_path: Path) -> np.ndarray:
    """dcmtk's decoding (YCbCr converted to RGB when the header says YBR), as (frames, rows,
    columns, samples)."""
    dst = tmp_path / (path.name + ".native.dcm")
    subprocess.run(["dcmdjpeg", str(path), str(dst)], check=True, capture_output=True, timeout=60)
    ds = pydicom.dcmread(dst)
    frames, samples = int(ds.get("NumberOfFrames") or 1), int(ds.SamplesPerPixel)
    return ds.pixel_array.reshape(frames, int(ds.Rows), int(ds.Columns), samples)


def pillow_frames(ds: pydicom.Dataset) -> np.ndarray:
    """Pillow's decoding of each frame's stream (YCbCr converted to RGB by libjpeg's guess)."""
    frames = int(ds.get("NumberOfFrames") or 1)
    out = []
    for data in generate_frames(ds.PixelData, number_of_frames=frames):
        arr = np.asarray(Image.open(io.BytesIO(data)))
        out.append(arr.reshape(*arr.shape[:2], -1))
    return np.stack(out)


def check_block_by_block(a: np.ndarray, b: np.ndarray, units: Units, rects, black: int) -> None:
    """Outside the replaced units (widened by one pixel where chroma is subsampled: a
    decoder's upsampling filter reaches one sample into the next unit) `a` and `b` are equal
    8x8 block by 8x8 block; inside, `b` is black (every sample <= `black`)."""
    replaced = units.replaced(rects)
    reach = 1 if units.subsampled else 0
    touched, inside = grow(replaced, reach), ~grow(~replaced, reach)
    for f in range(a.shape[0]):
        diff = np.any(a[f] != b[f], axis=-1) & ~touched
        if diff.any():
            blocks = sorted({(int(r) // 8, int(c) // 8) for r, c in np.argwhere(diff)})
            raise AssertionError(
                f"frame {f}: {len(blocks)} 8x8 blocks outside the replaced units changed, "
                f"the first at block (row, column) {blocks[0]}"
            )
        assert b[f][inside].max() <= black, (f, np.unique(b[f][inside], axis=0)[-4:])
    assert inside.any()


DECODED = [
    "gray",
    "rgb420",
    "rgb444",
    "rgb422",
    "gray-frames",
    "rgb-frames",
    "rgb-frames-no-bot",
    "rgb-frames-split",
    "rgb-frames-split-no-bot",
    "rgb-frames-eot",
    "rgb-restart-odd-size",
]


@pytest.mark.skipif(shutil.which("dcmdjpeg") is None, reason="dcmdjpeg (dcmtk) not installed")
@pytest.mark.parametrize("name", DECODED)
def test_dcmdjpeg_decodes_every_block_outside_the_units_as_before(
    name: str, made: dict[str, Path], tmp_path: Path
) -> None:
    src = made[name]
    script = SITE_SCRIPT.replace(rule_text(BANNER), rule_text(BANNER) + " " + rule_text(ODD))
    dst = tmp_path / "out.dcm"
    dst.write_bytes(clean(src, script).to_bytes())
    ds = read_any(src)
    units = units_of(next(generate_frames(ds.PixelData, number_of_frames=1)))
    black = 2 if ds.SamplesPerPixel == 1 else 3
    a, b = dcmdjpeg_frames(src, tmp_path), dcmdjpeg_frames(dst, tmp_path)
    frames = int(ds.get("NumberOfFrames") or 1)
    assert a.shape == b.shape == (frames, ds.Rows, ds.Columns, ds.SamplesPerPixel)
    check_block_by_block(a, b, units, [BANNER, ODD], black)
    # the same with Pillow, on the frames as the output's fragments hold them
    check_block_by_block(
        pillow_frames(ds), pillow_frames(read_any(dst)), units, [BANNER, ODD], black
    )


def twelve_bit_jpeg(dst: Path, photometric: str) -> Path:
    """The gray picture in 12 of 16 bits (each value x16 + 7), native, then compressed by
    dcmtk's dcmcjpeg as JPEG Extended with 12-bit samples (its own optimized Huffman tables)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    arr = np.asarray(ultrasound_image(False)).astype(np.uint16) * 16 + 7
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.PatientName = "MR", "DOE^JANE"
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = arr.tobytes()
    native = dst.with_suffix(".native.dcm")
    ds.save_as(native, enforce_file_format=True)
    subprocess.run(
        ["dcmcjpeg", "+ee", str(native), str(dst)], check=True, capture_output=True, timeout=60
    )
    return dst


@pytest.mark.skipif(
    shutil.which("dcmcjpeg") is None or shutil.which("dcmdjpeg") is None,
    reason="dcmcjpeg, dcmdjpeg (dcmtk) not installed",
)
@pytest.mark.parametrize("source", ["MONOCHROME2", "MONOCHROME1", "JPGExtended.dcm"])
def test_12bit_jpeg_extended_redacted_block_by_block(source: str, tmp_path: Path) -> None:
    """12-bit JPEG Extended (dcmcjpeg's, and pydicom's JPGExtended.dcm): dcmdjpeg and pydicom
    (pylibjpeg's libjpeg) decode every 8x8 unit outside the rectangles as before, and the
    units that touch them as black (0, or 4095 for MONOCHROME1)."""
    if source.endswith(".dcm"):
        src = Path(pydicom.data.get_testdata_file(source))
        rects = [(0, 0, 256, 48), (30, 203, 150, 37)]
    else:
        src = twelve_bit_jpeg(tmp_path / "in.dcm", source)
        rects = [BANNER, ODD]
    profile = pixel_profile(" ".join(rule_text(r) for r in rects))
    out = Anonymizer(profile, key=TEST_KEY, burned_in="allow").anonymize(DicomFile.open(str(src)))
    assert out.pixel_handling is not None
    assert "JPEG redacted block by block" in out.pixel_handling, out.pixel_handling
    dst = tmp_path / "out.dcm"
    dst.write_bytes(out.to_bytes())
    ds_in, ds_out = read_any(src), read_any(dst)
    assert ds_in.file_meta.TransferSyntaxUID == ds_out.file_meta.TransferSyntaxUID
    assert ds_out.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.51"
    assert int(ds_out.BitsStored) == 12
    frame = next(generate_frames(ds_in.PixelData, number_of_frames=1))
    assert frame[frame.index(b"\xff\xc1") + 4] == 12  # 12-bit samples
    replaced = units_of(frame).replaced(rects)
    level = 4095 if ds_in.PhotometricInterpretation == "MONOCHROME1" else 0
    decoded = [
        (dcmdjpeg_frames(src, tmp_path)[0, :, :, 0], dcmdjpeg_frames(dst, tmp_path)[0, :, :, 0]),
        (ds_in.pixel_array, ds_out.pixel_array),
    ]
    for a, b in decoded:
        assert a.shape == b.shape == replaced.shape
        assert np.array_equal(a[~replaced], b[~replaced])
        assert (b[replaced] == level).all(), np.unique(b[replaced])[:8]
        assert not (a[replaced] == level).all()  # there was something to blank


def test_a_box_in_one_frame_replaces_units_of_that_frame_only(made: dict[str, Path]) -> None:
    src = made["rgb-frames-split"]
    box = dicomveil.PixelBox(*ODD, frame=2)
    out = Anonymizer(pixel_profile("(0,0,1,1)", "false"), key=TEST_KEY).anonymize(
        DicomFile.open(str(src)), boxes=[box]
    )
    ds_in = read_any(src)
    a, b = pillow_frames(ds_in), pillow_frames(read_any(out.to_bytes()))
    units = units_of(next(generate_frames(ds_in.PixelData, number_of_frames=FRAMES)))
    check_block_by_block(a[2:3], b[2:3], units, [ODD], 3)
    others = [0, 1, 3]
    assert np.array_equal(a[others], b[others])


@pytest.mark.parametrize("name", ["rgb-label", "rgb-label-jfif"])
def test_rgb_label_on_a_ycbcr_stream_is_black_as_pydicom_reads_it(
    name: str, made: dict[str, Path]
) -> None:
    """A stream labelled RGB that holds YCbCr: black as pydicom reads it (it follows the label,
    unless a JFIF segment says YCbCr), every pixel outside the replaced units as before. Decoders
    do not agree on such files (Pillow follows libjpeg's guess, YCbCr, when no JFIF segment is
    there; dcmdjpeg the label): for them, the replaced units hold one color, the name is gone."""
    src = made[name]
    out = clean(src).to_bytes()
    ds_in, ds_out = read_any(src), read_any(out)
    check_wrapping(ds_in, ds_out)
    units = units_of(next(generate_frames(ds_in.PixelData, number_of_frames=1)))
    a, b = ds_in.pixel_array[None], ds_out.pixel_array[None]
    check_block_by_block(a, b, units, [BANNER], 3)
    p = pillow_frames(ds_out)[0]
    inside = p[~grow(~units.replaced([BANNER]), 1)]
    assert len(np.unique(inside, axis=0)) == 1, np.unique(inside, axis=0)[:4]


def progressive_as_baseline(tmp_path: Path) -> Path:
    """A progressive stream in a file that says JPEG Baseline."""
    src = img2dcm([pillow_jpeg(True, progressive=True)], tmp_path / "progressive.dcm")
    ds = pydicom.dcmread(src)
    ds.file_meta.TransferSyntaxUID = JPEG_BASELINE
    ds.save_as(src)
    return src


def test_a_progressive_stream_is_refused_and_nothing_written(tmp_path: Path) -> None:
    src, dst = progressive_as_baseline(tmp_path), tmp_path / "out.dcm"
    profile = pixel_profile("(0,0,1,1)")
    profile.pixel_rules = dicomveil.parse_pixel_rules(SITE_SCRIPT)
    with pytest.raises(
        dicomveil.PixelDataError,
        match=r"a frame \(0\) that cannot be redacted: progressive JPEG \(SOF2\)",
    ):
        Anonymizer(profile, key=TEST_KEY).anonymize_file(src, dst)
    assert not dst.exists()


def test_the_refusal_of_a_progressive_stream_reads_well(tmp_path: Path) -> None:
    src = progressive_as_baseline(tmp_path)
    with pytest.raises(dicomveil.PixelDataError) as e:
        clean(src)
    message = str(e.value)
    assert "cannot be cleaned: it has a frame (0) that cannot be redacted: progressive JPEG" in (
        message
    ), message


# ---------------------------------------------------------------------------------------------
# 3. Header segments that hold the name
# ---------------------------------------------------------------------------------------------


def segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(body) + 2).to_bytes(2, "big") + body


def jpeg_with_the_name_in_its_header() -> bytes:
    """Pillow's JPEG with the name in an Exif APP1 (ImageDescription, Artist, XPAuthor in
    UTF-16) and a COM segment, plus, inserted by hand, XMP (APP1), Photoshop (APP13), APP15
    and a JFXX APP0 after the JFIF one."""
    img = ultrasound_image(True)
    exif = img.getexif()
    exif[0x010E] = f"Patient {BANNER_TEXT}"  # ImageDescription
    exif[0x013B] = "DOE^JANE"  # Artist
    exif[0x9C9D] = "DOE^JANE".encode("utf-16-le") + b"\0\0"  # XPAuthor
    bio = io.BytesIO()
    img.save(bio, "JPEG", quality=90, exif=exif, comment=f"{BANNER_TEXT} study 42".encode())
    data = bio.getvalue()
    assert data[2:4] == b"\xff\xe0"  # JFIF first
    after_jfif = 4 + int.from_bytes(data[4:6], "big")
    name = BANNER_TEXT.encode()
    extra = (
        segment(0xE0, b"JFXX\0\x10" + name)
        + segment(0xE1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>" + name + b"</x:xmpmeta>")
        + segment(0xED, b"Photoshop 3.0\0" + name)
        + segment(0xEF, name)
    )
    return data[:after_jfif] + extra + data[after_jfif:]


NAME_FORMS = [BANNER_TEXT.encode(), b"DOE^JANE", "DOE^JANE".encode("utf-16-le"), b"1966"]


def test_header_segments_holding_the_name_are_gone(tmp_path: Path) -> None:
    """img2dcm keeps the APPn (-ka) and COM segments; after cleaning, the name is nowhere in
    the file, the JFIF segment and the image remain."""
    src = img2dcm([jpeg_with_the_name_in_its_header()], tmp_path / "exif.dcm", "-ka")
    raw = src.read_bytes()
    for form in NAME_FORMS:
        assert form in raw, form
    out = clean(src)
    data = out.to_bytes()
    for form in NAME_FORMS:
        assert form not in data, form
    ds_in, ds_out = read_any(src), read_any(data)
    check_wrapping(ds_in, ds_out)
    frame = next(generate_frames(ds_out.PixelData, number_of_frames=1))
    assert frame[2:4] == b"\xff\xe0" and frame[6:11] == b"JFIF\0"
    markers, i = [], 2
    while frame[i + 1] != 0xDA:
        markers.append(frame[i + 1])
        i += 2 + int.from_bytes(frame[i + 2 : i + 4], "big")
    assert not {m for m in markers if 0xE1 <= m <= 0xEF and m != 0xEE} | ({0xFE} & {*markers})
    assert markers.count(0xE0) == 1
    units = units_of(frame)
    check_block_by_block(pillow_frames(ds_in), pillow_frames(ds_out), units, [BANNER], 3)


@pytest.mark.parametrize("frames", [1, 3])
def test_header_segments_are_dropped_under_the_basic_profile_without_rules(
    frames: int, tmp_path: Path
) -> None:
    """No pixel rule, no CLEAN_PIXEL_DATA: the Basic profile still drops the segments that
    name the patient (and only them: the scans are byte-identical), and the offset table
    follows the shorter frames."""
    jpeg = jpeg_with_the_name_in_its_header()
    src = img2dcm([jpeg] * frames, tmp_path / "exif.dcm", "-ka")
    out = Anonymizer(key=TEST_KEY, burned_in="allow").anonymize(dicomveil.DicomFile.open(src))
    data = out.to_bytes()
    for form in NAME_FORMS:
        assert form not in data, form
    assert out.pixel_handling is not None
    assert "JPEG header segment(s) that may hold text dropped" in out.pixel_handling
    ds_in, ds_out = read_any(src), read_any(data)
    before = list(generate_frames(ds_in.PixelData, number_of_frames=frames))
    after = list(generate_frames(ds_out.PixelData, number_of_frames=frames))
    assert len(after) == frames
    for a, b in zip(before, after, strict=True):
        sos_a, sos_b = a.index(b"\xff\xda"), b.index(b"\xff\xda")
        assert len(b) < len(a) and a[sos_a:] == b[sos_b:]
    assert np.array_equal(ds_in.pixel_array, ds_out.pixel_array)
    # a profile weaker than the Basic one (custom, empty) keeps the stream as it is
    kept = Anonymizer(
        dicomveil.ConfidentialityProfile.empty(), key=TEST_KEY, burned_in="allow"
    ).anonymize(dicomveil.DicomFile.open(src))
    assert read_any(kept.to_bytes()).PixelData == ds_in.PixelData


# ---------------------------------------------------------------------------------------------
# 4. dciodvfy: cleaning adds no error
# ---------------------------------------------------------------------------------------------


@cache
def _input_errors(path: Path) -> tuple[frozenset[str], bool]:
    errors, read_ok = dciodvfy_errors(path)
    return frozenset(errors), read_ok


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) not installed")
@pytest.mark.parametrize("name", ["gray", "rgb420", "rgb-frames", "rgb-frames-split"])
def test_dciodvfy_finds_no_new_error(name: str, made: dict[str, Path], tmp_path: Path) -> None:
    src = made[name]
    before, read_ok = _input_errors(src)
    assert read_ok, sorted(before)
    out = tmp_path / "out.dcm"
    out.write_bytes(clean(src).to_bytes())
    after, read_ok = dciodvfy_errors(out)
    assert read_ok, sorted(after)
    new = sorted(after - before)
    assert not new, "\n".join(new)
