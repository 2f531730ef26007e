"""Scale: a tree of very many small files through the CLI, with the peak memory of the run.

    python benches/scale.py --files 200000 --dir /dev/shm/dicomveil-scale

The tree is made once (hard links of one small sample file, 1000 a folder) and reused. Each
program runs in its own process, alternated round by round: `cp -r` of the tree (the floor),
then `dicomveil anonymize` without and with `--audit`, so the audit log's cost is the
difference of the two. Peak memory is the VmHWM of the process doing the work (read from
/proc/self/status as it exits), not ru_maxrss, which a child inherits across exec.

Never part of CI: a million files take about 6 GB of outputs and several minutes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "data" / "mr_implicit_le.dcm"
PER_FOLDER = 1000

# the CLI in a process that reports its own peak memory as it exits
_CLI = """
import atexit, sys

def _peak():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                sys.stderr.write("PEAK_KB " + line.split()[1] + "\\n")

atexit.register(_peak)
from dicomveil.cli import main
sys.argv = ["dicomveil", *sys.argv[1:]]
main()
"""


def make_tree(src: Path, files: int) -> None:
    marker = src.with_suffix(".complete")
    if marker.exists() and marker.read_text() == str(files):
        return
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    master = src / "master.dcm.src"
    shutil.copyfile(SAMPLE, master)
    for i in range(files):
        folder = src / f"{i // PER_FOLDER:05}"
        if i % PER_FOLDER == 0:
            folder.mkdir()
        os.link(master, folder / f"{i:07}.dcm")
    master.unlink()
    marker.write_text(str(files))


def timed(cmd: list[str]) -> tuple[float, int | None]:
    """Wall seconds and the peak memory (KiB) the command reported, if it did."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"{cmd[:3]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    peak = None
    for line in proc.stderr.splitlines():
        if line.startswith("PEAK_KB "):
            peak = int(line.split()[1])
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm/dicomveil-scale"))
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    src = args.dir / f"src-{args.files}"
    print(f"making {args.files} files in {src} (hard links) ...", flush=True)
    make_tree(src, args.files)
    key = args.dir / "bench.key"
    key.write_bytes(b"benchmark key for the scale run\n")
    out = args.dir / "out"
    audit = args.dir / "audit.jsonl"
    run = [sys.executable, "-c", _CLI, "anonymize", str(src), str(out), "--key-file", str(key)]
    programs = {
        "cp -r": ["cp", "-r", str(src), str(out)],
        "dicomveil": [*run, "-q"],
        "dicomveil --audit": [*run, "-q", "--audit", str(audit)],
    }
    times: dict[str, list[float]] = {name: [] for name in programs}
    peaks: dict[str, list[int]] = {name: [] for name in programs}
    for r in range(args.rounds):
        for name, cmd in programs.items():
            shutil.rmtree(out, ignore_errors=True)
            audit.unlink(missing_ok=True)
            os.sync()
            elapsed, peak = timed(cmd)
            times[name].append(elapsed)
            if peak is not None:
                peaks[name].append(peak)
            print(
                f"round {r + 1}: {name}: {elapsed:.1f} s"
                + (f", peak {peak / 1024:.0f} MB" if peak else ""),
                flush=True,
            )
    shutil.rmtree(out, ignore_errors=True)
    print(f"\n{args.files} files of {SAMPLE.stat().st_size} bytes, {args.rounds} rounds (mean):")
    for name in programs:
        mean = statistics.mean(times[name])
        peak = f", peak RSS {max(peaks[name]) / 1024:.0f} MB" if peaks[name] else ""
        print(f"  {name:<18} {mean:7.1f} s  ({args.files / mean:,.0f} files/s){peak}")
    base = statistics.mean(times["dicomveil"])
    with_audit = statistics.mean(times["dicomveil --audit"])
    print(f"  audit log: {100 * (with_audit - base) / with_audit:+.1f}% of the run with it")
    print(f"  audit lines: {sum(1 for _ in open(audit)) if audit.exists() else 'none'}")


if __name__ == "__main__":
    main()
