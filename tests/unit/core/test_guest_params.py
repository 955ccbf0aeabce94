"""Flags -> Proxmox parameters, validated before any request, naming the offending flag."""

from __future__ import annotations

import pytest

from proxmox_mpc.core.guest_params import (
    CloudInit,
    check_snapshot_name,
    clone_names,
    clone_params,
    ct_create_params,
    parse_cloud_init,
    parse_mib,
    parse_resize,
    set_params,
    vm_create_params,
)
from proxmox_mpc.errors import UsageError


def test_vm_create_full():
    params = vm_create_params(
        name="web-3",
        cores=2,
        sockets=1,
        memory=2048,
        disks=["local-lvm:32G", "ceph:0.5"],
        nets=["bridge=vmbr0", "bridge=vmbr1,model=e1000,tag=20,firewall=yes"],
        cloud_init=CloudInit(user="ops", ip="10.0.0.5/24", gw="10.0.0.1"),
        ssh_keys="ssh-ed25519 AAA a@b\n",
        tags=["Web", "prod;web"],
        pool="prod",
        os_type="l26",
        start=True,
        extra=["onboot=1"],
    )
    assert params == {
        "name": "web-3",
        "cores": 2,
        "sockets": 1,
        "memory": 2048,
        "scsi0": "local-lvm:32",
        "scsi1": "ceph:0.5",
        "scsihw": "virtio-scsi-single",
        "boot": "order=scsi0;net0",
        "net0": "virtio,bridge=vmbr0",
        "net1": "e1000,bridge=vmbr1,tag=20,firewall=1",
        "ostype": "l26",
        "ide2": "local-lvm:cloudinit",
        "ciuser": "ops",
        "sshkeys": "ssh-ed25519%20AAA%20a%40b%0A",
        "ipconfig0": "ip=10.0.0.5/24,gw=10.0.0.1",
        "agent": "enabled=1",
        "tags": "prod;web",
        "pool": "prod",
        "start": 1,
        "onboot": "1",
    }


def test_vm_create_minimal():
    assert vm_create_params(name="a") == {"name": "a"}


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [
        ({"name": "web_1"}, "--name"),
        ({"name": "-web"}, "--name"),
        ({"name": "a", "cores": 0}, "--cores"),
        ({"name": "a", "memory": 8}, "--memory"),
        ({"name": "a", "disks": ["local-lvm"]}, "--disk"),
        ({"name": "a", "disks": ["local-lvm:huge"]}, "--disk"),
        ({"name": "a", "disks": ["local-lvm:10K"]}, "--disk"),
        ({"name": "a", "nets": ["model=virtio"]}, "--net"),
        ({"name": "a", "nets": ["bridge=vmbr0,model=fast"]}, "--net"),
        ({"name": "a", "nets": ["bridge=vmbr0,tag=5000"]}, "--net"),
        ({"name": "a", "nets": ["bridge=vmbr0,speed=1"]}, "--net"),
        ({"name": "a", "cloud_init": CloudInit(user="ops")}, "--cloud-init"),
        ({"name": "a", "tags": ["ok", "no!way"]}, "--tag"),
        ({"name": "a", "os_type": "linux"}, "--os-type"),
        ({"name": "a", "extra": ["vmid=5"]}, "--set"),
        ({"name": "a", "extra": ["novalue"]}, "--set"),
    ],
    ids=[
        "underscore",
        "leading-dash",
        "cores",
        "memory",
        "disk-no-size",
        "disk-size",
        "disk-tiny",
        "net-bridge",
        "net-model",
        "net-vlan",
        "net-unknown",
        "ci-no-disk",
        "tag",
        "ostype",
        "set-reserved",
        "set-format",
    ],
)
def test_vm_create_rejects(kwargs, flag):
    with pytest.raises(UsageError) as info:
        vm_create_params(**kwargs)
    assert flag in str(info.value)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("user=ops,ip=dhcp", CloudInit(user="ops", ip="dhcp")),
        ("ssh-key=~/.ssh/k.pub", CloudInit(ssh_key_file="~/.ssh/k.pub")),
        ("ip=192.0.2.5/24,gw=192.0.2.1", CloudInit(ip="192.0.2.5/24", gw="192.0.2.1")),
    ],
)
def test_parse_cloud_init(spec, expected):
    assert parse_cloud_init(spec) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "ip=10.0.0.5",
        "ip=dhcp,gw=10.0.0.1",
        "ip=10.0.0.5/24,gw=nope",
        "user=Bad User",
        "mode=x",
        "ip=fe80::1/64",
    ],
)
def test_parse_cloud_init_rejects(spec):
    with pytest.raises(UsageError, match="--cloud-init"):
        parse_cloud_init(spec)


