"""Shared helpers for Glimpse's live integration tests (stdlib + the OpenStack clients).

Every test script talks to one live server:

* By default it starts one: ``$GLIMPSE_BIN serve --bind-host 127.0.0.1 --bind-port PORT
  [--config FILE]`` with its working directory set to a fresh temporary directory (the
  server creates ``./data/glimpse.db`` and ``./data/images/<id>`` there). GLIMPSE_BIN
  defaults to ``<repo>/.build/debug/glimpse``.
* With ``GLIMPSE_URL`` set (e.g. ``http://127.0.0.1:19292``, a real Glance) it uses that
  server instead and starts nothing. Checks that need the server's process or files are
  then skipped.

Identity (noauth): a request without identity headers is an admin of the server's
default project. ``identity(project, roles)`` builds the headers for someone else:
``X-Project-Id``, ``X-User-Id``, ``X-Roles`` and ``X-Identity-Status: Confirmed`` (the
last one is what Glance's header-trusting ``context`` middleware requires; Glimpse
ignores it).

Environment knobs:
  GLIMPSE_BIN        server binary (default <repo>/.build/debug/glimpse)
  GLIMPSE_URL        use this running server instead of starting one
  GLIMPSE_KEEP_TMP=1 keep the started server's temp dir (data + log) after the test
  GLIMPSE_VERBOSE=1  echo every openstack CLI command
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
import uuid

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# The shared folder (services/, conformance/): scripts/test.sh exports GLIMPSE_SHARED
# (scripts/shared-dir.sh finds it); <repo>/../shared otherwise.
SHARED = os.environ.get("GLIMPSE_SHARED") or os.path.normpath(os.path.join(REPO_ROOT, "..", "shared"))
DEFAULT_BIN = os.path.join(REPO_ROOT, ".build", "debug", "glimpse")
MiB = 1024 * 1024
GiB = 1024 * MiB


# --------------------------------------------------------------------------------------
# results: one line per check, "N passed, M failed[, K skipped]" at the end
# --------------------------------------------------------------------------------------
class Results:
    """Counts checks. ``check`` prints one line per check and never raises."""

    def __init__(self, title: str):
        self.title = title
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.failures: list[str] = []
        print(f"== {title}", flush=True)

    def check(self, name: str, cond, detail="") -> bool:
        if cond:
            self.passed += 1
            print(f"PASS {name}", flush=True)
        else:
            self.failed += 1
            self.failures.append(name)
            extra = f": {detail}" if detail != "" else ""
            print(f"FAIL {name}{extra}", flush=True)
        return bool(cond)

    def eq(self, name: str, got, want) -> bool:
        return self.check(name, got == want, f"got {got!r}, want {want!r}")

    def same_doc(self, name: str, got: dict, want: dict) -> bool:
        """Equal dicts; on failure, show only the keys that differ."""
        got, want = got or {}, want or {}
        diff = {k: (got.get(k, "<missing>"), want.get(k, "<missing>"))
                for k in sorted(set(got) | set(want)) if got.get(k, "<missing>") != want.get(k, "<missing>")}
        return self.check(name, not diff, "differs (got, want): " + repr(diff))

    def skip(self, name: str, why: str) -> None:
        self.skipped += 1
        print(f"SKIP {name} ({why})", flush=True)

    def note(self, text: str) -> None:
        print(f"     {text}", flush=True)

    def crash(self, where: str, exc: BaseException) -> None:
        self.failed += 1
        self.failures.append(f"{where}: {exc!r}")
        print(f"FAIL {where}: unexpected {type(exc).__name__}: {exc}", flush=True)
        traceback.print_exc(file=sys.stdout)

    def finish(self) -> int:
        """Print the closing line and return the process exit code."""
        if self.failures:
            print("failed checks:", flush=True)
            for f in self.failures:
                print(f"  - {f}")
        line = f"{self.passed} passed, {self.failed} failed"
        if self.skipped:
            line += f", {self.skipped} skipped"
        print(line, flush=True)
        return 1 if self.failed else 0


def run_test(title: str, body) -> None:
    """Run ``body(results)``; an exception counts as one failed check. Exits the process."""
    r = Results(title)

    def on_term(signum, _frame):  # e.g. `timeout` in scripts/test.sh: still stop our servers
        raise TimeoutError(f"terminated by signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    try:
        body(r)
    except SkipTest as e:
        r.skip(title, str(e))
    except BaseException as e:  # noqa: BLE001 - report everything, including asserts
        if isinstance(e, KeyboardInterrupt):
            raise
        r.crash("aborted", e)
    sys.exit(r.finish())


class SkipTest(Exception):
    pass


# --------------------------------------------------------------------------------------
# identities
# --------------------------------------------------------------------------------------
def identity(project: str, roles: str = "member,reader", user: str | None = None) -> dict:
    """noauth identity headers for a caller of ``project`` with ``roles``."""
    return {
        "X-Identity-Status": "Confirmed",
        "X-Project-Id": project,
        "X-User-Id": user or f"user-of-{project}",
        "X-Roles": roles,
    }


def new_project_id() -> str:
    return uuid.uuid4().hex


# --------------------------------------------------------------------------------------
# servers
# --------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_proc_status(pid: int) -> dict:
    """VmRSS / VmHWM (and friends) of ``pid`` in KiB, from /proc/<pid>/status."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("Vm"):
                k, v = line.split(":", 1)
                parts = v.split()
                if parts and parts[0].isdigit():
                    out[k] = int(parts[0])
    return out


