"""The one reader: nodes, guests, their configs and the facts a command needs, each read once, concurrently.

`plan`, `validate`, `apply`, `destroy` and `sync` say what they need (`Needs`); `observe()` sends each
request once, in two concurrent rounds (what names the nodes and guests, then what is per node or per
guest), and returns an `Observation`. Other kinds plug in through `Read`: a kind declares the API paths
it reads, the command adds them to its `Needs.reads`, and their bodies come back in
`Observation.reads`, by concrete path. A path is read once, on every online node (`{node}`), once per
item of a list (`/cluster/firewall/ipset/{name}`: after the list, for each `name` in its body), or once
per chosen guest (`/nodes/{node}/{type}/{vmid}/firewall/rules`: for each guest on an online node that
the kind's `reads_guest` picks, right after that guest's config); kinds/base.py spells the placeholders.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from pydantic import Field

from proxmox_mpc.core.identity import is_api_guest_type
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.models import ObservedGuest
from proxmox_mpc.core.normalize import NET_RE, split_props
from proxmox_mpc.core.secrets import MASK, redact_config
from proxmox_mpc.errors import ApiError, ApiNotFound, AuthError, ConnectionFailed, PmpcError, StateError
from proxmox_mpc.kinds import registry
from proxmox_mpc.kinds.base import ReadShape, Resource, guest_path, item_list, item_path, read_shape

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient
    from proxmox_mpc.context import AppContext
    from proxmox_mpc.state.lite import LiteStore
    from proxmox_mpc.state.store import Store


# Whether to read a per-guest path for a guest: (the guest with its config, the described addresses).
GuestChooser = Callable[[ObservedGuest, frozenset[str]], bool]


@dataclass(frozen=True)
class Read:
    """One API path to read: once, on every online node (`{node}`), per item of a list, or per chosen guest.

    See kinds/base.py for the placeholders. A per-item read follows its list path (read once, with the
    first round); an item that is gone (404) has no body, and an item pmpc may not read (one of
    `unknown_on`) leaves the whole list unknown. A per-guest read is sent for a guest when any of
    `choosers` picks it (no choosers: every guest); a guest gone (404) or not readable has no body.
    """

    path: str
    # Errors that leave this read unknown (absent from Observation.reads) rather than fail the command.
    unknown_on: tuple[type[PmpcError], ...] = ()
    choosers: tuple[GuestChooser, ...] = ()

    @property
    def shape(self) -> ReadShape:
        return read_shape(self.path)

    @property
    def any_refusal(self) -> bool:
        """Whether every error answer leaves this read unknown."""
        return any(issubclass(ApiError, e) for e in self.unknown_on)

    @property
    def per_node(self) -> bool:
        return self.shape == "node"

    def on(self, node: str) -> str:
        """Return the path read on one node."""
        return self.path.replace("{node}", quote(node, safe=""))


STORAGES = Read("/nodes/{node}/storage")
NETWORK = Read("/nodes/{node}/network", (ApiError,))  # bridges unknown: nothing is refused for them
VNETS = Read("/cluster/sdn/vnets", (PmpcError,))  # no SDN (or no right to see it)
CLUSTER_STATUS = Read("/cluster/status", (AuthError, ApiNotFound))


@dataclass(frozen=True)
class Needs:
    """What a command reads from the cluster besides nodes and guests."""

    configs: bool = True
    # Name the pending keys (a VM's, a running container's /pending): what plan reports as pending reboot.
    pending: bool = False
    # Configs go to the state store: secrets masked. Otherwise the values PVE itself masks are left out.
    for_store: bool = False
    # A node with guests is offline: refuse (a plan cannot compare them) rather than keep them unread.
    refuse_offline: bool = False
    # Build ClusterFacts: storages with their content, bridges, pools, SDN VNets (what manifests name).
    facts: bool = False
    reads: tuple[Read, ...] = ()
    # The addresses the workspace's manifests name: what per-guest choosers may read beyond their own choice.
    described: frozenset[str] = frozenset()
    # Called with each guest as soon as its config is read (`sync --import` builds its manifest meanwhile).
    on_config: Callable[[ObservedGuest], None] | None = None
    # Called once the nodes and guests are listed, as the per-guest reads start (plan loads its manifests then).
    on_listed: Callable[[], None] | None = None

    def all_reads(self) -> list[Read]:
        """Return every path to read, each once (a path two kinds declare is read for both: for the
        guests either kind chooses)."""
        wanted = (*FACT_READS, *self.reads) if self.facts else self.reads
        first: dict[str, Read] = {}
        for read in wanted:
            known = first.setdefault(read.path, read)
            if known is not read and known.choosers and read.shape == "guest":
                choosers = (*known.choosers, *read.choosers) if read.choosers else ()
                first[read.path] = dataclasses.replace(known, choosers=choosers)
        return list(first.values())


class ListedKind(Protocol):
    """What observe asks of a kind (kinds.base.Kind): its paths in `reads` (list path first), and `from_reads`.

    A kind with per-guest paths may also answer `reads_guest(guest, described) -> bool` (see with_kinds).
    """

    @property
    def prefix(self) -> str: ...
    @property
    def reads(self) -> tuple[str, ...]: ...
    def from_reads(self, bodies: dict[str, Any]) -> list[Any]: ...


def with_kinds(needs: Needs, kinds: Iterable[ListedKind]) -> Needs:
    """Return `needs` plus each kind's paths (read once with the rest; one pmpc may not list stays unknown,
    and so does one the server does not have yet, such as PVE 8's missing HA rules).

    A kind's per-guest paths are read for the guests its `reads_guest(guest, described)` chooses (a kind
    without that method: every guest).
    """
    extra = []
    for kind in kinds:
        chooser: GuestChooser | None = getattr(kind, "reads_guest", None)
        unknown_on = (AuthError, ApiNotFound) if getattr(kind, "missing_on_older_servers", False) else (AuthError,)
        for path in kind.reads:
            choosers = (chooser,) if chooser is not None and read_shape(path) == "guest" else ()
            extra.append(Read(path, unknown_on, choosers))
    return dataclasses.replace(needs, reads=(*needs.reads, *extra))


def listed(observation: Observation, kinds: Iterable[ListedKind]) -> dict[str, list[Any]]:
    """Return each kind's resources by its prefix, from the bodies of its paths (a kind left unknown is absent)."""
    found = {}
    for kind in kinds:
        if kind.reads and kind.reads[0] in observation.reads:
            found[kind.prefix] = kind.from_reads(observation.reads)
    return found


