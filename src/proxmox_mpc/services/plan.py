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
from proxmox_mpc.core.plan import Change, Plan
from proxmox_mpc.core.secrets import MASK
from proxmox_mpc.errors import ApiError, ApiNotFound, ConnectionFailed, StateError, UsageError
from proxmox_mpc.services.manifests import LoadedManifest, workspace_manifests
from proxmox_mpc.services.validate import ClusterFacts, facts_from_store, read_facts, require_valid

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient
    from proxmox_mpc.core.preflight import CreateFacts
    from proxmox_mpc.core.selectors import Selector
    from proxmox_mpc.state.store import Store



@dataclass
class PlanResult:
    """A plan and what it was made from."""

    plan: Plan
    manifests: list[LoadedManifest] = field(default_factory=list)
    observed: list[ObservedGuest] = field(default_factory=list)


def compose_pending(config: dict[str, Any], pending: list[dict[str, Any]] | None) -> tuple[dict[str, Any], list[str]]:
    """Return a config with its pending changes applied (what the guest will be after its next start),
    and the keys that are pending."""
    if not pending:
        return dict(config), []
    result = dict(config)
    keys = []
    for item in pending:
        key = str(item.get("key"))
        if key == "digest":
            continue
        if item.get("delete"):
            if "value" in item:
                keys.append(key)
            result.pop(key, None)
        elif "pending" in item:
            if str(item.get("value")) != str(item["pending"]):
                keys.append(key)
            result[key] = item["pending"]
    return result, sorted(keys)


async def effective_config(
    api: ProxmoxClient, node: str, gtype: str, vmid: int, status: str | None
) -> tuple[dict[str, Any], list[str]]:
    """Read a guest's config with its pending values applied, and which keys are pending.

    The rule `plan`, `pmpc test` and `sync` (hence `state drift`) share: a value that waits for the
    guest's next start counts as applied. PVE's GET /config already folds pending values in (its
    `current` parameter defaults to 0), which is what `sync` and `test` read; `plan` also reads a VM's
    /pending (a running container's too) to name the keys that are pending, whatever the power state.

    Raises:
        ApiNotFound: the guest is gone.
    """
    read_pending = gtype == "qemu" or status == "running"
    if read_pending:
        config, pending = await asyncio.gather(
            api.guest_config(node, gtype, vmid), api.get(f"/nodes/{node}/{gtype}/{vmid}/pending")
        )
    else:
        config, pending = await api.guest_config(node, gtype, vmid), None
    return compose_pending(config, pending if isinstance(pending, list) else None)


async def observe_guest(api: ProxmoxClient, resource: dict[str, Any]) -> ObservedGuest | None:
    """Read one guest's config (with pending changes applied); None when it vanished."""
    gtype = str(resource.get("type"))
    vmid = int(resource.get("vmid") or str(resource.get("id", "/0")).rpartition("/")[2])
    node = str(resource.get("node"))
    try:
        merged, pending = await effective_config(api, node, gtype, vmid, str(resource.get("status") or ""))
    except ApiNotFound:
        return None
    digest = merged.pop("digest", None)
    return ObservedGuest(
        vmid=vmid,
        type=gtype,
        node=node,  # type: ignore[arg-type]
        name=str(resource.get("name") or merged.get("name") or merged.get("hostname") or vmid),
        status=str(resource.get("status") or "unknown"),
        template=bool(int(resource.get("template") or 0)),
        pool=resource.get("pool") or None,
        config={k: v for k, v in merged.items() if v != MASK},
        digest=str(digest) if digest else None,
        pending=pending,
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
    allow_destroy: Sequence[str] = (),
    backup_first: bool = False,
    backup_storage: str | None = None,
) -> PlanResult:
    """Validate the manifests, observe the cluster (or the last sync), compare, and check the plan: reads only.

    Raises:
        ManifestError: a manifest is invalid or names what the cluster lacks, a create (or a replace's
            create) would be refused, or the plan destroys a protected guest (nothing was sent).
        UsageError: a bad selector, path or --allow-destroy address.
    """
    from proxmox_mpc.services.connection import connect

    allowed = parse_allow_destroy(allow_destroy)
    chosen = parse_selector_text(selector)
    loaded = workspace_manifests(app_ctx, targets)
    templates: dict[str, set[str]] | None = None
    if offline:
        observed, facts = observed_from_store(app_ctx)
        require_valid(loaded, facts)
    else:
        async with connect(app_ctx, bulk=True) as api:
            observed = await observe_cluster(api)
            facts = await read_facts(api, observed)
            require_valid(loaded, facts)
            kept, guests = select(loaded, observed, chosen)
            plan = await build_checked_plan(app_ctx, api, kept, guests, facts, everything=observed)
    if offline:
        kept, guests = select(loaded, observed, chosen)
        plan = _build(app_ctx, kept, guests)
        check_creatable(kept, plan, create_facts(facts, observed, templates))
    if any(c.action in ("delete", "replace") for c in plan.changes):
        annotate_destroys(
            app_ctx,
            plan,
            kept,
            allowed,
            facts=facts,
            backup_first=backup_first,
            backup_storage=backup_storage,
        )
    if any(c.action == "create" for c in plan.changes):
        annotate_replaced(app_ctx, plan)
    if targets and app_ctx.workspace is not None:
        plan.unmanaged = _unmanaged_in_workspace(app_ctx, plan.unmanaged, observed)
    return PlanResult(plan=plan, manifests=kept, observed=observed)


