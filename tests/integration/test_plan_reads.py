"""One observation pass: `plan` and `validate` on 1,000 guests read the cluster once (counted at fakepve).

A guest's config is one request: a VM's (a running container's) /pending, which on PVE lists the config
with its digest (the `cluster` fixture's fake does, tests/helpers/cluster_objects.py); a stopped
container's /config. A server whose /pending has no digest costs a /config more per guest.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from tests.helpers.workspace import edit_spec, imported_workspace

GUESTS = 1000


def _grow(cluster) -> None:
    """Add guests (VMs and containers over the three nodes) until the cluster holds GUESTS."""
    have = len(cluster.vms) + len(cluster.cts)
    for i in range(GUESTS - have):
        vmid, node = 1000 + i, f"pve{i % 3 + 1}"
        if i % 4:
            cluster.add_vm(vmid, f"bulk-{vmid}", node=node, status="running", config={
                "cores": 1, "memory": 512, "scsi0": f"local-lvm:vm-{vmid}-disk-0,size=4G",
                "net0": f"virtio=BC:24:11:10:{i >> 8 & 255:02X}:{i & 255:02X},bridge=vmbr0",
            })
        else:
            cluster.add_ct(vmid, f"bulk-{vmid}", node=node, status="stopped", config={
                "hostname": f"bulk-{vmid}", "memory": 256, "rootfs": f"local-lvm:subvol-{vmid}-disk-0,size=2G",
            })


def _gets(cluster) -> Counter[str]:
    return Counter(path for method, path, _ in cluster.requests if method == "GET")


def _config_reads(gets: Counter[str]) -> dict[str, list[str]]:
    """Return, by guest path (/nodes/N/qemu/V), the config paths read for it (config, pending)."""
    found: dict[str, list[str]] = {}
    for path, n in gets.items():
        base, _, leaf = path.rpartition("/")
        if leaf in ("config", "pending") and ("/qemu/" in base or "/lxc/" in base):
            found.setdefault(base, []).extend([leaf] * n)
    return found


def _with_pending(cluster) -> set[str]:
    """Return the guest paths whose /pending plan reads: every VM, the running containers."""
    vms = {f"/api2/json/nodes/{vm.node}/qemu/{vm.vmid}" for vm in cluster.vms}
    return vms | {f"/api2/json/nodes/{ct.node}/lxc/{ct.vmid}" for ct in cluster.cts if ct.status == "running"}


def _planned_update(cli, ws: Path) -> None:
    result = cli("--workspace", str(ws), "plan", "-o", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert [(c["address"], c["action"]) for c in plan["changes"]] == [("vm/web-1", "update")]


def test_plan_on_1000_guests_reads_nodes_and_resources_once(cluster, cli, tmp_path: Path):
    ws = imported_workspace(cli, tmp_path)
    edit_spec(ws, "web-1", memory=4096)
    _grow(cluster)
    cluster.requests.clear()

    _planned_update(cli, ws)

    gets = _gets(cluster)
    assert gets["/api2/json/cluster/resources"] == 1
    assert gets["/api2/json/nodes"] == 1
    reads = _config_reads(gets)
    assert len(reads) == GUESTS
    # One request per guest: a VM's (a running container's) /pending alone, a stopped container's /config.
    pending = _with_pending(cluster)
    assert any("/lxc/" in base for base in pending)  # a running container among them
    for base, leaves in reads.items():
        assert leaves == (["pending"] if base in pending else ["config"]), base
    assert max(gets.values()) == 1, [p for p, n in gets.items() if n > 1]  # nothing read twice
    assert {m for m, _, _ in cluster.requests} == {"GET"}


def test_a_pending_list_without_the_digest_is_completed_by_the_config(cluster, cli, tmp_path: Path):
    ws = imported_workspace(cli, tmp_path)
    edit_spec(ws, "web-1", memory=4096)
    _grow(cluster)
    cluster.pending_digest = False  # fakepve 0.5.0's own /pending: the config keys only
    cluster.requests.clear()

    _planned_update(cli, ws)

    reads = _config_reads(_gets(cluster))
    assert len(reads) == GUESTS
    pending = _with_pending(cluster)
    for base, leaves in reads.items():
        assert sorted(leaves) == (["config", "pending"] if base in pending else ["config"]), base


def test_a_broken_manifest_wins_over_a_cluster_that_refuses_the_login(cluster, cli, tmp_path: Path, monkeypatch):
    # plan reads the cluster while the manifests load: the manifest's error is still the one reported.
    ws = imported_workspace(cli, tmp_path)
    (ws / "resources" / "vms" / "web-1.yaml").write_text("kind: VirtualMachine\nname: [web-1\n")
    monkeypatch.setenv("PMPC_TOKEN_SECRET", "not-the-secret")

    result = cli("--workspace", str(ws), "plan")

    assert result.exit_code == 1, result.output
    assert "web-1.yaml:" in result.output and "authentication" not in result.output.lower()


def test_a_manifest_describing_a_guest_s_firewall_gets_it_read(cluster, cli, tmp_path: Path):
    # The per-guest reads the manifests choose wait for them: here, the policy of a guest without a firewalled NIC.
    ws = imported_workspace(cli, tmp_path)
    vm = next(v for v in cluster.vms if "firewall=1" not in str(v.config))
    (ws / "resources" / "web-policy.yaml").write_text(
        f"kind: FirewallPolicy\nname: vm/{vm.vmid}\nspec:\n  options:\n    enable: true\n"
    )
    cluster.requests.clear()

    result = cli("--workspace", str(ws), "plan", "-o", "json")

    assert result.exit_code == 0, result.output
    gets = _gets(cluster)
    assert gets[f"/api2/json/nodes/{vm.node}/qemu/{vm.vmid}/firewall/options"] == 1
    assert [c["address"] for c in json.loads(result.stdout)["changes"]] == [f"firewall/vm/{vm.vmid}"]


def test_validate_reads_the_cluster_once(cluster, cli, tmp_path: Path):
    ws = imported_workspace(cli, tmp_path)
    cluster.requests.clear()

    result = cli("--workspace", str(ws), "validate")
    assert result.exit_code == 0, result.output

    gets = _gets(cluster)
    assert gets["/api2/json/cluster/resources"] == 1 and gets["/api2/json/nodes"] == 1
    assert max(gets.values()) == 1, [p for p, n in gets.items() if n > 1]