# The list path of every other kind of the registry (pools, ...): not allowed to list one, do not guess.
RESOURCE_READS = tuple(with_kinds(Needs(), registry.resource_kinds()).reads)
FACT_READS = (STORAGES, NETWORK, VNETS, *RESOURCE_READS)


# plan, validate, apply and destroy compare manifests with the guests and check them against the facts.
COMPARE = Needs(pending=True, refuse_offline=True, facts=True)
# sync records every guest (an offline node's unread) with the storages, the cluster's name and every
# resource of the other kinds.
RECORD = Needs(for_store=True, reads=(STORAGES, CLUSTER_STATUS, *RESOURCE_READS))


class ClusterFacts(Model):
    """What manifests are checked against: nodes, their storages (with content types) and bridges, resources."""

    nodes: set[str] = Field(default_factory=set)
    storages: dict[str, dict[str, set[str]]] = Field(default_factory=dict)  # node -> storage -> content types
    bridges: dict[str, set[str]] = Field(default_factory=dict)  # node -> bridges (None: unknown)
    shared_bridges: set[str] = Field(default_factory=set)  # SDN VNets and bridges guests already use
    # The resources of the other kinds (pools, ...) by address prefix; None: not read (a kind left out:
    # pmpc may not list it). References are checked against these and `described`.
    resources: dict[str, list[Resource]] | None = None
    described: set[str] = Field(default_factory=set)  # the addresses the workspace's manifests make exist
    # The guests that exist, by VMID (`vm/101`, `ct/201`): what HA resources and backup jobs reference.
    # None: not known (references to guests are then not judged).
    guests: set[str] | None = None
    guest_names: set[str] = Field(default_factory=set)
    guest_vmids: set[int] = Field(default_factory=set)


