"""A CTP DicomAnonymizer script through dicomveil, against the same policy written with pydicom.

CTP itself cannot run here (no Java), so the peer is benches/pydicom_ctp.py: the policy of
tests/data/ctp/trial.script by hand, with the same keyed functions. The corpus is synthetic CT
(benches/corpus.py), 5 patients per 50 files, with a lookup table for their IDs. Rounds
interleave the programs; the outputs are checked once, value for value on every attribute the
policy writes, before timing.

    python benches/ctp.py --files 1000 --size 256 --rounds 3 --dir /dev/shm
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pydicom

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import corpus  # noqa: E402
import pydicom_ctp  # noqa: E402

SCRIPT = HERE.parent / "tests/data/ctp/trial.script"
CHECKED = (
    "PatientName PatientID AccessionNumber StudyDate SeriesDate SOPInstanceUID "
    "StudyInstanceUID SeriesInstanceUID FrameOfReferenceUID PatientAge ClinicalTrialSubjectID "
    "StudyDescription SeriesDescription PatientBirthDate InstitutionName"
).split()


def lookup_for(src: Path, path: Path) -> None:
    ids = sorted(
        {str(pydicom.dcmread(f, stop_before_pixels=True).PatientID) for f in src.rglob("*.dcm")}
    )
    lines = [f"ptid/{pid}=SUBJ-{i:04d}\nptname/{pid}=SUBJECT^{i:04d}" for i, pid in enumerate(ids)]
    path.write_text("\n".join(lines) + "\n")


def check(a: Path, b: Path) -> None:
    for fa in sorted(a.rglob("*.dcm")):
        x = pydicom.dcmread(fa, stop_before_pixels=True)
        y = pydicom.dcmread(b / fa.relative_to(a), stop_before_pixels=True)
        for kw in CHECKED:
            assert (kw in x) == (kw in y), (fa, kw)
            if kw in x:
                assert str(x[kw].value) == str(y[kw].value), (fa, kw, x[kw].value, y[kw].value)
        assert {e.tag for e in x if e.tag.group not in (0x0012, 0x0028)} == {
            e.tag for e in y if e.tag.group not in (0x0012, 0x0028)
        }, fa


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=400)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--dir", type=Path, default=None, help="where the corpus goes (a tmpfs)")
    args = p.parse_args()

    import warnings

    from dicomveil import Anonymizer, ConfidentialityProfile, WeakProfileWarning

    warnings.simplefilter("ignore", WeakProfileWarning)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        t = Path(tmp)
        src = corpus.make_series(t / "src", args.files, args.size)
        lookup = t / "trial.lookup"
        lookup_for(src, lookup)
        profile = ConfidentialityProfile.load(SCRIPT, lookup_table=lookup)
        anon = Anonymizer(profile, key=pydicom_ctp.KEY)
        # for scale: our own Basic profile on the same files (no value actions)
        basic = Anonymizer(key=pydicom_ctp.KEY)
        out = t / "out"
        programs: dict[str, Callable[[], object]] = {
            "dicomveil (2 threads)": lambda: anon.anonymize_tree(src, out),
            "dicomveil (1 thread)": lambda: anon.anonymize_tree(src, out, workers=1),
            "Basic profile (2 thr.)": lambda: basic.anonymize_tree(src, out),
            "pydicom script": lambda: pydicom_ctp.anonymize_tree(src, out, lookup),
        }
        anon.anonymize_tree(src, t / "a")
        pydicom_ctp.anonymize_tree(src, t / "b", lookup)
        check(t / "a", t / "b")
        times: dict[str, list[float]] = {name: [] for name in programs}
        for _ in range(args.rounds):
            for name, run in programs.items():
                shutil.rmtree(out, ignore_errors=True)
                start = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - start)
    base = statistics.median(times["pydicom script"])
    print(f"{args.files} files of {args.size}x{args.size}, trial.script, {args.rounds} rounds")
    for name, values in times.items():
        m = statistics.median(values)
        print(
            f"{name:22} median {m:7.3f} s  {args.files / m:8.1f} files/s  "
            f"({base / m:5.1f}x the pydicom script)  rounds: {' '.join(f'{v:.3f}' for v in values)}"
        )


if __name__ == "__main__":
    main()
