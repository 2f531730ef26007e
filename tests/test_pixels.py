"""Clean Pixel Data on native pixels: every layout, checked with pydicom's decoder.

Each file is made here with pydicom, de-identified with a pixel rule naming a rectangle, and
read back with pydicom: inside the rectangle every pixel reads as the blank of its photometric
interpretation, outside it every pixel is identical to the input's.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import dicomveil
import numpy as np
import pydicom
import pytest
from dicomveil import (
    Anonymizer,
    ConfidentialityProfile,
    ConfidentialityProfileOptions,
    DicomFile,
    PixelDataError,
)
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)
from util import clean_pixels, dcm2pnm_frames, pixel_profile, region_mask

Options = ConfidentialityProfileOptions
KEY = b"dicomveil-pixel-test-key"
RECT = (3, 2, 5, 4)  # x, y, w, h
US_CLASS = "1.2.840.10008.5.1.4.1.1.6.1"


def make(
    rows: int = 12,
    cols: int = 16,
    frames: int = 1,
    samples: int = 1,
    bits: int = 8,
    stored: int | None = None,
    signed: bool = False,
    photometric: str = "MONOCHROME2",
    planar: int = 0,
    syntax: str = ExplicitVRLittleEndian,
    seed: int = 1,
    pixels: np.ndarray | None = None,
    **extra: object,
) -> bytes:
    """A file of random pixels of this layout, written by pydicom."""
    rng = np.random.default_rng(seed)
    stored = stored or bits
    ds = Dataset()
    ds.SOPClassUID = US_CLASS
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "DOE^JANE"
    ds.PatientID = "PID-1"
    ds.Modality = "US"
    ds.Manufacturer = "ACME"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    if samples > 1:
        ds.PlanarConfiguration = planar
    ds.BitsAllocated = bits
    ds.BitsStored = stored
    ds.HighBit = stored - 1
    ds.PixelRepresentation = int(signed)
    if frames > 1:
        ds.NumberOfFrames = frames
    for k, v in extra.items():
        setattr(ds, k, v)
    if pixels is None:
        if bits == 1:
            bitsarr = rng.integers(0, 2, size=rows * cols * frames, dtype=np.uint8)
            raw = np.packbits(bitsarr, bitorder="little").tobytes()
        else:
            n = rows * cols * frames * (2 if photometric.endswith("422") else samples)
            if photometric.endswith("422"):
                n = rows * cols * frames * 2
            dt = {8: np.uint8, 16: np.uint16, 32: np.uint32}[bits]
            hi = 1 << stored
            vals = rng.integers(0, hi, size=n, dtype=np.uint64).astype(dt)
            if signed:
                # two's complement in `stored` bits, sign-extended through the allocated bits
                sv = vals.astype(np.int64)
                sv[sv >= hi // 2] -= hi
                vals = sv.astype({8: np.int8, 16: np.int16, 32: np.int32}[bits]).view(dt)
            raw = vals.astype(
                vals.dtype.newbyteorder(">") if syntax == ExplicitVRBigEndian else vals.dtype
            ).tobytes()
    else:
        raw = pixels.tobytes()
    if len(raw) % 2:
        raw += b"\0"
    ds.PixelData = raw
    ds["PixelData"].VR = "OB" if bits <= 8 and syntax != ImplicitVRLittleEndian else "OW"
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    ds.file_meta = meta
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def profile(
    regions: str = "({},{},{},{})".format(*RECT), when: str = "true"
) -> ConfidentialityProfile:
    return pixel_profile(regions, when)


def clean(data: bytes, prof: ConfidentialityProfile | None = None, **kw: object) -> bytes:
    return clean_pixels(data, prof or profile(), **kw)


def array(data: bytes) -> np.ndarray:
    return pydicom.dcmread(io.BytesIO(data)).pixel_array


def check(before: bytes, after: bytes, blank, rect=RECT, frames: int = 1) -> None:
    a, b = array(before), array(after)
    assert a.shape == b.shape
    m = region_mask(a.shape, rect, frames)
    assert np.array_equal(a[~m], b[~m]), "a pixel outside the region changed"
    inside = b[m]
    assert inside.size > 0
    assert np.all(inside == blank), f"inside the region: {np.unique(inside)[:8]}, expected {blank}"


LAYOUTS = {
    "mono2-8": (dict(bits=8), 0),
    "mono2-16-12": (dict(bits=16, stored=12), 0),
    "mono2-16-signed": (dict(bits=16, stored=16, signed=True), -32768),
    "mono2-16-12-signed": (dict(bits=16, stored=12, signed=True), -2048),
    "mono1-16-12": (dict(bits=16, stored=12, photometric="MONOCHROME1"), 4095),
    "mono1-8": (dict(bits=8, photometric="MONOCHROME1"), 255),
    "mono2-32": (dict(bits=32, stored=32), 0),
    "mono2-16-multiframe": (dict(bits=16, frames=3), 0),
    "mono2-8-implicit": (dict(bits=8, syntax=ImplicitVRLittleEndian), 0),
    "mono2-16-bigendian": (dict(bits=16, syntax=ExplicitVRBigEndian), 0),
    "mono2-16-padding": (dict(bits=16, PixelPaddingValue=7), 7),
}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_monochrome_layouts(name: str) -> None:
    kw, blank = LAYOUTS[name]
    before = make(**kw)
    after = clean(before)
    check(before, after, blank, frames=kw.get("frames", 1))


@pytest.mark.parametrize("planar", [0, 1])
@pytest.mark.parametrize("frames", [1, 2])
def test_rgb(planar: int, frames: int) -> None:
    before = make(samples=3, photometric="RGB", planar=planar, frames=frames)
    after = clean(before)
    check(before, after, 0, frames=frames)


def test_ybr_full() -> None:
    before = make(samples=3, photometric="YBR_FULL")
    after = clean(before)
    a = pydicom.dcmread(io.BytesIO(after))
    raw = np.frombuffer(a.PixelData, np.uint8).reshape(12, 16, 3)
    orig = np.frombuffer(pydicom.dcmread(io.BytesIO(before)).PixelData, np.uint8).reshape(12, 16, 3)
    m = region_mask(raw.shape, RECT)
    assert np.array_equal(raw[~m], orig[~m])
    x, y, w, h = RECT
    assert np.all(raw[y : y + h, x : x + w] == [0, 128, 128])


def test_ybr_full_422_blanks_whole_pairs() -> None:
    before = make(samples=3, photometric="YBR_FULL_422")
    after = clean(before)
    raw = np.frombuffer(pydicom.dcmread(io.BytesIO(after)).PixelData, np.uint8).reshape(12, 8, 4)
    orig = np.frombuffer(pydicom.dcmread(io.BytesIO(before)).PixelData, np.uint8).reshape(12, 8, 4)
    x, y, w, h = RECT  # x 3..8 -> pairs 1..4 (pixels 2..9)
    m = np.zeros((12, 8), bool)
    m[y : y + h, x // 2 : (x + w + 1) // 2] = True
    assert np.array_equal(raw[~m], orig[~m])
    assert np.all(raw[m] == [0, 0, 128, 128])
    # pydicom's own reading agrees: the region is black (Y 0) in every pixel it covers
    arr = array(after)
    assert np.all(arr[y : y + h, x : x + w, 0] == 0)


def test_palette_color_blanks_to_darkest_entry() -> None:
    lut_r = np.arange(256, dtype=np.uint16)[::-1] * 257  # index 255 is darkest in red
    lut_g = np.full(256, 30000, np.uint16)
    lut_g[200] = 0
    lut_b = np.full(256, 30000, np.uint16)
    lut_b[200] = 0
    lut_r[200] = 0  # 200: black in all three
    before = make(
        photometric="PALETTE COLOR",
        RedPaletteColorLookupTableDescriptor=[256, 0, 16],
        GreenPaletteColorLookupTableDescriptor=[256, 0, 16],
        BluePaletteColorLookupTableDescriptor=[256, 0, 16],
        RedPaletteColorLookupTableData=lut_r.tobytes(),
        GreenPaletteColorLookupTableData=lut_g.tobytes(),
        BluePaletteColorLookupTableData=lut_b.tobytes(),
    )
    after = clean(before)
    check(before, after, 200)


@pytest.mark.parametrize("frames", [1, 3])
def test_one_bit_frames_not_byte_aligned(frames: int) -> None:
    before = make(rows=7, cols=9, bits=1, frames=frames)
    after = clean(before)
    check(before, after, 0, frames=frames)


def test_float_pixel_data() -> None:
    rng = np.random.default_rng(3)
    ds = pydicom.dcmread(io.BytesIO(make(bits=8)))
    del ds.PixelData
    del ds.BitsStored, ds.HighBit, ds.PixelRepresentation
    ds.BitsAllocated = 32
    vals = rng.normal(size=(12, 16)).astype("<f4")
    ds.FloatPixelData = vals.tobytes()
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    after = clean(buf.getvalue())
    out = pydicom.dcmread(io.BytesIO(after))
    got = np.frombuffer(out.FloatPixelData, "<f4").reshape(12, 16)
    m = region_mask(got.shape, RECT)
    assert np.array_equal(got[~m], vals[~m])
    assert np.all(got[m] == 0.0)


def test_large_file_streams_through_chunks(tmp_path: Path) -> None:
    """Over 1 MiB of pixel data read from a file: the chunks of the copy cross frames."""
    before = make(rows=300, cols=350, bits=16, frames=6, seed=5)
    src = tmp_path / "big.dcm"
    src.write_bytes(before)
    dst = tmp_path / "out.dcm"
    Anonymizer(profile("(340,290,20,20) (0,0,350,10)"), key=KEY).anonymize_file(src, dst)
    a, b = array(before), array(dst.read_bytes())
    m = np.zeros(a.shape, bool)
    m[:, 290:300, 340:350] = True
    m[:, 0:10, :] = True
    assert np.array_equal(a[~m], b[~m])
    assert np.all(b[m] == 0)


def test_frame_boxes_one_frame_only() -> None:
    before = make(bits=8, frames=3)
    p = ConfidentialityProfile()  # no rule: the boxes alone
    after = clean(before, p, boxes=[dicomveil.PixelBox(1, 1, 4, 4, frame=1)])
    a, b = array(before), array(after)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[2], b[2])
    assert np.all(b[1, 1:5, 1:5] == 0)
    m = np.zeros(a.shape, bool)
    m[1, 1:5, 1:5] = True
    assert np.array_equal(a[~m], b[~m])


def test_markers_and_burned_in_annotation() -> None:
    before = make(BurnedInAnnotation="YES")
    out = pydicom.dcmread(io.BytesIO(clean(before)))
    assert out.BurnedInAnnotation == "NO"
    codes = [i.CodeValue for i in out.DeidentificationMethodCodeSequence]
    assert "113101" in codes
    assert "Clean Pixel Data Option" in list(out.DeidentificationMethod)


def test_no_rule_matched_follows_burned_in_policy() -> None:
    before = make(BurnedInAnnotation="YES")
    p = profile(when='Modality.equals("CT")')
    f = DicomFile.open(before)
    with pytest.raises(dicomveil.BurnedInAnnotationError):
        Anonymizer(p, key=KEY, burned_in="refuse").anonymize(f)
    out = Anonymizer(p, key=KEY, burned_in="allow").anonymize(f)
    assert out.pixel_handling == "no rule matched"
    d = pydicom.dcmread(io.BytesIO(out.to_bytes()))
    assert d.BurnedInAnnotation == "YES"
    assert "113101" not in [i.CodeValue for i in d.DeidentificationMethodCodeSequence]
    assert d.PixelData == pydicom.dcmread(io.BytesIO(before)).PixelData


def test_without_the_option_rules_do_not_apply() -> None:
    before = make()
    p = profile()
    p.clean_pixel_data = False
    out = clean(before, p)
    assert (
        pydicom.dcmread(io.BytesIO(out)).PixelData == pydicom.dcmread(io.BytesIO(before)).PixelData
    )


def test_region_outside_the_image_is_reported() -> None:
    before = make(BurnedInAnnotation="YES")
    f = DicomFile.open(before)
    out = Anonymizer(profile("(100,100,10,10)"), key=KEY, burned_in="allow").anonymize(f)
    assert out.pixel_handling is not None
    assert "misses the 16x12 image" in out.pixel_handling
    # nothing blanked: not claimed clean
    d = pydicom.dcmread(io.BytesIO(out.to_bytes()))
    assert d.BurnedInAnnotation == "YES"


def test_rect_clipped_to_the_image() -> None:
    before = make()
    after = clean(before, profile("(10,8,100,100)"))
    a, b = array(before), array(after)
    assert np.all(b[8:, 10:] == 0)
    assert np.array_equal(a[:8], b[:8]) and np.array_equal(a[:, :10], b[:, :10])


def test_whole_frame() -> None:
    before = make(frames=2)
    after = clean(before, profile("frame"))
    assert np.all(array(after) == 0)


def test_outside_ultrasound_regions() -> None:
    region = Dataset()
    region.RegionLocationMinX0 = 2
    region.RegionLocationMinY0 = 3
    region.RegionLocationMaxX1 = 9
    region.RegionLocationMaxY1 = 7
    before = make(SequenceOfUltrasoundRegions=[region])
    after = clean(before, profile("outside-us-regions"))
    a, b = array(before), array(after)
    keep = np.zeros(a.shape, bool)
    keep[3:8, 2:10] = True
    assert np.array_equal(a[keep], b[keep])
    assert np.all(b[~keep] == 0)


def test_compressed_pixel_data_is_refused() -> None:
    """A JPEG stream whose scan is not a sequential one (pydicom's JPEG-lossy.dcm declares
    Se=0) cannot be redacted block by block: refused (every other syntax is cleaned,
    tests/test_pixels_codecs.py, tests/test_pixels_jpeg.py)."""
    path = Path(pydicom.data.get_testdata_file("JPEG-lossy.dcm"))
    f = DicomFile.open(path)
    with pytest.raises(PixelDataError, match="is not sequential"):
        Anonymizer(profile(), key=KEY).anonymize(f)


def test_compressed_refused_in_a_tree_and_the_report_says_why(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(pydicom.data.get_testdata_file("JPEG-lossy.dcm"), src / "jpeg12.dcm")
    shutil.copy(pydicom.data.get_testdata_file("MR_small_RLE.dcm"), src / "rle.dcm")
    (src / "native.dcm").write_bytes(make())
    report = Anonymizer(profile(), key=KEY).anonymize_tree(src, tmp_path / "out")
    by_name = {Path(f.source).name: f for f in report.files}
    assert by_name["jpeg12.dcm"].status == "refused"
    assert by_name["jpeg12.dcm"].error == "PixelDataError"
    assert not (tmp_path / "out" / "jpeg12.dcm").exists()
    assert by_name["rle.dcm"].status == "done"
    assert by_name["rle.dcm"].pixels == (
        "cleaned by rule 1 (banner); 1 frame(s) of transfer syntax 1.2.840.10008.1.2.5 "
        "decoded and written as RLE Lossless again"
    )
    assert by_name["native.dcm"].status == "done"
    assert by_name["native.dcm"].pixels == "cleaned by rule 1 (banner)"


def test_embedded_overlay_bits_cleared_under_basic() -> None:
    rng = np.random.default_rng(9)
    vals = rng.integers(0, 4096, size=(12, 16), dtype=np.uint16)
    overlay = rng.integers(0, 2, size=(12, 16), dtype=np.uint16)
    pixels = vals | (overlay << 15)
    before = make(
        bits=16,
        stored=12,
        pixels=pixels,
    )
    ds = pydicom.dcmread(io.BytesIO(before))
    ds.add_new(0x60000010, "US", 12)
    ds.add_new(0x60000011, "US", 16)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 16)
    ds.add_new(0x60000102, "US", 15)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    after = Anonymizer(ConfidentialityProfile(), key=KEY).anonymize(DicomFile.open(buf.getvalue()))
    out = pydicom.dcmread(io.BytesIO(after.to_bytes()))
    got = np.frombuffer(out.PixelData, "<u2").reshape(12, 16)
    assert np.array_equal(got, vals), "only the overlay bit changes"
    assert not [e for e in out if e.tag.group == 0x6000]
    assert after.pixel_handling == "overlay planes in the pixel bits cleared"


def test_frame_api_matches_pydicom() -> None:
    for kw in (
        dict(bits=16, frames=3, stored=12),
        dict(samples=3, photometric="RGB", planar=1, frames=2),
        dict(bits=1, rows=7, cols=9, frames=3),
        dict(bits=16, syntax=ExplicitVRBigEndian),
    ):
        data = make(**kw)
        f = DicomFile.open(data)
        ref = array(data)
        frames = list(f.frames())
        assert len(frames) == kw.get("frames", 1)
        got = np.stack(frames) if len(frames) > 1 else frames[0]
        assert np.array_equal(got.astype(ref.dtype), ref), kw


def test_pixel_layout() -> None:
    lay = DicomFile.open(make(bits=16, stored=12, frames=2)).pixel_layout
    assert (lay.rows, lay.columns, lay.frames, lay.bits_stored, lay.dtype) == (12, 16, 2, 12, "<u2")


@pytest.mark.skipif(shutil.which("dcm2pnm") is None, reason="dcmtk not installed")
def test_dcmtk_reads_the_same_pixels(tmp_path: Path) -> None:
    """dcmtk's decoder, independent of pydicom: the blanked file renders with a black box and
    every other pixel as before."""
    before = make(bits=8, rows=20, cols=30)
    after = clean(before, profile("(5,5,10,6)"))
    images = []
    for name, data in (("a", before), ("b", after)):
        (tmp_path / f"{name}.dcm").write_bytes(data)
        images.append(dcm2pnm_frames(tmp_path / f"{name}.dcm", tmp_path)[0])
    a, b = images
    m = np.zeros(a.shape, bool)
    m[5:11, 5:15] = True
    assert np.array_equal(a[~m], b[~m])
    assert np.all(b[m] == 0)


@pytest.mark.parametrize(
    "options",
    [Options.CLEAN_PIXEL_DATA, Options.ALL | Options.CLEAN_PIXEL_DATA, 2048, 2047 | 2048],
    ids=str,
)
def test_clean_pixel_data_option_alone_and_with_all(options: int) -> None:
    p = ConfidentialityProfile.create_default(options)
    assert p.clean_pixel_data
    assert p.options is not None and p.options & Options.CLEAN_PIXEL_DATA
    # ALL keeps Aspose's value and does not turn it on
    assert int(Options.ALL) == 2047
    assert not ConfidentialityProfile.create_default(Options.ALL).clean_pixel_data
    # the table part is the same as without it
    base = ConfidentialityProfile.create_default(int(options) & 2047)
    assert list(p.items()) == list(base.items())


@pytest.mark.parametrize("fmt", ["csv", "json", "xml"])
def test_pixel_rules_travel_in_every_profile_form(fmt: str, tmp_path: Path) -> None:
    p = profile()
    p.pixel_rules = [
        ("banner", 'Modality.equals("US") * Manufacturer.containsIgnoreCase("acme")', "(0,0,16,2)"),
        ("everything else", "true", "(frame)"),
    ]
    text = getattr(p, f"to_{fmt}")()
    back = getattr(ConfidentialityProfile, f"load_from_{fmt}_string")(text)
    assert back == p
    assert back.clean_pixel_data and back.pixel_rules == p.pixel_rules
    before = make()
    a, b = array(clean(before, p)), array(clean(before, back))
    assert np.array_equal(a, b)
    assert np.all(b[:2] == 0) and np.array_equal(b[2:], array(before)[2:])


def test_a_bad_pixel_rule_in_a_profile_file_names_where() -> None:
    text = 'TagPattern;Action\n@pixel_rule;"x: { Modality.equal(""US"") } (0,0,1,1)"\n'
    with pytest.raises(dicomveil.ProfileError, match=r"equal"):
        ConfidentialityProfile.load_from_csv_string(text)


def test_ctp_script_selects_by_header(tmp_path: Path) -> None:
    script = tmp_path / "sites.script"
    script.write_text(
        "ACME ultrasound banner\n"
        '{ Modality.equals("US") * Manufacturer.containsIgnoreCase("acme") }\n'
        "(0,0,16,3)\n\n"
        "Other vendor\n"
        '{ Modality.equals("US") * !Manufacturer.containsIgnoreCase("acme") }\n'
        "(0,9,16,3)\n"
    )
    rules = dicomveil.load_pixel_rules(script)
    assert [r.name for r in rules] == ["ACME ultrasound banner", "Other vendor"]
    p = profile()
    p.pixel_rules = rules
    for maker, rows in (("Acme Medical", slice(0, 3)), ("Other", slice(9, 12))):
        before = make(Manufacturer=maker)
        f = DicomFile.open(before)
        out = Anonymizer(p, key=KEY).anonymize(f)
        b = array(out.to_bytes())
        assert np.all(b[rows] == 0)
        keep = np.ones(b.shape, bool)
        keep[rows] = False
        assert np.array_equal(b[keep], array(before)[keep])
    assert (
        "cleaned by rule 1 (ACME ultrasound banner)"
        == Anonymizer(p, key=KEY)
        .anonymize(DicomFile.open(make(Manufacturer="ACME")))
        .pixel_handling
    )


def test_cli_pixel_rules(tmp_path: Path) -> None:
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.dcm").write_bytes(make(Manufacturer="ACME", BurnedInAnnotation="YES"))
    (src / "b.dcm").write_bytes(make(Modality="CT", seed=4))
    script = tmp_path / "sites.script"
    script.write_text('{ Modality.equals("US") } (0,0,16,3)\n')
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "dicomveil",
            "anonymize",
            str(src),
            str(tmp_path / "out"),
            "--option",
            "CLEAN_PIXEL_DATA",
            "--pixel-rules",
            str(script),
            "--audit",
            str(tmp_path / "audit.jsonl"),
        ],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "1 file cleaned by a pixel rule, 1 matched no rule" in r.stderr
    rows = {
        Path(json.loads(x)["source"]).name: json.loads(x)
        for x in (tmp_path / "audit.jsonl").read_text().splitlines()
    }
    assert rows["a.dcm"]["pixels"] == "cleaned by rule 1"
    assert rows["b.dcm"]["pixels"] == "no rule matched"
    out = pydicom.dcmread(tmp_path / "out" / "a.dcm")
    assert np.all(out.pixel_array[:3] == 0)
    assert out.BurnedInAnnotation == "NO"


def test_starter_catalogue_keeps_only_the_ultrasound_regions() -> None:
    region = Dataset()
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 1, 2
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = 12, 9
    before = make(SequenceOfUltrasoundRegions=[region])
    p = ConfidentialityProfile.create_default(Options.CLEAN_PIXEL_DATA)
    p.pixel_rules = dicomveil.starter_pixel_rules()
    f = Anonymizer(p, key=KEY).anonymize(DicomFile.open(before))
    assert f.pixel_handling is not None and f.pixel_handling.startswith("cleaned by rule 1 (")
    a, b = array(before), array(f.to_bytes())
    keep = np.zeros(a.shape, bool)
    keep[2:10, 1:13] = True
    assert np.array_equal(a[keep], b[keep]) and np.all(b[~keep] == 0)
    # a CT matches none of them
    ct = Anonymizer(p, key=KEY).anonymize(
        DicomFile.open(make(Modality="CT", SOPClassUID="1.2.840.10008.5.1.4.1.1.2"))
    )
    assert ct.pixel_handling == "no rule matched"


def test_de_identified_twice_in_memory_both_edits_apply() -> None:
    f = DicomFile.open(make(frames=2))
    a = Anonymizer(ConfidentialityProfile(), key=KEY)
    a.anonymize_in_place(f, boxes=[(0, 0, 2, 2)])
    a.anonymize_in_place(f, boxes=[(10, 10, 2, 2, 1)])
    b = array(f.to_bytes())
    assert np.all(b[:, 0:2, 0:2] == 0) and np.all(b[1, 10:12, 10:12] == 0)


def test_jpeg_baseline_multiframe_redacted_with_a_new_offset_table() -> None:
    """JPEG Baseline, 30 frames: redacted block by block (no recompression), each frame one
    fragment found through the rewritten Basic Offset Table, the boxes of one frame in that
    frame only."""
    path = pydicom.data.get_testdata_file("examples_ybr_color.dcm")
    before = pydicom.dcmread(path)
    p = profile("(16,16,32,16)")
    f = Anonymizer(p, key=KEY).anonymize(
        DicomFile.open(path), boxes=[dicomveil.PixelBox(96, 96, 16, 16, frame=7)]
    )
    assert f.pixel_handling is not None
    assert "JPEG redacted block by block: 61 of 9000 blocks replaced in 30 frame(s)" in (
        f.pixel_handling
    )
    out = pydicom.dcmread(io.BytesIO(f.to_bytes()))
    assert out.file_meta.TransferSyntaxUID == before.file_meta.TransferSyntaxUID
    seq = pydicom.encaps.generate_frames(out.PixelData, number_of_frames=30)
    assert len(list(seq)) == 30
    offsets = pydicom.encaps.parse_basic_offsets(out.PixelData)
    assert len(offsets) == 30 and offsets[0] == 0
    a, b = before.pixel_array, out.pixel_array
    assert np.all(b[:, 18:30, 18:46] <= 3)
    assert np.all(b[7, 98:110, 98:110] <= 3)
    assert np.array_equal(a[6, 80:128, 80:128], b[6, 80:128, 80:128])
    far = np.ones(a.shape[1:3], bool)
    far[0:48, 0:64] = False
    far[80:128, 80:128] = False
    assert np.array_equal(a[:, far], b[:, far])
    assert out.BurnedInAnnotation == "NO"


def test_a_jpeg_scan_that_is_not_sequential_is_refused() -> None:
    # 12-bit, its scan header says Se=0 (not 63): not what a sequential scan is
    path = pydicom.data.get_testdata_file("JPEG-lossy.dcm")
    with pytest.raises(PixelDataError, match=r"is not sequential \(Ss=0 Se=0"):
        Anonymizer(profile(), key=KEY).anonymize(DicomFile.open(path))
