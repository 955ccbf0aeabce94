"""The generic resource pipeline: every non-guest kind of the registry read, stored, imported, planned, applied.

Nothing here names a kind: each step asks the registry for the kinds and each kind for its paths, model,
diff and requests. Guests keep their own path (services/plan, services/apply); plan, apply, sync and
validate call in here for everything else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.models import ResourceChange
from proxmox_mpc.core.plan import Change, Plan, make_plan
from proxmox_mpc.errors import ConfigError, Conflict, ManifestError
from proxmox_mpc.kinds import registry
from proxmox_mpc.kinds.base import ANY_GUEST, Resource, ResourceKind, ResourceManifest, text
from proxmox_mpc.kinds.plan import described_addresses, diff_resources, guest_actions, missing_references

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient
    from proxmox_mpc.context import AppContext
    from proxmox_mpc.services.manifests import Loaded, LoadedResource, Problem
    from proxmox_mpc.services.observe import Needs
    from proxmox_mpc.state.lite import LiteStore
    from proxmox_mpc.state.resources import ResourceChangeRecord, ResourceRecord
    from proxmox_mpc.state.store import Store

# kind prefix -> its resources; a kind missing here could not be read (no right to list it).
Observed = dict[str, list[Resource]]


# ----------------------------------------------------------------------------- reading


async def observe_resources(
    api: ProxmoxClient, kinds: Iterable[ResourceKind] | None = None, described: Iterable[str] = ()
) -> Observed:
    """Read every non-guest kind's paths concurrently (GETs only); a kind pmpc may not list is left out.

    Per-guest paths are read for the guests whose resources `described` names (configs are not read).

    Raises:
        PmpcError: a read failed for another reason than a missing permission.
    """
    from proxmox_mpc.services.observe import Needs, listed, observe, with_kinds

    chosen = list(kinds) if kinds is not None else list(registry.resource_kinds())
    needs = Needs(configs=False, described=frozenset(described))
    observation = await observe(api, with_kinds(needs, chosen))
    return listed(observation, chosen)


def compare_needs(items: Sequence[LoadedResource]) -> Needs:
    """Return what plan, validate and destroy read: every kind, and the per-guest paths of what `items` describe."""
    import dataclasses

    from proxmox_mpc.services.observe import COMPARE

    return dataclasses.replace(COMPARE, described=frozenset(described_addresses(i.manifest for i in items)))


async def list_resources(app_ctx: AppContext, prefix: str) -> list[dict[str, Any]]:
    """Return the resources of one kind as the rows `pmpc <kind> list` prints (a live read).

    Raises:
        AuthError: pmpc may not list them.
    """
    from proxmox_mpc.services.connection import connect

    kind = registry.resource_kind(prefix)
    assert kind is not None
    async with connect(app_ctx) as api:
        items = await api.get(kind.reads[0])
    return [kind.row(r) for r in kind.from_api(items if isinstance(items, list) else [])]


async def get_resource(app_ctx: AppContext, prefix: str, ident: str) -> dict[str, Any]:
    """Return one resource of a kind as `pmpc <kind> get` prints it.

    Raises:
        NotFound: there is no such resource (exit 6).
    """
    from proxmox_mpc.errors import NotFound

    for row in await list_resources(app_ctx, prefix):
        if row["id"] == ident:
            return row
    raise NotFound(f"No {prefix} {ident!r} in the cluster.")


# ----------------------------------------------------------------------------- validate and plan


def reference_problems(
    items: Sequence[Loaded], observed: Observed | None, described: Iterable[str], guests: Iterable[str] | None = None
) -> list[Problem]:
    """Return a problem for each reference to a resource (or guest) that neither exists nor is described.

    `guests` are the addresses of the guests that exist (`vm/101`); None: references to guests are not judged.
    """
    if observed is None:
        return []
    by_manifest = {id(item.manifest): item for item in items}
    problems = []
    for manifest, ref in missing_references([i.manifest for i in items], observed, described, guests):
        name = ref.address.split("/", 1)[1]
        if ref.kind == ANY_GUEST:
            what = f"no guest {name} in the cluster or the workspace (resources/vms/, resources/cts/)"
        else:
            kind = registry.by_prefix(ref.kind)
            label = kind.name if kind is not None else ref.kind
            what = f"no {label} {name!r} in the cluster or the workspace (resources/{_folder(ref.kind)}/)"
        problems.append(by_manifest[id(manifest)].source.problem(ref.loc, what))
    return problems


def node_problems(items: Sequence[LoadedResource], nodes: Iterable[str]) -> list[Problem]:
    """Return a problem for each node a resource manifest names that the cluster does not have."""
    known = set(nodes)
    if not known:
        return []  # nodes unknown (nothing read): not judged
    problems = []
    for item in items:
        kind = registry.resource_kind(item.manifest.prefix)
        for loc, node in kind.node_references(item.manifest) if kind is not None else []:
            if node not in known:
                problems.append(
                    item.source.problem(loc, f"no node {node!r} in the cluster (nodes: {', '.join(sorted(known))})")
                )
    return problems


def _folder(prefix: str) -> str:
    kind = registry.by_prefix(prefix)
    return kind.folder if kind is not None else prefix


def plan_resources(
    items: Sequence[LoadedResource], observed: Observed, guest_changes: Sequence[Change] = ()
) -> list[Change]:
    """Return the changes of the non-guest manifests against what exists (and the guests the plan ends).

    Raises:
        ManifestError: a kind with manifests could not be read (pmpc may not list it).
    """
    try:
        return diff_resources([item.manifest for item in items], observed, guest_actions(guest_changes))
    except ValueError as exc:
        raise ManifestError(f"{exc}.") from None


def with_resources(plan: Plan, items: Sequence[LoadedResource], observed: Observed | None) -> Plan:
    """Return the plan with the changes of the non-guest manifests added (the same plan when there are none).

    Raises:
        ManifestError: a kind with manifests could not be read.
    """
    if not items:
        return plan
    changes = plan_resources(items, observed or {}, plan.changes)
    if not changes:
        return plan
    return _with_changes(plan, [*plan.changes, *changes])


def with_sent_secrets(plan: Plan, items: Sequence[LoadedResource], addresses: Sequence[str]) -> Plan:
    """Return the plan with the secrets of the named resources sent again (`--send-secrets storage/ID`).

    PVE never returns a secret, so a changed one is no difference a plan can see: this adds an update
    that carries the names of the variables (apply reads their values), or adds them to the resource's
    update. A create or replace sends them anyway.

    Raises:
        UsageError: an address no manifest of the workspace describes, or one whose manifest names no secret.
    """
    from proxmox_mpc.errors import UsageError

    by_address = {item.manifest.address: item.manifest for item in items}
    changes = list(plan.changes)
    for address in addresses:
        manifest = by_address.get(address)
        kind = registry.resource_kind(manifest.prefix) if manifest is not None else None
        if manifest is None or kind is None:
            raise UsageError(f"--send-secrets {address}: no manifest of the workspace describes it.")
        fields = kind.secret_fields(manifest)
        if not fields:
            raise UsageError(f"--send-secrets {address}: its manifest names no secret (such as password_env).")
        if not kind.secrets_on_update:
            raise UsageError(f"--send-secrets {address}: PVE takes its secrets only when it is created.")
        index = next((i for i, c in enumerate(changes) if c.address == address), None)
        if index is None:
            changes.append(kind.change(address, "update", fields))
        elif changes[index].action == "update":
            changes[index] = changes[index].model_copy(update={"fields": [*changes[index].fields, *fields]})
    return _with_changes(plan, changes)


def _with_changes(plan: Plan, changes: list[Change]) -> Plan:
    return make_plan(
        changes,
        context=plan.context,
        workspace=plan.workspace,
        created_at=plan.created_at,
        unmanaged=plan.unmanaged,
        pending_reboot=plan.pending_reboot,
    )


def destroy_changes(items: Sequence[LoadedResource], observed: Observed | None) -> list[Change]:
    """Return the deletes of the resources the manifests describe and that exist (`pmpc destroy`)."""
    changes = []
    for item in items:
        kind = registry.resource_kind(item.manifest.prefix)
        assert kind is not None
        present = {r.address: r for r in (observed or {}).get(kind.prefix, [])}
        gone = item.manifest.model_copy(update={"spec": item.manifest.spec.model_copy(update={"state": "absent"})})
        change = kind.diff(gone, present.get(item.manifest.address))
        if change is not None:
            changes.append(change)
    return changes


async def stale_resources(api: ProxmoxClient, changes: Sequence[Change]) -> list[str]:
    """Return why each non-guest change of a saved plan no longer fits what exists (empty: all fit)."""
    wanted = [c for c in changes if not c.guest]
    kinds = {k for k in (registry.resource_kind(c.kind) for c in wanted) if k is not None}
    if not kinds:
        return []
    observed = await observe_resources(api, kinds, [c.address for c in wanted])
    present = {r.address: r for items in observed.values() for r in items}
    stale = []
    for change in wanted:
        kind = registry.resource_kind(change.kind)
        assert kind is not None
        why = kind.stale(change, present.get(change.address))
        if why is not None:
            stale.append(why)
    return stale


def raise_stale(stale: Sequence[str]) -> None:
    """Refuse a saved plan whose resources changed since it was made.

    Raises:
        Conflict: one sentence naming each stale change (exit 7).
    """
    if stale:
        raise Conflict(
            "The saved plan is stale: " + "; ".join(stale) + ". Run `pmpc plan` again.",
            details={"stale": list(stale)},
        )


# ----------------------------------------------------------------------------- apply


Send = Callable[[str, PlannedRequest], Awaitable[Any]]


async def apply_resource_change(change: Change, send: Send, api: ProxmoxClient | None = None) -> None:
    """Send the requests of one non-guest change in order (`send(step, request)` journals each).

    A kind with an `applier` (a list written request by request, each checked by a fresh digest) is
    carried out by that service instead, through the same `send`.
    """
    kind = registry.resource_kind(change.kind)
    assert kind is not None
    secrets = secret_values(change)

    async def send_secrets(step: str, request: PlannedRequest) -> Any:
        # The requests that write the resource carry its secrets, read from the environment just now.
        if secrets and request.method in ("POST", "PUT"):
            request = request.model_copy(update={"params": {**request.params, **secrets}})
        return await send(step, request)

    if kind.applier is not None and api is not None:
        import importlib

        module, _, function = kind.applier.partition(":")
        await getattr(importlib.import_module(module), function)(api, change, send_secrets)
        return
    for request in kind.requests(change):
        await send_secrets("delete" if request.method == "DELETE" else change.action, request)


def secret_values(change: Change, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the API parameters of a change's secrets, read from the environment variables it names.

    Raises:
        ConfigError: a variable is not set (require_environment says so before anything is sent).
    """
    from proxmox_mpc.locations import environ as process_environ

    env = process_environ() if environ is None else environ
    kind = registry.resource_kind(change.kind)
    if kind is None:
        return {}
    found = {}
    for field, variable in kind.environment(change):
        value = env.get(variable)
        if not value:
            raise ConfigError(
                f"{change.address}: the environment variable {variable} (spec.{field}) is not set: "
                "export it, then run the command again."
            )
        found[kind.secret_params[field]] = value
    return found


