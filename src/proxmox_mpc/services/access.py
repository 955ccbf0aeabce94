"""Carry out User changes: the one place a user's password is read, from the variable its manifest names.

A plan holds `password_env: NAME` (the variable's name, never its value); the value is read from the
environment here, as the create is sent, and goes nowhere else: the journal and any printed request
show `password` redacted, and nothing is stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.plan import Change
from proxmox_mpc.errors import ManifestError

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient

PASSWORD_ENV = "password_env"
StepSend = Callable[[str, PlannedRequest], Awaitable[Any]]


def with_password(request: PlannedRequest, address: str, env: dict[str, str] | None = None) -> PlannedRequest:
    """Return a request whose `password_env` parameter is replaced by the password that variable holds.

    Raises:
        ManifestError: the variable is not set (or empty): nothing is sent for this user.
    """
    name = request.params.get(PASSWORD_ENV)
    if name is None:
        return request
    if env is None:
        from proxmox_mpc.locations import environ

        env = dict(environ())
    value = env.get(str(name))
    if not value:
        raise ManifestError(
            f"{address}: password_env names {name}, which is not set: export it (the password is read only"
            " from there, as the user is created)."
        )
    params = {k: v for k, v in request.params.items() if k != PASSWORD_ENV}
    return request.model_copy(update={"params": {**params, "password": value}})


async def apply_user_change(api: ProxmoxClient, change: Change, send: StepSend) -> None:
    """Send a User change's requests, the create with the password read from its variable."""
    from proxmox_mpc.kinds.registry import resource_kind

    kind = resource_kind(change.kind)
    assert kind is not None
    requests = [with_password(r, change.address) for r in kind.requests(change)]
    for request in requests:
        await send("delete" if request.method == "DELETE" else change.action, request)
