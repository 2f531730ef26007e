"""Clean Pixel Data: masking corpus L side by side with `cp -r`, today's copy path and pydicom.

    python benches/pixels.py --dir /dev/shm/dicomveil-pixels [--files 1000] [--rounds 7] \\
        [--multiframe-gb 1] [--no-pydicom]

Makes corpus L in DIR once (benches/corpus.py: FILES CT slices of 512x512x16 bit, about 500 MB
at 1000 files; a smaller --files for a quick run) and reuses it. Then, ROUNDS times, one
program after another (interleaved, so that every program sees the same moments of a shared
machine), each on a fresh output folder after a `sync`:

  cp -r                  the floor
  CLI, no pixel rules    `dicomveil anonymize SRC OUT` (today's path: copy_file_range)
  CLI, banner            ... --option CLEAN_PIXEL_DATA --pixel-rules banner.script, one rule
                         matching every file: (0,0,512,40)
  CLI, 4 rectangles      the same with four rectangles (top and bottom banners, two boxes)
  anonymize_tree, ...    the same three in a child process, timed around anonymize_tree only
                         (the engine, without the interpreter's start)
  pydicom script         benches/pydicom_pixels.py with the banner (pixel_array, slice, save)

The first round's outputs are checked with pydicom, every file: inside the rectangles each
pixel reads as the blank (the lowest stored value, -32768 for these signed CT slices), outside
them each pixel equals the input's; without rules every pixel equals the input's.

With --multiframe-gb (default 1; 0 to skip), one multi-frame file of that size is made and
masked once by each program in a child process (the first, middle and last frames of each
output checked the same way), whose peak RSS is its ru_maxrss from wait4.
The child is started by a small launcher (python -S): Linux carries the largest resident set
across fork and exec, so a child of this process would report this process's size; the
launcher's own (printed as "floor") is the least any child can report.

Prints a table: the median of each program, its ratio to the median of `cp -r`, and the
median of its per-round ratios to `cp -r` (robust to the machine's drift); then every round.
"""

from __future__ import annotations

import argparse
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
from pydicom.pixels import pixel_array

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402

HERE = Path(__file__).resolve().parent
KEY = b"benchmark key 0123"
BANNER = [(0, 0, 512, 40)]
RECTS = [(0, 0, 512, 40), (0, 472, 512, 40), (10, 60, 150, 24), (380, 60, 120, 24)]

# One engine run in a child: prints the time of anonymize_tree (or anonymize_file) alone.
ENGINE = """
import sys, time
from dicomveil import (Anonymizer, ConfidentialityProfile,
                       ConfidentialityProfileOptions as O, load_pixel_rules)
src, dst, script = sys.argv[1:4]
profile = ConfidentialityProfile.create_default(O.CLEAN_PIXEL_DATA if script else O.BASIC_PROFILE)
if script:
    profile.pixel_rules = load_pixel_rules(script)
anon = Anonymizer(profile, key=b"benchmark key 0123", keep_uid_map=False)
t0 = time.perf_counter()
if sys.argv[4:] == ["file"]:
    anon.anonymize_file(src, dst)
else:
    report = anon.anonymize_tree(src, dst)
    assert not report.refused, report.refused[:1]
print(time.perf_counter() - t0)
"""

# Starts argv[1:] and prints its exit code, ru_maxrss (KiB) and wall time.
LAUNCHER = """
import os, sys, time
t0 = time.perf_counter()
pid = os.posix_spawn(sys.argv[1], sys.argv[1:], os.environ)
_, status, usage = os.wait4(pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, time.perf_counter() - t0)
"""


def script_text(rects: list[tuple[int, int, int, int]]) -> str:
    """A CTP DicomPixelAnonymizer script: one rule that matches every CT."""
    regions = " ".join(f"({x},{y},{w},{h})" for x, y, w, h in rects)
    return f'Every CT of the corpus\n{{ Modality.equals("CT") }}\n{regions}\n'


def make_corpus(base: Path, files: int) -> Path:
    path = base / f"L-{files}x512"
    done = path.with_suffix(".complete")
    if not done.exists():
        shutil.rmtree(path, ignore_errors=True)
        print(f"making {path} ...", file=sys.stderr)
        corpus.make_series(path, files, 512)
        done.write_text("")
    return path


