"""services/demo/objects.py: the store the demo's front and the tests' fake share, checked against PVE's schema."""

from __future__ import annotations

import pytest
from fakepve import schema as pve_schema

from proxmox_mpc.services.demo.front import _params
from proxmox_mpc.services.demo.objects import (
    BOOLEANS,
    COLLECTIONS,
    INTEGERS,
    TEMPLATES,
    ObjectError,
    ObjectStore,
    match_path,
)


def _typed_parameters(kind: str) -> dict[str, set[str]]:
    """The parameters PVE's schema types as `kind` in each collection's (and the ACL's) writes."""
    found: dict[str, set[str]] = {}
    for template in TEMPLATES:
        collection = COLLECTIONS[template][0] if template in COLLECTIONS else "acl"
        for method, info in pve_schema.load().paths[template].items():
            if method == "GET":
                continue
            props = (info.get("parameters") or {}).get("properties", {})
            names = {name for name, prop in props.items() if prop.get("type") == kind}
            if names:
                found.setdefault(collection, set()).update(names)
    return found


def test_the_typed_parameters_are_pves():
    # The store types what the client sent as text the way the schema check does: every integer and
    # boolean parameter of PVE 9's schema, and nothing else.
    assert {c: set(names) for c, names in INTEGERS.items()} == _typed_parameters("integer")
    assert {c: set(names) for c, names in BOOLEANS.items()} == _typed_parameters("boolean")
    assert _typed_parameters("number") == {}


def test_every_template_is_in_pves_schema():
    assert all(template in pve_schema.load().paths for template in TEMPLATES)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/cluster/backup", ("/cluster/backup", {})),
        ("/cluster/backup/nightly", ("/cluster/backup/{id}", {"id": "nightly"})),
        ("/cluster/ha/resources/vm%3A101", ("/cluster/ha/resources/{sid}", {"sid": "vm:101"})),
        ("/access/users/alice%40pve", ("/access/users/{userid}", {"userid": "alice@pve"})),
        ("/access/acl", ("/access/acl", {})),
        ("/access/users/alice@pve/token/ci", None),
        ("/cluster/backup/", ("/cluster/backup", {})),  # a trailing slash names the list, as in fakepve
        ("/cluster/firewall/rules", None),
        ("/nodes/pve1/qemu", None),
    ],
)
def test_match_path_names_the_stored_objects_only(path, expected):
    assert match_path(path) == expected


def test_text_from_the_client_is_stored_as_the_schema_types_it():
    store = ObjectStore(new_backup_id=lambda: "backup-00000001")
    store.answer("/cluster/backup", "POST", {"schedule": "02:30", "vmid": "101", "all": "0", "zstd": "2"})
    [job] = store.answer("/cluster/backup", "GET", {})
    assert job == {"id": "backup-00000001", "schedule": "02:30", "vmid": "101", "all": 0, "zstd": 2}
    with pytest.raises(ObjectError) as missing:
        store.answer("/cluster/backup/{id}", "DELETE", {"id": "nosuch"})
    assert (missing.value.status, missing.value.message) == (500, "job 'nosuch' does not exist")


def test_request_parameters_are_read_as_pve_reads_them():
    assert _params([("a", "1")], b"b=2&b=3&c=", "application/x-www-form-urlencoded") == {
        "a": "1",
        "b": ["2", "3"],
        "c": "",
    }
    assert _params([], b'{"id": "x", "all": 1}', "application/json") == {"id": "x", "all": 1}
    assert _params([("a", "1")], b"[1]", "application/json") == {"a": "1"}
