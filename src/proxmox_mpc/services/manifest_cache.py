"""The manifest cache: parsed manifest files kept in the state store by path, size and mtime.

A second `plan`, `validate` or `sync --import` of an unchanged workspace re-validates each cached
manifest (pydantic, fast) instead of parsing its YAML again. A file is cached only when it parsed
without a problem, holds no secret-looking key, round-trips to an equal manifest, and is older than a
moment (a file rewritten within its clock tick could keep its size and mtime); anything else is parsed
as before, so errors keep their FILE:LINE:COLUMN. Small workspaces skip the cache: opening the store
would cost more than parsing them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.secrets import is_secret_key
from proxmox_mpc.errors import PmpcError
from proxmox_mpc.services.manifests import Loaded, Source, as_loaded, validate_document

if TYPE_CHECKING:
    from proxmox_mpc.state.lite import LiteStore
    from proxmox_mpc.state.store import Store

Tables = tuple[dict[Any, tuple[int, int]], dict[Any, tuple[int, int]]]

# Below this many files, parsing is cheaper than opening the state store.
CACHE_MIN_FILES = 50
# A file modified less than this long ago is not cached (its next change could keep size and mtime).
SETTLE_NS = 1_000_000_000


@functools.lru_cache(maxsize=1)
def cache_format() -> str:
    """Return the fingerprint of what reads manifests (pmpc's version and its manifest modules)."""
    import importlib

    from proxmox_mpc import __version__
    from proxmox_mpc.core import manifest, manifest_models
    from proxmox_mpc.kinds import base, registry
    from proxmox_mpc.services import manifests

    digest = hashlib.sha256(__version__.encode())
    kind_modules = [importlib.import_module(type(k).__module__) for k in registry.kinds()]
    for module in (manifest, manifest_models, manifests, base, registry, *kind_modules):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:32]


def _has_secret_key(value: Any) -> bool:
    if isinstance(value, dict):
        return any(is_secret_key(str(k)) or _has_secret_key(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_secret_key(v) for v in value)
    return False


def _locations(table: dict[Any, tuple[int, int]]) -> list[list[Any]]:
    return [[list(loc), line, column] for loc, (line, column) in table.items()]


def _table(rows: list[list[Any]]) -> dict[Any, tuple[int, int]]:
    return {tuple(loc): (line, column) for loc, line, column in rows}


class CachedSource(Source):
    """A Source whose value and key positions are decoded only when an error needs them."""

    def __init__(self, path: str, line: int, column: int, locations: str) -> None:
        self.path, self.line, self.column = path, line, column
        self._locations = locations
        self._tables: Tables | None = None

    def _decoded(self) -> Tables:
        if self._tables is None:
            marks, keys = json.loads(self._locations)
            self._tables = (_table(marks), _table(keys))
        return self._tables

    @property  # type: ignore[override]
    def marks(self) -> dict[Any, tuple[int, int]]:
        return self._decoded()[0]

    @marks.setter
    def marks(self, value: dict[Any, tuple[int, int]]) -> None:
        self._tables = (value, self._decoded()[1])

    @property  # type: ignore[override]
    def keys(self) -> dict[Any, tuple[int, int]]:
        return self._decoded()[1]

    @keys.setter
    def keys(self, value: dict[Any, tuple[int, int]]) -> None:
        self._tables = (self._decoded()[0], value)


class ManifestCache:
    """The cached entries of one manifest directory, and the files parsed in this run to store."""

    def __init__(self, entries: dict[str, tuple[int, int, str, str]]) -> None:
        self.entries = entries
        self.format = cache_format()
        self.fresh: list[dict[str, Any]] = []
        self.present: list[str] = []
        self.hits = 0

    def get(self, path: Path, shown: str, stat: os.stat_result) -> list[Loaded] | None:
        """Return the manifests of an unchanged cached file (None: parse it)."""
        key = os.path.abspath(path)
        self.present.append(key)
        entry = self.entries.get(key)
        if entry is None or entry[:3] != (stat.st_size, stat.st_mtime_ns, self.format):
            return None
        loaded = []
        for doc in json.loads(entry[3]):
            source = CachedSource(shown, doc["line"], doc["column"], doc["locations"])
            manifest, problems = validate_document(doc["data"], source)
            if manifest is None or problems:
                return None
            loaded.append(as_loaded(manifest, source))
        self.hits += 1
        return loaded

    def add(self, path: Path, stat: os.stat_result, loaded: Sequence[Loaded]) -> None:
        """Remember a file that parsed cleanly, when it is safe to cache."""
        if stat.st_mtime_ns > time.time_ns() - SETTLE_NS:
            return
        docs = []
        for item in loaded:
            manifest = item.manifest
            data = manifest.model_dump(mode="json", exclude_unset=True)
            if _has_secret_key(data):
                return
            again = type(manifest).model_validate(data)
            if again != manifest or again.model_fields_set != manifest.model_fields_set:
                return
            source = item.source
            docs.append(
                {
                    "data": data,
                    "line": source.line,
                    "column": source.column,
                    # A string inside the entry: decoded only when an error needs a position.
                    "locations": json.dumps([_locations(source.marks), _locations(source.keys)]),
                }
            )
        self.fresh.append(
            {
                "path": os.path.abspath(path),
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "format": self.format,
                "body": json.dumps(docs, separators=(",", ":")),
            }
        )


def _open(app_ctx: AppContext) -> LiteStore | Store | None:
    from proxmox_mpc.services.database import open_state_reader

    try:
        return open_state_reader(app_ctx)
    except PmpcError:
        return None  # no usable store (or one that needs `pmpc state upgrade`): parse everything


@contextlib.contextmanager
def manifest_cache(app_ctx: AppContext, directory: Path, files: Sequence[Path]) -> Iterator[ManifestCache | None]:
    """Yield the cache of a manifest directory (None when not worth it), and store what was parsed."""
    if len(files) < CACHE_MIN_FILES:
        yield None
        return
    store = _open(app_ctx)
    if store is None:
        yield None
        return
    prefix = os.path.join(os.path.abspath(directory), "")
    try:
        try:
            cache = ManifestCache(store.cached_manifests(prefix))
        except PmpcError:
            yield None
            return
        try:
            yield cache
        finally:
            if cache.fresh or len(cache.present) != len(cache.entries):
                with contextlib.suppress(PmpcError):
                    store.save_manifest_cache(prefix, cache.fresh, cache.present)
    finally:
        store.close()
