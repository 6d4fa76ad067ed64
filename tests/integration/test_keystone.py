"""Keystone authentication and Glance's default policy, with a real Keystone and the real clients.

Glimpse runs with ``[paste_deploy] flavor = keystone`` against the Keystone started by
``shared/services/start-keystone.sh`` (its ``export`` lines are expected in the environment;
without GLIMPSE_KEYSTONE_URL this script runs it itself, state under ``<repo>/.services``).
The users are that script's: p1-admin (admin on p1), p1-member (member + reader on p1),
p1-reader (reader on p1), p2-member (member + reader on p2), password "secret"; the service
user glance (project service) is what Glimpse logs in with.

Checked:
 1. no token / a forged token → 401 with ``WWW-Authenticate: Keystone uri="<keystone>"``; the
    version documents answer without a token; noauth identity headers are not trusted;
 2. p1-member with the ``openstack`` CLI (create --file, show, list, save, set --property,
    delete) and with openstacksdk (create_image + download);
 3. a reader cannot create, upload or download (Glance 33's defaults), but can list and show its project's images;
 4. another project's member neither sees nor lists a private image (404);
 5. only admin publicizes by default (create --public and set --public as member → 403);
    p1-admin's public image is seen by p2-member;
 6. a policy.yaml with ``"publicize_image": "role:member"`` (second server) lets a member
    create a public image;
 7. sharing: add project, p2-member accepts, then sees and lists it;
 8. X-Service-Token: user token + the glance service user's token → 200; forged → 401;
 9. Keystone unreachable (third server, auth_url on a closed port) → 503 quickly, never 200.

The clients find Glimpse through OS_IMAGE_ENDPOINT_OVERRIDE / image_endpoint_override, so
Keystone's catalog needs no image endpoint.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from common import (SHARED, MiB, REPO_ROOT, SkipTest, free_port, hashes_of_file, openstack_bin,  # noqa: E402
                    request, run_test, start_glimpse, write_random_file)

PASSWORD_DEFAULT = "secret"


# --------------------------------------------------------------------------------------
# Keystone
# --------------------------------------------------------------------------------------
def keystone_env() -> None:
    """Make sure GLIMPSE_KEYSTONE_* are set: run start-keystone.sh and take its exports."""
    if os.environ.get("GLIMPSE_KEYSTONE_URL"):
        return
    shared = SHARED
    script = os.path.join(shared, "services", "start-keystone.sh")
    if not os.path.isfile(script):
        raise SkipTest(f"GLIMPSE_KEYSTONE_URL is not set and {script} does not exist")
    print(f"     starting Keystone with {script}", flush=True)
    env = {**os.environ, "GLIMPSE_SERVICES_DIR": os.environ.get("GLIMPSE_SERVICES_DIR")
           or os.path.join(REPO_ROOT, ".services")}
    p = subprocess.run(["bash", script], capture_output=True, text=True, env=env, timeout=1800,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise RuntimeError(f"start-keystone.sh exited {p.returncode}: {p.stderr.strip()[-1500:]}")
    for line in p.stdout.splitlines():
        line = line.strip()
        if line.startswith("export ") and "=" in line:
            k, v = line[len("export "):].split("=", 1)
            os.environ[k.strip()] = v.strip().strip("'\"")
    if not os.environ.get("GLIMPSE_KEYSTONE_URL"):
        raise RuntimeError(f"start-keystone.sh printed no GLIMPSE_KEYSTONE_URL: {p.stdout!r}")


class Keystone:
    def __init__(self):
        self.url = os.environ["GLIMPSE_KEYSTONE_URL"].rstrip("/")
        self.v3 = (os.environ.get("GLIMPSE_KEYSTONE_V3_URL") or self.url + "/v3").rstrip("/")
        self.service_user = os.environ.get("GLIMPSE_KEYSTONE_SERVICE_USER", "glance")
        self.service_password = os.environ.get("GLIMPSE_KEYSTONE_SERVICE_PASSWORD", "glance-service-secret")
        self.service_project = os.environ.get("GLIMPSE_KEYSTONE_SERVICE_PROJECT", "service")
        self.password = os.environ.get("GLIMPSE_KEYSTONE_TEST_PASSWORD", PASSWORD_DEFAULT)
        self.domain = os.environ.get("GLIMPSE_KEYSTONE_TEST_DOMAIN", "Default")

    def token(self, user: str, project: str, password: str | None = None) -> tuple[str, str]:
        """(token id, project id) of a project-scoped password login."""
        doc = {"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": user, "domain": {"name": self.domain}, "password": password or self.password}}},
            "scope": {"project": {"name": project, "domain": {"name": self.domain}}}}}
        req = urllib.request.Request(self.v3 + "/auth/tokens", data=json.dumps(doc).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=30) as resp:
            tok = resp.headers["X-Subject-Token"]
            body = json.loads(resp.read())
        return tok, body["token"]["project"]["id"]


# users: name → project
USERS = {"p1-admin": "p1", "p1-member": "p1", "p1-reader": "p1", "p2-member": "p2"}


class Cli:
    """The ``openstack`` CLI logged in to Keystone as one user, talking to one Glimpse."""

    def __init__(self, ks: Keystone, url: str, user: str, project: str):
        self.ks, self.url, self.user, self.project = ks, url, user, project

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update({
            "OS_AUTH_URL": self.ks.v3, "OS_IDENTITY_API_VERSION": "3", "OS_AUTH_TYPE": "password",
            "OS_USERNAME": self.user, "OS_PASSWORD": self.ks.password, "OS_PROJECT_NAME": self.project,
            "OS_USER_DOMAIN_NAME": self.ks.domain, "OS_PROJECT_DOMAIN_NAME": self.ks.domain,
            "OS_IMAGE_API_VERSION": "2", "OS_IMAGE_ENDPOINT_OVERRIDE": self.url,
        })
        return env

    def run(self, *args, timeout: float = 120) -> tuple[int, str, str]:
        cmd = [openstack_bin()] + [str(a) for a in args]
        if os.environ.get("GLIMPSE_VERBOSE") == "1":
            print(f"     [{self.user}] $ " + " ".join(cmd), flush=True)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=self.env(),
                           stdin=subprocess.DEVNULL)
        return p.returncode, p.stdout, p.stderr

    def json(self, *args):
        """Run with ``-f json``; the parsed output, or raise with the CLI's stderr."""
        rc, out, err = self.run(*args, "-f", "json")
        if rc != 0:
            raise RuntimeError(f"openstack {' '.join(map(str, args))} as {self.user} exited {rc}: {err.strip()[-800:]}")
        return json.loads(out) if out.strip() else None

    def ok(self, *args) -> tuple[bool, str]:
        rc, out, err = self.run(*args)
        return rc == 0, (out + err).strip()[-800:]