def require_environment(changes: Sequence[Change], environ: Mapping[str, str] | None = None) -> None:
    """Refuse a plan whose secrets' environment variables are not all set (checked before any request).

    Raises:
        ConfigError: one sentence naming the first change and variable missing.
    """
    for change in changes:
        if not change.guest:
            secret_values(change, environ)


def refuse_in_use(changes: Sequence[Change], guests: Sequence[Any]) -> None:
    """Refuse deleting or replacing a resource that guests still use (a storage that holds their disks).

    Guests that the same plan deletes do not count: apply deletes them first.

    Raises:
        ManifestError: one sentence per resource in use, naming the guests.
    """
    gone = {c.vmid for c in changes if c.guest and c.action == "delete"}
    staying = [g for g in guests if g.vmid not in gone]
    problems = []
    for change in changes:
        kind = registry.resource_kind(change.kind) if not change.guest else None
        why = kind.in_use(change, staying) if kind is not None else None
        if why is not None:
            problems.append(why[0].upper() + why[1:] + ".")
    if problems:
        raise ManifestError("\n".join(problems))


def record_outcome(store: Store | None, cluster: str | None, change: Change, run_id: int | None) -> None:
    """Remember that pmpc created a resource (it may destroy it later), or forget one it deleted."""
    if store is None or cluster is None:
        return
    if change.action in ("create", "replace"):
        store.record_created_resource(cluster, change.kind, change.address, run_id)
    elif change.action == "delete":
        store.forget_created_resource(cluster, change.address)


