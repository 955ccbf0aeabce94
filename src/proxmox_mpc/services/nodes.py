"""Node use cases: list, get, describe and raw status."""

from __future__ import annotations

import asyncio
from typing import Any

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.models import Node, NodeDescription, Storage, count_guests, to_float, to_int
from proxmox_mpc.errors import NotFound
from proxmox_mpc.services.connection import connect


async def list_nodes(app_ctx: AppContext) -> list[Node]:
    """Return every node of the cluster, sorted by name."""
    async with connect(app_ctx) as api:
        raw = await api.nodes()
    return sorted((Node.from_api(r) for r in raw), key=lambda n: n.name)


def _pick(nodes: list[Node], name: str) -> Node:
    for node in nodes:
        if node.name == name:
            return node
    known = ", ".join(n.name for n in nodes) or "none"
    raise NotFound(f"No node named {name!r} in this cluster (nodes: {known}).")


async def get_node(app_ctx: AppContext, name: str) -> Node:
    """Return one node.

    Raises:
        NotFound: the cluster has no node of that name.
    """
    return _pick(await list_nodes(app_ctx), name)


async def node_status(app_ctx: AppContext, name: str) -> dict[str, Any]:
    """Return the node's own status document (GET /nodes/{node}/status), unchanged."""
    async with connect(app_ctx) as api:
        _pick([Node.from_api(r) for r in await api.nodes()], name)
        return await api.node_status(name)


async def describe_node(app_ctx: AppContext, name: str) -> NodeDescription:
    """Compose status, versions, usage, storages and guest counts of one node."""
    async with connect(app_ctx) as api:
        node = _pick([Node.from_api(r) for r in await api.nodes()], name)
        if node.status != "online":
            resources = await api.cluster_resources("vm")
            return NodeDescription(name=node.name, status=node.status, guests=count_guests(resources, name))
        status, storages, resources = await asyncio.gather(
            api.node_status(name), api.storages(name), api.cluster_resources("vm")
        )
    cpuinfo = status.get("cpuinfo") or {}
    memory = status.get("memory") or {}
    swap = status.get("swap") or {}
    rootfs = status.get("rootfs") or {}
    kernel = status.get("current-kernel") or {}
    return NodeDescription(
        name=node.name,
        status=node.status,
        pve_version=status.get("pveversion"),
        kernel=kernel.get("release") or status.get("kversion"),
        cpu_model=cpuinfo.get("model"),
        cpus=to_int(cpuinfo.get("cpus")) or node.cpus,
        sockets=to_int(cpuinfo.get("sockets")),
        cpu_usage=to_float(status.get("cpu")) or node.cpu_usage,
        load_average=[to_float(x) for x in status.get("loadavg") or []],
        # /nodes already carries usage; the status report refines it where it has real numbers.
        memory_used=to_int(memory.get("used")) or node.memory_used,
        memory_total=to_int(memory.get("total")) or node.memory_total,
        swap_used=to_int(swap.get("used")),
        swap_total=to_int(swap.get("total")),
        rootfs_used=to_int(rootfs.get("used")) or node.disk_used,
        rootfs_total=to_int(rootfs.get("total")) or node.disk_total,
        uptime=to_int(status.get("uptime")) or node.uptime,
        storages=sorted((Storage.from_api(name, s) for s in storages), key=lambda s: s.name),
        guests=count_guests(resources, name),
    )
