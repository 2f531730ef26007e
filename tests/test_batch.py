"""Batch runs through the Python API: Anonymizer.anonymize_tree and verify.

The tree (tests/batch_tree.py) holds good files of several transfer syntaxes, refused files
(truncated, cut in half, lengths past the end), files that are not DICOM and a DICOMDIR.
pydicom reads every output back as the independent oracle.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import dicomveil
import pydicom
import pytest
from batch_tree import (
    CLEAN_WITH_ORIGINALS,
    GOOD,
    Tree,
    hash_tree,
    make_tree,
    plant_leak,
    pydicom_file,
)
from dicomveil import Anonymizer, Progress, verify

KEY = b"batch-test-key-01"


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return make_tree(tmp_path / "src")


def run(tree: Tree, dst: Path, **kwargs) -> dicomveil.Report:
    return Anonymizer(key=KEY).anonymize_tree(tree.root, dst, **kwargs)


def by_rel(report: dicomveil.Report, root: Path) -> dict[str, dicomveil.FileResult]:
    return {Path(f.source).relative_to(root).as_posix(): f for f in report.files}


def leftovers(root: Path) -> list[Path]:
    """Temporary files of dicomveil (or anything that looks like one) below root."""
    return [p for p in root.rglob("*") if ".dicomveil-" in p.name or p.suffix == ".part"]


# -- the report -------------------------------------------------------------------------------
def test_report_gives_every_file_its_status(tree: Tree, tmp_path: Path) -> None:
    report = run(tree, tmp_path / "out")
    files = by_rel(report, tree.root)
    assert sorted(files) == tree.all
    for rel in tree.good:
        assert files[rel].status == "done", (rel, files[rel].reason)
        assert files[rel].reason is None and files[rel].error is None
        assert files[rel].bytes_out > 0
        assert files[rel].counts["removed"] + files[rel].counts["zeroed"] > 0
    for rel in tree.refused:
        f = files[rel]
        assert f.status == "refused", rel
        assert f.error == "InvalidDicomError"
        assert rel.split("/")[-1] in f.reason  # the reason names the file ...
        assert f.destination is None and f.bytes_out == 0
    for rel in tree.not_dicom:
        assert files[rel].status == "skipped" and files[rel].reason == "not DICOM"
    dicomdir = files[tree.dicomdir]
    assert dicomdir.status == "skipped" and "DICOMDIR" in dicomdir.reason
    assert dicomdir.destination is None

    assert len(report.done) == len(tree.good)
    assert len(report.refused) == len(tree.refused)
    assert len(report.skipped) == len(tree.not_dicom) + 1
    assert not report.ok and not report.stopped
    assert report.bytes_in == sum((tree.root / rel).stat().st_size for rel in tree.all)
    assert report.bytes_out == sum(f.bytes_out for f in report.done)
    summary = report.summary()
    assert summary.startswith(f"{len(tree.good)} done, {len(tree.refused)} refused, 5 skipped")
    assert "files/s" in summary and "MB/s" in summary


def test_reasons_hold_no_patient_data(tree: Tree, tmp_path: Path) -> None:
    report = run(tree, tmp_path / "out")
    text = " ".join(f"{f.reason} {f.error}" for f in report.files)
    for value in tree.identifying():
        assert value not in text


def test_good_files_are_done_and_readable(tree: Tree, tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = run(tree, out)
    for f in report.done:
        rel = Path(f.source).relative_to(tree.root)
        assert Path(f.destination) == out / rel  # the layout mirrors the input
        ds_in = pydicom.dcmread(f.source, force=True)
        ds_out = pydicom.dcmread(f.destination)  # a Part 10 file with its meta group
        assert ds_out.PatientIdentityRemoved == "YES"
        assert ds_out.SOPInstanceUID != ds_in.SOPInstanceUID
        assert ds_out.file_meta.MediaStorageSOPInstanceUID == ds_out.SOPInstanceUID
        for keyword in ("PatientName", "PatientID"):
            if str(ds_in.get(keyword, "")).strip("^ "):
                assert str(ds_out.get(keyword, "")) != str(ds_in.get(keyword)), (rel, keyword)
        if "PixelData" in ds_in:
            assert ds_out.PixelData == ds_in.PixelData, rel
        assert f.bytes_out == Path(f.destination).stat().st_size


def test_nothing_partial_is_left(tree: Tree, tmp_path: Path) -> None:
    out = tmp_path / "out"
    run(tree, out)
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(tree.good)  # no output for refused or skipped files
    assert leftovers(out) == []
    assert leftovers(tree.root) == []


def test_input_tree_is_untouched(tree: Tree, tmp_path: Path) -> None:
    before = tree.hashes()
    run(tree, tmp_path / "out", audit=tmp_path / "audit.jsonl")
    assert tree.hashes() == before


def test_destination_inside_source_is_refused(tree: Tree) -> None:
    before = tree.hashes()
    for dst in (tree.root / "anonymized", tree.root / "study1" / "out"):
        with pytest.raises(dicomveil.DicomveilError, match="inside the source"):
            run(tree, dst)
        assert not dst.exists()
    assert tree.hashes() == before


def test_source_may_be_one_file(tree: Tree, tmp_path: Path) -> None:
    src = tree.root / "study1" / "CT_small.dcm"
    dst = tmp_path / "one" / "anon.dcm"
    report = Anonymizer(key=KEY).anonymize_tree(src, dst)
    assert [f.status for f in report.files] == ["done"]
    assert pydicom.dcmread(dst).PatientIdentityRemoved == "YES"
    # into an existing folder: the file keeps its name
    report = Anonymizer(key=KEY).anonymize_tree(src, dst.parent)
    assert Path(report.files[0].destination) == dst.parent / "CT_small.dcm"
    assert dst.read_bytes() == (dst.parent / "CT_small.dcm").read_bytes()


# -- naming, audit, dry run, in place ---------------------------------------------------------
def test_naming_template(tree: Tree, tmp_path: Path) -> None:
    out = tmp_path / "out"
    template = "{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm"
    report = run(tree, out, naming=template)
    written = sorted(p for p in out.rglob("*") if p.is_file())
    originals = {
        str(pydicom.dcmread(tree.root / rel, force=True).SOPInstanceUID) for rel in tree.good
    }
    # MR_small in three transfer syntaxes is one instance (one SOPInstanceUID): one name, so
    # the first to claim it is written and the two others are refused, each naming the other
    assert len(originals) == len(tree.good) - 2
    assert len(report.done) == len(originals)
    collisions = [f for f in report.refused if "already taken by" in (f.reason or "")]
    assert len(collisions) == 2
    # a path error (a DicomValueError, as it was raised before it had a class of its own)
    assert {f.error for f in collisions} == {"PathError"}
    assert issubclass(dicomveil.errors.error_class("PathError"), dicomveil.DicomValueError)
    assert len(written) == len({f.destination for f in report.done}) == len(originals)
    for f in report.done:
        path = Path(f.destination)
        ds = pydicom.dcmread(path)
        rel = path.relative_to(out)
        # filled from the de-identified dataset: the new UIDs
        assert rel.parts == (
            ds.StudyInstanceUID,
            ds.SeriesInstanceUID,
            f"{ds.SOPInstanceUID}.dcm",
        )
        assert ds.SOPInstanceUID not in originals
    assert leftovers(out) == []


def test_naming_template_with_unknown_field_is_refused_before_the_run(
    tree: Tree, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    for template, problem in [
        ("{NoSuchKeyword}.dcm", "not a DICOM keyword"),
        ("{PatientID.dcm", "unbalanced braces"),
        ("../{SOPInstanceUID}.dcm", "relative path"),
        ("fixed.dcm", "no {Keyword} field"),
    ]:
        with pytest.raises(ValueError, match=re.escape(problem)):
            run(tree, out, naming=template)
    assert not out.exists()


def test_audit_log(tree: Tree, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    report = run(tree, tmp_path / "out", audit=audit)
    lines = audit.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(tree.all) == len(report.files)
    records = [json.loads(line) for line in lines]
    assert {Path(r["source"]).relative_to(tree.root).as_posix() for r in records} == set(tree.all)
    for r in records:
        assert set(r) >= {"source", "destination", "status", "reason", "error", "counts", "flags"}
        assert r["status"] in ("done", "refused", "skipped")
        assert (r["destination"] is not None) == (r["status"] == "done")
        assert isinstance(r["counts"], dict) and isinstance(r["flags"], list)
        if r["status"] == "refused":
            assert r["reason"] and r["error"]
    text = audit.read_text(encoding="utf-8")
    for value in tree.identifying():
        assert value not in text, value
        assert value.replace("^", " ") not in text, value
    assert KEY.decode() not in text


def test_dry_run_writes_nothing(tree: Tree, tmp_path: Path) -> None:
    out = tmp_path / "out"
    before = tree.hashes()
    report = run(tree, out, dry_run=True)
    assert not out.exists()
    assert tree.hashes() == before
    assert leftovers(tree.root) == []
    real = run(tree, tmp_path / "real")
    assert [(f.source, f.status) for f in report.files] == [
        (f.source, f.status) for f in real.files
    ]
    # the destinations are decided, not written
    for f in report.done:
        assert f.destination is not None and not Path(f.destination).exists()


def test_in_place(tree: Tree) -> None:
    before = tree.hashes()
    report = run(tree, tree.root)
    assert len(report.done) == len(tree.good)
    after = tree.hashes()
    assert sorted(after) == sorted(before)  # same files, nothing added
    for rel in tree.good:
        assert after[rel] != before[rel]
        assert Path(by_rel(report, tree.root)[rel].destination) == tree.root / rel
        assert pydicom.dcmread(tree.root / rel).PatientIdentityRemoved == "YES"
    for rel in [*tree.refused, *tree.not_dicom, tree.dicomdir]:
        assert after[rel] == before[rel], rel  # refused and skipped files are left alone
    assert leftovers(tree.root) == []


# -- progress, errors, determinism ------------------------------------------------------------
def test_progress_callback(tmp_path: Path) -> None:
    src = tmp_path / "many"
    src.mkdir()
    data = pydicom_file("MR_small.dcm").read_bytes()
    for i in range(300):
        (src / f"{i:04}.dcm").write_bytes(data)
    calls: list[Progress] = []
    report = Anonymizer(key=KEY).anonymize_tree(
        src, tmp_path / "out", workers=2, progress=calls.append, progress_interval=0.01
    )
    assert len(report.done) == 300
    assert calls, "the callback was never called"
    assert all(isinstance(p, Progress) for p in calls)
    assert all(p.total == 300 for p in calls)
    finished = [p.finished for p in calls]
    assert finished == sorted(finished)
    assert calls[-1].finished == calls[-1].total == 300
    assert calls[-1].refused == 0
    assert calls[-1].bytes_in == 300 * len(data)


def test_progress_callback_error_stops_the_run(tmp_path: Path) -> None:
    src = tmp_path / "many"
    src.mkdir()
    data = pydicom_file("MR_small.dcm").read_bytes()
    for i in range(200):
        (src / f"{i:04}.dcm").write_bytes(data)

    def boom(p: Progress) -> None:
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        Anonymizer(key=KEY).anonymize_tree(src, tmp_path / "out", progress=boom)
    assert not (tmp_path / "out").exists() or leftovers(tmp_path / "out") == []


def test_on_error_raise(tree: Tree, tmp_path: Path) -> None:
    with pytest.raises(dicomveil.InvalidDicomError):
        run(tree, tmp_path / "out", on_error="raise")
    assert leftovers(tmp_path / "out") == []


def test_workers_give_identical_outputs(tree: Tree, tmp_path: Path) -> None:
    one = tmp_path / "w1"
    two = tmp_path / "w2"
    r1 = run(tree, one, workers=1)
    r2 = Anonymizer(key=KEY).anonymize_tree(tree.root, two, workers=2)
    r0 = run(tree, tmp_path / "w0")  # all cores
    assert [(f.source, f.status) for f in r1.files] == [(f.source, f.status) for f in r2.files]
    h1 = hash_tree(one)
    assert len(h1) == len(GOOD)
    assert h1 == hash_tree(two) == hash_tree(tmp_path / "w0")
    assert [f.counts for f in r1.files] == [f.counts for f in r0.files]
    # a different key gives different UIDs
    Anonymizer(key=b"another key, 16+ bytes").anonymize_tree(tree.root, tmp_path / "k2", workers=2)
    a = pydicom.dcmread(one / "study1" / "CT_small.dcm")
    b = pydicom.dcmread(tmp_path / "k2" / "study1" / "CT_small.dcm")
    assert a.SOPInstanceUID != b.SOPInstanceUID


# -- verify -----------------------------------------------------------------------------------
@pytest.fixture
def outputs(tree: Tree, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    report = run(tree, out)
    assert len(report.done) == len(tree.good)
    return out


def test_verify_passes_a_clean_output(tree: Tree, outputs: Path, tmp_path: Path) -> None:
    report = verify(outputs)
    assert report.ok, report.findings
    assert report.findings == ()
    assert report.files_checked == len(tree.good)
    assert "no findings" in report.summary()
    # with the originals: every identifying value searched for in every element
    clean_src = tmp_path / "clean_src"
    clean_out = tmp_path / "clean_out"
    for rel in CLEAN_WITH_ORIGINALS:
        for root, base in ((tree.root, clean_src), (outputs, clean_out)):
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / rel, base / rel)
    report = verify(clean_out, original=clean_src, workers=2)
    assert report.ok, report.findings
    assert report.files_checked == len(CLEAN_WITH_ORIGINALS)


def test_verify_matches_whole_words(tree: Tree, outputs: Path) -> None:
    # rtplan's PatientName ends with the prefix component "pre": kept values that merely hold
    # those letters inside a word (RTPlanRelationship "PREDECESSOR", CodeMeaning "Lossy
    # Compression" in jpeg2000.dcm) are not leaks
    report = verify(outputs, original=tree.root)
    paths = {(Path(f.file).name, f.path) for f in report.findings}
    assert ("rtplan.dcm", "(300C,0002)[0] > (300A,0055)") not in paths
    assert not [f for f in report.findings if Path(f.file).name == "jpeg2000.dcm"]


def test_verify_finds_a_planted_leak(tree: Tree, outputs: Path, tmp_path: Path) -> None:
    original = tree.root / "study1" / "CT_small.dcm"
    planted = tmp_path / "planted" / "sub" / "leaky.dcm"
    name = plant_leak(outputs / "study1" / "CT_small.dcm", original, planted)

    report = verify(planted.parent.parent, original=original)
    assert not report.ok
    assert report.files_checked == 1
    found = {(Path(f.file).name, f.path, f.kind) for f in report.findings}
    assert ("leaky.dcm", "(0011,1010)", "leak") in found
    assert ("leaky.dcm", "(0011,1010)", "private-attribute") in found
    assert ("leaky.dcm", "(0008,2218)[0] > (0008,0104)", "leak") in found
    assert all(f.kind in ("leak", "private-attribute") for f in report.findings)
    for f in report.findings:  # a finding never holds the value
        assert name not in f"{f.file} {f.path} {f.kind} {f}"
        assert "CompressedSamples" not in f"{f.file} {f.path} {f.kind} {f}"
    assert "2 leak" in report.summary() and "1 private-attribute" in report.summary()
    # the tag as a number and its keyword: nothing needs to parse the path
    tags = {(f.path, f.tag, f.keyword) for f in report.findings}
    assert ("(0011,1010)", 0x00111010, None) in tags
    assert ("(0008,2218)[0] > (0008,0104)", 0x00080104, "CodeMeaning") in tags

    # without originals only what every output must satisfy is checked: the private attribute
    plain = verify(planted)
    assert [(f.path, f.kind) for f in plain.findings] == [("(0011,1010)", "private-attribute")]


def test_verify_of_originals_reports_them(tree: Tree) -> None:
    report = verify(tree.root)
    assert report.files_checked == len(tree.all)
    kinds_by_file: dict[str, set[str]] = {}
    for f in report.findings:
        kinds_by_file.setdefault(Path(f.file).relative_to(tree.root).as_posix(), set()).add(f.kind)
    for rel in tree.refused:
        assert kinds_by_file.get(rel) == {"unreadable"}, rel
    for rel in [*tree.not_dicom, tree.dicomdir]:
        assert rel not in kinds_by_file  # not DICOM, or a DICOMDIR: not checked
    assert "identity-not-removed" in kinds_by_file["study1/CT_small.dcm"]
    assert "private-attribute" in kinds_by_file["study1/CT_small.dcm"]
    assert "not-removed" in kinds_by_file["study1/CT_small.dcm"]
    unreadable = [f for f in report.findings if f.kind == "unreadable"]
    assert all(f.path == "" and f.tag is None and f.keyword is None for f in unreadable)
    identity = [f for f in report.findings if f.kind == "identity-not-removed"]
    assert {(f.path, f.tag, f.keyword) for f in identity} == {
        ("(0012,0062)", 0x00120062, "PatientIdentityRemoved")
    }


def test_verify_rejects_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(dicomveil.DicomveilError):
        verify(tmp_path / "missing")
    with pytest.raises(ValueError):
        verify(tmp_path, workers=0)


# -- stopping early, and inputs given twice ---------------------------------------------------
def test_stopped_when_the_rest_of_the_tree_was_never_reached(tmp_path: Path) -> None:
    """``on_error="stop"`` at a refused first file, followed by thousands of links and a good
    file: the run stopped with most of the tree never listed, and said ``stopped=False`` (the
    walk said the listing was over when a stop broke it off). The last progress call counted
    the inputs never processed as finished."""
    src = tmp_path / "src"
    src.mkdir()
    data = pydicom_file("MR_small.dcm").read_bytes()
    (src / "a.dcm").write_bytes(data[:400])  # cut short: refused
    for i in range(5000):
        (src / f"l{i:05}").symlink_to("a.dcm")
    (src / "z.dcm").write_bytes(data)
    calls: list[Progress] = []
    report = Anonymizer(key=KEY).anonymize_tree(
        src, tmp_path / "out", on_error="stop", progress=calls.append
    )
    assert report.stopped and not report.ok
    assert str(src / "z.dcm") not in [f.source for f in report.files]
    assert report.summary().endswith(" - stopped early")
    assert calls[-1].finished == len(report.files)
    # a tree processed to its end is not stopped, though the run was asked to stop at a refusal
    (src / "a.dcm").write_bytes(data)
    report = Anonymizer(key=KEY).anonymize_tree(src, tmp_path / "out2", on_error="stop")
    assert not report.stopped and len(report.files) == 5002


def _linked_tree(src: Path, n: int) -> Path:
    """A folder of ``n`` hard links of one small file (more than the window of 4096)."""
    src.mkdir()
    (src / "0.dcm").write_bytes(pydicom_file("MR_small.dcm").read_bytes())
    for i in range(1, n):
        (src / f"{i}.dcm").hardlink_to(src / "0.dcm")
    return src


def test_a_cancelled_run_says_what_it_did_not_process(tmp_path: Path) -> None:
    """The progress callback raises at once in a tree larger than the window of inputs listed
    ahead (4096): the run stops, says so, and the last progress call does not count the files
    never processed as finished."""
    src = _linked_tree(tmp_path / "src", 6000)
    calls: list[Progress] = []

    def stop(p: Progress) -> None:
        calls.append(p)
        raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough") as e:
        Anonymizer(key=KEY).anonymize_tree(
            src, tmp_path / "out", workers=1, progress=stop, progress_interval=0.01
        )
    report = e.value.report  # type: ignore[attr-defined]
    assert report.stopped
    assert len(report.files) < 6000
    assert len(calls) == 1  # a callback that raised is not called again
    assert len(list((tmp_path / "out").iterdir())) == len(report.done)


def test_the_progress_of_a_run_of_files_given_knows_their_number(tmp_path: Path) -> None:
    """With ``files=[...]`` the total is known from the start; it was counted as for a tree
    listed as the run goes (at most 4096 ahead of the files done): a bar's end moved."""
    src = _linked_tree(tmp_path / "src", 6000)
    calls: list[Progress] = []

    def stop(p: Progress) -> None:
        calls.append(p)
        raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough") as e:
        Anonymizer(key=KEY).anonymize_tree(
            src,
            tmp_path / "out",
            files=[f"{i}.dcm" for i in range(6000)],
            workers=1,
            progress=stop,
            progress_interval=0.01,
        )
    assert calls[0].total == 6000
    assert calls[0].finished <= len(e.value.report.files) < 6000  # type: ignore[attr-defined]


