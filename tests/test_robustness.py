"""Robustness and conformance (issue 7).

- malformed input: every case gives the exact error class and a message naming the file, the
  problem and where it is, or (where the standard allows reading it) a correct result;
- validator-clean output: dcmdump and gdcmdump read every output, and dciodvfy finds no error
  in an output that it did not find in its input (the pydicom corpus is compared by
  ``test_corpus.py``; here the synthetic cases);
- references within an anonymized set resolve, with one key;
- every character set of pydicom's ``charset_files``;
- one Anonymizer from many threads, and ``anonymize_tree`` with 1 and 2 workers, give the
  bytes of a serial run.

The malformed files are built byte by byte here (``Enc``), so each test states exactly what
is wrong with its input.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import struct
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dicomveil
import pydicom
import pytest
from conftest import ANONYMIZED_CORPUS, anonymize_file, corpus_id
from dicomveil import (
    Anonymizer,
    ConfidentialityProfile,
    ConfidentialityProfileOptions,
    DicomFile,
    FileAccessError,
    InvalidDicomError,
    NotDicomError,
)
from pydicom.charset import decode_element
from pydicom.dataset import Dataset
from util import TEST_KEY, dciodvfy_errors, dcmdump_errors, map_uid

IMPLICIT = "1.2.840.10008.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
BIG = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
RLE = "1.2.840.10008.1.2.5"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
ROOT = "1.2.826.0.1.3680043.8.498.4711"  # made-up UIDs
UNDEFINED = 0xFFFFFFFF
Opt = ConfidentialityProfileOptions

# ---------------------------------------------------------------------------------------------
# Building files byte by byte
# ---------------------------------------------------------------------------------------------

LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"}


class Enc:
    """An encoding: explicit or implicit VR, little or big endian."""

    def __init__(self, explicit: bool = True, big: bool = False):
        self.explicit, self.big = explicit, big
        self.e = ">" if big else "<"

    def tag(self, tag: int) -> bytes:
        return struct.pack(self.e + "HH", tag >> 16, tag & 0xFFFF)

    def header(self, tag: int, vr: str, length: int) -> bytes:
        if not self.explicit:
            return self.tag(tag) + struct.pack(self.e + "I", length)
        if vr in LONG_VRS:
            return self.tag(tag) + vr.encode() + b"\0\0" + struct.pack(self.e + "I", length)
        return self.tag(tag) + vr.encode() + struct.pack(self.e + "H", length)

    def element(self, tag: int, vr: str, value: bytes, length: int | None = None) -> bytes:
        return self.header(tag, vr, len(value) if length is None else length) + value

    def item(self, content: bytes, defined: bool = False) -> bytes:
        if defined:
            return self.tag(0xFFFEE000) + struct.pack(self.e + "I", len(content)) + content
        return self.tag(0xFFFEE000) + struct.pack(self.e + "I", UNDEFINED) + content + self.end()

    def end(self) -> bytes:  # item delimitation
        return self.tag(0xFFFEE00D) + b"\0\0\0\0"

    def seq_end(self) -> bytes:
        return self.tag(0xFFFEE0DD) + b"\0\0\0\0"

    def sequence(self, tag: int, items: list[bytes], vr: str = "SQ") -> bytes:
        body = b"".join(self.item(i) for i in items) + self.seq_end()
        return self.header(tag, vr, UNDEFINED) + body


LE = Enc()
IMPL = Enc(explicit=False)
BE = Enc(big=True)


def text(value: str, pad: bytes = b" ") -> bytes:
    raw = value.encode("ascii")
    return raw + pad if len(raw) % 2 else raw


def uid(value: str) -> bytes:
    return text(value, b"\0")


def meta(ts: str, sop_instance: str = f"{ROOT}.3.1", extra: bytes = b"") -> bytes:
    body = (
        LE.element(0x00020001, "OB", b"\0\1")
        + LE.element(0x00020002, "UI", uid(CT_IMAGE))
        + LE.element(0x00020003, "UI", uid(sop_instance))
        + LE.element(0x00020010, "UI", uid(ts))
        + extra
    )
    return LE.element(0x00020000, "UL", struct.pack("<I", len(body))) + body


def part10(
    dataset: bytes,
    ts: str = EXPLICIT,
    *,
    preamble: bool = True,
    prefix: bool = True,
    meta_group: bytes | None = None,
) -> bytes:
    head = (b"\0" * 128 if preamble else b"") + (b"DICM" if prefix else b"")
    return head + (meta(ts) if meta_group is None else meta_group) + dataset


PIXELS = bytes(range(256)) * 32  # 8 KiB: a bulk value, left in the source when read


def image(
    enc: Enc = LE,
    *,
    n: int = 1,
    name: str = "DOE^JOHN",
    pixels: bytes = PIXELS,
    overrides: dict[int, bytes] | None = None,
) -> bytes:
    """A small CT-like data set in `enc`, elements in tag order. `overrides` replaces the
    encoded bytes of an element (by tag), or removes it (b"")."""
    ref = enc.element(0x00081150, "UI", uid(CT_IMAGE)) + enc.element(
        0x00081155, "UI", uid(f"{ROOT}.3.{n + 100}")
    )
    parts = {
        0x00080016: enc.element(0x00080016, "UI", uid(CT_IMAGE)),
        0x00080018: enc.element(0x00080018, "UI", uid(f"{ROOT}.3.{n}")),
        0x00080020: enc.element(0x00080020, "DA", b"20240229"),
        0x00080060: enc.element(0x00080060, "CS", b"CT"),
        0x00080080: enc.element(0x00080080, "LO", text("GENERAL HOSPITAL")),
        0x00081140: enc.sequence(0x00081140, [ref]),
        0x00100010: enc.element(0x00100010, "PN", text(name)),
        0x00100020: enc.element(0x00100020, "LO", text("PID-ROBUST-1")),
        0x0020000D: enc.element(0x0020000D, "UI", uid(f"{ROOT}.1")),
        0x0020000E: enc.element(0x0020000E, "UI", uid(f"{ROOT}.2")),
        0x00280002: enc.element(0x00280002, "US", struct.pack(enc.e + "H", 1)),
        0x00280004: enc.element(0x00280004, "CS", text("MONOCHROME2")),
        0x00280010: enc.element(0x00280010, "US", struct.pack(enc.e + "H", 64)),
        0x00280011: enc.element(0x00280011, "US", struct.pack(enc.e + "H", 64)),
        0x00280100: enc.element(0x00280100, "US", struct.pack(enc.e + "H", 16)),
        0x00280101: enc.element(0x00280101, "US", struct.pack(enc.e + "H", 16)),
        0x00280102: enc.element(0x00280102, "US", struct.pack(enc.e + "H", 15)),
        0x00280103: enc.element(0x00280103, "US", struct.pack(enc.e + "H", 0)),
        0x7FE00010: enc.element(0x7FE00010, "OW", pixels),
    }
    for tag, raw in (overrides or {}).items():
        parts[tag] = raw
    return b"".join(parts[t] for t in sorted(parts))


def offset_of(data: bytes, needle: bytes) -> int:
    """Where `needle`, which occurs once, is in `data`."""
    assert data.count(needle) == 1, needle
    return data.index(needle)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def anonymize_path(path: Path, profile: ConfidentialityProfile | None = None) -> bytes:
    return Anonymizer(profile, key=TEST_KEY).anonymize(DicomFile.open(path)).to_bytes()


def keep_all() -> ConfidentialityProfile:
    """No rules, and the attributes no rule names kept: every value comes out as it went in."""
    profile = ConfidentialityProfile.empty()
    profile.unlisted = "keep"
    return profile


def literal() -> ConfidentialityProfile:
    """The Basic profile carried out literally: the CT's Referenced Image Sequence (X/Z/U*,
    Type 3 in the CT Image IOD, so removed when resolved by IOD) stays, its UIDs replaced."""
    profile = ConfidentialityProfile.create_default()
    profile.conform_to_iod = False
    return profile


def refuse(path: Path, cls: type[Exception], *patterns: str) -> str:
    """Open and anonymize `path`: it must raise exactly `cls`, naming the file and matching
    every pattern. Returns the message."""
    with pytest.raises(dicomveil.DicomveilError) as info:
        anonymize_path(path)
    assert type(info.value) is cls, f"{type(info.value).__name__}: {info.value}"
    message = str(info.value)
    assert message.startswith(str(path)), message
    for p in patterns:
        assert re.search(p, message), f"{p!r} not in {message!r}"
    return message


def read_out(data: bytes) -> pydicom.Dataset:
    """pydicom reads an output without force: a Part 10 file."""
    return pydicom.dcmread(io.BytesIO(data))


# ---------------------------------------------------------------------------------------------
# Malformed input
# ---------------------------------------------------------------------------------------------


def test_the_well_formed_base_case_is_anonymized(tmp_path: Path):
    """The base every malformed case below starts from: read, anonymized, valid."""
    for enc, ts in ((LE, EXPLICIT), (IMPL, IMPLICIT), (BE, BIG)):
        path = write(tmp_path, f"base-{ts}.dcm", part10(image(enc), ts))
        out = read_out(anonymize_path(path))
        assert out.PatientName == "" and out.PatientIdentityRemoved == "YES"
        assert out.PixelData == PIXELS
        assert "ReferencedImageSequence" not in out  # X/Z/U*, Type 3 in a CT Image
        out = read_out(anonymize_path(path, literal()))
        assert out.ReferencedImageSequence[0].ReferencedSOPInstanceUID == map_uid(
            TEST_KEY, f"{ROOT}.3.101"
        )


def test_truncated_inside_the_meta(tmp_path: Path):
    data = part10(image())
    ts_at = offset_of(data, uid(EXPLICIT))
    # inside the value of TransferSyntaxUID, inside its header, inside the group length
    for cut, where in ((ts_at + 5, "value"), (ts_at - 3, "header"), (132 + 10, "length")):
        path = write(tmp_path, f"meta-cut-{where}.dcm", data[:cut])
        refuse(path, InvalidDicomError, r"meta information", r"at byte \d+")


def test_truncated_inside_a_sequence(tmp_path: Path):
    data = part10(image())
    cut = offset_of(data, uid(f"{ROOT}.3.101")) + 4  # inside ReferencedSOPInstanceUID
    path = write(tmp_path, "cut-in-sequence.dcm", data[:cut])
    refuse(path, InvalidDicomError, r"\(0008,1140\)\[0\] > \(0008,1155\)", r"at byte \d+")
    # at the end of the item, before its delimiter: neither item nor sequence is closed
    cut = offset_of(data, LE.tag(0xFFFEE00D))
    path = write(tmp_path, "cut-between-items.dcm", data[:cut])
    refuse(
        path, InvalidDicomError, r"ends inside an item \(no item delimiter\)", r"\(0008,1140\)\[0\]"
    )


def test_truncated_inside_pixel_data(tmp_path: Path):
    data = part10(image())
    cut = len(data) - len(PIXELS) // 2
    path = write(tmp_path, "cut-in-pixels.dcm", data[:cut])
    refuse(
        path,
        InvalidDicomError,
        r"8192 bytes is announced but only 4096 bytes remain",
        r"\(7FE0,0010\)",
    )
    # encapsulated: inside the second fragment
    frags = LE.item(b"", defined=True) + LE.item(PIXELS, defined=True) + LE.seq_end()
    enc = image(overrides={0x7FE00010: LE.header(0x7FE00010, "OB", UNDEFINED) + frags})
    data = part10(enc, RLE)
    path = write(tmp_path, "cut-in-fragment.dcm", data[: len(data) - 100])
    refuse(path, InvalidDicomError, r"announced but only \d+ bytes remain", r"\(7FE0,0010\)")
    # encapsulated, cut after the last fragment: no sequence delimiter
    path = write(tmp_path, "cut-before-delimiter.dcm", data[:-8])
    refuse(path, InvalidDicomError, r"ends inside|truncated", r"\(7FE0,0010\)")


def test_length_past_the_end_of_the_file(tmp_path: Path):
    data = bytearray(part10(image()))
    at = offset_of(data, LE.tag(0x00100020) + b"LO")
    struct.pack_into("<H", data, at + 6, 0x7FF0)
    path = write(tmp_path, "length-past-eof.dcm", bytes(data))
    refuse(
        path,
        InvalidDicomError,
        r"32752 bytes is announced but only \d+ bytes remain",
        rf"at byte {at + 8} in \(0010,0020\)",
    )
    # an item length past the end
    data = bytearray(part10(image()))
    at = offset_of(data, LE.tag(0xFFFEE000))
    struct.pack_into("<I", data, at + 4, 0x00100000)
    path = write(tmp_path, "item-past-eof.dcm", bytes(data))
    refuse(path, InvalidDicomError, r"announced but only \d+ bytes remain", r"\(0008,1140\)")


_RSS_PROBE = textwrap.dedent(
    """
    import sys, dicomveil
    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    small, bad = sys.argv[1], sys.argv[2:]
    anon = dicomveil.Anonymizer(key=b"robustness-test-key")
    anon.anonymize(dicomveil.DicomFile.open(small)).to_bytes()  # warm up: pools, tables
    before = status("VmHWM"), status("VmPeak")
    for path in bad:
        for source in (path, open(path, "rb").read()):
            try:
                anon.anonymize(dicomveil.DicomFile.open(source)).to_bytes()
                print("accepted", path)
            except dicomveil.InvalidDicomError as e:
                print("refused", type(e).__name__, e)
    after = status("VmHWM"), status("VmPeak")
    print("HWM", after[0] - before[0], "PEAK", after[1] - before[1])
    """
)


def test_huge_length_claims_allocate_nothing(tmp_path: Path):
    """A 4 GiB length claim in every place a length is read: refused before any allocation
    (peak resident and virtual memory of a fresh process stay where they were)."""
    huge = 0xFFFFFFF0
    cases = {
        "pixels": image(overrides={0x7FE00010: LE.header(0x7FE00010, "OB", huge) + PIXELS}),
        "text": image(overrides={0x00080080: LE.header(0x00080080, "UT", huge) + b"XY"}),
        "un": image(overrides={0x00091010: LE.header(0x00091010, "UN", huge) + b"XY"}),
        "item": image(
            overrides={
                0x00081140: LE.header(0x00081140, "SQ", UNDEFINED)
                + LE.tag(0xFFFEE000)
                + struct.pack("<I", huge)
                + b"XY"
            }
        ),
        "sequence": image(overrides={0x00081140: LE.header(0x00081140, "SQ", huge) + b"XY"}),
        "fragment": image(
            overrides={
                0x7FE00010: LE.header(0x7FE00010, "OB", UNDEFINED)
                + LE.tag(0xFFFEE000)
                + struct.pack("<I", huge)
                + b"XY"
            }
        ),
    }
    paths = [write(tmp_path, f"huge-{k}.dcm", part10(v)) for k, v in cases.items()]
    # implicit VR, and inside a deflated data set (whose size is not known in advance)
    implicit = image(IMPL, overrides={0x00100010: IMPL.header(0x00100010, "PN", huge) + b"XY"})
    paths.append(write(tmp_path, "huge-implicit.dcm", part10(implicit, IMPLICIT)))
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = deflate.compress(cases["text"]) + deflate.flush()
    paths.append(write(tmp_path, "huge-deflated.dcm", part10(body, DEFLATED)))
    small = write(tmp_path, "small.dcm", part10(image()))
    proc = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, str(small), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert not [ln for ln in lines if ln.startswith("accepted")], lines
    assert len([ln for ln in lines if ln.startswith("refused")]) == 2 * len(paths), lines
    hwm, peak = (int(x) for x in re.findall(r"-?\d+", lines[-1]))
    assert hwm < 32 * 1024, f"peak resident memory grew by {hwm} kB"
    assert peak < 256 * 1024, f"peak virtual memory grew by {peak} kB"


_BOMB_PROBE = textwrap.dedent(
    """
    import sys, dicomveil
    def hwm():
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])  # kB
    before = hwm()
    try:
        dicomveil.DicomFile.open(sys.argv[1])
        print("accepted")
    except dicomveil.InvalidDicomError as e:
        print(e)
    print(hwm() - before)
    """
)


def test_a_decompression_bomb_is_refused(tmp_path: Path):
    """Deflated data sets are inflated into memory (they cannot be read twice): one that
    inflates to more than 200 times its size (and more than 64 MiB) is refused before it
    takes that memory. 256 MiB of zeros deflate to about 250 KiB."""
    head = image(overrides={0x7FE00010: LE.header(0x7FE00010, "OB", 256 << 20)})
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = [z.compress(head)]
    zeros = bytes(1 << 20)
    body += [z.compress(zeros) for _ in range(256)]
    body.append(z.flush())
    path = write(tmp_path, "bomb.dcm", part10(b"".join(body), DEFLATED))
    assert path.stat().st_size < 1 << 20
    proc = subprocess.run(
        [sys.executable, "-c", _BOMB_PROBE, str(path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    message, grown = proc.stdout.splitlines()
    assert message.startswith(str(path)), message
    bomb = r"inflates to more than \d+ bytes .*: refused as a likely decompression bomb"
    assert re.search(bomb, message)
    assert int(grown) < 160 * 1024, f"resident memory grew by {grown} kB"
    # a legitimate deflated file, even a highly compressible one, is read
    small = image(overrides={0x7FE00010: LE.element(0x7FE00010, "OB", bytes(4 << 20))})
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    path = write(tmp_path, "zeros.dcm", part10(z.compress(small) + z.flush(), DEFLATED))
    assert read_out(anonymize_path(path)).PixelData == bytes(4 << 20)


def test_odd_lengths_are_read_and_written_even(tmp_path: Path):
    odd = {
        0x00080060: LE.element(0x00080060, "CS", b"MRI"),  # odd text
        0x00081140: LE.sequence(0x00081140, [LE.element(0x00081150, "UI", b"1.2.3")]),
        0x00091010: LE.element(0x00091010, "LO", b"ACME"),
        0x00090010: LE.element(0x00090010, "LO", b"ODD CREATOR"),
        0x00200013: LE.element(0x00200013, "IS", b"7"),
        0x7FE00010: LE.element(0x7FE00010, "OB", PIXELS[:4095]),  # odd bulk value
    }
    data = part10(image(overrides=odd))
    path = write(tmp_path, "odd-lengths.dcm", data)
    everything = keep_all()  # a custom profile with no rules keeps everything
    out = anonymize_path(path, everything)
    ds = read_out(out)
    assert ds.Modality == "MRI" and ds.InstanceNumber == 7
    assert ds.ReferencedImageSequence[0].ReferencedSOPClassUID == "1.2.3"
    assert ds.PixelData == PIXELS[:4095] + b"\0"
    assert _every_length_is_even(out)
    assert _every_length_is_even(anonymize_path(path))
    _validators_agree(path, out, tmp_path)


def _every_length_is_even(data: bytes) -> bool:
    """Every element, item and fragment length of an explicit VR little endian Part 10 file is
    even (an independent walk over the bytes)."""
    lengths: list[int] = []
    pos = 132

    def header(pos: int) -> tuple[int, str, int, int]:
        group, element = struct.unpack_from("<HH", data, pos)
        if group == 0xFFFE:
            return group << 16 | element, "", struct.unpack_from("<I", data, pos + 4)[0], 8
        vr = data[pos + 4 : pos + 6].decode("ascii")
        if vr in LONG_VRS:
            return group << 16 | element, vr, struct.unpack_from("<I", data, pos + 8)[0], 12
        return group << 16 | element, vr, struct.unpack_from("<H", data, pos + 6)[0], 8

    def walk(pos: int, end: int | None) -> int:
        while pos < (len(data) if end is None else end):
            tag, vr, length, size = header(pos)
            pos += size
            if tag in (0xFFFEE00D, 0xFFFEE0DD):
                return pos
            if tag == 0xFFFEE000:  # an item (of a sequence or of pixel data)
                if length == UNDEFINED:
                    pos = walk(pos, None)
                else:
                    lengths.append(length)
                    pos += length
                continue
            if length == UNDEFINED:
                pos = walk(pos, None)
            else:
                lengths.append(length)
                pos += length
        return pos

    walk(pos, None)
    return bool(lengths) and all(n % 2 == 0 for n in lengths)


def test_cp246_undefined_length_un_holding_a_sequence(tmp_path: Path):
    """An undefined-length UN element in explicit VR holds an implicit VR little endian
    sequence (PS3.5 6.2.2, CP-246): read as one, decided by its tag, cleaned inside."""
    ref = IMPL.element(0x00081150, "UI", uid(CT_IMAGE)) + IMPL.element(
        0x00081155, "UI", uid(f"{ROOT}.3.101")
    )
    # an implicit VR sequence under an explicit UN header (the implicit header is 8 bytes)
    un = LE.header(0x00081140, "UN", UNDEFINED) + IMPL.sequence(0x00081140, [ref])[8:]
    private_item = IMPL.element(0x00100010, "PN", text("DOE^HIDDEN")) + IMPL.element(
        0x00081155, "UI", uid(f"{ROOT}.3.999")
    )
    private = LE.header(0x00091010, "UN", UNDEFINED) + IMPL.sequence(0, [private_item])[8:]
    data = part10(
        image(
            overrides={
                0x00081140: un,
                0x00090010: LE.element(0x00090010, "LO", text("ACME 1.0")),
                0x00091010: private,
            }
        )
    )
    path = write(tmp_path, "cp246.dcm", data)
    out = anonymize_path(path, literal())
    assert b"HIDDEN" not in out and f"{ROOT}.3".encode() not in out
    ds = read_out(out)
    assert ds["ReferencedImageSequence"].VR == "SQ"
    assert ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID == map_uid(
        TEST_KEY, f"{ROOT}.3.101"
    )
    assert (0x0009, 0x1010) not in ds  # private: removed by the Basic profile
    # kept by a profile without rules: written as the explicit VR sequence it is
    kept = read_out(anonymize_path(path, keep_all()))
    assert kept[0x00091010].VR == "SQ"
    assert kept[0x00091010].value[0].PatientName == "DOE^HIDDEN"
    _validators_agree(path, out, tmp_path)


def test_explicit_vr_declared_but_implicit_encoded(tmp_path: Path):
    """Some writers declare explicit VR and write implicit VR: read as what it is, written as
    declared, every value kept."""
    data = part10(image(IMPL), EXPLICIT)
    path = write(tmp_path, "really-implicit.dcm", data)
    kept = anonymize_path(path, keep_all())
    ds = read_out(kept)
    assert ds.file_meta.TransferSyntaxUID == EXPLICIT
    assert ds.PatientName == "DOE^JOHN" and ds.Rows == 64 and ds.PixelData == PIXELS
    assert ds["PatientName"].VR == "PN"  # from the dictionary, written explicit
    out = anonymize_path(path)
    assert read_out(out).PatientName == ""
    _validators_agree(path, out, tmp_path)


def test_implicit_vr_declared_but_explicit_encoded(tmp_path: Path):
    """The reverse: read as the explicit VR it is, and written so (with its VRs, and a meta
    that says so), every value kept."""
    private = LE.element(0x00090010, "LO", text("ACME 1.0")) + LE.element(
        0x00091010, "DS", text("1.5")
    )
    data = part10(image(overrides={0x00090010: private}), IMPLICIT)
    path = write(tmp_path, "really-explicit.dcm", data)
    ds = read_out(anonymize_path(path, keep_all()))
    assert ds.file_meta.TransferSyntaxUID == EXPLICIT
    assert ds.PatientName == "DOE^JOHN" and ds.Rows == 64 and ds.PixelData == PIXELS
    assert ds[0x00091010].VR == "DS"  # a private VR only the file knew
    out = anonymize_path(path)
    assert read_out(out).PatientName == ""
    _validators_agree(path, out, tmp_path)


@pytest.mark.parametrize("vr", ["UN", "LO", "SH"])
def test_wrong_vr_on_a_known_tag_is_decided_by_its_tag(tmp_path: Path, vr: str):
    overrides = {
        0x00100010: LE.element(0x00100010, vr, text("DOE^JOHN")),  # Z
        0x00080080: LE.element(
            0x00080080, vr if vr != "LO" else "SH", text("GENERAL HOSPITAL")
        ),  # X/Z/D, Type 3 in a CT Image: X
        0x0020000D: LE.element(0x0020000D, vr, uid(f"{ROOT}.1")),  # U
        0x00100030: LE.element(0x00100030, vr, b"19700101"),  # Z
        0x00101000: LE.element(0x00101000, vr, text("OTHER-ID")),  # X
    }
    path = write(tmp_path, f"wrong-vr-{vr}.dcm", part10(image(overrides=overrides)))
    out = anonymize_path(path)
    for leak in (b"DOE", b"HOSPITAL", f"{ROOT}.1".encode(), b"19700101", b"OTHER-ID"):
        assert leak not in out, leak
    ds = read_out(out)
    assert ds[0x00100010].value in ("", b"", None)
    assert ds[0x00100030].value in ("", b"", None)
    assert 0x00101000 not in ds
    expected_uid = map_uid(TEST_KEY, f"{ROOT}.1")
    study = ds[0x0020000D].value
    assert (study.decode().rstrip("\0") if isinstance(study, bytes) else study) == expected_uid
    assert 0x00080080 not in ds


def test_duplicate_tags_are_refused(tmp_path: Path):
    """PS3.5 7.1 allows one element per tag in a data set; readers disagree on which of two
    counts (dcmtk keeps the first, pydicom the last), so either choice could keep an
    identifier another reader shows, or drop one that cleaning must know: refused, naming the
    tag, where it is and its byte offset."""
    twice = LE.element(0x00100010, "PN", text("DOE^JOHN")) + LE.element(
        0x00100010, "PN", text("ROE^JANE")
    )
    path = write(tmp_path, "duplicate.dcm", part10(image(overrides={0x00100010: twice})))
    data = path.read_bytes()
    second = data.index(LE.tag(0x00100010) + b"PN", data.index(b"DOE^JOHN"))
    refuse(
        path,
        InvalidDicomError,
        r"element \(0010,0010\) occurs twice",
        rf"at byte {second} in \(0010,0010\)",
    )
    # inside an item
    ref = LE.element(0x00081155, "UI", uid("1.2.3")) * 2
    path = write(
        tmp_path,
        "duplicate-nested.dcm",
        part10(image(overrides={0x00081140: LE.sequence(0x00081140, [ref])})),
    )
    refuse(path, InvalidDicomError, r"occurs twice", r"in \(0008,1140\)\[0\] > \(0008,1155\)")
    # in the meta group
    extra = LE.element(0x00020010, "UI", uid(IMPLICIT))
    body = meta(EXPLICIT, extra=extra)
    path = write(tmp_path, "duplicate-meta.dcm", part10(image(), meta_group=body))
    refuse(path, InvalidDicomError, r"\(0002,0010\) occurs twice")
    # out of order is not a duplicate: put in order
    swapped = part10(
        image(
            overrides={
                0x00080020: LE.element(0x00080060, "CS", b"CT"),
                0x00080060: LE.element(0x00080020, "DA", b"20240229"),
            }
        )
    )
    path = write(tmp_path, "out-of-order.dcm", swapped)
    assert read_out(anonymize_path(path, keep_all())).Modality == "CT"


@pytest.mark.parametrize(
    "enc,ts", [(IMPL, IMPLICIT), (LE, EXPLICIT), (BE, BIG)], ids=["implicit", "explicit", "big"]
)
def test_missing_meta(tmp_path: Path, enc: Enc, ts: str):
    """A bare data set (no preamble, no meta): its encoding is recognised from its first
    element; the output is a Part 10 file in that syntax."""
    path = write(tmp_path, f"bare-{ts}.dcm", image(enc))
    out = anonymize_path(path)
    ds = read_out(out)
    assert ds.file_meta.TransferSyntaxUID == ts
    assert ds.file_meta.MediaStorageSOPInstanceUID == map_uid(TEST_KEY, f"{ROOT}.3.1")
    assert ds.PatientName == "" and ds.Rows == 64
    _validators_agree(path, out, tmp_path)


def test_no_preamble(tmp_path: Path):
    # DICM and the meta group, without the 128-byte preamble
    path = write(tmp_path, "no-preamble.dcm", part10(image(), preamble=False))
    out = anonymize_path(path)
    assert out[128:132] == b"DICM" and out[:128] == b"\0" * 128
    assert read_out(out).PatientName == ""
    _validators_agree(path, out, tmp_path)
    # the meta group alone, with neither preamble nor prefix: still a meta group
    data = part10(image(IMPL), IMPLICIT, preamble=False, prefix=False)
    path = write(tmp_path, "meta-without-prefix.dcm", data)
    ds = read_out(anonymize_path(path))
    assert ds.file_meta.TransferSyntaxUID == IMPLICIT and ds.Rows == 64


def test_zero_byte_file(tmp_path: Path):
    path = write(tmp_path, "empty.dcm", b"")
    message = refuse(path, NotDicomError, r"not a DICOM file")
    assert isinstance(NotDicomError(message), InvalidDicomError)


def test_a_folder_given_as_a_file(tmp_path: Path):
    folder = tmp_path / "folder.dcm"
    folder.mkdir()
    with pytest.raises(FileAccessError) as info:
        DicomFile.open(folder)
    assert str(info.value).startswith(str(folder))
    assert "directory" in str(info.value)
    assert isinstance(info.value, OSError)


def test_unreadable_paths(tmp_path: Path):
    """Paths that cannot be read give FileAccessError naming the path and why."""
    cases: list[tuple[Path, str]] = []
    locked = write(tmp_path, "locked.dcm", part10(image()))
    locked.chmod(0)
    if not os.access(locked, os.R_OK):  # as root, permissions do not apply
        cases.append((locked, r"cannot open: Permission denied"))
    cases.append((tmp_path / "missing.dcm", r"cannot open: No such file"))
    cases.append((locked / "below-a-file.dcm", r"cannot open: Not a directory"))
    loop = tmp_path / "loop.dcm"
    loop.symlink_to(loop)
    cases.append((loop, r"cannot open: Too many levels of symbolic links"))
    fifo = tmp_path / "fifo.dcm"
    os.mkfifo(fifo)  # opening it would wait for a writer: refused before opening
    cases.append((fifo, r"not a regular file"))
    if Path("/proc/self/mem").exists():  # opens, and every read fails (EIO)
        cases.append((Path("/proc/self/mem"), r"cannot read: Input/output error"))
    for path, pattern in cases:
        with pytest.raises(FileAccessError) as info:
            DicomFile.open(path)
        message = str(info.value)
        assert message.startswith(str(path)), message
        assert re.search(pattern, message), message
    locked.chmod(0o644)


# ---------------------------------------------------------------------------------------------
# Validator-clean output
# ---------------------------------------------------------------------------------------------


def gdcmdump_errors(path: str | os.PathLike) -> str | None:
    """None if gdcmdump (GDCM) reads the file, else its complaint."""
    exe = shutil.which("gdcmdump")
    assert exe is not None
    proc = subprocess.run(
        [exe, str(path)], capture_output=True, text=True, errors="replace", timeout=60
    )
    errors = [ln for ln in proc.stderr.splitlines() if re.match(r"(Failed|Error|E:)", ln)]
    if proc.returncode != 0 or errors:
        return f"exit {proc.returncode}: " + " | ".join(errors or proc.stderr.splitlines()[:3])
    return None


def _require(*tools: str) -> None:
    """Skip the test, saying why, when an independent checker is not installed (under CI,
    tests/conftest.py fails the run instead: the checks cannot be skipped there)."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: the output is not checked")


