"""The demo cluster: a simulated 3-node Proxmox VE (fakepve, run as a separate process) with its own CA.

fakepve is never imported here: it runs as `python -m fakepve`, so pmpc talks to it over real HTTPS
exactly as it talks to a real cluster.
"""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxmox_mpc.config import ContextsFile, settings_from_values, user_state_dir, write_private
from proxmox_mpc.context import AppContext
from proxmox_mpc.errors import ConfigError, ConnectionFailed, PmpcError

DEMO_CONTEXT = "demo"
DEMO_USER = "root@pam"
NODES = ("pve1", "pve2", "pve3")
PVE_PORT = 8006
START_TIMEOUT = 30.0
# Real seconds per simulated PVE second: tasks take a moment, as on a real cluster, but not long.
DEFAULT_TIME_SCALE = 0.25
EXTRA_HINT = "pmpc demo needs the demo extra: pip install 'proxmox-mpc[demo]'"

# (name prefix, tags, pool, cores, memory MiB, disks in GiB, status) of the VMs, in the order they are made.
VM_ROLES: tuple[tuple[str, str, str, int, int, tuple[int, ...], str], ...] = (
    ("web", "prod;web", "prod", 2, 2048, (32,), "running"),
    ("api", "api;prod", "prod", 2, 4096, (32,), "running"),
    ("db", "db;prod", "prod", 4, 8192, (64, 200), "running"),
    ("worker", "batch", "staging", 1, 1024, (16,), "stopped"),
    ("monitor", "infra;monitoring", "infra", 2, 2048, (32,), "running"),
    ("ci-runner", "ci", "dev", 4, 4096, (64,), "stopped"),
    ("staging-web", "staging;web", "staging", 1, 2048, (32,), "running"),
    ("build", "ci;dev", "dev", 2, 2048, (32,), "stopped"),
)
# (name prefix, tags, pool, cores, memory MiB, rootfs GiB, status, ostype) of the containers.
CT_ROLES: tuple[tuple[str, str, str, int, int, int, str, str], ...] = (
    ("dns", "infra", "infra", 1, 512, 8, "running", "debian"),
    ("proxy", "infra;web", "prod", 1, 512, 8, "running", "alpine"),
    ("cache", "cache;prod", "prod", 2, 1024, 16, "running", "debian"),
    ("backup", "infra", "infra", 1, 1024, 32, "stopped", "ubuntu"),
    ("mail", "infra", "infra", 1, 1024, 16, "stopped", "debian"),
)
POOL_COMMENTS = {
    "prod": "Production services",
    "staging": "Pre-production",
    "dev": "Development and CI",
    "infra": "Shared infrastructure",
}
TEMPLATES = (
    (9000, "ubuntu-24.04-tmpl", "pve1", "l26"),
    (9001, "debian-12-tmpl", "pve2", "l26"),
)


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


# ----------------------------------------------------------------------------- the guests


def _mac(vmid: int, index: int) -> str:
    return f"BC:24:11:{(vmid >> 8) & 0xFF:02X}:{vmid & 0xFF:02X}:{index:02X}"


