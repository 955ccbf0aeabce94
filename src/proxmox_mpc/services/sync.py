"""Sync: read the whole cluster concurrently, diff it against the store, write it in one transaction."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import operator
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.identity import GuestKind
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.models import ObservedGuest, ResourceChange, to_int
from proxmox_mpc.errors import PmpcError
from proxmox_mpc.services.overlap import aside, quick_gil_handoff

# The reader (services.observe) and the kinds it reads for load while sync's first requests are on their way
# (see read_live): nothing imported here loads them.

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient
    from proxmox_mpc.kinds.base import Resource
    from proxmox_mpc.state.lite import LiteStore
    from proxmox_mpc.state.store import GuestRecord, LockInfo, Store

    # What a sync writes through: the SQLAlchemy store, or sqlite3 alone (state/lite.py).
    SyncStore = Store | LiteStore

# Guest attributes whose changes become history rows (besides every config key, as `config.KEY`).
TRACKED = ("name", "node", "status", "template", "pool", "tags", "type")


@dataclass
class ClusterSnapshot:
    """Everything one sync read from the cluster."""

    cluster_name: str | None
    nodes: list[dict[str, Any]]
    storages: list[tuple[str, dict[str, Any]]]
    guests: list[ObservedGuest]
    offline_nodes: set[str] = field(default_factory=set)
    requests: int = 0
    # Every non-guest kind of the registry, by address prefix (a kind pmpc may not list is left out).
    resources: dict[str, list[Resource]] = field(default_factory=dict)


class GuestChange(Model):
    """One difference between the store and the cluster: a guest added or deleted, or one field changed."""

    address: str
    kind: GuestKind
    vmid: int
    name: str
    change: Literal["add", "change", "delete"]
    field: str = ""
    old: str | None = None
    new: str | None = None


class PlannedManifest(Model):
    """A manifest file `sync --import --dry-run` would write, and the guest it describes."""

    path: str
    address: str


class SyncReport(Model):
    """What a sync wrote (or, with --dry-run, would write) to the store."""

    cluster: str
    cluster_name: str | None = None
    dry_run: bool = False
    guests: int = 0
    nodes: int = 0
    storages: int = 0
    added: int = 0
    changed: int = 0
    deleted: int = 0
    changes: list[GuestChange] = Field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    sync_run_id: int | None = None
    imported: list[str] = Field(default_factory=list)
    would_import: list[PlannedManifest] = Field(default_factory=list)
    not_imported: list[str] = Field(default_factory=list)
    refused: list[str] = Field(default_factory=list)
    # Resources of the other kinds (pools, ...): how many exist, and what changed since the last sync.
    resources: int = 0
    resource_changes: list[ResourceChange] = Field(default_factory=list)


# ----------------------------------------------------------------------------- reading


async def read_cluster(api: ProxmoxClient, on_config: Callable[[ObservedGuest], None] | None = None) -> ClusterSnapshot:
    """Read nodes, /cluster/resources, every online node's storages and every guest's config concurrently
    (`on_config` is called with each guest as its config arrives).

    Raises:
        PmpcError: a read failed (nothing partial is returned).
    """
    from proxmox_mpc.kinds import registry
    from proxmox_mpc.services.observe import CLUSTER_STATUS, RECORD, STORAGES, listed, observe

    observation = await observe(api, RECORD if on_config is None else dataclasses.replace(RECORD, on_config=on_config))
    return ClusterSnapshot(
        cluster_name=cluster_name(observation.reads.get(CLUSTER_STATUS.path)),
        nodes=observation.nodes,
        storages=[(node, s) for node, entries in observation.per_node(STORAGES) for s in entries or []],
        guests=observation.guests,
        offline_nodes=observation.offline,
        requests=observation.requests,
        resources=listed(observation, registry.resource_kinds()),
    )


def cluster_name(status: list[dict[str, Any]] | None) -> str | None:
    """Return the cluster's name from GET /cluster/status (None: a single node, or not allowed to read it)."""
    for entry in status or []:
        if entry.get("type") == "cluster":
            return str(entry.get("name") or "") or None
    return None


async def read_live(app_ctx: AppContext, on_config: Callable[[ObservedGuest], None] | None = None) -> ClusterSnapshot:
    """Connect and read the cluster.

    The first round's nodes and guests are asked for at once: the reader and the kinds load in a worker
    thread while the connection is made and those answers come, rather than before.
    """
    from proxmox_mpc.services.connection import connect

    async with connect(app_ctx, bulk=True) as api:
        api.prefetch("/nodes")
        api.prefetch("/cluster/resources", type="vm")
        with quick_gil_handoff():
            await aside(_load_reader)
        return await read_cluster(api, on_config)


