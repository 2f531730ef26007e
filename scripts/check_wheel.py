"""Check a built Linux wheel: its tags, and that its extension loads on manylinux2014's glibc.

    python scripts/check_wheel.py dist/dicomveil-...whl

- the file name carries the abi3 tag and a manylinux2014 platform tag for this machine
  (`manylinux2014_<arch>` or its other name `manylinux_2_17_<arch>`);
- every shared object in it needs no glibc symbol version newer than 2.17, and no symbol from
  outside Python without a version: an unversioned libc symbol (as `copy_file_range` named
  through glibc's wrapper, which only glibc 2.27 has) is not seen by maturin's check, yet makes
  the import fail with "undefined symbol" on an older glibc.

Reads the dynamic symbols with `readelf` (binutils, there wherever Rust links). Exit 1 with a
message on any failure.
"""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MAX_GLIBC = (2, 17)
PYTHON_SYMBOL = re.compile(r"_?Py")  # the interpreter provides these, unversioned


def check_name(wheel: Path) -> list[str]:
    arch = platform.machine()
    name = wheel.name
    problems = []
    if "-abi3-" not in name:
        problems.append(f"{name}: no abi3 tag")
    tags = (f"manylinux2014_{arch}", f"manylinux_2_17_{arch}")
    if not any(t in name for t in tags):
        problems.append(f"{name}: no {' or '.join(tags)} platform tag")
    return problems


def undefined_symbols(so: Path) -> list[str]:
    """The undefined dynamic symbols of a shared object that must be found for it to load, as
    readelf names them (`name@VERSION` or `name`). Weak ones are left out: they may be missing
    (Rust's standard library looks up `statx`, `getrandom`... that way)."""
    out = subprocess.run(
        ["readelf", "--dyn-syms", "--wide", str(so)], check=True, capture_output=True, text=True
    ).stdout
    symbols = []
    for line in out.splitlines():
        fields = line.split()
        # Num: Value Size Type Bind Vis Ndx Name [(version index)]
        if len(fields) >= 8 and fields[6] == "UND" and fields[4] != "WEAK":
            symbols.append(fields[7])
    return symbols


def check_symbols(name: str, so: Path) -> list[str]:
    problems = []
    for symbol in undefined_symbols(so):
        base, _, version = symbol.partition("@")
        if not base:
            continue
        if not version:
            if not PYTHON_SYMBOL.match(base):
                problems.append(f"{name}: {base} is needed without a symbol version")
            continue
        m = re.fullmatch(r"GLIBC_(\d+)\.(\d+)(?:\.\d+)?", version.lstrip("@"))
        if m and (int(m[1]), int(m[2])) > MAX_GLIBC:
            problems.append(f"{name}: {base} needs {version.lstrip('@')} (newer than 2.17)")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    wheel = Path(argv[1])
    if shutil.which("readelf") is None:
        print("check_wheel: readelf (binutils) not found", file=sys.stderr)
        return 1
    problems = check_name(wheel)
    with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory() as tmp:
        objects = [n for n in zf.namelist() if n.endswith(".so") or ".so." in n]
        if not objects:
            problems.append(f"{wheel.name}: no shared object inside")
        for n in objects:
            problems += check_symbols(n, Path(zf.extract(n, tmp)))
    for p in problems:
        print(f"check_wheel: {p}", file=sys.stderr)
    if not problems:
        print(f"check_wheel: {wheel.name}: tags and symbols fit manylinux2014 (glibc <= 2.17)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
