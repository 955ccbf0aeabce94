"""A live plan diffs each guest against its manifest as the guest's config arrives (once the manifests
have loaded): the client diffs while it waits on the server. The plan is the one made by diffing every
pair after the reads, change for change; a pair the early diffs did not see is diffed when the plan is built."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from proxmox_mpc.core import diff as core_diff
from proxmox_mpc.services import plan as plan_service
from proxmox_mpc.services.workspace_manifests import workspace_set
from tests.helpers.workspace import edit_spec, imported_workspace


@pytest.fixture
def loaded_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The manifests load before the reads start, so that every config arrives after them."""

    class LoadedNow:
        def __init__(self, app_ctx: Any, targets: Any) -> None:
            self.result = asyncio.get_running_loop().create_future()
            self.result.set_result(workspace_set(app_ctx, targets))

        def start(self) -> None:
            pass

    monkeypatch.setattr(plan_service, "load_later", LoadedNow)


def counted_build_diffs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the diffs build_plan makes itself (the early ones go through the plan service's own name)."""
    made: list[str] = []
    real = core_diff.diff_guest

    def counting(manifest: Any, guest: Any) -> Any:
        made.append(manifest.address)
        return real(manifest, guest)

    monkeypatch.setattr(core_diff, "diff_guest", counting)
    return made


def planned(cli: Any, ws: Path) -> str:
    result = cli("--workspace", str(ws), "plan", "-o", "json")
    assert result.exit_code == 0, result.output
    return re.sub(r'"created_at": "[^"]*"', '"created_at": ""', result.stdout)


def test_early_diffs_make_the_plan_a_late_diff_makes(cluster, cli, tmp_path: Path, monkeypatch, loaded_first):
    ws = imported_workspace(cli, tmp_path)
    edit_spec(ws, "web-1", memory=4096, cores=4)
    made = counted_build_diffs(monkeypatch)

    early_plan = planned(cli, ws)
    assert made == []  # every guest was diffed as its config arrived

    monkeypatch.setattr(plan_service, "_diff_on_arrival", lambda loading, early: lambda guest: None)
    late_plan = planned(cli, ws)
    assert len(made) == len(cluster.vms) + len(cluster.cts)
    assert early_plan == late_plan
    changes = json.loads(early_plan)["changes"]
    assert [(c["address"], c["action"]) for c in changes] == [("vm/web-1", "update")]


def test_a_manifest_without_a_vmid_is_diffed_when_the_plan_is_built(cluster, cli, tmp_path, monkeypatch, loaded_first):
    ws = imported_workspace(cli, tmp_path)
    path = ws / "resources" / "vms" / "web-1.yaml"
    kept = [line for line in path.read_text().splitlines(keepends=True) if not line.startswith("vmid:")]
    path.write_text("".join(kept))
    edit_spec(ws, "web-1", memory=4096)
    made = counted_build_diffs(monkeypatch)

    changes = json.loads(planned(cli, ws))["changes"]

    assert made == ["vm/web-1"]  # paired by name: only the plan's own pairing finds it
    assert [(c["address"], c["action"]) for c in changes] == [("vm/web-1", "update")]
