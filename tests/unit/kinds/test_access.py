"""The access kinds (User, Group, Role, ACL): addresses, PVE's answers normalised, requests, built-ins left out."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from proxmox_mpc.core.access import AclEntry, is_builtin_role
from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.errors import ConfigError
from proxmox_mpc.kinds.acl import KIND as ACL
from proxmox_mpc.kinds.acl import AclManifest
from proxmox_mpc.kinds.role import KIND as ROLE
from proxmox_mpc.kinds.user import KIND as USER
from proxmox_mpc.kinds.user import UserManifest
from proxmox_mpc.services.resources import secret_values


@pytest.mark.parametrize(
    ("entry", "ident"),
    [
        (AclEntry("/", "group", "admins", "Administrator"), "root:group:admins:Administrator"),
        (AclEntry("/vms/101", "user", "alice@pve", "PVEVMAdmin"), "vms/101:user:alice@pve:PVEVMAdmin"),
        (
            AclEntry("/pool/prod/web", "token", "ci@pve!deploy", "Deployer"),
            "pool/prod/web:token:ci@pve!deploy:Deployer",
        ),
    ],
    ids=["root", "guest", "nested-pool-token"],
)
def test_an_acl_address_spells_the_entry_and_reads_back(entry, ident):
    assert entry.ident == ident
    assert AclEntry.parse(ident) == entry


@pytest.mark.parametrize("ident", ["vms/101:user:alice@pve", "vms/101:robot:x:Role", "::user:x"], ids=str)
def test_a_malformed_acl_id_is_refused(ident):
    with pytest.raises(ValueError):
        AclEntry.parse(ident)


def test_an_acl_manifest_derives_its_name_and_references_what_it_names():
    manifest = AclManifest.model_validate(
        {"kind": "ACL", "spec": {"path": "/pool/prod", "type": "token", "ugid": "ci@pve!deploy", "role": "Deployer"}}
    )
    assert manifest.address == "acl/pool/prod:token:ci@pve!deploy:Deployer"
    assert [(r.loc, r.address) for r in ACL.references(manifest)] == [
        (("spec", "ugid"), "user/ci@pve"),
        (("spec", "role"), "role/Deployer"),
        (("spec", "path"), "pool/prod"),
    ]
    builtin = AclManifest.model_validate(
        {"kind": "ACL", "spec": {"path": "/", "type": "user", "ugid": "root@pam", "role": "Administrator"}}
    )
    assert ACL.references(builtin) == []


def test_acl_requests_set_update_and_remove_one_entry():
    manifest = AclManifest.model_validate(
        {"kind": "ACL", "spec": {"path": "/vms/101", "type": "group", "ugid": "ops", "role": "R", "propagate": False}}
    )
    create = ACL.diff(manifest, None)
    assert create is not None
    assert ACL.requests(create) == [
        PlannedRequest(
            method="PUT",
            path="/access/acl",
            params={"path": "/vms/101", "roles": "R", "groups": "ops", "propagate": "0"},
        )
    ]
    observed = ACL.normalise({"path": "/vms/101", "type": "group", "ugid": "ops", "roleid": "R", "propagate": 1})
    assert observed is not None and observed.address == manifest.address
    update = ACL.diff(manifest, observed)
    assert update is not None and [(f.name, f.old, f.new) for f in update.fields] == [("propagate", "1", "0")]
    gone = manifest.model_copy(update={"spec": manifest.spec.model_copy(update={"state": "absent"})})
    delete = ACL.diff(gone, observed)
    assert delete is not None
    assert ACL.requests(delete)[0].params == {"path": "/vms/101", "roles": "R", "groups": "ops", "delete": 1}
    assert ACL.change_references(delete) == ["group/ops", "role/R"]
    assert ACL.import_id(manifest) == "/vms/101?ops?R"


def test_entries_pmpc_could_not_write_back_are_left_out():
    assert ACL.normalise({"path": "fake", "type": "user", "ugid": "fake", "roleid": "fake"}) is None


def test_built_in_users_and_roles_are_neither_imported_nor_managed():
    assert USER.normalise({"userid": "root@pam", "enable": 1}) is None
    assert ROLE.normalise({"roleid": "PVEVMAdmin", "special": 1, "privs": "VM.Audit"}) is None
    assert ROLE.normalise({"roleid": "Mine", "special": 0, "privs": "VM.Audit,Sys.Audit"}) is not None
    assert is_builtin_role("Administrator") and is_builtin_role("pveFoo") and not is_builtin_role("Auditors")
    with pytest.raises(ValidationError, match="superuser"):
        UserManifest.model_validate({"kind": "User", "name": "root@pam"})


def test_a_user_s_password_is_compared_never_and_sent_only_with_the_create():
    manifest = UserManifest.model_validate(
        {"kind": "User", "name": "bob@pve", "spec": {"password_env": "BOB_PW", "comment": "x"}}
    )
    observed = USER.normalise({"userid": "bob@pve", "enable": 1, "expire": 0, "comment": "x"})
    assert USER.diff(manifest, observed) is None
    create = USER.diff(manifest, None)
    assert create is not None
    assert create.field("password_env").new == "BOB_PW"  # type: ignore[union-attr]
    [request] = USER.requests(create)
    assert "password_env" not in request.params and "password" not in request.params
    # Apply reads the variable the plan names and adds its value to the create as it is sent.
    assert secret_values(create, {"BOB_PW": "s3cret"}) == {"password": "s3cret"}
    with pytest.raises(ConfigError, match=r"BOB_PW .* is not set"):
        secret_values(create, {})


def test_a_user_s_expiry_of_zero_is_no_expiry_and_groups_are_a_set():
    manifest = UserManifest.model_validate(
        {"kind": "User", "name": "bob@pve", "spec": {"expire": 0, "groups": ["b", "a", "b"]}}
    )
    assert manifest.spec.groups == ["a", "b"]
    observed = USER.normalise({"userid": "bob@pve", "enable": "1", "groups": "b,a"})
    assert USER.diff(manifest, observed) is None
    assert USER.change_references(USER.diff(manifest, None)) == ["group/a", "group/b"]  # type: ignore[arg-type]


def test_generated_terraform_makes_what_a_resource_names_first_and_keeps_the_password_a_variable():
    from proxmox_mpc.generators import ansible, terraform
    from proxmox_mpc.generators.model import GenerateInputs, resource_spec
    from proxmox_mpc.kinds import registry

    kinds = [registry.by_prefix(p) for p in ("user", "group", "role", "acl")]
    specs = [resource_spec(k, k.model.model_validate(k.example), exists=False) for k in kinds]  # type: ignore[union-attr]
    files = terraform.render(GenerateInputs(resources=specs))
    user = files["access.tf"].split('resource "proxmox_virtual_environment_user"')[1]
    assert "depends_on = [proxmox_virtual_environment_group.ops]" in user
    assert "password   = var.alice_pw" in user
    assert 'variable "alice_pw" {' in files["variables.tf"] and "sensitive   = true" in files["variables.tf"]
    tasks = ansible.render(GenerateInputs(resources=specs))["provision.yml"]
    # Groups and roles before the users and ACL entries that name them.
    assert tasks.index("group/ops exists") < tasks.index("user/alice@pve exists") < tasks.index("acl/pool/prod")
    assert tasks.index("role/Auditors exists") < tasks.index("acl/pool/prod")