def forbidden(rc: int, text: str) -> bool:
    """A CLI run that failed because the server answered 403."""
    return rc != 0 and ("403" in text or "Forbidden" in text)


def sdk_for(ks: Keystone, url: str, user: str, project: str):
    import openstack  # noqa: PLC0415 - only the venv has it
    return openstack.connect(auth_url=ks.v3, username=user, password=ks.password, project_name=project,
                             user_domain_name=ks.domain, project_domain_name=ks.domain,
                             identity_api_version="3", image_endpoint_override=url,
                             load_yaml_config=False, load_envvars=False)


def write_conf(workdir: str, ks: Keystone, auth_url: str | None = None, policy: dict | None = None) -> str:
    """A glance-api.conf (and policy.yaml next to it when ``policy``) in ``workdir``."""
    os.makedirs(workdir, exist_ok=True)
    auth_url = auth_url or ks.url
    conf = os.path.join(workdir, "glance-api.conf")
    with open(conf, "w") as f:
        f.write("[paste_deploy]\nflavor = keystone\n\n"
                "[keystone_authtoken]\n"
                f"www_authenticate_uri = {auth_url}\nauth_url = {auth_url}\n"
                f"username = {ks.service_user}\npassword = {ks.service_password}\n"
                f"project_name = {ks.service_project}\n"
                "user_domain_name = Default\nproject_domain_name = Default\n"
                "http_connect_timeout = 2\nhttp_request_timeout = 5\n\n"
                "[oslo_policy]\npolicy_file = policy.yaml\n")
    if policy is not None:
        with open(os.path.join(workdir, "policy.yaml"), "w") as f:
            for rule, check in policy.items():
                f.write(f"{json.dumps(rule)}: {json.dumps(check)}\n")
    return conf


def image_doc(name: str, **extra) -> dict:
    return {"name": name, "disk_format": "raw", "container_format": "bare", **extra}


