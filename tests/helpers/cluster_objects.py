"""A fakepve that stores backup jobs, HA resources and rules, users, groups, roles and ACLs.

fakepve 0.5.0 checks every request to /cluster/backup, /cluster/ha/... and /access/... against PVE's
schema (parameters and permissions) and then answers with a value built from the schema's `returns`:
nothing is stored, so a job created is not listed afterwards. `ObjectsPve` keeps that route and its
schema check (`answer` validates the request before `synthesise` runs) and replaces only the
synthesised answer for those paths with the store `pmpc demo` serves too
(proxmox_mpc.services.demo.objects: ids, digests, no passwords, PVE's wording for a missing or
duplicate object, root@pam and the built-in roles from the start, passwords kept apart as PVE's shadow
file keeps them). `enable_cluster_objects(pve)` turns the running fixture instance into one, as
`enable_backups` does for vzdump; the `cluster` and `demo` fixtures of tests/conftest.py do it for every
test (fakepve alone would list a made-up backup job and HA resource that every sync would import), and
`BackupPve` builds on this class. HA groups (PVE 8's placement, replaced by rules in PVE 9) are not
stored: pmpc manages rules only.

PVE keeps a parameter sent empty (`groups=` takes a user out of every group, `comment=` clears one);
fakepve 0.5.0 drops blank form values, so for the user, group and role paths the blank ones are put back
before the schema check.

A guest's /pending on PVE lists the config's `digest` too (qemu-server and pve-container build the list
from the loaded config, digest included); fakepve 0.5.0's lists only the config keys. `ObjectsPve` adds
the digest item to the answer of fakepve's own route (its checks run first: a missing guest or a refused
read answers as before), the digest /config of the same guest gives; `pending_digest = False` on an
instance serves fakepve's own body (a server whose /pending has no digest).

PVE reads a guest's config from its file, /etc/pve/nodes/NODE/qemu-server/VMID.conf: how long that
takes does not grow with the number of guests. fakepve 0.5.0 finds a guest by walking its list of VMs
(and, for a container, its list of containers after that), which at 10,000 guests was a sixth of the
server's CPU time when `plan` read every guest's /pending. On this machine the server shares the cores
with the client it answers, so that cost was charged to whatever the benchmarks time. `ObjectsPve`
finds a guest through an index by VMID instead (`GuestList`, rebuilt after any change to the list), with
the same result: the first guest of that VMID in the list, or None.
"""

from __future__ import annotations

import contextvars
import json
import re
import urllib.parse
from typing import Any

from aiohttp import web
from fakepve import FakePve
from fakepve.model import PveError

from proxmox_mpc.services.demo.objects import (
    ACL,
    BACKUP,
    GROUPS,
    HA,
    ROLES,
    RULES,
    TEMPLATES,
    USERS,
    ObjectError,
    ObjectStore,
    digest_of,
    ha_sid,
)

__all__ = [
    "ACL",
    "BACKUP",
    "GROUPS",
    "HA",
    "ROLES",
    "RULES",
    "USERS",
    "ObjectsPve",
    "digest_of",
    "enable_cluster_objects",
    "ha_sid",
]


# Where a parameter sent empty means something (PVE keeps it; fakepve 0.5.0 drops blank form values).
BLANKS_KEPT = {USERS + "/{userid}", GROUPS + "/{groupid}", ROLES + "/{roleid}"}
# A guest's pending config, in any of the API's formats.
PENDING = re.compile(r"/nodes/[^/]+/(qemu|lxc)/\d+/pending")
# The guest the request being answered looked up (fakepve's own lookup, not a second one).
_FOUND: contextvars.ContextVar[Any] = contextvars.ContextVar("found_guest", default=None)


class GuestList(list[Any]):
    """fakepve's list of VMs (or of containers), with an index by VMID that any change to the list drops."""

    _index: dict[int, Any] | None = None

    def first(self, vmid: int) -> Any:
        """The first guest with this VMID in the list, or None (what fakepve's walk of the list returns)."""
        if self._index is None:
            self._index = {}
            for guest in self:
                self._index.setdefault(guest.vmid, guest)
        return self._index.get(vmid)

    def _changed(self) -> None:
        self._index = None