def wait_http_ok(url: str, path: str = "/versions", timeout: float = 15.0, proc=None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            st, _, _ = request(url, "GET", path, timeout=2)
            if st == 200:
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


class Server:
    """A Glimpse server this test started (``managed``) or one given by GLIMPSE_URL."""

    def __init__(self, url: str, proc=None, workdir=None, log_path=None):
        self.url = url.rstrip("/")
        self.proc = proc
        self.workdir = workdir
        self.log_path = log_path

    @property
    def managed(self) -> bool:
        return self.proc is not None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def datadir(self) -> str | None:
        return os.path.join(self.workdir, "data") if self.workdir else None

    @property
    def images_dir(self) -> str | None:
        return os.path.join(self.workdir, "data", "images") if self.workdir else None

    def memory(self) -> dict:
        """{'VmRSS': KiB, 'VmHWM': KiB, ...} of the server process."""
        if not self.proc:
            raise RuntimeError("memory() needs a server started by the test")
        return read_proc_status(self.proc.pid)

    def log_tail(self, n: int = 60) -> str:
        if not self.log_path or not os.path.exists(self.log_path):
            return ""
        with open(self.log_path, errors="replace") as fh:
            return "".join(fh.readlines()[-n:])

    def stop(self, keep: bool | None = None) -> int | None:
        """SIGTERM, wait up to 15 s (then SIGKILL); remove the temp dir unless kept."""
        rc = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                print(f"     server pid {self.proc.pid} ignored SIGTERM for 15 s; killing it", flush=True)
                self.proc.kill()
                rc = self.proc.wait()
        elif self.proc:
            rc = self.proc.returncode
        if keep is None:
            keep = os.environ.get("GLIMPSE_KEEP_TMP") == "1"
        if self.workdir and not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        elif self.workdir:
            print(f"     kept {self.workdir}", flush=True)
        return rc


def glimpse_bin() -> str:
    """GLIMPSE_BIN (a relative path is taken from the current directory), else the debug build."""
    return os.path.abspath(os.environ.get("GLIMPSE_BIN") or DEFAULT_BIN)


def start_glimpse(config: str | None = None, extra_args=(), env=None, timeout: float = 15.0,
                  workdir: str | None = None) -> Server:
    """Start ``glimpse serve`` on a free loopback port in a fresh temp dir; wait for
    ``GET /versions`` → 200. Raises RuntimeError (with the server log) on failure."""
    binary = glimpse_bin()
    if not os.path.isfile(binary) or not os.access(binary, os.X_OK):
        raise RuntimeError(f"glimpse binary not found or not executable: {binary} "
                           f"(build it with `swift build`, or set GLIMPSE_BIN / GLIMPSE_URL)")
    own_workdir = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="glimpse-it-")
    try:
        return _start_in(binary, workdir, config, extra_args, env, timeout)
    except BaseException:
        if own_workdir and os.environ.get("GLIMPSE_KEEP_TMP") != "1":
            shutil.rmtree(workdir, ignore_errors=True)
        raise


