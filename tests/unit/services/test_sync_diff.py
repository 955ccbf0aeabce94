"""The pure parts of sync: secret redaction and the store-versus-cluster diff."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from proxmox_mpc.core.models import ObservedGuest
from proxmox_mpc.services.sync import count_changes, diff_guests, value_text
from proxmox_mpc.state.store import GuestRecord

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def stored(vmid: int = 101, deleted: bool = False, **over: Any) -> GuestRecord:
    data: dict[str, Any] = {
        "kind": "vm",
        "type": "qemu",
        "vmid": vmid,
        "name": "web-1",
        "node": "pve1",
        "status": "running",
        "tags": ["prod", "web"],
        "pool": None,
        "template": False,
        "config": {"cores": 2, "memory": "2048"},
        "digest": "abc",
        "first_seen": T0,
        "last_seen": T0,
        "deleted_at": T0 if deleted else None,
    }
    data.update(over)
    return GuestRecord(**data)


def live(vmid: int = 101, **over: Any) -> ObservedGuest:
    data: dict[str, Any] = {
        "vmid": vmid,
        "kind": "vm",
        "node": "pve1",
        "name": "web-1",
        "status": "running",
        "template": False,
        "tags": ["prod", "web"],
        "pool": None,
        "lock": None,
        "cpus": 2.0,
        "memory": 0,
        "disk_size": 0,
        "config": {"cores": 2, "memory": 2048},
        "digest": "abc",
    }
    data.update(over)
    return ObservedGuest(**data)


CASES = [
    ("unchanged (2048 and '2048' are one value)", [stored()], [live()], []),
    ("new guest", [], [live()], [("add", "", None, None)]),
    ("vanished guest", [stored()], [], [("delete", "", None, None)]),
    ("already deleted stays quiet", [stored(deleted=True)], [], []),
    ("deleted then back is added", [stored(deleted=True)], [live()], [("add", "", None, None)]),
    (
        "config value",
        [stored()],
        [live(config={"cores": 4, "memory": 2048})],
        [("change", "config.cores", "2", "4")],
    ),
    (
        "config key removed",
        [stored()],
        [live(config={"memory": 2048})],
        [("change", "config.cores", "2", None)],
    ),
    (
        "power state and node",
        [stored()],
        [live(status="stopped", node="pve2")],
        [("change", "node", "pve1", "pve2"), ("change", "status", "running", "stopped")],
    ),
    ("tags", [stored()], [live(tags=["web"])], [("change", "tags", "prod;web", "web")]),
    (
        "offline node: config unknown, not compared",
        [stored()],
        [live(config={}, unread=True, status="unknown")],
        [("change", "status", "running", "unknown")],
    ),
]


@pytest.mark.parametrize(
    ("previous", "current", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_diff_guests(previous, current, expected):
    changes = diff_guests(previous, current)
    assert [(c.change, c.field, c.old, c.new) for c in changes] == expected
    assert all(c.address == "vm/101" and c.name == "web-1" for c in changes)


def test_count_changes_counts_guests_not_fields():
    changes = diff_guests(
        [stored(101), stored(102, name="b")], [live(101, status="stopped", node="pve2"), live(103, name="c")]
    )
    assert count_changes(changes) == (1, 1, 1)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, None),
        (True, "1"),
        (2048, "2048"),
        (2.0, "2"),
        (1.5, "1.5"),
        (["a", "b"], "a;b"),
        ("x", "x"),
    ],
)
def test_value_text(value, text):
    assert value_text(value) == text


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"name": "web-2"},
        {"node": "pve2"},
        {"status": "stopped"},
        {"tags": ["prod"]},
        {"tags": ["prod;web"]},  # the same text once joined, another list
        {"pool": "prod"},
        {"template": True},
        {"lock": "backup"},
        {"cpus": 4.0},
        {"memory": 1 << 30},
        {"disk_size": 1 << 34},
        {"config": {"cores": 2, "memory": "2048"}, "digest": "abc"},  # as stored
        {"config": {"cores": 4, "memory": "2048"}},
        {"digest": "def", "config": {"cores": 2, "memory": "2048"}},
        {"unread": True, "config": {}, "digest": None},  # offline node: the stored config stands
        {"unread": True, "config": {}, "digest": None, "name": "renamed"},
    ],
)
@pytest.mark.parametrize(
    "prior", [stored(cpus=2.0), stored(cpus=2.0, deleted=True), None], ids=["alive", "deleted", "new"]
)
def test_stored_as_is_says_what_comparing_the_rows_says(change, prior):
    from proxmox_mpc.services.sync import guest_row, stored_as_is

    guest = live(**change)
    now = datetime(2026, 2, 1, tzinfo=timezone.utc)
    if prior is None or prior.deleted_at is not None:
        assert not stored_as_is(guest, prior)
        return
    rows_equal = guest_row(prior, prior, now) == guest_row(guest, prior, now)
    # One difference allowed: two tag lists joined into the same text count as different (the row is written).
    assert stored_as_is(guest, prior) == (rows_equal and guest.tags == prior.tags)


def test_a_guest_as_stored_is_stored_as_is_and_one_changed_field_is_not():
    from proxmox_mpc.services.sync import stored_as_is

    prior, same = stored(cpus=2.0), {"config": {"cores": 2, "memory": "2048"}}
    assert stored_as_is(live(**same), prior)
    assert stored_as_is(live(**same, unread=True, digest=None), prior)
    assert not stored_as_is(live(**same, lock="backup"), prior)
