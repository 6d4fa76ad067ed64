#!/usr/bin/env python3
"""Three Glimpse nodes behind HAProxy, sharing a PostgreSQL catalog and a Swift container (issue 8).

    .venv/bin/python tests/integration/test_multinode.py

Starts everything with ``scripts/multinode.sh start`` (in a temporary run directory) and stops it
at the end. Then, all through the balancer:

1. throughput: image creates/s and shows/s with one node up and with three (printed as
   ``throughput: ...`` lines; figures, not assertions);
2. run 1: 32 clients for 60 s create, upload (random sizes up to 64 MiB, seeded random bytes
   generated as they are sent), patch properties and tags, share (members and their status),
   delete, and import with glance-direct (stage + import, so tasks run on the queue). Every
   request must succeed. Then the consistency check: each image's status, checksum, os_hash_value
   and size match what the client sent and the bytes stored in Swift (read back directly), its
   properties, tags and members are what the client left, nothing is stuck in saving or
   importing, every task ended, and every object in the container belongs to a live image;
3. 16 concurrent uploads to one queued image: exactly one 204 and fifteen 409s;
4. run 2: the same load, and node 2 is SIGKILLed while it runs an import task. Every failed
   request must have been served by node 2 (its X-Glimpse-Upstream header, or HAProxy's log line
   for the request's X-Test-Id), HAProxy must mark node 2 down and send it nothing afterwards,
   the tasks it had claimed must end ``success`` on another node, and every upload that got a
   204 must be active with the right checksum. Then the consistency check again.

Knobs: GLIMPSE_MULTINODE_CATALOG (postgresql | sqlite; default postgresql),
GLIMPSE_MULTINODE_PORT (19500), GLIMPSE_MULTINODE_SECONDS (60, run 1),
GLIMPSE_MULTINODE_KILL_SECONDS (30, run 2), GLIMPSE_MULTINODE_CLIENTS (32),
GLIMPSE_KEEP_TMP=1 keeps the run directory (configs, node logs, haproxy.log).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO_ROOT, MiB, SkipTest, glimpse_bin, identity, run_test  # noqa: E402

SCRIPT = os.path.join(REPO_ROOT, "scripts", "multinode.sh")
CATALOG = os.environ.get("GLIMPSE_MULTINODE_CATALOG", "postgresql")
PORT = int(os.environ.get("GLIMPSE_MULTINODE_PORT", "19500"))
RUN1_SECONDS = float(os.environ.get("GLIMPSE_MULTINODE_SECONDS", "60"))
RUN2_SECONDS = float(os.environ.get("GLIMPSE_MULTINODE_KILL_SECONDS", "30"))
CLIENTS = int(os.environ.get("GLIMPSE_MULTINODE_CLIENTS", "32"))
KILLED = 2  # the node run 2 kills
CHUNK = 256 * 1024
PATCH_TYPE = "application/openstack-images-v2.1-json-patch"


# --------------------------------------------------------------------------------------
# the stack
# --------------------------------------------------------------------------------------
class Stack:
    """What scripts/multinode.sh started: URLs, run directory, catalog, Swift container."""

    def __init__(self, run_dir: str):
        self.run_dir = run_dir
        self.env = {**os.environ, "GLIMPSE_MULTINODE_DIR": run_dir, "GLIMPSE_BIN": glimpse_bin(),
                    "GLIMPSE_MULTINODE_CATALOG": CATALOG, "GLIMPSE_MULTINODE_PORT": str(PORT)}
        self.facts: dict[str, str] = {}

    def script(self, *args, timeout=600) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", SCRIPT, *args], env=self.env, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def start(self):
        p = self.script("start")
        sys.stdout.write("".join("     " + line + "\n" for line in p.stderr.splitlines()[-12:]))
        if p.returncode != 0:
            raise RuntimeError(f"multinode.sh start failed (exit {p.returncode})")
        with open(os.path.join(self.run_dir, "env.sh")) as fh:
            for line in fh:
                if line.startswith("export ") and "=" in line:
                    k, v = line[len("export "):].strip().split("=", 1)
                    self.facts[k] = v.strip("'\"")
        self.url = self.facts["GLIMPSE_MULTINODE_URL"]
        self.container = self.facts["GLIMPSE_MULTINODE_CONTAINER"]
        self.connection = self.facts["GLIMPSE_MULTINODE_CONNECTION"]

    def stop(self):
        p = self.script("stop")
        if p.returncode != 0:
            print(f"     multinode.sh stop: exit {p.returncode}: {p.stderr[-500:]}", flush=True)

    def node_pid(self, n: int) -> int:
        with open(os.path.join(self.run_dir, f"node{n}", "pid")) as fh:
            return int(fh.read().strip())

    def node_log(self, n: int) -> str:
        with open(os.path.join(self.run_dir, f"node{n}", "server.log"), errors="replace") as fh:
            return fh.read()

    def haproxy_log(self) -> list[str]:
        with open(os.path.join(self.run_dir, "haproxy.log"), errors="replace") as fh:
            return fh.read().splitlines()

    # ---- the catalog, read directly --------------------------------------------------
    def sql(self, query: str) -> list[tuple]:
        if self.connection.startswith("sqlite:///"):
            db = sqlite3.connect(f"file:{self.connection[len('sqlite:///'):]}?mode=ro", uri=True, timeout=30)
            try:
                return [tuple("" if v is None else str(v) for v in row) for row in db.execute(query)]
            finally:
                db.close()
        psql = sorted(p for p in (os.path.join(d, "bin", "psql") for d in
                                  _glob_dirs("/usr/lib/postgresql")) if os.path.exists(p))[-1]
        out = subprocess.run([psql, self.connection, "-v", "ON_ERROR_STOP=1", "-qAt", "-F", "\x1f", "-c", query],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        return [tuple(line.split("\x1f")) for line in out.splitlines() if line]


def _glob_dirs(base):
    try:
        return [os.path.join(base, d) for d in os.listdir(base)]
    except OSError:
        return []


def swift_conn(facts):
    import swiftclient
    return swiftclient.client.Connection(authurl=facts["GLIMPSE_SWIFT_AUTH_URL"], user=facts["GLIMPSE_SWIFT_USER"],
                                         key=facts["GLIMPSE_SWIFT_KEY"], auth_version="1", retries=2)


# --------------------------------------------------------------------------------------
# HTTP with attribution
# --------------------------------------------------------------------------------------
class Reply:
    def __init__(self, status=None, body=b"", upstream="", error=None, headers=None):
        self.status, self.body, self.upstream, self.error = status, body, upstream, error
        self.headers = headers

    def json(self):
        return json.loads(self.body) if self.body else None

    def __repr__(self):
        what = self.error or f"HTTP {self.status} {self.body[:160]!r}"
        return f"{what} (upstream {self.upstream or '?'})"


class SeededBody:
    """``size`` pseudo-random bytes from a seeded PRNG, produced as they are read (never held),
    hashed (md5 + sha512) on the way out."""

    def __init__(self, size: int, seed: int):
        self.size, self.left = size, size
        self.rng = random.Random(seed)
        self.md5, self.sha512 = hashlib.md5(), hashlib.sha512()

    def read(self, n=CHUNK) -> bytes:
        n = min(n, self.left)
        if n <= 0:
            return b""
        b = self.rng.randbytes(n)
        self.left -= n
        self.md5.update(b)
        self.sha512.update(b)
        return b


def call(url, method, path, body=None, headers=None, test_id=None, timeout=300) -> Reply:
    """One request on a new connection. ``body``: bytes, a dict/list (JSON), or a SeededBody
    (streamed). Never raises: a connection error is a Reply with ``error``."""
    host, port = url.split("//", 1)[1].split(":")
    hd = dict(headers or {})
    if test_id:
        hd["X-Test-Id"] = test_id
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        hd.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        try:
            if isinstance(body, SeededBody):
                conn.putrequest(method, path)
                hd["Content-Length"] = str(body.size)
                for k, v in hd.items():
                    conn.putheader(k, v)
                conn.endheaders()
                try:
                    while True:
                        chunk = body.read()
                        if not chunk:
                            break
                        conn.send(chunk)
                except OSError:
                    pass  # the server answered early (a 409, say): read that answer below
            else:
                conn.request(method, path, body=body, headers=hd)
            resp = conn.getresponse()
            data = resp.read()
            return Reply(resp.status, data, resp.getheader("X-Glimpse-Upstream") or "", headers=resp.headers)
        except (OSError, http.client.HTTPException) as e:
            return Reply(error=f"{type(e).__name__}: {e}")
    finally:
        conn.close()


# --------------------------------------------------------------------------------------
# the workload
# --------------------------------------------------------------------------------------
class Img:
    """What a client knows about one image it owns (only its owner thread touches it)."""

    def __init__(self, image_id, ident, origin):
        self.id = image_id
        self.ident = ident
        self.state = "queued"  # queued | active | importing | deleted
        self.origin = origin  # create | import
        self.md5 = self.sha512 = None
        self.size = None
        self.props: dict[str, str] = {}
        self.tags: set[str] = set()
        self.visibility = "private"
        self.members: dict[str, str] = {}
        self.uncertain = False  # a request about it failed: its exact state is unknown
        self.import_accepted = False
        self.maybe_deleted = False  # a DELETE of it failed: it may or may not be gone


class Workload:
    """``clients`` threads doing a mix of operations through ``url`` until ``seconds`` pass."""

    OPS = ["create", "upload", "patch", "tags", "share", "delete", "import", "show", "list"]

    def __init__(self, name, url, seconds, clients, weights, sizes, seed):
        self.name, self.url, self.seconds, self.clients = name, url, seconds, clients
        self.weights, self.sizes, self.seed = weights, sizes, seed
        self.lock = threading.Lock()
        self.images: list[Img] = []
        self.failures: list[dict] = []
        self.counts: dict[str, int] = {}
        self.bytes_sent = 0
        self.upload_204: list[Img] = []
        self.started = 0.0

    def run(self):
        self.started = time.monotonic()
        threads = [threading.Thread(target=self.client, args=(t,), daemon=True) for t in range(self.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(self.seconds + 600)

    # ---- one client --------------------------------------------------------------------
    def client(self, tid):
        rng = random.Random(self.seed * 1000 + tid)
        project = uuid.uuid4().hex
        ident = identity(project, "member,reader")
        mine: list[Img] = []
        seq = [0]
        deadline = self.started + self.seconds

        def req(op, method, path, body=None, headers=None, want=(200,), img=None):
            seq[0] += 1
            test_id = f"{self.name}-{tid}-{seq[0]}"
            r = call(self.url, method, path, body, {**ident, **(headers or {})}, test_id)
            with self.lock:
                self.counts[op] = self.counts.get(op, 0) + 1
            if r.status not in want:
                self.fail(op, method, path, test_id, r)
                if img is not None:
                    img.uncertain = True
                return None
            return r

        while time.monotonic() < deadline:
            # An image a failed request left in an unknown state is not touched again.
            live = [i for i in mine if i.state != "deleted" and not i.uncertain]
            op = rng.choices(self.OPS, self.weights)[0] if len(live) >= 2 else "create"
            try:
                getattr(self, "op_" + op)(rng, req, ident, mine, live, tid)
            except Exception as e:  # noqa: BLE001 - a bug in the test or a malformed answer
                self.fail(op, "-", "-", f"{self.name}-{tid}-{seq[0]}", Reply(error=f"client {type(e).__name__}: {e}"))

    def fail(self, op, method, path, test_id, reply, note=""):
        with self.lock:
            self.failures.append({"op": op, "request": f"{method} {path}", "test_id": test_id,
                                  "status": reply.status, "error": reply.error, "upstream": reply.upstream,
                                  "body": (reply.body or b"")[:300].decode(errors="replace"), "note": note})

    def size(self, rng):
        tier = rng.choices(self.sizes, [w for _, _, w in self.sizes])[0]
        return rng.randint(tier[0], tier[1])

    # ---- operations ----------------------------------------------------------------------
    def op_create(self, rng, req, ident, mine, live, tid, origin="create"):
        props = {f"p_{rng.randrange(100)}": uuid.uuid4().hex[:12] for _ in range(rng.randrange(3))}
        tags = {f"t{rng.randrange(50)}" for _ in range(rng.randrange(3))}
        r = req("create", "POST", "/v2/images", {"name": f"{self.name}-{tid}", "disk_format": "raw",
                                                 "container_format": "bare", "visibility": "private",
                                                 "tags": sorted(tags), **props},
                want=(201,))
        if r is None:
            return None
        doc = r.json()
        img = Img(doc["id"], ident, origin)
        img.props, img.tags = props, tags
        mine.append(img)
        with self.lock:
            self.images.append(img)
        if doc.get("status") != "queued" or set(doc.get("tags", [])) != tags:
            self.fail("create", "POST", "/v2/images", "-", r, "the new image is not queued with its tags")
        return img

    def op_upload(self, rng, req, ident, mine, live, tid):
        queued = [i for i in live if i.state == "queued" and not i.uncertain]
        if not queued:
            return self.op_create(rng, req, ident, mine, live, tid)
        img = rng.choice(queued)
        body = SeededBody(self.size(rng), rng.getrandbits(63))
        r = req("upload", "PUT", f"/v2/images/{img.id}/file", body,
                {"Content-Type": "application/octet-stream"}, want=(204,), img=img)
        with self.lock:
            self.bytes_sent += body.size - body.left
        if r is not None:
            img.state, img.md5, img.sha512, img.size = "active", body.md5.hexdigest(), body.sha512.hexdigest(), body.size
            with self.lock:
                self.upload_204.append(img)

    def op_import(self, rng, req, ident, mine, live, tid):
        img = self.op_create(rng, req, ident, mine, live, tid, origin="import")
        if img is None:
            return
        body = SeededBody(self.size(rng), rng.getrandbits(63))
        r = req("stage", "PUT", f"/v2/images/{img.id}/stage", body,
                {"Content-Type": "application/octet-stream"}, want=(204,), img=img)
        with self.lock:
            self.bytes_sent += body.size - body.left
        if r is None:
            return
        img.md5, img.sha512, img.size = body.md5.hexdigest(), body.sha512.hexdigest(), body.size
        img.state = "uploading"
        r = req("import", "POST", f"/v2/images/{img.id}/import", {"method": {"name": "glance-direct"}},
                want=(202,), img=img)
        if r is not None:
            img.state, img.import_accepted = "importing", True

    def op_patch(self, rng, req, ident, mine, live, tid):
        img = rng.choice(live)
        ops = []
        props = dict(img.props)
        for _ in range(rng.randint(1, 3)):
            kind = rng.choice(["add", "replace", "remove"] if props else ["add"])
            if kind == "add":
                key = f"p_{rng.randrange(100)}"
                props[key] = uuid.uuid4().hex[:12]
                ops.append({"op": "add", "path": f"/{key}", "value": props[key]})
            elif kind == "replace":
                key = rng.choice(sorted(props))
                props[key] = uuid.uuid4().hex[:12]
                ops.append({"op": "replace", "path": f"/{key}", "value": props[key]})
            else:
                key = rng.choice(sorted(props))
                del props[key]
                ops.append({"op": "remove", "path": f"/{key}"})
        tags = set(img.tags)
        if rng.random() < 0.5:
            tags = {t for t in tags if rng.random() < 0.7} | {f"t{rng.randrange(50)}" for _ in range(rng.randrange(3))}
            ops.append({"op": "replace", "path": "/tags", "value": sorted(tags)})
        r = req("patch", "PATCH", f"/v2/images/{img.id}", json.dumps(ops).encode(), {"Content-Type": PATCH_TYPE},
                img=img)
        if r is None:
            return
        img.props, img.tags = props, tags
        doc = r.json()
        got = {k: v for k, v in doc.items() if k.startswith("p_")}
        if got != props or set(doc.get("tags", [])) != tags:
            self.fail("patch", "PATCH", f"/v2/images/{img.id}", "-", r,
                      f"after the patch {ops}: properties {got} tags {doc.get('tags')}, want {props} {sorted(tags)} "
                      f"(status {doc.get('status')})")

    def op_tags(self, rng, req, ident, mine, live, tid):
        img = rng.choice(live)
        if img.tags and rng.random() < 0.5:
            tag = rng.choice(sorted(img.tags))
            if req("tags", "DELETE", f"/v2/images/{img.id}/tags/{tag}", want=(204,), img=img) is not None:
                img.tags.discard(tag)
        else:
            tag = f"t{rng.randrange(50)}"
            if req("tags", "PUT", f"/v2/images/{img.id}/tags/{tag}", want=(204,), img=img) is not None:
                img.tags.add(tag)

    def op_share(self, rng, req, ident, mine, live, tid):
        img = rng.choice(live)
        if img.visibility != "shared":
            ops = [{"op": "replace", "path": "/visibility", "value": "shared"}]
            if req("share", "PATCH", f"/v2/images/{img.id}", json.dumps(ops).encode(),
                   {"Content-Type": PATCH_TYPE}, img=img) is None:
                return
            img.visibility = "shared"
        member = uuid.uuid4().hex
        if req("share", "POST", f"/v2/images/{img.id}/members", {"member": member}, img=img) is None:
            return
        img.members[member] = "pending"
        status = rng.choice(["accepted", "rejected"])
        seq_ident = identity(member, "member,reader")
        r = call(self.url, "PUT", f"/v2/images/{img.id}/members/{member}", {"status": status},
                 {**seq_ident, "X-Test-Id": f"{self.name}-{tid}-m{uuid.uuid4().hex[:8]}"})
        with self.lock:
            self.counts["share"] = self.counts.get("share", 0) + 1
        if r.status != 200 or (r.json() or {}).get("status") != status:
            self.fail("share", "PUT", f"/v2/images/{img.id}/members/{member}", "-", r)
            img.uncertain = True
            return
        img.members[member] = status

    def op_delete(self, rng, req, ident, mine, live, tid):
        candidates = [i for i in live if i.state in ("queued", "active")]
        if not candidates:
            return
        img = rng.choice(candidates)
        if req("delete", "DELETE", f"/v2/images/{img.id}", want=(204,), img=img) is None:
            img.maybe_deleted = True
        else:
            img.state = "deleted"
            req("delete", "GET", f"/v2/images/{img.id}", want=(404,))

    def op_show(self, rng, req, ident, mine, live, tid):
        img = rng.choice(live)
        r = req("show", "GET", f"/v2/images/{img.id}", img=None)
        if r is None or img.uncertain:
            return
        doc = r.json()
        # An accepted import stays `uploading` until a worker claims its task (as in Glance).
        want = {"queued": {"queued"}, "active": {"active"}, "uploading": {"uploading"},
                "importing": {"uploading", "importing", "active"}}[img.state]
        if doc["status"] not in want or (doc["status"] == "active" and doc.get("checksum") != img.md5):
            self.fail("show", "GET", f"/v2/images/{img.id}", "-", r,
                      f"status {doc['status']} checksum {doc.get('checksum')}, want {sorted(want)} {img.md5}")

    def op_list(self, rng, req, ident, mine, live, tid):
        req("list", "GET", "/v2/images?limit=20")


# --------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------
SEGMENT = re.compile(r"^([0-9a-f-]{36})-[0-9a-f]{8}-\d{5}$")


def wait_tasks_done(stack, timeout=180) -> list[tuple]:
    deadline = time.monotonic() + timeout
    while True:
        open_tasks = stack.sql("select id, status from tasks where not deleted and status in ('pending', 'processing')")
        if not open_tasks or time.monotonic() > deadline:
            return open_tasks
        time.sleep(1)


def read_object(conn, container, name):
    md5, sha, n = hashlib.md5(), hashlib.sha512(), 0
    _, body = conn.get_object(container, name, resp_chunk_size=MiB)
    for chunk in body:
        md5.update(chunk)
        sha.update(chunk)
        n += len(chunk)
    return md5.hexdigest(), sha.hexdigest(), n


def check_clients_view(r, label, stack, work: list[Workload]):
    """Every image the clients know for sure is as they left it (through the balancer, as admin)."""
    wrong = []
    n = 0
    for w in work:
        for img in w.images:
            if img.uncertain:
                continue
            n += 1
            rep = call(stack.url, "GET", f"/v2/images/{img.id}")
            if img.state == "deleted":
                if rep.status != 404:
                    wrong.append(f"{img.id}: deleted, but GET gives {rep!r}")
                continue
            if rep.status != 200:
                wrong.append(f"{img.id}: GET gives {rep!r}")
                continue
            doc = rep.json()
            want_status = {"queued": "queued", "active": "active", "importing": "active", "uploading": "uploading"}[img.state]
            got = (doc["status"], doc.get("checksum"), doc.get("os_hash_value"), doc.get("size"))
            want = (want_status,) + ((img.md5, img.sha512, img.size) if want_status == "active" else
                                     (None, None, img.size if want_status == "uploading" else None))
            if want_status == "uploading":
                got, want = got[:1], want[:1]
            if got != want:
                wrong.append(f"{img.id} ({img.origin}): (status, checksum, os_hash_value, size) {got}, want {want}")
            props = {k: v for k, v in doc.items() if k.startswith("p_")}
            if props != img.props or set(doc.get("tags", [])) != img.tags or doc.get("visibility") != img.visibility:
                wrong.append(f"{img.id}: properties {props} tags {doc.get('tags')} visibility {doc.get('visibility')}, "
                             f"want {img.props} {sorted(img.tags)} {img.visibility}")
            if img.members:
                mr = call(stack.url, "GET", f"/v2/images/{img.id}/members", headers=img.ident)
                got_m = {m["member_id"]: m["status"] for m in (mr.json() or {}).get("members", [])} if mr.status == 200 else mr
                if got_m != img.members:
                    wrong.append(f"{img.id}: members {got_m}, want {img.members}")
    r.check(f"{label}: all {n} images the clients know are as they left them (status, checksum, "
            f"os_hash_value, size, properties, tags, visibility, members)", not wrong, "; ".join(wrong[:8]))


def check_store(r, label, stack, tolerated: set[str] = frozenset()):
    """The catalog (read directly) against the Swift container (read directly).
    ``tolerated``: image ids a killed node was writing; what they leave is reported, not failed."""
    facts = stack.facts
    images = {row[0]: row for row in stack.sql(
        "select id, status, coalesce(size, -1), coalesce(checksum, ''), coalesce(os_hash_value, '') "
        "from images where not deleted")}
    locs: dict[str, list[str]] = {}
    for image_id, value, status in stack.sql(
            "select image_id, value, status from image_locations where not deleted"):
        if status == "active":
            locs.setdefault(image_id, []).append(value)
    by_status: dict[str, int] = {}
    for row in images.values():
        by_status[row[1]] = by_status.get(row[1], 0) + 1
    r.note(f"{label}: catalog: {len(images)} live images {by_status}")

    stuck = [i for i, row in images.items() if row[1] in ("saving", "importing") or (row[1] == "uploading" and row[2] == -1)]
    r.check(f"{label}: no image stuck in saving, importing, or uploading with nothing staged",
            not [i for i in stuck if i not in tolerated],
            f"{[(i, images[i][1]) for i in stuck if i not in tolerated][:10]}")
    if [i for i in stuck if i in tolerated]:
        r.note(f"{label}: left by the killed node (uploads it was serving): "
               f"{[(i, images[i][1]) for i in stuck if i in tolerated]}")

    bad_locs = []
    for image_id, row in images.items():
        values = locs.get(image_id, [])
        if row[1] == "active":
            if len(values) != 1 or not values[0].endswith(f"/{stack.container}/{image_id}"):
                bad_locs.append((image_id, values))
        elif values:
            bad_locs.append((image_id, row[1], values))
    stale = [i for i in locs if i not in images]
    r.check(f"{label}: each active image has one Swift location (its own object), no other image has one",
            not bad_locs and not stale, f"{bad_locs[:5]} locations of deleted images: {stale[:5]}")

    # Every active image's object, read back from Swift, against the catalog.
    active = [i for i, row in images.items() if row[1] == "active"]

    def verify(image_id):
        conn = swift_conn(facts)
        try:
            md5, sha, n = read_object(conn, stack.container, image_id)
        except Exception as e:  # noqa: BLE001
            return f"{image_id}: object unreadable: {e}"
        row = images[image_id]
        if (md5, sha, n) != (row[3], row[4], int(row[2])):
            return f"{image_id}: stored md5/sha512/size {md5} {sha[:16]}… {n}, catalog {row[3]} {row[4][:16]}… {row[2]}"
        return None

    t0 = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        wrong = [x for x in pool.map(verify, active) if x]
    total = sum(int(images[i][2]) for i in active)
    r.check(f"{label}: the {len(active)} active images' objects in Swift ({total / MiB:.0f} MiB, read back in "
            f"{time.monotonic() - t0:.0f} s) match their checksum, os_hash_value and size", not wrong, "; ".join(wrong[:6]))

    # No orphans: every object is an active image's object or a segment its manifest names.
    conn = swift_conn(facts)
    orphans: list[str] = []
    for attempt in range(10):  # deletions of segments may be deferred a little
        _, objs = conn.get_container(stack.container, full_listing=True)
        names = {o["name"] for o in objs}
        prefixes = set()
        for image_id in active:
            if image_id in names:
                manifest = conn.head_object(stack.container, image_id).get("x-object-manifest")
                if manifest:
                    prefixes.add(manifest.split("/", 1)[1])
        orphans = [n for n in names if not (n in images and images[n][1] == "active")
                   and not any(n.startswith(p) for p in prefixes)]
        if not [o for o in orphans if (SEGMENT.match(o) or re.match("(.*)", o)).group(1) not in tolerated]:
            break
        time.sleep(2)
    left_by_killed = [o for o in orphans if (SEGMENT.match(o) or re.match("(.*)", o)).group(1) in tolerated]
    real = [o for o in orphans if o not in left_by_killed]
    r.check(f"{label}: no orphan objects in the container ({len(names)} objects, {len(prefixes)} segmented images)",
            not real, f"{len(real)} orphans: {sorted(real)[:10]}")
    if left_by_killed:
        r.note(f"{label}: {len(left_by_killed)} objects left by the killed node's interrupted writes: "
               f"{sorted(left_by_killed)[:6]}")
    missing = [i for i in active if i not in names]
    r.check(f"{label}: nothing referenced is missing from Swift", not missing, f"{missing[:10]}")

    # Shared staging: every import is over, so nothing staged may be left (the killed node's
    # interrupted stage requests excepted).
    try:
        _, staged = conn.get_container(stack.container + "-staging", full_listing=True)
    except Exception:  # never created: nothing was staged
        staged = []
    staged_names = {o["name"] for o in staged}
    stale = [n for n in staged_names if (SEGMENT.match(n) or re.match("(.*)", n)).group(1) not in tolerated]
    r.check(f"{label}: the shared staging container holds nothing once the imports are done",
            not stale, f"{len(stale)} staged objects left: {sorted(stale)[:6]}")

    tasks = stack.sql("select status, count(*) from tasks where not deleted group by status")
    r.note(f"{label}: tasks by status: {dict(tasks)}")
    unfinished = [s for s, _ in tasks if s not in ("success", "failure")]
    r.check(f"{label}: every task is success or failure", not unfinished, f"{tasks}")
    return images


def report_failures(r, label, w: Workload):
    r.note(f"{label}: {sum(w.counts.values())} requests in {w.seconds:.0f} s {dict(sorted(w.counts.items()))}, "
           f"{w.bytes_sent / MiB:.0f} MiB sent, {len(w.images)} images")
    for f in w.failures[:12]:
        r.note(f"  failed: {f}")


# --------------------------------------------------------------------------------------
# phases
# --------------------------------------------------------------------------------------
def throughput(r, stack):
    """creates/s and shows/s through the balancer, with one node up and then three."""
    def measure(kind, ids, threads=24, seconds=10.0):
        done, errors = [0], []
        lock = threading.Lock()
        stop = time.monotonic() + seconds
        host, port = stack.url.split("//", 1)[1].split(":")

        def loop(t):
            rng = random.Random(t)
            conn = http.client.HTTPConnection(host, int(port), timeout=60)
            n = 0
            while time.monotonic() < stop:
                try:
                    if kind == "create":
                        conn.request("POST", "/v2/images", json.dumps({"name": "tp", "disk_format": "raw",
                                                                      "container_format": "bare"}),
                                     {"Content-Type": "application/json"})
                    else:
                        conn.request("GET", f"/v2/images/{rng.choice(ids)}")
                    resp = conn.getresponse()
                    body = resp.read()
                    if resp.status in (200, 201):
                        n += 1
                        if kind == "create":
                            with lock:
                                ids.append(json.loads(body)["id"])
                    else:
                        errors.append(f"{resp.status} {body[:100]!r} ({resp.getheader('X-Glimpse-Upstream')})")
                except (OSError, http.client.HTTPException) as e:
                    errors.append(repr(e))
                    conn.close()
                    conn = http.client.HTTPConnection(host, int(port), timeout=60)
            conn.close()
            with lock:
                done[0] += n

        t0 = time.monotonic()
        ts = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return done[0] / (time.monotonic() - t0), errors

    figures = {}
    for n in range(2, 4):
        p = stack.script("stop-node", str(n))
        r.check(f"throughput: node {n} stopped for the 1-node figures", p.returncode == 0, p.stderr[-300:])
    time.sleep(2)  # HAProxy: two failed checks 500 ms apart
    ids: list[str] = []
    figures["creates 1"], e1 = measure("create", ids)
    figures["shows 1"], e2 = measure("show", ids)
    for n in range(2, 4):
        p = stack.script("start-node", str(n))
        r.check(f"throughput: node {n} started again", p.returncode == 0, p.stderr[-300:])
    time.sleep(2)  # two good checks
    ids3: list[str] = []
    figures["creates 3"], e3 = measure("create", ids3)
    figures["shows 3"], e4 = measure("show", ids3 + ids)
    errors = e1 + e2 + e3 + e4
    r.check("throughput: no request failed", not errors, f"{len(errors)}: {errors[:5]}")
    line1 = f"throughput: creates/s 1 node={figures['creates 1']:.0f} 3 nodes={figures['creates 3']:.0f}"
    line2 = f"throughput: shows/s 1 node={figures['shows 1']:.0f} 3 nodes={figures['shows 3']:.0f}"
    print(line1 + f" (24 clients, 10 s each, {CATALOG} catalog, debug build, through HAProxy)", flush=True)
    print(line2, flush=True)
    # The images made here are checked by the consistency checks like any other (all queued).


def run1(r, stack):
    w = Workload("run1", stack.url, RUN1_SECONDS, CLIENTS,
                 # create upload patch tags share delete import show list
                 [12, 22, 16, 8, 8, 8, 10, 12, 4],
                 [(0, 256 * 1024, 50), (256 * 1024, 4 * MiB, 30), (4 * MiB, 16 * MiB, 15), (16 * MiB, 64 * MiB, 5)],
                 seed=1)
    w.run()
    report_failures(r, "run 1", w)
    r.check(f"run 1: {CLIENTS} clients for {RUN1_SECONDS:.0f} s, every request answered as expected",
            not w.failures, f"{len(w.failures)} failed (listed above)")
    largest = max((i.size or 0 for i in w.images if i.state == "active"), default=0)
    r.note(f"run 1: {len(w.upload_204)} uploads returned 204, "
           f"{sum(1 for i in w.images if i.import_accepted)} imports accepted, largest image {largest / MiB:.1f} MiB")
    left = wait_tasks_done(stack)
    r.check("run 1: every import task finished", not left, f"{left[:5]}")
    check_clients_view(r, "run 1", stack, [w])
    check_store(r, "run 1", stack)
    failed_tasks = stack.sql("select t.id, i.message from tasks t join task_info i on i.task_id = t.id "
                             "where not t.deleted and t.status = 'failure'")
    r.check("run 1: every task succeeded", not failed_tasks, f"{failed_tasks[:5]}")
    return w


def race(r, stack):
    rep = call(stack.url, "POST", "/v2/images", {"name": "race", "disk_format": "raw", "container_format": "bare"})
    image_id = rep.json()["id"]
    barrier = threading.Barrier(16)
    results: list[tuple] = [None] * 16

    def one(k):
        body = SeededBody(2 * MiB + k, 7000 + k)
        barrier.wait()
        rep = call(stack.url, "PUT", f"/v2/images/{image_id}/file", body,
                   {"Content-Type": "application/octet-stream", "X-Test-Id": f"race-{k}"})
        results[k] = (rep.status, rep.error, rep.upstream, body.md5.hexdigest(), body.size, body.left)

    ts = [threading.Thread(target=one, args=(k,)) for k in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    statuses = sorted(x[0] or 0 for x in results)
    r.eq("race: 16 concurrent uploads to one queued image give one 204 and fifteen 409s",
         statuses, [204] + [409] * 15)
    r.note(f"race: upstreams {sorted(set(x[2].split()[0] for x in results if x[2]))}; "
           f"losers' bytes sent before their 409: {sorted(x[4] - x[5] for x in results if x[0] == 409)[:4]}…")
    winner = [x for x in results if x[0] == 204]
    if len(winner) == 1:
        doc = call(stack.url, "GET", f"/v2/images/{image_id}").json()
        r.eq("race: the image is active with the winner's checksum and size",
             (doc["status"], doc["checksum"], doc["size"]), ("active", winner[0][3], winner[0][4]))


def patch_while_writing(r, stack):
    """A property added (through another node) while an upload or an import writes the image's data
    is still there when the image is active."""
    for kind in ("upload", "import"):
        image_id = call(stack.url, "POST", "/v2/images", {"name": f"pww-{kind}", "disk_format": "raw",
                                                          "container_format": "bare"}).json()["id"]
        body = SeededBody(48 * MiB, 99)
        result = {}
        if kind == "upload":
            t = threading.Thread(target=lambda: result.update(put=call(
                stack.url, "PUT", f"/v2/images/{image_id}/file", body, {"Content-Type": "application/octet-stream"})))
            t.start()
            busy = "saving"
        else:
            staged = call(stack.url, "PUT", f"/v2/images/{image_id}/stage", body, {"Content-Type": "application/octet-stream"})
            accepted = call(stack.url, "POST", f"/v2/images/{image_id}/import", {"method": {"name": "glance-direct"}})
            r.eq("patch while writing: stage + import accepted", (staged.status, accepted.status), (204, 202))
            t, busy = None, "importing"
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline:
            status = call(stack.url, "GET", f"/v2/images/{image_id}").json()["status"]
            if status != ("queued" if kind == "upload" else "uploading"):
                break
            time.sleep(0.02)
        ops = [{"op": "add", "path": "/p_during", "value": kind}]
        patched = call(stack.url, "PATCH", f"/v2/images/{image_id}", json.dumps(ops).encode(),
                       {"Content-Type": PATCH_TYPE})
        if t:
            t.join()
        while time.monotonic() < deadline:
            doc = call(stack.url, "GET", f"/v2/images/{image_id}").json()
            if doc["status"] not in ("saving", "importing", "uploading"):
                break
            time.sleep(0.2)
        r.note(f"patch while writing ({kind}): status when patched {status}, PATCH -> {patched.status}, "
               f"final {doc['status']}, p_during={doc.get('p_during')!r}")
        r.check(f"patch while writing ({kind}): a PATCH while the image is {busy} is accepted (200)",
                status != busy or patched.status == 200, f"{patched!r}")
        r.check(f"patch while writing ({kind}): the property added while {busy} survives the data write",
                patched.status != 200 or doc.get("p_during") == kind,
                f"image {doc['status']} without p_during after PATCH -> 200: the write's final update lost it")


def run2(r, stack):
    w = Workload("run2", stack.url, RUN2_SECONDS, CLIENTS,
                 [12, 22, 12, 6, 6, 6, 22, 10, 4],
                 [(0, 256 * 1024, 30), (256 * 1024, 4 * MiB, 30), (4 * MiB, 16 * MiB, 25), (16 * MiB, 48 * MiB, 15)],
                 seed=2)
    killed_at = [None]
    victim_tasks: list[str] = []

    def killer():
        # Kill node 2 once it runs an import task (between 6 and 18 s into the run).
        start = time.monotonic()
        time.sleep(6)
        while time.monotonic() - start < 18:
            running = {row[0] for row in stack.sql("select id from tasks where status = 'processing'")}
            started_there = set(re.findall(r"task=([0-9a-f-]{36}) type=\S+ \[GlimpseCore\] task started",
                                           stack.node_log(KILLED)))
            ended_there = set(re.findall(r"task=([0-9a-f-]{36}) \[GlimpseCore\] task (?:succeeded|failed)",
                                         stack.node_log(KILLED)))
            mine = running & (started_there - ended_there)
            if mine:
                victim_tasks.extend(sorted(mine))
                break
            time.sleep(0.2)
        os.kill(stack.node_pid(KILLED), signal.SIGKILL)
        killed_at[0] = time.monotonic() - start

    log_start = len(stack.haproxy_log())
    k = threading.Thread(target=killer)
    w.started = time.monotonic()
    k.start()
    w.run()
    k.join()
    r.note(f"run 2: node {KILLED} SIGKILLed {killed_at[0]:.1f} s into the run, while it ran import task(s) "
           f"{victim_tasks or 'none (none was running on it by 18 s)'}")
    report_failures(r, "run 2", w)

    # Attribution: HAProxy's log line for each failed request names the node that served it.
    time.sleep(1)
    log = stack.haproxy_log()
    by_id: dict[str, tuple] = {}
    down_at = None
    for i, line in enumerate(log):
        if i < log_start:
            continue
        m = re.match(r"^glimpse-lb \S+ \{([^}]*)\} (\S+) (-?\d+) (\S+)", line)
        if m and m.group(1).startswith("run2-"):
            by_id[m.group(1)] = (m.group(2), m.group(3), m.group(4), i)
        elif down_at is None and f"nodes/node{KILLED} is DOWN" in line:
            down_at = i
    unexplained = []
    killed_name = f"node{KILLED}"
    for f in w.failures:
        entry = by_id.get(f["test_id"])
        served_by = (f["upstream"] or "").split(" ")[0] or (entry[0] if entry else None)
        if served_by != killed_name:
            unexplained.append({**f, "haproxy": entry})
    r.check(f"run 2: every failed request ({len(w.failures)}) was served by the killed node {killed_name}",
            not unexplained, "; ".join(str(u) for u in unexplained[:6]))
    r.check(f"run 2: HAProxy marked {killed_name} down", down_at is not None, "no 'is DOWN' line in haproxy.log")
    if down_at is not None:
        after = [(k_, v) for k_, v in by_id.items() if v[0] == killed_name and v[3] > down_at]
        r.check(f"run 2: no request went to {killed_name} after it was marked down", not after, f"{after[:5]}")

    # The dead node's claimed tasks finish elsewhere; every accepted import and every 204 upload is there.
    left = wait_tasks_done(stack, timeout=240)
    r.check("run 2: every import task finished (the dead node's ones taken over after the claim timeout)",
            not left, f"{left[:5]}")
    for tid in victim_tasks:
        rows = stack.sql(f"select status from tasks where id = '{tid}'")
        r.eq(f"run 2: task {tid} (claimed by the killed node) ended success", rows, [("success",)])
        ran_on = [n for n in range(1, 4) if n != KILLED and f"task={tid} type=" in stack.node_log(n)]
        r.check(f"run 2: task {tid} was taken over by another node", ran_on, "no other node's log starts it")
    accepted = [i for i in w.images if i.import_accepted]
    accepted_ids = {i.id for i in accepted}
    task_rows = stack.sql("select t.status, i.input from tasks t join task_info i on i.task_id = t.id where not t.deleted")
    not_ok = [(s, v[:120]) for s, v in task_rows if s != "success" and any(x in v for x in accepted_ids)]
    r.check(f"run 2: all {len(accepted)} accepted imports' tasks ended success", not not_ok, f"{not_ok[:5]}")
    wrong = []
    for img in w.upload_204 + accepted:
        if img.state == "deleted":
            continue
        rep = call(stack.url, "GET", f"/v2/images/{img.id}")
        if rep.status == 404 and img.maybe_deleted:
            continue  # its DELETE was in flight on the killed node
        doc = rep.json() if rep.status == 200 else {"status": repr(rep)}
        if (doc.get("status"), doc.get("checksum"), doc.get("size")) != ("active", img.md5, img.size):
            wrong.append((img.id, img.origin, doc.get("status"), doc.get("checksum"), img.md5))
    r.check(f"run 2: no data lost: all {len(w.upload_204)} uploads that returned 204 and {len(accepted)} accepted "
            f"imports are active with the right checksum", not wrong, f"{wrong[:5]}")

    # The uploads and stages the killed node was streaming: once their write leases go stale
    # (the claim timeout), another node deletes what they left in Swift (segments of the
    # attempt) and queues their images again. Nothing of theirs may be left.
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and int(stack.sql("select count(*) from glimpse_write_leases")[0][0]) > 0:
        time.sleep(1)
    leases = stack.sql("select id, image_id, store, image_status, holder from glimpse_write_leases")
    r.check("run 2: every write lease ended (the killed node's ones taken over and undone by another node)",
            not leases, f"{leases[:5]}")
    interrupted = set()
    for f in w.failures:
        m = re.search(r"/v2/images/([0-9a-f-]{36})/(file|stage)", f["request"])
        if m:
            interrupted.add(m.group(1))
    undone = set()
    for n in range(1, 4):
        if n != KILLED:
            undone |= set(re.findall(r"image=([0-9a-f-]{36}) lease=\S+ store=\S+ \[GlimpseCore\] an abandoned write's image is queued again",
                                     stack.node_log(n)))
    r.note(f"run 2: {len(interrupted)} uploads/stages the killed node was serving; other nodes queued "
           f"{len(undone)} abandoned ones again")
    statuses = {i: st for i, st in stack.sql("select id, status from images where not deleted")}
    half = [(i, statuses.get(i)) for i in interrupted if statuses.get(i) in ("saving", "uploading")]
    r.check("run 2: no upload or stage the killed node was serving is left saving or uploading", not half, f"{half[:5]}")
    # Only an import task's write committed in the instant before the kill may leave an object.
    check_clients_view(r, "run 2", stack, [w])
    check_store(r, "run 2", stack, set(victim_tasks))
    return w


def multinode_test(r):
    if os.environ.get("GLIMPSE_URL"):
        raise SkipTest("starts its own nodes; GLIMPSE_URL is set")
    if not shutil.which("haproxy") and not os.path.exists("/usr/sbin/haproxy"):
        raise RuntimeError("haproxy is not installed (scripts/setup.sh installs it)")
    run_dir = tempfile.mkdtemp(prefix="glimpse-multinode-")
    stack = Stack(run_dir)
    t0 = time.monotonic()
    ok = False
    try:
        stack.start()
        r.note(f"{CATALOG} catalog, container {stack.container}, balancer {stack.url} (started in "
               f"{time.monotonic() - t0:.0f} s)")
        for phase in (throughput, run1, race, patch_while_writing, run2):
            t = time.monotonic()
            phase(r, stack)
            r.note(f"{phase.__name__}: {time.monotonic() - t:.0f} s")
        ok = r.failed == 0
    finally:
        if not ok:
            for n in range(1, 4):
                try:
                    errs = [line for line in stack.node_log(n).splitlines() if " error " in line or "warning" in line]
                    r.note(f"node {n} log: {len(errs)} warnings/errors; last: {errs[-5:]}")
                except OSError:
                    pass
        stack.stop()
        if os.environ.get("GLIMPSE_KEEP_TMP") == "1" or not ok:
            r.note(f"kept the run directory {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
        r.note(f"total {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    run_test("several Glimpse nodes behind a load balancer", multinode_test)
