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
# Needs curl, wrk, nginx (for the download ceiling), openssl, python3 (stdlib only); the
# missing ones are installed from Debian's packages (root or sudo), nginx without starting it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
GLIMPSE_SHARED="$(bash scripts/shared-dir.sh)" || { echo "bench: no shared folder at $GLIMPSE_SHARED (set GLIMPSE_SHARED)" >&2; exit 1; }
export GLIMPSE_SHARED

install_missing() {
  local missing=() sudo=""
  command -v curl >/dev/null || missing+=(curl)
  command -v wrk >/dev/null || missing+=(wrk)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
  [ "${#missing[@]}" -gt 0 ] || return 0
  [ "$(id -u)" = 0 ] || sudo=sudo
  echo "bench: apt-get install ${missing[*]}" >&2
  # No service may start on install (nginx would take port 80): policy-rc.d says no.
  local policy=/usr/sbin/policy-rc.d placed=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && placed=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/glimpse-bench-apt.log 2>&1 \
    || { $sudo apt-get update -qq >>/tmp/glimpse-bench-apt.log 2>&1 || true
         DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/glimpse-bench-apt.log 2>&1; } \
    || echo "bench: apt-get install failed (/tmp/glimpse-bench-apt.log)" >&2
  [ "$placed" = 0 ] || $sudo rm -f "$policy"
}
BUILD=1; RUN=1; ARGS=()
for arg in "$@"; do
  case "$arg" in
    --no-build) BUILD=0;;
    --table) BUILD=0; RUN=0; ARGS+=("$arg");;
    -h|--help) BUILD=0; RUN=0; ARGS+=("$arg");;
    *) ARGS+=("$arg");;
  esac
done
[ "$RUN" = 0 ] || install_missing
if [ "$BUILD" = 1 ]; then
  echo "bench: swift build -c release --product glimpse" >&2
  swift build -c release --product glimpse >&2
fi
exec python3 "$ROOT/bench/sidebyside.py" --glimpse-bin "$ROOT/.build/release/glimpse" ${ARGS[@]+"${ARGS[@]}"}
