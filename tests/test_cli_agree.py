"""The command line does what docs/cli.md says: the points where they once disagreed.

(The docs' own examples are run by tests/test_docs.py.)
"""

from __future__ import annotations

import csv
import fcntl
import os
import pty
import re
import select
import shutil
import signal
import stat
import struct
import sys
import termios
import time
import warnings
from pathlib import Path

import pydicom
import pytest
from batch_tree import pydicom_file
from dicomveil import (
    Anonymizer,
    BurnedInAnnotationWarning,
    ConfidentialityProfile,
    ConfidentialityProfileOptions,
    ProfileError,
    Pseudonym,
    _core,
)
from dicomveil.cli import _OPTION_NAMES
from util import run_cli as cli

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "data"
EXAMPLES = ROOT / "python" / "dicomveil" / "data" / "examples"
KEY = b"cli agreement test key, long enough"


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "site.key"
    path.write_bytes(KEY)
    return path


def _samples(at: Path) -> Path:
    shutil.copytree(DATA, at)
    return at


# -- 3. what the summary counts ---------------------------------------------------------------
def test_links_and_non_dicom_are_counted_apart(tmp_path: Path, key_file: Path) -> None:
    src = _samples(tmp_path / "src")
    (src / "notes.txt").write_text("not DICOM")
    (src / "more.json").write_text("{}")
    os.symlink(src / "ct_explicit_le.dcm", src / "alias.dcm")
    r = cli("anonymize", src, tmp_path / "out", "--key-file", key_file)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert "note: skipped 2 files that are not DICOM (--audit FILE lists them)" in lines
    assert "note: skipped 1 symbolic link, not followed (--audit FILE lists them)" in lines
    (src / "more.json").unlink()
    r = cli("anonymize", src, tmp_path / "out2", "--key-file", key_file)
    assert "note: skipped 1 file that is not DICOM (--audit FILE lists them)" in r.stderr


# -- 8. a file named alone that is not DICOM -------------------------------------------------
def test_a_named_file_that_is_not_dicom_is_an_error(tmp_path: Path, key_file: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not DICOM at all")
    r = cli("anonymize", text, tmp_path / "out.dcm", "--key-file", key_file)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [f"Error: {text}: not DICOM: nothing written"]
    assert not (tmp_path / "out.dcm").exists()
    # in a folder it is skipped, as documented
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(text, folder)
    r = cli("anonymize", folder, tmp_path / "out", "--key-file", key_file)
    assert r.returncode == 0 and "skipped 1 file that is not DICOM" in r.stderr


# -- 9. dump of a missing file ---------------------------------------------------------------
def test_dump_of_a_missing_file_exits_1(tmp_path: Path) -> None:
    r = cli("dump", tmp_path / "missing.dcm")
    assert r.returncode == 1
    assert r.stderr.strip() == f"Error: {tmp_path / 'missing.dcm'}: no such file"
    r = cli("dump", tmp_path)
    assert r.returncode == 1 and "is a folder" in r.stderr


# -- 2. --option with a profile in the rule form ----------------------------------------------
def test_option_with_a_rule_form_profile_is_one_warning_line(
    tmp_path: Path, key_file: Path
) -> None:
    r = cli(
        "anonymize",
        DATA / "ct_explicit_le.dcm",
        tmp_path / "out.dcm",
        "--key-file",
        key_file,
        "--profile",
        EXAMPLES / "custom_profile.csv",
        "--option",
        "ALL",
    )
    assert r.returncode == 0, r.stderr
    warning_lines = [line for line in r.stderr.splitlines() if "option columns" in line]
    assert len(warning_lines) == 1 and warning_lines[0].startswith("warning: ")
    assert "UserWarning" not in r.stderr and "warnings.warn" not in r.stderr


# -- 7. what profile show prints loads back ----------------------------------------------------
def _shown_rules(stdout: str) -> list[tuple[str, str]]:
    lines = stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("TAG "))
    row = re.compile(r"(\([^)]*\)|gggg,eeee \(gggg odd\))\s+(\S+)\s+(\S+)")
    rows = []
    for line in lines[header + 1 :]:
        m = row.match(line)
        assert m, line
        rows.append((m.group(1), m.group(3)))
    return rows


