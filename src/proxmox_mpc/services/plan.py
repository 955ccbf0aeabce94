"""`pmpc plan`: load and validate manifests, observe the cluster (or the last sync), build the plan."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.diff import ObservedGuest, build_plan
from proxmox_mpc.core.manifest import AnyManifest
from proxmox_mpc.core.models import Guest
from proxmox_mpc.core.plan import Plan
from proxmox_mpc.core.secrets import MASK
from proxmox_mpc.errors import ApiNotFound, ConnectionFailed, StateError, UsageError
from proxmox_mpc.services.manifests import LoadedManifest, workspace_manifests
from proxmox_mpc.services.validate import ClusterFacts, facts_from_store, read_facts, require_valid

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient
    from proxmox_mpc.core.selectors import Selector



@dataclass
class PlanResult:
    """A plan and what it was made from."""

    plan: Plan
    manifests: list[LoadedManifest] = field(default_factory=list)
    observed: list[ObservedGuest] = field(default_factory=list)


def compose_pending(config: dict[str, Any], pending: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Return a config with its pending changes applied (what the guest will be after its next start)."""
    if not pending:
        return dict(config)
    result = dict(config)
    for item in pending:
        key = str(item.get("key"))
        if key == "digest":
            continue
        if item.get("delete"):
            result.pop(key, None)
        elif "pending" in item:
            result[key] = item["pending"]
    return result


async def observe_guest(api: ProxmoxClient, resource: dict[str, Any]) -> ObservedGuest | None:
    """Read one guest's config (with pending changes applied when it runs); None when it vanished."""
    gtype = str(resource.get("type"))
    vmid = int(resource.get("vmid") or str(resource.get("id", "/0")).rpartition("/")[2])
    node = str(resource.get("node"))
    # A VM's changes that wait for its next start are compared as done: /pending has them whatever the
    # power state (PVE's own GET /config folds them in for containers, and for VMs unless current=1).
    read_pending = gtype == "qemu" or resource.get("status") == "running"
    try:
        config = await api.guest_config(node, gtype, vmid)
        pending = await api.get(f"/nodes/{node}/{gtype}/{vmid}/pending") if read_pending else None
    except ApiNotFound:
        return None
    digest = config.pop("digest", None)
    merged = compose_pending(config, pending if isinstance(pending, list) else None)
    return ObservedGuest(
        vmid=vmid,
        type=gtype,
        node=node,  # type: ignore[arg-type]
        name=str(resource.get("name") or config.get("name") or config.get("hostname") or vmid),
        status=str(resource.get("status") or "unknown"),
        template=bool(int(resource.get("template") or 0)),
        pool=resource.get("pool") or None,
        config={k: v for k, v in merged.items() if v != MASK},
        digest=str(digest) if digest else None,
    )


async def observe_cluster(api: ProxmoxClient) -> list[ObservedGuest]:
    """Read every guest with its config, concurrently (GETs only).

    Raises:
        ConnectionFailed: a node with guests is offline (plan with --offline against the last sync).
    """
    nodes, resources = await asyncio.gather(api.nodes(), api.cluster_resources("vm"))
    offline = {str(n.get("node")) for n in nodes if n.get("status") != "online"}
    guests = [r for r in resources if r.get("type") in ("qemu", "lxc")]
    unreachable = sorted({str(r.get("node")) for r in guests if str(r.get("node")) in offline})
    if unreachable:
        raise ConnectionFailed(
            f"Node(s) {', '.join(unreachable)} are offline, so their guests cannot be compared: "
            "bring them back, or plan against the last sync with --offline."
        )
    found = await asyncio.gather(*(observe_guest(api, r) for r in guests))
    return sorted((g for g in found if g is not None), key=lambda g: g.vmid)


