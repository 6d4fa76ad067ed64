"""The 2014 walkthrough (issue 3, acceptance 1 and 2), run against `glimpse control api start`.

A real qcow2 image (qemu-img create + qemu-io write) is uploaded through Image API v1 exactly
as the seed did it: `base64 FILE | curl .../v1/images -X POST -H 'Content-Transfer-Encoding:
base64' ... --data-binary @-`. Then: made public without touching the database, HEAD and GET
by id, the stored file is byte-identical to the original, x-image-meta-checksum is its md5sum,
and v2 (raw API and `openstack image show`) agrees with v1. Finally `glimpse control api stop`.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from common import free_port, glimpse_bin, openstack_cli, request, run_test  # noqa: E402


def settled_status(url, image_id, timeout=10.0):
    """The v1 status once the image has left queued/saving (a background copy finished)."""
    status = None
    deadline = time.time() + timeout
    while time.time() < deadline:
        status = request(url, "HEAD", f"/v1/images/{image_id}").headers.get("x-image-meta-status")
        if status not in ("queued", "saving"):
            break
        time.sleep(0.05)
    return status


def body(r):
    if os.environ.get("GLIMPSE_URL"):
        from common import SkipTest
        raise SkipTest("starts its own server through glimpse control")
    work = tempfile.mkdtemp(prefix="glimpse-v1-")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    ctl = [glimpse_bin(), "control", "api"]
    dirs = ["--pid-dir", os.path.join(work, "run"), "--log-dir", os.path.join(work, "log")]
    try:
        p = subprocess.run(ctl + ["start"] + dirs + ["--bind-host", "127.0.0.1", "--bind-port", str(port)],
                           cwd=work, capture_output=True, text=True, timeout=60)
        r.check("glimpse control api start", p.returncode == 0, p.stdout + p.stderr)
        p = subprocess.run(ctl + ["status"] + dirs, cwd=work, capture_output=True, text=True, timeout=30)
        r.check("glimpse control api status: running", p.returncode == 0 and "is running" in p.stdout, p.stdout)

        image = os.path.join(work, "cirros.qcow2")
        subprocess.run(["qemu-img", "create", "-f", "qcow2", image, "64M"], check=True, capture_output=True)
        subprocess.run(["qemu-io", "-c", "write -P 0x5a 0 3M", "-c", "write -P 0xa5 40M 1M", image],
                       check=True, capture_output=True)
        original = open(image, "rb").read()
        md5 = hashlib.md5(original).hexdigest()
        info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", image], check=True,
                                         capture_output=True, text=True).stdout)
        r.eq("qemu-img made a qcow2", info.get("format"), "qcow2")

        d = request(url, "GET", "/v1/images/detail")
        r.eq("GET /v1/images/detail: 200", d.status, 200)
        r.eq("GET /v1/images/detail: empty", d.json().get("images"), [])

        cmd = (f"base64 {image} | curl -s -S http://127.0.0.1:{port}/v1/images -X POST "
               "-H 'Content-Transfer-Encoding: base64' -H 'Content-Type: application/octet-stream' "
               "-H 'x-image-meta-name: cirros' -H 'x-image-meta-disk_format: qcow2' "
               "-H 'x-image-meta-container_format: bare' --data-binary @-")
        p = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
        created = json.loads(p.stdout or "{}").get("image", {})
        r.eq("upload: status active", created.get("status"), "active")
        r.eq("upload: size is the original's, not the base64 text's", created.get("size"), len(original))
        r.eq("upload: checksum is the original's md5", created.get("checksum"), md5)
        image_id = created.get("id")

        stored = os.path.join(work, "data", "images", image_id or "none")
        r.check("store: the file is byte-identical to the original",
                os.path.isfile(stored) and open(stored, "rb").read() == original)

        u = request(url, "PUT", f"/v1/images/{image_id}", headers={"x-image-meta-is_public": "true"})
        r.eq("make public (PUT x-image-meta-is_public: true): 200", u.status, 200)
        r.eq("make public: is_public", (u.json().get("image") or {}).get("is_public"), True)

        h = request(url, "HEAD", f"/v1/images/{image_id}")
        r.eq("HEAD: 200", h.status, 200)
        r.eq("HEAD: x-image-meta-checksum = md5sum", h.headers.get("x-image-meta-checksum"), md5)
        r.eq("HEAD: x-image-meta-is_public", h.headers.get("x-image-meta-is_public"), "True")
        r.eq("HEAD: x-image-meta-size", h.headers.get("x-image-meta-size"), str(len(original)))
        r.eq("HEAD: x-image-meta-disk_format", h.headers.get("x-image-meta-disk_format"), "qcow2")

        g = request(url, "GET", f"/v1/images/{image_id}")
        r.eq("GET: 200", g.status, 200)
        r.check("GET: body is the original", g.body == original)
        r.eq("GET: x-image-meta-checksum", g.headers.get("x-image-meta-checksum"), md5)

        v2 = request(url, "GET", f"/v2/images/{image_id}").json()
        r.eq("v2: visibility public agrees with is_public", v2.get("visibility"), "public")
        r.eq("v2: checksum", v2.get("checksum"), md5)
        r.eq("v2: size", v2.get("size"), len(original))
        f = request(url, "GET", f"/v2/images/{image_id}/file")
        r.check("v2: download is the original", f.body == original)
        shown = openstack_cli(url, "image", "show", image_id, "-f", "json")
        r.eq("openstack image show: checksum", shown.get("checksum"), md5)
        r.eq("openstack image show: visibility", shown.get("visibility"), "public")

        # v2 → v1: an image made through v2 is visible through v1 with matching publicity.
        c = request(url, "POST", "/v2/images", body=json.dumps(
            {"name": "from-v2", "disk_format": "raw", "container_format": "bare", "visibility": "private"}).encode(),
            headers={"Content-Type": "application/json"}).json()
        detail = {i["id"]: i for i in request(url, "GET", "/v1/images/detail").json()["images"]}
        r.check("v1 detail lists the v2 image", c.get("id") in detail)
        r.eq("v1 is_public of a private v2 image", (detail.get(c.get("id")) or {}).get("is_public"), False)
        r.eq("v1 is_public of the public v1 image", (detail.get(image_id) or {}).get("is_public"), True)

        # External data over real HTTP (python's http.server on loopback): a location registered
        # without upload, and a copy fetched in the background.
        origin_dir = os.path.join(work, "origin")
        os.makedirs(origin_dir)
        shutil.copy(image, os.path.join(origin_dir, "cirros.qcow2"))
        oport = free_port()
        origin = subprocess.Popen([sys.executable, "-m", "http.server", str(oport), "--bind", "127.0.0.1"],
                                  cwd=origin_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            src = f"http://127.0.0.1:{oport}/cirros.qcow2"
            for _ in range(100):
                try:
                    if request(f"http://127.0.0.1:{oport}", "HEAD", "/cirros.qcow2").status == 200:
                        break
                except OSError:
                    time.sleep(0.1)
            meta = {"x-image-meta-name": "ext", "x-image-meta-disk_format": "qcow2",
                    "x-image-meta-container_format": "bare"}
            loc = request(url, "POST", "/v1/images", headers={**meta, "x-image-meta-location": src})
            r.eq("x-image-meta-location: 201", loc.status, 201)
            loc_img = loc.json().get("image") or {}
            r.eq("x-image-meta-location: active at once", loc_img.get("status"), "active")
            r.eq("x-image-meta-location: size from the source", loc_img.get("size"), len(original))
            r.check("x-image-meta-location: nothing copied into the store",
                    not os.path.exists(os.path.join(work, "data", "images", loc_img.get("id", "none"))))
            got = request(url, "GET", f"/v1/images/{loc_img.get('id')}")
            r.check("x-image-meta-location: GET streams the source's bytes", got.body == original)

            cp = request(url, "POST", "/v1/images", headers={**meta, "x-glance-api-copy-from": src,
                                                             "x-image-meta-checksum": md5})
            r.eq("x-glance-api-copy-from: 201", cp.status, 201)
            cp_id = (cp.json().get("image") or {}).get("id")
            r.eq("x-glance-api-copy-from: becomes active", settled_status(url, cp_id), "active")
            cp_stored = os.path.join(work, "data", "images", cp_id or "none")
            r.check("x-glance-api-copy-from: the store holds the source's bytes",
                    os.path.isfile(cp_stored) and open(cp_stored, "rb").read() == original)
            r.eq("x-glance-api-copy-from: checksum", request(url, "HEAD", f"/v1/images/{cp_id}").headers.get(
                "x-image-meta-checksum"), md5)

            bad = request(url, "POST", "/v1/images", headers={**meta, "x-glance-api-copy-from":
                                                              f"http://127.0.0.1:{oport}/missing"})
            bad_id = (bad.json().get("image") or {}).get("id")
            r.eq("x-glance-api-copy-from a missing URL: the image is killed", settled_status(url, bad_id), "killed")
            r.check("x-glance-api-copy-from a missing URL: nothing stored",
                    not os.path.exists(os.path.join(work, "data", "images", bad_id or "none")))
            f = request(url, "POST", "/v1/images", headers={**meta, "x-image-meta-location": "file:///etc/passwd"})
            r.eq("x-image-meta-location file:///etc/passwd: 400", f.status, 400)
        finally:
            origin.terminate()
            origin.wait(timeout=10)
    finally:
        p = subprocess.run(ctl + ["stop"] + dirs, cwd=work, capture_output=True, text=True, timeout=60)
        r.check("glimpse control api stop", p.returncode == 0, p.stdout + p.stderr)
        p = subprocess.run(ctl + ["status"] + dirs, cwd=work, capture_output=True, text=True, timeout=30)
        r.check("glimpse control api status: stopped", p.returncode == 3, p.stdout)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    run_test("Image API v1 walkthrough (2014 seed) with glimpse control", body)
