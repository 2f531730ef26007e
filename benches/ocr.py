"""OCR of burned-in text: frames/s of --redact-pixel-text and verify --pixels, side by side
with a plain anonymize of the same tree.

    python benches/ocr.py [--files 24] [--rounds 3] [--workers 1 2]

Makes FILES ultrasound-like files (tests/ocr_images.py: 640x480, 8-bit grey, RGB and
YBR_FULL, a name, a birth date and an ID drawn into each) in a temporary folder, then, ROUNDS
times, one after another (interleaved, so that each sees the same moments of a shared
machine), on a fresh output folder each:

  plain          Anonymizer().anonymize_tree(SRC, OUT): the pixels copied, not read
  redact, N thr  Anonymizer(pixel_text="redact").anonymize_tree(SRC, OUT, workers=N)
  verify, N thr  verify(OUT, pixels=True, workers=N) on the redacted output

Every file is one frame, so frames/s is files/s. Prints the median of each, in frames/s and
as a multiple of the plain run's time. The first round's redacted outputs are checked: OCR
finds no text in them.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import ocr_images as oi  # noqa: E402
from dicomveil import Anonymizer, verify  # noqa: E402

KEY = b"dicomveil-bench-key-ocr"


def make(src: Path, files: int) -> None:
    for i in range(files):
        kind = i % 3
        drawn = oi.ultrasound(i, color=kind > 0)
        ds = oi.dataset(drawn, photometric="YBR_FULL" if kind == 2 else None)
        oi.write(ds, src / f"us{i:04d}.dcm")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="dicomveil-ocr-bench-"))
    try:
        src = root / "src"
        make(src, args.files)
        programs: dict[str, list[float]] = {"plain": []}
        for n in args.workers:
            programs[f"redact, {n} thr"] = []
        for n in args.workers:
            programs[f"verify, {n} thr"] = []
        for r in range(args.rounds):
            out = root / f"plain{r}"
            t = time.perf_counter()
            Anonymizer(key=KEY).anonymize_tree(src, out)
            programs["plain"].append(time.perf_counter() - t)
            for n in args.workers:
                out = root / f"redact{r}-{n}"
                t = time.perf_counter()
                report = Anonymizer(key=KEY, pixel_text="redact").anonymize_tree(
                    src, out, workers=n
                )
                programs[f"redact, {n} thr"].append(time.perf_counter() - t)
                assert len(report.done) == args.files, report.summary()
            for n in args.workers:
                t = time.perf_counter()
                found = verify(root / f"redact{r}-{args.workers[0]}", pixels=True, workers=n)
                programs[f"verify, {n} thr"].append(time.perf_counter() - t)
                if r == 0:
                    left = [f for f in found.findings if f.kind.startswith("pixel")]
                    assert not left, left
        plain = statistics.median(programs["plain"])
        print(f"{args.files} files of 640x480, 1 frame each; median of {args.rounds} rounds")
        print(f"{'program':<16} {'seconds':>8} {'frames/s':>9} {'x plain':>8}")
        for name, times in programs.items():
            m = statistics.median(times)
            print(f"{name:<16} {m:>8.2f} {args.files / m:>9.1f} {m / plain:>8.1f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
