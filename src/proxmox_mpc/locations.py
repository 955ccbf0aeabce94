"""Where pmpc's files are: the workspace, the contexts file, per-user state and cache directories.

Light on purpose (standard library only): shell completion resolves these on every <TAB> and must not
load the settings model. With config.py, the only module that reads os.environ.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from proxmox_mpc.errors import NotFound

PMPC_CONFIG = "PMPC_CONFIG"
PMPC_DATABASE_URL = "PMPC_DATABASE_URL"
PMPC_WORKSPACE = "PMPC_WORKSPACE"
NO_COLOR = "NO_COLOR"
WORKSPACE_FILE = "pmpc.yaml"
# The state database of a workspace (.pmpc/state.db) or, outside one, in the per-user state directory.
STATE_DIR = ".pmpc"
STATE_FILE = "state.db"


def environ() -> Mapping[str, str]:
    """Return the process environment (the one place it is read)."""
    return os.environ


def contexts_path() -> Path:
    """Return the contexts file: $PMPC_CONFIG, else $XDG_CONFIG_HOME/pmpc/config.yaml."""
    env = environ()
    if env.get(PMPC_CONFIG):
        return Path(env[PMPC_CONFIG]).expanduser()
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "pmpc" / "config.yaml"


def user_state_dir() -> Path:
    """Return the per-user data directory (state database outside a workspace, console history)."""
    env = environ()
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "pmpc"


def user_cache_dir() -> Path:
    """Return the per-user cache directory (login tickets, mode 0600)."""
    env = environ()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pmpc"


def env_flag(name: str) -> bool:
    """Return True when an environment variable is set to a true-ish value."""
    return environ().get(name, "").strip().lower() in ("1", "true", "yes", "on")


def no_color_requested() -> bool:
    """Return True when NO_COLOR is set (to anything non-empty)."""
    return bool(environ().get(NO_COLOR))


def find_workspace(start: Path | None = None, explicit: str | None = None) -> Path | None:
    """Return the workspace directory: --workspace/PMPC_WORKSPACE, else the nearest pmpc.yaml upwards."""
    chosen = explicit or environ().get(PMPC_WORKSPACE)
    if chosen:
        path = Path(chosen).expanduser().resolve()
        if not (path / WORKSPACE_FILE).is_file():
            raise NotFound(f"No workspace at {path}: {WORKSPACE_FILE} is missing (run `pmpc init {path}`).")
        return path
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / WORKSPACE_FILE).is_file():
            return directory
    return None
