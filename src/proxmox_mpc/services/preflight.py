"""Pre-flight of a plan: build it, and refuse (before anything is sent) a create the cluster would refuse."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.diff import EarlyDiffs, build_plan
from proxmox_mpc.core.manifest import AnyManifest
from proxmox_mpc.core.models import ObservedGuest
from proxmox_mpc.core.plan import Change, Plan
from proxmox_mpc.errors import ApiError
from proxmox_mpc.services.manifests import LoadedManifest
from proxmox_mpc.services.observe import ClusterFacts

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient
    from proxmox_mpc.core.preflight import CreateFacts


def build(
    app_ctx: AppContext,
    kept: Sequence[LoadedManifest],
    guests: Sequence[ObservedGuest],
    early: EarlyDiffs | None = None,
) -> Plan:
    """Compare manifests with guests: the plan, labelled with the context and the workspace (pure)."""
    return build_plan(
        [item.manifest for item in kept],
        guests,
        context=app_ctx.settings.context,
        workspace=workspace_label(app_ctx),
        early=early,
    )


async def build_checked_plan(
    app_ctx: AppContext,
    api: ProxmoxClient,
    loaded: Sequence[LoadedManifest],
    guests: Sequence[ObservedGuest],
    facts: ClusterFacts,
    *,
    everything: Sequence[ObservedGuest] | None = None,
    early: EarlyDiffs | None = None,
) -> Plan:
    """Build the plan and run its pre-flight against the live cluster (templates listed when needed).

    Raises:
        ManifestError: a create, or a replace's create, would be refused.
    """
    plan = build(app_ctx, loaded, guests, early)
    templates = await read_templates(api, plan.changes)
    check_creatable(loaded, plan, create_facts(facts, everything if everything is not None else guests, templates))
    return plan


def create_facts(
    facts: ClusterFacts | None,
    observed: Sequence[ObservedGuest],
    templates: dict[str, set[str]] | None = None,
) -> CreateFacts:
    """Return what the pre-flight checks creates against: the validate facts, the guests, the templates."""
    from proxmox_mpc.core.preflight import CreateFacts

    guests: dict[str, tuple[str, int]] = {}
    for guest in observed:
        guests[str(guest.vmid)] = (guest.type, guest.vmid)
        guests.setdefault(guest.name, (guest.type, guest.vmid))
    if facts is None:
        return CreateFacts(guests=guests, templates=templates)
    return CreateFacts(
        nodes=set(facts.nodes) or None,
        storages=with_described_storages(facts) or None,
        templates=templates,
        bridges=facts.bridges or None,
        shared_bridges=set(facts.shared_bridges),
        guests=guests,
    )


def with_described_storages(facts: ClusterFacts) -> dict[str, dict[str, set[str]]]:
    """Return each node's storages plus those the workspace's Storage manifests define (apply makes them first)."""
    from proxmox_mpc.kinds.storage import FILE_CONTENT

    described = sorted(a.split("/", 1)[1] for a in facts.described if a.startswith("storage/"))
    return {
        node: {**{name: set(FILE_CONTENT) for name in described}, **have} for node, have in facts.storages.items()
    }


async def read_templates(api: ProxmoxClient, changes: Sequence[Change]) -> dict[str, set[str]] | None:
    """List the container templates on the storages that creates name (None when none is needed)."""
    from proxmox_mpc.core.preflight import template_volumes

    wanted = sorted(template_volumes(changes))
    if not wanted:
        return None

    async def listing(node: str, storage: str) -> tuple[str, list[str] | None]:
        try:
            items = await api.storage_content(node, storage, "vztmpl")
        except ApiError:
            return node, None  # the storage check reports a missing storage; unknown is not missing
        return node, [str(i.get("volid")) for i in items]

    found: dict[str, set[str]] = {}
    unknown: set[str] = set()
    for node, volids in await asyncio.gather(*(listing(n, s) for n, s in wanted)):
        if volids is None:
            unknown.add(node)
        else:
            found.setdefault(node, set()).update(volids)
    return {node: vols for node, vols in found.items() if node not in unknown}


def check_creatable(loaded: Sequence[LoadedManifest], plan: Plan, facts: CreateFacts) -> None:
    """Refuse (before anything is sent) a create, or a replace, whose create would be refused.

    Raises:
        ManifestError: FILE:LINE:COLUMN: field: why, one a line.
    """
    from proxmox_mpc.core.preflight import create_blockers, replace_sentence
    from proxmox_mpc.services.manifests import raise_problems

    by_address = {item.manifest.address: item for item in loaded}
    problems = []
    for change in plan.changes:
        for blocker in create_blockers(change, facts):
            item = by_address.get(change.address)
            if item is None:
                continue
            forcing = [f.name for f in change.fields if f.forces_replacement]
            key = forcing[0] if change.action == "replace" and forcing else blocker.field
            message = replace_sentence(change, blocker) if change.action == "replace" else blocker.message
            problems.append(item.source.problem(field_loc(item.manifest, key), message))
    raise_problems(problems)


def field_loc(manifest: AnyManifest, key: str) -> tuple[str | int, ...]:
    """Return where in a manifest a plan field (config key or pseudo-field) is written."""
    from proxmox_mpc.core.manifest import CT_FIELD_KEYS, VM_FIELD_KEYS
    from proxmox_mpc.core.normalize import NET_RE

    spec = manifest.spec
    pseudo: dict[str, tuple[str | int, ...]] = {
        "node": ("node",),
        "state": ("spec", "state"),
        "pool": ("spec", "pool"),
        "clone": ("spec", "clone", "from"),
        "ostemplate": ("spec", "ostemplate"),
        "ssh_keys": ("spec", "ssh_keys"),
        "name": ("name",),
        "hostname": ("name",),
        "rootfs": ("spec", "rootfs"),
    }
    if key in pseudo:
        return pseudo[key]
    for attr, config_key in {**VM_FIELD_KEYS, **CT_FIELD_KEYS}.items():
        if config_key == key and hasattr(spec, attr):
            return ("spec", attr)
    for family in ("disks", "mounts", "networks"):
        for index, item in enumerate(getattr(spec, family, None) or []):
            if item.slot == key:
                return ("spec", family, index)
    if key in spec.config:
        return ("spec", "config", key)
    if getattr(spec, "cloud_init", None) is not None and not NET_RE.match(key):
        return ("spec", "cloud_init")
    return ("spec",)


def workspace_label(app_ctx: AppContext) -> str | None:
    """Return the workspace's name (the `workspace` of a plan document)."""
    if app_ctx.workspace is None:
        return None
    from proxmox_mpc.services.workspace import workspace_name

    return workspace_name(Path(app_ctx.workspace))
