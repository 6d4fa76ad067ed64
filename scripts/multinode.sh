#!/usr/bin/env bash
# scripts/multinode.sh - several Glimpse nodes behind a load balancer, on one machine.
#
#   bash scripts/multinode.sh start        PostgreSQL + OpenStack Swift + 3 nodes + HAProxy;
#                                          prints the balancer's URL (last line of stdout)
#   bash scripts/multinode.sh status       what runs, one line each (exit 1 if a part is down)
#   bash scripts/multinode.sh stop         stops the nodes and the balancer, and PostgreSQL and
#                                          Swift when this script started them
#   bash scripts/multinode.sh kill-node N  SIGKILL node N (a crash, for fail-over demos)
#   bash scripts/multinode.sh stop-node N  SIGTERM node N (a graceful stop)
#   bash scripts/multinode.sh start-node N starts node N again
#   bash scripts/multinode.sh env          the run's facts as `export` lines (also in $RUN/env.sh)
#
# Every node runs `glimpse serve` with a configuration of its own ($RUN/nodeN/glance-api.conf):
# the same `[database] connection` (PostgreSQL), the same Swift container, the same Swift staging
# directory, its own `worker_self_reference_url` and loopback port. HAProxy balances round
# robin on 127.0.0.1:$PORT, checks each node's GET /versions every 500 ms (a dead node is out
# after two failed checks), and retries a request on another node only when no connection to
# the node could be made (the request never reached it, so this is safe for every method; a
# request a node was serving is never sent again). Every response carries
# `X-Glimpse-Upstream: <node name> <addr:port>` and HAProxy's log ($RUN/haproxy.log) has one
# line per request: `glimpse-lb <client> <X-Test-Id> <node name> <status> <term state> ...`.
# `start` begins with an empty catalog (a new database, or SQLite file) and a new container.
#
# Environment (all optional):
#   GLIMPSE_BIN                 server binary (default <repo>/.build/debug/glimpse)
#   GLIMPSE_MULTINODE_DIR       run directory: configs, pids, logs (default <repo>/.multinode)
#   GLIMPSE_MULTINODE_PORT      balancer port (default 19500); node N listens on PORT+N
#   GLIMPSE_MULTINODE_NODES     number of nodes (default 3)
#   GLIMPSE_MULTINODE_CATALOG   postgresql (default) or sqlite (one shared file; one machine only)
#   GLIMPSE_MULTINODE_CLAIM_TIMEOUT  [task] glimpse_claim_timeout in seconds (default 10): how
#                               long a dead node's import task waits before another node takes it
#   GLIMPSE_SERVICES_DIR        where PostgreSQL and Swift live (default <repo>/.services)
#   GLIMPSE_PG_PORT, GLIMPSE_SWIFT_PORT, GLIMPSE_SWIFT_OBJECT_PORT, ... as the scripts in
#                               ../shared/services read them
#   GLIMPSE_SHARED              the shared folder (default <repo>/../shared)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="$(bash "$ROOT/scripts/shared-dir.sh")" || true
export GLIMPSE_SERVICES_DIR="${GLIMPSE_SERVICES_DIR:-$ROOT/.services}"
BIN="${GLIMPSE_BIN:-$ROOT/.build/debug/glimpse}"
case "$BIN" in /*) ;; *) BIN="$PWD/$BIN" ;; esac
RUN="${GLIMPSE_MULTINODE_DIR:-$ROOT/.multinode}"
PORT="${GLIMPSE_MULTINODE_PORT:-19500}"
NODES="${GLIMPSE_MULTINODE_NODES:-3}"
CATALOG="${GLIMPSE_MULTINODE_CATALOG:-postgresql}"
CLAIM_TIMEOUT="${GLIMPSE_MULTINODE_CLAIM_TIMEOUT:-20}"
DBNAME=glimpse_multinode

say() { echo "multinode: $*" >&2; }
die() { echo "multinode: ERROR: $*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pid_of() { cat "$1" 2>/dev/null || true; }

# Waits until GET URL answers 200 (up to $2 seconds) or the process $3 exits.
wait_ok() {
  local url=$1 secs=$2 pid=${3:-} i
  for ((i = 0; i < secs * 5; i++)); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null)" = 200 ] && return 0
    if [ -n "$pid" ] && ! alive "$pid"; then return 1; fi
    sleep 0.2
  done
  return 1
}

# ---- services ---------------------------------------------------------------------------
start_postgres() {
  local pgport=${GLIMPSE_PG_PORT:-55432} out
  if port_open "$pgport"; then echo reused >"$RUN/postgres.owner"; else echo started >"$RUN/postgres.owner"; fi
  out="$(cd "$ROOT" && bash "$SHARED/services/start-postgres.sh")" || die "start-postgres.sh failed"
  eval "$out"
  # A database of its own, new on every start: the catalog begins empty.
  local psql
  psql="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)/psql"
  PGPASSWORD="$GLIMPSE_PG_PASSWORD" PGOPTIONS="-c client_min_messages=warning" "$psql" -h "$GLIMPSE_PG_HOST" -p "$GLIMPSE_PG_PORT" -U "$GLIMPSE_PG_USER" \
    -d "$GLIMPSE_PG_DATABASE" -v ON_ERROR_STOP=1 -qAt \
    -c "drop database if exists $DBNAME with (force)" -c "create database $DBNAME" >/dev/null \
    || die "could not create the database $DBNAME"
  CONNECTION="postgresql://$GLIMPSE_PG_USER:$GLIMPSE_PG_PASSWORD@$GLIMPSE_PG_HOST:$GLIMPSE_PG_PORT/$DBNAME"
  PSQL="$psql"
}

start_swift() {
  local swport=${GLIMPSE_SWIFT_PORT:-8080} out
  if port_open "$swport"; then echo reused >"$RUN/swift.owner"; else echo started >"$RUN/swift.owner"; fi
  out="$(cd "$ROOT" && bash "$SHARED/services/start-object-store.sh" swift)" || die "start-object-store.sh swift failed"
  eval "$out"
}

# ---- nodes ------------------------------------------------------------------------------
write_node_config() {
  local n=$1 dir="$RUN/node$1" nport=$((PORT + $1))
  mkdir -p "$dir"
  cat >"$dir/glance-api.conf" <<EOF
# Node $n of the multinode demo (scripts/multinode.sh).
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $nport
worker_self_reference_url = http://127.0.0.1:$nport
# glance-direct data staged through one node is imported by whichever node claims the task:
# it is staged in Swift ([os_glance_staging_store] below); this directory is only the node's
# scratch space for the decompression and conversion plugins.
node_staging_uri = file://$dir/scratch

[database]
connection = $CONNECTION

[glance_store]
stores = swift
default_store = swift
swift_store_auth_version = 1
swift_store_auth_address = $GLIMPSE_SWIFT_AUTH_URL
swift_store_user = $GLIMPSE_SWIFT_USER
swift_store_key = $GLIMPSE_SWIFT_KEY
swift_store_container = $CONTAINER
swift_store_create_container_on_put = true
# MB as glance_store counts them (1000 KiB): images from 32 MB on are segmented.
swift_store_large_object_size = 32
swift_store_large_object_chunk_size = 16
swift_store_connect_timeout = 5
swift_store_read_timeout = 60

[os_glance_staging_store]
glimpse_store_type = swift
swift_store_auth_version = 1
swift_store_auth_address = $GLIMPSE_SWIFT_AUTH_URL
swift_store_user = $GLIMPSE_SWIFT_USER
swift_store_key = $GLIMPSE_SWIFT_KEY
swift_store_container = $CONTAINER-staging
swift_store_create_container_on_put = true
swift_store_large_object_size = 32
swift_store_large_object_chunk_size = 16
swift_store_connect_timeout = 5
swift_store_read_timeout = 60

[task]
glimpse_claim_timeout = $CLAIM_TIMEOUT
EOF
}

start_node() {
  local n=$1 dir="$RUN/node$1" nport=$((PORT + $1)) pid
  alive "$(pid_of "$dir/pid")" && { say "node $n already runs (pid $(pid_of "$dir/pid"))"; return 0; }
  port_open "$nport" && die "port $nport is in use by another program (set GLIMPSE_MULTINODE_PORT)"
  (cd "$dir" && exec setsid "$BIN" serve --config "$dir/glance-api.conf" >>"$dir/server.log" 2>&1 </dev/null) &
  pid=$!
  echo "$pid" >"$dir/pid"
  wait_ok "http://127.0.0.1:$nport/versions" 60 "$pid" || {
    tail -n 30 "$dir/server.log" >&2
    die "node $n (pid $pid) did not answer on port $nport"
  }
  say "node $n: pid $pid, http://127.0.0.1:$nport (log $dir/server.log)"
}

# ---- the balancer ------------------------------------------------------------------------
write_haproxy_config() {
  local n
  {
    cat <<EOF
# HAProxy in front of the Glimpse nodes (scripts/multinode.sh).
global
    log stdout format raw local0
    maxconn 2000

defaults
    mode http
    log global
    timeout connect 2s
    timeout client 300s
    timeout server 300s
    timeout http-request 300s
    # Only connection failures are retried (the request never reached a node), and the retry
    # goes to another node. A request a node received is never sent to a second node.
    retries 2
    retry-on conn-failure
    option redispatch 1

frontend glimpse
    bind 127.0.0.1:$PORT
    http-request capture req.hdr(X-Test-Id) len 64
    # client, test id, node, status, termination state, bytes read, total ms, request line
    log-format "glimpse-lb %ci:%cp %hr %s %ST %ts %B %U %Tt %{+Q}r"
    default_backend nodes
    # On every response, also the ones HAProxy makes itself (502, 503, 504).
    http-after-response set-header X-Glimpse-Upstream "%s %si:%sp"

backend nodes
    balance roundrobin
    option httpchk GET /versions
    default-server inter 500ms fall 2 rise 2
EOF
    for ((n = 1; n <= NODES; n++)); do
      echo "    server node$n 127.0.0.1:$((PORT + n)) check"
    done
  } >"$RUN/haproxy.cfg"
}

start_haproxy() {
  local pid
  command -v haproxy >/dev/null || die "haproxy is not installed (bash scripts/setup.sh installs it)"
  alive "$(pid_of "$RUN/haproxy.pid")" && { say "haproxy already runs"; return 0; }
  port_open "$PORT" && die "port $PORT is in use by another program (set GLIMPSE_MULTINODE_PORT)"
  haproxy -c -q -f "$RUN/haproxy.cfg" || die "haproxy refused $RUN/haproxy.cfg"
  (exec setsid haproxy -db -f "$RUN/haproxy.cfg" >>"$RUN/haproxy.log" 2>&1 </dev/null) &
  pid=$!
  echo "$pid" >"$RUN/haproxy.pid"
  wait_ok "http://127.0.0.1:$PORT/versions" 20 "$pid" || { tail -n 20 "$RUN/haproxy.log" >&2; die "haproxy did not answer on $PORT"; }
  say "haproxy: pid $pid, http://127.0.0.1:$PORT (log $RUN/haproxy.log)"
}

write_env() {
  local n
  {
    echo "export GLIMPSE_MULTINODE_URL=http://127.0.0.1:$PORT"
    echo "export GLIMPSE_MULTINODE_DIR=$RUN"
    echo "export GLIMPSE_MULTINODE_NODES=$NODES"
    echo "export GLIMPSE_MULTINODE_CATALOG=$CATALOG"
    echo "export GLIMPSE_MULTINODE_CONNECTION='$CONNECTION'"
    echo "export GLIMPSE_MULTINODE_CONTAINER=$CONTAINER"
    for ((n = 1; n <= NODES; n++)); do echo "export GLIMPSE_MULTINODE_NODE${n}_URL=http://127.0.0.1:$((PORT + n))"; done
    env | grep -E '^GLIMPSE_(SWIFT|PG)_' | sort | sed "s/^\([A-Z0-9_]*\)=\(.*\)$/export \1='\2'/"
  } >"$RUN/env.sh"
}

# ---- commands ---------------------------------------------------------------------------
cmd_start() {
  [ -x "$BIN" ] || die "no glimpse binary at $BIN (swift build, or set GLIMPSE_BIN)"
  mkdir -p "$RUN"
  RUN="$(cd "$RUN" && pwd)"
  if [ -f "$RUN/env.sh" ] && alive "$(pid_of "$RUN/haproxy.pid")"; then
    die "already running (bash scripts/multinode.sh stop first)"
  fi
  rm -rf "$RUN/staging" "$RUN"/node* "$RUN/haproxy.log" "$RUN/haproxy.cfg" "$RUN/catalog.db"*
  mkdir -p "$RUN/staging"
  case "$CATALOG" in
    postgresql) start_postgres ;;
    sqlite) CONNECTION="sqlite:///$RUN/catalog.db" ;;
    *) die "GLIMPSE_MULTINODE_CATALOG must be postgresql or sqlite" ;;
  esac
  start_swift
  CONTAINER="glimpse-multinode-$(date +%s)"
  write_env
  local n
  for ((n = 1; n <= NODES; n++)); do write_node_config "$n"; done
  # One schema migration before the nodes start, so that they do not race to create it.
  (cd "$RUN/node1" && "$BIN" db sync --config "$RUN/node1/glance-api.conf" >"$RUN/db-sync.log" 2>&1) \
    || { cat "$RUN/db-sync.log" >&2; die "glimpse db sync failed"; }
  for ((n = 1; n <= NODES; n++)); do start_node "$n"; done
  write_haproxy_config
  start_haproxy
  say "catalog $CATALOG, Swift container $CONTAINER; facts in $RUN/env.sh"
  echo "http://127.0.0.1:$PORT"
}

load_env() {
  [ -f "$RUN/env.sh" ] || die "not started (no $RUN/env.sh)"
  # shellcheck disable=SC1091
  . "$RUN/env.sh"
  NODES=$GLIMPSE_MULTINODE_NODES
  PORT=${GLIMPSE_MULTINODE_URL##*:}
  CONNECTION=$GLIMPSE_MULTINODE_CONNECTION
  CONTAINER=$GLIMPSE_MULTINODE_CONTAINER
  CATALOG=$GLIMPSE_MULTINODE_CATALOG
}

cmd_status() {
  load_env
  local n pid rc=0
  for ((n = 1; n <= NODES; n++)); do
    pid=$(pid_of "$RUN/node$n/pid")
    if alive "$pid"; then echo "node$n   up    pid $pid  http://127.0.0.1:$((PORT + n))"
    else echo "node$n   DOWN"; rc=1; fi
  done
  pid=$(pid_of "$RUN/haproxy.pid")
  if alive "$pid"; then echo "haproxy up    pid $pid  $GLIMPSE_MULTINODE_URL"
  else echo "haproxy DOWN"; rc=1; fi
  echo "catalog $CATALOG  container $CONTAINER"
  return $rc
}

stop_pid() {  # SIGTERM, up to 15 s, then SIGKILL
  local pid=$1 i
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 75; i++)); do alive "$pid" || return 0; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
}

cmd_stop() {
  [ -d "$RUN" ] || { say "nothing to stop"; return 0; }
  local n
  stop_pid "$(pid_of "$RUN/haproxy.pid")"
  rm -f "$RUN/haproxy.pid"
  for d in "$RUN"/node*/; do
    [ -f "$d/pid" ] || continue
    stop_pid "$(pid_of "$d/pid")"
    rm -f "$d/pid"
  done
  if [ "$(cat "$RUN/swift.owner" 2>/dev/null)" = started ]; then
    (cd "$ROOT" && bash "$SHARED/services/stop-object-store.sh" swift >/dev/null 2>&1) || true
  fi
  if [ "$(cat "$RUN/postgres.owner" 2>/dev/null)" = started ]; then
    (cd "$ROOT" && bash "$SHARED/services/stop-postgres.sh" >/dev/null 2>&1) || true
  fi
  rm -f "$RUN/swift.owner" "$RUN/postgres.owner"
  say "stopped"
}

cmd_kill_node() {
  load_env
  local n=${1:?node number} pid
  pid=$(pid_of "$RUN/node$n/pid")
  alive "$pid" || die "node $n does not run"
  kill -KILL "$pid"
  say "node $n (pid $pid) killed"
}

cmd_stop_node() {
  load_env
  local n=${1:?node number}
  stop_pid "$(pid_of "$RUN/node$n/pid")"
  say "node $n stopped"
}

cmd_start_node() {
  load_env
  [ -x "$BIN" ] || die "no glimpse binary at $BIN"
  start_node "${1:?node number}"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  kill-node) cmd_kill_node "${2:-}" ;;
  stop-node) cmd_stop_node "${2:-}" ;;
  start-node) cmd_start_node "${2:-}" ;;
  env) load_env; cat "$RUN/env.sh" ;;
  *) echo "usage: $0 start|stop|status|kill-node N|stop-node N|start-node N|env" >&2; exit 2 ;;
esac