def _canonical(profile: ConfidentialityProfile) -> dict[str, str]:
    return {_core.canonical_pattern(p): str(a.value) for p, a in profile.items()}


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--option", "ALL"],
        *[["--option", name] for name in _OPTION_NAMES if name not in ("ALL", "BASIC_PROFILE")],
        ["--profile", str(EXAMPLES / "custom_profile.csv")],
        ["--profile", str(EXAMPLES / "custom_profile.json")],
        ["--profile", str(EXAMPLES / "custom_profile.xml")],
        ["--profile", str(EXAMPLES / "options_profile.csv")],
    ],
    ids=lambda a: " ".join(Path(x).name for x in a) or "default",
)
def test_profile_show_prints_patterns_that_load_back(args: list[str], tmp_path: Path) -> None:
    r = cli("profile", "show", *args)
    assert r.returncode == 0, r.stderr
    rows = _shown_rules(r.stdout)
    assert rows
    text = "TagPattern;Action\n" + "".join(f"{p};{a}\n" for p, a in rows)
    loaded = ConfidentialityProfile.load_from_csv_string(text)
    # every rule, by the pattern the engine makes of it, with its action
    exported = tmp_path / "p.csv"
    assert cli("profile", "export", *args, "-o", exported).returncode == 0
    original = ConfidentialityProfile.load_from_csv_file(exported)
    assert _canonical(loaded) == _canonical(original)


