"""`sync --import`: write a manifest for every guest and resource that has none yet, never overwriting one."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.identity import manifest_kind
from proxmox_mpc.core.manifest import AnyManifest, manifest_from_config
from proxmox_mpc.core.models import BaseGuest, ObservedGuest
from proxmox_mpc.errors import FileWriteError, UnsafePathError
from proxmox_mpc.kinds import registry
from proxmox_mpc.kinds.base import Kind, Resource, ResourceManifest
from proxmox_mpc.safeio.files import StagedFiles, write_files
from proxmox_mpc.services.manifests import (
    RESOURCES_DIR,
    ManifestSet,
    _message,
    any_manifest_file,
    dump_manifest,
    field_name,
    manifest_files,
    parse_files,
    require_workspace,
    resources_dir,
    safe_file_name,
    split,
)

# What a plan holds of each manifest: the manifest itself (a dry run), or its text (an import).
_Kept = TypeVar("_Kept")
# A guest's manifest as a plan holds it, (kind, name, VMID, what is kept of it), or why it cannot be one.
_Built = tuple[str, str, int | None, _Kept] | str


def manifest_for_guest(guest: BaseGuest, config: dict[str, Any]) -> AnyManifest:
    """Build the manifest of a guest (any view of it: listed, observed, stored) from its config."""
    template = guest.template
    status = guest.status
    state = None if template else ("stopped" if status == "stopped" else "running" if status else None)
    return manifest_from_config(
        manifest_kind(guest.kind),
        guest.name,
        guest.node,
        guest.vmid,
        config,
        state=state,
        pool=guest.pool or None,
        template=template or None,
    )


@dataclass
class ImportResult:
    """What `sync --import` wrote, and each guest it could not import with the reason (one sentence)."""

    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def _manifest_or_reason(guest: ObservedGuest) -> AnyManifest | str:
    from pydantic import ValidationError

    try:
        return manifest_for_guest(guest, dict(guest.config))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = field_name(first.get("loc", ())) or "value"
        return f"its config cannot be written as a manifest ({where}: {_message(dict(first))})"
    except (ValueError, OverflowError) as exc:
        return f"its config cannot be written as a manifest ({str(exc).splitlines()[0]})"


@dataclass(frozen=True, slots=True)
class _Staged:
    """A manifest text written ahead to a temporary in its kind's folder (its ticket in the import's StagedFiles)."""

    ticket: int


class ManifestTexts:
    """Each guest's manifest text (or why it has none), built as its config arrives during a sync's reads.

    Called with a guest whose config was just read (observe's `on_config`). `import_manifests` takes a
    guest's text from here when it is the same guest with the same config object, and builds it otherwise
    (a guest of an offline node imported with its stored config, say), so what is written is the same.

    Guests are built `BATCH` at a time: a run of builds back to back costs about a third less CPU than one
    build between every two responses (the interpreter's caches stay warm), and holds the event loop only
    a few milliseconds.

    Given the `workspace`, and when it holds no manifest yet (a first import: every guest gets a file), each
    text is also written ahead under its likely file name, into a hidden twin of its kind's (empty) folder,
    while the other configs are still on their way; the import then only flushes them and renames each
    twin over its folder (see StagedFiles), and `discard` removes them when the sync fails. A write that
    fails ahead stops the writing ahead: the import writes the rest itself, and reports the failure with
    its file. A workspace with manifests gets nothing written ahead (most guests are described already).
    """

    BATCH = 64

    def __init__(self, workspace: Path | None = None) -> None:
        self._texts: dict[int, tuple[ObservedGuest, dict[str, Any], _Built[str | _Staged]]] = {}
        self._waiting: list[ObservedGuest] = []
        self.workspace = workspace
        self.staging: StagedFiles | None = None
        if workspace is not None and not _any_manifest(resources_dir(workspace)):
            self.staging = StagedFiles(workspace)
        self._folders = _Folders(resources_dir(workspace or Path()))
        self._wheres: dict[str, tuple[str, ...]] = {}

    def _where(self, kind: str) -> tuple[str, ...]:
        """The parts of `kind`'s folder below the workspace."""
        where = self._wheres.get(kind)
        if where is None:
            where = self._wheres[kind] = Path(RESOURCES_DIR, _kind_named(kind).folder).parts
        return where

    def __call__(self, guest: ObservedGuest) -> None:
        self._waiting.append(guest)
        if len(self._waiting) >= self.BATCH:
            self._build_waiting()

    def _build_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        done: list[tuple[ObservedGuest, _Built[str]]] = []
        for guest in waiting:
            try:
                done.append((guest, _build(guest, dump_manifest)))
            except Exception:  # built again at import time, where its error belongs
                continue
        for guest, built in done:
            self._texts[guest.vmid] = (guest, guest.config, self._stage(built))

    def _stage(self, built: _Built[str]) -> _Built[str | _Staged]:
        if self.staging is None or isinstance(built, str):
            return built
        kind, name, vmid, text = built
        try:
            folder, likely = self._folders.path(kind), f"{safe_file_name(name)}.yaml"  # as _plan_imports names it
            ticket = self.staging.stage_at(self._where(kind), text, shown=folder, name=likely)
            return kind, name, vmid, _Staged(ticket)
        except FileWriteError:  # the import writes it (and says why it cannot)
            self.discard()
            return built

    def get(self, guest: ObservedGuest) -> _Built[str | _Staged] | None:
        """Return what was built of this very guest and config (None: build it now)."""
        if self._waiting:
            self._build_waiting()
        entry = self._texts.get(guest.vmid)
        if entry is None or entry[0] is not guest or entry[1] is not guest.config:
            return None
        return entry[2]

    def discard(self) -> None:
        """Remove what was written ahead and write no more ahead (a failed sync; harmless after an import)."""
        if self.staging is not None:
            self.staging.discard()
            self.staging = None
            self._texts.clear()


def _any_manifest(directory: Path) -> bool:
    try:
        return any_manifest_file(directory)
    except OSError:
        return True  # a folder it cannot look into: nothing is written ahead, the import says what is wrong


def _build(guest: ObservedGuest, keep: Callable[[AnyManifest], _Kept]) -> _Built[_Kept]:
    built = _manifest_or_reason(guest)
    if isinstance(built, str):
        return built
    return built.kind, built.name, built.vmid, keep(built)


def import_manifests(
    app_ctx: AppContext,
    guests: Iterable[ObservedGuest],
    workspace: Path | None = None,
    *,
    resources: Mapping[str, Sequence[Resource]] | None = None,
    built: ManifestTexts | None = None,
) -> ImportResult:
    """Write a manifest for each guest that has none yet (`pmpc sync --import`).

    A symlink in the way of one file is refused (named in `refused`) and the others are still
    written; guests that cannot be imported are in `skipped` with their reason (see plan_imports).
    Each manifest is turned into its text as soon as it is built: an import of thousands of guests
    holds their texts, not their models.

    Raises:
        UsageError: there is no workspace.
        FileWriteError: a write failed (disk full, read-only): the first error, no partial file left.
    """
    root = workspace or require_workspace(app_ctx)
    staging = built.staging if built is not None and built.workspace == root else None
    keep: Callable[[AnyManifest | ResourceManifest], str | _Staged] = dump_manifest
    planned, skipped = _plan_imports(app_ctx, root, guests, resources, keep, _built_before(built, staging))
    result = ImportResult(skipped=skipped)
    refused = _write(planned, root, staging)
    result.refused += [exc.message for _, exc in refused]
    gone = {path for path, _ in refused}
    result.written += [path for path, _ in planned if path not in gone]
    return result


def _built_before(
    built: ManifestTexts | None, staging: StagedFiles | None
) -> Callable[[ObservedGuest], _Built[str | _Staged] | None] | None:
    """`built.get`; for an import that writes every file itself, once what was written ahead is removed."""
    if built is None:
        return None
    if staging is None:
        built.discard()
    return built.get


def _write(
    planned: Sequence[tuple[Path, str | _Staged]], root: Path, staging: StagedFiles | None
) -> list[tuple[Path, UnsafePathError]]:
    """Write the planned files: the texts written ahead are renamed into place, the others written now."""
    if staging is None:
        texts = [(path, kept) for path, kept in planned if isinstance(kept, str)]
        assert len(texts) == len(planned)  # nothing was written ahead for this import
        return write_files(texts, root=root)
    return staging.finish([(kept.ticket if isinstance(kept, _Staged) else kept, path) for path, kept in planned])


def plan_imports(
    app_ctx: AppContext,
    guests: Iterable[ObservedGuest],
    workspace: Path | None = None,
    *,
    resources: Mapping[str, Sequence[Resource]] | None = None,
) -> list[tuple[Path, AnyManifest | ResourceManifest]]:
    """Return the manifest file each guest (and resource) without one would get (`sync --import`, dry run too).

    Each guest (observed, or as the store holds it) carries its config. A guest already described by a
    manifest (same VMID, or same kind and name) keeps it untouched: an import never overwrites what
    someone wrote. One odd guest never sinks the import: a guest whose config
    cannot be a manifest, or whose name another guest of its kind already has (a workspace holds one
    `vm/NAME`), is left out (`import_manifests` reports why). Two names that make one file name
    (`Web`, `web`) are written as NAME-VMID.yaml. What is written always passes `pmpc validate`.

    Resources of the other kinds (`resources`, by kind) get `resources/<folder>/ID.yaml` unless a
    manifest describes their address already.

    Raises:
        UsageError: there is no workspace.
    """
    root = workspace or require_workspace(app_ctx)
    return _plan_imports(app_ctx, root, guests, resources, _as_built)[0]


def _as_built(manifest: AnyManifest | ResourceManifest) -> AnyManifest | ResourceManifest:
    return manifest


def _plan_imports(
    app_ctx: AppContext,
    root: Path,
    guests: Iterable[ObservedGuest],
    resources: Mapping[str, Sequence[Resource]] | None,
    keep: Callable[[AnyManifest | ResourceManifest], _Kept],
    built_before: Callable[[ObservedGuest], _Built[_Kept] | None] | None = None,
) -> tuple[list[tuple[Path, _Kept]], list[tuple[str, str]]]:
    """Plan the files of an import; `keep` turns each manifest into what the plan holds of it, unless
    `built_before` has it already."""
    described_vmids: set[int] = set()
    # (kind, name) -> the VMID of the manifest holding that name (None: the manifest gives no VMID).
    names_in_use: dict[tuple[str, str], int | None] = {}
    directory = resources_dir(root)
    existing = ManifestSet()
    if directory.is_dir():
        from proxmox_mpc.services.manifest_cache import manifest_cache

        files = manifest_files([directory])
        with manifest_cache(app_ctx, directory, files) as cache:
            found, _ = parse_files(files, cache, shown=False)
        existing = split(found)
        for item in existing.guests:
            if item.manifest.vmid is not None:
                described_vmids.add(item.manifest.vmid)
            names_in_use.setdefault((item.manifest.kind, item.manifest.name), item.manifest.vmid)
    skipped: list[tuple[str, str]] = []
    manifests: list[tuple[str, str, int | None, _Kept]] = []  # one per guest to write
    for guest in sorted(guests, key=lambda g: g.vmid):
        built = built_before(guest) if built_before is not None else None
        if built is None:
            built = _build(guest, keep)
        if isinstance(built, str):
            skipped.append((_guest_address(guest), built))
            continue
        kind, name, vmid, _ = built
        if vmid in described_vmids:
            continue
        holder = names_in_use.get((kind, name), -1)
        if holder is None:
            continue  # described by name
        if holder != -1:
            skipped.append(
                (
                    _guest_address(guest),
                    f"its name {name} is also the name of {_kind_named(kind).prefix}/{holder}, "
                    "and a workspace holds one manifest per name: rename one of them in Proxmox VE",
                )
            )
            continue
        names_in_use[(kind, name)] = vmid
        manifests.append(built)
    manifests.sort(key=lambda m: (m[0], m[1], m[2] or 0))
    bases = [safe_file_name(name) for _, name, _, _ in manifests]
    counts: dict[tuple[str, str], int] = {}
    for (kind, _, _, _), base in zip(manifests, bases, strict=True):
        key = (kind, base.lower())
        counts[key] = counts.get(key, 0) + 1
    folders = _Folders(resources_dir(root))
    planned: list[tuple[Path, _Kept]] = []
    for (kind, _, vmid, kept), base in zip(manifests, bases, strict=True):
        file_name = f"{base}.yaml"
        if counts[(kind, base.lower())] > 1 or folders.exists(kind, file_name):
            file_name = f"{base}-{vmid}.yaml"
        planned.append((folders.path(kind) / file_name, kept))
    if resources:
        from proxmox_mpc.services.resources import plan_resource_imports

        described = {item.manifest.address for item in existing.resources}
        planned += [(path, keep(manifest)) for path, manifest in plan_resource_imports(root, resources, described)]
    return planned, skipped


class _Folders:
    """The folder of each guest kind below a workspace's resources, and which file names are there already.

    A folder is listed once rather than asked once per file; a name it lists (compared ignoring case, as
    some file systems do) is then asked for itself, so what `exists` says is what Path.exists would.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._paths: dict[str, Path] = {}
        self._names: dict[str, set[str]] = {}

    def path(self, kind: str) -> Path:
        folder = self._paths.get(kind)
        if folder is None:
            folder = self._paths[kind] = self.directory / _kind_named(kind).folder
        return folder

    def exists(self, kind: str, file_name: str) -> bool:
        names = self._names.get(kind)
        if names is None:
            try:
                names = {entry.lower() for entry in os.listdir(self.path(kind))}
            except FileNotFoundError:
                names = set()
            except OSError:
                names = _UNLISTED  # not a directory one may list: ask for each file
            self._names[kind] = names
        return (names is _UNLISTED or file_name.lower() in names) and (self.path(kind) / file_name).exists()


_UNLISTED: set[str] = set()


def _kind_named(name: str) -> Kind:
    kind = registry.by_name(name)
    assert kind is not None  # a validated manifest is of a registered kind
    return kind


def _guest_address(guest: BaseGuest) -> str:
    return guest.ref
