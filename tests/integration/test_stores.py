#!/usr/bin/env python3
"""Three stores at once (file, OpenStack Swift, S3) against a real object store.

    .venv/bin/python tests/integration/test_stores.py

The object store is OpenStack Swift (tempauth) with its s3api, started by
``../shared/services/start-object-store.sh`` (or reused when GLIMPSE_SWIFT_AUTH_URL is set).
Glimpse is configured with ``enabled_backends = fs:file, swift:swift, s3:s3`` and checked:

1. discovery (``/v2/info/stores`` and ``/detail``) matches the configuration;
2. an image uploaded to each store (``X-Image-Meta-Store``) shows its ``stores``, is really
   in that store (looked up with python-swiftclient / boto3), downloads byte-identically,
   and one copy of an image held in two stores can be deleted;
3. a large image (2 GiB by default) through Glimpse into Swift and into S3: the server's
   resident memory stays under the limit, the Swift segments and the S3 parts are complete,
   and the download's sha512 matches;
4. faults: the object store stopped in the middle of an upload gives a 5xx with a clear
   message, the image is ``queued`` again, and once the store is back no segment or
   multipart upload is left; stopped during a download of an image that also lives in the
   file store, the download falls back (or ends short, never with wrong bytes);
5. throughput of 1 GiB up and down through each driver, beside the object store's own
   (python-swiftclient and boto3 straight to it).

Knobs: GLIMPSE_STORES_BIG_MIB (2048), GLIMPSE_STORES_BENCH_MIB (1024),
GLIMPSE_RSS_LIMIT_MIB (150), GLIMPSE_SKIP_FAULTS=1.
"""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (SHARED, REPO_ROOT, MiB, Api, RepeatingStream, RssSampler, SkipTest, connect,  # noqa: E402
                    run_test, server, wait_status)

BIG = int(os.environ.get("GLIMPSE_STORES_BIG_MIB", "2048")) * MiB
BENCH = int(os.environ.get("GLIMPSE_STORES_BENCH_MIB", "1024")) * MiB
RSS_LIMIT_KIB = int(os.environ.get("GLIMPSE_RSS_LIMIT_MIB", "150")) * 1024
SERVICES_DIR = os.environ.get("GLIMPSE_SERVICES_DIR") or os.path.join(REPO_ROOT, ".services")
# Segments / parts in MB as glance_store counts them: small enough that a 2 GiB image has many
# of each. The swift driver's MB is 1000 KiB (glance_store's ONE_MB = units.k * units.Ki), the
# s3 driver's a MiB.
SWIFT_LARGE_MB, SWIFT_CHUNK_MB = 100, 64
SWIFT_MB = 1000 * 1024
S3_LARGE_MB, S3_CHUNK_MB = 100, 16
BLOCK = MiB + 4093  # a block size that is no divisor of a segment: misplaced segments show


# --------------------------------------------------------------------------------------
# the object store
# --------------------------------------------------------------------------------------
def object_store_env() -> dict:
    """Start (or reuse) Swift + s3api and return its GLIMPSE_SWIFT_* facts."""
    if os.environ.get("GLIMPSE_SWIFT_AUTH_URL"):
        return {k: v for k, v in os.environ.items() if k.startswith("GLIMPSE_SWIFT")}
    return start_object_store()


def start_object_store() -> dict:
    """Run start-object-store.sh for Swift (it reuses a running one) and parse its exports."""
    out = subprocess.run(["bash", os.path.join(SHARED, "services", "start-object-store.sh"), "swift"],
                         env={**os.environ, "GLIMPSE_SERVICES_DIR": SERVICES_DIR}, capture_output=True,
                         text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"start-object-store.sh failed:\n{out.stderr[-3000:]}")
    env = {}
    for line in out.stdout.splitlines():
        if line.startswith("export ") and "=" in line:
            k, v = line[len("export "):].split("=", 1)
            env[k] = v.strip("'\"")
    return env


