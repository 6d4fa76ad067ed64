#!/usr/bin/env bash
# scripts/test.sh - THE test command: bash scripts/test.sh
#
#   1. scripts/setup.sh          Debian packages + .venv with the OpenStack clients
#   2. swift build --build-tests debug build of everything, once
#   3. swift test                Swift Testing + XCTest unit tests
#   4. fuzz                      scripts/fuzz-inspector.sh: the format inspector under
#                                libFuzzer for FUZZ_SECONDS (default 60; 0 skips it)
#   5. integration tests         each script in INTEGRATION_TESTS below, run with
#                                .venv/bin/python against .build/debug/glimpse
#
# Prints "swift test: passed|FAILED", then one line per integration script, then
# "N passed, M failed" (N/M count integration scripts) and exits non-zero on any failure.
#
#   bash scripts/test.sh                          everything
#   bash scripts/test.sh test_scenario.py         only the named integration script(s)
#   SKIP_UNIT=1 bash scripts/test.sh              skip `swift test`
#   INTEGRATION_TIMEOUT=1800 bash scripts/test.sh per-script time limit in seconds
#   UNIT_TIMEOUT=1500 bash scripts/test.sh        time limit for `swift test` (a hung test
#                                                 must not eat CI's 90 minutes)
set -uo pipefail

