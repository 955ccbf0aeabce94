"""Safe apply against fakepve: nothing is destroyed that cannot be rebuilt (issue 11's journeys)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxmox_mpc.state.db import sqlite_url
from proxmox_mpc.state.store import open_store
from tests.helpers.cluster import TOKEN_ID, TOKEN_SECRET
from tests.helpers.cluster_objects import ObjectsPve
from tests.helpers.demo_guests import populate_demo


def _import(cli: Any, work: Path) -> Path:
    ws = work / "infra"
    assert cli("init", str(ws), "--name", "infra").exit_code == 0
    result = cli("--workspace", str(ws), "sync", "--import")
    assert result.exit_code == 0, result.output
    return ws


def _edit(ws: Path, folder: str, name: str, change: Any) -> Path:
    path = ws / "resources" / folder / f"{name}.yaml"
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _writes(pve: Any) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in pve.requests if m != "GET"]


def _runs(ws: Path) -> list[Any]:
    store = open_store(sqlite_url(ws / ".pmpc" / "state.db"))
    try:
        return store.apply_runs()
    finally:
        store.close()


def _unprivileged_off(doc: dict[str, Any]) -> None:
    assert doc["spec"]["unprivileged"] is True
    doc["spec"]["unprivileged"] = False


def test_the_proxy_journey_stops_before_any_write_and_the_container_stays(demo, cli, tmp_path):
    ws = _import(cli, tmp_path)
    path = _edit(ws, "cts", "proxy-1", _unprivileged_off)
    assert demo.ct(202) is not None and demo.ct(202).config["hostname"] == "proxy-1"
    before = len(_writes(demo))
    plan_file = tmp_path / "plan.json"

    result = cli("--workspace", str(ws), "validate")
    assert result.exit_code == 1, result.output
    assert "spec.unprivileged" in result.stderr and "could not be created again" in result.stderr

    result = cli("--workspace", str(ws), "plan", "--out", str(plan_file))
    assert result.exit_code == 1, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith(f"pmpc: error: {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}:")
    assert "spec.unprivileged: ct/proxy-1 (ct/202) must be replaced (unprivileged forces it)" in line
    assert "spec.ostemplate (or spec.clone)" in line
    assert not plan_file.exists()

    for args in (("apply", "-y"), ("apply", "--dry-run"), ("apply", "-y", "--allow-destroy", "ct/202")):
        result = cli("--workspace", str(ws), *args)
        assert result.exit_code == 1, (args, result.output)
        assert "could not be created again" in result.stderr
    assert len(_writes(demo)) == before
    assert demo.ct(202) is not None and demo.ct(202).config["unprivileged"] in (1, "1")
    assert _runs(ws) == []


def test_a_saved_plan_that_cannot_create_is_refused_before_any_write(demo, cli, tmp_path):
    """A plan document written by hand (or by an older pmpc) gets the same pre-flight at apply."""
    ws = _import(cli, tmp_path)
    plan = {
        "format_version": "1.0",
        "created_at": "2026-12-06T00:00:00Z",
        "context": None,
        "workspace": "infra",
        "changes": [
            {
                "address": "ct/proxy-1",
                "kind": "ct",
                "vmid": 202,
                "node": "pve3",
                "action": "replace",
                "fields": [{"name": "unprivileged", "old": "1", "new": "0", "needs_reboot": False}],
                "digest": None,
            }
        ],
        "summary": {"add": 0, "change": 0, "replace": 1, "destroy": 0, "power": 0},
    }
    plan_file = tmp_path / "old.json"
    plan_file.write_text(json.dumps(plan))
    node = demo.ct(202).node
    plan["changes"][0]["node"] = node  # type: ignore[index]
    plan_file.write_text(json.dumps(plan))
    before = len(_writes(demo))
    result = cli("--workspace", str(ws), "apply", str(plan_file))
    assert result.exit_code == 1, result.output
    assert "could not be created again" in result.stderr
    assert len(_writes(demo)) == before
    assert demo.ct(202) is not None


def _state_absent(doc: dict[str, Any]) -> None:
    doc["spec"]["state"] = "absent"


def test_an_imported_guest_is_protected_unless_allowed(demo, cli, tmp_path):
    ws = _import(cli, tmp_path)
    path = _edit(ws, "vms", "web-1", _state_absent)
    before = len(_writes(demo))
    result = cli("--workspace", str(ws), "plan")
    assert result.exit_code == 1, result.output
    assert "vm/web-1 (vm/101), which pmpc did not create" in result.stderr
    assert "--allow-destroy vm/web-1" in result.stderr
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 1, result.output
    assert len(_writes(demo)) == before and demo.vm(101) is not None

    # --allow-destroy previews in plan, and lets apply delete it.
    result = cli("--workspace", str(ws), "plan", "--allow-destroy", "vm/101")
    assert result.exit_code == 0, result.output
    assert "- vm/web-1" in result.stdout
    assert cli("--workspace", str(ws), "plan", "--allow-destroy", "web-1").exit_code == 64
    result = cli("--workspace", str(ws), "apply", "-y", "--allow-destroy", "vm/101")
    assert result.exit_code == 0, result.output
    assert demo.vm(101) is None

    # lifecycle.allow_destroy in the manifest does the same.
    doc = yaml.safe_load((ws / "resources" / "vms" / "api-1.yaml").read_text())
    doc["lifecycle"] = {"allow_destroy": True}
    doc["spec"]["state"] = "absent"
    (ws / "resources" / "vms" / "api-1.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    path.unlink()
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert demo.vm(102) is None


def test_prevent_destroy_wins_and_a_created_guest_needs_no_flag(demo, cli, tmp_path):
    demo.store_file("local", "alpine-3.20.tar.xz", 10 * 1024**2, content="vztmpl")
    ws = _import(cli, tmp_path)
    (ws / "resources" / "cts" / "new-1.yaml").write_text(
        "kind: CT\nname: new-1\nnode: pve1\nvmid: 260\nspec:\n"
        "  ostemplate: local:vztmpl/alpine-3.20.tar.xz\n  unprivileged: true\n  memory: 256\n"
        "  rootfs: {storage: local-lvm, size: 2G}\n  state: stopped\n"
    )
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert demo.ct(260) is not None

    # pmpc created it: editing unprivileged replaces it without any flag, as the plan says.
    _edit(ws, "cts", "new-1", _unprivileged_off)
    result = cli("--workspace", str(ws), "plan", "-o", "json")
    assert result.exit_code == 0, result.output
    [change] = json.loads(result.stdout)["changes"]
    assert change["action"] == "replace"
    assert [f["name"] for f in change["fields"] if f.get("forces_replacement")] == ["unprivileged"]
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert str(demo.ct(260).config.get("unprivileged", 0)) in ("0", "False")

    # prevent_destroy refuses even with --allow-destroy.
    doc = yaml.safe_load((ws / "resources" / "cts" / "new-1.yaml").read_text())
    doc["lifecycle"] = {"prevent_destroy": True}
    (ws / "resources" / "cts" / "new-1.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    result = cli("--workspace", str(ws), "destroy", "new-1", "-y", "--allow-destroy", "ct/260")
    assert result.exit_code == 1, result.output
    assert "prevent_destroy" in result.stderr and demo.ct(260) is not None
    doc.pop("lifecycle")
    (ws / "resources" / "cts" / "new-1.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    result = cli("--workspace", str(ws), "destroy", "new-1", "-y")
    assert result.exit_code == 0, result.output
    assert "Destroy complete: 1 of 1 guest(s) destroyed." in result.stdout
    assert "Apply complete" not in result.stdout
    assert demo.ct(260) is None


def test_a_saved_plan_applies_without_a_prompt_and_apply_alone_still_confirms(demo, cli, tmp_path):
    ws = _import(cli, tmp_path)
    _edit(ws, "vms", "worker-1", lambda d: d["spec"].update(memory=2048))
    before = len(_writes(demo))
    result = cli("--workspace", str(ws), "apply")  # no TTY, no -y
    assert result.exit_code == 4, result.output
    assert len(_writes(demo)) == before
    plan_file = tmp_path / "plan.json"
    assert cli("--workspace", str(ws), "plan", "--out", str(plan_file)).exit_code == 0
    result = cli("--workspace", str(ws), "apply", str(plan_file))  # no TTY, no -y: the plan was the yes
    assert result.exit_code == 0, result.output
    assert str(demo.vm(104).config["memory"]) == "2048"


def test_a_power_change_someone_else_made_is_already_done(demo, cli, tmp_path):
    ws = _import(cli, tmp_path)
    _edit(ws, "vms", "web-1", lambda d: d["spec"].update(state="stopped"))
    plan_file = tmp_path / "plan.json"
    assert cli("--workspace", str(ws), "plan", "--out", str(plan_file)).exit_code == 0
    demo.vm(101).status = "stopped"  # a teammate stopped it meanwhile
    result = cli("--workspace", str(ws), "apply", str(plan_file), "-o", "json")
    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)["results"][0]["steps"]
    assert steps == [{"step": "stop", "status": "ok", "detail": "already stopped", "upid": None}]
    assert not [p for m, p in _writes(demo) if p.endswith("/status/shutdown")]


class PendingFoldingPve(ObjectsPve):
    """A fake whose GET .../qemu/{vmid}/config folds pending values in unless `current=1`, as PVE's does.

    It keeps the cluster objects (backup jobs, HA, access) as the `cluster` fixture's fake does.

    fakepve 0.5.0 answers with the current values only; PVE's `current` parameter defaults to 0, which
    returns the values pending for the next start. `sync`, `state drift` and `pmpc test` read that, so
    this is what they see on a real cluster.
    """

    async def _config_get(self, request: Any) -> Any:
        if request.query.get("current") in ("1", "true"):
            return await super()._config_get(request)
        vm = self._vm(request, "VM.Audit")
        saved = dict(vm.config)
        vm.config.update({k: v for k, v in vm.pending.items() if v is not None})
        for key in [k for k, v in vm.pending.items() if v is None]:
            vm.config.pop(key, None)
        try:
            return await super()._config_get(request)
        finally:
            vm.config.clear()
            vm.config.update(saved)


@pytest.fixture
def folding_demo(_fakepve_pki: Any, fakepve_cafile: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The demo guests on a PendingFoldingPve, PMPC_* pointing at it."""
    from fakepve.pytest_plugin import HOST, _Serving

    serving = _Serving(PendingFoldingPve(user="root@pam", password="secret", host=HOST, port=0), *_fakepve_pki)
    try:
        pve = populate_demo(serving.pve)
        monkeypatch.setenv("PMPC_HOST", pve.url)
        monkeypatch.setenv("PMPC_TOKEN_ID", TOKEN_ID)
        monkeypatch.setenv("PMPC_TOKEN_SECRET", TOKEN_SECRET)
        monkeypatch.setenv("PMPC_CA_FILE", fakepve_cafile)
        yield pve
    finally:
        serving.stop()


