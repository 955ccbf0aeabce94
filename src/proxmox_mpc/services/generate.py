"""Generate Terraform, Ansible and tests: gather inputs, render, write inside the output directory only."""

from __future__ import annotations

import asyncio
import errno
import gc
import os
import re
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

if TYPE_CHECKING:
    from proxmox_mpc.core.manifest import AnyManifest
    from proxmox_mpc.services.manifests import ManifestSet

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.models import ObservedGuest
from proxmox_mpc.core.pveconfig import agent_enabled
from proxmox_mpc.errors import Conflict, ManifestError, PmpcError, UsageError
from proxmox_mpc.generators.model import DEFAULT_PROVIDER_VERSION, FRAMEWORKS
from proxmox_mpc.kinds.base import Resource
from proxmox_mpc.safeio.files import is_inside

GENERATORS = ("terraform", "ansible", "tests")
Action = Literal["create", "update", "unchanged", "keep", "overwrite", "delete"]
WRITES = frozenset({"create", "update", "overwrite", "delete"})
_PROVIDER_VERSION = re.compile(r"^[0-9A-Za-z.+\-~>=<!, ]{1,40}$")
# Files bigger than this are never ours: not even read when looking for stale generated files.
_MAX_OWN_FILE = 4 * 1024 * 1024
# What pathlib's exists() takes for "no such file": missing, a file in the way, a link loop.
_MISSING = frozenset({errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP})


class GeneratedFile(Model):
    """One file of a generator run and what happened (or, on a dry run, would happen) to it."""

    generator: str
    path: str
    file: str
    action: Action
    written: bool


class GenerateResult(Model):
    """The files of one run, and notes worth telling the user."""

    generator: str
    out_dir: str
    dry_run: bool
    files: list[GeneratedFile] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


# ----------------------------------------------------------------------------- inputs


class _Facts(Model):
    """What exists: guests with their configs and addresses, and the node names."""

    guests: list[ObservedGuest] = Field(default_factory=list)
    addresses: dict[int, str | None] = Field(default_factory=dict)  # VMID -> the address its agent reports
    nodes: list[str] = Field(default_factory=list)
    source: str = "none"
    resources: dict[str, list[Resource]] = Field(default_factory=dict)  # the other kinds, by prefix
    # Guests already described from their configs while reading (VMID -> spec, or why it is left out).
    described: dict[int, Any] = Field(default_factory=dict)


# Where a running guest's address is read: a VM's guest agent, a container's interfaces.
_AGENT_PATH = "/nodes/{node}/{type}/{vmid}/agent/network-get-interfaces"
_INTERFACES_PATH = "/nodes/{node}/{type}/{vmid}/interfaces"


def _describe(guest: ObservedGuest) -> Any:
    """Return a guest described from its config (as `sync --import` would), or the warning why it is left out."""
    from proxmox_mpc.generators.model import spec_from_manifest
    from proxmox_mpc.services.imports import manifest_for_guest

    if guest.unread:
        return f"{guest.ref}: its config could not be read (node offline); left out."
    try:
        manifest = manifest_for_guest(guest, dict(guest.config))
    except ValueError as exc:
        # A config pmpc cannot describe (pydantic's ValidationError is a ValueError).
        first = str(exc).splitlines()[0]
        return f"{guest.ref}: cannot be described ({first}); left out."
    return spec_from_manifest(manifest)


