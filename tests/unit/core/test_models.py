"""One guest model: every view of a guest is a BaseGuest that carries pmpc's kind; PVE's word is derived."""

from __future__ import annotations

import pytest

from proxmox_mpc.core.models import BaseGuest, Guest, ObservedGuest

RESOURCES = [
    (
        {"type": "qemu", "id": "qemu/101", "name": "web-1", "node": "pve1", "status": "running", "maxcpu": 2,
         "maxmem": "2147483648", "maxdisk": 34359738368, "tags": "web;Prod", "pool": "prod", "mem": 1024,
         "cpu": 0.25, "uptime": 60, "hastate": "started"},
        ("vm", "qemu", 101, "web-1", ["prod", "web"], 2147483648),
    ),
    (
        {"type": "lxc", "vmid": "201", "node": "pve2", "template": 1},
        ("ct", "lxc", 201, "ct-201", [], 0),
    ),
]


@pytest.mark.parametrize(("raw", "want"), RESOURCES, ids=["vm", "ct without a name"])
def test_a_listed_guest_carries_the_kind_and_derives_pve_s_type(raw, want):
    guest = Guest.from_resource(raw)
    assert (guest.kind, guest.type, guest.vmid, guest.name, guest.tags, guest.memory) == want
    assert guest.ref == f"{want[0]}/{want[2]}"
    assert "type" not in BaseGuest.model_fields  # carried once, as kind
    assert guest.model_dump(mode="json")["type"] == want[1]  # JSON output keeps PVE's word


def test_a_non_guest_resource_is_refused():
    with pytest.raises(ValueError, match="not a guest type"):
        Guest.from_resource({"type": "storage", "id": "storage/pve1/local"})


def test_the_observed_guest_is_the_listed_facts_plus_its_config():
    raw = RESOURCES[0][0]
    observed = ObservedGuest(**ObservedGuest.resource_fields(raw), config={"memory": 2048}, pending=["memory"])
    listed = Guest.from_resource(raw)
    shared = set(BaseGuest.model_fields)
    assert observed.model_dump(include=shared) == listed.model_dump(include=shared)
    dumped = observed.model_dump(mode="json")
    assert dumped["config"] == {"memory": 2048} and dumped["type"] == "qemu"
    assert "pending" not in dumped and "unread" not in dumped  # what one observation knew, never printed


def test_the_stored_row_and_the_description_are_views_of_the_same_guest():
    from proxmox_mpc.services.guests.describe import GuestDescription
    from proxmox_mpc.state.records import GuestRecord

    assert issubclass(GuestRecord, ObservedGuest) and issubclass(GuestDescription, BaseGuest)
    for view in (Guest, ObservedGuest, GuestRecord, GuestDescription):
        assert set(BaseGuest.model_fields) <= set(view.model_fields) and "type" not in view.model_fields
    # `state show -o json` prints what it printed before the models were one.
    record = GuestRecord(
        kind="ct", vmid=201, name="dns-1", node="pve1", status="running", config={"cores": 1},
        first_seen="2026-01-01T00:00:00Z", last_seen="2026-01-01T00:00:00Z", pending=["cores"],
    )
    assert set(record.model_dump(mode="json")) == {
        "kind", "type", "vmid", "name", "node", "status", "template", "tags", "pool", "lock", "cpus",
        "memory", "disk_size", "digest", "config", "first_seen", "last_seen", "deleted_at",
    }