def _readers_read(out_path: Path) -> None:
    """dcmdump and gdcmdump, independent readers, each read the whole output."""
    _require("dcmdump", "gdcmdump")
    assert dcmdump_errors(out_path) is None, dcmdump_errors(out_path)
    assert gdcmdump_errors(out_path) is None, gdcmdump_errors(out_path)


def _validators_agree(source: Path, out: bytes, tmp_path: Path) -> None:
    """Every reader reads the output, and dciodvfy finds no error in it that it did not find
    in the input (when dciodvfy can read the input at all)."""
    out_path = tmp_path / f"{source.stem}.out.dcm"
    out_path.write_bytes(out)
    _readers_read(out_path)
    _require("dciodvfy")
    if read_out(out).file_meta.TransferSyntaxUID == DEFLATED:
        return  # dciodvfy does not read the deflated syntax; the readers above did
    before, read_ok = dciodvfy_errors(source)
    after, out_ok = dciodvfy_errors(out_path)
    assert out_ok, sorted(after)
    if read_ok:
        assert not sorted(after - before), "\n".join(sorted(after - before))


@pytest.mark.skipif(
    not (shutil.which("dcmdump") and shutil.which("gdcmdump")),
    reason="dcmdump (dcmtk) or gdcmdump (libgdcm-tools) not installed",
)
@pytest.mark.parametrize("path", ANONYMIZED_CORPUS, ids=[corpus_id(p) for p in ANONYMIZED_CORPUS])
def test_dcmdump_and_gdcmdump_read_every_corpus_output(path: Path, tmp_path: Path):
    """Every output of pydicom's corpus, whether or not the readers liked its input (its
    dciodvfy comparison is in test_corpus.py)."""
    out_path = tmp_path / "out.dcm"
    out_path.write_bytes(anonymize_file(path, "default").out_bytes)
    _readers_read(out_path)


