"""Edges of the user-facing surfaces, each once a bug: an audit log that would overwrite an
input or an output, a one-file run into its own folder, an unreadable sub-folder, file names
that are not UTF-8, key files that cannot be read, links reported in path order, a patient name
of the wrong type, and Aspose's call that loads a rule-form CSV with options."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from dicomveil import (
    Anonymizer,
    ConfidentialityProfile,
    ConfidentialityProfileOptions,
    DicomFile,
    DicomveilError,
    FileAccessError,
    PathError,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "data"
SAMPLE = EXAMPLES / "ct_explicit_le.dcm"
KEY = b"batch-edges-key-1"


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dicomveil", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        errors="replace",
    )


def _tree_with_non_utf8_name(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SAMPLE, src / "ok.dcm")
    # a Latin-1 file name, as exported by many older PACS / Windows shares
    with open(os.path.join(os.fsencode(src), b"m\xfcller.dcm"), "wb") as f:
        f.write(SAMPLE.read_bytes())
    return src


# -- 1. audit log with a non-UTF-8 file name ---------------------------------------------------
def test_audit_with_non_utf8_file_name_python_api(tmp_path: Path) -> None:
    src = _tree_with_non_utf8_name(tmp_path)
    audit = tmp_path / "audit.jsonl"
    report = Anonymizer(key=KEY).anonymize_tree(src, tmp_path / "dst", audit=audit)
    assert len(report.done) == 2
    lines = audit.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and all(json.loads(line)["status"] == "done" for line in lines)


def test_audit_with_non_utf8_file_name_cli_no_traceback(tmp_path: Path) -> None:
    _tree_with_non_utf8_name(tmp_path)
    (tmp_path / "key").write_bytes(KEY)
    r = _cli("anonymize", "src", "dst", "--key-file", "key", "--audit", "audit.jsonl", cwd=tmp_path)
    assert "Traceback" not in r.stderr, r.stderr[-600:]
    assert r.returncode == 0


# -- 2. the audit log written over an input or an output ---------------------------------------
def test_cli_audit_equal_to_src_file_does_not_overwrite_input(tmp_path: Path) -> None:
    shutil.copy(SAMPLE, tmp_path / "in.dcm")
    (tmp_path / "key").write_bytes(KEY)
    r = _cli(
        "anonymize", "in.dcm", "out.dcm", "--key-file", "key", "--audit", "in.dcm", cwd=tmp_path
    )
    assert (tmp_path / "in.dcm").read_bytes() == SAMPLE.read_bytes(), "input overwritten"
    assert r.returncode == 2


def test_cli_audit_equal_to_dst_file_is_refused(tmp_path: Path) -> None:
    shutil.copy(SAMPLE, tmp_path / "in.dcm")
    (tmp_path / "key").write_bytes(KEY)
    r = _cli(
        "anonymize", "in.dcm", "out.dcm", "--key-file", "key", "--audit", "out.dcm", cwd=tmp_path
    )
    assert r.returncode == 2
    assert "Invalid value for '--audit': out.dcm: the audit log would overwrite the output" in (
        r.stderr
    )
    assert not (tmp_path / "out.dcm").exists()
    assert (tmp_path / "in.dcm").read_bytes() == SAMPLE.read_bytes()


def test_python_audit_path_on_an_input_file_does_not_modify_it(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SAMPLE, src / "a.dcm")
    with pytest.raises(PathError, match="the audit log would be written into the input folder"):
        Anonymizer(key=KEY).anonymize_tree(src, tmp_path / "dst", audit=src / "a.dcm")
    assert (src / "a.dcm").read_bytes() == SAMPLE.read_bytes(), "input overwritten by audit"
    assert not (tmp_path / "dst").exists()


# -- 3. one-file SRC into its own folder overwrites the input ---------------------------------
def test_tree_single_file_into_its_own_folder_does_not_overwrite_input(tmp_path: Path) -> None:
    shutil.copy(SAMPLE, tmp_path / "a.dcm")
    with pytest.raises(PathError, match="the output would be the source file itself"):
        Anonymizer(key=KEY).anonymize_tree(tmp_path / "a.dcm", tmp_path)
    assert (tmp_path / "a.dcm").read_bytes() == SAMPLE.read_bytes(), "input overwritten"


# -- 4. an unreadable sub-folder aborts the whole batch ----------------------------------------
_UNREADABLE_SCRIPT = """
import json, sys
from dicomveil import Anonymizer
try:
    r = Anonymizer(key=b"batch-edges-key").anonymize_tree(sys.argv[1], sys.argv[2])
    print(json.dumps({"done": len(r.done), "refused": [f.source for f in r.refused]}))
