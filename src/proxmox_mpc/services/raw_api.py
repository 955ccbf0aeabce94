"""`pmpc api`: the raw Proxmox API (as pvesh), through the same client, auth, TLS, retries and errors."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.errors import UsageError

Method = Literal["GET", "POST", "PUT", "DELETE"]
UPID_PREFIX = "UPID:"


class PlannedRequest(Model):
    """The request `pmpc api` would send (printed on --dry-run)."""

    method: Method
    path: str
    params: dict[str, Any]


def build_request(method: Method, path: str, items: Sequence[str]) -> PlannedRequest:
    """Check PATH and parse KEY=VALUE items (a repeated key becomes a list), before any I/O.

    Raises:
        UsageError: PATH does not start with `/`, or an item is not KEY=VALUE.
    """
    if not path.startswith("/"):
        raise UsageError(f"PATH must start with '/', e.g. /nodes or /cluster/resources, not {path!r}.")
    path = "/" + path.strip("/") if path.strip("/") else "/"
    if path.startswith("/api2/json/"):
        path = path[len("/api2/json") :]
    params: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"Parameters are KEY=VALUE (e.g. type=vm), not {item!r}.")
        if key in params:
            previous = params[key]
            params[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            params[key] = value
    return PlannedRequest(method=method, path=path, params=params)


async def send(app_ctx: AppContext, request: PlannedRequest, *, wait: bool, timeout: float) -> Any:
    """Send one request and return PVE's `data`; a task's UPID is waited for unless `wait` is False.

    Raises:
        ApiError: Proxmox refused it (mapped to exit codes as for every command).
        TaskFailedError, TaskTimeout: the task it started failed or outlived `timeout`.
        ReadOnlyContext: a write through a read-only context.
    """
    from proxmox_mpc.api import tasks
    from proxmox_mpc.services.connection import connect

    async with connect(app_ctx) as api:
        if request.method in ("GET", "DELETE"):
            data = await api.request(request.method, request.path, params=request.params or None)
        else:
            data = await api.request(request.method, request.path, data=request.params)
        if wait and request.method != "GET" and isinstance(data, str) and data.startswith(UPID_PREFIX):
            await tasks.wait(api, data, timeout)
        return data
