"""Clean Pixel Data on one large multi-frame compressed file: peak memory and time, dicomveil
beside a pydicom script that decodes, masks and encodes again.

    python benches/codecs_memory.py --dir /dev/shm/dicomveil-codecs [--frames 500] \\
        [--syntax rle j2k jls] [--python OTHER_PYTHON]

Makes once, in DIR, a CT-like multi-frame file of FRAMES frames of 512x512 16-bit signed
MONOCHROME2 (a smooth body with noise, each frame different: 262 MB decoded) in each syntax:
RLE Lossless and JPEG 2000 Lossless with pydicom's pylibjpeg encoders, JPEG-LS Lossless with
dcmtk's dcmcjpls from the native file. Each is cleaned once with one rule, the banner
(0,0,512,40), in a child process started by the launcher of benches/pixels.py (peak RSS is
the child's ru_maxrss):

  dicomveil       anonymize_file (RLE stays RLE, JPEG-LS stays JPEG-LS, JPEG 2000 becomes
                  native), by this interpreter or OTHER_PYTHON (an environment with another
                  build, e.g. the main branch's, for a before/after)
  pydicom script  dcmread, pixel_array (every frame at once, as pydicom decodes), the banner
                  set to the blank, RLE encoded again (pylibjpeg-rle), the others written
                  native (pydicom has no JPEG-LS encoder without pyjpegls); save_as

The first, middle and last frames of every output are checked with pydicom: the banner is
the blank (-32768), every other pixel equals the input's. Prints one line per syntax and
program: peak RSS (MB), wall time (s), output size (MB).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
from pydicom.pixels import pixel_array
from pydicom.uid import JPEG2000Lossless, RLELossless

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402
import pixels  # noqa: E402

SIZE = 512
BANNER = (0, 0, SIZE, 40)
BLANK = -32768

PYDICOM_SCRIPT = """
import sys
import pydicom
from pydicom.uid import ExplicitVRLittleEndian, RLELossless
src, dst = sys.argv[1:3]
ds = pydicom.dcmread(src)
arr = ds.pixel_array
arr[:, 0:40, :] = -32768
if ds.file_meta.TransferSyntaxUID == RLELossless:
    ds.compress(RLELossless, arr, encoding_plugin="pylibjpeg")
else:
    ds.PixelData = arr.tobytes()
    ds["PixelData"].VR = "OW"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    for kw in ("LossyImageCompression",):
        if kw in ds:
            del ds[kw]
ds.save_as(dst, enforce_file_format=True)
"""


def frames(n: int, seed: int = 1) -> np.ndarray:
    """n CT-like frames: a disc of tissue values with noise, moving a little from frame to
    frame; air (-1000) around it."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    out = np.empty((n, SIZE, SIZE), dtype=np.int16)
    for i in range(n):
        cx, cy = 256 + 40 * np.sin(i / 30), 256 + 30 * np.cos(i / 45)
        r = np.hypot(x - cx, y - cy)
        body = np.where(r < 200, 40 + (r / 4).astype(np.int16), -1000)
        out[i] = body + rng.integers(-20, 21, (SIZE, SIZE), dtype=np.int16)
    return out


def make(base: Path, n: int) -> dict[str, Path]:
    """The native file and its RLE, JPEG 2000 and JPEG-LS copies (made once)."""
    paths = {k: base / f"{k}-{n}.dcm" for k in ("native", "rle", "j2k", "jls")}
    done = base / f"made-{n}.complete"
    if done.exists():
        return paths
    import random

    base.mkdir(parents=True, exist_ok=True)
    print(f"making {n}-frame files in {base} ...", file=sys.stderr)
    ds = corpus.ct_dataset(random.Random(1), 0, corpus.ROOT + "7", corpus.ROOT + "7.1", SIZE)
    arr = frames(n)
    ds.NumberOfFrames = n
    ds.PixelData = arr.tobytes()
    ds["PixelData"].VR = "OW"
    corpus.write(ds, paths["native"])
    for key, uid in (("rle", RLELossless), ("j2k", JPEG2000Lossless)):
        c = pydicom.dcmread(paths["native"])
        c.compress(uid, arr, encoding_plugin="pylibjpeg")
        c.save_as(paths[key], enforce_file_format=True)
    subprocess.run(["dcmcjpls", str(paths["native"]), str(paths["jls"])], check=True)
    done.write_text("")
    return paths


def check(src: Path, out: Path) -> None:
    n = int(pydicom.dcmread(src, stop_before_pixels=True).NumberOfFrames)
    x, y, w, h = BANNER
    for i in sorted({0, n // 2, n - 1}):
        a, b = pixel_array(src, index=i), pixel_array(out, index=i)
        m = np.zeros(a.shape, bool)
        m[y : y + h, x : x + w] = True
        if not (b[m] == BLANK).all() or not np.array_equal(a[~m], b[~m]):
            raise AssertionError(f"{out}: frame {i} is not the input with the banner blank")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dir", type=Path, default=Path("/dev/shm/dicomveil-codecs"))
    p.add_argument("--frames", type=int, default=500)
    p.add_argument("--syntax", nargs="+", default=["rle", "j2k", "jls"])
    p.add_argument("--python", default=sys.executable, help="the interpreter of dicomveil")
    p.add_argument("--no-pydicom", action="store_true")
    a = p.parse_args()
    base: Path = a.dir
    base.mkdir(parents=True, exist_ok=True)
    paths = make(base, a.frames)
    script = base / "banner.script"
    script.write_text(pixels.script_text([BANNER]))
    out = base / "out.dcm"
    floor = pixels.peak([sys.executable, "-S", "-c", "pass"])[0]
    print(f"{a.frames} frames of {SIZE}x{SIZE}x16 bit; launcher floor {floor:.1f} MB")
    for key in a.syntax:
        src = paths[key]
        engine = [a.python, "-c", pixels.ENGINE, str(src), str(out), str(script), "file"]
        runs = [("dicomveil", engine)]
        if not a.no_pydicom:
            runs.append(("pydicom", [sys.executable, "-c", PYDICOM_SCRIPT, str(src), str(out)]))
        for name, argv in runs:
            out.unlink(missing_ok=True)
            rss, wall = pixels.peak(argv)
            check(src, out)
            print(
                f"{key:4} {src.stat().st_size / 1e6:7.1f} MB in  {name:10} peak {rss:8.1f} MB"
                f"  {wall:6.2f} s  out {out.stat().st_size / 1e6:7.1f} MB"
            )
    out.unlink(missing_ok=True)
    if shutil.which("dcmcjpls") is None:
        print("(dcmcjpls missing: no JPEG-LS file)", file=sys.stderr)


if __name__ == "__main__":
    main()