def make_multiframe(base: Path, gigabytes: float) -> Path:
    path = base / f"multiframe-{gigabytes:g}GB.dcm"
    done = path.with_suffix(".complete")
    if not done.exists():
        print(f"making {path} ...", file=sys.stderr)
        corpus.make_multiframe(path, gigabytes)
        done.write_text("")
    return path


def blank(ds: pydicom.Dataset) -> int:
    """The blank dicomveil writes for these files (MONOCHROME2, no padding value)."""
    stored = int(ds.BitsStored)
    return -(1 << (stored - 1)) if ds.PixelRepresentation else 0


def region(shape: tuple[int, ...], rects: list[tuple[int, int, int, int]]) -> np.ndarray:
    m = np.zeros(shape[-2:], dtype=bool)
    for x, y, w, h in rects:
        m[y : y + h, x : x + w] = True
    return m


def check_frame(before: np.ndarray, after: np.ndarray, rects, value: int, where: str) -> None:
    m = region(before.shape, rects)
    if rects and not np.all(after[m] == value):
        raise AssertionError(f"{where}: the masked region is not blank ({value})")
    if not np.array_equal(before[~m], after[~m]):
        raise AssertionError(f"{where}: a pixel outside the rectangles changed")


def check_tree(src: Path, out: Path, rects) -> int:
    """Every output of the tree, read with pydicom, against its input."""
    n = 0
    for path in sorted(src.rglob("*.dcm")):
        dst = out / path.relative_to(src)
        a, b = pydicom.dcmread(path), pydicom.dcmread(dst)
        check_frame(a.pixel_array, b.pixel_array, rects, blank(a), str(dst))
        n += 1
    if n == 0:
        raise AssertionError(f"no output checked in {out}")
    return n


