"""Faults: hostile inputs that must cost one file, never the run or the machine's memory.

The memory bounds are checked for real: the run happens in a child process whose address
space is limited (``RLIMIT_AS``), so an allocation proportional to a file's size fails there
(and before the fix, aborted the whole process).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from util import run_cli

SAMPLES = Path(__file__).resolve().parent.parent / "examples" / "data"

#: Address space allowed to a child run: far below what a 2 GiB file would take to collect.
LIMIT_MB = 512


def _limited(code: str, cwd: Path, limit_mb: int = LIMIT_MB) -> subprocess.CompletedProcess:
    """Run Python ``code`` in a child whose address space is limited to ``limit_mb``."""
    prelude = textwrap.dedent(
        f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, ({limit_mb} << 20, {limit_mb} << 20))
        """
    )
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _padded(path: Path, size: int) -> Path:
    """A valid implicit VR file followed by zeros up to ``size`` bytes (a sparse file)."""
    shutil.copyfile(SAMPLES / "mr_implicit_le.dcm", path)
    with open(path, "r+b") as f:
        f.truncate(size)
    return path


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and sparse files")
def test_a_file_followed_by_zeros_costs_one_file_not_the_run(tmp_path: Path) -> None:
    """A valid file truncated up to 2 GiB (zeros after it): in implicit VR every 8 zero bytes
    read as an empty (0000,0000). The reader used to collect all of them (5 GiB) before
    seeing the duplicate, and the allocation failure aborted the process: no report for any
    file. Now the file is refused at its second padding element, in bounded memory, and the
    other files of the batch are done."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copyfile(SAMPLES / "ct_explicit_le.dcm", src / "a_good.dcm")
    _padded(src / "b_padded.dcm", 2 << 30)
    run = _limited(
        """
        from dicomveil import Anonymizer
        report = Anonymizer(key=b"a test key, 16+ bytes").anonymize_tree("src", "out")
        for f in report.files:
            print(f.status, f.error, f.reason)
        """,
        tmp_path,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert lines[0] == "done None None"
    status, error, reason = lines[1].split(" ", 2)
    assert (status, error) == ("refused", "InvalidDicomError")
    assert reason.endswith(
        "b_padded.dcm: not a valid DICOM file: element (0000,0000) occurs twice in the same "
        "data set (at byte 6132 in (0000,0000))"
    )
    assert (tmp_path / "out" / "a_good.dcm").is_file()
    assert not (tmp_path / "out" / "b_padded.dcm").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and sparse files")
def test_the_cli_refuses_a_padded_file_in_bounded_memory(tmp_path: Path) -> None:
    _padded(tmp_path / "h.dcm", 1 << 30)
    run = _limited(
        """
        import sys
        from dicomveil.cli import main
        sys.argv = ["dicomveil", "anonymize", "h.dcm", "out.dcm", "-q"]
        main()
        """,
        tmp_path,
    )
    assert run.returncode == 1, run.stderr[-2000:]
    assert "refused: h.dcm: not a valid DICOM file: element (0000,0000) occurs twice" in (
        run.stderr
    )
    assert "memory allocation" not in run.stderr
    assert not (tmp_path / "out.dcm").exists()


# -- keys --------------------------------------------------------------------------------------
def test_a_key_file_is_read_no_further_than_4_kib(tmp_path: Path) -> None:
    """``/dev/zero`` used to end in a MemoryError; a 1 GiB file was accepted as a key after
    seconds and gigabytes. At most 4 KiB + 1 byte is read, and more is refused."""
    import time

    from dicomveil import Anonymizer, FileAccessError

    big = tmp_path / "big.key"
    with open(big, "wb") as f:
        f.truncate(1 << 30)
    for path in (Path("/dev/zero"), big):
        started = time.monotonic()
        with pytest.raises(FileAccessError, match=r"holds more than 4096 bytes") as e:
            Anonymizer(key_file=path)
        assert time.monotonic() - started < 2
        assert str(e.value).startswith(f"{path}: the key file")
    exact = tmp_path / "exact.key"
    exact.write_bytes(bytes(range(256)) * 16)  # 4096 bytes: accepted
    Anonymizer(key_file=exact)


@pytest.mark.parametrize(
    "content,problem",
    [
        (b"", "is empty"),
        (b"\n", "is empty"),
        (b"\r\n", "is empty"),
        (b"a", "is one byte repeated"),
        (b"\x00" * 32, "is one byte repeated"),
        (b"zzzzzzzzzzzzzzzzzzzzzzzz\n", "is one byte repeated"),
    ],
)
def test_weak_keys_are_refused_without_showing_them(
    tmp_path: Path, content: bytes, problem: str
) -> None:
    from dicomveil import Anonymizer, FileAccessError

    path = tmp_path / "site.key"
    path.write_bytes(content)
    with pytest.raises(FileAccessError) as e:
        Anonymizer(key_file=path)
    assert str(e.value) == f"{path}: the key file {problem}" + (
        ": anyone could recompute every replacement"
        if problem == "is empty"
        else ": anyone could guess it"
    )
    key = content.rstrip(b"\r\n")
    with pytest.raises(ValueError, match=f"^the key {problem}"):
        Anonymizer(key=key)
    if len(key) >= 8:
        assert key.decode() not in str(e.value)


def test_keys_longer_than_4_kib_are_refused_and_short_ones_warn(tmp_path: Path) -> None:
    import warnings

    from dicomveil import Anonymizer, WeakKeyWarning

    with pytest.raises(ValueError, match="longer than 4096 bytes"):
        Anonymizer(key=bytes(range(256)) * 16 + b"!")
    with pytest.warns(WeakKeyWarning, match=r"^the key has 9 bytes, fewer than 16") as w:
        Anonymizer(key=b"my secret")
    assert "my secret" not in str(w[0].message)
    assert w[0].filename == __file__  # pointed at the caller's line
    path = tmp_path / "short.key"
    path.write_bytes(b"abcdefgh\n")
    with pytest.warns(WeakKeyWarning, match=rf"^the key of {path} has 8 bytes"):
        Anonymizer(key_file=path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Anonymizer(key=b"sixteen bytes!!!")  # 16: no warning
        Anonymizer()  # a random key: 32 bytes


def test_the_cli_says_one_line_about_a_bad_or_short_key(tmp_path: Path) -> None:
    src = SAMPLES / "ct_explicit_le.dcm"

    r = run_cli("anonymize", src, tmp_path / "a.dcm", "--key-file", "/dev/zero")
    assert r.returncode == 2
    assert "holds more than 4096 bytes" in r.stderr
    assert "Traceback" not in r.stderr and "MemoryError" not in r.stderr
    short = tmp_path / "short.key"
    short.write_bytes(b"tiny!\n")
    r = run_cli("anonymize", src, tmp_path / "b.dcm", "--key-file", short, "-q")
    assert r.returncode == 0, r.stderr
    assert f"warning: the key of {short} has 5 bytes, fewer than 16" in r.stderr
    assert "WeakKeyWarning" not in r.stderr and "tiny!" not in r.stderr


# -- the audit log -----------------------------------------------------------------------------
def _tree(root: Path, n: int) -> Path:
    root.mkdir()
    data = (SAMPLES / "ct_explicit_le.dcm").read_bytes()
    for i in range(n):
        (root / f"{i:04}.dcm").write_bytes(data)
    (root / "notes.txt").write_text("not DICOM")
    return root


def test_the_audit_log_is_written_by_the_engine_as_files_complete(tmp_path: Path) -> None:
    import json

    from dicomveil import Anonymizer

    src = _tree(tmp_path / "src", 30)
    audit = tmp_path / "audit.jsonl"
    report = Anonymizer(key=b"a test key, 16+ bytes").anonymize_tree(
        src, tmp_path / "out", audit=audit, workers=2
    )
    lines = audit.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["source"] for r in rows] == [str(src / f"{i:04}.dcm") for i in range(30)] + [
        str(src / "notes.txt")
    ]
    assert [r["status"] for r in rows] == ["done"] * 30 + ["skipped"]
    assert list(rows[0]) == [
        "source",
        "destination",
        "status",
        "reason",
        "error",
        "bytes_in",
        "bytes_out",
        "counts",
        "flags",
        "pixels",
    ]
    # the report reads the same rows back
    assert [f.source for f in report.files] == [r["source"] for r in rows]
    assert [f.counts for f in report.iter_files()] == [r["counts"] for r in rows]
    assert report.summary().startswith("30 done, 0 refused, 1 skipped in ")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dicomveil-")]


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE")
def test_a_failed_audit_write_keeps_the_report_and_says_so(tmp_path: Path) -> None:
    """The audit log cannot grow past 16 KiB (as on a full disk; the outputs, 6 KiB each,
    still fit): the run goes on, the summary and refusals are shown, the audit log failure
    is said last, and no half log or temporary file is left. It used to print only the
    audit error and lose the report."""
    src = _tree(tmp_path / "src", 120)
    (src / "0005.dcm").write_bytes(b"DICM" + bytes(200))  # one refusal
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import resource, signal, sys
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 10, 16 << 10))
                from dicomveil.cli import main
                sys.argv = ["dicomveil", "anonymize", "src", "out", "--audit", "audit.jsonl"]
                main()
                """
            ),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    lines = run.stderr.splitlines()
    assert any(x.startswith("refused: src/0005.dcm: ") for x in lines), lines
    summary = [x for x in lines if x.startswith("dicomveil: ")]
    assert summary and summary[0].startswith("dicomveil: 119 done, 1 refused, 1 skipped"), lines
    assert lines[-1].startswith("error: audit.jsonl: cannot write the audit log: File too large")
    assert not (tmp_path / "audit.jsonl").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dicomveil-")]
    assert len(list((tmp_path / "out").iterdir())) == 119

    # the API: the exception carries the whole report
    from dicomveil import Anonymizer, FileAccessError

    code = textwrap.dedent(
        """
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 10, 16 << 10))
        from dicomveil import Anonymizer, FileAccessError
        try:
            Anonymizer(key=b"a test key, 16+ bytes").anonymize_tree("src", "out2", audit="a.jsonl")
        except FileAccessError as e:
            print(len(e.report.files), len(e.report.done), len(e.report.refused), e)
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert run.stdout.startswith("121 119 1 a.jsonl: cannot write the audit log"), run.stderr
    assert Anonymizer and FileAccessError


@pytest.mark.skipif(sys.platform != "linux", reason="/proc")
def test_an_audit_folder_that_cannot_be_written_is_refused_before_the_run(
    tmp_path: Path,
) -> None:
    """/proc exists and is a folder, but no file can be created in it (not even by root)."""
    from dicomveil import Anonymizer, FileAccessError

    src = _tree(tmp_path / "src", 3)
    with pytest.raises(FileAccessError, match=r"^/proc/audit.jsonl: cannot write the audit log"):
        Anonymizer(key=b"a test key, 16+ bytes").anonymize_tree(
            src, tmp_path / "out", audit="/proc/audit.jsonl"
        )
    assert not (tmp_path / "out").exists()


# -- one run at a time into a destination, and only inside it ----------------------------------
def _many(root: Path, n: int, sample: str = "sc_rle_lossless.dcm") -> Path:
    """A folder of ``n`` files, all one sample (hard links, copies where links fail)."""
    import os

    root.mkdir(parents=True)
    first = root / "00000.dcm"
    shutil.copyfile(SAMPLES / sample, first)
    for i in range(1, n):
        try:
            os.link(first, root / f"{i:05}.dcm")
        except OSError:
            shutil.copyfile(first, root / f"{i:05}.dcm")
    return root


def _wait_for(condition: object, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.005)


def _key(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.key"
    path.write_bytes(f"the key of the {name} run, 16+ bytes\n".encode())
    return path


@pytest.mark.skipif(sys.platform == "win32", reason="flock and SIGSTOP")
def test_a_destination_is_written_by_one_run_at_a_time(tmp_path: Path) -> None:
    """Two runs with different keys into one DST both exited 0 and mixed their UIDs. Now the
    first holds DST's lock for its whole run, and the second is refused, naming the lock file
    and the holder; after the first has ended, a new run works."""
    import signal
    import socket

    src = _many(tmp_path / "src", 2000)
    dst = tmp_path / "dst"
    lock = dst / ".dicomveil.lock"
    first = subprocess.Popen(
        [sys.executable, "-m", "dicomveil", "anonymize", src, dst, "--workers", "1", "-q"]
        + ["--key-file", str(_key(tmp_path, "first"))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    second_key = _key(tmp_path, "second")
    try:
        # the lock is taken once the holder has written itself into the lock file
        _wait_for(lambda: f"pid={first.pid}\n" in _text(lock) or first.poll() is not None)
        first.send_signal(signal.SIGSTOP)  # held still, and so is its lock
        if first.poll() is not None:
            pytest.skip("the first run finished before the second started")
        second = run_cli("anonymize", SAMPLES, dst, "--key-file", second_key, "-q")
        assert second.returncode == 1, second.stderr
        holder = f"pid {first.pid} on host {socket.gethostname()}, started 2"
        assert (
            f"Error: {lock}: the destination is in use by another dicomveil run ({holder}"
        ) in second.stderr
        assert "wait for it to end, or write elsewhere" in second.stderr
        assert not [p for p in dst.iterdir() if not p.name.startswith(("0", "."))]
        # a dry run writes nothing, and takes no lock
        dry = run_cli("anonymize", SAMPLES, dst, "--key-file", second_key, "--dry-run", "-q")
        assert dry.returncode == 0, dry.stderr
    finally:
        first.send_signal(signal.SIGCONT)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert not lock.exists()
    again = run_cli("anonymize", SAMPLES, dst, "--key-file", second_key, "-q")
    assert again.returncode == 0, again.stderr
    assert (dst / "ct_explicit_le.dcm").is_file() and not lock.exists()


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def test_a_lock_file_left_by_a_dead_run_does_not_block(tmp_path: Path) -> None:
    """A lock file nobody holds (its run was killed: the system released the lock) is taken
    over; it is never an input, nor an output."""
    from dicomveil import Anonymizer

    dst = tmp_path / "dst"
    dst.mkdir()
    lock = dst / ".dicomveil.lock"
    lock.write_text("pid=999999999\nhost=gone\nstarted=2001-01-01 00:00:00 UTC\n")
    r = run_cli("anonymize", SAMPLES, dst, "--key-file", _key(tmp_path, "a"), "-q")
    assert r.returncode == 0, r.stderr
    assert not lock.exists()
    assert sorted(p.name for p in dst.iterdir()) == sorted(p.name for p in SAMPLES.iterdir())
    # a folder holding a lock file as a source: the lock file is passed over
    lock.write_text("pid=999999999\n")
    report = Anonymizer(key=b"a test key, 16+ bytes").anonymize_tree(dst, tmp_path / "again")
    assert str(lock) not in {f.source for f in report.files}
    assert not (tmp_path / "again" / ".dicomveil.lock").exists()


def test_the_lock_from_python_and_what_it_refuses(tmp_path: Path) -> None:
    import threading
    import time

    from dicomveil import Anonymizer, DestinationBusyError, FileAccessError, _core

    anonymizer = Anonymizer(key=b"a test key, 16+ bytes")
    dst = tmp_path / "new" / "dst"
    with _core.RunLock(dst) as held:
        assert held.held and held.path == str(dst / ".dicomveil.lock")
        with pytest.raises(DestinationBusyError) as e:
            anonymizer.anonymize_tree(SAMPLES, dst)
        assert isinstance(e.value, FileAccessError)
        assert str(e.value).startswith(f"{held.path}: the destination is in use by another")
        with pytest.raises(DestinationBusyError):
            _core.RunLock(dst).acquire()
        assert anonymizer.anonymize_tree(SAMPLES, dst, dry_run=True).ok
        assert not [p for p in dst.iterdir() if p.name != ".dicomveil.lock"]
        # in place: the source is the destination, and is locked alike
        with pytest.raises(DestinationBusyError):
            anonymizer.anonymize_tree(dst, dst)
    assert not held.held and not (dst / ".dicomveil.lock").exists()
    # a one-file run waits a little for the lock of its output's folder
    lock = _core.RunLock(dst)
    lock.acquire()
    threading.Timer(0.3, lock.release).start()
    started = time.monotonic()
    report = anonymizer.anonymize_tree(SAMPLES / "ct_explicit_le.dcm", dst / "one.dcm")
    assert report.ok and time.monotonic() - started >= 0.25
    assert (dst / "one.dcm").is_file()


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links")
def test_a_symbolic_link_inside_the_destination_is_not_followed(tmp_path: Path) -> None:
    """``ln -s /elsewhere dst/sub`` made outputs land outside DST. Now each folder of an
    output is opened without following links: the files that would go through one are
    refused, saying so, nothing is written outside, and the other files are done."""
    import os

    from dicomveil import Anonymizer

    src = tmp_path / "src"
    for rel, sample in (
        ("a.dcm", "ct_explicit_le.dcm"),
        ("sub/b.dcm", "mr_implicit_le.dcm"),
        ("deep/er/c.dcm", "us_rgb_explicit_be.dcm"),
    ):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLES / sample, src / rel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    dst = tmp_path / "dst"
    (dst / "deep").mkdir(parents=True)
    os.symlink(elsewhere, dst / "sub")  # absolute
    os.symlink("../../elsewhere", dst / "deep" / "er")  # relative, deeper
    anonymizer = Anonymizer(key=b"a test key, 16+ bytes")
    report = anonymizer.anonymize_tree(src, dst)
    by_rel = {Path(f.source).relative_to(src).as_posix(): f for f in report.files}
    assert by_rel["a.dcm"].status == "done" and (dst / "a.dcm").is_file()
    problem = (
        "a symbolic link inside the destination: not followed, so nothing is written through "
        "it (remove it, or write elsewhere)"
    )
    for rel, link in (("sub/b.dcm", dst / "sub"), ("deep/er/c.dcm", dst / "deep" / "er")):
        f = by_rel[rel]
        assert (f.status, f.error, f.reason) == ("refused", "PathError", f"{link}: {problem}")
    assert list(elsewhere.iterdir()) == []
    # a naming template whose folder is a link: refused alike
    os.symlink(elsewhere, dst / "_abs_path")
    report = anonymizer.anonymize_tree(src, dst, naming="_abs_path/{SOPInstanceUID}.dcm")
    assert [f.status for f in report.files] == ["refused"] * 3
    assert list(elsewhere.iterdir()) == []
    # the command line: refused lines, exit 1
    r = run_cli("anonymize", src, dst, "--key-file", _key(tmp_path, "cli"), "-q")
    assert r.returncode == 1
    assert f"refused: {src / 'sub' / 'b.dcm'}: {dst / 'sub'}: {problem}" in r.stderr


# -- signals and leftovers ---------------------------------------------------------------------
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_a_run_as_ctrl_c_does(tmp_path: Path, name: str) -> None:
    """SIGTERM and SIGHUP (the terminal closed) killed the run and left a ``.part`` file in
    DST. Now they stop it as Ctrl-C does: the files being written are finished, the report so
    far is printed, and the exit code is 128 + the signal's number."""
    import re
    import signal

    sig = getattr(signal, name)
    src = _many(tmp_path / "src", 2000)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dicomveil", "anonymize", src, out, "--workers", "1"]
        + ["--key-file", str(_key(tmp_path, "k"))],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: out.exists() and any(p.suffix == ".dcm" for p in out.iterdir()))
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err
    assert "error: the run stopped before every file was processed" in err
    assert f"stopped by {name}: the files finished so far are complete; no partial file" in err
    summary = re.search(r"dicomveil: (\d+) done, 0 refused, 0 skipped", err)
    assert summary is not None, err
    written = [p for p in out.rglob("*") if p.is_file()]
    assert 0 < len(written) == int(summary[1]) < 2000
    assert [p for p in written if ".dicomveil" in p.name or p.suffix == ".part"] == []


