"""run_backup against recorded PVE answers: the volume from the task log, or from the storage listing."""

from __future__ import annotations

import time

import pytest
from tests.unit.api.helpers import arun, envelope, make_client, router

from proxmox_mpc.core.backups import BackupOptions
from proxmox_mpc.core.models import Guest
from proxmox_mpc.errors import PmpcError
from proxmox_mpc.services.backup import run_backup

UPID = "UPID:pve2:0000A1B2:0001C3D4:6752B1AC:vzdump:102:root@pam:"
GUEST = Guest(kind="vm", type="qemu", vmid=102, name="web-2", node="pve2", status="running")


def _pve(log, content=None):
    pve = router()
    vzdump = pve.post("/nodes/pve2/vzdump").mock(return_value=envelope(UPID))
    pve.get(f"/nodes/pve2/tasks/{UPID}/status").mock(
        return_value=envelope({"status": "stopped", "exitstatus": "OK", "upid": UPID, "type": "vzdump"})
    )
    pve.get(f"/nodes/pve2/tasks/{UPID}/log").mock(
        return_value=envelope([{"n": n + 1, "t": t} for n, t in enumerate(log)])
    )
    listing = pve.get("/nodes/pve2/storage/pbs/content").mock(return_value=envelope(content or []))
    return pve, vzdump, listing


async def _run(pve):
    async with make_client(pve) as api:
        return await run_backup(api, GUEST, BackupOptions(storage="pbs", notes="nightly"), timeout=5)


def test_the_volume_comes_from_the_task_log():
    pve, vzdump, listing = _pve(["INFO: creating Proxmox Backup Server archive 'vm/102/2026-12-06T03:54:36Z'"])
    done = arun(_run(pve))
    assert done.upid == UPID
    assert done.volid == "pbs:backup/vm/102/2026-12-06T03:54:36Z"
    body = vzdump.calls.last.request.content.decode()
    assert sorted(body.split("&")) == [
        "compress=zstd", "mode=snapshot", "notes-template=nightly", "storage=pbs", "vmid=102"
    ]
    assert not listing.called


def test_without_an_archive_line_the_newest_new_backup_of_the_guest_is_chosen():
    now = int(time.time())
    content = [
        {"volid": "pbs:backup/vm/102/2020-01-01T00:00:00Z", "ctime": 1577836800, "vmid": 102},
        {"volid": "pbs:backup/vm/102/fresh", "ctime": now + 1, "vmid": 102},
    ]
    pve, _vzdump, listing = _pve(["INFO: Backup job finished successfully"], content)
    assert arun(_run(pve)).volid == "pbs:backup/vm/102/fresh"
    params = listing.calls.last.request.url.params
    assert (params["content"], params["vmid"]) == ("backup", "102")


def test_a_task_that_wrote_nothing_is_an_error():
    content = [{"volid": "pbs:backup/vm/102/2020-01-01T00:00:00Z", "ctime": 1577836800, "vmid": 102}]
    pve, _vzdump, _listing = _pve(["INFO: Backup job finished successfully"], content)
    with pytest.raises(PmpcError, match="no new backup of it is on pbs"):
        arun(_run(pve))