def _synthetic_cases() -> dict[str, bytes]:
    """The made-up study of test_synthetic.py in each of its syntaxes, and the shipped
    samples of examples/data/."""
    from test_synthetic import SYNTAXES, encode, make_pair

    # a new data set for each syntax: encoding one as RLE changes it
    cases = {f"synthetic-{k}": encode(make_pair()[0], ts) for k, ts in SYNTAXES.items()}
    examples = Path(__file__).resolve().parent.parent / "examples" / "data"
    cases.update({f"example-{p.stem}": p.read_bytes() for p in sorted(examples.glob("*.dcm"))})
    return cases


SYNTHETIC = _synthetic_cases()


@pytest.mark.parametrize("name", list(SYNTHETIC))
def test_synthetic_outputs_are_validator_clean(name: str, tmp_path: Path):
    """dcmdump and gdcmdump read the output; dciodvfy finds nothing new in it."""
    source = write(tmp_path, f"{name}.dcm", SYNTHETIC[name])
    out = Anonymizer(key=TEST_KEY, burned_in="allow").anonymize(DicomFile.open(source))
    _validators_agree(source, out.to_bytes(), tmp_path)


# ---------------------------------------------------------------------------------------------
# References within an anonymized set
# ---------------------------------------------------------------------------------------------

