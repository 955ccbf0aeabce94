"""`pmpc api` on the objects fakepve 0.5.0 only schema-checks, through the stateful extension in
tests/helpers/cluster_objects.py: what is written is read back, and the schema check still refuses."""

from typing import Any

import pytest

from tests.helpers.cluster_objects import enable_cluster_objects


@pytest.fixture
def objects_cluster(cluster: Any) -> Any:
    return enable_cluster_objects(cluster)


def test_backup_jobs_are_stored_updated_and_deleted(objects_cluster, cli):
    made = cli(
        "api",
        "post",
        "/cluster/backup",
        "id=nightly",
        "schedule=02:30",
        "storage=local",
        "vmid=101,102",
        "mode=snapshot",
        "-y",
    )
    assert made.exit_code == 0, made.output
    jobs = cli("api", "get", "/cluster/backup").json()
    assert [(j["id"], j["schedule"], j["vmid"]) for j in jobs] == [("nightly", "02:30", "101,102")]
    assert cli("api", "put", "/cluster/backup/nightly", "schedule=03:00", "delete=vmid", "all=1", "-y").exit_code == 0
    job = cli("api", "get", "/cluster/backup/nightly").json()
    assert job["schedule"] == "03:00" and "vmid" not in job and job["all"] == 1
    assert cli("api", "delete", "/cluster/backup/nightly", "-y").exit_code == 0
    assert cli("api", "get", "/cluster/backup").json() == []
    missing = cli("api", "get", "/cluster/backup/nightly")
    assert missing.exit_code != 0 and "does not exist" in missing.stderr
    # fakepve's schema check still runs first: PVE has no `colour` parameter.
    bad = cli("api", "post", "/cluster/backup", "schedule=02:30", "colour=red", "-y")
    assert bad.exit_code != 0 and "colour" in bad.stderr
    assert cli("api", "get", "/cluster/backup").json() == []


def test_ha_resources_are_keyed_by_sid_and_guarded_by_digest(objects_cluster, cli):
    assert cli("api", "post", "/cluster/ha/resources", "sid=101", "max_restart=2", "-y").exit_code == 0
    [listed] = cli("api", "get", "/cluster/ha/resources").json()
    assert listed["sid"] == "vm:101" and listed["state"] == "started" and listed["type"] == "vm"
    stale = listed["digest"]
    assert cli("api", "put", "/cluster/ha/resources/vm:101", "state=stopped", f"digest={stale}", "-y").exit_code == 0
    refused = cli("api", "put", "/cluster/ha/resources/vm:101", "state=started", f"digest={stale}", "-y")
    assert refused.exit_code != 0 and "modified" in refused.stderr
    assert cli("api", "get", "/cluster/ha/resources/vm:101").json()["state"] == "stopped"


def test_users_groups_roles_and_acl(objects_cluster, cli):
    assert cli("api", "post", "/access/groups", "groupid=ops", "comment=operators", "-y").exit_code == 0
    made = cli("api", "post", "/access/users", "userid=alice@pve", "password=s3cret-Pass", "groups=ops", "-y")
    assert made.exit_code == 0, made.output
    # root@pam is there from the start, as on every PVE.
    user, root = cli("api", "get", "/access/users").json()
    assert root["userid"] == "root@pam"
    assert user["userid"] == "alice@pve" and "password" not in user
    assert cli("api", "get", "/access/groups/ops").json()["members"] == ["alice@pve"]
    assert cli("api", "post", "/access/roles", "roleid=Auditor2", "privs=VM.Audit,Sys.Audit", "-y").exit_code == 0
    assert cli("api", "put", "/access/roles/Auditor2", "privs=Pool.Audit", "append=1", "-y").exit_code == 0
    assert cli("api", "get", "/access/roles/Auditor2").json() == {"Pool.Audit": 1, "Sys.Audit": 1, "VM.Audit": 1}
    grant = cli("api", "put", "/access/acl", "path=/vms/101", "roles=Auditor2", "groups=ops", "-y")
    assert grant.exit_code == 0, grant.output
    assert cli("api", "get", "/access/acl").json() == [
        {"path": "/vms/101", "type": "group", "ugid": "ops", "roleid": "Auditor2", "propagate": 1}
    ]
    revoke = cli("api", "put", "/access/acl", "path=/vms/101", "roles=Auditor2", "groups=ops", "delete=1", "-y")
    assert revoke.exit_code == 0 and cli("api", "get", "/access/acl").json() == []
    twice = cli("api", "post", "/access/users", "userid=alice@pve", "-y")
    assert twice.exit_code != 0 and "already exists" in twice.stderr
    # Built-in roles are listed as special; deleting a group takes it out of its users' groups.
    special = {r["roleid"] for r in cli("api", "get", "/access/roles").json() if r["special"]}
    assert {"Administrator", "PVEVMAdmin"} <= special and "Auditor2" not in special
    assert cli("api", "delete", "/access/groups/ops", "-y").exit_code == 0
    assert cli("api", "get", "/access/users/alice@pve").json()["groups"] == ""