def stop_object_store():
    subprocess.run(["bash", os.path.join(SHARED, "services", "stop-object-store.sh"), "swift"],
                   env={**os.environ, "GLIMPSE_SERVICES_DIR": SERVICES_DIR}, capture_output=True, timeout=300)


def swift_conn(env):
    import swiftclient
    return swiftclient.client.Connection(authurl=env["GLIMPSE_SWIFT_AUTH_URL"], user=env["GLIMPSE_SWIFT_USER"],
                                         key=env["GLIMPSE_SWIFT_KEY"], auth_version="1", retries=0)


def s3_client(env):
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=env["GLIMPSE_SWIFT_S3_ENDPOINT"],
                        aws_access_key_id=env["GLIMPSE_SWIFT_S3_ACCESS_KEY"],
                        aws_secret_access_key=env["GLIMPSE_SWIFT_S3_SECRET_KEY"],
                        region_name=env.get("GLIMPSE_SWIFT_S3_REGION", "us-east-1"),
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                      signature_version="s3v4"))


def swift_names(env, container, prefix):
    """Every object in ``container`` (and glance_store's ``_segments`` companion) under ``prefix``."""
    conn = swift_conn(env)
    names = []
    for c in (container, container + "_segments"):
        try:
            _, objs = conn.get_container(c, prefix=prefix, full_listing=True)
            names += [f"{c}/{o['name']}" for o in objs]
        except Exception as e:  # noqa: BLE001 - a missing container holds nothing
            if "404" not in str(e):
                raise
    return names


def s3_uploads(env, bucket, prefix):
    resp = s3_client(env).list_multipart_uploads(Bucket=bucket, Prefix=prefix)
    return [u["Key"] for u in resp.get("Uploads", [])]


def s3_keys(env, bucket, prefix):
    resp = s3_client(env).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for o in resp.get("Contents", [])]


# --------------------------------------------------------------------------------------
# transfers
# --------------------------------------------------------------------------------------
def put_stream(url, image_id, size, store, timeout=900):
    """PUT a RepeatingStream of ``size`` bytes; returns (status, body, seconds, stream)."""
    body = RepeatingStream(size, block_size=BLOCK)
    conn, base = connect(url, timeout=timeout)
    t0 = time.monotonic()
    conn.putrequest("PUT", f"{base}/v2/images/{image_id}/file")
    conn.putheader("Content-Type", "application/octet-stream")
    conn.putheader("Content-Length", str(size))
    conn.putheader("X-Image-Meta-Store", store)
    conn.endheaders()
    try:
        while True:
            chunk = body.read(BLOCK)
            if not chunk:
                break
            conn.send(chunk)
    except OSError:
        pass  # the server answered early (an error); read it below
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data, time.monotonic() - t0, body


def get_hashed(url, image_id, timeout=900, query=""):
    """GET the image data; returns (status, sha512 hex, bytes, seconds, content-length)."""
    conn, base = connect(url, timeout=timeout)
    t0 = time.monotonic()
    conn.request("GET", f"{base}/v2/images/{image_id}/file{query}")
    resp = conn.getresponse()
    sha = hashlib.sha512()
    n = 0
    try:
        while True:
            chunk = resp.read(MiB)
            if not chunk:
                break
            sha.update(chunk)
            n += len(chunk)
    except Exception:  # noqa: BLE001 - a body cut short is what some checks look for
        pass
    conn.close()
    return resp.status, sha.hexdigest(), n, time.monotonic() - t0, int(resp.getheader("Content-Length") or -1)


def mbps(size, secs):
    return size / MiB / secs if secs > 0 else float("inf")