def check_multiframe(src: Path, out: Path, rects) -> None:
    """The first, middle and last frames, read one at a time by pydicom."""
    ds = pydicom.dcmread(src, stop_before_pixels=True)
    frames = int(ds.NumberOfFrames)
    for index in sorted({0, frames // 2, frames - 1}):
        before = pixel_array(src, index=index)
        after = pixel_array(out, index=index)
        check_frame(before, after, rects, blank(ds), f"{out} frame {index}")


def timed(run: Callable[[], float | None]) -> float:
    start = time.perf_counter()
    inner = run()
    return inner if inner is not None else time.perf_counter() - start


def sh(cmd: list[str]) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(cmd, check=True, capture_output=True)

    return run


def peak(argv: list[str]) -> tuple[float, float]:
    """ru_maxrss (MB) and wall time of argv, started by the launcher."""
    done = subprocess.run(
        [sys.executable, "-S", "-c", LAUNCHER, *argv], check=True, capture_output=True, text=True
    )
    code, rss, wall = done.stdout.splitlines()[-1].split()
    if code != "0":
        raise RuntimeError(f"{argv[:3]} exited {code}")
    return int(rss) / 1024, float(wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm/dicomveil-pixels"))
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--multiframe-gb", type=float, default=1.0)
    parser.add_argument("--no-pydicom", action="store_true", help="leave out the pydicom script")
    args = parser.parse_args()

    base: Path = args.dir
    base.mkdir(parents=True, exist_ok=True)
    src = make_corpus(base, args.files)
    out = base / "out"
    key_file = base / "key"
    key_file.write_bytes(KEY)
    scripts = {}
    for name, rects in (("banner", BANNER), ("rects", RECTS)):
        scripts[name] = base / f"{name}.script"
        scripts[name].write_text(script_text(rects))
    py = sys.executable

    def cli(script: str | None) -> Callable[[], None]:
        cmd = [py, "-m", "dicomveil", "anonymize", str(src), str(out), "--quiet"]
        cmd += ["--key-file", str(key_file)]
        if script:
            cmd += ["--option", "CLEAN_PIXEL_DATA", "--pixel-rules", str(scripts[script])]
        return sh(cmd)

    def engine(script: str | None) -> Callable[[], float]:
        cmd = [py, "-c", ENGINE, str(src), str(out), str(scripts[script]) if script else ""]
        return lambda: float(subprocess.run(cmd, check=True, capture_output=True).stdout)

    pydicom_cmd = [py, str(HERE / "pydicom_pixels.py"), str(src), str(out)]
    pydicom_cmd += [f"--rect={x},{y},{w},{h}" for x, y, w, h in BANNER]
    # name -> (run, the rectangles its output must show blank, or None: not checked)
    programs: dict[str, tuple[Callable[[], float | None], list | None]] = {
        "cp -r": (sh(["cp", "-r", str(src), str(out)]), None),
        "CLI, no pixel rules": (cli(None), []),
        "CLI, banner": (cli("banner"), BANNER),
        "CLI, 4 rectangles": (cli("rects"), RECTS),
        "anonymize_tree, no pixel rules": (engine(None), None),
        "anonymize_tree, banner": (engine("banner"), None),
        "anonymize_tree, 4 rectangles": (engine("rects"), None),
    }
    if not args.no_pydicom:
        programs["pydicom script, banner"] = (sh(pydicom_cmd), BANNER)

    size_mb = corpus.tree_size(src) / 1e6
    print(f"corpus: {src}, {args.files} files, {size_mb:.0f} MB; {args.rounds} rounds")
    times: dict[str, list[float]] = {name: [] for name in programs}
    for r in range(args.rounds):
        for name, (run, rects) in programs.items():
            shutil.rmtree(out, ignore_errors=True)
            os.sync()
            times[name].append(timed(run))
            if r == 0 and rects is not None:
                n = check_tree(src, out, rects)
                print(f"checked: {name}: {n} files", file=sys.stderr)
        print(f"round {r + 1} done", file=sys.stderr)
    shutil.rmtree(out, ignore_errors=True)

    # two ratios to cp: of the medians, and the median of each round's ratio to that round's
    # cp (which cancels a drift of the machine from round to round)
    cp = times["cp -r"]
    floor = statistics.median(cp)
    print(f"\n| corpus L, {args.files} files, {size_mb:.0f} MB | median | x cp | x cp by round |")
    print("| --- | ---: | ---: | ---: |")
    for name, values in times.items():
        median = statistics.median(values)
        by_round = statistics.median(v / c for v, c in zip(values, cp, strict=True))
        print(f"| {name} | {median:.3f} s | {median / floor:.2f} | {by_round:.2f} |")
    print("\nrounds (s):")
    for name, values in times.items():
        print(f"  {name:32} " + " ".join(f"{v:.2f}" for v in values))

    if args.multiframe_gb:
        mf = make_multiframe(base, args.multiframe_gb)
        dst = base / "mf-out.dcm"
        gb = mf.stat().st_size / 1e9
        runs = {
            "cp": ["/bin/cp", str(mf), str(dst)],
            "dicomveil, banner in every frame (anonymize_file)": [
                py,
                "-c",
                ENGINE,
                str(mf),
                str(dst),
                str(scripts["banner"]),
                "file",
            ],
            "python with dicomveil imported": [py, "-c", "import dicomveil"],
        }
        if not args.no_pydicom:
            runs["pydicom script, banner"] = [
                py,
                str(HERE / "pydicom_pixels.py"),
                str(mf),
                str(dst),
                "--rect=0,0,512,40",
            ]
        floor_mb, _ = peak(["/bin/true"])
        print(f"\n| one multi-frame file of {gb:.2f} GB | peak RSS | of the file | wall time |")
        print("| --- | ---: | ---: | ---: |")
        for name, argv in runs.items():
            dst.unlink(missing_ok=True)
            os.sync()
            rss, wall = peak(argv)
            if name.startswith(("dicomveil", "pydicom")):
                check_multiframe(mf, dst, BANNER)
            share = rss * 1024 * 1024 / mf.stat().st_size
            print(f"| {name} | {rss:.1f} MB | {share:.1%} | {wall:.2f} s |")
        print(f"(floor: the launcher's own {floor_mb:.1f} MB)")
        dst.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
