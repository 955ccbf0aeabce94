"""`pmpc --help` and friends stay fast: they import no heavy library (checked in a fresh process)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "httpx",
    "httpx_aiohttp",
    "aiohttp",
    "sqlmodel",
    "sqlalchemy",
    "alembic",
    "jinja2",
    "rich",
    "prompt_toolkit",
    "fakepve",
    "cryptography",
)

PROBE = """
import contextlib, io, json, sys
from proxmox_mpc.cli import run_cli
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
    code = run_cli(sys.argv[1:])
heavy = sorted({name.split(".")[0] for name in sys.modules} & set(json.loads(HEAVY)))
print(json.dumps({"code": code, "heavy": heavy, "help": out.getvalue()[:60]}))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ("--help",),
        ("--version",),
        ("node", "list", "--help"),
        ("config", "set-context", "--help"),
        ("demo", "--help"),
    ],
    ids=lambda argv: " ".join(argv),
)
def test_help_imports_no_heavy_library(argv):
    probe = PROBE.replace("json.loads(HEAVY)", repr(list(HEAVY)))
    completed = subprocess.run(
        [sys.executable, "-c", probe, *argv], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["code"] == 0
    assert report["help"].startswith(("Usage: pmpc", "pmpc "))
    assert report["heavy"] == []


def test_the_probe_would_notice_a_heavy_import():
    probe = "import httpx\n" + PROBE.replace("json.loads(HEAVY)", repr(list(HEAVY)))
    completed = subprocess.run(
        [sys.executable, "-c", probe, "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert "httpx" in json.loads(completed.stdout)["heavy"]


def test_sync_loads_the_reader_and_the_kinds_only_once_its_first_requests_are_out():
    # services.sync.read_live sends the first round, then loads these in a worker thread meanwhile.
    probe = (
        "import json, sys\nimport proxmox_mpc.commands.sync, proxmox_mpc.services.sync\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith(('proxmox_mpc.kinds', "
        "'proxmox_mpc.services.observe', 'proxmox_mpc.services.resources')))))"
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == []


def test_aiohttp_is_imported_without_its_ca_loads_on_that_thread_only():
    # Another thread making a default TLS context while aiohttp is imported still gets the system's CAs.
    probe = """
import json, ssl, threading
from proxmox_mpc.api.client import _import_aiohttp
full = ssl.create_default_context().cert_store_stats()["x509_ca"]
seen, done = [], threading.Event()
def contexts():
    while not done.is_set():
        seen.append(ssl.create_default_context().cert_store_stats()["x509_ca"])
worker = threading.Thread(target=contexts)
worker.start()
try:
    _import_aiohttp()
finally:
    done.set()
    worker.join()
import aiohttp.connector
print(json.dumps({"full": full, "seen": sorted(set(seen)), "contexts": len(seen),
                  "aiohttp": aiohttp.connector._SSL_CONTEXT_VERIFIED.cert_store_stats()["x509_ca"]}))
"""
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    if not report["full"]:
        pytest.skip("this machine has no system CA bundle, so skipping its load cannot be told apart")
    assert report["contexts"] > 0
    assert (report["seen"], report["aiohttp"]) == ([report["full"]], 0)
