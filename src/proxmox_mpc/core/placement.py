"""Node drain placement: where each guest of a node goes, by free memory (with headroom) and CPU load.

`place()` is pure: it reads the capacity of the nodes and the load of the guests and returns one
`Move` per guest of the drained node, with a target node or the reason it stays.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from proxmox_mpc.core.identity import GuestKind
from proxmox_mpc.core.normalize import is_disk_key

# The share of a node's memory a drain never fills (room for the host and for guests to grow).
DEFAULT_HEADROOM = 0.10
MIB = 1024**2


@dataclass(frozen=True)
class NodeCapacity:
    """What a node can take: memory (bytes) and CPUs, and what it already uses."""

    name: str
    online: bool
    memory_total: int
    memory_used: int
    cpus: int
    cpu_usage: float = 0.0

    def memory_limit(self, headroom: float) -> int:
        """Return the most memory guests may use on this node once `headroom` is kept free."""
        return int(self.memory_total * (1.0 - headroom))


@dataclass(frozen=True)
class GuestLoad:
    """A guest of the drained node as placement sees it."""

    ref: str
    vmid: int
    kind: GuestKind
    name: str
    running: bool
    memory: int
    cpus: float = 1.0
    cpu_usage: float = 0.0
    template: bool = False
    ha_managed: bool = False
    local_disks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Move:
    """Where one guest goes (`target`), or why it stays (`reason`)."""

    guest: GuestLoad
    target: str | None = None
    reason: str = ""
    via_ha: bool = False
    with_local_disks: bool = False


@dataclass
class _Target:
    node: NodeCapacity
    memory: int
    cpu_load: float = 0.0
    placed: list[GuestLoad] = field(default_factory=list)


def local_volumes(kind: str, config: Mapping[str, Any], shared: Collection[str]) -> tuple[str, ...]:
    """Return the guest's disks (and attached ISOs) on storages that are not shared, which block a migration."""
    found = []
    for key in sorted(config):
        if not (is_disk_key(kind, key) or key.startswith("unused")):
            continue
        volume = str(config[key]).split(",")[0]
        storage, colon, _rest = volume.partition(":")
        if colon and storage not in shared:
            found.append(volume)
    return tuple(found)


def _reason_to_stay(guest: GuestLoad, *, include_stopped: bool, with_local_disks: bool) -> str:
    if not guest.running and not include_stopped:
        what = "template" if guest.template else "stopped"
        return f"{what}: add --include-stopped to move it"
    if guest.local_disks and not with_local_disks:
        return f"local disks ({', '.join(guest.local_disks)}): add --with-local-disks to copy them"
    return ""


def place(
    guests: Sequence[GuestLoad],
    nodes: Sequence[NodeCapacity],
    *,
    source: str,
    targets: Sequence[str] | None = None,
    include_stopped: bool = False,
    with_local_disks: bool = False,
    headroom: float = DEFAULT_HEADROOM,
) -> list[Move]:
    """Place every guest of `source` on the other online nodes (or `targets`); one Move per guest, by VMID.

    Biggest guests first, each onto the node with the most memory left after it once the headroom is
    kept free, the least loaded CPUs breaking ties; a target's memory is never filled beyond its limit.
    Offline nodes and the source are never chosen. Stopped guests and templates stay unless
    `include_stopped`, guests with local disks unless `with_local_disks`.
    """
    allowed = set(targets) if targets else None
    pool = [
        _Target(node=n, memory=n.memory_used, cpu_load=n.cpu_usage * max(n.cpus, 1))
        for n in sorted(nodes, key=lambda n: n.name)
        if n.online and n.name != source and (allowed is None or n.name in allowed)
    ]
    moves: dict[int, Move] = {}
    movable: list[GuestLoad] = []
    for guest in guests:
        reason = _reason_to_stay(guest, include_stopped=include_stopped, with_local_disks=with_local_disks)
        if reason:
            moves[guest.vmid] = Move(guest, reason=reason)
        else:
            movable.append(guest)
    for guest in sorted(movable, key=lambda g: (-g.memory, g.vmid)):
        fitting = [t for t in pool if t.memory + guest.memory <= t.node.memory_limit(headroom)]
        if not fitting:
            moves[guest.vmid] = Move(guest, reason=_no_room(guest, pool, headroom))
            continue
        best = min(fitting, key=lambda t: _score(t, guest))
        best.memory += guest.memory
        best.cpu_load += guest.cpu_usage * guest.cpus
        best.placed.append(guest)
        moves[guest.vmid] = Move(
            guest, target=best.node.name, via_ha=guest.ha_managed, with_local_disks=bool(guest.local_disks)
        )
    return [moves[vmid] for vmid in sorted(moves)]


def _score(target: _Target, guest: GuestLoad) -> tuple[float, float, str]:
    """Lower is better: most memory left after the guest, then the least CPU load, then the name."""
    total = max(target.node.memory_total, 1)
    free_after = (target.node.memory_limit(0.0) - target.memory - guest.memory) / total
    cpu_after = (target.cpu_load + guest.cpu_usage * guest.cpus) / max(target.node.cpus, 1)
    return (-round(free_after, 2), round(cpu_after, 3), target.node.name)


def _no_room(guest: GuestLoad, pool: Sequence[_Target], headroom: float) -> str:
    if not pool:
        return "no other online node to move it to"
    most = max(t.node.memory_limit(headroom) - t.memory for t in pool)
    return (
        f"no node has {guest.memory // MIB} MiB free within the {headroom:.0%} headroom "
        f"(at most {max(most, 0) // MIB} MiB)"
    )
