"""A fleet with its cluster objects, for the objects row of the fleet benchmark (issue 16).

    python benchmarks/cluster_objects.py GUESTS.json --host H --port P --cert C --key K --time-scale 0

serves fakepve's command line with the tests' `ObjectsPve` (tests/helpers/cluster_objects.py: the fake
that also stores backup jobs, HA and access objects, every request still checked against PVE's
schema). `seed()` then creates the objects through the API, as an admin's cluster got them:

- firewall rules, as many as guests: a tenth on the cluster, a tenth over the nodes, a fifth in
  security groups of ten rules, the rest two per guest (on three guests in ten, whose firewall is on,
  with `firewall=1` on their first NIC as PVE needs to apply it: `with_firewall`);
- aliases and IP sets (three CIDR entries each), a tenth of the guests each;
- backup jobs, a twentieth of the guests, each selecting twenty guests by VMID.

The guests are otherwise those of a guests-only fleet. The row's verdict compares the sync of the
seeded fleet with that of the same guests unseeded (`Objects(n, seeded=False)`: the same three in ten
with the firewall on at their NIC, so both syncs read those guests' firewall, two GETs each, as they
would on any cluster whose guests are firewalled, but no rules, aliases, IP sets or backup jobs); the
cost of the firewalled guests' reads themselves is printed beside it, against a fleet with no guest
firewall at all (`Objects(0)`).
"""

from __future__ import annotations

import asyncio
import ssl
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Objects:
    """How many objects of each kind a fleet of `guests` guests gets."""

    guests: int
    # False: the guests as they are in a seeded fleet (firewalled NICs too), but no objects created.
    seeded: bool = True

    @property
    def rules(self) -> int:
        return self.cluster_rules + self.node_rules + self.group_rules + self.guest_rules

    @property
    def cluster_rules(self) -> int:
        return self.guests // 10

    @property
    def node_rules(self) -> int:
        return self.guests // 10

    @property
    def groups(self) -> int:
        return self.guests // 50

    @property
    def group_rules(self) -> int:
        return self.groups * 10

    @property
    def firewalled(self) -> int:
        """Guests with their own firewall (two rules each)."""
        return self.guests * 3 // 10

    @property
    def guest_rules(self) -> int:
        return self.firewalled * 2

    @property
    def aliases(self) -> int:
        return self.guests // 10

    @property
    def ipsets(self) -> int:
        return self.guests // 10

    @property
    def backup_jobs(self) -> int:
        return self.guests // 20

    def describe(self) -> str:
        return (
            f"{self.rules:,} firewall rules, {self.aliases + self.ipsets:,} aliases/ipsets, "
            f"{self.backup_jobs} backup jobs"
        )


Request = tuple[str, str, dict[str, Any]]  # method, path, parameters


def with_firewall(objects: Objects, guests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the guests, the first `objects.firewalled` with the firewall on at their first NIC."""
    out = []
    for i, guest in enumerate(guests):
        if i < objects.firewalled:
            config = guest["config"]
            guest = {**guest, "config": {**config, "net0": config["net0"] + ",firewall=1"}}
        out.append(guest)
    return out


def requests_for(objects: Objects, guests: list[dict[str, Any]], nodes: list[str]) -> list[Request]:
    """Return the requests that create the objects."""
    out: list[Request] = []
    for i in range(objects.aliases):
        alias = {"name": f"alias{i}", "cidr": f"10.{i // 250}.{i % 250}.0/24"}
        out.append(("POST", "/cluster/firewall/aliases", alias))
    for i in range(objects.ipsets):
        out.append(("POST", "/cluster/firewall/ipset", {"name": f"set{i}", "comment": f"set {i}"}))
    for i in range(objects.groups):
        out.append(("POST", "/cluster/firewall/groups", {"group": f"group{i}"}))
    for i in range(objects.cluster_rules):
        out.append(("POST", "/cluster/firewall/rules", rule(i)))
    for i in range(objects.node_rules):
        out.append(("POST", f"/nodes/{nodes[i % len(nodes)]}/firewall/rules", rule(i)))
    for i in range(objects.group_rules):
        out.append(("POST", f"/cluster/firewall/groups/group{i // 10}", rule(i)))
    for i in range(objects.ipsets):
        for j in range(3):
            out.append(("POST", f"/cluster/firewall/ipset/set{i}", {"cidr": f"192.168.{i % 250}.{j + 1}"}))
    for guest in guests[: objects.firewalled]:
        kind = "lxc" if guest.get("type") == "lxc" else "qemu"
        base = f"/nodes/{guest['node']}/{kind}/{guest['vmid']}/firewall"
        out.append(("PUT", base + "/options", {"enable": 1, "policy_in": "DROP"}))
        for j in range(2):
            out.append(("POST", base + "/rules", rule(j)))
    vmids = [g["vmid"] for g in guests]
    for i in range(objects.backup_jobs):
        chosen = ",".join(str(v) for v in vmids[i * 20 : i * 20 + 20] or vmids[:20])
        job = {"schedule": f"{i % 24:02d}:{i % 60:02d}", "storage": "local", "mode": "snapshot", "vmid": chosen}
        out.append(("POST", "/cluster/backup", {**job, "enabled": 1, "comment": f"job {i}"}))
    return out


def rule(i: int) -> dict[str, Any]:
    """Return a rule's parameters: an inbound accept of one TCP port."""
    return {"type": "in", "action": "ACCEPT", "proto": "tcp", "dport": str(1000 + i % 60000), "enable": 1}


async def _seed(url: str, user: str, password: str, ca_file: str, todo: list[Request]) -> None:
    import aiohttp

    api = url + "/api2/json"
    connector = aiohttp.TCPConnector(limit=16, ssl=ssl.create_default_context(cafile=ca_file))
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(api + "/access/ticket", data={"username": user, "password": password}) as resp:
            login = (await resp.json())["data"]
        headers = {"Cookie": f"PVEAuthCookie={login['ticket']}", "CSRFPreventionToken": login["CSRFPreventionToken"]}

        async def send(method: str, path: str, params: dict[str, Any]) -> None:
            data = {k: str(v) for k, v in params.items()}
            async with session.request(method, api + path, data=data, headers=headers) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"{method} {path} {params}: {resp.status} {await resp.text()}")

        # Objects before what refers to them: every group and IP set exists before its rules and entries.
        batches: tuple[list[Request], list[Request]] = ([], [])
        for request in todo:
            batches[request[1].count("/") > 3 or request[1].endswith("/rules")].append(request)
        gate = asyncio.Semaphore(16)

        async def one(request: Request) -> None:
            async with gate:
                await send(*request)

        for batch in batches:
            await asyncio.gather(*(one(r) for r in batch))


def seed(url: str, user: str, password: str, ca_file: str, objects: Objects, guests: list[dict[str, Any]]) -> int:
    """Create the objects on the server at `url`; return how many requests that took."""
    nodes = sorted({str(g["node"]) for g in guests})
    todo = requests_for(objects, guests, nodes)
    asyncio.run(_seed(url, user, password, ca_file, todo))
    return len(todo)


def main() -> None:
    """fakepve's command line, serving an ObjectsPve."""
    sys.path.insert(0, str(ROOT))
    import fakepve.__main__ as cli
    from tests.helpers.cluster_objects import ObjectsPve

    cli.FakePve = ObjectsPve  # type: ignore[attr-defined]
    cli.main()


if __name__ == "__main__":
    main()
