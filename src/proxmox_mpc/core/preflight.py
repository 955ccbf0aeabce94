"""Pre-flight: whether the create half of a create or replace can succeed, decided before any write (pure).

A replace deletes first: if its create is then refused, the guest is gone. So a create that is known
to fail (a container with neither `ostemplate` nor `clone`, a disk without a source, an unknown node,
storage, template, bridge or clone source) blocks the whole plan before anything is sent.
What the checks are given may be partial (offline: no templates, no bridges); unknown is never a blocker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from proxmox_mpc.core import normalize as nz
from proxmox_mpc.core.plan import CLONE_FIELD, NODE_FIELD, OSTEMPLATE_FIELD, PSEUDO_FIELDS, Change


@dataclass(frozen=True)
class Blocker:
    """Why the create half of one change cannot succeed: the plan field at fault and one sentence."""

    address: str
    field: str
    message: str


@dataclass
class CreateFacts:
    """What the cluster is known to have; None (or an absent node) means unknown, never missing."""

    nodes: set[str] | None = None
    storages: Mapping[str, Mapping[str, set[str]]] | None = None  # node -> storage -> content types
    templates: Mapping[str, set[str]] | None = None  # node -> container template volume ids seen there
    bridges: Mapping[str, set[str]] | None = None  # node -> bridges
    shared_bridges: set[str] = field(default_factory=set)
    guests: Mapping[str, tuple[str, int]] | None = None  # clone source (name or VMID text) -> (type, vmid)


def _storage_problem(facts: CreateFacts, node: str, storage: str, content: str) -> str | None:
    if facts.storages is None or node not in facts.storages:
        return None
    known = facts.storages[node]
    if storage not in known:
        return f"no storage {storage!r} on node {node} (storages: {', '.join(sorted(known)) or 'none'})"
    if known[storage] and content not in known[storage]:
        return f"storage {storage!r} does not hold {content} content"
    return None


def _clone_problem(change: Change, source: str, facts: CreateFacts) -> str | None:
    if facts.guests is None:
        return None
    found = facts.guests.get(source)
    if found is None:
        return f"no guest or template {source!r} to clone"
    if change.action == "replace" and found[1] == change.vmid:
        return f"the clone source {source!r} is the guest being replaced, which the replace deletes first"
    return None


def _disk_problems(change: Change, facts: CreateFacts, cloned: bool) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    values = {f.name: f.new for f in change.fields if f.new is not None and f.name not in PSEUDO_FIELDS}
    has_volume = False
    content = "images" if change.kind == "vm" else "rootdir"
    for key, value in sorted(values.items()):
        if not nz.is_disk_key(change.kind, key):
            continue
        canon = nz.canonical(change.kind, key, value)
        if not isinstance(canon, dict) or "cdrom" in canon or "source" in canon:
            continue
        if canon.get("cloudinit"):
            if canon.get("storage"):
                problem = _storage_problem(facts, change.node, str(canon["storage"]), "images")
                if problem:
                    found.append((key, problem))
            continue
        storage = str(canon.get("storage") or "")
        has_volume = has_volume or bool(storage)
        if not cloned and "size" not in canon:
            found.append((key, "a disk to create needs a storage and a size (this one names an existing volume)"))
            continue
        problem = _storage_problem(facts, change.node, storage, content) if storage else None
        if problem:
            found.append((key, problem))
    for key, value in values.items():
        if nz.is_disk_key(change.kind, key) and nz.is_cloudinit_drive(value):
            canon = nz.canonical(change.kind, key, value)
            if isinstance(canon, dict) and not canon.get("storage") and not has_volume:
                found.append((key, "the cloud-init drive needs a storage: give cloud_init.storage"))
    return found


def _bridge_problems(change: Change, facts: CreateFacts) -> list[tuple[str, str]]:
    if facts.bridges is None or change.node not in facts.bridges:
        return []
    known = facts.bridges[change.node]
    found = []
    for item in change.fields:
        if item.new is None or not nz.NET_RE.match(item.name):
            continue
        bridge = nz.split_props(item.new)[1].get("bridge")
        if bridge and bridge not in known and bridge not in facts.shared_bridges:
            found.append(
                (item.name, f"no bridge {bridge!r} on node {change.node} (bridges: {', '.join(sorted(known))})")
            )
    return found


def create_blockers(change: Change, facts: CreateFacts | None = None) -> list[Blocker]:
    """Return why the create half of a create or replace would be refused (empty: it can go ahead)."""
    if change.action not in ("create", "replace") or not change.guest:
        return []
    facts = facts or CreateFacts()
    fields = {f.name: f.new for f in change.fields}
    problems: list[tuple[str, str]] = []
    if facts.nodes is not None and change.node not in facts.nodes:
        known = ", ".join(sorted(facts.nodes)) or "none"
        problems.append((NODE_FIELD, f"no node {change.node!r} in the cluster (nodes: {known})"))
    clone = fields.get(CLONE_FIELD)
    ostemplate = fields.get(OSTEMPLATE_FIELD)
    if clone:
        source = nz.split_props(clone)[1].get("from", "")
        problem = _clone_problem(change, source, facts)
        if problem:
            problems.append((CLONE_FIELD, problem))
    elif change.kind == "ct":
        if not ostemplate:
            problems.append((OSTEMPLATE_FIELD, "creating a container needs spec.ostemplate (or spec.clone)"))
        else:
            problems += _template_problems(change, ostemplate, facts)
    problems += _disk_problems(change, facts, cloned=bool(clone))
    problems += _bridge_problems(change, facts)
    return [Blocker(change.address, key, message) for key, message in problems]


def _template_problems(change: Change, volid: str, facts: CreateFacts) -> list[tuple[str, str]]:
    storage, _, volume = volid.partition(":")
    if not volume:
        return [(OSTEMPLATE_FIELD, f"{volid!r} is not a template volume (STORAGE:vztmpl/FILE)")]
    problem = _storage_problem(facts, change.node, storage, "vztmpl")
    if problem:
        return [(OSTEMPLATE_FIELD, problem)]
    if facts.templates is not None and change.node in facts.templates and volid not in facts.templates[change.node]:
        return [(OSTEMPLATE_FIELD, f"no container template {volid} on node {change.node}")]
    return []


def template_volumes(changes: Iterable[Change]) -> set[tuple[str, str]]:
    """Return the (node, storage) pairs whose container templates the pre-flight needs to list."""
    wanted = set()
    for change in changes:
        if change.action not in ("create", "replace") or change.kind != "ct":
            continue
        item = change.field(OSTEMPLATE_FIELD)
        if item is not None and item.new and ":" in item.new:
            wanted.add((change.node, item.new.split(":", 1)[0]))
    return wanted


def replace_sentence(change: Change, blocker: Blocker) -> str:
    """Return the one sentence for a blocked change: what it would do, and why it cannot."""
    if change.action == "replace":
        forcing = [f.name for f in change.fields if f.forces_replacement] or ["its kind"]
        return (
            f"{change.address} ({change.ref}) must be replaced ({', '.join(forcing)} forces it) but could "
            f"not be created again: {blocker.message}; nothing was changed"
        )
    return f"{change.address} cannot be created: {blocker.message}"
