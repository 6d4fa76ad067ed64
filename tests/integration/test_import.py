#!/usr/bin/env python3
"""Interoperable import through the real ``openstack`` CLI, and the task queue surviving a crash.

    .venv/bin/python tests/integration/test_import.py

Each section starts its own ``glimpse serve`` (SQLite + file stores in a temp dir):

1. glance-direct: ``openstack image create --import --file`` stages and imports; the image is
   active with the file's sha512, its task is listed by ``GET /v2/images/{id}/tasks`` and
   ``/v2/tasks``, and nothing is left in the staging area.
2. copy-image: ``openstack image import --method copy-image --store fs2`` on a two-store
   (``enabled_backends``) server copies the data into the second store.
3. web-download: ``openstack image import --method web-download`` and glanceclient's
   ``image-create-via-import`` from an HTTP server in this process that throttles and drops the connection halfway (the import resumes with a Range
   request and the sha512 is right), one that lies about its length (the task fails with the
   reason and the image is queued again), and URLs aimed at loopback, link-local, a private
   range, ``0x7f.1``, a name resolving to loopback, and redirects to them (refused).
4. Shutdown in the middle of a (1.5 GiB glance-direct) import: SIGTERM gives the task back
   (``pending``) and the restarted server picks it up at once; SIGKILL then leaves it claimed,
   and after a restart the stale claim is taken over, the image becomes active with the right
   sha512, exactly one file is in the store and no staged data is left.
5. image_conversion: a qcow2 made by qemu-img imported with ``output_format = raw`` becomes a
   raw image whose bytes equal ``qemu-img convert``'s output and whose ``virtual_size`` is
   right; a hostile qcow2 (backing file, external data file) is refused before qemu-img runs
   on it (a wrapper records every qemu-img invocation).
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import pty
import shutil
import signal
import socket
import socketserver
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (MiB, Api, openstack_cli, run_test, server, start_glimpse, write_random_file,  # noqa: E402
                    hashes_of_file)


def write_config(path: str, text: str) -> str:
    with open(path, "w") as fh:
        fh.write(text)
    return path


def wait_for(fn, timeout: float = 60.0, interval: float = 0.2):
    """Poll ``fn`` until it returns something truthy; return the last value."""
    deadline = time.monotonic() + timeout
    value = fn()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = fn()
    return value


def image_tasks(api: Api, image_id: str) -> list:
    r = api("GET", f"/v2/images/{image_id}/tasks")
    return (r.json() or {}).get("tasks", []) if r.status == 200 else []


def final_task(api: Api, image_id: str, timeout: float = 60.0) -> dict:
    def done():
        tasks = image_tasks(api, image_id)
        return tasks[0] if tasks and tasks[0]["status"] in ("success", "failure") else None
    return wait_for(done, timeout) or (image_tasks(api, image_id) or [{}])[0]


def settled(api: Api, image_id: str, timeout: float = 90.0) -> dict:
    """The image once its import task has finished (web-download images start out queued)."""
    final_task(api, image_id, timeout)
    return api.image(image_id)


def staged_files(workdir: str) -> list:
    d = os.path.join(workdir, "data", "staging")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


# --------------------------------------------------------------------------------------
# 1. glance-direct
# --------------------------------------------------------------------------------------
def glance_direct(r, tmp):
    with server() as srv:
        api = Api(srv.url)
        path = os.path.join(tmp, "direct.img")
        write_random_file(path, 24 * MiB)
        md5_hex, sha512_hex, size = hashes_of_file(path)
        info = api("GET", "/v2/info/import").json()
        methods = info["import-methods"]["value"]
        r.check("info/import offers glance-direct and web-download",
                "glance-direct" in methods and "web-download" in methods, methods)
        created = api("POST", "/v2/images", {"name": "probe", "disk_format": "raw", "container_format": "bare"})
        r.check("create answers OpenStack-image-import-methods",
                "glance-direct" in (created.header("OpenStack-image-import-methods") or ""), dict(created.headers))
        img = openstack_cli(srv.url, "image", "create", "--import", "--file", path, "--disk-format", "raw",
                            "--container-format", "bare", "cli-direct", "-f", "json")
        iid = img["id"]
        status = wait_for(lambda: api.image(iid)["status"] == "active" and "active", 60)
        doc = api.image(iid)
        r.eq("glance-direct via CLI: active", doc["status"], "active")
        r.eq("glance-direct: size", doc.get("size"), size)
        r.eq("glance-direct: checksum", doc.get("checksum"), md5_hex)
        r.eq("glance-direct: os_hash_value", doc.get("os_hash_value"), sha512_hex)
        got = hashlib.sha512(api.download(iid).body).hexdigest()
        r.eq("glance-direct: downloaded sha512", got, sha512_hex)
        r.check("glance-direct: no import lock left", "os_glance_import_task" not in doc, doc)
        task = final_task(api, iid)
        r.eq("glance-direct: task success", task.get("status"), "success")
        r.eq("glance-direct: task type", task.get("type"), "api_image_import")
        tasks = api("GET", "/v2/tasks").json()["tasks"]
        r.check("GET /v2/tasks lists the task", any(t["id"] == task.get("id") for t in tasks), tasks)
        r.eq("staging area is empty afterwards", staged_files(srv.workdir), [])
        # The same through the SDK's stage + import calls, with a failure: import to a queued image.
        q = api.create(name="not-staged", disk_format="raw", container_format="bare")
        resp = api("POST", f"/v2/images/{q['id']}/import", {"method": {"name": "glance-direct"}})
        r.eq("glance-direct without staging: 409", resp.status, 409)
        del status


# --------------------------------------------------------------------------------------
# 2. copy-image
# --------------------------------------------------------------------------------------
def copy_image(r, tmp):
    workdir = tempfile.mkdtemp(prefix="glimpse-it-copy-")
    conf = write_config(os.path.join(workdir, "glimpse.conf"), """
