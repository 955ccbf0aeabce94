"""The Kind protocol: what every kind of resource answers, so the pipeline can drive it without naming it.

A kind is one module (vm.py, ct.py, pool.py, ...) holding one `Kind` subclass. It declares its manifest
model, its address (`pool/prod`), its folder under `resources/`, the PVE paths it reads and writes,
how an API item becomes a normalised `Resource`, how a manifest is compared with one (`diff` -> a plan
`Change`, with the fields that force a replace), the requests that carry a change out, the other kinds
it references, and how the generators spell it (a bpg Terraform resource type and import id, an
Ansible module). Guest kinds (VM, CT) keep their richer machinery in core/ and are driven by the guest
path; every other kind goes through the generic resource pipeline.
"""

from __future__ import annotations

import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.manifest import Lifecycle
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.models import ObservedGuest
from proxmox_mpc.core.plan import Change, FieldChange

Loc = tuple[str | int, ...]
PRESENCE_FIELD = "state"
# A reference to a guest by VMID whose type the manifest does not say (a backup job's `vmids`): `guest/101`
# is satisfied by `vm/101` or `ct/101`.
ANY_GUEST = "guest"
GUEST_PREFIXES = ("vm", "ct", ANY_GUEST)


# ----------------------------------------------------------------------------- the paths a kind reads
#
# A kind's `reads` are API paths, its list path first. Placeholders say how often a path is read:
#   /pools                                      once
#   /nodes/{node}/firewall/rules                on every online node
#   /cluster/firewall/ipset/{name}              per item: once for each item of the body of the path before
#                                               the placeholder (/cluster/firewall/ipset, read once), the
#                                               placeholder naming the item's field (`name`); after the list
#   /nodes/{node}/{type}/{vmid}/firewall/rules  per guest: once for each observed guest on an online node
#                                               that the kind's `reads_guest` chooses ({type}: qemu or lxc)
# Every concrete path is read once per observation, concurrently with the others of its round. The bodies
# come back in `from_reads` by concrete path: build them with `item_path` and `guest_path`. An item gone
# between the list and its read (404) has no body: it is gone. A guest not chosen, gone, or not readable
# has no body either.

GUEST_PLACEHOLDERS = ("{node}", "{type}", "{vmid}")
ReadShape = Literal["once", "node", "item", "guest"]
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def read_shape(path: str) -> ReadShape:
    """Return how often a declared path is read: `once`, per `node`, per `item` of a list, per `guest`.

    Raises:
        ValueError: a path whose placeholders fit none of these (see the table above).
    """
    names = _PLACEHOLDER.findall(path)
    if not names:
        return "once"
    if "vmid" in names:
        if sorted(names) != ["node", "type", "vmid"]:
            raise ValueError(f"{path}: a per-guest path names {{node}}, {{type}} and {{vmid}}, nothing else")
        return "guest"
    if names == ["node"]:
        return "node"
    if len(names) == 1 and names[0] not in ("node", "type"):
        return "item"
    raise ValueError(f"{path}: a read names {{node}}, one item field, or {{node}}/{{type}}/{{vmid}}")


def item_list(path: str) -> tuple[str, str]:
    """Return (list path, item field) of a per-item path: `/cluster/firewall/ipset/{name}` ->
    (`/cluster/firewall/ipset`, `name`)."""
    found = _PLACEHOLDER.search(path)
    if found is None or read_shape(path) != "item" or found.start() == 0 or path[found.start() - 1] != "/":
        raise ValueError(f"{path} is not a per-item path (LIST/{{field}})")
    return path[: found.start() - 1], found.group(1)


def item_path(path: str, value: Any) -> str:
    """Return the concrete path of one item: `/cluster/firewall/ipset/{name}` with `web` -> `.../ipset/web`."""
    return _PLACEHOLDER.sub(lambda _: quote(str(value), safe=""), path, count=1)


def guest_path(path: str, guest: ObservedGuest) -> str:
    """Return the concrete path of a per-guest path for one guest (`{type}`: PVE's qemu or lxc)."""
    return (
        path.replace("{node}", _segment(guest.node)).replace("{type}", guest.type).replace("{vmid}", str(guest.vmid))
    )


