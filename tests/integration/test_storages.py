"""Storage definitions end to end against fakepve (which stores storage.cfg): import, plan, apply, destroy.

fakepve keeps the storage definitions itself (GET/POST /storage, PUT/DELETE /storage/{storage}) with
pve-storage's option tables: fixed options refused on update, secrets dropped and never returned.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import yaml

from tests.integration.test_pools import _workspace, _writes_since

NFS = """kind: Storage
name: nas
spec:
  type: nfs
  server: 10.0.0.5
  export: /export/pve
  content: [backup, iso]
  prune_backups: {keep_last: 3}
"""
# Distinctive, so finding it anywhere means it leaked.
CANARY = "cifs-pw-Zq81-leak-canary"


def test_import_writes_each_definition_and_plan_is_empty(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    local = yaml.safe_load((ws / "resources" / "storages" / "local.yaml").read_text())
    assert local == {
        "kind": "Storage",
        "name": "local",
        "spec": {"type": "dir", "content": ["backup", "iso", "vztmpl"], "path": "/var/lib/vz"},
    }
    thin = yaml.safe_load((ws / "resources" / "storages" / "local-lvm.yaml").read_text())
    assert thin["spec"] == {"type": "lvmthin", "content": ["images", "rootdir"], "vgname": "pve", "thinpool": "data"}
    result = cli("--workspace", str(ws), "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output


def test_edit_plans_exactly_that_change_applies_and_plans_empty(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    path = ws / "resources" / "storages" / "local.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["content"].append("snippets")
    doc["spec"]["prune_backups"] = {"keep_daily": 7, "keep_last": 2}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = cli("--workspace", str(ws), "plan", "-o", "json", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    (change,) = json.loads(result.stdout)["changes"]
    assert change["address"] == "storage/local" and change["action"] == "update"
    assert [(f["name"], f["old"], f["new"]) for f in change["fields"]] == [
        ("content", "backup,iso,vztmpl", "backup,iso,snippets,vztmpl"),
        ("prune-backups", None, "keep-last=2,keep-daily=7"),
    ]
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert _writes_since(cluster, before) == [("PUT", "/storage/local")]
    assert cluster.storages["local"]["content"] == "backup,iso,snippets,vztmpl"
    assert cluster.storages["local"]["prune-backups"] == "keep-last=2,keep-daily=7"
    result = cli("--workspace", str(ws), "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    # Restricting it to some nodes, then to every node again (PVE drops the `nodes` key).
    doc["spec"]["nodes"] = ["pve1"]
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert cli("--workspace", str(ws), "apply", "-y").exit_code == 0
    assert cluster.storages["local"]["nodes"] == "pve1"
    doc["spec"]["nodes"] = []
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert "nodes" not in cluster.storages["local"]
    assert cli("--workspace", str(ws), "plan", "--detailed-exitcode").exit_code == 0


def test_create_replace_and_destroy_a_storage_pmpc_made(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    path = ws / "resources" / "storages" / "nas.yaml"
    path.write_text(NFS)
    result = cli("--workspace", str(ws), "plan", "-o", "json")
    (change,) = json.loads(result.stdout)["changes"]
    assert (change["address"], change["action"]) == ("storage/nas", "create")
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert _writes_since(cluster, before) == [("POST", "/storage")]
    made = cluster.storages["nas"]
    assert (made["type"], made["server"], made["export"], made["path"]) == (
        "nfs",
        "10.0.0.5",
        "/export/pve",
        "/mnt/pve/nas",
    )
    assert cli("--workspace", str(ws), "plan", "--detailed-exitcode").exit_code == 0

    # The export is fixed at create time: a new one replaces the definition.
    path.write_text(NFS.replace("/export/pve", "/export/pve2"))
    result = cli("--workspace", str(ws), "plan", "-o", "json")
    (change,) = json.loads(result.stdout)["changes"]
    assert change["action"] == "replace"
    assert change["fields"] == [
        {
            "name": "export",
            "old": "/export/pve",
            "new": "/export/pve2",
            "needs_reboot": False,
            "forces_replacement": True,
        }
    ]
    assert "# forces replacement" in cli("--workspace", str(ws), "plan").stdout
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert _writes_since(cluster, before) == [("DELETE", "/storage/nas"), ("POST", "/storage")]
    assert cluster.storages["nas"]["export"] == "/export/pve2"
    assert cli("--workspace", str(ws), "plan", "--detailed-exitcode").exit_code == 0

    result = cli("--workspace", str(ws), "destroy", "storage/nas", "-y")
    assert result.exit_code == 0, result.output
    assert "nas" not in cluster.storages


def test_an_adopted_storage_is_protected_and_one_guests_use_is_never_deleted(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "destroy", "storage/local", "-y")
    assert result.exit_code == 1, result.output
    assert "storage/local, which pmpc did not create" in result.stderr
    # The guests' disks are on local-lvm: even allowed, deleting its definition is refused.
    result = cli("--workspace", str(ws), "destroy", "storage/local-lvm", "--allow-destroy", "storage/local-lvm", "-y")
    assert result.exit_code == 1, result.output
    assert "guests keep volumes on it: vm/" in result.stderr
    # A replace of it is refused as well (the vgname is fixed at create time).
    path = ws / "resources" / "storages" / "local-lvm.yaml"
    path.write_text(path.read_text().replace("vgname: pve", "vgname: other") + "lifecycle: {allow_destroy: true}\n")
    result = cli("--workspace", str(ws), "plan")
    assert result.exit_code == 1, result.output
    assert "replaces (deletes, then creates) storage/local-lvm, but guests keep volumes on it" in result.stderr
    assert _writes_since(cluster, before) == []
    assert set(cluster.storages) >= {"local", "local-lvm"}


def test_references_are_checked_before_any_request(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    text = NFS + "  nodes: [pve1, nope]\n"
    (ws / "resources" / "storages" / "nas.yaml").write_text(text)
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "validate")
    assert result.exit_code == 1, result.output
    assert "nas.yaml:9:" in result.stderr and "spec.nodes[1]: no node 'nope' in the cluster" in result.stderr
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 1
    assert _writes_since(cluster, before) == []


def test_a_guest_disk_on_a_storage_the_workspace_defines_validates(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    web = ws / "resources" / "vms" / "web-1.yaml"
    web.write_text(web.read_text().replace("storage: local-lvm", "storage: fast"))
    result = cli("--workspace", str(ws), "validate")
    assert result.exit_code == 1
    assert "no storage 'fast' on node" in result.stderr
    (ws / "resources" / "storages" / "fast.yaml").write_text(
        "kind: Storage\nname: fast\nspec:\n  type: dir\n  path: /srv/fast\n  content: [images]\n"
    )
    result = cli("--workspace", str(ws), "validate", "--offline")
    assert result.exit_code == 0, result.output
    result = cli("--workspace", str(ws), "validate")
    assert "no storage 'fast'" not in result.stderr, result.output


def test_a_bad_manifest_names_file_line_and_column(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    (ws / "resources" / "storages" / "bad.yaml").write_text(
        "kind: Storage\nname: bad\nspec:\n  type: lvm\n  vgname: pve\n  path: /srv\n  content: [iso]\n"
    )
    result = cli("--workspace", str(ws), "validate", "--offline")
    assert result.exit_code == 1
    assert "bad.yaml:6:3: spec.path: " in result.stderr, result.stderr
    assert "bad.yaml:7:12: spec.content: a lvm storage holds images, rootdir, not iso" in result.stderr


def _cifs(ws: Path) -> None:
    (ws / "resources" / "storages" / "share.yaml").write_text(
        "kind: Storage\nname: share\nspec:\n  type: cifs\n  server: files.example.com\n  share: pve\n"
        "  username: backup\n  password_env: SHARE_PASSWORD\n  content: [backup]\n"
    )


def test_a_secret_comes_from_its_variable_and_is_never_kept(cluster, cli, tmp_path, monkeypatch):
    import fakepve.server

    ws = _workspace(cli, tmp_path)
    _cifs(ws)
    # Without the variable: one sentence, and not one request.
    monkeypatch.delenv("SHARE_PASSWORD", raising=False)
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 1, result.output
    assert "storage/share: the environment variable SHARE_PASSWORD (spec.password_env) is not set" in result.stderr
    assert _writes_since(cluster, before) == []  # planned (reads), nothing written
    # The plan names the variable, never a value; a saved plan without it sends not one request.
    plan = cli("--workspace", str(ws), "plan", "-o", "json", "--out", str(tmp_path / "plan.json"))
    assert plan.exit_code == 0, plan.output
    fields = {f["name"]: f["new"] for f in json.loads((tmp_path / "plan.json").read_text())["changes"][0]["fields"]}
    assert fields["password_env"] == "SHARE_PASSWORD"
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "apply", str(tmp_path / "plan.json"))
    assert result.exit_code == 1, result.output
    assert "SHARE_PASSWORD (spec.password_env) is not set: export it" in result.stderr
    assert cluster.requests[before:] == []
    monkeypatch.setenv("SHARE_PASSWORD", CANARY)
    # fakepve records request bodies with secrets masked: keep them whole here, to see the password sent.
    monkeypatch.setattr(fakepve.server, "redact", lambda body, content_type: body)
    result = cli("--workspace", str(ws), "--debug", "apply", str(tmp_path / "plan.json"))
    assert result.exit_code == 0, result.output
    sent = [body for m, p, body in cluster.requests[before:] if m == "POST" and p.endswith("/storage")]
    assert len(sent) == 1 and CANARY.encode() in sent[0]
    assert "share" in cluster.storages and "password" not in cluster.storages["share"]
    assert CANARY not in result.output
    assert cli("--workspace", str(ws), "plan", "--detailed-exitcode").exit_code == 0
    assert cli("--workspace", str(ws), "sync").exit_code == 0
    # Nowhere on disk: manifests, the plan, the state store (journal included), generated code.
    assert cli("--workspace", str(ws), "generate", "terraform").exit_code == 0
    assert cli("--workspace", str(ws), "generate", "ansible").exit_code == 0
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert [p for p in files if CANARY.encode() in p.read_bytes()] == []
    # The generated code reads the secret from where the manifest says: a sensitive variable, an env lookup.
    generated = b"".join(p.read_bytes() for p in files if p.suffix in (".tf", ".yml"))
    assert b"= var.share_password" in generated
    assert b"lookup('ansible.builtin.env', 'SHARE_PASSWORD')" in generated
    databases = list(tmp_path.rglob("*.db"))
    assert databases
    for db in databases:
        with sqlite3.connect(db) as conn:
            tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for table in tables:
                assert CANARY not in repr(conn.execute(f'SELECT * FROM "{table}"').fetchall())


def test_send_secrets_sends_a_changed_secret_again(cluster, cli, tmp_path, monkeypatch):
    import fakepve.server

    ws = _workspace(cli, tmp_path)
    _cifs(ws)
    monkeypatch.setenv("SHARE_PASSWORD", "first")
    assert cli("--workspace", str(ws), "apply", "-y").exit_code == 0
    # PVE never returns the password: a new one is not a change plan can see.
    monkeypatch.setenv("SHARE_PASSWORD", CANARY)
    assert cli("--workspace", str(ws), "plan", "--detailed-exitcode").exit_code == 0
    result = cli("--workspace", str(ws), "plan", "--send-secrets", "storage/share", "-o", "json")
    (change,) = json.loads(result.stdout)["changes"]
    assert change["action"] == "update"
    assert [(f["name"], f["new"]) for f in change["fields"]] == [("password_env", "SHARE_PASSWORD")]
    monkeypatch.setattr(fakepve.server, "redact", lambda body, content_type: body)
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "apply", "--send-secrets", "storage/share", "-y")
    assert result.exit_code == 0, result.output
    writes = [(m, p, body) for m, p, body in cluster.requests[before:] if m != "GET"]
    assert [(m, p.removeprefix("/api2/json")) for m, p, _ in writes] == [("PUT", "/storage/share")]
    assert CANARY.encode() in writes[0][2]
    result = cli("--workspace", str(ws), "plan", "--send-secrets", "storage/nope")
    assert result.exit_code == 64
    assert "--send-secrets" in result.stderr


def test_storage_get_shows_the_definition_and_list_stays_per_node(cluster, cli):
    result = cli("storage", "get", "local-lvm", "-o", "json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert (row["id"], row["type"], row["vgname"], row["thinpool"], row["nodes"]) == (
        "local-lvm",
        "lvmthin",
        "pve",
        "data",
        "all",
    )
    result = cli("storage", "get", "nope")
    assert result.exit_code == 6
    result = cli("storage", "list", "-o", "json")
    assert result.exit_code == 0, result.output
    assert {(r["node"], r["name"]) for r in json.loads(result.stdout)} >= {("pve1", "local"), ("pve1", "local-lvm")}


def test_sync_keeps_the_drift_history_of_a_definition(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    # Someone edits the definition outside pmpc.
    assert cli("api", "put", "/storage/local", "content=iso,backup", "-y").exit_code == 0
    result = cli("--workspace", str(ws), "sync", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["resource_changes"] == [
        {
            "address": "storage/local",
            "kind": "storage",
            "change": "change",
            "field": "content",
            "old": "backup,iso,vztmpl",
            "new": "backup,iso",
        }
    ]
    result = cli("--workspace", str(ws), "plan", "-o", "json")
    (change,) = json.loads(result.stdout)["changes"]
    assert (change["address"], change["fields"][0]["new"]) == ("storage/local", "backup,iso,vztmpl")


def test_a_guest_on_a_new_storage_is_created_after_the_definition(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    (ws / "resources" / "storages" / "fast.yaml").write_text(
        "kind: Storage\nname: fast\nspec:\n  type: dir\n  path: /srv/fast\n  content: [images, rootdir]\n"
    )
    (ws / "resources" / "vms" / "app-1.yaml").write_text(
        "kind: VM\nname: app-1\nnode: pve2\nspec:\n  cores: 1\n  memory: 512\n"
        "  disks: [{slot: scsi0, storage: fast, size: 4G}]\n  state: stopped\n"
    )
    result = cli("--workspace", str(ws), "plan", "-o", "json")
    assert result.exit_code == 0, result.output
    assert [(c["address"], c["action"]) for c in json.loads(result.stdout)["changes"]] == [
        ("storage/fast", "create"),
        ("vm/app-1", "create"),
    ]
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    writes = _writes_since(cluster, before)
    assert writes.index(("POST", "/storage")) < writes.index(("POST", "/nodes/pve2/qemu"))
    assert cli("--workspace", str(ws), "plan", "--detailed-exitcode").exit_code == 0