def observed_from_store(app_ctx: AppContext) -> tuple[list[ObservedGuest], ClusterFacts]:
    """Return the guests (and nodes, storages) of the last sync, reading the store only.

    Raises:
        StateError: there is no state database, or no sync of this cluster yet.
    """
    from proxmox_mpc.services.state import cluster_key, open_store_readonly

    store = open_store_readonly(app_ctx)
    if store is None:
        raise StateError("No state database yet: run `pmpc sync` before `pmpc plan --offline`.")
    try:
        cluster = cluster_key(app_ctx)
        if store.last_sync(cluster) is None:
            raise StateError(
                f"No sync of {cluster} in the state store: run `pmpc sync` before planning offline."
            )
        records = store.current_guests(cluster)
        facts = facts_from_store(store.nodes(cluster), store.storages(cluster))
    finally:
        store.close()
    observed = [
        ObservedGuest(
            vmid=r.vmid,
            type=r.type,
            node=r.node,
            name=r.name,
            status=r.status,
            template=r.template,
            pool=r.pool,
            config={k: v for k, v in r.config.items() if v != MASK},
            digest=r.digest,
        )
        for r in records
    ]
    return observed, facts


def manifest_guest(manifest: AnyManifest) -> Guest:
    """Return the guest a manifest describes, for selectors (`-l tag=web`)."""
    kind = "vm" if manifest.kind == "VM" else "ct"
    return Guest(
        kind=kind,
        type=manifest.type,
        vmid=manifest.vmid or 0,
        name=manifest.name,  # type: ignore[arg-type]
        node=manifest.node,
        status=manifest.spec.state or "unknown",
        template=bool(manifest.spec.template),
        tags=list(manifest.spec.tags or []),
        pool=manifest.spec.pool,
    )


def observed_guest(guest: ObservedGuest) -> Guest:
    """Return an observed guest as a core Guest, for selectors."""
    from proxmox_mpc.core.models import split_tags

    return Guest(
        kind=guest.kind,
        type=guest.type,
        vmid=guest.vmid,
        name=guest.name,  # type: ignore[arg-type]
        node=guest.node,
        status=guest.status,
        template=guest.template,
        tags=split_tags(guest.config.get("tags")),
        pool=guest.pool,
    )


def select(
    loaded: Sequence[LoadedManifest], observed: Sequence[ObservedGuest], selector: Selector | None
) -> tuple[list[LoadedManifest], list[ObservedGuest]]:
    """Keep the manifests (and guests) a selector picks: by what the manifest asks or what the guest is."""
    if not selector:
        return list(loaded), list(observed)
    by_vmid = {g.vmid: g for g in observed}
    by_name: dict[tuple[str, str], ObservedGuest] = {(g.type, g.name): g for g in observed}
    kept: list[LoadedManifest] = []
    kept_guests: dict[int, ObservedGuest] = {}
    for item in loaded:
        m = item.manifest
        guest = by_vmid.get(m.vmid) if m.vmid is not None else by_name.get((m.type, m.name))
        if selector.matches(manifest_guest(m)) or (
            guest is not None and selector.matches(observed_guest(guest))
        ):
            kept.append(item)
            if guest is not None:
                kept_guests[guest.vmid] = guest
    for guest in observed:
        if selector.matches(observed_guest(guest)):
            kept_guests.setdefault(guest.vmid, guest)
    # Guests claimed by a manifest left out by the selector are neither planned nor "unmanaged".
    claimed_elsewhere = set()
    for item in loaded:
        if item in kept:
            continue
        m = item.manifest
        guest = by_vmid.get(m.vmid) if m.vmid is not None else by_name.get((m.type, m.name))
        if guest is not None:
            claimed_elsewhere.add(guest.vmid)
    return kept, [g for v, g in sorted(kept_guests.items()) if v not in claimed_elsewhere]


def parse_selector_text(text: str | None) -> Selector | None:
    """Parse `-l` (None when absent).

    Raises:
        UsageError: a malformed selector.
    """
    if text is None:
        return None
    from proxmox_mpc.core.selectors import parse_selector

    return parse_selector(text)


