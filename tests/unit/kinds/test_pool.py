"""Pool: its manifest, diff, requests and references, and how apply orders changes by references (pure)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from proxmox_mpc.core.ordering import order_changes
from proxmox_mpc.core.plan import Change, FieldChange
from proxmox_mpc.kinds.base import Resource
from proxmox_mpc.kinds.plan import change_references, diff_resources, missing_references
from proxmox_mpc.kinds.pool import KIND, PoolManifest
from proxmox_mpc.kinds.vm import KIND as VM


def pool(name: str, **spec: object) -> PoolManifest:
    return PoolManifest.model_validate({"kind": "Pool", "name": name, "spec": spec})


def seen(name: str, comment: str | None = None) -> Resource:
    return Resource(kind="pool", id=name, data={"comment": comment})


@pytest.mark.parametrize(
    "name", ["prod", "a-b_c.d", "prod/web", "a/b/c"], ids=["plain", "punctuation", "nested", "deepest"]
)
def test_pool_ids_pve_accepts(name):
    assert pool(name).address == f"pool/{name}"


@pytest.mark.parametrize("name", ["1prod", "a b", "a/b/c/d", "a//b", "", "-x"])
def test_pool_ids_pve_refuses(name):
    with pytest.raises(ValidationError):
        pool(name)


@pytest.mark.parametrize(
    ("manifest", "observed", "action", "fields"),
    [
        (pool("prod", comment="x"), None, "create", [("comment", None, "x")]),
        (pool("prod"), None, "create", []),
        (pool("prod"), seen("prod", "hand-made"), None, []),
        (pool("prod", comment="x"), seen("prod", "x"), None, []),
        (pool("prod", comment=""), seen("prod"), None, []),
        (pool("prod", comment="y"), seen("prod", "x"), "update", [("comment", "x", "y")]),
        (pool("prod", comment=""), seen("prod", "x"), "update", [("comment", "x", "")]),
        (pool("prod", state="absent"), seen("prod"), "delete", [("state", "present", "absent")]),
        (pool("prod", state="absent"), None, None, []),
    ],
    ids=["create", "create-bare", "unmanaged-comment", "same", "empty-is-none", "update", "clear", "delete", "gone"],
)
def test_diff(manifest, observed, action, fields):
    change = KIND.diff(manifest, observed)
    if action is None:
        assert change is None
        return
    assert change is not None and change.action == action and change.kind == "pool" and change.node == ""
    assert [(f.name, f.old, f.new) for f in change.fields] == fields


def test_ignore_changes_leaves_the_comment_alone():
    manifest = PoolManifest.model_validate(
        {"kind": "Pool", "name": "prod", "lifecycle": {"ignore_changes": ["comment"]}, "spec": {"comment": "y"}}
    )
    assert KIND.diff(manifest, seen("prod", "x")) is None


@pytest.mark.parametrize(
    ("action", "requests"),
    [
        ("create", [("POST", "/pools", {"poolid": "prod", "comment": "x"})]),
        ("update", [("PUT", "/pools", {"poolid": "prod", "comment": "x"})]),
        ("delete", [("DELETE", "/pools", {"poolid": "prod"})]),
    ],
)
def test_requests(action, requests):
    change = Change(address="pool/prod", kind="pool", action=action, fields=[FieldChange(name="comment", new="x")])
    assert [(r.method, r.path, r.params) for r in KIND.requests(change)] == requests


def test_a_cleared_comment_is_sent_empty():
    change = Change(address="pool/prod", kind="pool", action="update", fields=[FieldChange(name="comment", old="x")])
    assert KIND.requests(change)[0].params == {"poolid": "prod", "comment": ""}


def test_references_of_a_guest_and_a_nested_pool_must_exist_or_be_described():
    guest = VM.model.model_validate({"kind": "VM", "name": "web-1", "node": "pve1", "spec": {"pool": "prod"}})
    nested = pool("prod/web")
    observed = {"pool": [seen("other")]}
    missing = missing_references([guest, nested], observed, described=set())
    assert [(m.address, r.address, r.loc) for m, r in missing] == [
        ("vm/web-1", "pool/prod", ("spec", "pool")),
        ("pool/prod/web", "pool/prod", ("name",)),
    ]
    assert missing_references([guest, nested], observed, described={"pool/prod"}) == []
    # A kind that could not be read is not judged.
    assert missing_references([guest], {}, described=set()) == []


def test_diff_resources_refuses_a_kind_it_could_not_read():
    with pytest.raises(ValueError, match="/pools could not be read"):
        diff_resources([pool("prod")], {})


def _guest(action: str, pool_old: str | None = None, pool_new: str | None = None) -> Change:
    fields = [FieldChange(name="pool", old=pool_old, new=pool_new)] if pool_old or pool_new else []
    return Change(address="vm/web-1", kind="vm", vmid=101, node="pve1", action=action, fields=fields)


def _stages(changes: list[Change]) -> list[list[str]]:
    return [[c.address for c in stage] for stage in order_changes(changes, change_references(changes))]


def test_a_pool_is_created_before_a_guest_joins_it_and_deleted_after_members_leave():
    create = Change(address="pool/prod", kind="pool", action="create")
    assert _stages([_guest("update", pool_new="prod"), create]) == [["pool/prod"], ["vm/web-1"]]
    delete = Change(address="pool/prod", kind="pool", action="delete")
    assert _stages([delete, _guest("update", pool_old="prod")]) == [["vm/web-1"], ["pool/prod"]]
    # A deleted guest says nothing of its pool: it goes before any pool the plan deletes.
    assert _stages([delete, _guest("delete")]) == [["vm/web-1"], ["pool/prod"]]
    # A nested pool waits for its parent, and is deleted before it.
    child = Change(address="pool/prod/web", kind="pool", action="create")
    assert _stages([child, create]) == [["pool/prod"], ["pool/prod/web"]]
    gone = Change(address="pool/prod/web", kind="pool", action="delete")
    assert _stages([delete, gone]) == [["pool/prod/web"], ["pool/prod"]]
