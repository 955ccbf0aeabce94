"""A running demo cluster: start it with its CA and guests, save the `demo` context, create its pools."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import random
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxmox_mpc.config import ContextsFile, settings_from_values, user_state_dir
from proxmox_mpc.context import AppContext
from proxmox_mpc.errors import ConfigError
from proxmox_mpc.safeio.files import write_file
from proxmox_mpc.services.demo.fixture import guests_document, object_requests
from proxmox_mpc.services.demo.front import Front
from proxmox_mpc.services.demo.pki import make_pki
from proxmox_mpc.services.demo.process import pick_address, start_fakepve, stop_process, wait_listening

DEMO_CONTEXT = "demo"
DEMO_USER = "root@pam"
# Real seconds per simulated PVE second: tasks take a moment, as on a real cluster, but not long.
DEFAULT_TIME_SCALE = 0.25
EXTRA_HINT = "pmpc demo needs the demo extra: pip install 'proxmox-mpc[demo]'"


@dataclass
class DemoCluster:
    """A running demo cluster and where its files are."""

    host: str
    port: int
    directory: Path
    ca_file: Path
    guests: list[dict[str, Any]]
    pools: dict[str, list[int]]
    process: subprocess.Popen[bytes] | None = None
    context: str = DEMO_CONTEXT
    contexts_path: Path | None = None
    log_file: Path | None = None
    # The TLS front pmpc talks to (url); it hands each request to the fakepve process.
    front: Front | None = None
    _settings: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def counts(self) -> dict[str, int]:
        """Return how many nodes, VMs, containers and templates the cluster has."""
        return {
            "nodes": len({g["node"] for g in self.guests}),
            "vms": sum(1 for g in self.guests if g.get("type", "qemu") == "qemu" and not g.get("template")),
            "cts": sum(1 for g in self.guests if g.get("type") == "lxc"),
            "templates": sum(1 for g in self.guests if g.get("template")),
        }

    def app_context(self, base: AppContext, workspace: Path | None = None) -> AppContext:
        """Return an AppContext bound to the demo context alone (PMPC_* variables cannot redirect it)."""
        values = dict(self._settings)
        return AppContext(
            loader=lambda: settings_from_values(values, where=f"context {self.context!r}"),
            out=base.out,
            err=base.err,
            workspace=workspace,
            debug=base.debug,
            no_color=base.no_color,
            stdin_tty=False,
            flags={"context": self.context},
        )


def check_available() -> None:
    """Raise ConfigError unless fakepve and cryptography are installed (without importing fakepve).

    Raises:
        ConfigError: the demo extra is missing.
    """
    for module in ("fakepve", "cryptography"):
        if importlib.util.find_spec(module) is None:
            raise ConfigError(f"{EXTRA_HINT} ({module} is not installed).")


def write_demo_context(cluster: DemoCluster, password: str, contexts_path: Path | None = None) -> Path:
    """Save the `demo` context (password login, the demo CA as ca_file) in the 0600 contexts file."""
    contexts = ContextsFile.load(contexts_path)
    values = {
        "host": cluster.host,
        "port": cluster.port,
        "user": DEMO_USER,
        "password": password,
        "verify_tls": True,
        "ca_file": str(cluster.ca_file),
    }
    # Each run is a new cluster (address, CA, password): replace the context, keep nothing of the last one.
    contexts.contexts.pop(cluster.context, None)
    contexts.set(cluster.context, values)
    if contexts.current is None:
        contexts.current = cluster.context
    contexts.save()
    cluster._settings = {**values, "context": cluster.context}
    return contexts.path


@contextlib.contextmanager
def running_cluster(
    *,
    vms: int,
    cts: int,
    time_scale: float = DEFAULT_TIME_SCALE,
    directory: Path | None = None,
    rng: random.Random | None = None,
) -> Iterator[DemoCluster]:
    """Start the demo cluster (fakepve as a separate process, behind the front), write the `demo` context.

    Both stop on exit, and the cluster's files are removed.

    Raises:
        ConfigError: the demo extra is not installed.
        DemoError, ConnectionFailed: the simulated cluster did not start.
    """
    check_available()
    host, port = pick_address(rng)
    # One directory per running cluster (two demos may run at once); removed when it stops.
    directory = directory or user_state_dir() / "demo" / f"{host}-{port}"
    directory.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = make_pki(directory, host)
    guests, pools = guests_document(vms, cts)
    guests_file = directory / "guests.json"
    write_file(guests_file, json.dumps({"guests": guests}, indent=1))
    log_file = directory / "fakepve.log"
    password = secrets.token_urlsafe(18)
    cluster = DemoCluster(
        host=host,
        port=port,
        directory=directory,
        ca_file=ca_file,
        guests=guests,
        pools=pools,
        log_file=log_file,
    )
    # fakepve takes any free port of the same address; the front serves the one the context names.
    process = start_fakepve(
        guests_file,
        host=host,
        port=0,
        cert_file=cert_file,
        key_file=key_file,
        time_scale=time_scale,
        log_file=log_file,
        user=DEMO_USER,
        password=password,
    )
    cluster.process = process
    try:
        upstream = wait_listening(process, log_file, cluster.url)
        cluster.front = Front(
            host=host,
            port=port,
            upstream=upstream,
            cert_file=cert_file,
            key_file=key_file,
            ca_file=ca_file,
            log_file=log_file,
        )
        cluster.front.start()
        cluster.contexts_path = write_demo_context(cluster, password)
        yield cluster
    finally:
        if cluster.front is not None:
            cluster.front.stop()
        stop_process(process)
        shutil.rmtree(directory, ignore_errors=True)


async def prepare(cluster: DemoCluster, app_ctx: AppContext) -> None:
    """Log in to the demo cluster and create its pools, firewall, backup job, HA resource, group and user."""
    from proxmox_mpc.services.connection import connect

    async with connect(cluster.app_context(app_ctx)) as api:
        await api.version()
        for method, path, params in object_requests(cluster.guests, cluster.pools):
            await api.request(method, path, data={k: v for k, v in params.items() if v is not None})
