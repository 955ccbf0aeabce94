"""A fakepve cluster in its own process for the benchmarks (the server's CPU is not the client's)."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proxmox_mpc.services.demo import guests_document, make_pki, pick_address, stop_process

NODES = ("pve1", "pve2", "pve3", "pve4")


def fleet_guests(count: int) -> list[dict[str, Any]]:
    """Return `count` guests in fakepve's JSON format (four in five VMs, VMIDs from 1000), spread over NODES."""
    out = []
    for i in range(count):
        vmid = 1000 + i
        node = NODES[i % len(NODES)]
        if i % 5 == 4:
            out.append(
                {
                    "type": "lxc",
                    "vmid": vmid,
                    "name": f"ct-{vmid}",
                    "node": node,
                    "status": "running",
                    "config": {
                        "hostname": f"ct-{vmid}",
                        "cores": 1,
                        "memory": 512,
                        "swap": 512,
                        "rootfs": f"local-lvm:subvol-{vmid}-disk-0,size=8G",
                        "ostype": "debian",
                        "net0": "name=eth0,bridge=vmbr0,ip=dhcp",
                        "unprivileged": 1,
                        "tags": "bench",
                    },
                }
            )
        else:
            out.append(
                {
                    "vmid": vmid,
                    "name": f"vm-{vmid}",
                    "node": node,
                    "status": "running",
                    "config": {
                        "cores": 2,
                        "memory": 2048,
                        "ostype": "l26",
                        "scsihw": "virtio-scsi-pci",
                        "scsi0": f"local-lvm:vm-{vmid}-disk-0,size=32G",
                        "agent": "1",
                        "net0": f"virtio=BC:24:11:00:{vmid >> 8 & 255:02X}:{vmid & 255:02X},bridge=vmbr0",
                        "tags": "bench;web",
                    },
                }
            )
    return out


@dataclass
class FakeCluster:
    host: str
    port: int
    ca_file: str
    user: str
    password: str
    guests: list[dict[str, Any]]

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def env(self) -> dict[str, str]:
        """PMPC_* variables that point pmpc at this cluster (password login)."""
        return {
            "PMPC_HOST": self.url,
            "PMPC_USER": self.user,
            "PMPC_PASSWORD": self.password,
            "PMPC_CA_FILE": self.ca_file,
        }


@contextlib.contextmanager
def fake_cluster(vms: int = 20, cts: int = 5) -> Iterator[FakeCluster]:
    """Start `python -m fakepve` with a demo-like population; stop it on exit."""
    with tempfile.TemporaryDirectory(prefix="pmpc-bench-") as scratch:
        directory = Path(scratch)
        host, port = pick_address()
        ca_file, cert, key = make_pki(directory, host)
        guests, _ = guests_document(vms, cts)
        (directory / "guests.json").write_text(json.dumps({"guests": guests}))
        password = secrets.token_urlsafe(12)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PMPC_")}
        env.update({"PVE_USER": "root@pam", "PVE_PASS": password})
        log = open(directory / "fakepve.log", "wb")  # noqa: SIM115 - closed below, after the process
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "fakepve",
                str(directory / "guests.json"),
                "--host",
                host,
                "--port",
                str(port),
                "--cert",
                str(cert),
                "--key",
                str(key),
                "--time-scale",
                "0",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while "listening on" not in (directory / "fakepve.log").read_text():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("fakepve did not start: " + (directory / "fakepve.log").read_text())
                time.sleep(0.05)
            yield FakeCluster(host, port, str(ca_file), "root@pam", password, guests)
        finally:
            stop_process(process)
            log.close()
