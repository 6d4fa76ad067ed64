#!/usr/bin/env bash
# bench/run.sh - Glimpse vs. the real Glance 33, side by side on this machine (issue 9).
#
#   bench/run.sh              build the release binary, run everything (~30-40 min on 2 cores)
#   bench/run.sh --quick      1 run, short durations, 2,000 images, no 100k step, 2 GiB not 8
#   bench/run.sh --no-build   use the existing .build/release/glimpse
#   bench/run.sh --table bench/results/FILE.json    print a saved run again
#
# Every other option goes to bench/sidebyside.py (--help lists them: --runs, --only PHASES,
# --images, --big-images, --big-gib, --dur, ...). Glance is installed, configured and started
# by ../shared/conformance/glance-anchor.sh (GLANCE_ANCHOR overrides the path) on port 9292,
# Glimpse on 9393; both are stopped at the end. Results: bench/results/<time>-<gitrev>.json.
# Needs curl, wrk, nginx (for the download ceiling), openssl, python3 (stdlib only).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BUILD=1; ARGS=()
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0;;
    --table) BUILD=0; ARGS+=("$arg");;
    -h|--help) BUILD=0; ARGS+=("$arg");;
    *) ARGS+=("$arg");;
  esac
done
if [ "$BUILD" = 1 ]; then
  echo "bench: swift build -c release --product glimpse" >&2
  swift build -c release --product glimpse >&2
fi
exec python3 "$ROOT/bench/sidebyside.py" --glimpse-bin "$ROOT/.build/release/glimpse" ${ARGS[@]+"${ARGS[@]}"}
