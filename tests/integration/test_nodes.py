"""`pmpc node ...` against a fakepve cluster."""

from __future__ import annotations

import json


def test_node_list_json_is_only_json_on_stdout(cluster, cli):
    result = cli("node", "list", "-o", "json")
    assert result.exit_code == 0, result.output
    nodes = json.loads(result.stdout)
    assert [n["name"] for n in nodes] == ["pve1", "pve2", "pve3"]
    assert all(n["kind"] == "node" and n["status"] == "online" for n in nodes)
    assert result.stderr == ""


def test_node_list_table_and_name(cluster, cli):
    table = cli("node", "list")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split()[:2] == ["NAME", "STATUS"]
    assert [line.split()[0] for line in lines[1:]] == ["pve1", "pve2", "pve3"]
    names = cli("node", "list", "-o", "name")
    assert names.stdout == "node/pve1\nnode/pve2\nnode/pve3\n"


def test_node_describe_counts_guests(cluster, cli):
    result = cli("node", "describe", "pve1", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["guests"] == {"vms": 1, "vms_running": 1, "cts": 1, "cts_running": 1, "templates": 1}
    assert {s["name"] for s in data["storages"]} >= {"local", "local-lvm"}


def test_unknown_node_is_exit_6(cluster, cli):
    result = cli("node", "get", "nope")
    assert result.exit_code == 6
    assert result.stdout == ""
    assert result.stderr.startswith("pmpc: error: No node named 'nope'")
