#!/usr/bin/env python3
"""Hostile disk images are refused on upload; real ones get their virtual size.

    .venv/bin/python tests/integration/test_format_inspection.py

Makes images with the real tools (qemu-img, sgdisk) in a temp dir, starts ``glimpse serve``
(file store, defaults: ``require_image_format_match=True``), and for each hostile image
(qcow2 with a backing file or a data file, a VMDK descriptor naming /etc/passwd, a
monolithicFlat VMDK, a QED, a GPT without its protective MBR, a qcow2 claimed as raw, raw
data claimed as qcow2, a truncated qcow2 header, a qcow2 whose size overflows 64 bits)
uploads it to a ``container_format=bare`` image, sent both with Content-Length and chunked:

* the answer is 415 and names the reason;
* the image is ``queued`` again with no size, checksum or virtual_size;
* the file store holds no file for it (nothing under data/images at all).

Then the good images (qcow2, streamOptimized VMDK, VHD, VHDX, VDI) upload with 204 and get
``virtual_size`` equal to ``qemu-img info``'s, a ``-o data_file`` qcow2 can be uploaded after
its refusal as a proper qcow2 (the image was left retryable), and ``glimpse inspect`` prints the
same findings offline.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Api, glimpse_bin, run_test, server  # noqa: E402


def sh(*args, cwd, input=None):
    return subprocess.run(args, cwd=cwd, check=True, capture_output=True, input=input).stdout


def qemu_size(path, fmt, cwd):
    return json.loads(sh("qemu-img", "info", "-f", fmt, "--output=json", path, cwd=cwd))["virtual-size"]


def make_images(d):
    with open(os.path.join(d, "content.raw"), "wb") as fh:
        fh.write(os.urandom(256 * 1024) + bytes(256 * 1024))
    q = lambda *a: sh("qemu-img", *a, cwd=d)  # noqa: E731
    q("convert", "-f", "raw", "-O", "qcow2", "content.raw", "good.qcow2")
    q("convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", "content.raw", "good.vmdk")
    q("convert", "-f", "raw", "-O", "vpc", "content.raw", "good.vhd")
    q("convert", "-f", "raw", "-O", "vhdx", "content.raw", "good.vhdx")
    q("convert", "-f", "raw", "-O", "vdi", "content.raw", "good.vdi")
    q("create", "-f", "qcow2", "-b", "good.qcow2", "-F", "qcow2", "backing.qcow2")
    q("create", "-f", "qcow2", "-o", "data_file=data.raw", "datafile.qcow2", "1M")
    q("create", "-f", "vmdk", "-o", "subformat=monolithicFlat", "flat.vmdk", "1M")
    q("create", "-f", "qed", "x.qed", "1G")
    with open(os.path.join(d, "passwd.vmdk"), "w") as fh:
        fh.write('# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n'
                 'createType="monolithicFlat"\n\nRW 2048 FLAT "/etc/passwd" 0\n')
    sh("truncate", "-s", "2M", "nombr.gpt", cwd=d)
    sh("sgdisk", "-o", "-n", "1:2048:0", "nombr.gpt", cwd=d)
    with open(os.path.join(d, "nombr.gpt"), "r+b") as fh:
        fh.seek(446)
        fh.write(bytes(66))
    good = open(os.path.join(d, "good.qcow2"), "rb").read()
    open(os.path.join(d, "truncated.qcow2"), "wb").write(good[:40])
    open(os.path.join(d, "overflow.qcow2"), "wb").write(good[:24] + b"\xff" * 8 + good[32:])


HOSTILE = [
    ("backing.qcow2", "qcow2", "backing file"),
    ("datafile.qcow2", "qcow2", "external data file"),
    ("passwd.vmdk", "vmdk", "createType monolithicFlat is not allowed"),
    ("flat.vmdk", "vmdk", "monolithicFlat"),
    ("x.qed", "raw", "stream data qed"),
    ("nombr.gpt", "raw", "MBR"),
    ("good.qcow2", "raw", "does not match stream data qcow2"),
    ("content.raw", "qcow2", "does not match stream data raw"),
    ("truncated.qcow2", "qcow2", "truncated"),
    ("overflow.qcow2", "qcow2", "64 bits"),
]
GOOD = [("good.qcow2", "qcow2", "qcow2"), ("good.vmdk", "vmdk", "vmdk"), ("good.vhd", "vhd", "vpc"),
        ("good.vhdx", "vhdx", "vhdx"), ("good.vdi", "vdi", "vdi")]


def put_chunked(url, image_id, data):
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=60)
    c.putrequest("PUT", f"/v2/images/{image_id}/file")
    c.putheader("Content-Type", "application/octet-stream")
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    for off in range(0, len(data), 7000):
        piece = data[off:off + 7000]
        c.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
    c.send(b"0\r\n\r\n")
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def store_files(srv):
    out = []
    for root, _dirs, files in os.walk(srv.images_dir or "/nonexistent"):
        out += [os.path.join(root, f) for f in files]
    return out


def body(r):
    d = tempfile.mkdtemp(prefix="glimpse-inspect-")
    make_images(d)
    with server(need_managed=True) as srv:
        api = Api(srv.url)
        for name, disk_format, reason in HOSTILE:
            data = open(os.path.join(d, name), "rb").read()
            for mode in ("length", "chunked"):
                img = api.create(name=name, disk_format=disk_format, container_format="bare")
                if mode == "length":
                    resp = api.upload(img["id"], data)
                    status, text = resp.status, resp.body
                else:
                    status, text = put_chunked(srv.url, img["id"], data)
                r.eq(f"{name} as {disk_format} ({mode}): 415", status, 415)
                r.check(f"{name} ({mode}): the message names the reason", reason.encode() in text, text[:300])
                r.check(f"{name} ({mode}): no path in the message", b"/tmp" not in text and b"/etc/passwd" not in text)
                after = api.image(img["id"])
                r.eq(f"{name} ({mode}): queued again", after["status"], "queued")
                r.check(f"{name} ({mode}): no data fields",
                        after["size"] is None and after["checksum"] is None and after["virtual_size"] is None, after)
                r.eq(f"{name} ({mode}): nothing in the store", store_files(srv), [])
        # The refused image can be retried with good data.
        img = api.create(name="retry", disk_format="qcow2", container_format="bare")
        r.eq("data_file qcow2 refused", api.upload(img["id"], open(os.path.join(d, "datafile.qcow2"), "rb").read()).status, 415)
        r.eq("then a real qcow2: 204", api.upload(img["id"], open(os.path.join(d, "good.qcow2"), "rb").read()).status, 204)
        for name, disk_format, qemu_format in GOOD:
            img = api.create(name=name, disk_format=disk_format, container_format="bare")
            resp = api.upload(img["id"], open(os.path.join(d, name), "rb").read())
            r.eq(f"{name}: 204", resp.status, 204)
            r.eq(f"{name}: virtual_size is qemu-img's", api.image(img["id"])["virtual_size"], qemu_size(name, qemu_format, d))

    # The offline command agrees.
    out = subprocess.run([glimpse_bin(), "inspect", "good.qcow2", "backing.qcow2", "passwd.vmdk"], cwd=d,
                         capture_output=True, text=True)
    r.eq("glimpse inspect exits 1 when a file fails a check", out.returncode, 1)
    r.check("glimpse inspect: good.qcow2 is qcow2 with its size",
            f"good.qcow2: qcow2 (v3), virtual size {qemu_size('good.qcow2', 'qcow2', d)}" in out.stdout, out.stdout)
    r.check("glimpse inspect: backing_file FAIL", "backing_file: FAIL (the image has a backing file)" in out.stdout, out.stdout)
    r.check("glimpse inspect: the passwd descriptor fails create_type and extents",
            "create_type: FAIL" in out.stdout and "extents: FAIL" in out.stdout, out.stdout)
    ok = subprocess.run([glimpse_bin(), "inspect", "--disk-format", "qcow2", "good.qcow2"], cwd=d, capture_output=True, text=True)
    r.eq("glimpse inspect --disk-format qcow2 good.qcow2 exits 0", ok.returncode, 0)
    r.check("it says the upload would be accepted", "upload as qcow2: accepted" in ok.stdout, ok.stdout)
    subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    run_test("format inspection on upload", body)
