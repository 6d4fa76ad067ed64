#!/usr/bin/env python3
"""Delayed delete and the scrubber, live: `glimpse serve`, `glimpse scrub` and the real clients.

    .venv/bin/python tests/integration/test_scrubber.py

1. Filesystem store, with the scrubber running inside `glimpse serve` (delayed_delete = true,
   scrub_time = 6, wakeup_time = 1): `openstack image delete` leaves the image pending_delete
   with its file on disk (rows as Glance writes them, read from the SQLite file);
   `glimpse scrub --restore` brings it back to active and it downloads with its checksum;
   deleted again, the file stays until scrub_time has passed and is then gone, the rows say
   deleted, and a restore is refused. An image without data is deleted at once.
2. OpenStack Swift (started by ../shared/services/start-object-store.sh), the in-API scrubber
   off: Swift stopped, `glimpse scrub` fails (exit 1), the image stays pending_delete and the
   object is still there once Swift is back; the next pass deletes it. Then `glimpse scrub
   --daemon` deletes another image by itself and stops on SIGTERM.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Api, SkipTest, glimpse_bin, openstack_cli, run_test, server  # noqa: E402

SCRUB_TIME = 6


def rows(db, image_id):
    """(images row, [image_locations rows]) read straight from the catalog file."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        con.row_factory = sqlite3.Row
        image = con.execute("SELECT status, deleted, deleted_at FROM images WHERE id = ?", (image_id,)).fetchone()
        locs = con.execute("SELECT value, status, deleted, deleted_at FROM image_locations WHERE image_id = ? ORDER BY id",
                           (image_id,)).fetchall()
        props = con.execute("SELECT count(*) FROM image_properties WHERE image_id = ? AND deleted = 0",
                            (image_id,)).fetchone()[0]
        return (dict(image) if image else None), [dict(x) for x in locs], props
    finally:
        con.close()