# --------------------------------------------------------------------------------------
# the test
# --------------------------------------------------------------------------------------
def write_config(workdir, env, container, bucket) -> str:
    path = os.path.join(workdir, "glance-api.conf")
    with open(path, "w") as fh:
        fh.write(f"""[DEFAULT]
enabled_backends = fs:file, swift:swift, s3:s3
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = {workdir}/fs
store_description = Local disk
weight = 10
[swift]
store_description = OpenStack Swift
weight = 50
swift_store_auth_version = 1
swift_store_auth_address = {env['GLIMPSE_SWIFT_AUTH_URL']}
swift_store_user = {env['GLIMPSE_SWIFT_USER']}
swift_store_key = {env['GLIMPSE_SWIFT_KEY']}
swift_store_container = {container}
swift_store_create_container_on_put = true
swift_store_large_object_size = {SWIFT_LARGE_MB}
swift_store_large_object_chunk_size = {SWIFT_CHUNK_MB}
swift_store_connect_timeout = 5
swift_store_read_timeout = 20
[s3]
store_description = S3 (Swift s3api)
weight = 30
s3_store_host = {env['GLIMPSE_SWIFT_S3_ENDPOINT']}
s3_store_access_key = {env['GLIMPSE_SWIFT_S3_ACCESS_KEY']}
s3_store_secret_key = {env['GLIMPSE_SWIFT_S3_SECRET_KEY']}
s3_store_region_name = {env.get('GLIMPSE_SWIFT_S3_REGION', 'us-east-1')}
s3_store_bucket = {bucket}
s3_store_create_bucket_on_put = true
s3_store_bucket_url_format = path
s3_store_large_object_size = {S3_LARGE_MB}
s3_store_large_object_chunk_size = {S3_CHUNK_MB}
glimpse_s3_connect_timeout = 5
glimpse_s3_read_timeout = 20
""")
    return path


def stores_test(r):
    if os.environ.get("GLIMPSE_URL"):
        raise SkipTest("configures its own server; GLIMPSE_URL is set")
    env = object_store_env()
    suffix = uuid.uuid4().hex[:8]
    # Distinct names: through s3api a bucket *is* a Swift container, and an S3 copy of an image
    # (key = image id) would replace the Swift store's manifest of the same name.
    container, bucket = f"glimpse-it-swift-{suffix}", f"glimpse-it-s3-{suffix}"
    workdir = tempfile.mkdtemp(prefix="glimpse-stores-")
    conf = write_config(workdir, env, container, bucket)
    with server(config=conf, need_managed=True, workdir=workdir) as srv:
        api = Api(srv.url)
        discovery(r, api)
        per_store(r, api, env, workdir, container, bucket)
        large_images(r, srv, api, env, container, bucket)
        throughput(r, srv, api, env, container, bucket)
        if os.environ.get("GLIMPSE_SKIP_FAULTS") == "1":
            r.skip("faults", "GLIMPSE_SKIP_FAULTS=1")
        else:
            faults(r, srv, api, env, container, bucket)


def discovery(r, api):
    info = api("GET", "/v2/info/stores")
    r.eq("info/stores: 200", info.status, 200)
    stores = info.json().get("stores", [])
    r.eq("info/stores: the configured ids in order", [s["id"] for s in stores], ["fs", "swift", "s3"])
    r.eq("info/stores: fs is the default", [s.get("default") for s in stores], ["true", None, None])
    r.eq("info/stores: descriptions", [s.get("description") for s in stores],
         ["Local disk", "OpenStack Swift", "S3 (Swift s3api)"])
    detail = api("GET", "/v2/info/stores/detail").json().get("stores", [])
    r.eq("info/stores/detail: types", [s.get("type") for s in detail], ["file", "swift", "s3"])
    r.eq("info/stores/detail: weights", [s.get("weight") for s in detail], [10, 50, 30])
    props = {s["id"]: s.get("properties", {}) for s in detail}
    r.check("info/stores/detail: no credentials in properties",
            all("key" not in k and "secret" not in k and "password" not in k for p in props.values() for k in p),
            props)


