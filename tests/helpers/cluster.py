"""A realistic fixture cluster on fakepve: 3 nodes, VMs, containers, templates, tags and pools."""

from __future__ import annotations

from typing import Any

TOKEN_ID = "root@pam!pmpc"
TOKEN_SECRET = "7c1f0e52-5d7a-4c1b-9d5e-a1b2c3d4e5f6"
PASSWORD = "secret"


def populate(pve: Any) -> Any:
    """Fill a FakePve with the fixture cluster and an API token; return it."""
    pve.apitokens[TOKEN_ID] = TOKEN_SECRET
    for node in ("pve1", "pve2", "pve3"):
        pve.add_node(node)
    pve.add_vm(9000, "ubuntu-tmpl", node="pve1", template=True, config={
        "cores": 2, "memory": 2048, "scsi0": "local-lvm:base-9000-disk-0,size=8G", "scsihw": "virtio-scsi-pci",
        "net0": "virtio=BC:24:11:00:90:00,bridge=vmbr0", "ostype": "l26", "agent": "1", "template": 1,
        "ide2": "local-lvm:vm-9000-cloudinit,media=cdrom", "ciuser": "ubuntu", "ipconfig0": "ip=dhcp",
    })
    pve.add_vm(101, "web-1", node="pve1", status="running", pool="prod", config={
        "cores": 2, "sockets": 1, "memory": 2048, "scsi0": "local-lvm:vm-101-disk-0,size=32G",
        "scsihw": "virtio-scsi-pci", "net0": "virtio=BC:24:11:00:01:01,bridge=vmbr0", "ostype": "l26",
        "tags": "prod;web", "onboot": 1, "agent": "enabled=1",
    })
    pve.add_vm(102, "web-2", node="pve2", status="running", pool="prod", config={
        "cores": 2, "memory": 2048, "scsi0": "local-lvm:vm-102-disk-0,size=32G",
        "net0": "virtio=BC:24:11:00:01:02,bridge=vmbr0,tag=20", "ostype": "l26", "tags": "prod;web",
    })
    pve.add_vm(103, "db-1", node="pve2", status="stopped", config={
        "cores": 4, "memory": 8192, "scsi0": "local-lvm:vm-103-disk-0,size=64G",
        "scsi1": "local-lvm:vm-103-disk-1,size=200G", "net0": "virtio=BC:24:11:00:01:03,bridge=vmbr0",
        "net1": "e1000=BC:24:11:00:01:13,bridge=vmbr1", "ostype": "l26", "tags": "db",
    })
    pve.add_vm(104, "batch-1", node="pve3", status="running", config={
        "cores": 1, "memory": 1024, "scsi0": "local-lvm:vm-104-disk-0,size=16G",
        "net0": "virtio=BC:24:11:00:01:04,bridge=vmbr0", "tags": "batch",
    })
    pve.add_ct(201, "dns-1", node="pve1", status="running", config={
        "hostname": "dns-1", "cores": 1, "memory": 512, "swap": 512, "rootfs": "local-lvm:subvol-201-disk-0,size=8G",
        "net0": "name=eth0,bridge=vmbr0,ip=dhcp,hwaddr=BC:24:11:00:02:01", "ostype": "debian", "unprivileged": 1,
        "tags": "infra",
    })
    pve.add_ct(202, "cache-1", node="pve3", status="stopped", config={
        "hostname": "cache-1", "cores": 2, "memory": 1024, "swap": 0, "rootfs": "local-lvm:subvol-202-disk-0,size=4G",
        "mp0": "local-lvm:subvol-202-disk-1,mp=/var/cache,size=10G",
        "net0": "name=eth0,bridge=vmbr0,ip=10.0.0.12/24,gw=10.0.0.1,hwaddr=BC:24:11:00:02:02", "ostype": "debian",
        "unprivileged": 1, "tags": "cache;infra",
    })
    return pve
