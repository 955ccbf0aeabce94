"""Manifest models and the mapping to and from Proxmox config: the round trip is the law."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from proxmox_mpc.core import normalize as nz
from proxmox_mpc.core.manifest import (
    CtManifest,
    VmManifest,
    manifest_from_config,
    manifest_to_config,
    manifest_to_document,
)

# ----------------------------------------------------------------------------- strategies

names = st.from_regex(r"[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,4})?", fullmatch=True)
storages = st.sampled_from(["local-lvm", "ceph-pool", "nfs.shared", "zfs_1"])
sizes = st.builds(lambda n, u: f"{n}{u}", st.integers(1, 4096), st.sampled_from(["M", "G", "T"]))
macs = st.lists(st.integers(0, 255), min_size=3, max_size=3).map(
    lambda b: "BC:24:11:" + ":".join(f"{x:02X}" for x in b)
)
tags = st.lists(st.from_regex(r"[a-zA-Z0-9_][a-zA-Z0-9_\-]{0,6}", fullmatch=True), max_size=4)
opt_values = st.from_regex(r"[a-z0-9]{1,6}", fullmatch=True)
disk_options = st.dictionaries(
    st.sampled_from(["ssd", "discard", "iothread", "cache", "backup"]), opt_values, max_size=2
)
passthrough = st.dictionaries(
    st.sampled_from(
        ["balloon", "scsihw", "bios", "machine", "boot", "startup", "numa", "hookscript", "ide3"]
    ),
    st.one_of(st.integers(0, 100000), st.from_regex(r"[a-z][a-z0-9=;:.\-]{0,12}", fullmatch=True)),
    max_size=4,
)


@st.composite
def vm_manifests(draw):
    disk_slots = draw(
        st.lists(
            st.sampled_from(["scsi0", "scsi1", "virtio0", "sata1", "efidisk0", "ide0"]),
            unique=True,
            max_size=3,
        )
    )
    net_slots = draw(st.lists(st.sampled_from(["net0", "net1", "net5"]), unique=True, max_size=3))
    cloud = draw(st.booleans())
    spec = {
        "cores": draw(st.none() | st.integers(1, 64)),
        "sockets": draw(st.none() | st.integers(1, 4)),
        "memory": draw(st.none() | st.integers(16, 1 << 20)),
        "cpu": draw(st.none() | st.sampled_from(["host", "x86-64-v2-AES"])),
        "os_type": draw(st.none() | st.sampled_from(["l26", "win11"])),
        "agent": draw(st.none() | st.booleans()),
        "onboot": draw(st.none() | st.booleans()),
        "protection": draw(st.none() | st.booleans()),
        "template": draw(st.none() | st.booleans()),
        "description": draw(
            st.none() | st.text("abc \n", min_size=1, max_size=12).map(str.strip).filter(bool)
        ),
        "tags": draw(tags),
        "state": draw(st.none() | st.sampled_from(["running", "stopped"])),
        "pool": draw(st.none() | names),
        "disks": [
            {"slot": s, "storage": draw(storages), "size": draw(sizes), "options": draw(disk_options)}
            for s in disk_slots
        ],
        "networks": [
            {
                "slot": s,
                "model": draw(st.sampled_from(["virtio", "e1000", "vmxnet3"])),
                "bridge": draw(st.none() | st.sampled_from(["vmbr0", "vmbr1"])),
                "tag": draw(st.none() | st.integers(1, 4094)),
                "firewall": draw(st.none() | st.just(True)),
                "macaddr": draw(st.none() | macs),
            }
            for s in net_slots
        ],
        "config": draw(passthrough),
    }
    if cloud:
        free = [s for s in ("ide2", "sata5", "scsi9") if s not in disk_slots]
        static = draw(st.booleans())
        spec["cloud_init"] = {
            "drive": free[0],
            "storage": draw(st.none() | storages),
            "user": draw(st.none() | names),
            "ssh_keys": draw(
                st.none()
                | st.lists(
                    st.from_regex(r"ssh-ed25519 [A-Za-z0-9]{4,10} [a-z]+@[a-z]+", fullmatch=True),
                    min_size=1,
                    max_size=2,
                )
            ),
            "ip": "10.0.0.5/24" if static else draw(st.none() | st.just("dhcp")),
            "gw": "10.0.0.1" if static else None,
            "nameserver": draw(st.none() | st.just("10.0.0.53")),
        }
    vmid = draw(st.none() | st.integers(100, 999999))
    return VmManifest.model_validate(
        {"kind": "VM", "name": draw(names), "node": draw(names), "vmid": vmid, "spec": spec}
    )


@st.composite
def ct_manifests(draw):
    mount_slots = draw(st.lists(st.sampled_from(["mp0", "mp1", "mp7"]), unique=True, max_size=2))
    mounts = []
    for slot in mount_slots:
        path = "/" + draw(names)
        if draw(st.booleans()):
            mounts.append(
                {
                    "slot": slot,
                    "path": path,
                    "storage": draw(storages),
                    "size": draw(sizes),
                    "options": draw(disk_options),
                }
            )
        else:
            mounts.append({"slot": slot, "path": path, "source": "/srv/" + draw(names)})
    spec = {
        "cores": draw(st.none() | st.integers(1, 64)),
        "memory": draw(st.none() | st.integers(16, 1 << 20)),
        "swap": draw(st.none() | st.integers(0, 1 << 16)),
        "os_type": draw(st.none() | st.sampled_from(["debian", "ubuntu"])),
        "unprivileged": draw(st.booleans()),
        "onboot": draw(st.none() | st.booleans()),
        "tags": draw(tags),
        "state": draw(st.none() | st.sampled_from(["running", "stopped"])),
        "rootfs": draw(st.none() | st.builds(lambda s, z: {"storage": s, "size": z}, storages, sizes)),
        "mounts": mounts,
        "networks": [
            {
                "slot": s,
                "name": f"eth{i}",
                "bridge": draw(st.none() | st.just("vmbr0")),
                "ip": draw(st.none() | st.sampled_from(["dhcp", "10.1.0.2/24"])),
                "hwaddr": draw(st.none() | macs),
                "tag": draw(st.none() | st.integers(1, 4094)),
            }
            for i, s in enumerate(draw(st.lists(st.sampled_from(["net0", "net1"]), unique=True)))
        ],
        "nameserver": draw(st.none() | st.just("1.1.1.1")),
        "config": draw(
            st.dictionaries(
                st.sampled_from(["features", "arch", "startup", "cpulimit"]),
                st.from_regex(r"[a-z0-9=,]{1,10}", fullmatch=True).filter(lambda v: not v.startswith(",")),
                max_size=2,
            )
        ),
    }
    return CtManifest.model_validate(
        {
            "kind": "CT",
            "name": draw(names),
            "node": draw(names),
            "vmid": draw(st.none() | st.integers(100, 999999)),
            "spec": spec,
        }
    )


def _round_trip(m):
    config = manifest_to_config(m)
    return manifest_from_config(m.kind, m.name, m.node, m.vmid, config, state=m.spec.state, pool=m.spec.pool)


@settings(max_examples=80, deadline=None)
@given(vm_manifests())
def test_vm_manifest_to_config_and_back_is_the_identity(m):
    assert _round_trip(m) == m


@settings(max_examples=80, deadline=None)
@given(ct_manifests())
def test_ct_manifest_to_config_and_back_is_the_identity(m):
    assert _round_trip(m) == m


@settings(max_examples=60, deadline=None)
@given(st.one_of(vm_manifests(), ct_manifests()))
def test_a_manifest_is_equivalent_to_its_own_config(m):
    config = manifest_to_config(m)
    gtype = m.kind.lower()
    for key, value in config.items():
        assert nz.equivalent(gtype, key, value, value), key
        assert nz.equivalent(gtype, key, nz.render(gtype, key, value), value), key


@settings(max_examples=40, deadline=None)
@given(st.one_of(vm_manifests(), ct_manifests()))
def test_document_form_reads_back_equal(m):
    assert type(m).model_validate(manifest_to_document(m)) == m


# ----------------------------------------------------------------------------- canonical forms and errors


def test_canonical_forms():
    m = VmManifest.model_validate(
        {
            "kind": "VM",
            "name": "web-1",
            "node": "pve1",
            "spec": {
                "tags": ["Web", "prod", "web"],
                "disks": [
                    {"slot": "scsi1", "storage": "s", "size": "1024M"},
                    {"slot": "scsi0", "storage": "s", "size": 2147483648},
                ],
                "config": {"balloon": "1024", "numa": True},
            },
        }
    )
    assert m.spec.tags == ["prod", "web"]
    assert [(d.slot, d.size) for d in m.spec.disks] == [("scsi0", "2G"), ("scsi1", "1G")]
    assert m.spec.config == {"balloon": 1024, "numa": 1}
    assert m.address == "vm/web-1"


INVALID = [
    ({"spec": {"colour": "red"}}, ("spec", "colour"), "extra_forbidden"),
    ({"spec": {"memory": "lots"}}, ("spec", "memory"), "value_error"),  # memory takes sizes (2G): not one
    ({"spec": {"memory": "1000K"}}, ("spec", "memory"), "value_error"),
    (
        {"spec": {"disks": [{"slot": "scsi99", "storage": "s", "size": "1G"}]}},
        ("spec", "disks", 0, "slot"),
        None,
    ),
    (
        {"spec": {"disks": [{"slot": "scsi0", "storage": "s", "size": "big"}]}},
        ("spec", "disks", 0, "size"),
        None,
    ),
    ({"spec": {"networks": [{"slot": "net0", "model": "tulip"}]}}, ("spec", "networks", 0, "model"), None),
    ({"spec": {"cores": 2, "config": {"cores": 4}}}, ("spec",), None),
    ({"spec": {"config": {"digest": "x"}}}, ("spec", "config"), None),
    ({"spec": {"state": "paused"}}, ("spec", "state"), None),
    ({"name": "web_1!"}, ("name",), None),
    ({"vmid": 5}, ("vmid",), None),
    ({"spec": {"cloud_init": {"gw": "10.0.0.1"}}}, ("spec", "cloud_init"), None),
]


@pytest.mark.parametrize(("patch", "loc", "kind"), INVALID, ids=[str(i[1]) for i in INVALID])
def test_invalid_manifests_name_the_field(patch, loc, kind):
    data = {"kind": "VM", "name": "web-1", "node": "pve1", "spec": {}}
    data.update(patch)
    with pytest.raises(ValidationError) as info:
        VmManifest.model_validate(data)
    error = info.value.errors()[0]
    assert tuple(error["loc"])[: len(loc)] == loc
    if kind:
        assert error["type"] == kind


def test_agent_with_options_passes_through_config():
    m = manifest_from_config(
        "qemu", "a", "pve1", 100, {"agent": "enabled=1,fstrim_cloned_disks=1", "name": "a"}
    )
    assert m.spec.agent is None and m.spec.config == {"agent": "enabled=1,fstrim_cloned_disks=1"}


def test_masked_secrets_are_never_imported():
    m = manifest_from_config(
        "qemu",
        "a",
        "pve1",
        100,
        {
            "cipassword": "**********",
            "ciuser": "ops",
            "ipconfig0": "ip=dhcp",
            "digest": "abc",
            "hookscript_token": "**********",
        },
    )
    assert m.spec.cloud_init is not None and m.spec.cloud_init.user == "ops"
    assert "cipassword" not in str(manifest_to_document(m))


def test_memory_and_swap_take_sizes_as_disks_do():
    vm = VmManifest.model_validate({"kind": "VM", "name": "a", "node": "pve1", "spec": {"memory": "2G"}})
    ct = CtManifest.model_validate(
        {"kind": "CT", "name": "b", "node": "pve1", "spec": {"memory": "512M", "swap": "1G"}}
    )
    plain = VmManifest.model_validate({"kind": "VM", "name": "c", "node": "pve1", "spec": {"memory": 2048}})
    assert (vm.spec.memory, ct.spec.memory, ct.spec.swap, plain.spec.memory) == (2048, 512, 1024, 2048)
