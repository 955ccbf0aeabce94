"""Pools end to end against fakepve: import, plan, apply (ordered by references), destroy, protection, history."""

from __future__ import annotations

import json
from pathlib import Path

import yaml


def _workspace(cli, work: Path) -> Path:
    result = cli("init", str(work / "infra"), "--name", "infra")
    assert result.exit_code == 0, result.output
    ws = work / "infra"
    result = cli("--workspace", str(ws), "sync", "--import")
    assert result.exit_code == 0, result.output
    return ws


def _writes(pve) -> list[tuple[str, str]]:
    return [(m, p.removeprefix("/api2/json")) for m, p, _ in pve.requests if m != "GET"]


def test_import_writes_the_pool_and_plan_is_empty(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    doc = yaml.safe_load((ws / "resources" / "pools" / "prod.yaml").read_text())
    assert doc == {"kind": "Pool", "name": "prod", "spec": {}}
    result = cli("--workspace", str(ws), "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes" in result.stdout


def test_import_dry_run_lists_the_pool_file(cluster, cli, tmp_path):
    result = cli("init", str(tmp_path / "infra"), "--name", "infra")
    assert result.exit_code == 0, result.output
    ws = tmp_path / "infra"
    result = cli("--workspace", str(ws), "sync", "--import", "--dry-run", "-o", "json")
    assert result.exit_code == 0, result.output
    planned = {p["address"]: p["path"] for p in json.loads(result.stdout)["would_import"]}
    assert planned["pool/prod"].endswith(str(Path("resources", "pools", "prod.yaml")))
    assert not (ws / "resources" / "pools").exists()


def test_edit_comment_plans_exactly_that_applies_and_plans_empty(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    (ws / "resources" / "pools" / "prod.yaml").write_text("kind: Pool\nname: prod\nspec:\n  comment: Production\n")
    result = cli("--workspace", str(ws), "plan", "-o", "json", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    plan = json.loads(result.stdout)
    assert plan["changes"] == [
        {
            "address": "pool/prod",
            "kind": "pool",
            "vmid": None,
            "node": None,
            "action": "update",
            "fields": [{"name": "comment", "old": None, "new": "Production", "needs_reboot": False}],
            "digest": None,
        }
    ]
    text = cli("--workspace", str(ws), "plan")
    assert "  ~ pool/prod\n      + comment: Production\n" in text.stdout, text.stdout
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert [w for w in _writes_since(cluster, before)] == [("PUT", "/pools")]
    assert cluster.pool_info["prod"]["comment"] == "Production"
    result = cli("--workspace", str(ws), "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output


def _writes_since(pve, start: int) -> list[tuple[str, str]]:
    return [(m, p.removeprefix("/api2/json")) for m, p, _ in pve.requests[start:] if m != "GET"]


def test_a_new_pool_is_created_before_the_guest_that_joins_it(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    (ws / "resources" / "pools" / "batch.yaml").write_text("kind: Pool\nname: batch\nspec:\n  comment: Jobs\n")
    batch = ws / "resources" / "vms" / "batch-1.yaml"
    doc = yaml.safe_load(batch.read_text())
    doc["spec"]["pool"] = "batch"
    batch.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = cli("--workspace", str(ws), "plan", "-o", "json")
    assert result.exit_code == 0, result.output
    changes = [(c["address"], c["action"]) for c in json.loads(result.stdout)["changes"]]
    assert changes == [("pool/batch", "create"), ("vm/batch-1", "update")]
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert "pool/batch: create done\n" in result.stdout
    assert "vm/batch-1 (vm/104): update done\n" in result.stdout
    writes = _writes_since(cluster, before)
    assert writes.index(("POST", "/pools")) < writes.index(("PUT", "/pools/batch"))
    assert 104 in cluster.pools["batch"]
    assert cluster.pool_info["batch"]["comment"] == "Jobs"
    result = cli("--workspace", str(ws), "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output

    # pmpc created pool/batch: destroy may delete it, after the guest left it.
    doc["spec"]["pool"] = ""
    batch.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    result = cli("--workspace", str(ws), "destroy", "pool/batch", "-y")
    assert result.exit_code == 0, result.output
    assert "Destroy complete: 1 of 1 resource(s) destroyed." in result.stdout
    assert "batch" not in cluster.pools


def test_a_reference_to_a_missing_pool_is_a_validate_error(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    web = ws / "resources" / "vms" / "web-1.yaml"
    text = web.read_text().replace("pool: prod", "pool: nope")
    web.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "pool: nope" in row)
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "validate")
    assert result.exit_code == 1, result.output
    assert f"web-1.yaml:{line}:" in result.stderr
    assert "spec.pool: no Pool 'nope' in the cluster or the workspace" in result.stderr
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 1
    assert _writes_since(cluster, before) == []
    # A manifest for the pool makes the reference good: plan creates it first.
    (ws / "resources" / "pools" / "nope.yaml").write_text("kind: Pool\nname: nope\n")
    result = cli("--workspace", str(ws), "validate")
    assert result.exit_code == 0, result.output


def test_an_adopted_pool_is_protected(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    for name in ("web-1", "web-2"):
        path = ws / "resources" / "vms" / f"{name}.yaml"
        path.write_text(path.read_text().replace("  pool: prod\n", ""))
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "destroy", "pool/prod", "-y")
    assert result.exit_code == 1, result.output
    assert "pool/prod, which pmpc did not create" in result.stderr
    assert "--allow-destroy pool/prod" in result.stderr
    assert _writes_since(cluster, before) == []
    cluster.pools["prod"].clear()
    cluster._sync_pools()
    result = cli("--workspace", str(ws), "destroy", "pool/prod", "--allow-destroy", "pool/prod", "-y")
    assert result.exit_code == 0, result.output
    assert "prod" not in cluster.pools


def test_state_absent_deletes_after_the_members_left(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    (ws / "resources" / "pools" / "prod.yaml").write_text(
        "kind: Pool\nname: prod\nlifecycle: {allow_destroy: true}\nspec:\n  state: absent\n"
    )
    for name in ("web-1", "web-2"):
        path = ws / "resources" / "vms" / f"{name}.yaml"
        path.write_text(path.read_text().replace("pool: prod", "pool: ''"))
    result = cli("--workspace", str(ws), "plan", "-o", "json")
    changes = [(c["address"], c["action"]) for c in json.loads(result.stdout)["changes"]]
    assert changes == [("pool/prod", "delete"), ("vm/web-1", "update"), ("vm/web-2", "update")]
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    writes = _writes_since(cluster, before)
    assert writes[-1] == ("DELETE", "/pools"), writes
    assert "prod" not in cluster.pools


def test_sync_keeps_pool_drift_history(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    # Someone edits the pool outside pmpc.
    assert cli("api", "put", "/pools", "poolid=prod", "comment=changed by hand", "-y").exit_code == 0
    result = cli("--workspace", str(ws), "sync", "-o", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["resource_changes"] == [
        {
            "address": "pool/prod",
            "kind": "pool",
            "change": "change",
            "field": "comment",
            "old": None,
            "new": "changed by hand",
        }
    ]
    result = cli("--workspace", str(ws), "state", "history", "pool/prod", "-o", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["change"], r["field"], r["new"]) for r in rows] == [
        ("add", "", None),
        ("change", "comment", "changed by hand"),
    ]


def test_pool_list_and_get(cluster, cli):
    assert cli("api", "put", "/pools", "poolid=prod", "comment=Production", "-y").exit_code == 0
    result = cli("pool", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["ID    COMMENT", "prod  Production"]
    result = cli("pool", "list", "-o", "json")
    assert json.loads(result.stdout) == [{"id": "prod", "comment": "Production"}]
    result = cli("pool", "list", "-o", "name")
    assert result.stdout == "pool/prod\n"
    result = cli("pool", "get", "prod", "-o", "yaml")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout) == {"id": "prod", "comment": "Production"}
    result = cli("pool", "get", "nope")
    assert result.exit_code == 6
    assert "No pool 'nope'" in result.stderr


def test_a_saved_plan_is_refused_when_the_pool_changed_since(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    (ws / "resources" / "pools" / "prod.yaml").write_text("kind: Pool\nname: prod\nspec:\n  comment: Mine\n")
    (ws / "resources" / "pools" / "new.yaml").write_text("kind: Pool\nname: new\n")
    plan_file = tmp_path / "plan.json"
    result = cli("--workspace", str(ws), "plan", "--out", str(plan_file))
    assert result.exit_code == 0, result.output
    assert cli("api", "put", "/pools", "poolid=prod", "comment=theirs", "-y").exit_code == 0
    assert cli("api", "post", "/pools", "poolid=new", "-y").exit_code == 0
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "apply", str(plan_file))
    assert result.exit_code == 7, result.output
    assert "pool/prod changed" in result.stderr and "pool/new exists now" in result.stderr
    assert _writes_since(cluster, before) == []


def test_plan_offline_compares_pools_with_the_last_sync(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    (ws / "resources" / "pools" / "prod.yaml").write_text("kind: Pool\nname: prod\nspec:\n  comment: Mine\n")
    cluster.requests.clear()
    result = cli("--workspace", str(ws), "plan", "--offline", "-o", "json")
    assert result.exit_code == 0, result.output
    assert cluster.requests == []
    changes = json.loads(result.stdout)["changes"]
    assert [(c["address"], c["action"], c["fields"][0]["new"]) for c in changes] == [("pool/prod", "update", "Mine")]
