"""The registry API (issue 3, acceptance 4): `glimpse control registry start` reads a
glance-registry.conf, listens on its own port, and answers glance-registry's CRUD calls
(`/images`, `/images/detail`, `/images/{id}`, members) on the same catalog the Image API
serves (checked through v2 on a second process sharing the database).
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from common import free_port, glimpse_bin, request, run_test  # noqa: E402


def body(r):
    if os.environ.get("GLIMPSE_URL"):
        from common import SkipTest
        raise SkipTest("starts its own servers through glimpse control")
    work = tempfile.mkdtemp(prefix="glimpse-registry-")
    reg_port, api_port = free_port(), free_port()
    db = os.path.join(work, "glance.db")
    conf = os.path.join(work, "glance-registry.conf")
    with open(conf, "w") as f:
        f.write(f"[DEFAULT]\nbind_host = 127.0.0.1\nbind_port = {reg_port}\n\n[database]\nconnection = sqlite:///{db}\n")
    api_conf = os.path.join(work, "glance-api.conf")
    with open(api_conf, "w") as f:
        f.write(f"[DEFAULT]\nbind_host = 127.0.0.1\nbind_port = {api_port}\n\n[database]\nconnection = sqlite:///{db}\n"
                f"\n[glance_store]\nfilesystem_store_datadir = {work}/images\n")
    dirs = ["--pid-dir", os.path.join(work, "run"), "--log-dir", os.path.join(work, "log")]
    reg = f"http://127.0.0.1:{reg_port}"
    api = f"http://127.0.0.1:{api_port}"
    ctl = [glimpse_bin(), "control"]
    try:
        for server, c in (("registry", conf), ("api", api_conf)):
            p = subprocess.run(ctl + [server, "start", "--config", c] + dirs, cwd=work, capture_output=True, text=True, timeout=60)
            r.check(f"glimpse control {server} start", p.returncode == 0, p.stdout + p.stderr)

        doc = {"image": {"name": "via-registry", "disk_format": "raw", "container_format": "bare", "is_public": True,
                         "min_ram": 128, "properties": {"os_distro": "cirros"}}}
        c = request(reg, "POST", "/images", body=doc)
        r.eq("registry POST /images: 200", c.status, 200)
        img = (c.json() or {}).get("image", {})
        iid = img.get("id")
        r.eq("registry create: is_public", img.get("is_public"), True)
        r.eq("registry create: properties", img.get("properties"), {"os_distro": "cirros"})

        g = request(reg, "GET", f"/images/{iid}")
        r.eq("registry GET /images/{id}: 200", g.status, 200)
        r.eq("registry GET: name", (g.json() or {}).get("image", {}).get("name"), "via-registry")
        lst = request(reg, "GET", "/images").json() or {}
        r.check("registry GET /images lists it", any(i.get("id") == iid for i in lst.get("images", [])))
        det = request(reg, "GET", "/images/detail").json() or {}
        r.check("registry GET /images/detail has properties",
                any(i.get("id") == iid and i.get("properties") == {"os_distro": "cirros"} for i in det.get("images", [])))

        u = request(reg, "PUT", f"/images/{iid}", body={"image": {"name": "renamed", "properties": {"hw_disk_bus": "scsi"}}})
        r.eq("registry PUT /images/{id}: 200", u.status, 200)
        uj = (u.json() or {}).get("image", {})
        r.eq("registry PUT: name", uj.get("name"), "renamed")
        r.eq("registry PUT: properties merged (purge off by default)", uj.get("properties"),
             {"os_distro": "cirros", "hw_disk_bus": "scsi"})
        bad = request(reg, "PUT", f"/images/{iid}", body={"image": {"colour": "red"}})
        r.eq("registry PUT with an unknown attribute: 400", bad.status, 400)

        v2 = request(api, "GET", f"/v2/images/{iid}").json() or {}
        r.eq("Image API v2 sees the registry's image: name", v2.get("name"), "renamed")
        r.eq("Image API v2: visibility", v2.get("visibility"), "public")
        r.eq("Image API v2: min_ram", v2.get("min_ram"), 128)

        m = request(reg, "PUT", f"/images/{iid}/members/proj-x")
        r.eq("registry PUT member: 403 on a public image (members need a shared image)", m.status, 403)
        request(reg, "PUT", f"/images/{iid}", body={"image": {"is_public": False}})
        m = request(reg, "PUT", f"/images/{iid}/members/proj-x")
        r.eq("registry PUT member: 204", m.status, 204)
        ms = request(reg, "GET", f"/images/{iid}/members").json() or {}
        r.eq("registry GET members", ms.get("members"), [{"member_id": "proj-x", "can_share": False}])

        d = request(reg, "DELETE", f"/images/{iid}")
        r.eq("registry DELETE /images/{id}: 200", d.status, 200)
        r.eq("registry DELETE returns the deleted image", (d.json() or {}).get("image", {}).get("status"), "deleted")
        r.eq("registry GET after delete: 404", request(reg, "GET", f"/images/{iid}").status, 404)
        r.eq("Image API v2 after delete: 404", request(api, "GET", f"/v2/images/{iid}").status, 404)
    finally:
        for server in ("registry", "api"):
            pid_file = os.path.join(work, "run", f"glimpse-{server}.pid")
            pid = int(open(pid_file).read().strip()) if os.path.exists(pid_file) else None
            listening = request(reg, "GET", "/images").status if server == "registry" else request(api, "GET", "/versions").status
            r.check(f"the pid file names the {server} server that answers", pid is not None and alive(pid) and listening in (200, 300),
                    (pid, listening))
            p = subprocess.run(ctl + [server, "stop"] + dirs, cwd=work, capture_output=True, text=True, timeout=60)
            r.check(f"glimpse control {server} stop", p.returncode == 0, p.stdout + p.stderr)
            r.check(f"glimpse control {server} stop: the server is gone", pid is None or not alive(pid), pid)
        shutil.rmtree(work, ignore_errors=True)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


if __name__ == "__main__":
    run_test("glance-registry API on its own port", body)
