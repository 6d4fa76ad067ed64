#!/usr/bin/env bash
# bench/multinode.sh - creates/s and shows/s through the balancer of scripts/multinode.sh, with
# one node up and with three, in one run, on the PostgreSQL catalog (issue 8's throughput
# figure). Release build, wrk with 16 connections for 10 s per figure.
#
#   bash bench/multinode.sh              build the release binary, start the stack, measure, stop
#   bash bench/multinode.sh --no-build   use the existing .build/release/glimpse
#
# Env: BENCH_CONNECTIONS (16), BENCH_SECONDS (10). Prints one table; the stack (PostgreSQL,
# Swift, three nodes, HAProxy) is stopped at the end. All of it shares this machine's cores,
# so the three-node figure says what the nodes cost each other here, not what three machines
# would do.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CONN="${BENCH_CONNECTIONS:-16}"
SECS="${BENCH_SECONDS:-10}"
if [ "${1:-}" != "--no-build" ]; then
  echo "bench: swift build -c release --product glimpse" >&2
  swift build -c release --product glimpse >&2
fi
command -v wrk >/dev/null || { echo "bench: wrk is missing (bash scripts/setup.sh installs it)" >&2; exit 1; }
export GLIMPSE_BIN="$ROOT/.build/release/glimpse"
export GLIMPSE_MULTINODE_DIR="${GLIMPSE_MULTINODE_DIR:-$ROOT/.multinode-bench}"
export GLIMPSE_MULTINODE_PORT="${GLIMPSE_MULTINODE_PORT:-19600}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/glimpse-mnbench.XXXXXX")"
trap 'bash scripts/multinode.sh stop >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

URL="$(bash scripts/multinode.sh start | tail -1)"
echo "bench: stack up at $URL" >&2

cat > "$WORK/create.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"name": "mn-bench", "disk_format": "raw", "container_format": "bare"}'
wrk.headers["Content-Type"] = "application/json"
LUA
# Shows spread over many images, one path per request, round robin.
cat > "$WORK/show.lua" <<'LUA'
local ids = {}
for id in io.lines(os.getenv("BENCH_IDS_FILE")) do ids[#ids + 1] = id end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", "/v2/images/" .. ids[(i % #ids) + 1])
end
LUA

# rate KIND: requests/s of 2xx answers (wrk's Requests/sec, checked against its non-2xx count)
rate() {
  local out
  out="$(wrk -t2 -c"$CONN" -d"${SECS}s" --timeout 30s -s "$WORK/$1.lua" "$URL/v2/images" 2>&1)"
  if grep -q "Non-2xx" <<<"$out"; then echo "bench: $1: $(grep Non-2xx <<<"$out")" >&2; fi
  awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out"
}

ids() {  # the ids of up to 1000 images, for the show runs
  curl -s "$URL/v2/images?limit=1000" | python3 -c 'import sys, json; [print(i["id"]) for i in json.load(sys.stdin)["images"]]'
}

declare -A fig
for n in 2 3; do bash scripts/multinode.sh stop-node "$n" >&2; done
sleep 2
fig[c1]="$(rate create)"
ids > "$WORK/ids"; export BENCH_IDS_FILE="$WORK/ids"
fig[s1]="$(rate show)"
for n in 2 3; do bash scripts/multinode.sh start-node "$n" >&2; done
sleep 3
fig[c3]="$(rate create)"
fig[s3]="$(rate show)"

rev="$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo
echo "multi-node throughput, $(date -u +%Y-%m-%dT%H:%MZ), git $rev, $(nproc) cores, PostgreSQL catalog, Swift store,"
echo "HAProxy round robin, release build, wrk $CONN connections x ${SECS} s; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| | 1 node | 3 nodes |"
echo "|---|---|---|"
echo "| image creates/s | ${fig[c1]} | ${fig[c3]} |"
echo "| image shows/s | ${fig[s1]} | ${fig[s3]} |"