def test_a_rerun_removes_leftovers_and_verify_finds_them(tmp_path: Path) -> None:
    """A ``.part`` file of a killed run survived a clean rerun, unreported. Now a rerun
    removes those in the folders its outputs go to and says how many, and ``verify`` reports
    any it finds (kind ``leftover``)."""
    from dicomveil import Anonymizer, verify

    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    shutil.copyfile(SAMPLES / "ct_explicit_le.dcm", src / "a.dcm")
    shutil.copyfile(SAMPLES / "mr_implicit_le.dcm", src / "sub" / "b.dcm")
    out = tmp_path / "out"
    key = _key(tmp_path, "k")
    assert run_cli("anonymize", src, out, "--key-file", key, "-q").returncode == 0
    planted = [
        out / ".dicomveil-aB3dE9.part",
        out / "sub" / ".dicomveil-x.part",
        out / "sub" / ".dicomveil-audit-y.part",
    ]
    untouched = out / "other" / ".dicomveil-z.part"  # a folder no output goes to
    for path in [*planted, untouched]:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"half a file")

    found = run_cli("verify", out)
    assert found.returncode == 1
    lines = [line for line in found.stdout.splitlines() if "\tleftover\t" in line]
    assert sorted(lines) == sorted(f"{p}\t-\tleftover\t-" for p in [*planted, untouched])
    assert "(4 leftover)" in found.stderr

    rerun = run_cli("anonymize", src, out, "--key-file", key)
    assert rerun.returncode == 0, rerun.stderr
    assert (
        "note: removed 3 temporary files (.dicomveil-*.part) left by an earlier run that was killed"
    ) in rerun.stderr
    assert not any(p.exists() for p in planted) and untouched.exists()

    (out / "sub" / ".dicomveil-again.part").write_bytes(b"x")
    report = Anonymizer(key_file=key).anonymize_tree(src, out)
    assert report.leftovers_removed == 1
    findings = [(Path(f.file), f.path, f.kind, f.tag) for f in verify(out).findings]
    assert findings == [(untouched, "", "leftover", None)]