def _start_in(binary, workdir, config, extra_args, env, timeout) -> Server:
    log_path = os.path.join(workdir, "server.log")
    last_log = ""
    for attempt in range(3):  # a port picked by bind(0) can be taken again before we use it
        port = free_port()
        cmd = [binary, "serve", "--bind-host", "127.0.0.1", "--bind-port", str(port)]
        if config:
            cmd += ["--config", config]
        cmd += list(extra_args)
        logf = open(log_path, "ab")
        proc = subprocess.Popen(cmd, cwd=workdir, stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
        logf.close()
        url = f"http://127.0.0.1:{port}"
        srv = Server(url, proc, workdir, log_path)
        try:
            up = wait_http_ok(url, timeout=timeout, proc=proc)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        if up:
            print(f"     started glimpse pid {proc.pid} at {url} (dir {workdir})", flush=True)
            return srv
        exited = proc.poll() is not None
        if not exited:
            proc.kill()
            proc.wait()
        last_log = srv.log_tail()
        if not exited or "in use" not in last_log.lower():
            break
    print(f"----- server log ({log_path}) -----\n{last_log}\n-----", flush=True)
    raise RuntimeError(f"glimpse did not answer GET /versions with 200 within {timeout:.0f} s: {' '.join(cmd)}")


@contextlib.contextmanager
def server(config: str | None = None, need_managed: bool = False, **kw):
    """Yield a Server: GLIMPSE_URL's if set (SkipTest if ``need_managed``), else a new one."""
    url = os.environ.get("GLIMPSE_URL")
    if url:
        if need_managed:
            raise SkipTest("needs a server the test starts itself; GLIMPSE_URL is set")
        print(f"     using running server {url} (GLIMPSE_URL)", flush=True)
        yield Server(url)
        return
    srv = start_glimpse(config=config, **kw)
    try:
        yield srv
    finally:
        rc = srv.stop()
        print(f"     stopped glimpse (exit status {rc})", flush=True)


# --------------------------------------------------------------------------------------
# raw HTTP
# --------------------------------------------------------------------------------------
def _split(url: str):
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port or 80, u.path.rstrip("/")


def connect(url: str, timeout: float = 120) -> tuple[http.client.HTTPConnection, str]:
    host, port, base = _split(url)
    return http.client.HTTPConnection(host, port, timeout=timeout), base


class Response:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body) if self.body else None

    def header(self, name: str):
        return self.headers.get(name)

    def __iter__(self):  # (status, headers, body) unpacking
        return iter((self.status, self.headers, self.body))

    def __repr__(self):
        return f"<HTTP {self.status} {self.body[:200]!r}>"


def request(url: str, method: str, path: str, body=None, headers=None, timeout: float = 120) -> Response:
    """One request on a fresh connection. ``body`` may be bytes, a dict/list (sent as
    JSON unless Content-Type says otherwise), or a file object."""
    conn, base = connect(url, timeout)
    hd = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        hd.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, base + path, body=body, headers=hd)
        r = conn.getresponse()
        data = r.read()
        return Response(r.status, r.headers, data)
    finally:
        conn.close()


