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
