"""One observation pass: `plan` and `validate` on 1,000 guests read the cluster once (counted at fakepve)."""

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


def test_plan_on_1000_guests_reads_nodes_and_resources_once(cluster, cli, tmp_path: Path):
    ws = imported_workspace(cli, tmp_path)
    edit_spec(ws, "web-1", memory=4096)
    _grow(cluster)
    cluster.requests.clear()

    result = cli("--workspace", str(ws), "plan", "-o", "json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert [(c["address"], c["action"]) for c in plan["changes"]] == [("vm/web-1", "update")]

    gets = _gets(cluster)
    assert gets["/api2/json/cluster/resources"] == 1
    assert gets["/api2/json/nodes"] == 1
    configs = {path: n for path, n in gets.items() if path.endswith("/config")}
    assert len(configs) == GUESTS and set(configs.values()) == {1}  # each guest's config once
    assert max(gets.values()) == 1, [p for p, n in gets.items() if n > 1]  # nothing read twice
    assert {m for m, _, _ in cluster.requests} == {"GET"}


def test_validate_reads_the_cluster_once(cluster, cli, tmp_path: Path):
    ws = imported_workspace(cli, tmp_path)
    cluster.requests.clear()

    result = cli("--workspace", str(ws), "validate")
    assert result.exit_code == 0, result.output

    gets = _gets(cluster)
    assert gets["/api2/json/cluster/resources"] == 1 and gets["/api2/json/nodes"] == 1
    assert max(gets.values()) == 1, [p for p, n in gets.items() if n > 1]