def guests_document(vms: int, cts: int) -> tuple[list[dict[str, Any]], dict[str, list[int]]]:
    """Return the guests (fakepve's JSON format) and the pool members of a demo cluster."""
    guests: list[dict[str, Any]] = []
    pools: dict[str, list[int]] = {name: [] for name in POOL_COMMENTS}
    for vmid, name, node, ostype in TEMPLATES:
        guests.append(
            {
                "vmid": vmid,
                "name": name,
                "node": node,
                "status": "stopped",
                "template": True,
                "config": {
                    "cores": 2,
                    "memory": 2048,
                    "ostype": ostype,
                    "agent": "1",
                    "scsihw": "virtio-scsi-pci",
                    "scsi0": f"local-lvm:base-{vmid}-disk-0,size=8G",
                    "net0": f"virtio={_mac(vmid, 0)},bridge=vmbr0",
                    "ide2": f"local-lvm:vm-{vmid}-cloudinit,media=cdrom",
                    "ciuser": "admin",
                    "ipconfig0": "ip=dhcp",
                    "tags": "template",
                    "template": 1,
                },
            }
        )
    seen: dict[str, int] = {}
    for i in range(vms):
        prefix, tags, pool, cores, memory, disks, status = VM_ROLES[i % len(VM_ROLES)]
        seen[prefix] = seen.get(prefix, 0) + 1
        vmid = 101 + i
        config: dict[str, Any] = {
            "cores": cores,
            "sockets": 1,
            "memory": memory,
            "ostype": "l26",
            "scsihw": "virtio-scsi-pci",
            "net0": f"virtio={_mac(vmid, 0)},bridge=vmbr0" + (",tag=20" if pool == "staging" else ""),
            "agent": "1",
            "boot": "order=scsi0;net0",
            "tags": tags,
        }
        for n, size in enumerate(disks):
            config[f"scsi{n}"] = f"local-lvm:vm-{vmid}-disk-{n},size={size}G"
        if pool == "prod":
            config["onboot"] = 1
        guests.append(
            {
                "vmid": vmid,
                "name": f"{prefix}-{seen[prefix]}",
                "node": NODES[i % len(NODES)],
                "status": status,
                "config": config,
                "start_secs": 2,
                "stop_secs": 1,
                "shutdown_secs": 3,
            }
        )
        pools[pool].append(vmid)
    seen.clear()
    for i in range(cts):
        prefix, tags, pool, cores, memory, rootfs, status, ostype = CT_ROLES[i % len(CT_ROLES)]
        seen[prefix] = seen.get(prefix, 0) + 1
        vmid = 201 + i
        name = f"{prefix}-{seen[prefix]}"
        guests.append(
            {
                "type": "lxc",
                "vmid": vmid,
                "name": name,
                "node": NODES[(i + 1) % len(NODES)],
                "status": status,
                "config": {
                    "hostname": name,
                    "cores": cores,
                    "memory": memory,
                    "swap": 512,
                    "ostype": ostype,
                    "rootfs": f"local-lvm:subvol-{vmid}-disk-0,size={rootfs}G",
                    "unprivileged": 1,
                    "tags": tags,
                    "net0": f"name=eth0,bridge=vmbr0,ip=dhcp,hwaddr={_mac(vmid, 0)}",
                    "onboot": int(pool == "prod"),
                },
                "start_secs": 1,
                "stop_secs": 1,
                "shutdown_secs": 2,
            }
        )
        pools[pool].append(vmid)
    return guests, {name: members for name, members in pools.items() if members}


# ----------------------------------------------------------------------------- TLS


def make_pki(directory: Path, host: str) -> tuple[Path, Path, Path]:
    """Write a demo CA and a server certificate it signed for `host`; return (ca, cert, key) paths."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pmpc demo"),
            x509.NameAttribute(NameOID.COMMON_NAME, "pmpc demo CA"),
        ]
    )
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for address in dict.fromkeys((host, "127.0.0.1")):
        names.append(x509.IPAddress(ipaddress.ip_address(address)))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca_path, cert_path, key_path = directory / "ca.crt", directory / "server.crt", directory / "server.key"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private(key_path, pem_key.decode("ascii"))
    return ca_path, cert_path, key_path


# ----------------------------------------------------------------------------- the process


def pick_address(rng: random.Random | None = None) -> tuple[str, int]:
    """Return a free (127.0.0.x, port): PVE's port 8006 on an unused loopback address when possible."""
    rng = rng or random.Random()
    for _ in range(20):
        host = f"127.0.0.{rng.randint(2, 254)}"
        for port in (PVE_PORT, 0):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                try:
                    probe.bind((host, port))
                except OSError as exc:
                    if exc.errno == errno.EADDRNOTAVAIL:
                        break  # Only 127.0.0.1 is configured here (macOS): fall back to it below.
                    continue
                return host, probe.getsockname()[1]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return "127.0.0.1", probe.getsockname()[1]


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())