async def build_checked_plan(
    app_ctx: AppContext,
    api: ProxmoxClient,
    loaded: Sequence[LoadedManifest],
    guests: Sequence[ObservedGuest],
    facts: ClusterFacts,
    *,
    everything: Sequence[ObservedGuest] | None = None,
) -> Plan:
    """Build the plan and run its pre-flight against the live cluster (templates listed when needed).

    Raises:
        ManifestError: a create, or a replace's create, would be refused.
    """
    plan = _build(app_ctx, loaded, guests)
    templates = await read_templates(api, plan.changes)
    check_creatable(loaded, plan, create_facts(facts, everything if everything is not None else guests, templates))
    return plan


def _build(app_ctx: AppContext, kept: Sequence[LoadedManifest], guests: Sequence[ObservedGuest]) -> Plan:
    return build_plan(
        [item.manifest for item in kept],
        guests,
        context=app_ctx.settings.context,
        workspace=workspace_label(app_ctx),
    )


# ----------------------------------------------------------------------------- pre-flight


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
        storages=facts.storages or None,
        templates=templates,
        bridges=facts.bridges or None,
        shared_bridges=set(facts.shared_bridges),
        guests=guests,
    )


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


# ----------------------------------------------------------------------------- protection and the journal


def parse_allow_destroy(values: Sequence[str]) -> set[str]:
    """Check `--allow-destroy` addresses (`vm/101`, `ct/web-1`).

    Raises:
        UsageError: an address that is not KIND/VMID or KIND/NAME.
    """
    import re

    for value in values:
        if not re.fullmatch(r"(vm|ct)/[A-Za-z0-9][A-Za-z0-9.\-]*", value):
            raise UsageError(
                f"--allow-destroy takes an address such as vm/101 or ct/web-1, not {value!r}."
            )
    return set(values)


def _store_for_reading(app_ctx: AppContext) -> Store | None:
    from proxmox_mpc.services.state import open_store_readonly

    try:
        return open_store_readonly(app_ctx)
    except StateError:
        return None


def annotate_destroys(
    app_ctx: AppContext,
    plan: Plan,
    loaded: Sequence[LoadedManifest],
    allowed: set[str],
    *,
    facts: ClusterFacts | None = None,
    backup_first: bool = False,
    backup_storage: str | None = None,
) -> None:
    """Refuse deleting or replacing a protected guest; note where each destroyed guest is backed up first.

    A guest pmpc did not create (imported, adopted) is protected unless its manifest says
    `lifecycle.allow_destroy` or the command names it with --allow-destroy; `prevent_destroy` always is.

    Raises:
        ManifestError: the plan destroys a protected guest (each one is named).
    """
    from proxmox_mpc.core.protection import protection_problem
    from proxmox_mpc.services.manifests import raise_problems

    created = created_guests(app_ctx)
    by_address = {item.manifest.address: item for item in loaded}
    problems = []
    bare: list[str] = []
    for change in plan.changes:
        if change.action not in ("delete", "replace"):
            continue
        item = by_address.get(change.address)
        manifest = item.manifest if item is not None else None
        problem = protection_problem(change, manifest, created, allowed)
        if problem is None:
            continue
        if item is None:
            bare.append(problem)
        else:
            loc: tuple[str | int, ...] = ("lifecycle",) if manifest and manifest.lifecycle else ("name",)
            problems.append(item.source.problem(loc, problem))
    if bare:
        from proxmox_mpc.errors import ManifestError

        raise ManifestError("\n".join(bare))
    raise_problems(problems)
    note_backups(plan, by_address, facts, backup_first=backup_first, backup_storage=backup_storage)


