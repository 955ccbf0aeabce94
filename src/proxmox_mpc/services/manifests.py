"""Read manifests from YAML (with file, line and column of every value) and write them (`sync --import`)."""

from __future__ import annotations

import os
import re
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.manifest import (
    AnyManifest,
    manifest_to_document,
)
from proxmox_mpc.errors import ManifestError, UsageError
from proxmox_mpc.kinds import registry
from proxmox_mpc.kinds.base import ResourceManifest, resource_document
from proxmox_mpc.output.yaml_text import SafeDumper, block_dump, safe_dump
from proxmox_mpc.safeio.untrusted import MAX_DEPTH, InputLimitError, compose_documents, too_deep

RESOURCES_DIR = "resources"
SUFFIXES = (".yaml", ".yml")
Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One manifest error: where it is and what is wrong."""

    path: str
    line: int
    column: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}:{self.column}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "line": self.line,
            "column": self.column,
            "field": self.field,
            "message": self.message,
        }


@dataclass
class Source:
    """Where a manifest came from: its file and the 1-based position of each of its values."""

    path: str
    line: int = 1
    column: int = 1
    marks: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def where(self, loc: Sequence[str | int], *, key: bool = False) -> tuple[int, int]:
        """Return (line, column) of the value at `loc`, or of its nearest enclosing value."""
        path = tuple(loc)
        table = self.keys if key else self.marks
        while path:
            if path in table:
                return table[path]
            if path in self.marks:
                return self.marks[path]
            path = path[:-1]
        return self.marks.get((), (self.line, self.column))

    def problem(self, loc: Sequence[str | int], message: str, *, key: bool = False) -> Problem:
        """Return a Problem at `loc` (a path into the document such as ("spec", "disks", 0, "size"))."""
        line, column = self.where(loc, key=key)
        return Problem(self.path, line, column, field_name(loc), message)


@dataclass
class LoadedManifest:
    """A validated guest manifest and where it was written."""

    manifest: AnyManifest
    source: Source


@dataclass
class LoadedResource:
    """A validated manifest of a non-guest kind (Pool, ...) and where it was written."""

    manifest: ResourceManifest
    source: Source


Loaded = LoadedManifest | LoadedResource


class ManifestCache(Protocol):
    """Parsed files kept between runs (services/manifest_cache.py): what parse_files asks of it."""

    def get(self, path: Path, shown: str, stat: os.stat_result) -> list[Loaded] | None: ...

    def add(self, path: Path, stat: os.stat_result, loaded: Sequence[Loaded]) -> None: ...


@dataclass
class ManifestSet:
    """A workspace's manifests: the guests, and the resources of every other kind."""

    guests: list[LoadedManifest] = field(default_factory=list)
    resources: list[LoadedResource] = field(default_factory=list)


def split(items: Sequence[Loaded]) -> ManifestSet:
    """Return loaded manifests as guests and other resources."""
    found = ManifestSet()
    for item in items:
        if isinstance(item, LoadedResource):
            found.resources.append(item)
        else:
            found.guests.append(item)
    return found


def as_loaded(manifest: AnyManifest | ResourceManifest, source: Source) -> Loaded:
    """Return a validated manifest with its source, as a guest's or another kind's."""
    if isinstance(manifest, ResourceManifest):
        return LoadedResource(manifest, source)
    return LoadedManifest(manifest, source)


