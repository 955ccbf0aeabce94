"""What a guest verb plans for one target (the requests, or why there is nothing to do) and its options."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.guest_params import Resize
from proxmox_mpc.core.models import Guest

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient

Confirm = Callable[[str, Sequence[str]], None]

# action -> (past tense for the result line, verb for the confirmation prompt)
ACTIONS: dict[str, tuple[str, str]] = {
    "start": ("started", "start"),
    "stop": ("stopped", "stop"),
    "shutdown": ("shut down", "shut down"),
    "reboot": ("rebooted", "reboot"),
    "suspend": ("suspended", "suspend"),
    "resume": ("resumed", "resume"),
    "delete": ("deleted", "delete"),
    "set": ("updated", "update the config of"),
    "resize": ("resized", "resize a disk of"),
    "migrate": ("migrated", "migrate"),
    "snapshot-create": ("snapshot created", "snapshot"),
    "snapshot-rollback": ("rolled back", "roll back"),
    "snapshot-delete": ("snapshot deleted", "delete a snapshot of"),
    "create": ("created", "create"),
    "clone": ("cloned", "clone"),
    "unlock": ("unlocked", "unlock"),
}


@dataclass
class Plan:
    """What one target needs: the requests to send, or a note that there is nothing to do."""

    guest: Guest
    requests: list[PlannedRequest] = field(default_factory=list)
    noop: str | None = None
    message: str = ""
    # A shutdown/reboot passes PVE its own timeout: give its task a moment to report after it.
    wait_grace: float = 0.0
    # How the confirmation lists this target (default: `vm/101 (web-1) on pve1`).
    label: str = ""


@dataclass
class VerbOptions:
    """The flags of a verb beyond its targets."""

    timeout: float = 300.0
    wait: bool = True
    force_stop: bool = False
    purge: bool = False
    values: dict[str, str] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)
    resize: Resize | None = None
    target_node: str | None = None
    online: bool | None = None
    with_local_disks: bool = False
    snapshot: str | None = None
    description: str | None = None
    vmstate: bool = False
    todisk: bool = False


Planner = Callable[["ProxmoxClient", Guest, VerbOptions], Awaitable[Plan]]
