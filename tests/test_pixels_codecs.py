"""Clean Pixel Data on compressed syntaxes that are decoded (issue 19, point 2).

RLE Lossless, JPEG Lossless, JPEG-LS and JPEG 2000 frames are decoded one at a time (pure-Rust
decoders; CharLS for JPEG-LS), blanked, and written losslessly: RLE again as RLE, JPEG-LS
again as JPEG-LS Lossless (CharLS), the others as native Explicit VR Little Endian. Each of
pydicom's files of these syntaxes (and multi-frame files made here with pydicom's encoders,
and with dcmtk's dcmcjpls for JPEG-LS) is cleaned with the rule ``{ true } (x,y,w,h)`` and
decoded with pydicom (pylibjpeg plugins, an independent decoder): inside the rectangle every
pixel is black, outside it every pixel equals pydicom's decoding of the input, in every frame,
lossy sources included (decoded once, written losslessly); the transfer syntax, photometric
interpretation and lossy compression attributes say what the pixels are; dciodvfy finds no
new error.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from conftest import PYDICOM_DATA
from dicomveil import Anonymizer, PixelDataError
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from util import TEST_KEY, clean_pixels, dciodvfy_errors, pixel_profile, region_mask

RLE = [
    "MR_small_RLE.dcm",
    "SC_rgb_rle.dcm",
    "SC_rgb_rle_16bit.dcm",
    "SC_rgb_rle_16bit_2frame.dcm",
    "SC_rgb_rle_2frame.dcm",
    "SC_rgb_rle_32bit.dcm",
    "SC_rgb_rle_32bit_2frame.dcm",
    "rtdose_rle.dcm",
    "rtdose_rle_1frame.dcm",
]
JPEG_LOSSLESS = ["SC_rgb_jpeg_gdcm.dcm"]
J2K_LOSSLESS = [
    "MR_small_jp2klossless.dcm",
    "GDCMJ2K_TextGBR.dcm",  # YBR_RCT: decodes to RGB
    "examples_jpeg2k.dcm",  # YBR_RCT
    "J2K_pixelrep_mismatch.dcm",
]
J2K_LOSSY = ["693_J2KI.dcm", "JPEG2000.dcm", "SC_rgb_gdcm_KY.dcm"]
JPEG_LS = [
    "MR_small_jpeg_ls_lossless.dcm",  # 16-bit signed
    "JPEGLSNearLossless_08.dcm",  # near-lossless: stays marked lossy
    "JPEGLSNearLossless_16.dcm",
    "SC_rgb_jls_lossy_line.dcm",  # RGB, line interleaved
    "SC_rgb_jls_lossy_sample.dcm",  # RGB, sample interleaved
]
FILES = RLE + JPEG_LOSSLESS + J2K_LOSSLESS + J2K_LOSSY + JPEG_LS


def data_path(name: str) -> Path:
    return PYDICOM_DATA / "test_files" / name


def rect_for(ds: pydicom.Dataset) -> tuple[int, int, int, int]:
    rows, cols = int(ds.Rows), int(ds.Columns)
    return cols // 4, rows // 4, max(1, cols // 2), max(1, rows // 3)


def decode(ds: pydicom.Dataset) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ds.pixel_array


def black_of(ds: pydicom.Dataset) -> int | float:
    """The blank value of a decoded monochrome image (Pixel Padding Value when there is one)."""
    if "PixelPaddingValue" in ds:
        return int(ds.PixelPaddingValue)
    bits = int(ds.BitsStored)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        return (1 << (bits - 1)) - 1 if ds.PixelRepresentation else (1 << bits) - 1
    return -(1 << (bits - 1)) if ds.PixelRepresentation else 0


def check(src: bytes | Path, out: bytes, rect: tuple[int, int, int, int]) -> pydicom.Dataset:
    """The cleaned file `out` of `src`: black inside `rect`, pydicom's decoding of `src`
    outside it; its header tells the truth. Returns it read by pydicom."""
    before_ds = pydicom.dcmread(io.BytesIO(src) if isinstance(src, bytes) else src)
    after_ds = pydicom.dcmread(io.BytesIO(out))
    before, after = decode(before_ds), decode(after_ds)
    assert after.shape == before.shape
    frames = int(before_ds.get("NumberOfFrames") or 1)
    mask = region_mask(before.shape, rect, frames)
    np.testing.assert_array_equal(after[~mask], before[~mask])
    inside = after[mask]
    if int(after_ds.SamplesPerPixel) == 3:
        assert after_ds.PhotometricInterpretation == "RGB"
        assert (inside == 0).all()
    else:
        assert (inside == black_of(after_ds)).all(), np.unique(inside)[:5]
    src_ts = before_ds.file_meta.TransferSyntaxUID
    out_ts = after_ds.file_meta.TransferSyntaxUID
    if src_ts == RLELossless:
        assert out_ts == RLELossless
        assert after_ds.PhotometricInterpretation == before_ds.PhotometricInterpretation
    elif src_ts in (JPEGLSLossless, JPEGLSNearLossless):
        # written again as JPEG-LS lossless: one fragment per frame and an offset table
        assert out_ts == JPEGLSLossless
        assert after_ds.PhotometricInterpretation == before_ds.PhotometricInterpretation
        assert b"\xff\xf7" in after_ds.PixelData  # SOF55
        if frames > 1:
            from pydicom.encaps import parse_basic_offsets

            assert len(parse_basic_offsets(after_ds.PixelData)) == frames
    else:
        assert out_ts == ExplicitVRLittleEndian
        assert len(after_ds.PixelData) >= before.size * before.itemsize
        if int(after_ds.SamplesPerPixel) == 3:
            assert after_ds.PlanarConfiguration == 0
    if src_ts == JPEGLSNearLossless and _jls_near(before_ds) > 0:
        assert after_ds.LossyImageCompression == "01"
        assert "ISO_14495_1" in str(after_ds.get("LossyImageCompressionMethod"))
    elif before_ds.get("LossyImageCompression") == "01" or src_ts == "1.2.840.10008.1.2.4.91":
        lossy = before_ds.get("LossyImageCompression") == "01" or not _reversible(before_ds)
        if lossy:
            assert after_ds.LossyImageCompression == "01"
            if src_ts == "1.2.840.10008.1.2.4.91" and not _reversible(before_ds):
                assert "ISO_15444_1" in str(after_ds.LossyImageCompressionMethod)
            for kw in ("LossyImageCompressionRatio", "LossyImageCompressionMethod"):
                if kw in before_ds:
                    assert after_ds[kw].value == before_ds[kw].value
    else:
        # never claimed lossy (or lossless) where the source did not say
        assert after_ds.get("LossyImageCompression") == before_ds.get("LossyImageCompression")
    return after_ds


def _jls_near(ds: pydicom.Dataset) -> int:
    """The NEAR parameter of the first JPEG-LS scan (0: lossless)."""
    data = ds.PixelData
    sos = data.find(b"\xff\xda")
    ns = data[sos + 4]
    return data[sos + 5 + 2 * ns]


def _reversible(ds: pydicom.Dataset) -> bool:
    """Whether the first JPEG 2000 frame uses the reversible 5-3 wavelet (COD)."""
    data = ds.PixelData
    cod = data.find(b"\xff\x52", data.find(b"\xff\x4f\xff\x51"))
    return data[cod + 13] == 1


@pytest.mark.parametrize("name", FILES)
def test_decoded_file_blanked_inside_the_rule_only(name: str) -> None:
    path = data_path(name)
    if not path.exists():
        pytest.skip(f"{name} is not in this pydicom")
    rect = rect_for(pydicom.dcmread(path, stop_before_pixels=True))
    check(path, clean_pixels(path, pixel_profile("({},{},{},{})".format(*rect))), rect)


def test_ybr_rct_becomes_rgb() -> None:
    path = data_path("GDCMJ2K_TextGBR.dcm")
    assert pydicom.dcmread(path).PhotometricInterpretation == "YBR_RCT"
    out = pydicom.dcmread(io.BytesIO(clean_pixels(path, pixel_profile("(0,0,4,4)"))))
    assert out.PhotometricInterpretation == "RGB"


def _multiframe(syntax: str, frames_per_fragment: int = 1, **kw: object) -> bytes:
    """SC_rgb_rle_2frame.dcm compressed again with pydicom in `syntax` (its frames split in
    `frames_per_fragment` fragments, no Basic Offset Table)."""
    from pydicom.encaps import encapsulate, generate_frames

    ds = pydicom.dcmread(data_path("SC_rgb_rle_2frame.dcm"))
    arr = decode(ds)
    ds.compress(syntax, arr, encoding_plugin="pylibjpeg", **kw)
    if frames_per_fragment > 1:
        frames = list(generate_frames(ds.PixelData, number_of_frames=2))
        ds.PixelData = encapsulate(frames, fragments_per_frame=frames_per_fragment, has_bot=False)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _dcmtk(tool: str, src: Path, dst: Path, *args: str) -> None:
    subprocess.run([tool, *args, str(src), str(dst)], check=True, capture_output=True, timeout=60)


@pytest.mark.skipif(shutil.which("dcmcjpls") is None, reason="dcmcjpls (dcmtk) not installed")
@pytest.mark.parametrize(
    "options",
    [["+in"], ["+il"], ["+is"], ["+en", "+in"], ["+fs", "1"]],
    ids=["lossless-planes", "lossless-line", "lossless-sample", "near-lossless", "fragments"],
)
def test_multiframe_jpeg_ls_made_by_dcmtk(options: list[str], tmp_path: Path) -> None:
    """A 2-frame RGB file encoded by dcmtk's dcmcjpls (a scan per component, line or sample
    interleaved, near-lossless, frames split in 1 KB fragments): every frame cleaned, and
    what dcmtk's dcmdjpls decodes outside the rectangle is what it decoded before."""
    native, src = tmp_path / "native.dcm", tmp_path / "jls.dcm"
    _dcmtk("dcmdrle", data_path("SC_rgb_rle_2frame.dcm"), native)
    _dcmtk("dcmcjpls", native, src, *options)
    rect = (20, 10, 40, 30)
    out = tmp_path / "out.dcm"
    out.write_bytes(clean_pixels(src, pixel_profile("({},{},{},{})".format(*rect))))
    after_ds = check(src, out.read_bytes(), rect)
    assert after_ds.file_meta.TransferSyntaxUID == JPEGLSLossless
    # dcmtk's own decoder (CharLS inside dcmtk), on the input and on the output
    a, b = tmp_path / "a.dcm", tmp_path / "b.dcm"
    _dcmtk("dcmdjpls", src, a)
    _dcmtk("dcmdjpls", out, b)
    before, after = decode(pydicom.dcmread(a)), decode(pydicom.dcmread(b))
    mask = region_mask(before.shape, rect, 2)
    np.testing.assert_array_equal(after[~mask], before[~mask])
    assert (after[mask] == 0).all()