[DEFAULT]
enabled_backends = fs1:file, fs2:file
enabled_import_methods = glance-direct,web-download,copy-image
[glance_store]
default_backend = fs1
[fs1]
filesystem_store_datadir = data/fs1
[fs2]
filesystem_store_datadir = data/fs2
""")
    srv = start_glimpse(config=conf, workdir=workdir)
    try:
        api = Api(srv.url)
        path = os.path.join(tmp, "copy.img")
        write_random_file(path, 8 * MiB)
        _, sha512_hex, _ = hashes_of_file(path)
        img = openstack_cli(srv.url, "image", "create", "--file", path, "--disk-format", "raw",
                            "--container-format", "bare", "to-copy", "-f", "json")
        iid = img["id"]
        r.eq("copy-image: uploaded to fs1", api.image(iid).get("stores"), "fs1")
        openstack_cli(srv.url, "image", "import", iid, "--method", "copy-image", "--store", "fs2")
        doc = wait_for(lambda: (lambda d: d if d.get("stores") == "fs1,fs2" else None)(api.image(iid)), 60) or api.image(iid)
        r.eq("copy-image via CLI: stores fs1,fs2", doc.get("stores"), "fs1,fs2")
        r.eq("copy-image: nothing left importing", doc.get("os_glance_importing_to_stores"), "")
        r.eq("copy-image: nothing failed", doc.get("os_glance_failed_import"), "")
        copied = os.path.join(workdir, "data", "fs2", iid)
        r.check("copy-image: the file is in fs2", os.path.isfile(copied), copied)
        if os.path.isfile(copied):
            with open(copied, "rb") as fh:
                r.eq("copy-image: fs2's copy has the sha512", hashlib.sha512(fh.read()).hexdigest(), sha512_hex)
        task = final_task(api, iid)
        r.eq("copy-image: task success", task.get("status"), "success")
        again = api("POST", f"/v2/images/{iid}/import", {"method": {"name": "copy-image"}, "stores": ["fs2"]})
        r.eq("copy-image to a store that has it: 400", again.status, 400)
        unknown = api("POST", f"/v2/images/{iid}/import", {"method": {"name": "copy-image"}, "stores": ["tape"]})
        r.eq("copy-image to an unknown store: 409", unknown.status, 409)
    finally:
        srv.stop()


# --------------------------------------------------------------------------------------
# 3. web-download
# --------------------------------------------------------------------------------------
class Source:
    """An HTTP server in this process serving one blob in several misbehaving ways:

    /good           the whole blob, with Range support
    /drop           throttled; the first response stops halfway and the connection is closed;
                    Range requests are honoured (so the import can resume)
    /drop-norange   like /drop but ignores Range (a resume is impossible)
    /liar           Content-Length larger than the body, then closes (no ranges)
    /redirect?to=U  302 to U
    """

    def __init__(self, blob: bytes):
        self.blob = blob
        self.hits = []
        source = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                path, _, query = self.path.partition("?")
                source.hits.append((path, self.headers.get("Range")))
                data = source.blob
                if path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", urllib.parse.unquote(query.partition("=")[2]))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                ranged = path in ("/good", "/drop")
                start = 0
                rng = self.headers.get("Range")
                if ranged and rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                length = len(body) + (4096 if path == "/liar" else 0)
                self.send_header("Content-Length", str(length))
                if ranged:
                    self.send_header("Accept-Ranges", "bytes")
                    self.send_header("ETag", '"blob-v1"')
                self.end_headers()
                if path in ("/drop", "/drop-norange") and start == 0:
                    half = len(body) // 2
                    for i in range(0, half, 64 * 1024):
                        self.wfile.write(body[i:min(i + 64 * 1024, half)])
                        time.sleep(0.002)  # throttled
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                for i in range(0, len(body), 256 * 1024):
                    self.wfile.write(body[i:i + 256 * 1024])
                if path == "/liar":
                    self.close_connection = True

        self.httpd = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def web_download(r, tmp):
    blob = os.urandom(6 * MiB + 12345)
    want = hashlib.sha512(blob).hexdigest()
    src = Source(blob)
    workdir = tempfile.mkdtemp(prefix="glimpse-it-web-")
    conf = write_config(os.path.join(workdir, "glimpse.conf"), """
