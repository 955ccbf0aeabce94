"""Commands import only what they use: `vm list`, `sync` and `plan --offline` in a fresh process.

The libraries left out are those a command has no use for (a database for one API read, HTTP for an
offline plan, alembic when the schema is current, templates, the console, rich tables); loading them
would be paid on every run.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.cluster import PASSWORD
from tests.unit.test_startup_imports import PROBE

NOT_FOR = {
    # Every GET goes on the GET lane (api/lane.py): a command that only reads, signed by a token (or a cached
    # ticket), never loads aiohttp, which carries writes and logins.
    ("vm", "list", "-o", "json"): (
        "httpx_aiohttp", "aiohttp", "sqlalchemy", "sqlmodel", "alembic", "jinja2", "rich", "prompt_toolkit",
        "tabulate", "fakepve",
    ),
    # A SQLite store at the current schema is written through sqlite3 alone (state/lite.py).
    ("sync",): (
        "httpx_aiohttp", "aiohttp", "sqlalchemy", "sqlmodel", "alembic", "jinja2", "rich", "prompt_toolkit",
        "tabulate", "fakepve", "proxmoxer",
    ),
    ("plan",): (
        "httpx_aiohttp", "aiohttp", "sqlalchemy", "sqlmodel", "alembic", "jinja2", "rich", "prompt_toolkit",
        "tabulate", "fakepve",
    ),
    # The last sync (and the manifest cache) are read from a current SQLite store through sqlite3 alone.
    ("plan", "--offline"): (
        "httpx", "httpx_aiohttp", "aiohttp", "sqlalchemy", "sqlmodel", "alembic", "jinja2", "rich", "prompt_toolkit",
        "tabulate", "fakepve",
    ),
}


def imported(argv: tuple[str, ...], watched: tuple[str, ...]) -> dict[str, object]:
    probe = PROBE.replace("json.loads(HEAVY)", repr(list(watched)))
    done = subprocess.run(
        [sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


@pytest.mark.parametrize("argv", list(NOT_FOR), ids=lambda argv: " ".join(argv))
def test_command_leaves_unused_libraries_alone(cluster, cli, argv):
    assert cli("init").exit_code == 0
    assert cli("sync", "--import").exit_code == 0  # the store is current and manifests exist
    report = imported(argv, NOT_FOR[argv])
    assert report["code"] == 0
    assert report["heavy"] == []


def test_a_first_sync_creates_the_store_without_the_database_libraries(cluster, cli):
    # A new SQLite state database is made through sqlite3 (state/head_schema.py), not by the migrations.
    assert cli("init").exit_code == 0
    assert not Path(".pmpc", "state.db").exists()
    report = imported(("sync",), ("sqlalchemy", "sqlmodel", "alembic"))
    assert report["code"] == 0
    assert report["heavy"] == []
    with sqlite3.connect(Path(".pmpc", "state.db")) as conn:
        assert conn.execute("SELECT count(*) FROM pmpc_guests").fetchone()[0] > 0


def test_the_probe_sees_a_command_that_imports_one(cluster, cli):
    # `generate` renders templates with jinja2: the probe sees it, so an empty list above means something.
    assert cli("init").exit_code == 0
    assert cli("sync").exit_code == 0
    assert imported(("generate", "ansible", "--dry-run"), ("jinja2",))["heavy"] == ["jinja2"]


def test_plan_offline_with_the_manifest_cache_leaves_the_database_libraries_alone(cluster, cli):
    # Enough manifests for the cache (a small workspace skips it), dated a while ago so they are cached;
    # each new one is a create, so the plan reads the journal's unfinished replaces as well.
    from proxmox_mpc.services.manifest_cache import CACHE_MIN_FILES, SETTLE_NS

    assert cli("init").exit_code == 0
    assert cli("sync", "--import").exit_code == 0
    vms = Path("resources") / "vms"
    text = next(vms.iterdir()).read_text(encoding="utf-8")
    name = next(line.split(": ", 1)[1] for line in text.splitlines() if line.startswith("name: "))
    vmid = next(line for line in text.splitlines() if line.startswith("vmid: "))
    kept = "\n".join(line for line in text.splitlines() if "macaddr" not in line and "hwaddr" not in line)
    for i in range(CACHE_MIN_FILES):
        (vms / f"new-{i}.yaml").write_text(
            kept.replace(f"name: {name}", f"name: new-{i}").replace(vmid, f"vmid: {5000 + i}") + "\n",
            encoding="utf-8",
        )
    for path in Path("resources").rglob("*.yaml"):
        os.utime(path, (path.stat().st_mtime - 60, path.stat().st_mtime - 60))
    time.sleep(SETTLE_NS / 1e9 + 0.1)  # their ctime (now) settles too
    watched = NOT_FOR[("plan", "--offline")]
    cold = imported(("plan", "--offline"), watched)  # parses every file, and stores them in the cache
    with sqlite3.connect(Path(".pmpc") / "state.db") as conn:
        (cached,) = conn.execute("SELECT count(*) FROM pmpc_manifest_cache").fetchone()
    assert cached >= CACHE_MIN_FILES + 1
    warm = imported(("plan", "--offline"), watched)  # reads them from the cache
    assert (cold["code"], cold["heavy"], warm["code"], warm["heavy"]) == (0, [], 0, [])


MODULES_PROBE = """
import contextlib, io, json, sys
from proxmox_mpc.cli import run_cli
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    code = run_cli(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(m for m in sys.modules if m.startswith("proxmox_mpc."))}))
"""


def test_vm_list_loads_no_manifest_model(cluster, cli):
    # A listing validates no manifest: the pydantic models of every kind's spec are not built for it.
    assert cli("init").exit_code == 0
    done = subprocess.run(
        [sys.executable, "-c", MODULES_PROBE, "vm", "list", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(done.stdout)
    assert report["code"] == 0, done.stderr
    assert "proxmox_mpc.api.client" in report["modules"]  # the probe sees the modules the command used
    assert [m for m in report["modules"] if m.startswith(("proxmox_mpc.core.manifest", "proxmox_mpc.kinds."))] == []


SENT_AHEAD = """
import contextlib, io, json, sys
from proxmox_mpc.api.client import ProxmoxClient
from proxmox_mpc.cli import run_cli
loaded = []
real = ProxmoxClient.prefetch
def prefetch(self, path, **params):
    names = ("proxmox_mpc.kinds", "proxmox_mpc.services.observe", "proxmox_mpc.services.resources")
    loaded.append(sorted(m for m in sys.modules if m.startswith(names)))
    return real(self, path, **params)
