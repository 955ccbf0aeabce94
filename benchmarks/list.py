"""Benchmark `pmpc vm list -o json` on 1,000 guests against a serial per-node listing, in one run.

pmpc reads the whole cluster with one GET /cluster/resources. The baseline is what a naive client
does: GET /nodes, then GET /nodes/{node}/qemu and /nodes/{node}/lxc for every node, one after
another. Both run against the same fakepve with a simulated network round trip, so the ratio shows
what the single cluster-wide read buys.

    python benchmarks/list.py [--guests 1000] [--nodes 5] [--latency-ms 5] [--rounds 5]

Needs the `demo` extra (fakepve with its certificate support).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import tempfile
import threading
import time
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

TOKEN_ID = "root@pam!bench"
TOKEN_SECRET = "0b3f9a2e-bench-0000-0000-000000000000"


class Served:
    """A FakePve on its own event loop in a daemon thread (as fakepve's pytest plugin runs it)."""

    def __init__(self, pve: Any, certfile: str, keyfile: str) -> None:
        self.pve = pve
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.call(pve.start(certfile, keyfile))

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def stop(self) -> None:
        self.call(self.pve.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def populate(pve: Any, guests: int, nodes: int) -> None:
    """Fill the fake with `nodes` nodes and `guests` guests (7 VMs for every 3 containers)."""
    pve.apitokens[TOKEN_ID] = TOKEN_SECRET
    names = [f"pve{i}" for i in range(1, nodes + 1)]
    for name in names:
        pve.add_node(name)
    for index in range(guests):
        vmid = 1000 + index
        node = names[index % nodes]
        status = "running" if index % 3 else "stopped"
        tags = "web;prod" if index % 2 else "db"
        if index % 10 < 7:
            pve.add_vm(
                vmid,
                f"vm-{vmid}",
                node=node,
                status=status,
                config={
                    "cores": 2,
                    "memory": 2048,
                    "scsi0": f"local-lvm:vm-{vmid}-disk-0,size=32G",
                    "tags": tags,
                },
            )
        else:
            pve.add_ct(vmid, f"ct-{vmid}", node=node, status=status, config={"tags": tags})


def time_pmpc_cli() -> tuple[float, int]:
    """Return (seconds, VMs listed) for one in-process `pmpc vm list -o json`, parsing included."""
    from proxmox_mpc.cli import run_cli

    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with redirect_stdout(out), redirect_stderr(err):
        code = run_cli(["vm", "list", "-o", "json"])
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"pmpc vm list failed ({code}): {err.getvalue()}")
    return elapsed, len(json.loads(out.getvalue()))


def _app_ctx() -> Any:
    from proxmox_mpc.config import load_settings
    from proxmox_mpc.context import AppContext

    return AppContext(
        loader=lambda: load_settings({"context": None}, None), out=io.StringIO(), err=io.StringIO()
    )


def _render(app_ctx: Any, guests: list[Any]) -> None:
    from proxmox_mpc.output.columns import GUEST_COLUMNS
    from proxmox_mpc.output.printers import print_list

    print_list(app_ctx.out, app_ctx.err, guests, fmt="json", columns=GUEST_COLUMNS, plural="VMs")


def time_pmpc_listing() -> tuple[float, int]:
    """Return (seconds, VMs listed) for what `vm list -o json` does after parsing: connect, read, render."""
    from proxmox_mpc.services import guests

    app_ctx = _app_ctx()
    started = time.perf_counter()
    found = asyncio.run(guests.list_guests(app_ctx, "qemu"))
    _render(app_ctx, found)
    return time.perf_counter() - started, len(found)


async def _serial_listing(app_ctx: Any) -> list[Any]:
    from proxmox_mpc.core.models import Guest
    from proxmox_mpc.services.connection import connect

    found = []
    async with connect(app_ctx) as api:
        for node in await api.nodes():
            name = node["node"]
            # One node after the other, VMs then containers: the naive way to see a whole cluster.
            for kind in ("qemu", "lxc"):
                for raw in await api.get(f"/nodes/{name}/{kind}") or []:
                    found.append(Guest.from_resource(dict(raw, node=name, type=kind)))
    return sorted((g for g in found if g.type == "qemu"), key=lambda g: g.vmid)


def time_baseline() -> tuple[float, int]:
    """Return (seconds, VMs listed) for the serial per-node listing, rendered the same way."""
    app_ctx = _app_ctx()
    started = time.perf_counter()
    found = asyncio.run(_serial_listing(app_ctx))
    _render(app_ctx, found)
    return time.perf_counter() - started, len(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guests", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=5.0, help="simulated round trip per request")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from fakepve import FakePve
    from fakepve.certs import make_cert

    with tempfile.TemporaryDirectory() as tmp:
        certfile, keyfile = make_cert(tmp, hosts=("127.0.0.1",))[:2]
        pve = FakePve(host="127.0.0.1", port=0)
        # time_scale 1: fakepve's latency is in real seconds (no task runs in this benchmark).
        pve.time_scale = 1.0
        pve.slow_network(args.latency_ms / 1000.0)
        populate(pve, args.guests, args.nodes)
        served = Served(pve, certfile, keyfile)
        try:
            os.environ.update(
                {
                    "PMPC_HOST": pve.url,
                    "PMPC_TOKEN_ID": TOKEN_ID,
                    "PMPC_TOKEN_SECRET": TOKEN_SECRET,
                    "PMPC_CA_FILE": certfile,
                }
            )
            for key in ("PMPC_CONTEXT", "PMPC_WORKSPACE", "PMPC_FINGERPRINT", "PMPC_USER", "PMPC_PASSWORD"):
                os.environ.pop(key, None)
            time_pmpc_cli()  # warm imports and the TLS setup once, for every side
            time_pmpc_listing()
            time_baseline()
            cli_times, pmpc_times, base_times = [], [], []
            for _ in range(args.rounds):
                seconds, listed = time_pmpc_cli()
                cli_times.append(seconds)
                seconds, listed_pmpc = time_pmpc_listing()
                pmpc_times.append(seconds)
                seconds, listed_base = time_baseline()
                base_times.append(seconds)
            if not listed == listed_pmpc == listed_base:
                raise SystemExit(f"listings differ: cli {listed}, pmpc {listed_pmpc}, baseline {listed_base}")
        finally:
            served.stop()
    cli, pmpc, base = (statistics.median(t) for t in (cli_times, pmpc_times, base_times))
    print(
        f"{args.guests} guests ({listed} VMs) on {args.nodes} nodes, "
        f"simulated latency {args.latency_ms:g} ms "
        f"per request, median of {args.rounds} rounds"
    )
    print(f"pmpc vm list -o json, whole command in-process:        {cli * 1000:8.1f} ms")
    print(f"pmpc listing (one GET /cluster/resources + render):    {pmpc * 1000:8.1f} ms")
    print(f"baseline: serial per-node listing ({1 + 2 * args.nodes} GETs) + render:  {base * 1000:8.1f} ms")
    print(f"ratio baseline / pmpc listing: {base / pmpc:.2f}x")
    print(
        f"ratio baseline / whole pmpc command: {base / cli:.2f}x "
        f"(the command adds {max(0.0, cli - pmpc) * 1000:.0f} ms of command-line parsing)"
    )


if __name__ == "__main__":
    main()
