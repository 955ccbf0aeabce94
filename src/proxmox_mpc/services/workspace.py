"""`pmpc init`: make (or complete) a workspace; read its name, the key of its lock."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field

from proxmox_mpc.config import WORKSPACE_FILE, read_workspace_file
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.errors import ConfigError, PmpcError, UsageError
from proxmox_mpc.safeio.files import make_dirs, write_file

DIRECTORIES = ("resources/vms", "resources/cts", "terraform", "ansible", "tests", ".pmpc")
GITIGNORE_LINES = (".pmpc/", ".env", "*.tfstate", "*.tfstate.*", ".terraform/", "pmpc-report-*.md")
GITIGNORE_HEADER = "# pmpc: local state and secrets stay out of git"


class InitResult(Model):
    """What `pmpc init` made, and what was already there."""

    kind: str = "workspace"
    path: str
    name: str
    context: str | None = None
    created: list[str] = Field(default_factory=list)
    existing: list[str] = Field(default_factory=list)
    dry_run: bool = False


def default_name(directory: Path) -> str:
    """Return a workspace name from a directory name (letters, digits, - _ .)."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", directory.name).strip("-.") or "workspace"
    return name[:64]


def workspace_name(workspace: Path) -> str:
    """Return the workspace's `name:` from pmpc.yaml (the directory name when it has none)."""
    data = read_workspace_file(workspace)
    name = data.get("name")
    return str(name) if name else default_name(workspace)


def _current_context(app_ctx: AppContext) -> str | None:
    try:
        return app_ctx.settings.context
    except PmpcError:
        return None


def _workspace_text(name: str, context: str | None) -> str:
    body: dict[str, Any] = {"name": name, "context": context}
    header = (
        "# pmpc workspace settings: no secrets here (use the contexts file, .env or PMPC_* variables).\n"
        "# name: the key of the workspace lock, shared by every checkout that uses one state database.\n"
    )
    return (
        header + yaml.safe_dump(body, sort_keys=False) + "# settings:\n#   timeout: 30\n#   concurrency: 8\n"
    )


def init_workspace(
    app_ctx: AppContext,
    directory: Path | None,
    *,
    name: str | None = None,
    context: str | None = None,
    dry_run: bool = False,
) -> InitResult:
    """Create the SPEC workspace layout in `directory` (default: the current one); safe to run again.

    An existing pmpc.yaml is kept as it is; missing directories and .gitignore lines are added.

    Raises:
        UsageError: the path is a file, or a name is unusable.
        ConfigError: an existing pmpc.yaml cannot be read.
    """
    root = (directory or Path.cwd()).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} is a file, not a directory.")
    if name is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", name):
        raise UsageError(f"Bad workspace name {name!r}: letters, digits, - _ . (at most 64).")
    created: list[str] = []
    existing: list[str] = []
    ws_file = root / WORKSPACE_FILE
    if ws_file.is_file():
        data = read_workspace_file(root)
        final_name = str(data.get("name") or default_name(root))
        final_context = data.get("context")
        existing.append(WORKSPACE_FILE)
        if name is not None and name != final_name:
            raise ConfigError(
                f"{ws_file} already names this workspace {final_name!r}; edit the file to rename it."
            )
    else:
        final_name = name or default_name(root)
        final_context = context or _current_context(app_ctx)
        created.append(WORKSPACE_FILE)
        if not dry_run:
            write_file(ws_file, _workspace_text(final_name, final_context), root=root)
    for sub in DIRECTORIES:
        path = root / sub
        if path.is_dir():
            existing.append(sub + "/")
        else:
            created.append(sub + "/")
            if not dry_run:
                make_dirs(path, root=root)
    gitignore = root / ".gitignore"
    present = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.is_file() else []
    missing = [line for line in GITIGNORE_LINES if line not in present]
    if missing:
        (created if not gitignore.exists() else existing).append(".gitignore")
        if not dry_run:
            text = "\n".join(present)
            if text and not text.endswith("\n"):
                text += "\n"
            if GITIGNORE_HEADER not in present:
                text += GITIGNORE_HEADER + "\n"
            write_file(gitignore, text + "\n".join(missing) + "\n", root=root)
    else:
        existing.append(".gitignore")
    return InitResult(
        path=str(root),
        name=final_name,
        context=final_context,
        created=created,
        existing=existing,
        dry_run=dry_run,
    )
