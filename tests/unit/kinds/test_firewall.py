"""FirewallAlias as a kind: address by lower-case name, the plan's fields, the requests of each action."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from proxmox_mpc.kinds.firewall import KIND, AliasManifest


def manifest(**spec) -> AliasManifest:
    return AliasManifest.model_validate({"kind": "FirewallAlias", "name": "LB", "spec": spec})


def test_alias_address_and_round_trip() -> None:
    observed = KIND.normalise({"name": "LB", "cidr": "10.0.0.10", "comment": "balancer", "digest": "d"})
    assert observed is not None and observed.address == "alias/lb" == manifest().address
    assert KIND.diff(KIND.to_manifest(observed), observed) is None
    assert KIND.normalise({"name": "x"}) is None


def test_alias_changes_and_requests() -> None:
    observed = KIND.normalise({"name": "LB", "cidr": "10.0.0.10", "comment": "balancer"})
    change = KIND.diff(manifest(cidr="10.0.0.10", comment="the balancer"), observed)
    assert change is not None and change.action == "update"
    assert [(f.name, f.old, f.new) for f in change.fields] == [("comment", "balancer", "the balancer")]
    assert [r.line() for r in KIND.requests(change)] == ["PUT /cluster/firewall/aliases/lb comment=the balancer"]
    dropped = KIND.diff(manifest(cidr="10.0.0.10"), observed)
    assert dropped is not None and [(f.name, f.new) for f in dropped.fields] == [("comment", "")]
    create = KIND.diff(manifest(cidr="10.0.0.0/24"), None)
    assert create is not None
    assert [r.line() for r in KIND.requests(create)] == ["POST /cluster/firewall/aliases name=LB cidr=10.0.0.0/24"]
    gone = KIND.diff(manifest(cidr="10.0.0.10", state="absent"), observed)
    assert gone is not None and [r.line() for r in KIND.requests(gone)] == ["DELETE /cluster/firewall/aliases/lb"]


@pytest.mark.parametrize(
    ("name", "spec", "message"),
    [("1lb", {"cidr": "10.0.0.1"}, "is not an alias name"), ("lb", {"cidr": "10.0.0.256"}, "is not an IP address")],
)
def test_bad_alias_manifests(name: str, spec: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        AliasManifest.model_validate({"kind": "FirewallAlias", "name": name, "spec": spec})
