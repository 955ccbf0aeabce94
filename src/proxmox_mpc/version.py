"""The version string, with the git commit for a development install."""

from __future__ import annotations

import subprocess
from pathlib import Path

from proxmox_mpc import __version__


def describe_version() -> str:
    """Return `0.1.0`, or `0.1.0 (commit abc1234)` when running from a git checkout."""
    source = Path(__file__).resolve().parent
    checkout = source.parent.parent
    if not (checkout / ".git").exists() or not (checkout / "pyproject.toml").is_file():
        return __version__
    try:
        commit = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=2, check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__} (commit {commit})" if commit else __version__
