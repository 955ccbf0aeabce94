"""Compare the manifests of every non-guest kind with what exists, and check references (pure).

The generic half of `plan`: each manifest is paired with the resource of its address and its kind's
`diff` says what changes. References (a guest's pool, a nested pool's parent, an HA resource's guest, a
backup job's guests) must name something that exists or that the workspace describes; apply orders
changes by them. A guest is referenced by VMID (`vm/101`, or `guest/101` when either type will do),
while a guest's plan change carries its name as address: the ordering maps one onto the other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from proxmox_mpc.core.plan import Change
from proxmox_mpc.kinds import registry
from proxmox_mpc.kinds.base import ANY_GUEST, GUEST_PREFIXES, Reference, Resource, ResourceManifest

Observed = Mapping[str, Sequence[Resource]]


def diff_resources(
    manifests: Sequence[ResourceManifest], observed: Observed, guests: Mapping[str, str] | None = None
) -> list[Change]:
    """Return the changes that make the observed resources match their manifests, by address.

    `guests` names what the plan does to guests by their VMID address (`vm/101` -> delete, replace): a
    resource that belongs to a guest the plan deletes goes with it (no change), and one that belongs
    to a guest the plan replaces is compared with nothing (PVE deletes it with the old guest).

    Raises:
        ValueError: a manifest's kind was not observed (pmpc may not read it), naming the kind's path.
    """
    changes: list[Change] = []
    for manifest in manifests:
        kind = registry.resource_kind(manifest.prefix)
        assert kind is not None
        if kind.prefix not in observed:
            raise ValueError(
                f"{manifest.address}: {kind.reads[0]} could not be read, so it cannot be compared: {kind.unread_reason}"
            )
        owner = (guests or {}).get(kind.belongs_to(manifest) or "")
        if owner == "delete":
            continue
        by_address = {r.address: r for r in observed[kind.prefix]}
        change = kind.diff(manifest, None if owner == "replace" else by_address.get(manifest.address))
        if change is not None:
            changes.append(change)
    return changes


def unmanaged_resources(manifests: Sequence[ResourceManifest], observed: Observed) -> list[str]:
    """Return the addresses of observed resources no manifest describes."""
    described = {m.address for m in manifests}
    return sorted(r.address for items in observed.values() for r in items if r.address not in described)


def references_of(manifest: Any) -> list[Reference]:
    """Return what a manifest of any kind references."""
    kind = registry.by_name(manifest.kind)
    return kind.references(manifest) if kind is not None else []


def missing_references(
    manifests: Iterable[Any], observed: Observed, described: Iterable[str], guests: Iterable[str] | None = None
) -> list[tuple[Any, Reference]]:
    """Return (manifest, reference) for every reference to a resource that neither exists nor is described.

    `guests` are the addresses of the guests that exist (`vm/101`); None: not known, so references to
    guests are not judged. A reference to a kind that was not observed (pmpc may not list it) is not judged.
    """
    present = {r.address for items in observed.values() for r in items} | set(described)
    if guests is not None:
        present |= set(guests)
    present |= {f"{ANY_GUEST}/{a.split('/', 1)[1]}" for a in present if a.split("/", 1)[0] in GUEST_PREFIXES}
    missing = []
    for manifest in manifests:
        for ref in references_of(manifest):
            judged = ref.kind in observed or (ref.kind in GUEST_PREFIXES and guests is not None)
            if judged and ref.address not in present:
                missing.append((manifest, ref))
    return missing


def described_addresses(manifests: Iterable[ResourceManifest]) -> set[str]:
    """Return the addresses the manifests make exist (all but those that ask for `state: absent`)."""
    return {m.address for m in manifests if not m.absent}


def guest_addresses(manifests: Iterable[Any]) -> set[str]:
    """Return `vm/101`, `ct/201` for the guest manifests that name their VMID (what they make exist)."""
    return {f"{m.address.split('/', 1)[0]}/{m.vmid}" for m in manifests if getattr(m, "vmid", None)}


def guest_actions(changes: Iterable[Change]) -> dict[str, str]:
    """Return what a plan does to each guest it deletes or replaces, by VMID address (`vm/101` -> delete)."""
    ending = [c for c in changes if c.guest and c.vmid is not None and c.action in ("delete", "replace")]
    return {f"{c.kind}/{c.vmid}": c.action for c in ending}


def change_references(changes: Sequence[Change]) -> Callable[[Change], list[str]]:
    """Return, for apply's ordering, what each change of a plan references.

    A reference to a guest by VMID (`vm/101`, `guest/101`) becomes the address of that guest's change.
    A guest that is deleted may be a member of a resource that goes too (PVE refuses to delete a pool
    with members), so it references every resource of the kinds guests are members of that the plan deletes.
    """
    by_vmid: dict[str, str] = {}
    for change in changes:
        if change.guest and change.vmid is not None:
            by_vmid[f"{change.kind}/{change.vmid}"] = change.address
            by_vmid[f"{ANY_GUEST}/{change.vmid}"] = change.address
    member_of = {p for k in registry.kinds() if k.guest for p in getattr(k, "member_of", ())}
    deleted = [c.address for c in changes if c.kind in member_of and c.action == "delete"]

    def references(change: Change) -> list[str]:
        kind = registry.by_prefix(change.kind)
        found = [by_vmid.get(a, a) for a in (kind.change_references(change) if kind is not None else [])]
        if change.guest and change.action in ("delete", "replace"):
            found += deleted
        return found

    return references