except Exception as e:
    print(json.dumps({"error": type(e).__name__ + ": " + str(e)}))
"""


def test_unreadable_subfolder_does_not_abort_batch(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "locked").mkdir(parents=True)
    (src / "ok").mkdir()
    shutil.copy(SAMPLE, src / "ok" / "a.dcm")
    shutil.copy(SAMPLE, src / "locked" / "b.dcm")
    (src / "locked").chmod(0)
    dst = tmp_path / "dst"
    cmd = [sys.executable, "-c", _UNREADABLE_SCRIPT, str(src), str(dst)]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root without setpriv: cannot make a folder unreadable")
        drop = "-dac_override,-dac_read_search"
        cmd = ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}", *cmd]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    finally:
        (src / "locked").chmod(0o755)
    result = json.loads(out.strip().splitlines()[-1])
    assert "error" not in result, result  # a whole run lost for one folder
    assert result["done"] == 1
    assert any("locked" in s for s in result["refused"])


# -- 5. key_file errors are not DicomveilErrors ------------------------------------------------
def test_key_file_missing_raises_file_access_error(tmp_path: Path) -> None:
    with pytest.raises(FileAccessError) as e:
        Anonymizer(key_file=tmp_path / "no-such.key")
    assert "no-such.key" in str(e.value)


def test_key_file_empty_raises_dicomveil_error(tmp_path: Path) -> None:
    (tmp_path / "empty.key").write_bytes(b"")
    with pytest.raises(FileAccessError, match=r"empty.key: the key file is empty"):
        Anonymizer(key_file=tmp_path / "empty.key")
    assert issubclass(FileAccessError, DicomveilError)


# -- 6. the audit log's folder missing: raw OSError after the whole run ------------------------
def test_audit_in_missing_folder_raises_file_access_error(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SAMPLE, src / "a.dcm")
    with pytest.raises(FileAccessError):
        Anonymizer(key=KEY).anonymize_tree(src, tmp_path / "dst", audit=tmp_path / "no" / "a.jsonl")


# -- 7. symbolic links are reported out of path order ------------------------------------------
def test_report_lists_files_in_input_path_order_with_symlinks(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SAMPLE, src / "a.dcm")
    shutil.copy(SAMPLE, src / "c.dcm")
    os.symlink(src / "a.dcm", src / "b.dcm")
    report = Anonymizer(key=KEY).anonymize_tree(src, tmp_path / "dst")
    names = [Path(f.source).name for f in report.files]
    assert names == ["a.dcm", "b.dcm", "c.dcm"], names


# -- 8. a non-str patient_name gives a raw AttributeError --------------------------------------
def test_patient_name_not_a_str_raises_typed_error() -> None:
    profile = ConfidentialityProfile.create_default()
    # refused when set, before any file is read
    with pytest.raises(TypeError, match="patient_name must be a str, a Pseudonym or None"):
        profile.patient_name = 5  # type: ignore[assignment]
    assert profile.patient_name is None
    Anonymizer(profile, key=KEY).anonymize(DicomFile.open(SAMPLE))


# -- 9. Aspose's documented call: a rule-form CSV loaded with options --------------------------
def test_aspose_load_rule_csv_with_options_all(tmp_path: Path) -> None:
    path = tmp_path / "profile.csv"
    path.write_text("TagPattern;Action\n(0010,0010);Z\n(0010,0020);Z\n(0010,0030);X\n")
    # ConfidentialityProfile.LoadFromCsvFile("profile.csv", ConfidentialityProfileOptions.All)
    with pytest.warns(UserWarning, match="the options change nothing"):
        profile = ConfidentialityProfile.load_from_csv_file(path, ConfidentialityProfileOptions.ALL)
    assert len(profile) == 3