@dataclass
class Observation:
    """What one observation read: nodes, guests (by VMID) with their configs, the reads, the facts."""

    guests: list[ObservedGuest]
    nodes: list[dict[str, Any]] = field(default_factory=list)
    reads: dict[str, Any] = field(default_factory=dict)  # path -> body; a read left unknown is absent
    facts: ClusterFacts = field(default_factory=ClusterFacts)  # empty unless Needs.facts
    requests: int = 0

    @property
    def online(self) -> list[str]:
        return sorted(str(n.get("node")) for n in self.nodes if n.get("status") == "online")

    @property
    def offline(self) -> set[str]:
        return {str(n.get("node")) for n in self.nodes} - set(self.online)

    def per_node(self, read: Read) -> list[tuple[str, Any]]:
        """Return (node, body) of a per-node read, for the online nodes where it is known."""
        return [(n, self.reads[read.on(n)]) for n in self.online if read.on(n) in self.reads]


async def gather_all(awaitables: Iterable[Awaitable[Any]]) -> list[Any]:
    """Await everything concurrently; on the first failure cancel the rest and re-raise it."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def compose_pending(config: dict[str, Any], pending: list[dict[str, Any]] | None) -> tuple[dict[str, Any], list[str]]:
    """Return a config with its pending changes applied (what the guest will be after its next start),
    and the keys that are pending.

    A secret PVE masks stays masked: its pending value comes as the mask with a trailing space (so
    that it differs from the current one), which counts as the mask.
    """
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
            value = item["pending"]
            if str(item.get("value")) != str(value):
                keys.append(key)
            result[key] = MASK if isinstance(value, str) and value.rstrip() == MASK else value
    return result, sorted(keys)


def listed_config(pending: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the current config a guest's /pending lists (with its `digest`), or None when it has no digest.

    PVE's /pending names every key of the config with its current value, the digest among them (PVE
    builds it from the loaded config): the config, its pending keys and its digest need no /config.
    A body without the digest (an older or partial server) cannot stand for /config.
    """
    current = {str(item["key"]): item["value"] for item in pending if "value" in item and "key" in item}
    return current if current.get("digest") else None


def pending_path(guest: ObservedGuest) -> str:
    """Return the API path of a guest's pending config."""
    return f"/nodes/{quote(guest.node, safe='')}/{guest.type}/{guest.vmid}/pending"


async def effective_config(
    api: ProxmoxClient, guest: ObservedGuest, *, pending: bool = True
) -> tuple[dict[str, Any], list[str]]:
    """Read a guest's config with its pending values applied, and which keys are pending.

    The rule `plan`, `pmpc test` and `sync` (hence `state drift`) share: a value that waits for the
    guest's next start counts as applied. PVE's GET /config already folds pending values in (its
    `current` parameter defaults to 0), which is what `sync` and `test` read; `plan` reads a VM's
    /pending instead (a running container's too), which lists the config, its digest and the keys that
    are pending, whatever the power state: one request per guest. A /pending without the digest is
    completed by GET /config.

    Raises:
        ApiNotFound: the guest is gone.
    """
    if pending and (guest.kind == "vm" or guest.status == "running"):
        listed = await api.get(pending_path(guest))
        items = [i for i in listed if isinstance(i, dict)] if isinstance(listed, list) else []
        current = listed_config(items)
        if current is None:
            current = await api.guest_config(guest.node, guest.type, guest.vmid)
        return compose_pending(current, items)
    return dict(await api.guest_config(guest.node, guest.type, guest.vmid)), []


async def _read_config(api: ProxmoxClient, guest: ObservedGuest, needs: Needs) -> ObservedGuest | None:
    try:
        merged, pending = await effective_config(api, guest, pending=needs.pending)
    except ApiNotFound:
        return None  # deleted between the listing and this read: it is gone
    digest = merged.get("digest")
    guest.digest = str(digest) if digest else None
    if needs.for_store:
        guest.config = redact_config(merged)
    else:
        guest.config = {k: v for k, v in merged.items() if v != MASK and k != "digest"}
    guest.pending = pending
    if needs.on_config is not None:
        needs.on_config(guest)
    return guest