# -- 10. pseudonyms and the UID map on the command line ----------------------------------------
def test_pseudonyms_from_the_command_line_are_the_apis(tmp_path: Path, key_file: Path) -> None:
    src = DATA / "ct_explicit_le.dcm"
    out = tmp_path / "out.dcm"
    r = cli(
        "anonymize", src, out, "--key-file", key_file,
        "--patient-name", "@Pseudonym", "--patient-id", "@pseudonym",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    profile = ConfidentialityProfile()
    profile.patient_name = Pseudonym()
    profile.patient_id = Pseudonym()
    api = tmp_path / "api.dcm"
    Anonymizer(profile, key=KEY).anonymize_file(src, api)
    a, b = pydicom.dcmread(out), pydicom.dcmread(api)
    assert str(a.PatientName) == str(b.PatientName)
    assert re.fullmatch(r"ANONYMOUS\^[0-9A-F]{16}", str(a.PatientName))
    assert a.PatientID == b.PatientID and re.fullmatch(r"[0-9A-F]{16}", a.PatientID)
    for bad in ("@pseudo", "Müller", "A\tB"):
        r = cli("anonymize", src, tmp_path / "x.dcm", "--key-file", key_file,
                "--patient-name", bad)  # fmt: skip
        assert r.returncode == 2 and "--patient-name" in r.stderr


def test_uid_map_file(tmp_path: Path, key_file: Path) -> None:
    src = _samples(tmp_path / "src")
    out = tmp_path / "out"
    mapping = tmp_path / "keys" / "uids.csv"
    mapping.parent.mkdir()
    r = cli("anonymize", src, out, "--key-file", key_file, "--uid-map", mapping)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(mapping.stat().st_mode) == 0o600
    with mapping.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["original_uid", "new_uid"]
    table = dict(rows[1:])
    # every SOP Instance UID of the inputs, mapped to the one in its output
    for f in sorted(src.iterdir()):
        before = pydicom.dcmread(f, force=True)
        after = pydicom.dcmread(out / f.name)
        assert table[before.SOPInstanceUID] == after.SOPInstanceUID
        assert table[before.StudyInstanceUID] == after.StudyInstanceUID
    assert all(new.startswith("2.25.") for new in table.values())
    assert not list(mapping.parent.glob("*.part"))
    # never among the outputs or the inputs
    for inside in (out / "uids.csv", src / "uids.csv"):
        r = cli("anonymize", src, out, "--key-file", key_file, "--uid-map", inside)
        assert r.returncode == 2 and "is inside" in r.stderr
        assert not inside.exists()


# -- 11. settings checked when set -----------------------------------------------------------
@pytest.mark.parametrize("value", ["Müller", "A\x01B"])
def test_patient_name_is_checked_when_set(value: str) -> None:
    profile = ConfidentialityProfile()
    with pytest.raises(ProfileError):
        profile.patient_name = value


# -- 6. trees warn once ----------------------------------------------------------------------
def test_a_tree_run_warns_once_with_the_count(tmp_path: Path) -> None:
    src = _samples(tmp_path / "src")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = Anonymizer(key=KEY).anonymize_tree(src, tmp_path / "out")
    flagged = [r for r in report.flagged if "burned-in-annotation" in r.flags]
    assert len(flagged) == 2  # the secondary capture and the ultrasound samples
    burned = [w for w in caught if issubclass(w.category, BurnedInAnnotationWarning)]
    assert len(burned) == 1
    assert str(burned[0].message).startswith("2 files may carry burned-in annotation")
    assert burned[0].filename == __file__  # the caller's line, not the package's
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Anonymizer(key=KEY, burned_in="allow").anonymize_tree(src, tmp_path / "out2")
    assert not [w for w in caught if issubclass(w.category, BurnedInAnnotationWarning)]


def test_the_command_prints_flags_not_python_warnings(tmp_path: Path, key_file: Path) -> None:
    r = cli("anonymize", DATA, tmp_path / "out", "--key-file", key_file)
    assert r.returncode == 0
    assert "Warning" not in r.stderr
    assert r.stderr.count("flagged: ") == 2


# -- 12. the demo prints no Python warning -----------------------------------------------------
def test_quickstart_shows_the_flag_on_the_files_line(tmp_path: Path) -> None:
    import subprocess

    r = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "Warning" not in r.stdout + r.stderr
    flagged = [line for line in r.stdout.splitlines() if "flagged:" in line]
    assert sorted(line.split()[0] for line in flagged) == [
        "sc_rle_lossless.dcm",
        "us_rgb_explicit_be.dcm",
    ]


# -- 4. the progress bar at 80 columns, and a stop -------------------------------------------
def test_progress_bar_fits_80_columns_and_ends_its_line_when_stopped(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    one = pydicom_file("CT_small.dcm").read_bytes()
    for i in range(4000):
        (src / f"f{i:05}.dcm").write_bytes(one)
    key = tmp_path / "k"
    key.write_bytes(KEY)
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execv(
            sys.executable,
            [sys.executable, "-m", "dicomveil", "anonymize", str(src), str(tmp_path / "out"),
             "--key-file", str(key), "--workers", "1"],
        )  # fmt: skip
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    out = b""
    started = time.monotonic()
    sent = False
    while True:
        if not sent and re.search(rb"\d+/\d+ files, ", out):
            os.kill(pid, signal.SIGINT)
            sent = True
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        if time.monotonic() - started > 120:  # pragma: no cover - a hang
            os.kill(pid, signal.SIGKILL)
            break
    _, status = os.waitpid(pid, 0)
    text = out.decode("utf-8", "replace")
    if not sent:
        pytest.skip("the run ended before its bar was drawn (a very fast machine)")
    assert os.waitstatus_to_exitcode(status) == 130, text
    bars = [part for part in re.split(r"[\r\n]", text) if "anonymizing" in part]
    assert bars and all(len(bar.rstrip()) <= 80 for bar in bars), bars
    assert any(re.search(r"\d+/\d+ files, \d+ refused, \d+ MB", bar) for bar in bars), bars
    # the message after the stop starts a line of its own: a newline, not only a \r
    at = text.index("interrupted:")
    assert text[:at].endswith("\n")
    before = text[:at].rstrip("\r\n").rsplit("\n", 1)[-1]
    assert "interrupted" not in before


def test_options_enum_order_is_the_documented_list() -> None:
    assert _OPTION_NAMES == list(ConfidentialityProfileOptions.__members__)