def _address_reads(
    manifests_of: Callable[[], Sequence[AnyManifest] | None], described: dict[int, Any]
) -> tuple[Any, ...]:
    """Return the per-guest reads of the addresses the inventory needs (observe sends each right after
    its guest's config, when configs are read).

    Only a running guest (no template) that the run describes is asked, and only when its description
    names no static address (which the inventory uses instead, see generators.model.merge). With
    manifests (`manifests_of()`: the guests' manifests, asked once they are loaded, before their specs
    are made) configs are not read: a VM is asked whatever its agent setting (PVE answers an error
    without an agent, as it does for an agent that is not running). Without (`manifests_of()` is None),
    each guest is described from its config as it arrives (kept in `described`) and a VM without its
    agent enabled is not asked.
    """
    from proxmox_mpc.generators.model import GuestSpec, manifest_static_address, static_address
    from proxmox_mpc.services.observe import Read

    # Whether a manifest's guest needs its address read (it names no static one), by VMID or by name.
    by_vmid: dict[tuple[str, int], bool] = {}
    by_name: dict[tuple[str, str], bool] = {}
    indexed: list[bool] = []

    def needs_address(guest: ObservedGuest, manifests: Sequence[AnyManifest]) -> bool:
        if not indexed:
            indexed.append(True)
            for manifest in manifests:
                if manifest.spec.state == "absent":
                    continue  # described by no spec
                kind, needed = manifest.kind.lower(), manifest_static_address(manifest) is None
                if manifest.vmid is not None:
                    by_vmid[(kind, manifest.vmid)] = needed
                else:
                    by_name[(kind, manifest.name)] = needed
        found = by_vmid.get((guest.kind, guest.vmid))
        return found if found is not None else by_name.get((guest.kind, guest.name), False)

    def wanted(guest: ObservedGuest, kind: str) -> bool:
        if guest.kind != kind or guest.status != "running" or guest.template:
            return False
        manifests = manifests_of()
        if manifests is not None:
            return needs_address(guest, manifests)
        if kind == "vm" and not agent_enabled(guest.config.get("agent")):
            return False
        if guest.vmid not in described:
            described[guest.vmid] = _describe(guest)
        spec = described[guest.vmid]
        return isinstance(spec, GuestSpec) and static_address(spec) is None

    return (
        Read(_AGENT_PATH, (PmpcError,), (lambda guest, _described: wanted(guest, "vm"),)),
        Read(_INTERFACES_PATH, (PmpcError,), (lambda guest, _described: wanted(guest, "ct"),)),
    )


# The workspace's manifests and their guests' specs (the specs None without manifests).
_Loaded = tuple["ManifestSet | None", "list[Any] | None"]


def _load(app_ctx: AppContext) -> _Loaded:
    """Return the workspace's manifests (None outside a workspace or without any) and their guests' specs."""
    from proxmox_mpc.services.overlap import drain

    found = drain(_manifest_steps(app_ctx))
    return found, drain(_spec_steps(found))


def _manifest_steps(app_ctx: AppContext) -> Generator[None, None, ManifestSet | None]:
    """Load the workspace's manifests a file at a time (see manifests.parse_steps); return them (None outside
    a workspace or without any).

    They live until the run ends: they are kept out of the garbage collector's walks (see _settled).
    """
    from proxmox_mpc.services.workspace_manifests import workspace_steps

    if app_ctx.workspace is None:
        return None
    found = yield from workspace_steps(app_ctx)
    if not (found.guests or found.resources):
        return None
    gc.freeze()
    return found


def _spec_steps(found: ManifestSet | None) -> Generator[None, None, list[Any] | None]:
    """Make the specs of the manifests' guests a guest at a time (None without manifests), kept out of the
    collector's walks."""
    if found is None:
        return None
    desired = yield from desired_spec_steps([item.manifest for item in found.guests])
    gc.freeze()
    return desired


async def _live_inputs(app_ctx: AppContext, generator: str) -> tuple[ManifestSet | None, list[Any] | None, _Facts]:
    """Read what exists while the workspace's manifests load (between the reads, see overlap.Stepwise);
    return both.

    The guests, the other kinds and the nodes are read at once; only the per-guest reads the manifests
    choose (the addresses, a described guest's firewall) wait for them, and not for the guests' specs,
    which are made from the manifests meanwhile (between the reads too). An error of the manifests wins
    over a read error, as when they were loaded before the cluster was read. Without manifest files the
    guests' configs are read (they are described from them).
    """
    from proxmox_mpc.services.manifests import any_manifest_file, resources_dir
    from proxmox_mpc.services.overlap import Stepwise, beside

    workspace = app_ctx.workspace
    if workspace is None or not any_manifest_file(resources_dir(Path(workspace))):
        return None, None, await _live_facts(app_ctx, generator, None)
    loader = Stepwise(lambda: _manifest_steps(app_ctx))
    loader.start()
    manifests = loader.result

    async def load() -> _Loaded:
        found = await manifests
        specs = Stepwise(lambda: _spec_steps(found))
        specs.start()
        return found, await specs.result

    async def described() -> frozenset[str]:
        found = await manifests
        return frozenset(i.manifest.address for i in found.resources) if found is not None else frozenset()

    loading = asyncio.ensure_future(load())
    naming = asyncio.ensure_future(described())
    (found, desired), facts = await beside(
        loading, asyncio.ensure_future(_live_facts(app_ctx, generator, manifests, naming)), naming
    )
    if found is None:
        # Only empty manifest files: the guests are described from their configs after all.
        facts = await _live_facts(app_ctx, generator, None)
    return found, desired, facts