def test_pending_values_count_as_applied_for_plan_test_and_drift(folding_demo, cli, tmp_path):
    demo = folding_demo
    ws = _import(cli, tmp_path)
    _edit(ws, "vms", "web-1", lambda d: d["spec"].update(memory=4096))
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert demo.vm(101).status == "running" and str(demo.vm(101).pending.get("memory")) == "4096"
    result = cli("--workspace", str(ws), "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "vm/web-1 (101): memory (pending reboot)" in result.stdout
    result = cli("--workspace", str(ws), "test", "--builtin", "-o", "json")
    assert result.exit_code == 0, result.output
    assert cli("--workspace", str(ws), "sync").exit_code == 0
    result = cli("--workspace", str(ws), "state", "drift", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    result = cli("--workspace", str(ws), "plan", "--offline", "--detailed-exitcode")
    assert result.exit_code == 0, result.output


def _request_index(pve: Any, method: str, suffix: str) -> int:
    for index, (m, path, _) in enumerate(pve.requests):
        if m == method and path.endswith(suffix):
            return index
    raise AssertionError(f"no {method} ...{suffix} in {[(m, p) for m, p, _ in pve.requests]}")


def _journal_rows(ws: Path) -> list[Any]:
    store = open_store(sqlite_url(ws / ".pmpc" / "state.db"))
    try:
        return [entry for run in store.apply_runs() for entry in store.journal(run.id)]
    finally:
        store.close()


def test_backup_first_takes_a_vzdump_before_the_delete_and_journals_its_volume(demo, cli, tmp_path):
    from tests.helpers.backups import enable_backups

    enable_backups(demo)
    ws = _import(cli, tmp_path)
    result = cli("--workspace", str(ws), "destroy", "dns-1", "--dry-run", "--backup-first", "--allow-destroy", "ct/201")
    assert result.exit_code == 0, result.output
    assert "# backup first: vzdump to local, then delete" in result.stdout
    demo.requests.clear()
    result = cli("--workspace", str(ws), "destroy", "dns-1", "-y", "--backup-first", "--allow-destroy", "ct/201")
    assert result.exit_code == 0, result.output
    assert demo.ct(201) is None
    volumes = [v for v in demo.storages["local"].get("volumes", {}) if "vzdump-lxc-201-" in v]
    assert len(volumes) == 1
    assert _request_index(demo, "POST", "/vzdump") < _request_index(demo, "DELETE", "/lxc/201")
    rows = _journal_rows(ws)
    backup = [r for r in rows if r.action == "backup" and r.status == "ok"]
    assert len(backup) == 1 and backup[0].detail == f"local:{volumes[0]}" and backup[0].upid
    started = [r for r in rows if r.action == "backup" and r.status == "started"]
    assert started and started[0].upid == backup[0].upid


def test_lifecycle_backup_before_destroy_names_the_storage_in_the_plan(demo, cli, tmp_path):
    from tests.helpers.backups import enable_backups

    enable_backups(demo)
    ws = _import(cli, tmp_path)

    def absent(doc: dict[str, Any]) -> None:
        doc["lifecycle"] = {"allow_destroy": True, "backup_before_destroy": "local"}
        doc["spec"]["state"] = "absent"

    _edit(ws, "vms", "worker-1", absent)
    result = cli("--workspace", str(ws), "plan", "-o", "json")
    assert result.exit_code == 0, result.output
    [change] = json.loads(result.stdout)["changes"]
    assert change["action"] == "delete" and change["backup"] == "local"
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert demo.vm(104) is None
    assert [v for v in demo.storages["local"]["volumes"] if "vzdump-qemu-104-" in v]


def test_a_failed_backup_stops_the_destroy_and_the_guest_remains(demo, cli, tmp_path):
    from tests.helpers.backups import enable_backups

    enable_backups(demo)
    ws = _import(cli, tmp_path)
    demo.storages["local"]["avail"] = 1024  # the full-storage scenario: no room for a dump
    allow = ("--allow-destroy", "ct/201", "--allow-destroy", "ct/203")
    result = cli(
        "--workspace", str(ws), "destroy", "dns-1", "-y", "--backup-first", "--backup-storage", "local", *allow
    )
    assert result.exit_code != 0, result.output
    assert "the backup before the delete failed, so nothing was deleted" in result.stderr
    assert demo.ct(201) is not None
    assert not [p for m, p, _ in demo.requests if m == "DELETE"]
    # A batch: each guest's backup fails, none is deleted, exit 3.
    result = cli("--workspace", str(ws), "destroy", "dns-1", "cache-1", "-y", "--backup-first", *allow)
    assert result.exit_code == 3, result.output
    assert demo.ct(201) is not None and demo.ct(203) is not None
    assert not [p for m, p, _ in demo.requests if m == "DELETE"]
    assert [r for r in _journal_rows(ws) if r.action == "backup" and r.status == "failed"]


def test_a_guest_that_stops_between_the_check_and_the_shutdown_is_already_stopped(demo, cli, tmp_path):
    """The guest stops after pmpc read its status but before its shutdown arrives (a shutdown still
    running from an interrupted apply): PVE refuses with "not running", which is no failure."""
    ws = _import(cli, tmp_path)
    _edit(ws, "vms", "web-1", lambda d: d["spec"].update(state="stopped"))
    need_running = demo._need_running

    def stopped_meanwhile(vm: Any) -> None:
        # Test hook on the fake: the other shutdown finishes just before this request is handled.
        if vm.vmid == 101:
            vm.status = "stopped"
        need_running(vm)

    demo._need_running = stopped_meanwhile
    result = cli("--workspace", str(ws), "apply", "-y", "-o", "json")
    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)["results"][0]["steps"]
    assert steps == [{"step": "stop", "status": "ok", "detail": "already stopped", "upid": None}]
    assert [p for m, p in _writes(demo) if p.endswith("/status/shutdown")]  # it was sent, and refused
    assert demo.vm(101).status == "stopped"
