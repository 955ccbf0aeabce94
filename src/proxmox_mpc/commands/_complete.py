"""Completion callbacks of parameters (Typer `autocompletion=`): the one source of shell and console names.

Each callback reads the names of the state store through services.completion (never the network). The
console puts its name cache in the root context's obj; a shell <TAB> loads the names once per process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

STATUS_VALUES = ("running", "stopped", "paused")
SELECTOR_KEYS = ("tag=", "tag!=", "name=", "pool=", "node=", "status=", "template=", "kind=", "vmid=", "lock=")
SELECTOR_VALUES = {"tag": "tags", "name": "guests", "pool": "pools", "node": "nodes"}
NAMES_KEY = "pmpc.names"

Completer = Callable[..., list[str]]


def names(ctx: Any, key: str) -> list[str]:
    """Return the names of one kind for this completion (`vm`, `ct`, `guests`, `nodes`, `contexts`...)."""
    if key == "contexts":
        from proxmox_mpc.services.completion import context_names

        return context_names()
    root = ctx.find_root()
    cache = root.obj if hasattr(root.obj, "invalidate") and hasattr(root.obj, "get") else None
    if cache is None:
        cache = root.meta.get(NAMES_KEY)
    if cache is None:
        from proxmox_mpc.services.completion import NameCache, load_names

        workspace = root.params.get("workspace")
        cache = NameCache(lambda: load_names(workspace=str(workspace) if workspace else None))
        root.meta[NAMES_KEY] = cache
    return list(cache.get(key))


def of(key: str) -> Completer:
    """Return a callback completing the names of one kind."""

    def complete(ctx: Any, incomplete: str) -> list[str]:
        return [n for n in names(ctx, key) if n.startswith(incomplete)]

    return complete


def group_kind(ctx: Any) -> str:
    """Return `vm` or `ct` for a command under `pmpc vm`/`pmpc ct`, else `guests` (either kind)."""
    while ctx is not None:
        if ctx.info_name in ("vm", "ct"):
            return str(ctx.info_name)
        ctx = ctx.parent
    return "guests"


def guests(ctx: Any, incomplete: str) -> list[str]:
    """Complete guests (names and VMIDs) of the group on the line: `pmpc vm start <TAB>` offers VMs."""
    return [n for n in names(ctx, group_kind(ctx)) if n.startswith(incomplete)]


def statuses(ctx: Any, incomplete: str) -> list[str]:
    return [s for s in STATUS_VALUES if s.startswith(incomplete)]


def selector(kind: str | None = None) -> Completer:
    """Complete one term of a selector (`tag=web,name=w` completes the part after the last comma)."""

    def complete(ctx: Any, incomplete: str) -> list[str]:
        return selector_terms(incomplete, kind or group_kind(ctx), lambda key: names(ctx, key))

    return complete


def selector_terms(incomplete: str, group: str, names_of: Callable[[str], list[str]]) -> list[str]:
    """Return the selector completions of `incomplete` (names of `group` for name= and vmid=)."""
    head, comma, term = incomplete.rpartition(",")
    prefix = head + comma
    key, eq, _value = term.partition("=")
    if not eq:
        offered = [prefix + k for k in SELECTOR_KEYS]
    else:
        bare = key.rstrip("!")
        if bare == "status":
            values: list[str] = list(STATUS_VALUES)
        elif bare == "template":
            values = ["true", "false"]
        elif bare == "kind":
            values = ["vm", "ct"]
        elif bare == "name":
            values = [n for n in names_of(group) if not n.isdigit()]
        elif bare == "vmid":
            values = [n for n in names_of(group) if n.isdigit()]
        else:
            values = names_of(SELECTOR_VALUES.get(bare, ""))
        offered = [f"{prefix}{key}={v}" for v in values]
    return [o for o in offered if o.startswith(incomplete)]


def snapshots(ctx: Any, incomplete: str) -> list[str]:
    """Complete a snapshot name: the snapshots pmpc knows of the guests already on the line (arguments)."""
    arguments = [p.name for p in ctx.command.params if p.param_type_name == "argument"]
    given = [v for name in arguments for v in _words(ctx.params.get(name))]
    return snapshots_of(group_kind(ctx), given, incomplete, lambda key: names(ctx, key))


def snapshots_of(kind: str, given: list[str], incomplete: str, names_of: Callable[[str], list[str]]) -> list[str]:
    """Return the snapshot names of the guests `given` (names or VMIDs of `kind`) that start `incomplete`."""
    from proxmox_mpc.services.completion import SNAPSHOT_PREFIX

    offered = sorted({s for g in given for s in names_of(f"{SNAPSHOT_PREFIX}{kind}/{g}")})
    return [o for o in offered if o.startswith(incomplete)]


def guests_then_snapshots(ctx: Any, incomplete: str) -> list[str]:
    """Complete GUEST... NAME: guests, and the snapshots of the guests already given."""
    return snapshots(ctx, incomplete) + guests(ctx, incomplete)


def _words(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return []
