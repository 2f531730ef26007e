"""The type stubs match the extension module, and the package type-checks (mypy)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("mypy")

PACKAGE = Path(__file__).resolve().parent.parent / "python" / "dicomveil"


def test_stubs_match_the_extension_module() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "dicomveil._core"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_package_type_checks() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--ignore-missing-imports", str(PACKAGE)],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr
