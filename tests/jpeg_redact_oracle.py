"""Test JPEGs and the independent checks for tests/jpeg_redact.rs (block-selective redaction).

    python jpeg_redact_oracle.py make DIR    # writes DIR/<case>.jpg and DIR/cases.json
    python jpeg_redact_oracle.py check DIR   # reads DIR/<case>.out.jpg and <case>.out.json

The Rust test redacts each case between the two steps. `check` decodes original and redacted
streams with Pillow (libjpeg) and, when present, djpeg from libjpeg-turbo-progs, and checks:

* the replaced units are exactly the MCUs (8*Hmax x 8*Vmax, 8x8 for one component) that touch
  the region, as computed here from Pillow's view of the frame header;
* without color conversion (Pillow draft mode "YCbCr", or "L"): every pixel of the first
  component outside the replaced units is byte-identical, and inside them it is black (<= 2,
  or >= 253 for "max"); the chroma planes are compared outside a ring of one unit around the
  replaced ones, because libjpeg's fancy upsampling reads the neighbouring chroma samples;
* Pillow RGB: identical outside that ring;
* djpeg -nosmooth (box upsampling, no neighbour reads): identical outside the replaced units,
  and every sample inside them <= 2 (black) or >= 253 (max).

12-bit streams (Pillow and djpeg read 8-bit ones only) are decoded by Thomas Richter's libjpeg
(pylibjpeg-libjpeg): identical outside the replaced units, and inside them 0 (black) or 4095
(max).

It prints one line per case and exits 1 if any check fails.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def picture(w, h, mode="RGB", seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    r = (x * 255 // max(w - 1, 1)).astype(np.uint8)
    g = (y * 255 // max(h - 1, 1)).astype(np.uint8)
    b = ((x + y) * 3 % 256).astype(np.uint8)
    arr = np.stack([r, g, b], axis=-1).astype(np.int16)
    arr += rng.integers(-20, 21, size=arr.shape, dtype=np.int16)
    im = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    for i in range(0, h, 14):
        d.text((2, i), "PATIENT^NAME 1234567 " * 4, fill=(255, 255, 255))
    return im.convert(mode)


def make(out: Path):
    out.mkdir(parents=True, exist_ok=True)
    cases = []

    def add(name, data, region, black="luma0", expect_error=None, check_black=True):
        (out / f"{name}.jpg").write_bytes(data)
        cases.append(
            dict(
                name=name,
                region=region,
                black=black,
                expect_error=expect_error,
                check_black=check_black,
            )
        )

    def pil(im, **kw):
        import io

        buf = io.BytesIO()
        im.save(buf, "JPEG", **kw)
        return buf.getvalue()

    for q in (90, 50):
        for ss, tag in ((0, "444"), (1, "422"), (2, "420")):
            im = picture(100, 75)
            add(f"pil_q{q}_{tag}", pil(im, quality=q, subsampling=ss), [13, 9, 30, 20])
            add(f"pil_q{q}_{tag}_edge", pil(im, quality=q, subsampling=ss), [90, 60, 50, 50])
        g = picture(101, 77, "L", seed=q)
        add(f"pil_q{q}_gray", pil(g, quality=q), [7, 3, 20, 30])
        add(f"pil_q{q}_gray_max", pil(g, quality=q), [50, 40, 9, 9], black="max")
    im = picture(123, 57, seed=3)
    add("pil_opt_420", pil(im, quality=75, optimize=True), [0, 0, 40, 17])
    add("pil_opt_gray", pil(im.convert("L"), quality=95, optimize=True), [60, 20, 30, 30])
    add("pil_q100_444", pil(im, quality=100, subsampling=0), [33, 11, 8, 8])
    add("pil_whole", pil(im, quality=80), [0, 0, 1000, 1000])
    add(
        "pil_cmyk",
        pil(im.convert("CMYK"), quality=85),
        [10, 10, 20, 20],
        black="rgb0",
        check_black=False,
    )
    add(
        "pil_progressive",
        pil(im, quality=80, progressive=True),
        [0, 0, 8, 8],
        expect_error="progressive",
    )
    add("bench_640x480", pil(picture(640, 480, seed=9), quality=85), [100, 100, 200, 40])

    if shutil.which("cjpeg"):
        src = out / "src.ppm"
        picture(90, 70, seed=5).save(src)
        gsrc = out / "src.pgm"
        picture(90, 70, "L", seed=6).save(gsrc)
        script = out / "scans.txt"
        script.write_text("0;\n1;\n2;\n")

        def cj(*args, src=src):
            return subprocess.run(
                ["cjpeg", *args, str(src)], check=True, capture_output=True
            ).stdout

        add("cj_restart2_420", cj("-restart", "2B", "-quality", "80"), [20, 20, 30, 25])
        add(
            "cj_restart1row_444",
            cj("-restart", "1", "-sample", "1x1", "-quality", "60"),
            [0, 30, 90, 8],
        )
        add(
            "cj_restart3_gray",
            cj("-restart", "3B", "-grayscale", "-quality", "75"),
            [45, 5, 17, 40],
        )
        add(
            "cj_restart5_gray_src",
            cj("-restart", "5B", "-quality", "90", src=gsrc),
            [10, 60, 30, 30],
        )
        add(
            "cj_opt_restart_422",
            cj("-optimize", "-restart", "4B", "-sample", "2x1"),
            [5, 5, 60, 10],
        )
        add("cj_h1v2", cj("-sample", "1x2", "-quality", "70"), [30, 30, 10, 10])
        add("cj_rgb", cj("-rgb", "-quality", "85"), [10, 10, 33, 21], black="rgb0")
        add(
            "cj_scans_noninterleaved", cj("-scans", str(script), "-quality", "80"), [17, 17, 20, 20]
        )
        add(
            "cj_scans_noninterleaved_rst",
            cj("-scans", str(script), "-restart", "3B", "-optimize"),
            [40, 2, 40, 40],
        )
        add("cj_arith", cj("-arithmetic"), [0, 0, 8, 8], expect_error="arithmetic")
        add("cj_progressive", cj("-progressive"), [0, 0, 8, 8], expect_error="progressive")

    try:
        import pydicom
        from pydicom.data import get_testdata_file
        from pydicom.encaps import generate_frames
    except ImportError:
        pydicom = None
    if pydicom is not None:
        names = [
            "SC_rgb_jpeg_dcmtk.dcm",
            "SC_jpeg_no_color_transform.dcm",
            "SC_jpeg_no_color_transform_2.dcm",
            "SC_rgb_dcmtk_+eb+cr.dcm",
            "SC_rgb_dcmtk_+eb+cy+n1.dcm",
            "SC_rgb_dcmtk_+eb+cy+n2.dcm",
            "SC_rgb_dcmtk_+eb+cy+np.dcm",
            "SC_rgb_dcmtk_+eb+cy+s2.dcm",
            "SC_rgb_dcmtk_+eb+cy+s4.dcm",
            "SC_rgb_jpeg.dcm",
            "SC_rgb_jpeg_app14_dcmd.dcm",
            "SC_rgb_jpeg_lossy_gdcm.dcm",
            "SC_rgb_small_odd_jpeg.dcm",
            "examples_ybr_color.dcm",
            "JPEG-lossy.dcm",
            "JPGExtended.dcm",
        ]
        for n in names:
            try:
                path = get_testdata_file(n)
            except Exception:
                path = None
            if path is None:
                continue
            ds = pydicom.dcmread(path)
            frames = list(
                generate_frames(
                    ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1) or 1)
                )
            )
            stem = "dcm_" + n.removesuffix(".dcm").replace("+", "p")
            # JPEG-lossy.dcm (12-bit) declares Se=0 in its sequential scan: refused
            err = "not sequential" if n == "JPEG-lossy.dcm" else None
            region = [
                max(ds.Columns // 5, 0),
                max(ds.Rows // 4, 0),
                max(ds.Columns // 3, 1),
                max(ds.Rows // 5, 1),
            ]
            add(stem, frames[0], region, black="auto", expect_error=err)
            if len(frames) > 1:
                add(stem + "_last", frames[-1], [0, 0, 48, 20], black="auto")
    (out / "cases.json").write_text(json.dumps(cases, indent=1))
    # The same, one case a line, for the Rust side: name, x y w h, black level.
    (out / "cases.tsv").write_text(
        "".join(f"{c['name']}\t{' '.join(map(str, c['region']))}\t{c['black']}\n" for c in cases)
    )


def units(im):
    layers = im.layer
    if len(layers) == 1:
        return 8, 8
    return 8 * max(layer[1] for layer in layers), 8 * max(layer[2] for layer in layers)


def cell_mask(w, h, uw, uh, region):
    gx, gy = -(-w // uw), -(-h // uh)
    cells = np.zeros((gy, gx), bool)
    x, y, rw, rh = region
    x1, y1 = min(x + rw, w), min(y + rh, h)
    if x < x1 and y < y1:
        cells[y // uh : (y1 - 1) // uh + 1, x // uw : (x1 - 1) // uw + 1] = True
    return cells


def expand(cells, uw, uh, w, h):
    return np.kron(cells, np.ones((uh, uw), bool))[:h, :w]


def ring(cells):
    r = cells.copy()
    gy, gx = cells.shape
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            s = np.zeros_like(cells)
            s[max(dy, 0) : gy + min(dy, 0), max(dx, 0) : gx + min(dx, 0)] = cells[
                max(-dy, 0) : gy + min(-dy, 0), max(-dx, 0) : gx + min(-dx, 0)
            ]
            r |= s
    return r


def planes(path):
    """The decoded components without color conversion where libjpeg can (YCbCr, gray);
    components stored as RGB (libjpeg cannot output them as YCbCr) come as RGB."""
    im = Image.open(path)
    if im.mode == "RGB":
        im.draft("YCbCr", None)
        try:
            im.load()
        except OSError:
            im = Image.open(path)
    im.load()
    a = np.asarray(im)
    return a if a.ndim == 3 else a[:, :, None]


def frame_header(data: bytes) -> tuple[int, int, int, int, int]:
    """Precision, width, height and unit (MCU) size of the stream's frame header (SOF0 to
    SOF15): for 12-bit streams, which Pillow does not open."""
    i = 2
    while i + 4 < len(data):
        marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            seg = data[i + 4 : i + 2 + length]
            h, w = int.from_bytes(seg[1:3], "big"), int.from_bytes(seg[3:5], "big")
            factors = [(c >> 4, c & 15) for c in seg[7 : 6 + 3 * seg[5] : 3]]
            if len(factors) == 1:
                return seg[0], w, h, 8, 8
            return seg[0], w, h, 8 * max(f[0] for f in factors), 8 * max(f[1] for f in factors)
        i += 2 + length
    raise ValueError("no frame header")


def check_12bit(orig: Path, red: Path, inside, black: str, check_black: bool) -> list[str]:
    from libjpeg import decode

    a, b = decode(orig.read_bytes()).astype(int), decode(red.read_bytes()).astype(int)
    if a.shape != b.shape:
        return [f"shapes differ {a.shape} {b.shape}"]
    if a.ndim == 3:
        inside = inside[:, :, None]
    problems = []
    if (np.broadcast_to(~inside, a.shape) & (a != b)).any():
        problems.append("libjpeg (12-bit) differs outside the replaced units")
    level = 4095 if black == "max" else 0
    if check_black and inside.any() and not (b[np.broadcast_to(inside, b.shape)] == level).all():
        problems.append(f"libjpeg (12-bit) not {level} inside")
    return problems


def djpeg(path):
    if not shutil.which("djpeg"):
        return None
    out = subprocess.run(
        ["djpeg", "-nosmooth", "-pnm", str(path)], check=True, capture_output=True
    ).stdout
    import io

    a = np.asarray(Image.open(io.BytesIO(out)))
    return a if a.ndim == 3 else a[:, :, None]


def check(d: Path):
    cases = json.loads((d / "cases.json").read_text())
    failures = 0
    for c in cases:
        name = c["name"]
        res = json.loads((d / f"{name}.out.json").read_text())
        problems = []
        if c["expect_error"]:
            if c["expect_error"] not in (res.get("error") or ""):
                problems.append(f"expected an error with {c['expect_error']!r}, got {res}")
            print(f"{'FAIL' if problems else 'ok  '} {name}: refused: {res.get('error')}")
            failures += bool(problems)
            for p in problems:
                print("     ", p)
            continue
        if res.get("error"):
            print(f"FAIL {name}: {res['error']}")
            failures += 1
            continue
        orig, red = d / f"{name}.jpg", d / f"{name}.out.jpg"
        bits, w, h, uw, uh = frame_header(orig.read_bytes())
        if bits == 8:
            im = Image.open(orig)
            w, h = im.size
            uw, uh = units(im)
        cells = cell_mask(w, h, uw, uh, c["region"])
        if res["mcus_replaced"] != int(cells.sum()) or res["mcus_total"] != cells.size:
            problems.append(
                f"replaced {res['mcus_replaced']}/{res['mcus_total']}, "
                f"expected {cells.sum()}/{cells.size}"
            )
        inside = expand(cells, uw, uh, w, h)
        near = expand(ring(cells), uw, uh, w, h)
        black = res.get("black", c["black"])
        if bits == 12:
            problems += check_12bit(orig, red, inside, black, c["check_black"])
            failures += bool(problems)
            print(
                f"{'FAIL' if problems else 'ok  '} {name}: {w}x{h} unit {uw}x{uh} "
                f"replaced {res['mcus_replaced']}/{res['mcus_total']} "
                f"rebuilt={res['tables_rebuilt']} black={black} checked: libjpeg 12-bit"
            )
            for p in problems:
                print("     ", p)
            continue
        dark = (lambda v: v >= 253) if black == "max" else (lambda v: v <= 2)
        a, b = planes(orig).astype(int), planes(red).astype(int)
        if a.shape != b.shape:
            problems.append(f"shapes differ {a.shape} {b.shape}")
        else:
            if (a[:, :, 0] != b[:, :, 0])[~inside].any():
                problems.append("first component differs outside the replaced units")
            if c["check_black"] and inside.any() and not dark(b[:, :, 0][inside]).all():
                problems.append(
                    f"first component not black inside: {np.unique(b[:, :, 0][inside])[:10]}"
                )
            if a.shape[2] > 1 and (a[:, :, 1:] != b[:, :, 1:])[~near].any():
                problems.append("other components differ outside the ring")
            ra = np.asarray(Image.open(orig).convert("RGB")).astype(int)
            rb = np.asarray(Image.open(red).convert("RGB")).astype(int)
            if (ra != rb)[~near].any():
                problems.append("Pillow RGB differs outside the ring")
        dj = ""
        da, db = djpeg(orig), djpeg(red)
        if da is not None:
            dj = " djpeg"
            if (da != db)[~inside].any():
                problems.append("djpeg -nosmooth differs outside the replaced units")
            if c["check_black"] and inside.any() and not dark(db[inside]).all():
                problems.append(f"djpeg -nosmooth not black inside: {np.unique(db[inside])[:10]}")
        failures += bool(problems)
        print(
            f"{'FAIL' if problems else 'ok  '} {name}: {w}x{h} unit {uw}x{uh} "
            f"replaced {res['mcus_replaced']}/{res['mcus_total']} "
            f"rebuilt={res['tables_rebuilt']} black={black} checked: Pillow{dj}"
        )
        for p in problems:
            print("     ", p)
    print(f"{len(cases)} cases, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    {"make": make, "check": check}[sys.argv[1]](Path(sys.argv[2]))
