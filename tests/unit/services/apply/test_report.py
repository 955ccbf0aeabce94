"""The error an apply with failed changes exits with: built whole, with the first failure's exit code."""

from __future__ import annotations

import pytest

from proxmox_mpc.errors import Conflict, ExitCode, PmpcError, TargetsFailed, TaskFailedError, TaskTimeout
from proxmox_mpc.services.apply.journal import task_upid
from proxmox_mpc.services.apply.report import ActionResult, failure, run_status


def result(address: str, status: str, error: str | None = None) -> ActionResult:
    return ActionResult(
        address=address, kind="vm", node="pve1", action="update", status=status, ok=status == "done", error=error
    )


def test_no_failure_no_error():
    assert failure([result("vm/a", "done")], {}) is None


def test_the_first_failure_names_the_exit_code_and_the_counts():
    results = [
        result("vm/a", "done"),
        result("vm/b", "failed", "vm/b is locked"),
        result("vm/c", "failed", "boom"),
        result("vm/d", "skipped"),
    ]
    errors: dict[str, PmpcError] = {"vm/b": Conflict("vm/b is locked"), "vm/c": PmpcError("boom")}
    error = failure(results, errors)
    assert isinstance(error, TargetsFailed)
    assert error.exit_code == ExitCode.CONFLICT
    assert error.to_dict()["error"]["kind"] == "apply_failed"
    assert error.details == {"failed": ["vm/b", "vm/c"]}
    assert error.message == (
        "Apply failed: vm/b: vm/b is locked (1 of 4 changes done, 2 failed, 1 skipped; "
        "the journal records each step)."
    )


def test_a_failure_without_its_error_exits_1():
    error = failure([result("vm/a", "failed", "gone")], {})
    assert error is not None and error.exit_code == ExitCode.ERROR


@pytest.mark.parametrize(
    ("error", "upid"),
    [
        (TaskFailedError("failed", upid="UPID:a", exitstatus="error"), "UPID:a"),
        (TaskTimeout("still running", upid="UPID:b"), "UPID:b"),
        (Conflict("locked"), None),
    ],
    ids=["failed", "timeout", "no-task"],
)
def test_task_upid(error, upid):
    assert task_upid(error) == upid


@pytest.mark.parametrize(
    ("statuses", "recorded"),
    [(["done", "done"], "ok"), (["done", "failed"], "partial"), (["failed", "skipped"], "failed"), ([], "failed")],
    ids=["all-done", "some-done", "none-done", "empty"],
)
def test_run_status(statuses, recorded):
    assert run_status([result(f"vm/{i}", s) for i, s in enumerate(statuses)]) == recorded