# ----------------------------------------------------------------------------- sync


def diff_stored(previous: Sequence[ResourceRecord], live: Observed) -> list[ResourceChange]:
    """Return what changed from the stored resources to the live ones (kinds not read are left alone)."""
    alive = {r.address: r for r in previous if r.deleted_at is None and r.kind in live}
    changes: list[ResourceChange] = []
    for prefix, items in sorted(live.items()):
        for resource in items:
            old = alive.pop(resource.address, None)
            if old is None:
                changes.append(ResourceChange(address=resource.address, kind=prefix, change="add"))
                continue
            for key in sorted(set(old.data) | set(resource.data)):
                was, now = text(old.data.get(key)), text(resource.data.get(key))
                if was != now:
                    changes.append(
                        ResourceChange(
                            address=resource.address, kind=prefix, change="change", field=key, old=was, new=now
                        )
                    )
    changes += [ResourceChange(address=r.address, kind=r.kind, change="delete") for r in alive.values()]
    return changes


def write_resources(
    store: Store | LiteStore,
    cluster_id: int,
    live: Observed,
    changes: Sequence[ResourceChange],
    run_id: int,
    now: datetime,
) -> None:
    """Write the live resources, their deletions and history rows (inside the caller's transaction)."""
    rows = [
        {"kind": prefix, "address": r.address, "data": dict(r.data), "first_seen": now, "last_seen": now}
        for prefix, items in live.items()
        for r in items
    ]
    store.upsert_resources(cluster_id, rows)
    store.mark_resources_deleted(cluster_id, [(c.kind, c.address) for c in changes if c.change == "delete"], now)
    store.add_resource_changes(
        [
            {
                "cluster_id": cluster_id,
                "sync_run_id": run_id,
                "kind": c.kind,
                "address": c.address,
                "change": c.change,
                "field": c.field,
                "old": c.old,
                "new": c.new,
                "changed_at": now,
            }
            for c in changes
        ]
    )


