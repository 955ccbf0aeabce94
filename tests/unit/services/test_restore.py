"""A VM restore against recorded PVE answers (fakepve refuses to restore archives): the request and its task."""

from __future__ import annotations

import pytest
from tests.unit.api.helpers import arun, envelope, make_client, router

from proxmox_mpc.errors import Conflict
from proxmox_mpc.services.backup import RestoreOptions, plan_restore, run_restore

VOLID = "nfs:backup/vzdump-qemu-101-2026_12_06-03_54_36.vma.zst"
UPID = "UPID:pve2:0000A1B2:0001C3D4:6752B1AC:qmrestore:101:root@pam:"


def _pve():
    pve = router()
    nodes = [{"node": "pve1", "status": "online"}, {"node": "pve2", "status": "online"}]
    pve.get("/nodes").mock(return_value=envelope(nodes))
    for node in ("pve1", "pve2"):
        pve.get(f"/nodes/{node}/storage").mock(
            return_value=envelope([{"storage": "nfs", "content": "backup,iso", "active": 1, "shared": 1}])
        )
    pve.get("/nodes/pve1/storage/nfs/content").mock(
        return_value=envelope([{"volid": VOLID, "content": "backup", "ctime": 1796529276, "vmid": 101, "size": 9}])
    )
    pve.get("/cluster/resources").mock(
        return_value=envelope([{"type": "qemu", "vmid": 101, "name": "web-1", "node": "pve2", "status": "stopped"}])
    )
    create = pve.post("/nodes/pve2/qemu").mock(return_value=envelope(UPID))
    pve.get(f"/nodes/pve2/tasks/{UPID}/status").mock(
        return_value=envelope({"status": "stopped", "exitstatus": "OK", "upid": UPID, "type": "qmrestore"})
    )
    return pve, create


async def _restore(pve, options):
    async with make_client(pve) as api:
        result, existing = await plan_restore(api, "vm", VOLID, options)
        await run_restore(api, result, timeout=5)
        return result, existing


def test_overwriting_restore_sends_archive_force_and_unique_on_the_guest_s_node():
    pve, create = _pve()
    result, existing = arun(_restore(pve, RestoreOptions(vmid=101, force=True, unique=True, storage="local-lvm")))
    assert existing is not None and existing.name == "web-1"
    assert (result.ok, result.upid, result.node, result.target) == (True, UPID, "pve2", "vm/101")
    body = create.calls.last.request.content.decode()
    assert sorted(body.split("&")) == [
        "archive=nfs%3Abackup%2Fvzdump-qemu-101-2026_12_06-03_54_36.vma.zst",
        "force=1",
        "storage=local-lvm",
        "unique=1",
        "vmid=101",
    ]


def test_an_existing_guest_without_force_is_a_conflict_and_nothing_is_sent():
    pve, create = _pve()
    with pytest.raises(Conflict, match=r"vm/101 \(web-1\) exists on pve2: add --force"):
        arun(_restore(pve, RestoreOptions(vmid=101)))
    assert not create.called
