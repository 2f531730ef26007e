"""The ``dicomveil`` command, run through its real entry point (``python -m dicomveil``, and the
console script when installed) and, where convenient, through click's CliRunner.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import dicomveil
import pydicom
import pytest
from batch_tree import GOOD, Tree, hash_tree, make_tree, plant_leak, pydicom_file
from click.testing import CliRunner
from dicomveil.cli import main
from util import run_cli as cli

KEY = b"cli-test-key-0123"


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return make_tree(tmp_path / "src")


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "key.txt"
    path.write_bytes(KEY + b"\n")  # as an editor saves it: one trailing newline
    return path


@pytest.fixture
def good_tree(tmp_path: Path) -> Path:
    """Only files dicomveil de-identifies, each a different instance."""
    root = tmp_path / "good"
    for rel, name in GOOD.items():
        if name in ("MR_small_implicit.dcm", "MR_small_bigendian.dcm"):
            continue  # the same instance as MR_small: same UIDs
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pydicom_file(name), root / rel)
    return root


def assert_no_patient_data(tree: Tree, *texts: str) -> None:
    for text in texts:
        for value in tree.identifying():
            assert value not in text, value
            assert value.replace("^", " ") not in text, value
        assert KEY.decode() not in text


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".dicomveil-" in p.name or p.suffix == ".part"]


# -- global -----------------------------------------------------------------------------------
def test_version() -> None:
    r = cli("--version")
    assert r.returncode == 0
    assert r.stdout.startswith(f"dicomveil {dicomveil.__version__} (PS3.15 {dicomveil.EDITION})")


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help(flag: str) -> None:
    r = cli(flag)
    assert r.returncode == 0
    for command in ("anonymize", "profile", "dump", "verify"):
        assert command in r.stdout
    r = cli("anonymize", flag)
    assert r.returncode == 0
    for option in ("--profile", "--option", "--key-file", "--in-place", "--dry-run", "--audit"):
        assert option in r.stdout


def test_unknown_command_is_a_usage_error() -> None:
    r = cli("anonymise")
    assert r.returncode == 2
    assert "No such command" in r.stderr


def test_console_script() -> None:
    (ep,) = entry_points(group="console_scripts", name="dicomveil")
    assert ep.value == "dicomveil.cli:main"
    script = Path(sys.executable).with_name("dicomveil")
    if not script.exists():
        pytest.skip("the console script is not installed next to this interpreter")
    r = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("dicomveil ")


# -- anonymize --------------------------------------------------------------------------------
def test_anonymize_tree_with_refused_files(tree: Tree, tmp_path: Path, key_file: Path) -> None:
    out = tmp_path / "out"
    audit = tmp_path / "audit.jsonl"
    before = tree.hashes()
    r = cli("anonymize", tree.root, out, "--key-file", key_file, "--audit", audit)
    assert r.returncode == 1, r.stderr
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    summary = [line for line in lines if line.startswith("dicomveil: ")]
    assert len(summary) == 1
    assert summary[0].startswith("dicomveil: 10 done, 4 refused, 5 skipped, 3 flagged in ")
    assert "files/s" in summary[0] and "MB/s" in summary[0]
    assert ", 3 flagged in " in summary[0]
    for rel in tree.refused:
        (line,) = [x for x in lines if x.startswith(f"refused: {tree.root / rel}: ")]
        assert "not a valid DICOM file" in line
    assert any(x.startswith(f"note: skipped {tree.root / 'DICOMDIR'}: DICOMDIR") for x in lines)
    assert "note: skipped 4 files that are not DICOM" in r.stderr
    assert "warning: no --key-file" not in r.stderr

    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == sorted(tree.good)
    for rel in tree.good:
        assert pydicom.dcmread(out / rel).PatientIdentityRemoved == "YES"
    assert leftovers(out) == [] and leftovers(tree.root) == []
    assert tree.hashes() == before
    audit_text = audit.read_text(encoding="utf-8")
    assert len(audit_text.splitlines()) == len(tree.all)
    assert_no_patient_data(tree, r.stdout, r.stderr, audit_text)


def test_anonymize_all_good_exits_0(good_tree: Path, tmp_path: Path, key_file: Path) -> None:
    r = cli("anonymize", good_tree, tmp_path / "out", "--key-file", key_file)
    assert r.returncode == 0, r.stderr
    assert " 0 refused, 0 skipped" in r.stderr
    assert "refused:" not in r.stderr


def test_anonymize_without_key_warns(good_tree: Path, tmp_path: Path) -> None:
    r = cli("anonymize", good_tree, tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert "warning: no --key-file" in r.stderr and "reproducible" in r.stderr


def test_key_file_makes_runs_reproducible(good_tree: Path, tmp_path: Path, key_file: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert cli("anonymize", good_tree, a, "--key-file", key_file, "--workers", "1").returncode == 0
    assert cli("anonymize", good_tree, b, "--key-file", key_file, "--workers", "2").returncode == 0
    assert hash_tree(a) == hash_tree(b)
    # the trailing newline is not part of the key: same result as the API with the bare key
    dicomveil.Anonymizer(key=KEY).anonymize_tree(good_tree, c)
    assert hash_tree(a) == hash_tree(c)
    # no key: random UIDs
    d, e = tmp_path / "d", tmp_path / "e"
    assert cli("anonymize", good_tree, d, "-q").returncode == 0
    assert cli("anonymize", good_tree, e, "-q").returncode == 0
    assert hash_tree(d) != hash_tree(e)


def test_options_and_patient_replacements(good_tree: Path, tmp_path: Path, key_file: Path) -> None:
    out = tmp_path / "out"
    args = ["--option", "Retain-UIDs", "--option", "retain_institution_ident"]
    args += ["--patient-name", "STUDY^SUBJECT 7", "--patient-id", "SUBJ-007"]
    r = cli("anonymize", good_tree, out, "--key-file", key_file, *args)
    assert r.returncode == 0, r.stderr
    src = pydicom.dcmread(good_tree / "study1" / "CT_small.dcm")
    ds = pydicom.dcmread(out / "study1" / "CT_small.dcm")
    assert ds.SOPInstanceUID == src.SOPInstanceUID  # RETAIN_UIDS
    assert ds.InstitutionName == src.InstitutionName  # RETAIN_INSTITUTION_IDENT
    assert ds.PatientName == "STUDY^SUBJECT 7" and ds.PatientID == "SUBJ-007"
    assert "113110" in [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]


def test_custom_profile_file(good_tree: Path, tmp_path: Path, key_file: Path) -> None:
    profile = tmp_path / "profile.csv"
    profile.write_text("TagPattern;Action\nPatientName;Z\nPatientAge;X\n", encoding="utf-8")
    out = tmp_path / "out"
    r = cli("anonymize", good_tree, out, "--profile", profile, "--key-file", key_file)
    assert r.returncode == 0, r.stderr
    src = pydicom.dcmread(good_tree / "study1" / "CT_small.dcm")
    ds = pydicom.dcmread(out / "study1" / "CT_small.dcm")
    assert ds.PatientName == "" and "PatientAge" not in ds
    assert ds.StudyDate == src.StudyDate  # no rule: kept
    # no rule either, but text that identifies: cleaned (the unlisted attributes, by default)
    assert ds.PatientID == "[REMOVED]"


def test_a_profile_files_settings_apply_and_the_flags_replace_them(
    tmp_path: Path, key_file: Path
) -> None:
    src = pydicom_file("CT_small.dcm")
    profile = tmp_path / "profile.csv"
    profile.write_text(
        "TagPattern;Action\n@patient_name;FROM^FILE\n@patient_id;@pseudonym\n"
        "@conform_to_iod;no\nPatientName;X\nPatientAge;X\n",
        encoding="utf-8",
    )
    out = tmp_path / "a.dcm"
    r = cli("anonymize", src, out, "--profile", profile, "--key-file", key_file, "-q")
    assert r.returncode == 0, r.stderr
    ds = pydicom.dcmread(out)
    assert ds.PatientName == "FROM^FILE" and len(ds.PatientID) == 16  # the file's settings
    assert "PatientAge" not in ds
    # --patient-name replaces the file's; the file's patient_id stays
    out = tmp_path / "b.dcm"
    args = ["--profile", profile, "--key-file", key_file, "-q", "--patient-name", "FLAG^NAME"]
    assert cli("anonymize", src, out, *args).returncode == 0
    ds = pydicom.dcmread(out)
    assert ds.PatientName == "FLAG^NAME" and len(ds.PatientID) == 16
    # literal by the file's setting: X on Type 2 PatientName removes it
    profile.write_text("TagPattern;Action\n@conform_to_iod;no\nPatientName;X\n")
    out = tmp_path / "c.dcm"
    assert cli("anonymize", src, out, "--profile", profile, "-q").returncode == 0
    assert "PatientName" not in pydicom.dcmread(out)
    profile.write_text("TagPattern;Action\nPatientName;X\n")
    out = tmp_path / "d.dcm"
    assert cli("anonymize", src, out, "--profile", profile, "-q").returncode == 0
    assert pydicom.dcmread(out).PatientName == ""  # resolved by IOD: emptied


def test_profile_settings_on_the_command_line(tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text(
        '[{"Setting": "patient_id", "Value": "@pseudonym"}, {"Setting": "unlisted", '
        '"Value": "keep"}, {"Tag": "PatientName", "Action": "Z"}]',
        encoding="utf-8",
    )
    r = cli("profile", "show", "--profile", profile)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[1] == "# settings: patient_id @pseudonym, unlisted keep"
    # --unlisted replaces the file's setting: the default again, no settings line
    r = cli("profile", "show", "--profile", profile, "--unlisted", "clean", "--literal")
    assert r.stdout.splitlines()[1] == "# settings: patient_id @pseudonym, conform_to_iod no"
    assert r.stdout.splitlines()[2].startswith("# actions: X remove") and "literal:" in r.stdout
    # export writes the file's settings, and those of the flags
    r = cli("profile", "export", "--profile", profile, "--format", "csv")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "TagPattern;Action\n@patient_id;@pseudonym\n@unlisted;keep\nPatientName;Z\n"
    out = tmp_path / "again.xml"
    r = cli(
        "profile", "export", "--profile", profile, "--literal", "--unlisted", "clean", "-o", out
    )
    assert r.returncode == 0, r.stderr
    again = dicomveil.ConfidentialityProfile.load_from_xml_file(out)
    assert (again.patient_id, again.conform_to_iod, again.unlisted) == (
        dicomveil.Pseudonym(),
        False,
        "clean",
    )
    r = cli("profile", "export", "--format", "csv", "--unlisted", "keep")
    assert r.stdout.startswith("TagPattern;Action\n@unlisted;keep\n")
    assert cli("profile", "export", "--format", "csv").stdout.count("@") == 0  # the default
    # the choices, everywhere
    for command in (
        ["anonymize", profile, tmp_path / "x"],
        ["verify", tmp_path],
        ["profile", "show"],
    ):
        r = cli(*command, "--unlisted", "drop")
        assert r.returncode == 2 and "'drop' is not one of 'clean', 'keep'" in r.stderr


def test_in_place(tree: Tree) -> None:
    before = tree.hashes()
    r = cli("anonymize", "--in-place", tree.root)
    assert r.returncode == 1  # the refused files
    after = tree.hashes()
    assert sorted(after) == sorted(before)
    for rel in tree.good:
        assert after[rel] != before[rel]
        assert pydicom.dcmread(tree.root / rel).PatientIdentityRemoved == "YES"
    for rel in [*tree.refused, *tree.not_dicom, tree.dicomdir]:
        assert after[rel] == before[rel]
    assert leftovers(tree.root) == []
    # DST equal to SRC is accepted with --in-place
    assert cli("anonymize", tree.root, tree.root, "--in-place", "-q").returncode == 1


def test_dry_run_writes_nothing(tree: Tree, tmp_path: Path) -> None:
    out = tmp_path / "out"
    audit = tmp_path / "audit.jsonl"
    before = tree.hashes()
    r = cli("anonymize", tree.root, out, "--dry-run", "--audit", audit)
    assert r.returncode == 1
    assert "dicomveil: dry run, nothing written: 10 done, 4 refused" in r.stderr
    assert not out.exists()
    assert tree.hashes() == before
    # the audit log of a dry run says what would be done
    statuses = [json.loads(x)["status"] for x in audit.read_text().splitlines()]
    assert statuses.count("done") == 10


def test_naming_template(good_tree: Path, tmp_path: Path, key_file: Path) -> None:
    out = tmp_path / "out"
    template = "{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.dcm"
    r = cli("anonymize", good_tree, out, "--naming", template, "--key-file", key_file)
    assert r.returncode == 0, r.stderr
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) == len(list(p for p in good_tree.rglob("*") if p.is_file()))
    for path in files:
        ds = pydicom.dcmread(path)
        assert path.relative_to(out).parts == (
            ds.StudyInstanceUID,
            ds.SeriesInstanceUID,
            f"{ds.SOPInstanceUID}.dcm",
        )


def test_naming_collisions_are_an_error(tree: Tree, tmp_path: Path, key_file: Path) -> None:
    # MR_small in three transfer syntaxes is one instance: one name for three files
    out = tmp_path / "out"
    r = cli("anonymize", tree.root, out, "--naming", "{SOPInstanceUID}.dcm", "-q")
    assert r.returncode == 1
    assert r.stderr.count("is already taken by") == 2


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{NoSuchKeyword}.dcm", "not a DICOM keyword"),
        ("{SOPInstanceUID.dcm", "unbalanced braces"),
        ("plain.dcm", "no {Keyword} field"),
        ("../{SOPInstanceUID}.dcm", "relative path"),
        ("/abs/{SOPInstanceUID}.dcm", "relative path"),
    ],
)
def test_bad_naming_template(tree: Tree, tmp_path: Path, template: str, message: str) -> None:
    r = cli("anonymize", tree.root, tmp_path / "out", "--naming", template)
    assert r.returncode == 2
    assert message in r.stderr
    assert not (tmp_path / "out").exists()


def test_single_file(tree: Tree, tmp_path: Path, key_file: Path) -> None:
    src = tree.root / "study1" / "CT_small.dcm"
    k = ["--key-file", str(key_file), "-q"]
    # to a file
    assert cli("anonymize", src, tmp_path / "a" / "x.dcm", *k).returncode == 0
    assert pydicom.dcmread(tmp_path / "a" / "x.dcm").PatientIdentityRemoved == "YES"
    # into an existing folder, or a new one named with a trailing slash: the name is kept
    (tmp_path / "b").mkdir()
    assert cli("anonymize", src, tmp_path / "b", *k).returncode == 0
    assert cli("anonymize", src, f"{tmp_path / 'c'}{os.sep}", *k).returncode == 0
    data = (tmp_path / "a" / "x.dcm").read_bytes()
    assert (tmp_path / "b" / "CT_small.dcm").read_bytes() == data
    assert (tmp_path / "c" / "CT_small.dcm").read_bytes() == data
    # a refused file
    r = cli("anonymize", tree.root / "bad" / "half.dcm", tmp_path / "d.dcm")
    assert r.returncode == 1 and "refused:" in r.stderr
    assert not (tmp_path / "d.dcm").exists()
    # the output would be the input
    r = cli("anonymize", src, src.parent)
    assert r.returncode == 2 and "--in-place" in r.stderr
    # in place
    before = src.read_bytes()
    assert cli("anonymize", "--in-place", src, *k).returncode == 0
    assert src.read_bytes() != before
    assert pydicom.dcmread(src).PatientIdentityRemoved == "YES"


def test_burned_in(tree: Tree, tmp_path: Path) -> None:
    r = cli("anonymize", tree.root, tmp_path / "warn")
    flagged = [x for x in r.stderr.splitlines() if x.startswith("flagged: ")]
    assert len(flagged) == 3 and all("burned-in annotation" in x for x in flagged)
    r = cli("anonymize", tree.root, tmp_path / "refuse", "--burned-in", "refuse")
    assert r.returncode == 1
    assert "dicomveil: 7 done, 7 refused" in r.stderr
    assert not (tmp_path / "refuse" / "study3" / "jpeg2000.dcm").exists()


def test_quiet(tree: Tree, tmp_path: Path, key_file: Path) -> None:
    r = cli("anonymize", tree.root, tmp_path / "out", "--key-file", key_file, "--quiet")
    assert r.returncode == 1
    lines = r.stderr.splitlines()
    assert all(x.startswith(("refused: ", "flagged: ")) for x in lines), lines
    assert len([x for x in lines if x.startswith("refused: ")]) == 4


def _usage_errors(tree: Tree, tmp_path: Path) -> list[tuple[list[str], str]]:
    src = str(tree.root)
    out = str(tmp_path / "out")
    empty_key = tmp_path / "empty.key"
    empty_key.write_bytes(b"\n")
    txt_profile = tmp_path / "profile.txt"
    txt_profile.write_text("x")
    return [
        ([src], "missing DST"),
        ([src, src], "add --in-place"),
        ([src, f"{src}/anon"], "inside SRC"),
        ([src, str(tmp_path)], "inside DST"),
        ([src, out, "--in-place"], "--in-place overwrites SRC"),
        ([src, "--in-place", "--naming", "{SOPInstanceUID}"], "--naming cannot"),
        ([src, out, "--option", "retain-everything"], "unknown option"),
        ([src, out, "--workers", "0"], "--workers"),
        ([src, out, "--profile", str(txt_profile)], ".csv, .json or .xml"),
        ([src, out, "--patient-name", "Müller^Hans"], "ASCII"),
        ([src, out, "--key-file", str(empty_key)], "empty"),
        ([src, out, "--key-file", str(tmp_path / "missing.key")], "does not exist"),
        ([str(tmp_path / "missing"), out], "does not exist"),
        ([src, out, "--audit", f"{src}/audit.jsonl"], "into SRC"),
        ([src, out, "--audit", str(tmp_path / "no" / "such" / "audit.jsonl")], "does not exist"),
        ([src, out, "--burned-in", "ignore"], "--burned-in"),
    ]


def test_usage_errors_exit_2(tree: Tree, tmp_path: Path) -> None:
    before = tree.hashes()
    for args, message in _usage_errors(tree, tmp_path):
        r = cli("anonymize", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert message in r.stderr, (args, r.stderr)
        assert not (tmp_path / "out").exists(), args
    assert tree.hashes() == before


def test_usage_errors_with_clirunner(tree: Tree, tmp_path: Path) -> None:
    runner = CliRunner()
    for args, message in _usage_errors(tree, tmp_path):
        result = runner.invoke(main, ["anonymize", *args])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)


def test_progress_bar_only_on_a_terminal(tmp_path: Path, key_file: Path) -> None:
    pty = pytest.importorskip("pty")
    fcntl = pytest.importorskip("fcntl")
    termios = pytest.importorskip("termios")
    src = tmp_path / "many"
    src.mkdir()
    data = pydicom_file("MR_small.dcm").read_bytes()
    for i in range(400):
        (src / f"{i:04}.dcm").write_bytes(data)

    def run_on_terminal(*extra: str) -> str:
        leader, follower = pty.openpty()
        # a terminal of 100 x 30, as a user's
        fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "dicomveil", "anonymize", src, tmp_path / "o", *extra],
                stdout=subprocess.DEVNULL,
                stderr=follower,
                timeout=120,
            )
            os.close(follower)
            follower = -1
            chunks = []
            while True:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: the terminal is closed and drained
                    break
                if not chunk:
                    break
                chunks.append(chunk)
        finally:
            if follower >= 0:
                os.close(follower)
            os.close(leader)
        assert proc.returncode == 0
        shutil.rmtree(tmp_path / "o")
        return b"".join(chunks).decode("utf-8", "replace")

    shown = run_on_terminal("--key-file", str(key_file), "--workers", "1")
    assert "anonymizing" in shown  # a fast run may end before the first redraw at 0.1 s
    assert "dicomveil: 400 done" in shown
    quiet = run_on_terminal("--key-file", str(key_file), "--quiet")
    assert "anonymizing" not in quiet and quiet.strip() == ""
    # not a terminal: no bar
    r = cli("anonymize", src, tmp_path / "o", "--key-file", key_file)
    assert r.returncode == 0 and "anonymizing" not in r.stderr and "\r" not in r.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_interrupt_leaves_no_partial_file(tmp_path: Path, key_file: Path) -> None:
    import signal
    import time

    src = tmp_path / "many"
    src.mkdir()
    first = src / "00000.dcm"
    shutil.copyfile(pydicom_file("CT_small.dcm"), first)
    for i in range(1, 4000):
        os.link(first, src / f"{i:05}.dcm")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dicomveil", "anonymize", src, out, "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (out.exists() and any(out.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    written = [p for p in out.rglob("*") if p.is_file()]
    assert 0 < len(written) < 4000
    assert leftovers(out) == []
    for path in written[:: max(1, len(written) // 20)]:
        assert pydicom.dcmread(path).PatientIdentityRemoved == "YES"


# -- profile ----------------------------------------------------------------------------------
def test_profile_show() -> None:
    r = cli("profile", "show")
    assert r.returncode == 0
    lines = r.stdout.splitlines()
    assert lines[0].startswith(f"# PS3.15 {dicomveil.EDITION} Table E.1-1, BASIC_PROFILE")
    assert lines[0].endswith(f"{len(dicomveil.ConfidentialityProfile.create_default())} rules")
    rows = {line.split()[0]: line.split() for line in lines if line.startswith("(")}
    assert rows["(0010,0010)"][1:3] == ["PatientName", "Z"]
    assert rows["(0020,000D)"][1:3] == ["StudyInstanceUID", "U"]
    assert rows["(60xx,3000)"][1:3] == ["OverlayData", "X"]
    assert any(line.startswith("gggg,eeee (gggg odd)") for line in lines)
    r = cli("profile", "show", "--option", "RETAIN_UIDS")
    assert "RETAIN_UIDS" in r.stdout.splitlines()[0]
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines() if line[:1] == "("}
    assert rows["(0020,000D)"][1:3] == ["StudyInstanceUID", "K"]


def test_profile_show_custom(tmp_path: Path) -> None:
    profile = tmp_path / "p.csv"
    profile.write_text(
        "TagPattern;Action\nPatientName;Z\n(0009,xx10:ACME);X\n(0029,1010);K\n", encoding="utf-8"
    )
    result = CliRunner().invoke(main, ["profile", "show", "--profile", str(profile)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"# custom profile (from {profile}): 3 rules"
    body = lines[4:]
    assert [line.split()[0] for line in body] == ["(0009,xx10:ACME)", "(0010,0010)", "(0029,1010)"]
    assert "private attribute of creator 'ACME'" in body[0]


def test_profile_show_bad_file(tmp_path: Path) -> None:
    profile = tmp_path / "p.csv"
    profile.write_text("TagPattern;Action\nPatientName;Q\n", encoding="utf-8")
    r = cli("profile", "show", "--profile", profile)
    assert r.returncode == 2
    assert "p.csv" in r.stderr and "line 2" in r.stderr


@pytest.mark.parametrize("fmt", ["csv", "json", "xml"])
def test_profile_export_round_trip(tmp_path: Path, fmt: str) -> None:
    if fmt == "xml":
        pytest.importorskip("defusedxml")
    path = tmp_path / f"profile.{fmt}"
    r = cli("profile", "export", "--format", fmt, "--option", "retain-uids", "-o", path)
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    loaded = getattr(dicomveil.ConfidentialityProfile, f"load_from_{fmt}_file")(path)
    expected = dicomveil.ConfidentialityProfile.create_default(
        dicomveil.ConfidentialityProfileOptions.RETAIN_UIDS
    )
    assert loaded == expected
    shown = cli("profile", "show", "--profile", path).stdout.splitlines()
    default = cli("profile", "show", "--option", "retain-uids").stdout.splitlines()
    assert shown[1:] == default[1:]
    # to standard output, the format from --format; from -o's extension without it
    r = cli("profile", "export", "--format", fmt, "--option", "retain-uids")
    assert r.returncode == 0 and r.stdout.rstrip("\n") == path.read_text().rstrip("\n")
    path.unlink()
    assert cli("profile", "export", "--option", "retain-uids", "-o", path).returncode == 0
    assert path.exists()


def test_profile_export_needs_a_format() -> None:
    r = cli("profile", "export")
    assert r.returncode == 2 and "--format" in r.stderr


def test_closed_pipe_is_quiet() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "dicomveil", "profile", "show"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader goes away at once
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 1
    assert "Traceback" not in err and "BrokenPipe" not in err


# -- dump -------------------------------------------------------------------------------------
def test_dump(tree: Tree) -> None:
    r = cli("dump", tree.root / "study1" / "CT_small.dcm")
    assert r.returncode == 0
    assert "(0010,0010) PN PatientName" in r.stdout
    assert r.stdout.startswith("# transfer syntax 1.2.840.10008.1.2.1")
    nested = cli("dump", tree.root / "study2" / "rtplan.dcm").stdout
    assert "SQ BeamSequence (1 items)\n  item 1\n    (0008,0070) LO Manufacturer" in nested


@pytest.mark.parametrize(
    ("rel", "message"),
    [("bad/half.dcm", "not a valid DICOM file"), ("notes.txt", "not a DICOM file")],
)
def test_dump_errors(tree: Tree, rel: str, message: str) -> None:
    r = cli("dump", tree.root / rel)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr.startswith("Error: ") and message in r.stderr
    assert "Traceback" not in r.stderr


def test_dump_missing_file(tmp_path: Path) -> None:
    r = cli("dump", tmp_path / "missing.dcm")
    assert r.returncode == 1 and "no such file" in r.stderr  # docs/cli.md: exit 1


# -- verify -----------------------------------------------------------------------------------
def test_verify_clean_output(good_tree: Path, tmp_path: Path, key_file: Path) -> None:
    out = tmp_path / "out"
    assert cli("anonymize", good_tree, out, "--key-file", key_file, "-q").returncode == 0
    r = cli("verify", out)
    assert r.returncode == 0, r.stdout
    assert r.stdout == ""
    n = len([p for p in out.rglob("*") if p.is_file()])
    assert r.stderr.strip() == f"dicomveil: {n} file{'s' if n != 1 else ''} checked: no findings"
    # made with an option: verified with it
    retained = tmp_path / "retained"
    args = ["--option", "retain-safe-private", "--key-file", key_file, "-q"]
    assert cli("anonymize", good_tree, retained, *args).returncode == 0
    assert cli("verify", retained, "--option", "retain-safe-private").returncode == 0


def test_verify_finds_a_planted_leak(tree: Tree, tmp_path: Path, key_file: Path) -> None:
    out = tmp_path / "out"
    cli("anonymize", tree.root, out, "--key-file", key_file, "-q")
    original = tree.root / "study1" / "CT_small.dcm"
    planted = tmp_path / "check" / "leaky.dcm"
    name = plant_leak(out / "study1" / "CT_small.dcm", original, planted)

    r = cli("verify", planted.parent, "--original", original)
    assert r.returncode == 1
    findings = [tuple(line.split("\t")) for line in r.stdout.splitlines()]
    assert (str(planted), "(0011,1010)", "leak", "-") in findings
    assert (str(planted), "(0011,1010)", "private-attribute", "-") in findings
    assert (str(planted), "(0008,2218)[0] > (0008,0104)", "leak", "CodeMeaning") in findings
    assert len(findings) == 3
    assert "3 findings in 1 file (" in r.stderr
    for text in (r.stdout, r.stderr):
        assert name not in text and "CompressedSamples" not in text
    # without the originals: what every output must satisfy
    r = cli("verify", planted)
    assert r.returncode == 1
    assert r.stdout.splitlines() == [f"{planted}\t(0011,1010)\tprivate-attribute\t-"]


def test_verify_reports_originals(tree: Tree) -> None:
    r = cli("verify", tree.root)
    assert r.returncode == 1
    kinds = {line.split("\t")[2] for line in r.stdout.splitlines()}
    assert {"identity-not-removed", "private-attribute", "not-removed", "unreadable"} <= kinds
    assert f"{tree.root / 'bad' / 'half.dcm'}\t-\tunreadable\t-" in r.stdout.splitlines()
    assert_no_patient_data(tree, r.stdout, r.stderr)


def test_verify_usage_errors(tmp_path: Path) -> None:
    assert cli("verify", tmp_path / "missing").returncode == 2
    assert cli("verify", tmp_path, "--option", "nope").returncode == 2
    assert cli("verify", tmp_path, "--workers", "0").returncode == 2


def test_option_all_as_the_docs_say() -> None:
    """--option ALL (an alias of the ten table options) is accepted, alone and with
    CLEAN_PIXEL_DATA, which it does not include."""
    from dicomveil.cli import main

    runner = CliRunner()
    r = runner.invoke(main, ["profile", "show", "--option", "ALL"])
    assert r.exit_code == 0, r.output
    first = r.output.splitlines()[0]
    assert "CLEAN_GRAPH" in first and "CLEAN_PIXEL_DATA" not in first
    r = runner.invoke(main, ["profile", "show", "--option", "all,clean-pixel-data"])
    assert r.exit_code == 0, r.output
    assert "# settings: clean_pixel_data yes" in r.output.splitlines()[1]
