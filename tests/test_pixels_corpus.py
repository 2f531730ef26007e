"""Clean Pixel Data on real files, checked with decoders that are not dicomveil's.

tests/test_pixels.py checks every layout on files made with pydicom. Here the files are real:

* every file pydicom ships with native pixel data (and a few of its compressed files that
  dcmtk decompresses, for layouts the wheel has no native file of: multi-frame, 16- and 32-bit
  RGB, YBR_FULL in both planar configurations), de-identified with the rule ``{ true }
  (x,y,w,h)`` and read back with pydicom: inside the rectangle every pixel is the blank of its
  photometric interpretation, outside it every pixel is bit-identical to the input's, in every
  frame; ``DicomFile.frames()`` reads what pydicom reads;
* every compressed file no codec cleans (JPEG-LS, a JPEG stream that is not sequential, a
  stream that does not decode): refused with PixelDataError, nothing written (the JPEG files
  redacted block by block are checked below; RLE, JPEG Lossless and JPEG 2000 in
  tests/test_pixels_codecs.py);
* a second decoder, dcmtk's dcm2pnm, on a subset of layouts;
* ultrasound-like images with a name drawn into their pixels (Pillow, wrapped by dcmtk's
  img2dcm): tesseract reads the name in the input and not in the output;
* dciodvfy (dicom3tools) finds no new error in a few cleaned files.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import dicomveil
import numpy as np
import pydicom
import pytest
from conftest import ANONYMIZED_CORPUS, PYDICOM_DATA, corpus_id
from dicomveil import Anonymizer, DicomFile, PixelDataError
from pydicom.pixels import apply_color_lut
from util import (
    BANNER,
    FONT,
    SITE_SCRIPT,
    TEST_KEY,
    clean_pixels,
    dciodvfy_errors,
    dcm2pnm_frames,
    ocr,
    pixel_profile,
    read_any,
    region_mask,
    rule_text,
    transfer_syntax_of,
    ultrasound_image,
)

PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def _scan() -> tuple[list[Path], list[Path]]:
    """The corpus files with pixel data: (native, encapsulated)."""
    native, encapsulated = [], []
    for path in ANONYMIZED_CORPUS:
        try:
            ds = pydicom.dcmread(path, force=True, defer_size=64)
        except Exception:  # test_corpus.py says why
            continue
        if not any(k in ds for k in PIXEL_KEYWORDS):
            continue
        ts = transfer_syntax_of(ds)
        if ts is not None and pydicom.uid.UID(ts).is_encapsulated:
            encapsulated.append(path)
        else:
            native.append(path)
    return native, encapsulated


NATIVE, ALL_COMPRESSED = _scan()

JPEG_SYNTAXES = ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51")


#: JPEG files that cannot be redacted block by block: JPEG-lossy.dcm (12-bit) declares
#: Se=0 in its sequential scan, which libjpeg-based decoders read as 63, with a warning
JPEG_REFUSED = {"test_files/JPEG-lossy.dcm"}


def _jpeg_blockwise(path: Path) -> bool:
    """JPEG Baseline, and JPEG Extended of 8 or 12 bits."""
    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    ts, stored = transfer_syntax_of(ds), int(ds.get("BitsStored", 0) or 0)
    redactable = stored <= 8 or (stored <= 12 and ts == JPEG_SYNTAXES[1])
    return ts in JPEG_SYNTAXES and redactable and corpus_id(path) not in JPEG_REFUSED


#: Decoded, blanked and written losslessly (issue 19; tests/test_pixels_codecs.py): RLE
#: Lossless, JPEG Lossless, JPEG 2000
DECODED_SYNTAXES = (
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.81",
)
#: Files of those syntaxes that still cannot be cleaned: the stream does not decode (pydicom
#: and its plugins fail on it too)
UNDECODABLE = {"test_files/JPEG2000-embedded-sequence-delimiter.dcm"}


def _decoded(path: Path) -> bool:
    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    return transfer_syntax_of(ds) in DECODED_SYNTAXES and corpus_id(path) not in UNDECODABLE


#: JPEG Baseline and 8- and 12-bit Extended: redacted block by block (issue 19); RLE, JPEG
#: Lossless, JPEG-LS and JPEG 2000 decoded; what is left is refused (JPEG_REFUSED, streams
#: that do not decode)
JPEG = [p for p in ALL_COMPRESSED if _jpeg_blockwise(p)]
DECODED = [p for p in ALL_COMPRESSED if _decoded(p)]
COMPRESSED = [p for p in ALL_COMPRESSED if p not in JPEG and p not in DECODED]

#: Native files dicomveil refuses to clean, with what its message must say: their headers do
#: not describe the pixel data (pydicom cannot decode them either).
NATIVE_REFUSED = {
    "test_files/badVR.dcm": r"invalid Number of Frames",  # NumberOfFrames "1A"
    "test_files/meta_missing_tsyntax.dcm": r"no valid Rows",  # a fragment with no image
    "test_files/nested_priv_SQ.dcm": r"no valid Rows",
}

#: Layouts the wheel has in compressed files only, made native by dcmtk: (source file, the
#: dcmdrle or dcmdjpeg arguments). +cn keeps YCbCr as it is, +pl stores color by plane.
DECOMPRESSED = {
    "rgb8-2frames": ("SC_rgb_rle_2frame.dcm", ["dcmdrle"]),
    "rgb16-2frames": ("SC_rgb_rle_16bit_2frame.dcm", ["dcmdrle"]),
    "rgb32-2frames": ("SC_rgb_rle_32bit_2frame.dcm", ["dcmdrle"]),
    "mono32-15frames-rle": ("rtdose_rle.dcm", ["dcmdrle"]),
    "ybr-full-planar0": ("SC_rgb_dcmtk_+eb+cy+n1.dcm", ["dcmdjpeg", "+cn", "+px"]),
    "ybr-full-planar1": ("SC_rgb_dcmtk_+eb+cy+n1.dcm", ["dcmdjpeg", "+cn", "+pl"]),
    "ybr-full-30frames": ("examples_ybr_color.dcm", ["dcmdjpeg", "+cn"]),
}


def rect_for(ds: pydicom.Dataset) -> tuple[int, int, int, int]:
    """A rectangle (x, y, w, h) inside the image, away from its edges where there is room; in
    whole pixel pairs for YBR_FULL_422 (the engine blanks whole pairs)."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    x, w = cols // 4, max(1, cols // 2)
    y, h = rows // 4, max(1, rows // 3)
    if str(ds.get("PhotometricInterpretation", "")).endswith("_422"):
        x, w = x & ~1, max(2, w & ~1)
    return x, y, w, h


