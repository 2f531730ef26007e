"""Benchmarks: dicomveil side by side with `cp -r` (the floor) and a plain pydicom script.

Run on demand (not part of the test suite):

    pip install '.[test]'
    pytest benches --benchmark-only --benchmark-columns=min,mean,max,rounds

Sizes (environment): DICOMVEIL_BENCH_L_FILES (1000 files of 512x512, ~500 MB),
DICOMVEIL_BENCH_S_FILES (5000 files of 64x64, ~60 MB), DICOMVEIL_BENCH_MF_GB (2: the
multi-frame file for the memory benchmark). Corpora are generated once into
DICOMVEIL_BENCH_DIR (default .benchmarks/corpus) and reused; the multi-frame file is made in a
temporary folder and removed afterwards. Outputs go to DICOMVEIL_BENCH_OUT (default: pytest's
temporary folder); point both at a tmpfs (/dev/shm) to measure without the disk.

Before every round the previous output is removed and the file system synced (`sync`), so
that no round pays for the write-back of another's files.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402
import pydicom_baseline  # noqa: E402
from dicomveil import Anonymizer, DicomFile  # noqa: E402

BENCH_DIR = Path(os.environ.get("DICOMVEIL_BENCH_DIR", ".benchmarks/corpus"))
L_FILES = int(os.environ.get("DICOMVEIL_BENCH_L_FILES", "1000"))
S_FILES = int(os.environ.get("DICOMVEIL_BENCH_S_FILES", "5000"))
MF_GB = float(os.environ.get("DICOMVEIL_BENCH_MF_GB", "2"))
KEY = b"benchmark key 0123"


def _corpus(name: str, files: int, size: int) -> Path:
    """Generate a corpus once; a marker beside it says it is complete."""
    path = BENCH_DIR / f"{name}-{files}x{size}"
    done = path.with_suffix(".complete")
    if not done.exists():
        shutil.rmtree(path, ignore_errors=True)
        corpus.make_series(path, files, size)
        done.write_text("")
    return path


@pytest.fixture(scope="session")
def corpus_l() -> Path:
    return _corpus("L", L_FILES, 512)


@pytest.fixture(scope="session")
def corpus_s() -> Path:
    return _corpus("S", S_FILES, 64)


def _fresh(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
    os.sync()


@pytest.fixture
def out_dir(tmp_path: Path) -> Iterator[Path]:
    """Where a benchmark writes its output tree."""
    base = os.environ.get("DICOMVEIL_BENCH_OUT")
    if base is None:
        yield tmp_path / "out"
        return
    path = Path(base) / f"out-{os.getpid()}"
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _run(benchmark, target, dst: Path, rounds: int = 3):
    def setup():
        _fresh(dst)

    benchmark.pedantic(target, setup=setup, rounds=rounds, warmup_rounds=1 if rounds > 1 else 0)
    _fresh(dst)


def _size_mb(path: Path) -> float:
    return corpus.tree_size(path) / 1e6


@pytest.mark.parametrize("which", ["L", "S"])
@pytest.mark.benchmark(group="tree")
def test_tree_cp(benchmark, which, corpus_l, corpus_s, out_dir):
    src = corpus_l if which == "L" else corpus_s
    dst = out_dir
    benchmark.extra_info.update(files=len(list(src.rglob("*.dcm"))), mb=_size_mb(src))
    _run(benchmark, lambda: subprocess.run(["cp", "-r", str(src), str(dst)], check=True), dst)


@pytest.mark.parametrize("which", ["L", "S"])
@pytest.mark.benchmark(group="tree")
def test_tree_dicomveil(benchmark, which, corpus_l, corpus_s, out_dir):
    src = corpus_l if which == "L" else corpus_s
    dst = out_dir
    anon = Anonymizer(key=KEY, keep_uid_map=False)

    def work():
        report = anon.anonymize_tree(src, dst)
        assert not report.refused

    _run(benchmark, work, dst)


@pytest.mark.parametrize("which", ["L", "S"])
@pytest.mark.benchmark(group="tree")
def test_tree_dicomveil_cli(benchmark, which, corpus_l, corpus_s, out_dir, tmp_path):
    src = corpus_l if which == "L" else corpus_s
    dst = out_dir
    key = tmp_path / "key"
    key.write_bytes(KEY)
    cmd = [
        sys.executable,
        "-m",
        "dicomveil",
        "anonymize",
        str(src),
        str(dst),
        "--quiet",
        "--key-file",
        str(key),
    ]
    _run(benchmark, lambda: subprocess.run(cmd, check=True), dst)


@pytest.mark.parametrize("which", ["L", "S"])
@pytest.mark.benchmark(group="tree")
def test_tree_pydicom_script(benchmark, which, corpus_l, corpus_s, out_dir):
    src = corpus_l if which == "L" else corpus_s
    dst = out_dir
    _run(benchmark, lambda: pydicom_baseline.anonymize_tree(src, dst), dst, rounds=1)


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory) -> Path:
    import random

    path = tmp_path_factory.mktemp("small") / "small.dcm"
    ds = corpus.ct_dataset(random.Random(1), 1, corpus.ROOT + "1", corpus.ROOT + "1.1", 8)
    corpus.write(ds, path)
    return path


@pytest.mark.benchmark(group="in-memory")
def test_in_memory_dicomveil(benchmark, small_dataset):
    anon = Anonymizer(key=KEY, keep_uid_map=False)
    f = DicomFile.open(small_dataset.read_bytes())
    benchmark(anon.anonymize, f)


@pytest.mark.benchmark(group="in-memory")
def test_in_memory_pydicom(benchmark, small_dataset):
    ds = pydicom.dcmread(small_dataset)

    def work():
        d = copy.deepcopy(ds)
        pydicom_baseline.clean(d)
        return d

    benchmark(work)


# VmHWM (the peak resident set of this process's own memory) rather than ru_maxrss: Linux
# carries ru_maxrss across fork/exec, so a child of a large pytest process would report the
# parent's size.
_VMHWM = """
def vmhwm_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
"""

_PEAK_RSS = (
    _VMHWM
    + """