ProxmoxClient.prefetch = prefetch
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    code = run_cli(sys.argv[1:])
print(json.dumps({"code": code, "loaded": loaded}))
"""


@pytest.mark.parametrize("argv", [("sync",), ("sync", "--dry-run")], ids=" ".join)
def test_sync_sends_its_first_requests_before_it_loads_the_reader_and_the_kinds(cluster, cli, argv):
    assert cli("init").exit_code == 0
    assert cli("sync").exit_code == 0  # the store is current: a sync takes the sqlite3 path
    done = subprocess.run([sys.executable, "-c", SENT_AHEAD, *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report == {"code": 0, "loaded": [[], []]}  # /nodes and /cluster/resources, with nothing of those loaded


STARTUP_WORK = """
import contextlib, io, json, ssl, sys
from proxmox_mpc.cli import run_cli
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    code = run_cli(sys.argv[1:])
import aiohttp.connector
print(json.dumps({
    "code": code,
    "aiohttp's default CAs": aiohttp.connector._SSL_CONTEXT_VERIFIED.cert_store_stats()["x509_ca"],
    "ssl patched": "set_default_verify_paths" in ssl.SSLContext.__dict__,
    "system CAs": ssl.create_default_context().cert_store_stats()["x509_ca"],
}))
"""


def startup_work(argv: tuple[str, ...]) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", STARTUP_WORK, *argv], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = dict(json.loads(done.stdout))
    if not report["system CAs"]:
        pytest.skip("this machine has no system CA bundle, so skipping its load cannot be told apart")
    return report


WRITES = [("vm", "start", "103", "-y"), ("vm", "set", "103", "memory=4096", "-y")]


@pytest.mark.parametrize("argv", WRITES, ids=" ".join)
def test_api_commands_skip_aiohttp_s_default_ca_loads(cluster, cli, argv):
    # A write goes through httpx on aiohttp. aiohttp's default TLS contexts are of no use to pmpc (each
    # session gets its own TLS setting), and loading the system's CA bundle into them costs about 40 ms of
    # CPU on every run.
    assert cli("init").exit_code == 0
    report = startup_work(argv)
    assert (report["code"], report["aiohttp's default CAs"], report["ssl patched"]) == (0, 0, False)


def test_a_read_only_command_loads_aiohttp_for_a_login(cluster, cli, monkeypatch):
    # A ticket login is a POST: it takes aiohttp (on the client's terms), and the GETs after it the lane.
    monkeypatch.delenv("PMPC_TOKEN_ID")
    monkeypatch.delenv("PMPC_TOKEN_SECRET")
    monkeypatch.setenv("PMPC_USER", "root@pam")
    monkeypatch.setenv("PMPC_PASSWORD", PASSWORD)
    assert cli("init").exit_code == 0
    report = startup_work(("vm", "list", "-o", "json"))
    assert (report["code"], report["aiohttp's default CAs"], report["ssl patched"]) == (0, 0, False)


def test_aiohttp_imported_outside_the_client_loads_its_default_cas_as_ever(cluster, cli):
    # The skip is pmpc's client's own: aiohttp imported by anything else (here, by the probe, after an
    # offline plan that never imports it) makes its default contexts with the system's CAs.
    assert cli("init").exit_code == 0
    assert cli("sync", "--import").exit_code == 0
    report = startup_work(("plan", "--offline"))
    assert report["code"] == 0
    assert report["aiohttp's default CAs"] == report["system CAs"]
