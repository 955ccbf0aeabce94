"""The one reader: what a command needs is read once, concurrently, and turned into guests and facts."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from tests.unit.api.helpers import arun, envelope, make_client, pve_error, router

from proxmox_mpc.core.secrets import MASK
from proxmox_mpc.errors import ConnectionFailed
from proxmox_mpc.kinds.base import item_path, read_shape
from proxmox_mpc.services.observe import COMPARE, RECORD, Needs, Read, compose_pending, listed, observe, with_kinds

NODES = [
    {"node": "pve1", "status": "online"},
    {"node": "pve2", "status": "online"},
    {"node": "pve3", "status": "offline"},
]
RESOURCES = [
    {"type": "qemu", "vmid": 101, "name": "web-1", "node": "pve1", "status": "running", "maxmem": 2147483648,
     "tags": "prod;web"},
    {"type": "lxc", "vmid": 201, "name": "dns-1", "node": "pve2", "status": "stopped"},
    {"type": "qemu", "vmid": 102, "name": "gone", "node": "pve2", "status": "stopped"},
    {"type": "storage", "id": "storage/pve1/local", "node": "pve1"},
]
WEB_CONFIG = {
    "memory": 2048,
    "net0": "virtio=BC:24:11:00:01:01,bridge=vmbr7",
    "cipassword": "**********",
    "digest": "d101",
    "tags": "prod;web",
}

# As PVE lists it: every key of the config with its current value (the digest too), and what is pending.
WEB_PENDING = [
    {"key": k, "value": v, **({"pending": 4096} if k == "memory" else {})} for k, v in WEB_CONFIG.items()
]


def _pve(resources=RESOURCES, nodes=NODES):
    pve = router()
    pve.get("/nodes").mock(return_value=envelope(nodes))
    pve.get("/cluster/resources").mock(return_value=envelope(resources))
    pve.get("/cluster/status").mock(return_value=envelope([{"type": "cluster", "name": "lab"}]))
    pve.get("/pools").mock(return_value=envelope([{"poolid": "prod"}]))
    pve.get("/cluster/sdn/vnets").mock(return_value=pve_error(501, "no sdn"))
    pve.get("/cluster/ha/resources").mock(return_value=envelope([{"sid": "vm:101"}]))
    # The backup jobs and HA rules: none.
    for path in ("/cluster/backup", "/cluster/ha/rules"):
        pve.get(path).mock(return_value=envelope([]))
    # The firewall kinds' paths: an empty firewall.
    for path in (
        "/cluster/firewall/aliases",
        "/cluster/firewall/rules",
        "/cluster/firewall/ipset",
        "/cluster/firewall/groups",
    ):
        pve.get(path).mock(return_value=envelope([]))
    pve.get("/cluster/firewall/options").mock(return_value=envelope({}))
    # The access kinds' paths: no users, groups, roles or ACL entries.
    for path in ("/access/users", "/access/groups", "/access/roles", "/access/acl"):
        pve.get(path).mock(return_value=envelope([]))
    # The Storage kind's definitions.
    pve.get("/storage").mock(return_value=envelope([{"storage": "local-lvm", "type": "lvmthin", "vgname": "pve"}]))
    for node in ("pve1", "pve2"):
        pve.get(f"/nodes/{node}/firewall/rules").mock(return_value=envelope([]))
        pve.get(f"/nodes/{node}/firewall/options").mock(return_value=envelope({}))
        pve.get(f"/nodes/{node}/storage").mock(
            return_value=envelope([{"storage": "local-lvm", "content": "images,rootdir"}])
        )
        pve.get(f"/nodes/{node}/network").mock(
            return_value=envelope([{"iface": "vmbr0", "type": "bridge"}, {"iface": "eno1", "type": "eth"}])
        )
    pve.get("/nodes/pve1/qemu/101/config").mock(return_value=envelope(WEB_CONFIG))
    pve.get("/nodes/pve1/qemu/101/pending").mock(return_value=envelope(WEB_PENDING))
    pve.get("/nodes/pve2/lxc/201/config").mock(
        return_value=envelope({"hostname": "dns-1", "password": "hunter2", "digest": "d201"})
    )
    pve.get("/nodes/pve2/qemu/102/config").mock(return_value=pve_error(404, "no such VM"))
    pve.get("/nodes/pve2/qemu/102/pending").mock(return_value=pve_error(404, "no such VM"))
    return pve


def _observe(pve, needs):
    async def run():
        async with make_client(pve) as api:
            return await observe(api, needs)

    return arun(run())


def _paths(pve) -> Counter[str]:
    return Counter(call.request.url.path.removeprefix("/api2/json") for call in pve.calls)


def test_record_reads_each_path_once_keeps_offline_guests_unread_and_masks_secrets():
    pve = _pve([*RESOURCES, {"type": "lxc", "vmid": 301, "name": "far", "node": "pve3", "status": "unknown"}])
    seen = _observe(pve, RECORD)
    assert max(_paths(pve).values()) == 1
    assert {"/nodes/pve3/storage", "/nodes/pve1/qemu/101/pending"}.isdisjoint(_paths(pve))
    assert [(g.ref, g.unread) for g in seen.guests] == [("vm/101", False), ("ct/201", False), ("ct/301", True)]
    web, dns, far = seen.guests
    assert web.config["memory"] == 2048 and web.digest == "d101" and "digest" not in web.config
    assert dns.config["password"] == "**********" and web.config["cipassword"] == "**********"
    assert far.config == {} and far.digest is None
    assert web.memory == 2147483648 and web.tags == ["prod", "web"] and web.type == "qemu"
    assert seen.offline == {"pve3"} and seen.online == ["pve1", "pve2"]
    assert seen.reads["/cluster/status"] == [{"type": "cluster", "name": "lab"}]
    assert seen.requests == sum(_paths(pve).values())


def test_compare_applies_pending_values_leaves_masked_ones_out_and_builds_the_facts():
    pve = _pve()
    seen = _observe(pve, COMPARE)
    paths = _paths(pve)
    assert max(paths.values()) == 1 and "/cluster/status" not in paths
    web, dns = seen.guests
    assert (web.config["memory"], web.pending) == (4096, ["memory"])
    assert "cipassword" not in web.config
    # The VM's /pending alone: it lists the config and its digest.
    assert "/nodes/pve1/qemu/101/config" not in paths and web.digest == "d101" and "digest" not in web.config
    assert dns.config == {"hostname": "dns-1", "password": "hunter2"} and dns.pending == []
    facts = seen.facts
    assert facts.nodes == {"pve1", "pve2", "pve3"}
    lvm = {"local-lvm": {"images", "rootdir"}}
    assert facts.storages == {"pve1": lvm, "pve2": lvm}
    assert facts.bridges == {"pve1": {"vmbr0"}, "pve2": {"vmbr0"}}
    # Pools are resources of a registered kind (issue 13): the facts hold each kind's resources.
    assert facts.resources is not None and [r.address for r in facts.resources["pool"]] == ["pool/prod"]
    assert facts.shared_bridges == {"vmbr7"}  # used by a guest; SDN answered an error: unknown, not fatal
    assert facts.guest_vmids == {101, 102, 201}


def test_compare_refuses_a_node_with_guests_that_is_offline():
    pve = _pve([*RESOURCES, {"type": "qemu", "vmid": 301, "name": "far", "node": "pve3"}])
    with pytest.raises(ConnectionFailed, match=r"Node\(s\) pve3 are offline.*--offline"):
        _observe(pve, COMPARE)
    assert not any(p.endswith("/config") for p in _paths(pve))


def test_a_kind_s_reads_are_sent_once_with_the_command_s_own():
    # Pool declares /pools, which the facts read too; HA declares its own; a per-node path is read per node.
    kinds = (Read("/pools"), Read("/cluster/ha/resources"), Read("/nodes/{node}/network"))
    needs = Needs(configs=False, facts=True, reads=kinds)
    pve = _pve()
    seen = _observe(pve, needs)
    paths = _paths(pve)
    assert max(paths.values()) == 1 and not any(p.endswith("/config") for p in paths)
    assert seen.reads["/cluster/ha/resources"] == [{"sid": "vm:101"}]
    assert seen.per_node(Read("/nodes/{node}/network"))[0][0] == "pve1"
    assert [g.ref for g in seen.guests] == ["vm/101", "vm/102", "ct/201"]  # without configs, none is dropped


class _Listed:
    """A kind as observe sees it (kinds.base.Kind): a prefix, its list path first, from_reads."""

    def __init__(self, prefix: str, path: str) -> None:
        self.prefix, self.reads = prefix, (path,)

    def from_reads(self, bodies):
        items = bodies.get(self.reads[0])
        return sorted(str(item.get("poolid") or item.get("sid")) for item in items)


def test_registered_kinds_are_read_in_the_same_pass_and_listed_by_prefix():
    kinds = [_Listed("pool", "/pools"), _Listed("ha", "/cluster/ha/resources")]
    pve = _pve()
    pve.get("/cluster/ha/resources").mock(return_value=pve_error(403, "Permission check failed"))
    seen = _observe(pve, with_kinds(COMPARE, kinds))
    paths = _paths(pve)
    assert paths["/pools"] == 1 and paths["/cluster/ha/resources"] == 1 and max(paths.values()) == 1
    assert listed(seen, kinds) == {"pool": ["prod"]}  # not allowed to list HA: unknown, not empty
    # The facts hold the registered kinds' resources (issue 13: pools are the Pool kind's).
    assert seen.facts.resources is not None and [r.id for r in seen.facts.resources["pool"]] == ["prod"]


def test_a_read_refused_with_an_unknown_on_error_is_left_out():
    pve = _pve()
    pve.get("/pools").mock(return_value=pve_error(403, "Permission check failed"))
    seen = _observe(pve, COMPARE)
    assert "/pools" not in seen.reads and "pool" not in (seen.facts.resources or {})


@pytest.mark.parametrize(
    ("pending", "config", "keys"),
    [
        (None, {"memory": 1}, []),
        ([{"key": "memory", "value": 1, "pending": 2}], {"memory": 2}, ["memory"]),
        ([{"key": "memory", "value": 1, "pending": 1}], {"memory": 1}, []),
        ([{"key": "memory", "value": 1, "delete": 1}], {}, ["memory"]),
        ([{"key": "net1", "delete": 1}], {"memory": 1}, []),
        ([{"key": "digest", "value": "x", "pending": "y"}], {"memory": 1}, []),
        # PVE masks a pending password with a trailing space, so that it differs from the current mask.
        (
            [{"key": "cipassword", "value": MASK, "pending": MASK + " "}],
            {"memory": 1, "cipassword": MASK},
            ["cipassword"],
        ),
    ],
    ids=["none", "pending value", "same value", "pending delete", "delete of an absent key", "digest", "masked"],
)
def test_compose_pending(pending, config, keys):
    assert compose_pending({"memory": 1}, pending) == (config, keys)


def test_a_pending_list_without_the_digest_is_completed_by_the_config():
    pve = _pve()
    pve.get("/nodes/pve1/qemu/101/pending").mock(
        return_value=envelope([i for i in WEB_PENDING if i["key"] != "digest"])
    )
    seen = _observe(pve, COMPARE)
    paths = _paths(pve)
    assert paths["/nodes/pve1/qemu/101/pending"] == 1 and paths["/nodes/pve1/qemu/101/config"] == 1
    web = seen.guests[0]
    assert (web.config["memory"], web.pending, web.digest) == (4096, ["memory"], "d101")
    assert web.config["net0"] == WEB_CONFIG["net0"] and "cipassword" not in web.config


def test_a_guest_gone_before_its_pending_list_is_read_is_gone():
    pve = _pve([*RESOURCES[:1], {"type": "qemu", "vmid": 103, "name": "late", "node": "pve1", "status": "stopped"}])
    pve.get("/nodes/pve1/qemu/103/pending").mock(return_value=pve_error(404, "no such VM"))
    seen = _observe(pve, COMPARE)
    assert [g.ref for g in seen.guests] == ["vm/101"]
    assert "/nodes/pve1/qemu/103/config" not in _paths(pve)


class _ItemKind:
    """A kind with a per-item path (each IP set's entries) and a per-guest path chosen by VMID."""

    def __init__(self, prefix: str, vmids: set[int]) -> None:
        self.prefix, self.vmids = prefix, vmids
        self.reads = ("/cluster/sets", "/cluster/sets/{name}", "/nodes/{node}/{type}/{vmid}/fw")

    def reads_guest(self, guest, described):
        return guest.vmid in self.vmids or guest.ref in described

    def from_reads(self, bodies):
        return sorted(s["name"] for s in bodies[self.reads[0]] if item_path(self.reads[1], s["name"]) in bodies)


def _item_pve():
    pve = _pve()
    sets = [{"name": "admins"}, {"name": "gone"}, {"name": "a b"}]
    pve.get("/cluster/sets").mock(return_value=envelope(sets))
    pve.get("/cluster/sets/admins").mock(return_value=envelope([{"cidr": "10.0.0.1"}]))
    pve.get("/cluster/sets/gone").mock(return_value=pve_error(404, "no such IP set"))
    pve.get("/cluster/sets/a%20b").mock(return_value=envelope([]))
    pve.get("/nodes/pve1/qemu/101/fw").mock(return_value=envelope([{"pos": 0}]))
    pve.get("/nodes/pve2/lxc/201/fw").mock(return_value=envelope([]))
    return pve


def test_items_are_read_after_their_list_and_one_gone_meanwhile_is_just_gone():
    pve = _item_pve()
    kinds = [_ItemKind("a", {101})]
    seen = _observe(pve, with_kinds(COMPARE, kinds))
    paths = _paths(pve)
    assert max(paths.values()) == 1
    assert {f"/cluster/sets/{n}" for n in ("admins", "gone", "a b")} <= set(paths)
    assert listed(seen, kinds) == {"a": ["a b", "admins"]}
    # Only the chosen guest's path; a guest whose config is gone (102) is not read further.
    assert [p for p in paths if p.endswith("/fw")] == ["/nodes/pve1/qemu/101/fw"]
    assert seen.reads["/nodes/pve1/qemu/101/fw"] == [{"pos": 0}]


def test_an_item_pmpc_may_not_read_leaves_its_list_unknown():
    pve = _item_pve()
    pve.get("/cluster/sets/admins").mock(return_value=pve_error(403, "Permission check failed"))
    kinds = [_ItemKind("a", set())]
    seen = _observe(pve, with_kinds(Needs(configs=False), kinds))
    assert "/cluster/sets" not in seen.reads and listed(seen, kinds) == {}


def test_a_per_guest_path_two_kinds_declare_is_read_once_for_the_guests_either_chooses():
    pve = _item_pve()
    kinds = [_ItemKind("a", {101}), _ItemKind("b", set())]
    seen = _observe(pve, with_kinds(dataclasses.replace(COMPARE, described=frozenset({"ct/201"})), kinds))
    paths = _paths(pve)
    assert max(paths.values()) == 1
    assert sorted(p for p in paths if p.endswith("/fw")) == ["/nodes/pve1/qemu/101/fw", "/nodes/pve2/lxc/201/fw"]
    assert seen.reads["/nodes/pve2/lxc/201/fw"] == []


@pytest.mark.parametrize(
    ("path", "shape"),
    [
        ("/pools", "once"),
        ("/nodes/{node}/network", "node"),
        ("/cluster/firewall/groups/{group}", "item"),
        ("/nodes/{node}/{type}/{vmid}/firewall/options", "guest"),
    ],
)
def test_read_shapes(path, shape):
    assert read_shape(path) == shape


@pytest.mark.parametrize("path", ["/nodes/{node}/qemu/{vmid}/config", "/a/{x}/b/{y}", "/nodes/{node}/{type}"])
def test_a_path_of_no_known_shape_is_refused(path):
    with pytest.raises(ValueError, match=path.replace("{", r"\{").replace("}", r"\}")):
        read_shape(path)


def test_a_quick_gil_handoff_lasts_only_its_block() -> None:
    import sys

    from proxmox_mpc.services.overlap import QUICK_SWITCH_INTERVAL, quick_gil_handoff

    before = sys.getswitchinterval()
    assert before > QUICK_SWITCH_INTERVAL  # Python's 5 ms
    with pytest.raises(RuntimeError), quick_gil_handoff():
        assert sys.getswitchinterval() == QUICK_SWITCH_INTERVAL
        raise RuntimeError("the block failed")
    assert sys.getswitchinterval() == before


def test_a_per_guest_read_that_tolerates_any_refusal_is_left_out_on_an_error_answer():
    """A per-guest read whose unknown_on covers every API error (a guest agent that is not running answers
    500) is left out of the reads; one that tolerates less still fails the observation."""
    from proxmox_mpc.errors import ApiError, AuthError, PmpcError

    pve = _pve()
    pve.get("/nodes/pve1/qemu/101/agent").mock(return_value=pve_error(500, "QEMU guest agent is not running"))
    pve.get("/nodes/pve2/lxc/201/agent").mock(return_value=envelope({"result": []}))
    pve.get("/nodes/pve2/qemu/102/agent").mock(return_value=pve_error(404, "no such VM"))
    agent = "/nodes/{node}/{type}/{vmid}/agent"
    for tolerated in ((PmpcError,), (ApiError,)):
        seen = _observe(pve, Needs(configs=False, reads=(Read(agent, tolerated),)))
        assert "/nodes/pve1/qemu/101/agent" not in seen.reads
        assert seen.reads["/nodes/pve2/lxc/201/agent"] == {"result": []}
    with pytest.raises(ApiError, match="guest agent is not running"):
        _observe(pve, Needs(configs=False, reads=(Read(agent, (AuthError,)),)))


def test_the_configs_go_out_without_waiting_for_the_lists_read_once():
    import asyncio

    import httpx

    pve = _pve()

    async def run():
        config_asked = asyncio.Event()

        async def slow_pools(request: httpx.Request) -> httpx.Response:
            # Answers only once a config has been asked for: a reader that held the configs back for the
            # lists would wait here until the timeout.
            await asyncio.wait_for(config_asked.wait(), 10)
            return envelope([{"poolid": "prod"}])

        async def web_config(request: httpx.Request) -> httpx.Response:
            config_asked.set()
            return envelope(WEB_CONFIG)

        pve.get("/pools").mock(side_effect=slow_pools)
        pve.get("/nodes/pve1/qemu/101/config").mock(side_effect=web_config)
        async with make_client(pve) as api:
            return await observe(api, RECORD)

    seen = arun(run())
    assert seen.reads["/pools"] == [{"poolid": "prod"}]
    assert [g.ref for g in seen.guests] == ["vm/101", "ct/201"]
    assert seen.requests == sum(_paths(pve).values())


def test_on_listed_is_called_once_the_guests_are_listed_before_any_guest_is_read():
    # Plan starts loading its manifests there (services/plan.load_observing): the listing, which every
    # per-guest read waits for, is received without them in the way.
    pve = _pve()
    seen_then: list[Counter[str]] = []
    _observe(pve, dataclasses.replace(COMPARE, on_listed=lambda: seen_then.append(_paths(pve))))
    assert len(seen_then) == 1
    assert {"/nodes", "/cluster/resources"} <= set(seen_then[0])
    assert not any(path.endswith(("/pending", "/config")) for path in seen_then[0])
    assert "/nodes/pve1/qemu/101/pending" in _paths(pve)
