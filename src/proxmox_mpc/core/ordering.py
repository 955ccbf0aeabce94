"""Order a plan's changes into stages: clone sources (templates) before their clones, clones before the
deletion of their source, what a change references (a guest's pool) made before it and deleted after it;
the changes within one stage are independent and may run concurrently.
Within one guest the apply service runs config before disks, template, pool, migration and power."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from proxmox_mpc.core.normalize import split_props
from proxmox_mpc.core.plan import CLONE_FIELD, Change
from proxmox_mpc.errors import ManifestError


def clone_source(change: Change) -> str | None:
    """Return the name or VMID a create (or replace) clones from, or None."""
    item = change.field(CLONE_FIELD)
    if item is None or not item.new:
        return None
    return split_props(item.new)[1].get("from")


def _refers_to(source: str, change: Change) -> bool:
    name = change.address.split("/", 1)[1]
    return source == name or (source.isdigit() and change.vmid is not None and int(source) == change.vmid)


References = Callable[[Change], Iterable[str]]


def _reference_edges(changes: Sequence[Change], references: References, deps: dict[int, set[int]]) -> None:
    """Add the edges of references: what a change names is made before it, and deleted after it."""
    index = {change.address: j for j, change in enumerate(changes)}
    for i, change in enumerate(changes):
        for address in references(change):
            j = index.get(address)
            if j is None or j == i:
                continue
            if changes[j].action == "delete":
                deps[j].add(i)
            else:
                deps[i].add(j)


def dependencies(changes: Sequence[Change], references: References | None = None) -> dict[int, set[int]]:
    """Return, for each change's index, the indexes of the changes that must finish before it."""
    deps: dict[int, set[int]] = {i: set() for i in range(len(changes))}
    if references is not None:
        _reference_edges(changes, references, deps)
    for i, change in enumerate(changes):
        source = clone_source(change)
        if source is None or change.action not in ("create", "replace"):
            continue
        for j, other in enumerate(changes):
            if i == j or not _refers_to(source, other):
                continue
            if other.action == "delete":
                deps[j].add(i)  # clone first, then delete the source
            else:
                deps[i].add(j)  # make (or update) the source first
    return deps


def order_changes(changes: Sequence[Change], references: References | None = None) -> list[list[Change]]:
    """Return the changes in stages; every change comes after the changes it depends on.

    Raises:
        ManifestError: the clone sources (or references) form a cycle.
    """
    deps = dependencies(changes, references)
    done: set[int] = set()
    stages: list[list[Change]] = []
    while len(done) < len(changes):
        ready = [i for i in range(len(changes)) if i not in done and deps[i] <= done]
        if not ready:
            stuck = sorted(changes[i].address for i in range(len(changes)) if i not in done)
            raise ManifestError(
                f"The clone sources or references of {', '.join(stuck)} depend on each other in a cycle."
            )
        stages.append([changes[i] for i in ready])
        done.update(ready)
    return stages


def dependents(changes: Sequence[Change], failed: set[str], references: References | None = None) -> set[str]:
    """Return the addresses that (transitively) depend on a failed address and must be skipped."""
    deps = dependencies(changes, references)
    skipped = set(failed)
    grew = True
    while grew:
        grew = False
        for i, change in enumerate(changes):
            if change.address in skipped:
                continue
            if any(changes[j].address in skipped for j in deps[i]):
                skipped.add(change.address)
                grew = True
    return skipped - failed
