"""Printers: custom-columns with indices, strict --sort-by, jsonpath, -o choices, --no-headers spacing."""

from __future__ import annotations

import io

import pytest

from proxmox_mpc.core.models import Guest
from proxmox_mpc.errors import UsageError
from proxmox_mpc.output.printers import (
    RESULT_FORMATS,
    Column,
    check_format,
    model_fields,
    print_details,
    print_list,
    sort_records,
)

RECORDS = [
    {"name": "web-1", "memory": 2048, "tags": ["prod", "web"], "guests": {"vms": 3}},
    {"name": "db-1", "memory": 8192, "tags": ["db"], "guests": {"vms": 1}},
    {"name": "cache-1", "memory": 512, "tags": [], "guests": {"vms": 2}},
]


def _print(fmt, records=RECORDS, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    print_list(out, err, records, fmt=fmt, columns=(Column("NAME", "name"), Column("MEM", "memory")),
               plural="things", **kwargs)
    return out.getvalue(), err.getvalue()


def test_custom_columns_take_indices_and_wildcards():
    out, _ = _print("custom-columns=NAME:.name,FIRST-TAG:.tags[0],ALL:.tags[*]")
    assert out.splitlines() == [
        "NAME     FIRST-TAG    ALL",
        "web-1    prod         prod,web",
        "db-1     db           db",
        "cache-1  -            -",
    ]


@pytest.mark.parametrize(
    ("field", "names"),
    [
        ("memory", ["cache-1", "web-1", "db-1"]),
        (".name", ["cache-1", "db-1", "web-1"]),
        ("guests.vms", ["db-1", "cache-1", "web-1"]),
        (".tags[0]", ["db-1", "web-1", "cache-1"]),
    ],
)
def test_sort_by_any_json_field(field, names):
    assert [r["name"] for r in sort_records(RECORDS, field)] == names


@pytest.mark.parametrize("field", ["mem", "nosuch", "guests.cts", ".tags[x]"])
def test_sort_by_unknown_field_is_usage_error_naming_the_fields(field):
    with pytest.raises(UsageError) as info:
        sort_records(RECORDS, field)
    assert info.value.exit_code == 64
    assert str(info.value).startswith("--sort-by: ")
    if field != ".tags[x]":
        assert "use one of name, memory, tags, guests" in str(info.value)


def test_sort_by_is_strict_for_an_empty_list_too():
    with pytest.raises(UsageError, match="unknown field 'mem'"):
        _print("json", records=[], sort_by="mem", model=Guest)
    out, err = _print("json", records=[], sort_by="memory", model=Guest)
    assert out == "[]\n" and err == "No things found.\n"
    assert "memory" in model_fields(Guest)


def test_jsonpath_wraps_a_list_as_kubectl_does():
    out, _ = _print('jsonpath={range .items[*]}{.name}={.memory}{"\\n"}{end}')
    assert out == "web-1=2048\ndb-1=8192\ncache-1=512\n"
    out, _ = _print("jsonpath={.kind} {.items[*].name}")
    assert out == "List web-1 db-1 cache-1"


def test_no_headers_keeps_the_column_spacing():
    table, _ = _print("table", records=[{"name": "a", "memory": 1}])
    bare, _ = _print("table", records=[{"name": "a", "memory": 1}], headers=False)
    assert table.splitlines()[1] == bare.splitlines()[0] == "a       1"


@pytest.mark.parametrize(
    ("fmt", "allowed", "ok"),
    [
        ("custom-columns=A:.a", RESULT_FORMATS, False),
        ("wide", RESULT_FORMATS, False),
        ("jsonpath={.a}", RESULT_FORMATS, True),
        ("jsonpath", RESULT_FORMATS, False),
        ("xml", RESULT_FORMATS, False),
        ("name", RESULT_FORMATS, True),
    ],
)
def test_check_format_names_the_flag_and_the_choices(fmt, allowed, ok):
    if ok:
        check_format(fmt, allowed)
        return
    with pytest.raises(UsageError) as info:
        check_format(fmt, allowed)
    assert "-o/--output" in str(info.value) and "table, json, yaml, name or jsonpath=TEMPLATE" in str(info.value)


def test_describe_keeps_proxmox_keys_as_they_are():
    out = io.StringIO()
    print_details(out, {"ip_addresses": ["192.0.2.1"], "config": {"net0": "virtio", "scsi0": "x"}})
    assert out.getvalue().splitlines() == ["Ip addresses:  192.0.2.1", "Config:", "  net0:   virtio", "  scsi0:  x"]
