"""Anonymize every sample in examples/data/ into out/, with a fixed demo key.

Needs only dicomveil (no pydicom). From the repository root:

    python examples/quickstart.py [OUTPUT_DIR]
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

from dicomveil import Anonymizer, BurnedInAnnotationWarning, DicomFile, DicomveilError

DATA = Path(__file__).resolve().parent / "data"
DEMO_KEY = b"dicomveil quickstart demo key"  # a real deployment keeps its key secret


def patient_name(f: DicomFile) -> str:
    if "PatientName" not in f:
        return "(absent)"
    value = f["PatientName"]
    return '""' if value in (None, "") else str(value)


def main(argv: list[str]) -> int:
    out_dir = Path(argv[1]) if len(argv) > 1 else Path("out")
    out_dir.mkdir(parents=True, exist_ok=True)
    anonymizer = Anonymizer(key=DEMO_KEY)
    files = sorted(p for p in DATA.iterdir() if p.is_file())
    done = failed = 0
    for path in files:
        try:
            original = DicomFile.open(path)
            with warnings.catch_warnings(record=True) as caught:
                # shown on the file's line below instead of as a Python warning
                warnings.simplefilter("always", BurnedInAnnotationWarning)
                anonymized = anonymizer.anonymize(original)
            anonymized.save(out_dir / path.name)
        except DicomveilError as exc:
            failed += 1
            print(f"{path.name}: refused: {exc}")
            continue
        done += 1
        before, after = patient_name(original), patient_name(anonymized)
        flag = (
            "; flagged: may carry burned-in annotation, review its pixels"
            if any(issubclass(w.category, BurnedInAnnotationWarning) for w in caught)
            else ""
        )
        print(
            f"{path.name:24} PatientName {before} -> {after};"
            f" elements {len(list(original))} -> {len(list(anonymized))}{flag}"
        )
    print(f"{done} of {len(files)} files anonymized into {out_dir}/, {failed} refused")
    return 0 if done and not failed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
