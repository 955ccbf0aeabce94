"""Benchmark: plan 10,000 manifests against 10,000 observed guests, offline (the pure core only).

    python benchmarks/plan.py [--guests 10000] [--repeat 3] [--changed 0.1]

The guests are VMs and containers as PVE stores them (volume names, generated MACs, tags sorted,
numbers as strings); the manifests are what `sync --import` would write for them, with a share
edited so the plan has updates to find. Prints the best time, rows/s and the plan summary.
Aim: under 2 s.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone

from proxmox_mpc.core.diff import build_plan
from proxmox_mpc.core.manifest import AnyManifest, manifest_from_config
from proxmox_mpc.core.models import ObservedGuest

AIM_SECONDS = 2.0


def mac(prefix: int, i: int) -> str:
    return f"BC:24:{prefix:02X}:{i >> 16 & 255:02X}:{i >> 8 & 255:02X}:{i & 255:02X}"


def observed_guests(count: int) -> list[ObservedGuest]:
    guests = []
    for i in range(count):
        vmid = 1000 + i
        node = f"pve{i % 8 + 1}"
        if i % 5:
            config = {
                "name": f"vm-{vmid}",
                "cores": str(1 + i % 8),
                "sockets": "1",
                "memory": str(1024 * (1 + i % 4)),
                "ostype": "l26",
                "agent": "enabled=1",
                "scsihw": "virtio-scsi-pci",
                "onboot": 1,
                "scsi0": f"local-lvm:vm-{vmid}-disk-0,size=32G,ssd=1",
                "scsi1": f"local-lvm:vm-{vmid}-disk-1,size=100G",
                "net0": f"virtio={mac(0x11, i)},bridge=vmbr0,tag=20",
                "ide2": f"local-lvm:vm-{vmid}-cloudinit,media=cdrom",
                "ciuser": "ops",
                "ipconfig0": "ip=dhcp",
                "tags": "bench;prod;web",
                "boot": "order=scsi0;net0",
                "digest": f"{vmid:040x}",
                "smbios1": f"uuid=00000000-0000-4000-8000-{vmid:012d}",
            }
            guests.append(
                ObservedGuest(
                    vmid=vmid,
                    kind="vm",
                    node=node,
                    name=f"vm-{vmid}",
                    status="running" if i % 3 else "stopped",
                    config=config,
                    digest=config["digest"],
                )
            )
        else:
            config = {
                "hostname": f"ct-{vmid}",
                "cores": 2,
                "memory": 512,
                "swap": 512,
                "ostype": "debian",
                "arch": "amd64",
                "unprivileged": 1,
                "rootfs": f"local-lvm:subvol-{vmid}-disk-0,size=8G",
                "mp0": f"local-lvm:subvol-{vmid}-disk-1,mp=/data,size=20G",
                "net0": f"name=eth0,bridge=vmbr0,hwaddr={mac(0x12, i)},ip=dhcp,type=veth",
                "tags": "bench;infra",
                "features": "nesting=1",
                "digest": f"{vmid:040x}",
            }
            guests.append(
                ObservedGuest(
                    vmid=vmid,
                    kind="ct",
                    node=node,
                    name=f"ct-{vmid}",
                    status="running",
                    config=config,
                    digest=config["digest"],
                )
            )
    return guests


def manifests_for(guests: list[ObservedGuest], changed: float) -> list[AnyManifest]:
    manifests: list[AnyManifest] = []
    step = max(1, round(1 / changed)) if changed > 0 else 0
    for i, guest in enumerate(guests):
        manifest = manifest_from_config(
            guest.type,
            guest.name,
            guest.node,
            guest.vmid,
            guest.config,
            state="stopped" if guest.status == "stopped" else "running",
        )
        if step and i % step == 0 and manifest.spec.memory:
            manifest.spec.memory *= 2
        manifests.append(manifest)
    return manifests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guests", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--changed", type=float, default=0.1, help="share of manifests edited")
    args = parser.parse_args()

    guests = observed_guests(args.guests)
    manifests = manifests_for(guests, args.changed)
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    best = float("inf")
    plan = None
    for _ in range(args.repeat):
        start = time.perf_counter()
        plan = build_plan(manifests, guests, created_at=when)
        best = min(best, time.perf_counter() - start)
    assert plan is not None
    rows = len(manifests) + len(guests)
    print(
        json.dumps(
            {
                "benchmark": "plan",
                "manifests": len(manifests),
                "guests": len(guests),
                "seconds": round(best, 3),
                "rows_per_second": round(rows / best),
                "summary": plan.summary.model_dump(),
                "aim_seconds": AIM_SECONDS,
                "within_aim": best < AIM_SECONDS,
            }
        )
    )


if __name__ == "__main__":
    main()
