"""The command line at kubectl level: raw API, read-only contexts, global options anywhere, -y everywhere."""

from __future__ import annotations

from tests.integration.test_declarative import _init_and_import, _set_memory, _writes


def test_api_get_nodes_equals_node_list_facts(cluster, cli):
    raw = cli("api", "get", "/nodes")
    assert raw.exit_code == 0, raw.output
    nodes = {n["node"]: n for n in raw.json()}
    listed = {n["name"]: n for n in cli("node", "list", "-o", "json").json()}
    assert set(nodes) == set(listed) == {"pve1", "pve2", "pve3"}
    for name, node in listed.items():
        assert nodes[name]["status"] == node["status"]
        assert nodes[name]["maxcpu"] == node["cpus"]
    filtered = cli("api", "get", "/cluster/resources", "type=vm", "-o", "yaml")
    assert filtered.exit_code == 0 and "vmid: 101" in filtered.stdout and "type: storage" not in filtered.stdout


def test_api_writes_confirm_dry_run_and_wait(cluster, cli):
    path = "/nodes/pve2/qemu/103/status/start"
    refused = cli("api", "post", path)
    assert refused.exit_code == 4 and refused.stdout == "" and "--yes" in refused.stderr
    preview = cli("api", "post", path, "--dry-run")
    assert preview.exit_code == 0
    assert preview.json() == {"method": "POST", "path": path, "params": {}}
    assert _writes(cluster) == []
    started = cli("api", "post", path, "-y")
    assert started.exit_code == 0, started.output
    assert started.json().startswith("UPID:pve2:")
    assert cli("vm", "get", "103", "-o", "json").json()["status"] == "running"
    queued = cli("api", "post", "/nodes/pve2/qemu/103/status/stop", "-y", "--no-wait")
    assert queued.exit_code == 0 and queued.json().startswith("UPID:pve2:")
    missing = cli("api", "get", "/nodes/pve1/qemu/999/config")
    assert missing.exit_code == 6 and missing.stdout == "", missing.output
    bad = cli("api", "get", "nodes")
    assert bad.exit_code == 64 and "PATH must start with '/'" in bad.stderr
    bad_item = cli("api", "put", "/nodes/pve1/qemu/101/config", "cores", "-y")
    assert bad_item.exit_code == 64 and "KEY=VALUE" in bad_item.stderr


def test_a_read_only_context_refuses_writes_and_allows_reads(cluster, cli, tmp_path):
    ws = _init_and_import(cli, tmp_path)
    assert cli("config", "set-context", "prod", "--read-only").exit_code == 0
    ro = ("--workspace", str(ws), "--context", "prod")
    before = len(_writes(cluster))

    start = cli("vm", "start", "db-1", "-y", *ro)
    assert start.exit_code == 5, start.output
    assert "'prod' is read-only" in start.stderr
    post = cli("api", "post", "/nodes/pve2/qemu/103/status/start", "-y", *ro)
    assert post.exit_code == 5 and "'prod' is read-only" in post.stderr
    _set_memory(ws, "web-1", 3072)
    apply = cli("apply", "-y", *ro)
    assert apply.exit_code == 5, apply.output
    assert len(_writes(cluster)) == before

    assert cli("vm", "list", "-o", "json", *ro).exit_code == 0
    plan = cli("plan", *ro)
    assert plan.exit_code == 0 and "memory" in plan.stdout, plan.output
    assert cli("api", "get", "/version", *ro).exit_code == 0
    # Global options anywhere: the same commands with --context before the command.
    assert cli("--context", "prod", "--workspace", str(ws), "vm", "stop", "web-1", "-y").exit_code == 5
    # Another context writes again.
    assert cli("config", "set-context", "lab").exit_code == 0
    assert cli("vm", "start", "db-1", "-y", "--context", "lab").exit_code == 0


def test_flag_errors_name_the_flag(cluster, cli):
    bad = cli("vm", "list", "-o", "xml")
    assert bad.exit_code == 64 and "-o/--output" in bad.stderr
    limit = cli("vm", "list", "--limit", "0")
    assert limit.exit_code == 64 and "--limit" in limit.stderr
    selector = cli("vm", "list", "-l", "tag in")
    assert selector.exit_code == 64 and "Invalid value for -l/--selector: Bad selector term" in selector.stderr
    late = cli("vm", "list", "--for", "x")
    assert late.exit_code == 64 and "--for" in late.stderr
