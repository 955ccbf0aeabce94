"""State use cases: show / history / journal / drift / status / unlock / upgrade (the database: database.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import Field

from proxmox_mpc.config import redact_url
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.identity import guest_kind, is_api_guest_type
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.models import UtcTime
from proxmox_mpc.errors import NotFound, PmpcError, UsageError
from proxmox_mpc.services.database import cluster_key, database_url, open_app_store, workspace_lock_name
from proxmox_mpc.services.resources import is_resource_address, resource_history

if TYPE_CHECKING:
    from proxmox_mpc.services.sync import GuestChange
    from proxmox_mpc.state.resources import ResourceChangeRecord
    from proxmox_mpc.state.store import ChangeRecord, GuestRecord, LockInfo, Store, SyncRunRecord

Confirm = Callable[[str, Sequence[str]], None]


# ----------------------------------------------------------------------------- show / history


def resolve_guest(guests: Sequence[GuestRecord], ref: str) -> GuestRecord:
    """Pick one guest by VMID or name, preferring live ones over deleted ones.

    Raises:
        UsageError: the name matches several guests (they are listed).
        NotFound: nothing matches.
    """
    by_vmid = [g for g in guests if ref.isdigit() and g.vmid == int(ref)]
    if by_vmid:
        return by_vmid[0]
    named = [g for g in guests if g.name == ref]
    live = [g for g in named if g.deleted_at is None]
    pool = live or named
    if len(pool) > 1:
        listed = ", ".join(g.ref for g in pool)
        raise UsageError(f"The name {ref!r} is ambiguous: it matches {listed}; use the VMID.")
    if not pool:
        raise NotFound(f"No guest {ref!r} in the state store: run `pmpc sync` first, or check the name.")
    return pool[0]


def show_state(app_ctx: AppContext, *, include_deleted: bool = False) -> list[GuestRecord]:
    """Return the guests the store remembers for the current cluster."""
    store = open_app_store(app_ctx)
    try:
        return store.current_guests(cluster_key(app_ctx), include_deleted=include_deleted)
    finally:
        store.close()


def show_guest(app_ctx: AppContext, ref: str) -> GuestRecord:
    """Return one remembered guest (deleted ones too), by VMID or name.

    Raises:
        NotFound: the store has no such guest.
        UsageError: an ambiguous name.
    """
    store = open_app_store(app_ctx)
    try:
        return resolve_guest(store.find_guests(cluster_key(app_ctx), ref), ref)
    finally:
        store.close()


def guest_history(
    app_ctx: AppContext, ref: str, *, limit: int | None = None
) -> list[ChangeRecord] | list[ResourceChangeRecord]:
    """Return one guest's change history (or a resource's, by address: `pool/prod`), oldest first.

    Raises:
        NotFound: the store has no such guest (or resource).
        UsageError: an ambiguous name.
    """
    store = open_app_store(app_ctx)
    try:
        cluster = cluster_key(app_ctx)
        if is_resource_address(ref):
            return resource_history(store, cluster, ref, limit=limit)
        guest = resolve_guest(store.find_guests(cluster, ref), ref)
        return store.history(cluster, guest.vmid, limit=limit)
    finally:
        store.close()


# ----------------------------------------------------------------------------- the apply journal


class InFlight(Model):
    """A task PVE accepted for a run that never recorded how it ended (the run was interrupted)."""

    address: str
    step: str
    upid: str


class JournalRun(Model):
    """One apply or destroy run: who ran it, how it ended, every step, and what a crash left open."""

    id: int
    operation: str | None = None
    status: str
    started_at: UtcTime
    finished_at: UtcTime | None = None
    workspace: str | None = None
    pid: int | None = None
    host: str | None = None
    entries: list[Any] = Field(default_factory=list)
    in_flight: list[InFlight] = Field(default_factory=list)
    replaced_not_created: list[str] = Field(default_factory=list)
    backups: dict[str, str] = Field(default_factory=dict)


def summarize_run(run: Any, entries: Sequence[Any]) -> JournalRun:
    """Return a run with its journal, the tasks still in flight, and the replaces it left half done."""
    finished = {(e.address, e.action, e.upid) for e in entries if e.upid and e.status in ("ok", "failed")}
    in_flight = [
        InFlight(address=e.address, step=e.action, upid=e.upid)
        for e in entries
        if e.status == "started" and e.upid and (e.address, e.action, e.upid) not in finished
    ]
    replacing = {e.address for e in entries if e.action == "replace" and e.status == "started"}
    # A delete task PVE accepted counts: it goes on after pmpc dies, and the guest is then gone.
    deleted = {e.address for e in entries if e.action == "delete" and (e.status == "ok" or e.upid)}
    created = {e.address for e in entries if e.action in ("create", "clone") and e.status == "ok"}
    backups = {e.address: str(e.detail) for e in entries if e.action == "backup" and e.status == "ok"}
    return JournalRun(
        id=run.id,
        operation=run.operation,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        workspace=run.workspace,
        pid=run.pid,
        host=run.host,
        entries=list(entries),
        in_flight=in_flight,
        replaced_not_created=sorted((replacing & deleted) - created),
        backups=backups,
    )


def journal_runs(app_ctx: AppContext, *, limit: int = 10) -> list[JournalRun]:
    """Return the newest apply and destroy runs of this cluster with their journals (newest first)."""
    store = open_app_store(app_ctx)
    try:
        runs = store.apply_runs(cluster_key(app_ctx), limit=limit)
        return [summarize_run(run, store.journal(run.id)) for run in runs]
    finally:
        store.close()


# ----------------------------------------------------------------------------- drift


class DriftReport(Model):
    """What changed on the cluster since the last sync."""

    cluster: str
    last_sync: UtcTime | None = None
    changes: list[Any] = Field(default_factory=list)


async def drift(app_ctx: AppContext) -> DriftReport:
    """Compare the live cluster with the last sync; write nothing."""
    from proxmox_mpc.services.sync import diff_guests, read_live

    cluster = cluster_key(app_ctx)
    store = open_app_store(app_ctx)
    try:
        previous = store.current_guests(cluster, include_deleted=True)
        last = store.last_sync(cluster)
    finally:
        store.close()
    snapshot = await read_live(app_ctx)
    changes: list[GuestChange] = diff_guests(previous, snapshot.guests)
    return DriftReport(cluster=cluster, last_sync=last.finished_at if last else None, changes=changes)


# ----------------------------------------------------------------------------- status


class StatusReport(Model):
    """`pmpc status`: what can be reached, and what the store knows."""

    workspace: str | None = None
    context: str | None = None
    cluster: str | None = None
    database: str | None = None
    connection: str = "unknown"
    tls: str | None = None
    pve_version: str | None = None
    counts: dict[str, dict[str, int]] = Field(default_factory=dict)
    counts_source: str | None = None
    last_sync: UtcTime | None = None
    last_sync_guests: int | None = None
    drift: int | None = None
    interrupted: list[JournalRun] = Field(default_factory=list)
    problems: list[str] = Field(default_factory=list)


async def collect_status(app_ctx: AppContext) -> StatusReport:
    """Gather status from whatever is reachable; failures become `problems`, not errors."""
    report = StatusReport(workspace=str(app_ctx.workspace) if app_ctx.workspace else None)
    try:
        settings = app_ctx.settings
    except PmpcError as exc:
        report.problems.append(exc.message)
        return report
    report.context = settings.context
    from proxmox_mpc.services.diagnostics import tls_summary

    report.tls = tls_summary(app_ctx)
    try:
        report.cluster = cluster_key(app_ctx)
    except PmpcError as exc:
        report.problems.append(exc.message)
    report.database = redact_url(database_url(app_ctx))

    previous: list[GuestRecord] | None = None
    if report.cluster:
        previous = _status_from_store(app_ctx, report)
        await _status_from_cluster(app_ctx, report, previous)
    return report


def _status_from_store(app_ctx: AppContext, report: StatusReport) -> list[GuestRecord] | None:
    assert report.cluster is not None
    try:
        store = open_app_store(app_ctx)
    except PmpcError as exc:
        report.problems.append(exc.message)
        return None
    try:
        previous = store.current_guests(report.cluster, include_deleted=True)
        last = store.last_sync(report.cluster)
        report.counts = store.guest_counts(report.cluster)
        report.counts_source = "state" if last else None
        report.interrupted = _interrupted(store, report.cluster)
        if last:
            report.last_sync, report.last_sync_guests = last.finished_at, last.guests
        return previous
    except PmpcError as exc:
        report.problems.append(exc.message)
        return None
    finally:
        store.close()


def _interrupted(store: Store, cluster: str) -> list[JournalRun]:
    """Return the interrupted runs since the last run that finished well (newest first)."""
    found = []
    for run in store.apply_runs(cluster, limit=10):
        if run.status == "ok":
            break
        if run.status == "interrupted":
            found.append(summarize_run(run, store.journal(run.id)))
    return found


async def _status_from_cluster(
    app_ctx: AppContext, report: StatusReport, previous: list[GuestRecord] | None
) -> None:
    from proxmox_mpc.services.connection import connect
    from proxmox_mpc.services.sync import diff_guests, read_cluster

    try:
        async with connect(app_ctx) as api:
            api.retries = 0  # a status check answers fast; it does not insist on a down cluster
            version = await api.version()
            report.connection = "ok"
            report.pve_version = str(version.get("version") or "") or None
            if previous is not None and report.last_sync is not None:
                snapshot = await read_cluster(api)
                report.drift = len(diff_guests(previous, snapshot.guests))
            elif report.counts_source is None:
                resources = await api.cluster_resources("vm")
                report.counts = _live_counts(resources)
                report.counts_source = "cluster"
    except PmpcError as exc:
        if report.connection != "ok":
            report.connection = "failed"
        report.problems.append(exc.message)
    except (OSError, asyncio.TimeoutError) as exc:  # pragma: no cover - defensive: the client maps these
        report.connection = "failed"
        report.problems.append(str(exc))


def _live_counts(resources: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {}
    for res in resources:
        gtype = res.get("type")
        if not is_api_guest_type(gtype):
            continue
        bucket = counts.setdefault(guest_kind(str(gtype)), {})
        key = (
            "template"
            if str(res.get("template") or 0) not in ("0", "")
            else str(res.get("status") or "unknown")
        )
        bucket[key] = bucket.get(key, 0) + 1
    return counts


# ----------------------------------------------------------------------------- upgrade / unlock


class UpgradeResult(Model):
    database: str
    before: str | None
    after: str
    changed: bool


def upgrade(app_ctx: AppContext) -> UpgradeResult:
    """Migrate the state database to the newest schema."""
    from proxmox_mpc.state.store import open_store

    url = database_url(app_ctx)
    store = open_store(url, upgrade=False)
    try:
        before, after = store.upgrade()
        return UpgradeResult(database=store.url, before=before, after=after, changed=before != after)
    finally:
        store.close()


class UnlockResult(Model):
    name: str
    held: bool
    released: bool
    holder: dict[str, Any] | None = None
    dry_run: bool = False


def unlock(
    app_ctx: AppContext, *, confirm: Confirm, dry_run: bool = False, name: str | None = None
) -> UnlockResult:
    """Release the workspace lock a crashed (or hung) holder left behind; confirm first.

    Raises:
        ConfirmationRequired / Aborted: through `confirm`.
    """
    lock_name = name or workspace_lock_name(app_ctx)
    store = open_app_store(app_ctx)
    try:
        info: LockInfo | None = store.lock_info(lock_name)
        held = info is not None or store.advisory_lock_held(lock_name)
        holder = info.model_dump(mode="json") if info else None
        if not held:
            return UnlockResult(name=lock_name, held=False, released=False, dry_run=dry_run)
        if dry_run:
            return UnlockResult(name=lock_name, held=True, released=False, holder=holder, dry_run=True)
        what = info.describe() if info else "another pmpc session"
        confirm("release the workspace lock", [f"lock {lock_name!r} held by {what}"])
        released = store.force_unlock(lock_name)
        if holder is None and released is not None:
            holder = released.model_dump(mode="json")
        return UnlockResult(name=lock_name, held=True, released=True, holder=holder)
    finally:
        store.close()


def last_sync(app_ctx: AppContext) -> SyncRunRecord | None:
    """Return the last successful sync of the current cluster."""
    store = open_app_store(app_ctx)
    try:
        return store.last_sync(cluster_key(app_ctx))
    finally:
        store.close()
