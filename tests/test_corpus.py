"""Every file pydicom ships for its own tests: anonymized and checked, or refused for a reason."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import dicomveil
import pydicom
import pytest
from conftest import (
    ANONYMIZED_CORPUS,
    CORPUS,
    DICOMDIRS,
    NOT_DICOM,
    REFUSED_DICOM,
    anonymize_file,
    corpus_id,
    expected_refusal,
    has_dcmdump,
)
from util import (
    DICOM_ROOT,
    TEST_KEY,
    basic_profile_table,
    check_markers,
    dciodvfy_errors,
    dcmdump_errors,
    fragments,
    holds_uid,
    map_uid,
    names_a_kind,
    transfer_syntax_of,
    uid_strings,
    uid_values,
    walk,
)

IDS = [corpus_id(p) for p in CORPUS]


@pytest.mark.parametrize("path", CORPUS, ids=IDS)
def test_file_is_anonymized_or_refused(path: Path, tmp_path: Path):
    cid = corpus_id(path)
    refusal = expected_refusal(cid)
    if refusal is not None:
        cls_name, pattern = refusal
        cls = getattr(dicomveil, cls_name)
        with pytest.raises(dicomveil.DicomveilError) as info:
            f = dicomveil.DicomFile.open(str(path))
            dicomveil.Anonymizer(key=TEST_KEY).anonymize(f).to_bytes()
        assert isinstance(info.value, cls), f"{cid}: {type(info.value).__name__}: {info.value}"
        message = str(info.value)
        assert path.name in message, message
        assert re.search(pattern, message, re.IGNORECASE), message
        return

    r = anonymize_file(path, "default")
    out_path = tmp_path / "out.dcm"
    anon = dicomveil.Anonymizer(key=TEST_KEY)
    anon.anonymize(dicomveil.DicomFile.open(str(path))).save(out_path)
    # save() and to_bytes() agree, and the output is deterministic for a key
    assert out_path.read_bytes() == r.out_bytes

    # a Part 10 file pydicom reads without force
    assert r.out_bytes[128:132] == b"DICM"
    ds_in, ds_out = r.ds_in, r.ds_out
    ts_in = transfer_syntax_of(ds_in)
    assert ts_in is not None
    assert ds_out.file_meta.TransferSyntaxUID == ts_in

    # bulk data byte-identical
    if "PixelData" in ds_in:
        assert ds_out.PixelData == ds_in.PixelData
        assert fragments(ds_out) == fragments(ds_in)
    else:
        assert "PixelData" not in ds_out

    # UIDs mapped by the formula
    table = basic_profile_table()
    for elem in ds_in:
        if holds_uid(elem) and table.action(int(elem.tag)) == "U" and elem.value:
            want = [map_uid(TEST_KEY, u) for u in uid_strings(elem)]
            assert uid_strings(ds_out[elem.tag]) == want, f"{elem.tag} {elem.keyword}"
    if "SOPInstanceUID" in ds_in:
        new_uid = uid_strings(ds_out["SOPInstanceUID"])
        assert new_uid == [map_uid(TEST_KEY, u) for u in uid_strings(ds_in["SOPInstanceUID"])]
        assert [ds_out.file_meta.MediaStorageSOPInstanceUID] == new_uid
    if "SOPClassUID" in ds_in:
        assert uid_strings(ds_out["SOPClassUID"]) == uid_strings(ds_in["SOPClassUID"])
        assert [ds_out.file_meta.MediaStorageSOPClassUID] == uid_strings(ds_in["SOPClassUID"])
    candidates = {u for u in uid_values(ds_in) if not u.startswith(DICOM_ROOT)}
    leaked = sorted(
        u for u in candidates & uid_values(ds_out) if _uid_action_everywhere(ds_in, u) != "K"
    )
    assert leaked == [], f"original UIDs still in the output: {leaked[:5]}"

    assert not [p for p, e in walk(ds_out) if e.tag.is_private]
    assert check_markers(ds_out) == []

    if has_dcmdump():
        before = dcmdump_errors(path)
        if before is None:  # dcmdump reads the input cleanly: it must read the output too
            assert dcmdump_errors(out_path) is None


DEFLATED = "1.2.840.10008.1.2.1.99"


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) not installed")
@pytest.mark.parametrize("path", ANONYMIZED_CORPUS, ids=[corpus_id(p) for p in ANONYMIZED_CORPUS])
def test_dciodvfy_finds_no_new_error(path: Path, tmp_path: Path):
    """dciodvfy, an independent IOD checker: anonymizing adds no error the input did not have."""
    r = anonymize_file(path, "default")
    if transfer_syntax_of(r.ds_in) == DEFLATED:
        pytest.skip("dciodvfy does not read the deflated transfer syntax")
    before, read_ok = dciodvfy_errors(path)
    if not read_ok:
        pytest.skip("dciodvfy cannot read the input: nothing to compare with")
    out_path = tmp_path / "out.dcm"
    out_path.write_bytes(r.out_bytes)
    after, read_ok = dciodvfy_errors(out_path)
    assert read_ok, sorted(after)
    new = sorted(after - before)
    assert not new, "\n".join(new)


def _one_file_per_sop_class() -> list[Path]:
    """The first file (by corpus id) of each SOP class in the corpus that is anonymized and
    that dciodvfy reads (not deflated)."""
    seen: dict[str, Path] = {}
    for path in sorted(ANONYMIZED_CORPUS, key=corpus_id):
        try:
            ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
        except Exception:  # the other tests say why
            continue
        meta = getattr(ds, "file_meta", None)
        # dciodvfy reads neither the deflated syntax nor a meta without a transfer syntax
        if meta is None or meta.get("TransferSyntaxUID") in (None, DEFLATED):
            continue
        sop_class = str(ds.get("SOPClassUID", "") or (meta and meta.get("MediaStorageSOPClassUID")))
        if sop_class and sop_class != "None":  # no class, no IOD to conform to
            seen.setdefault(sop_class, path)
    return list(seen.values())


ONE_PER_CLASS = _one_file_per_sop_class()
OPTION_CONFIGS = {
    dicomveil.ConfidentialityProfileOptions(1 << b).name.lower(): (1 << b) | 1 for b in range(1, 11)
} | {"all": int(dicomveil.ConfidentialityProfileOptions.ALL)}


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) not installed")
@pytest.mark.parametrize("config", list(OPTION_CONFIGS))
@pytest.mark.parametrize("path", ONE_PER_CLASS, ids=[corpus_id(p) for p in ONE_PER_CLASS])
def test_dciodvfy_finds_no_new_error_under_each_option(path: Path, config: str, tmp_path: Path):
    """As above, under each option and under all of them, on one file of each SOP class."""
    before, read_ok = _dciodvfy_input(path)
    if not read_ok:
        pytest.skip("dciodvfy cannot read the input: nothing to compare with")
    profile = dicomveil.ConfidentialityProfile.create_default(OPTION_CONFIGS[config])
    anon = dicomveil.Anonymizer(profile, key=TEST_KEY, burned_in="allow")
    out_path = tmp_path / "out.dcm"
    out_path.write_bytes(anon.anonymize(dicomveil.DicomFile.open(str(path))).to_bytes())
    after, read_ok = dciodvfy_errors(out_path)
    assert read_ok, sorted(after)
    new = sorted(after - before)
    assert not new, "\n".join(new)


_INPUT_ERRORS: dict[Path, tuple[set[str], bool]] = {}


def _dciodvfy_input(path: Path) -> tuple[set[str], bool]:
    if path not in _INPUT_ERRORS:
        _INPUT_ERRORS[path] = dciodvfy_errors(path)
    return _INPUT_ERRORS[path]


def _uid_action_everywhere(ds: pydicom.Dataset, uid: str) -> str:
    """'K' if some element holding `uid` is one the profile keeps (so it may legitimately stay)."""
    table = basic_profile_table()

    def walk_ctx(d, ctx):
        for elem in d:
            if elem.tag.is_private:  # removed with everything inside
                continue
            action = table.action(int(elem.tag))
            if elem.VR == "SQ":
                inner = "uid" if action == "U*" else ("dummy" if action == "D" else ctx)
                if action not in ("X", "Z"):
                    for item in elem.value or []:
                        yield from walk_ctx(item, inner)
                continue
            if holds_uid(elem) and uid in uid_strings(elem):
                keep = action == "K" and (ctx == "normal" or names_a_kind(elem.keyword))
                yield "K" if keep else "U"

    actions = set(walk_ctx(ds, "normal"))
    return "K" if "K" in actions else "U"


# refused files that dcmdump, an independent reader, also finds broken
BROKEN_FOR_DCMDUMP = {
    "test_files/MR_truncated.dcm",
    "test_files/rtplan_truncated.dcm",
    "test_files/no_meta.dcm",
}


def test_refused_set_is_small_and_sensible():
    """Which pydicom files dicomveil refuses, and why: keep this list short and justified."""
    assert len(REFUSED_DICOM) <= 6, sorted(REFUSED_DICOM)
    corpus_ids = {corpus_id(p) for p in CORPUS}
    assert set(REFUSED_DICOM) <= corpus_ids
    assert NOT_DICOM <= corpus_ids
    assert BROKEN_FOR_DCMDUMP <= set(REFUSED_DICOM)
    assert len(DICOMDIRS) >= 5
    assert len(ANONYMIZED_CORPUS) >= 100
    for cls_name, pattern in REFUSED_DICOM.values():
        assert issubclass(
            getattr(dicomveil, cls_name),
            (dicomveil.InvalidDicomError, dicomveil.UnsupportedDicomError),
        )
        assert pattern
    if has_dcmdump():
        for cid in sorted(BROKEN_FOR_DCMDUMP):
            path = next(p for p in CORPUS if corpus_id(p) == cid)
            assert dcmdump_errors(path) is not None, cid


def test_corpus_covers_every_transfer_syntax_family():
    seen = set()
    for path in ANONYMIZED_CORPUS:
        ts = transfer_syntax_of(pydicom.dcmread(path, force=True, stop_before_pixels=True))
        seen.add(ts)
    wanted = {
        "1.2.840.10008.1.2",
        "1.2.840.10008.1.2.1",
        "1.2.840.10008.1.2.2",
        "1.2.840.10008.1.2.1.99",
        "1.2.840.10008.1.2.5",
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.90",
    }
    assert wanted <= seen, wanted - seen
