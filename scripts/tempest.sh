#!/usr/bin/env bash
# Runs OpenStack's Tempest image tests (tempest + glance-tempest-plugin) against Glimpse, with a
# real Keystone, through ../shared/conformance/tempest-image.sh. Glimpse is started by that
# script once Keystone is up (--service-cmd), configured with [paste_deploy] flavor = keystone.
#
#   bash scripts/tempest.sh                    # the whole image suite (~280 tests)
#   bash scripts/tempest.sh --regex '...'      # any tempest-image.sh option passes through
#   GLIMPSE_TEMPEST_BASELINE=1 bash scripts/tempest.sh   # the same run against real Glance 33
#
# Features Glimpse does not have yet are switched off in tempest.conf, so their tests skip
# instead of failing (the same flags are used for the Glance baseline): the image cache API,
# the locations API and the http-store location tests. Glimpse runs with the stores and import
# settings tempest-image.sh gives real Glance: fast and slow file stores, a read-only http
# store, glance-direct / web-download / copy-image, web-download allowed to 127.0.0.1.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHARED="$(bash "$REPO/scripts/shared-dir.sh")" || true
BIN="${GLIMPSE_BIN:-$REPO/.build/debug/glimpse}"
PORT="${GLIMPSE_TEMPEST_PORT:-19392}"
KPORT="${GLIMPSE_TEMPEST_KEYSTONE_PORT:-15011}"
HTTP_PORT="${GLIMPSE_TEMPEST_HTTP_PORT:-18091}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/glimpse-tempest.XXXXXX")"
# Glance's metadef definition files, from the venv tempest-image.sh installs Glance into; the
# Glance baseline loads them with glance-manage db_load_metadefs, Glimpse with db load-metadefs.
METADEFS="${GLIMPSE_METADEFS:-${ANCHORS:-$HOME/.cache/glimpse-anchors}/venv/etc/glance/metadefs}"

FLAGS=(
  --set image.image_caching_enabled=false
  --set image-feature-enabled.manage_locations=false
  --set image-feature-enabled.http_store_enabled=false
)

if [ "${GLIMPSE_TEMPEST_BASELINE:-0}" = 1 ]; then
  exec bash "$SHARED/conformance/tempest-image.sh" --start-real-glance --url "http://127.0.0.1:$PORT" \
    --keystone-port "$KPORT" --http-port "$HTTP_PORT" --workdir "$WORK" "${FLAGS[@]}" "$@"
fi

[ -x "$BIN" ] || { echo "tempest.sh: build first (swift build), no $BIN" >&2; exit 2; }
mkdir -p "$WORK/glimpse"
# The service command runs after Keystone is up, with KEYSTONE_URL, SERVICE_USER,
# SERVICE_PASSWORD and SERVICE_PROJECT exported by tempest-image.sh.
cat > "$WORK/glimpse/start.sh" <<EOS
set -e
cd "$WORK/glimpse"
cat > glance-api.conf <<CONF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $PORT
enabled_backends = fast:file, slow:file, web:http
enabled_import_methods = [glance-direct,web-download,copy-image]
worker_self_reference_url = http://127.0.0.1:$PORT
[glance_store]
default_backend = fast
[fast]
filesystem_store_datadir = $WORK/glimpse/fast
store_description = Fast file store (default)
[slow]
filesystem_store_datadir = $WORK/glimpse/slow
store_description = Slow file store
[os_glance_staging_store]
filesystem_store_datadir = $WORK/glimpse/staging
[import_filtering_opts]
allowed_hosts = [127.0.0.1]
allowed_ports = []
[paste_deploy]
flavor = keystone
[keystone_authtoken]
www_authenticate_uri = \$KEYSTONE_URL
auth_url = \$KEYSTONE_URL
username = \$SERVICE_USER
password = \$SERVICE_PASSWORD
project_name = \$SERVICE_PROJECT
[image_format]
# As the Glance baseline runs (tempest-image.sh without --format-enforcement): ListUserImagesTest
# uploads bogus data under every disk_format.
require_image_format_match = false
CONF
if [ -d "$METADEFS" ]; then
  "$BIN" db load-metadefs --config glance-api.conf --log-level warning "$METADEFS" >> glimpse.log 2>&1
fi
exec "$BIN" serve --config glance-api.conf --log-level warning >> glimpse.log 2>&1
EOS
echo "tempest.sh: Glimpse log and tempest results in $WORK" >&2
bash "$SHARED/conformance/tempest-image.sh" --url "http://127.0.0.1:$PORT" --keystone-port "$KPORT" \
  --http-port "$HTTP_PORT" --workdir "$WORK" --service-cmd "bash $WORK/glimpse/start.sh" "${FLAGS[@]}" "$@"