import sys
from dicomveil import Anonymizer
Anonymizer(key=b"benchmark key 0123").anonymize_file(sys.argv[1], sys.argv[2])
print(vmhwm_kib())
"""
)

_PEAK_RSS_PYDICOM = (
    _VMHWM
    + """
import sys
sys.path.insert(0, sys.argv[3])
import pydicom_baseline
from pathlib import Path
pydicom_baseline.anonymize(Path(sys.argv[1]), Path(sys.argv[2]))
print(vmhwm_kib())
"""
)

_PEAK_RSS_IMPORT = _VMHWM + "import dicomveil\nprint(vmhwm_kib())\n"


@pytest.mark.benchmark(group="memory")
def test_peak_rss_multiframe(benchmark, tmp_path):
    """Peak RSS (KiB in extra_info) anonymizing one multi-frame file of MF_GB GB."""
    src = corpus.make_multiframe(tmp_path / "mf.dcm", MF_GB)
    dst = tmp_path / "mf-out.dcm"
    try:

        def work():
            out = subprocess.run(
                [sys.executable, "-c", _PEAK_RSS, str(src), str(dst)],
                check=True,
                capture_output=True,
                text=True,
            )
            return int(out.stdout.strip())

        rss = benchmark.pedantic(work, rounds=1)
        baseline = subprocess.run(
            [
                sys.executable,
                "-c",
                _PEAK_RSS_PYDICOM,
                str(src),
                str(dst),
                str(Path(__file__).resolve().parent),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        bare = subprocess.run(
            [sys.executable, "-c", _PEAK_RSS_IMPORT], check=True, capture_output=True, text=True
        )
        benchmark.extra_info.update(
            file_gb=src.stat().st_size / 1e9,
            dicomveil_peak_rss_mb=rss / 1024,
            python_with_dicomveil_imported_mb=int(bare.stdout.strip()) / 1024,
            pydicom_peak_rss_mb=int(baseline.stdout.strip()) / 1024,
        )
    finally:
        src.unlink(missing_ok=True)
        dst.unlink(missing_ok=True)
