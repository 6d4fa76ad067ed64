#!/usr/bin/env python3
"""Drop-in test: Glimpse serves a database and file store that real Glance 33 wrote.

    .venv/bin/python tests/integration/test_glance_dropin.py

(a) Start real Glance with ``../shared/conformance/glance-anchor.sh --start-glance`` (beside
    the repo; installs Glance 33 from PyPI the first time) on a free GLANCE_PORT, create
    three images through its API (5 MiB of data + custom properties + tags; queued with
    no data; data + public + protected), record each ``GET /v2/images/{id}`` and the
    sha512 of each download, then ``--stop-glance``.
(b) Start ``glimpse serve --config $ANCHORS/glance/etc/glance-api.conf`` on a free port.
(c) Compare: the same image ids in the list; field-by-field equal show JSON; equal
    download bytes; 204 for the queued image.
(d) Back again: Glimpse uploads data to the queued image and creates a fourth image; it
    is stopped, Glance is started again on the same config, database and store, and
    Glance must show those images active with Glimpse's checksums and serve the bytes.

Glance runs from a private anchors directory (DROPIN_ANCHORS, default
~/.cache/glimpse-anchors-dropin) so that this test never wipes or stops a Glance someone
started from the shared one (glance-anchor.sh --start-glance wipes $ANCHORS/glance/state).
If the shared anchors directory (~/.cache/glimpse-anchors) already has a Glance install,
its virtualenv is linked in rather than installed again.

Knobs:
  DROPIN_GLANCE_URL=http://127.0.0.1:19292  use this running Glance (noauth) instead of
        starting one; it is neither stopped nor restarted, and Glimpse runs beside it on
        the same database and store (DROPIN_GLANCE_CONF, default
        ~/.cache/glimpse-anchors/glance/etc/glance-api.conf). The images it creates are
        deleted at the end.
  DROPIN_GLANCE_ONLY=1   do step (a) only (no Glimpse needed): checks Glance itself.
  DROPIN_ANCHORS=DIR     the private anchors directory (see above).
  GLANCE_ANCHOR_SCRIPT   path of glance-anchor.sh (default <repo>/../shared/conformance/).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (SHARED, MiB, REPO_ROOT, Api, free_port, run_test, start_glimpse,  # noqa: E402
                    wait_http_ok)

SHARED_ANCHORS = os.environ.get("ANCHORS", os.path.expanduser("~/.cache/glimpse-anchors"))
PRIVATE_ANCHORS = os.environ.get("DROPIN_ANCHORS", os.path.expanduser("~/.cache/glimpse-anchors-dropin"))
ANCHOR_SCRIPT = os.environ.get("GLANCE_ANCHOR_SCRIPT") or os.path.join(SHARED, "conformance", "glance-anchor.sh")

COMPARED_FIELDS = ["id", "name", "status", "size", "checksum", "os_hash_algo", "os_hash_value",
                   "disk_format", "container_format", "visibility", "protected", "min_disk",
                   "min_ram", "owner", "created_at", "updated_at", "virtual_size", "self", "file",
                   "schema", "os_hidden"]
BASE_KEYS = set(COMPARED_FIELDS) | {"tags", "stores", "locations", "direct_url"}


# --------------------------------------------------------------------------------------
# the anchor Glance
# --------------------------------------------------------------------------------------
class Glance:
    """Real Glance: one the test starts with the anchor script, or DROPIN_GLANCE_URL's."""

    def __init__(self):
        self.reuse_url = os.environ.get("DROPIN_GLANCE_URL", "").rstrip("/")
        self.anchors = SHARED_ANCHORS if self.reuse_url else PRIVATE_ANCHORS
        self.gdir = os.path.join(self.anchors, "glance")
        self.conf = os.environ.get("DROPIN_GLANCE_CONF") or os.path.join(self.gdir, "etc", "glance-api.conf")
        self.port = None
        self.url = self.reuse_url or None
        self.log = os.path.join("/tmp", f"glimpse-dropin-anchor.{os.getpid()}.log")

    @property
    def managed(self):
        return not self.reuse_url

    def _anchor(self, *args, timeout=1800):
        env = {**os.environ, "ANCHORS": self.anchors, "GLANCE_PORT": str(self.port)}
        with open(self.log, "ab") as fh:
            p = subprocess.run(["bash", ANCHOR_SCRIPT, *args], env=env, stdout=fh, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=timeout)
        return p.returncode

    def _log_tail(self, n=40):
        try:
            with open(self.log, errors="replace") as fh:
                return "".join(fh.readlines()[-n:])
        except OSError:
            return ""

    def start(self):
        if not self.managed:
            if not wait_http_ok(self.url, timeout=5):
                raise RuntimeError(f"DROPIN_GLANCE_URL {self.url} does not answer GET /versions")
            return
        if not os.path.isfile(ANCHOR_SCRIPT):
            raise RuntimeError(f"glance-anchor.sh not found at {ANCHOR_SCRIPT} (shared/ must sit beside the repo; "
                               f"or set GLANCE_ANCHOR_SCRIPT)")
        shared_venv = os.path.join(SHARED_ANCHORS, "glance", "venv")
        my_venv = os.path.join(self.gdir, "venv")
        if (not os.path.lexists(my_venv) and os.path.realpath(shared_venv) != os.path.realpath(my_venv)
                and os.path.exists(os.path.join(shared_venv, "bin", "uwsgi"))):
            os.makedirs(self.gdir, exist_ok=True)
            os.symlink(shared_venv, my_venv)
        self._anchor("--stop-glance", timeout=120)  # a leftover from an interrupted run
        self.port = free_port()
        print(f"     starting real Glance on port {self.port} (anchors {self.anchors}; log {self.log})", flush=True)
        rc = self._anchor("--start-glance")
        if rc != 0:
            raise RuntimeError(f"glance-anchor.sh --start-glance exited {rc}:\n{self._log_tail()}")
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.managed:
            rc = self._anchor("--stop-glance", timeout=120)
            if rc != 0:
                raise RuntimeError(f"glance-anchor.sh --stop-glance exited {rc}:\n{self._log_tail()}")

    def restart_same_state(self):
        """Start Glance again on the state the anchor made (its --start-glance would wipe it)."""
        if not self.managed:
            return
        ini = os.path.join(self.gdir, "etc", "glance-uwsgi.ini")
        state = os.path.join(self.gdir, "state")
        with open(os.path.join(state, "logs", "uwsgi-stdout.log"), "ab") as fh:
            proc = subprocess.Popen([os.path.join(self.gdir, "venv", "bin", "uwsgi"), "--ini", ini],
                                    stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        with open(os.path.join(state, "uwsgi.pid"), "w") as fh:
            fh.write(str(proc.pid))
        if not wait_http_ok(self.url, timeout=120, proc=proc):
            try:
                os.kill(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            raise RuntimeError(f"Glance did not come back up at {self.url}")


def record(api: Api, ids) -> dict:
    out = {}
    for i in ids:
        show = api.show(i)
        dl = api.download(i)
        out[i] = {
            "show_status": show.status,
            "show": show.json() if show.status == 200 else None,
            "file_status": dl.status,
            "file_sha512": hashlib.sha512(dl.body).hexdigest() if dl.status == 200 else None,
            "file_len": len(dl.body),
            "content_md5": dl.header("Content-MD5"),
        }
    return out


# --------------------------------------------------------------------------------------
# the test
# --------------------------------------------------------------------------------------
def dropin(r):
    glance = Glance()
    glance_only = os.environ.get("DROPIN_GLANCE_ONLY") == "1"
    data1 = os.urandom(5 * MiB)
    data3 = os.urandom(MiB + 123)
    created = []
    glance_running = False
    try:
        # ---------------------------------------------------------------- (a) real Glance
        glance.start()
        glance_running = True
        g = Api(glance.url)
        r.note(f"Glance at {glance.url}, config {glance.conf}")
        tag = f"dropin-{os.getpid()}-{int(time.time())}"
        im1 = g.create(name="dropin-data", disk_format="raw", container_format="bare", min_disk=1,
                       min_ram=64, tags=[tag, "alpha", "beta"], os_distro="cirros",
                       hw_disk_bus="scsi", glimpse_note="written by Glance")
        created.append(im1["id"])
        r.eq("glance: PUT 5 MiB: 204", g.upload(im1["id"], data1).status, 204)
        # Glance 33 refuses data that does not match disk_format (415), so image 2 is qcow2
        # only if qemu-img can make a real one for step (d).
        qcow2 = _qcow2_bytes() is not None
        im2 = g.create(name="dropin-queued", disk_format="qcow2" if qcow2 else "raw",
                       container_format="bare", tags=[tag])
        created.append(im2["id"])
        im3 = g.create(name="dropin-public", disk_format="raw", container_format="bare",
                       visibility="public", protected=True, tags=[tag])
        created.append(im3["id"])
        r.eq("glance: PUT 1 MiB: 204", g.upload(im3["id"], data3).status, 204)
        ids = [im1["id"], im2["id"], im3["id"]]
        before = record(g, ids)
        list_before = set(g.list_ids())
        b1, b2, b3 = (before[i] for i in ids)
        r.eq("glance: image 1 active", b1["show"]["status"], "active")
        r.eq("glance: image 1 checksum = md5 of data", b1["show"]["checksum"], hashlib.md5(data1).hexdigest())
        r.eq("glance: image 1 os_hash_value = sha512 of data", b1["show"]["os_hash_value"],
             hashlib.sha512(data1).hexdigest())
        r.eq("glance: image 1 download sha512", b1["file_sha512"], hashlib.sha512(data1).hexdigest())
        r.eq("glance: image 1 Content-MD5 is the hex md5", b1["content_md5"], hashlib.md5(data1).hexdigest())
        r.eq("glance: image 1 custom property", b1["show"].get("hw_disk_bus"), "scsi")
        r.eq("glance: image 2 queued", b2["show"]["status"], "queued")
        r.eq("glance: image 2 download: 204", b2["file_status"], 204)
        r.eq("glance: image 2 download: empty body", b2["file_len"], 0)
        r.check("glance: image 3 active, public, protected",
                (b3["show"]["status"], b3["show"]["visibility"], b3["show"]["protected"]) == ("active", "public", True),
                b3["show"])
        r.eq("glance: image 3 download sha512", b3["file_sha512"], hashlib.sha512(data3).hexdigest())
        r.check("glance: list has the 3 images", set(ids) <= list_before)
        r.note("glance image 1: " + json.dumps(b1["show"], sort_keys=True))
        store = _store_dir(glance.conf)
        if store:
            r.check("glance: file store holds image 1 at <datadir>/<id>",
                    os.path.getsize(os.path.join(store, im1["id"])) == len(data1))
        if glance_only:
            r.note("DROPIN_GLANCE_ONLY=1: not starting Glimpse")
            return
        if glance.managed:
            glance.stop()
            glance_running = False
            r.note("Glance stopped")

        # ---------------------------------------------------------------- (b) Glimpse
        if not os.path.isfile(glance.conf):
            raise RuntimeError(f"Glance config not found: {glance.conf}")
        srv = start_glimpse(config=glance.conf)
        try:
            m = Api(srv.url)
            # ------------------------------------------------------------ (c) compare
            after = record(m, ids)
            list_after = set(m.list_ids())
            if glance.managed:
                r.eq("glimpse: list has the same image ids", list_after, list_before)
            else:
                r.check("glimpse: list has the 3 images", set(ids) <= list_after)
            for n, i in enumerate(ids, 1):
                b, a = before[i], after[i]
                r.eq(f"image {n}: GET status", a["show_status"], 200)
                if a["show"] is None:
                    continue
                for f in COMPARED_FIELDS:
                    r.eq(f"image {n}: {f}", a["show"].get(f, "<missing>"), b["show"].get(f, "<missing>"))
                r.eq(f"image {n}: tags (as a set)", set(a["show"].get("tags", [])), set(b["show"].get("tags", [])))
                r.eq(f"image {n}: custom properties", _custom(a["show"]), _custom(b["show"]))
                r.eq(f"image {n}: stores", a["show"].get("stores", "<missing>"), b["show"].get("stores", "<missing>"))
                r.eq(f"image {n}: the same set of keys", sorted(a["show"]), sorted(b["show"]))
                r.eq(f"image {n}: download status", a["file_status"], b["file_status"])
                r.eq(f"image {n}: download sha512", a["file_sha512"], b["file_sha512"])
                if b["content_md5"]:
                    r.eq(f"image {n}: Content-MD5", a["content_md5"], b["content_md5"])
            r.eq("glimpse: queued image download: 204", after[im2["id"]]["file_status"], 204)

            # ------------------------------------------------------------ (d) and back
            data2 = _qcow2_bytes() if qcow2 else os.urandom(2 * MiB + 7)
            data4 = os.urandom(3 * MiB)
            r.eq("glimpse: PUT data into Glance's queued image: 204", m.upload(im2["id"], data2).status, 204)
            im4 = m.create(name="dropin-by-glimpse", disk_format="raw", container_format="bare",
                           tags=[tag, "glimpse"], origin="glimpse")
            created.append(im4["id"])
            r.eq("glimpse: PUT data into a new image: 204", m.upload(im4["id"], data4).status, 204)
            mine = record(m, [im2["id"], im4["id"]])
        finally:
            rc = srv.stop()
            r.note(f"glimpse stopped (exit status {rc})")

        if glance.managed:
            glance.restart_same_state()
            glance_running = True
            r.note("Glance started again on the same state")
        back = record(g, [im2["id"], im4["id"]])
        for name, i, data in (("image 2 (uploaded by glimpse)", im2["id"], data2),
                              ("image 4 (created by glimpse)", im4["id"], data4)):
            show = back[i]["show"] or {}
            r.eq(f"glance again: {name} GET 200", back[i]["show_status"], 200)
            r.eq(f"glance again: {name} active", show.get("status"), "active")
            r.eq(f"glance again: {name} size", show.get("size"), len(data))
            r.eq(f"glance again: {name} checksum", show.get("checksum"), hashlib.md5(data).hexdigest())
            r.eq(f"glance again: {name} os_hash_value", show.get("os_hash_value"), hashlib.sha512(data).hexdigest())
            r.eq(f"glance again: {name} download sha512", back[i]["file_sha512"], hashlib.sha512(data).hexdigest())
            r.same_doc(f"glance again: {name} show equals glimpse's", _norm(show), _norm(mine[i]["show"]))
        # virtual_size of a qcow2 comes from the format inspector (a later issue); until it lands
        # Glimpse leaves it null, so only check it when GLIMPSE_EXPECT_INSPECTOR=1.
        if qcow2 and os.environ.get("GLIMPSE_EXPECT_INSPECTOR") == "1":
            r.eq("glance again: image 2 virtual_size (qcow2 of 10 MiB)",
                 (back[im2["id"]]["show"] or {}).get("virtual_size"), 10 * MiB)
        r.eq("glance again: image 4 custom property", (back[im4["id"]]["show"] or {}).get("origin"), "glimpse")
        r.same_doc("glance again: image 1 unchanged", _norm(record(g, [im1["id"]])[im1["id"]]["show"]),
                   _norm(b1["show"]))
    finally:
        if glance_running and not glance.managed:
            g = Api(glance.url)
            for i in created:
                g.patch(i, [{"op": "replace", "path": "/protected", "value": False}])
                g.delete(i)
        if glance_running and glance.managed:
            glance.stop()


_QCOW2 = []


def _qcow2_bytes() -> bytes | None:
    """A real, empty qcow2 image of 10 MiB virtual size (from qemu-img), or None."""
    if not _QCOW2:
        import shutil
        import tempfile
        data = None
        if shutil.which("qemu-img"):
            with tempfile.TemporaryDirectory() as d:
                f = os.path.join(d, "x.qcow2")
                if subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", f, "10M"],
                                  capture_output=True).returncode == 0:
                    with open(f, "rb") as fh:
                        data = fh.read()
        _QCOW2.append(data)
    return _QCOW2[0]


def _norm(doc):
    """A show document with its tags sorted (tag order is not part of the API)."""
    if not isinstance(doc, dict):
        return doc
    return {**doc, "tags": sorted(doc.get("tags") or [])}


def _custom(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in BASE_KEYS}


def _store_dir(conf_path: str) -> str | None:
    """The file store directory of a glance-api.conf (multi-store [fs] or [glance_store])."""
    import configparser
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        cp.read(conf_path)
    except configparser.Error:
        return None
    for sect in ("fs", "glance_store"):
        if cp.has_option(sect, "filesystem_store_datadir"):
            return cp.get(sect, "filesystem_store_datadir")
    return None


if __name__ == "__main__":
    run_test("drop-in: Glimpse on real Glance's database and store", dropin)
