"""`pmpc node drain` against fakepve: containers move, VMs send PVE's migrate, HA through HA, offline never chosen."""

from __future__ import annotations

import json
from urllib.parse import parse_qs


def _writes(pve):
    return [(m, p.removeprefix("/api2/json"), parse_qs(b.decode())) for m, p, b in pve.requests if m != "GET"]


def _records(result):
    assert result.exit_code == 0, result.output
    return {r["target"]: r for r in json.loads(result.stdout)}


def test_drain_moves_containers_and_sends_vm_migrations(cluster, cli):
    records = _records(cli("node", "drain", "pve1", "--with-local-disks", "-y", "-o", "json"))
    assert set(records) == {"vm/101", "ct/201", "vm/9000"}
    ct = records["ct/201"]
    assert (ct["ok"], ct["changed"], ct["via"]) == (True, True, "migrate")
    assert cluster.ct(201).node == ct["to"] != "pve1"
    vm = records["vm/101"]
    assert vm["via"] == "migrate" and vm["to"] in ("pve2", "pve3")
    writes = _writes(cluster)
    vm_params = {"target": [vm["to"]], "online": ["1"], "with-local-disks": ["1"]}
    assert ("POST", "/nodes/pve1/qemu/101/migrate", vm_params) in writes
    ct_params = {"target": [ct["to"]], "restart": ["1"], "timeout": ["300"]}
    assert ("POST", "/nodes/pve1/lxc/201/migrate", ct_params) in writes
    template = records["vm/9000"]
    assert (template["changed"], template["to"]) == (False, None)
    assert template["reason"] == "template: add --include-stopped to move it"


def test_table_then_one_line_per_guest_and_the_guests_that_stay(cluster, cli):
    result = cli("node", "drain", "pve3", "-y")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["GUEST", "NAME", "STATUS", "MEMORY", "TO", "VIA", "REASON"]
    assert "vm/104 stays on pve3: local disks (local-lvm:vm-104-disk-0): add --with-local-disks to copy them" in lines
    assert "1 guest(s) stay on pve3" not in result.stderr
    assert "2 guest(s) stay on pve3: vm/104, ct/202." in result.stderr
    assert _writes(cluster) == []


def test_include_stopped_moves_the_stopped_container(cluster, cli):
    records = _records(cli("node", "drain", "pve3", "--include-stopped", "--with-local-disks", "-y", "-o", "json"))
    assert records["ct/202"]["ok"] and records["ct/202"]["to"] in ("pve1", "pve2")
    assert cluster.ct(202).node == records["ct/202"]["to"]


def test_an_offline_node_is_never_chosen(cluster, cli):
    cluster.set_node_offline("pve2")
    records = _records(cli("node", "drain", "pve1", "--with-local-disks", "-y", "-o", "json"))
    assert {r["to"] for r in records.values() if r["to"]} == {"pve3"}
    assert all("/nodes/pve2/" not in path for _, path, _ in _writes(cluster))
    only_offline = _records(cli("node", "drain", "pve3", "--to", "pve2", "--with-local-disks", "-y", "-o", "json"))
    assert only_offline["vm/104"]["reason"] == "no other online node to move it to"


def test_ha_managed_guests_move_through_ha(day2_cluster, cli):
    day2_cluster.ct(201).ha_state = "started"
    records = _records(cli("node", "drain", "pve1", "--to", "pve2", "--with-local-disks", "-y", "-o", "json"))
    assert records["ct/201"]["via"] == "ha" and records["ct/201"]["ok"] is True
    writes = _writes(day2_cluster)
    assert ("POST", "/cluster/ha/resources/ct:201/migrate", {"node": ["pve2"]}) in writes
    assert not any(path == "/nodes/pve1/lxc/201/migrate" for _, path, _ in writes)
    assert day2_cluster.ct(201).node == "pve2"


def test_bad_nodes(cluster, cli):
    assert cli("node", "drain", "nope", "-y").exit_code == 6
    unknown_target = cli("node", "drain", "pve1", "--to", "pve9", "-y")
    assert unknown_target.exit_code == 6 and "pve9" in unknown_target.stderr
    itself = cli("node", "drain", "pve1", "--to", "pve1", "-y")
    assert itself.exit_code == 64 and "--to pve1" in itself.stderr
    cluster.set_node_offline("pve3")
    offline = cli("node", "drain", "pve3", "-y")
    assert offline.exit_code == 1 and "pve3 is offline" in offline.stderr
    assert _writes(cluster) == []


def test_evacuate_is_an_alias(cluster, cli):
    result = cli("node", "evacuate", "pve3", "--dry-run", "--with-local-disks", "-o", "json")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["target"] for r in records if r["to"]] == ["vm/104"]
    assert {m for m, _, _ in cluster.requests} <= {"GET"}


def test_on_a_terminal_the_table_comes_before_the_question(cluster):
    from tests.integration.test_guest_safety import _run_on_tty

    result, asked = _run_on_tty(["node", "drain", "pve3", "--with-local-disks"], answer=False)
    assert result.exit_code == 4, result.output
    assert asked == ["Drain pve3: migrate 1 target(s)?"]
    assert result.stdout.splitlines()[1].split()[:5] == ["vm/104", "batch-1", "running", "1.0G", "pve1"]
    assert "About to drain pve3: migrate:\n  vm/104 (batch-1) to pve1\n" in result.stderr
    assert _writes(cluster) == []