def pydicom_frames(ds: pydicom.Dataset) -> np.ndarray:
    """pydicom's decoding, stored values (no color conversion), as (frames, rows, columns,
    samples)."""
    ds.pixel_array_options(raw=True)
    arr = ds.pixel_array
    frames = int(ds.get("NumberOfFrames") or 1)
    samples = int(ds.get("SamplesPerPixel") or 1)
    return arr.reshape(frames, int(ds.Rows), int(ds.Columns), samples)


def dicomveil_frames(src: bytes | Path) -> np.ndarray:
    f = DicomFile.open(src if isinstance(src, bytes) else str(src))
    lay = f.pixel_layout
    return np.stack(list(f.frames())).reshape(lay.frames, lay.rows, lay.columns, lay.samples)


def bits(a: np.ndarray) -> np.ndarray:
    """The array's samples as unsigned integers of the same size: compared bit for bit."""
    return a.view(f"u{a.dtype.itemsize}") if a.dtype.kind in "fi" else a


def expected_blank(ds: pydicom.Dataset) -> list[float]:
    """The blank of the photometric interpretation, one value per sample, from the header."""
    if "FloatPixelData" in ds or "DoubleFloatPixelData" in ds:
        return [0.0]
    pi = str(ds.PhotometricInterpretation)
    stored, signed = int(ds.BitsStored), int(ds.PixelRepresentation) == 1
    lo, hi = (-(1 << (stored - 1)), (1 << (stored - 1)) - 1) if signed else (0, (1 << stored) - 1)
    padding = ds.get("PixelPaddingValue")
    if pi == "MONOCHROME2":
        return [lo if padding is None else int(padding)]
    if pi == "MONOCHROME1":
        return [hi if padding is None else int(padding)]
    if pi == "RGB":
        return [0, 0, 0]
    if pi in ("YBR_FULL", "YBR_FULL_422"):
        return [0, 1 << (stored - 1), 1 << (stored - 1)]
    raise AssertionError(f"no blank known for {pi}")