[import_filtering_opts]
allowed_hosts = 127.0.0.1
allowed_ports =
""")
    srv = start_glimpse(config=conf, workdir=workdir)
    try:
        api = Api(srv.url)

        def import_from(url, name):
            img = api.create(name=name, disk_format="raw", container_format="bare")
            resp = api("POST", f"/v2/images/{img['id']}/import", {"method": {"name": "web-download", "uri": url}})
            return img["id"], resp

        # The CLIs: `openstack image import --method web-download --uri`, and glanceclient's
        # `image-create-via-import --import-method web-download` (OSC's create has no --uri).
        # (OSC's `image create` without --file uploads an empty body, so the image is made queued by the API.)
        img = api.create(name="cli-web", disk_format="raw", container_format="bare")
        # OSC sends all_stores_must_succeed=false unless told otherwise, which a single-store
        # server refuses (400), as Glance does.
        openstack_cli(srv.url, "image", "import", img["id"], "--method", "web-download", "--uri", src.url("/good"),
                      "--disallow-failure")
        doc = settled(api, img["id"])
        r.eq("web-download via openstack image import: active", (doc or {}).get("status"), "active")
        r.eq("web-download via openstack image import: sha512", (doc or {}).get("os_hash_value"), want)
        glance = os.path.join(os.path.dirname(sys.executable), "glance")
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        # glanceclient reads image data from stdin unless it is a terminal: give it one.
        _, tty = pty.openpty()
        p = subprocess.run([glance, "--os-auth-token", "noauth", "--os-image-url", srv.url, "image-create-via-import",
                            "--name", "glance-web", "--disk-format", "raw", "--container-format", "bare",
                            "--import-method", "web-download", "--uri", src.url("/good")],
                           capture_output=True, text=True, env=env, timeout=300, stdin=tty)
        os.close(tty)
        r.eq("glance image-create-via-import --import-method web-download: exit 0", p.returncode, 0)
        gid = next((line.split("|")[2].strip() for line in p.stdout.splitlines() if line.startswith("| id ")), None)
        if p.returncode != 0 or not gid:
            print(p.stdout[-800:], p.stderr[-800:], flush=True)
        if gid:
            doc = settled(api, gid)
            r.eq("web-download via glance CLI: sha512", (doc or {}).get("os_hash_value"), want)

        # Throttled, dropped halfway, ranges supported: resumed.
        src.hits.clear()
        iid, resp = import_from(src.url("/drop"), "dropped")
        r.eq("web-download (drops halfway): 202", resp.status, 202)
        doc = settled(api, iid)
        r.eq("web-download (drops halfway): resumed to active", (doc or {}).get("status"), "active")
        r.eq("web-download (drops halfway): sha512", (doc or {}).get("os_hash_value"), want)
        r.check("web-download (drops halfway): a Range request resumed it",
                any(p == "/drop" and rg for p, rg in src.hits), src.hits)

        # Dropped halfway without range support: fails with a reason.
        iid, resp = import_from(src.url("/drop-norange"), "dropped-norange")
        doc = settled(api, iid)
        r.eq("web-download (drops, no ranges): back to queued", (doc or {}).get("status"), "queued")
        task = final_task(api, iid)
        r.eq("web-download (drops, no ranges): task failure", task.get("status"), "failure")
        r.check("web-download (drops, no ranges): the reason is given", len(task.get("message") or "") > 10, task)
        print(f"     reason: {task.get('message')}", flush=True)

        # Lies about its length: fails with a reason.
        iid, resp = import_from(src.url("/liar"), "liar")
        doc = settled(api, iid)
        r.eq("web-download (lying length): back to queued", (doc or {}).get("status"), "queued")
        task = final_task(api, iid)
        r.eq("web-download (lying length): task failure", task.get("status"), "failure")
        r.check("web-download (lying length): the reason is given", len(task.get("message") or "") > 10, task)
        r.check("web-download (lying length): the lock is released", doc.get("os_glance_import_task") is None, doc)
        print(f"     reason: {task.get('message')}", flush=True)

        # Redirects to forbidden places are refused even from an allowed host.
        for target in ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/x", "http://localhost:%d/good" % src.port,
                       "http://0x7f.1:%d/good" % src.port, "file:///etc/passwd"]:
            url = src.url("/redirect?to=" + urllib.parse.quote(target, safe=""))
            iid, resp = import_from(url, "redirected")
            doc = settled(api, iid)
            task = final_task(api, iid)
            r.check(f"redirect to {target}: refused", (doc or {}).get("status") == "queued" and task.get("status") == "failure",
                    (doc, task))
        r.eq("staging area is empty after the failures", staged_files(workdir), [])
    finally:
        srv.stop()
        src.close()

    # Default filtering (no allowed_hosts): loopback, link-local, private, odd spellings refused.
    with server() as srv:
        api = Api(srv.url)
        for url in ["http://127.0.0.1/x", "http://169.254.169.254/latest/meta-data/", "http://0x7f.1/x",
                    "http://10.1.2.3/x", "http://192.168.0.10/x", "http://localhost/x", "http://2130706433/x",
                    "http://[::1]/x", "ftp://example.com/x", "http://example.com:22/x"]:
            img = api.create(name="refused", disk_format="raw", container_format="bare")
            resp = api("POST", f"/v2/images/{img['id']}/import", {"method": {"name": "web-download", "uri": url}})
            if resp.status == 400:
                r.check(f"web-download {url}: refused at the request (400)", True)
                continue
            doc = settled(api, img["id"], 30)
            task = final_task(api, img["id"])
            r.check(f"web-download {url}: refused", resp.status == 202 and (doc or {}).get("status") == "queued"
                    and task.get("status") == "failure", (resp, doc, task))


# --------------------------------------------------------------------------------------
# 4. SIGKILL in the middle of an import
# --------------------------------------------------------------------------------------
KILL_CONF = """
[DEFAULT]
[task]
glimpse_claim_timeout = 2
"""


def killed_mid_import(r, tmp, method: str = "glance-direct", start=None):
    """Stage a large image, start its import, SIGKILL the server once the task reports
    progress, restart it on the same directory: the task must be taken over and finish."""
    workdir = tempfile.mkdtemp(prefix="glimpse-it-kill-")
    conf = write_config(os.path.join(workdir, "glimpse.conf"), KILL_CONF)
    srv = start_glimpse(config=conf, workdir=workdir)
    second = None
    try:
        api = Api(srv.url)
        path = os.path.join(tmp, "kill.img")
        write_random_file(path, 1536 * MiB)
        _, sha512_hex, size = hashes_of_file(path)
        img = api.create(name="to-kill", disk_format="raw", container_format="bare")
        iid = img["id"]
        with open(path, "rb") as fh:
            st = api("PUT", f"/v2/images/{iid}/stage", fh, {"Content-Type": "application/octet-stream",
                                                             "Content-Length": str(size)}, timeout=600)
        r.eq(f"{method} kill: staged", st.status, 204)
        os.remove(path)
        r.eq(f"{method} kill: import accepted", api("POST", f"/v2/images/{iid}/import",
                                                     {"method": {"name": "glance-direct"}}).status, 202)
        progress = wait_for(lambda: next((t for t in image_tasks(api, iid)
                                          if "Copied" in (t.get("message") or "")), None), 60, 0.05)
        r.check(f"{method} kill: progress readable while the import runs", progress, image_tasks(api, iid))
        # SIGTERM first: a graceful shutdown gives the running task back to the queue.
        srv.proc.send_signal(signal.SIGTERM)
        srv.proc.wait(timeout=30)
        db = sqlite3.connect(os.path.join(workdir, "data", "glimpse.db"))
        row = db.execute("SELECT status FROM tasks WHERE image_id = ?", (iid,)).fetchone()
        db.close()
        r.eq(f"{method} SIGTERM: the task is given back (pending)", row and row[0], "pending")
        srv = start_glimpse(config=conf, workdir=workdir)
        api = Api(srv.url)
        progress = wait_for(lambda: next((t for t in image_tasks(api, iid)
                                          if t["status"] == "processing" and "Copied" in (t.get("message") or "")), None), 60, 0.05)
        r.check(f"{method} SIGTERM: the restarted node picks the task up at once", progress, image_tasks(api, iid))
        srv.proc.kill()
        srv.proc.wait()
        print("     SIGKILLed the server mid-import", flush=True)
        second = start_glimpse(config=conf, workdir=workdir)
        api = Api(second.url)
        r.eq(f"{method} kill: after the restart the image is still importing (not lost)",
             api.image(iid)["status"], "importing")
        doc = wait_for(lambda: (lambda d: d if d["status"] in ("active", "queued") else None)(api.image(iid)), 120, 0.2)
        r.eq(f"{method} kill: the task was taken over and the image is active", (doc or {}).get("status"), "active")
        doc = api.image(iid)
        r.eq(f"{method} kill: os_hash_value after resuming", doc.get("os_hash_value"), sha512_hex)
        r.eq(f"{method} kill: size", doc.get("size"), size)
        task = final_task(api, iid)
        r.eq(f"{method} kill: task success", task.get("status"), "success")
        r.eq(f"{method} kill: no staged data left", staged_files(workdir), [])
        images = sorted(os.listdir(os.path.join(workdir, "data", "images")))
        r.eq(f"{method} kill: exactly one file in the store", images, [iid])
    finally:
        if second:
            second.stop()
        elif srv.proc.poll() is None:
            srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# --------------------------------------------------------------------------------------
# 5. image_conversion
# --------------------------------------------------------------------------------------
def run(*cmd):
    subprocess.run(cmd, check=True, capture_output=True)


def qemu_info(path: str) -> dict:
    return json.loads(subprocess.run(["qemu-img", "info", "--output=json", path], check=True,
                                     capture_output=True, text=True).stdout)


def conversion(r, tmp):
    workdir = tempfile.mkdtemp(prefix="glimpse-it-conv-")
    wrapper = os.path.join(workdir, "qemu-img-wrapper")
    calls = os.path.join(workdir, "qemu-img-calls.log")
    with open(wrapper, "w") as fh:
        fh.write(f'#!/bin/sh\necho "$*" >> {calls}\nexec {shutil.which("qemu-img")} "$@"\n')
    os.chmod(wrapper, 0o755)
    conf = write_config(os.path.join(workdir, "glimpse.conf"), f"""
