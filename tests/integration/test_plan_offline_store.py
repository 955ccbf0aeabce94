"""`plan --offline` reads the last sync from a SQLite store through sqlite3 alone, and from PostgreSQL through
`Store`: the same plan either way."""

from __future__ import annotations

import json

import pytest

from proxmox_mpc.state import lite


@pytest.mark.postgres
def test_plan_offline_compares_with_the_last_sync_on_either_database(cluster, cli, state_url, monkeypatch):
    opened: list[bool] = []
    real = lite.open_lite_reader

    def spy(url: str) -> lite.LiteStore | None:
        reader = real(url)
        opened.append(reader is not None)
        return reader

    monkeypatch.setattr(lite, "open_lite_reader", spy)
    assert cli("init").exit_code == 0
    assert cli("sync", "--import").exit_code == 0
    cluster.vm(101).config["memory"] = 4096  # the cluster changes: the last sync has not seen it yet
    unchanged = cli("plan", "--offline", "--detailed-exitcode", "-o", "json")
    assert unchanged.exit_code == 0, unchanged.output
    assert json.loads(unchanged.stdout)["changes"] == []
    assert cli("sync").exit_code == 0
    changed = cli("plan", "--offline", "--detailed-exitcode", "-o", "json")
    assert changed.exit_code == 2, changed.output
    (change,) = json.loads(changed.stdout)["changes"]
    assert (change["address"], change["vmid"], change["action"]) == ("vm/web-1", 101, "update")
    assert [f["name"] for f in change["fields"]] == ["memory"]
    assert opened and all(opened) == state_url.startswith("sqlite") and any(opened) == all(opened)


@pytest.mark.parametrize("argv", [("plan",), ("plan", "--offline")], ids=" ".join)
def test_a_plan_keeps_what_it_read_and_made_until_the_process_ends(cluster, cli, isolated_env, argv):
    """Freed by the process's end rather than object by object (see AppContext.keep_until_exit)."""
    from proxmox_mpc import context
    from proxmox_mpc.services.plan import PlanResult

    assert cli("init").exit_code == 0
    assert cli("sync", "--import").exit_code == 0
    context._LAST_RUN.clear()
    assert cli(*argv).exit_code == 0
    result = context._LAST_RUN[0]
    assert isinstance(result, PlanResult) and result.plan.empty and len(result.manifests) >= 7
