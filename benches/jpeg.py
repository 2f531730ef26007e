"""Clean Pixel Data on JPEG Baseline: dicomveil's block-by-block redaction against a pydicom
script that decodes, masks and re-encodes (benches/pydicom_jpeg.py), in frames a second.

    python benches/jpeg.py [--dir /dev/shm/dicomveil-jpeg] [--files 200] [--frames 100] \\
        [--rounds 5]

Makes, once, in DIR: FILES ultrasound-like images of 640x480 RGB (a speckled fan, a name
banner; tests/util.py draws them), each saved by Pillow as JPEG (quality 90, 4:2:0) and
wrapped as a single-frame US Image of JPEG Baseline; and one US Multi-frame Image of FRAMES
such frames. Then, ROUNDS times, one program after another (interleaved, so that each sees the
same moments of a shared machine), each on a fresh output after a `sync`:

  cp -r                        the floor, for the tree
  dicomveil CLI, tree          `dicomveil anonymize SRC OUT --option CLEAN_PIXEL_DATA
                               --pixel-rules banner.script` (a new Python process)
  dicomveil anonymize_tree     the same in a child process, timed around anonymize_tree only
                               (its default workers, one a core), and with workers=1
  pydicom script, tree         benches/pydicom_jpeg.py in a child process, timed around its
                               anonymize_tree only (one file after another)
  dicomveil anonymize_file     the multi-frame file, timed around anonymize_file only
  pydicom script, multi-frame  benches/pydicom_jpeg.py on it, timed the same way

The banner rule (0,0,640,48) matches every file. The first round's outputs are decoded with
pydicom (Pillow's libjpeg-turbo), every file and every frame: dicomveil's must be black inside
the banner and equal to the input's at every pixel outside the units that touch it (one pixel
beyond them: the decoder's chroma upsampling); the pydicom script's must be black inside, and
how much of the rest its recompression changed is printed.

Prints a table of medians and frames a second, the ratio of each dicomveil program's frames a
second to the pydicom script's on the same input (of the medians, and the median of the
per-round ratios), then every round; and, where the time goes, `Anonymizer.anonymize` of one
file in memory with no pixel rule, the banner, a label at the bottom and the whole image (the
redaction codes from the first replaced unit to the last: what is before it is only decoded,
what is after it copied).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGBaseline8Bit, generate_uid

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from util import ultrasound_image  # noqa: E402

KEY = b"benchmark key 0123"
BANNER = (0, 0, 640, 48)
#: The rows dicomveil may change: the units (16x16) touching the banner, and one pixel more
#: where a decoder's upsampling of the 4:2:0 chroma reaches.
TOUCHED_ROWS = 48 + 1
US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"

# The pydicom script in a child, timed around its work alone (without the interpreter's start).
PYDICOM = """
import sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
import pydicom_jpeg
rect = pydicom_jpeg.parse_rect(sys.argv[4])
t0 = time.perf_counter()
pydicom_jpeg.anonymize_tree(Path(sys.argv[2]), Path(sys.argv[3]), [rect])
print(time.perf_counter() - t0)
"""

# One engine run in a child: prints the time of anonymize_tree (or anonymize_file) alone.
ENGINE = """
import sys, time
from dicomveil import (Anonymizer, ConfidentialityProfile,
                       ConfidentialityProfileOptions as O, load_pixel_rules)
src, dst, script, what, workers = sys.argv[1:6]
profile = ConfidentialityProfile.create_default(O.CLEAN_PIXEL_DATA)
profile.pixel_rules = load_pixel_rules(script)
anon = Anonymizer(profile, key=b"benchmark key 0123", keep_uid_map=False)
t0 = time.perf_counter()
if what == "file":
    anon.anonymize_file(src, dst)
else:
    report = anon.anonymize_tree(src, dst, workers=int(workers) or None)
    assert not report.refused, report.refused[:1]
print(time.perf_counter() - t0)
"""


# Where the time goes: one file in memory, `Anonymizer.anonymize`, by where the region lies (the
# redaction codes from the first replaced unit to the last; what is before is decoded only,
# what is after is copied).
IN_MEMORY = """
import statistics, sys, time
from dicomveil import (Anonymizer, ConfidentialityProfile, DicomFile,
                       ConfidentialityProfileOptions as O)
