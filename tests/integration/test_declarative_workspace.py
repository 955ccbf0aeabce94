"""`pmpc init`, workspace detection, the workspace lock around apply, and `sync --import` keeping edits."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from proxmox_mpc.state.db import sqlite_url
from proxmox_mpc.state.store import open_store
from tests.integration.test_declarative import _init_and_import, _set_memory, _writes


def test_init_makes_the_layout_and_is_idempotent(cli, tmp_path):
    target = tmp_path / "infra"
    result = cli("init", str(target), "--name", "prod-cluster")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == f"workspace/prod-cluster initialised at {target}"
    assert result.stderr == ""
    for sub in ("resources/vms", "resources/cts", "terraform", "ansible", "tests", ".pmpc"):
        assert (target / sub).is_dir(), sub
    settings = yaml.safe_load((target / "pmpc.yaml").read_text())
    assert settings == {"name": "prod-cluster", "context": None}
    ignored = (target / ".gitignore").read_text().splitlines()
    assert ".pmpc/" in ignored and ".env" in ignored
    (target / "pmpc.yaml").write_text((target / "pmpc.yaml").read_text() + "# my note\n")
    again = cli("init", str(target), "-o", "json")
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert data["created"] == [] and data["name"] == "prod-cluster"
    assert (target / "pmpc.yaml").read_text().endswith("# my note\n")
    assert (target / ".gitignore").read_text().splitlines() == ignored


def test_init_dry_run_writes_nothing_and_respects_gitignore(cli, tmp_path):
    target = tmp_path / "ws"
    result = cli("init", str(target), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would create pmpc.yaml" in result.stdout and not target.exists()
    target.mkdir()
    (target / ".gitignore").write_text("node_modules/\n")
    assert cli("init", str(target)).exit_code == 0
    lines = (target / ".gitignore").read_text().splitlines()
    assert lines[0] == "node_modules/" and ".pmpc/" in lines


def test_commands_find_the_workspace_upwards(cluster, cli, tmp_path, monkeypatch):
    ws = _init_and_import(cli, tmp_path)
    monkeypatch.chdir(ws / "resources" / "cts")
    result = cli("plan", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["workspace"] == "infra"
    monkeypatch.chdir(tmp_path)
    outside = cli("plan")
    assert outside.exit_code == 64
    assert "pmpc init" in outside.stderr


def test_apply_waits_for_or_refuses_a_held_workspace_lock(cluster, cli, tmp_path):
    ws = _init_and_import(cli, tmp_path)
    _set_memory(ws, "web-1", 4096)
    before = len(_writes(cluster))
    store = open_store(sqlite_url(ws / ".pmpc" / "state.db"))
    try:
        with store.workspace_lock("infra", "another CI job", 0):
            result = cli("--workspace", str(ws), "apply", "-y", "--lock-timeout", "0")
    finally:
        store.close()
    assert result.exit_code == 7, result.output
    assert "another CI job" in result.stderr
    assert len(_writes(cluster)) == before
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output


def test_import_again_keeps_edited_manifests_and_adds_new_guests(cluster, cli, tmp_path):
    ws = _init_and_import(cli, tmp_path)
    _set_memory(ws, "web-1", 4096)
    edited = (ws / "resources" / "vms" / "web-1.yaml").read_text()
    cluster.add_vm(120, "late-1", node="pve3", config={"cores": 1, "memory": 512})
    result = cli("--workspace", str(ws), "sync", "--import")
    assert result.exit_code == 0, result.output
    assert (ws / "resources" / "vms" / "web-1.yaml").read_text() == edited
    assert (ws / "resources" / "vms" / "late-1.yaml").is_file()
    plan = json.loads(cli("--workspace", str(ws), "plan", "-o", "json").stdout)
    assert [c["address"] for c in plan["changes"]] == ["vm/web-1"]


def test_container_create_without_a_template_is_a_manifest_error(cluster, cli, tmp_path):
    ws = _init_and_import(cli, tmp_path)
    path = Path(ws / "resources" / "cts" / "new-ct.yaml")
    path.write_text("kind: CT\nname: new-ct\nnode: pve1\nspec:\n  memory: 256\n")
    result = cli("--workspace", str(ws), "plan")
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("spec.ostemplate: creating a container needs spec.ostemplate (or spec.clone)")
    assert ":5:3:" in result.stderr
