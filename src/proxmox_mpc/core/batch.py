"""Results of a batch verb: one TargetResult per guest, and what the whole batch exits with."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from proxmox_mpc.core.modeling import Model
from proxmox_mpc.errors import ExitCode, PartialFailure, PmpcError, TargetsFailed, TaskFailedError

# The stable JSON keys of one target's result (SPEC: batch verbs with -o json).
RESULT_KEYS = ("target", "kind", "vmid", "node", "action", "ok", "changed", "upid", "error")


class PlannedRequest(Model):
    """One API request a verb sends (or, on --dry-run, would send)."""

    method: str
    path: str
    params: dict[str, Any] = Field(default_factory=dict)

    def line(self) -> str:
        """Return `POST /nodes/pve1/qemu/101/status/start key=value ...` for a human."""
        args = " ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.method} {self.path}" + (f" {args}" if args else "")


class TargetResult(Model):
    """What happened to one target of a batch verb."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    target: str
    kind: str
    vmid: int | None = None
    node: str | None = None
    action: str
    ok: bool = True
    changed: bool = True
    upid: str | None = None
    error: str | None = None
    # Human wording of the outcome (`started`, `already running`); not part of the JSON record.
    message: str = ""
    # The requests planned for this target (shown on --dry-run).
    requests: list[PlannedRequest] = Field(default_factory=list)
    # Extra UPIDs when one target ran several tasks; the last one is `upid`.
    upids: list[str] = Field(default_factory=list)
    exit_code: int = 0
    error_kind: str = ""
    log_tail: list[str] = Field(default_factory=list)

    def record(self, *, dry_run: bool = False) -> dict[str, Any]:
        """Return the stable JSON record; on dry run it also lists the requests."""
        data = {key: getattr(self, key) for key in RESULT_KEYS}
        if dry_run:
            data["dry_run"] = True
            data["requests"] = [r.model_dump(mode="json") for r in self.requests]
        return data

    def fail(self, exc: PmpcError) -> TargetResult:
        """Mark this result failed with an error, keeping its exit code and any task log tail."""
        self.ok = False
        self.changed = False
        self.error = exc.message
        self.exit_code = int(exc.exit_code)
        self.error_kind = exc.kind
        if isinstance(exc, TaskFailedError):
            self.log_tail = list(exc.log_tail)
            self.upid = self.upid or exc.upid
        return self


class BatchResult(Model):
    """Every target's result, in the order the targets were given."""

    action: str
    results: list[TargetResult] = Field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> list[TargetResult]:
        return [r for r in self.results if r.ok]

    @property
    def failed(self) -> list[TargetResult]:
        return [r for r in self.results if not r.ok]

    def records(self) -> list[dict[str, Any]]:
        """Return the JSON records of every target."""
        return [r.record(dry_run=self.dry_run) for r in self.results]

    def failure(self) -> PmpcError | None:
        """Return the error the batch exits with, or None when every target succeeded.

        One target: its own error. Several, all failing the same way: that exit code.
        Otherwise a partial failure (exit 3).
        """
        failed = self.failed
        if not failed:
            return None
        if len(self.results) == 1:
            only = failed[0]
            return TargetsFailed(
                f"{only.target}: {only.error}",
                exit_code=only.exit_code or ExitCode.ERROR,
                kind=only.error_kind or "error",
            )
        names = ", ".join(r.target for r in failed)
        codes = {r.exit_code for r in failed}
        if len(failed) == len(self.results) and len(codes) == 1:
            return TargetsFailed(
                f"All {len(failed)} targets failed: {names}.", exit_code=codes.pop() or ExitCode.ERROR, kind="error"
            )
        return PartialFailure(f"{len(failed)} of {len(self.results)} targets failed: {names}.")

