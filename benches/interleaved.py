"""Interleaved rounds: `cp -r`, dicomveil's `anonymize_tree`, the CLI (and, with --pydicom,
the pydicom script), one after another, ROUNDS times, each on a fresh output folder after a
`sync`. For machines whose disk speed drifts from minute to minute (virtual machines with
throttled storage), where the benchmark suite, which runs each program's rounds together,
compares programs measured at different moments.

    python benches/interleaved.py SRC_DIR OUT_DIR [--rounds 4] [--pydicom]

Prints each program's times and their median; OUT_DIR is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

KEY = b"benchmark key 0123"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--pydicom", action="store_true", help="also the pydicom script (slow)")
    args = parser.parse_args()

    from dicomveil import Anonymizer

    anon = Anonymizer(key=KEY, keep_uid_map=False)
    with tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "key"
        key_file.write_bytes(KEY)
        cli = [sys.executable, "-m", "dicomveil", "anonymize", str(args.src), str(args.out)]
        cli += ["--quiet", "--key-file", str(key_file)]
        programs: dict[str, Callable[[], object]] = {
            "cp -r": lambda: subprocess.run(["cp", "-r", str(args.src), str(args.out)], check=True),
            "anonymize_tree": lambda: anon.anonymize_tree(args.src, args.out),
            "CLI": lambda: subprocess.run(cli, check=True),
        }
        if args.pydicom:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            import pydicom_baseline

            programs["pydicom script"] = lambda: pydicom_baseline.anonymize_tree(args.src, args.out)
        times: dict[str, list[float]] = {name: [] for name in programs}
        for _ in range(args.rounds):
            for name, run in programs.items():
                shutil.rmtree(args.out, ignore_errors=True)
                os.sync()
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
        shutil.rmtree(args.out, ignore_errors=True)
    floor = statistics.median(times["cp -r"])
    for name, values in times.items():
        median = statistics.median(values)
        rounds = " ".join(f"{v:.3f}" for v in values)
        print(f"{name:16} median {median:7.3f} s  ({median / floor:5.2f} x cp)   rounds: {rounds}")


if __name__ == "__main__":
    main()
