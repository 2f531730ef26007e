#!/usr/bin/env bash
# Install dicomveil into .venv and run the quickstart example on the samples in examples/data.
#
#   bash scripts/demo.sh            (from anywhere; works in the repository root)
#
# Writes the anonymized copies to out/ in the repository root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
VENV="${VENV:-.venv}"

if [ ! -x "$VENV/bin/python" ]; then
    echo "=== creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
echo "=== installing dicomveil into $VENV (release build, a few minutes the first time)"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check .
echo "=== examples/quickstart.py"
"$VENV/bin/python" examples/quickstart.py out