async def _guest_paths(
    api: ProxmoxClient,
    guest: ObservedGuest,
    needs: Needs,
    reads: Sequence[Read],
    described: asyncio.Future[frozenset[str]] | None = None,
) -> list[tuple[str, Any] | None]:
    """Read the per-guest paths chosen for a guest (its config read), concurrently."""
    if not reads:
        return []
    known = needs.described
    if described is not None and any(r.choosers for r in reads):
        known = await described
    picked: dict[GuestChooser, bool] = {}  # a kind's chooser is asked once, however many paths it picks for

    def picks(chooser: GuestChooser) -> bool:
        if chooser not in picked:
            picked[chooser] = chooser(guest, known)
        return picked[chooser]

    chosen = [r for r in reads if not r.choosers or any(picks(c) for c in r.choosers)]
    if not chosen:
        return []
    if len(chosen) == 1:  # the usual case: no task of its own
        return [await _read(api, chosen[0], guest_path(chosen[0].path, guest), ApiNotFound)]
    return await gather_all(_read(api, r, guest_path(r.path, guest), ApiNotFound) for r in chosen)


GuestRead = tuple[ObservedGuest | None, list[tuple[str, Any] | None]]


async def _read_guests(
    api: ProxmoxClient,
    entries: Sequence[dict[str, Any]],
    online: set[str],
    needs: Needs,
    reads: Sequence[Read],
    described: asyncio.Future[frozenset[str]] | None = None,
) -> list[GuestRead]:
    """Read the guest of each `/cluster/resources` entry: its config (when `needs` says), then the per-guest
    paths chosen for it; in the entries' order (None: gone since the listing).

    As many workers as the client has requests in flight do it, each building the guests it reads, not a
    task per guest built beforehand: at 10,000 guests, creating and starting those tasks took about 0.15 s,
    and building the guests 0.1 s, before the first config went out. A guest whose paths wait for the
    manifests (`described`, still loading) waits in a task of its own, so the workers go on meanwhile.
    """
    found: list[GuestRead] = [(None, [])] * len(entries)
    waiting: list[asyncio.Future[None]] = []
    queue = iter(enumerate(entries))
    chooses = any(r.choosers for r in reads)

    async def paths_later(i: int, guest: ObservedGuest) -> None:
        found[i] = (guest, await _guest_paths(api, guest, needs, reads, described))

    async def worker() -> None:
        for i, raw in queue:
            guest = _guest(raw, online)
            if needs.configs and await _read_config(api, guest, needs) is None:
                continue  # gone
            if chooses and described is not None and not described.done():
                waiting.append(asyncio.ensure_future(paths_later(i, guest)))
            else:
                found[i] = (guest, await _guest_paths(api, guest, needs, reads, described))

    try:
        await gather_all(worker() for _ in range(min(api.concurrency, len(entries))))
        await gather_all(waiting)
    except BaseException:
        for task in waiting:
            task.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        raise
    return found


async def _read(api: ProxmoxClient, read: Read, path: str, *gone: type[PmpcError]) -> tuple[str, Any] | None:
    try:
        if read.any_refusal:
            # Any error answer leaves it unknown (a guest agent not running): no ApiError built for it.
            body = await api.get_unless_refused(path)
            return None if body is api.REFUSED else (path, body)
        return path, await api.get(path)
    except (*read.unknown_on, *gone):
        return None


_UNKNOWN = object()  # the body of an item pmpc may not read: its list is left unknown


async def _read_item(api: ProxmoxClient, read: Read, path: str, list_path: str) -> tuple[str, Any] | None:
    try:
        return path, await api.get(path)
    except ApiNotFound:
        return None  # gone between the list and this read
    except read.unknown_on:
        return list_path, _UNKNOWN


def _item_reads(api: ProxmoxClient, reads: Sequence[Read], first: dict[str, Any]) -> list[Awaitable[Any]]:
    """Return the reads of every item of the lists read in the first round (each path once)."""
    found: dict[str, Awaitable[Any]] = {}
    for read in reads:
        list_path, field_name = item_list(read.path)
        body = first.get(list_path)
        for item in body if isinstance(body, list) else []:
            value = item.get(field_name) if isinstance(item, dict) else None
            path = item_path(read.path, value)
            if value not in (None, "") and path not in found:
                found[path] = _read_item(api, read, path, list_path)
    return list(found.values())


