"""The shipped samples and the quickstart example."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pydicom
from util import REPO

DATA = REPO / "examples" / "data"
QUICKSTART = REPO / "examples" / "quickstart.py"

# run the quickstart with pydicom made unimportable: it must need dicomveil only
NO_PYDICOM = (
    "import runpy, sys; sys.modules['pydicom'] = None; sys.argv = sys.argv[1:];"
    " runpy.run_path(sys.argv[0], run_name='__main__')"
)


def samples() -> list[Path]:
    return sorted(p for p in DATA.iterdir() if p.is_file())


def test_samples_are_small_and_varied():
    files = samples()
    assert 5 <= len(files) <= 8
    syntaxes = set()
    for path in files:
        assert path.stat().st_size < 64 * 1024, path.name
        ds = pydicom.dcmread(path, force=True)
        syntaxes.add(ds.file_meta.get("TransferSyntaxUID", "bare"))
        assert ds.SpecificCharacterSet == "ISO_IR 192"
        assert any(e.tag.is_private for e in ds)
        assert any(e.VR == "SQ" for e in ds)
    assert len(syntaxes) >= 5, syntaxes


def test_quickstart_runs_without_pydicom(tmp_path: Path):
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-c", NO_PYDICOM, str(QUICKSTART), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    files = samples()
    assert len(lines) == len(files) + 1
    for path, line in zip(files, lines, strict=False):
        assert line.startswith(path.name), line
        assert "PatientName" in line and "->" in line
    assert lines[-1].startswith(f"{len(files)} of {len(files)} files anonymized")
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in files]
    for path in files:
        anonymized = pydicom.dcmread(io.BytesIO((out / path.name).read_bytes()))
        assert anonymized.PatientIdentityRemoved == "YES"
        assert anonymized.PatientName == ""