#: reference attributes and what they point at; StudyInstanceUID and SeriesInstanceUID count
#: as references below the top level
INSTANCE, SERIES, STUDY, FRAME = "instance", "series", "study", "frame of reference"
REFERENCE_KIND = {
    0x00081155: INSTANCE,  # ReferencedSOPInstanceUID
    0x0020000E: SERIES,
    0x0020000D: STUDY,
    0x00200052: FRAME,  # FrameOfReferenceUID (in items)
    0x30060024: FRAME,  # ReferencedFrameOfReferenceUID
    0x300600C2: FRAME,  # RelatedFrameOfReferenceUID
}
#: sequences whose Referenced SOP Instance UID is a study's
STUDY_REFERENCES = {0x30060012, 0x00081110}  # RTReferencedStudySequence, ReferencedStudySeq.


def _targets(datasets: list[Dataset]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {INSTANCE: set(), SERIES: set(), STUDY: set(), FRAME: set()}
    for ds in datasets:
        for kind, keyword in (
            (INSTANCE, "SOPInstanceUID"),
            (SERIES, "SeriesInstanceUID"),
            (STUDY, "StudyInstanceUID"),
            (FRAME, "FrameOfReferenceUID"),
        ):
            if keyword in ds:
                found[kind].add(str(ds[keyword].value))
    return found


def _references(
    ds: Dataset, path: str = "", in_study_seq: bool = False
) -> Iterator[tuple[str, str, str]]:
    """(path, kind, uid) of every reference below the top level."""
    for elem in ds:
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or []):
                yield from _references(
                    item, f"{path}{elem.keyword}[{i}].", int(elem.tag) in STUDY_REFERENCES
                )
        elif path and int(elem.tag) in REFERENCE_KIND and elem.value:
            kind = REFERENCE_KIND[int(elem.tag)]
            if kind == INSTANCE and in_study_seq:
                kind = STUDY
            yield f"{path}{elem.keyword}", kind, str(elem.value)


