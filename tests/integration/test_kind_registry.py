"""Every kind of the registry round-trips against fakepve: sync --import writes its manifests, plan is empty."""

from __future__ import annotations

import json

import pytest
import yaml

from proxmox_mpc.kinds import registry

KINDS = registry.kinds()


@pytest.fixture
def imported(cluster, cli, tmp_path):
    # The fixture cluster has guests and a pool; give it a firewall alias, so every kind has something to import.
    seeded = cli("api", "post", "/cluster/firewall/aliases", "name=LB", "cidr=10.0.0.10", "comment=balancer", "-y")
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
        assert files, f"{kind.name}: sync --import wrote nothing under resources/{kind.folder}/"
        for path in files:
            assert yaml.safe_load(path.read_text())["kind"] == kind.name
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
    assert report["resources"] == sum(
        len(list((imported / "resources" / k.folder).glob("*.yaml"))) for k in registry.resource_kinds()
    )
    assert report["resource_changes"] == []
