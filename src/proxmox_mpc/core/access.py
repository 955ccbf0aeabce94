"""PVE's access control as pmpc spells it: ids of users, groups, roles and tokens, and an ACL entry's address.

The patterns are PVE's own (`pve-userid`, `pve-groupid`, `pve-roleid`, `pve-tokenid`). An ACL entry has no
id of its own: it is the tuple (path, type, ugid, role), which its address spells
`acl/PATH:TYPE:UGID:ROLE` with the path's leading slash left out and the root path `/` written `root`
(`acl/vms/101:user:alice@pve:PVEVMAdmin`, `acl/root:group:admins:Administrator`). No part holds a colon
(PVE's ids cannot), so the last three colon-separated parts are always the type, the ugid and the role,
and `/root` is no ACL path PVE accepts, so `root` cannot be read two ways.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

REALM = r"[A-Za-z][A-Za-z0-9.\-_]+"
USER_ID = re.compile(rf"[^\s:/@]+@{REALM}")
GROUP_ID = re.compile(r"[A-Za-z0-9.\-_]+")
ROLE_ID = re.compile(r"[A-Za-z0-9.\-_]+")
TOKEN_ID = re.compile(rf"[^\s:/@]+@{REALM}![A-Za-z][A-Za-z0-9.\-_]+")
PRIVILEGE = re.compile(r"[A-Z][A-Za-z]*(\.[A-Za-z]+)+")
# An ACL path: `/`, or `/` and segments of PVE's id characters (`/vms/101`, `/pool/prod/web`, `/storage/local`).
ACL_PATH = re.compile(r"/|(/[A-Za-z0-9.\-_]+)+")
MAX_USER_ID = 64
ROOT_PATH_WORD = "root"
# The one user PVE makes itself: it cannot be deleted and always holds every privilege.
ROOT_USER = "root@pam"
# Roles that come with PVE (special=1); PVE refuses custom role ids in the `PVE` namespace.
BUILTIN_ROLES = frozenset({"Administrator", "NoAccess"})
SubjectType = Literal["user", "group", "token"]
SUBJECT_TYPES: tuple[str, ...] = ("user", "group", "token")
# The parameter of PUT /access/acl that names a subject of each type.
SUBJECT_PARAMS = {"user": "users", "group": "groups", "token": "tokens"}


def is_builtin_role(roleid: str) -> bool:
    """Return True for a role PVE ships (Administrator, NoAccess, PVE*): never imported or managed."""
    return roleid in BUILTIN_ROLES or roleid.upper().startswith("PVE")


def check_user_id(value: str) -> str:
    """Return a user id (`alice@pve`), or raise ValueError."""
    if not USER_ID.fullmatch(value) or len(value) > MAX_USER_ID:
        raise ValueError(
            f"{value!r} is not a user id: NAME@REALM (such as alice@pve), at most {MAX_USER_ID} characters"
        )
    return value


def check_group_id(value: str) -> str:
    """Return a group id, or raise ValueError."""
    if not GROUP_ID.fullmatch(value):
        raise ValueError(f"{value!r} is not a group id: letters, digits, . - _")
    return value


def check_privilege(value: str) -> str:
    """Return a privilege name (`VM.Audit`), or raise ValueError."""
    if not PRIVILEGE.fullmatch(value):
        raise ValueError(f"{value!r} is not a privilege name (such as VM.Audit or Datastore.AllocateSpace)")
    return value


def check_acl_path(value: str) -> str:
    """Return an ACL path (`/`, `/vms/101`, `/pool/prod`), or raise ValueError."""
    if not ACL_PATH.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an ACL path: / or /SEGMENT/... (such as /vms/101, /pool/prod, /storage/local)"
        )
    return value


def check_subject(kind: str, ugid: str) -> str:
    """Return the user, group or token id an ACL entry is for, checked for its type, or raise ValueError."""
    if kind == "user":
        return check_user_id(ugid)
    if kind == "group":
        return check_group_id(ugid)
    if not TOKEN_ID.fullmatch(ugid):
        raise ValueError(f"{ugid!r} is not a token id: USER@REALM!TOKEN (such as ci@pve!deploy)")
    return ugid


@dataclass(frozen=True)
class AclEntry:
    """One ACL entry: `role` granted to a user, group or token on `path` (and below it when `propagate`)."""

    path: str
    type: str
    ugid: str
    role: str

    @property
    def ident(self) -> str:
        """Return the id part of the entry's address: `vms/101:user:alice@pve:PVEVMAdmin`."""
        where = self.path.strip("/") or ROOT_PATH_WORD
        return f"{where}:{self.type}:{self.ugid}:{self.role}"

    @classmethod
    def parse(cls, ident: str) -> AclEntry:
        """Return the entry an address's id part spells (the inverse of `ident`).

        Raises:
            ValueError: not PATH:TYPE:UGID:ROLE with a known type.
        """
        parts = ident.rsplit(":", 3)
        if len(parts) != 4 or not all(parts):
            raise ValueError(
                f"{ident!r} is not an ACL entry: PATH:TYPE:UGID:ROLE (such as vms/101:user:alice@pve:PVEVMAdmin)"
            )
        where, kind, ugid, role = parts
        if kind not in SUBJECT_TYPES:
            raise ValueError(f"{ident!r}: the type of an ACL entry is one of user, group, token, not {kind!r}")
        path = "/" if where == ROOT_PATH_WORD else "/" + where.strip("/")
        return cls(path=path, type=kind, ugid=ugid, role=role)

    def subject_address(self) -> str:
        """Return the address of whom the entry is for: `user/alice@pve`, `group/ops` (a token: its user)."""
        if self.type == "group":
            return f"group/{self.ugid}"
        return f"user/{self.ugid.split('!', 1)[0]}"

    def object_address(self) -> str | None:
        """Return the address of a managed object the path names (`/pool/prod` -> `pool/prod`), or None."""
        segments = self.path.strip("/").split("/")
        if segments[0] == "pool" and len(segments) > 1:
            return "pool/" + "/".join(segments[1:])
        if segments[:2] == ["access", "groups"] and len(segments) == 3:
            return f"group/{segments[2]}"
        return None