class Api:
    """Glance v2 calls for one identity (None = the server's default noauth admin)."""

    def __init__(self, url: str, ident: dict | None = None):
        self.url = url.rstrip("/")
        self.ident = dict(ident or {})

    def __call__(self, method, path, body=None, headers=None, timeout=120) -> Response:
        return request(self.url, method, path, body, {**self.ident, **(headers or {})}, timeout)

    def create(self, **fields) -> dict:
        r = self("POST", "/v2/images", fields)
        if r.status != 201:
            raise RuntimeError(f"POST /v2/images -> {r.status}: {r.body[:300]!r}")
        return r.json()

    def show(self, image_id) -> Response:
        return self("GET", f"/v2/images/{image_id}")

    def image(self, image_id) -> dict:
        r = self.show(image_id)
        if r.status != 200:
            raise RuntimeError(f"GET /v2/images/{image_id} -> {r.status}: {r.body[:300]!r}")
        return r.json()

    def upload(self, image_id, data: bytes) -> Response:
        return self("PUT", f"/v2/images/{image_id}/file", data,
                    {"Content-Type": "application/octet-stream"})

    def download(self, image_id) -> Response:
        return self("GET", f"/v2/images/{image_id}/file")

    def delete(self, image_id) -> Response:
        return self("DELETE", f"/v2/images/{image_id}")

    def patch(self, image_id, ops) -> Response:
        return self("PATCH", f"/v2/images/{image_id}", json.dumps(ops).encode(),
                    {"Content-Type": "application/openstack-images-v2.1-json-patch"})

    def list_ids(self, query: str = "", max_pages: int = 1000) -> list[str]:
        """All image ids of a (filtered) list, following ``next`` links."""
        ids = []
        path = "/v2/images" + (f"?{query}" if query else "")
        for _ in range(max_pages):
            r = self("GET", path)
            if r.status != 200:
                raise RuntimeError(f"GET {path} -> {r.status}: {r.body[:300]!r}")
            doc = r.json()
            ids += [i["id"] for i in doc["images"]]
            if not doc.get("next") or not doc["images"]:
                break
            path = doc["next"]
        return ids


def wait_status(api: Api, image_id: str, want, timeout: float = 10.0) -> str | None:
    """Poll until the image status is in ``want``; return the last status seen."""
    want = {want} if isinstance(want, str) else set(want)
    deadline = time.monotonic() + timeout
    status = None
    while True:
        r = api.show(image_id)
        status = r.json().get("status") if r.status == 200 else f"HTTP {r.status}"
        if status in want or time.monotonic() >= deadline:
            return status
        time.sleep(0.1)


def server_ignores_identity(api_admin: Api) -> bool:
    """True when the server treats every caller as admin (e.g. Glance's noauth
    ``unauthenticated-context`` paste flavor): a private image is then visible to a
    stranger project. Creates and deletes one probe image."""
    img = api_admin.create(name=f"identity-probe-{uuid.uuid4().hex[:8]}", visibility="private")
    try:
        stranger = Api(api_admin.url, identity(new_project_id(), "member,reader"))
        return stranger.show(img["id"]).status == 200
    finally:
        api_admin.delete(img["id"])


# --------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------
def hashes_of_stream(fh, chunk: int = MiB) -> tuple[str, str, int]:
    """md5 and sha512 hex digests and the byte count of anything with ``read(n)``."""
    md5, sha = hashlib.md5(), hashlib.sha512()
    n = 0
    while True:
        b = fh.read(chunk)
        if not b:
            break
        md5.update(b)
        sha.update(b)
        n += len(b)
    return md5.hexdigest(), sha.hexdigest(), n


def hashes_of_file(path: str, chunk: int = MiB) -> tuple[str, str, int]:
    with open(path, "rb") as fh:
        return hashes_of_stream(fh, chunk)


def write_random_file(path: str, size: int) -> None:
    with open(path, "wb") as fh:
        left = size
        while left:
            n = min(left, 4 * MiB)
            fh.write(os.urandom(n))
            left -= n


