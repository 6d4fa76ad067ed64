"""The client scenario (test_scenario.py: glanceclient, openstack CLI and SDK, raw HTTP) against
a Glimpse whose catalog is PostgreSQL instead of SQLite.

Needs GLIMPSE_PG_URL (scripts/test.sh starts ../shared/services/start-postgres.sh and exports
it). Runs in a database of its own, created here and dropped afterwards.
"""
import glob
import os
import shutil
import subprocess
import sys
import uuid


def psql() -> str:
    found = shutil.which("psql") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))), None)
    if not found:
        sys.exit("FAIL psql not found (is PostgreSQL installed? ../shared/services/start-postgres.sh installs it)")
    return found


def main() -> int:
    base = os.environ.get("GLIMPSE_PG_URL")
    if not base:
        print("FAIL GLIMPSE_PG_URL is not set: start ../shared/services/start-postgres.sh first")
        return 1
    name = "scenario_" + uuid.uuid4().hex[:12]
    subprocess.run([psql(), base, "-qAt", "-v", "ON_ERROR_STOP=1", "-c", f"CREATE DATABASE {name}"], check=True)
    url = base.rsplit("/", 1)[0] + "/" + name
    print(f"     catalog: PostgreSQL database {name}", flush=True)
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        r = subprocess.run([sys.executable, os.path.join(here, "test_scenario.py")],
                           env={**os.environ, "GLIMPSE_CONNECTION": url})
        if r.returncode == 0:
            rows = subprocess.run([psql(), url, "-qAt", "-c", "SELECT count(*) FROM images"],
                                  capture_output=True, text=True).stdout.strip()
            ok = rows.isdigit() and int(rows) > 0
            print(f"{'PASS' if ok else 'FAIL'} the scenario's images are rows in PostgreSQL ({rows})")
            if not ok:
                return 1
        return r.returncode
    finally:
        subprocess.run([psql(), base, "-qAt", "-c", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False)


if __name__ == "__main__":
    sys.exit(main())
