"""A workspace imported from the fixture cluster, and manifest edits, for CLI and CI tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

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


def writes_since(pve: Any, start: int) -> list[tuple[str, str, dict[str, str]]]:
    """Return the writes the fake received since request number `start`: (method, path, form parameters)."""
    return [
        (method, path.removeprefix("/api2/json"), dict(parse_qsl((body or b"").decode())))
        for method, path, body in pve.requests[start:]
        if method != "GET"
    ]


def planned(cli: Any, ws: Path) -> list[dict[str, Any]]:
    """Return the changes `pmpc plan -o json` shows for a workspace (the plan must succeed)."""
    result = cli("--workspace", str(ws), "plan", "-o", "json")
    assert result.exit_code == 0, result.output
    changes: list[dict[str, Any]] = json.loads(result.stdout)["changes"]
    return changes


def api_post(cli: Any, path: str, *params: str) -> None:
    """Create something on the fake through `pmpc api post` (the call must succeed)."""
    result = cli("api", "post", path, *params, "-y")
    assert result.exit_code == 0, result.output


def reorder_between_plan_and_apply(cluster: Any, cli: Any, ws: Path, policy: Path, rules: str, saved: Path) -> Any:
    """Plan a FirewallPolicy edit to a file, let someone else move rule 2 to the top, apply the saved plan.

    Returns the apply's result, after checking that it sent no write at all.
    """
    doc = yaml.safe_load(policy.read_text())
    doc["spec"]["rules"].append({"type": "in", "action": "DROP", "comment": "the rest"})
    policy.write_text(yaml.safe_dump(doc, sort_keys=False))
    made = cli("--workspace", str(ws), "plan", "--out", str(saved))
    assert made.exit_code == 0, made.output
    moved = cli("api", "put", f"{rules}/2", "moveto=0", "-y")  # someone else puts rule 2 first
    assert moved.exit_code == 0, moved.output
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "apply", str(saved), "-y")
    assert writes_since(cluster, before) == []
    return result
