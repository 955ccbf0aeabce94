"""Every error pmpc reports to a user, and the exit code each one maps to.

    PmpcError                      1  base; str(exc) is one sentence
    ├── UsageError                64  bad flag, argument or combination
    ├── ConfigError                1  unusable settings or contexts file
    ├── InternalError              1  a bug: an unexpected exception, reported in one line
    ├── ConnectionFailed           1  unreachable host, TLS or fingerprint failure
    ├── ConfirmationRequired       4  mutating command without a TTY and without --yes
    ├── ReadOnlyContext            5  a write through a context marked read_only
    ├── Aborted                    4  the user declined, or pressed Ctrl-C
    ├── NotFound                   6  guest, node, context, file ... does not exist
    ├── Conflict                   7  locked guest, changed digest, stale plan, held lock
    ├── OperationTimeout           8  a wait ran out (task still running)
    ├── PartialFailure             3  some targets of a batch failed
    ├── TargetsFailed           code  every target failed alike: their exit code and kind
    ├── ChangesPresent             2  plan/drift with --detailed-exitcode found changes
    ├── ManifestError              1  a manifest failed validation (file:line:col)
    ├── StateError                 1  the state store cannot be used
    ├── DemoError                  1  the demo cluster died, or a tour step failed
    ├── FileWriteError             1  a file cannot be written (disk full, read-only file system, ...)
    │   └── UnsafePathError        1  a symlink in the way, or a path that leaves its root
    └── ApiError                   1  Proxmox answered with an error (status, field errors, pve_message)
        ├── AuthError              5  401 / 403: authentication or permission denied
        ├── ApiNotFound            6  404 / "does not exist"
        ├── ApiConflict            7  digest mismatch (the config changed meanwhile)
        │   └── LockedError        7  the guest is locked (lock: its name, when PVE says it)
        └── TaskFailedError        1  a task ended in error (upid, exit status, log tail)

Each error takes its context in its constructor; nothing is attached to an instance afterwards.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    OK = 0
    ERROR = 1
    CHANGES_PRESENT = 2
    PARTIAL_FAILURE = 3
    ABORTED = 4
    AUTH = 5
    NOT_FOUND = 6
    CONFLICT = 7
    TIMEOUT = 8
    USAGE = 64


# What each exit code means, in the words of `--help` and `pmpc schema`.
EXIT_CODE_MEANINGS: dict[ExitCode, str] = {
    ExitCode.OK: "success (plan: no changes)",
    ExitCode.ERROR: "error",
    ExitCode.CHANGES_PRESENT: "changes present (--detailed-exitcode)",
    ExitCode.PARTIAL_FAILURE: "partial batch failure",
    ExitCode.ABORTED: "aborted or confirmation required without a TTY",
    ExitCode.AUTH: "authentication or permission denied (read-only context included)",
    ExitCode.NOT_FOUND: "not found",
    ExitCode.CONFLICT: "conflict (locked, digest changed, stale plan, lock held)",
    ExitCode.TIMEOUT: "timeout",
    ExitCode.USAGE: "usage error",
}


class PmpcError(Exception):
    """Base of every error reported to the user; str(exc) is one sentence."""

    exit_code: ExitCode = ExitCode.ERROR
    kind: str = "error"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON error object printed on stderr with -o json."""
        return {"error": {"kind": self.kind, "message": self.message, "details": self.details}}


class UsageError(PmpcError):
    """The command line is wrong: a bad flag, value or combination (exit 64)."""

    exit_code = ExitCode.USAGE
    kind = "usage"


class ConfigError(PmpcError):
    """pmpc.yaml, the contexts file or the environment holds something pmpc cannot use."""

    kind = "config"


class InternalError(PmpcError):
    """An unexpected exception (a bug), reported as one sentence; --debug adds the traceback."""

    kind = "internal"


class ConnectionFailed(PmpcError):
    """PVE could not be reached: DNS, refused connection, TLS or a timeout before an answer."""

    kind = "connection"


class ConfirmationRequired(PmpcError):
    """A write needs `-y` (or a terminal to ask on) and got neither."""

    exit_code = ExitCode.ABORTED
    kind = "confirmation_required"