def field_name(loc: Sequence[str | int]) -> str:
    """Return `spec.disks[0].size` for ("spec", "disks", 0, "size")."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def display_path(path: Path, cwd: str | None = None) -> str:
    """Return a path relative to the current directory (`cwd`, default: asked) when it is below it."""
    if cwd is not None:
        absolute = os.path.abspath(path)
        if absolute.startswith(cwd) and absolute[len(cwd) : len(cwd) + 1] == os.sep:
            return absolute[len(cwd) + 1 :]  # what relpath returns, without its per-call work
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


def _build(node: yaml.Node, loc: Loc, source: Source, problems: list[Problem], loader: Any) -> Any:
    """Record the mark of every value (and key) of a document and return its value, in one walk.

    Plain strings, mappings and lists are built here (the bulk of a manifest, much faster than
    the generic constructor); any other tag (numbers, booleans, dates, merge keys) goes to it.
    """
    mark = node.start_mark
    if len(loc) >= MAX_DEPTH:
        raise too_deep(mark.line + 1, mark.column + 1)
    source.marks[loc] = (mark.line + 1, mark.column + 1)
    if isinstance(node, yaml.ScalarNode):
        return node.value if node.tag == _STR else loader.construct_object(node, deep=True)
    if isinstance(node, yaml.MappingNode) and node.tag == _MAP:
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                return loader.construct_object(node, deep=True)
            key = key_node.value if key_node.tag == _STR else loader.construct_object(key_node)
            if key in result:
                line, column = _mark(key_node)
                problems.append(Problem(source.path, line, column, field_name((*loc, key)), "duplicate key"))
            sub: Loc = (*loc, key)
            key_mark = key_node.start_mark
            source.keys[sub] = (key_mark.line + 1, key_mark.column + 1)
            result[key] = _build(value_node, sub, source, problems, loader)
        return result
    if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
        return [_build(item, (*loc, index), source, problems, loader) for index, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


_PYDANTIC_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required field is missing",
}


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind in _PYDANTIC_MESSAGES:
        return _PYDANTIC_MESSAGES[kind]
    message = str(error.get("msg", "invalid value"))
    message = re.sub(r"^(Value error|Assertion failed), ", "", message)
    if kind.startswith(("int_", "bool_", "string_", "dict_", "list_", "literal_")):
        message += f" (got {error.get('input')!r})"
    return message


def _known() -> str:
    return ", ".join(registry.manifest_kinds())


def validate_document(
    data: Any, source: Source
) -> tuple[AnyManifest | ResourceManifest | None, list[Problem]]:
    """Validate one parsed YAML document as a manifest of its kind; return it, or the problems found."""
    from pydantic import ValidationError

    if not isinstance(data, dict):
        return None, [source.problem((), "a manifest must be a mapping (kind, name, spec)")]
    kind = data.get("kind")
    if kind is None:
        return None, [source.problem((), f"kind: required field is missing ({_known()})")]
    found = registry.by_name(kind) if isinstance(kind, str) else None
    if found is None:
        return None, [source.problem(("kind",), f"must be one of {_known()} (got {kind!r})")]
    model: Any = found.model
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(p for p in error.get("loc", ()) if not (isinstance(p, str) and "[" in p))
            key = error.get("type") == "extra_forbidden"
            problems.append(source.problem(loc, _message(dict(error)), key=key))
        return None, problems


def parse_text(text: str, path: str) -> tuple[list[Loaded], list[Problem]]:
    """Parse and validate every document of one YAML text (aliases, NUL bytes and deep nesting refused)."""
    result: list[Loaded] = []
    problems: list[Problem] = []
    try:
        for node, loader in compose_documents(text):
            source = Source(path, *_mark(node))
            doc_problems: list[Problem] = []
            data = _build(node, (), source, doc_problems, loader)
            if data is None:
                continue
            manifest, found = validate_document(data, source)
            doc_problems += found
            problems += doc_problems
            if manifest is not None and not doc_problems:
                result.append(as_loaded(manifest, source))
    except InputLimitError as exc:
        problems.append(Problem(path, exc.line, exc.column, "", exc.message))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        reason = exc.problem or exc.context or "invalid YAML"
        problems.append(Problem(path, line, column, "", f"YAML syntax error: {reason}"))
    except yaml.YAMLError as exc:
        problems.append(Problem(path, 1, 1, "", f"YAML error: {str(exc).splitlines()[0]}"))
    return result, problems


def positions(path: str, index: int) -> Source | None:
    """Return the value and key positions of a file's `index`-th manifest, read again from the file
    (None: it cannot be read, or no longer holds that many manifests)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
        seen = 0
        for node, loader in compose_documents(text):
            source = Source(path, *_mark(node))
            if _build(node, (), source, [], loader) is None:
                continue  # an empty document holds no manifest (as in parse_text)
            if seen == index:
                return source
            seen += 1
    except (OSError, ValueError, yaml.YAMLError):
        return None
    return None