def note_backups(
    plan: Plan,
    by_address: dict[str, LoadedManifest],
    facts: ClusterFacts | None,
    *,
    backup_first: bool,
    backup_storage: str | None,
) -> None:
    """Name, on each delete and replace, the storage its vzdump goes to (--backup-first, or the manifest's).

    Raises:
        ManifestError: --backup-first without --backup-storage, and no storage on the node holds backups.
    """
    from proxmox_mpc.errors import ManifestError

    for change in plan.changes:
        if change.action not in ("delete", "replace"):
            continue
        item = by_address.get(change.address)
        lifecycle = item.manifest.lifecycle if item is not None else None
        storage = backup_storage if backup_first else None
        if storage is None and lifecycle is not None and lifecycle.backup_before_destroy:
            storage = lifecycle.backup_before_destroy
        if storage is None and backup_first:
            storage = default_backup_storage(facts, change.node)
            if storage is None:
                raise ManifestError(
                    f"{change.address}: no storage on node {change.node} holds backups, so it cannot be "
                    "backed up before it is destroyed: give --backup-storage."
                )
        change.backup = storage


def default_backup_storage(facts: ClusterFacts | None, node: str) -> str | None:
    """Return the first storage of a node whose content includes backups (None: none, or unknown)."""
    if facts is None:
        return None
    for name, content in (facts.storages.get(node) or {}).items():
        if "backup" in content:
            return name
    return None


def created_guests(app_ctx: AppContext) -> set[tuple[str, int]]:
    """Return the (type, vmid) of the guests pmpc created on this cluster (empty without a state store)."""
    from proxmox_mpc.services.state import cluster_key

    store = _store_for_reading(app_ctx)
    if store is None:
        return set()
    try:
        return store.created_guests(cluster_key(app_ctx))
    except StateError:
        return set()
    finally:
        store.close()


def annotate_replaced(app_ctx: AppContext, plan: Plan) -> None:
    """Mark each create of a guest that an unfinished replace deleted with that apply run's id."""
    from proxmox_mpc.services.state import cluster_key

    store = _store_for_reading(app_ctx)
    if store is None:
        return
    try:
        unfinished = store.unfinished_replaces(cluster_key(app_ctx))
    except StateError:
        return
    finally:
        store.close()
    for change in plan.changes:
        if change.action == "create" and change.address in unfinished:
            change.replaced_in_run = unfinished[change.address]


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


def workspace_label(app_ctx: AppContext) -> str | None:
    """Return the workspace's name (the `workspace` of a plan document)."""
    if app_ctx.workspace is None:
        return None
    from proxmox_mpc.services.workspace import workspace_name

    return workspace_name(Path(app_ctx.workspace))


def write_plan(plan: Plan, path: Path) -> None:
    """Save a plan document as JSON (atomically, following no symlink).

    Raises:
        FileWriteError: the file cannot be written (nothing is left behind).
    """
    from proxmox_mpc.safeio.files import write_file

    write_file(path, json.dumps(plan.to_document(), indent=2) + "\n")


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
    except UnicodeDecodeError as exc:
        raise ManifestError(f"The plan file {path} is not UTF-8 text.") from exc
    from proxmox_mpc.safeio.untrusted import InputLimitError, load_json

    try:
        data = load_json(text)
    except InputLimitError as exc:
        raise ManifestError(f"The plan file {path} is refused: {exc}.") from exc
    except ValueError as exc:
        if path.suffix in (".yaml", ".yml") or text.lstrip().startswith(("kind:", "---", "apiVersion:")):
            raise UsageError(
                f"{path} is a manifest, not a saved plan: apply it with `pmpc apply -f {path}` "
                "(a plan file comes from `pmpc plan --out FILE`)."
            ) from None
        raise ManifestError(f"{path} is not JSON: {exc}.") from exc
    return load_plan(data, str(path))
