"""One VMID allocation for create, clone and apply; one create syntax for `vm create` flags and manifests."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

COLLISION = "unable to create VM 100: config file already exists"


def _workspace(cli, tmp_path: Path) -> Path:
    ws = tmp_path / "infra"
    result = cli("init", str(ws), "--name", "infra")
    assert result.exit_code == 0, result.output
    return ws


def _write_vm(ws: Path, name: str, size: str) -> None:
    (ws / "resources" / "vms").mkdir(parents=True, exist_ok=True)
    (ws / "resources" / "vms" / f"{name}.yaml").write_text(
        f"kind: VM\nname: {name}\nnode: pve1\nspec:\n  cores: 1\n  memory: 512\n"
        f"  disks: [{{slot: scsi0, storage: local-lvm, size: {size}}}]\n  state: stopped\n"
    )


def _creates(cluster) -> list[dict[str, list[str]]]:
    posts = [body for m, p, body in cluster.requests if m == "POST" and p.endswith("/nodes/pve1/qemu")]
    return [parse_qs(body.decode()) for body in posts]


def test_apply_retries_a_vmid_collision_with_a_new_id(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    _write_vm(ws, "app-1", "8G")
    cluster.fail("POST", "/nodes/pve1/qemu", 500, COLLISION, times=1)
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    creates = _creates(cluster)
    assert len(creates) == 2
    first, second = (int(c["vmid"][0]) for c in creates)
    assert first != second
    assert cluster.vm(second).name == "app-1"


def test_apply_gives_up_on_a_vmid_the_manifest_fixes(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    _write_vm(ws, "app-1", "8G")
    path = ws / "resources" / "vms" / "app-1.yaml"
    path.write_text(path.read_text().replace("node: pve1\n", "node: pve1\nvmid: 4242\n"))
    cluster.fail("POST", "/nodes/pve1/qemu", 500, COLLISION, times=1)
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 1, result.output
    assert "already exists" in result.stderr
    assert [c["vmid"] for c in _creates(cluster)] == [["4242"]]


def test_vm_create_flags_and_a_manifest_send_the_same_disk_size(cluster, cli, tmp_path):
    result = cli("vm", "create", "--node", "pve1", "--name", "flags", "--disk", "local-lvm:100M", "-y")
    assert result.exit_code == 0, result.output
    ws = _workspace(cli, tmp_path)
    _write_vm(ws, "manifest", "100M")
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    flags, manifest = _creates(cluster)
    assert flags["name"] == ["flags"] and manifest["name"] == ["manifest"]
    # PVE reads STORAGE:N as N GiB: 100M is exactly 0.09765625 GiB (0.098 would be 102760 KiB).
    assert flags["scsi0"] == manifest["scsi0"] == ["local-lvm:0.09765625"]
    sizes = {cluster.vm(int(c["vmid"][0])).config["scsi0"].split("size=")[1] for c in (flags, manifest)}
    assert sizes == {"100M"}