async def compute_plan(
    app_ctx: AppContext,
    *,
    targets: Sequence[str] = (),
    selector: str | None = None,
    offline: bool = False,
) -> PlanResult:
    """Validate the manifests, observe the cluster (or the last sync) and compare: reads only.

    Raises:
        ManifestError: a manifest is invalid or names what the cluster lacks (nothing was sent).
        UsageError: a bad selector or path.
    """
    from proxmox_mpc.services.connection import connect

    chosen = parse_selector_text(selector)
    loaded = workspace_manifests(app_ctx, targets)
    if offline:
        observed, facts = observed_from_store(app_ctx)
        require_valid(loaded, facts)
    else:
        async with connect(app_ctx, bulk=True) as api:
            observed = await observe_cluster(api)
            facts = await read_facts(api, observed)
        require_valid(loaded, facts)
    kept, guests = select(loaded, observed, chosen)
    _check_creatable(kept, observed)
    plan = build_plan(
        [item.manifest for item in kept],
        guests,
        context=app_ctx.settings.context,
        workspace=workspace_label(app_ctx),
    )
    if targets and app_ctx.workspace is not None:
        plan.unmanaged = _unmanaged_in_workspace(app_ctx, plan.unmanaged, observed)
    return PlanResult(plan=plan, manifests=kept, observed=observed)


def _unmanaged_in_workspace(
    app_ctx: AppContext, listed: list[str], observed: Sequence[ObservedGuest]
) -> list[str]:
    """Drop from `unmanaged` the guests other workspace manifests describe (a plan of some files only)."""
    from proxmox_mpc.core.diff import match_guests
    from proxmox_mpc.errors import ManifestError

    try:
        everything = workspace_manifests(app_ctx)
        _, rest = match_guests([item.manifest for item in everything], observed)
    except ManifestError:
        return listed  # another manifest is broken: keep the plain listing
    free = {f"{g.ref} ({g.name})" for g in rest}
    return [ref for ref in listed if ref in free]


def _check_creatable(loaded: Sequence[LoadedManifest], observed: Sequence[ObservedGuest]) -> None:
    """Refuse (before anything is sent) a container to create that says neither what to create it from."""
    from proxmox_mpc.core.diff import match_guests
    from proxmox_mpc.core.manifest import CtManifest
    from proxmox_mpc.services.manifests import raise_problems

    pairs, _ = match_guests([item.manifest for item in loaded], observed)
    problems = []
    for item, (manifest, guest) in zip(loaded, pairs, strict=True):
        creating = guest is None or guest.type != manifest.type
        if not creating or manifest.spec.state == "absent" or not isinstance(manifest, CtManifest):
            continue
        if manifest.spec.ostemplate is None and manifest.spec.clone is None:
            problems.append(
                item.source.problem(("spec",), "creating a container needs spec.ostemplate (or spec.clone)")
            )
    raise_problems(problems)


def workspace_label(app_ctx: AppContext) -> str | None:
    """Return the workspace's name (the `workspace` of a plan document)."""
    if app_ctx.workspace is None:
        return None
    from proxmox_mpc.services.workspace import workspace_name

    return workspace_name(Path(app_ctx.workspace))


def write_plan(plan: Plan, path: Path) -> None:
    """Save a plan document as JSON.

    Raises:
        UsageError: the file cannot be written.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(plan.to_document(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"Cannot write the plan to {path}: {exc.strerror or exc}.") from exc


def read_plan(path: Path) -> Plan:
    """Read a saved plan document.

    Raises:
        NotFound: no such file.
        ManifestError: not a plan document of a known format.
    """
    from proxmox_mpc.core.plan import load_plan
    from proxmox_mpc.errors import ManifestError, NotFound

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise NotFound(f"No plan file {path}.") from exc
    except OSError as exc:
        raise UsageError(f"Cannot read the plan file {path}: {exc.strerror or exc}.") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        if path.suffix in (".yaml", ".yml") or text.lstrip().startswith(("kind:", "---", "apiVersion:")):
            raise UsageError(
                f"{path} is a manifest, not a saved plan: apply it with `pmpc apply -f {path}` "
                "(a plan file comes from `pmpc plan --out FILE`)."
            ) from None
        raise ManifestError(f"{path} is not JSON: {exc}.") from exc
    return load_plan(data, str(path))
