#!/usr/bin/env python3
"""Glimpse vs. the real Glance 33, side by side on this machine (issue 9).

Run it through ``bench/run.sh`` (which builds the release binary first)::

    bench/run.sh            full run (~30-40 min on 2 cores): 3 interleaved runs of everything
    bench/run.sh --quick    development: 1 run, short durations, 2,000 images, no 100k / 8 GiB

What it does, in this order (each step runs Glance then Glimpse, then Glimpse then Glance on
the next run, so both share the machine's noise):

1. start-up: ``glimpse serve`` and Glance's uWSGI spawned afresh on a spare port; time from the
   spawn to the first 200 on ``GET /v2/images?limit=1``.
2. upload + download of a 1 GiB random image: ``glance-anchor.sh --url L=U --only
   upload,download --runs 1`` (curl, server CPU and peak RSS sampled from /proc).
3. peak RSS for a 1 GiB and an 8 GiB upload (flatness), and while 16 uploads run at once.
4. list latency (wrk, 1 connection, p50/p99) for limit 25 and 1000, plain and with a filter
   and a sort, at 10,000 images.
5. shows/s (``glance-anchor.sh --only show``) and PATCHes/s (wrk, 16 connections, one image each).
6. fill to 100,000 images and the list latencies again. Catalogs are filled through the API
   (16 clients) for at most --fill-api-max-s per server; the rest (in practice: Glance's share
   of the 100k step) is inserted as copies of API-made rows straight into its SQLite DB, and
   the output says so.
7. creates/s (``glance-anchor.sh --only create``), last because it adds images.
8. the machine's physical ceilings (``glance-anchor.sh --physical``: openssl md5/sha512, dd,
   nginx sendfile, loopback).

The sampling (server process tree found through its listening socket, CPU and RSS from
/proc), the wrk parsing and the quiet-machine wait come from the anchor script's embedded
python library (``benchlib``), extracted from glance-anchor.sh into the work directory.

Prints one table (median, min-max of the runs, Glimpse's advantage), the ceilings, the
machine's load average during the run and whether each target of the issue is met; writes
everything to bench/results/<timestamp>-<gitrev>.json. Stdlib only (+ curl, wrk, nginx).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import http.client
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
GiB = 1 << 30
MiB = 1 << 20
LABELS = ('glance', 'glimpse')
PHASES = ('startup', 'updown', 'flat', 'concurrent', 'list', 'show', 'patch', 'list100k', 'create', 'physical')


def log(msg):
    print(f'[{time.strftime("%H:%M:%S")}] {msg}', file=sys.stderr, flush=True)


def loadavg():
    with open('/proc/loadavg') as fh:
        return [float(x) for x in fh.read().split()[:3]]


# ----------------------------------------------------------------------------------------
# the anchor script and its python library
# ----------------------------------------------------------------------------------------
def load_benchlib(anchor, work):
    """Extract the anchor's embedded python (between `cat > "$LIB" <<'PYEOF'` and PYEOF)."""
    with open(anchor) as fh:
        text = fh.read()
    m = re.search(r"cat > \"\$LIB\" <<'PYEOF'\n(.*?)\nPYEOF\n", text, re.S)
    if not m:
        raise SystemExit(f'{anchor}: no embedded benchlib found')
    path = os.path.join(work, 'benchlib.py')
    with open(path, 'w') as fh:
        fh.write(m.group(1) + '\n')
    spec = importlib.util.spec_from_file_location('benchlib', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Bench:
    def __init__(self, a):
        self.a = a
        self.work = a.work
        self.rundir = os.path.join(self.work, 'run-' + time.strftime('%Y%m%d-%H%M%S'))
        os.makedirs(self.rundir, exist_ok=True)
        self.lib = load_benchlib(a.anchor, self.work)
        self.env = {**os.environ, 'ANCHORS': a.anchors, 'WORK': self.work,
                    'GLANCE_PORT': str(a.glance_port)}
        self.urls = {'glance': f'http://127.0.0.1:{a.glance_port}',
                     'glimpse': f'http://127.0.0.1:{a.glimpse_port}'}
        self.res = {l: {'label': l, 'url': self.urls[l], 'metrics': {}, 'notes': []} for l in LABELS}
        self.res['physical'] = {'label': 'physical', 'metrics': {}, 'notes': []}
        self.loads = []
        self.errors = []
        self.glimpse_proc = None
        self.glance_started = False
        self.children = []           # (Popen, kind) of start-up probes still running
        self.gdir = os.path.join(a.anchors, 'glance')
        self.glance_db = os.path.join(self.gdir, 'state', 'glance.db')
        self.gstate = os.path.join(self.work, 'glimpse')
        self.glimpse_db = os.path.join(self.gstate, 'glimpse.db')
        self.bigfile = os.path.join(self.work, 'rand1g.bin')
        self.patch_ids = {}
        self.fill_budget = {l: a.fill_api_max_s for l in LABELS}

    # ---------- results ----------
    def add(self, label, key, value, meta=None):
        m = self.res[label]['metrics'].setdefault(key, {'values': [], 'meta': []})
        m['values'].append(value)
        m['meta'].append(meta or {})

    def note(self, label, text):
        self.res[label]['notes'].append(text)
        log(f'note [{label}]: {text}')

    def merge(self, label, path, prefix=''):
        with open(path) as fh:
            r = json.load(fh)
        for k, m in r['metrics'].items():
            for v, meta in zip(m['values'], m['meta']):
                self.add(label, k, v, meta)
        for n in r.get('notes', []):
            self.res[label]['notes'].append(prefix + n)
        return r

    def mark_load(self, phase):
        la = loadavg()
        self.loads.append({'phase': phase, 'time': time.strftime('%H:%M:%S'), 'loadavg': la})
        log(f'--- {phase}  (loadavg {la[0]:.2f} {la[1]:.2f} {la[2]:.2f})')

    def order(self, i):
        return LABELS if i % 2 == 0 else LABELS[::-1]

    # ---------- anchor ----------
    def anchor(self, *args, out=None):
        cmd = ['bash', self.a.anchor, *args]
        if out:
            os.makedirs(out, exist_ok=True)
            cmd += ['--out', out]
        logf = os.path.join(self.rundir, 'anchor.log')
        with open(logf, 'ab') as fh:
            fh.write(('\n$ ' + ' '.join(cmd) + '\n').encode())
            fh.flush()
            # progress lines (stderr) go to the terminal; the anchor's own table to the log
            p = subprocess.run(cmd, env=self.env, stdout=fh, stderr=None)
        if p.returncode != 0:
            raise RuntimeError(f'glance-anchor.sh {" ".join(args)} failed (exit {p.returncode}; log {logf})')

    def anchor_measure(self, label, only, i, extra=()):
        out = os.path.join(self.rundir, f'{only.replace(",", "+")}-{label}-{i}')
        self.anchor('--url', f'{label}={self.urls[label]}', '--only', only, '--runs', '1',
                    '--no-physical', '--quiet-max', str(self.a.quiet_max), '--retries', str(self.a.retries),
                    '--concurrency', str(self.a.conc), '--duration', str(self.a.dur), *extra, out=out)
        return self.merge(label, os.path.join(out, f'result-{label}.json'), prefix=f'[{only} run {i}] ')

    # ---------- servers ----------
    def glimpse_config(self, state, port):
        os.makedirs(state, exist_ok=True)
        for d in ('images', 'staging', 'tasks'):
            os.makedirs(os.path.join(state, d), exist_ok=True)
        cfg = os.path.join(state, 'glimpse.conf')
        # The same shape as the anchor's glance-api.conf: SQLite catalog, one file store
        # (multi-store syntax), no keystone, no image cache.
        with open(cfg, 'w') as fh:
            fh.write(f"""[DEFAULT]
bind_host = 127.0.0.1
bind_port = {port}
enabled_backends = fs:file

[database]
connection = sqlite:///{state}/glimpse.db

[glance_store]
default_backend = fs

[fs]
filesystem_store_datadir = {state}/images
# glance_store's file driver does not fsync; Glimpse does by default (a committed image is on
# the disk), which bounds an upload by the disk's sustained write rate instead of the page
# cache. For like-for-like durability the benchmark turns it off, as Glance runs.
glimpse_filesystem_store_fsync = false

[os_glance_staging_store]
filesystem_store_datadir = {state}/staging

[os_glance_tasks_store]
filesystem_store_datadir = {state}/tasks
""")
        return cfg

    def spawn_glimpse(self, state, port, logname='server.log'):
        cfg = self.glimpse_config(state, port)
        logf = open(os.path.join(state, logname), 'ab')
        p = subprocess.Popen([self.a.glimpse_bin, 'serve', '--config', cfg], cwd=state, stdout=logf,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        logf.close()
        return p

    def start_glimpse(self):
        shutil.rmtree(self.gstate, ignore_errors=True)
        if self.lib_up(self.urls['glimpse']):
            raise RuntimeError(f'something already answers on {self.urls["glimpse"]}; use --glimpse-port')
        self.note('glimpse', 'file store without fsync before commit (glimpse_filesystem_store_fsync = false), '
                             'as glance_store writes; Glimpse\'s default fsyncs')
        self.glimpse_proc = self.spawn_glimpse(self.gstate, self.a.glimpse_port)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            if self.glimpse_proc.poll() is not None:
                raise RuntimeError(f'glimpse serve exited ({self.glimpse_proc.returncode}); see {self.gstate}/server.log')
            if self.lib_up(self.urls['glimpse']):
                log(f'glimpse up at {self.urls["glimpse"]} (pid {self.glimpse_proc.pid}, {self.gstate})')
                return
            time.sleep(0.1)
        raise RuntimeError('glimpse did not answer within 60 s')

    def lib_up(self, url):
        try:
            return self.lib.req(url, 'GET', '/versions', timeout=2)[0] in (200, 300)
        except OSError:
            return False

    def stop_proc(self, p, timeout=20):
        if p is None or p.poll() is not None:
            return
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except OSError:
            p.terminate()
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                p.kill()
            p.wait()
        # uWSGI workers left behind in the group we created
        try:
            os.killpg(p.pid, 0)
            time.sleep(0.5)
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            pass

    def start_glance(self):
        if self.lib_up(self.urls['glance']):
            raise RuntimeError(f'something already answers on {self.urls["glance"]} (another Glance?)')
        self.glance_started = True
        self.anchor('--start-glance')

    def stop_all(self):
        for p, _ in self.children:
            self.stop_proc(p)
        if self.glimpse_proc:
            self.stop_proc(self.glimpse_proc)
            log('glimpse stopped')
        if self.glance_started:
            try:
                self.anchor('--stop-glance')
            except Exception as e:  # noqa: BLE001
                log(f'stop glance: {e}')

    # ---------- images ----------
    def count(self, label):
        db = self.glance_db if label == 'glance' else self.glimpse_db
        con = sqlite3.connect(f'file:{db}?mode=ro', uri=True, timeout=30)
        try:
            return con.execute('SELECT count(*) FROM images WHERE deleted = 0').fetchone()[0]
        finally:
            con.close()

    def delete_named(self, label, name):
        url = self.urls[label]
        st, _, body = self.lib.req(url, 'GET', '/v2/images?limit=1000&name=' + urllib.parse.quote(name))
        n = 0
        if st == 200:
            for img in json.loads(body)['images']:
                self.lib.delete_image(url, img['id']); n += 1
        return n

    def file_hashes(self, size):
        """md5 of `size` bytes of the 1 GiB file, repeated as often as needed (cached)."""
        fsz = os.path.getsize(self.bigfile)
        cache = os.path.join(self.work, f'md5-{size}-{int(os.path.getmtime(self.bigfile))}.txt')
        if os.path.exists(cache):
            with open(cache) as fh:
                return fh.read().strip()
        h = hashlib.md5(); left = size
        while left > 0:
            with open(self.bigfile, 'rb') as fh:
                while left > 0:
                    b = fh.read(min(8 * MiB, left, fsz))
                    if not b:
                        break
                    h.update(b); left -= len(b)
        with open(cache, 'w') as fh:
            fh.write(h.hexdigest())
        return h.hexdigest()

    def make_file(self):
        if not os.path.exists(self.bigfile) or os.path.getsize(self.bigfile) != GiB:
            log(f'creating 1 GiB random file {self.bigfile}')
            with open('/dev/urandom', 'rb') as src, open(self.bigfile + '.tmp', 'wb') as dst:
                for _ in range(1024):
                    dst.write(src.read(MiB))
            os.rename(self.bigfile + '.tmp', self.bigfile)

    def sendfile_upload(self, url, iid, total):
        """PUT `total` bytes (the 1 GiB file, repeated) with Content-Length, via sendfile:
        almost no client CPU, so the server's figures are its own."""
        h, p, base = self.lib.split(url)
        s = socket.create_connection((h, p), timeout=600)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        head = (f'PUT {base}/v2/images/{iid}/file HTTP/1.1\r\nHost: {h}:{p}\r\n'
                f'Content-Type: application/octet-stream\r\nContent-Length: {total}\r\n'
                f'Connection: close\r\n\r\n').encode()
        fsz = os.path.getsize(self.bigfile)
        t0 = time.monotonic(); err = None
        s.settimeout(None)   # os.sendfile on a socket with a timeout (non-blocking) gives EAGAIN
        try:
            s.sendall(head)
            sent = 0
            with open(self.bigfile, 'rb') as f:
                while sent < total:
                    off = sent % fsz
                    n = os.sendfile(s.fileno(), f.fileno(), off, min(fsz - off, total - sent))
                    if n == 0:
                        raise OSError('sendfile sent nothing')
                    sent += n
        except OSError as e:
            err = e
        s.settimeout(30 if err else 600)
        try:
            r = http.client.HTTPResponse(s)
            r.begin(); r.read()
            status = r.status
        except (OSError, http.client.HTTPException) as e:
            status = 0; err = err or e
        finally:
            s.close()
        return status, time.monotonic() - t0, err

    def verify(self, label, iid, size, md5):
        st, img = self.lib.get_image(self.urls[label], iid)
        ok = st == 200 and img.get('status') == 'active' and img.get('size') == size and img.get('checksum') == md5
        return ok, (img if st == 200 else {'http': st})

    # ---------- redo rule, as the anchor's ----------
    def measured(self, name, label, fn):
        for attempt in range(self.a.retries + 1):
            vals, m = fn()
            if (m.get('bg_cores', 0) <= self.a.max_bg or m.get('server_runq_wait_frac', 0) <= self.a.max_rq
                    or attempt == self.a.retries):
                break
            self.note(label, f'{name}: redone, other processes used {m["bg_cores"]:.2f} cores, '
                             f'server run-queue wait {m["server_runq_wait_frac"]:.2f}')
        for k, v in vals.items():
            self.add(label, k, v, m)
        return vals, m

    def run_cmd_measured(self, cmd, port):
        return self.lib.run_measured(cmd, port, self.a.quiet_max)

    # =====================================================================================
    # phases
    # =====================================================================================
    def phase_startup(self):
        """Spawn -> first 200 on GET /v2/images?limit=1, on a spare port, N times each."""
        gini = os.path.join(self.gdir, 'etc', 'glance-uwsgi.ini')
        with open(gini) as fh:
            ini = fh.read()
        sport = self.lib_free_port()
        ini = re.sub(r'(?m)^http-socket = .*$', f'http-socket = 127.0.0.1:{sport}', ini)
        ini = re.sub(r'(?m)^logto = .*$', f'logto = {self.rundir}/startup-uwsgi.log', ini)
        sini = os.path.join(self.rundir, 'startup-uwsgi.ini')
        with open(sini, 'w') as fh:
            fh.write(ini)
        uwsgi = os.path.join(self.gdir, 'venv', 'bin', 'uwsgi')
        gstate = os.path.join(self.rundir, 'startup-glimpse')

        def spawn(label):
            if label == 'glance':
                lf = open(os.path.join(self.rundir, 'startup-uwsgi-stdout.log'), 'ab')
                p = subprocess.Popen([uwsgi, '--ini', sini], stdout=lf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
                lf.close()
                return p
            return self.spawn_glimpse(gstate, sport, 'startup.log')

        def once(label):
            self.lib.wait_quiet(self.a.quiet_max) if self.a.quiet_max > 0 else None
            b0 = self.lib.sys_busy_ticks()
            t0 = time.monotonic()
            p = spawn(label); self.children.append((p, label))
            t = None; status = None
            try:
                while time.monotonic() - t0 < 60 and p.poll() is None:
                    try:
                        c = http.client.HTTPConnection('127.0.0.1', sport, timeout=60)
                        c.request('GET', '/v2/images?limit=1')
                        r = c.getresponse(); r.read(); c.close()
                        status = r.status
                        if r.status == 200:
                            t = time.monotonic() - t0
                            break
                    except (ConnectionRefusedError, ConnectionResetError, http.client.RemoteDisconnected):
                        pass
                    except OSError:
                        pass
                    time.sleep(0.002)
                wall = time.monotonic() - t0
                busy = (self.lib.sys_busy_ticks() - b0) / self.lib.HZ
                time.sleep(0.3)
                tree = self.lib.server_tree(sport)
                _, rss_kb, _ = self.lib.tree_cpu_rss(tree)
                cpu = sum(self.lib.proc_stat(x)[1] for x in tree if os.path.exists(f'/proc/{x}')) / self.lib.HZ
            finally:
                self.stop_proc(p)
                self.children.remove((p, label))
            meta = {'wall': wall, 'sys_busy_s': busy, 'bg_cores': max(0.0, (busy - cpu) / wall) if wall else 0,
                    'status': status, 'server_pids': len(tree), 'server_cpu_s': cpu}
            return t, rss_kb / 1024, meta

        # a first start creates Glimpse's DB (Glance's was made by db_sync): not counted
        t, _, _ = once('glimpse')
        self.note('glimpse', f'start-up probe: first start (creates its SQLite DB) {t if t is None else round(t, 3)} s, not counted')
        for i in range(self.a.startup_runs):
            for label in self.order(i):
                t, rss, meta = once(label)
                if t is None:
                    self.note(label, f'start-up run {i}: no 200 within 60 s (last HTTP {meta["status"]})')
                    continue
                self.add(label, 'startup_s', t, meta)
                self.add(label, 'startup_idle_rss_MiB', rss, meta)
                log(f'startup {label} {i}: {t * 1000:.0f} ms to first 200, idle RSS {rss:.0f} MiB '
                    f'({meta["server_pids"]} processes)')

    def lib_free_port(self):
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            return s.getsockname()[1]

    def phase_updown(self):
        for i in range(self.a.runs):
            for label in self.order(i):
                r = self.anchor_measure(label, 'upload,download', i)
                for key in ('upload', 'download'):
                    m = r['metrics'].get(f'{key}_MBps')
                    if m and m['meta'] and m['meta'][0]:
                        meta = m['meta'][0]
                        # the file is exactly 1 GiB: server CPU seconds per GiB
                        self.add(label, f'{key}_cpu_s_per_GiB', meta['server_cpu_s'], meta)
                        if meta.get('verified') is False:
                            self.note(label, f'{key} run {i} NOT verified')
                self.delete_named(label, 'bench-upload-0')

    def disk_cap_gib(self, want_gib, what):
        """At most half the free space of the stores' file system: the benchmark must not fill a
        shared disk. Returns the size to use (GiB), with a note when it is less than asked."""
        free = shutil.disk_usage(self.work).free / GiB
        free = min(free, shutil.disk_usage(self.gdir).free / GiB)
        got = min(want_gib, int(free // 2))
        if got < want_gib:
            for label in LABELS:
                self.note(label, f'{what}: {got} GiB instead of {want_gib} GiB: only {free:.1f} GiB free on disk '
                                 f'(the benchmark uses at most half of it)')
        return got

    def phase_flat(self):
        if self.a.big_gib:
            self.a.big_gib = self.disk_cap_gib(self.a.big_gib, 'large upload')
        sizes = [GiB] + ([self.a.big_gib * GiB] if self.a.big_gib > 1 else [])
        md5s = {s: self.file_hashes(s) for s in sizes}
        for i, size in enumerate(sizes):
            for label in self.order(i):
                url = self.urls[label]; port = self.lib.split(url)[1]
                iid = self.lib.create_image(url, f'bench-flat-{size // GiB}g')
                gib = size // GiB

                def fn():
                    self.lib.wait_quiet(self.a.quiet_max) if self.a.quiet_max > 0 else None
                    s = self.lib.Sampler(port); s.start()
                    status, secs, err = self.sendfile_upload(url, iid, size)
                    m = s.finish()
                    m['server_cores'] = m['server_cpu_s'] / m['wall'] if m['wall'] else 0
                    m['bg_cores'] = max(0.0, (m['sys_busy_s'] - m['server_cpu_s']) / m['wall']) if m['wall'] else 0
                    m['server_runq_wait_frac'] = m['server_runq_wait_s'] / m['wall'] if m['wall'] else 0
                    ok, img = self.verify(label, iid, size, md5s[size])
                    m.update(http=status, verified=ok)
                    if not ok:
                        self.note(label, f'{gib} GiB upload: HTTP {status} {err or ""} image={str(img)[:200]}')
                    mbps = size / secs / 1e6
                    log(f'flat {label} {gib} GiB: {mbps:.0f} MB/s, peak RSS {m["server_proc_rss_peak_kb"] / 1024:.1f} MiB '
                        f'(tree {m["server_rss_peak_kb"] / 1024:.0f}), server {m["server_cores"]:.2f} cores, '
                        f'bg {m["bg_cores"]:.2f}, verified={ok}')
                    return ({f'flat_{gib}g_peak_rss_MiB': m['server_proc_rss_peak_kb'] / 1024,
                             f'flat_{gib}g_MBps': mbps,
                             f'flat_{gib}g_cpu_s_per_GiB': m['server_cpu_s'] / gib}, m)
                # one run each (an 8 GiB upload takes a while), no redo: a new image each time
                vals, m = fn()
                for k, v in vals.items():
                    self.add(label, k, v, m)
                self.lib.delete_image(url, iid)

    def phase_concurrent(self):
        n = self.a.conc
        if self.disk_cap_gib(n * self.a.conc_mib / 1024, 'concurrent uploads (total)') < n * self.a.conc_mib / 1024:
            self.a.conc_mib = max(1, int(shutil.disk_usage(self.work).free / 2 / n / MiB))
        size = self.a.conc_mib * MiB
        md5 = self.file_hashes(size)
        for label in LABELS:
            url = self.urls[label]; port = self.lib.split(url)[1]
            ids = [self.lib.create_image(url, f'bench-conc-{j}') for j in range(n)]
            self.lib.wait_quiet(self.a.quiet_max) if self.a.quiet_max > 0 else None
            s = self.lib.Sampler(port); s.start()
            results = [None] * n
            barrier = threading.Barrier(n)

            def up(j):
                barrier.wait()
                results[j] = self.sendfile_upload(url, ids[j], size)
            ths = [threading.Thread(target=up, args=(j,)) for j in range(n)]
            t0 = time.monotonic()
            for t in ths: t.start()
            for t in ths: t.join()
            wall = time.monotonic() - t0
            m = s.finish()
            m['server_cores'] = m['server_cpu_s'] / m['wall'] if m['wall'] else 0
            m['bg_cores'] = max(0.0, (m['sys_busy_s'] - m['server_cpu_s']) / m['wall']) if m['wall'] else 0
            good = sum(1 for j in range(n) if self.verify(label, ids[j], size, md5)[0])
            if good != n:
                self.note(label, f'{n} concurrent uploads: only {good} verified; HTTP {[r[0] for r in results]}')
            mbps = n * size / wall / 1e6
            self.add(label, 'conc_peak_rss_MiB', m['server_rss_peak_kb'] / 1024, m)
            self.add(label, 'conc_proc_peak_rss_MiB', m['server_proc_rss_peak_kb'] / 1024, m)
            self.add(label, 'conc_MBps', mbps, m)
            log(f'concurrent {label}: {n} x {self.a.conc_mib} MiB in {wall:.1f} s = {mbps:.0f} MB/s, peak RSS '
                f'{m["server_rss_peak_kb"] / 1024:.0f} MiB (tree), {m["server_proc_rss_peak_kb"] / 1024:.0f} MiB '
                f'(busiest proc), {good}/{n} verified, bg {m["bg_cores"]:.2f}')
            for iid in ids:
                self.lib.delete_image(url, iid)

    # ---------- catalog fill ----------
    def fill_api(self, label, target, threads=16, budget=None):
        """POSTs from `threads` clients until `target` images exist or `budget` s have passed."""
        url = self.urls[label]
        have = self.count(label); need = target - have
        if need <= 0 or (budget is not None and budget <= 0):
            return have, 0.0, 0
        deadline = time.monotonic() + budget if budget is not None else None
        h, p, base = self.lib.split(url)
        lock = threading.Lock(); nxt = [have]; left = [need]; errs = [0]

        def worker():
            c = None
            while True:
                with lock:
                    if left[0] <= 0 or (deadline and time.monotonic() > deadline):
                        return
                    left[0] -= 1; k = nxt[0]; nxt[0] += 1
                body = json.dumps({'name': f'img-{k:07d}', 'disk_format': 'qcow2' if k % 10 == 0 else 'raw',
                                   'container_format': 'bare'})
                for attempt in range(5):
                    try:
                        if c is None:
                            c = http.client.HTTPConnection(h, p, timeout=60)
                        c.request('POST', base + '/v2/images', body=body, headers={'Content-Type': 'application/json'})
                        r = c.getresponse(); r.read()
                        if r.getheader('Connection', '').lower() == 'close':
                            c.close(); c = None
                        if r.status == 201:
                            break
                        errs[0] += 1
                    except (OSError, http.client.HTTPException):
                        errs[0] += 1
                        if c:
                            c.close()
                        c = None; time.sleep(0.05)
        t0 = time.monotonic()
        ths = [threading.Thread(target=worker) for _ in range(threads)]
        for t in ths: t.start()
        for t in ths: t.join()
        return self.count(label), time.monotonic() - t0, errs[0]

    def fill_sql(self, label, target):
        """Copies of API-made rows (one raw, one qcow2 template, with their properties),
        inserted straight into the server's SQLite catalog."""
        db = self.glance_db if label == 'glance' else self.glimpse_db
        con = sqlite3.connect(db, timeout=60)
        try:
            have = con.execute('SELECT count(*) FROM images WHERE deleted = 0').fetchone()[0]
            need = target - have
            if need <= 0:
                return have, 0.0
            t0 = time.monotonic()
            cols = [r[1] for r in con.execute('PRAGMA table_info(images)')]
            pcols = [r[1] for r in con.execute('PRAGMA table_info(image_properties)') if r[1] != 'id']
            tmpl = {}
            for fmt in ('raw', 'qcow2'):
                row = con.execute(f"SELECT {','.join(cols)} FROM images WHERE deleted = 0 AND name LIKE 'img-%' "
                                  f"AND disk_format = ? ORDER BY created_at DESC LIMIT 1", (fmt,)).fetchone()
                if not row:
                    raise RuntimeError(f'no API-made {fmt} image to copy in {db}')
                props = con.execute(f"SELECT {','.join(pcols)} FROM image_properties WHERE image_id = ? AND deleted = 0",
                                    (row[0],)).fetchall()
                tmpl[fmt] = (dict(zip(cols, row)), [dict(zip(pcols, pr)) for pr in props])
            ts_fmt = '%Y-%m-%d %H:%M:%S.%f'
            start = datetime.datetime.utcnow() - datetime.timedelta(milliseconds=need)
            rows = []; prow = []
            for j in range(need):
                k = have + j
                base, props = tmpl['qcow2' if k % 10 == 0 else 'raw']
                r = dict(base); iid = str(uuid.uuid4())
                ts = (start + datetime.timedelta(milliseconds=j)).strftime(ts_fmt)
                r.update(id=iid, name=f'img-{k:07d}', created_at=ts, updated_at=ts)
                rows.append(tuple(r[c] for c in cols))
                for pr in props:
                    q = dict(pr); q.update(image_id=iid, created_at=ts, updated_at=ts)
                    prow.append(tuple(q[c] for c in pcols))
            with con:
                con.executemany(f"INSERT INTO images ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})", rows)
                if prow:
                    con.executemany(f"INSERT INTO image_properties ({','.join(pcols)}) VALUES "
                                    f"({','.join('?' * len(pcols))})", prow)
            return con.execute('SELECT count(*) FROM images WHERE deleted = 0').fetchone()[0], time.monotonic() - t0
        finally:
            con.close()

    def fill(self, target, tag):
        """Through the API (16 clients) while this server's share of --fill-api-max-s lasts;
        what is left as SQL copies of API-made rows (said so in the output)."""
        for label in LABELS:
            before = self.count(label)
            budget = self.fill_budget[label] if self.a.fill != 'api' else None
            if self.a.fill == 'sql':
                budget = 0
            n, secs, errs = self.fill_api(label, max(min(target, 100), before) if budget == 0 else target,
                                          self.a.conc, None if budget == 0 else budget)
            if budget is not None:
                self.fill_budget[label] = max(0.0, budget - secs)
            via_api = n - before
            if n < target:
                n, ssecs = self.fill_sql(label, target)
                self.note(label, f'{tag}: catalog filled to {n} images: {via_api} through the API '
                                 f'({secs:.0f} s, {via_api / secs if secs else 0:.0f}/s), {n - before - via_api} '
                                 f'by copying API-made rows straight into its SQLite DB ({ssecs:.0f} s), '
                                 f'because the API would have taken too long')
            else:
                self.note(label, f'{tag}: catalog filled to {n} images through the API, {self.a.conc} clients '
                                 f'({via_api} in {secs:.0f} s, {errs} retried errors)')
            self.res[label].setdefault('image_count', {})[tag] = n

    LIST_QUERIES = (
        ('list25', '/v2/images?limit=25'),
        ('list1000', '/v2/images?limit=1000'),
        ('list25fs', '/v2/images?limit=25&disk_format=qcow2&sort_key=name&sort_dir=asc'),
        ('list1000fs', '/v2/images?limit=1000&disk_format=qcow2&sort_key=name&sort_dir=asc'),
    )

    def phase_list(self, tag):
        for key, path in self.LIST_QUERIES:
            for label in LABELS:
                st, _, body = self.lib.req(self.urls[label], 'GET', path)
                n = len(json.loads(body)['images']) if st == 200 else None
                self.note(label, f'{tag} GET {path}: HTTP {st}, {n} images, {len(body)} bytes')
            dur = self.a.list_dur if '25' in key and '1000' not in key else max(self.a.list_dur, self.a.list1000_dur)
            for i in range(self.a.runs):
                for label in self.order(i):
                    url = self.urls[label]; port = self.lib.split(url)[1]

                    def fn(url=url, port=port, key=key, path=path, label=label):
                        cmd = ['wrk', '-t1', '-c1', f'-d{dur}s', '--timeout', '60s', '--latency', url + path]
                        rc, out, err, m = self.run_cmd_measured(cmd, port)
                        w = self.lib.parse_wrk(out); m['wrk'] = w
                        if (w.get('requests') or 0) < self.a.min_samples:
                            # too slow for wrk's window: time sequential requests instead
                            got = w.get('requests') or 0
                            w = self.sequential(url, path, port, m)
                            self.note(label, f'{tag} {key} run {i}: wrk finished {got} requests in {dur} s; '
                                             f'timed {w["requests"]} sequential requests instead')
                        if w.get('non2xx'):
                            self.note(label, f'{tag} {key}: {w["non2xx"]} non-2xx answers')
                        log(f'{tag} {key} {label} {i}: p50 {w["p50_ms"]} ms p99 {w["p99_ms"]} ms, '
                            f'{w["rps"]} req/s, server {m["server_cores"]:.2f} cores, bg {m["bg_cores"]:.2f}')
                        return ({f'{key}_{tag}_p50_ms': w['p50_ms'], f'{key}_{tag}_p99_ms': w['p99_ms'],
                                 f'{key}_{tag}_rps': w['rps']}, m)
                    self.measured(f'{tag} {key} run {i}', label, fn)

    def sequential(self, url, path, port, m):
        """--min-samples requests one after the other (1 client), each timed; p50/p99 of them."""
        h, p, base = self.lib.split(url)
        lat = []; bad = 0; c = None
        s = self.lib.Sampler(port); s.start()
        t0 = time.monotonic()
        while len(lat) < self.a.min_samples:
            if c is None:
                c = http.client.HTTPConnection(h, p, timeout=120)
            t = time.monotonic()
            c.request('GET', base + path)
            r = c.getresponse(); r.read()
            lat.append((time.monotonic() - t) * 1000)
            bad += r.status != 200
            if r.getheader('Connection', '').lower() == 'close':
                c.close(); c = None
        wall = time.monotonic() - t0
        sm = s.finish()
        m.update(sm)
        m['server_cores'] = sm['server_cpu_s'] / sm['wall'] if sm['wall'] else 0
        m['bg_cores'] = max(0.0, (sm['sys_busy_s'] - sm['server_cpu_s']) / sm['wall']) if sm['wall'] else 0
        lat.sort()
        q = lambda f: lat[min(len(lat) - 1, int(round(f * (len(lat) - 1))))]
        w = {'p50_ms': statistics.median(lat), 'p99_ms': q(0.99), 'rps': len(lat) / wall,
             'requests': len(lat), 'non2xx': bad, 'method': 'sequential python client'}
        m['wrk'] = w
        return w

    def phase_show(self):
        for i in range(self.a.runs):
            for label in self.order(i):
                self.anchor_measure(label, 'show', i, extra=('--images', '0'))

    def phase_create(self):
        for i in range(self.a.runs):
            for label in self.order(i):
                self.anchor_measure(label, 'create', i)

    PATCH_LUA = r'''
local threads = {}
local ids = {}
for id in string.gmatch(os.getenv("BENCH_IDS"), "[^,]+") do table.insert(ids, id) end
local n = 0
function setup(thread)
  n = n + 1
  thread:set("iid", ids[n])
  table.insert(threads, thread)
end
function init(args) ok = 0; bad = 0; seq = 0 end
function request()
  seq = seq + 1
  return wrk.format("PATCH", "/v2/images/" .. iid,
    {["Content-Type"] = "application/openstack-images-v2.1-json-patch"},
    '[{"op":"replace","path":"/name","value":"patched-' .. seq .. '"}]')
end
function response(status, headers, body)
  if status == 200 then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local o, b = 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); b = b + t:get("bad") end
  io.write(string.format("BENCH ok=%d bad=%d duration_us=%d\n", o, b, summary.duration))
end
'''

    def phase_patch(self):
        lua = os.path.join(self.work, 'patch.lua')
        with open(lua, 'w') as fh:
            fh.write(self.PATCH_LUA)
        for label in LABELS:
            self.patch_ids[label] = [self.lib.create_image(self.urls[label], f'bench-patch-{j}')
                                     for j in range(self.a.conc)]
        for i in range(self.a.runs):
            for label in self.order(i):
                url = self.urls[label]; port = self.lib.split(url)[1]
                ids = self.patch_ids[label]

                def fn(url=url, port=port, ids=ids, label=label):
                    # one wrk thread per connection, each PATCHing its own image (a client
                    # that edits one image at a time: no compare-and-swap conflicts)
                    cmd = ['wrk', f'-t{len(ids)}', f'-c{len(ids)}', f'-d{self.a.dur}s', '--timeout', '30s',
                           '--latency', '-s', lua, url + '/v2/images']
                    os.environ['BENCH_IDS'] = ','.join(ids)
                    rc, out, err, m = self.run_cmd_measured(cmd, port)
                    w = self.lib.parse_wrk(out); m['wrk'] = w
                    rate = w.get('ok', 0) / w['dur_s'] if w.get('dur_s') else 0
                    log(f'patch {label} {i}: {rate:.1f}/s ok={w.get("ok")} bad={w.get("bad")} p50 {w["p50_ms"]} ms '
                        f'p99 {w["p99_ms"]} ms, server {m["server_cores"]:.2f} cores, bg {m["bg_cores"]:.2f}')
                    if w.get('bad'):
                        self.note(label, f'patch run {i}: {w["bad"]} answers other than 200')
                    return ({'patch_per_s': rate, 'patch_p50_ms': w['p50_ms'], 'patch_p99_ms': w['p99_ms'],
                             'patch_server_cores': m['server_cores']}, m)
                self.measured(f'patch run {i}', label, fn)
        for label in LABELS:
            st, img = self.lib.get_image(self.urls[label], self.patch_ids[label][0])
            if st != 200 or not str(img.get('name', '')).startswith('patched-'):
                self.note(label, f'PATCH did not change the name: {str(img)[:200]}')

    def phase_physical(self):
        out = os.path.join(self.rundir, 'physical')
        # --only none: measure nothing at the server, only the machine's ceilings
        self.anchor('--url', f'glimpse={self.urls["glimpse"]}', '--only', 'none', '--physical',
                    '--runs', str(self.a.phys_runs), '--quiet-max', str(self.a.quiet_max), out=out)
        self.merge('physical', os.path.join(out, 'result-physical.json'))

    # =====================================================================================
    def run(self):
        a = self.a
        self.mark_load('start')
        self.make_file()
        try:
            self.mark_load('start servers')
            self.start_glance()
            self.start_glimpse()
            steps = [
                ('startup', self.phase_startup),
                ('updown', self.phase_updown),
                ('flat', self.phase_flat),
                ('concurrent', self.phase_concurrent),
                ('list', lambda: (self.fill(a.images, f'{a.images // 1000}k'),
                                  self.phase_list(f'{a.images // 1000}k'))),
                ('show', self.phase_show),
                ('patch', self.phase_patch),
                ('list100k', (lambda: (self.fill(a.big_images, f'{a.big_images // 1000}k'),
                                       self.phase_list(f'{a.big_images // 1000}k'))) if a.big_images else None),
                # last: it adds images (thousands a second on Glimpse) to the catalogs
                ('create', self.phase_create),
                ('physical', self.phase_physical),
            ]
            for name, fn in steps:
                if fn is None or name not in a.only:
                    continue
                self.mark_load(name)
                try:
                    fn()
                except Exception as e:  # noqa: BLE001 - one broken phase must not lose the rest
                    traceback.print_exc()
                    self.errors.append(f'{name}: {e}')
                    log(f'phase {name} FAILED: {e}')
        finally:
            self.mark_load('end')
            self.stop_all()


# ----------------------------------------------------------------------------------------
# report
# ----------------------------------------------------------------------------------------
def med(res, key):
    m = res['metrics'].get(key)
    vals = [v for v in (m['values'] if m else []) if v is not None]
    return statistics.median(vals) if vals else None


def mx(res, key):
    m = res['metrics'].get(key)
    vals = [v for v in (m['values'] if m else []) if v is not None]
    return max(vals) if vals else None


def fmt(v):
    if v is None:
        return '-'
    if abs(v) >= 100:
        return f'{v:.0f}'
    if abs(v) >= 10:
        return f'{v:.1f}'
    if abs(v) >= 1:
        return f'{v:.2f}'
    return f'{v:.3f}'


def cell(res, key):
    m = res['metrics'].get(key)
    vals = [v for v in (m['values'] if m else []) if v is not None]
    if not vals:
        return '-'
    s = fmt(statistics.median(vals))
    if len(vals) > 1:
        s += f' ({fmt(min(vals))}-{fmt(max(vals))})'
    return s


def rows(tags, conc, conc_mib, big_gib):
    # key, label, higher_is_better (None: neither)
    r = [
        ('startup_s', 'start-up: spawn -> first 200 on GET /v2/images, s', False),
        ('startup_idle_rss_MiB', 'idle RSS after start-up (whole process tree), MiB', False),
        ('upload_MBps', 'upload 1 GiB (curl -T), MB/s', True),
        ('upload_cpu_s_per_GiB', 'upload: server CPU s per GiB', False),
        ('upload_peak_rss_MiB', 'upload: peak RSS of busiest server process, MiB', False),
        ('download_MBps', 'download 1 GiB (curl), MB/s', True),
        ('download_cpu_s_per_GiB', 'download: server CPU s per GiB', False),
        ('download_peak_rss_MiB', 'download: peak RSS of busiest server process, MiB', False),
        ('flat_1g_peak_rss_MiB', 'upload 1 GiB (sendfile client): peak RSS, MiB', False),
        (f'flat_{big_gib}g_peak_rss_MiB', f'upload {big_gib} GiB (sendfile client): peak RSS, MiB', False),
        ('flat_1g_MBps', 'upload 1 GiB (sendfile client), MB/s', True),
        (f'flat_{big_gib}g_MBps', f'upload {big_gib} GiB (sendfile client), MB/s', True),
        ('conc_peak_rss_MiB', f'{conc} uploads at once ({conc_mib} MiB each): peak RSS, all server processes, MiB', False),
        ('conc_proc_peak_rss_MiB', f'{conc} uploads at once: peak RSS of busiest process, MiB', False),
        ('conc_MBps', f'{conc} uploads at once: total MB/s', True),
        ('create_per_s', f'POST /v2/images, creates/s @c={conc}', True),
        ('create_p50_ms', f'POST /v2/images p50, ms @c={conc}', False),
        ('create_per_cpu_s', 'creates per server CPU-second', True),
        ('show_rps', f'GET /v2/images/ID, shows/s @c={conc}', True),
        ('show_p50_ms', f'GET /v2/images/ID p50, ms @c={conc}', False),
        ('show_per_cpu_s', 'shows per server CPU-second', True),
        ('patch_per_s', f'PATCH /v2/images/ID, patches/s @c={conc}', True),
        ('patch_p50_ms', f'PATCH p50, ms @c={conc}', False),
        ('patch_p99_ms', f'PATCH p99, ms @c={conc}', False),
    ]
    names = {'list25': 'limit=25', 'list1000': 'limit=1000', 'list25fs': 'limit=25 +filter+sort',
             'list1000fs': 'limit=1000 +filter+sort'}
    for tag in tags:
        for key, nm in names.items():
            r.append((f'{key}_{tag}_p50_ms', f'list {nm} @{tag} images, p50 ms (c=1)', False))
            r.append((f'{key}_{tag}_p99_ms', f'list {nm} @{tag} images, p99 ms (c=1)', False))
    return r


PHYS_ROWS = [
    ('openssl_md5_MBps', 'openssl speed -evp md5 (16 KiB, 1 core), MB/s'),
    ('openssl_sha512_MBps', 'openssl speed -evp sha512 (16 KiB, 1 core), MB/s'),
    ('hashlib_md5_MBps', 'python hashlib md5 (64 KiB, 1 core), MB/s'),
    ('dd_write_fdatasync_MBps', 'dd write 1 GiB conv=fdatasync, MB/s'),
    ('dd_read_direct_MBps', 'dd read 1 GiB iflag=direct, MB/s'),
    ('dd_read_cached_MBps', 'dd read 1 GiB page-cached, MB/s'),
    ('nginx_curl_download_MBps', 'nginx (sendfile) -> curl, 1 GiB download, MB/s'),
    ('pysink_curl_upload_MBps', 'curl -T 1 GiB -> python socket sink (loopback), MB/s'),
]


def advantage(g, s, hib):
    if g is None or s is None or g == 0 or s == 0:
        return None
    if hib is False:
        return g / s
    return s / g


def bg_max(res, key):
    m = res['metrics'].get(key)
    if not m:
        return None
    return max([(mm or {}).get('bg_cores') or 0 for mm in m['meta']] or [0])


def targets(R, tags, big_gib):
    G, S, P = R['glance'], R['glimpse'], R['physical']
    out = []

    def t(name, ok, detail):
        out.append({'target': name, 'met': ok, 'detail': detail})

    def ratio(key, hib=True):
        return advantage(med(G, key), med(S, key), hib)

    up, md5c = med(S, 'upload_MBps'), med(P, 'openssl_md5_MBps')
    r = ratio('upload_MBps')
    t('upload >= 3x Glance', None if r is None else r >= 3,
      f'{fmt(r)}x ({fmt(up)} vs {fmt(med(G, "upload_MBps"))} MB/s)')
    t('upload >= 70% of single-core MD5 ceiling', None if not (up and md5c) else up >= 0.7 * md5c,
      f'{fmt(up / md5c * 100) if up and md5c else "-"}% ({fmt(up)} of {fmt(md5c)} MB/s)')
    dn, ngx = med(S, 'download_MBps'), med(P, 'nginx_curl_download_MBps')
    r = ratio('download_MBps')
    t('download >= 1.0x Glance', None if r is None else r >= 1.0,
      f'{fmt(r)}x ({fmt(dn)} vs {fmt(med(G, "download_MBps"))} MB/s)')
    t('download >= 90% of nginx sendfile ceiling', None if not (dn and ngx) else dn >= 0.9 * ngx,
      f'{fmt(dn / ngx * 100) if dn and ngx else "-"}% ({fmt(dn)} of {fmt(ngx)} MB/s)')
    r = ratio('create_per_s')
    t('creates/s >= 20x Glance', None if r is None else r >= 20,
      f'{fmt(r)}x ({fmt(med(S, "create_per_s"))} vs {fmt(med(G, "create_per_s"))}/s)')
    r = ratio('show_rps')
    t('shows/s >= 30x Glance', None if r is None else r >= 30,
      f'{fmt(r)}x ({fmt(med(S, "show_rps"))} vs {fmt(med(G, "show_rps"))}/s)')
    if tags:
        tag = tags[0]
        for key, nm in (('list25', 'limit 25'), ('list1000', 'limit 1000'), ('list25fs', 'limit 25 filter+sort'),
                        ('list1000fs', 'limit 1000 filter+sort')):
            k = f'{key}_{tag}_p50_ms'
            r = ratio(k, False)
            t(f'list p50 >= 10x faster @{tag} ({nm})', None if r is None else r >= 10,
              f'{fmt(r)}x ({fmt(med(S, k))} vs {fmt(med(G, k))} ms)')
    if len(tags) > 1:
        k = f'list25_{tags[-1]}_p50_ms'
        v = med(S, k)
        t(f'list limit 25 p50 < 5 ms @{tags[-1]}', None if v is None else v < 5, f'{fmt(v)} ms')
    else:
        t('list limit 25 p50 < 5 ms @100k', None, 'not measured (no 100k step in this run)')
    v = mx(S, 'upload_peak_rss_MiB')
    t('peak RSS during 1 GiB upload <= 64 MiB', None if v is None else v <= 64, f'{fmt(v)} MiB (max of runs)')
    a, b = med(S, 'flat_1g_peak_rss_MiB'), med(S, f'flat_{big_gib}g_peak_rss_MiB')
    t(f'peak RSS flat: 1 GiB vs {big_gib} GiB within 10%', None if not (a and b) else abs(b - a) <= 0.1 * a,
      f'{fmt(a)} vs {fmt(b)} MiB ({fmt((b - a) / a * 100) if a and b else "-"}%)')
    v = med(S, 'startup_s')
    t('start-up to first answered request < 0.3 s', None if v is None else v < 0.3,
      f'{fmt(v * 1000) if v is not None else "-"} ms (median)')
    return out


def render(doc):
    R = doc['results']; G, S, P = R['glance'], R['glimpse'], R['physical']
    cfg = doc['config']
    tags = doc['list_tags']
    lines = []
    lines.append(f'Glimpse vs Glance {doc["glance_version"]}, side by side -- {doc["time"]}, git {doc["git"]}, '
                 f'{cfg["mode"]} mode, {cfg["runs"]} interleaved run(s)')
    lines.append(f'machine: {doc["machine"]["cpus"]} CPUs ({doc["machine"]["cpu_model"]}), '
                 f'{doc["machine"]["mem_gib"]:.0f} GiB RAM, kernel {doc["machine"]["kernel"]}')
    la = doc['loadavg']
    if la:
        peak = max(x['loadavg'][0] for x in la)
        lines.append(f'loadavg (1/5/15 min): start {" ".join(map(str, la[0]["loadavg"]))}, end '
                     f'{" ".join(map(str, la[-1]["loadavg"]))}, highest 1-min at a phase start {peak:.2f}; '
                     + ', '.join(f'{x["phase"]} {x["loadavg"][0]:.2f}' for x in la[1:-1]))
    lines.append('cells: median (min-max of runs); advantage: >1 means Glimpse is better '
                 '(Glimpse/Glance for rates, Glance/Glimpse for times and memory); '
                 'bg: most CPU cores other processes used during a run')
    hdr = ['metric', 'Glance', 'Glimpse', 'advantage', 'bg']
    body = []
    for key, lab, hib in rows(tags, cfg['conc'], cfg['conc_mib'], cfg['big_gib']):
        if key not in G['metrics'] and key not in S['metrics']:
            continue
        adv = advantage(med(G, key), med(S, key), hib)
        bg = max([x for x in (bg_max(G, key), bg_max(S, key)) if x is not None] or [0])
        body.append([lab, cell(G, key), cell(S, key), '' if adv is None else f'{adv:.2f}x', fmt(bg)])
    lines += _grid(hdr, body)
    pb = [[lab, cell(P, key)] for key, lab in PHYS_ROWS if key in P['metrics']]
    if pb:
        lines.append('')
        lines.append('physical ceilings, same run:')
        lines += _grid(['ceiling', 'value'], pb)
    lines.append('')
    lines.append('targets (issue 9):')
    for t in doc['targets']:
        st = 'MET    ' if t['met'] else ('NOT MET' if t['met'] is False else 'n/a    ')
        lines.append(f'  [{st}] {t["target"]}: {t["detail"]}')
    notes = []
    for lab in ('glance', 'glimpse', 'physical'):
        redone = 0
        for n in R[lab]['notes']:
            # informational notes (response sizes, fill counts of the anchor) stay in the JSON
            if 'redone, other processes used' in n:
                redone += 1
            elif not re.search(r'GET /v2/images|populated DB to|sha512 verified', n):
                notes.append(f'  [{lab}] {n}')
        if redone:
            notes.append(f'  [{lab}] {redone} runs were redone once because other processes used the CPU '
                         f'(details in the JSON notes)')
    if notes or doc['errors']:
        lines.append('')
        lines.append('notes:')
        lines += notes
        lines += [f'  ERROR in phase {e}' for e in doc['errors']]
    return '\n'.join(lines)


def _grid(hdr, body):
    w = [max(len(str(r[i])) for r in body + [hdr]) for i in range(len(hdr))]
    line = lambda r: '| ' + ' | '.join(str(c).ljust(w[i]) for i, c in enumerate(r)) + ' |'
    return [line(hdr), '|' + '|'.join('-' * (x + 2) for x in w) + '|'] + [line(r) for r in body]


def machine():
    model = '?'
    try:
        with open('/proc/cpuinfo') as fh:
            for line in fh:
                if line.startswith('model name'):
                    model = line.split(':', 1)[1].strip(); break
    except OSError:
        pass
    with open('/proc/meminfo') as fh:
        mem = int(fh.readline().split()[1]) / (1 << 20)
    return {'cpus': os.cpu_count(), 'cpu_model': model, 'mem_gib': mem, 'kernel': os.uname().release}


def git_rev():
    try:
        rev = subprocess.run(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'], capture_output=True,
                             text=True).stdout.strip() or 'norev'
        dirty = subprocess.run(['git', '-C', ROOT, 'status', '--porcelain', '--untracked-files=no'],
                               capture_output=True, text=True).stdout.strip()
        return rev + ('-dirty' if dirty else '')
    except OSError:
        return 'norev'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--quick', action='store_true', help='1 run, short durations, 2,000 images, no 100k, 2 GiB not 8')
    ap.add_argument('--runs', type=int, help='interleaved runs of each measurement (3; quick 1)')
    ap.add_argument('--only', default=','.join(PHASES), help='phases: ' + ','.join(PHASES))
    ap.add_argument('--images', type=int, help='catalog size of the first list step (10000; quick 2000)')
    ap.add_argument('--big-images', type=int, help='catalog size of the second list step (100000; quick 0 = skip)')
    ap.add_argument('--big-gib', type=int, help='size of the large upload, GiB (8; quick 2; 0 = skip)')
    ap.add_argument('--fill', choices=('auto', 'api', 'sql'), default='auto',
                    help='how the catalogs are filled: auto = through the API for at most --fill-api-max-s '
                         'per server, the rest as SQL copies of API-made rows; api; sql')
    ap.add_argument('--fill-api-max-s', type=float, help='seconds of API filling per server (300; quick 60)')
    ap.add_argument('--conc', type=int, default=16, help='connections for create/show/patch, concurrent uploads')
    ap.add_argument('--conc-mib', type=int, help='size of each concurrent upload, MiB (256; quick 32)')
    ap.add_argument('--dur', type=int, help='seconds of each create/show/patch run (10; quick 3)')
    ap.add_argument('--list-dur', type=int, help='seconds of each limit-25 list run (6; quick 2)')
    ap.add_argument('--list1000-dur', type=int, help='seconds of each limit-1000 list run (10; quick 3)')
    ap.add_argument('--startup-runs', type=int, help='start-ups of each server (5; quick 2)')
    ap.add_argument('--phys-runs', type=int, help='runs of each ceiling measurement (3; quick 1)')
    ap.add_argument('--quiet-max', type=float, help='wait at most this long for a quiet machine before a run (5; quick 1)')
    ap.add_argument('--retries', type=int, help='redo a disturbed run at most N times (1; quick 0)')
    ap.add_argument('--min-samples', type=int, default=10,
                    help='a list run where wrk finished fewer requests is timed request by request instead')
    ap.add_argument('--max-bg', type=float, default=0.25)
    ap.add_argument('--max-rq', type=float, default=0.1)
    ap.add_argument('--glance-port', type=int, default=int(os.environ.get('GLANCE_PORT', 9292)))
    ap.add_argument('--glimpse-port', type=int, default=9393)
    ap.add_argument('--glimpse-bin', default=os.path.join(ROOT, '.build', 'release', 'glimpse'))
    ap.add_argument('--anchor', default=os.environ.get('GLANCE_ANCHOR') or
                    os.path.join(os.environ.get('GLIMPSE_SHARED') or os.path.join(ROOT, '..', 'shared'),
                                 'conformance', 'glance-anchor.sh'))
    ap.add_argument('--anchors', default=os.environ.get('BENCH_ANCHORS') or
                    os.path.expanduser('~/.cache/glimpse-anchors-bench'),
                    help="the anchor script's ANCHORS dir (Glance's venv, config and state)")
    ap.add_argument('--work', default=os.environ.get('BENCH_WORK') or f'/tmp/glimpse-sidebyside.{os.getuid()}')
    ap.add_argument('--results', default=os.path.join(ROOT, 'bench', 'results'))
    ap.add_argument('--table', metavar='JSON', help='print the table of a saved result file and exit')
    a = ap.parse_args()
    if a.table:
        with open(a.table) as fh:
            print(render(json.load(fh)))
        return 0
    q = a.quick
    defaults = dict(runs=(1, 3), images=(2000, 10000), big_images=(0, 100000), big_gib=(2, 8), conc_mib=(32, 256),
                    dur=(3, 10), list_dur=(2, 6), list1000_dur=(3, 10), startup_runs=(2, 5), phys_runs=(1, 3),
                    quiet_max=(1, 5), retries=(0, 1), fill_api_max_s=(60, 300))
    for k, (quick, full) in defaults.items():
        if getattr(a, k) is None:
            setattr(a, k, quick if q else full)
    a.only = set(a.only.split(','))
    bad = a.only - set(PHASES)
    if bad:
        ap.error(f'unknown phase(s) {bad}; known: {",".join(PHASES)}')
    a.anchor = os.path.abspath(a.anchor)
    for tool in ('curl', 'wrk'):
        if not shutil.which(tool):
            ap.error(f'{tool} is missing (apt-get install {tool})')
    if not (shutil.which('nginx') or os.path.exists('/usr/sbin/nginx')):
        log('nginx is missing: the download ceiling is not measured (apt-get install nginx-light)')
    if not os.access(a.glimpse_bin, os.X_OK):
        ap.error(f'no glimpse binary at {a.glimpse_bin} (swift build -c release --product glimpse)')
    if not os.path.isfile(a.anchor):
        ap.error(f'no anchor script at {a.anchor} (set GLANCE_ANCHOR)')
    os.makedirs(a.work, exist_ok=True)
    # Our own ANCHORS dir (own Glance config, state and pid file: nobody else's Glance is
    # touched), reusing an already built Glance venv (uWSGI takes minutes to compile).
    shared_venv = os.path.expanduser('~/.cache/glimpse-anchors/glance/venv')
    own_venv = os.path.join(a.anchors, 'glance', 'venv')
    if not os.path.exists(own_venv) and os.path.exists(os.path.join(shared_venv, 'bin', 'uwsgi')):
        os.makedirs(os.path.dirname(own_venv), exist_ok=True)
        os.symlink(shared_venv, own_venv)
        log(f'reusing the Glance venv {shared_venv}')

    b = Bench(a)

    def on_term(signum, _frame):
        raise KeyboardInterrupt(f'signal {signum}')
    signal.signal(signal.SIGTERM, on_term)
    t0 = time.time()
    try:
        b.run()
    except KeyboardInterrupt:
        b.errors.append('interrupted')
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        b.errors.append(f'setup: {e}')
    tags = [f'{a.images // 1000}k'] if 'list' in a.only else []
    if a.big_images and 'list100k' in a.only:
        tags.append(f'{a.big_images // 1000}k')
    doc = {
        'time': time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(t0)),
        'duration_s': round(time.time() - t0),
        'git': git_rev(),
        'glance_version': '33.0.0',
        'glimpse_bin': a.glimpse_bin,
        'machine': machine(),
        'config': {'mode': 'quick' if q else 'full', 'runs': a.runs, 'images': a.images, 'big_images': a.big_images,
                   'big_gib': a.big_gib, 'conc': a.conc, 'conc_mib': a.conc_mib, 'dur': a.dur,
                   'list_dur': a.list_dur, 'list1000_dur': a.list1000_dur, 'startup_runs': a.startup_runs,
                   'quiet_max': a.quiet_max, 'retries': a.retries, 'phases': sorted(a.only),
                   'fill': a.fill, 'fill_api_max_s': a.fill_api_max_s},
        'list_tags': tags,
        'loadavg': b.loads,
        'errors': b.errors,
        'results': b.res,
    }
    doc['targets'] = targets(b.res, tags, a.big_gib)
    os.makedirs(a.results, exist_ok=True)
    path = os.path.join(a.results, f'{time.strftime("%Y%m%d-%H%M%S", time.localtime(t0))}-{doc["git"]}.json')
    with open(path, 'w') as fh:
        json.dump(doc, fh, indent=1)
    print(render(doc))
    print(f'\nfull results: {os.path.relpath(path, os.getcwd())}  (took {doc["duration_s"] // 60} min '
          f'{doc["duration_s"] % 60} s; work dir {a.work}/{os.path.basename(b.rundir)})')
    return 1 if b.errors else 0


if __name__ == '__main__':
    sys.exit(main())