def test_a_file_given_twice_is_de_identified_once(tmp_path: Path) -> None:
    """``files=["a.dcm", "a.dcm"]`` in place: the second read the first's output and
    de-identified it again (its UIDs replaced twice: no longer those of its series). The
    second mention of an input is skipped."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copyfile(pydicom_file("CT_small.dcm"), src / "a.dcm")
    uid = pydicom.dcmread(src / "a.dcm").SOPInstanceUID
    anonymizer = Anonymizer(key=KEY)
    report = anonymizer.anonymize_tree(src, src, files=["a.dcm", "a.dcm"], workers=1)
    assert pydicom.dcmread(src / "a.dcm").SOPInstanceUID == anonymizer.map_uid(uid)
    assert [f.status for f in report.files] == ["done", "skipped"]
    assert report.files[1].reason == "given twice: processed once, at its first mention"
    assert report.ok


def test_reports_compare_by_their_contents(tmp_path: Path) -> None:
    """The report was a frozen dataclass: equal when its files, time and stopped flag were
    equal (a pickled report equal to itself). The streamed one compared by identity."""
    import pickle

    src = tmp_path / "src"
    src.mkdir()
    shutil.copyfile(pydicom_file("CT_small.dcm"), src / "a.dcm")
    report = Anonymizer(key=KEY).anonymize_tree(src, tmp_path / "out")
    assert pickle.loads(pickle.dumps(report)) == report
    same = dicomveil.Report(report.files, report.elapsed, report.stopped)
    assert same == report and report == same
    assert dicomveil.Report(report.files, report.elapsed, True) != report
    assert report != "a report"


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_ctrl_c_while_a_stopped_run_finishes_its_files_is_taken_by_the_run(
    tmp_path: Path,
) -> None:
    """The progress callback stops the run; a Ctrl-C comes while the file in flight finishes
    (128 MiB of pixel data). The run takes it, as it does every signal while it goes on: not
    raised once the run returned, where it would replace the stop and lose the report."""
    import signal
    import struct
    import threading
    import time

    src = tmp_path / "src"
    src.mkdir()
    shutil.copyfile(pydicom_file("CT_small.dcm"), src / "a.dcm")
    data = (Path(__file__).parent.parent / "examples/data/mr_implicit_le.dcm").read_bytes()
    at = data.rfind(b"\xe0\x7f\x10\x00")  # its pixel data, last: made 128 MiB (sparse)
    with open(src / "big.dcm", "wb") as f:
        f.write(data[:at] + b"\xe0\x7f\x10\x00" + struct.pack("<I", 128 << 20))
        f.truncate(f.tell() + (128 << 20))
    sent = []

    def ctrl_c() -> None:
        time.sleep(0.05)
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    def stop(p: Progress) -> None:
        if p.finished >= 1:  # a.dcm done: big.dcm is being written
            threading.Thread(target=ctrl_c).start()
            raise RuntimeError("enough")

    returned = float("inf")
    try:
        with pytest.raises(RuntimeError, match="enough") as e:
            try:
                Anonymizer(key=KEY).anonymize_tree(
                    src,
                    tmp_path / "out",
                    files=["a.dcm", "big.dcm"],
                    workers=1,
                    progress=stop,
                    progress_interval=0.01,
                )
            finally:
                returned = time.monotonic()
        time.sleep(0.1)  # the signal, if the run was over before it, is raised here
    except KeyboardInterrupt:
        if sent and sent[0] < returned:
            pytest.fail("the Ctrl-C sent during the run was raised after it, without its report")
    if not sent or sent[0] >= returned:
        pytest.skip("the file in flight was done before the Ctrl-C")
    report = e.value.report  # type: ignore[attr-defined]
    assert [f.status for f in report.files] == ["done", "done"]