def manifest_files(paths: Iterable[Path]) -> list[Path]:
    """Return the YAML files of the given files and directories (recursively, sorted).

    Raises:
        UsageError: a path does not exist.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += [Path(full) for _, full in sorted(_scan(str(path), ()))]
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"No such manifest file or directory: {path}.")
    return files


def any_manifest_file(directory: Path) -> bool:
    """Return whether manifest_files would list a file below `directory`, looking no further than the first."""
    return directory.is_dir() and next(_scan(str(directory), ()), None) is not None


def _scan(directory: str, rel: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    """Yield (relative parts, path) of YAML files below `directory`, skipping hidden names and dir links."""
    with os.scandir(directory) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from _scan(entry.path, (*rel, entry.name))
            elif os.path.splitext(entry.name)[1] in SUFFIXES and entry.is_file():
                yield (*rel, entry.name), entry.path


def check_unique(loaded: Sequence[Loaded]) -> list[Problem]:
    """Return problems for manifests that repeat an address (a name per kind), a VMID or a MAC address."""
    problems: list[Problem] = []
    names: dict[str, Loaded] = {}
    vmids: dict[int, LoadedManifest] = {}
    macs: dict[str, LoadedManifest] = {}
    for item in loaded:
        first = names.get(item.manifest.address)
        if first is not None:
            problems.append(
                item.source.problem(
                    ("name",), f"{item.manifest.address} is already described in {_at(first, 'name')}"
                )
            )
        else:
            names[item.manifest.address] = item
        if isinstance(item, LoadedResource):
            continue
        m = item.manifest
        if m.vmid is not None:
            other = vmids.get(m.vmid)
            if other is not None:
                problems.append(
                    item.source.problem(
                        ("vmid",),
                        f"VMID {m.vmid} is already used by {other.manifest.address} ({_at(other, 'vmid')})",
                    )
                )
            else:
                vmids[m.vmid] = item
        for index, net in enumerate(m.spec.networks or []):
            mac = getattr(net, "macaddr", None) or getattr(net, "hwaddr", None)
            if not mac:
                continue
            other = macs.get(mac)
            if other is not None:
                problems.append(
                    item.source.problem(
                        ("spec", "networks", index),
                        f"MAC address {mac} is also used by {other.manifest.address}",
                    )
                )
            else:
                macs[mac] = item
    return problems


def _at(item: Loaded, key: str) -> str:
    line, column = item.source.where((key,))
    return f"{item.source.path}:{line}:{column}"


def raise_problems(problems: Sequence[Problem]) -> None:
    """Raise one ManifestError listing every problem, one a line (nothing when there are none).

    Raises:
        ManifestError: there was at least one problem.
    """
    if not problems:
        return
    ordered = sorted(problems, key=lambda p: (p.path, p.line, p.column))
    raise ManifestError("\n".join(str(p) for p in ordered), details=[p.to_dict() for p in ordered])


def load_manifests(paths: Sequence[Path], cache: ManifestCache | None = None) -> list[LoadedManifest]:
    """Load, validate and cross-check every manifest under `paths`; return the guests' (see load_all).

    Raises:
        ManifestError: some manifest is invalid (every problem is listed with file:line:column).
        UsageError: a path does not exist.
    """
    return load_all(paths, cache).guests


def load_all(paths: Sequence[Path], cache: ManifestCache | None = None) -> ManifestSet:
    """Load, validate and cross-check every manifest of every kind under `paths` (unchanged files from `cache`).

    Raises:
        ManifestError: some manifest is invalid (every problem is listed with file:line:column).
        UsageError: a path does not exist.
    """
    found, problems = parse_files(manifest_files(paths), cache)
    problems += check_unique(found)
    raise_problems(problems)
    return split(found)


def parse_files(
    files: Sequence[Path], cache: ManifestCache | None = None, *, shown: bool = True
) -> tuple[list[Loaded], list[Problem]]:
    """Parse and validate manifest files (those unchanged since they were cached come from `cache`)."""
    from proxmox_mpc.services.overlap import drain

    return drain(parse_steps(files, cache, shown=shown))


def parse_steps(
    files: Sequence[Path], cache: ManifestCache | None = None, *, shown: bool = True
) -> Generator[None, None, tuple[list[Loaded], list[Problem]]]:
    """parse_files a file at a time: yields after each file, returns what parse_files returns (so that
    the event loop's thread can load manifests between its reads, see services/overlap.Stepwise)."""
    loaded: list[Loaded] = []
    problems: list[Problem] = []
    cwd = os.getcwd() if shown else None
    for path in files:
        yield
        name = display_path(path, cwd) if shown else str(path)
        try:
            stat = path.stat() if cache is not None else None
            if cache is not None and stat is not None:
                hit = cache.get(path, name, stat)
                if hit is not None:
                    loaded += hit
                    continue
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(name, 1, 1, "", f"cannot read the file: {exc}"))
            continue
        found, bad = parse_text(text, name)
        loaded += found
        problems += bad
        if cache is not None and stat is not None and not bad:
            cache.add(path, stat, found)
    return loaded, problems


def resources_dir(workspace: Path) -> Path:
    """Return the workspace's manifest directory."""
    return workspace / RESOURCES_DIR


def require_workspace(app_ctx: AppContext) -> Path:
    """Return the workspace directory.

    Raises:
        UsageError: the command runs outside a workspace.
    """
    if app_ctx.workspace is None:
        raise UsageError(
            "Not in a pmpc workspace (no pmpc.yaml here or above): run `pmpc init` or pass --workspace."
        )
    return app_ctx.workspace


# ----------------------------------------------------------------------------- writing


def safe_file_name(name: str) -> str:
    """Return a file name for a guest name that cannot leave its directory."""
    cleaned = _UNSAFE_IN_FILE_NAME.sub("_", name).strip(".") or "guest"
    return cleaned[:100]


_UNSAFE_IN_FILE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def manifest_dumper(base: type[yaml.SafeDumper] = SafeDumper) -> type[yaml.SafeDumper]:
    """Return a safe dumper on `base` (LibYAML's when available) writing multi-line text as literal blocks."""

    class ManifestDumper(base):  # type: ignore[valid-type,misc]
        pass

    ManifestDumper.add_representer(str, _text)
    return ManifestDumper


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and value.strip() == value.rstrip("\n").strip() else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ManifestDumper = manifest_dumper()


def dump_manifest(manifest: AnyManifest | ResourceManifest, dumper: type[yaml.SafeDumper] | None = None) -> str:
    """Return a manifest (of any kind) as YAML text (the simple shapes most manifests have without PyYAML)."""
    document = (
        resource_document(manifest) if isinstance(manifest, ResourceManifest) else manifest_to_document(manifest)
    )
    text = block_dump(document) if dumper is None else None
    if text is not None:
        return text
    return safe_dump(
        document,
        dumper=dumper or _ManifestDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
    )
