"""The manifest cache: parsed manifest files kept in the state store by path, size, mtime and ctime.

A second `plan`, `validate` or `sync --import` of an unchanged workspace rebuilds each cached
manifest from its JSON instead of parsing its YAML: its models are made straight from the values
(`_builder`, no validator run again) when that was checked, as the entry was written, to give the very
manifest the YAML gave (same values of the same types, same fields set); else the JSON is validated
again (pydantic, fast), when that gives it. A file is cached only when it parsed without a problem,
holds no secret-looking key, one of the two rebuilds gives its manifests, and it has not been written
for a moment (a file rewritten within its clock tick could keep its size and times). An entry is used
only while the file's size, mtime, ctime and inode are those cached and the format of pmpc that wrote
it is this one: an edit that keeps the size and sets the mtime back still changes the ctime, which no
one can set. Anything else, a damaged entry included, is parsed as before, so errors keep their
FILE:LINE:COLUMN. Small workspaces skip the cache: opening the store would cost more than parsing them.

An entry's body is lines of JSON: `[ctime_ns, inode, [[kind, line, column, made], ...]]` (made: 1
when the manifest is made from its values, 0 when validated), then each manifest's data. The position
of each value (for an error's FILE:LINE:COLUMN) is not stored: the file, unchanged, is parsed again
when an error needs one.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import sys
import time
import types
import typing
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.secrets import is_secret_key
from proxmox_mpc.errors import PmpcError
from proxmox_mpc.services.manifests import Loaded, Source, as_loaded, positions

if TYPE_CHECKING:
    from proxmox_mpc.state.lite import LiteStore
    from proxmox_mpc.state.store import Store

Tables = tuple[dict[Any, tuple[int, int]], dict[Any, tuple[int, int]]]
Build = Callable[[Any], Any]

# Below this many files, parsing is cheaper than opening the state store.
CACHE_MIN_FILES = 50
# A file modified (or its inode changed) less than this long ago is not cached: its next change could
# keep its size and times.
SETTLE_NS = 1_000_000_000
# The layout of an entry's body (part of the format: another layout is parsed again).
LAYOUT = "3"
# The defaults a made model may share with every other one (a mutable default would be shared too).
_IMMUTABLE = (type(None), bool, int, float, str)
_PLAIN = (str, int, float, bool, Any, type(None))


@functools.lru_cache(maxsize=1)
def cache_format() -> str:
    """Return the fingerprint of what reads manifests (pmpc's version and its manifest modules, pydantic's)."""
    import importlib

    import pydantic
    import pydantic_core

    from proxmox_mpc import __version__
    from proxmox_mpc.core import manifest, manifest_models
    from proxmox_mpc.kinds import base, registry
    from proxmox_mpc.services import manifests

    digest = hashlib.sha256(f"{LAYOUT}:{__version__}:{pydantic.VERSION}:{pydantic_core.__version__}".encode())
    kind_modules = [importlib.import_module(type(k).__module__) for k in registry.kinds()]
    this = sys.modules[__name__]
    for module in (this, manifest, manifest_models, manifests, base, registry, *kind_modules):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:32]


@functools.lru_cache(maxsize=1)
def _models() -> tuple[dict[type, str], dict[str, type[BaseModel]]]:
    """Return each kind's manifest model with its `kind:` name, and the models by name."""
    from proxmox_mpc.kinds import registry

    by_name = {k.name: k.model for k in registry.kinds()}
    return {model: name for name, model in by_name.items()}, by_name


def _same_value(value: Any) -> Any:
    return value


def _converter(annotation: Any, making: set[type]) -> Build | None:
    """Return what makes a field's value from its JSON (`_same_value`: the JSON value is it; None: cannot)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _converter(args[0], making)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model_builder(annotation, making)
    if origin is typing.Literal or annotation in _PLAIN:
        return _same_value
    if origin in (typing.Union, types.UnionType):
        inner = [_converter(a, making) for a in args if a is not type(None)]
        if all(c is _same_value for c in inner):
            return _same_value
        # X | None: a None is kept as it is wherever a converter is called (`build` and the lambdas below).
        return inner[0] if len(inner) == 1 else None
    if origin in (list, dict):
        item = _converter(args[-1], making) if args else None
        if item is None or item is _same_value:
            return item
        if origin is list:
            return lambda value: [v if v is None else item(v) for v in value]
        return lambda value: {k: v if v is None else item(v) for k, v in value.items()}
    return None


def _model_builder(model: type[BaseModel], making: set[type]) -> Build | None:
    """Return what makes a model from the JSON of its `model_dump(exclude_unset=True)`, or None."""
    if model in making or model.__pydantic_post_init__ is not None or model.model_config.get("extra") == "allow":
        return None
    making.add(model)
    fields = []
    for name, info in model.model_fields.items():
        convert = _converter(info.annotation, making)
        if convert is None or info.default_factory_takes_validated_data:
            return None
        required = info.is_required()
        if not required and info.default_factory is None and not isinstance(info.default, _IMMUTABLE):
            return None
        fields.append((name, None if convert is _same_value else convert, required, info.default_factory, info.default))
    making.discard(model)
    new, assign = object.__new__, object.__setattr__

    def build(data: dict[str, Any]) -> Any:
        values = {}
        for name, convert, required, factory, default in fields:
            if name in data:
                value = data[name]
                values[name] = value if convert is None or value is None else convert(value)
            elif required:
                raise KeyError(name)  # not the dump of a valid manifest
            else:
                values[name] = factory() if factory is not None else default  # type: ignore[call-arg]
        made = new(model)
        assign(made, "__dict__", values)
        assign(made, "__pydantic_fields_set__", set(data))
        assign(made, "__pydantic_extra__", None)
        assign(made, "__pydantic_private__", None)
        return made

    return build


@functools.cache
def _builder(model: type[BaseModel]) -> Build | None:
    """Return what makes a manifest model from its dump's JSON without validating it again (None: it cannot)."""
    return _model_builder(model, set())


