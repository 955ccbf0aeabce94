"""`pmpc sync` against a fakepve cluster, on SQLite and PostgreSQL: recording, dry run, failures, secrets."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

FIXTURE_VMIDS = [101, 102, 103, 104, 201, 202, 9000]


def _state(cli: Any, *args: str) -> Any:
    result = cli("state", "show", *args, "-o", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _drop_after(pve: Any, allowed: int) -> None:
    """Let `allowed` requests through, then drop every connection (fakepve's flaky network at 100%)."""
    seen = {"n": 0}
    original = pve.pause

    async def pause(secs: float) -> None:
        seen["n"] += 1
        if seen["n"] > allowed:
            pve.network["drop_rate"] = 1.0
        await original(secs)

    pve.pause = pause


def test_sync_records_the_cluster(cluster, cli, state_url):
    result = cli("sync")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "+ vm/101 (web-1)" in lines and "+ ct/202 (cache-1)" in lines
    assert lines[-1].startswith("Synced fakecluster (127.0.0.1:")
    assert "7 guests, 3 nodes" in lines[-1] and "7 added, 0 changed, 0 deleted" in lines[-1]
    assert result.stderr == ""

    guests = _state(cli)
    assert [g["vmid"] for g in guests] == FIXTURE_VMIDS
    web1 = next(g for g in guests if g["vmid"] == 101)
    assert web1["kind"] == "vm" and web1["type"] == "qemu" and web1["node"] == "pve1"
    assert web1["tags"] == ["prod", "web"] and web1["pool"] == "prod" and web1["status"] == "running"
    assert web1["config"]["scsi0"] == "local-lvm:vm-101-disk-0,size=32G"
    assert len(web1["digest"]) == 40 and "digest" not in web1["config"]
    assert web1["first_seen"].endswith("Z") and web1["deleted_at"] is None
    assert next(g for g in guests if g["vmid"] == 9000)["template"] is True

    again = cli("sync", "-o", "json")
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert (report["added"], report["changed"], report["deleted"], report["changes"]) == (0, 0, 0, [])
    assert report["guests"] == 7 and report["nodes"] == 3 and report["dry_run"] is False
    # nodes, resources, cluster status; storages per node; configs; the paths of each other kind (/pools,
    # and the firewall's: aliases, IP sets, security groups, the cluster's rules and options, each node's
    # rules and options; the fixture has no IP set or group, so no per-item path is read; a guest's only
    # where a NIC has firewall=1, and no fixture guest has one)
    from proxmox_mpc.kinds import registry
    from proxmox_mpc.kinds.base import read_shape

    paths = {p for kind in registry.resource_kinds() for p in kind.reads}
    per_shape = {"once": 1, "node": 3, "item": 0, "guest": 0}
    assert report["requests"] == 3 + 3 + 7 + sum(per_shape[read_shape(p)] for p in paths)
    assert _state(cli, "101")["first_seen"] == web1["first_seen"]


def test_sync_dry_run_writes_nothing(cluster, cli, state_url):
    result = cli("sync", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "+ vm/101 (web-1)" in result.stdout.splitlines()
    assert "Nothing was written." in result.stdout
    if state_url.startswith("sqlite"):
        assert not Path(state_url.split(":///", 1)[1]).exists()
    assert {m for m, _, _ in cluster.requests} == {"GET"}
    assert _state(cli) == []

    assert cli("sync").exit_code == 0
    cluster.vm(101).config["memory"] = 4096
    dry = cli("sync", "--dry-run", "-o", "json")
    assert dry.exit_code == 0, dry.output
    changes = json.loads(dry.stdout)["changes"]
    assert changes == [
        {
            "address": "vm/101",
            "kind": "vm",
            "vmid": 101,
            "name": "web-1",
            "change": "change",
            "field": "config.memory",
            "old": "2048",
            "new": "4096",
        }
    ]
    assert _state(cli, "101")["config"]["memory"] == "2048"
    assert [h["change"] for h in json.loads(cli("state", "history", "101", "-o", "json").stdout)] == ["add"]


def test_config_change_behind_our_back_shows_in_drift_then_history(cluster, cli, state_url):
    assert cli("sync").exit_code == 0
    clean = cli("state", "drift", "--detailed-exitcode")
    assert clean.exit_code == 0, clean.output
    assert clean.stdout == "" and "No drift since the last sync" in clean.stderr

    cluster.vm(101).config["memory"] = 4096
    cluster.vm(102).config["tags"] = "prod;web;blue"

    drift = cli("state", "drift")
    assert drift.exit_code == 0, drift.output
    assert drift.stdout.splitlines() == [
        "~ vm/101 (web-1) config.memory: 2048 -> 4096",
        "~ vm/102 (web-2) tags: prod;web -> blue;prod;web",
        "~ vm/102 (web-2) config.tags: prod;web -> prod;web;blue",
    ]
    detailed = cli("state", "drift", "--detailed-exitcode", "-o", "json")
    assert detailed.exit_code == 2, detailed.output
    assert {(c["vmid"], c["field"]) for c in json.loads(detailed.stdout)} == {
        (101, "config.memory"),
        (102, "tags"),
        (102, "config.tags"),
    }
    assert detailed.stderr == ""
    # drift reads only: the store still holds the old value and no history yet.
    assert _state(cli, "web-1")["config"]["memory"] == "2048"

    synced = cli("sync")
    assert synced.exit_code == 0, synced.output
    assert "~ vm/101 (web-1) config.memory: 2048 -> 4096" in synced.stdout.splitlines()
    history = cli("state", "history", "web-1", "-o", "json")
    assert history.exit_code == 0, history.output
    rows = json.loads(history.stdout)
    assert [(r["change"], r["field"], r["old"], r["new"]) for r in rows] == [
        ("add", "", None, None),
        ("change", "config.memory", "2048", "4096"),
    ]
    assert rows[1]["changed_at"] >= rows[0]["changed_at"]
    table = cli("state", "history", "101")
    assert table.stdout.splitlines()[0].split() == ["WHEN", "CHANGE", "FIELD", "OLD", "NEW"]
    assert table.stdout.splitlines()[-1].split()[-4:] == ["change", "config.memory", "2048", "4096"]
    after = cli("state", "drift", "--detailed-exitcode")
    assert after.exit_code == 0 and after.stdout == ""


def test_guest_deleted_behind_our_back_is_marked_deleted_not_lost(cluster, cli, state_url):
    assert cli("sync").exit_code == 0
    cluster.vms.remove(cluster.vm(104))

    drift = cli("state", "drift")
    assert drift.stdout.splitlines() == ["- vm/104 (batch-1)"]
    synced = cli("sync", "-o", "json")
    assert synced.exit_code == 0, synced.output
    assert json.loads(synced.stdout)["deleted"] == 1

    assert 104 not in [g["vmid"] for g in _state(cli)]
    everything = {g["vmid"]: g for g in _state(cli, "--all")}
    assert everything[104]["deleted_at"] is not None and everything[104]["config"]["cores"] == 1
    assert _state(cli, "batch-1")["deleted_at"] is not None
    table = cli("state", "show", "--all").stdout.splitlines()
    assert table[0].split()[-1] == "DELETED"
    gone = next(line.split() for line in table if line.startswith("104 "))
    assert gone[4] == "deleted" and "running" not in gone and re.fullmatch(r"\d\d:\d\d:\d\dZ", gone[-1])
    live = next(line.split() for line in table if line.startswith("101 "))
    assert live[4] == "running" and live[-1] == "-"
    history = json.loads(cli("state", "history", "batch-1", "-o", "json").stdout)
    assert [h["change"] for h in history] == ["add", "delete"]
    # A later sync does not delete it twice.
    assert json.loads(cli("sync", "-o", "json").stdout)["deleted"] == 0


def test_sync_interrupted_by_flaky_network_leaves_previous_state(cluster, cli, state_url):
    assert cli("sync").exit_code == 0
    before = _state(cli, "--all")
    cluster.vm(101).config["memory"] = 4096
    cluster.vms.remove(cluster.vm(104))
    _drop_after(cluster, 3)  # nodes, resources and cluster status answer; storages and configs do not

    failed = cli("sync")
    assert failed.exit_code == 1, failed.output
    assert failed.stdout == ""
    assert failed.stderr.startswith("pmpc: error:") and "Traceback" not in failed.stderr

    cluster.network["drop_rate"] = 0.0
    assert _state(cli, "--all") == before
    assert [h["change"] for h in json.loads(cli("state", "history", "101", "-o", "json").stdout)] == ["add"]
    status = json.loads(cli("status", "-o", "json").stdout)
    assert status["last_sync_guests"] == 7


def test_sync_failing_on_one_guest_config_writes_nothing(cluster, cli, state_url):
    assert cli("sync").exit_code == 0
    before = _state(cli, "--all")
    cluster.vm(101).config["memory"] = 4096
    cluster.fail("GET", "/nodes/pve2/qemu/103/config", 500, "boom")
    failed = cli("sync")
    assert failed.exit_code == 1
    assert "boom" in failed.stderr and failed.stdout == ""
    assert _state(cli, "--all") == before


def test_secrets_in_guest_config_are_never_stored(cluster, cli, state_url):
    secret = "hunter2-cloud-init-secret"
    cluster.add_vm(
        150, "ci-1", node="pve1", config={"cores": 1, "memory": 512, "ciuser": "ops", "cipassword": secret}
    )
    result = cli("sync")
    assert result.exit_code == 0, result.output
    shown = cli("state", "show", "ci-1", "-o", "json")
    assert json.loads(shown.stdout)["config"]["cipassword"] == "**********"
    assert secret not in result.stdout + result.stderr + shown.stdout
    if state_url.startswith("sqlite"):
        db = Path(state_url.split(":///", 1)[1])
        for path in db.parent.iterdir():
            assert secret.encode() not in path.read_bytes(), path
    else:
        from proxmox_mpc.state.store import open_store

        store = open_store(state_url)
        try:
            with store.transaction() as conn:
                from sqlalchemy import text

                dumped = conn.execute(text("SELECT config::text FROM pmpc_guests")).scalars().all()
        finally:
            store.close()
        assert dumped and not any(secret in row for row in dumped)


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_state_show_formats_and_missing_guest(cluster, cli, state_url, fmt):
    assert cli("sync").exit_code == 0
    missing = cli("state", "show", "nope", "-o", fmt)
    assert missing.exit_code == 6
    assert missing.stdout == "" and "No guest 'nope'" in missing.stderr
    table = cli("state", "show")
    assert table.exit_code == 0
    header, *rows = table.stdout.splitlines()
    assert header.split()[:5] == ["VMID", "KIND", "NAME", "NODE", "STATUS"]
    assert [r.split()[0] for r in rows] == ["101", "102", "103", "104", "201", "202", "9000"][: len(rows)]


def test_sync_import_writes_manifests_in_the_workspace(cluster, cli, state_url, isolated_env):
    refused = cli("sync", "--import")
    assert refused.exit_code == 64 and "needs a workspace" in refused.stderr
    (isolated_env / "pmpc.yaml").write_text("name: lab\n", encoding="utf-8")
    # Wave 2: --import --dry-run lists the manifests it would write (path and address) and writes nothing.
    preview = cli("sync", "--import", "--dry-run")
    assert preview.exit_code == 0, preview.output
    would = [line.split(" ", 2)[2] for line in preview.stdout.splitlines() if line.startswith("would import ")]
    # Seven guests and, since the kind registry, the fixture's pool (resources/pools/prod.yaml) and its two
    # storage definitions (resources/storages/).
    assert len(would) == 10 and "(storage/local)" in " ".join(would)
    assert "(vm/web-1)" in " ".join(would) and "(pool/prod)" in " ".join(would)
    assert not (isolated_env / "resources").exists()
    planned = cli("sync", "--import", "--dry-run", "-o", "json").json()["would_import"]
    assert {p["address"] for p in planned} >= {"vm/web-1", "ct/cache-1"}
    assert not (isolated_env / "resources").exists()
    result = cli("sync", "--import", "-y")
    assert result.exit_code == 0, result.output
    imported = [line.split(" ", 1)[1] for line in result.stdout.splitlines() if line.startswith("imported ")]
    assert sorted(imported) == sorted(p["path"] for p in planned)
    assert len(imported) == 10 and all(Path(p).is_file() for p in imported)
    assert all(Path(p).resolve().is_relative_to(isolated_env.resolve()) for p in imported)
    text = "".join(Path(p).read_text(encoding="utf-8") for p in imported)
    assert "name: web-1" in text and "name: cache-1" in text


def test_guests_of_an_offline_node_are_kept_with_their_last_config(cluster, cli, state_url):
    assert cli("sync").exit_code == 0
    cluster.set_node_offline("pve3")
    result = cli("sync", "-o", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["deleted"] == 0
    assert {(c["vmid"], c["field"], c["new"]) for c in report["changes"]} == {
        (104, "status", "unknown"),
        (202, "status", "unknown"),
    }
    batch = _state(cli, "104")
    assert batch["deleted_at"] is None and batch["status"] == "unknown" and batch["config"]["cores"] == 1
    storages_on_pve3 = [s for s in _state_storages(state_url) if s[0] == "pve3"]
    assert storages_on_pve3 and all(deleted is None for _, _, deleted in storages_on_pve3)


def _state_storages(url: str) -> list[tuple[str, str, Any]]:
    from proxmox_mpc.state.store import open_store

    store = open_store(url)
    try:
        return [
            (s.node, s.name, s.deleted_at) for s in store.storages(_cluster_key(store), include_deleted=True)
        ]
    finally:
        store.close()


def _cluster_key(store: Any) -> str:
    from sqlalchemy import text

    with store.transaction() as conn:
        return str(conn.execute(text("SELECT key FROM pmpc_clusters")).scalar_one())


@pytest.mark.parametrize("argv", [("sync",), ("sync", "--import")], ids=" ".join)
def test_a_sync_keeps_what_it_read_until_the_process_ends(cluster, cli, isolated_env, argv):
    """Freed by the process's end rather than guest by guest (see AppContext.keep_until_exit)."""
    from proxmox_mpc import context
    from proxmox_mpc.services.sync import ClusterSnapshot

    assert cli("init").exit_code == 0
    context._LAST_RUN.clear()
    assert cli(*argv).exit_code == 0
    snapshot = context._LAST_RUN[0]
    assert isinstance(snapshot, ClusterSnapshot) and sorted(g.vmid for g in snapshot.guests) == FIXTURE_VMIDS
