"""Normalisation: Proxmox's rewrites compare equal, real differences do not."""

from __future__ import annotations

import pytest

from proxmox_mpc.core import normalize as nz

EQUIVALENT = [
    # (kind, key, desired, observed)
    ("qemu", "tags", "Web;prod", "prod;web"),
    ("qemu", "tags", "b,a a", "a;b"),
    ("qemu", "tags", "", None),
    ("qemu", "agent", 1, "enabled=1"),
    ("qemu", "agent", "1", "enabled=1"),
    ("qemu", "agent", 0, None),
    ("qemu", "agent", "enabled=1,fstrim_cloned_disks=1", "fstrim_cloned_disks=1,enabled=yes"),
    ("qemu", "memory", 2048, "2048"),
    ("qemu", "memory", "2048", "current=2048"),
    ("qemu", "memory", 512, None),
    ("qemu", "sockets", 1, None),
    ("qemu", "cores", "2", 2.0),
    ("qemu", "onboot", "yes", 1),
    ("qemu", "onboot", 0, None),
    ("qemu", "protection", False, "0"),
    ("qemu", "scsi0", "local-lvm:32", "local-lvm:vm-101-disk-0,size=32G"),
    ("qemu", "scsi0", "local-lvm:0.5", "local-lvm:vm-101-disk-0,size=512M"),
    ("qemu", "scsi0", "local-lvm:32G,ssd=1", "local-lvm:vm-101-disk-0,size=32768M,ssd=1"),
    ("qemu", "scsi0", "local-lvm:32", "local-lvm:base-9000-disk-0/vm-105-disk-0,size=32G"),
    ("qemu", "virtio0", "local-lvm:8,discard=on", "local-lvm:vm-1-disk-0,discard=on,media=disk,size=8G"),
    ("qemu", "ide2", "local-lvm:cloudinit", "local-lvm:vm-9000-cloudinit,media=cdrom"),
    ("qemu", "ide2", "cloudinit", "local-lvm:vm-9000-cloudinit,media=cdrom"),
    ("qemu", "net0", "virtio,bridge=vmbr0", "virtio=BC:24:11:00:01:01,bridge=vmbr0"),
    ("qemu", "net0", "virtio=bc:24:11:00:01:01,bridge=vmbr0", "virtio=BC:24:11:00:01:01,bridge=vmbr0"),
    ("qemu", "net0", "model=virtio,bridge=vmbr0,tag=20", "virtio=BC:24:11:00:01:02,bridge=vmbr0,tag=20"),
    ("qemu", "net0", "virtio,bridge=vmbr0,firewall=0", "virtio=BC:24:11:00:01:01,bridge=vmbr0"),
    (
        "lxc",
        "net0",
        "name=eth0,bridge=vmbr0,ip=dhcp",
        "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:02:01,ip=dhcp,type=veth",
    ),
    ("lxc", "net0", "bridge=vmbr0,name=eth0,firewall=1", "name=eth0,bridge=vmbr0,firewall=yes,type=veth"),
    ("lxc", "rootfs", "local-lvm:8", "local-lvm:subvol-201-disk-0,size=8G"),
    ("lxc", "mp0", "local-lvm:10,mp=/var/cache", "local-lvm:subvol-202-disk-1,mp=/var/cache,size=10G"),
    ("lxc", "swap", 512, None),
    ("lxc", "unprivileged", 0, None),
    ("qemu", "sshkeys", "ssh-ed25519 AAA a@b", "ssh-ed25519%20AAA%20a%40b%0A"),
    ("qemu", "ipconfig0", "ip=10.0.0.5/24,gw=10.0.0.1", "gw=10.0.0.1,ip=10.0.0.5/24"),
    ("qemu", "description", "text\n", "text"),
    ("qemu", "startup", "order=3,up=30", "up=30,order=3"),
    ("qemu", "balloon", 1024, "1024"),
]

DIFFERENT = [
    ("qemu", "tags", "web", "prod;web"),
    ("qemu", "agent", 1, None),
    ("qemu", "memory", 4096, "2048"),
    ("qemu", "sockets", 2, None),
    ("qemu", "scsi0", "local-lvm:64", "local-lvm:vm-101-disk-0,size=32G"),
    ("qemu", "scsi0", "ceph:32", "local-lvm:vm-101-disk-0,size=32G"),
    ("qemu", "scsi0", "local-lvm:32,ssd=1", "local-lvm:vm-101-disk-0,size=32G"),
    ("qemu", "net0", "virtio,bridge=vmbr1", "virtio=BC:24:11:00:01:01,bridge=vmbr0"),
    ("qemu", "net0", "virtio=BC:24:11:00:00:99,bridge=vmbr0", "virtio=BC:24:11:00:01:01,bridge=vmbr0"),
    ("qemu", "net0", "e1000,bridge=vmbr0", "virtio=BC:24:11:00:01:01,bridge=vmbr0"),
    ("lxc", "net0", "name=eth0,bridge=vmbr0,ip=dhcp", "name=eth0,bridge=vmbr0,ip=10.0.0.2/24,type=veth"),
    ("lxc", "mp0", "local-lvm:10,mp=/data", "local-lvm:subvol-202-disk-1,mp=/var/cache,size=10G"),
    ("qemu", "ide2", "ceph:cloudinit", "local-lvm:vm-9000-cloudinit,media=cdrom"),
    ("qemu", "sshkeys", "ssh-ed25519 BBB a@b", "ssh-ed25519%20AAA%20a%40b%0A"),
    ("qemu", "description", "new", "old"),
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
        ("qemu", "scsi0", "local-lvm:vm-101-disk-0,size=32G,ssd=1", "local-lvm:32G,ssd=1"),
        (
            "qemu",
            "net0",
            "virtio=bc:24:11:00:01:01,tag=5,bridge=vmbr0",
            "virtio=BC:24:11:00:01:01,bridge=vmbr0,tag=5",
        ),
        ("qemu", "tags", "Web;prod", "prod;web"),
        ("qemu", "agent", "1", "enabled=1"),
        ("qemu", "ide2", "local-lvm:vm-1-cloudinit,media=cdrom", "local-lvm:cloudinit"),
        ("qemu", "ide2", "local:iso/d.iso,media=cdrom", "local:iso/d.iso,media=cdrom"),
        ("lxc", "mp1", "/srv,mp=/data,ro=1", "/srv,mp=/data,ro=1"),
        ("lxc", "net0", "name=eth0,type=veth,bridge=vmbr0", "bridge=vmbr0,name=eth0"),
        ("qemu", "memory", "current=4096", "4096"),
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
    assert nz.normalize_config("qemu", config) == {"cores": "2"}


@pytest.mark.parametrize(
    ("size", "gib"), [(32 * 1024**3, "32"), (512 * 1024**2, "0.5"), (4 * 1024**2, "0.00390625")]
)
def test_gib_text_is_exact(size, gib):
    assert nz.gib_text(size) == gib
    assert nz.parse_disk(f"local-lvm:{gib}")["size"] == nz.canonical_size(size)
