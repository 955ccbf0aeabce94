"""Per-item and per-guest reads against fakepve: every concrete path read once, GETs only.

A kind declares `/cluster/firewall/ipset/{name}` (read for each `name` of the list's body) and
`/nodes/{node}/{type}/{vmid}/firewall/rules` (read for the guests its `reads_guest` chooses, with their
configs); observe sends each once, concurrently, and hands the bodies back by concrete path.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from typing import Any

from proxmox_mpc.config import load_settings
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.models import ObservedGuest
from proxmox_mpc.core.normalize import NET_RE, split_props
from proxmox_mpc.kinds.base import guest_path, item_path
from proxmox_mpc.services.connection import connect
from proxmox_mpc.services.observe import COMPARE, Needs, Observation, observe, with_kinds

IPSET = "/cluster/firewall/ipset"
GROUPS = "/cluster/firewall/groups"
GUEST_RULES = "/nodes/{node}/{type}/{vmid}/firewall/rules"


class _Kind:
    """A kind as observe sees it: its list path first, a per-item path, a per-guest path, a chooser."""

    prefix = "test"
    reads = (IPSET, f"{IPSET}/{{name}}", GROUPS, f"{GROUPS}/{{group}}", GUEST_RULES)

    def reads_guest(self, guest: ObservedGuest, described: frozenset[str]) -> bool:
        nics = [split_props(v)[1] for k, v in guest.config.items() if NET_RE.match(k)]
        return f"firewall/{guest.ref}" in described or any(n.get("firewall") == "1" for n in nics)

    def from_reads(self, bodies: dict[str, Any]) -> list[Any]:
        return sorted(s["name"] for s in bodies[IPSET] if item_path(self.reads[1], s["name"]) in bodies)


def _observe(needs: Needs) -> Observation:
    async def main() -> Observation:
        app_ctx = AppContext(loader=lambda: load_settings({}, None), out=io.StringIO(), err=io.StringIO())
        async with connect(app_ctx) as api:
            for name in ("admins", "web-hosts", "dns"):
                await api.request("POST", IPSET, data={"name": name})
            await api.request("POST", f"{IPSET}/admins", data={"cidr": "10.0.0.0/24"})
            for group in ("webgrp", "dbgrp"):
                await api.request("POST", GROUPS, data={"group": group})
            await api.request("POST", f"{GROUPS}/webgrp", data={"type": "in", "action": "ACCEPT", "macro": "SSH"})
            return await observe(api, needs)

    return asyncio.run(main())


def test_items_and_chosen_guests_are_each_read_once_with_gets_only(cluster: Any) -> None:
    cluster.vm(101).config["net0"] += ",firewall=1"
    cluster.ct(201).config["net0"] += ",firewall=1"
    kind = _Kind()
    start = len(cluster.requests)
    seen = _observe(with_kinds(Needs(described=frozenset({"firewall/vm/103"})), [kind]))
    sent = cluster.requests[start:]
    gets = Counter(p.removeprefix("/api2/json") for m, p, _ in sent if m == "GET")
    assert {m for m, _, _ in sent if m != "POST"} == {"GET"}  # the test's own setup POSTs, observe GETs only
    assert max(gets.values()) == 1, [p for p, n in gets.items() if n > 1]
    items = {f"{IPSET}/admins", f"{IPSET}/web-hosts", f"{IPSET}/dns", f"{GROUPS}/webgrp", f"{GROUPS}/dbgrp"}
    assert items <= set(gets) and items <= set(seen.reads)
    assert seen.reads[f"{IPSET}/admins"][0]["cidr"] == "10.0.0.0/24"
    assert seen.reads[f"{GROUPS}/webgrp"][0]["macro"] == "SSH"
    # A NIC with firewall=1 (vm/101, ct/201) or a described address (vm/103); nobody else.
    guest_reads = sorted(p for p in gets if p.endswith("/firewall/rules") and "/cluster/" not in p)
    assert guest_reads == [
        "/nodes/pve1/lxc/201/firewall/rules",
        "/nodes/pve1/qemu/101/firewall/rules",
        "/nodes/pve2/qemu/103/firewall/rules",
    ]
    by_ref = {g.ref: g for g in seen.guests}
    assert guest_path(GUEST_RULES, by_ref["ct/201"]) in seen.reads
    assert guest_path(GUEST_RULES, by_ref["vm/102"]) not in seen.reads
    assert kind.from_reads(seen.reads) == ["admins", "dns", "web-hosts"]
    assert seen.requests == len(gets)


def test_the_registered_kinds_reads_stay_once_each_with_an_item_kind_beside_them(cluster: Any) -> None:
    start = len(cluster.requests)
    _observe(with_kinds(COMPARE, [_Kind()]))
    gets = Counter(p for m, p, _ in cluster.requests[start:] if m == "GET")
    assert max(gets.values()) == 1, [p for p, n in gets.items() if n > 1]
    # Without a described address or a NIC with firewall=1, no guest's firewall is read.
    assert not any("/qemu/" in p and "/firewall/" in p for p in gets)
