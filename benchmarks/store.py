"""Benchmark: write 10,000 guests into the state store vs a raw sqlite3 executemany upsert of the same rows.

    python benchmarks/store.py [--guests 10000] [--repeat 3]

Both sides write the same rows into the same schema (made by the store's migrations) with the same
pragmas (WAL, synchronous=NORMAL), in one transaction, first as inserts and then as upserts over
existing rows. The aim: the store takes at most 1.5x the raw sqlite3 time.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from proxmox_mpc.state.store import GUEST_COLUMNS, open_store

AIM = 1.5


def make_rows(count: int, now: datetime, status: str) -> list[dict[str, Any]]:
    rows = []
    for i in range(count):
        vmid = 1000 + i
        rows.append(
            {
                "vmid": vmid,
                "kind": "vm" if i % 5 else "ct",
                "node": f"pve{i % 8 + 1}",
                "name": f"guest-{vmid}",
                "status": status,
                "tags": "bench;web",
                "pool": "prod" if i % 3 == 0 else None,
                "template": False,
                "lock": None,
                "cpus": 2.0,
                "memory": 4 * 1024**3,
                "disk_size": 64 * 1024**3,
                "config": {
                    "cores": 2,
                    "sockets": 1,
                    "memory": "4096",
                    "ostype": "l26",
                    "scsihw": "virtio-scsi-pci",
                    "scsi0": f"local-lvm:vm-{vmid}-disk-0,size=64G",
                    "boot": "order=scsi0;net0",
                    "net0": f"virtio=BC:24:11:{i >> 16 & 255:02X}:{i >> 8 & 255:02X}:{i & 255:02X}"
                    ",bridge=vmbr0",
                    "agent": "enabled=1",
                    "onboot": 1,
                    "name": f"guest-{vmid}",
                    "tags": "bench;web",
                    "smbios1": "uuid=5c1b7d8e-0000-4000-8000-000000000000",
                    "vmgenid": "0a1b2c3d-0000",
                },
                "digest": f"{vmid:040x}",
                "first_seen": now,
                "last_seen": now,
                "deleted_at": None,
            }
        )
    return rows


def time_store(path: Path, batches: list[list[dict[str, Any]]]) -> list[float]:
    store = open_store(f"sqlite:///{path}")
    try:
        cid = store.cluster_id("bench:8006", create=True)
        assert cid is not None
        times = []
        for rows in batches:
            start = time.perf_counter()
            with store.transaction():
                store.upsert_guests(cid, rows)
            times.append(time.perf_counter() - start)
        return times
    finally:
        store.close()


def _sqlite_ts(value: datetime | None) -> str | None:
    # The text SQLAlchemy's SQLite DateTime stores: naive UTC with microseconds.
    if value is None:
        return None
    return value.astimezone(timezone.utc).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


def time_raw(path: Path, batches: list[list[dict[str, Any]]]) -> list[float]:
    open_store(f"sqlite:///{path}").close()  # the same schema, from the migrations
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(
        "INSERT INTO pmpc_clusters (key, created_at) VALUES ('bench:8006', '2026-01-01 00:00:00.000000')"
    )
    cid = conn.execute("SELECT id FROM pmpc_clusters").fetchone()[0]
    columns = ", ".join(GUEST_COLUMNS)
    marks = ", ".join("?" for _ in GUEST_COLUMNS)
    updates = ", ".join(f"{c} = excluded.{c}" for c in GUEST_COLUMNS if c not in ("cluster_id", "vmid"))
    sql = (
        f"INSERT INTO pmpc_guests ({columns}) VALUES ({marks}) "
        f"ON CONFLICT (cluster_id, vmid) DO UPDATE SET {updates}"
    )
    times = []
    for rows in batches:
        start = time.perf_counter()
        params = [
            (
                cid,
                r["vmid"],
                r["kind"],
                r["node"],
                r["name"],
                r["status"],
                r["tags"],
                r["pool"],
                int(r["template"]),
                r["lock"],
                r["cpus"],
                r["memory"],
                r["disk_size"],
                json.dumps(r["config"]),
                r["digest"],
                _sqlite_ts(r["first_seen"]),
                _sqlite_ts(r["last_seen"]),
                _sqlite_ts(r["deleted_at"]),
            )
            for r in rows
        ]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(sql, params)
        conn.execute("COMMIT")
        times.append(time.perf_counter() - start)
    count = conn.execute("SELECT count(*) FROM pmpc_guests").fetchone()[0]
    conn.close()
    assert count == len(batches[0]), count
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guests", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per side; the best is kept")
    args = parser.parse_args()
    now = datetime.now(timezone.utc)
    batches = [make_rows(args.guests, now, "running"), make_rows(args.guests, now, "stopped")]
    best: dict[str, list[float]] = {"store": [float("inf")] * 2, "raw": [float("inf")] * 2}
    with tempfile.TemporaryDirectory(prefix="pmpc-bench-store.") as tmp:
        for run in range(args.repeat):
            for side, fn in (("store", time_store), ("raw", time_raw)):
                times = fn(Path(tmp) / f"{side}-{run}.db", batches)
                best[side] = [min(a, b) for a, b in zip(best[side], times, strict=True)]
    print(f"{args.guests} guests, one transaction each, best of {args.repeat} (SQLite, WAL)")
    ok = True
    for index, phase in enumerate(("insert", "upsert over existing rows")):
        store_s, raw_s = best["store"][index], best["raw"][index]
        ratio = store_s / raw_s
        ok = ok and ratio <= AIM
        print(
            f"  {phase:<26} store {store_s:7.3f}s   raw sqlite3 {raw_s:7.3f}s   ratio {ratio:4.2f}x "
            f"(aim <= {AIM}x: {'met' if ratio <= AIM else 'missed'})"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