def _node_of(raw: dict[str, Any]) -> str:
    return str(raw.get("node") or "")  # as ObservedGuest.resource_fields reads it


def _guest(raw: dict[str, Any], online: set[str]) -> ObservedGuest:
    # Validating the typed fields costs about 4 us a guest; model_construct would cost 30 times that, as
    # pydantic inspects the signature of each default factory (tags, config, pending) it calls.
    fields = ObservedGuest.resource_fields(raw)
    return ObservedGuest(**fields, unread=fields["node"] not in online)


async def observe(
    api: ProxmoxClient, needs: Needs, *, described: asyncio.Future[frozenset[str]] | None = None
) -> Observation:
    """Read nodes, guests and what `needs` names, each request once: reads only.

    `described`: the addresses the manifests name, when they are still loading (instead of
    `needs.described`): only the per-guest reads that kinds choose wait for it, each after its guest's
    config; its error is the observation's.

    Raises:
        ConnectionFailed: `needs.refuse_offline` and a node with guests is offline.
        PmpcError: a read failed (nothing partial is returned).
    """
    before = api.requests_sent
    reads = needs.all_reads()
    by_shape: dict[str, list[Read]] = {"once": [], "node": [], "item": [], "guest": []}
    for read in reads:
        by_shape[read.shape].append(read)
    for read in by_shape["item"]:  # its list is read in the first round
        list_path = item_list(read.path)[0]
        if all(r.path != list_path for r in by_shape["once"]):
            by_shape["once"].append(Read(list_path, read.unknown_on))
    # The paths read once go out with the nodes and guests, but only their items wait for them: the
    # configs and the per-node paths go out as soon as the nodes and guests are known.
    head = asyncio.ensure_future(gather_all([api.nodes(), api.cluster_resources("vm")]))
    lists = asyncio.ensure_future(gather_all(_read(api, r, r.path) for r in by_shape["once"]))
    try:
        nodes, resources = await head
        observation = Observation(guests=[], nodes=list(nodes))
        online = set(observation.online)
        entries = [r for r in resources if is_api_guest_type(r.get("type"))]
        unreachable = sorted({node for node in map(_node_of, entries) if node not in online})
        if needs.refuse_offline and unreachable:
            raise ConnectionFailed(
                f"Node(s) {', '.join(unreachable)} are offline, so their guests cannot be compared: "
                "bring them back, or plan against the last sync with --offline."
            )
    except BaseException:
        for task in (head, lists):
            task.cancel()
        await asyncio.gather(head, lists, return_exceptions=True)
        raise

    async def items() -> list[tuple[str, Any] | None]:
        known = dict(pair for pair in await lists if pair is not None)
        return await gather_all(_item_reads(api, by_shape["item"], known))

    per_node = [_read(api, r, r.on(n)) for r in by_shape["node"] for n in observation.online]
    # Each guest's config, then (chosen with it) the guest's own paths: no round waits for every guest.
    per_guest = by_shape["guest"]
    # Each guest read is built by the worker that reads it, once the first configs are on their way; the
    # others (an offline node's, or every guest when nothing per guest is read) are built here.
    reading: list[dict[str, Any]] = []
    left: list[dict[str, Any]] = []
    for raw in entries:
        (reading if (needs.configs or per_guest) and _node_of(raw) in online else left).append(raw)
    if needs.on_listed is not None:
        needs.on_listed()
    try:
        guests_read = _read_guests(api, reading, online, needs, per_guest, described)
        nodes_read, items_read, read_guests = await gather_all([gather_all(per_node), items(), guests_read])
    finally:
        if not lists.done():  # a read failed before the lists' items were asked for
            lists.cancel()
            await asyncio.gather(lists, return_exceptions=True)
    first, second = lists.result(), [*nodes_read, *items_read]
    unknown = {path for path, body in (p for p in second if p is not None) if body is _UNKNOWN}
    found = [p for p in (*first, *second, *(p for _, ps in read_guests for p in ps)) if p is not None]
    observation.reads = {path: body for path, body in found if path not in unknown}
    guests = [g for g, _ in read_guests if g is not None]  # a guest gone since the listing is left out
    guests += [_guest(r, online) for r in left]
    observation.guests = sorted(guests, key=lambda g: g.vmid)
    if needs.facts:
        observation.facts = facts_of(observation, entries)
    observation.requests = api.requests_sent - before
    return observation