def per_store(r, api, env, workdir, container, bucket):
    data = os.urandom(3 * MiB + 17)
    want = hashlib.sha512(data).hexdigest()
    ids = {}
    for store in ("fs", "swift", "s3"):
        img = api.create(name=f"in-{store}", disk_format="raw", container_format="bare")
        iid = ids[store] = img["id"]
        resp = api("PUT", f"/v2/images/{iid}/file", body=data,
                   headers={"Content-Type": "application/octet-stream", "X-Image-Meta-Store": store})
        r.eq(f"{store}: upload 204", resp.status, 204)
        shown = api.image(iid)
        r.eq(f"{store}: image shows stores", shown.get("stores"), store)
        r.eq(f"{store}: os_hash_value", shown.get("os_hash_value"), want)
        got = api("GET", f"/v2/images/{iid}/file")
        r.check(f"{store}: download is byte-identical", got.status == 200 and got.body == data, got.status)
    r.check("fs: the file is in the data directory", os.path.isfile(os.path.join(workdir, "fs", ids["fs"])))
    r.check("swift: the object is in the container", swift_names(env, container, ids["swift"]) != [],
            swift_names(env, container, ids["swift"]))
    r.eq("s3: the object is in the bucket", s3_keys(env, bucket, ids["s3"]), [ids["s3"]])
    listed = {i["id"]: i.get("stores") for i in api("GET", "/v2/images?limit=100").json()["images"]}
    r.eq("list shows each image's store", [listed.get(ids[s]) for s in ("fs", "swift", "s3")], ["fs", "swift", "s3"])

    img = api.create(name="nowhere", disk_format="raw", container_format="bare")
    resp = api("PUT", f"/v2/images/{img['id']}/file", body=b"x",
               headers={"Content-Type": "application/octet-stream", "X-Image-Meta-Store": "tape"})
    r.eq("unknown store: 400", resp.status, 400)
    r.eq("unknown store: image still queued", api.image(img["id"]).get("status"), "queued")

    # One image in two stores (copy-image), then one copy removed.
    copied = copy_to(r, api, ids["swift"], "s3")
    if copied:
        r.eq("two stores: stores lists both", sorted(api.image(ids["swift"]).get("stores", "").split(",")),
             ["s3", "swift"])
        resp = api("DELETE", f"/v2/stores/swift/{ids['swift']}")
        r.eq("delete from one store: 204", resp.status, 204)
        r.eq("delete from one store: stores", api.image(ids["swift"]).get("stores"), "s3")
        r.eq("delete from one store: Swift no longer holds it", swift_names(env, container, ids["swift"]), [])
        got = api("GET", f"/v2/images/{ids['swift']}/file")
        r.check("delete from one store: still downloads from the other", got.body == data)
        r.eq("the last copy cannot be removed (403)", api("DELETE", f"/v2/stores/s3/{ids['swift']}").status, 403)
    api.delete(ids["s3"])
    r.eq("image delete removes the S3 object", s3_keys(env, bucket, ids["s3"]), [])


def copy_to(r, api, image_id, store) -> bool:
    """copy-image import into ``store``; False (a skip) when this Glimpse has no import yet."""
    methods = api("GET", "/v2/info/import")
    if methods.status != 200 or "copy-image" not in methods.json().get("import-methods", {}).get("value", []):
        r.skip("copy-image into a second store", "interoperable import is not built yet (issue 6)")
        return False
    resp = api("POST", f"/v2/images/{image_id}/import",
               body={"method": {"name": "copy-image"}, "stores": [store]})
    r.eq(f"copy-image to {store}: 202", resp.status, 202)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if store in (api.image(image_id).get("stores") or "").split(","):
            return True
        time.sleep(0.5)
    r.check(f"copy-image to {store}: done within 120 s", False)
    return False


