"""HA rule changes carried out with a live read: PVE's rule update names the rule's type, which the plan does not."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.plan import Change

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient

StepSend = Callable[[str, PlannedRequest], Awaitable[Any]]


async def apply_rule_change(api: ProxmoxClient, change: Change, send: StepSend) -> None:
    """Carry out an HARule change; an update reads the rule first and sends its type with the new values.

    Raises:
        ApiNotFound: the rule is gone since the plan.
    """
    from proxmox_mpc.kinds.registry import resource_kind

    kind = resource_kind(change.kind)
    assert kind is not None
    for request in kind.requests(change):
        if request.method == "PUT":
            found = await api.get(request.path)
            request = request.model_copy(update={"params": {"type": found["type"], **request.params}})
        await send("delete" if request.method == "DELETE" else change.action, request)
