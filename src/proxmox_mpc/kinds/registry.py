"""The kind registry: manifest kind -> its module's Kind. The pipeline iterates this and names no kind.

A new kind is one module under kinds/ with a `KIND` instance, and one line in `_MODULES`; plan, apply,
destroy, sync, import, validate, drift history and the generators then handle it.
"""

from __future__ import annotations

import functools
import importlib

from proxmox_mpc.kinds.base import Kind, ResourceKind

# In the order the pipeline meets them: guests, then the resources they reference.
_MODULES = (
    "proxmox_mpc.kinds.vm",
    "proxmox_mpc.kinds.ct",
    "proxmox_mpc.kinds.pool",
    "proxmox_mpc.kinds.firewall",
    "proxmox_mpc.kinds.firewall_ipset",
    "proxmox_mpc.kinds.firewall_group",
    "proxmox_mpc.kinds.firewall_policy",
    "proxmox_mpc.kinds.backup_job",
    "proxmox_mpc.kinds.ha",
    "proxmox_mpc.kinds.ha_rule",
    "proxmox_mpc.kinds.group",
    "proxmox_mpc.kinds.role",
    "proxmox_mpc.kinds.user",
    "proxmox_mpc.kinds.acl",
    "proxmox_mpc.kinds.storage",
)


@functools.lru_cache(maxsize=1)
def kinds() -> tuple[Kind, ...]:
    """Return every registered kind."""
    return tuple(importlib.import_module(name).KIND for name in _MODULES)


def resource_kinds() -> tuple[ResourceKind, ...]:
    """Return the kinds the generic resource pipeline drives (every kind but the guests)."""
    return tuple(k for k in kinds() if isinstance(k, ResourceKind))


def manifest_kinds() -> tuple[str, ...]:
    """Return the manifest spellings of every kind: VM, CT, Pool, ..."""
    return tuple(k.name for k in kinds())


def by_name(name: str) -> Kind | None:
    """Return the kind a manifest's `kind:` names (None: no such kind)."""
    return next((k for k in kinds() if k.name == name), None)


def by_prefix(prefix: str) -> Kind | None:
    """Return the kind of an address prefix: `pool` -> Pool (None: no such kind)."""
    return next((k for k in kinds() if k.prefix == prefix), None)


def of_address(address: str) -> Kind | None:
    """Return the kind of an address such as `pool/prod` (None: not an address of a known kind)."""
    prefix, slash, rest = address.partition("/")
    return by_prefix(prefix) if slash and rest else None


def resource_kind(prefix: str) -> ResourceKind | None:
    """Return the non-guest kind of an address prefix (None: a guest kind, or none)."""
    kind = by_prefix(prefix)
    return kind if isinstance(kind, ResourceKind) else None
