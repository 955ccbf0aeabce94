"""From plan fields to Proxmox requests: create syntax, resizes, kept volumes, clone follow-ups."""

from __future__ import annotations

import pytest

from proxmox_mpc.core import normalize as nz
from proxmox_mpc.core.guest_requests import (
    ConfigUpdate,
    after_clone_fields,
    change_create_request,
    config_requests,
    config_update,
    create_params,
    is_volume_disk,
    migrate_request,
    new_disk_value,
    pool_request,
)
from proxmox_mpc.core.plan import Change, FieldChange
from proxmox_mpc.errors import ManifestError

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
    kind = "ct" if "mp=" in shown else "vm"
    assert new_disk_value(kind, "mp0" if kind == "ct" else "scsi1", shown) == sent


def test_config_update_splits_sets_deletes_and_resizes():
    fields = [
        FieldChange(name="memory", old="2048", new="4096"),
        FieldChange(name="scsi0", old="local-lvm:32G", new="local-lvm:64G"),
        FieldChange(name="scsi1", old=None, new="local-lvm:10G,ssd=1"),
        FieldChange(name="net1", old="e1000=BC:24:11:00:00:02,bridge=vmbr0", new=None),
        FieldChange(name="sshkeys", old=None, new="ssh-ed25519 AAAA a@b"),
        FieldChange(name="state", old="stopped", new="running"),
    ]
    update = config_update("vm", fields, CURRENT)
    assert update.params == {
        "memory": "4096",
        "scsi1": "local-lvm:10,ssd=1",
        "sshkeys": "ssh-ed25519%20AAAA%20a%40b%0A",
    }
    assert update.deletes == ["net1"]
    assert update.resizes == [("scsi0", "64G")]


def test_disk_option_changes_keep_the_volume():
    fields = [FieldChange(name="scsi0", old="local-lvm:32G", new="local-lvm:32G,discard=on,ssd=1")]
    update = config_update("vm", fields, CURRENT)
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


def _manifest_create(kind: str, spec: dict) -> Change:
    """The create change `pmpc plan` makes for a manifest of a guest that does not exist yet."""
    from proxmox_mpc.core.diff import diff_guest
    from proxmox_mpc.core.manifest import CtManifest, VmManifest

    model = VmManifest if kind == "VM" else CtManifest
    manifest = model.model_validate({"kind": kind, "name": "a", "node": "pve1", "spec": spec})
    change = diff_guest(manifest, None)
    assert change is not None and change.action == "create"
    return change


@pytest.mark.parametrize("size", ["100M", "512M", "1536M", "32G", "4M"])
def test_cli_disk_and_manifest_disk_send_the_same_bytes(size):
    from proxmox_mpc.core.guest_params import vm_create_params

    cli = vm_create_params(name="a", disks=[f"local-lvm:{size}"])
    change = _manifest_create("VM", {"disks": [{"slot": "scsi0", "storage": "local-lvm", "size": size}]})
    manifest = change_create_request(change, 100)
    assert manifest.params["scsi0"] == cli["scsi0"]
    # PVE reads STORAGE:N as N GiB: the number sent must be the size exactly (100M is 0.09765625 GiB).
    assert nz.parse_disk(str(cli["scsi0"]))["size"] == nz.canonical_size(size)


def test_cli_rootfs_and_manifest_rootfs_send_the_same_bytes():
    from proxmox_mpc.core.guest_params import ct_create_params

    cli = ct_create_params(hostname="a", ostemplate="local:vztmpl/d.tar.zst", rootfs="local-lvm:100M")
    change = _manifest_create(
        "CT",
        {"ostemplate": "local:vztmpl/d.tar.zst", "rootfs": {"storage": "local-lvm", "size": "100M"}},
    )
    assert change_create_request(change, 200).params["rootfs"] == cli["rootfs"] == "local-lvm:0.09765625"


def test_ssh_keys_are_encoded_alike_by_create_flags_and_plans():
    from proxmox_mpc.core.guest_params import CloudInit, vm_create_params

    keys = "ssh-ed25519 AAAA a@b\nssh-rsa BBBB c@d\n"
    cli = vm_create_params(name="a", disks=["local-lvm:8G"], cloud_init=CloudInit(user="ops"), ssh_keys=keys)
    update = config_update("vm", [FieldChange(name="sshkeys", old=None, new=keys)], {})
    assert cli["sshkeys"] == update.params["sshkeys"] == "ssh-ed25519%20AAAA%20a%40b%0Assh-rsa%20BBBB%20c%40d%0A"
    assert nz.decode_ssh_keys(cli["sshkeys"]) == ["ssh-ed25519 AAAA a@b", "ssh-rsa BBBB c@d"]