def check_palette_blank(ds: pydicom.Dataset, inside: np.ndarray) -> None:
    """Inside is one stored value whose color is the palette's darkest (the lowest sum of red,
    green and blue), by pydicom's reading of the palette."""
    values = np.unique(inside)
    assert values.size == 1, f"inside the region: several values {values[:8]}"
    first = int(ds.RedPaletteColorLookupTableDescriptor[1])
    entries = int(ds.RedPaletteColorLookupTableDescriptor[0]) or 65536
    lut = apply_color_lut(np.arange(first, first + entries), ds).astype(np.int64)
    darkest = lut.sum(axis=1).min()
    got = apply_color_lut(values, ds).astype(np.int64)[0]
    assert got.sum() == darkest, f"blank {values[0]} reads as {got}, darkest sum is {darkest}"


def check_cleaned(before: Path | bytes, after: bytes, rect: tuple[int, int, int, int]) -> None:
    """pydicom's decodings of `before` and `after`: blank inside `rect`, bit-identical outside
    it, in every frame; dicomveil's frame API reads what pydicom reads."""
    ds_in, ds_out = read_any(before), read_any(after)
    a, b = pydicom_frames(ds_in), pydicom_frames(ds_out)
    assert a.shape == b.shape and a.dtype == b.dtype
    mask = np.broadcast_to(region_mask(a.shape[1:], rect), a.shape)
    changed = [tuple(int(v) for v in at) for at in np.argwhere((bits(a) != bits(b)) & ~mask)]
    assert not changed, (
        f"{len(changed)} samples outside the region changed, the first at (frame, row, "
        f"column, sample) {changed[0]}: {a[changed[0]]} -> {b[changed[0]]}"
    )
    inside = b[mask].reshape(-1, a.shape[-1])
    assert inside.size > 0
    if str(ds_in.get("PhotometricInterpretation")) == "PALETTE COLOR":
        check_palette_blank(ds_in, inside)
    else:
        blank = expected_blank(ds_in)
        wrong = ~np.all(inside == np.array(blank, dtype=inside.dtype), axis=1)
        assert not wrong.any(), (
            f"{wrong.sum()} of {len(inside)} pixels inside the region are not the blank "
            f"{blank}: {np.unique(inside[wrong], axis=0)[:4].tolist()}"
        )
    for src, ref in ((before, a), (after, b)):
        got = dicomveil_frames(src)
        assert got.shape == ref.shape and np.array_equal(got, ref), "frames() differs from pydicom"


# ---------------------------------------------------------------------------------------------
# 1. pydicom's files: every native one cleaned, every compressed one no codec cleans refused
# ---------------------------------------------------------------------------------------------


def test_the_corpus_has_the_layouts() -> None:
    """What the native files below cover (the wheel has no native multi-frame SEG, parametric
    map or float pixel data: the decompressed files and tests/test_pixels.py cover those)."""
    seen = set()
    for path in NATIVE:
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
        if corpus_id(path) in NATIVE_REFUSED:
            continue
        seen.add(str(ds.PhotometricInterpretation))
        seen.add(f"bits {ds.BitsAllocated}")
        if int(ds.get("NumberOfFrames") or 1) > 1:
            seen.add("multi-frame")
        if transfer_syntax_of(ds) == pydicom.uid.ExplicitVRBigEndian:
            seen.add("big endian")
        if "PixelPaddingValue" in ds:
            seen.add("padding")
        if int(ds.get("SamplesPerPixel", 1)) == 3:
            seen.add(f"planar {ds.get('PlanarConfiguration', 0)}")
    assert seen >= {
        "MONOCHROME1",
        "MONOCHROME2",
        "RGB",
        "PALETTE COLOR",
        "YBR_FULL_422",
        "bits 1",
        "bits 8",
        "bits 16",
        "bits 32",
        "multi-frame",
        "big endian",
        "padding",
        "planar 0",
        "planar 1",
    }, seen
    assert len(ALL_COMPRESSED) >= 30 and len(JPEG) >= 10 and len(DECODED) >= 15
    assert len(COMPRESSED) >= 2  # JPEG_REFUSED, a stream that does not decode