def _wait_listening(process: subprocess.Popen[bytes], log_file: Path, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if "listening on" in log_file.read_text(encoding="utf-8", errors="replace"):
                return
        except OSError:
            pass
        if process.poll() is not None:
            status, tail = process.returncode, _log_tail(log_file)
            raise PmpcError(f"The demo cluster exited during start-up (status {status}): {tail}")
        time.sleep(0.05)
    raise ConnectionFailed(
        f"The demo cluster at {url} did not start within {timeout:g}s: {_log_tail(log_file)}"
    )


def stop_process(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """Stop the fakepve process (terminate, then kill)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout)


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
    """Start the demo cluster as a separate process, write the `demo` context, and stop it on exit.

    Raises:
        ConfigError: the demo extra is not installed.
        PmpcError: the simulated cluster did not start.
    """
    check_available()
    host, port = pick_address(rng)
    # One directory per running cluster (two demos may run at once); removed when it stops.
    directory = directory or user_state_dir() / "demo" / f"{host}-{port}"
    directory.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = make_pki(directory, host)
    guests, pools = guests_document(vms, cts)
    guests_file = directory / "guests.json"
    guests_file.write_text(json.dumps({"guests": guests}, indent=1), encoding="utf-8")
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
    # The password goes through the environment, not argv: `ps` shows argv to every user.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PMPC_")}
    env.update({"PVE_USER": DEMO_USER, "PVE_PASS": password})
    command = [
        sys.executable,
        "-m",
        "fakepve",
        str(guests_file),
        "--host",
        host,
        "--port",
        str(port),
        "--cert",
        str(cert_file),
        "--key",
        str(key_file),
        "--time-scale",
        f"{time_scale:g}",
    ]
    with open(log_file, "wb") as log:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,  # Ctrl-C reaches pmpc, which then stops the cluster in order.
        )
    cluster.process = process
    try:
        _wait_listening(process, log_file, cluster.url, START_TIMEOUT)
        cluster.contexts_path = write_demo_context(cluster, password)
        yield cluster
    finally:
        stop_process(process)
        shutil.rmtree(directory, ignore_errors=True)


_MEMORY_LINE = re.compile(r"^\s+memory:[ \t]*(?P<mib>\d+)[ \t]*$", re.M)


def grow_memory(workspace: Path, name: str) -> tuple[Path, int, int] | None:
    """Double the memory in one guest's manifest (the tour's example edit); None if there is none to edit."""
    for path in sorted((workspace / "resources").rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        if not re.search(rf"^name:[ \t]*{re.escape(name)}[ \t]*$", text, re.M):
            continue
        match = _MEMORY_LINE.search(text)
        if match is None:
            return None
        old = int(match["mib"])
        # A textual edit, as a person would make it: the rest of the file stays as written.
        edited = text[: match.start("mib")] + str(old * 2) + text[match.end("mib") :]
        path.write_text(edited, encoding="utf-8")
        return path, old, old * 2
    return None


async def prepare(cluster: DemoCluster, app_ctx: AppContext) -> None:
    """Log in to the demo cluster and create its resource pools with their members."""
    from proxmox_mpc.services.connection import connect

    async with connect(cluster.app_context(app_ctx)) as api:
        await api.version()
        for name, members in sorted(cluster.pools.items()):
            await api.post("/pools", poolid=name, comment=POOL_COMMENTS.get(name))
            await api.put("/pools", poolid=name, vms=",".join(str(m) for m in members))


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    """Treat SIGTERM and SIGHUP like Ctrl-C while waiting, so the cluster is stopped, not orphaned."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = [n for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n)]
    previous = {n: signal.signal(getattr(signal, n), _interrupt) for n in names}
    try:
        yield
    finally:
        for n, handler in previous.items():
            signal.signal(getattr(signal, n), handler)


def wait_until_interrupted(cluster: DemoCluster) -> None:
    """Block until Ctrl-C (a normal end of `demo serve`); raise if the cluster process dies first.

    Raises:
        PmpcError: the fakepve process exited on its own.
    """
    if cluster.process is None:
        return
    try:
        with _stop_signals_interrupt():
            code = cluster.process.wait()
    except KeyboardInterrupt:
        return
    log = _log_tail(cluster.log_file) if cluster.log_file else ""
    raise PmpcError(f"The demo cluster stopped unexpectedly (status {code}): {log}")
