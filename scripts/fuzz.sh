#!/usr/bin/env bash
# Fuzz the reader and the engine with cargo-fuzz (the project in fuzz/, outside the crate's
# build). Three targets run every input through read -> write -> re-read, and anonymize ->
# write -> re-read -> anonymize again (fuzz/pipeline.rs says what must hold):
#   pipeline     the input is a file (mutated bytes);
#   deflated     the input is a data set, put in a file of the deflated transfer syntax;
#   structured   the input describes a well-formed file (tags with special rules, private
#                blocks, overlays, character sets, nested and UN sequences, every syntax),
#                built and then run through the pipeline: explores the engine's decisions.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]      default: 20 seconds for each target
#
# Seeds: pydicom's test and character set files, examples/data/, and the regression inputs of
# tests/fuzz_corpus/. What the fuzzer learns stays in fuzz/corpus/<target>/ (not committed),
# so later runs start from there.
#
# Environment:
#   FUZZ_INSTALL=1       install cargo-fuzz when it is missing (cargo install cargo-fuzz --locked)
#   FUZZ_SANITIZER=...   address (default, for long runs) or none (faster to build; CI uses it:
#                        the engine is safe Rust, so what the fuzzer finds are panics, hangs and
#                        runaway memory, which need no sanitizer)
#   FUZZ_ARGS="..."      more libFuzzer options, e.g. "-fork=2 -ignore_crashes=1" for long runs
#   PYTHON               a Python with pydicom, for the seeds (default: .venv's, else python3)
#
# On stable Rust, cargo-fuzz needs RUSTC_BOOTSTRAP=1 (set here) for its -Z flags.
#
# Exit status: 0 when the targets ran clean, or when cargo-fuzz is not available (a message
# says so: the check is skipped, not failed; under CI=true that is a failure too); 1 when an
# input broke a target. That input is in
# fuzz/artifacts/<target>/; minimize it (from fuzz/) with
#   RUSTC_BOOTSTRAP=1 cargo fuzz tmin -O <target> artifacts/<target>/<file>
# then fix the bug and add the minimized input to tests/fuzz_corpus/<target>/, where
# tests/robustness.rs runs it on every `cargo test` (for `structured`, add the file it builds,
# written when the target runs the input with FUZZ_WRITE_BUILT=<path>, to .../pipeline/).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

SECONDS_EACH="${1:-20}"
shift || true
TARGETS=("$@")
[ "${#TARGETS[@]}" -gt 0 ] || TARGETS=(pipeline deflated structured)
SANITIZER="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1
# a run that cannot fuzz skips with a message; under CI (CI=true) it fails
SKIP_STATUS=0
[ "${CI:-}" = true ] && SKIP_STATUS=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    if [ "${FUZZ_INSTALL:-0}" = 1 ]; then
        echo "installing cargo-fuzz (cargo install cargo-fuzz --locked)"
        if ! cargo install cargo-fuzz --locked --quiet; then
            echo "fuzz: SKIPPED: cargo-fuzz could not be installed" >&2
            exit "$SKIP_STATUS"
        fi
    else
        echo "fuzz: SKIPPED: cargo-fuzz is not installed (cargo install cargo-fuzz --locked," \
            "or FUZZ_INSTALL=1)" >&2
        exit "$SKIP_STATUS"
    fi
fi

if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

# seeds: whole files for `pipeline`; for `deflated`, the data sets of the explicit VR little
# endian files (what the deflated syntax holds once inflated)
SEEDS="$ROOT/fuzz/seeds"
mkdir -p "$SEEDS/pipeline" "$SEEDS/deflated" "$SEEDS/structured"
if ! "$PYTHON" - "$SEEDS" "$ROOT/examples/data" <<'EOF'
import hashlib, io, struct, sys, warnings, zlib
from pathlib import Path

import pydicom
from pydicom.data import get_charset_files, get_testdata_files

warnings.simplefilter("ignore")  # pydicom's remarks on odd seeds
seeds, examples = Path(sys.argv[1]), Path(sys.argv[2])
files = {Path(p) for p in [*get_testdata_files(), *get_charset_files()]}
files |= set(examples.glob("*.dcm"))
for path in sorted(p for p in files if p.is_file()):
    data = path.read_bytes()[:131072]
    name = hashlib.sha1(data).hexdigest()[:12] + "_" + path.name
    (seeds / "pipeline" / name).write_bytes(data)
    if data[128:132] != b"DICM":
        continue
    try:
        meta = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=[])
        ts = meta.file_meta.TransferSyntaxUID
        end = 144 + struct.unpack_from("<I", data, 140)[0]
    except Exception:
        continue
    if ts == "1.2.840.10008.1.2.1.99":
        try:
            body = zlib.decompress(data[end:], -15)
        except zlib.error:
            continue
    elif ts in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.2"):
        continue
    else:
        body = data[end:]
    (seeds / "deflated" / name).write_bytes(body[:131072])
EOF
then
    echo "fuzz: SKIPPED: no pydicom for the seeds in $PYTHON" >&2
    exit "$SKIP_STATUS"
fi

cd fuzz
mkdir -p artifacts
echo "building the fuzz targets (sanitizer: $SANITIZER)"
if ! cargo fuzz build -O -s "$SANITIZER" >artifacts/build.log 2>&1; then
    tail -n 30 artifacts/build.log >&2
    echo "fuzz: the fuzz targets do not build" >&2
    exit 1
fi
status=0
for target in "${TARGETS[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    dirs=("$ROOT/fuzz/corpus/$target" "$SEEDS/$target")
    [ -d "$ROOT/tests/fuzz_corpus/$target" ] && dirs+=("$ROOT/tests/fuzz_corpus/$target")
    if [ "$target" = structured ]; then
        # inputs are descriptions, not DICOM: no byte dictionary, and long from the start
        options=(-max_len=8192 -len_control=0)
    else
        options=(-max_len=131072 -dict="$ROOT/fuzz/dicom.dict")
    fi
    echo "fuzzing $target for $SECONDS_EACH s"
    # shellcheck disable=SC2086
    if ! cargo fuzz run -O -s "$SANITIZER" "$target" "${dirs[@]}" -- \
        -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
        "${options[@]}" -print_final_stats=1 ${FUZZ_ARGS:-} >"artifacts/$target.log" 2>&1; then
        status=1
        echo "fuzz: $target FAILED; the input is in fuzz/artifacts/$target/:" >&2
        grep -E -A3 "panicked at|ERROR: libFuzzer|SUMMARY" "artifacts/$target.log" | head -n 20 >&2
        ls -1 "artifacts/$target" >&2
    else
        grep -E "stat::(number_of_executed_units|average_exec_per_sec|new_units_added)" \
            "artifacts/$target.log" | sed "s/^/  $target /"
    fi
done
exit "$status"
