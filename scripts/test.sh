#!/usr/bin/env bash
# Build and test dicomveil: Rust unit/integration tests, then the Python suite.
#
#   bash scripts/test.sh [extra pytest arguments]
#
# Creates (or reuses) .venv, installs the package with its `test` extra (a release build of the
# extension), installs Debian's dcmtk (dcmdump), dicom3tools (dciodvfy) and libgdcm-tools
# (gdcmdump) when running as root and they are missing (non-fatal: their checks skip without
# them), runs `cargo test --locked` (with the fuzz regression corpus, tests/fuzz_corpus/), then
# pytest, then a bounded fuzz run (scripts/fuzz.sh, FUZZ_SECONDS per target, default 20; 0 skips
# it; it skips itself with a message when cargo-fuzz is not installed, and installs it when
# FUZZ_INSTALL=1, as CI does).
# Exits non-zero on any failure, and also when pytest collects no tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"

step() { printf '\n=== %s\n' "$*"; }

if [ ! -x "$VENV/bin/python" ]; then
    step "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"

step "installing dicomveil[test] into $VENV (release build)"
"$PY" -m pip install --quiet --disable-pip-version-check ".[test]"

# independent oracles from Debian: dcmdump (dcmtk), dciodvfy (dicom3tools) and gdcmdump
# (libgdcm-tools); optional
missing=()
command -v dcmdump >/dev/null 2>&1 || missing+=(dcmtk)
command -v dciodvfy >/dev/null 2>&1 || missing+=(dicom3tools)
command -v gdcmdump >/dev/null 2>&1 || missing+=(libgdcm-tools)
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        step "installing ${missing[*]} with apt-get"
        if ! { apt-get update -qq \
            && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null; }; then
            echo "warning: could not install ${missing[*]}; their checks will be skipped" >&2
        fi
    else
        echo "note: ${missing[*]} not installed (not root); their checks will be skipped" >&2
    fi
fi

step "cargo test --locked"
cargo test --locked

step "pytest"
set +e
"$PY" -m pytest -q tests "$@"
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