def facts_of(observation: Observation, resources: Sequence[dict[str, Any]]) -> ClusterFacts:
    """Return the facts manifests are checked against, from what an observation read (pure)."""
    facts = ClusterFacts(nodes={str(n.get("node")) for n in observation.nodes})
    for node, entries in observation.per_node(STORAGES):
        facts.storages[node] = {
            str(s.get("storage")): {c for c in str(s.get("content") or "").split(",") if c} for s in entries or []
        }
    for node, entries in observation.per_node(NETWORK):
        facts.bridges[node] = {
            str(e.get("iface")) for e in entries or [] if str(e.get("type", "")).lower() in ("bridge", "ovsbridge")
        }
    facts.resources = listed(observation, registry.resource_kinds())
    facts.guests = {f"{g.kind}/{g.vmid}" for g in observation.guests}
    facts.shared_bridges |= {str(v.get("vnet")) for v in observation.reads.get(VNETS.path) or []}
    for res in resources:
        facts.guest_names.add(str(res.get("name")))
        facts.guest_vmids.add(int(res.get("vmid") or 0))
    # Bridges that guests already use count as existing (SDN VNets, bridges on other hosts).
    for guest in observation.guests:
        for key, value in guest.config.items():
            if NET_RE.match(key):
                bridge = split_props(value)[1].get("bridge")
                if bridge:
                    facts.shared_bridges.add(bridge)
    return facts


async def observe_live(app_ctx: AppContext, needs: Needs, *, bulk: bool = True) -> Observation:
    """Connect and observe the cluster."""
    from proxmox_mpc.services.connection import connect

    async with connect(app_ctx, bulk=bulk) as api:
        return await observe(api, needs)


def facts_from_store(nodes: Sequence[Any], storages: Sequence[Any]) -> ClusterFacts:
    """Build what is known offline from the state store's nodes and storages (bridges, pools unknown)."""
    facts = ClusterFacts(nodes={str(n.name) for n in nodes})
    for s in storages:
        facts.storages.setdefault(str(s.node), {})[str(s.name)] = set(getattr(s, "content", None) or [])
    return facts


def observe_last_sync(app_ctx: AppContext) -> Observation:
    """Return the guests (and the facts: nodes, storages) of the last sync, reading the store only.

    Raises:
        StateError: there is no state database, or no sync of this cluster yet.
    """
    from proxmox_mpc.services.database import cluster_key, open_state_reader

    store = open_state_reader(app_ctx)
    if store is None:
        raise StateError("No state database yet: run `pmpc sync` before `pmpc plan --offline`.")
    try:
        cluster = cluster_key(app_ctx)
        if store.last_sync(cluster) is None:
            raise StateError(f"No sync of {cluster} in the state store: run `pmpc sync` before planning offline.")
        records = store.current_guests(cluster)
        facts = facts_from_store(store.nodes(cluster), store.storages(cluster))
        facts.resources = stored_resources(store, cluster)
        facts.guests = {f"{r.kind}/{r.vmid}" for r in records}
    finally:
        store.close()
    for record in records:  # a stored guest is an observed one: what the last sync saw
        record.config = {k: v for k, v in record.config.items() if v != MASK}
    return Observation(guests=list(records), facts=facts)


def stored_resources(store: Store | LiteStore, cluster: str) -> dict[str, list[Resource]]:
    """Return the resources of the last sync, by kind (every registered kind: a sync reads them all)."""
    observed: dict[str, list[Resource]] = {k.prefix: [] for k in registry.resource_kinds()}
    for record in store.current_resources(cluster):
        observed.setdefault(record.kind, []).append(
            Resource(kind=record.kind, id=record.id, data=dict(record.data))
        )
    return observed