def _check_references(inputs: list[bytes], outputs: list[bytes]) -> int:
    """Every reference that resolves within the input set resolves within the output set, to
    the mapped UID; returns how many were checked."""
    ins = [pydicom.dcmread(io.BytesIO(b), force=True) for b in inputs]
    outs = [read_out(b) for b in outputs]
    in_targets, out_targets = _targets(ins), _targets(outs)
    checked = 0
    for ds_in, ds_out in zip(ins, outs, strict=True):
        out_refs = {(p, k): u for p, k, u in _references(ds_out)}
        for path, kind, value in _references(ds_in):
            if value not in in_targets[kind]:
                continue  # points outside the set in the input already
            got = out_refs.get((path, kind))
            if got is None:
                continue  # removed with its sequence by the profile
            assert got == map_uid(TEST_KEY, value), path
            assert got in out_targets[kind], f"{ds_in.SOPInstanceUID}: {path} dangles"
            checked += 1
        # nothing in the output dangles that resolved in the input
        for (path, kind), got in out_refs.items():
            assert got in out_targets[kind] or all(
                map_uid(TEST_KEY, v) != got for v in in_targets[kind]
            ), path
    return checked


def _synthetic_study() -> list[Dataset]:
    """A CT series, a structure set on it, a plan on that, a dose on the plan, a presentation
    state and a key object selection on the images."""
    study, series, frame = f"{ROOT}.1", f"{ROOT}.2", f"{ROOT}.4"
    cts = []

    def base(n: int, sop_class: str, series_uid: str, modality: str) -> Dataset:
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.SOPClassUID, ds.SOPInstanceUID = sop_class, f"{ROOT}.3.{n}"
        ds.StudyDate, ds.Modality = "20240229", modality
        ds.PatientName, ds.PatientID = "Doe^John", "PID-REF-1"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series_uid
        ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "S1", str(n), str(n)
        return ds

    def ref(sop_class: str, n: int, **extra) -> Dataset:
        item = Dataset()
        item.ReferencedSOPClassUID, item.ReferencedSOPInstanceUID = sop_class, f"{ROOT}.3.{n}"
        for k, v in extra.items():
            setattr(item, k, v)
        return item

    for n in (1, 2, 3):
        ct = base(n, CT_IMAGE, series, "CT")
        ct.FrameOfReferenceUID = frame
        ct.ReferencedImageSequence = [ref(CT_IMAGE, 1 + n % 3)]
        ct.SourceImageSequence = [ref(CT_IMAGE, 1)]
        cts.append(ct)
    ss = base(10, "1.2.840.10008.5.1.4.1.1.481.3", f"{ROOT}.2.10", "RTSTRUCT")
    rt_series = Dataset()
    rt_series.SeriesInstanceUID = series
    rt_series.ContourImageSequence = [ref(CT_IMAGE, n) for n in (1, 2, 3)]
    rt_study = ref("1.2.840.10008.3.1.2.3.1", 0)
    rt_study.ReferencedSOPInstanceUID = study
    rt_study.RTReferencedSeriesSequence = [rt_series]
    frame_item = Dataset()
    frame_item.FrameOfReferenceUID = frame
    frame_item.RTReferencedStudySequence = [rt_study]
    ss.ReferencedFrameOfReferenceSequence = [frame_item]
    roi = Dataset()
    roi.ROINumber, roi.ReferencedFrameOfReferenceUID, roi.ROIName = "1", frame, "PTV"
    ss.StructureSetROISequence = [roi]
    plan = base(11, "1.2.840.10008.5.1.4.1.1.481.5", f"{ROOT}.2.11", "RTPLAN")
    plan.FrameOfReferenceUID = frame
    plan.ReferencedStructureSetSequence = [ref(ss.SOPClassUID, 10)]
    dose = base(12, "1.2.840.10008.5.1.4.1.1.481.2", f"{ROOT}.2.12", "RTDOSE")
    dose.FrameOfReferenceUID = frame
    dose.ReferencedRTPlanSequence = [ref(plan.SOPClassUID, 11)]
    gsps = base(13, "1.2.840.10008.5.1.4.1.1.11.1", f"{ROOT}.2.13", "PR")
    pr_series = Dataset()
    pr_series.SeriesInstanceUID = series
    pr_series.ReferencedImageSequence = [ref(CT_IMAGE, 2)]
    gsps.ReferencedSeriesSequence = [pr_series]
    ko = base(14, "1.2.840.10008.5.1.4.1.1.88.59", f"{ROOT}.2.14", "KO")
    evidence_series = Dataset()
    evidence_series.SeriesInstanceUID = series
    evidence_series.ReferencedSOPSequence = [ref(CT_IMAGE, n) for n in (1, 3)]
    evidence = Dataset()
    evidence.StudyInstanceUID = study
    evidence.ReferencedSeriesSequence = [evidence_series]
    ko.CurrentRequestedProcedureEvidenceSequence = [evidence]
    return [*cts, ss, plan, dose, gsps, ko]


