#!/usr/bin/env python3
"""Run a second, private real Glance 33 that trusts identity headers, like Glimpse's noauth.

The anchor Glance (``../shared/conformance/glance-anchor.sh --start-glance``) runs the
``unauthenticated-context`` paste flavor plus ``"context_is_admin": ""``: every caller is
an admin with no project, and X-Project-Id / X-Roles are ignored. So the checks that
depend on who is asking (a member's list, a stranger's 404, the 403 on a deactivated
image for a non-admin) cannot be verified there.

This script starts Glance from the anchor's virtualenv (``$ANCHORS/glance/venv``, made by
glance-anchor.sh) with its own config, state and port, and the paste pipeline

    cors http_proxy_to_wsgi versionnegotiation osprofiler glimpse-noauth context rootapp

``context`` is Glance's Keystone-mode context middleware (what keystonemiddleware feeds),
and ``glimpse-noauth`` (below) fills in identity headers only when a request has none:
project ``GLANCE_DEFAULT_PROJECT`` with roles admin,member,reader, i.e. the noauth default
Glimpse documents. Policies are Glance's secure-RBAC defaults (no policy file).

    python tests/integration/real_glance.py start [--port N] [--dir DIR] [--connection URL]  # prints the URL
    python tests/integration/real_glance.py stop  [--dir DIR]

    GLIMPSE_URL=$(python tests/integration/real_glance.py start) \\
        .venv/bin/python tests/integration/test_scenario.py

DIR defaults to /tmp/glimpse-real-glance; its state is wiped on start. It never touches
the anchor's own state directory or a Glance started by the anchor script.

From Python, ``start(d, port, connection=..., venv=..., wipe=False)`` also serves another
database (a SQLAlchemy URL such as ``postgresql+psycopg2://user:pass@host:port/db``; the
PostgreSQL driver is then pip-installed into the venv once), runs from another Glance venv,
or starts again on the state a previous start left (its file store and SQLite file kept).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

ANCHORS = os.environ.get("ANCHORS", os.path.expanduser("~/.cache/glimpse-anchors"))
VENV = os.path.join(ANCHORS, "glance", "venv")
DEFAULT_DIR = "/tmp/glimpse-real-glance"
DEFAULT_PROJECT = os.environ.get("GLANCE_DEFAULT_PROJECT", "0000000000000000000000000000adm1")

FILTER_PY = '''\
"""Paste filter: a request with no X-Project-Id gets the noauth default identity."""


class GlimpseNoauth:
    def __init__(self, app, project):
        self.app = app
        self.project = project

    def __call__(self, environ, start_response):
        if not environ.get("HTTP_X_PROJECT_ID"):
            environ["HTTP_X_PROJECT_ID"] = self.project
            environ["HTTP_X_ROLES"] = "admin,member,reader"
            environ["HTTP_X_USER_ID"] = "noauth-admin"
        environ.setdefault("HTTP_X_IDENTITY_STATUS", "Confirmed")
        return self.app(environ, start_response)


def filter_factory(global_conf, **local_conf):
    project = local_conf.get("default_project", "admin")
    return lambda app: GlimpseNoauth(app, project)
'''


def paths(d):
    return {
        "etc": os.path.join(d, "etc"),
        "state": os.path.join(d, "state"),
        "py": os.path.join(d, "py"),
        "pid": os.path.join(d, "uwsgi.pid"),
        "url": os.path.join(d, "url"),
    }


def ensure_pg_driver(venv: str) -> None:
    """pip-install psycopg2-binary into Glance's venv unless it imports already."""
    py = os.path.join(venv, "bin", "python")
    if subprocess.run([py, "-c", "import psycopg2"], capture_output=True).returncode == 0:
        return
    cmd = [os.path.join(venv, "bin", "pip"), "install", "-q", "psycopg2-binary"]
    constraints = os.path.join(os.path.dirname(os.path.realpath(venv)), "constraints.txt")
    if os.path.isfile(constraints):
        cmd[3:3] = ["-c", constraints]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"real_glance: pip install psycopg2-binary failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")


