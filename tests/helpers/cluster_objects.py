"""A fakepve that stores backup jobs, HA resources and rules, users, groups, roles and ACLs.

fakepve 0.5.0 checks every request to /cluster/backup, /cluster/ha/... and /access/... against PVE's
schema (parameters and permissions) and then answers with a value built from the schema's `returns`:
nothing is stored, so a job created is not listed afterwards. `ObjectsPve` keeps that route and its
schema check (`answer` validates the request before `synthesise` runs) and replaces only the
synthesised answer for those paths with a small store that behaves as PVE's does:

- a backup job gets an id (`backup-` and 8 hex digits) unless one is given; `PUT` takes `delete`;
- an HA resource is keyed by its `sid` (`vm:101`, or `101` for a VM), with a config `digest` that a
  `PUT` must match when it sends one;
- users never return a password (PVE keeps it in its shadow file, not the user config);
- a role's `GET` answers the map `{privilege: 1}`; `PUT` replaces the privileges unless `append`;
- `PUT /access/acl` adds, or with `delete=1` removes, one entry per role and user/group/token.

Errors carry PVE's status and wording for a missing or duplicate object. `enable_cluster_objects(pve)`
turns the running fixture instance into one, as `enable_backups` does for vzdump.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from fakepve import FakePve
from fakepve.model import PveError

BACKUP = "/cluster/backup"
HA = "/cluster/ha/resources"
RULES = "/cluster/ha/rules"
USERS = "/access/users"
GROUPS = "/access/groups"
ROLES = "/access/roles"
ACL = "/access/acl"
# The collection each template stores into, with the key that names an object there.
COLLECTIONS = {
    BACKUP: ("backup", "id"),
    BACKUP + "/{id}": ("backup", "id"),
    HA: ("ha", "sid"),
    HA + "/{sid}": ("ha", "sid"),
    RULES: ("rules", "rule"),
    RULES + "/{rule}": ("rules", "rule"),
    USERS: ("users", "userid"),
    USERS + "/{userid}": ("users", "userid"),
    GROUPS: ("groups", "groupid"),
    GROUPS + "/{groupid}": ("groups", "groupid"),
    ROLES: ("roles", "roleid"),
    ROLES + "/{roleid}": ("roles", "roleid"),
}
# PVE's words for an object that is not there, by collection.
MISSING = {
    "backup": "job '{0}' does not exist",
    "ha": "no such resource '{0}'",
    "rules": "no such ha rule '{0}'",
    "users": "no such user ('{0}')",
    "groups": "group '{0}' does not exist",
    "roles": "role '{0}' does not exist",
}
# Parameters that steer a request rather than being stored.
CONTROL = {"delete", "digest", "append", "purge", "password"}


def ha_sid(raw: str) -> str:
    """Return PVE's canonical HA resource id: a bare VMID means a VM (`101` -> `vm:101`)."""
    return f"vm:{raw}" if raw.isdigit() else raw


