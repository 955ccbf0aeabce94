"""`pmpc vm|ct list | get | describe` and `snapshot list` against the fakepve fixture cluster."""

from __future__ import annotations

import json
import re

import pytest

from tests.helpers.output_docs import documented_objects


def _gets(pve):
    return [(m, p) for m, p, _ in pve.requests]


def test_vm_list_reads_cluster_resources_once_and_includes_templates(cluster, cli):
    cluster.requests.clear()
    result = cli("vm", "list", "-o", "json")
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    guests = json.loads(result.stdout)
    assert [g["vmid"] for g in guests] == [101, 102, 103, 104, 9000]
    assert {g["kind"] for g in guests} == {"vm"}
    template = next(g for g in guests if g["vmid"] == 9000)
    assert template["template"] is True and template["name"] == "ubuntu-tmpl"
    web1 = guests[0]
    assert web1["tags"] == ["prod", "web"] and web1["pool"] == "prod" and web1["node"] == "pve1"
    assert _gets(cluster) == [("GET", "/api2/json/cluster/resources")]


def test_vm_list_table_has_template_column_and_no_headers(cluster, cli):
    table = cli("vm", "list")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == [
        "VMID",
        "NAME",
        "STATUS",
        "NODE",
        "CPUS",
        "MEMORY",
        "DISK",
        "TEMPLATE",
        "TAGS",
    ]
    row = next(line.split() for line in lines if line.startswith("9000"))
    assert row[1] == "ubuntu-tmpl" and "true" in row
    bare = cli("vm", "list", "--no-headers")
    assert bare.exit_code == 0
    assert [line.split() for line in bare.stdout.splitlines()] == [line.split() for line in lines[1:]]
    wide = cli("vm", "list", "-o", "wide")
    assert "POOL" in wide.stdout.splitlines()[0] and "LOCK" in wide.stdout.splitlines()[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("-l", "template=false"), [101, 102, 103, 104]),
        (("-l", "tag=web"), [101, 102]),
        (("-l", "tag!=web,template=false"), [103, 104]),
        (("-l", "name=web-*"), [101, 102]),
        (("-l", "pool=prod,status=running"), [101, 102]),
        (("--node", "pve2"), [102, 103]),
        (("--status", "stopped"), [103, 9000]),
        (("--sort-by", "name", "--limit", "2"), [104, 103]),
        (("-l", "tag in (web,db)"), [101, 102, 103]),
        (("-l", "tag notin (web,db),!template"), [104]),
        (("-l", "!pool", "-l", "status=stopped"), [103, 9000]),
        (("-l", "pool", "-l", "node in (pve2)"), [102]),
        (("--sort-by", ".node"), [101, 9000, 102, 103, 104]),
        (("--sort-by", "memory", "-l", "template=false"), [104, 101, 102, 103]),
    ],
    ids=[
        "no-templates", "tag", "not-tag-and", "name-glob", "pool-status", "node", "status", "sort-limit",
        "tag-in", "tag-notin", "repeated-l", "exists-and-set", "sort-dotted", "sort-memory",
    ],
)
def test_vm_list_filters(cluster, cli, args, expected):
    result = cli("vm", "list", *args, "-o", "json")
    assert result.exit_code == 0, result.output
    assert [g["vmid"] for g in json.loads(result.stdout)] == expected


def test_list_name_yaml_and_empty(cluster, cli):
    names = cli("ct", "list", "-o", "name")
    assert names.exit_code == 0, names.output
    assert names.stdout == "ct/201\nct/202\n"
    yaml_out = cli("ct", "list", "-o", "yaml")
    assert "hostname" not in yaml_out.stdout and "name: dns-1" in yaml_out.stdout
    empty = cli("vm", "list", "-l", "tag=nothing", "-o", "json")
    assert empty.exit_code == 0
    assert json.loads(empty.stdout) == []
    assert empty.stderr == "No VMs found.\n"


def test_bad_selector_is_usage_error(cluster, cli):
    result = cli("vm", "list", "-l", "color=blue")
    assert result.exit_code == 64
    assert result.stdout == ""
    assert "Unknown selector key 'color'" in result.stderr


def test_get_by_vmid_and_name(cluster, cli):
    by_id = cli("vm", "get", "101", "-o", "json")
    assert by_id.exit_code == 0, by_id.output
    assert json.loads(by_id.stdout)["name"] == "web-1"
    by_name = cli("ct", "get", "cache-1", "-o", "name")
    assert by_name.stdout == "ct/202\n"
    several = cli("vm", "get", "web-1", "103", "-o", "json")
    assert [g["vmid"] for g in json.loads(several.stdout)] == [101, 103]


def test_unknown_guest_is_6_and_wrong_kind_says_so(cluster, cli):
    unknown = cli("vm", "get", "nope")
    assert unknown.exit_code == 6
    assert unknown.stdout == ""
    assert "No VM named 'nope'" in unknown.stderr
    wrong = cli("vm", "get", "201")
    assert wrong.exit_code == 6
    assert "201 is a container, not a VM" in wrong.stderr


def test_ambiguous_name_is_usage_error_listing_matches(cluster, cli):
    cluster.add_vm(150, "web-1", node="pve3")
    result = cli("vm", "start", "web-1", "-y")
    assert result.exit_code == 64
    assert result.stdout == ""
    assert "matches 2 VMs (vm/101 on pve1, vm/150 on pve3)" in result.stderr


