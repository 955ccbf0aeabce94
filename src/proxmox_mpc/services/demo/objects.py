"""The cluster objects the simulated cluster keeps itself: backup jobs, HA resources and rules, access.

fakepve checks every request to /cluster/backup, /cluster/ha/... and /access/... against PVE's schema
(parameters and permissions) but stores nothing there. `ObjectStore` is the missing memory, applied
only to a request the schema check accepted, and answers as PVE does:

- a backup job gets an id (`backup-` and 8 hex digits) unless one is given; `PUT` takes `delete`;
- an HA resource is keyed by its `sid` (`vm:101`, or `101` for a VM), with a config `digest` that a
  `PUT` must match when it sends one;
- users never return a password (PVE keeps it in its shadow file, not the user config: `passwords`
  stands for that file); `root@pam` is there from the start, and deleting a group takes it out of
  its users' groups;
- the built-in roles (Administrator, NoAccess, PVEAuditor, PVEVMAdmin here) are listed with
  `special: 1`; a role's `GET` answers the map `{privilege: 1}`; `PUT` replaces the privileges unless
  `append`;
- `PUT /access/acl` adds, or with `delete=1` removes, one entry per role and user/group/token.

Errors are `ObjectError` with PVE's status and wording for a missing or duplicate object. Values
arrive as the client sent them (text) or as the schema check coerced them: integer and boolean
parameters are stored as numbers either way, as PVE's schema types them. Pure: no I/O. The demo's
front (front.py) and the tests' stateful fake both answer through it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import urllib.parse
from collections.abc import Callable
from typing import Any

BACKUP = "/cluster/backup"
HA = "/cluster/ha/resources"
RULES = "/cluster/ha/rules"
USERS = "/access/users"
GROUPS = "/access/groups"
ROLES = "/access/roles"
ACL = "/access/acl"
# The collection each path template stores into, with the key that names an object there.
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
TEMPLATES = (*COLLECTIONS, ACL)
KEYS = {collection: key for collection, key in COLLECTIONS.values()}
# PVE's words for an object that is not there, by collection.
MISSING = {
    "backup": "job '{0}' does not exist",
    "ha": "no such resource '{0}'",
    "rules": "no such ha rule '{0}'",
    "users": "no such user ('{0}')",
    "groups": "group '{0}' does not exist",
    "roles": "role '{0}' does not exist",
}
DIGEST_CHANGED = "detected modified configuration - file changed by other user? Try again."
# What a new PVE has before anyone adds anything: its superuser and (some of) its built-in roles.
SEEDED: dict[str, dict[str, dict[str, Any]]] = {
    "users": {"root@pam": {"enable": 1, "expire": 0}},
    "roles": {
        "Administrator": {"privs": ["Sys.Audit", "Sys.Modify", "VM.Allocate", "VM.Audit"], "special": 1},
        "NoAccess": {"privs": [], "special": 1},
        "PVEAuditor": {"privs": ["Sys.Audit", "VM.Audit"], "special": 1},
        "PVEVMAdmin": {"privs": ["VM.Allocate", "VM.Audit", "VM.PowerMgmt"], "special": 1},
    },
}
# Parameters that steer a request rather than being stored.
CONTROL = {"delete", "digest", "append", "purge", "password"}
# The integer and boolean parameters of each collection's POST and PUT, as PVE 9's API schema types them.
INTEGERS = {
    "backup": frozenset({"bwlimit", "ionice", "lockwait", "pigz", "stopwait", "zstd"}),
    "ha": frozenset({"max_relocate", "max_restart"}),
    "users": frozenset({"expire"}),
}
BOOLEANS = {
    "backup": frozenset({"all", "enabled", "protected", "quiet", "remove", "repeat-missed", "stdexcludes", "stop"}),
    "ha": frozenset({"auto-rebalance", "failback", "purge"}),
    "users": frozenset({"append", "enable"}),
    "roles": frozenset({"append"}),
    "acl": frozenset({"delete", "propagate"}),
}
TRUE = frozenset({"1", "on", "yes", "true"})
FALSE = frozenset({"0", "off", "no", "false"})


class ObjectError(Exception):
    """A request PVE refuses: its HTTP status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def ha_sid(raw: str) -> str:
    """Return PVE's canonical HA resource id: a bare VMID means a VM (`101` -> `vm:101`)."""
    return f"vm:{raw}" if raw.isdigit() else raw


def digest_of(config: dict[str, Any]) -> str:
    """Return the digest of one object's stored config."""
    return hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()


def match_path(path: str) -> tuple[str, dict[str, str]] | None:
    """Return (template, path parameters) of a stored object's API path (after /api2/json), else None."""
    segments = [urllib.parse.unquote(s) for s in path.strip("/").split("/")]
    for template in TEMPLATES:
        parts = template.strip("/").split("/")
        if len(parts) != len(segments):
            continue
        params: dict[str, str] = {}
        for part, segment in zip(parts, segments, strict=True):
            if part.startswith("{"):
                if not segment:
                    break
                params[part[1:-1]] = segment
            elif part != segment:
                break
        else:
            return template, params
    return None


def _typed(collection: str, values: dict[str, Any]) -> dict[str, Any]:
    """Return values with the collection's integer and boolean parameters as numbers (as the schema coerces)."""
    typed = dict(values)
    for name, value in values.items():
        if not isinstance(value, str):
            continue
        text = value.strip().lower()
        if name in INTEGERS.get(collection, ()) and text.lstrip("+-").isdigit():
            typed[name] = int(text)
        elif name in BOOLEANS.get(collection, ()) and text in TRUE | FALSE:
            typed[name] = int(text in TRUE)
    return typed


