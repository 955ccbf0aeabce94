"""The workspace's manifests, loaded through the manifest cache: what plan, validate, destroy and generate read."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from pathlib import Path

from proxmox_mpc.context import AppContext
from proxmox_mpc.services.manifest_cache import manifest_cache
from proxmox_mpc.services.manifests import (
    LoadedManifest,
    ManifestSet,
    check_unique,
    load_all,
    manifest_files,
    parse_steps,
    raise_problems,
    require_workspace,
    resources_dir,
    split,
)
from proxmox_mpc.services.overlap import drain


def workspace_manifests(app_ctx: AppContext, targets: Sequence[str] = ()) -> list[LoadedManifest]:
    """Load the workspace's guest manifests (or only the given files and directories); see workspace_set.

    Raises:
        ManifestError: a manifest (of any kind) is invalid.
        UsageError: outside a workspace, or a path does not exist.
    """
    return workspace_set(app_ctx, targets).guests


def workspace_set(app_ctx: AppContext, targets: Sequence[str] = ()) -> ManifestSet:
    """Load the workspace's manifests of every kind (or only the given files and directories).

    Raises:
        ManifestError: a manifest is invalid.
        UsageError: outside a workspace, or a path does not exist.
    """
    return drain(workspace_steps(app_ctx, targets))


def workspace_steps(app_ctx: AppContext, targets: Sequence[str] = ()) -> Generator[None, None, ManifestSet]:
    """workspace_set a file at a time (see manifests.parse_steps): yields after each workspace file."""
    if targets:
        return load_all([Path(t) for t in targets])
    workspace = require_workspace(app_ctx)
    directory = resources_dir(workspace)
    if not directory.is_dir():
        return ManifestSet()
    files = manifest_files([directory])
    with manifest_cache(app_ctx, directory, files) as cache:
        found, problems = yield from parse_steps(files, cache)
    problems += check_unique(found)
    raise_problems(problems)
    return split(found)
