"""Generator inputs: from manifests, joined with what exists, checked before rendering."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from proxmox_mpc.core.manifest import Manifest
from proxmox_mpc.errors import ManifestError
from proxmox_mpc.generators.model import (
    GenerateInputs,
    GuestSpec,
    Observed,
    agent_address,
    check_inputs,
    manifest_static_address,
    merge,
    spec_from_manifest,
    static_address,
)

ADAPTER: TypeAdapter = TypeAdapter(Manifest)


def manifest(doc: dict) -> object:
    return ADAPTER.validate_python(doc)


def test_a_manifest_becomes_a_spec():
    spec = spec_from_manifest(
        manifest(
            {
                "kind": "VM",
                "name": "web-1",
                "node": "pve1",
                "vmid": 101,
                "spec": {
                    "cores": 2,
                    "memory": 2048,
                    "tags": ["Web", "prod"],
                    "state": "running",
                    "agent": True,
                    "disks": [{"slot": "scsi0", "storage": "local-lvm", "size": "32G"}],
                    "networks": [{"slot": "net0", "bridge": "vmbr0", "tag": 20}],
                    "cloud_init": {"user": "ops", "ip": "10.0.0.5/24", "gw": "10.0.0.1"},
                    "config": {"scsihw": "virtio-scsi-pci", "numa": 1},
                },
            }
        )
    )
    assert spec is not None
    assert (spec.kind, spec.vmid, spec.cores, spec.memory, spec.state) == ("vm", 101, 2, 2048, "running")
    assert spec.tags == ["prod", "web"] and spec.tags_managed
    assert spec.disks[0].size_gb == 32 and spec.networks[0].vlan == 20 and spec.networks[0].model == "virtio"
    assert spec.cloud_init is not None and spec.cloud_init.gateway == "10.0.0.1"
    assert spec.scsihw == "virtio-scsi-pci"
    assert spec.unmapped == ["numa"]
    assert static_address(spec) == "10.0.0.5"


def test_absent_guests_and_unmanaged_fields():
    assert (
        spec_from_manifest(
            manifest({"kind": "CT", "name": "old", "node": "pve1", "spec": {"state": "absent"}})
        )
        is None
    )
    spec = spec_from_manifest(manifest({"kind": "CT", "name": "c", "node": "pve1", "spec": {"cores": 1}}))
    assert spec is not None and spec.state is None and not spec.tags_managed and spec.memory is None


def test_merge_takes_vmid_node_status_and_address_from_what_exists():
    want = [
        GuestSpec(kind="vm", name="web-1", node="pve1"),
        GuestSpec(kind="vm", name="new", node="pve1"),
        GuestSpec(kind="ct", name="web-1", node="pve1", vmid=300),
    ]
    seen = [Observed(kind="vm", vmid=101, name="web-1", node="pve2", status="running", address="192.0.2.1")]
    merged = {(g.kind, g.name): g for g in merge(want, seen)}
    web = merged[("vm", "web-1")]
    assert (web.vmid, web.exists, web.import_id, web.current_status, web.address) == (
        101,
        True,
        "pve2/101",
        "running",
        "192.0.2.1",
    )
    assert merged[("vm", "new")].exists is False
    assert merged[("ct", "web-1")].exists is False, "a VM and a container are never confused"


@pytest.mark.parametrize(
    ("answer", "address"),
    [
        (
            {
                "result": [
                    {"name": "lo", "ip-addresses": [{"ip-address-type": "ipv4", "ip-address": "127.0.0.1"}]},
                    {
                        "name": "eth0",
                        "ip-addresses": [
                            {"ip-address-type": "ipv4", "ip-address": "169.254.1.1"},
                            {"ip-address-type": "ipv6", "ip-address": "2001:db8::1"},
                            {"ip-address-type": "ipv4", "ip-address": "192.0.2.7"},
                        ],
                    },
                ]
            },
            "192.0.2.7",
        ),
        (
            [{"name": "eth0", "ip-addresses": [{"ip-address-type": "inet", "ip-address": "10.1.1.1"}]}],
            "10.1.1.1",
        ),
        ({"result": []}, None),
        (None, None),
    ],
    ids=["agent", "lxc", "empty", "none"],
)
def test_agent_address(answer, address):
    assert agent_address(answer) == address


@pytest.mark.parametrize(
    ("guests", "message"),
    [
        (
            [
                GuestSpec(kind="vm", name="a", node="pve1", vmid=100),
                GuestSpec(kind="ct", name="b", node="pve1", vmid=100),
            ],
            "Two guests have VMID 100",
        ),
        (
            [
                GuestSpec(kind="vm", name="a", node="pve1"),
                GuestSpec(kind="ct", name="a", node="pve1", vmid=101),
            ],
            "Two guests are named 'a'",
        ),
        ([GuestSpec(kind="vm", name="a", node="../pve1")], "Refusing node name '../pve1'"),
    ],
    ids=["vmid", "name-of-a-new-guest", "node"],
)
def test_check_inputs_refuses(guests, message):
    with pytest.raises(ManifestError, match=message.replace(".", r"\.")):
        check_inputs(GenerateInputs(guests=guests))


def test_two_existing_guests_may_share_a_name():
    check_inputs(
        GenerateInputs(
            guests=[
                GuestSpec(kind="vm", name="a", node="pve1", vmid=100),
                GuestSpec(kind="vm", name="a", node="pve2", vmid=101),
            ]
        )
    )


@pytest.mark.parametrize(
    ("kind", "spec", "address"),
    [
        ("VM", {"cloud_init": {"ip": "10.0.0.5/24"}, "networks": [{"slot": "net0", "bridge": "vmbr0"}]}, "10.0.0.5"),
        ("VM", {"cloud_init": {"ip": "dhcp"}}, None),
        ("VM", {"cores": 1}, None),
        (
            "CT",
            {"networks": [{"slot": "net0", "name": "eth0", "ip": "dhcp"}, {"slot": "net1", "ip": "192.0.2.7/24"}]},
            "192.0.2.7",
        ),
        ("CT", {"networks": [{"slot": "net0", "name": "eth0", "ip": "manual"}]}, None),
    ],
    ids=["vm-cloud-init", "vm-dhcp", "vm-none", "ct-second-nic", "ct-manual"],
)
def test_a_manifest_s_static_address_is_its_spec_s(kind, spec, address):
    """The address reads are chosen from the manifests before their specs are made: the same answer."""
    found = manifest({"kind": kind, "name": "g", "node": "pve1", "vmid": 101, "spec": spec})
    made = spec_from_manifest(found)
    assert made is not None
    assert manifest_static_address(found) == static_address(made) == address
