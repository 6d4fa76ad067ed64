#!/usr/bin/env bash
# scripts/setup.sh - install what the test suite needs; safe to run again and again.
#
#   Debian packages: curl, qemu-utils (qemu-img, for format tests), genisoimage, xorriso,
#                    gdisk (sgdisk), fdisk (sfdisk): the format inspector's fixtures; haproxy (scripts/multinode.sh's
#                    load balancer); openssl (test
#                    TLS certificates for web-download); xz-utils, zstd, unzip, zip (import plugins); python3-venv
#                    (only when the python3 on PATH cannot create a venv); wrk (bench/run.sh).
#   Python venv:     <repo>/.venv with python-openstackclient, openstacksdk and
#                    python-glanceclient (the real clients the integration tests drive), plus
#                    python-swiftclient and boto3 to look inside the object stores.
#
# Runs as root on Debian 12. Prints one line per thing it installs; silent otherwise.
# Env: PYTHON (default python3), VENV (default <repo>/.venv), SKIP_APT=1 to skip apt.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
VENV="${VENV:-$ROOT/.venv}"
PIP_PACKAGES=(python-openstackclient openstacksdk python-glanceclient python-swiftclient boto3)

say()  { echo "setup: $*"; }
fail() { echo "setup: ERROR: $*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null 2>&1 || fail "no '$PYTHON' on PATH (need CPython 3.9+)"

# ---- Debian packages -------------------------------------------------------------
missing=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_cmd curl     || missing+=(curl)
have_cmd qemu-img || missing+=(qemu-utils)
# The image_decompression plugin's tools (gzip is always there) and zip to make test archives.
have_cmd xz       || missing+=(xz-utils)
have_cmd zstd     || missing+=(zstd)
have_cmd unzip    || missing+=(unzip)
have_cmd zip      || missing+=(zip)
have_cmd prlimit  || missing+=(util-linux)
have_cmd openssl  || missing+=(openssl)
# The load balancer of scripts/multinode.sh (tests/integration/test_multinode.py).
have_cmd haproxy  || missing+=(haproxy)
have_cmd wrk      || missing+=(wrk)   # bench/run.sh (not run by test.sh)
have_cmd genisoimage || missing+=(genisoimage)
have_cmd xorriso  || missing+=(xorriso)
have_cmd sgdisk   || missing+=(gdisk)
have_cmd sfdisk || [ -x /usr/sbin/sfdisk ] || [ -x /sbin/sfdisk ] || missing+=(fdisk)
# A pyenv/compiled CPython ships venv + ensurepip itself; Debian's python3 needs python3-venv.
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi

if [ "${#missing[@]}" -gt 0 ] && [ "${SKIP_APT:-0}" != 1 ]; then
  have_cmd apt-get || fail "missing ${missing[*]} and no apt-get to install them"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then
    have_cmd sudo || fail "missing ${missing[*]}; run as root or install them"
    SUDO="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Only refresh the index if apt cannot find a candidate for some package.
  need_update=0
  for p in "${missing[@]}"; do
    cand="$(apt-cache policy "$p" 2>/dev/null | awk '/Candidate:/ {print $2}')"
    if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then need_update=1; fi
  done
  if [ "$need_update" = 1 ]; then
    say "apt-get update"
    $SUDO apt-get update -qq >/tmp/glimpse-setup-apt.log 2>&1 \
      || { tail -20 /tmp/glimpse-setup-apt.log >&2; fail "apt-get update failed"; }
  fi
  say "apt-get install ${missing[*]}"
  if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/glimpse-setup-apt.log 2>&1; then
    if [ "$need_update" = 0 ]; then   # a stale index can name files the mirror no longer has
      say "apt-get update (install failed with the old index)"
      $SUDO apt-get update -qq >>/tmp/glimpse-setup-apt.log 2>&1 || true
      $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >>/tmp/glimpse-setup-apt.log 2>&1 \
        || { tail -20 /tmp/glimpse-setup-apt.log >&2; fail "apt-get install ${missing[*]} failed (log: /tmp/glimpse-setup-apt.log)"; }
    else
      tail -20 /tmp/glimpse-setup-apt.log >&2
      fail "apt-get install ${missing[*]} failed (log: /tmp/glimpse-setup-apt.log)"
    fi
  fi
fi

# ---- Python virtualenv -----------------------------------------------------------
VPY="$VENV/bin/python"
if [ ! -x "$VPY" ] || ! "$VPY" -c 'import sys' >/dev/null 2>&1; then
  say "creating virtualenv $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV" || fail "could not create virtualenv at $VENV (python3-venv missing?)"
fi

if ! "$VPY" -c 'import openstack, openstackclient, glanceclient, swiftclient, boto3' >/dev/null 2>&1 \
   || [ ! -x "$VENV/bin/openstack" ]; then
  say "pip install ${PIP_PACKAGES[*]} (into $VENV)"
  "$VPY" -m pip install -q --disable-pip-version-check --upgrade pip >/tmp/glimpse-setup-pip.log 2>&1 || true
  "$VPY" -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}" >>/tmp/glimpse-setup-pip.log 2>&1 \
    || { tail -30 /tmp/glimpse-setup-pip.log >&2; fail "pip install failed (log: /tmp/glimpse-setup-pip.log)"; }
  "$VPY" -c 'import openstack, openstackclient, glanceclient, swiftclient, boto3' \
    || fail "clients installed but not importable from $VPY"
fi
exit 0