def scrub(config, workdir, *args, timeout=120):
    p = subprocess.run([glimpse_bin(), "scrub", "--config", config, *args], cwd=workdir, capture_output=True,
                       text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def filesystem_part(r):
    workdir = tempfile.mkdtemp(prefix="glimpse-scrub-")
    db = os.path.join(workdir, "catalog.db")
    config = os.path.join(workdir, "glance-api.conf")
    with open(config, "w") as fh:
        fh.write(f"""[DEFAULT]
delayed_delete = true
scrub_time = {SCRUB_TIME}
wakeup_time = 1
[database]
connection = sqlite:///{db}
[glance_store]
default_store = file
filesystem_store_datadir = {workdir}/images
""")
    payload = os.path.join(workdir, "payload.raw")
    with open(payload, "wb") as fh:
        fh.write(os.urandom(3 * 1024 * 1024 + 17))
    md5 = hashlib.md5(open(payload, "rb").read()).hexdigest()

    with server(config=config, need_managed=True, workdir=workdir) as srv:
        api = Api(srv.url)
        img = openstack_cli(srv.url, "image", "create", "--disk-format", "raw", "--container-format", "bare",
                            "--property", "os_distro=debian", "--file", payload, "scrub-fs", "-f", "json")
        iid = img["id"]
        _, locs, _ = rows(db, iid)
        path = locs[0]["value"][len("file://"):] if locs else ""
        r.check("fs: the data file exists", os.path.isfile(path), locs)

        openstack_cli(srv.url, "image", "delete", iid)
        image, locs, _ = rows(db, iid)
        r.eq("fs: image row pending_delete, deleted = 1",
             (image["status"], image["deleted"], image["deleted_at"] is not None), ("pending_delete", 1, True))
        r.eq("fs: location row pending_delete, deleted = 1", [(x["status"], x["deleted"]) for x in locs],
             [("pending_delete", 1)])
        r.check("fs: the file is still on disk", os.path.isfile(path))
        r.eq("fs: the image is gone from the API", api.show(iid).status, 404)

        rc, out = scrub(config, workdir, "--restore", iid)
        r.eq("fs: glimpse scrub --restore exits 0", rc, 0)
        shown = openstack_cli(srv.url, "image", "show", iid, "-f", "json")
        r.eq("fs: restored image is active", shown.get("status"), "active")
        image, locs, props = rows(db, iid)
        r.eq("fs: restored rows (deleted = 0, location active, property back)",
             (image["deleted"], image["deleted_at"], [(x["status"], x["deleted"]) for x in locs], props >= 1),
             (0, None, [("active", 0)], True))
        out_file = os.path.join(workdir, "download.raw")
        openstack_cli(srv.url, "image", "save", "--file", out_file, iid)
        r.eq("fs: restored image downloads with its checksum", hashlib.md5(open(out_file, "rb").read()).hexdigest(), md5)

        # Deleted again: the file stays until scrub_time has passed, then the scrubber in serve removes it.
        deleted_at = time.time()
        r.eq("fs: delete again", api.delete(iid).status, 204)
        gone_at = None
        kept_checks = 0
        deadline = deleted_at + SCRUB_TIME + 20
        while time.time() < deadline:
            now = time.time()
            if os.path.exists(path):
                if now < deleted_at + SCRUB_TIME - 1:
                    kept_checks += 1
            else:
                gone_at = now
                break
            time.sleep(0.2)
        r.check("fs: the file stayed while scrub_time had not passed", kept_checks > 5, kept_checks)
        r.check("fs: the file is gone after scrub_time", gone_at is not None)
        if gone_at is not None:
            r.check(f"fs: not deleted before scrub_time ({SCRUB_TIME} s)", gone_at >= deleted_at + SCRUB_TIME - 0.5,
                    f"gone {gone_at - deleted_at:.1f} s after the delete")
        deadline = time.time() + 10
        while time.time() < deadline and rows(db, iid)[0]["status"] != "deleted":
            time.sleep(0.2)
        image, locs, _ = rows(db, iid)
        r.eq("fs: scrubbed rows: image deleted, location deleted",
             (image["status"], image["deleted"], [(x["status"], x["deleted"]) for x in locs]),
             ("deleted", 1, [("deleted", 1)]))
        rc, out = scrub(config, workdir, "--restore", iid)
        r.check("fs: restoring a scrubbed image is refused with a clear message",
                rc != 0 and "ERROR" in out and "deleted" in out and workdir not in out, (rc, out[-300:]))
        rc, out = scrub(config, workdir, "--restore", str(uuid.uuid4()))
        r.check("fs: restoring an unknown image is refused", rc != 0 and "No image found" in out, (rc, out[-300:]))

        empty = api.create(name="no-data")
        r.eq("fs: delete an image without data", api.delete(empty["id"]).status, 204)
        image, _, _ = rows(db, empty["id"])
        r.eq("fs: an image without data goes straight to deleted", (image["status"], image["deleted"]), ("deleted", 1))
        log = srv.log_tail(400)
        r.check("fs: the scrubber ran inside serve", "image scrubbed" in log, log[-500:])


def swift_part(r):
    from test_stores import object_store_env, start_object_store, stop_object_store, swift_names  # noqa: PLC0415

    env = object_store_env()
    container = "scrub" + uuid.uuid4().hex[:8]
    workdir = tempfile.mkdtemp(prefix="glimpse-scrub-swift-")
    db = os.path.join(workdir, "catalog.db")
    config = os.path.join(workdir, "glance-api.conf")
    with open(config, "w") as fh:
        fh.write(f"""[DEFAULT]
delayed_delete = true
scrub_time = 0
wakeup_time = 1
glimpse_scrubber_in_api = false
enabled_backends = fs:file, swift:swift
[database]
connection = sqlite:///{db}
[glance_store]
default_backend = swift
[fs]
filesystem_store_datadir = {workdir}/fs
[swift]
swift_store_auth_version = 1
swift_store_auth_address = {env['GLIMPSE_SWIFT_AUTH_URL']}
swift_store_user = {env['GLIMPSE_SWIFT_USER']}
swift_store_key = {env['GLIMPSE_SWIFT_KEY']}
swift_store_container = {container}
swift_store_create_container_on_put = true
swift_store_connect_timeout = 3
swift_store_read_timeout = 10
""")
    with server(config=config, need_managed=True, workdir=workdir) as srv:
        api = Api(srv.url)
        img = api.create(name="scrub-swift", disk_format="raw", container_format="bare")
        iid = img["id"]
        r.eq("swift: upload", api.upload(iid, os.urandom(1024 * 1024)).status, 204)
        r.eq("swift: the object is in Swift", len(swift_names(env, container, iid)), 1)
        r.eq("swift: delete", api.delete(iid).status, 204)
        image, locs, _ = rows(db, iid)
        r.eq("swift: rows pending_delete", (image["status"], [x["status"] for x in locs]),
             ("pending_delete", ["pending_delete"]))

        stop_object_store()
        try:
            rc, out = scrub(config, workdir)
            r.check("swift down: glimpse scrub exits non-zero and names the image",
                    rc != 0 and iid in out and "pending_delete" in out, (rc, out[-400:]))
            r.check("swift down: no credentials in the output", env["GLIMPSE_SWIFT_KEY"] not in out, out[-400:])
            image, locs, _ = rows(db, iid)
            r.eq("swift down: the image stays pending_delete", (image["status"], [x["status"] for x in locs]),
                 ("pending_delete", ["pending_delete"]))
        finally:
            start_object_store()
        r.eq("swift back: the object is still there", len(swift_names(env, container, iid)), 1)
        rc, out = scrub(config, workdir)
        r.check("swift back: the next pass succeeds", rc == 0 and "scrubbed 1 image" in out, (rc, out[-400:]))
        r.eq("swift back: the object is gone", swift_names(env, container, iid), [])
        image, locs, _ = rows(db, iid)
        r.eq("swift back: rows deleted", (image["status"], [x["status"] for x in locs]), ("deleted", ["deleted"]))

        # The daemon: deletes what becomes due while it runs, stops on SIGTERM.
        img = api.create(name="scrub-daemon", disk_format="raw", container_format="bare")
        did = img["id"]
        api.upload(did, b"daemon" * 1000)
        daemon = subprocess.Popen([glimpse_bin(), "scrub", "--daemon", "--config", config], cwd=workdir,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            time.sleep(1.5)
            r.eq("daemon: image still there before the delete", len(swift_names(env, container, did)), 1)
            api.delete(did)
            deadline = time.time() + 20
            while time.time() < deadline and swift_names(env, container, did):
                time.sleep(0.3)
            r.eq("daemon: the object is deleted by the daemon", swift_names(env, container, did), [])
            r.eq("daemon: rows deleted", rows(db, did)[0]["status"], "deleted")
        finally:
            daemon.send_signal(signal.SIGTERM)
            try:
                rc = daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                daemon.kill()
                rc = daemon.wait()
        r.eq("daemon: stops cleanly on SIGTERM", rc, 0)


def body(r):
    if os.environ.get("GLIMPSE_URL"):
        raise SkipTest("configures its own servers; GLIMPSE_URL is set")
    filesystem_part(r)
    swift_part(r)


if __name__ == "__main__":
    run_test("delayed delete and the scrubber", body)