@functools.lru_cache(maxsize=256)
def _segment(name: str) -> str:
    """Return a name quoted as one path segment (a cluster has few nodes: each is quoted once)."""
    return quote(name, safe="")


@dataclass(frozen=True)
class TerraformMapping:
    """How the bpg provider spells a kind: its resource type and the id `terraform import` takes."""

    resource_type: str
    # A format over the resource's identity fields, as the provider documents its import id.
    import_id: str
    # False where the provider documents no import (the generator then warns instead of importing).
    importable: bool = True


@dataclass(frozen=True)
class AnsibleMapping:
    """How the Ansible generator provisions a kind: a community.proxmox module (or a documented uri call)."""

    module: str


@dataclass(frozen=True)
class ApiWrite:
    """A resource the playbook writes through the API itself (`ansible.builtin.uri`: no module manages it).

    The generator POSTs `body` plus `key: ident` to `collection` for a resource to create, and PUTs `body`
    to `collection/ident` for one that exists.
    """

    collection: str
    key: str
    ident: str
    body: dict[str, Any]
    # Keys of `body` sent only to create the resource (PVE refuses them on update: a storage's type, vgname).
    fixed: tuple[str, ...] = ()


@dataclass(frozen=True)
class EnvSecret:
    """A secret a manifest names by its environment variable (`password_env: NAME`).

    A kind's generator mapping gives this instead of a value: Terraform gets a sensitive variable,
    Ansible an environment lookup; the value itself is read only when a request is sent.
    """

    env: str


@dataclass(frozen=True)
class Reference:
    """A manifest's reference to a resource of another kind: where it is written and what it names."""

    loc: Loc
    address: str
    kind: str


def guest_reference(loc: Loc, vmid: int | str, prefix: str = ANY_GUEST) -> Reference:
    """Return a reference to the guest with this VMID (`vm/101`; `guest/101` when either type will do)."""
    return Reference(loc, f"{prefix}/{vmid}", prefix)


class Resource(Model):
    """One resource of a non-guest kind as the cluster (or the last sync) shows it, normalised."""

    model_config = ConfigDict(frozen=True)

    kind: str  # the address prefix: pool
    id: str
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def address(self) -> str:
        """Return `pool/prod`."""
        return f"{self.kind}/{self.id}"


