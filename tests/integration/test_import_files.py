"""`sync --import` names its files around the ones in the way, and writes what the store holds of each guest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

RETIRED = "kind: VM\nname: retired\nnode: pve1\nvmid: 999\nspec:\n  cores: 1\n  memory: 512\n"


def test_a_file_in_the_way_keeps_its_content_and_the_guest_gets_name_vmid(cluster, cli, state_url, isolated_env):
    (isolated_env / "pmpc.yaml").write_text("name: lab\n", encoding="utf-8")
    vms = isolated_env / "resources" / "vms"
    vms.mkdir(parents=True)
    (vms / "web-2.yaml").write_text(RETIRED, encoding="utf-8")
    preview = cli("sync", "--import", "--dry-run", "-o", "json")
    assert preview.exit_code == 0, preview.output
    planned = {p["address"]: Path(p["path"]).name for p in preview.json()["would_import"]}
    assert planned["vm/web-2"] == "web-2-102.yaml" and planned["vm/web-1"] == "web-1.yaml"
    result = cli("sync", "--import")
    assert result.exit_code == 0, result.output
    assert (vms / "web-2.yaml").read_text(encoding="utf-8") == RETIRED
    written = yaml.safe_load((vms / "web-2-102.yaml").read_text(encoding="utf-8"))
    assert written["name"] == "web-2" and written["vmid"] == 102
    assert not (vms / "web-1-101.yaml").exists()


def test_a_guest_of_an_offline_node_is_imported_with_its_stored_config(
    cluster: Any, cli: Any, state_url: str, isolated_env: Path
) -> None:
    assert cli("sync").exit_code == 0
    cluster.set_node_offline("pve3")
    (isolated_env / "pmpc.yaml").write_text("name: lab\n", encoding="utf-8")
    result = cli("sync", "--import")
    assert result.exit_code == 0, result.output
    batch = yaml.safe_load((isolated_env / "resources" / "vms" / "batch-1.yaml").read_text(encoding="utf-8"))
    # pve3 answered nothing this time: the config is the one the first sync stored.
    assert batch["node"] == "pve3" and batch["spec"]["cores"] == 1 and batch["spec"]["memory"] == 1024
    assert batch["spec"]["disks"][0]["size"] == "16G"
    web = yaml.safe_load((isolated_env / "resources" / "vms" / "web-1.yaml").read_text(encoding="utf-8"))
    assert web["spec"]["cores"] == 2 and web["spec"]["tags"] == ["prod", "web"]


def test_each_manifest_is_built_once_as_its_config_arrives(cluster, cli, state_url, isolated_env, monkeypatch):
    from proxmox_mpc.services import imports

    built: list[int] = []
    real = imports._build

    def counting(guest: Any, keep: Any) -> Any:
        built.append(guest.vmid)
        return real(guest, keep)

    monkeypatch.setattr(imports, "_build", counting)
    (isolated_env / "pmpc.yaml").write_text("name: lab\n", encoding="utf-8")
    result = cli("sync", "--import")
    assert result.exit_code == 0, result.output
    # Seven guests, each built once (while the sync read the others), none again when the files were written.
    assert sorted(built) == [101, 102, 103, 104, 201, 202, 9000]
    assert len(list((isolated_env / "resources").rglob("*.yaml"))) == 10



def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_first_import_writes_its_manifests_ahead_and_they_are_the_same_files(
    cluster, cli, state_url, isolated_env, monkeypatch
):
    from proxmox_mpc.services import imports

    ahead: list[int] = []  # the VMIDs whose manifest was written ahead, while the sync read the others
    real = imports.ManifestTexts._stage

    def counting(self: Any, built: Any) -> Any:
        kept = real(self, built)
        if isinstance(kept[3], imports._Staged):
            ahead.append(kept[2])
        return kept

    (isolated_env / "pmpc.yaml").write_text("name: lab\n", encoding="utf-8")
    # The same import written without writing ahead (the workspace looks as if it held manifests).
    first = isolated_env / "first"
    first.mkdir()
    (first / "pmpc.yaml").write_text("name: lab\n", encoding="utf-8")
    with monkeypatch.context() as patched:
        patched.chdir(first)
        patched.setattr(imports, "any_manifest_file", lambda directory: True)
        patched.setattr(imports.ManifestTexts, "_stage", counting)
        assert cli("sync", "--import").exit_code == 0
    assert ahead == []
    monkeypatch.setattr(imports.ManifestTexts, "BATCH", 2)  # most are written ahead during the reads
    monkeypatch.setattr(imports.ManifestTexts, "_stage", counting)
    result = cli("sync", "--import")
    assert result.exit_code == 0, result.output
    assert sorted(ahead) == [101, 102, 103, 104, 201, 202, 9000]
    assert _tree(isolated_env / "resources") == _tree(first / "resources")
    assert not [p for p in isolated_env.rglob("*") if p.name.endswith(".pmpc-tmp")]


def test_a_sync_that_fails_after_its_reads_leaves_nothing_written_ahead(
    cluster, cli, state_url, isolated_env, monkeypatch
):
    from proxmox_mpc.errors import PmpcError
    from proxmox_mpc.services import imports, sync

    def failing(*args: Any, **kwargs: Any) -> None:
        raise PmpcError("The state store refused the write.")

    (isolated_env / "pmpc.yaml").write_text("name: lab\n", encoding="utf-8")
    monkeypatch.setattr(imports.ManifestTexts, "BATCH", 2)  # most are written ahead during the reads
    monkeypatch.setattr(sync, "write_snapshot", failing)
    result = cli("sync", "--import")
    assert result.exit_code != 0 and "refused the write" in result.output
    assert not (isolated_env / "resources").exists()
    assert not [p for p in isolated_env.rglob("*") if p.name.endswith(".pmpc-tmp")]


def test_a_workspace_with_manifests_gets_nothing_written_ahead(cluster, cli, state_url, isolated_env, monkeypatch):
    from proxmox_mpc.services import imports

    made: list[Any] = []

    class Recorded(imports.StagedFiles):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append(self)
            super().__init__(*args, **kwargs)

    (isolated_env / "pmpc.yaml").write_text("name: lab\n", encoding="utf-8")
    vms = isolated_env / "resources" / "vms"
    vms.mkdir(parents=True)
    (vms / "retired.yaml").write_text(RETIRED, encoding="utf-8")
    monkeypatch.setattr(imports, "StagedFiles", Recorded)
    result = cli("sync", "--import")
    assert result.exit_code == 0, result.output
    assert made == [] and (vms / "web-1.yaml").exists()
    assert (vms / "retired.yaml").read_text(encoding="utf-8") == RETIRED