def test_ct_create():
    params = ct_create_params(
        hostname="dns-2",
        ostemplate="local:vztmpl/debian-12.tar.zst",
        cores=1,
        memory=512,
        swap=0,
        rootfs="local-lvm:8G",
        nets=["bridge=vmbr0,ip=10.0.0.2/24,gw=10.0.0.1", "name=eth9,bridge=vmbr1,ip=dhcp"],
        password="long-enough",
        ssh_keys="ssh-ed25519 AAA",
        unprivileged=False,
        tags=["dns"],
        start=True,
    )
    assert params == {
        "hostname": "dns-2",
        "ostemplate": "local:vztmpl/debian-12.tar.zst",
        "cores": 1,
        "memory": 512,
        "swap": 0,
        "rootfs": "local-lvm:8",
        "net0": "name=eth0,bridge=vmbr0,ip=10.0.0.2/24,gw=10.0.0.1",
        "net1": "name=eth9,bridge=vmbr1,ip=dhcp",
        "password": "long-enough",
        "ssh-public-keys": "ssh-ed25519 AAA\n",
        "unprivileged": 0,
        "tags": "dns",
        "start": 1,
    }


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [
        ({"ostemplate": "debian.tar.zst"}, "--ostemplate"),
        ({"ostemplate": "local:iso/debian.iso"}, "--ostemplate"),
        ({"rootfs": "8G"}, "--rootfs"),
        ({"nets": ["name=eth0"]}, "--net"),
        ({"nets": ["bridge=vmbr0,ip=10.0.0.300/24"]}, "--net"),
        ({"password": "abc"}, "--password-file"),
        ({"hostname": "bad host"}, "--hostname"),
    ],
)
def test_ct_create_rejects(kwargs, flag):
    base = {"hostname": "c1", "ostemplate": "local:vztmpl/d.tar.zst"}
    with pytest.raises(UsageError) as info:
        ct_create_params(**{**base, **kwargs})
    assert flag in str(info.value)


def test_clone_params_and_names():
    assert clone_params("vm", name="c1", full=True, target="pve2", storage="local-lvm", pool="p") == {
        "name": "c1",
        "full": 1,
        "storage": "local-lvm",
        "target": "pve2",
        "pool": "p",
    }
    assert clone_params("ct", name="c1") == {"hostname": "c1"}
    assert clone_params("vm", name="c1", full=False) == {"name": "c1", "full": 0}
    with pytest.raises(UsageError, match="--storage needs a full clone"):
        clone_params("vm", name="c", full=False, storage="local-lvm")
    assert clone_names("web", 1) == ["web"]
    assert clone_names("web", 3) == ["web-1", "web-2", "web-3"]
    assert clone_names("w{n}.lab", 2) == ["w1.lab", "w2.lab"]
    with pytest.raises(UsageError, match="--count"):
        clone_names("web", 0)


def test_set_params():
    assert set_params(["memory=4096", "tags=Web;db"], ["onboot,description", "onboot"]) == (
        {"memory": "4096", "tags": "db;web"},
        ["onboot", "description"],
    )
    for items, deletes, message in [
        ([], [], "Nothing to change"),
        (["memory"], [], "KEY=VALUE"),
        (["Memory=1"], [], "not a Proxmox config key"),
        (["memory=1", "memory=2"], [], "given twice"),
        (["memory=1"], ["memory"], "also set"),
        (["digest=abc"], [], "digest"),
    ]:
        with pytest.raises(UsageError, match=message):
            set_params(items, deletes)


@pytest.mark.parametrize(
    ("disk", "size", "kind", "current", "target", "pve"),
    [
        ("scsi0", "+10G", "vm", 32 * 1024**3, 42 * 1024**3, "+10G"),
        ("virtio1", "64G", "vm", 32 * 1024**3, 64 * 1024**3, "64G"),
        ("rootfs", "+512M", "ct", 4 * 1024**3, 4 * 1024**3 + 512 * 1024**2, "+512M"),
        ("mp0", "20", "ct", 0, 20 * 1024**3, "20G"),
    ],
)
def test_parse_resize(disk, size, kind, current, target, pve):
    resize = parse_resize(disk, size, kind)
    assert resize.target_size(current) == target
    assert resize.pve_value() == pve


@pytest.mark.parametrize(
    ("disk", "size", "kind", "message"),
    [
        ("rootfs", "+1G", "vm", "DISK"),
        ("scsi0", "+1G", "ct", "DISK"),
        ("scsi0", "+0", "vm", "SIZE"),
        ("scsi0", "big", "vm", "SIZE"),
    ],
)
def test_parse_resize_rejects(disk, size, kind, message):
    with pytest.raises(UsageError, match=message):
        parse_resize(disk, size, kind)


def test_snapshot_names():
    assert check_snapshot_name("before-upgrade_1") == "before-upgrade_1"
    for bad in ("1st", "current", "a b", "x"):
        with pytest.raises(UsageError, match="NAME"):
            check_snapshot_name(bad)


@pytest.mark.parametrize(
    ("text", "mib"),
    [("2048", 2048), ("2G", 2048), ("512M", 512), ("1.5G", 1536), ("1GiB", 1024), ("0", 0), (4096, 4096), (None, None)],
)
def test_parse_mib_takes_units_like_disk_sizes(text, mib):
    assert parse_mib(text, "--memory") == mib


@pytest.mark.parametrize(
    ("text", "message"),
    [("2X", "--memory '2X': not a size"), ("1000K", "whole number of MiB"), ("8M", "--memory must be at least 16")],
)
def test_parse_mib_errors_name_the_flag(text, message):
    with pytest.raises(UsageError, match=message):
        parse_mib(text, "--memory", 16)


def test_create_params_take_memory_with_units():
    assert vm_create_params(name="a", memory="2G")["memory"] == 2048


def test_set_takes_memory_with_units_and_leaves_other_spellings():
    values, _ = set_params(["memory=2G", "swap=512M", "balloon=1024", "cores=2"], [])
    assert values == {"memory": "2048", "swap": "512", "balloon": "1024", "cores": "2"}
    assert set_params(["memory=current=4096"], [])[0] == {"memory": "current=4096"}
    with pytest.raises(UsageError, match="memory= '1000K': give a whole number of MiB"):
        set_params(["memory=1000K"], [])
