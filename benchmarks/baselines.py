"""What users run today instead of pmpc, as whole scripts the fleet benchmark times in full.

    python benchmarks/baselines.py proxmoxer|aiohttp|aiohttp-pending|list OUT.json
    (PVE_URL, PVE_USER, PVE_PASS, PVE_CA in the environment)

- `proxmoxer`: the serial script an admin writes with proxmoxer and requests (one keep-alive session):
  nodes, guests, cluster status, every node's storages, then every guest's config, one after another.
- `aiohttp`: the same reads with raw aiohttp, 32 requests in flight.
- `aiohttp-pending`: the same, reading each guest's pending config (`/pending`: the config, its digest
  and which keys wait for a restart) where `aiohttp` reads `/config`: what `pmpc plan` reads.
- `list`: one GET /cluster/resources?type=vm printed as JSON, importing the libraries `pmpc vm list`
  runs on (Typer, pydantic-settings, httpx on aiohttp): the floor for a one-request command.

Each writes what it read to OUT.json (`-` for stdout), as pmpc stores it; needs the `bench` extra.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any
from urllib.parse import urlsplit

URL = os.environ.get("PVE_URL", "")
USER = os.environ.get("PVE_USER", "")
PASSWORD = os.environ.get("PVE_PASS", "")
CA = os.environ.get("PVE_CA", "")


def write(out: str, document: Any) -> None:
    if out == "-":
        json.dump(document, sys.stdout)
        sys.stdout.write("\n")
        return
    with open(out, "w") as handle:
        json.dump(document, handle)


def with_proxmoxer(out: str) -> None:
    from proxmoxer import ProxmoxAPI

    parts = urlsplit(URL)
    pve = ProxmoxAPI(parts.hostname, port=parts.port, user=USER, password=PASSWORD, verify_ssl=CA)
    nodes = pve.nodes.get()
    resources = pve.cluster.resources.get(type="vm")
    status = pve.cluster.status.get()
    storages = {n["node"]: pve.nodes(n["node"]).storage.get() for n in nodes if n.get("status") == "online"}
    configs = {}
    for res in resources:
        if res.get("type") in ("qemu", "lxc"):
            configs[res["vmid"]] = getattr(pve.nodes(res["node"]), res["type"])(res["vmid"]).config.get()
    write(out, {"nodes": nodes, "status": status, "storages": storages, "guests": resources, "configs": configs})


async def _aiohttp(out: str, config: str = "config") -> None:
    import asyncio
    import ssl

    import aiohttp

    api = URL + "/api2/json"
    context = ssl.create_default_context(cafile=CA)
    connector = aiohttp.TCPConnector(limit=32, ssl=context)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(api + "/access/ticket", data={"username": USER, "password": PASSWORD}) as resp:
            login = (await resp.json())["data"]
        headers = {"Cookie": f"PVEAuthCookie={login['ticket']}"}
        gate = asyncio.Semaphore(32)

        async def get(path: str, **params: str) -> Any:
            async with gate, session.get(api + path, params=params or None, headers=headers) as resp:
                resp.raise_for_status()
                return (await resp.json())["data"]

        nodes, resources, status = await asyncio.gather(
            get("/nodes"), get("/cluster/resources", type="vm"), get("/cluster/status")
        )
        online = [n["node"] for n in nodes if n.get("status") == "online"]
        guests = [r for r in resources if r.get("type") in ("qemu", "lxc")]
        storage_lists, configs = await asyncio.gather(
            asyncio.gather(*(get(f"/nodes/{n}/storage") for n in online)),
            asyncio.gather(*(get(f"/nodes/{r['node']}/{r['type']}/{r['vmid']}/{config}") for r in guests)),
        )
    write(
        out,
        {
            "nodes": nodes,
            "status": status,
            "storages": dict(zip(online, storage_lists, strict=True)),
            "guests": resources,
            "configs": {r["vmid"]: c for r, c in zip(guests, configs, strict=True)},
        },
    )


def with_aiohttp(out: str) -> None:
    import asyncio

    asyncio.run(_aiohttp(out))


def pending_with_aiohttp(out: str) -> None:
    import asyncio

    asyncio.run(_aiohttp(out, "pending"))


def one_listing(out: str) -> None:
    import asyncio

    import httpx
    import pydantic_settings  # noqa: F401 - pmpc reads its settings with it
    import typer  # noqa: F401 - pmpc's command line
    from httpx_aiohttp import AiohttpTransport

    async def listing() -> Any:
        transport = AiohttpTransport(verify=__import__("ssl").create_default_context(cafile=CA))
        async with httpx.AsyncClient(base_url=URL + "/api2/json", transport=transport) as http:
            login = (await http.post("/access/ticket", data={"username": USER, "password": PASSWORD})).json()
            http.cookies.set("PVEAuthCookie", login["data"]["ticket"])
            return (await http.get("/cluster/resources", params={"type": "vm"})).json()["data"]

    write(out, asyncio.run(listing()))


SCRIPTS = {
    "proxmoxer": with_proxmoxer,
    "aiohttp": with_aiohttp,
    "aiohttp-pending": pending_with_aiohttp,
    "list": one_listing,
}

if __name__ == "__main__":
    SCRIPTS[sys.argv[1]](sys.argv[2])
