"""A/B: two installs of dicomveil on the same tree, rounds interleaved, side by side.

Each interpreter runs ``Anonymizer(key=...).anonymize_tree(SRC, OUT)`` (the Basic profile, or
the default profile of ``--options``, e.g. ``CLEAN_DESC|RETAIN_LONG_MODIF_DATES``) in a fresh
process, one after the other, ROUNDS times, each on a fresh output folder. For "did
this change make it slower": build the commit before the change into another virtualenv and
give both interpreters.

    python benches/ab.py SRC OUT before=/path/to/old/venv/bin/python after=.venv/bin/python \\
        [--rounds 5] [--options CLEAN_DESC]

Prints, per interpreter, the times of the rounds (the engine's own elapsed time, without the
interpreter's start) and their median, and the ratio of the medians to the first one.

``--in-memory N`` times the engine without the disk and the thread pool, for a machine too
loaded for the tree's times to say anything: each round reads N files of SRC into memory and
runs ``anonymize`` on each in one thread, 5 passes, and reports the best pass in microseconds
of CPU time a file (``time.process_time``: the time the process waited for a core is not
counted; OUT is not used).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
from pathlib import Path

CHILD = """
import functools, operator, sys, time
from dicomveil import Anonymizer, ConfidentialityProfile, ConfidentialityProfileOptions as O
options = [getattr(O, name) for name in sys.argv[3].split("|") if name]
flags = functools.reduce(operator.or_, options) if options else None
profile = ConfidentialityProfile.create_default(flags) if options else None
anon = Anonymizer(profile, key=b"benchmark key 0123", keep_uid_map=False)
t0 = time.perf_counter()
report = anon.anonymize_tree(sys.argv[1], sys.argv[2])
elapsed = time.perf_counter() - t0
assert not report.refused, report.refused
print(elapsed, len(report.done))
"""

CHILD_IN_MEMORY = """
import functools, operator, pathlib, sys, time
from dicomveil import Anonymizer, ConfidentialityProfile, ConfidentialityProfileOptions as O
from dicomveil import DicomFile
options = [getattr(O, name) for name in sys.argv[3].split("|") if name]
flags = functools.reduce(operator.or_, options) if options else None
profile = ConfidentialityProfile.create_default(flags) if options else None
anon = Anonymizer(profile, key=b"benchmark key 0123", keep_uid_map=False)
paths = sorted(p for p in pathlib.Path(sys.argv[1]).rglob("*") if p.is_file())
files = [p.read_bytes() for p in paths[: int(sys.argv[4])]]
best = float("inf")
for _ in range(5):
    t0 = time.process_time()
    for data in files:
        anon.anonymize(DicomFile.open(data))
    best = min(best, time.process_time() - t0)
print(best / len(files) * 1e6, len(files))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("src", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("pythons", nargs="+", metavar="NAME=PYTHON")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--options", default="", help="ConfidentialityProfileOptions names joined by |"
    )
    parser.add_argument(
        "--in-memory",
        type=int,
        metavar="N",
        help="time anonymize() of N files in memory, one thread (CPU microseconds a file)",
    )
    args = parser.parse_args()
    unit = "us a file" if args.in_memory else "s"
    pythons = [p.split("=", 1) for p in args.pythons]
    times: dict[str, list[float]] = {name: [] for name, _ in pythons}
    files = {}
    for _ in range(args.rounds):
        for name, python in pythons:
            shutil.rmtree(args.out, ignore_errors=True)
            child = [CHILD, str(args.src), str(args.out), args.options]
            if args.in_memory:
                child = [CHILD_IN_MEMORY, str(args.src), "-", args.options, str(args.in_memory)]
            done = subprocess.run(
                [python, "-c", *child],
                capture_output=True,
                text=True,
                check=True,
            )
            elapsed, count = done.stdout.split()
            times[name].append(float(elapsed))
            files[name] = int(count)
    shutil.rmtree(args.out, ignore_errors=True)
    first = statistics.median(times[pythons[0][0]])
    for name, _ in pythons:
        median = statistics.median(times[name])
        rounds = " ".join(f"{t:.3f}" for t in times[name])
        print(
            f"{name:>10}: median {median:.3f} {unit} ({files[name]} files; rounds {rounds}); "
            f"{median / first:.2f}x {pythons[0][0]}"
        )


if __name__ == "__main__":
    main()