async def _live_facts(
    app_ctx: AppContext,
    generator: str,
    loading: asyncio.Future[ManifestSet | None] | None,
    described: asyncio.Future[frozenset[str]] | None = None,
) -> _Facts:
    """Read what exists: the guests (their configs only without manifests, which are then described from
    them), the other kinds, and (for Ansible) the addresses of the running guests.

    `loading`: the manifests, loading meanwhile (None: there are none, configs are read); `described`:
    the addresses the manifests make exist, once they are loaded.
    """
    from proxmox_mpc.generators.model import agent_address
    from proxmox_mpc.kinds import registry
    from proxmox_mpc.kinds.base import guest_path
    from proxmox_mpc.services.connection import connect
    from proxmox_mpc.services.observe import RESOURCE_READS, Needs, listed, observe

    guest_manifests: list[AnyManifest] = []

    def manifests_of() -> list[AnyManifest] | None:
        # Asked by the per-guest reads, which wait for `described`: the manifests are loaded by then.
        # Only empty manifest files (no guest, no resource): nothing to ask, they are read again from configs.
        if loading is None:
            return None
        found = loading.result()
        if found is not None and not guest_manifests:
            guest_manifests.extend(item.manifest for item in found.guests)
        return guest_manifests

    specs: dict[int, Any] = {}
    addressed = _address_reads(manifests_of, specs) if generator == "ansible" else ()
    needs = Needs(configs=loading is None, for_store=True, reads=(*RESOURCE_READS, *addressed))
    async with connect(app_ctx, bulk=True) as api:
        observation = await observe(api, needs, described=described)
    found_addresses: dict[int, str | None] = {}
    for guest in observation.guests:
        for read in addressed:
            body = observation.reads.get(guest_path(read.path, guest))
            if body is not None:
                found_addresses[guest.vmid] = agent_address(body)
    nodes = sorted(str(n.get("node")) for n in observation.nodes if n.get("node"))
    return _Facts(
        guests=observation.guests,
        addresses=found_addresses,
        nodes=nodes,
        source="cluster",
        resources=listed(observation, registry.resource_kinds()),
        described=specs,
    )


def _stored_facts(app_ctx: AppContext) -> _Facts:
    from proxmox_mpc.services.database import cluster_key, open_store_readonly
    from proxmox_mpc.services.observe import stored_resources

    store = open_store_readonly(app_ctx)
    if store is None:
        return _Facts(source="none")
    try:
        cluster = cluster_key(app_ctx)
        records = store.current_guests(cluster)
        nodes = [n.name for n in store.nodes(cluster)]
        resources = stored_resources(store, cluster)
    finally:
        store.close()
    for record in records:
        record.unread = not record.config  # stored while its node was offline, never read since
    return _Facts(guests=list(records), nodes=sorted(nodes), source="state", resources=resources)


def _cluster_info(app_ctx: AppContext, nodes: list[str]) -> Any:
    from proxmox_mpc.generators.model import Cluster

    settings = app_ctx.settings
    user = name = None
    if settings.token_id and "!" in settings.token_id:
        user, _, name = settings.token_id.partition("!")
    elif settings.user:
        user = settings.user
    endpoint = settings.base_url + "/" if settings.host else None
    return Cluster(
        endpoint=endpoint,
        host=settings.host,
        port=settings.port,
        token_user=user,
        token_name=name,
        verify_tls=settings.verify_tls and not app_ctx.insecure,
        nodes=nodes,
    )


