"""Which guests a command means: the cluster's guests in one read, filtered, and targets resolved by VMID or name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.identity import GuestKind, is_api_guest_type
from proxmox_mpc.core.models import Guest
from proxmox_mpc.core.selectors import Selector
from proxmox_mpc.errors import NotFound, UsageError
from proxmox_mpc.services.connection import connect

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient

NOUN: dict[GuestKind, str] = {"vm": "VM", "ct": "container"}
PLURAL: dict[GuestKind, str] = {"vm": "VMs", "ct": "containers"}


def read_flag_file(path: str, flag: str) -> str:
    """Return the text of a file a flag names (an SSH key, a password file).

    Raises:
        UsageError: the file cannot be read; the message names the flag.
    """
    from pathlib import Path

    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"{flag} {path}: cannot read the file ({reason}).") from exc


def guest_path(guest: Guest) -> str:
    """Return /nodes/{node}/{qemu|lxc}/{vmid}."""
    return f"/nodes/{guest.node}/{guest.type}/{guest.vmid}"


def label(guest: Guest) -> str:
    """Return how a confirmation lists a guest: `vm/101 (web-1) on pve1`."""
    return f"{guest.ref} ({guest.name}) on {guest.node}"


async def cluster_guests(api: ProxmoxClient) -> list[Guest]:
    """Return every VM and container of the cluster, from one GET /cluster/resources."""
    # One request for the whole cluster: every node's guests, their status, tags, pool and lock.
    return [Guest.from_resource(r) for r in await api.cluster_resources("vm") if is_api_guest_type(r.get("type"))]


async def check_node(api: ProxmoxClient, node: str) -> None:
    """Refuse a node the cluster does not have.

    Raises:
        NotFound: no node of that name (the message lists the nodes).
    """
    known = sorted(str(n.get("node")) for n in await api.nodes())
    if node not in known:
        raise NotFound(f"No node named {node!r} in this cluster (nodes: {', '.join(known) or 'none'}).")


def filter_guests(
    guests: Sequence[Guest],
    kind: GuestKind,
    *,
    node: str | None = None,
    status: str | None = None,
    selector: Selector | None = None,
) -> list[Guest]:
    """Return the guests of one kind that pass the list filters, sorted by VMID."""
    found = [
        g
        for g in guests
        if g.kind == kind
        and (node is None or g.node == node)
        and (status is None or g.status == status)
        and (selector is None or selector.matches(g))
    ]
    return sorted(found, key=lambda g: g.vmid)


async def list_guests(
    app_ctx: AppContext,
    kind: GuestKind,
    *,
    node: str | None = None,
    status: str | None = None,
    selector: Selector | None = None,
) -> list[Guest]:
    """Return the VMs or containers of the whole cluster (one GET /cluster/resources), filtered."""
    async with connect(app_ctx) as api:
        guests = await cluster_guests(api)
    return filter_guests(guests, kind, node=node, status=status, selector=selector)


def check_target_choice(kind: GuestKind, targets: Sequence[str], selector: Selector | None) -> None:
    """Reject a command line that names no guest, or names guests and a selector together.

    Raises:
        UsageError: no target, or targets and a selector together.
    """
    if targets and selector:
        raise UsageError("Give guests by name/VMID or a selector (-l), not both.")
    if not targets and selector is None:
        raise UsageError(f"Name at least one {NOUN[kind]} (VMID or name), or select some with -l.")


def resolve_targets(
    guests: Sequence[Guest], kind: GuestKind, targets: Sequence[str], selector: Selector | None
) -> list[Guest]:
    """Return the guests named by VMID or unique name (or matched by the selector), in order, once each.

    Raises:
        UsageError: no target, targets and a selector together, or an ambiguous name (the matches listed).
        NotFound: no guest of this kind has that VMID or name.
    """
    check_target_choice(kind, targets, selector)
    if selector is not None:
        return filter_guests(guests, kind, selector=selector)
    chosen: list[Guest] = []
    for raw in targets:
        guest = _resolve_one(guests, kind, raw)
        if guest.vmid not in {g.vmid for g in chosen}:
            chosen.append(guest)
    return chosen


def _resolve_one(guests: Sequence[Guest], kind: GuestKind, raw: str) -> Guest:
    text = raw.strip()
    if text.startswith(f"{kind}/"):
        text = text[len(kind) + 1 :]
    if text.isdigit():
        vmid = int(text)
        for guest in guests:
            if guest.vmid == vmid:
                if guest.kind != kind:
                    raise NotFound(f"{vmid} is a {NOUN[guest.kind]}, not a {NOUN[kind]}: use `pmpc {guest.kind}`.")
                return guest
        raise NotFound(f"No {NOUN[kind]} with VMID {vmid} in this cluster.")
    matches = [g for g in guests if g.kind == kind and g.name == text]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        listed = ", ".join(f"{g.ref} on {g.node}" for g in sorted(matches, key=lambda g: g.vmid))
        raise UsageError(f"The name {text!r} matches {len(matches)} {PLURAL[kind]} ({listed}): use the VMID.")
    raise NotFound(f"No {NOUN[kind]} named {text!r} in this cluster.")


async def get_guests(app_ctx: AppContext, kind: GuestKind, targets: Sequence[str]) -> list[Guest]:
    """Return the named guests.

    Raises:
        NotFound: a name or VMID is unknown.
        UsageError: a name is ambiguous.
    """
    async with connect(app_ctx) as api:
        guests = await cluster_guests(api)
    return resolve_targets(guests, kind, targets, None)


async def resolve_one(api: ProxmoxClient, kind: GuestKind, target: str) -> Guest:
    """Return the one guest a VMID or name means (reads the cluster's guests).

    Raises:
        NotFound: no such guest.
        UsageError: the name is ambiguous.
    """
    return resolve_targets(await cluster_guests(api), kind, [target], None)[0]