def _dropping_index(name: str) -> Any:
    def mutator(self: GuestList, *args: Any) -> Any:
        self._changed()
        return getattr(list, name)(self, *args)

    mutator.__name__ = name
    return mutator


for _name in (
    "append", "extend", "insert", "remove", "pop", "clear", "sort", "reverse",
    "__setitem__", "__delitem__", "__iadd__", "__imul__",
):  # fmt: skip
    setattr(GuestList, _name, _dropping_index(_name))


def _guests(pve: Any, attribute: str) -> GuestList:
    """The instance's list `attribute` (vms or cts) as a GuestList (fakepve may have put a new list there)."""
    found = pve.__dict__.get(attribute)
    if not isinstance(found, GuestList):
        found = GuestList(found or ())
        setattr(pve, attribute, found)
    return found


class ObjectsPve(FakePve):  # type: ignore[misc]
    """FakePve that keeps the cluster objects fakepve 0.5.0 only schema-checks, and lists the digest in /pending."""

    pending_digest = True

    def vm(self, vmid: Any) -> Any:
        return _guests(self, "vms").first(vmid)

    def ct(self, vmid: Any) -> Any:
        return _guests(self, "cts").first(vmid)

    def find(self, node: Any, vmid: Any) -> Any:
        vm = super().find(node, vmid)
        _FOUND.set(vm)
        return vm

    def _find_ct(self, node: Any, vmid: Any) -> Any:
        ct = super()._find_ct(node, vmid)
        _FOUND.set(ct)
        return ct

    async def _answer(self, request: Any, handler: Any, generic: Any, path_node: Any) -> Any:
        if not (self.pending_digest and request.method == "GET" and PENDING.search(request.path)):
            return await super()._answer(request, handler, generic, path_node)
        _FOUND.set(None)
        response = await super()._answer(request, handler, generic, path_node)
        guest = _FOUND.get()
        if response.status != 200 or guest is None:
            return response
        # fakepve's body is json.dumps({"data": [...]}): the item goes in before its closing "]}" (cheaper
        # than decoding the config and encoding it again).
        body: bytes = response.body
        head, closing = body[:-2], body[-2:]
        if closing != b"]}":
            raise AssertionError(f"unexpected /pending body from fakepve: {body[-40:]!r}")
        item = json.dumps({"key": "digest", "value": guest.digest()}).encode()
        return web.Response(
            body=head + (b", " if not head.endswith(b"[") else b"") + item + closing,
            status=response.status,
            content_type="application/json",
        )

    @property
    def object_store(self) -> ObjectStore:
        """The store of this instance (created on first use)."""
        store: ObjectStore = self.__dict__.setdefault("_object_store", ObjectStore())
        return store

    def objects(self, collection: str) -> dict[str, dict[str, Any]]:
        """The stored objects of one collection, by id (created on first use)."""
        return self.object_store.objects(collection)

    def acl_entries(self) -> list[dict[str, Any]]:
        return self.object_store.acl

    def passwords(self) -> dict[str, str]:
        """The passwords users were created with (PVE's shadow file; never part of a user's answer)."""
        return self.object_store.passwords

    async def answer(self, request: Any, match: Any, params: Any, user: Any, call: Any = None) -> Any:
        if match is not None and match.template in BLANKS_KEPT and request.content_type.endswith("urlencoded"):
            pairs = urllib.parse.parse_qsl((await request.read()).decode(), keep_blank_values=True)
            params = {**{k: v for k, v in pairs if v == ""}, **params}
        return await super().answer(request, match, params, user, call)

    async def synthesise(self, match: Any, method: str, info: Any, user: Any, values: dict[str, Any]) -> Any:
        if match.template not in TEMPLATES:
            return await super().synthesise(match, method, info, user, values)
        try:
            return self.object_store.answer(match.template, method, values)
        except ObjectError as exc:
            raise PveError(exc.status, exc.message) from None


def enable_cluster_objects(pve: FakePve) -> ObjectsPve:
    """Make a running FakePve an ObjectsPve (same state, same routes); return it."""
    pve.__class__ = ObjectsPve
    return pve  # type: ignore[return-value]
