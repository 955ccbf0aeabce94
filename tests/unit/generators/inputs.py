"""A fixture cluster with varied guests, as generator inputs (no network): manifests plus existing facts."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from proxmox_mpc.core.manifest import Manifest, manifest_from_config
from proxmox_mpc.generators.model import Cluster, GenerateInputs, Observed, merge, spec_from_manifest

SECRET = "7c1f0e52-5d7a-4c1b-9d5e-a1b2c3d4e5f6"

# (type, vmid, name, node, status, pool, template, config) as PVE reports existing guests.
EXISTING: list[tuple[str, int, str, str, str, str | None, bool, dict[str, Any]]] = [
    (
        "qemu",
        9000,
        "ubuntu-tmpl",
        "pve1",
        "stopped",
        None,
        True,
        {
            "cores": 2,
            "memory": 2048,
            "scsi0": "local-lvm:base-9000-disk-0,size=8G",
            "scsihw": "virtio-scsi-pci",
            "net0": "virtio=BC:24:11:00:90:00,bridge=vmbr0",
            "ostype": "l26",
            "agent": "1",
            "template": 1,
            "ide2": "local-lvm:vm-9000-cloudinit,media=cdrom",
            "ciuser": "ubuntu",
            "ipconfig0": "ip=dhcp",
        },
    ),
    (
        "qemu",
        101,
        "web-1",
        "pve1",
        "running",
        "prod",
        False,
        {
            "cores": 2,
            "sockets": 1,
            "memory": 2048,
            "scsi0": "local-lvm:vm-101-disk-0,size=32G",
            "scsihw": "virtio-scsi-pci",
            "net0": "virtio=BC:24:11:00:01:01,bridge=vmbr0",
            "ostype": "l26",
            "tags": "prod;web",
            "onboot": 1,
            "agent": "enabled=1",
        },
    ),
    (
        "qemu",
        103,
        "db-1",
        "pve2",
        "stopped",
        None,
        False,
        {
            "cores": 4,
            "memory": 8192,
            "scsi0": "local-lvm:vm-103-disk-0,size=64G",
            "scsi1": "local-lvm:vm-103-disk-1,size=200G",
            "net0": "virtio=BC:24:11:00:01:03,bridge=vmbr0,tag=20",
            "net1": "e1000=BC:24:11:00:01:13,bridge=vmbr1,firewall=1",
            "ostype": "l26",
            "tags": "db",
            "description": 'Primary "db" ${not_a_var} %{ nor_a_directive } '
            '{{ lookup("pipe", "id") }}\nsecond line',
            "hookscript": "local:snippets/db.sh",
        },
    ),
    (
        "lxc",
        201,
        "dns-1",
        "pve1",
        "running",
        None,
        False,
        {
            "hostname": "dns-1",
            "cores": 1,
            "memory": 512,
            "swap": 512,
            "rootfs": "local-lvm:subvol-201-disk-0,size=8G",
            "net0": "name=eth0,bridge=vmbr0,ip=dhcp,hwaddr=BC:24:11:00:02:01",
            "ostype": "debian",
            "unprivileged": 1,
            "tags": "infra",
        },
    ),
    (
        "lxc",
        202,
        "cache-1",
        "pve3",
        "stopped",
        "prod",
        False,
        {
            "hostname": "cache-1",
            "cores": 2,
            "memory": 1024,
            "swap": 0,
            "rootfs": "local-lvm:subvol-202-disk-0,size=4G",
            "mp0": "local-lvm:subvol-202-disk-1,mp=/var/cache,size=10G",
            "net0": "name=eth0,bridge=vmbr0,ip=10.0.0.12/24,gw=10.0.0.1,hwaddr=BC:24:11:00:02:02",
            "ostype": "debian",
            "unprivileged": 1,
            "tags": "cache;infra;blue-green",
        },
    ),
]
# Guests that only have a manifest so far: a clone of the template on another node, and a new container.
NEW: list[dict[str, Any]] = [
    {
        "kind": "VM",
        "name": "app-1",
        "node": "pve2",
        "vmid": 110,
        "spec": {
            "cores": 4,
            "memory": 4096,
            "state": "running",
            "tags": ["app"],
            "clone": {"from": "ubuntu-tmpl"},
            "agent": True,
            "cloud_init": {
                "user": "ops",
                "ip": "10.0.0.50/24",
                "gw": "10.0.0.1",
                "nameserver": "10.0.0.2",
                "searchdomain": "example.internal",
                "ssh_keys": ["ssh-ed25519 AAAAC3Nza ops@example"],
            },
        },
    },
    {
        "kind": "CT",
        "name": "log-1",
        "node": "pve2",
        "spec": {
            "cores": 1,
            "memory": 256,
            "swap": 256,
            "state": "running",
            "ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
            "os_type": "debian",
            "unprivileged": True,
            "rootfs": {"storage": "local-lvm", "size": "2G"},
            "networks": [{"slot": "net0", "name": "eth0", "bridge": "vmbr0", "ip": "dhcp"}],
            "ssh_keys": ["ssh-ed25519 AAAAC3Nzb root@example"],
        },
    },
]
# What the guest agent reported for running guests.
ADDRESSES = {101: "192.0.2.11"}


def manifests() -> list[Any]:
    """Return the manifests: the existing guests as `sync --import` writes them, plus the new ones."""
    out = []
    for gtype, vmid, name, node, status, pool, template, config in EXISTING:
        out.append(
            manifest_from_config(
                gtype,
                name,
                node,
                vmid,
                config,
                pool=pool,
                template=template or None,
                state=None if template else status,
            )
        )
    adapter: TypeAdapter[Any] = TypeAdapter(Manifest)
    out += [adapter.validate_python(doc) for doc in NEW]
    return out


def observed() -> list[Observed]:
    return [
        Observed(
            kind="vm" if t == "qemu" else "ct", vmid=vmid, name=name, node=node, address=ADDRESSES.get(vmid)
        )
        for t, vmid, name, node, _s, _p, _t, _c in EXISTING
    ]


def fixture_inputs(**changes: Any) -> GenerateInputs:
    """Return the generator inputs of the fixture cluster."""
    specs = [s for s in (spec_from_manifest(m) for m in manifests()) if s is not None]
    cluster = Cluster(
        endpoint="https://pve1.example.internal:8006/",
        host="pve1.example.internal",
        port=8006,
        token_user="root@pam",
        token_name="pmpc",
        nodes=["pve1", "pve2", "pve3"],
    )
    inputs = GenerateInputs(cluster=cluster, guests=merge(specs, observed()))
    return inputs.model_copy(update=changes)
