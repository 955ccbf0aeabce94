"""Waiting for Proxmox tasks: progress callback, success, failure with exit status and log tail, timeout."""

from __future__ import annotations

import pytest
from tests.unit.api.helpers import arun, envelope, make_client, router

from proxmox_mpc.api import tasks
from proxmox_mpc.errors import ExitCode, TaskFailedError, TaskTimeout

UPID = "UPID:pve2:000A1B2C:0012D687:6720F00D:qmstart:101:root@pam:"
STATUS = "/nodes/pve2/tasks/" + UPID.replace(":", "%3A") + "/status"
LOG = "/nodes/pve2/tasks/" + UPID.replace(":", "%3A") + "/log"


def running() -> dict:
    return {"status": "running", "type": "qmstart", "upid": UPID}


def stopped(exitstatus: str) -> dict:
    return {"status": "stopped", "exitstatus": exitstatus, "type": "qmstart", "upid": UPID}


async def _wait(pve, timeout=5.0, progress=None):
    async with make_client(pve) as api:
        return await tasks.wait(api, UPID, timeout, progress=progress, poll_min=0, poll_max=0)


@pytest.mark.parametrize("exitstatus", ["OK", "WARNINGS: 1"])
def test_wait_polls_the_task_node_until_it_stops_and_reports_progress(exitstatus):
    pve = router()
    status = pve.get(STATUS).mock(
        side_effect=[envelope(running()), envelope(running()), envelope(stopped(exitstatus))]
    )
    seen: list[tuple[str, str]] = []
    result = arun(_wait(pve, progress=lambda upid, waited, st: seen.append((upid, st["status"]))))
    assert result["exitstatus"] == exitstatus
    assert status.call_count == 3
    assert seen == [(UPID, "running"), (UPID, "running"), (UPID, "stopped")]


def test_a_failed_task_raises_with_its_exit_status_and_the_last_log_lines():
    pve = router()
    pve.get(STATUS).mock(return_value=envelope(stopped("start failed: QEMU exited with code 1")))
    lines = [{"n": i, "t": f"line {i}"} for i in range(1, 16)] + [{"n": 16, "t": ""}]
    log = pve.get(LOG).mock(return_value=envelope(list(reversed(lines))))
    with pytest.raises(TaskFailedError) as caught:
        arun(_wait(pve))
    error = caught.value
    assert error.exit_code == ExitCode.ERROR
    assert error.message == "Task qmstart on pve2 failed: start failed: QEMU exited with code 1."
    assert error.exitstatus == "start failed: QEMU exited with code 1"
    assert error.upid == UPID
    assert error.log_tail == [f"line {i}" for i in range(6, 16)]
    assert error.to_dict()["error"]["details"]["log_tail"] == error.log_tail
    assert log.call_count == 1


def test_a_task_still_running_at_the_timeout_is_exit_8():
    pve = router()
    status = pve.get(STATUS).mock(return_value=envelope(running()))
    with pytest.raises(TaskTimeout) as caught:
        arun(_wait(pve, timeout=0))
    assert caught.value.exit_code == ExitCode.TIMEOUT
    assert caught.value.upid == UPID
    assert "still running" in caught.value.message
    assert status.call_count == 1
