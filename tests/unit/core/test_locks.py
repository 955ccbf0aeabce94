"""Which running task holds a lock, and who may pass skiplock."""

from __future__ import annotations

import pytest

from proxmox_mpc.core.locks import holding_task, may_skiplock


@pytest.mark.parametrize(
    ("lock", "running", "expected"),
    [
        ("backup", [("vzdump", "U1")], "U1"),
        ("backup", [("qmstart", "U1")], None),
        ("migrate", [("qmstart", "U1"), ("qmigrate", "U2")], "U2"),
        ("snapshot", [], None),
        ("mystery", [("qmstart", "U1")], "U1"),
        ("suspended", [("qmstart", "U1")], None),
    ],
    ids=["backup-vzdump", "other-task", "migrate", "no-task", "unknown-lock", "state-lock"],
)
def test_holding_task(lock, running, expected):
    assert holding_task(lock, running) == expected


@pytest.mark.parametrize(
    ("identity", "allowed"),
    [("root@pam", True), ("root@pam!pmpc", False), ("admin@pve", False), (None, False)],
)
def test_only_the_root_pam_user_may_skiplock(identity, allowed):
    assert may_skiplock(identity) is allowed