def resource_specs(found: ManifestSet | None, facts: _Facts) -> list[Any]:
    """Return the other kinds' resources as the generators spell them: the manifests', else what exists."""
    from proxmox_mpc.generators.model import resource_spec
    from proxmox_mpc.kinds import registry

    present = {r.address for items in facts.resources.values() for r in items}
    # Where each guest is (by VMID address): the manifest's node, else the node it is on now.
    nodes = {f"{g.kind}/{g.vmid}": g.node for g in facts.guests}
    nodes.update({f"{m.kind.lower()}/{m.vmid}": m.node for m in (i.manifest for i in (found.guests if found else []))})
    specs = []
    if found is None:
        for prefix, items in sorted(facts.resources.items()):
            kind = registry.resource_kind(prefix)
            if kind is not None:
                specs += [resource_spec(kind, kind.to_manifest(r), exists=True, nodes=nodes) for r in items]
        return specs
    for item in found.resources:
        found_kind = registry.resource_kind(item.manifest.prefix)
        if found_kind is not None and not item.manifest.absent:
            exists = item.manifest.address in present
            specs.append(resource_spec(found_kind, item.manifest, exists=exists, nodes=nodes))
    return specs


def build_inputs(
    manifests: Sequence[Any] | None, facts: _Facts, desired: Sequence[Any] | None = None
) -> tuple[list[Any], dict[str, int], list[str]]:
    """Return (guest specs, clone-source VMIDs by name, warnings) from manifests and what exists.

    Without manifests every existing guest is described from its config, as `sync --import` would.
    `desired`: the manifests' specs when already made (desired_specs).
    """
    from proxmox_mpc.generators.model import GuestSpec, Observed, merge

    warnings: list[str] = []
    observed = [
        Observed(
            kind=g.kind,
            vmid=g.vmid,
            name=g.name,
            node=g.node,
            status=g.status,
            address=facts.addresses.get(g.vmid),
        )
        for g in facts.guests
    ]
    clone_vmids = {g.name: g.vmid for g in facts.guests}
    if manifests is None:
        specs = []
        for guest in facts.guests:
            spec = facts.described[guest.vmid] if guest.vmid in facts.described else _describe(guest)
            if isinstance(spec, str):
                warnings.append(spec)
            elif isinstance(spec, GuestSpec):
                specs.append(spec)
    else:
        specs = list(desired) if desired is not None else desired_specs(manifests)
    return merge(specs, observed), clone_vmids, warnings


def desired_specs(manifests: Sequence[Any]) -> list[Any]:
    """Return the generators' spec of each manifest's guest (none for one whose state is `absent`)."""
    from proxmox_mpc.services.overlap import drain

    return drain(desired_spec_steps(manifests))


def desired_spec_steps(manifests: Sequence[Any]) -> Generator[None, None, list[Any]]:
    """desired_specs a manifest at a time: yields before each (see overlap.Stepwise)."""
    from proxmox_mpc.generators.model import spec_from_manifest

    desired = []
    for manifest in manifests:
        yield
        spec = spec_from_manifest(manifest)
        if spec is not None:
            desired.append(spec)
    return desired


# ----------------------------------------------------------------------------- writing


def default_out(app_ctx: AppContext, generator: str) -> Path:
    """Return where a generator writes by default: the workspace's terraform/, ansible/ or tests/."""
    base = app_ctx.workspace if app_ctx.workspace is not None else Path.cwd()
    return Path(base) / generator


def check_relative(rel: str) -> PurePosixPath:
    """Return a generated file's relative path, refusing one that could leave the output directory.

    Raises:
        ManifestError: the path is absolute, has `..` or an empty or hidden component.
    """
    path = PurePosixPath(rel)
    if (
        path.is_absolute()
        or not path.parts
        or any(p in ("", ".", "..") or p.startswith(".") for p in path.parts)
    ):
        raise ManifestError(f"Refusing to write {rel!r}: it would leave the output directory.")
    return path


