#!/usr/bin/env bash
# Build and test dicomveil: Rust unit/integration tests, then the Python suite.
#
#   bash scripts/test.sh [extra pytest arguments]
#
# Creates (or reuses) .venv, installs the package with its `test` extra (a release build of the
# extension), installs Debian's dcmtk (dcmdump) and dicom3tools (dciodvfy) when running as root
# and they are missing (non-fatal: their checks skip without them), runs `cargo test --locked`,
# then pytest.
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

# independent oracles from Debian: dcmdump (dcmtk) and dciodvfy (dicom3tools); optional
missing=()
command -v dcmdump >/dev/null 2>&1 || missing+=(dcmtk)
command -v dciodvfy >/dev/null 2>&1 || missing+=(dicom3tools)
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
exit "$status"
