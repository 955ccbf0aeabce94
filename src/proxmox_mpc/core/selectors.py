"""Label-style guest selectors (`-l tag=web,name=web-*,template=false`): parse once, match many."""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from proxmox_mpc.core.models import Guest
from proxmox_mpc.errors import UsageError

KEYS = ("tag", "name", "pool", "node", "status", "template", "kind", "vmid", "lock")
BOOLEAN_TRUE = ("true", "1", "yes", "on")
BOOLEAN_FALSE = ("false", "0", "no", "off")
_TERM = re.compile(r"^\s*([a-z_]+)\s*(!=|==|=)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Requirement:
    """One `key=value` or `key!=value` term; string values may be shell-style globs."""

    key: str
    negated: bool
    value: str

    def __str__(self) -> str:
        return f"{self.key}{'!=' if self.negated else '='}{self.value}"

    def _holds(self, guest: Guest) -> bool:
        if self.key == "tag":
            wanted = self.value.lower()
            return any(fnmatchcase(tag, wanted) for tag in guest.tags)
        if self.key == "template":
            return guest.template == (self.value.lower() in BOOLEAN_TRUE)
        if self.key == "name":
            return fnmatchcase(guest.name, self.value)
        if self.key == "pool":
            return fnmatchcase(guest.pool or "", self.value)
        if self.key == "node":
            return fnmatchcase(guest.node, self.value)
        if self.key == "status":
            return fnmatchcase(guest.status, self.value)
        if self.key == "kind":
            return guest.kind == self.value.lower() or guest.type == self.value.lower()
        if self.key == "vmid":
            return fnmatchcase(str(guest.vmid), self.value)
        if self.key == "lock":
            return fnmatchcase(guest.lock or "", self.value)
        return False  # pragma: no cover - parse_selector admits only KEYS

    def matches(self, guest: Guest) -> bool:
        """Return True when the guest satisfies this term."""
        return self._holds(guest) != self.negated


@dataclass(frozen=True)
class Selector:
    """A conjunction of requirements; the empty selector matches every guest."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, guest: Guest) -> bool:
        """Return True when the guest satisfies every requirement."""
        return all(r.matches(guest) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __bool__(self) -> bool:
        return bool(self.requirements)


def parse_selector(text: str) -> Selector:
    """Parse `tag=web,tag!=db,name=web-*` (comma = AND) into a Selector.

    Raises:
        UsageError: a term is malformed, names an unknown key, or template= is not a boolean.
    """
    if text is None or not str(text).strip():
        raise UsageError("Empty selector: write e.g. -l tag=web or -l name=web-*,status=running.")
    requirements = []
    for raw in str(text).split(","):
        if not raw.strip():
            raise UsageError(f"Bad selector {text!r}: empty term between commas.")
        match = _TERM.match(raw)
        if not match:
            raise UsageError(
                f"Bad selector term {raw.strip()!r}: write KEY=VALUE or KEY!=VALUE (keys: {', '.join(KEYS)})."
            )
        key, op, value = match.groups()
        if key not in KEYS:
            raise UsageError(
                f"Unknown selector key {key!r} in {raw.strip()!r}: use one of {', '.join(KEYS)}."
            )
        if value == "" and key not in ("pool", "lock"):
            raise UsageError(f"Selector term {raw.strip()!r} needs a value.")
        if key == "template" and value.lower() not in BOOLEAN_TRUE + BOOLEAN_FALSE:
            raise UsageError(f"Selector term {raw.strip()!r}: template= takes true or false.")
        if key == "kind" and value.lower() not in ("vm", "ct", "qemu", "lxc"):
            raise UsageError(f"Selector term {raw.strip()!r}: kind= takes vm or ct.")
        requirements.append(Requirement(key=key, negated=op == "!=", value=value))
    return Selector(tuple(requirements))