def _encode(ds: Dataset) -> bytes:
    ds = ds.copy()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = EXPLICIT
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    bio = io.BytesIO()
    pydicom.dcmwrite(bio, ds, enforce_file_format=True)
    return bio.getvalue()


def _pydicom_rt_set() -> list[bytes]:
    """pydicom's rtstruct, rtplan and rtdose, linked as one export would link them (as
    shipped, their references point at instances that are not there)."""
    get = pydicom.data.get_testdata_file
    ss, plan, dose = (
        pydicom.dcmread(get(n), force=True) for n in ("rtstruct.dcm", "rtplan.dcm", "rtdose.dcm")
    )
    for ds in (plan, dose):
        ds.StudyInstanceUID = ss.StudyInstanceUID
    frame = ss.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID
    plan.FrameOfReferenceUID = dose.FrameOfReferenceUID = frame
    plan.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID = ss.SOPInstanceUID
    dose.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID = plan.SOPInstanceUID
    study_ref = ss.ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0]
    study_ref.ReferencedSOPInstanceUID = ss.StudyInstanceUID
    study_ref.RTReferencedSeriesSequence[0].SeriesInstanceUID = ss.SeriesInstanceUID
    out = []
    for ds in (ss, plan, dose):
        ds.file_meta.TransferSyntaxUID = ds.file_meta.get("TransferSyntaxUID", IMPLICIT)
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        bio = io.BytesIO()
        pydicom.dcmwrite(bio, ds, enforce_file_format=True)
        out.append(bio.getvalue())
    return out


