"""Every kind of the registry round-trips against fakepve: sync --import writes its manifests, plan is empty."""

from __future__ import annotations

import json

import pytest
import yaml

from proxmox_mpc.kinds import registry

KINDS = registry.kinds()


@pytest.fixture
def imported(cluster, cli, tmp_path):
    # The fixture cluster has guests and a pool; give it a firewall alias, an IP set, a security group, a
    # cluster rule, a backup job, HA resources and an HA rule, so every kind has something to import.
    for args in (
        ("/cluster/firewall/aliases", "name=LB", "cidr=10.0.0.10", "comment=balancer"),
        ("/cluster/firewall/rules", "type=in", "action=ACCEPT", "source=LB", "enable=1"),
        ("/cluster/firewall/ipset", "name=admins", "comment=desks"),
        ("/cluster/firewall/ipset/admins", "cidr=10.1.0.0/24", "comment=office"),
        ("/cluster/firewall/groups", "group=web", "comment=web tier"),
        ("/cluster/firewall/groups/web", "type=in", "action=ACCEPT", "macro=Web", "source=+admins", "enable=1"),
        ("/cluster/backup", "id=nightly", "schedule=02:30", "storage=local", "vmid=101", "prune-backups=keep-last=3"),
        ("/cluster/ha/resources", "sid=vm:101", "max_restart=2"),
        ("/cluster/ha/resources", "sid=vm:102"),
        ("/cluster/ha/rules", "rule=web-apart", "type=resource-affinity", "resources=vm:101,vm:102",
         "affinity=negative"),
    ):
        seeded = cli("api", "post", *args, "-y")
        assert seeded.exit_code == 0, seeded.output
    # Access control (the fixture cluster keeps it as a fresh PVE would): a group, a role, a user, an entry.
    for method, *args in (
        ("post", "/access/groups", "groupid=ops", "comment=operators"),
        ("post", "/access/roles", "roleid=Auditors", "privs=VM.Audit,Sys.Audit"),
        ("post", "/access/users", "userid=alice@pve", "groups=ops", "email=alice@example.com"),
        ("put", "/access/acl", "path=/pool/prod", "roles=Auditors", "users=alice@pve"),
    ):
        seeded = cli("api", method, *args, "-y")
        assert seeded.exit_code == 0, seeded.output
    result = cli("init", str(tmp_path / "infra"), "--name", "infra")
    assert result.exit_code == 0, result.output
    ws = tmp_path / "infra"
    result = cli("--workspace", str(ws), "sync", "--import")
    assert result.exit_code == 0, result.output
    return ws


def test_every_kind_round_trips_import_then_an_empty_plan(imported, cli):
    for kind in KINDS:
        files = sorted((imported / "resources" / kind.folder).glob("*.yaml"))
        found = [yaml.safe_load(path.read_text())["kind"] for path in files]
        assert kind.name in found, f"{kind.name}: sync --import wrote nothing under resources/{kind.folder}/"
        # A folder holds its kind, or the kinds of its family (resources/firewall/).
        assert set(found) <= {k.name for k in KINDS if k.folder == kind.folder}
    result = cli("--workspace", str(imported), "plan", "-o", "json", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["changes"] == []
    result = cli("--workspace", str(imported), "validate", "-o", "json")
    assert result.exit_code == 0, result.output
    addresses = json.loads(result.stdout)["addresses"]
    assert {a.split("/")[0] for a in addresses} == {k.prefix for k in KINDS}


def test_every_kind_is_in_the_state_store_after_sync(imported, cli):
    result = cli("--workspace", str(imported), "sync", "-o", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    folders = {k.folder for k in registry.resource_kinds()}
    assert report["resources"] == sum(len(list((imported / "resources" / f).glob("*.yaml"))) for f in folders)
    assert report["resource_changes"] == []
