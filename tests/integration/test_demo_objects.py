"""The demo cluster's objects beyond guests: its front stores what fakepve only schema-checks.

The demo serves fakepve (a separate process) through a TLS front of pmpc's (services/demo/front.py)
that forwards every request and answers backup jobs, HA and access from its own store once fakepve
accepted the request. These tests start the demo as `pmpc demo` does and talk to it as a user would.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proxmox_mpc.config import Settings
from proxmox_mpc.context import AppContext
from proxmox_mpc.services.demo import TOUR_RULE, DemoCluster, add_firewall_rule, prepare, running_cluster
from proxmox_mpc.services.demo.fixture import BACKUP_JOB, FIREWALL_RULES, HA_RESOURCE, USER


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[DemoCluster]:
    """A started demo cluster (4 VMs, 2 containers), prepared as `pmpc demo` prepares it."""
    with running_cluster(vms=4, cts=2, time_scale=0, directory=tmp_path / "demo-cluster") as cluster:
        base = AppContext(loader=Settings, out=io.StringIO(), err=io.StringIO())
        asyncio.run(prepare(cluster, base))
        yield cluster


def api_get(cli: Any, path: str) -> Any:
    result = cli("--context", "demo", "api", "get", path)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_demo_has_a_firewall_a_backup_job_ha_and_a_user(demo, cli):
    [job] = api_get(cli, "/cluster/backup")
    assert job["id"] == BACKUP_JOB["id"] and job["schedule"] == "02:30" and job["pool"] == "prod"
    assert job["enabled"] == 1  # typed as PVE's schema types it, not the "1" the client sent
    assert api_get(cli, f"/cluster/backup/{job['id']}")["schedule"] == "02:30"
    [ha] = api_get(cli, "/cluster/ha/resources")
    db = next(g for g in demo.guests if g["name"] == "db-1")
    assert ha["sid"] == f"vm:{db['vmid']}" and ha["max_restart"] == HA_RESOURCE["max_restart"] and ha["digest"]
    # root@pam is there from the start, as on every PVE.
    users = {u["userid"]: u for u in api_get(cli, "/access/users")}
    assert set(users) == {USER["userid"], "root@pam"} and "password" not in users[USER["userid"]]
    assert api_get(cli, "/access/groups/ops")["members"] == [USER["userid"]]
    assert api_get(cli, "/access/acl") == [
        {"path": "/pool/prod", "type": "group", "ugid": "ops", "roleid": "PVEVMAdmin", "propagate": 1}
    ]
    # fakepve keeps the firewall itself: the rules are there in order.
    rules = api_get(cli, "/cluster/firewall/rules")
    assert [r["comment"] for r in rules] == [r["comment"] for r in FIREWALL_RULES]
    assert sorted(e["cidr"] for e in api_get(cli, "/cluster/firewall/ipset/admins")) == ["10.20.0.15", "admin-net"]
    assert [r["macro"] for r in api_get(cli, "/cluster/firewall/groups/webserver")] == ["HTTP", "HTTPS"]
    web = next(g for g in demo.guests if g["name"] == "web-1")
    assert "firewall=1" in web["config"]["net0"]
    [jump] = api_get(cli, f"/nodes/{web['node']}/qemu/{web['vmid']}/firewall/rules")
    assert (jump["type"], jump["action"]) == ("group", "webserver")
    status = api_get(cli, f"/nodes/{db['node']}/qemu/{db['vmid']}/status/current")
    assert status["ha"] == {"managed": 1, "state": "started"}


def test_the_front_keeps_fakepves_checks_and_pves_errors(demo, cli):
    # fakepve judges the request first: PVE has no `colour` parameter, and nothing is stored.
    bad = cli("--context", "demo", "api", "post", "/cluster/backup", "schedule=03:00", "colour=red", "-y")
    assert bad.exit_code != 0 and "colour" in bad.stderr
    assert len(api_get(cli, "/cluster/backup")) == 1
    missing = cli("--context", "demo", "api", "get", "/cluster/backup/nosuch")
    assert missing.exit_code != 0 and "job 'nosuch' does not exist" in missing.stderr
    made = cli("--context", "demo", "api", "put", "/cluster/backup/nightly", "schedule=04:15", "delete=comment", "-y")
    assert made.exit_code == 0, made.output
    job = api_get(cli, "/cluster/backup/nightly")
    assert job["schedule"] == "04:15" and "comment" not in job
    twice = cli("--context", "demo", "api", "post", "/access/users", "userid=alice@pve", "-y")
    assert twice.exit_code != 0 and "already exists" in twice.stderr
    # Everything else is fakepve's own answer, unchanged.
    assert [n["node"] for n in api_get(cli, "/nodes")] == ["pve1", "pve2", "pve3"]


def test_the_tours_firewall_change_is_planned_and_applied(demo, cli, tmp_path):
    workspace = tmp_path / "ws"
    assert cli("init", str(workspace)).exit_code == 0
    at = ("--context", "demo", "--workspace", str(workspace))
    imported = cli(*at, "sync", "--import")
    assert imported.exit_code == 0, imported.output
    assert "No changes" in cli(*at, "plan").stdout
    changed = add_firewall_rule(workspace)
    assert changed == (workspace / "resources" / "firewall" / "cluster.yaml", TOUR_RULE)
    plan = cli(*at, "plan")
    assert plan.exit_code == 0, plan.output
    change = "+ rules[4]: in ACCEPT proto=tcp dport=443 # HTTPS"
    assert f"~ firewall/cluster\n      {change}\n" in plan.stdout
    assert "Plan: 0 to add, 1 to change, 0 to destroy." in plan.stdout
    applied = cli(*at, "apply", "-y")
    assert applied.exit_code == 0, applied.output
    assert "firewall/cluster: update done" in applied.stdout
    after = cli(*at, "plan")
    assert after.exit_code == 0 and "No changes" in after.stdout, after.output
    rules = api_get(cli, "/cluster/firewall/rules")
    assert [(r["pos"], r.get("dport"), r["comment"]) for r in rules][-1] == (4, "443", "HTTPS")