f = DicomFile.open(open(sys.argv[1], "rb").read())
for name, regions in [("no pixel rule", None), ("the banner (0,0,640,48)", "(0,0,640,48)"),
                      ("a label at the bottom (520,440,100,40)", "(520,440,100,40)"),
                      ("the whole image", "(0,0,640,480)")]:
    profile = ConfidentialityProfile.create_default(O.CLEAN_PIXEL_DATA)
    if regions:
        profile.pixel_rules = [("r", "true", regions)]
    anon = Anonymizer(profile, key=b"benchmark key 0123", burned_in="allow")
    runs = []
    for _ in range(9):
        t0 = time.perf_counter()
        for _ in range(40):
            anon.anonymize(f)
        runs.append((time.perf_counter() - t0) / 40)
    print(f"  {name:40} {statistics.median(runs) * 1e3:6.2f} ms (min {min(runs) * 1e3:.2f})")
"""


def jpeg_frame(seed: int) -> bytes:
    bio = io.BytesIO()
    ultrasound_image(True, seed).save(bio, "JPEG", quality=90, subsampling=2)
    return bio.getvalue()


def us_dataset(frames: list[bytes], sop_class: str, seed: int) -> Dataset:
    """An ultrasound image of JPEG Baseline frames, with identifiers in its header."""
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.Manufacturer = "US", "ACME Medical"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = "DOE^JANE", f"P{seed:06d}", "19660713"
    ds.StudyDate, ds.StudyTime, ds.AccessionNumber = "20240315", "101500", f"A{seed:06d}"
    ds.InstitutionName, ds.ReferringPhysicianName = "General Hospital", "SMITH^JOHN"
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 1, seed
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 480, 640, 3
    ds.PhotometricInterpretation, ds.PlanarConfiguration = "YBR_FULL_422", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.LossyImageCompression, ds.BurnedInAnnotation = "01", "YES"
    if len(frames) > 1:
        ds.NumberOfFrames = len(frames)
        ds.FrameIncrementPointer = 0x00181063
        ds.FrameTime = 33.3
    ds.PixelData = encapsulate(frames, has_bot=True)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    return ds


def make_inputs(base: Path, files: int, frames: int) -> tuple[Path, Path]:
    tree, multi = base / f"us-{files}", base / f"us-{frames}frames.dcm"
    done = base / f"inputs-{files}-{frames}.complete"
    if not done.exists():
        print(f"making {tree} and {multi} ...", file=sys.stderr)
        shutil.rmtree(tree, ignore_errors=True)
        tree.mkdir(parents=True)
        for i in range(files):
            us_dataset([jpeg_frame(i)], US_IMAGE, i).save_as(
                tree / f"{i:04}.dcm", enforce_file_format=True
            )
        multi_frames = [jpeg_frame(1000 + i) for i in range(frames)]
        us_dataset(multi_frames, US_MULTIFRAME, 1000).save_as(multi, enforce_file_format=True)
        done.write_text("")
    return tree, multi


def frames_of(path: Path) -> np.ndarray:
    ds = pydicom.dcmread(path)
    arr = ds.pixel_array
    return arr if int(ds.get("NumberOfFrames") or 1) > 1 else arr[None]


def check(src: Path, out: Path, exact: bool) -> tuple[int, int, int]:
    """Every output against its input: black inside the banner; outside the touched rows
    equal (`exact`), or else counted: (samples outside, samples changed, largest change)."""
    pairs = [(src, out)] if src.is_file() else [(p, out / p.name) for p in sorted(src.iterdir())]
    total = changed = largest = 0
    for a_path, b_path in pairs:
        a, b = frames_of(a_path).astype(np.int16), frames_of(b_path).astype(np.int16)
        x, y, w, h = BANNER
        inside = b[:, y : y + h, x : x + w]
        if inside.max() > 3:
            raise AssertionError(f"{b_path}: the banner is not black ({inside.max()})")
        diff = np.abs(a[:, TOUCHED_ROWS:] - b[:, TOUCHED_ROWS:])
        if exact and diff.any():
            raise AssertionError(f"{b_path}: a pixel outside the banner's units changed")
        total += diff.size
        changed += int(np.count_nonzero(diff))
        largest = max(largest, int(diff.max()))
    return total, changed, largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm/dicomveil-jpeg"))
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    base: Path = args.dir
    base.mkdir(parents=True, exist_ok=True)
    tree, multi = make_inputs(base, args.files, args.frames)
    out_tree, out_multi = base / "out", base / "out-multi.dcm"
    script = base / "banner.script"
    regions = "({},{},{},{})".format(*BANNER)
    script.write_text(f'Every ultrasound\n{{ Modality.equals("US") }}\n{regions}\n')
    key_file = base / "key"
    key_file.write_bytes(KEY)
    py = sys.executable
    rect = regions[1:-1]

    def run(cmd: list[str], inner: bool = False) -> Callable[[], float]:
        def go() -> float:
            t0 = time.perf_counter()
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            return float(done.stdout) if inner else time.perf_counter() - t0

        return go

    def engine(src: Path, dst: Path, what: str, workers: int = 0) -> Callable[[], float]:
        return run([py, "-c", ENGINE, str(src), str(dst), str(script), what, str(workers)], True)

    def script_run(src: Path, dst: Path) -> Callable[[], float]:
        return run([py, "-c", PYDICOM, str(HERE), str(src), str(dst), rect], True)

    cli = [py, "-m", "dicomveil", "anonymize", str(tree), str(out_tree), "--quiet"]
    cli += ["--key-file", str(key_file), "--option", "CLEAN_PIXEL_DATA"]
    cli += ["--pixel-rules", str(script)]
    # name -> (run, input, output, whether the output must be exact outside the banner's units)
    programs = {
        "cp -r, tree": (run(["cp", "-r", str(tree), str(out_tree)]), tree, out_tree, None),
        "dicomveil CLI, tree": (run(cli), tree, out_tree, True),
        "dicomveil anonymize_tree, tree": (engine(tree, out_tree, "tree"), tree, out_tree, True),
        "dicomveil anonymize_tree, 1 worker, tree": (
            engine(tree, out_tree, "tree", 1),
            tree,
            out_tree,
            True,
        ),
        "pydicom script, tree": (script_run(tree, out_tree), tree, out_tree, False),
        "dicomveil anonymize_file, multi-frame": (
            engine(multi, out_multi, "file"),
            multi,
            out_multi,
            True,
        ),
        "pydicom script, multi-frame": (script_run(multi, out_multi), multi, out_multi, False),
    }
    frames = {tree: args.files, multi: args.frames}
    print(
        f"inputs: {args.files} files of 640x480 RGB JPEG Baseline "
        f"({sum(p.stat().st_size for p in tree.iterdir()) / 1e6:.1f} MB) and one file of "
        f"{args.frames} such frames ({multi.stat().st_size / 1e6:.1f} MB); {args.rounds} rounds"
    )
    times: dict[str, list[float]] = {name: [] for name in programs}
    checked: dict[str, tuple[int, int, int]] = {}
    for r in range(args.rounds):
        for name, (go, src, dst, exact) in programs.items():
            shutil.rmtree(out_tree, ignore_errors=True)
            out_multi.unlink(missing_ok=True)
            os.sync()
            times[name].append(go())
            if r == 0 and exact is not None:
                checked[name] = check(src, dst, exact)
        print(f"round {r + 1} done", file=sys.stderr)
    shutil.rmtree(out_tree, ignore_errors=True)
    out_multi.unlink(missing_ok=True)

    def baseline(name: str) -> str:
        return "pydicom script, tree" if name.endswith("tree") else "pydicom script, multi-frame"

    print("\n| program | frames | median | frames/s | x pydicom script | x by round |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, (_, src, _, _) in programs.items():
        n, median = frames[src], statistics.median(times[name])
        ratio = by_round = ""
        if name.startswith("dicomveil"):
            ref = times[baseline(name)]
            ratio = f"{statistics.median(ref) / median:.1f}x"
            rounds = [b / a for a, b in zip(times[name], ref, strict=True)]
            by_round = f"{statistics.median(rounds):.1f}x"
        print(f"| {name} | {n} | {median:.3f} s | {n / median:,.0f} | {ratio} | {by_round} |")
    print("\noutside the banner's units, decoded by pydicom (Pillow), first round:")
    for name, (total, changed, largest) in checked.items():
        print(
            f"  {name:40} {changed:>10,} of {total:,} samples changed"
            f" ({changed / total:.1%}), largest change {largest}"
        )
    print("\nrounds (s):")
    for name, values in times.items():
        print(f"  {name:40} " + " ".join(f"{v:.3f}" for v in values))
    print("\nin memory, one of the files, Anonymizer.anonymize (median of 9 x 40):")
    first = sorted(tree.iterdir())[0]
    print(
        subprocess.run(
            [py, "-c", IN_MEMORY, str(first)], check=True, capture_output=True, text=True
        ).stdout,
        end="",
    )


if __name__ == "__main__":
    main()