def start(d: str, port: int, connection: str | None = None, venv: str | None = None,
          wipe: bool = True) -> str:
    """Start Glance under uWSGI on 127.0.0.1:port with its config and state under ``d``.

    connection: SQLAlchemy database URL (default: SQLite file in ``d``/state).
    venv: Glance's virtualenv (default: the anchor's).
    wipe: False keeps ``d``'s state (file store, SQLite file) from an earlier start.
    """
    venv = venv or VENV
    if not os.path.exists(os.path.join(venv, "bin", "uwsgi")):
        sys.exit(f"real_glance: no Glance install at {venv}; run "
                 f"../shared/conformance/glance-anchor.sh --start-glance once (then --stop-glance)")
    if connection and connection.split(":", 1)[0].startswith("postgresql"):
        ensure_pg_driver(venv)
    stop(d, quiet=True)
    p = paths(d)
    if wipe:
        shutil.rmtree(d, ignore_errors=True)
    for sub in ("images", "staging", "tasks", "logs"):
        os.makedirs(os.path.join(p["state"], sub), exist_ok=True)
    os.makedirs(p["etc"], exist_ok=True)
    os.makedirs(p["py"], exist_ok=True)
    with open(os.path.join(p["py"], "glimpse_noauth.py"), "w") as fh:
        fh.write(FILTER_PY)
    paste_src = os.path.join(venv, "etc", "glance", "glance-api-paste.ini")
    with open(paste_src) as fh:
        paste = fh.read()
    paste = paste.replace(
        "[composite:api]\npaste.composite_factory = glance.api:pipeline_factory\n",
        "[composite:api]\npaste.composite_factory = glance.api:pipeline_factory\n"
        "glimpsenoauth = cors http_proxy_to_wsgi versionnegotiation osprofiler glimpse-noauth "
        "context rootapp\n")
    paste += ("\n[composite:glance-api-glimpsenoauth]\n"
              "paste.composite_factory = glance.api:root_app_factory\n/: api\n/healthcheck: healthcheck\n")
    paste += (f"\n[filter:glimpse-noauth]\npaste.filter_factory = glimpse_noauth:filter_factory\n"
              f"default_project = {DEFAULT_PROJECT}\n")
    with open(os.path.join(p["etc"], "glance-api-paste.ini"), "w") as fh:
        fh.write(paste)
    s = p["state"]
    conf = f"""[DEFAULT]
enabled_backends = fs:file
log_file = {s}/logs/glance-api.log
debug = false

[database]
connection = {connection or f"sqlite:///{s}/glance.db"}

[glance_store]
default_backend = fs

[fs]
filesystem_store_datadir = {s}/images

[os_glance_staging_store]
filesystem_store_datadir = {s}/staging

[os_glance_tasks_store]
filesystem_store_datadir = {s}/tasks

[paste_deploy]
flavor = glimpsenoauth
config_file = {p["etc"]}/glance-api-paste.ini
"""
    with open(os.path.join(p["etc"], "glance-api.conf"), "w") as fh:
        fh.write(conf)
    with open(os.path.join(p["etc"], "glance-uwsgi.ini"), "w") as fh:
        fh.write(f"""[uwsgi]
socket-timeout = 10
http-auto-chunked = true
http-chunked-input = true
http-raw-body = true
lazy-apps = true
add-header = Connection: close
buffer-size = 65535
thunder-lock = true
enable-threads = true
exit-on-reload = true
die-on-term = true
master = true
processes = 2
http-socket = 127.0.0.1:{port}
module = glance.wsgi.api:application
env = OS_GLANCE_CONFIG_DIR={p["etc"]}
pythonpath = {p["py"]}
virtualenv = {venv}
logto = {s}/logs/uwsgi.log
""")
    env = {**os.environ, "OS_GLANCE_CONFIG_DIR": p["etc"]}
    r = subprocess.run([os.path.join(venv, "bin", "glance-manage"), "--config-file",
                        os.path.join(p["etc"], "glance-api.conf"), "db_sync"],
                       env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"real_glance: db_sync failed:\n{r.stdout[-2000:]}{r.stderr[-2000:]}")
    log = open(os.path.join(s, "logs", "uwsgi-stdout.log"), "ab")
    proc = subprocess.Popen([os.path.join(venv, "bin", "uwsgi"), "--ini",
                             os.path.join(p["etc"], "glance-uwsgi.ini")],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, start_new_session=True)
    with open(p["pid"], "w") as fh:
        fh.write(str(proc.pid))
    url = f"http://127.0.0.1:{port}"
    if not common.wait_http_ok(url, timeout=120, proc=proc):
        stop(d, quiet=True)
        sys.exit(f"real_glance: Glance did not come up at {url}; see {s}/logs/")
    with open(p["url"], "w") as fh:
        fh.write(url)
    return url


def stop(d: str, quiet: bool = False) -> None:
    p = paths(d)
    try:
        with open(p["pid"]) as fh:
            pid = int(fh.read().strip())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(60):
            os.kill(pid, 0)
            time.sleep(0.5)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.unlink(p["pid"])
    if not quiet:
        print(f"real_glance: stopped uWSGI master {pid}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["start", "stop"])
    ap.add_argument("--dir", default=DEFAULT_DIR)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--connection", default=None,
                    help="database URL (default: SQLite in DIR), e.g. postgresql+psycopg2://u:p@host:port/db")
    a = ap.parse_args()
    if a.action == "start":
        print(start(a.dir, a.port or common.free_port(), connection=a.connection))
    else:
        stop(a.dir)


if __name__ == "__main__":
    main()