@pytest.mark.parametrize("which", ["synthetic", "pydicom-rt"])
def test_references_resolve_within_the_anonymized_set(which: str, tmp_path: Path):
    inputs = (
        [_encode(ds) for ds in _synthetic_study()] if which == "synthetic" else _pydicom_rt_set()
    )
    anon = Anonymizer(key=TEST_KEY)
    outputs = [anon.anonymize(DicomFile.open(b)).to_bytes() for b in inputs]
    checked = _check_references(inputs, outputs)
    # the CTs' own Referenced Image and Source Image Sequences are Type 3 in the CT Image IOD
    # (X/Z/U*: removed); the references the other objects' IODs require stay and resolve
    assert checked >= (15 if which == "synthetic" else 6), checked
    # the same key in separate Anonymizers, and in a batch over the set, gives the same files
    (tmp_path / "in").mkdir()
    for i, data in enumerate(inputs):
        alone = Anonymizer(key=TEST_KEY).anonymize(DicomFile.open(data)).to_bytes()
        assert alone == outputs[i]
        write(tmp_path / "in", f"{i:02d}.dcm", data)
    report = Anonymizer(key=TEST_KEY).anonymize_tree(tmp_path / "in", tmp_path / "out")
    assert len(report.refused) == 0
    batch = [(tmp_path / "out" / f"{i:02d}.dcm").read_bytes() for i in range(len(inputs))]
    assert batch == outputs
    for i, data in enumerate(inputs):
        _validators_agree(write(tmp_path, f"ref-{i:02d}.dcm", data), outputs[i], tmp_path)


# ---------------------------------------------------------------------------------------------
# Character sets
# ---------------------------------------------------------------------------------------------

CHARSET_FILES = sorted(Path(p) for p in pydicom.data.get_charset_files() if p.endswith(".dcm"))
TEXT_VRS = {"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR", "DA", "TM", "DT", "AS"}


def _raw_walk(
    ds: Dataset, charsets: list[str], path: str = ""
) -> Iterator[tuple[str, object, list[str]]]:
    """(path, raw element, character sets in force) of every element, undecoded."""
    if 0x00080005 in ds:
        charsets = [v.strip() for v in _raw_value(ds.get_item(0x00080005)).decode().split("\\")]
    for tag in sorted(ds.keys()):
        raw = ds.get_item(tag)
        elem = ds[tag]
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or []):
                yield from _raw_walk(item, charsets, f"{path}{elem.keyword or tag}[{i}].")
        else:
            yield f"{path}{elem.keyword or tag}", raw, charsets


def _raw_value(raw) -> bytes:
    """The bytes of an element as read. pydicom decodes SpecificCharacterSet as it reads (it
    needs it): that one is given back joined, without its padding."""
    value = raw.value
    if isinstance(value, bytes):
        return value
    if isinstance(value, str | list):
        values = [value] if isinstance(value, str) else value
        return "\\".join(values).encode("ascii")
    return b""


@pytest.mark.parametrize("profile_name", ["basic", "clean"])
@pytest.mark.parametrize("path", CHARSET_FILES, ids=[p.name for p in CHARSET_FILES])
def test_character_sets(path: Path, profile_name: str, tmp_path: Path):
    options = Opt.BASIC_PROFILE
    if profile_name == "clean":
        options |= Opt.CLEAN_DESC | Opt.CLEAN_STRUCTD_CONT | Opt.RETAIN_PATIENT_CHARS
    profile = ConfidentialityProfile.create_default(options)
    out = Anonymizer(profile, key=TEST_KEY).anonymize(DicomFile.open(path)).to_bytes()
    ds_in = pydicom.dcmread(path, force=True)
    ds_out = pydicom.dcmread(io.BytesIO(out))
    before = {p: (raw, cs) for p, raw, cs in _raw_walk(ds_in, ["ISO_IR 6"])}
    after = {p: (raw, cs) for p, raw, cs in _raw_walk(ds_out, ["ISO_IR 6"])}

    # SpecificCharacterSet preserved, byte for byte, wherever it was
    for p, (raw, _) in before.items():
        if p.endswith("SpecificCharacterSet"):
            assert p in after and _raw_value(after[p][0]) == _raw_value(raw), p

    # identifiers removed: every name and ID, whole and by non-ASCII component
    for p, (raw, _) in before.items():
        value = _raw_value(raw)
        if raw.VR == "PN" or p.endswith(("PatientID", "OtherPatientIDs")):
            forms = {value.rstrip(b" \0")} | {
                c for c in re.split(rb"[=^\\]", value) if len(c) >= 4 and not c.isascii()
            }
            for form in forms - {b""}:
                assert form not in out, f"{p}: identifying bytes left"

    # kept text byte-identical; every text value written valid in the declared character set
    changed = 0
    for p, (raw, charsets) in after.items():
        if raw.VR not in TEXT_VRS or p.startswith("DeidentificationMethod"):
            continue
        value = _raw_value(raw)
        original = before.get(p)
        if original is not None and _raw_value(original[0]) == value:
            continue  # kept, byte-identical
        changed += 1
        elem = pydicom.dataelem.DataElement(raw.tag, raw.VR, value)
        with _no_decode_warnings():
            decode_element(elem, charsets)
        decoded = elem.value
        text_values = decoded if isinstance(decoded, list) else [decoded]
        for v in text_values:
            v = str(v)
            assert "\ufffd" not in v, f"{p}: not valid in {charsets}"
            if original is not None and not value.isascii():
                # a cleaned value: what it kept of the original is the original's text
                assert "[REMOVED]" in v, p
    assert changed > 0
    # text no rule touches is kept byte-identical
    for p, (raw, _) in before.items():
        if p in after and raw.VR in ("CS",) and "SpecificCharacterSet" not in p:
            assert _raw_value(after[p][0]) == _raw_value(raw) or p.startswith(
                ("PatientSex", "LongitudinalTemporalInformationModified")
            ), p
    assert ds_out.PatientIdentityRemoved == "YES"
    _validators_agree(path, out, tmp_path)