# A relative path every generator writes: components that check_relative accepts as they are.
_PLAIN_RELATIVE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(?:/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")


def _parts(rel: str) -> list[str]:
    """Return the components of a generated file's relative path (check_relative's rules)."""
    if _PLAIN_RELATIVE.fullmatch(rel):
        return rel.split("/")
    return list(check_relative(rel).parts)


class _Dirs:
    """One run's look at the output's directories: each resolved once and listed once (its names and which
    of them are symbolic links), rather than one system call per file for thousands of files."""

    def __init__(self) -> None:
        self.resolved: dict[str, str] = {}
        self.listed: dict[str, tuple[frozenset[str], frozenset[str]] | None] = {}

    def resolve(self, directory: str) -> str:
        found = self.resolved.get(directory)
        if found is None:
            found = self.resolved[directory] = os.path.realpath(directory)
        return found

    def listing(self, directory: str) -> tuple[frozenset[str], frozenset[str]] | None:
        """Return (the names in `directory`, those that are symbolic links); None: it cannot be listed."""
        if directory not in self.listed:
            try:
                with os.scandir(directory) as entries:
                    found = [(entry.name, entry.is_symlink()) for entry in entries]
            except FileNotFoundError:
                found = []
            except OSError:
                self.listed[directory] = None
                return None
            self.listed[directory] = (
                frozenset(name for name, _ in found),
                frozenset(name for name, link in found if link),
            )
        return self.listed[directory]


def _join(directory: str, rel: str) -> str:
    """os.path.join of a directory and a relative path (one of check_relative's), for a fraction of its cost."""
    return directory + rel if not directory or directory.endswith("/") else f"{directory}/{rel}"


def _target(out_dir: Path, rel: str, dirs: _Dirs | None = None) -> tuple[str, bool]:
    """Return where a generated file goes, and whether something may be there (False: its directory,
    listed, does not hold the name).

    Plain strings, no pathlib: this runs once per file, for thousands of files in a few directories.
    Each directory is resolved and listed once (`dirs`, one run's cache); the file itself is resolved
    only when it is a link.
    """
    root = str(out_dir)
    path = _join(root, rel) if _PLAIN_RELATIVE.fullmatch(rel) else os.path.join(root, *_parts(rel))
    parent, name = os.path.split(path)
    dirs = dirs if dirs is not None else _Dirs()
    resolved_root = dirs.resolve(root)
    resolved = _join(dirs.resolve(parent), name)
    listing = dirs.listing(parent)
    present = listing is None or name in listing[0]
    if os.path.islink(path) if listing is None else name in listing[1]:
        resolved = os.path.realpath(resolved)
    inside = resolved_root if resolved_root.endswith(os.sep) else resolved_root + os.sep
    if resolved != resolved_root and not resolved.startswith(inside):
        raise ManifestError(f"Refusing to write {rel!r}: it resolves outside {out_dir} (a symbolic link?).")
    return path, present


def plan_files(
    generator: str, out_dir: Path, rendered: dict[str, str], *, force: bool
) -> list[GeneratedFile]:
    """Decide, for every rendered file and every stale generated file, what writing would do.

    Raises:
        Conflict: a file was edited by hand (or is not pmpc's) and --force was not given; lists them all.
        ManifestError: a path would leave the output directory.
    """
    from proxmox_mpc.generators.common import SCAFFOLD_MARK, file_state

    files: list[GeneratedFile] = []
    conflicts: list[str] = []
    dirs = _Dirs()
    root = str(out_dir)
    for rel in sorted(rendered):
        target, present = _target(out_dir, rel, dirs)
        text = rendered[rel]
        action: Action
        current = _current(target, text) if present else None
        if current is None:
            action = "create"
        else:
            if current == text:
                action = "unchanged"
            elif SCAFFOLD_MARK in text[:500]:
                action = "keep"  # a scaffold belongs to the user once written
            elif file_state(current) == "generated":
                action = "update"
            elif force:
                action = "overwrite"
            else:
                conflicts.append(str(Path(target)))
                continue
        files.append(_file(generator, root, rel, action))
    if conflicts:
        listed = ", ".join(conflicts[:10]) + (
            f" and {len(conflicts) - 10} more" if len(conflicts) > 10 else ""
        )
        raise Conflict(
            f"Not overwriting {len(conflicts)} file(s) changed by hand or not generated by pmpc: {listed}. "
            "Pass --force to overwrite them.",
            details={"files": conflicts},
        )
    files += _stale(generator, out_dir, rendered)
    return files


def _current(target: str, text: str) -> str | None:
    """Return what a file holds now, as text (`text` itself when it holds exactly that); None: no such
    file, or a link to nothing.

    Raises:
        ManifestError: it is a directory.
    """
    try:
        data = _read(target)
    except IsADirectoryError:
        raise ManifestError(f"Cannot write {Path(target)}: it is a directory.") from None
    except OSError as exc:
        if exc.errno in _MISSING:
            return None
        raise
    # Most files are as generated: comparing bytes spares decoding them.
    if data == text.encode("utf-8"):
        return text
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


def _read(path: str) -> bytes:
    """Return a file's bytes (os-level reads: a buffered file object costs twice as much for a small file)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunk = os.read(fd, _READ_CHUNK)
        if len(chunk) < _READ_CHUNK:
            return chunk
        chunks = [chunk]
        while chunk:
            chunk = os.read(fd, _READ_CHUNK)
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


_READ_CHUNK = 64 * 1024


def _file(generator: str, out_dir: Path | str, rel: str, action: Action) -> GeneratedFile:
    return GeneratedFile(
        generator=generator, path=os.path.join(out_dir, rel), file=rel, action=action, written=action in WRITES
    )


def _stale(generator: str, out_dir: Path, rendered: dict[str, str]) -> list[GeneratedFile]:
    """Files this generator wrote before, unedited, that it no longer produces (a guest went away)."""
    from proxmox_mpc.generators.common import file_state, generator_of

    if not out_dir.is_dir():
        return []
    # Only look where this run writes: `--framework pytest` leaves the Jest files alone.
    tops = {parts[0] for parts in map(_parts, rendered) if len(parts) > 1}
    stale = []
    for root, dirs, names in os.walk(out_dir):
        rel_root = Path(root).relative_to(out_dir)
        if rel_root.parts and rel_root.parts[0] not in tops:
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "node_modules")
        prefix = rel_root.as_posix() + "/" if rel_root.parts else ""
        for name in sorted(names):
            rel = prefix + name
            if rel in rendered:
                continue  # still generated: the common case, decided without touching the file
            path = Path(root) / name
            if (
                path.is_symlink()
                or not path.is_file()
                or path.stat().st_size > _MAX_OWN_FILE
            ):
                continue
            if not rel_root.parts and not any(rel.endswith(s) for s in (".tf", ".yml", ".cfg")):
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            if generator_of(text) == generator and file_state(text) == "generated":
                stale.append(_file(generator, out_dir, rel, "delete"))
    return stale


def write_files(
    out_dir: Path, rendered: dict[str, str], files: Sequence[GeneratedFile], *, root: Path | None = None
) -> None:
    """Carry out the planned writes and deletions below `root` (default: the output directory).

    Raises:
        FileWriteError: a symlink is in the way, or a write failed (no partial file is left).
    """
    from proxmox_mpc.safeio.files import remove_file, write_files

    base = root if root is not None else out_dir
    dirs = _Dirs()
    writes: list[tuple[Path, str]] = []
    deletes: list[Path] = []
    for item in files:
        if item.written:
            target = Path(_target(out_dir, item.file, dirs)[0])
            if item.action == "delete":
                deletes.append(target)
            else:
                writes.append((target, rendered[item.file]))
    refused = write_files(writes, root=base)
    if refused:
        raise refused[0][1]
    for target in deletes:
        remove_file(target, root=base)


# ----------------------------------------------------------------------------- the use case


def _check_options(generator: str, provider_version: str | None, frameworks: Sequence[str] | None) -> None:
    if generator not in GENERATORS:
        raise UsageError(f"Unknown generator {generator!r}: use one of {', '.join(GENERATORS)}.")
    if provider_version is not None and not _PROVIDER_VERSION.match(provider_version):
        raise UsageError(f"Bad --provider-version {provider_version!r}: write a version such as 0.111.1.")
    for framework in frameworks or ():
        if framework not in FRAMEWORKS:
            raise UsageError(f"Unknown --framework {framework!r}: use {', '.join(FRAMEWORKS)}.")


async def generate(
    app_ctx: AppContext,
    generator: str,
    *,
    out: Path | None = None,
    force: bool = False,
    dry_run: bool = False,
    offline: bool = False,
    provider_version: str | None = None,
    frameworks: Sequence[str] | None = None,
    terraform_out: Path | None = None,
) -> GenerateResult:
    """Render one generator from the manifests and what exists, and write its files (not on a dry run).

    Raises:
        UsageError: a bad option.
        ManifestError: a manifest is invalid, or a name could escape the output directory.
        Conflict: a file was changed by hand and --force was not given (nothing is written).
    """
    _check_options(generator, provider_version, frameworks)
    out_dir = Path(out) if out is not None else default_out(app_ctx, generator)
    kept: list[Any] = []
    try:
        with _settled():
            if offline:
                found, desired = _load(app_ctx)
                facts = _stored_facts(app_ctx)
            else:
                found, desired, facts = await _live_inputs(app_ctx, generator)
            kept += (found, desired, facts)
            return _make(
                app_ctx,
                generator,
                found,
                desired,
                facts,
                out_dir=out_dir,
                force=force,
                dry_run=dry_run,
                provider_version=provider_version,
                frameworks=frameworks,
                terraform_out=terraform_out,
                kept=kept,
            )
    finally:
        # Freeing 10,000 guests' manifests, specs and files object by object took 0.1 s.
        app_ctx.keep_until_exit(*kept)


@contextmanager
def _settled() -> Iterator[None]:
    """Let a run keep its manifests (alive until it ends) out of the garbage collector's walks: within,
    gc.freeze() (see _load) sets aside every object that exists then; they are handed back at the end.

    Python's collector walks every object made since its last full collection each time a young
    generation fills up: with 10,000 manifests loaded, one such walk took 0.2 to 0.5 s and freed nothing.
    Nothing is set aside after the reads: their cyclic garbage (an error answer's exception) is collected.
    """
    try:
        yield
    finally:
        gc.unfreeze()


def _make(
    app_ctx: AppContext,
    generator: str,
    found: ManifestSet | None,
    desired: list[Any] | None,
    facts: _Facts,
    *,
    out_dir: Path,
    force: bool,
    dry_run: bool,
    provider_version: str | None,
    frameworks: Sequence[str] | None,
    terraform_out: Path | None,
    kept: list[Any],
) -> GenerateResult:
    """Render one generator from its inputs and write its files (not on a dry run); what it made is added
    to `kept`."""
    from proxmox_mpc.generators import ansible, terraform, tests
    from proxmox_mpc.generators.model import GenerateInputs

    manifests = [item.manifest for item in found.guests] if found is not None else None
    specs, clone_vmids, warnings = build_inputs(manifests, facts, desired)
    if found is None and facts.source == "none":
        warnings.append("No manifests and no synced state: nothing to describe (run `pmpc sync` first).")
    inputs = GenerateInputs(
        cluster=_cluster_info(app_ctx, facts.nodes),
        guests=specs,
        resources=resource_specs(found, facts),
        provider_version=provider_version or DEFAULT_PROVIDER_VERSION,
        frameworks=list(frameworks or FRAMEWORKS),
    )
    if generator == "terraform":
        warnings += [
            f"{r.ref}: the provider documents no import for {r.terraform_type}: `terraform apply` would try to "
            "create it."
            for r in inputs.resources
            if r.unimportable
        ]
        rendered = terraform.render(inputs, clone_vmids)
    elif generator == "ansible":
        rendered = ansible.render(inputs)
    else:
        tf_dir = terraform_out if terraform_out is not None else default_out(app_ctx, "terraform")
        relative = os.path.relpath(Path(tf_dir).resolve(), (out_dir / "terratest").resolve())
        rendered = tests.render(inputs.model_copy(update={"terraform_dir": Path(relative).as_posix()}))
    kept += (inputs, rendered)
    files = plan_files(generator, out_dir, rendered, force=force)
    if not dry_run:
        # Inside the workspace, nothing between it and the files may be a symlink (a repository
        # could commit `terraform -> /etc`); an --out elsewhere is trusted as given.
        workspace = app_ctx.workspace
        inside = workspace is not None and is_inside(out_dir, Path(workspace))
        write_files(out_dir, rendered, files, root=Path(workspace) if inside and workspace else out_dir)
    return GenerateResult(
        generator=generator, out_dir=str(out_dir), dry_run=dry_run, files=files, warnings=warnings
    )
