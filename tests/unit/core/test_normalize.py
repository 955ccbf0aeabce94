"""Normalisation: Proxmox's rewrites compare equal, real differences do not."""

from __future__ import annotations

import pytest

from proxmox_mpc.core import normalize as nz

EQUIVALENT = [
    # (kind, key, desired, observed)
    ("vm", "tags", "Web;prod", "prod;web"),
    ("vm", "tags", "b,a a", "a;b"),
    ("vm", "tags", "", None),
    ("vm", "agent", 1, "enabled=1"),
    ("vm", "agent", "1", "enabled=1"),
    ("vm", "agent", 0, None),
    ("vm", "agent", "enabled=1,fstrim_cloned_disks=1", "fstrim_cloned_disks=1,enabled=yes"),
    ("vm", "memory", 2048, "2048"),
    ("vm", "memory", "2048", "current=2048"),
    ("vm", "memory", 512, None),
    ("vm", "sockets", 1, None),
    ("vm", "cores", "2", 2.0),
    ("vm", "onboot", "yes", 1),
    ("vm", "onboot", 0, None),
    ("vm", "protection", False, "0"),
    ("vm", "scsi0", "local-lvm:32", "local-lvm:vm-101-disk-0,size=32G"),
    ("vm", "scsi0", "local-lvm:0.5", "local-lvm:vm-101-disk-0,size=512M"),
    ("vm", "scsi0", "local-lvm:32G,ssd=1", "local-lvm:vm-101-disk-0,size=32768M,ssd=1"),
    ("vm", "scsi0", "local-lvm:32", "local-lvm:base-9000-disk-0/vm-105-disk-0,size=32G"),
    ("vm", "virtio0", "local-lvm:8,discard=on", "local-lvm:vm-1-disk-0,discard=on,media=disk,size=8G"),
    ("vm", "ide2", "local-lvm:cloudinit", "local-lvm:vm-9000-cloudinit,media=cdrom"),
    ("vm", "ide2", "cloudinit", "local-lvm:vm-9000-cloudinit,media=cdrom"),
    ("vm", "net0", "virtio,bridge=vmbr0", "virtio=BC:24:11:00:01:01,bridge=vmbr0"),
    ("vm", "net0", "virtio=bc:24:11:00:01:01,bridge=vmbr0", "virtio=BC:24:11:00:01:01,bridge=vmbr0"),
    ("vm", "net0", "model=virtio,bridge=vmbr0,tag=20", "virtio=BC:24:11:00:01:02,bridge=vmbr0,tag=20"),
    ("vm", "net0", "virtio,bridge=vmbr0,firewall=0", "virtio=BC:24:11:00:01:01,bridge=vmbr0"),
    (
        "ct",
        "net0",
        "name=eth0,bridge=vmbr0,ip=dhcp",
        "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:02:01,ip=dhcp,type=veth",
    ),
    ("ct", "net0", "bridge=vmbr0,name=eth0,firewall=1", "name=eth0,bridge=vmbr0,firewall=yes,type=veth"),
    ("ct", "rootfs", "local-lvm:8", "local-lvm:subvol-201-disk-0,size=8G"),
    ("ct", "mp0", "local-lvm:10,mp=/var/cache", "local-lvm:subvol-202-disk-1,mp=/var/cache,size=10G"),
    ("ct", "swap", 512, None),
    ("ct", "unprivileged", 0, None),
    ("vm", "sshkeys", "ssh-ed25519 AAA a@b", "ssh-ed25519%20AAA%20a%40b%0A"),
    ("vm", "ipconfig0", "ip=10.0.0.5/24,gw=10.0.0.1", "gw=10.0.0.1,ip=10.0.0.5/24"),
    ("vm", "description", "text\n", "text"),
    ("vm", "startup", "order=3,up=30", "up=30,order=3"),
    ("vm", "balloon", 1024, "1024"),
]

