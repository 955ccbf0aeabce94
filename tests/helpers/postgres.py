"""A PostgreSQL server for the state-store tests: PMPC_TEST_POSTGRES_URL, or a throwaway one started here.

Outside CI, when PMPC_TEST_POSTGRES_URL is unset and we run as root with initdb on the PATH, a private
server is started in a temporary directory (owned by the postgres user) and stopped at exit. Otherwise the
PostgreSQL tests are skipped with the reason printed; with CI set they fail instead.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

ENV_URL = "PMPC_TEST_POSTGRES_URL"
WATCHDOG = """
import os, shutil, subprocess, sys, time
parent, runuser, pg_ctl, data, base = int(sys.argv[1]), *sys.argv[2:]
while os.path.isdir(data):
    try:
        os.kill(parent, 0)
    except ProcessLookupError:
        subprocess.run([runuser, "-u", "postgres", "--", pg_ctl, "-D", data, "-m", "immediate", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)
        break
    time.sleep(1)
"""
_cached: tuple[str | None, str] | None = None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_private_server() -> tuple[str | None, str]:
    if os.geteuid() != 0:
        return None, f"{ENV_URL} is unset and not root: no throwaway PostgreSQL server can be started"
    initdb, pg_ctl, runuser = shutil.which("initdb"), shutil.which("pg_ctl"), shutil.which("runuser")
    if not (initdb and pg_ctl and runuser):
        return None, f"{ENV_URL} is unset and initdb/pg_ctl/runuser are not on the PATH"
    try:
        import pwd

        pwd.getpwnam("postgres")
    except KeyError:
        return None, f"{ENV_URL} is unset and there is no postgres user to run a server as"
    base = tempfile.mkdtemp(prefix="pmpc-test-pg.")
    shutil.chown(base, user="postgres")
    data = os.path.join(base, "data")
    port = _free_port()
    as_pg = [runuser, "-u", "postgres", "--"]
    try:
        subprocess.run(
            [*as_pg, initdb, "-D", data, "-A", "trust", "-U", "pmpc"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [
                *as_pg,
                pg_ctl,
                "-D",
                data,
                "-l",
                os.path.join(base, "server.log"),
                "-o",
                f"-c listen_addresses=127.0.0.1 -p {port} -k {base}",
                "-w",
                "start",
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        shutil.rmtree(base, ignore_errors=True)
        return None, f"could not start a throwaway PostgreSQL server: {exc}"

    # If this test process is killed (no atexit), a watchdog stops the server once it is gone.
    subprocess.Popen(
        [sys.executable, "-c", WATCHDOG, str(os.getpid()), runuser, pg_ctl, data, base],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )

    def stop() -> None:
        subprocess.run(
            [*as_pg, pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True, timeout=60
        )
        shutil.rmtree(base, ignore_errors=True)

    atexit.register(stop)
    # The default database `postgres` exists; the tests make their own schemas in it.
    return f"postgresql+psycopg://pmpc@127.0.0.1:{port}/postgres", "started a throwaway server"


def server_url() -> tuple[str | None, str]:
    """Return (URL of a PostgreSQL database the tests may use, or None; the reason)."""
    global _cached
    if _cached is None:
        url = os.environ.get(ENV_URL)
        _cached = (url, f"{ENV_URL} is set") if url else _start_private_server()
    return _cached


def require_server() -> str:
    """Return the server URL, or skip the test (fail it when CI is set) saying why there is none."""
    import pytest

    url, reason = server_url()
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL tests cannot run in CI: {reason}")
    print(f"skipping PostgreSQL tests: {reason}")
    pytest.skip(f"no PostgreSQL server: {reason}")
    raise AssertionError("unreachable")  # pragma: no cover


def _admin_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1).split("?", 1)[0]


@contextmanager
def schema_url(server: str) -> Iterator[str]:
    """Yield a URL whose search_path is a fresh schema of its own, dropped afterwards."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(_admin_url(server), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    sep = "&" if "?" in server else "?"
    try:
        yield f"{server}{sep}options={quote(f'-csearch_path={name}')}"
    finally:
        with psycopg.connect(_admin_url(server), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
