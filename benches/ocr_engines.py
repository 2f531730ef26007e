"""Which OCR engine finds burned-in text best: recall, precision and frames/s on DICOM-like
images made here (tests/ocr_images.py), side by side.

    python benches/ocr_engines.py --dir /tmp/ocr-bench \\
        [--engine tesserocr=.venv/bin/python] \\
        [--engine pytesseract=/path/to/venv-with-pytesseract/bin/python] \\
        [--engine rapidocr=/path/to/venv-with-rapidocr-onnxruntime/bin/python]

The images (8-bit grey, RGB and YBR_FULL ultrasound screens, MONOCHROME1 secondary captures,
16-bit CT windowed 40/400; names, dates and IDs drawn at 12 to 28 pixels and four contrasts;
harmless labels: 5.0MHz, 12/60, 4 cm, L) are made as DICOM files, turned into 8-bit grey by
dicomveil's own display conversion (dicomveil.ocr.display: what every engine is given), and
written as PNG with their ground truth. Each engine then runs in its own interpreter (each
candidate in its own virtualenv, to measure what it installs), one thread, over every image,
and prints the word boxes it read with a confidence (0-100). Scored here:

  recall     drawn identifying words (name, date, ID) with a box covering half of them
  precision  boxes read (at or above the confidence floor) that touch a drawn word
  frames/s   images read per second, one thread (the load of the model excluded)

tesserocr is run with dicomveil.ocr's Tesseract settings (sparse text, LSTM), every word it
returns scored; ``dicomveil`` is the whole of dicomveil.ocr over tesserocr (its word filter,
ocr.counts, and runs of adjacent words), with an empty allow-list. --scale enlarges frames
of fewer than 1024 rows first (default 1: as they are).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: dicomveil.ocr.MIN_HEIGHT, also scored for the others
MIN_HEIGHT = 8

RUNNER = r"""
import json, sys, time
from pathlib import Path
import numpy as np
from PIL import Image

engine, folder, scale = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
names = sorted(p.name for p in folder.glob("*.png"))

def enlarge(img):
    if img.height < 1024 and scale > 1:
        return img.resize((img.width * scale, img.height * scale), Image.Resampling.BICUBIC), scale
    return img, 1

if engine == "dicomveil":
    # the whole of dicomveil.ocr: Tesseract, the word filter (ocr.counts), runs of words;
    # nothing allowed
    from dicomveil import ocr
    nothing = ocr.AllowList(())
    def read(img):
        runs, _ = ocr.runs_in(np.asarray(img), 0, nothing)
        return [(r.x, r.y, r.w, r.h, 100.0) for r in runs]
elif engine == "tesserocr":
    from dicomveil import ocr
    api = ocr._api()
    def read(img):
        gray = np.asarray(img)
        s = scale if gray.shape[0] < 1024 else 1
        return [(x, y, w, h, c) for _, _, x, y, w, h, c in ocr._words(api, gray, s)]