def _split(raw: Any) -> list[str]:
    return [item.strip() for item in str(raw or "").replace(";", ",").split(",") if item.strip()]


class ObjectStore:
    """The backup jobs, HA resources and rules, users, groups, roles and ACL of one simulated cluster."""

    def __init__(self, new_backup_id: Callable[[], str] | None = None) -> None:
        self.collections: dict[str, dict[str, dict[str, Any]]] = {
            collection: {oid: json.loads(json.dumps(obj)) for oid, obj in seeded.items()}
            for collection, seeded in SEEDED.items()
        }
        self.acl: list[dict[str, Any]] = []
        # The passwords users were created with (PVE's shadow file): never part of an answer.
        self.passwords: dict[str, str] = {}
        self._new_backup_id = new_backup_id or (lambda: f"backup-{secrets.token_hex(4)}")

    def objects(self, collection: str) -> dict[str, dict[str, Any]]:
        """Return the stored objects of one collection, by id (created on first use)."""
        return self.collections.setdefault(collection, {})

    def answer(self, template: str, method: str, values: dict[str, Any]) -> Any:
        """Apply one request the schema check accepted; return the `data` PVE answers.

        Raises:
            ObjectError: PVE refuses the request (a missing or duplicate object, a stale digest).
        """
        if template == ACL:
            return self._acl(method, _typed("acl", values))
        collection, key = COLLECTIONS[template]
        values = _typed(collection, values)
        if template.endswith("}"):
            return self._one(collection, key, method, values)
        return self._many(collection, key, method, values)

    # ------------------------------------------------------------------ collections

    def _many(self, collection: str, key: str, method: str, values: dict[str, Any]) -> Any:
        store = self.objects(collection)
        if method == "GET":
            return [self._listed(collection, oid, obj) for oid, obj in sorted(store.items())]
        oid = self._new_id(collection, key, values)
        if oid in store:
            raise ObjectError(500, f"create failed: '{oid}' already exists")
        obj = {k: v for k, v in values.items() if k not in CONTROL and k != key}
        if collection == "ha":
            obj.setdefault("state", "started")
            obj["type"] = oid.partition(":")[0]
        if collection == "roles":
            obj["privs"] = sorted(set(_split(values.get("privs"))))
        if collection == "users" and values.get("password"):
            self.passwords[oid] = str(values["password"])
        store[oid] = obj
        return None

    def _one(self, collection: str, key: str, method: str, values: dict[str, Any]) -> Any:
        store = self.objects(collection)
        oid = ha_sid(str(values[key])) if collection == "ha" else str(values[key])
        if oid not in store:
            raise ObjectError(500, MISSING[collection].format(oid))
        obj = store[oid]
        if method == "GET":
            return self._shown(collection, oid, obj)
        if method == "DELETE":
            del store[oid]
            if collection == "groups":
                for user in self.objects("users").values():
                    user["groups"] = ",".join(g for g in _split(user.get("groups")) if g != oid)
            return None
        if values.get("digest") and values["digest"] != digest_of(obj):
            raise ObjectError(500, DIGEST_CHANGED)
        if collection == "roles":
            privs = sorted(set(_split(values.get("privs"))))
            obj["privs"] = sorted(set(obj["privs"]) | set(privs)) if values.get("append") else privs
            return None
        for name in _split(values.get("delete")):
            obj.pop(name, None)
        obj.update((k, v) for k, v in values.items() if k not in CONTROL and k != key)
        return None

    def _new_id(self, collection: str, key: str, values: dict[str, Any]) -> str:
        if collection == "backup" and not values.get("id"):
            return self._new_backup_id()
        raw = str(values.get(key) or "")
        return ha_sid(raw) if collection == "ha" else raw

    def _listed(self, collection: str, oid: str, obj: dict[str, Any]) -> dict[str, Any]:
        entry = {KEYS[collection]: oid, **obj}
        if collection == "roles":
            entry["privs"] = ",".join(obj["privs"])
            entry["special"] = obj.get("special", 0)
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
        shown = {KEYS[collection]: oid, **obj}
        if collection == "ha":
            shown["digest"] = digest_of(obj)
        return shown

    def _members(self, group: str) -> list[str]:
        users = self.objects("users")
        return sorted(u for u, obj in users.items() if group in _split(obj.get("groups")))

    # ------------------------------------------------------------------ ACL

    def _acl(self, method: str, values: dict[str, Any]) -> Any:
        entries = self.acl
        if method == "GET":
            return [dict(e) for e in entries]
        path = str(values["path"])
        propagate = int(values.get("propagate", 1))
        subjects = [
            (kind, ugid)
            for kind, field in (("user", "users"), ("group", "groups"), ("token", "tokens"))
            for ugid in _split(values.get(field))
        ]
        for role in _split(values["roles"]):
            for kind, ugid in subjects:
                entries[:] = [
                    e for e in entries if (e["path"], e["type"], e["ugid"], e["roleid"]) != (path, kind, ugid, role)
                ]
                if not values.get("delete"):
                    entries.append({"path": path, "type": kind, "ugid": ugid, "roleid": role, "propagate": propagate})
        return None