def is_resource_address(ref: str) -> bool:
    """Tell whether `ref` is the address of a non-guest kind's resource (`pool/prod`)."""
    prefix, slash, rest = ref.partition("/")
    return bool(slash and rest) and registry.resource_kind(prefix) is not None


def resource_history(
    store: Store, cluster: str, address: str, *, limit: int | None = None
) -> list[ResourceChangeRecord]:
    """Return the history of one resource, oldest first.

    Raises:
        NotFound: the store never saw it.
    """
    from proxmox_mpc.errors import NotFound

    known = {r.address for r in store.current_resources(cluster, include_deleted=True)}
    if address not in known:
        raise NotFound(f"No {address} in the state store: run `pmpc sync` first, or check the name.")
    return store.resource_history(cluster, address, limit=limit)


# ----------------------------------------------------------------------------- import


def plan_resource_imports(
    root: Path, live: Mapping[str, Sequence[Resource]], described: set[str]
) -> list[tuple[Path, ResourceManifest]]:
    """Return the manifest file each resource without a manifest would get (`sync --import`).

    A resource a manifest already describes keeps it untouched; a file in the way gets the next free name.
    """
    from proxmox_mpc.services.manifests import resources_dir, safe_file_name

    planned: list[tuple[Path, ResourceManifest]] = []
    taken: set[Path] = set()
    for prefix, items in sorted(live.items()):
        kind = registry.resource_kind(prefix)
        if kind is None:
            continue
        for resource in items:
            if resource.address in described:
                continue
            base = safe_file_name(kind.file_stem(resource))
            path = resources_dir(root) / kind.folder / f"{base}.yaml"
            count = 1
            while path in taken or path.exists():
                count += 1
                path = path.with_name(f"{base}-{count}.yaml")
            taken.add(path)
            planned.append((path, kind.to_manifest(resource)))
    return planned
