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