def _has_secret_key(value: Any) -> bool:
    if isinstance(value, dict):
        return any(is_secret_key(str(k)) or _has_secret_key(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_secret_key(v) for v in value)
    return False


# Values compared with == alone once their types match (the bulk of a manifest: its leaves).
_LEAVES = frozenset({str, int, float, bool, type(None)})


def _same(a: Any, b: Any) -> bool:
    """Return True when two values are equal with the same types throughout (models: the same fields set too)."""
    kind = type(a)
    if kind is not type(b):
        return False
    if kind in _LEAVES:
        return bool(a == b)
    if isinstance(a, BaseModel):
        return (
            a.model_fields_set == b.model_fields_set
            and a.__pydantic_extra__ == b.__pydantic_extra__
            and a.__pydantic_private__ == b.__pydantic_private__
            and _same(a.__dict__, b.__dict__)
        )
    if kind is dict:
        return list(a) == list(b) and _all_same(a.values(), b.values())
    if kind is list or kind is tuple:
        return len(a) == len(b) and _all_same(a, b)
    return bool(a == b)


def _all_same(first: Any, second: Any) -> bool:
    for x, y in zip(first, second, strict=True):
        kind = type(x)
        if kind is not type(y) or not (x == y if kind in _LEAVES else _same(x, y)):
            return False
    return True


class CachedSource(Source):
    """A Source whose value and key positions are read again from its file only when an error needs them."""

    def __init__(self, path: str, line: int, column: int, file: str, index: int) -> None:
        self.path, self.line, self.column = path, line, column
        self._file, self._index = file, index
        self._tables: Tables | None = None

    def _decoded(self) -> Tables:
        if self._tables is None:
            found = positions(self._file, self._index)
            # A file changed since: its manifest's own position stands for every value's.
            self._tables = (found.marks, found.keys) if found is not None else ({}, {})
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
        try:
            loaded = _rebuild(entry[3], shown, key, stat)
        except Exception:  # a damaged entry is no reason to fail: the file is parsed instead
            return None
        if loaded is not None:
            self.hits += 1
        return loaded

    def add(self, path: Path, stat: os.stat_result, loaded: Sequence[Loaded]) -> None:
        """Remember a file that parsed cleanly, when it is safe to cache."""
        if max(stat.st_mtime_ns, stat.st_ctime_ns) > time.time_ns() - SETTLE_NS:
            return
        names = _models()[0]
        docs: list[list[Any]] = []
        texts: list[str] = []
        for item in loaded:
            manifest = item.manifest
            name = names.get(type(manifest))
            data = manifest.model_dump(mode="json", exclude_unset=True)
            if name is None or _has_secret_key(data):
                return
            text = json.dumps(data, separators=(",", ":"))
            build = _builder(type(manifest))
            made = build is not None and _same(build(json.loads(text)), manifest)
            if not made and not _same(type(manifest).model_validate_json(text), manifest):
                return
            source = item.source
            docs.append([name, source.line, source.column, int(made)])
            texts.append(text)
        header = json.dumps([stat.st_ctime_ns, stat.st_ino, docs], separators=(",", ":"))
        self.fresh.append(
            {
                "path": os.path.abspath(path),
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "format": self.format,
                "body": "\n".join([header, *texts]),
            }
        )


def _rebuild(body: str, shown: str, file: str, stat: os.stat_result) -> list[Loaded] | None:
    """Return the manifests of a cached entry's body, made or validated again (None: the file changed).

    Raises:
        Exception: a damaged body (any error decoding or validating it).
    """
    lines = body.split("\n")
    ctime_ns, inode, docs = json.loads(lines[0])
    if ctime_ns != stat.st_ctime_ns or inode != stat.st_ino or len(lines) != 1 + len(docs):
        return None
    models = _models()[1]
    loaded = []
    for index, (name, line, column, made) in enumerate(docs):
        model = models[name]
        build = _builder(model) if made else None
        text = lines[1 + index]
        manifest: Any = build(json.loads(text)) if build is not None else model.model_validate_json(text)
        loaded.append(as_loaded(manifest, CachedSource(shown, line, column, file, index)))
    return loaded


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