@pytest.mark.parametrize("fragments", [1, 3])
def test_multiframe_jpeg2000(fragments: int) -> None:
    """A 2-frame JPEG 2000 file (frames in one or three fragments each): every frame."""
    try:
        src = _multiframe(JPEG2000Lossless, fragments)
    except Exception as e:  # no encoder here
        pytest.skip(f"pydicom cannot encode JPEG 2000: {e}")
    rect = (20, 10, 40, 30)
    check(src, clean_pixels(src, pixel_profile("({},{},{},{})".format(*rect))), rect)


def test_multiframe_rle_made_by_pydicom() -> None:
    src = _multiframe(RLELossless)
    rect = (3, 5, 50, 20)
    out = clean_pixels(src, pixel_profile("({},{},{},{})".format(*rect)))
    check(src, out, rect)


def test_per_frame_box_on_rle() -> None:
    """A box of one frame (the frame API) blanks that frame only."""
    from dicomveil import DicomFile

    path = data_path("SC_rgb_rle_2frame.dcm")
    before = decode(pydicom.dcmread(path))
    f = Anonymizer(pixel_profile("(0,0,1,1)", when="false"), key=TEST_KEY).anonymize(
        DicomFile.open(str(path)), boxes=[(2, 3, 10, 5, 1)]
    )
    after = decode(pydicom.dcmread(io.BytesIO(f.to_bytes())))
    np.testing.assert_array_equal(after[0], before[0])
    assert (after[1, 3:8, 2:12] == 0).all()
    mask = np.zeros(before.shape, bool)
    mask[1, 3:8, 2:12] = True
    np.testing.assert_array_equal(after[~mask], before[~mask])