# -- messages of a failed write ----------------------------------------------------------------
def test_the_messages_of_a_failed_write_name_the_path(tmp_path: Path) -> None:
    """``cannot create a temporary file in the folder of: Permission denied`` and ``cannot
    rename the finished file to: ...`` ended with nothing where a path was wanted."""
    from dicomveil import Anonymizer, DicomFile, FileAccessError

    f = DicomFile.open(SAMPLES / "ct_explicit_le.dcm")
    taken = tmp_path / "taken.dcm"
    taken.mkdir()
    with pytest.raises(FileAccessError) as e:
        f.save(taken)
    assert str(e.value).startswith(f"{taken}: cannot rename the finished file into place: ")
    if sys.platform == "linux":  # a folder where nobody can create a file, root included
        with pytest.raises(FileAccessError) as e:
            f.save("/proc/self/x.dcm")
        assert str(e.value).startswith(
            "/proc/self/x.dcm: cannot create a temporary file beside it: "
        )
    with pytest.raises(FileAccessError) as e:
        f.save(tmp_path / "missing" / "x.dcm")
    assert str(e.value).startswith(f"{tmp_path / 'missing' / 'x.dcm'}: cannot open its folder: ")
    # in a tree run
    src = tmp_path / "src"
    src.mkdir()
    shutil.copyfile(SAMPLES / "ct_explicit_le.dcm", src / "a.dcm")
    (tmp_path / "out" / "a.dcm").mkdir(parents=True)
    [result] = Anonymizer(key=b"a test key, 16+ bytes").anonymize_tree(src, tmp_path / "out").files
    assert (result.status, result.error) == ("refused", "FileAccessError")
    assert (result.reason or "").startswith(
        f"{tmp_path / 'out' / 'a.dcm'}: cannot rename the finished file into place: "
    )
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["a.dcm"]


