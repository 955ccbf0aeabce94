"""What `pmpc apply` / `pmpc destroy` report: each change's steps, the run, and the error to exit with."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Literal, TypedDict

from pydantic import Field, PrivateAttr

from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.plan import Plan
from proxmox_mpc.errors import ExitCode, PmpcError, TargetsFailed

if TYPE_CHECKING:
    from proxmox_mpc.output.progress import Progress

Confirm = Callable[[str, Sequence[str]], None]
ShowPlan = Callable[[Plan], None]
StepStatus = Literal["ok", "failed", "skipped"]


class RunOptions(TypedDict, total=False):
    """How an apply or destroy runs: the wait for the workspace lock, each change's timeout, concurrency, progress."""

    lock_timeout: float
    timeout: float
    concurrency: int | None
    progress: Progress | None


class StepResult(Model):
    """One request of an action and how it went."""

    step: str
    status: StepStatus
    detail: str | None = None
    upid: str | None = None


class ActionResult(Model):
    """What happened to one change of the plan."""

    address: str
    kind: str
    vmid: int | None = None
    node: str
    action: str
    ok: bool = False
    status: Literal["done", "failed", "skipped", "planned"] = "planned"
    error: str | None = None
    needs_reboot: bool = False
    steps: list[StepResult] = Field(default_factory=list)


class ApplyReport(Model):
    """The outcome of `pmpc apply` / `pmpc destroy`."""

    kind: str = "apply"
    dry_run: bool = False
    run_id: int | None = None
    plan: Plan
    results: list[ActionResult] = Field(default_factory=list)
    note: str | None = None

    _error: PmpcError | None = PrivateAttr(default=None)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def error(self) -> PmpcError | None:
        """Return the error to exit with when some change failed (after printing the report)."""
        return self._error


def plan_digest(plan: Plan) -> str:
    """Return a short hash of a plan's changes (recorded with the apply run)."""
    body = json.dumps([c.model_dump(mode="json") for c in plan.changes], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]



def run_status(results: Sequence[ActionResult]) -> str:
    """Return how the journal records a finished run: ok, partial (some changes done) or failed."""
    if results and all(r.ok for r in results):
        return "ok"
    return "partial" if any(r.ok for r in results) else "failed"


def failure(results: Sequence[ActionResult], errors: dict[str, PmpcError]) -> PmpcError | None:
    """Return the error an apply with failed changes exits with (the first failure's code), or None."""
    failed = [r for r in results if r.status == "failed"]
    if not failed:
        return None
    first = failed[0]
    exc = errors.get(first.address)
    done = sum(1 for r in results if r.ok)
    skipped = sum(1 for r in results if r.status == "skipped")
    message = (
        f"Apply failed: {first.address}: {first.error} ({done} of {len(results)} changes done, "
        f"{len(failed)} failed, {skipped} skipped; the journal records each step)."
    )
    return TargetsFailed(
        message,
        exit_code=exc.exit_code if exc is not None else ExitCode.ERROR,
        kind="apply_failed",
        details={"failed": [r.address for r in failed]},
    )
