"""From plan fields to Proxmox requests: create syntax, resizes, kept volumes, clone follow-ups."""

from __future__ import annotations

import pytest

from proxmox_mpc.core.plan import Change, FieldChange
from proxmox_mpc.services.apply import after_clone_fields, config_update, create_params, new_disk_value

CURRENT = {
    "scsi0": "local-lvm:vm-101-disk-0,size=32G",
    "net0": "virtio=BC:24:11:00:01:01,bridge=vmbr0",
    "ide2": "local-lvm:vm-101-cloudinit,media=cdrom",
    "digest": "d1",
}


@pytest.mark.parametrize(
    ("shown", "sent"),
    [
        ("local-lvm:32G", "local-lvm:32"),
        ("local-lvm:512M,ssd=1", "local-lvm:0.5,ssd=1"),
        ("local-lvm:10G,mp=/data", "local-lvm:10,mp=/data"),
    ],
)
def test_new_disks_use_the_create_syntax(shown, sent):
    kind = "lxc" if "mp=" in shown else "qemu"
    assert new_disk_value(kind, "mp0" if kind == "lxc" else "scsi1", shown) == sent


def test_config_update_splits_sets_deletes_and_resizes():
    fields = [
        FieldChange(name="memory", old="2048", new="4096"),
        FieldChange(name="scsi0", old="local-lvm:32G", new="local-lvm:64G"),
        FieldChange(name="scsi1", old=None, new="local-lvm:10G,ssd=1"),
        FieldChange(name="net1", old="e1000=BC:24:11:00:00:02,bridge=vmbr0", new=None),
        FieldChange(name="sshkeys", old=None, new="ssh-ed25519 AAAA a@b"),
        FieldChange(name="state", old="stopped", new="running"),
    ]
    update = config_update("qemu", fields, CURRENT)
    assert update.params == {
        "memory": "4096",
        "scsi1": "local-lvm:10,ssd=1",
        "sshkeys": "ssh-ed25519%20AAAA%20a%40b%0A",
    }
    assert update.deletes == ["net1"]
    assert update.resizes == [("scsi0", "64G")]


def test_disk_option_changes_keep_the_volume():
    fields = [FieldChange(name="scsi0", old="local-lvm:32G", new="local-lvm:32G,discard=on,ssd=1")]
    update = config_update("qemu", fields, CURRENT)
    assert update.params == {"scsi0": "local-lvm:vm-101-disk-0,discard=on,size=32G,ssd=1"}
    assert update.resizes == []


def test_create_params_for_a_container():
    change = Change(
        address="ct/web",
        kind="ct",
        node="pve1",
        action="create",
        fields=[
            FieldChange(name="hostname", new="web"),
            FieldChange(name="rootfs", new="local-lvm:8G"),
            FieldChange(name="mp0", new="local-lvm:2G,mp=/data"),
            FieldChange(name="unprivileged", new="1"),
            FieldChange(name="template", new="0"),
            FieldChange(name="ostemplate", new="local:vztmpl/debian.tar.zst"),
            FieldChange(name="ssh_keys", new="ssh-ed25519 AAAA a@b"),
            FieldChange(name="pool", new="prod"),
            FieldChange(name="state", new="running"),
        ],
    )
    assert create_params(change) == {
        "hostname": "web",
        "rootfs": "local-lvm:8",
        "mp0": "local-lvm:2,mp=/data",
        "unprivileged": "1",
        "pool": "prod",
        "ostemplate": "local:vztmpl/debian.tar.zst",
        "ssh-public-keys": "ssh-ed25519 AAAA a@b",
    }


def test_cloud_init_drive_takes_the_first_disk_storage():
    change = Change(
        address="vm/a",
        kind="vm",
        node="pve1",
        action="create",
        fields=[
            FieldChange(name="scsi0", new="ceph:16G"),
            FieldChange(name="ide2", new="cloudinit"),
        ],
    )
    assert create_params(change) == {"scsi0": "ceph:16", "ide2": "ceph:cloudinit"}


def test_after_clone_only_what_differs_and_extra_family_members_go():
    change = Change(
        address="vm/c",
        kind="vm",
        node="pve1",
        action="create",
        fields=[
            FieldChange(name="name", new="c"),
            FieldChange(name="cores", new="4"),
            FieldChange(name="scsi0", new="local-lvm:32G"),
            FieldChange(name="net0", new="virtio,bridge=vmbr0"),
            FieldChange(name="clone", new="from=tmpl,full=1"),
        ],
    )
    current = {**CURRENT, "cores": 4, "scsi1": "local-lvm:vm-9-disk-1,size=4G"}
    fields = {(f.name, f.new) for f in after_clone_fields(change, current)}
    assert fields == {("scsi1", None)}