elif engine == "pytesseract":
    import pytesseract
    def read(img):
        big, s = enlarge(img)
        d = pytesseract.image_to_data(big, config="--psm 11 --oem 1",
                                      output_type=pytesseract.Output.DICT)
        out = []
        for t, x, y, w, h, c in zip(d["text"], d["left"], d["top"], d["width"], d["height"],
                                    d["conf"]):
            if t.strip() and float(c) >= 0:
                out.append((x // s, y // s, w // s, h // s, float(c)))
        return out
elif engine == "rapidocr":
    from rapidocr_onnxruntime import RapidOCR
    rapid = RapidOCR()
    def read(img):
        big, s = enlarge(img)
        result, _ = rapid(np.asarray(big.convert("RGB")))
        out = []
        for box, text, score in result or []:
            xs = [p[0] for p in box]; ys = [p[1] for p in box]
            x0, y0 = min(xs) / s, min(ys) / s
            out.append((int(x0), int(y0), int(max(xs) / s - x0), int(max(ys) / s - y0),
                        100.0 * float(score)))
        return out
else:
    raise SystemExit(f"unknown engine {engine}")

read(Image.open(folder / names[0]).convert("L"))  # warm up (models loaded)
results, start = {}, time.perf_counter()
for n in names:
    results[n] = read(Image.open(folder / n).convert("L"))
elapsed = time.perf_counter() - start
print(json.dumps({"elapsed": elapsed, "boxes": results}))
"""


def make_set(folder: Path) -> dict:
    """The images as PNG (dicomveil's display conversion) and their ground truth."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    import ocr_images
    from dicomveil import DicomFile, ocr
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    truth = {}
    for i, (kind, drawn, ds) in enumerate(ocr_images.test_set(range(12))):
        f = DicomFile.open(ocr_images.to_bytes(ds))
        gray = ocr.display(f.frame(0), f.pixel_layout.photometric, f)
        name = f"{i:03d}-{kind}.png"
        Image.fromarray(gray).save(folder / name)
        truth[name] = {"secret": drawn.secret, "harmless": drawn.harmless, "kind": kind}
    (folder / "truth.json").write_text(json.dumps(truth))
    return truth


def overlap(a, b) -> int:
    ax, ay, aw, ah = a[:4]
    bx, by, bw, bh = b[:4]
    w = min(ax + aw, bx + bw) - max(ax, bx)
    h = min(ay + ah, by + bh) - max(ay, by)
    return max(0, w) * max(0, h)


def score(truth: dict, boxes: dict, floor: float, least: int = 0) -> tuple[float, float, int, int]:
    found = total = kept = touching = 0
    for name, t in truth.items():
        read = [b for b in boxes[name] if b[4] >= floor and b[3] >= least]
        for word in t["secret"]:
            total += 1
            area = word[2] * word[3]
            if any(overlap(word, b) * 2 >= area for b in read):
                found += 1
        for b in read:
            kept += 1
            if any(overlap(b, w) > 0 for w in t["secret"] + t["harmless"]):
                touching += 1
    return found / total, (touching / kept if kept else 1.0), found, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", type=Path, default=Path("/tmp/dicomveil-ocr-bench"))
    ap.add_argument(
        "--engine",
        action="append",
        default=[],
        metavar="NAME=PYTHON",
        help="an engine (tesserocr, pytesseract, rapidocr) and the interpreter that has it",
    )
    ap.add_argument(
        "--scale", type=int, default=1, help="enlargement of frames under 1024 rows (default 1)"
    )
    ap.add_argument("--label", default="", help="a label for the saved results")
    args = ap.parse_args()
    engines = [e.split("=", 1) for e in args.engine] or [["tesserocr", sys.executable]]
    truth = make_set(args.dir)
    print(f"{len(truth)} images, {sum(len(t['secret']) for t in truth.values())} identifying words")
    print(
        f"{'engine':<12} {'floor':>5} {'height':>6} {'recall':>7} {'precision':>9} {'frames/s':>9}"
    )
    for name, python in engines:
        t0 = time.perf_counter()
        proc = subprocess.run(
            [python, "-c", RUNNER, name, str(args.dir), str(args.scale)],
            capture_output=True,
            text=True,
            check=True,
        )
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        (args.dir / f"{name}{args.label}-x{args.scale}.json").write_text(json.dumps(out))
        fps = len(truth) / out["elapsed"]
        for floor in (0, 20, 50, 70):
            for least in (0, MIN_HEIGHT):
                recall, precision, _, _ = score(truth, out["boxes"], floor, least)
                print(
                    f"{name:<12} {floor:>5} {least:>6} {recall:>7.3f} {precision:>9.3f} "
                    f"{fps:>9.2f}",
                    flush=True,
                )
        print(f"  ({time.perf_counter() - t0:.1f} s with start-up)")


if __name__ == "__main__":
    main()
