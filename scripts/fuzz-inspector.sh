#!/usr/bin/env bash
# scripts/fuzz-inspector.sh [SECONDS] - fuzz the format inspector with libFuzzer.
#
# Builds Sources/GlimpseInspector (without its NIOCore wrapper) and fuzz/InspectorFuzzEntry.swift
# with `swiftc -sanitize=fuzzer,address` into .build/fuzz/inspector-fuzz, then runs it for
# SECONDS (default 60) over fuzz/corpus/inspector (the seeds: small images made by qemu-img and
# friends; see fuzz/README.md). New inputs go to .build/fuzz/corpus, not into the repository
# (merge them with MERGE=1). Fails on a crash, a timeout of one input (10 s) or memory over
# 1 GiB; crash inputs are left in .build/fuzz/artifacts.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_TO_RUN="${1:-60}"
OUT="$ROOT/.build/fuzz"
SWIFTC="${SWIFTC:-swiftc}"
mkdir -p "$OUT/corpus" "$OUT/artifacts"

sources=()
for f in "$ROOT"/Sources/GlimpseInspector/*.swift; do
  case "$f" in *+ByteBuffer.swift) ;; *) sources+=("$f") ;; esac
done
bin="$OUT/inspector-fuzz"
newest="$(ls -t "${sources[@]}" "$ROOT/fuzz/InspectorFuzzEntry.swift" | head -1)"
if [ ! -x "$bin" ] || [ "$newest" -nt "$bin" ]; then
  echo "fuzz: building $bin"
  # (ld.gold warns about every ASan helper symbol; the log keeps that out of sight.)
  "$SWIFTC" -sanitize=fuzzer,address -parse-as-library -O -g -module-name GlimpseInspector \
    "${sources[@]}" "$ROOT/fuzz/InspectorFuzzEntry.swift" -o "$bin" >"$OUT/build.log" 2>&1 \
    || { grep -v "Cannot export local symbol" "$OUT/build.log" | tail -40 >&2; echo "fuzz: build FAILED" >&2; exit 1; }
fi

if [ "${MERGE:-0}" = 1 ]; then
  "$bin" -merge=1 "$ROOT/fuzz/corpus/inspector" "$OUT/corpus"
  exit 0
fi
echo "fuzz: running for ${SECONDS_TO_RUN}s"
"$bin" -max_total_time="$SECONDS_TO_RUN" -timeout=10 -rss_limit_mb=1024 -max_len=400000 \
  -artifact_prefix="$OUT/artifacts/" -print_final_stats=1 \
  "$OUT/corpus" "$ROOT/fuzz/corpus/inspector" 2>"$OUT/fuzz.log" || {
    rc=$?
    tail -40 "$OUT/fuzz.log" >&2
    echo "fuzz: FAILED (exit $rc); inputs in $OUT/artifacts" >&2
    exit 1
  }
grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$OUT/fuzz.log" | sed 's/^/fuzz: /'
echo "fuzz: passed"