def test_a_streamed_report_pickles_with_its_files(tmp_path: Path) -> None:
    import pickle

    from dicomveil import Anonymizer

    src = _tree(tmp_path / "src", 3)
    report = Anonymizer(key=b"a test key, 16+ bytes").anonymize_tree(src, tmp_path / "out")
    again = pickle.loads(pickle.dumps(report))
    assert again.files == report.files and len(again.files) == 4
    assert again.summary().split(" in ")[0] == "3 done, 0 refused, 1 skipped"


# -- the sweep of leftovers and files in use ----------------------------------------------------
@pytest.mark.parametrize("in_place", [False, True])
def test_an_audit_log_in_the_folder_written_to_is_not_swept_away(
    tmp_path: Path, in_place: bool
) -> None:
    """``--audit DST/audit.jsonl`` (or SRC's, in place) failed at the end: "cannot write the
    audit log: No such file or directory". The audit log is written to a temporary file of
    ours beside it, and the first output into that folder removed it as a killed run's
    leftover (and counted it). A temporary file in use is not a leftover."""
    import json

    from dicomveil import Anonymizer

    src = _tree(tmp_path / "src", 3)
    out = src if in_place else tmp_path / "out"
    audit = out / "audit.jsonl"
    out.mkdir(exist_ok=True)
    report = Anonymizer(key=b"a test key, 16+ bytes").anonymize_tree(src, out, audit=audit)
    rows = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    assert [r["status"] for r in rows] == ["done"] * 3 + ["skipped"]
    assert report.leftovers_removed == 0
    assert not [p for p in out.iterdir() if p.name.startswith(".dicomveil")]
    # from the command line as well
    audit.unlink()  # in place, it would now be a file of the input
    where = ("--in-place",) if in_place else (out,)
    cli = run_cli("anonymize", src, *where, "--audit", audit, "--key-file", _key(tmp_path, "a"))
    assert cli.returncode == 0, cli.stderr
    assert "removed" not in cli.stderr and len(audit.read_bytes().splitlines()) == 4


@pytest.mark.skipif(sys.platform == "win32", reason="flock")
def test_a_temporary_file_another_process_is_writing_is_not_removed(tmp_path: Path) -> None:
    """A run removed every ``.dicomveil-*.part`` in the folders it wrote to, also those that
    another process was writing at the time (a one-file run into DST/sub holds DST/sub's lock,
    not DST's; an audit log written beside DST's outputs): that process's rename then failed.
    Our temporary files are held locked (flock) while written; a leftover is one nobody
    holds."""
    import fcntl

    from dicomveil import Anonymizer

    src = _tree(tmp_path / "src", 2)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".dicomveil-dead.part").write_bytes(b"left by a killed run")
    live = out / ".dicomveil-live.part"
    with open(live, "wb") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.write(b"being written")
        report = Anonymizer(key=b"a test key, 16+ bytes").anonymize_tree(src, out)
        assert report.leftovers_removed == 1
        assert live.exists() and not (out / ".dicomveil-dead.part").exists()
