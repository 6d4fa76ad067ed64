#!/usr/bin/env bash
# scripts/shared-dir.sh - prints the path of the shared folder (services/, conformance/) the
# tests and the benchmark use: $GLIMPSE_SHARED when set, else <repo>/../shared, else the
# ../shared beside the repository this checkout was cloned from (a clean clone in /tmp of a
# working tree that sits beside shared/). Exits 1, printing the first candidate, when none exists.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "${GLIMPSE_SHARED:-}" ]; then echo "$GLIMPSE_SHARED"; exit 0; fi
candidates=("$ROOT/../shared")
origin="$(git -C "$ROOT" config --get remote.origin.url 2>/dev/null || true)"
case "$origin" in
  /*) candidates+=("$origin/../shared");;
  file://*) candidates+=("${origin#file://}/../shared");;
esac
for c in "${candidates[@]}"; do
  if [ -d "$c/services" ]; then (cd "$c" && pwd); exit 0; fi
done
echo "${candidates[0]}"
exit 1