def test_corrupt_rle_frame_refused(tmp_path: Path) -> None:
    """A frame that does not decode refuses the file: nothing is written."""
    from pydicom.encaps import encapsulate, generate_frames

    ds = pydicom.dcmread(data_path("MR_small_RLE.dcm"))
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([frame[: len(frame) // 2]])
    src, dst = tmp_path / "in.dcm", tmp_path / "out.dcm"
    ds.save_as(src)
    with pytest.raises(PixelDataError, match="cannot be cleaned"):
        Anonymizer(pixel_profile("(0,0,4,4)"), key=TEST_KEY).anonymize_file(src, dst)
    assert not dst.exists()


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) not installed")
@pytest.mark.parametrize(
    "name", ["SC_rgb_rle_2frame.dcm", "SC_rgb_jpeg_gdcm.dcm", "examples_jpeg2k.dcm", "693_J2KI.dcm"]
)
def test_dciodvfy_finds_no_new_error(name: str, tmp_path: Path) -> None:
    path = data_path(name)
    before, read_ok = dciodvfy_errors(path)
    if not read_ok:
        pytest.skip("dciodvfy cannot read the input: nothing to compare with")
    out = tmp_path / "out.dcm"
    out.write_bytes(clean_pixels(path, pixel_profile("(2,2,8,8)")))
    after, read_ok = dciodvfy_errors(out)
    assert read_ok, sorted(after)
    new = sorted(after - before)
    assert not new, "\n".join(new)


def _bad_second_frame_j2k(tmp_path: Path) -> Path:
    """A 2-frame JPEG 2000 file whose second frame's stream says another width."""
    from pydicom.encaps import encapsulate, generate_frames

    try:
        src = _multiframe(JPEG2000Lossless)
    except Exception as e:  # no encoder here
        pytest.skip(f"pydicom cannot encode JPEG 2000: {e}")
    ds = pydicom.dcmread(io.BytesIO(src))
    frames = list(generate_frames(ds.PixelData, number_of_frames=2))
    siz = frames[1].find(b"\xff\x51")
    bad = bytearray(frames[1])
    bad[siz + 6 : siz + 10] = (int(ds.Columns) + 8).to_bytes(4, "big")  # Xsiz
    ds.PixelData = encapsulate([frames[0], bytes(bad)])
    path = tmp_path / "in" / "bad.dcm"
    path.parent.mkdir()
    ds.save_as(path)
    return path


def test_a_frame_written_native_that_does_not_decode_fails_the_write(tmp_path: Path) -> None:
    """JPEG 2000 frames are decoded as the file is written: a bad second frame makes the write
    fail with PixelDataError naming the file, in memory, for one file and in a tree, and
    nothing is written."""
    from dicomveil import DicomFile

    path = _bad_second_frame_j2k(tmp_path)
    anon = Anonymizer(pixel_profile("(0,0,4,4)"), key=TEST_KEY)
    out = anon.anonymize(DicomFile.open(str(path)))  # the frames are not decoded yet
    problem = r"bad\.dcm: .*does not match its 100x100 image.*frame 1"
    with pytest.raises(PixelDataError, match=problem):
        out.to_bytes()
    np.testing.assert_array_equal(out.frame(0)[:4, :4], 0)  # the first frame still reads
    with pytest.raises(PixelDataError, match="frame 1"):
        out.frame(1)
    dst = tmp_path / "out.dcm"
    with pytest.raises(PixelDataError, match="frame 1"):
        anon.anonymize_file(path, dst)
    assert not dst.exists()
    report = anon.anonymize_tree(path.parent, tmp_path / "tree")
    (row,) = report.files
    assert (row.status, row.error) == ("refused", "PixelDataError"), row
    assert not list((tmp_path / "tree").rglob("*.dcm"))


@pytest.mark.skipif(shutil.which("dcmcjpls") is None, reason="dcmcjpls (dcmtk) not installed")
def test_jpeg_ls_of_8_bits_in_16_allocated(tmp_path: Path) -> None:
    """Samples of 8 bits stored in 16 allocated: CharLS codes them a byte each, the frames
    are 16-bit words again (decoded and written back, the frame API too)."""
    from dicomveil import DicomFile

    ds = pydicom.dcmread(data_path("MR_small.dcm"))
    arr = (ds.pixel_array.astype(np.int32) % 256).astype(np.uint16)
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 7, 0
    ds.PixelData = arr.tobytes()
    native, src = tmp_path / "native.dcm", tmp_path / "jls.dcm"
    ds.save_as(native)
    _dcmtk("dcmcjpls", native, src)
    assert pydicom.dcmread(src).file_meta.TransferSyntaxUID == JPEGLSLossless
    np.testing.assert_array_equal(DicomFile.open(str(src)).frame(0), arr)
    rect = (8, 8, 20, 10)
    check(src, clean_pixels(src, pixel_profile("({},{},{},{})".format(*rect))), rect)
