"""kubectl-style JSONPath templates and paths (output/jsonpath.py), table-driven."""

from __future__ import annotations

import pytest

from proxmox_mpc.errors import UsageError
from proxmox_mpc.output.jsonpath import parse_path, parse_template

GUESTS = [
    {"vmid": 101, "name": "web-1", "status": "running", "tags": ["prod", "web"], "memory": 2048,
     "cpus": 2.0, "pool": "prod", "guests": {"vms": 3}},
    {"vmid": 103, "name": "db-1", "status": "stopped", "tags": ["db"], "memory": 8192, "cpus": 4.0,
     "pool": None, "guests": {"vms": 1}},
]
LIST = {"kind": "List", "items": GUESTS}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{.items[*].name}", "web-1 db-1"),
        ("{.items[0].vmid}", "101"),
        ("{.items[-1].name}", "db-1"),
        ("{.items[1:].name}", "db-1"),
        ("{.items[0].tags[0]}", "prod"),
        ("{.items[*].tags[*]}", "prod web db"),
        ('{range .items[*]}{.vmid}{"\\t"}{.name}{"\\n"}{end}', "101\tweb-1\n103\tdb-1\n"),
        ("{range .items[*]}[{.name}]{end}", "[web-1][db-1]"),
        ("{.items[?(@.status=='running')].name}", "web-1"),
        ('{.items[?(@.memory > 4096)].vmid}', "103"),
        ("{.items[?(@.pool)].name}", "web-1"),
        ("{..vms}", "3 1"),
        ("{.items[0].cpus}", "2"),
        ("{.items[0].tags}", '["prod","web"]'),
        ("{.items[0]['name','vmid']}", "web-1 101"),
        ("{.items[0].nosuch}", ""),
        ("{.kind}: {.items[0].guests.vms}", "List: 3"),
        (".items[*].vmid", "101 103"),
        ("{range .items[*]}{$.kind}/{.vmid} {end}", "List/101 List/103 "),
    ],
)
def test_templates_render_like_kubectl(template, expected):
    assert parse_template(template).render(LIST) == expected


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{.items[*].name", "'{' without its '}'"),
        ("{range .items[*]}{.name}", "{range} without {end}"),
        ("{.name}{end}", "{end} without {range}"),
        ("{.items[x]}", "Bad index [x]"),
        ("{.items[?(@.a == running)]}", "quote strings"),
        ("{.items[0}", "'[' without its ']'"),
        ("{}", "an empty {}"),
        ("", "Empty template"),
        ("{.a b}", "unexpected ' '"),
    ],
)
def test_bad_templates_are_usage_errors(template, message):
    with pytest.raises(UsageError) as info:
        parse_template(template)
    assert message in str(info.value)
    assert info.value.exit_code == 64


def test_paths_relaxed_and_single():
    assert parse_path("tags[0]").find(GUESTS[0]) == ["prod"]
    assert parse_path(".guests.vms").find(GUESTS[1]) == [1]
    assert parse_path("tags[0]").single and not parse_path(".tags[*]").single