[image_import_opts]
image_import_plugins = [image_conversion]
[image_conversion]
output_format = raw
glimpse_qemu_img = {wrapper}
""")
    srv = start_glimpse(config=conf, workdir=workdir)
    try:
        api = Api(srv.url)
        raw = os.path.join(tmp, "src.raw")
        with open(raw, "wb") as fh:
            fh.write(os.urandom(8 * MiB))
            fh.seek(40 * MiB - 1)
            fh.write(b"\0")
        qcow = os.path.join(tmp, "src.qcow2")
        run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, qcow)
        expected = os.path.join(tmp, "expected.raw")
        run("qemu-img", "convert", "-f", "qcow2", "-O", "raw", qcow, expected)
        with open(expected, "rb") as fh:
            want = hashlib.sha512(fh.read()).hexdigest()
        vsize = qemu_info(qcow)["virtual-size"]

        def stage_and_import(path, disk_format="qcow2"):
            img = api.create(name=os.path.basename(path), disk_format=disk_format, container_format="bare")
            with open(path, "rb") as fh:
                st = api("PUT", f"/v2/images/{img['id']}/stage", fh.read(), {"Content-Type": "application/octet-stream"})
            imp = api("POST", f"/v2/images/{img['id']}/import", {"method": {"name": "glance-direct"}})
            doc = wait_for(lambda: (lambda d: d if d["status"] in ("active", "queued") else None)(api.image(img["id"])), 90)
            return img["id"], st.status, imp.status, doc or api.image(img["id"])

        iid, st, imp, doc = stage_and_import(qcow)
        r.check("conversion: staged and accepted", st == 204 and imp == 202, (st, imp))
        r.eq("conversion: active", doc.get("status"), "active")
        r.eq("conversion: disk_format is now raw", doc.get("disk_format"), "raw")
        r.eq("conversion: virtual_size = qemu-img info's", doc.get("virtual_size"), vsize)
        r.eq("conversion: size = the raw output's", doc.get("size"), os.path.getsize(expected))
        got = hashlib.sha512(api.download(iid).body).hexdigest()
        r.eq("conversion: bytes equal qemu-img convert's output", got, want)

        # Hostile qcow2s: refused by the inspector before qemu-img ever sees them.
        base = os.path.join(tmp, "base.raw")
        with open(base, "wb") as fh:
            fh.write(b"\0" * MiB)
        backing = os.path.join(tmp, "backing.qcow2")
        run("qemu-img", "create", "-f", "qcow2", "-b", base, "-F", "raw", backing)
        datafile = os.path.join(tmp, "datafile.qcow2")
        run("qemu-img", "create", "-f", "qcow2", "-o", f"data_file={os.path.join(tmp, 'external.raw')}", datafile, "1M")
        for name, path in [("backing file", backing), ("external data file", datafile)]:
            iid, st, imp, doc = stage_and_import(path)
            r.eq(f"hostile qcow2 ({name}): back to queued", doc.get("status"), "queued")
            task = final_task(api, iid)
            r.eq(f"hostile qcow2 ({name}): task failure", task.get("status"), "failure")
            print(f"     reason: {task.get('message')}", flush=True)
            with open(calls) if os.path.exists(calls) else io.StringIO("") as fh:
                ran = [line for line in fh if iid in line]
            r.eq(f"hostile qcow2 ({name}): qemu-img never ran on it", ran, [])
            r.eq(f"hostile qcow2 ({name}): nothing staged", staged_files(workdir), [])
    finally:
        srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)


# `test_import.py SIGKILL web` runs only the sections whose names contain one of the words.
ONLY = [a for a in sys.argv[1:] if not a.startswith("-")]


def main(r):
    tmp = tempfile.mkdtemp(prefix="glimpse-import-")
    try:
        for name, section in [("glance-direct", glance_direct), ("copy-image", copy_image),
                              ("web-download", web_download), ("SIGKILL mid-import", killed_mid_import),
                              ("image_conversion", conversion)]:
            if ONLY and not any(o in name for o in ONLY):
                continue
            print(f"  -- {name}", flush=True)
            section(r, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run_test("interoperable import and the task queue", main)