def large_images(r, srv, api, env, container, bucket):
    for store in ("swift", "s3"):
        img = api.create(name=f"big-{store}", disk_format="raw", container_format="bare")
        iid = img["id"]
        sampler = RssSampler(srv.pid, 0.05)
        sampler.start()
        status, body, up_s, stream = put_stream(srv.url, iid, BIG, store)
        up_peak = sampler.stop()
        r.check(f"{store} {BIG // MiB} MiB: upload 204", status == 204, (status, body[:300]))
        _, sha = stream.expected_hashes()
        sampler = RssSampler(srv.pid, 0.05)
        sampler.start()
        status, got_sha, n, down_s, _ = get_hashed(srv.url, iid)
        down_peak = sampler.stop()
        r.eq(f"{store} {BIG // MiB} MiB: download sha512 matches", (status, n, got_sha), (200, BIG, sha))
        r.note(f"{store} {BIG // MiB} MiB: up {mbps(BIG, up_s):.0f} MiB/s (peak RSS {up_peak / 1024:.1f} MiB), "
               f"down {mbps(BIG, down_s):.0f} MiB/s (peak RSS {down_peak / 1024:.1f} MiB)")
        r.check(f"{store} {BIG // MiB} MiB: server RSS under {RSS_LIMIT_KIB // 1024} MiB",
                max(up_peak, down_peak) < RSS_LIMIT_KIB, f"{max(up_peak, down_peak) / 1024:.1f} MiB")
        if store == "swift":
            names = swift_names(env, container, iid)
            segments = [n for n in names if n != f"{container}/{iid}"]
            want = math.ceil(BIG / (SWIFT_CHUNK_MB * SWIFT_MB))
            r.eq("swift: one segment per chunk", len(segments), want)
            head = swift_conn(env).head_object(container, iid)
            r.check("swift: the manifest names the segments",
                    "x-object-manifest" in head or head.get("x-static-large-object") == "True", head)
            r.eq("swift: the manifest's size", int(head.get("content-length", -1)), BIG)
        else:
            head = s3_client(env).head_object(Bucket=bucket, Key=iid)
            r.eq("s3: object size", head["ContentLength"], BIG)
            parts = math.ceil(BIG / (S3_CHUNK_MB * MiB))
            r.check("s3: a multipart object with one part per chunk", head["ETag"].strip('"').endswith(f"-{parts}"),
                    head["ETag"])
            r.eq("s3: no multipart upload left open", s3_uploads(env, bucket, ""), [])
        api.delete(iid)
        left = swift_names(env, container, iid) if store == "swift" else s3_keys(env, bucket, iid)
        r.eq(f"{store}: deleting the image removes every segment/part", left, [])


def throughput(r, srv, api, env, container, bucket):
    rows = []
    for store in ("fs", "swift", "s3"):
        img = api.create(name=f"bench-{store}", disk_format="raw", container_format="bare")
        status, _, up_s, _ = put_stream(srv.url, img["id"], BENCH, store)
        st, _, n, down_s, _ = get_hashed(srv.url, img["id"])
        r.check(f"throughput {store}: transfers complete", status == 204 and st == 200 and n == BENCH, (status, st, n))
        rows.append((f"glimpse → {store}", mbps(BENCH, up_s), mbps(BENCH, down_s)))
        api.delete(img["id"])
    # The object store's own figures, from the same machine in the same run.
    name = f"raw-{uuid.uuid4().hex[:8]}"
    conn = swift_conn(env)
    conn.put_container(container)
    stream = RepeatingStream(BENCH, block_size=BLOCK)
    t0 = time.monotonic()
    conn.put_object(container, name, contents=stream, content_length=BENCH, chunk_size=MiB)
    up_s = time.monotonic() - t0
    t0 = time.monotonic()
    _, body = conn.get_object(container, name, resp_chunk_size=MiB)
    for _ in body:
        pass
    down_s = time.monotonic() - t0
    conn.delete_object(container, name)
    rows.append(("python-swiftclient → Swift", mbps(BENCH, up_s), mbps(BENCH, down_s)))
    s3 = s3_client(env)
    from boto3.s3.transfer import TransferConfig
    tc = TransferConfig(multipart_threshold=S3_LARGE_MB * MiB, multipart_chunksize=S3_CHUNK_MB * MiB, max_concurrency=1)
    # boto3 wants a seekable file: the same bytes from a temporary file (in the page cache).
    with tempfile.NamedTemporaryFile(dir=tempfile.gettempdir()) as fh:
        stream = RepeatingStream(BENCH, block_size=BLOCK)
        while chunk := stream.read(MiB):
            fh.write(chunk)
        fh.flush()
        t0 = time.monotonic()
        s3.upload_file(fh.name, bucket, name, Config=tc)
        up_s = time.monotonic() - t0
    r.eq("boto3 upload: the object is whole", s3.head_object(Bucket=bucket, Key=name)["ContentLength"], BENCH)
    t0 = time.monotonic()
    obj = s3.get_object(Bucket=bucket, Key=name)
    got = sum(len(c) for c in obj["Body"].iter_chunks(MiB))
    down_s = time.monotonic() - t0
    r.eq("boto3 download: the object is whole", got, BENCH)
    s3.delete_object(Bucket=bucket, Key=name)
    rows.append(("boto3 → Swift s3api", mbps(BENCH, up_s), mbps(BENCH, down_s)))
    r.note(f"throughput, {BENCH // MiB} MiB, MiB/s (debug build unless GLIMPSE_BIN says otherwise):")
    for label, up, down in rows:
        r.note(f"  {label:28s} up {up:7.1f}   down {down:7.1f}")