class ReadOnlyContext(PmpcError):
    """The context is read-only and the command would write to the cluster."""

    exit_code = ExitCode.AUTH
    kind = "read_only"


class Aborted(PmpcError):
    """The user answered no at a confirmation prompt."""

    exit_code = ExitCode.ABORTED
    kind = "aborted"


class NotFound(PmpcError):
    """A guest, node, storage or file the command names does not exist."""

    exit_code = ExitCode.NOT_FOUND
    kind = "not_found"


class Conflict(PmpcError):
    """The cluster or the workspace changed under the command (a lock, a digest, a stale plan)."""

    exit_code = ExitCode.CONFLICT
    kind = "conflict"


class OperationTimeout(PmpcError):
    """A wait (for a task, a state, a lock) ran out of time."""

    exit_code = ExitCode.TIMEOUT
    kind = "timeout"


class PartialFailure(PmpcError):
    """Some targets of a batch failed and the others succeeded."""

    exit_code = ExitCode.PARTIAL_FAILURE
    kind = "partial_failure"


class TargetsFailed(PmpcError):
    """Targets failed and their errors agree: carries the exit code and kind of those errors."""

    def __init__(self, message: str, *, exit_code: int, kind: str, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.exit_code = ExitCode(exit_code)
        self.kind = kind


class ChangesPresent(PmpcError):
    """Not a failure: signals exit 2 for --detailed-exitcode; the edge prints nothing for it."""

    exit_code = ExitCode.CHANGES_PRESENT
    kind = "changes_present"


class ManifestError(PmpcError):
    """A manifest or plan file is invalid; the message names FILE:LINE:COLUMN where it can."""

    kind = "manifest"


class StateError(PmpcError):
    """The state store is missing, unreadable or at a revision pmpc cannot use."""

    kind = "state"


class DemoError(PmpcError):
    """The built-in demo cluster could not be started, reached or stopped."""

    kind = "demo"


class FileWriteError(PmpcError):
    """A file pmpc writes could not be written."""

    kind = "file"


class UnsafePathError(FileWriteError):
    """A file would be written through a symlink or outside its root."""

    kind = "unsafe_path"


class ApiError(PmpcError):
    """Proxmox answered with an error: HTTP status, its message (pve_message, as PVE wrote it), field errors."""

    kind = "api"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        field_errors: dict[str, str] | None = None,
        pve_message: str | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message, details=details)
        self.status = status
        self.field_errors = field_errors or {}
        self.pve_message = pve_message
        if self.details is None and (status is not None or self.field_errors):
            self.details = {"status": status, "errors": self.field_errors}


class AuthError(ApiError):
    """PVE refused the credentials or the permission (401/403)."""

    exit_code = ExitCode.AUTH
    kind = "auth"


class ApiNotFound(ApiError):
    """PVE answered that the object does not exist."""

    exit_code = ExitCode.NOT_FOUND
    kind = "not_found"


class ApiConflict(ApiError):
    """PVE refused a write because of a conflicting state (a lock, a changed digest)."""

    exit_code = ExitCode.CONFLICT
    kind = "conflict"


class LockedError(ApiConflict):
    """The guest is locked; `lock` names the lock (backup, migrate, ...) when PVE's message does."""

    def __init__(
        self,
        message: str,
        *,
        lock: str | None = None,
        status: int | None = None,
        field_errors: dict[str, str] | None = None,
        pve_message: str | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(
            message, status=status, field_errors=field_errors, pve_message=pve_message, details=details
        )
        self.lock = lock


class TaskFailedError(ApiError):
    """A Proxmox task ended in error; carries its UPID, exit status and the last log lines."""

    kind = "task_failed"

    def __init__(self, message: str, *, upid: str, exitstatus: str, log_tail: list[str] | None = None) -> None:
        super().__init__(
            message, details={"upid": upid, "exit_status": exitstatus, "log_tail": list(log_tail or [])}
        )
        self.upid = upid
        self.exitstatus = exitstatus
        self.log_tail = list(log_tail or [])


class TaskTimeout(OperationTimeout):
    """A task was still running when the wait ran out."""

    def __init__(self, message: str, *, upid: str) -> None:
        super().__init__(message, details={"upid": upid})
        self.upid = upid