DIFFERENT = [
    ("vm", "tags", "web", "prod;web"),
    ("vm", "agent", 1, None),
    ("vm", "memory", 4096, "2048"),
    ("vm", "sockets", 2, None),
    ("vm", "scsi0", "local-lvm:64", "local-lvm:vm-101-disk-0,size=32G"),
    ("vm", "scsi0", "ceph:32", "local-lvm:vm-101-disk-0,size=32G"),
    ("vm", "scsi0", "local-lvm:32,ssd=1", "local-lvm:vm-101-disk-0,size=32G"),
    ("vm", "net0", "virtio,bridge=vmbr1", "virtio=BC:24:11:00:01:01,bridge=vmbr0"),
    ("vm", "net0", "virtio=BC:24:11:00:00:99,bridge=vmbr0", "virtio=BC:24:11:00:01:01,bridge=vmbr0"),
    ("vm", "net0", "e1000,bridge=vmbr0", "virtio=BC:24:11:00:01:01,bridge=vmbr0"),
    ("ct", "net0", "name=eth0,bridge=vmbr0,ip=dhcp", "name=eth0,bridge=vmbr0,ip=10.0.0.2/24,type=veth"),
    ("ct", "mp0", "local-lvm:10,mp=/data", "local-lvm:subvol-202-disk-1,mp=/var/cache,size=10G"),
    ("vm", "ide2", "ceph:cloudinit", "local-lvm:vm-9000-cloudinit,media=cdrom"),
    ("vm", "sshkeys", "ssh-ed25519 BBB a@b", "ssh-ed25519%20AAA%20a%40b%0A"),
    ("vm", "description", "new", "old"),
]


def _id(case: tuple) -> str:
    return f"{case[0]}-{case[1]}-{case[2]!s}"[:60]


@pytest.mark.parametrize("case", EQUIVALENT, ids=[_id(c) for c in EQUIVALENT])
def test_equivalent_values_make_no_change(case):
    kind, key, desired, observed = case
    assert nz.equivalent(kind, key, desired, observed)


@pytest.mark.parametrize("case", DIFFERENT, ids=[_id(c) for c in DIFFERENT])
def test_different_values_are_a_change(case):
    kind, key, desired, observed = case
    assert not nz.equivalent(kind, key, desired, observed)


@pytest.mark.parametrize(
    ("kind", "key", "value", "shown"),
    [
        ("vm", "scsi0", "local-lvm:vm-101-disk-0,size=32G,ssd=1", "local-lvm:32G,ssd=1"),
        (
            "vm",
            "net0",
            "virtio=bc:24:11:00:01:01,tag=5,bridge=vmbr0",
            "virtio=BC:24:11:00:01:01,bridge=vmbr0,tag=5",
        ),
        ("vm", "tags", "Web;prod", "prod;web"),
        ("vm", "agent", "1", "enabled=1"),
        ("vm", "ide2", "local-lvm:vm-1-cloudinit,media=cdrom", "local-lvm:cloudinit"),
        ("vm", "ide2", "local:iso/d.iso,media=cdrom", "local:iso/d.iso,media=cdrom"),
        ("ct", "mp1", "/srv,mp=/data,ro=1", "/srv,mp=/data,ro=1"),
        ("ct", "net0", "name=eth0,type=veth,bridge=vmbr0", "bridge=vmbr0,name=eth0"),
        ("vm", "memory", "current=4096", "4096"),
    ],
)
def test_render_is_canonical_and_re_reads_equal(kind, key, value, shown):
    assert nz.render(kind, key, value) == shown
    assert nz.equivalent(kind, key, shown, value)


def test_volatile_keys_are_dropped():
    config = {
        "digest": "abc",
        "meta": "x",
        "vmgenid": "y",
        "smbios1": "uuid=1",
        "lock": "backup",
        "cores": 2,
        "cipassword": "**********",
    }
    assert nz.normalize_config("vm", config) == {"cores": "2"}


@pytest.mark.parametrize(
    ("size", "gib"), [(32 * 1024**3, "32"), (512 * 1024**2, "0.5"), (4 * 1024**2, "0.00390625")]
)
def test_gib_text_is_exact(size, gib):
    assert nz.gib_text(size) == gib
    assert nz.parse_disk(f"local-lvm:{gib}")["size"] == nz.canonical_size(size)
