#!/usr/bin/env python3
"""An upload cut off half-way leaves nothing behind and the image can be uploaded again.

    .venv/bin/python tests/integration/test_interrupted_upload.py
    GLIMPSE_URL=http://127.0.0.1:19292 \\
      GLIMPSE_STORE_DIR=/root/.cache/glimpse-anchors/glance/state/images \\
      .venv/bin/python tests/integration/test_interrupted_upload.py

For each way of dropping the connection (a reset: close with SO_LINGER 0; and a plain
close after half the body) it creates an image, sends ``PUT /v2/images/{id}/file`` with
``Content-Length: 32 MiB`` and only 16 MiB of body, and drops the connection. Then:

* the image is ``queued`` again within 10 s (Glance's behaviour: a failed upload
  restores ``queued``);
* the file store has no file for the image: for a server the test started, neither
  ``<tmpdir>/data/images/<id>`` nor any other path under ``data/images`` naming the image,
  and no stray file of 1 MiB or more anywhere under ``data/`` besides the SQLite files;
  with GLIMPSE_URL, the same store checks run on GLIMPSE_STORE_DIR if given;
* a full upload then succeeds: 204, ``active``, the right checksum / os_hash_value / size,
  ``<images>/<id>`` holds exactly the data, and the download matches.
"""

from __future__ import annotations

import hashlib
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import MiB, Api, run_test, server, wait_status  # noqa: E402

TOTAL = 32 * MiB
SENT = 16 * MiB
SQLITE_FILES = ("glimpse.db", "glimpse.db-wal", "glimpse.db-shm", "glimpse.db-journal")


def send_half_and_drop(url: str, image_id: str, data: bytes, reset: bool, before_drop=None) -> None:
    host, port = url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=30)
    head = (f"PUT /v2/images/{image_id}/file HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\n"
            f"Content-Type: application/octet-stream\r\n"
            f"Content-Length: {TOTAL}\r\n\r\n").encode()
    s.sendall(head)
    view = memoryview(data)[:SENT]
    for off in range(0, SENT, 256 * 1024):
        s.sendall(view[off:off + 256 * 1024])
    time.sleep(0.3)  # let the server get the bytes into its pipeline
    if before_drop:
        before_drop()
    if reset:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def store_leftovers(images_dir: str, image_id: str) -> list[str]:
    found = []
    if not os.path.isdir(images_dir):
        return found
    for root, dirs, files in os.walk(images_dir):
        for n in dirs + files:
            if image_id in n:
                found.append(os.path.join(root, n))
    return found


def big_stray_files(datadir: str) -> list[str]:
    out = []
    for root, _, files in os.walk(datadir):
        for n in files:
            p = os.path.join(root, n)
            if root == datadir and n in SQLITE_FILES:
                continue
            try:
                if os.path.getsize(p) >= MiB:
                    out.append(f"{p} ({os.path.getsize(p)} bytes)")
            except OSError:
                pass
    return out


def interrupted(r):
    with server() as srv:
        api = Api(srv.url)
        images_dir = srv.images_dir or os.environ.get("GLIMPSE_STORE_DIR")
        data = os.urandom(TOTAL)
        md5, sha = hashlib.md5(data).hexdigest(), hashlib.sha512(data).hexdigest()
        for mode, reset in (("reset", True), ("close", False)):
            img = api.create(name=f"interrupted-{mode}", disk_format="raw", container_format="bare")
            iid = img["id"]
            try:
                seen = []
                send_half_and_drop(srv.url, iid, data, reset,
                                   lambda: seen.append(api.image(iid).get("status")))
                r.eq(f"{mode}: status while half the body is sent", seen, ["saving"])
                status = wait_status(api, iid, "queued", timeout=10)
                r.eq(f"{mode}: image back to queued within 10 s", status, "queued")
                doc = api.image(iid)
                r.check(f"{mode}: no size/checksum/hash recorded",
                        doc.get("size") is None and doc.get("checksum") is None and doc.get("os_hash_value") is None,
                        {k: doc.get(k) for k in ("size", "checksum", "os_hash_value")})
                r.eq(f"{mode}: download of the queued image: 204", api.download(iid).status, 204)
                if images_dir:
                    r.check(f"{mode}: no <images>/<id> file", not os.path.exists(os.path.join(images_dir, iid)),
                            os.path.join(images_dir, iid))
                    left = store_leftovers(images_dir, iid)
                    r.check(f"{mode}: nothing under the store dir names the image", not left, left)
                else:
                    r.skip(f"{mode}: store checks", "store dir unknown (GLIMPSE_URL without GLIMPSE_STORE_DIR)")
                if srv.datadir:
                    stray = big_stray_files(srv.datadir)
                    r.check(f"{mode}: no stray file >= 1 MiB under data/ (partial bytes left behind)",
                            not stray, stray)

                up = api.upload(iid, data)
                r.eq(f"{mode}: full upload afterwards: 204", up.status, 204)
                doc = api.image(iid)
                r.eq(f"{mode}: active", doc.get("status"), "active")
                r.eq(f"{mode}: size", doc.get("size"), TOTAL)
                r.eq(f"{mode}: checksum", doc.get("checksum"), md5)
                r.eq(f"{mode}: os_hash_value", doc.get("os_hash_value"), sha)
                if images_dir:
                    p = os.path.join(images_dir, iid)
                    r.check(f"{mode}: <images>/<id> holds the data",
                            os.path.isfile(p) and os.path.getsize(p) == TOTAL,
                            os.path.getsize(p) if os.path.exists(p) else "missing")
                dl = api.download(iid)
                r.eq(f"{mode}: download sha512", hashlib.sha512(dl.body).hexdigest() if dl.status == 200 else dl.status,
                     sha)
            finally:
                api.delete(iid)
            if images_dir:
                r.check(f"{mode}: delete removes <images>/<id>", not os.path.exists(os.path.join(images_dir, iid)))
        if srv.managed:
            r.eq("server still alive after dropped connections", srv.proc.poll(), None)


if __name__ == "__main__":
    run_test("interrupted upload leaves nothing behind", interrupted)