class RepeatingStream:
    """A file-like body of ``size`` bytes made of one repeated pseudo-random block; never
    holds more than one block. Hashes what it hands out (md5 + sha512) as it goes."""

    def __init__(self, size: int, block_size: int = MiB, seed: bytes = b"glimpse"):
        self.size = size
        blk = bytearray()
        counter = 0
        while len(blk) < block_size:
            blk += hashlib.sha512(seed + counter.to_bytes(8, "big")).digest()
            counter += 1
        self.block = bytes(blk[:block_size])
        self.sent = 0
        self.md5 = hashlib.md5()
        self.sha512 = hashlib.sha512()

    def read(self, n: int = -1) -> bytes:
        left = self.size - self.sent
        if left <= 0:
            return b""
        if n is None or n < 0 or n > len(self.block):
            n = len(self.block)
        n = min(n, left)
        off = self.sent % len(self.block)
        if off + n <= len(self.block):
            b = self.block[off:off + n]
        else:
            b = self.block[off:] + self.block[:n - (len(self.block) - off)]
        self.sent += len(b)
        self.md5.update(b)
        self.sha512.update(b)
        return b

    def expected_hashes(self) -> tuple[str, str]:
        """md5/sha512 of the whole stream, computed without sending."""
        md5, sha = hashlib.md5(), hashlib.sha512()
        full, rest = divmod(self.size, len(self.block))
        for _ in range(full):
            md5.update(self.block)
            sha.update(self.block)
        md5.update(self.block[:rest])
        sha.update(self.block[:rest])
        return md5.hexdigest(), sha.hexdigest()


class RssSampler(threading.Thread):
    """Samples VmRSS of ``pid`` every ``interval`` seconds; ``peak_kib`` is the maximum."""

    def __init__(self, pid: int, interval: float = 0.05):
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self.samples = 0
        self._stop_ev = threading.Event()

    def run(self):
        while True:
            try:
                rss = read_proc_status(self.pid).get("VmRSS", 0)
                self.peak_kib = max(self.peak_kib, rss)
                self.samples += 1
            except OSError:
                pass
            if self._stop_ev.wait(self.interval):
                break

    def stop(self) -> int:
        self._stop_ev.set()
        self.join()
        return self.peak_kib


# --------------------------------------------------------------------------------------
# the real clients
# --------------------------------------------------------------------------------------
def openstack_bin() -> str:
    cand = os.path.join(os.path.dirname(sys.executable), "openstack")
    if os.path.exists(cand):
        return cand
    found = shutil.which("openstack")
    if not found:
        raise RuntimeError("the openstack CLI is not installed (run scripts/setup.sh and use .venv/bin/python)")
    return found


class CliError(RuntimeError):
    def __init__(self, cmd, rc, out, err):
        super().__init__(f"openstack {' '.join(cmd)} exited {rc}: {err.strip()[-800:]}")
        self.rc, self.out, self.err = rc, out, err


def openstack_cli(url: str, *args, parse_json: bool | None = None, check: bool = True, timeout: float = 600):
    """Run ``openstack --os-auth-type none --os-endpoint URL <args>``. With ``-f json`` in
    args (or parse_json) the output is parsed. Returns parsed JSON, stdout text, or
    (rc, stdout, stderr) when check=False."""
    cmd = [openstack_bin(), "--os-auth-type", "none", "--os-endpoint", url,
           "--os-image-api-version", "2"] + [str(a) for a in args]
    if os.environ.get("GLIMPSE_VERBOSE") == "1":
        print("     $ " + " ".join(cmd), flush=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                       stdin=subprocess.DEVNULL)
    if not check:
        return p.returncode, p.stdout, p.stderr
    if p.returncode != 0:
        raise CliError(args, p.returncode, p.stdout, p.stderr)
    if parse_json is None:
        parse_json = "json" in args
    if parse_json:
        return json.loads(p.stdout) if p.stdout.strip() else None
    return p.stdout


def sdk_connection(url: str, headers: dict | None = None):
    """An openstacksdk Connection in noauth mode (auth_type='none', endpoint=url); extra
    headers (e.g. an identity) go on every request via the session's additional_headers."""
    import openstack  # noqa: PLC0415 - only the venv has it

    conn = openstack.connect(auth_type="none", auth={"endpoint": url}, load_yaml_config=False,
                             load_envvars=False)
    if headers:
        conn.session.additional_headers.update(headers)
    return conn
