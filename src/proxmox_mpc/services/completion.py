"""The one completion source, for the shell and the console: live names from the state store and the
contexts file, never the network.

A shell <TAB> runs in a fresh process without settings: the database is found from the command line's
--workspace, PMPC_DATABASE_URL, the workspace's .pmpc/state.db or the per-user one (what `pmpc sync` writes
by default). The console passes its AppContext, so its names come from the database its commands use.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proxmox_mpc.errors import PmpcError
from proxmox_mpc.locations import (
    PMPC_DATABASE_URL,
    STATE_DIR,
    STATE_FILE,
    environ,
    find_workspace,
    user_cache_dir,
    user_state_dir,
)

if TYPE_CHECKING:
    from proxmox_mpc.context import AppContext
    from proxmox_mpc.state.names import StoredNames

Names = dict[str, list[str]]
SNAPSHOT_PREFIX = "snapshots:"
SNAPSHOT_CACHE_FORMAT = 1


class NameCache:
    """Names for completion (vm, ct, guests, nodes, storages, tags, pools, contexts), loaded on first use."""

    def __init__(self, load: Callable[[], Names]) -> None:
        self._load = load
        self._data: Names | None = None

    def get(self, key: str) -> list[str]:
        """Return the names of one kind (empty when the state store has none)."""
        if self._data is None:
            try:
                self._data = self._load()
            except Exception:  # completion must never break the prompt
                self._data = {}
        return self._data.get(key, [])

    def invalidate(self) -> None:
        """Forget the names (after a command that may have changed them, such as sync)."""
        self._data = None


def names_from(stored: StoredNames) -> Names:
    """Group stored names by what completes them: vm, ct, guests (names and VMIDs), nodes, ... snapshots."""
    by_kind: dict[str, set[str]] = {"vm": set(), "ct": set()}
    snapshots: Names = {}
    for guest in stored.guests:
        by_kind[guest.kind] |= {guest.name, str(guest.vmid)}
        if guest.snapshot:
            for ref in (guest.name, str(guest.vmid)):
                snapshots.setdefault(f"{SNAPSHOT_PREFIX}{guest.kind}/{ref}", []).append(guest.snapshot)
    return {
        "vm": sorted(by_kind["vm"]),
        "ct": sorted(by_kind["ct"]),
        "guests": sorted(by_kind["vm"] | by_kind["ct"]),
        "nodes": list(stored.nodes),
        "storages": list(stored.storages),
        "tags": sorted({t for g in stored.guests for t in g.tags}),
        "pools": sorted({g.pool for g in stored.guests if g.pool}),
        **snapshots,
    }


def database_url_for_completion(workspace: str | None = None) -> str:
    """Return the state database a shell completion reads (settings are not loaded: see the module doc)."""
    configured = environ().get(PMPC_DATABASE_URL)
    if configured:
        return configured
    try:
        found = find_workspace(explicit=workspace)
    except PmpcError:
        found = None
    directory = found / STATE_DIR if found is not None else user_state_dir()
    return f"sqlite:///{directory / STATE_FILE}"


def context_names() -> list[str]:
    """Return the names of the contexts in the contexts file (empty when it cannot be read)."""
    import yaml

    from proxmox_mpc.locations import contexts_path
    from proxmox_mpc.safeio.untrusted import InputLimitError, load_yaml

    try:
        data = load_yaml(contexts_path().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, InputLimitError):
        return []
    contexts = data.get("contexts") if isinstance(data, dict) else None
    return sorted(str(name) for name in contexts) if isinstance(contexts, dict) else []


def load_names(app_ctx: AppContext | None = None, *, workspace: str | None = None) -> Names:
    """Return the names of the state store: the console's database, else the one a shell would use.

    Context names come from context_names() (the contexts file, read only when a context is completed).
    """
    from proxmox_mpc.state.names import read_names

    if app_ctx is not None:
        from proxmox_mpc.services.database import database_url

        try:
            url = database_url(app_ctx)
        except PmpcError:
            url = database_url_for_completion(str(app_ctx.workspace) if app_ctx.workspace else None)
    else:
        url = database_url_for_completion(workspace)
    names = names_from(read_names(url))
    for key, snapshots in _cached_snapshots(url).items():
        names[key] = sorted({*names.get(key, ()), *snapshots})
    return names


# ----------------------------------------------------------------------------- snapshot names
# The store keeps only a guest's current snapshot, so the snapshot names pmpc reads or changes are kept
# in a small cache file beside the login tickets: one per state database (what completion reads),
# holding each context's guests as {"vm/101": {"name": "web-1", "snapshots": [...]}}.


def snapshot_cache_path(url: str) -> Path:
    """Return the snapshot-name cache of the state database at `url`."""
    return user_cache_dir() / "snapshots" / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.json"


def _read_snapshot_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    ok = isinstance(data, dict) and data.get("format") == SNAPSHOT_CACHE_FORMAT
    return data if ok and isinstance(data.get("contexts"), dict) else {}


def _cached_snapshots(url: str) -> Names:
    """Return the cached snapshot names by completion key (`snapshots:vm/101`, `snapshots:vm/web-1`)."""
    out: dict[str, set[str]] = {}
    for guests in _read_snapshot_cache(snapshot_cache_path(url)).get("contexts", {}).values():
        for key, entry in guests.items() if isinstance(guests, dict) else ():
            kind, _, vmid = str(key).partition("/")
            snapshots = entry.get("snapshots") if isinstance(entry, dict) else None
            if not isinstance(snapshots, list):
                continue
            for ref in {vmid, str(entry.get("name") or vmid)}:
                out.setdefault(f"{SNAPSHOT_PREFIX}{kind}/{ref}", set()).update(str(s) for s in snapshots)
    return {key: sorted(values) for key, values in out.items()}


def record_snapshots(
    app_ctx: AppContext,
    guests: Sequence[tuple[str, int, str]],
    *,
    names: Iterable[str] | None = None,
    add: str | None = None,
    drop: str | None = None,
) -> None:
    """Remember the snapshot names of guests (kind, vmid, name) for completion: all of them (`names`),
    or one created (`add`) or deleted (`drop`). Never raises: completion is a convenience."""
    if not guests:
        return
    try:
        from proxmox_mpc.safeio.files import write_file
        from proxmox_mpc.services.database import database_url

        path = snapshot_cache_path(database_url(app_ctx))
        data = _read_snapshot_cache(path) or {"format": SNAPSHOT_CACHE_FORMAT, "contexts": {}}
        known = data["contexts"].setdefault(app_ctx.settings.context or "", {})
        for kind, vmid, name in guests:
            entry = known.get(f"{kind}/{vmid}")
            before = entry.get("snapshots") if isinstance(entry, dict) else None
            kept = {str(s) for s in (names if names is not None else before if isinstance(before, list) else ())}
            kept = (kept | {add} if add else kept) - {drop}
            known[f"{kind}/{vmid}"] = {"name": name, "snapshots": sorted(kept)}
        path.parent.mkdir(parents=True, exist_ok=True)
        write_file(path, json.dumps(data, separators=(",", ":"), sort_keys=True), private=True)
    except Exception:  # a cache that cannot be written only costs a name at the next <TAB>
        return
