"""`pmpc plan`: load and validate manifests, observe the cluster (or the last sync), build the plan."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.diff import EarlyDiff, diff_guest
from proxmox_mpc.core.identity import prefix
from proxmox_mpc.core.manifest import AnyManifest
from proxmox_mpc.core.models import BaseGuest, ObservedGuest, split_tags
from proxmox_mpc.core.plan import Plan
from proxmox_mpc.errors import StateError, UsageError
from proxmox_mpc.services.manifests import Loaded, LoadedManifest, ManifestSet
from proxmox_mpc.services.observe import ClusterFacts, Observation, observe, observe_last_sync
from proxmox_mpc.services.overlap import Stepwise, beside
from proxmox_mpc.services.preflight import build, build_checked_plan, check_creatable, create_facts
from proxmox_mpc.services.resources import compare_needs, refuse_in_use, with_resources, with_sent_secrets
from proxmox_mpc.services.validate import require_valid
from proxmox_mpc.services.workspace_manifests import workspace_manifests, workspace_set, workspace_steps

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient
    from proxmox_mpc.core.selectors import Selector
    from proxmox_mpc.state.lite import LiteStore
    from proxmox_mpc.state.store import Store


@dataclass
class PlanResult:
    """A plan and what it was made from."""

    plan: Plan
    manifests: list[LoadedManifest] = field(default_factory=list)
    observed: list[ObservedGuest] = field(default_factory=list)


def observed_guest(guest: ObservedGuest) -> BaseGuest:
    """Return an observed guest as selectors see it: its tags as its config has them."""
    return guest.model_copy(update={"tags": split_tags(guest.config.get("tags"))})


def select(
    loaded: Sequence[LoadedManifest], observed: Sequence[ObservedGuest], selector: Selector | None
) -> tuple[list[LoadedManifest], list[ObservedGuest]]:
    """Keep the manifests (and guests) a selector picks: by what the manifest asks or what the guest is."""
    if not selector:
        return list(loaded), list(observed)
    by_vmid = {g.vmid: g for g in observed}
    by_name: dict[tuple[str, str], ObservedGuest] = {(g.kind, g.name): g for g in observed}
    from proxmox_mpc.core.selectors import manifest_guest

    kept: list[LoadedManifest] = []
    kept_guests: dict[int, ObservedGuest] = {}
    for item in loaded:
        m = item.manifest
        guest = by_vmid.get(m.vmid) if m.vmid is not None else by_name.get((prefix(m.kind), m.name))
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
        guest = by_vmid.get(m.vmid) if m.vmid is not None else by_name.get((prefix(m.kind), m.name))
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
    send_secrets: Sequence[str] = (),
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
    if offline:
        found = workspace_set(app_ctx, targets)
        observation = observe_last_sync(app_ctx)
        observed, facts = observation.guests, observation.facts
        require_valid(found.guests, facts, found.resources)
        kept, guests = select(found.guests, observed, chosen)
        plan = build(app_ctx, kept, guests)
        check_creatable(kept, plan, create_facts(facts, observed))
    else:
        loading = load_later(app_ctx, targets)
        early: dict[int, EarlyDiff] = {}
        try:
            async with connect(app_ctx, bulk=True) as api:
                found, observation = await load_observing(api, loading, early)
                observed, facts = observation.guests, observation.facts
                require_valid(found.guests, facts, found.resources)
                kept, guests = select(found.guests, observed, chosen)
                plan = await build_checked_plan(app_ctx, api, kept, guests, facts, everything=observed, early=early)
        except Exception:
            loading.start()
            await loading.result
            raise
    # A selector picks guests by what they are: the other kinds are planned only without one.
    resources = [] if chosen else found.resources
    plan = with_resources(plan, resources, facts.resources)
    if send_secrets:
        plan = with_sent_secrets(plan, resources, send_secrets)
    if any(c.action in ("delete", "replace") for c in plan.changes):
        refuse_in_use(plan.changes, observed)
        annotate_destroys(
            app_ctx,
            plan,
            [*kept, *resources],
            allowed,
            facts=facts,
            backup_first=backup_first,
            backup_storage=backup_storage,
        )
    if any(c.action == "create" for c in plan.changes):
        annotate_replaced(app_ctx, plan)
    if targets and app_ctx.workspace is not None:
        plan.unmanaged = _unmanaged_in_workspace(app_ctx, plan.unmanaged, observed)
    result = PlanResult(plan=plan, manifests=kept, observed=observed)
    app_ctx.keep_until_exit(result, found)  # 10,000 manifests and guests: freed by the process's end
    return result


def load_later(app_ctx: AppContext, targets: Sequence[str]) -> Stepwise[ManifestSet]:
    """The workspace's manifests, to load on the event loop's thread between the reads once the cluster's
    guests are listed (see load_observing)."""
    return Stepwise(lambda: workspace_steps(app_ctx, targets))


async def load_observing(
    api: ProxmoxClient, later: Stepwise[ManifestSet], early: dict[int, EarlyDiff] | None = None
) -> tuple[ManifestSet, Observation]:
    """Read the cluster as plan compares it, loading the manifests meanwhile; return both.

    The manifests load between the reads from the moment the nodes and guests are listed, as the per-guest
    reads go out (a read failing first starts them too): the client then mostly waits on the server, while
    before it the listing (at 10,000 guests, 3 MB) is what every per-guest read waits for. Only the
    per-guest reads the manifests choose (a described guest's firewall) wait for them. An error of the
    manifests wins over a read error, as when they were loaded before the cluster was read. `early` gets
    each guest's diff against the manifest naming its VMID as its config arrives, once the manifests have
    loaded: the client diffs while it waits on the server.

    Raises:
        ManifestError: a manifest is invalid.
        PmpcError: a read failed.
    """
    loading = later.result

    async def described() -> frozenset[str]:
        return compare_needs((await loading).resources).described

    needs = dataclasses.replace(compare_needs(()), on_listed=later.start)
    if early is not None:
        needs = dataclasses.replace(needs, on_config=_diff_on_arrival(loading, early))
    naming = asyncio.ensure_future(described())
    reading = asyncio.ensure_future(observe(api, needs, described=naming))
    reading.add_done_callback(lambda _: later.start())
    return await beside(loading, reading, naming)


def _diff_on_arrival(
    loading: asyncio.Future[ManifestSet], early: dict[int, EarlyDiff]
) -> Callable[[ObservedGuest], None]:
    """Return observe's `on_config` hook that diffs a guest against the manifest naming its VMID (kept in
    `early` for build_plan, which still pairs every manifest itself and diffs again what it pairs otherwise)."""
    by_vmid: dict[int, AnyManifest] | None = None

    def diff_now(guest: ObservedGuest) -> None:
        nonlocal by_vmid
        if not loading.done() or loading.cancelled() or loading.exception() is not None:
            return
        if by_vmid is None:
            by_vmid = {}
            for item in loading.result().guests:
                if item.manifest.vmid is not None:
                    by_vmid.setdefault(item.manifest.vmid, item.manifest)
        manifest = by_vmid.get(guest.vmid)
        if manifest is None:
            return
        try:
            early[id(manifest)] = (manifest, guest, guest.config, diff_guest(manifest, guest))
        except Exception:  # diffed again when the plan is built, where its error belongs
            return

    return diff_now


# ----------------------------------------------------------------------------- protection and the journal


def parse_allow_destroy(values: Sequence[str]) -> set[str]:
    """Check `--allow-destroy` addresses (`vm/101`, `ct/web-1`, `pool/prod`).

    Raises:
        UsageError: an address that is not KIND/VMID or KIND/NAME of a registered kind.
    """
    import re

    from proxmox_mpc.kinds.registry import of_address

    for value in values:
        # HA resources are addressed by PVE's id, with a colon: ha/vm:101.
        if of_address(value) is None or not re.fullmatch(r"[a-z]+/[A-Za-z0-9][A-Za-z0-9.\-_/:]*", value):
            raise UsageError(
                f"--allow-destroy takes an address such as vm/101 or ct/web-1, not {value!r}."
            )
    return set(values)


def _store_for_reading(app_ctx: AppContext) -> LiteStore | Store | None:
    from proxmox_mpc.services.database import open_state_reader

    try:
        return open_state_reader(app_ctx)
    except StateError:
        return None


def annotate_destroys(
    app_ctx: AppContext,
    plan: Plan,
    loaded: Sequence[Loaded],
    allowed: set[str],
    *,
    facts: ClusterFacts | None = None,
    backup_first: bool = False,
    backup_storage: str | None = None,
) -> None:
    """Refuse deleting or replacing a protected guest (or resource); note where each destroyed guest is backed up.

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
    by_address: dict[str, Loaded],
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
        if change.action not in ("delete", "replace") or not change.guest:
            continue  # only a guest has something vzdump backs up
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


def created_guests(app_ctx: AppContext) -> set[tuple[str, int] | str]:
    """Return the (kind, vmid) of the guests, and the addresses of the resources, pmpc created on this cluster."""
    from proxmox_mpc.services.database import cluster_key

    store = _store_for_reading(app_ctx)
    if store is None:
        return set()
    try:
        key = cluster_key(app_ctx)
        return {*store.created_guests(key), *store.created_resources(key)}
    except StateError:
        return set()
    finally:
        store.close()


def annotate_replaced(app_ctx: AppContext, plan: Plan) -> None:
    """Mark each create of a guest that an unfinished replace deleted with that apply run's id."""
    from proxmox_mpc.services.database import cluster_key

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