#: a non-identifying word in each character set the engine decodes (kept byte for byte)
KEPT_WORD = {
    "ISO_IR 100": "Tête",
    "ISO_IR 126": "Κεφαλή",
    "ISO_IR 127": "رأس",
    "ISO_IR 138": "ראש",
    "ISO_IR 144": "Голова",
    "ISO_IR 192": "Tête 頭部",
    "GB18030": "头部",
}


@pytest.mark.parametrize(
    "path",
    [p for p in CHARSET_FILES if p.name not in ("chrSQEncoding.dcm", "chrSQEncoding1.dcm")],
    ids=lambda p: p.name,
)
def test_descriptions_in_every_character_set_are_cleaned(path: Path, tmp_path: Path):
    """A description naming the patient in the file's own script is cleaned (CLEAN_DESC), the
    result valid in the declared character set; a description naming no one stays byte for
    byte."""
    ds = pydicom.dcmread(path, force=True)
    declared = ds.SpecificCharacterSet
    charsets = [declared] if isinstance(declared, str) else [str(c) for c in declared]
    name = str(ds.PatientName)
    parts = [p for p in re.split(r"[=^ ]", name) if p]
    own = max(parts, key=lambda p: (sum(not c.isascii() for c in p), len(p)))
    kept = KEPT_WORD.get(charsets[0], "HEAD ROUTINE") if len(charsets) == 1 else "HEAD ROUTINE"
    ds.StudyDescription = f"CT {own} HEAD"
    ds.SeriesDescription = kept
    data = io.BytesIO()
    ds.save_as(data)
    data = data.getvalue()
    source = pydicom.dcmread(io.BytesIO(data))
    study_raw = source.get_item(0x00081030).value
    series_raw = source.get_item(0x0008103E).value
    own_raw = own.encode("ascii") if own.isascii() else None
    profile = ConfidentialityProfile.create_default(Opt.BASIC_PROFILE | Opt.CLEAN_DESC)
    out = (
        Anonymizer(profile, key=TEST_KEY, burned_in="allow")
        .anonymize(DicomFile.open(data))
        .to_bytes()
    )
    result = read_out(out)
    study = result.get_item(0x00081030).value
    assert result.get_item(0x0008103E).value == series_raw, "a description naming no one"
    assert study != study_raw
    if own_raw is not None:
        assert own_raw not in out
    for raw in re.split(rb"\x1b[\(\$][A-Z@]|\s", study_raw):  # the name's bytes, escapes aside
        if len(raw) >= 4 and raw not in (b"HEAD",):
            assert raw not in study, raw
    elem = pydicom.dataelem.DataElement(0x00081030, "LO", study)
    with _no_decode_warnings():
        decode_element(elem, charsets)
    assert "\ufffd" not in str(elem.value)
    if charsets[0] in KEPT_WORD and len(charsets) == 1:
        assert study.rstrip(b" ") == b"CT [REMOVED] HEAD"  # the rest kept, byte for byte
    assert result.SpecificCharacterSet == ds.SpecificCharacterSet
    _validators_agree(write(tmp_path, path.name, data), out, tmp_path)


@pytest.mark.parametrize("text", ["山田の検査", "山田太郎"])
@pytest.mark.parametrize("charset", ["ISO 2022 IR 87", "ISO_IR 192"])
def test_cjk_names_inside_text_are_removed(charset: str, text: str):
    """PatientName 山田^太郎; a description that writes the name inside a run of kanji (no
    spaces in Japanese) must not keep it."""
    path = next(p for p in CHARSET_FILES if p.name == "chrH31.dcm")
    ds = pydicom.dcmread(path)
    ds.SpecificCharacterSet = ["", charset] if charset.startswith("ISO 2022") else charset
    ds.PatientName = "Yamada^Tarou=山田^太郎"
    ds.StudyDescription = text
    data = io.BytesIO()
    ds.save_as(data)
    profile = ConfidentialityProfile.create_default(Opt.BASIC_PROFILE | Opt.CLEAN_DESC)
    out = (
        Anonymizer(profile, key=TEST_KEY, burned_in="allow")
        .anonymize(DicomFile.open(data.getvalue()))
        .to_bytes()
    )
    assert "山田" not in read_out(out).StudyDescription


class _no_decode_warnings:
    """Decoding a value that is not valid in its character set makes pydicom warn: an error."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("error")
        self._mode = pydicom.config.settings.reading_validation_mode
        pydicom.config.settings.reading_validation_mode = pydicom.config.RAISE

    def __exit__(self, *exc):
        pydicom.config.settings.reading_validation_mode = self._mode
        return self._ctx.__exit__(*exc)


# ---------------------------------------------------------------------------------------------
# Concurrency
# ---------------------------------------------------------------------------------------------


def test_one_anonymizer_from_many_threads_and_batches(tmp_path: Path):
    """The same Anonymizer from 8 threads at once, and in anonymize_tree with 1 and 2
    workers (one of them while the threads run): byte-identical to a serial run."""
    files = [p for p in ANONYMIZED_CORPUS if p.stat().st_size < 2_000_000]
    src = tmp_path / "src"
    src.mkdir()
    names = []
    for i, p in enumerate(files):
        names.append(f"{i:03d}_{p.name}")
        shutil.copyfile(p, src / names[-1])
    serial_anon = Anonymizer(key=TEST_KEY, burned_in="allow", keep_uid_map=True)
    serial = [serial_anon.anonymize(DicomFile.open(src / n)).to_bytes() for n in names]

    # its engine is made by the threads
    shared = Anonymizer(key=TEST_KEY, burned_in="allow", keep_uid_map=True)

    def one(name: str) -> bytes:
        return shared.anonymize(DicomFile.open(src / name)).to_bytes()

    with ThreadPoolExecutor(max_workers=8) as pool:
        batch_1 = pool.submit(shared.anonymize_tree, src, tmp_path / "w1", workers=1)
        threaded = list(pool.map(one, names * 2))
        report_1 = batch_1.result()
    assert threaded[: len(names)] == serial and threaded[len(names) :] == serial
    report_2 = shared.anonymize_tree(src, tmp_path / "w2", workers=2)
    for report, out in ((report_1, tmp_path / "w1"), (report_2, tmp_path / "w2")):
        assert not report.refused, report.refused[:3]
        got = [(out / n).read_bytes() for n in names]
        assert got == serial, [n for n, a, b in zip(names, got, serial, strict=True) if a != b]
    # every UID the threads mapped is remembered, as in the serial run
    assert shared.uid_map() == serial_anon.uid_map()
