#!/usr/bin/env bash
# Smoke run of an installed `dicomveil` command (the first on PATH) on examples/data/:
# anonymize the samples (exit 0, an output for every sample, an audit log), then verify the
# outputs against the originals (exit 0: no finding). scripts/test.sh runs it on the wheel it built, the release
# workflow on each wheel a runner can load.
#
#   bash scripts/smoke_cli.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fail() {
    echo "smoke: $*" >&2
    exit 1
}

command -v dicomveil >/dev/null || fail "no dicomveil command on PATH"
dicomveil --version
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
printf 'dicomveil smoke test key\n' >"$tmp/key"
dicomveil anonymize examples/data "$tmp/out" --key-file "$tmp/key" --audit "$tmp/audit.jsonl" \
    --quiet || fail "dicomveil anonymize exited $?"
n=0
for f in examples/data/*.dcm; do
    [ -s "$tmp/out/$(basename "$f")" ] || fail "no output for $f"
    n=$((n + 1))
done
[ "$n" -gt 0 ] || fail "no sample in examples/data"
[ -s "$tmp/audit.jsonl" ] || fail "no audit log"
# every identifying value of the originals is searched for in the outputs
dicomveil verify "$tmp/out" --original examples/data || fail "dicomveil verify exited $?"
echo "smoke: anonymized $n samples; verify found nothing"
