"""Storage use cases: the storages every node sees, what a storage holds, and a definition's replace."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.models import Storage, UtcTime, to_int
from proxmox_mpc.errors import NotFound
from proxmox_mpc.services.connection import connect

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from proxmox_mpc.api.client import ProxmoxClient
    from proxmox_mpc.core.batch import PlannedRequest
    from proxmox_mpc.core.plan import Change


class Volume(Model):
    """One item of a storage's content: an ISO, a container template, a disk image, a backup."""

    kind: Literal["volume"] = "volume"
    volid: str
    node: str
    storage: str
    content: str
    format: str | None = None
    size: int = 0
    vmid: int | None = None
    creation_time: UtcTime | None = None
    notes: str | None = None
    protected: bool = False

    @classmethod
    def from_api(cls, node: str, storage: str, raw: dict[str, Any]) -> Volume:
        seconds = to_int(raw.get("ctime"))
        return cls(
            volid=str(raw.get("volid")),
            node=node,
            storage=storage,
            content=str(raw.get("content") or ""),
            format=raw.get("format"),
            size=to_int(raw.get("size")),
            vmid=to_int(raw.get("vmid")) if raw.get("vmid") not in (None, "") else None,
            creation_time=datetime.fromtimestamp(seconds, tz=timezone.utc) if seconds else None,
            notes=raw.get("notes") or None,
            protected=bool(to_int(raw.get("protected"))),
        )


async def _online_nodes(api: ProxmoxClient, node: str | None) -> list[str]:
    listed = await api.nodes()
    known = sorted(str(n.get("node")) for n in listed)
    if node is not None:
        if node not in known:
            raise NotFound(f"No node named {node!r} in this cluster (nodes: {', '.join(known) or 'none'}).")
        return [node]
    return sorted(str(n.get("node")) for n in listed if n.get("status") == "online")


async def list_storages(app_ctx: AppContext, *, node: str | None = None) -> list[Storage]:
    """Return every storage of every online node (or of one node), sorted by name then node."""
    async with connect(app_ctx) as api:
        nodes = await _online_nodes(api, node)
        answers = await asyncio.gather(*(api.storages(n) for n in nodes))
    found = [Storage.from_api(n, raw) for n, rows in zip(nodes, answers, strict=True) for raw in rows]
    return sorted(found, key=lambda s: (s.name, s.node))


async def storage_content(
    app_ctx: AppContext, storage: str, *, node: str | None = None, content: str | None = None
) -> list[Volume]:
    """Return what a storage holds; a shared storage is read once, a local one on every node that has it.

    Raises:
        NotFound: no online node (or not the one given) has this storage.
    """
    async with connect(app_ctx) as api:
        nodes = await _online_nodes(api, node)
        listings = await asyncio.gather(*(api.storages(n) for n in nodes))
        holders: list[str] = []
        shared_seen = False
        for name, rows in zip(nodes, listings, strict=True):
            entry = next((r for r in rows if r.get("storage") == storage), None)
            if entry is None or not to_int(entry.get("active", 1)) or not to_int(entry.get("enabled", 1)):
                continue
            if to_int(entry.get("shared")):
                if shared_seen:
                    continue
                shared_seen = True
            holders.append(name)
        if not holders:
            where = f"node {node}" if node else "any online node"
            raise NotFound(f"No active storage named {storage!r} on {where}.")
        answers = await asyncio.gather(*(api.storage_content(n, storage, content) for n in holders))
    volumes = [
        Volume.from_api(n, storage, raw) for n, rows in zip(holders, answers, strict=True) for raw in rows
    ]
    return sorted(volumes, key=lambda v: (v.volid, v.node))


async def apply_storage_change(
    api: ProxmoxClient, change: Change, send: Callable[[str, PlannedRequest], Awaitable[Any]]
) -> None:
    """Carry out a Storage change; a replace re-creates the definition with the options it keeps."""
    from urllib.parse import quote

    from proxmox_mpc.kinds.storage import KIND

    requests = KIND.requests(change)
    if change.action == "replace":
        current = await api.get(f"/storage/{quote(change.address.split('/', 1)[1], safe='')}")
        requests = KIND.replace_requests(change, current if isinstance(current, dict) else {})
    for request in requests:
        await send("delete" if request.method == "DELETE" else change.action, request)