def digest_of(config: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()


class ObjectsPve(FakePve):  # type: ignore[misc]
    """FakePve that keeps the cluster objects fakepve 0.5.0 only schema-checks."""

    def objects(self, collection: str) -> dict[str, dict[str, Any]]:
        """The stored objects of one collection, by id (created on first use)."""
        store: dict[str, dict[str, dict[str, Any]]] = self.__dict__.setdefault("_cluster_objects", {})
        return store.setdefault(collection, {})

    def acl_entries(self) -> list[dict[str, Any]]:
        entries: list[dict[str, Any]] = self.__dict__.setdefault("_acl_entries", [])
        return entries

    async def synthesise(self, match: Any, method: str, info: Any, user: Any, values: dict[str, Any]) -> Any:
        template = match.template
        if template == ACL:
            return self._acl(method, values)
        if template in COLLECTIONS:
            collection, key = COLLECTIONS[template]
            if template.endswith("}"):
                return self._one(collection, key, method, values)
            return self._many(collection, key, method, values)
        return await super().synthesise(match, method, info, user, values)

    # ------------------------------------------------------------------ collections

    def _many(self, collection: str, key: str, method: str, values: dict[str, Any]) -> Any:
        store = self.objects(collection)
        if method == "GET":
            return [self._listed(collection, oid, obj) for oid, obj in sorted(store.items())]
        oid = self._new_id(collection, key, values)
        if oid in store:
            raise PveError(500, f"create failed: '{oid}' already exists")
        obj = {k: v for k, v in values.items() if k not in CONTROL and k != key}
        if collection == "ha":
            obj.setdefault("state", "started")
            obj["type"] = oid.partition(":")[0]
        if collection == "roles":
            obj["privs"] = self._privs(values.get("privs"))
        store[oid] = obj
        return None

    def _one(self, collection: str, key: str, method: str, values: dict[str, Any]) -> Any:
        store = self.objects(collection)
        oid = ha_sid(str(values[key])) if collection == "ha" else str(values[key])
        if oid not in store:
            raise PveError(500, MISSING[collection].format(oid))
        obj = store[oid]
        if method == "GET":
            return self._shown(collection, oid, obj)
        if method == "DELETE":
            del store[oid]
            return None
        if values.get("digest") and values["digest"] != digest_of(obj):
            raise PveError(500, "detected modified configuration - file changed by other user? Try again.")
        if collection == "roles":
            privs = self._privs(values.get("privs"))
            obj["privs"] = sorted(set(obj["privs"]) | set(privs)) if values.get("append") else privs
            return None
        for name in str(values.get("delete") or "").replace(";", ",").split(","):
            obj.pop(name.strip(), None)
        obj.update((k, v) for k, v in values.items() if k not in CONTROL and k != key)
        return None

    def _new_id(self, collection: str, key: str, values: dict[str, Any]) -> str:
        if collection == "backup" and not values.get("id"):
            return f"backup-{secrets.token_hex(4)}"
        raw = str(values.get(key) or "")
        return ha_sid(raw) if collection == "ha" else raw

    @staticmethod
    def _privs(raw: Any) -> list[str]:
        return sorted({p.strip() for p in str(raw or "").replace(";", ",").split(",") if p.strip()})

    def _listed(self, collection: str, oid: str, obj: dict[str, Any]) -> dict[str, Any]:
        key = next(k for (c, k) in COLLECTIONS.values() if c == collection)
        entry = {key: oid, **obj}
        if collection == "roles":
            entry["privs"] = ",".join(obj["privs"])
            entry["special"] = 0
        if collection == "groups":
            entry["users"] = ",".join(self._members(oid))
        if collection == "ha":
            entry["digest"] = digest_of(obj)
        return entry

    def _shown(self, collection: str, oid: str, obj: dict[str, Any]) -> dict[str, Any]:
        if collection == "roles":
            return {p: 1 for p in obj["privs"]}
        if collection == "groups":
            return {"comment": obj.get("comment", ""), "members": self._members(oid)}
        if collection == "users":
            return dict(obj)
        key = next(k for (c, k) in COLLECTIONS.values() if c == collection)
        shown = {key: oid, **obj}
        if collection == "ha":
            shown["digest"] = digest_of(obj)
        return shown

    def _members(self, group: str) -> list[str]:
        users = self.objects("users")
        return sorted(u for u, obj in users.items() if group in str(obj.get("groups", "")).split(","))

    # ------------------------------------------------------------------ ACL

    def _acl(self, method: str, values: dict[str, Any]) -> Any:
        entries = self.acl_entries()
        if method == "GET":
            return [dict(e) for e in entries]
        path = str(values["path"])
        propagate = int(values.get("propagate", 1))
        subjects = [
            (kind, ugid.strip())
            for kind, field in (("user", "users"), ("group", "groups"), ("token", "tokens"))
            for ugid in str(values.get(field) or "").split(",")
            if ugid.strip()
        ]
        for role in (r.strip() for r in str(values["roles"]).split(",") if r.strip()):
            for kind, ugid in subjects:
                entries[:] = [
                    e for e in entries if (e["path"], e["type"], e["ugid"], e["roleid"]) != (path, kind, ugid, role)
                ]
                if not values.get("delete"):
                    entries.append({"path": path, "type": kind, "ugid": ugid, "roleid": role, "propagate": propagate})
        return None


def enable_cluster_objects(pve: FakePve) -> ObjectsPve:
    """Make a running FakePve an ObjectsPve (same state, same routes); return it."""
    pve.__class__ = ObjectsPve
    return pve  # type: ignore[return-value]