def _load_reader() -> None:
    """Import the reader and every kind it reads for (a worker thread's work: see read_live)."""
    from proxmox_mpc.kinds import registry
    from proxmox_mpc.services import observe  # noqa: F401 - its module constants name the kinds' reads

    registry.kinds()


# ----------------------------------------------------------------------------- diff (pure)


def value_text(value: Any) -> str | None:
    """Return a value as history stores it: text, None for absent, lists `;`-joined."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _attrs(obj: Any) -> dict[str, str | None]:
    return {
        "name": value_text(obj.name),
        "node": value_text(obj.node),
        "status": value_text(obj.status),
        "template": value_text(bool(obj.template)),
        "pool": value_text(obj.pool),
        "tags": value_text(list(obj.tags)),
        "type": value_text(obj.type),
    }


# The TRACKED attributes as they are (see _attrs for their texts).
_tracked = operator.attrgetter(*TRACKED)


def diff_guests(previous: Sequence[GuestRecord], live: Sequence[ObservedGuest]) -> list[GuestChange]:
    """Return what changed from the stored guests (deleted ones included) to the live ones, by VMID."""
    alive = {g.vmid: g for g in previous if g.deleted_at is None}
    changes: list[GuestChange] = []
    seen: set[int] = set()
    for guest in live:
        seen.add(guest.vmid)
        base = {"address": guest.ref, "kind": guest.kind, "vmid": guest.vmid, "name": guest.name}
        old = alive.get(guest.vmid)
        if old is None:
            changes.append(GuestChange(**base, change="add"))
            continue
        if _tracked(old) != _tracked(guest):  # equal values have equal texts: most guests stop here
            before, after = _attrs(old), _attrs(guest)
            for key in TRACKED:
                if before[key] != after[key]:
                    changes.append(
                        GuestChange(**base, change="change", field=key, old=before[key], new=after[key])
                    )
        if guest.unread or old.config == guest.config:
            continue  # its node is offline (the stored config stands), or nothing in it changed
        for key in sorted(set(old.config) | set(guest.config)):
            was, now = value_text(old.config.get(key)), value_text(guest.config.get(key))
            if was != now:
                changes.append(GuestChange(**base, change="change", field=f"config.{key}", old=was, new=now))
    for vmid, old in sorted(alive.items()):
        if vmid not in seen:
            changes.append(
                GuestChange(address=old.ref, kind=old.kind, vmid=vmid, name=old.name, change="delete")
            )
    return changes


def count_changes(changes: Sequence[GuestChange]) -> tuple[int, int, int]:
    """Return (guests added, guests changed, guests deleted)."""
    added = sum(1 for c in changes if c.change == "add")
    deleted = sum(1 for c in changes if c.change == "delete")
    changed = len({c.vmid for c in changes if c.change == "change"})
    return added, changed, deleted


# ----------------------------------------------------------------------------- writing


def write_snapshot(
    store: SyncStore,
    cluster_id: int,
    snapshot: ClusterSnapshot,
    previous: Sequence[GuestRecord],
    changes: Sequence[GuestChange],
    run_id: int,
    now: datetime,
) -> None:
    """Write nodes, storages, guests, deletions and history rows (inside the caller's transaction)."""
    _write_nodes(store, cluster_id, snapshot, now)
    _write_storages(store, cluster_id, snapshot, now)
    prior_guests = {g.vmid: g for g in previous}
    rows, seen = [], []
    for guest in snapshot.guests:
        prior = prior_guests.get(guest.vmid)
        # A guest stored just as it is now only gets its last_seen: its config is not serialised again.
        if stored_as_is(guest, prior):
            seen.append(guest.vmid)
        else:
            rows.append(guest_row(guest, prior, now))
    store.upsert_guests(cluster_id, rows)
    store.mark_guests_seen(cluster_id, seen, now)
    store.mark_guests_deleted(cluster_id, [c.vmid for c in changes if c.change == "delete"], now)
    store.add_changes([change_row(cluster_id, run_id, c, now) for c in changes])


def _first_seen(prior: Any, now: datetime) -> datetime:
    """Return when a node, storage or guest was first seen: kept while it lives, reset when it comes back."""
    return prior.first_seen if prior is not None and prior.deleted_at is None else now


def _write_nodes(store: SyncStore, cluster_id: int, snapshot: ClusterSnapshot, now: datetime) -> None:
    stored = {n.name: n for n in store.nodes_of(cluster_id)}
    rows = [node_row(cluster_id, raw, stored.get(str(raw.get("node"))), now) for raw in snapshot.nodes]
    store.upsert_nodes(cluster_id, rows)
    live = {r["name"] for r in rows}
    gone = [name for name, r in stored.items() if name not in live and r.deleted_at is None]
    store.mark_nodes_deleted(cluster_id, gone, now)


def _write_storages(store: SyncStore, cluster_id: int, snapshot: ClusterSnapshot, now: datetime) -> None:
    stored = {(s.node, s.name): s for s in store.storages_of(cluster_id)}
    rows = [
        storage_row(cluster_id, node, raw, stored.get((node, str(raw.get("storage") or ""))), now)
        for node, raw in snapshot.storages
    ]
    store.upsert_storages(cluster_id, rows)
    live = {(r["node"], r["name"]) for r in rows}
    # A storage of an offline node was not listed: it is unknown, not gone.
    gone = [
        key
        for key, s in stored.items()
        if key not in live and s.deleted_at is None and key[0] not in snapshot.offline_nodes
    ]
    store.mark_storages_deleted(cluster_id, gone, now)


def node_row(cluster_id: int, raw: dict[str, Any], prior: Any, now: datetime) -> dict[str, Any]:
    """Return the store row of a /nodes entry."""
    return {
        "cluster_id": cluster_id,
        "name": str(raw.get("node")),
        "status": str(raw.get("status") or "unknown"),
        "cpus": to_int(raw.get("maxcpu")),
        "memory_total": to_int(raw.get("maxmem")),
        "disk_total": to_int(raw.get("maxdisk")),
        "ssl_fingerprint": raw.get("ssl_fingerprint"),
        "first_seen": _first_seen(prior, now),
        "last_seen": now,
        "deleted_at": None,
    }


def storage_row(cluster_id: int, node: str, raw: dict[str, Any], prior: Any, now: datetime) -> dict[str, Any]:
    """Return the store row of a node's storage entry."""
    return {
        "cluster_id": cluster_id,
        "node": node,
        "name": str(raw.get("storage") or ""),
        "type": str(raw.get("type") or ""),
        "content": ",".join(sorted(c for c in str(raw.get("content") or "").split(",") if c)),
        "shared": bool(to_int(raw.get("shared", 0))),
        "enabled": bool(to_int(raw.get("enabled", 1))),
        "active": bool(to_int(raw.get("active", 1))),
        "total": to_int(raw.get("total")),
        "used": to_int(raw.get("used")),
        "available": to_int(raw.get("avail")),
        "first_seen": _first_seen(prior, now),
        "last_seen": now,
        "deleted_at": None,
    }


def stored_as_is(guest: ObservedGuest, prior: GuestRecord | None) -> bool:
    """Whether the store holds a guest's row just as `guest_row` would write it now (but for last_seen).

    Field by field what comparing `guest_row(prior, prior, now)` with `guest_row(guest, prior, now)` says,
    without building either row (a guest of an offline node keeps its stored config and digest).
    """
    if prior is None or prior.deleted_at is not None:
        return False
    return (
        guest.vmid == prior.vmid
        and guest.kind == prior.kind
        and guest.node == prior.node
        and guest.name == prior.name
        and guest.status == prior.status
        and guest.tags == prior.tags
        and guest.pool == prior.pool
        and guest.template == prior.template
        and guest.lock == prior.lock
        and guest.cpus == prior.cpus
        and guest.memory == prior.memory
        and guest.disk_size == prior.disk_size
        and (guest.unread or (guest.digest == prior.digest and guest.config == prior.config))
    )


def guest_row(guest: ObservedGuest, prior: GuestRecord | None, now: datetime) -> dict[str, Any]:
    """Return the store row of an observed guest (a guest of an offline node keeps its stored config)."""
    known = prior if prior is not None and prior.deleted_at is None else None
    config, digest = guest.config, guest.digest
    if guest.unread:
        config, digest = (known.config, known.digest) if known is not None else ({}, None)
    return {
        "vmid": guest.vmid,
        "kind": guest.kind,
        "node": guest.node,
        "name": guest.name,
        "status": guest.status,
        "tags": ";".join(guest.tags),
        "pool": guest.pool,
        "template": guest.template,
        "lock": guest.lock,
        "cpus": guest.cpus,
        "memory": guest.memory,
        "disk_size": guest.disk_size,
        "config": config,
        "digest": digest,
        "first_seen": _first_seen(prior, now),
        "last_seen": now,
        "deleted_at": None,
    }


def change_row(cluster_id: int, run_id: int, change: GuestChange, now: datetime) -> dict[str, Any]:
    """Return the history row of one change a sync saw."""
    return {
        "cluster_id": cluster_id,
        "sync_run_id": run_id,
        "vmid": change.vmid,
        "kind": change.kind,
        "guest_name": change.name,
        "change": change.change,
        "field": change.field,
        "old": change.old,
        "new": change.new,
        "changed_at": now,
    }


# ----------------------------------------------------------------------------- the use case


async def sync_cluster(
    app_ctx: AppContext,
    *,
    dry_run: bool = False,
    lock_timeout: float = 0.0,
    import_manifests: bool = False,
    on_lock_wait: Callable[[LockInfo | None], None] | None = None,
) -> SyncReport:
    """Read the cluster and record it in the store in one transaction (with --dry-run: only report).

    Raises:
        Conflict: the workspace lock is held by someone else (exit 7).
        PmpcError: reading the cluster or writing the store failed; the store is left as it was.
    """
    from proxmox_mpc.services.database import cluster_key, open_sync_store, workspace_lock_name
    from proxmox_mpc.state.basics import utcnow

    cluster = cluster_key(app_ctx)
    workspace = str(app_ctx.workspace) if app_ctx.workspace else None
    clock = time.monotonic()
    if dry_run:
        return await _dry_run(app_ctx, cluster, clock, import_manifests=import_manifests)

    store = open_sync_store(app_ctx)
    builder = None
    try:
        with store.workspace_lock(workspace_lock_name(app_ctx), "pmpc sync", lock_timeout, on_lock_wait):
            started = utcnow()
            # An import builds each guest's manifest while the other configs are still on their way.
            builder = _import_builder(app_ctx) if import_manifests else None
            stored = StoredGuests(store, cluster)
            try:
                with quick_gil_handoff():
                    snapshot = await read_live(app_ctx, builder)
                earlier = await stored.read()
            except PmpcError as exc:
                with contextlib.suppress(PmpcError):
                    await stored.read()  # the read's error is the one to report
                _record_failure(store, cluster, workspace, started, exc)
                raise
            finally:
                stored.wait()  # also when cancelled: the lock's release below uses the connection
            from proxmox_mpc.services.resources import diff_stored, write_resources  # loads the kinds: after the reads

            with store.transaction():
                cid = store.cluster_id(
                    cluster, create=True, name=snapshot.cluster_name, context=app_ctx.settings.context
                )
                assert cid is not None
                store.lock_cluster(cid)
                previous = stored.current(earlier)
                changes = diff_guests(previous, snapshot.guests)
                resource_changes = diff_stored(store.current_resources(cluster), snapshot.resources)
                run_id = store.start_sync_run(cid, workspace, started)
                now = utcnow()
                write_snapshot(store, cid, snapshot, previous, changes, run_id, now)
                write_resources(store, cid, snapshot.resources, resource_changes, run_id, now)
                added, changed, deleted = count_changes(changes)
                store.finish_sync_run(
                    run_id,
                    status="ok",
                    guests=len(snapshot.guests),
                    added=added,
                    changed=changed,
                    deleted=deleted,
                    requests=snapshot.requests,
                )
            report = _report(cluster, snapshot, changes, clock, dry_run=False)
            report.sync_run_id = run_id
            report.resource_changes = resource_changes
            if not import_manifests:
                app_ctx.keep_until_exit(snapshot, previous, changes)
            else:
                del previous, earlier  # an import of thousands of guests needs the memory more
                # Each guest as the store now holds it: as read, unless its node was offline (its stored config).
                unread = any(guest.unread for guest in snapshot.guests)
                guests = store.current_guests(cluster) if unread else snapshot.guests
                result = _import(app_ctx, guests, snapshot.resources, builder)
                report.imported = [str(p) for p in result.written]
                report.not_imported = [f"{address}: {reason}" for address, reason in result.skipped]
                report.refused = result.refused
                app_ctx.keep_until_exit(snapshot, guests, result)
        return report
    finally:
        if builder is not None:
            builder.discard()  # what it wrote ahead for an import that did not happen
        store.close()


class StoredGuests:
    """The guests the store holds, read in a worker thread while the cluster is read (a SQLite store read
    through sqlite3 alone), and trusted inside the write transaction only if no one has written since.

    Any other store (PostgreSQL's, or SQLite's through SQLAlchemy) reads them inside the transaction, after
    `lock_cluster`, as before: that is what serialises syncs of one cluster from several workspaces.
    """

    def __init__(self, store: SyncStore, cluster: str) -> None:
        from proxmox_mpc.state.lite import LiteStore

        self._store = store
        self._cluster = cluster
        self._lite = store if isinstance(store, LiteStore) else None
        self._done = threading.Event()
        self._reading: asyncio.Future[tuple[list[GuestRecord], int]] | None = None
        if self._lite is not None:
            self._reading = aside(self._read_now, self._lite)
        else:
            self._done.set()

    def _read_now(self, lite: LiteStore) -> tuple[list[GuestRecord], int]:
        try:
            return lite.guests_as_of(self._cluster)
        finally:
            self._done.set()

    async def read(self) -> tuple[list[GuestRecord], int] | None:
        """Wait for the guests read beside the reads and hand them over (None: this store reads them in the
        transaction, or they were handed over already)."""
        reading, self._reading = self._reading, None
        return None if reading is None else await reading

    def wait(self) -> None:
        """Block until the worker thread is off the store's connection (before the store is used or closed)."""
        self._done.wait()

    def current(self, earlier: tuple[list[GuestRecord], int] | None) -> list[GuestRecord]:
        """Return the stored guests as of now, inside the write transaction (deleted ones too)."""
        if earlier is not None and self._lite is not None and self._lite.unchanged_since(earlier[1]):
            return earlier[0]
        return self._store.current_guests(self._cluster, include_deleted=True)


async def _dry_run(app_ctx: AppContext, cluster: str, clock: float, *, import_manifests: bool) -> SyncReport:
    """Read the cluster and report what a sync would record (and import): nothing is written, not even
    a migration or the lock row."""
    from proxmox_mpc.services.database import open_store_readonly

    ro_store = open_store_readonly(app_ctx)
    try:
        previous = ro_store.current_guests(cluster, include_deleted=True) if ro_store else []
        stored = ro_store.current_resources(cluster) if ro_store else []
        snapshot = await read_live(app_ctx)
    finally:
        if ro_store is not None:
            ro_store.close()
    from proxmox_mpc.services.resources import diff_stored  # loads the kinds: after the reads

    report = _report(cluster, snapshot, diff_guests(previous, snapshot.guests), clock, dry_run=True)
    report.resource_changes = diff_stored(stored, snapshot.resources)
    if import_manifests:
        report.would_import = _planned_imports(app_ctx, snapshot)
    return report


def _import_builder(app_ctx: AppContext) -> Any:
    """The `sync --import` hook called with each guest as its config arrives: its manifest is built (and
    written ahead into a workspace without manifests) then."""
    from proxmox_mpc.services import imports

    return imports.ManifestTexts(app_ctx.workspace)


def _import(
    app_ctx: AppContext, guests: Sequence[ObservedGuest], resources: dict[str, list[Resource]], built: Any
) -> Any:
    """The `sync --import` hook: write a manifest per guest and per resource through the manifests service."""
    from proxmox_mpc.services import imports

    return imports.import_manifests(app_ctx, guests, app_ctx.workspace, resources=resources, built=built)


def _planned_imports(app_ctx: AppContext, snapshot: ClusterSnapshot) -> list[PlannedManifest]:
    """The `sync --import --dry-run` hook: the manifest files an import would write, nothing written."""
    from proxmox_mpc.services import imports

    planned = imports.plan_imports(app_ctx, snapshot.guests, app_ctx.workspace, resources=snapshot.resources)
    return [PlannedManifest(path=str(path), address=manifest.address) for path, manifest in planned]


def _record_failure(
    store: SyncStore, cluster: str, workspace: str | None, started: datetime, exc: PmpcError
) -> None:
    try:
        store.record_failed_sync(cluster, workspace, started, exc.message)
    except PmpcError:
        pass  # the store itself is failing: the original error is the one to report


def _report(
    cluster: str, snapshot: ClusterSnapshot, changes: list[GuestChange], clock: float, *, dry_run: bool
) -> SyncReport:
    added, changed, deleted = count_changes(changes)
    return SyncReport(
        cluster=cluster,
        cluster_name=snapshot.cluster_name,
        dry_run=dry_run,
        guests=len(snapshot.guests),
        resources=sum(len(items) for items in snapshot.resources.values()),
        nodes=len(snapshot.nodes),
        storages=len(snapshot.storages),
        added=added,
        changed=changed,
        deleted=deleted,
        changes=changes,
        requests=snapshot.requests,
        seconds=round(time.monotonic() - clock, 3),
    )
