"""The repository: every query the state store runs, behind one Store object per database.

Usage: `store = open_store(url)` (migrates to head), then `with store.transaction(): ...`; a method called
inside a transaction joins it, one called outside runs in its own short transaction. Bulk writes are
single Core `INSERT ... ON CONFLICT DO UPDATE` statements executed with many parameter sets.
A Store is used from one thread at a time.

The queries live by seam: repository.py (transactions, schema, clusters), inventory.py (guests, nodes,
storages), history.py (sync runs, changes), journal.py (apply runs, created guests), locks.py (the
workspace lock), manifest_cache.py, resources.py (non-guest kinds); the records they return are in records.py.
"""

from __future__ import annotations

from proxmox_mpc.errors import StateError
from proxmox_mpc.state.db import create_engine_for, describe_db_error, normalise_url
from proxmox_mpc.state.history import History
from proxmox_mpc.state.inventory import GUEST_COLUMNS, Inventory
from proxmox_mpc.state.journal import Journal
from proxmox_mpc.state.locks import Locks
from proxmox_mpc.state.manifest_cache import ManifestCache
from proxmox_mpc.state.records import (
    ApplyRunRecord,
    ChangeRecord,
    GuestRecord,
    JournalEntry,
    LockInfo,
    NodeRecord,
    StorageRecord,
    SyncRunRecord,
)
from proxmox_mpc.state.resources import ResourceStore

__all__ = [
    "GUEST_COLUMNS",
    "ApplyRunRecord",
    "ChangeRecord",
    "GuestRecord",
    "JournalEntry",
    "LockInfo",
    "NodeRecord",
    "StorageRecord",
    "Store",
    "SyncRunRecord",
    "open_store",
]


class Store(Inventory, History, Journal, Locks, ManifestCache, ResourceStore):
    """The state store of one database: clusters, nodes, storages, guests, resources, history, journal, locks."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(url: str, *, upgrade: bool = True) -> Store:
    """Open the state database at `url`, migrating it to the newest schema unless told not to.

    Raises:
        StateError: the database cannot be reached, created or migrated.
    """
    from sqlalchemy.exc import SQLAlchemyError

    url = normalise_url(url)
    engine = create_engine_for(url)
    store = Store(engine, url)
    try:
        if upgrade:
            store.upgrade()
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StateError(describe_db_error(exc, url)) from exc
    except BaseException:
        engine.dispose()
        raise
    return store
