"""A workspace imported from the fixture cluster, and manifest edits, for CLI and CI tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def imported_workspace(cli: Any, tmp_path: Path) -> Path:
    """Make the workspace tmp_path/infra and import every guest of the cluster into it."""
    ws = tmp_path / "infra"
    assert cli("init", str(ws), "--name", "infra").exit_code == 0
    result = cli("--workspace", str(ws), "sync", "--import")
    assert result.exit_code == 0, result.output
    return ws


def edit_spec(ws: Path, name: str, **spec: Any) -> None:
    """Change fields of a VM manifest's spec."""
    path = ws / "resources" / "vms" / f"{name}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"].update(spec)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