class _Strict(Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ResourceSpec(_Strict):
    """The part of a spec every non-guest kind shares: `state: absent` asks for the resource to go."""

    state: Literal["present", "absent"] | None = None


class ResourceManifest(_Strict):
    """The shape every non-guest manifest has: `kind`, `name`, `lifecycle`, `spec`."""

    kind: str
    name: str
    lifecycle: Lifecycle | None = None
    spec: ResourceSpec = Field(default_factory=ResourceSpec)

    # The address prefix of the kind (set by each kind's model).
    prefix: ClassVar[str] = ""

    @field_validator("name", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @property
    def address(self) -> str:
        """Return the plan address: `pool/prod`."""
        return f"{self.prefix}/{self.name}"

    @property
    def absent(self) -> bool:
        """Return True when the manifest asks for the resource to be deleted."""
        return self.spec.state == "absent"


# PVE's pve-configid: the id of a backup job or an HA rule (PVE checks it case-insensitively).
CONFIG_ID = re.compile(r"[A-Za-z][A-Za-z0-9_\-]*")


def check_name(pattern: re.Pattern[str], value: str, what: str) -> str:
    """Return `value` when `pattern` matches all of it, else raise ValueError naming `what`."""
    if not pattern.fullmatch(value):
        raise ValueError(f"{value!r} is not {what}")
    return value


class Kind(ABC):
    """What every kind answers: the registry holds one instance of each subclass."""

    name: ClassVar[str]  # the manifest kind: Pool
    prefix: ClassVar[str]  # the address prefix: pool
    folder: ClassVar[str]  # under resources/: pools
    model: ClassVar[type[BaseModel]]
    reads: ClassVar[tuple[str, ...]]  # the list path first
    writes: ClassVar[tuple[str, ...]]
    replace_fields: ClassVar[frozenset[str]] = frozenset()
    terraform: ClassVar[TerraformMapping]
    ansible: ClassVar[AnsibleMapping]
    # VM and CT: driven by the guest path (VMIDs, nodes, tasks, power), not the generic one.
    guest: ClassVar[bool] = False
    # A small valid manifest of this kind (docs, and the registry test that every kind passes).
    example: ClassVar[dict[str, Any]]

    def address(self, ident: str | int) -> str:
        """Return the address of a resource of this kind: `pool/prod`, `vm/101`."""
        return f"{self.prefix}/{ident}"

    @abstractmethod
    def references(self, manifest: Any) -> list[Reference]:
        """Return the resources of other kinds a manifest names (validate checks them, apply orders by them)."""

    @abstractmethod
    def change_references(self, change: Change) -> list[str]:
        """Return the addresses a change names: made before it (create, update), removed after it (delete)."""


class ResourceKind(Kind):
    """A non-guest kind: everything the generic resource pipeline needs."""

    model: ClassVar[type[ResourceManifest]]
    # Shown by `pmpc <kind> list`: the columns of its table.
    columns: ClassVar[tuple[str, ...]] = ()
    # "module:function" of a service that carries out a change with live reads (a positional list written
    # one digest-checked request at a time); None: the kind's `requests` are sent as they are.
    applier: ClassVar[str | None] = None
    # The kind's paths do not exist on older servers (HA rules before PVE 9): a 404 or 501 leaves the kind
    # unread, as a missing right to list it does, instead of failing the command.
    missing_on_older_servers: ClassVar[bool] = False
    # Why a kind could be left unread: a plan with manifests of it is refused with this sentence.
    unread_reason: ClassVar[str] = "pmpc's user needs the right to list it"
    # Manifest fields that name the environment variable of a secret -> the API parameter it is sent as
    # (`password_env` -> `password`). A plan carries the variable's name; apply reads the value and adds it
    # to the requests that write the resource (POST, PUT); nothing else ever holds it.
    secret_params: ClassVar[Mapping[str, str]] = {}
    # False: PVE takes the secrets only with a create (a user's password), so `--send-secrets` is refused.
    secrets_on_update: ClassVar[bool] = True

    # ------------------------------------------------------------------ reading

    @abstractmethod
    def normalise(self, item: Mapping[str, Any]) -> Resource | None:
        """Return one API list item as a Resource (None: an item pmpc does not manage)."""

    def reads_guest(self, guest: ObservedGuest, described: frozenset[str]) -> bool:
        """Tell whether to read this kind's per-guest paths for a guest (observe asks for each guest on an
        online node, with its config when the command reads configs; `described`: the addresses the
        workspace's manifests name, when the command says). Every guest unless the kind says otherwise."""
        return True

    def from_api(self, items: Sequence[Mapping[str, Any]]) -> list[Resource]:
        """Return every managed resource of a list answer, by id."""
        found = [r for r in (self.normalise(i) for i in items or []) if r is not None]
        return sorted(found, key=lambda r: r.id)

    def from_reads(self, bodies: Mapping[str, Any]) -> list[Resource]:
        """Return the resources from the bodies of every path read ({path: body}; `{node}` paths per node).

        Most kinds need their list path only; a kind that spreads over several paths reads them here.
        """
        body = bodies.get(self.reads[0])
        return self.from_api(body if isinstance(body, list) else [])

    def file_stem(self, resource: Resource) -> str:
        """Return the name `sync --import` gives a resource's manifest file (before `.yaml`; made safe later).

        Kinds that share a folder start it with their prefix, so that two kinds' ids never meet.
        """
        return resource.id

    @abstractmethod
    def to_manifest(self, resource: Resource) -> ResourceManifest:
        """Return the manifest `sync --import` writes for a resource."""

    @abstractmethod
    def desired(self, manifest: ResourceManifest) -> dict[str, Any]:
        """Return the normalised data a manifest asks for (the fields it manages; None: unmanaged)."""

    def references(self, manifest: Any) -> list[Reference]:
        """Return the resources of other kinds a manifest names (none unless the kind says so)."""
        return []

    def belongs_to(self, manifest: ResourceManifest) -> str | None:
        """Return the guest (`vm/101`) a resource is part of: it goes when the guest goes (None: none)."""
        return None

    def placement(self, manifest: ResourceManifest, nodes: Mapping[str, str]) -> list[tuple[str, Any]]:
        """Return the Terraform attributes that say where a resource lives, from the guests' nodes ({`vm/101`: node}).

        The generator puts them before `terraform_attrs`; none unless the kind lives with a guest.
        """
        return []

    # ------------------------------------------------------------------ comparing

    def diff(self, manifest: ResourceManifest, observed: Resource | None) -> Change | None:
        """Return the change that makes `observed` (None: absent) match `manifest`, or None."""
        address = manifest.address
        if manifest.absent:
            if observed is None:
                return None
            return self.change(address, "delete", [FieldChange(name=PRESENCE_FIELD, old="present", new="absent")])
        want = self.desired(manifest)
        if observed is None:
            fields = [FieldChange(name=k, new=text(v)) for k, v in sorted(want.items()) if v is not None]
            return self.change(address, "create", [*fields, *self.secret_fields(manifest)])
        fields = []
        ignored = set(manifest.lifecycle.ignore_changes) if manifest.lifecycle else set()
        for key, value in sorted(want.items()):
            if value is None or key in ignored or self.same(key, value, observed.data.get(key)):
                continue
            forces = key in self.replace_fields
            fields.append(
                FieldChange(name=key, old=text(observed.data.get(key)), new=text(value), forces_replacement=forces)
            )
        if not fields:
            return None
        if any(f.forces_replacement for f in fields):
            return self.change(address, "replace", [*fields, *self.secret_fields(manifest)])
        return self.change(address, "update", fields)

    def secret_fields(self, manifest: ResourceManifest) -> list[FieldChange]:
        """Return the fields that send a manifest's secrets: the variables' names (a value is never in a plan)."""
        spec = manifest.spec
        return [FieldChange(name=f, new=getattr(spec, f)) for f in self.secret_params if getattr(spec, f, None)]

    def stale(self, change: Change, found: Resource | None) -> str | None:
        """Return why a saved plan's change no longer fits what exists now (None: it still fits)."""
        if change.action == "create":
            return f"{change.address} exists now" if found is not None else None
        if found is None:
            return f"{change.address} is gone"
        if change.action == "update" and any(text(found.data.get(f.name)) != f.old for f in change.fields):
            return f"{change.address} changed"
        return None

    def same(self, key: str, want: Any, have: Any) -> bool:
        """Return True when an observed value already is the wanted one (PVE's own rewrites allowed for)."""
        return text(want) == text(have)

    def change(self, address: str, action: str, fields: list[FieldChange]) -> Change:
        """Return a plan change of this kind."""
        return Change(address=address, kind=self.prefix, action=action, fields=fields)  # type: ignore[arg-type]

    def change_references(self, change: Change) -> list[str]:
        """Return the addresses a change names (none unless the kind says so)."""
        return []

    # ------------------------------------------------------------------ writing

    @abstractmethod
    def requests(self, change: Change) -> list[PlannedRequest]:
        """Return the API requests that carry out a change, in order."""

    # ------------------------------------------------------------------ generators

    @abstractmethod
    def terraform_attrs(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        """Return the attributes of the Terraform resource describing a manifest."""

    @abstractmethod
    def ansible_args(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        """Return the module arguments of the Ansible task provisioning a manifest."""

    def ansible_more(self, manifest: ResourceManifest) -> list[tuple[str, list[tuple[str, Any]]]]:
        """Return further tasks of the same module after the first, as (what the task makes sure, arguments):
        for a module that cannot do it all in one call (none unless the kind says so)."""
        return []

    def terraform_unmapped(self, manifest: ResourceManifest) -> list[str]:
        """Return the manifest fields the Terraform resource cannot express (the generator names them)."""
        return []

    def import_id(self, manifest: ResourceManifest) -> str:
        """Return the id `terraform import` takes for the resource a manifest describes."""
        return self.terraform.import_id.format(id=manifest.name)

    def terraform_type(self, manifest: ResourceManifest) -> str:
        """Return the Terraform resource type of a manifest (a kind whose type depends on it says so)."""
        return self.terraform.resource_type

    def ansible_module(self, manifest: ResourceManifest) -> str:
        """Return the Ansible module of a manifest's task (`ansible.builtin.uri` where no module fits)."""
        return self.ansible.module

    # ------------------------------------------------------------------ checks before anything is sent

    def node_references(self, manifest: ResourceManifest) -> list[tuple[Loc, str]]:
        """Return (location, node) of every cluster node a manifest names (validate checks they exist)."""
        return []

    def environment(self, change: Change) -> list[tuple[str, str]]:
        """Return (field, variable) of each environment variable a change reads its secrets from."""
        return [(f.name, f.new) for f in change.fields if f.name in self.secret_params and f.new]

    def in_use(self, change: Change, guests: Sequence[Any]) -> str | None:
        """Return why a delete or replace would break guests that use the resource (None: none do)."""
        return None

    # ------------------------------------------------------------------ listing

    def row(self, resource: Resource) -> dict[str, Any]:
        """Return a resource as the row `pmpc <kind> list|get` prints."""
        return {"id": resource.id, **resource.data}


def collection_requests(change: Change, collection: str, key: str, params: Mapping[str, Any]) -> list[PlannedRequest]:
    """Return the requests of a change to an object PVE keeps in `collection` by id (`/access/groups/ops`).

    POST to the collection creates it (the id as `key`), PUT to its own path updates it, DELETE there
    removes it, and a replace deletes, then creates.
    """
    ident = change.address.split("/", 1)[1]
    one = f"{collection}/{ident}"
    delete = PlannedRequest(method="DELETE", path=one)
    create = PlannedRequest(method="POST", path=collection, params={key: ident, **params})
    if change.action == "delete":
        return [delete]
    if change.action == "create":
        return [create]
    if change.action == "replace":
        return [delete, create]
    return [PlannedRequest(method="PUT", path=one, params=dict(params))]


def text(value: Any) -> str | None:
    """Return a value as a plan shows it (None stays None; booleans as 1/0, as PVE writes them)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def resource_document(manifest: ResourceManifest) -> dict[str, Any]:
    """Return a manifest of a non-guest kind as the YAML document pmpc writes (absent fields left out)."""
    data = manifest.model_dump(mode="json", exclude_none=True)
    ordered: dict[str, Any] = {"kind": data["kind"], "name": data["name"]}
    if data.get("lifecycle"):
        ordered["lifecycle"] = data["lifecycle"]
    ordered["spec"] = data.get("spec") or {}
    return ordered


def blank_equal(want: Any, have: Any) -> bool:
    """Return True when two values are the same as PVE keeps them: an empty value is no value."""
    return (text(want) or None) == (text(have) or None)


def item_requests(
    change: Change, collection: str, key: str, params: Mapping[str, str] | None = None
) -> list[PlannedRequest]:
    """Return the requests of a change to an item of a PVE collection (`/cluster/backup`, ...).

    A create POSTs to the collection with `key` naming the item, an update PUTs to `collection/ID`
    (an emptied field goes into PVE's `delete` list), a delete DELETEs it, a replace does both.
    `params` maps a field's name to PVE's parameter where they differ.
    """
    ident = change.address.split("/", 1)[1]
    names = params or {}
    one = PlannedRequest(method="DELETE", path=f"{collection}/{ident}")
    if change.action == "delete":
        return [one]
    values = {names.get(f.name, f.name): f.new for f in change.fields if f.name != PRESENCE_FIELD}
    given = {k: v for k, v in values.items() if v not in (None, "")}
    create = PlannedRequest(method="POST", path=collection, params={key: ident, **given})
    if change.action == "create":
        return [create]
    if change.action == "replace":
        return [one, create]
    cleared = sorted(k for k, v in values.items() if v in (None, ""))
    if cleared:
        given["delete"] = ",".join(cleared)
    return [PlannedRequest(method="PUT", path=f"{collection}/{ident}", params=given)]
