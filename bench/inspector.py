#!/usr/bin/env python3
"""Benchmark figure for the format inspector: its cost per GiB, and upload throughput with and
without it, in one run.

    .venv/bin/python bench/inspector.py [--size-mib 1024] [--rounds 3]
    GLIMPSE_BIN=.build/release/glimpse .venv/bin/python bench/inspector.py

1. ``glimpse inspect --bench`` feeds a raw file's and a qcow2's first 64 MiB from memory, in
   64 KiB chunks, through fresh inspectors until at least 1 GiB has passed: ms per GiB.
2. A live ``glimpse serve`` (file store, in a temp dir) receives the same pseudo-random raw
   image ``--rounds`` times as ``container_format=bare`` (inspected, Glance's rule) and as
   ``container_format=ovf`` (not inspected), alternating; MiB/s of each, best and median.
Prints which binary (debug or release) it measured; figures are not pass/fail.
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
from common import MiB, Api, RepeatingStream, glimpse_bin, server  # noqa: E402


BLOCK = os.urandom(4 * MiB)


def upload(url, image_id, size):
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    c = http.client.HTTPConnection(host, int(port), timeout=600)
    start = time.perf_counter()
    c.putrequest("PUT", f"/v2/images/{image_id}/file")
    c.putheader("Content-Type", "application/octet-stream")
    c.putheader("Content-Length", str(size))
    c.endheaders()
    for _ in range(size // len(BLOCK)):  # the client only sends: no hashing on this side
        c.send(BLOCK)
    r = c.getresponse()
    r.read()
    elapsed = time.perf_counter() - start
    c.close()
    if r.status != 204:
        raise RuntimeError(f"upload -> {r.status}")
    return size / MiB / elapsed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    binary = glimpse_bin()
    kind = "release" if "/release/" in binary else "debug" if "/debug/" in binary else "custom"
    print(f"binary: {binary} ({kind} build)")

    d = tempfile.mkdtemp(prefix="glimpse-bench-")
    raw = os.path.join(d, "bench.raw")
    with open(raw, "wb") as fh:
        s = RepeatingStream(64 * MiB)
        while (b := s.read(MiB)):
            fh.write(b)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", raw, os.path.join(d, "bench.qcow2")], check=True)
    for f in ("bench.raw", "bench.qcow2"):
        out = subprocess.run([binary, "inspect", "--bench", f], cwd=d, capture_output=True, text=True, check=True)
        print("inspector:", out.stdout.strip())

    size = args.size_mib * MiB
    rates = {"bare": [], "ovf": []}
    with server() as srv:
        api = Api(srv.url)
        for _ in range(args.rounds):
            for container in ("bare", "ovf"):
                img = api.create(name="bench", disk_format="raw", container_format=container)
                rates[container].append(upload(srv.url, img["id"], size))
                api.delete(img["id"])
    for container, label in (("bare", "with the inspector (bare)"), ("ovf", "without it (ovf)")):
        r = rates[container]
        print(f"upload {args.size_mib} MiB {label}: best {max(r):.0f} MiB/s, median {statistics.median(r):.0f} MiB/s "
              f"({', '.join(f'{x:.0f}' for x in r)})")
    print(f"ratio (median, with/without): {statistics.median(rates['bare']) / statistics.median(rates['ovf']):.3f}")
    subprocess.run(["rm", "-rf", d])


if __name__ == "__main__":
    main()
