"""Users, groups, roles and ACL entries end to end against the stateful fake (tests/helpers/cluster_objects.py):
import, plan, apply (ordered by references), destroy, protection, references, the password kept out of everything."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers.cluster_objects import enable_cluster_objects

PASSWORD = "Secret-Alice-4711"


@pytest.fixture
def pve(cluster: Any) -> Any:
    """The fixture cluster with an ops group, alice in it, a custom role and two ACL entries."""
    pve = enable_cluster_objects(cluster)
    pve.objects("groups")["ops"] = {"comment": "Operations"}
    pve.objects("users")["alice@pve"] = {
        "enable": 1,
        "expire": 0,
        "firstname": "Alice",
        "email": "alice@example.com",
        "groups": "ops",
    }
    pve.objects("roles")["Auditors"] = {"privs": ["Sys.Audit", "VM.Audit"]}
    pve.acl_entries().extend(
        [
            {"path": "/pool/prod", "type": "user", "ugid": "alice@pve", "roleid": "Auditors", "propagate": 1},
            {"path": "/", "type": "group", "ugid": "ops", "roleid": "PVEVMAdmin", "propagate": 0},
        ]
    )
    return pve


def _workspace(cli: Any, work: Path) -> Path:
    assert cli("init", str(work / "infra"), "--name", "infra").exit_code == 0
    ws = work / "infra"
    result = cli("--workspace", str(ws), "sync", "--import")
    assert result.exit_code == 0, result.output
    return ws


def _writes_since(pve: Any, start: int) -> list[tuple[str, str]]:
    return [(m, p.removeprefix("/api2/json")) for m, p, _ in pve.requests[start:] if m != "GET"]


def _plan(cli: Any, ws: Path) -> list[dict[str, Any]]:
    result = cli("--workspace", str(ws), "plan", "-o", "json")
    assert result.exit_code == 0, result.output
    changes: list[dict[str, Any]] = json.loads(result.stdout)["changes"]
    return changes


def _empty_plan(cli: Any, ws: Path) -> None:
    result = cli("--workspace", str(ws), "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output


def test_import_writes_one_manifest_per_object_leaves_built_ins_out_and_plans_nothing(pve, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    access = ws / "resources" / "access"
    assert sorted(p.name for p in access.iterdir()) == [
        "acl-pool-prod-user-alice_pve-Auditors.yaml",
        "acl-root-group-ops-PVEVMAdmin.yaml",
        "group-ops.yaml",
        "role-Auditors.yaml",
        "user-alice_pve.yaml",
    ]
    assert yaml.safe_load((access / "user-alice_pve.yaml").read_text()) == {
        "kind": "User",
        "name": "alice@pve",
        "spec": {"enable": True, "firstname": "Alice", "email": "alice@example.com", "groups": ["ops"]},
    }
    assert yaml.safe_load((access / "role-Auditors.yaml").read_text()) == {
        "kind": "Role",
        "name": "Auditors",
        "spec": {"privileges": ["Sys.Audit", "VM.Audit"]},
    }
    assert yaml.safe_load((access / "acl-root-group-ops-PVEVMAdmin.yaml").read_text()) == {
        "kind": "ACL",
        "name": "root:group:ops:PVEVMAdmin",
        "spec": {"path": "/", "type": "group", "ugid": "ops", "role": "PVEVMAdmin", "propagate": False},
    }
    _empty_plan(cli, ws)


def test_edits_of_each_kind_plan_exactly_that_apply_and_plan_empty(pve, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    access = ws / "resources" / "access"
    user = access / "user-alice_pve.yaml"
    user.write_text(user.read_text().replace("alice@example.com", "alice@corp.example"))
    (access / "group-ops.yaml").write_text("kind: Group\nname: ops\nspec:\n  comment: Ops team\n")
    role = access / "role-Auditors.yaml"
    role.write_text("kind: Role\nname: Auditors\nspec:\n  privileges: [VM.Audit, Sys.Audit, Datastore.Audit]\n")
    acl = access / "acl-root-group-ops-PVEVMAdmin.yaml"
    acl.write_text(acl.read_text().replace("propagate: false", "propagate: true"))
    changes = _plan(cli, ws)
    assert [(c["address"], c["kind"], c["action"], c["fields"]) for c in changes] == [
        ("acl/root:group:ops:PVEVMAdmin", "acl", "update", [_field("propagate", "0", "1")]),
        ("group/ops", "group", "update", [_field("comment", "Operations", "Ops team")]),
        (
            "role/Auditors",
            "role",
            "update",
            [_field("privs", "Sys.Audit,VM.Audit", "Datastore.Audit,Sys.Audit,VM.Audit")],
        ),
        ("user/alice@pve", "user", "update", [_field("email", "alice@example.com", "alice@corp.example")]),
    ]
    text = cli("--workspace", str(ws), "plan").stdout
    assert "  ~ user/alice@pve\n      ~ email: alice@example.com -> alice@corp.example\n" in text, text
    before = len(pve.requests)
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert sorted(_writes_since(pve, before)) == [
        ("PUT", "/access/acl"),
        ("PUT", "/access/groups/ops"),
        ("PUT", "/access/roles/Auditors"),
        ("PUT", "/access/users/alice@pve"),
    ]
    assert pve.objects("users")["alice@pve"]["email"] == "alice@corp.example"
    assert pve.objects("roles")["Auditors"]["privs"] == ["Datastore.Audit", "Sys.Audit", "VM.Audit"]
    assert pve.acl_entries()[-1]["propagate"] == 1
    _empty_plan(cli, ws)


def _field(name: str, old: str | None, new: str | None) -> dict[str, Any]:
    return {"name": name, "old": old, "new": new, "needs_reboot": False}


def test_group_membership_lives_on_the_user_and_is_a_set(pve, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    (ws / "resources" / "access" / "group-dev.yaml").write_text("kind: Group\nname: dev\n")
    user = ws / "resources" / "access" / "user-alice_pve.yaml"
    doc = yaml.safe_load(user.read_text())
    doc["spec"]["groups"] = ["ops", "dev"]
    user.write_text(yaml.safe_dump(doc, sort_keys=False))
    changes = _plan(cli, ws)
    assert [(c["address"], c["action"]) for c in changes] == [("group/dev", "create"), ("user/alice@pve", "update")]
    assert changes[1]["fields"] == [_field("groups", "ops", "dev,ops")]
    before = len(pve.requests)
    assert cli("--workspace", str(ws), "apply", "-y").exit_code == 0
    writes = _writes_since(pve, before)
    assert writes.index(("POST", "/access/groups")) < writes.index(("PUT", "/access/users/alice@pve"))
    _empty_plan(cli, ws)
    # No groups at all: the user leaves both.
    doc["spec"]["groups"] = []
    user.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert [c["fields"] for c in _plan(cli, ws)] == [[_field("groups", "dev,ops", "")]]
    assert cli("--workspace", str(ws), "apply", "-y").exit_code == 0
    assert pve.objects("users")["alice@pve"]["groups"] == ""
    _empty_plan(cli, ws)


def _new_objects(ws: Path) -> None:
    access = ws / "resources" / "access"
    (access / "new-group.yaml").write_text("kind: Group\nname: auditors\nspec:\n  comment: Read only\n")
    (access / "new-role.yaml").write_text("kind: Role\nname: Reader\nspec:\n  privileges: [VM.Audit]\n")
    (access / "new-user.yaml").write_text(
        "kind: User\nname: bob@pve\nspec:\n  lastname: Builder\n  groups: [auditors]\n  password_env: BOB_PASSWORD\n"
    )
    (access / "new-acl.yaml").write_text(
        "kind: ACL\nspec:\n  path: /vms/101\n  type: user\n  ugid: bob@pve\n  role: Reader\n"
    )


def test_new_objects_are_created_in_reference_order_and_destroyed_in_reverse(pve, cli, tmp_path, monkeypatch):
    ws = _workspace(cli, tmp_path)
    _new_objects(ws)
    monkeypatch.setenv("BOB_PASSWORD", PASSWORD)
    plan = cli("--workspace", str(ws), "plan", "-o", "json")
    assert plan.exit_code == 0, plan.output
    changes = json.loads(plan.stdout)["changes"]
    assert [(c["address"], c["action"]) for c in changes] == [
        ("acl/vms/101:user:bob@pve:Reader", "create"),
        ("group/auditors", "create"),
        ("role/Reader", "create"),
        ("user/bob@pve", "create"),
    ]
    user = next(c for c in changes if c["kind"] == "user")
    assert {f["name"]: f["new"] for f in user["fields"]} == {
        "enable": "1",
        "groups": "auditors",
        "lastname": "Builder",
        "password_env": "BOB_PASSWORD",
    }
    before = len(pve.requests)
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    writes = _writes_since(pve, before)
    assert writes.index(("POST", "/access/groups")) < writes.index(("POST", "/access/users"))
    assert writes.index(("POST", "/access/roles")) < writes.index(("PUT", "/access/acl"))
    assert writes.index(("POST", "/access/users")) < writes.index(("PUT", "/access/acl"))
    # The password reached PVE from the environment, and nowhere else.
    assert pve.passwords() == {"bob@pve": PASSWORD}
    assert "password" not in pve.objects("users")["bob@pve"]
    assert PASSWORD not in result.output + plan.output
    _empty_plan(cli, ws)

    # pmpc created them: destroy deletes them, the ACL entry before its role and user (PVE takes a deleted
    # group out of its users' groups itself, so the group and the user go in any order).
    before = len(pve.requests)
    targets = ["acl/vms/101:user:bob@pve:Reader", "user/bob@pve", "role/Reader", "group/auditors"]
    result = cli("--workspace", str(ws), "destroy", *targets, "-y")
    assert result.exit_code == 0, result.output
    assert "Destroy complete: 4 of 4 resource(s) destroyed." in result.stdout
    writes = _writes_since(pve, before)
    assert len(writes) == 4
    assert writes.index(("PUT", "/access/acl")) < writes.index(("DELETE", "/access/roles/Reader"))
    assert writes.index(("PUT", "/access/acl")) < writes.index(("DELETE", "/access/users/bob@pve"))
    assert "bob@pve" not in pve.objects("users") and "Reader" not in pve.objects("roles")
    assert not [e for e in pve.acl_entries() if e["ugid"] == "bob@pve"]


def test_the_password_never_reaches_state_plan_files_or_generated_files(pve, cli, tmp_path, monkeypatch):
    ws = _workspace(cli, tmp_path)
    _new_objects(ws)
    monkeypatch.setenv("BOB_PASSWORD", PASSWORD)
    plan_file = tmp_path / "plan.json"
    assert cli("--workspace", str(ws), "plan", "--out", str(plan_file)).exit_code == 0
    result = cli("--workspace", str(ws), "apply", str(plan_file), "--debug")
    assert result.exit_code == 0, result.output
    assert pve.passwords() == {"bob@pve": PASSWORD}
    assert cli("--workspace", str(ws), "sync").exit_code == 0
    for what in ("terraform", "ansible"):
        made = cli("--workspace", str(ws), "generate", what)
        assert made.exit_code == 0, made.output
    generated = {p: p.read_bytes() for p in ws.rglob("*") if p.is_file()}
    assert any(p.name == "state.db" for p in generated)
    leaks = [str(p) for p, data in generated.items() if PASSWORD.encode() in data]
    assert leaks == []
    assert PASSWORD not in plan_file.read_text() + result.output
    terraform = (ws / "terraform" / "access.tf").read_text()
    assert re.search(r"\n  password += var\.bob_password\n", terraform), terraform
    assert 'variable "bob_password"' in (ws / "terraform" / "variables.tf").read_text()
    assert "sensitive   = true" in (ws / "terraform" / "variables.tf").read_text()
    assert "lookup('ansible.builtin.env', 'BOB_PASSWORD')" in (ws / "ansible" / "provision.yml").read_text()


def test_an_unset_password_variable_stops_the_apply_before_any_request(pve, cli, tmp_path, monkeypatch):
    ws = _workspace(cli, tmp_path)
    _new_objects(ws)
    monkeypatch.delenv("BOB_PASSWORD", raising=False)
    before = len(pve.requests)
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code != 0
    assert "user/bob@pve: the environment variable BOB_PASSWORD (spec.password_env) is not set" in result.output
    # The check runs before anything is sent: not even the user's group is created.
    assert _writes_since(pve, before) == []
    assert "bob@pve" not in pve.objects("users")


@pytest.mark.parametrize(
    ("file", "text", "field", "message"),
    [
        (
            "user.yaml",
            "kind: User\nname: carol@pve\nspec:\n  groups: [nope]\n",
            "spec.groups[0]",
            "no Group 'nope' in the cluster or the workspace (resources/access/)",
        ),
        (
            "acl.yaml",
            "kind: ACL\nspec:\n  path: /\n  type: user\n  ugid: nobody@pve\n  role: PVEAuditor\n",
            "spec.ugid",
            "no User 'nobody@pve'",
        ),
        (
            "acl.yaml",
            "kind: ACL\nspec:\n  path: /pool/nope\n  type: group\n  ugid: ops\n  role: Missing\n",
            "spec.role",
            "no Role 'Missing'",
        ),
        (
            "acl.yaml",
            "kind: ACL\nspec:\n  path: /pool/nope\n  type: group\n  ugid: ops\n  role: PVEAuditor\n",
            "spec.path",
            "no Pool 'nope'",
        ),
    ],
    ids=["user-group", "acl-user", "acl-role", "acl-pool"],
)
def test_a_reference_to_a_missing_object_is_a_validate_error_before_any_request(
    pve, cli, tmp_path, file, text, field, message
):
    ws = _workspace(cli, tmp_path)
    (ws / "resources" / "access" / file).write_text(text)
    result = cli("--workspace", str(ws), "validate")
    assert result.exit_code == 1, result.output
    assert f"{file}:" in result.stderr and f"{field}: {message}" in result.stderr, result.stderr
    before = len(pve.requests)
    assert cli("--workspace", str(ws), "apply", "-y").exit_code == 1
    assert _writes_since(pve, before) == []


def test_an_adopted_object_needs_allow_destroy(pve, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    role = ws / "resources" / "access" / "role-Auditors.yaml"
    role.write_text(role.read_text() + "  state: absent\n")
    before = len(pve.requests)
    result = cli("--workspace", str(ws), "plan")
    assert result.exit_code == 1, result.output
    assert "role/Auditors, which pmpc did not create" in result.stderr
    assert _writes_since(pve, before) == []
    role.write_text(role.read_text().replace("kind: Role\n", "kind: Role\nlifecycle: {allow_destroy: true}\n"))
    # The ACL entry that names the role goes first.
    acl = ws / "resources" / "access" / "acl-pool-prod-user-alice_pve-Auditors.yaml"
    acl.write_text(
        acl.read_text().replace("kind: ACL\n", "kind: ACL\nlifecycle: {allow_destroy: true}\n") + "  state: absent\n"
    )
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    writes = _writes_since(pve, before)
    assert writes == [("PUT", "/access/acl"), ("DELETE", "/access/roles/Auditors")]
    assert "Auditors" not in pve.objects("roles")


def test_manifests_refuse_built_ins_a_wrong_name_and_a_password_outside_the_pve_realm(pve, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    access = ws / "resources" / "access"
    (access / "root.yaml").write_text("kind: User\nname: root@pam\n")
    (access / "admin.yaml").write_text("kind: Role\nname: PVEVMAdmin\nspec:\n  privileges: [VM.Audit]\n")
    (access / "ldap.yaml").write_text("kind: User\nname: dave@corp\nspec:\n  password_env: DAVE_PW\n")
    (access / "acl.yaml").write_text(
        "kind: ACL\nname: vms/101:user:alice@pve:Auditors\nspec:\n  path: /vms/102\n  type: user\n"
        "  ugid: alice@pve\n  role: Auditors\n"
    )
    result = cli("--workspace", str(ws), "validate")
    assert result.exit_code == 1, result.output
    assert "root.yaml:2:7: name: root@pam is PVE's own superuser" in result.stderr, result.stderr
    assert "admin.yaml:2:7: name: 'PVEVMAdmin' is a role PVE ships" in result.stderr
    assert "ldap.yaml:1:1" in result.stderr and "password_env is for users of the pve realm" in result.stderr
    assert "does not spell the entry of the spec (vms/102:user:alice@pve:Auditors)" in result.stderr


def test_user_and_acl_list_and_get(pve, cli):
    result = cli("user", "list", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {
            "id": "alice@pve",
            "enable": True,
            "expire": None,
            "firstname": "Alice",
            "lastname": None,
            "email": "alice@example.com",
            "comment": None,
            "groups": "ops",
        }
    ]
    assert cli("user", "list", "-o", "name").stdout == "user/alice@pve\n"
    got = cli("user", "get", "alice@pve", "-o", "yaml")
    assert got.exit_code == 0 and yaml.safe_load(got.stdout)["email"] == "alice@example.com"
    assert cli("user", "get", "root@pam").exit_code == 6
    result = cli("acl", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "PATH        TYPE    UGID       ROLE        PROPAGATE",
        "/pool/prod  user    alice@pve  Auditors    true",
        "/           group   ops        PVEVMAdmin  false",
    ]
    assert cli("acl", "list", "-o", "name").stdout.splitlines() == [
        "acl/pool/prod:user:alice@pve:Auditors",
        "acl/root:group:ops:PVEVMAdmin",
    ]
    got = cli("acl", "get", "root:group:ops:PVEVMAdmin", "-o", "json")
    assert got.exit_code == 0, got.output
    assert json.loads(got.stdout)["propagate"] is False
    assert [r["id"] for r in json.loads(cli("role", "list", "-o", "json").stdout)] == ["Auditors"]
    assert [r["id"] for r in json.loads(cli("group", "list", "-o", "json").stdout)] == ["ops"]


def test_a_user_s_password_is_not_sent_again_on_request(pve, cli, tmp_path, monkeypatch):
    ws = _workspace(cli, tmp_path)
    _new_objects(ws)
    monkeypatch.setenv("BOB_PASSWORD", PASSWORD)
    result = cli("--workspace", str(ws), "plan", "--send-secrets", "user/bob@pve")
    assert result.exit_code == 64, result.output
    assert "--send-secrets user/bob@pve: PVE takes its secrets only when it is created." in result.output
