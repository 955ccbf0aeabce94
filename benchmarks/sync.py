"""Benchmark: `pmpc sync` of 1,000 and 5,000 guests at 5 ms and 20 ms per request vs a serial baseline.

    python benchmarks/sync.py [--sizes 1000,5000] [--latencies 5,20] [--serial-sample 500] [--full-serial]

fakepve runs in its own process (`python -m fakepve --time-scale 1 --latency L`), so its CPU is not the
client's. The concurrent side is pmpc's own sync service (read everything, then write the SQLite store in
one transaction). The serial baseline sends the same GETs one after another on one keep-alive connection,
as proxmoxer scripts do; by default it times the listing requests and `--serial-sample` config reads and
extrapolates linearly to every guest (serial time is a sum), `--full-serial` times them all.
Prints both times, the ratio, client CPU per request, and the ratio to the limit
ceil(requests / concurrency) x latency. Aims: >= 6x faster than serial at 5 ms, >= 15x at 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from fake_cluster import fleet_guests

AIMS = {5: 6.0, 20: 15.0}
USER, PASSWORD = "root@pam", "bench-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`python -m fakepve` in a child process with N guests and a fixed latency per request."""

    def __init__(self, directory: Path, count: int, latency_ms: int) -> None:
        from fakepve.certs import make_cert

        self.ca, key, _ = make_cert(str(directory), hosts=("127.0.0.1",))
        data = directory / f"guests-{count}.json"
        data.write_text(json.dumps({"guests": fleet_guests(count)}))
        self.port = free_port()
        self.log = directory / f"fakepve-{count}-{latency_ms}.log"
        env = {**os.environ, "PVE_USER": USER, "PVE_PASS": PASSWORD}
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "fakepve",
                    str(data),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--cert",
                    self.ca,
                    "--key",
                    key,
                    "--time-scale",
                    "1",
                    "--latency",
                    str(latency_ms / 1000),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + 60
        while "listening on" not in self.log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("fakepve did not start: " + self.log.read_text())
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def serial_baseline(server: Server, sample: int | None) -> tuple[float, int, int]:
    """Return (seconds for every request, requests, requests actually timed): one GET after another."""
    import httpx

    with httpx.Client(base_url=server.url + "/api2/json", verify=server.ca, timeout=60) as http:
        login = http.post("/access/ticket", data={"username": USER, "password": PASSWORD}).json()["data"]
        http.cookies.set("PVEAuthCookie", login["ticket"])
        start = time.perf_counter()
        nodes = http.get("/nodes").json()["data"]
        resources = http.get("/cluster/resources", params={"type": "vm"}).json()["data"]
        http.get("/cluster/status").json()
        for node in nodes:
            http.get(f"/nodes/{node['node']}/storage").json()
        fixed = time.perf_counter() - start
        listing = 3 + len(nodes)
        todo = resources if sample is None else resources[:sample]
        start = time.perf_counter()
        for res in todo:
            http.get(f"/nodes/{res['node']}/{res['type']}/{res['vmid']}/config").json()
        per_config = (time.perf_counter() - start) / max(1, len(todo))
    total = fixed + per_config * len(resources)
    return total, listing + len(resources), listing + len(todo)


def concurrent_sync(
    server: Server, directory: Path, tag: str, concurrency: int = 8
) -> tuple[float, float, int, int]:
    """Return (wall seconds, client CPU seconds, requests, request limit) of one sync into a fresh store."""
    from pydantic import SecretStr

    from proxmox_mpc.config import Settings
    from proxmox_mpc.context import AppContext
    from proxmox_mpc.services.connection import request_limit
    from proxmox_mpc.services.sync import sync_cluster

    settings = Settings(
        host=server.url,
        user=USER,
        password=SecretStr(PASSWORD),
        ca_file=server.ca,
        database_url=f"sqlite:///{directory / f'state-{tag}.db'}",
        concurrency=concurrency,
    )
    app_ctx = AppContext(loader=lambda: settings)
    # The client's request limit, as services.connection.connect() sets it from PMPC_CONCURRENCY.
    limit = request_limit(settings.concurrency, bulk=True)
    cpu, wall = time.process_time(), time.perf_counter()
    report = asyncio.run(sync_cluster(app_ctx))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert report.added == report.guests, report
    return wall, cpu, report.requests, limit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000")
    parser.add_argument("--latencies", default="5,20", help="milliseconds per request")
    parser.add_argument(
        "--serial-sample", type=int, default=500, help="config reads the serial baseline times"
    )
    parser.add_argument("--full-serial", action="store_true", help="time every serial request (slow)")
    parser.add_argument(
        "--concurrency", type=int, default=8, help="PMPC_CONCURRENCY (sync reads allow 4x, >= 32)"
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    latencies = [int(s) for s in args.latencies.split(",")]
    met = True
    with tempfile.TemporaryDirectory(prefix="pmpc-bench-sync.") as tmp:
        directory = Path(tmp)
        for name in ("XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_CONFIG_HOME"):
            os.environ[name] = str(directory / name.lower())
        for count in sizes:
            for latency in latencies:
                server = Server(directory, count, latency)
                try:
                    concurrent_sync(server, directory, f"warm-{count}-{latency}", args.concurrency)  # login
                    wall, cpu, requests, conc = concurrent_sync(
                        server, directory, f"{count}-{latency}", args.concurrency
                    )
                    sample = None if args.full_serial else args.serial_sample
                    serial, serial_requests, timed = serial_baseline(server, sample)
                finally:
                    server.stop()
                limit = math.ceil(requests / conc) * latency / 1000
                ratio = serial / wall
                aim = AIMS.get(latency)
                ok = aim is None or ratio >= aim
                met = met and ok
                verdict = f" (aim >= {aim:g}x: {'met' if ok else 'missed'})" if aim else ""
                how = "measured" if timed == serial_requests else f"{timed} timed, extrapolated"
                print(
                    f"{count} guests @ {latency} ms: pmpc sync {wall:6.2f}s ({requests} requests, "
                    f"concurrency {conc}) | serial {serial:7.2f}s ({serial_requests} requests, {how}) | "
                    f"{ratio:5.1f}x faster{verdict}"
                    f" | client CPU {cpu / requests * 1000:.2f} ms/request | "
                    f"limit {limit:.2f}s, sync/limit {wall / limit:.2f}",
                    flush=True,
                )
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
