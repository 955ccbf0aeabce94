"""Validation's cost grows with the workspace, not with its square: references are judged in one pass."""

from __future__ import annotations

from typing import Any

from proxmox_mpc.services import resources


def test_references_are_judged_once_for_all_manifests(cluster, cli, monkeypatch):
    assert cli("init").exit_code == 0
    assert cli("sync", "--import").exit_code == 0  # seven guests' manifests, and the resources'
    calls: list[int] = []
    judge = resources.missing_references

    def counted(manifests: Any, *args: Any) -> Any:
        manifests = list(manifests)
        calls.append(len(manifests))
        return judge(manifests, *args)

    monkeypatch.setattr(resources, "missing_references", counted)
    planned = cli("plan", "--offline")
    assert planned.exit_code == 0, planned.output
    # Once for the guests, once for the other kinds: what exists is gathered once per pass, so a pass per
    # manifest would make validation quadratic in the size of the workspace.
    assert len(calls) == 2 and calls[0] == 7, calls
