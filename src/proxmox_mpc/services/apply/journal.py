"""The run of one apply: the client, the journal it writes every step to, and what its changes share."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.identity import is_api_guest_type
from proxmox_mpc.core.plan import Change
from proxmox_mpc.core.secrets import SHOWN, is_secret_key
from proxmox_mpc.errors import PmpcError, TaskFailedError, TaskTimeout
from proxmox_mpc.output.progress import Progress
from proxmox_mpc.services.apply.report import ActionResult, StepResult
from proxmox_mpc.services.vmids import VmidAllocator

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient
    from proxmox_mpc.state.store import Store


class ApplyRun:
    """One apply run: the client, the journal and what every action shares."""

    def __init__(
        self,
        api: ProxmoxClient,
        store: Store | None,
        run_id: int | None,
        *,
        timeout: float,
        progress: Progress | None,
        concurrency: int,
        cluster: str | None = None,
        batch: bool = False,
    ) -> None:
        self.api = api
        self.store = store
        self.run_id = run_id
        self.cluster = cluster
        self.batch = batch  # more than one change: a failed backup is a partial failure (exit 3)
        self.timeout = timeout
        self.progress = progress
        self.limit = asyncio.Semaphore(max(1, concurrency))
        self.allocator = VmidAllocator(api)
        self.nodes: dict[int, str] = {}
        self.resources: list[dict[str, Any]] = []
        self.errors: dict[str, PmpcError] = {}

    def journal(self, result: ActionResult, step: StepResult) -> None:
        """Add a step to a change's result and write it to the journal."""
        result.steps.append(step)
        self.note(result.address, step.step, step.status, step.detail, step.upid)

    def note(
        self, address: str, step: str, status: str, detail: str | None = None, upid: str | None = None
    ) -> None:
        """Write one journal row (not part of the printed report): a start, a task PVE accepted."""
        if self.store is not None and self.run_id is not None:
            self.store.journal_action(self.run_id, address, step, status, detail, upid)

    def created(self, change: Change, vmid: int) -> None:
        """Record a guest this run created (so an interrupted replace can be finished)."""
        if self.store is not None and self.cluster is not None:
            name = change.address.split("/", 1)[1]
            self.store.record_created(self.cluster, change.kind, vmid, name, self.run_id)

    def deleted(self, vmid: int) -> None:
        """Forget the record of a guest this workspace created, now deleted."""
        if self.store is not None and self.cluster is not None:
            self.store.forget_created(self.cluster, vmid)

    async def refresh(self) -> None:
        """Read the cluster's guests again: where each one is, and whether it runs."""
        self.resources = [r for r in await self.api.cluster_resources("vm") if is_api_guest_type(r.get("type"))]
        self.nodes = {int(r["vmid"]): str(r["node"]) for r in self.resources}

    async def send(
        self, result: ActionResult, step: str, request: PlannedRequest, deadline: float
    ) -> str | None:
        """Send one request, wait for its task and journal the step (its UPID as soon as PVE accepts it).

        Raises:
            PmpcError: the request or its task failed (journaled first).
        """
        from proxmox_mpc.services.tasks import send

        def accepted(upid: str) -> None:
            # Journal the task before waiting for it: after a crash the journal still names it.
            self.note(result.address, step, "started", journal_line(request), upid)

        try:
            upid = await send(
                self.api,
                request,
                target=result.address,
                deadline=deadline,
                timeout=self.timeout,
                wait=True,
                progress=self.progress,
                on_accepted=accepted,
            )
        except PmpcError as exc:
            self.journal(result, StepResult(step=step, status="failed", detail=error_text(exc), upid=task_upid(exc)))
            raise
        self.journal(result, StepResult(step=step, status="ok", detail=journal_line(request), upid=upid))
        return upid


def journal_line(request: PlannedRequest) -> str:
    """Return a request as the journal keeps it: secrets never, long values cut."""
    shown = {k: (SHOWN if is_secret_key(k) else str(v)[:80]) for k, v in request.params.items()}
    return PlannedRequest(method=request.method, path=request.path, params=shown).line()[:500]


def error_text(exc: PmpcError) -> str:
    """Return an error as the journal keeps it: its sentence, and a failed task's last log lines."""
    text = exc.message
    if isinstance(exc, TaskFailedError) and exc.log_tail:
        text += " | " + " / ".join(exc.log_tail[-3:])
    return text


def task_upid(exc: PmpcError) -> str | None:
    """Return the UPID of the task an error is about (a failed or timed-out task), else None."""
    return exc.upid if isinstance(exc, (TaskFailedError, TaskTimeout)) else None