# --------------------------------------------------------------------------------------
# the test
# --------------------------------------------------------------------------------------
def body(r):
    if os.environ.get("GLIMPSE_URL"):
        raise SkipTest("starts its own Keystone-configured servers; GLIMPSE_URL is set")
    keystone_env()
    ks = Keystone()
    tag = uuid.uuid4().hex[:8]
    work = tempfile.mkdtemp(prefix="glimpse-keystone-")
    servers = []
    try:
        toks, pid = {}, {}
        for user, project in USERS.items():
            toks[user], pid[user] = ks.token(user, project)
        svc_token, _ = ks.token(ks.service_user, ks.service_project, ks.service_password)
        p1, p2 = pid["p1-member"], pid["p2-member"]
        r.check("keystone: p1 and p2 are different projects", p1 != p2 and p1 == pid["p1-reader"], (p1, p2))

        main = start_glimpse(config=write_conf(os.path.join(work, "main"), ks))
        servers.append(main)
        url = main.url

        def as_(user, method, path, body=None, headers=None):
            return request(url, method, path, body, {"X-Auth-Token": toks[user], **(headers or {})})

        # ---- 1. unauthenticated ----------------------------------------------------------
        a = request(url, "GET", "/v2/images")
        r.eq("no token: GET /v2/images → 401", a.status, 401)
        r.eq("no token: WWW-Authenticate names Keystone", a.header("WWW-Authenticate"), f'Keystone uri="{ks.url}"')
        r.eq("forged token → 401", request(url, "GET", "/v2/images",
                                           headers={"X-Auth-Token": "gAAAAA" + uuid.uuid4().hex * 4}).status, 401)
        r.eq("no token: GET / → 300", request(url, "GET", "/").status, 300)
        r.eq("no token: GET /versions → 200", request(url, "GET", "/versions").status, 200)
        noauth = {"X-Identity-Status": "Confirmed", "X-Roles": "admin", "X-Project-Id": p1,
                  "X-User-Id": "intruder", "X-Tenant-Id": p1}
        r.eq("noauth identity headers (X-Roles: admin) without a token → 401",
             request(url, "GET", "/v2/images", headers=noauth).status, 401)
        r.eq("noauth identity headers cannot create without a token → 401",
             request(url, "POST", "/v2/images", image_doc(f"intruder-{tag}"), noauth).status, 401)
        r.eq("valid token: GET /v2/images → 200", as_("p1-member", "GET", "/v2/images").status, 200)

        # ---- 2. p1-member with the openstack CLI and openstacksdk -------------------------
        member = Cli(ks, url, "p1-member", "p1")
        path = os.path.join(work, "disk.raw")
        write_random_file(path, 3 * MiB + 4321)
        md5, _sha, size = hashes_of_file(path)
        name = f"kst-cli-{tag}"
        created = member.json("image", "create", "--disk-format", "raw", "--container-format", "bare",
                              "--private", "--file", path, name)
        iid = created.get("id")
        shown = member.json("image", "show", iid)
        r.eq("cli image show: owner is p1's project id", shown.get("owner"), p1)
        r.eq("cli image show: checksum is the file's md5", shown.get("checksum"), md5)
        r.eq("cli image show: size", shown.get("size"), size)
        r.eq("cli image show: status active", shown.get("status"), "active")
        listed = member.json("image", "list")
        r.check("cli image list shows it", any(i.get("ID") == iid for i in listed or []), listed)
        saved = os.path.join(work, "saved.raw")
        ok, out = member.ok("image", "save", "--file", saved, iid)
        r.check("cli image save: exit 0", ok, out)
        r.check("cli image save: identical bytes",
                os.path.exists(saved) and hashes_of_file(saved)[0] == md5 and os.path.getsize(saved) == size)
        ok, out = member.ok("image", "set", "--property", f"kst_key=v-{tag}", iid)
        r.check("cli image set --property: exit 0", ok, out)
        r.eq("image set --property stored", as_("p1-member", "GET", f"/v2/images/{iid}").json().get("kst_key"), f"v-{tag}")

        sdk = sdk_for(ks, url, "p1-member", "p1")
        data = os.urandom(MiB + 17)
        simg = sdk.image.create_image(name=f"kst-sdk-{tag}", data=data, disk_format="raw",
                                      container_format="bare", visibility="private", allow_duplicates=True)
        simg = sdk.image.get_image(simg.id)
        r.eq("sdk create_image: status active", simg.status, "active")
        r.eq("sdk create_image: owner p1", simg.owner, p1)
        r.eq("sdk create_image: checksum", simg.checksum, hashlib.md5(data).hexdigest())
        dl = sdk.image.download_image(simg)
        got = dl.content if hasattr(dl, "content") else dl
        r.check("sdk download_image: identical bytes", got == data, f"{len(got)} bytes vs {len(data)}")

        # ---- 3. readers ------------------------------------------------------------------
        q = as_("p1-member", "POST", "/v2/images", image_doc(f"kst-queued-{tag}"))
        queued = (q.json() or {}).get("id")
        r.eq("p1-member creates a queued image → 201", q.status, 201)
        r.eq("p1-reader POST /v2/images → 403",
             as_("p1-reader", "POST", "/v2/images", image_doc(f"kst-reader-{tag}")).status, 403)
        r.eq("p1-reader PUT data into p1-member's queued image → 403",
             as_("p1-reader", "PUT", f"/v2/images/{queued}/file", b"x" * 1024,
                 {"Content-Type": "application/octet-stream"}).status, 403)
        r.eq("queued image still queued after the reader's upload",
             as_("p1-member", "GET", f"/v2/images/{queued}").json().get("status"), "queued")
        lr = as_("p1-reader", "GET", "/v2/images")
        r.eq("p1-reader GET /v2/images → 200", lr.status, 200)
        r.check("p1-reader's list has p1's private image",
                any(i["id"] == iid for i in (lr.json() or {}).get("images", [])))
        r.eq("p1-reader GET p1's image → 200", as_("p1-reader", "GET", f"/v2/images/{iid}").status, 200)
        # Glance 33's download_image needs role:member on every path, so a reader cannot download.
        d = as_("p1-reader", "GET", f"/v2/images/{iid}/file")
        r.eq("p1-reader download → 403 (download_image needs member)", d.status, 403)

        # ---- 4. another project ----------------------------------------------------------
        r.eq("p2-member GET p1's private image → 404", as_("p2-member", "GET", f"/v2/images/{iid}").status, 404)
        r.eq("p2-member download p1's private image → 404",
             as_("p2-member", "GET", f"/v2/images/{iid}/file").status, 404)
        l2 = as_("p2-member", "GET", "/v2/images")
        r.check("p2-member's list lacks p1's private image",
                l2.status == 200 and all(i["id"] != iid for i in l2.json().get("images", [])), l2)
        r.eq("p2-member DELETE p1's private image → 404", as_("p2-member", "DELETE", f"/v2/images/{iid}").status, 404)

        # ---- 5. publicizing: admin only by default -----------------------------------------
        pub_name = f"kst-pub-member-{tag}"
        rc, out, err = member.run("image", "create", "--disk-format", "raw", "--container-format", "bare",
                                  "--public", pub_name)
        r.check("p1-member `image create --public` fails with 403", forbidden(rc, out + err), f"rc {rc}: {(out + err)[-400:]}")
        names = [i["name"] for i in as_("p1-admin", "GET", "/v2/images").json().get("images", [])]
        r.check("no image left behind by the refused create", pub_name not in names)
        rc, out, err = member.run("image", "set", "--public", iid)
        r.check("p1-member `image set --public` on its own image fails with 403",
                forbidden(rc, out + err), f"rc {rc}: {(out + err)[-400:]}")
        r.eq("the image is still private", as_("p1-member", "GET", f"/v2/images/{iid}").json().get("visibility"),
             "private")
        admin = Cli(ks, url, "p1-admin", "p1")
        pub = admin.json("image", "create", "--disk-format", "raw", "--container-format", "bare",
                         "--public", f"kst-pub-admin-{tag}")
        pub_id = pub.get("id")
        r.eq("p1-admin `image create --public`: visibility public", pub.get("visibility"), "public")
        r.eq("p2-member GET p1-admin's public image → 200",
             as_("p2-member", "GET", f"/v2/images/{pub_id}").status, 200)
        r.check("p2-member's list has the public image",
                any(i["id"] == pub_id for i in as_("p2-member", "GET", "/v2/images").json().get("images", [])))

        # ---- 7. sharing --------------------------------------------------------------------
        sh = member.json("image", "create", "--disk-format", "raw", "--container-format", "bare",
                         "--shared", f"kst-shared-{tag}")
        sh_id = sh.get("id")
        r.eq("p2-member cannot see the shared image before it is added → 404",
             as_("p2-member", "GET", f"/v2/images/{sh_id}").status, 404)
        ok, out = member.ok("image", "add", "project", sh_id, p2)
        r.check("p1-member `image add project <p2>`: exit 0", ok, out)
        mem = as_("p1-member", "GET", f"/v2/images/{sh_id}/members/{p2}")
        r.eq("member record: status pending", (mem.json() or {}).get("status"), "pending")
        r.check("p2-member's list lacks the pending shared image",
                all(i["id"] != sh_id for i in as_("p2-member", "GET", "/v2/images").json().get("images", [])))
        p2cli = Cli(ks, url, "p2-member", "p2")
        ok, out = p2cli.ok("image", "set", "--accept", sh_id)
        r.check("p2-member `image set --accept`: exit 0", ok, out)
        mem = as_("p1-member", "GET", f"/v2/images/{sh_id}/members/{p2}")
        r.eq("member record: status accepted", (mem.json() or {}).get("status"), "accepted")
        seen = p2cli.json("image", "show", sh_id)
        r.eq("p2-member `image show` of the accepted image: owner p1", seen.get("owner"), p1)
        r.check("p2-member's list has the accepted shared image",
                any(i["id"] == sh_id for i in as_("p2-member", "GET", "/v2/images").json().get("images", [])))
        r.eq("p2-member (a member, not the owner) cannot delete it → 403",
             as_("p2-member", "DELETE", f"/v2/images/{sh_id}").status, 403)

        # ---- 8. X-Service-Token ------------------------------------------------------------
        s = as_("p1-member", "GET", f"/v2/images/{iid}", headers={"X-Service-Token": svc_token})
        r.eq("user token + glance's service token → 200", s.status, 200)
        s = as_("p1-member", "GET", "/v2/images", headers={"X-Service-Token": "gAAAAA" + uuid.uuid4().hex * 4})
        r.eq("user token + forged X-Service-Token → 401", s.status, 401)

        # ---- 2 (end): delete with the CLI --------------------------------------------------
        ok, out = member.ok("image", "delete", iid)
        r.check("cli image delete: exit 0", ok, out)
        r.eq("deleted image: GET → 404", as_("p1-member", "GET", f"/v2/images/{iid}").status, 404)
        sdk.image.delete_image(simg.id, ignore_missing=True)
        r.eq("sdk delete_image: GET → 404", as_("p1-member", "GET", f"/v2/images/{simg.id}").status, 404)

        # ---- 6. policy.yaml override (second server) ---------------------------------------
        over = start_glimpse(config=write_conf(os.path.join(work, "policy"), ks,
                                               policy={"publicize_image": "role:member"}))
        servers.append(over)
        m2 = Cli(ks, over.url, "p1-member", "p1")
        rc, out, err = m2.run("image", "create", "--disk-format", "raw", "--container-format", "bare",
                              "--public", f"kst-pub-policy-{tag}", "-f", "json")
        doc = json.loads(out) if rc == 0 and out.strip() else {}
        r.check("policy.yaml publicize_image: role:member → p1-member `image create --public` succeeds",
                rc == 0, f"rc {rc}: {err.strip()[-400:]}")
        r.eq("policy.yaml override: the image is public", doc.get("visibility"), "public")
        rdr = request(over.url, "POST", "/v2/images", image_doc(f"kst-pub-reader-{tag}", visibility="public"),
                      {"X-Auth-Token": toks["p1-reader"]})
        r.eq("policy.yaml override: a reader still cannot create a public image → 403", rdr.status, 403)
        servers.remove(over)
        print(f"     stopped glimpse {over.url} (exit status {over.stop()})", flush=True)

        # ---- 9. Keystone unreachable (third server) ----------------------------------------
        dead = f"http://127.0.0.1:{free_port()}"
        down = start_glimpse(config=write_conf(os.path.join(work, "down"), ks, auth_url=dead))
        servers.append(down)
        t0 = time.monotonic()
        try:
            st = request(down.url, "GET", "/v2/images", headers={"X-Auth-Token": toks["p1-member"]}, timeout=30).status
        except OSError as e:
            st = f"{type(e).__name__}: {e}"
        took = time.monotonic() - t0
        r.eq("keystone unreachable: a request with a token → 503", st, 503)
        r.check("keystone unreachable: answered within 10 s", took < 10, f"{took:.1f} s")
        try:
            st = request(down.url, "GET", "/v2/images", headers={"X-Auth-Token": "gAAAAA" + uuid.uuid4().hex * 4},
                         timeout=30).status
        except OSError as e:
            st = f"{type(e).__name__}: {e}"
        r.eq("keystone unreachable: a forged token → 503 too (never 200)", st, 503)
        r.eq("keystone unreachable: GET /versions still 200", request(down.url, "GET", "/versions").status, 200)
    finally:
        for srv in servers:
            rc = srv.stop()
            print(f"     stopped glimpse {srv.url} (exit status {rc})", flush=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run_test("Keystone authentication and default policy (real Keystone, openstack CLI, openstacksdk)", body)