def test_describe_vm_composes_everything(cluster, cli):
    vm = cluster.vm(101)
    vm.agent = {}
    vm.pending["memory"] = 4096
    vm.snapshots["before"] = {"snaptime": 1700000000, "description": "pre-upgrade"}
    result = cli("vm", "describe", "web-1", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["vmid"] == 101 and data["status"] == "running" and data["qmp_status"] == "running"
    assert data["config"]["cores"] == 2 and "digest" not in data["config"] and data["digest"]
    assert {"key": "memory", "value": "2048", "pending": 4096, "delete": False} in [
        {**p, "value": str(p["value"])} for p in data["pending"]
    ]
    assert [s["name"] for s in data["snapshots"]] == ["before"]
    assert data["agent"] is True
    assert data["ip_addresses"] == ["192.0.2.10/24"]
    assert isinstance(data["tasks"], list)
    table = cli("vm", "describe", "101")
    assert table.exit_code == 0
    assert "Ip addresses:" in table.stdout and "192.0.2.10/24" in table.stdout


def test_describe_ct_shows_interfaces(cluster, cli):
    result = cli("ct", "describe", "dns-1", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kind"] == "ct" and data["config"]["hostname"] == "dns-1"
    assert data["ip_addresses"] == []  # dhcp: no static address known to the fake


def test_snapshot_list(cluster, cli):
    cluster.vm(103).snapshots["s1"] = {"snaptime": 1700000000, "description": "first"}
    result = cli("vm", "snapshot", "list", "db-1", "-o", "json")
    assert result.exit_code == 0, result.output
    snaps = json.loads(result.stdout)
    assert [(s["name"], s["description"]) for s in snaps] == [("s1", "first")]
    empty = cli("ct", "snapshot", "list", "201")
    assert empty.exit_code == 0
    assert empty.stdout == ""
    assert empty.stderr == "No snapshots found.\n"


def test_jsonpath_and_custom_columns_with_indices(cluster, cli):
    names = cli("vm", "list", "-l", "tag in (web,db)", "-o", "jsonpath={.items[*].name}")
    assert names.exit_code == 0, names.output
    assert names.stdout == "web-1 web-2 db-1"
    rows = cli("vm", "list", "-l", "!template", "-o", 'jsonpath={range .items[*]}{.vmid}:{.tags[0]}{"\\n"}{end}')
    assert rows.stdout == "101:prod\n102:prod\n103:db\n104:batch\n"
    one = cli("vm", "get", "101", "-o", "jsonpath={.name} {.tags[1]}")
    assert one.stdout == "web-1 web"
    table = cli("vm", "list", "-l", "vmid in (101,103)", "-o", "custom-columns=ID:.vmid,TAG:.tags[0]")
    assert [line.split() for line in table.stdout.splitlines()] == [["ID", "TAG"], ["101", "prod"], ["103", "db"]]


@pytest.mark.parametrize("field", ["nosuch", "mem"])
def test_sort_by_unknown_field_is_64_naming_the_fields(cluster, cli, field):
    result = cli("vm", "list", "--sort-by", field)
    assert result.exit_code == 64
    assert result.stdout == ""
    assert f"--sort-by: unknown field '{field}'" in result.stderr
    assert "memory" in result.stderr and "vmid" in result.stderr


def test_output_choices_are_per_command(cluster, cli):
    verb = cli("vm", "start", "101", "-y", "-o", "custom-columns=A:.vmid")
    assert verb.exit_code == 64
    assert "-o/--output" in verb.stderr and "this command takes table, json, yaml, name or jsonpath" in verb.stderr
    assert "custom-columns" not in cli("vm", "start", "--help").stdout
    plan_help = cli("plan", "--help").stdout
    assert "custom-columns" not in plan_help and "wide" not in plan_help
    bad_template = cli("vm", "list", "-o", "jsonpath={.items[0")
    assert bad_template.exit_code == 64 and "-o/--output" in bad_template.stderr


RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def test_json_keys_are_the_documented_ones_and_times_rfc3339(cluster, cli):
    """What `get`, `list`, `describe`, `snapshot list`, `task list` and a batch print is what docs/output.md lists."""
    docs = {title: set(keys) for title, keys in documented_objects().items()}
    cluster.vm(103).snapshots["before"] = {"snaptime": 1700000000, "description": "pre-upgrade"}
    started = json.loads(cli("vm", "start", "103", "-y", "-o", "json").stdout)
    assert set(started[0]) == docs["Batch result"] - {"dry_run", "requests"}
    got = json.loads(cli("vm", "get", "103", "-o", "json").stdout)
    listed = json.loads(cli("ct", "list", "-o", "json").stdout)
    assert set(got) == docs["Guest"] and all(set(g) == docs["Guest"] for g in listed)
    described = json.loads(cli("vm", "describe", "103", "-o", "json").stdout)
    assert set(described) == docs["Guest description"]
    assert described["ha_state"] == got["ha_state"]
    assert {set(s) == docs["Snapshot"] for s in described["snapshots"]} == {True}
    assert described["tasks"] and all(set(t) == docs["Task"] for t in described["tasks"])
    snaps = json.loads(cli("vm", "snapshot", "list", "103", "-o", "json").stdout)
    assert set(snaps[0]) == docs["Snapshot"] and snaps[0]["snapshot_time"] == "2023-11-14T22:13:20Z"
    tasks = json.loads(cli("task", "list", "-o", "json").stdout)
    assert tasks and all(set(t) == docs["Task"] for t in tasks)
    assert all(RFC3339.fullmatch(t["start_time"]) and RFC3339.fullmatch(t["end_time"]) for t in tasks)
    table = cli("vm", "snapshot", "list", "103")
    assert "2023-11-14 22:13:20Z" in table.stdout