# Integration scripts (tests/integration/<name>), in the order they run. Add new ones here.
INTEGRATION_TESTS=(
  test_scenario.py
  test_scenario_postgres.py
  test_interrupted_upload.py
  test_streaming_memory.py
  test_glance_dropin.py
  test_postgres_dropin.py
  test_v1_walkthrough.py
  test_registry.py
  test_keystone.py
  test_stores.py
  test_import.py
  test_scrubber.py
  test_tempest.py
  test_format_inspection.py
  test_multinode.py
)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
INTEGRATION_TIMEOUT="${INTEGRATION_TIMEOUT:-1800}"
UNIT_TIMEOUT="${UNIT_TIMEOUT:-1500}"
if [ $# -gt 0 ]; then INTEGRATION_TESTS=("$@"); fi
# The format inspector's fixtures are made by qemu-img, genisoimage, xorriso, sgdisk and sfdisk
# (scripts/setup.sh installs them): their tests fail, not skip, when one is missing.
export GLIMPSE_REQUIRE_TOOLS=1
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"

step() { printf '\n==== %s (%s)\n' "$*" "$(date +%H:%M:%S)"; }

step "setup"
bash scripts/setup.sh || { echo "scripts/setup.sh failed"; echo "0 passed, 1 failed"; exit 1; }

# bench/run.sh is not run here (it takes half an hour), but a syntax error in it must not land.
bash -n bench/run.sh && python3 -c 'import ast, sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]' bench/*.py \
  || { echo "bench/: syntax error"; echo "0 passed, 1 failed"; exit 1; }

step "swift build --build-tests"
if ! swift build --build-tests; then
  echo "swift build: FAILED"
  echo "0 passed, 1 failed"
  exit 1
fi
GLIMPSE_BIN="$ROOT/.build/debug/glimpse"
if [ ! -x "$GLIMPSE_BIN" ]; then
  echo "swift build: no executable at $GLIMPSE_BIN"
  echo "0 passed, 1 failed"
  exit 1
fi

# Real object stores for the Swift and S3 drivers' conformance suites and test_stores.py:
# OpenStack Swift (with its S3 API) and SeaweedFS, started (or reused) through
# ../shared/services/start-object-store.sh. With GLIMPSE_REQUIRE_OBJECT_STORE=1 a suite whose
# server is missing fails instead of being skipped.
SHARED="$(bash scripts/shared-dir.sh)" || echo "the shared folder (services/, conformance/) was not found at $SHARED; set GLIMPSE_SHARED"
export GLIMPSE_SHARED="$SHARED"
export GLIMPSE_SERVICES_DIR="${GLIMPSE_SERVICES_DIR:-$ROOT/.services}"
step "object stores"
# Stopped again when the tests end, with the Keystone test_keystone.py starts (GLIMPSE_KEEP_SERVICES=1
# leaves them running).
if [ "${GLIMPSE_KEEP_SERVICES:-0}" != 1 ]; then
  trap 'bash "$SHARED/services/stop-object-store.sh" >/dev/null 2>&1 || true
        bash "$SHARED/services/stop-keystone.sh" >/dev/null 2>&1 || true
        bash "$SHARED/services/stop-postgres.sh" >/dev/null 2>&1 || true' EXIT
fi
if objenv="$(bash "$SHARED/services/start-object-store.sh" swift seaweedfs)"; then
  eval "$objenv"
  export GLIMPSE_REQUIRE_OBJECT_STORE=1
else
  echo "object stores: could not start them (see above); the Swift and S3 tests will fail"
  export GLIMPSE_REQUIRE_OBJECT_STORE=1
fi

# A real PostgreSQL (../shared/services/start-postgres.sh: Debian's server, a private cluster on
# loopback): the catalog conformance and task-queue suites run on it as well as on SQLite, and
# the multi-node test uses it. GLIMPSE_REQUIRE_POSTGRES=1 makes a missing server a failure.
step "postgresql"
if pgenv="$(bash "$SHARED/services/start-postgres.sh")"; then
  eval "$pgenv"
else
  echo "postgresql: could not start it (see above); the PostgreSQL catalog tests will fail"
fi
export GLIMPSE_REQUIRE_POSTGRES=1

unit_rc=0
if [ "${SKIP_UNIT:-0}" = 1 ]; then
  unit_result="swift test: skipped (SKIP_UNIT=1)"
else
  step "swift test"
  # Services the tests need are started by their own scripts (the object stores above); Keystone for the Keystone tests
  # (tests/integration/test_keystone.py starts it through ../shared/services/start-keystone.sh
  # when GLIMPSE_KEYSTONE_URL is unset; tempest.sh starts its own).
  # Three invocations, so that what measures time or memory does not share two cores with the
  # rest: (1) everything else, in parallel; (2) the suites with network timeouts and retries
  # (web-download fetcher, Swift, S3); (3) the 1 GiB flat-memory tests, which measure the whole
  # test process's resident memory.
  # KeystoneClientTests/KeystoneMiddlewareTests: the client's 2 s request timeout against an
  # in-process stand-in, which every CPU-bound suite running beside it can starve.
  TIMED='SafeWebFetcherTests|SwiftStoreTests|S3StoreLiveTests|KeystoneClientTests|KeystoneMiddlewareTests'
  MEMORY='[Ll]argeObject'
  timeout --kill-after=30 "$UNIT_TIMEOUT" swift test --skip-build --skip "$TIMED|$MEMORY"
  unit_rc=$?
  step "swift test (timed suites)"
  timeout --kill-after=30 "$UNIT_TIMEOUT" swift test --skip-build --filter "$TIMED" --skip "$MEMORY"
  rc=$?; [ "$unit_rc" = 0 ] && unit_rc=$rc
  step "swift test (flat-memory tests, alone)"
  timeout --kill-after=30 "$UNIT_TIMEOUT" swift test --skip-build --filter "$MEMORY"
  rc=$?; [ "$unit_rc" = 0 ] && unit_rc=$rc
  if [ "$unit_rc" = 0 ]; then unit_result="swift test: passed"
  elif [ "$unit_rc" = 124 ]; then unit_result="swift test: FAILED (timed out after ${UNIT_TIMEOUT}s)"
  else unit_result="swift test: FAILED (exit $unit_rc)"; fi
fi

fuzz_rc=0
if [ "$FUZZ_SECONDS" = 0 ]; then
  fuzz_result="fuzz: skipped (FUZZ_SECONDS=0)"
else
  step "fuzz (format inspector, ${FUZZ_SECONDS}s)"
  bash scripts/fuzz-inspector.sh "$FUZZ_SECONDS"
  fuzz_rc=$?
  if [ "$fuzz_rc" = 0 ]; then fuzz_result="fuzz: passed"; else fuzz_result="fuzz: FAILED (exit $fuzz_rc)"; fi
fi

passed=0; failed=0; lines=()
for t in "${INTEGRATION_TESTS[@]}"; do
  step "integration: $t"
  start=$(date +%s)
  env -u GLIMPSE_URL GLIMPSE_BIN="$GLIMPSE_BIN" PYTHONUNBUFFERED=1 \
    timeout --kill-after=30 "$INTEGRATION_TIMEOUT" "$ROOT/.venv/bin/python" "tests/integration/$t"
  rc=$?
  secs=$(( $(date +%s) - start ))
  if [ "$rc" = 0 ]; then
    passed=$((passed + 1)); lines+=("  ok      $t (${secs}s)")
  else
    [ "$rc" = 124 ] && note=" - timed out after ${INTEGRATION_TIMEOUT}s" || note=""
    failed=$((failed + 1)); lines+=("  FAILED  $t (exit $rc, ${secs}s$note)")
  fi
done

step "summary"
echo "$unit_result"
echo "$fuzz_result"
echo "integration tests:"
printf '%s\n' "${lines[@]}"
echo "$passed passed, $failed failed"
[ "$unit_rc" = 0 ] && [ "$fuzz_rc" = 0 ] && [ "$failed" = 0 ]
