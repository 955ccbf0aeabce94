"""Client CPU per request: pmpc's ProxmoxClient (GETs on its lane, api/lane.py) vs httpx's default transport.

    python benchmarks/client.py [--requests 2000] [--concurrency 16]

All send the same N GETs of guest configs to a fakepve running in its own process (so its CPU is not
counted), through the same ProxmoxClient, in the same run. Aim: at most 1.0 ms of client CPU per request
for pmpc, and at least 3x less than the default transport. Printed beside them: pmpc's GETs straight on its
aiohttp session (where they went before the lane, and where they go when the lane cannot read an answer),
and the httpx layer over the same aiohttp transport (the path of pmpc's writes, and of its GETs before that).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import sys
import time
from typing import Any

import httpx
from pydantic import SecretStr

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fake_cluster import FakeCluster, fake_cluster

from proxmox_mpc.api.auth import TicketAuth
from proxmox_mpc.api.client import ProxmoxClient, make_transport

TARGET_MS = 1.0
TARGET_FACTOR = 3.0


def transports(cluster: FakeCluster, concurrency: int) -> dict[str, Any]:
    return {
        "pmpc (GET lane)": lambda: make_transport(verify=cluster.ca_file, max_connections=concurrency),
        "pmpc, GETs on aiohttp": lambda: make_transport(verify=cluster.ca_file, max_connections=concurrency),
        "httpx on aiohttp (writes)": lambda: _httpx_on_aiohttp(cluster, concurrency),
        "httpx default transport": lambda: httpx.AsyncHTTPTransport(
            verify=ssl.create_default_context(cafile=cluster.ca_file),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        ),
    }


def _httpx_on_aiohttp(cluster: FakeCluster, concurrency: int) -> httpx.AsyncBaseTransport:
    """The path pmpc's writes take (and its GETs took before they went to aiohttp directly)."""
    from httpx_aiohttp import AiohttpTransport

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return AiohttpTransport(verify=ssl.create_default_context(cafile=cluster.ca_file), limits=limits, trust_env=False)


async def measure(
    cluster: FakeCluster, transport: httpx.AsyncBaseTransport, requests: int, concurrency: int, *, lane: bool = True
):
    """Return (client CPU ms per request, wall ms per request) for `requests` config GETs."""
    guests = [(g["node"], "lxc" if g.get("type") == "lxc" else "qemu", g["vmid"]) for g in cluster.guests]
    auth = TicketAuth(cluster.user, SecretStr(cluster.password))
    client = ProxmoxClient(
        base_url=cluster.url, auth=auth, transport=transport, concurrency=concurrency, timeout=60, retries=0
    )
    client._lane_usable = lane  # False: GETs straight on the aiohttp session
    async with client as api:
        # Warm up: log in and open the connections, outside the measurement.
        await asyncio.gather(*(api.guest_config(*guests[i % len(guests)]) for i in range(concurrency * 2)))
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(api.guest_config(*guests[i % len(guests)]) for i in range(requests)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return cpu * 1000 / requests, wall * 1000 / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    results = {}
    with fake_cluster(vms=40, cts=10) as cluster:
        for label, make in transports(cluster, args.concurrency).items():
            lane = label != "pmpc, GETs on aiohttp"
            results[label] = asyncio.run(measure(cluster, make(), args.requests, args.concurrency, lane=lane))
    print(
        f"{args.requests} GETs of guest configs at concurrency {args.concurrency}; fakepve in its own process"
    )
    print(f"{'client':<28} {'CPU ms/req':>11} {'wall ms/req':>12}")
    for label, (cpu, wall) in results.items():
        print(f"{label:<28} {cpu:11.3f} {wall:12.3f}")
    ours, default = results["pmpc (GET lane)"][0], results["httpx default transport"][0]
    factor = default / ours if ours else float("inf")
    ok = ours <= TARGET_MS and factor >= TARGET_FACTOR
    print(
        f"pmpc uses {ours:.3f} ms of client CPU per request, {factor:.1f}x less than the default transport: "
        f"{'meets' if ok else 'misses'} the aim (<= {TARGET_MS} ms and >= {TARGET_FACTOR}x)"
    )


if __name__ == "__main__":
    main()