def faults(r, srv, api, env, container, bucket):
    """Stop the object store under an upload, and under a download that has a fallback."""
    for store in ("swift", "s3"):
        img = api.create(name=f"fault-{store}", disk_format="raw", container_format="bare")
        iid = img["id"]
        result = {}

        def upload():
            result["r"] = put_stream(srv.url, iid, BIG, store)

        t = threading.Thread(target=upload, daemon=True)
        t.start()
        time.sleep(4)  # well into the transfer (segments/parts already written)
        stopped_at = time.monotonic()
        stop_object_store()
        t.join(timeout=180)
        answered = time.monotonic() - stopped_at
        status, body, _, _ = result.get("r", (None, b"", 0, None))
        r.check(f"{store} down mid-upload: 5xx", status is not None and 500 <= status < 600, (status, body[:200]))
        r.check(f"{store} down mid-upload: a clear message, no address",
                b"127.0.0.1" not in body and b"http://" not in body and len(body) > 0, body[:300])
        r.check(f"{store} down mid-upload: answered within 60 s of the stop", answered < 60, f"{answered:.1f} s")
        r.eq(f"{store} down mid-upload: image back to queued", wait_status(api, iid, "queued", 30), "queued")
        start_object_store()  # start it again
        # What could not be deleted or aborted while the store was down is retried every second.
        deadline = time.monotonic() + 30
        while True:
            left = swift_names(env, container, iid) if store == "swift" else \
                s3_keys(env, bucket, iid) + s3_uploads(env, bucket, iid)
            if not left or time.monotonic() > deadline:
                break
            time.sleep(1)
        r.eq(f"{store} down mid-upload: nothing orphaned once the store is back", left, [])
        api.delete(iid)

    # A download from Swift (heaviest) of an image that also lives in the file store.
    img = api.create(name="fallback", disk_format="raw", container_format="bare")
    iid = img["id"]
    status, _, _, stream = put_stream(srv.url, iid, BIG, "fs")
    r.eq("fallback: upload to fs", status, 204)
    if not copy_to(r, api, iid, "swift"):
        api.delete(iid)
        return
    _, sha = stream.expected_hashes()
    result = {}

    def download():
        result["r"] = get_hashed(srv.url, iid)

    t = threading.Thread(target=download, daemon=True)
    t.start()
    time.sleep(2)
    stop_object_store()
    t.join(timeout=300)
    status, got_sha, n, _, length = result["r"]
    whole = n == BIG and got_sha == sha
    short = n < length
    r.check("store down mid-download: the download falls back (whole image) or ends short",
            status == 200 and (whole or short), (status, n, length))
    r.note(f"store down mid-download: {'fell back to the file store' if whole else 'ended short'} after {n} bytes")
    start_object_store()
    api.delete(iid)


if __name__ == "__main__":
    run_test("three stores: file, Swift, S3", stores_test)
