#!/usr/bin/env python3
"""Image bytes stream: a 2 GiB upload and download keep the server under 100 MiB resident.

    .venv/bin/python tests/integration/test_streaming_memory.py

Needs a server it starts itself (it reads /proc/<pid>/status), so it is skipped when
GLIMPSE_URL is set. The client never holds the image: the body is one pseudo-random
1 MiB block repeated, sent with Content-Length through http.client and hashed (md5 +
sha512) as it goes; the download is read and hashed 1 MiB at a time. VmRSS of the server
is sampled every 50 ms during both transfers.

Knobs: GLIMPSE_STREAM_MIB (default 2048) size of the image in MiB;
       GLIMPSE_RSS_LIMIT_MIB (default 100) the limit on the peak.
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (MiB, Api, RepeatingStream, RssSampler, connect, hashes_of_stream, run_test,  # noqa: E402
                    server)

SIZE = int(os.environ.get("GLIMPSE_STREAM_MIB", "2048")) * MiB
LIMIT_KIB = int(os.environ.get("GLIMPSE_RSS_LIMIT_MIB", "100")) * 1024


def streaming(r):
    with server(need_managed=True) as srv:
        api = Api(srv.url)
        base = srv.memory()
        r.note(f"server at rest: VmRSS {base.get('VmRSS', 0) / 1024:.1f} MiB, "
               f"VmHWM {base.get('VmHWM', 0) / 1024:.1f} MiB")
        img = api.create(name="streaming-2g", disk_format="raw", container_format="bare")
        iid = img["id"]
        body = RepeatingStream(SIZE)

        # ------------------------------------------------------------------ upload
        sampler = RssSampler(srv.pid, 0.05)
        sampler.start()
        t0 = time.monotonic()
        conn, basepath = connect(srv.url, timeout=600)
        conn.blocksize = MiB
        conn.putrequest("PUT", f"{basepath}/v2/images/{iid}/file")
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(SIZE))
        conn.endheaders()
        while True:
            chunk = body.read(MiB)
            if not chunk:
                break
            conn.send(chunk)
        resp = conn.getresponse()
        resp_body = resp.read()
        conn.close()
        up_s = time.monotonic() - t0
        up_peak = sampler.stop()
        r.eq("upload: 204", resp.status, 204)
        if resp.status != 204:
            r.note(f"upload answer: {resp_body[:300]!r}")
        r.eq("upload: client sent every byte", body.sent, SIZE)
        r.note(f"upload: {SIZE / MiB / up_s:.0f} MiB/s; server VmRSS peak {up_peak / 1024:.1f} MiB "
               f"({sampler.samples} samples)")
        r.check(f"upload: server VmRSS peak < {LIMIT_KIB // 1024} MiB", 0 < up_peak < LIMIT_KIB,
                f"{up_peak / 1024:.1f} MiB")

        md5_hex, sha_hex = body.md5.hexdigest(), body.sha512.hexdigest()
        doc = api.image(iid)
        r.eq("image: active", doc.get("status"), "active")
        r.eq("image: size", doc.get("size"), SIZE)
        r.eq("image: checksum = md5 of what was sent", doc.get("checksum"), md5_hex)
        r.eq("image: os_hash_value = sha512 of what was sent", doc.get("os_hash_value"), sha_hex)
        if srv.images_dir:
            p = os.path.join(srv.images_dir, iid)
            r.eq("store: data/images/<id> size", os.path.getsize(p) if os.path.exists(p) else None, SIZE)

        # ------------------------------------------------------------------ download
        sampler = RssSampler(srv.pid, 0.05)
        sampler.start()
        t0 = time.monotonic()
        conn, basepath = connect(srv.url, timeout=600)
        conn.request("GET", f"{basepath}/v2/images/{iid}/file")
        resp = conn.getresponse()
        got_md5, got_sha, n = hashes_of_stream(resp)
        conn.close()
        dn_s = time.monotonic() - t0
        dn_peak = sampler.stop()
        r.eq("download: 200", resp.status, 200)
        r.eq("download: Content-Length", resp.getheader("Content-Length"), str(SIZE))
        r.eq("download: bytes received", n, SIZE)
        r.eq("download: md5", got_md5, md5_hex)
        r.eq("download: sha512", got_sha, sha_hex)
        r.note(f"download: {SIZE / MiB / dn_s:.0f} MiB/s; server VmRSS peak {dn_peak / 1024:.1f} MiB "
               f"({sampler.samples} samples)")
        r.check(f"download: server VmRSS peak < {LIMIT_KIB // 1024} MiB", 0 < dn_peak < LIMIT_KIB,
                f"{dn_peak / 1024:.1f} MiB")

        end = srv.memory()
        print(f"peak server VmRSS: {max(up_peak, dn_peak) / 1024:.1f} MiB (upload {up_peak / 1024:.1f}, "
              f"download {dn_peak / 1024:.1f}); VmHWM {end.get('VmHWM', 0) / 1024:.1f} MiB", flush=True)
        r.check(f"server VmHWM (kernel's own peak) < {LIMIT_KIB // 1024} MiB", end.get("VmHWM", 0) < LIMIT_KIB,
                f"{end.get('VmHWM', 0) / 1024:.1f} MiB")
        r.eq("delete: 204", api.delete(iid).status, 204)


if __name__ == "__main__":
    run_test("streaming memory: 2 GiB up and down", streaming)
