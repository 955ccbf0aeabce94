"""Label-style guest selectors (`-l tag=web,name=web-*`, `tag in (web,db)`, `!lock`): parse once, match many."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from proxmox_mpc.core.identity import api_type, prefix
from proxmox_mpc.core.models import BaseGuest, split_tags
from proxmox_mpc.errors import UsageError

if TYPE_CHECKING:
    from proxmox_mpc.core.manifest import AnyManifest

KEYS = ("tag", "name", "pool", "node", "status", "template", "kind", "vmid", "lock")
# Keys that may be empty on a guest: only these make sense as `key` (is set) or `!key` (is not set).
OPTIONAL_KEYS = ("tag", "pool", "lock", "template")
BOOLEAN_TRUE = ("true", "1", "yes", "on")
BOOLEAN_FALSE = ("false", "0", "no", "off")
_TERM = re.compile(r"^\s*([a-z_]+)\s*(!=|==|=)\s*(.*?)\s*$")
_SET_TERM = re.compile(r"^\s*([a-z_]+)\s+(in|notin)\s*\((.*)\)\s*$")
_EXISTS_TERM = re.compile(r"^\s*(!?)\s*([a-z_]+)\s*$")
_FORMS = "KEY=VALUE, KEY!=VALUE, KEY in (A,B), KEY notin (A,B), KEY or !KEY"


@dataclass(frozen=True)
class Requirement:
    """One term: `key=v`, `key!=v`, `key in (a,b)`, `key notin (a,b)`, `key` or `!key`.

    String values may be shell-style globs; `op` is one of `=`, `!=`, `in`, `notin`, `exists`, `!exists`.
    """

    key: str
    op: str
    values: tuple[str, ...] = ()

    def __str__(self) -> str:
        if self.op == "exists":
            return self.key
        if self.op == "!exists":
            return f"!{self.key}"
        if self.op in ("in", "notin"):
            return f"{self.key} {self.op} ({','.join(self.values)})"
        return f"{self.key}{self.op}{self.values[0]}"

    def _is_set(self, guest: BaseGuest) -> bool:
        if self.key == "tag":
            return bool(guest.tags)
        if self.key == "template":
            return guest.template
        return bool(getattr(guest, self.key))

    def _holds(self, guest: BaseGuest, value: str) -> bool:
        if self.key == "tag":
            wanted = value.lower()
            return any(fnmatchcase(tag, wanted) for tag in guest.tags)
        if self.key == "template":
            return guest.template == (value.lower() in BOOLEAN_TRUE)
        if self.key == "kind":
            return value.lower() in (guest.kind, api_type(guest.kind))
        if self.key in ("pool", "lock"):
            return fnmatchcase(getattr(guest, self.key) or "", value)
        return fnmatchcase(str(getattr(guest, self.key)), value)

    def matches(self, guest: BaseGuest) -> bool:
        """Return True when the guest satisfies this term."""
        if self.op in ("exists", "!exists"):
            return self._is_set(guest) == (self.op == "exists")
        found = any(self._holds(guest, value) for value in self.values)
        return found if self.op in ("=", "in") else not found


@dataclass(frozen=True)
class Selector:
    """A conjunction of requirements; the empty selector matches every guest."""

    requirements: tuple[Requirement, ...] = ()

    def matches(self, guest: BaseGuest) -> bool:
        """Return True when the guest satisfies every requirement."""
        return all(r.matches(guest) for r in self.requirements)

    def __str__(self) -> str:
        return ",".join(str(r) for r in self.requirements)

    def __bool__(self) -> bool:
        return bool(self.requirements)


def _split_terms(text: str) -> list[str]:
    """Split on commas outside parentheses: `tag in (a,b),pool=x` -> two terms."""
    terms: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                raise UsageError(f"Bad selector {text!r}: a ')' without its '('.")
        if char == "," and depth == 0:
            terms.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth:
        raise UsageError(f"Bad selector {text!r}: a '(' without its ')'.")
    terms.append("".join(current))
    return terms


def _check_value(key: str, value: str, term: str) -> None:
    if value == "" and key not in ("pool", "lock"):
        raise UsageError(f"Selector term {term!r} needs a value.")
    if key == "template" and value.lower() not in BOOLEAN_TRUE + BOOLEAN_FALSE:
        raise UsageError(f"Selector term {term!r}: template= takes true or false.")
    if key == "kind" and value.lower() not in ("vm", "ct", "qemu", "lxc"):
        raise UsageError(f"Selector term {term!r}: kind= takes vm or ct.")


def _check_key(key: str, term: str) -> None:
    if key not in KEYS:
        raise UsageError(f"Unknown selector key {key!r} in {term!r}: use one of {', '.join(KEYS)}.")


def _parse_term(raw: str) -> Requirement:
    term = raw.strip()
    if match := _SET_TERM.match(raw):
        key, op, body = match.groups()
        _check_key(key, term)
        values = tuple(v.strip() for v in body.split(","))
        if not any(values):
            raise UsageError(f"Selector term {term!r} needs at least one value in the parentheses.")
        for value in values:
            _check_value(key, value, term)
        return Requirement(key=key, op=op, values=values)
    if match := _TERM.match(raw):
        key, op, value = match.groups()
        _check_key(key, term)
        _check_value(key, value, term)
        return Requirement(key=key, op="!=" if op == "!=" else "=", values=(value,))
    if match := _EXISTS_TERM.match(raw):
        bang, key = match.groups()
        _check_key(key, term)
        if key not in OPTIONAL_KEYS:
            raise UsageError(
                f"Selector term {term!r}: every guest has a {key}, so `{key}`/`!{key}` test nothing; "
                f"they take {', '.join(OPTIONAL_KEYS)}."
            )
        return Requirement(key=key, op="!exists" if bang else "exists")
    raise UsageError(f"Bad selector term {term!r}: write {_FORMS} (keys: {', '.join(KEYS)}).")


def parse_selector(text: str | Iterable[str]) -> Selector:
    """Parse `tag=web,tag!=db,name=web-*` (comma = AND; several texts, as repeated -l, are ANDed too).

    Raises:
        UsageError: a term is malformed, names an unknown key, or template= is not a boolean.
    """
    texts = [text] if text is None or isinstance(text, str) else list(text)
    if not texts:
        raise UsageError("Empty selector: write e.g. -l tag=web or -l name=web-*,status=running.")
    requirements: list[Requirement] = []
    for one in texts:
        if one is None or not str(one).strip():
            raise UsageError("Empty selector: write e.g. -l tag=web or -l name=web-*,status=running.")
        try:
            for raw in _split_terms(str(one)):
                if not raw.strip():
                    raise UsageError(f"Bad selector {one!r}: empty term between commas.")
                requirements.append(_parse_term(raw))
        except UsageError as exc:
            # Every flag error names its flag (as Click's own "Invalid value for '--limit'" does).
            raise UsageError(f"Invalid value for -l/--selector: {exc.message}") from exc
    return Selector(tuple(requirements))


def manifest_guest(manifest: AnyManifest) -> BaseGuest:
    """Return the guest a manifest describes, so a selector can choose among manifests (`-l tag=web`)."""
    spec = manifest.spec
    return BaseGuest(
        kind=prefix(manifest.kind),
        vmid=manifest.vmid or 0,
        name=manifest.name,
        node=manifest.node,
        status=spec.state or "unknown",
        template=bool(spec.template),
        tags=split_tags(spec.tags or []),
        pool=spec.pool,
    )