@pytest.mark.parametrize(
    ("kind", "key", "disk"),
    [
        ("vm", "scsi0", True),
        ("vm", "virtio15", True),
        ("vm", "sata5", True),
        ("vm", "ide2", True),
        ("vm", "efidisk0", True),
        ("vm", "tpmstate0", True),
        ("vm", "unused0", False),
        ("vm", "net0", False),
        ("vm", "scsi0\n", False),
        ("vm", "rootfs", False),
        ("ct", "rootfs", True),
        ("ct", "mp3", True),
        ("ct", "scsi0", False),
        ("ct", "mp", False),
    ],
    ids=lambda v: repr(v) if isinstance(v, str) else str(v),
)
def test_is_disk_key(kind, key, disk):
    assert nz.is_disk_key(kind, key) is disk


@pytest.mark.parametrize(
    ("value", "cdrom"),
    [
        ("local:iso/debian.iso,media=cdrom", True),
        ("none,media=cdrom", True),
        ("cdrom", True),
        ("local-lvm:vm-100-cloudinit,media=cdrom", True),
        # A cloud-init drive is a CD-ROM even where PVE's answer leaves media=cdrom out.
        ("local-lvm:vm-100-cloudinit", True),
        ("local-lvm:cloudinit", True),
        ("local-lvm:vm-100-disk-0,size=32G", False),
        ("local-lvm:vm-100-disk-0,size=32G,media=disk", False),
        # The media option, not a substring of the volume name, makes a CD-ROM.
        ("local-lvm:vm-100-media=cdrom-disk,size=1G", False),
    ],
)
def test_is_cdrom(value, cdrom):
    assert nz.is_cdrom(value) is cdrom


def test_a_cdrom_is_no_volume_disk_and_needs_no_create_syntax():
    assert not is_volume_disk("vm", "ide2", "local:iso/debian.iso,media=cdrom")
    assert is_volume_disk("vm", "scsi0", "local-lvm:32G")
    assert create_params(
        Change(
            address="vm/a",
            kind="vm",
            node="pve1",
            action="create",
            fields=[FieldChange(name="ide2", new="local:iso/debian.iso,media=cdrom")],
        )
    ) == {"ide2": "local:iso/debian.iso,media=cdrom"}


def test_a_container_without_ostemplate_is_refused_before_any_request():
    fields = [FieldChange(name="cores", new="1")]
    change = Change(address="ct/a", kind="ct", node="pve1", action="create", fields=fields)
    with pytest.raises(ManifestError, match=r"spec\.ostemplate"):
        change_create_request(change, 200)


@pytest.mark.parametrize(
    ("kind", "online", "params"),
    [
        ("vm", True, {"target": "pve2", "online": 1, "with-local-disks": 1}),
        ("vm", False, {"target": "pve2", "with-local-disks": 1}),
        ("ct", True, {"target": "pve2", "restart": 1, "timeout": 30}),
        ("ct", False, {"target": "pve2"}),
    ],
)
def test_migrate_request(kind, online, params):
    request = migrate_request(kind, "pve1", 7, "pve2", online=online, with_local_disks=True, restart_timeout=30)
    assert request.method == "POST"
    assert request.path == f"/nodes/pve1/{'qemu' if kind == 'vm' else 'lxc'}/7/migrate"
    assert request.params == params


def test_config_requests_send_the_digest_and_resize_after():
    update = ConfigUpdate(params={"memory": "4096"}, deletes=["net1"], resizes=[("rootfs", "16G")])
    steps = config_requests("ct", "pve1", 201, update, "abc")
    assert [(s, r.method, r.path, r.params) for s, r in steps] == [
        ("config", "PUT", "/nodes/pve1/lxc/201/config", {"memory": "4096", "delete": "net1", "digest": "abc"}),
        ("resize rootfs", "PUT", "/nodes/pve1/lxc/201/resize", {"disk": "rootfs", "size": "16G"}),
    ]
    assert config_requests("vm", "pve1", 101, ConfigUpdate(params={"cores": "2"}), None)[0][1].method == "POST"


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (None, "prod", ("/pools/prod", {"vms": "7", "allow-move": 1})),
        ("prod", "dev", ("/pools/dev", {"vms": "7", "allow-move": 1})),
        ("prod", None, ("/pools/prod", {"vms": "7", "delete": 1})),
        (None, None, None),
    ],
)
def test_pool_request(old, new, expected):
    request = pool_request(7, old, new)
    assert (None if request is None else (request.path, request.params)) == expected