@pytest.mark.parametrize("path", NATIVE, ids=[corpus_id(p) for p in NATIVE])
def test_native_file_blanked_inside_the_rule_only(path: Path, tmp_path: Path) -> None:
    cid = corpus_id(path)
    if cid in NATIVE_REFUSED:
        dst = tmp_path / "out.dcm"
        with pytest.raises(PixelDataError, match=NATIVE_REFUSED[cid]):
            Anonymizer(pixel_profile("(0,0,1,1)"), key=TEST_KEY).anonymize_file(path, dst)
        assert not dst.exists()
        return
    rect = rect_for(pydicom.dcmread(path, force=True, stop_before_pixels=True))
    out = Anonymizer(pixel_profile(rule_text(rect)), key=TEST_KEY).anonymize(
        DicomFile.open(str(path))
    )
    assert out.pixel_handling == "cleaned by rule 1 (banner)"
    check_cleaned(path, out.to_bytes(), rect)


@pytest.fixture(scope="session")
def decompressed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The files of DECOMPRESSED, made once by dcmtk."""
    out = tmp_path_factory.mktemp("decompressed")
    made = {}
    for name, (source, cmd) in DECOMPRESSED.items():
        if shutil.which(cmd[0]) is None:
            continue
        dst = out / f"{name}.dcm"
        subprocess.run(
            [*cmd, str(PYDICOM_DATA / "test_files" / source), str(dst)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        made[name] = dst
    return made


@pytest.mark.parametrize("name", list(DECOMPRESSED))
def test_decompressed_file_blanked_inside_the_rule_only(
    name: str, decompressed: dict[str, Path]
) -> None:
    if name not in decompressed:
        pytest.skip(f"{DECOMPRESSED[name][1][0]} (dcmtk) not installed")
    path = decompressed[name]
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    assert not pydicom.uid.UID(transfer_syntax_of(ds)).is_encapsulated
    rect = rect_for(ds)
    check_cleaned(path, clean_pixels(path, pixel_profile(rule_text(rect))), rect)


@pytest.mark.parametrize("path", COMPRESSED, ids=[corpus_id(p) for p in COMPRESSED])
def test_compressed_file_refused_and_nothing_written(path: Path, tmp_path: Path) -> None:
    dst = tmp_path / "out.dcm"
    with pytest.raises(PixelDataError, match="cannot be cleaned"):
        Anonymizer(pixel_profile("(0,0,1,1)"), key=TEST_KEY).anonymize_file(path, dst)
    assert not dst.exists()


def test_compressed_files_refused_in_a_tree(tmp_path: Path) -> None:
    """anonymize_tree: a row 'refused' with PixelDataError and no output for each compressed
    file; the native file beside them is cleaned."""
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    names = {}
    for i, path in enumerate(COMPRESSED):
        names[f"{i:03}.dcm"] = corpus_id(path)
        shutil.copy(path, src / f"{i:03}.dcm")
    shutil.copy(PYDICOM_DATA / "test_files" / "CT_small.dcm", src / "native.dcm")
    report = Anonymizer(pixel_profile("(0,0,8,8)"), key=TEST_KEY).anonymize_tree(src, dst)
    rows = {Path(f.source).name: f for f in report.files}
    assert set(rows) == {*names, "native.dcm"}
    for name, cid in names.items():
        row = rows[name]
        assert (row.status, row.error) == ("refused", "PixelDataError"), (cid, row)
        assert not (dst / name).exists(), cid
    assert rows["native.dcm"].status == "done"
    assert rows["native.dcm"].pixels == "cleaned by rule 1 (banner)"
    assert sorted(p.name for p in dst.glob("*.dcm")) == ["native.dcm"]


@pytest.mark.parametrize("path", JPEG, ids=[corpus_id(p) for p in JPEG])
def test_jpeg_redacted_block_by_block(path: Path) -> None:
    """Every 8- and 12-bit JPEG file: the blocks under the rectangle decode black, every pixel
    further than one 16x16 unit from it decodes as before (no recompression), every frame."""
    ds = pydicom.dcmread(path)
    try:
        before = ds.pixel_array
    except Exception as e:  # no decoder for it here
        pytest.skip(f"pydicom cannot decode it: {e}")
    rows, cols = int(ds.Rows), int(ds.Columns)
    if rows < 64 or cols < 64:  # a tiny image: all of it
        rect = (0, 0, cols, rows)
    else:
        x, y = (cols // 3) // 16 * 16, (rows // 3) // 16 * 16
        rect = (x, y, 32, 32)
    out = clean_pixels(path, pixel_profile(rule_text(rect)))
    after = pydicom.dcmread(io.BytesIO(out)).pixel_array
    assert after.shape == before.shape
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    b = after if frames > 1 else after[None]
    a = before if frames > 1 else before[None]
    rx, ry, rw, rh = rect
    m = 2 if rw > 8 else 0
    inside = b[:, ry + m : ry + rh - m, rx + m : rx + rw - m]
    assert inside.size and inside.max() <= 3, inside.max()
    far = np.ones(a.shape[1:3], bool)
    far[max(ry - 16, 0) : ry + rh + 16, max(rx - 16, 0) : rx + rw + 16] = False
    assert np.array_equal(a[:, far], b[:, far])
    note = pydicom.dcmread(io.BytesIO(out)).BurnedInAnnotation
    assert note == "NO"


# ---------------------------------------------------------------------------------------------
# 2. A second decoder: dcmtk's dcm2pnm
# ---------------------------------------------------------------------------------------------

#: Files of each layout, and how dcm2pnm renders the blank (no VOI window: the whole range of
#: stored values, after the rescale, scaled linearly; MONOCHROME1 inverted; palette and YBR
#: turned into RGB). None: one value, not known in advance (where the padding value or a
#: rescaled range puts it, the palette's darkest color), and no pixel of the input darker.
DCMTK_SUBSET = {
    "charset_files/chrX1.dcm": 0,  # 8-bit MONOCHROME2
    "test_files/MR_small.dcm": 0,  # 16-bit signed MONOCHROME2
    "test_files/MR_small_bigendian.dcm": 0,  # the same, big endian
    "test_files/examples_overlay.dcm": 0,  # 12 of 16 bits, an overlay (not rendered)
    "test_files/CT_small.dcm": None,  # 16-bit signed with a Pixel Padding Value
    "test_files/dicomdirtests/77654033/CR1/6154": None,  # MONOCHROME1, 12 of 16, rescaled
    "test_files/liver_1frame.dcm": 0,  # 1-bit SEG
    "test_files/examples_rgb_color.dcm": 0,  # RGB, planar configuration 0
    "test_files/ExplVR_BigEnd.dcm": 0,  # RGB, planar configuration 1, big endian
    "test_files/SC_ybr_full_422_uncompressed.dcm": 0,  # YBR_FULL_422
    "test_files/examples_palette.dcm": None,  # PALETTE COLOR: its darkest entry
    "test_files/rtdose.dcm": 0,  # 32-bit, 15 frames
}


@pytest.mark.skipif(shutil.which("dcm2pnm") is None, reason="dcm2pnm (dcmtk) not installed")
@pytest.mark.parametrize("cid", list(DCMTK_SUBSET))
def test_dcmtk_reads_blank_inside_and_the_same_pixels_outside(cid: str, tmp_path: Path) -> None:
    path = PYDICOM_DATA / cid
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    rect = rect_for(ds)
    out = tmp_path / "out.dcm"
    out.write_bytes(clean_pixels(path, pixel_profile(rule_text(rect))))
    a, b = dcm2pnm_frames(path, tmp_path), dcm2pnm_frames(out, tmp_path)
    assert len(a) == len(b) == int(ds.get("NumberOfFrames") or 1)
    for i, (fa, fb) in enumerate(zip(a, b, strict=True)):
        m = region_mask(fa.shape, rect)
        assert np.array_equal(fa[~m], fb[~m]), f"frame {i}: a pixel outside the region changed"
        inside = fb[m].reshape(-1, *fa.shape[2:])
        assert len(np.unique(inside, axis=0)) == 1, f"frame {i}: {np.unique(inside)[:8]}"
        if DCMTK_SUBSET[cid] is not None:
            assert np.all(inside == DCMTK_SUBSET[cid]), f"frame {i}: {np.unique(inside)[:8]}"
        else:
            darkest = fa.reshape(len(fa.reshape(-1)) // inside[0].size, -1).sum(axis=1).min()
            assert inside[0].sum() <= darkest, f"frame {i}: {inside[0]} is not the darkest"


# ---------------------------------------------------------------------------------------------
# 3. Text drawn into the pixels, read by OCR
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed")
@pytest.mark.skipif(shutil.which("img2dcm") is None, reason="img2dcm (dcmtk) not installed")
@pytest.mark.skipif(not FONT.is_file(), reason=f"{FONT} (fonts-dejavu-core) not installed")
@pytest.mark.parametrize("color", [False, True], ids=["gray8", "rgb"])
def test_drawn_name_is_read_before_and_not_after(color: bool, tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    bmp = tmp_path / "us.bmp"
    ultrasound_image(color).save(bmp)
    src = tmp_path / "us.dcm"
    keys = ["Modality=US", "Manufacturer=ACME Medical", "PatientName=DOE^JANE"]
    subprocess.run(
        ["img2dcm", "-i", "BMP", str(bmp), str(src), *[a for k in keys for a in ("-k", k)]],
        check=True,
        capture_output=True,
        timeout=60,
    )
    ds_in = pydicom.dcmread(src)
    assert ds_in.PhotometricInterpretation == ("RGB" if color else "MONOCHROME2")
    assert not ds_in.file_meta.TransferSyntaxUID.is_encapsulated
    profile = pixel_profile("(0,0,1,1)")
    profile.pixel_rules = dicomveil.parse_pixel_rules(SITE_SCRIPT)
    out = Anonymizer(profile, key=TEST_KEY).anonymize(DicomFile.open(str(src)))
    assert out.pixel_handling == "cleaned by rule 1 (ACME ultrasound: name banner)"
    after = out.to_bytes()
    check_cleaned(src, after, BANNER)

    before_text = ocr(ds_in.pixel_array, tmp_path, "before")
    assert re.search(r"JANE", before_text) and "1966" in before_text, before_text
    after_text = ocr(read_any(after).pixel_array, tmp_path, "after")
    assert not re.search(r"DOE|JANE|1966|07-13", after_text), after_text
    assert "MI" in after_text  # the text outside the banner is still there to read

    # a rule for another device leaves the file as it was (and the name in it)
    other = pixel_profile(rule_text(BANNER), 'Manufacturer.equals("Other")')
    kept = Anonymizer(other, key=TEST_KEY, burned_in="allow").anonymize(DicomFile.open(str(src)))
    assert kept.pixel_handling == "no rule matched"
    assert np.array_equal(read_any(kept.to_bytes()).pixel_array, ds_in.pixel_array)


# ---------------------------------------------------------------------------------------------
# 4. dciodvfy: cleaning the pixels adds no error
# ---------------------------------------------------------------------------------------------

DCIODVFY_SUBSET = [
    "test_files/CT_small.dcm",
    "test_files/MR_small.dcm",
    "test_files/examples_rgb_color.dcm",
    "test_files/examples_palette.dcm",
    "test_files/examples_overlay.dcm",
    "test_files/SC_ybr_full_422_uncompressed.dcm",
    "test_files/liver_1frame.dcm",
    "test_files/rtdose.dcm",
]


@cache
def _input_errors(path: Path) -> tuple[frozenset[str], bool]:
    errors, read_ok = dciodvfy_errors(path)
    return frozenset(errors), read_ok


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) not installed")
@pytest.mark.parametrize("cid", DCIODVFY_SUBSET)
def test_dciodvfy_finds_no_new_error(cid: str, tmp_path: Path) -> None:
    path = PYDICOM_DATA / cid
    before, read_ok = _input_errors(path)
    if not read_ok:
        pytest.skip("dciodvfy cannot read the input: nothing to compare with")
    rect = rect_for(pydicom.dcmread(path, stop_before_pixels=True))
    out = tmp_path / "out.dcm"
    out.write_bytes(clean_pixels(path, pixel_profile(rule_text(rect))))
    after, read_ok = dciodvfy_errors(out)
    assert read_ok, sorted(after)
    new = sorted(after - before)
    assert not new, "\n".join(new)


# ---------------------------------------------------------------------------------------------
# 5. The frame API on compressed pixel data: every frame decoded as pydicom decodes it
# ---------------------------------------------------------------------------------------------

#: Compressed files the frame API refuses, with what its message must say: 12-bit JPEG (no
#: decoder in the wheel), a stream that does not decode (pydicom fails on it too)
_JPEG_12 = r"16 bits allocated in transfer syntax 1\.2\.840\.10008\.1\.2\.4\.51"
FRAMES_REFUSED = {
    "test_files/JPEG-lossy.dcm": _JPEG_12,
    "test_files/JPGExtended.dcm": _JPEG_12,
    "test_files/JPEG2000-embedded-sequence-delimiter.dcm": r"does not match its 256x1024 image",
}

#: Lossy JPEG: two decoders may round the inverse DCT (and pydicom's YCbCr to RGB) differently
#: by a unit or two; every other syntax decodes to the same samples.
JPEG_TOLERANCE = 3


@pytest.mark.parametrize("path", ALL_COMPRESSED, ids=[corpus_id(p) for p in ALL_COMPRESSED])
def test_frame_api_decodes_compressed_frames_as_pydicom(path: Path) -> None:
    """DicomFile.frames() of a compressed file: pydicom's pixel_array (pylibjpeg's decoders,
    YBR JPEG converted to RGB), frame by frame; the layout says what the frames are."""
    cid = corpus_id(path)
    f = DicomFile.open(str(path))
    if cid in FRAMES_REFUSED:
        with pytest.raises(PixelDataError, match=FRAMES_REFUSED[cid]):
            f.frame(0)
        return
    ds = pydicom.dcmread(path, force=True)
    lay = f.pixel_layout
    frames = int(ds.get("NumberOfFrames") or 1)
    assert (lay.frames, lay.rows, lay.columns) == (frames, int(ds.Rows), int(ds.Columns))
    assert not lay.planar and not lay.big_endian
    pi = str(ds.PhotometricInterpretation)
    assert lay.photometric == ("RGB" if pi.startswith("YBR") else pi)
    got = np.stack(list(f.frames()))
    ref = decode_all(ds).reshape(got.shape)
    assert got.dtype == ref.dtype
    if transfer_syntax_of(ds) in ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"):
        diff = np.abs(got.astype(int) - ref.astype(int))
        assert diff.max() <= JPEG_TOLERANCE and diff.mean() < 0.5, (diff.max(), diff.mean())
    else:
        np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(f.frame(frames - 1), got[-1])
    with pytest.raises(dicomveil.FileAccessError, match=f"frame {frames} of {frames}"):
        f.frame(frames)


def decode_all(ds: pydicom.Dataset) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ds.pixel_array


def test_frame_api_reads_a_cleaned_file_before_it_is_written() -> None:
    """A cleaned JPEG 2000 file held in memory (its frames decoded only when read or
    written): frames() gives what its written bytes decode to."""
    path = PYDICOM_DATA / "test_files" / "examples_jpeg2k.dcm"
    anon = Anonymizer(pixel_profile("(4,4,20,10)"), key=TEST_KEY)
    out = anon.anonymize(DicomFile.open(str(path)))
    assert out.transfer_syntax_uid == pydicom.uid.ExplicitVRLittleEndian
    got = np.stack(list(out.frames()))
    written = decode_all(read_any(out.to_bytes()))
    np.testing.assert_array_equal(got.reshape(written.shape), written)
    assert (got[0, 4:14, 4:24] == 0).all()
